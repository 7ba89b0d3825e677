"""velox.MpscRing in one process: API and argument validation, a hypothesis model of claims,
publishes, skips and late publishes, and producer threads with every record checked."""

import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from scale import scaled
from shm_names import fresh_name
from velox import MpscRing

REC = np.dtype([("producer", "<u8"), ("seq", "<u8")])


def recs(producer, start, n):
    a = np.zeros(n, REC)
    a["producer"] = producer
    a["seq"] = np.arange(start, start + n)
    return a


def test_exported_and_fifo():
    assert velox.MpscRing is MpscRing
    ring = MpscRing(8, REC)
    assert ring.capacity == 8 and ring.dtype == REC and ring.is_consumer and ring.name is None
    assert ring.try_pop() is None
    assert ring.try_push((0, 1))
    assert ring.push_many(recs(0, 2, 10), timeout=0) == 7  # only what fits
    assert not ring.try_push((0, 99))
    assert len(ring) == 8
    out = np.zeros(16, REC)
    assert ring.pop_many(out) == 8
    assert list(out["seq"][:8]) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert ring.claimed == 8 and ring.consumed == 8 and ring.skipped == 0 and ring.late == 0
    ring.push((3, 4))
    rec = ring.pop(timeout=1)
    assert (int(rec["producer"]), int(rec["seq"])) == (3, 4)
    with pytest.raises(TimeoutError, match="timeout=0.01"):
        ring.pop(timeout=0.01)


def test_default_dtype_is_txn():
    assert MpscRing(4).dtype == velox.TXN_DTYPE


@pytest.mark.parametrize("capacity, exc", [(3, ValueError), (1, ValueError), (2**31, ValueError),
                                           ("8", TypeError), (True, TypeError), (8.0, TypeError)])
def test_bad_capacity(capacity, exc):
    with pytest.raises(exc, match="capacity"):
        MpscRing(capacity, REC)


def test_bad_arguments_name_the_value():
    with pytest.raises(TypeError, match="dtype"):
        MpscRing(8, "not a dtype")
    with pytest.raises(ValueError, match="object"):
        MpscRing(8, object)
    with pytest.raises(ValueError, match="stall_timeout"):
        MpscRing(8, REC, stall_timeout=-1)
    with pytest.raises(TypeError, match="stall_timeout"):
        MpscRing(8, REC, stall_timeout="1")
    ring = MpscRing(8, REC)
    with pytest.raises(TypeError, match="dtype"):
        ring.push_many(np.zeros(3, "<u8"))
    with pytest.raises(TypeError, match="NumPy array"):
        ring.push_many([1, 2])
    with pytest.raises(ValueError, match="1-D"):
        ring.push_many(np.zeros((2, 2), REC))
    with pytest.raises(TypeError, match="convert"):
        ring.try_push("abc")
    with pytest.raises(ValueError, match="timeout"):
        ring.push((1, 1), timeout=-5)
    with pytest.raises(ValueError, match="writable 1-D"):
        ring.pop_many(np.zeros(3, "<u8"))
    with pytest.raises(ValueError, match="min_n"):
        ring.pop_many(np.zeros(3, REC), timeout=1, min_n=4)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(ring)
    with pytest.raises(ValueError, match="no name"):
        ring.unlink()
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        ring.try_push((1, 1))
    with pytest.raises(ValueError, match="name"):
        MpscRing.create("bad/name", 8, REC)


def test_shared_create_attach_pickle():
    name = fresh_name()
    with MpscRing.create(name, 16, REC) as ring:
        with pytest.raises(FileExistsError, match=name):
            MpscRing.create(name, 16, REC)
        producer = pickle.loads(pickle.dumps(ring))
        assert producer.name == name and not producer.is_consumer and producer.dtype == REC
        assert producer.push_many(recs(1, 0, 5)) == 5
        with pytest.raises(RuntimeError, match="creating process consumes"):
            producer.try_pop()
        with pytest.raises(ValueError, match="record size differs"):
            MpscRing.attach(name, dtype="<u8")
        with pytest.raises(ValueError, match="holds dtype"):
            MpscRing.attach(name, dtype=[("a", "<u8"), ("b", "<i8")])
        out = np.zeros(8, REC)
        assert ring.pop_many(out, timeout=1) == 5
        assert list(out["seq"][:5]) == list(range(5))
        producer.close()
    with pytest.raises(FileNotFoundError, match=name):
        MpscRing.attach(name, timeout=0)


def test_stalled_producer_is_skipped_and_its_late_publish_counted():
    ring = MpscRing(4, REC, stall_timeout=0.02)
    for lap in range(3):  # the skipped slots come back into use after the late publish
        claim = ring._claim_unpublished(2)
        ring.push((7, lap))
        rec = ring.pop(timeout=5)  # waits stall_timeout, skips both claimed slots
        assert int(rec["seq"]) == lap
        assert ring.skipped == 2 * (lap + 1)
        assert ring.last_skipped_pid > 0
        assert ring._publish_claim(claim, recs(9, 0, 2)) == 0  # late: dropped, counted
        assert ring.late == 2 * (lap + 1)
        assert ring.try_pop() is None  # a late record never appears


def test_publish_before_the_skip_is_delivered():
    ring = MpscRing(4, REC, stall_timeout=60)
    claim = ring._claim_unpublished(1)
    assert ring.try_pop() is None
    assert ring._publish_claim(claim, recs(1, 42, 1)) == 1
    assert int(ring.try_pop()["seq"]) == 42
    assert ring.skipped == 0 and ring.late == 0


# ---- hypothesis model ------------------------------------------------------------------------
# stall_timeout=0: a pop that reaches an unpublished claim stops there the first time and skips
# it the next time; once a position was skipped that way, the rest of the same claim is skipped
# at once, while another claim (another thread of this process) gets its own wait.

OPS = st.lists(st.one_of(
    st.tuples(st.just("push"), st.integers(1, 9)),
    st.tuples(st.just("pop"), st.integers(1, 9)),
    st.tuples(st.just("claim"), st.integers(1, 4)),
    st.tuples(st.just("publish"), st.integers(0, 7)),
), max_size=60)


@settings(max_examples=scaled(300, 50), deadline=None)
@given(capacity=st.sampled_from([2, 4, 8]), ops=OPS)
def test_model(capacity, ops):
    ring = MpscRing(capacity, REC, stall_timeout=0)
    entries = {}     # position -> ["rec", seq] | ["claim", claim_id] (unpublished)
    pending = {}     # claim_id -> (claim, positions)
    blocked = set()  # positions skipped while claimed, not yet published late
    head = tail = 0
    stall_pos = None
    stalled_claim = None
    skipped = late = next_seq = next_claim = 0

    def free_run(n):
        k = 0
        while k < n:
            p = head + k
            if p - capacity >= tail or (p - capacity) in blocked:
                break
            k += 1
        return k

    for op, arg in ops:
        if op == "push":
            k = free_run(arg)
            got = ring.push_many(recs(0, next_seq, arg), timeout=0)
            assert got == k
            for i in range(k):
                entries[head + i] = ["rec", next_seq + i]
            head += k
            next_seq += arg
        elif op == "claim":
            k = free_run(arg)
            if k == 0:
                continue
            claim = ring._claim_unpublished(min(arg, capacity))
            assert claim == (head, k)
            pending[next_claim] = (claim, list(range(head, head + k)))
            for p in range(head, head + k):
                entries[p] = ["claim", next_claim]
            head += k
            next_claim += 1
        elif op == "publish":
            if not pending:
                continue
            cid = sorted(pending)[arg % len(pending)]
            claim, positions = pending.pop(cid)
            delivered = 0
            for p in positions:
                if p in blocked:
                    blocked.discard(p)
                    late += 1
                else:
                    entries[p] = ["rec", 10**6 + p]
                    delivered += 1
            vals = np.zeros(len(positions), REC)
            vals["seq"] = [10**6 + p for p in positions]
            assert ring._publish_claim(claim, vals) == delivered
        else:  # pop
            want = []
            while len(want) < arg and tail < head:
                kind, v = entries[tail]
                if kind == "rec":
                    want.append(v)
                    del entries[tail]
                    tail += 1
                    stalled_claim = None
                    continue
                if stalled_claim == v or stall_pos == tail:
                    blocked.add(tail)
                    del entries[tail]
                    skipped += 1
                    stalled_claim = v
                    stall_pos = None
                    tail += 1
                    continue
                stall_pos = tail
                break
            out = np.zeros(arg, REC)
            got = ring.pop_many(out)
            assert list(out["seq"][:got]) == want
        assert ring.skipped == skipped and ring.late == late
        assert ring.claimed == head and ring.consumed == tail


# ---- threads ---------------------------------------------------------------------------------

def test_producer_threads_every_record_checked():
    ring = MpscRing(64, REC, stall_timeout=60)
    producers, per = 3, scaled(40_000, 2_000)
    errors = []

    def produce(pid):
        try:
            seq = 0
            while seq < per:
                n = min(1 + seq % 13, per - seq)
                assert ring.push_many(recs(pid, seq, n), timeout=60) == n
                seq += n
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(producers)]
    for t in threads:
        t.start()
    expect = [0] * producers
    out = np.zeros(100, REC)
    total = 0
    while total < producers * per:
        got = ring.pop_many(out, timeout=60)
        for p, s in zip(out["producer"][:got].tolist(), out["seq"][:got].tolist()):
            assert s == expect[p], (p, s, expect[p])  # per-producer order, no loss, no dup
            expect[p] += 1
        total += got
    for t in threads:
        t.join()
    assert not errors, errors
    assert expect == [per] * producers
    assert ring.try_pop() is None and ring.skipped == 0 and ring.late == 0


class Interrupted(Exception):
    pass


def _interrupt(call):
    """Runs call() with a repeating SIGALRM whose handler raises Interrupted; returns the
    seconds until it was interrupted (the handler repeats until it lands)."""
    import signal
    import time

    def handler(signum, frame):
        raise Interrupted()

    old = signal.signal(signal.SIGALRM, handler)
    start = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
        with pytest.raises(Interrupted):
            call()
        return time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_blocking_calls_run_signal_handlers():
    ring = MpscRing(2, REC)
    assert _interrupt(lambda: ring.pop(timeout=None)) < 30
    assert _interrupt(lambda: ring.pop_many(np.zeros(4, REC), timeout=None)) < 30
    assert ring.push_many(recs(0, 0, 2)) == 2
    assert _interrupt(lambda: ring.push((1, 1), timeout=None)) < 30
    assert len(ring) == 2 and ring.pop_many(np.zeros(4, REC)) == 2  # nothing lost or added


def _poke(name, offset, data):
    with open(f"/dev/shm/{name}", "r+b") as f:
        f.seek(offset)
        f.write(data)


# the MPSC header's own words (the common ones: tests/test_shm_segment.py)
@pytest.mark.parametrize("offset, data, match", [
    (24, (64).to_bytes(8, "little"), "inconsistent header"),      # slots_offset
    (44, (8).to_bytes(4, "little"), "inconsistent header"),       # slot_size
    (48, (600).to_bytes(4, "little"), "dtype description not terminated"),
])
def test_attach_corrupt_segment(offset, data, match):
    name = fresh_name()
    with MpscRing.create(name, 8, REC):
        _poke(name, offset, data)
        with pytest.raises(ValueError, match=match) as err:
            MpscRing.attach(name, timeout=0)
        assert name in str(err.value)
