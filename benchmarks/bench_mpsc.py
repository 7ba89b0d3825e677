"""Records per second from two producer processes into one consumer: velox.MpscRing (batched
and per item) vs faster-fifo (put_many/get_many and put/get) vs multiprocessing.Queue, 32-byte
records, in one run.

Targets (issue 23), printed as ratios at the end:
  - MpscRing push_many/pop_many >= 20x faster-fifo put_many/get_many
  - MpscRing >= 10 M records/s (two producer processes, batched)

    python benchmarks/bench_mpsc.py --fast      # quick, noisy
    python benchmarks/bench_mpsc.py             # full pyperf run

Each timing: two forked producer processes (each attached to the ring, or holding the queue)
wait on an event; the parent (the consumer) sets it, starts the clock, and stops it when it has
taken `loops` records (loops / 2 from each producer). Records are 32-byte TXN_DTYPE rows for
MpscRing and 32-byte bytes objects for the queues (which pickle them). Blocking calls
throughout (MpscRing waits GIL-free: yield, then sleep, while full or empty).
"""

import multiprocessing
import os
import queue as queue_mod
import sys
import time
import uuid

import numpy as np
from _pyperf import Runner

try:
    import velox
except ImportError:  # run from a source checkout with an in-place build
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import velox

RECORD = bytes(32)
BATCH = 4096
PRODUCERS = 2
CTX = multiprocessing.get_context("fork")


def _name():
    return f"velox-bench-mpsc-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# ---- producers (forked children) ----------------------------------------------------------------


def _produce_ring_batches(name, n, ready, go):
    ring = velox.MpscRing.attach(name)
    block = np.zeros(BATCH, velox.TXN_DTYPE)
    ready.release()
    go.wait()
    sent = 0
    while sent < n:
        sent += ring.push_many(block[: min(BATCH, n - sent)])
    ring.close()


def _produce_ring_items(name, n, ready, go):
    ring = velox.MpscRing.attach(name)
    record = np.zeros(1, velox.TXN_DTYPE)[0]
    push = ring.push
    ready.release()
    go.wait()
    for _ in range(n):
        push(record)
    ring.close()


def _produce_queue_items(q, n, ready, go):
    ready.release()
    go.wait()
    for _ in range(n):
        q.put(RECORD)


def _produce_ff_batches(q, n, ready, go):
    block = [RECORD] * BATCH
    ready.release()
    go.wait()
    sent = 0
    while sent < n:
        k = min(BATCH, n - sent)
        q.put_many(block[:k], timeout=60)
        sent += k


# ---- timed functions (parent = consumer) --------------------------------------------------------


def _run(producer, channel, loops, consume):
    ready, go = CTX.Semaphore(0), CTX.Event()
    per = [loops // PRODUCERS + (1 if i < loops % PRODUCERS else 0) for i in range(PRODUCERS)]
    kids = [CTX.Process(target=producer, args=(channel, per[i], ready, go))
            for i in range(PRODUCERS)]
    for k in kids:
        k.start()
    for _ in kids:
        ready.acquire()
    t0 = time.perf_counter()
    go.set()
    consume(channel, loops)
    elapsed = time.perf_counter() - t0
    for k in kids:
        k.join()
    return elapsed


def bench_ring_batches(loops):
    with velox.MpscRing.create(_name(), 1 << 16, velox.TXN_DTYPE) as ring:
        out = np.empty(BATCH, velox.TXN_DTYPE)

        def consume(_, n):
            got = 0
            while got < n:
                got += ring.pop_many(out, timeout=60)

        return _run(_produce_ring_batches, ring.name, loops, consume)


def bench_ring_items(loops):
    with velox.MpscRing.create(_name(), 4096, velox.TXN_DTYPE) as ring:
        def consume(_, n):
            pop = ring.pop
            for _ in range(n):
                pop()

        return _run(_produce_ring_items, ring.name, loops, consume)


def _consume_queue(q, n):
    for _ in range(n):
        q.get()


def bench_mp_queue(loops):
    return _run(_produce_queue_items, CTX.Queue(), loops, _consume_queue)


def _ff_queue():
    from faster_fifo import Queue

    return Queue(max_size_bytes=64 * 1024 * 1024)


def bench_ff_items(loops):
    return _run(_produce_queue_items, _ff_queue(), loops, _consume_queue)


def bench_ff_batches(loops):
    def consume(q, n):
        got = 0
        while got < n:
            try:
                got += len(q.get_many(max_messages_to_get=BATCH, timeout=60))
            except queue_mod.Empty:
                pass

    return _run(_produce_ff_batches, _ff_queue(), loops, consume)


def main():
    runner = Runner()
    runner.metadata["description"] = "32-byte records, two producer processes, one consumer"
    cases = [
        ("MpscRing push_many/pop_many (4096)", bench_ring_batches),
        ("faster-fifo put_many/get_many (4096)", bench_ff_batches),
        ("MpscRing push/pop", bench_ring_items),
        ("faster-fifo put/get", bench_ff_items),
        ("multiprocessing.Queue put/get", bench_mp_queue),
    ]
    results = {name: runner.bench_time_func(name, fn) for name, fn in cases}
    if any(r is None for r in results.values()):
        return  # a pyperf worker: only the parent prints the comparison
    rate = {name: 1.0 / r.median() for name, r in results.items()}
    print()
    print("records/s, two producer processes -> one consumer (median):")
    for name, _ in cases:
        print(f"  {name:40s} {rate[name]:>14,.0f}")
    batched = rate["MpscRing push_many/pop_many (4096)"] / rate["faster-fifo put_many/get_many (4096)"]
    per_item = rate["MpscRing push/pop"] / rate["faster-fifo put/get"]
    vs_mp = rate["MpscRing push/pop"] / rate["multiprocessing.Queue put/get"]
    print(f"batched MpscRing / faster-fifo put_many/get_many: {batched:8.1f}x  (target >= 20x)")
    print(f"batched MpscRing records/s:                       "
          f"{rate['MpscRing push_many/pop_many (4096)'] / 1e6:8.1f} M (target >= 10 M)")
    print(f"per-item MpscRing / faster-fifo put/get:          {per_item:8.1f}x")
    print(f"per-item MpscRing / multiprocessing.Queue:        {vs_mp:8.1f}x")


if __name__ == "__main__":
    main()
