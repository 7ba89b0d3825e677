"""One writer, two reader processes, 32-byte records in batches: velox.BroadcastRing (gated:
every record reaches both readers; and ungated: the writer never waits, a lapped reader counts
its losses) against pyzmq PUB/SUB over ipc:// with one message per batch (high-water marks
off, so nothing is dropped).

Targets (issue 23), printed as ratios at the end of one run:
  - BroadcastRing >= 50x pyzmq PUB/SUB (records per second per reader)
  - >= 100 M records/s per reader where the cores allow

    python benchmarks/bench_broadcast.py --fast     # quick, noisy
    python benchmarks/bench_broadcast.py            # full pyperf run

Like for like: both sides move the same 1,024-record batches (one zmq message per batch, the
batched send the target names; a reader copies each message into its own array, as the ring's
reader copies records out), both are lossless (gated ring, zmq high-water marks off), both
readers are processes of their own. The ceiling beside them: a NumPy copy of the same bytes in
one process (1,024-record batches out of a ring-sized array), the copy each reader cannot avoid;
50x pyzmq needs 50 times pyzmq's rate per reader, and the ceiling says whether the machine's
copy bandwidth allows it at all.

Each timing: the parent (writer) sends `loops` records in batches of BATCH to two forked
reader processes that are already running; the clock stops when both readers have accounted
for the last record (read, or counted lost for an ungated reader). Rates are per reader:
loops / elapsed. On a 2-CPU machine the writer and the two readers share two cores, so one of
the three is always waiting for a CPU: the per-reader rate is bounded by that, not by the ring.
"""

import multiprocessing
import os
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

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import describe  # noqa: E402

REC = velox.TXN_DTYPE  # 32 bytes
BATCH = 1024
CAPACITY = 1 << 16  # 2.6 MB segment (1 << 20: 40 MB, out of cache: 34 M/s, no faster)
CTX = multiprocessing.get_context("fork")


def _name():
    return f"velox-bench-bc-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# ---- readers (forked children) -----------------------------------------------------------------


def _read_ring(ring, n, ready, done, lost_out):
    rd = ring.reader()
    ready.set()
    out = np.empty(BATCH * 4, REC)
    read_many = rd.read_many
    while rd.read + rd.lost < n:
        read_many(out, None)
    lost_out.value = rd.lost
    done.set()


def _read_zmq(address, n, ready, done, lost_out):
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.connect(address)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    got = 0
    buf = np.empty(BATCH, REC)
    while True:  # the writer sends probes until we answer: no slow-joiner loss
        if len(sub.recv()) == 1:
            ready.set()
            break
    while got < n:
        msg = sub.recv(copy=False)
        if len(msg) == 1:
            continue  # a probe still in flight
        arr = np.frombuffer(msg.buffer, dtype=REC)
        buf[: len(arr)] = arr  # the reader gets its own copy, as the ring's reader does
        got += len(arr)
    lost_out.value = 0
    sub.close(0)
    ctx.term()
    done.set()


# ---- timed functions (parent = writer) --------------------------------------------------------


def _batch():
    b = np.zeros(BATCH, REC)
    b["seq"] = np.arange(BATCH)
    return b


def _ring_case(gated):
    def bench(loops):
        name = _name()
        ring = velox.BroadcastRing.create(name, CAPACITY, REC, gated=gated, max_readers=2)
        try:
            readies = [CTX.Event() for _ in range(2)]
            dones = [CTX.Event() for _ in range(2)]
            losts = [CTX.Value("Q", 0) for _ in range(2)]
            kids = [CTX.Process(target=_read_ring, args=(ring, loops, readies[i], dones[i], losts[i]))
                    for i in range(2)]
            for k in kids:
                k.start()
            for e in readies:
                e.wait()
            batch = _batch()
            write = ring.write_many
            t0 = time.perf_counter()
            sent = 0
            while sent < loops:
                k = min(BATCH, loops - sent)
                write(batch[:k])
                sent += k
            for d in dones:
                d.wait()
            elapsed = time.perf_counter() - t0
            for k in kids:
                k.join()
            return elapsed
        finally:
            ring.close()
            ring.unlink()

    return bench


def bench_zmq(loops):
    address = f"ipc:///tmp/{_name()}"
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(address)
    try:
        readies = [CTX.Event() for _ in range(2)]
        dones = [CTX.Event() for _ in range(2)]
        losts = [CTX.Value("Q", 0) for _ in range(2)]
        kids = [CTX.Process(target=_read_zmq, args=(address, loops, readies[i], dones[i], losts[i]))
                for i in range(2)]
        for k in kids:
            k.start()
        while not all(e.is_set() for e in readies):
            pub.send(b"p")
            time.sleep(0.001)
        batch = _batch()
        send = pub.send
        t0 = time.perf_counter()
        sent = 0
        while sent < loops:
            k = min(BATCH, loops - sent)
            send(batch[:k].data, copy=False)
            sent += k
        for d in dones:
            d.wait()
        elapsed = time.perf_counter() - t0
        for k in kids:
            k.join()
        return elapsed
    finally:
        pub.close(0)
        ctx.term()
        try:
            os.unlink(address[len("ipc://"):])
        except FileNotFoundError:
            pass


def bench_numpy_copy(loops):
    """The ceiling: `loops` records copied batch by batch out of a ring-sized array (one process,
    as plain 8-byte words: a structured copy goes field by field)."""
    src = np.zeros(CAPACITY, REC).view(np.uint64)
    out = np.zeros(BATCH, REC).view(np.uint64)
    words = BATCH * REC.itemsize // 8
    slots = CAPACITY // BATCH
    t0 = time.perf_counter()
    done = 0
    i = 0
    while done < loops:
        k = i % slots
        np.copyto(out, src[k * words:(k + 1) * words])
        done += BATCH
        i += 1
    return time.perf_counter() - t0


def main():
    runner = Runner()
    runner.metadata["description"] = "1 writer -> 2 reader processes, 32-byte records"
    cases = [
        ("BroadcastRing gated (lossless)", _ring_case(True)),
        ("BroadcastRing ungated", _ring_case(False)),
        ("pyzmq PUB/SUB ipc:// (1 msg = 1 batch)", bench_zmq),
        ("NumPy copy, one process (ceiling)", bench_numpy_copy),
    ]
    results = {name: runner.bench_time_func(name, fn) for name, fn in cases}
    if any(r is None for r in results.values()):
        return  # a pyperf worker: only the parent prints the comparison
    rate = {name: 1.0 / r.median() for name, r in results.items()}
    print()
    print(describe())
    print(f"records/s per reader (median; batches of {BATCH}, 2 readers):")
    for name, _ in cases:
        print(f"  {name:42s} {rate[name]:>16,.0f}")
    z = rate["pyzmq PUB/SUB ipc:// (1 msg = 1 batch)"]
    print(f"gated BroadcastRing / pyzmq:   {rate['BroadcastRing gated (lossless)'] / z:8.1f}x  "
          "(target >= 50x)")
    print(f"ungated BroadcastRing / pyzmq: {rate['BroadcastRing ungated'] / z:8.1f}x")
    ceiling = rate["NumPy copy, one process (ceiling)"]
    print(f"copy ceiling / pyzmq:          {ceiling / z:8.1f}x  (the most any reader that copies "
          "its records can reach on this machine)")
    print(f"gated BroadcastRing / ceiling: {rate['BroadcastRing gated (lossless)'] / ceiling:8.2f}")
    print(f"ungated: share of records each reader received (the rest it counted lost): "
          f"{_ungated_share():.1%}")
    print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()}")


def _ungated_share(n=1 << 21):
    """One untimed ungated run: records read / records written, over both readers."""
    ring = velox.BroadcastRing.create(_name(), CAPACITY, REC)
    try:
        readies = [CTX.Event() for _ in range(2)]
        dones = [CTX.Event() for _ in range(2)]
        losts = [CTX.Value("Q", 0) for _ in range(2)]
        kids = [CTX.Process(target=_read_ring, args=(ring, n, readies[i], dones[i], losts[i]))
                for i in range(2)]
        for k in kids:
            k.start()
        for e in readies:
            e.wait()
        batch = _batch()
        for _ in range(n // BATCH):
            ring.write_many(batch)
        for k in kids:
            k.join()
        return 1 - sum(v.value for v in losts) / (2 * n)
    finally:
        ring.close()
        ring.unlink()


if __name__ == "__main__":
    main()
