"""BroadcastRing in one process: API and validation, a hypothesis model of writes, reads and
laps, gating and eviction. The lap litmus runs across processes
(tests/test_broadcast_processes.py) and in C (csrc/tests/test_broadcast.c): threads of one
interpreter overlap too little to catch a torn copy."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from velox import BroadcastRing, RingCorrupted
from scale import scaled

U8 = np.dtype("<u8")
WIDE = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u8")])  # 32 bytes


def seqs(start, n):
    return np.arange(start, start + n, dtype=U8)


def test_exported():
    assert velox.BroadcastRing is BroadcastRing
    assert "BroadcastReader" in velox.__all__


@pytest.mark.parametrize(
    "kwargs, exc, text",
    [
        (dict(capacity=3), ValueError, "power of two"),
        (dict(capacity=1), ValueError, "power of two"),
        (dict(capacity=2**31), ValueError, "power of two"),
        (dict(capacity="8"), TypeError, "capacity"),
        (dict(capacity=True), TypeError, "capacity"),
        (dict(dtype=object), ValueError, "Python objects"),
        (dict(dtype="not a dtype"), TypeError, "dtype"),
        (dict(gated=1), TypeError, "gated"),
        (dict(gated=True, max_readers=0), ValueError, "max_readers"),
        (dict(gated=True, max_readers=65), ValueError, "max_readers"),
        (dict(dead_reader_timeout=-1), ValueError, "dead_reader_timeout"),
        (dict(dead_reader_timeout="x"), TypeError, "dead_reader_timeout"),
    ],
)
def test_bad_arguments(kwargs, exc, text):
    args = dict(capacity=8, dtype=U8)
    args.update(kwargs)
    with pytest.raises(exc, match=text):
        BroadcastRing(**args)


def test_bad_batches_and_items():
    ring = BroadcastRing(8, U8)
    rd = ring.reader()
    with pytest.raises(TypeError, match="dtype"):
        ring.write_many(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="NumPy array"):
        ring.write_many([1, 2, 3])
    with pytest.raises(ValueError, match="1-D"):
        ring.write_many(np.zeros((2, 2), U8))
    with pytest.raises(ValueError, match="C-contiguous"):
        ring.write_many(np.zeros(6, U8)[::2])
    with pytest.raises(ValueError, match="read-only"):
        out = np.zeros(3, U8)
        out.flags.writeable = False
        rd.read_many(out)
    with pytest.raises(ValueError, match="8 bytes"):
        ring.write(b"abc")
    with pytest.raises(TypeError, match="cannot write"):
        ring.write(3)
    with pytest.raises(ValueError, match="timeout"):
        rd.read_many(np.zeros(2, U8), timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        rd.read_many(np.zeros(2, U8), timeout="soon")
    with pytest.raises(ValueError, match="start"):
        ring.reader(start="middle")
    with pytest.raises(ValueError, match="gated"):
        ring.reader(register=True)
    assert ring.written == 0  # nothing was written by the refused calls


def test_records_any_dtype_roundtrip():
    dt = np.dtype([("x", "<i4"), ("y", "u1")])  # 5 bytes, not a multiple of 8
    ring = BroadcastRing(4, dt)
    rd = ring.reader()
    src = np.zeros(3, dt)
    src["x"] = [-1, 2, 3]
    src["y"] = [7, 8, 9]
    assert ring.write_many(src) == 3
    out = np.zeros(5, dt)
    assert rd.read_many(out) == 3
    assert out[:3].tobytes() == src.tobytes()
    ring.write(src[1])
    assert rd.read_one().tobytes() == src[1].tobytes()
    assert rd.read_one() is None


def test_closed_ring_and_reader():
    ring = BroadcastRing(8, U8)
    rd = ring.reader()
    ring.close()
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        rd.read_many(np.zeros(1, U8))
    with pytest.raises(ValueError, match="closed"):
        ring.write_many(seqs(0, 1))
    with pytest.raises(ValueError, match="closed"):
        ring.reader()
    with pytest.raises(TypeError, match="pickled"):
        import pickle

        pickle.dumps(BroadcastRing(8, U8))


def test_blocking_read_times_out_and_wakes():
    ring = BroadcastRing(8, U8)
    rd = ring.reader()
    out = np.zeros(4, U8)
    assert rd.read_many(out, timeout=0.02) == 0
    timer = threading.Timer(0.05, lambda: ring.write_many(seqs(0, 2)))
    timer.start()
    try:
        assert rd.read_many(out, timeout=10) == 2
    finally:
        timer.join()
    assert list(out[:2]) == [0, 1]


class Model:
    """What a broadcast ring must return: reader cursors over an ever-growing sequence, lapped
    to head - capacity."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.head = 0
        self.readers = []  # [cursor, read, lost, lapped]

    def add_reader(self, oldest):
        cursor = max(0, self.head - self.capacity) if oldest else self.head
        self.readers.append([cursor, 0, 0, 0])

    def read(self, i, m):
        r = self.readers[i]
        if m == 0:  # an empty out array: nothing happens, not even a lap
            return []
        if self.head - r[0] > self.capacity:
            r[2] += self.head - self.capacity - r[0]
            r[3] += 1
            r[0] = self.head - self.capacity
        n = min(m, self.head - r[0])
        got = list(range(r[0], r[0] + n))
        r[0] += n
        r[1] += n
        return got


ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, 40)),
        st.tuples(st.just("read"), st.integers(0, 7), st.integers(0, 20)),
        st.tuples(st.just("reader"), st.booleans()),
    ),
    max_size=60,
)


@settings(max_examples=scaled(300, 50), deadline=None)
@given(capacity=st.sampled_from([2, 4, 8, 16]), ops=ops)
def test_model(capacity, ops):
    ring = BroadcastRing(capacity, U8)
    model = Model(capacity)
    readers = []
    out = np.zeros(64, U8)
    laps_seen = 0
    for op in ops:
        if op[0] == "write":
            ring.write_many(seqs(model.head, op[1]))
            model.head += op[1]
        elif op[0] == "reader":
            readers.append(ring.reader(start="oldest" if op[1] else "newest"))
            model.add_reader(op[1])
        elif readers:
            i = op[1] % len(readers)
            n = readers[i].read_many(out[: op[2]])
            assert list(out[:n]) == model.read(i, op[2])
            cursor, read, lost, lapped = model.readers[i]
            rd = readers[i]
            assert (rd.position, rd.read, rd.lost, rd.lapped) == (cursor, read, lost, lapped)
            assert rd.read + rd.lost == rd.position - rd.start
            laps_seen += lapped
        assert ring.written == model.head


def test_model_reaches_laps():
    """The model test's interesting state exists: a reader lapped, then reading on."""
    ring = BroadcastRing(4, U8)
    rd = ring.reader()
    ring.write_many(seqs(0, 11))
    out = np.zeros(8, U8)
    assert rd.read_many(out) == 4
    assert list(out[:4]) == [7, 8, 9, 10]
    assert (rd.lost, rd.lapped, rd.read) == (7, 1, 4)


def test_gated_holds_writer_and_evicts_stuck_reader():
    ring = BroadcastRing(4, U8, gated=True, max_readers=2, dead_reader_timeout=0.05)
    a = ring.reader()
    b = ring.reader()
    assert a.registered and b.registered and ring.registered == 2
    with pytest.raises(RuntimeError, match="slots are taken"):
        ring.reader()
    assert ring.try_write_many(seqs(0, 6)) == 4
    assert ring.try_write_many(seqs(4, 1)) == 0
    assert ring.gate_waits == 1
    out = np.zeros(8, U8)
    assert a.read_many(out) == 4 and b.read_many(out) == 4
    assert ring.try_write_many(seqs(4, 2)) == 2
    b.close()  # gives its slot back: no longer holds the writer
    assert ring.registered == 1
    # a never reads again: the writer waits dead_reader_timeout, then evicts it
    assert ring.write_many(seqs(6, 6), timeout=10) == 6
    assert ring.evicted == 1
    assert not a.registered
    n = a.read_many(out)
    assert a.read + a.lost == ring.written and n >= 1


def test_gated_timeout_reports_written():
    ring = BroadcastRing(4, U8, gated=True, max_readers=1, dead_reader_timeout=None)
    rd = ring.reader()  # alive (this process) and never reading
    with pytest.raises(TimeoutError) as info:
        ring.write_many(seqs(0, 6), timeout=0.05)
    assert info.value.written == 4
    assert ring.evicted == 0  # alive and no timeout configured: never evicted
    assert rd.registered


def test_gated_threads_lose_nothing():
    n = scaled(200_000, 20_000)
    ring = BroadcastRing(16, U8, gated=True, max_readers=2)
    readers = [ring.reader(), ring.reader()]
    results = [None, None]

    def consume(i):
        rd, got, out = readers[i], [], np.zeros(64, U8)
        while rd.read + rd.lost < n:
            k = rd.read_many(out, timeout=10)
            assert k > 0
            got.append(out[:k].copy())
        results[i] = np.concatenate(got)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for start in range(0, n, 100):
        ring.write_many(seqs(start, min(100, n - start)), timeout=30)
    for t in threads:
        t.join(60)
    for i in range(2):
        assert readers[i].lost == 0
        assert np.array_equal(results[i], seqs(0, n))


def test_blocking_read_runs_signal_handlers():
    """A long blocking read still runs signal handlers between its GIL-free slices: an
    exception from the handler ends the wait long before its timeout (without the checks the
    handler would run only when the 20 s wait returns)."""
    import signal
    import time

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    ring = BroadcastRing(8, U8)
    rd = ring.reader()
    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)  # repeated until one lands in the wait
    t0 = time.monotonic()
    try:
        with pytest.raises(Interrupted):
            rd.read_many(np.zeros(4, U8), timeout=20)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - t0 < 15  # well before the 20 s deadline
    assert ring._busy == 0  # the wait gave the ring back: close() is allowed
    ring.close()


def test_close_refused_while_a_reader_waits():
    ring = BroadcastRing(8, U8)
    rd = ring.reader()
    got = []
    t = threading.Thread(target=lambda: got.append(rd.read_many(np.zeros(4, U8), timeout=30)))
    t.start()
    try:
        for _ in range(3000):  # bounded: until the reader is inside its wait
            if ring._busy:
                break
            threading.Event().wait(0.001)
        assert ring._busy == 1
        with pytest.raises(RuntimeError, match="blocking call"):
            ring.close()
    finally:
        ring.write_many(seqs(0, 1))
        t.join(30)
    assert got == [1]
    ring.close()
    assert ring.closed
