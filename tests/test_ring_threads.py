"""SpscRing across two Python threads: every record arrives once, in order."""

import threading

import numpy as np

from scale import scaled
from velox import TXN_DTYPE, SpscRing, Transaction


def run_pair(producer, consumer):
    errors = []

    def guard(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guard(producer)), threading.Thread(target=guard(consumer))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert errors == []


def test_blocking_push_pop_one_million_in_order():
    n = scaled(1_000_000, 100_000)
    ring = SpscRing(1024, "<u8")
    items = [np.uint64(i) for i in range(4096)]  # pre-built so the producer loop is cheap
    received = np.empty(n, np.uint64)

    def producer():
        push = ring.push
        for i in range(n):
            push(items[i & 4095] + np.uint64(i & ~4095) if i >= 4096 else items[i], timeout=60)

    def consumer():
        pop = ring.pop
        for i in range(n):
            received[i] = pop(timeout=60)

    run_pair(producer, consumer)
    assert np.array_equal(received, np.arange(n, dtype=np.uint64))
    assert ring.pushed == ring.popped == n
    assert len(ring) == 0


def test_blocking_transactions_in_order():
    n = scaled(50_000, 10_000)
    ring = SpscRing(64)
    seqs = []

    def producer():
        for i in range(n):
            ring.push(Transaction(seq=i, price=i * 2, qty=i % 100), timeout=60)

    def consumer():
        for _ in range(n):
            row = ring.pop(timeout=60)
            assert row["price"] == 2 * row["seq"]
            seqs.append(int(row["seq"]))

    run_pair(producer, consumer)
    assert seqs == list(range(n))


def test_batches_between_threads_every_record_checked():
    total = 2_000_000
    batch = 4096
    ring = SpscRing(1 << 14)
    out = np.empty(total, TXN_DTYPE)

    def producer():
        src = np.zeros(total, TXN_DTYPE)
        src["seq"] = np.arange(total)
        src["price"] = np.arange(total) * 3
        sent = 0
        while sent < total:
            k = ring.push_many(src[sent : sent + batch])
            sent += k
            if k == 0:
                ring.push(src[sent], timeout=60)  # wait (GIL released) for room
                sent += 1

    def consumer():
        got = 0
        while got < total:
            k = ring.pop_many(out[got : got + batch])
            got += k
            if k == 0:
                out[got] = ring.pop(timeout=60)
                got += 1

    run_pair(producer, consumer)
    assert np.array_equal(out["seq"], np.arange(total))
    assert np.array_equal(out["price"], np.arange(total) * 3)
    assert ring.rejected_full >= 0 and ring.pushed == total


def test_second_producer():
    """Guarded builds (VELOX_DEBUG -- every sanitizer build -- and free-threaded builds) hold
    the producer guard for the whole blocking wait, so a second producer arriving meanwhile
    gets RuntimeError. Release builds with a GIL do not check; there the test pins down the legal case instead: two producer threads
    taking turns through a join hand-off both succeed and keep FIFO order."""
    from velox import _ring

    ring = SpscRing(2, "<u8")
    ring.push_many(np.array([1, 2], np.uint64))
    errors = []

    def blocked_producer(timeout):
        try:
            ring.push(np.uint64(3), timeout=timeout)
        except BaseException as exc:
            errors.append(exc)

    if _ring.GUARDED:
        first = threading.Thread(target=blocked_producer, args=(2.0,))
        first.start()
        import time

        deadline = time.monotonic() + 1.5
        raised = None
        while raised is None and time.monotonic() < deadline:
            try:
                ring.try_push(np.uint64(4))  # False until the first producer is waiting
            except RuntimeError as exc:
                raised = exc
        first.join(10)
        assert raised is not None and "one producer thread" in str(raised)
        assert len(errors) == 1 and isinstance(errors[0], TimeoutError)
    else:
        for value in (3, 4):
            assert int(ring.pop(timeout=5)) in (1, 2)
            t = threading.Thread(target=lambda v=value: ring.push(np.uint64(v), timeout=5))
            t.start()
            t.join(10)
        assert errors == []
        assert [int(x) for x in ring.pop_many(2)] == [3, 4]
