"""Pipeline sources: how fast records get INTO the native pipeline, next to what a user would
write instead, in one run.

    python benchmarks/bench_pipeline_sources.py            (5 rounds; --rounds N, --n RECORDS)

Measured (each a median over rounds, records/s through the whole pipeline, block mode, no
bundle timeout, unpaced; one pipeline thread on a 2-CPU machine):
  * ceiling: the synthetic source (no input at all): what the book/bundler/output stages
    sustain, so the figures below show whether the source is the bottleneck;
  * feed: Pipeline(input="feed") with p.feed() of 65,536-record batches from this process
    (target issue 12: >= 50 M events/s);
  * shm: Pipeline(input="shm:NAME") fed by ANOTHER process that pushes 4,096-record batches
    into a velox.SharedRing (target issue 12: >= 30 M events/s);
  * mp.Queue: the same producer process sending 4,096-record NumPy batches over a
    multiprocessing.Queue to this process, which feeds them with p.feed() (what a user would
    do without velox's shared ring).
The producer process makes its records before the clock starts; the clock runs from start()
to the run's end (the pipeline finished, every record counted). Prints UTC time and load
average: figures taken on a busy machine are not figures.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import time

import numpy as np

import velox
from _machine import describe
from velox import TXN_DTYPE, Pipeline
from velox.feedgen import txn_flow as flow

BATCH = 4096


def shm_producer(name, n, ready):
    recs = flow(n)
    ring = velox.SharedRing.create(name, 1 << 16, TXN_DTYPE)
    ready.set()
    for i in range(0, n, BATCH):
        ring.push_many(recs[i:i + BATCH], timeout=None)
    ring.close()


def queue_producer(q, n, ready):
    recs = flow(n)
    ready.set()
    for i in range(0, n, BATCH):
        q.put(recs[i:i + BATCH])
    q.put(None)


def pipe(**kw):
    return Pipeline("max", on_full="block", bundle_timeout_us=0, **kw)


def timed_run(p, n, feed=None):
    """Records/s of one run from start() to its end (every record counted): feed(p), if
    given, pushes the input from this thread and closes it."""
    t0 = time.perf_counter()
    p.start()
    if feed is not None:
        feed(p)
        p.close_feed()
    assert p.wait(timeout=600)
    dt = time.perf_counter() - t0
    r = p.stop()
    assert r["conservation_ok"] and r["counters"]["generated"] == n, r["conservation_failures"]
    return n / dt


def run_ceiling(n):
    return timed_run(pipe(max_txns=n), n)


def run_feed(n):
    recs = flow(n)

    def feed(p):
        for i in range(0, n, 1 << 16):
            p.feed(recs[i:i + (1 << 16)])
    return timed_run(pipe(input="feed"), n, feed)


def run_shm(n, k):
    name = f"velox-bench-src-{os.getpid()}-{k}"
    ready = mp.Event()
    proc = mp.Process(target=shm_producer, args=(name, n, ready))
    proc.start()
    ready.wait(60)
    try:
        return timed_run(pipe(input=f"shm:{name}", attach_timeout=60), n)
    finally:
        proc.join(60)
        try:
            velox._shm.unlink(name)
        except FileNotFoundError:
            pass


def run_queue(n):
    q = mp.Queue(maxsize=64)
    ready = mp.Event()
    proc = mp.Process(target=queue_producer, args=(q, n, ready))
    proc.start()
    ready.wait(60)

    def feed(p):
        while (batch := q.get()) is not None:  # bounded: the producer sends None last
            p.feed(batch)
    try:
        return timed_run(pipe(input="feed"), n, feed)
    finally:
        proc.join(60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=4_000_000)
    args = ap.parse_args()
    mp.set_start_method("spawn")
    results = {"ceiling (synthetic)": [], "feed() from Python": [], "shm: other process": [],
               "mp.Queue + feed()": []}
    for k in range(args.rounds):  # interleaved: a load change hits every variant alike
        results["ceiling (synthetic)"].append(run_ceiling(args.n))
        results["feed() from Python"].append(run_feed(args.n))
        results["shm: other process"].append(run_shm(args.n, k))
        results["mp.Queue + feed()"].append(run_queue(args.n))
    print(f"bench_pipeline_sources: {describe()}, {args.rounds} rounds of {args.n:,} records")
    med = {k: statistics.median(v) for k, v in results.items()}
    for k, v in results.items():
        print(f"  {k:22s} median {med[k] / 1e6:6.2f} M records/s   "
              f"(rounds: {', '.join(f'{x / 1e6:.2f}' for x in v)})")
    for k, target in (("feed() from Python", 50e6), ("shm: other process", 30e6)):
        print(f"  target {k}: >= {target / 1e6:.0f} M/s: "
              f"{'met' if med[k] >= target else 'NOT met'} ({med[k] / 1e6:.2f} M/s)")
    print(f"  shm vs mp.Queue + feed(): {med['shm: other process'] / med['mp.Queue + feed()']:.2f}x; "
          f"shm vs the ceiling: {med['shm: other process'] / med['ceiling (synthetic)']:.2f}")


if __name__ == "__main__":
    main()
