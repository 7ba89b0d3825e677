"""Records per second between two processes: velox.SharedRing (per item and batched) vs
multiprocessing.Queue vs faster-fifo (put/get and put_many/get_many), 32-byte records; and
the per-item round trip (ping-pong) latency.

Targets (issue 6), printed as ratios at the end of one run:
  - per-item SharedRing >= 20x faster-fifo per item
  - batched SharedRing  >= 200x faster-fifo put_many/get_many

    python benchmarks/bench_ipc.py --fast      # quick, noisy
    python benchmarks/bench_ipc.py             # full pyperf run

Per item, "push/pop" is the blocking API (spin, then yield, then sleep while full/empty, GIL
released), the natural per-item loop and the headline figure; "try_push/try_pop (busy poll)"
spins in Python on the non-blocking calls, which is fast when both processes own a core and
collapses when they share one (a loaded 2-core machine). Each timing: the parent (producer) moves `loops` records to a forked consumer process that is
already running and waiting; the clock stops when the consumer has taken the last record.
Records are 32-byte TXN_DTYPE rows for SharedRing and 32-byte bytes objects for the queues
(pickled by the queues). Both processes busy-poll where the API allows (try_push/try_pop).
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
CTX = multiprocessing.get_context("fork")


def _name():
    return f"velox-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# ---- consumers (run in the forked child) -------------------------------------------------------


def _consume_ring_items(ring, n, ready, done):
    ready.set()
    try_pop = ring.try_pop
    got = 0
    while got < n:
        if try_pop() is not None:
            got += 1
    done.set()


def _consume_ring_blocking(ring, n, ready, done):
    ready.set()
    pop = ring.pop
    for _ in range(n):
        pop()
    done.set()


def _consume_ring_batches(ring, n, ready, done):
    out = np.empty(BATCH, velox.TXN_DTYPE)
    ready.set()
    got = 0
    while got < n:
        got += ring.pop_many(out)
    done.set()


def _consume_queue_items(q, n, ready, done):
    ready.set()
    for _ in range(n):
        q.get()
    done.set()


def _consume_ff_batches(q, n, ready, done):
    ready.set()
    got = 0
    while got < n:
        try:
            got += len(q.get_many(max_messages_to_get=BATCH))
        except queue_mod.Empty:
            pass
    done.set()


def _echo_ring(inbound, outbound, n, ready):
    ready.set()
    for _ in range(n):
        outbound.push(inbound.pop())


def _echo_queue(inbound, outbound, n, ready):
    ready.set()
    for _ in range(n):
        outbound.put(inbound.get())


# ---- timed functions (parent = producer) -------------------------------------------------------


def _run(consumer, channel, loops, produce):
    ready, done = CTX.Event(), CTX.Event()
    child = CTX.Process(target=consumer, args=(channel, loops, ready, done))
    child.start()
    ready.wait()
    t0 = time.perf_counter()
    produce(channel, loops)
    done.wait()
    elapsed = time.perf_counter() - t0
    child.join()
    return elapsed


def bench_ring_items(loops):
    record = np.zeros(1, velox.TXN_DTYPE)[0]

    def produce(ring, n):
        try_push = ring.try_push
        for _ in range(n):
            while not try_push(record):
                pass

    with velox.SharedRing.create(_name(), 4096, velox.TXN_DTYPE) as ring:
        return _run(_consume_ring_items, ring, loops, produce)


def bench_ring_blocking(loops):
    record = np.zeros(1, velox.TXN_DTYPE)[0]

    def produce(ring, n):
        push = ring.push
        for _ in range(n):
            push(record)

    with velox.SharedRing.create(_name(), 4096, velox.TXN_DTYPE) as ring:
        return _run(_consume_ring_blocking, ring, loops, produce)


def bench_ring_batches(loops):
    block = np.zeros(BATCH, velox.TXN_DTYPE)

    def produce(ring, n):
        sent = 0
        while sent < n:
            sent += ring.push_many(block[: min(BATCH, n - sent)])

    with velox.SharedRing.create(_name(), 1 << 16, velox.TXN_DTYPE) as ring:
        return _run(_consume_ring_batches, ring, loops, produce)


def bench_mp_queue(loops):
    def produce(q, n):
        for _ in range(n):
            q.put(RECORD)

    return _run(_consume_queue_items, CTX.Queue(), loops, produce)


def _ff_queue():
    from faster_fifo import Queue

    return Queue(max_size_bytes=64 * 1024 * 1024)


def bench_ff_items(loops):
    def produce(q, n):
        for _ in range(n):
            q.put(RECORD)

    return _run(_consume_queue_items, _ff_queue(), loops, produce)


def bench_ff_batches(loops):
    block = [RECORD] * BATCH

    def produce(q, n):
        sent = 0
        while sent < n:
            k = min(BATCH, n - sent)
            q.put_many(block[:k])
            sent += k

    return _run(_consume_ff_batches, _ff_queue(), loops, produce)


def bench_ring_roundtrip(loops):
    record = np.zeros(1, velox.TXN_DTYPE)[0]
    with velox.SharedRing.create(_name(), 64, velox.TXN_DTYPE) as out, \
            velox.SharedRing.create(_name(), 64, velox.TXN_DTYPE) as back:
        ready = CTX.Event()
        child = CTX.Process(target=_echo_ring, args=(out, back, loops, ready))
        child.start()
        ready.wait()
        push, pop = out.push, back.pop
        t0 = time.perf_counter()
        for _ in range(loops):
            push(record)
            pop()
        elapsed = time.perf_counter() - t0
        child.join()
        return elapsed


def bench_ff_roundtrip(loops):
    out, back = _ff_queue(), _ff_queue()
    ready = CTX.Event()
    child = CTX.Process(target=_echo_queue, args=(out, back, loops, ready))
    child.start()
    ready.wait()
    t0 = time.perf_counter()
    for _ in range(loops):
        out.put(RECORD)
        back.get()
    elapsed = time.perf_counter() - t0
    child.join()
    return elapsed


def main():
    runner = Runner()
    runner.metadata["description"] = "32-byte records between two processes"
    cases = [
        ("SharedRing push/pop", bench_ring_blocking),
        ("SharedRing try_push/try_pop (busy poll)", bench_ring_items),
        ("SharedRing push_many/pop_many (4096)", bench_ring_batches),
        ("multiprocessing.Queue put/get", bench_mp_queue),
        ("faster-fifo put/get", bench_ff_items),
        ("faster-fifo put_many/get_many (4096)", bench_ff_batches),
        ("SharedRing round trip", bench_ring_roundtrip),
        ("faster-fifo round trip", bench_ff_roundtrip),
    ]
    results = {name: runner.bench_time_func(name, fn) for name, fn in cases}
    if any(r is None for r in results.values()):
        return  # a pyperf worker: only the parent prints the comparison
    rate = {name: 1.0 / r.median() for name, r in results.items()}
    print()
    print("records/s between two processes (median):")
    for name, _ in cases[:6]:
        print(f"  {name:40s} {rate[name]:>14,.0f}")
    print("round trip (median):")
    for name, _ in cases[6:]:
        print(f"  {name:40s} {results[name].median() * 1e6:>11.2f} us")
    per_item = rate["SharedRing push/pop"] / rate["faster-fifo put/get"]
    polling = rate["SharedRing try_push/try_pop (busy poll)"] / rate["faster-fifo put/get"]
    batched = rate["SharedRing push_many/pop_many (4096)"] / rate["faster-fifo put_many/get_many (4096)"]
    vs_mp = rate["SharedRing push/pop"] / rate["multiprocessing.Queue put/get"]
    rtt = results["faster-fifo round trip"].median() / results["SharedRing round trip"].median()
    print(f"per-item SharedRing / faster-fifo put/get:         {per_item:8.1f}x  (target >= 20x)")
    print(f"batched SharedRing / faster-fifo put_many/get_many: {batched:8.1f}x  (target >= 200x)")
    print(f"busy-poll SharedRing / faster-fifo put/get:        {polling:8.1f}x")
    print(f"per-item SharedRing / multiprocessing.Queue:       {vs_mp:8.1f}x")
    print(f"round trip faster-fifo / SharedRing:               {rtt:8.1f}x")


if __name__ == "__main__":
    main()
