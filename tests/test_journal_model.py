"""Hypothesis model of velox.Journal: random appends (single and batches, across segment rolls),
writer reopen, reader seek / seek_time / to_start / to_end / read against a Python list."""

import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from velox import Journal

from scale import scaled

DT = np.dtype([("ts", "<i8"), ("v", "<u2")])  # 10-byte records: padded slots of 24 bytes
SEG_RECORDS = 7

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 20), st.integers(0, 3)),
        st.tuples(st.just("reopen")),
        st.tuples(st.just("seek"), st.integers(0, 80)),
        st.tuples(st.just("seek_time"), st.integers(-5, 200)),
        st.tuples(st.just("to_start")),
        st.tuples(st.just("to_end")),
        st.tuples(st.just("read"), st.integers(0, 30)),
    ),
    max_size=40,
)


@settings(max_examples=scaled(150, 20), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, seed=st.integers(0, 2**32 - 1))
def test_journal_matches_list(ops, seed):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as d:
        model = []  # records appended so far
        pos = 0
        ts = 0
        j = Journal.create(d, DT, segment_bytes=1024 + SEG_RECORDS * 24, ts_field="ts")
        r = Journal.reader(d)
        try:
            for op in ops:
                kind = op[0]
                if kind == "append":
                    n, step = op[1], op[2]
                    a = np.zeros(n, DT)
                    a["ts"] = ts + np.cumsum(rng.integers(0, step + 1, n))
                    a["v"] = rng.integers(0, 2**16, n)
                    if n == 1 and rng.integers(2):
                        assert j.append(a[0]) == len(model)
                    else:
                        assert j.append_many(a) == len(model)
                    model.extend(a.tolist())
                    ts = int(a["ts"][-1]) if n else ts
                elif kind == "reopen":
                    j.close()
                    j = Journal.open(d)
                    assert j.next_seq == len(model) and j.cut == 0
                elif kind == "seek":
                    r.seek(op[1])
                    pos = op[1]
                elif kind == "seek_time":
                    r.seek_time(op[1])
                    times = [m[0] for m in model]
                    pos = int(np.searchsorted(np.array(times, dtype=np.int64), op[1], "left"))
                elif kind == "to_start":
                    r.to_start()
                    pos = 0
                elif kind == "to_end":
                    r.to_end()
                    pos = len(model)
                else:
                    got = r.read(op[1])
                    want = model[pos:pos + op[1]] if pos < len(model) else []
                    assert got.tolist() == want
                    pos += len(want)
                assert r.position == pos
            assert r.skipped == 0
        finally:
            r.close()
            j.close()
