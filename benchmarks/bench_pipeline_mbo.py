"""Market-by-order replay through the native pipeline, next to what a user would do instead,
in one run.

    python benchmarks/bench_pipeline_mbo.py            (5 rounds; --rounds N, --n EVENTS)
    python benchmarks/bench_pipeline_mbo.py --rounds 31 --n 1000000   (resolves the strategy's ns)

Measured (medians over interleaved rounds; one symbol's LOBSTER-representable day from
velox.feedgen, written as a raw MBO_DTYPE file; block mode, unpaced, no bundle timeout, output
to a file; the default mapping = one pipeline thread on a 2-CPU machine):
  * pipeline, no stage:  mbo:PATH -> MBO book -> (nothing bundled) -> file;
  * pipeline, noop stage and imbalance stage (velox's builtin C stages): the cost of hosting a
    stage and of a toy strategy, per event (target issue 12: replay -> MBO book -> no-op stage
    -> bundler -> file >= 20 M events/s; the strategy adds <= 5 ns/event over the no-op);
  * pipeline, 4 noop stages (stage=[noop] * 4): the cost of hosting several stages;
  * MboBook.apply_many, no pipeline (the book alone, one thread, from Python in 64k batches):
    the ceiling;
  * a Python loop calling MboBook.apply per event (what a user writes without a batch API),
    on the first 200,000 events.
Prints UTC time and load average: figures taken on a busy machine are not figures.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from _machine import describe
from velox import MboBook, Pipeline, to_fixed
from velox._pipeline import BuiltinStage
from velox.feedgen import lobster_events

LEVELS = 4096
TICK = to_fixed("0.01")


def run_pipeline(path, n, stage, out):
    p = Pipeline(input=f"mbo:{path}", on_full="block", levels=LEVELS, bundle_timeout_us=0,
                 stage=None if stage is None else [BuiltinStage(k) for k in stage.split("+")],
                 output=out)
    t0 = time.perf_counter()
    p.start()
    assert p.wait(timeout=600)
    dt = time.perf_counter() - t0
    r = p.stop()
    assert r["conservation_ok"] and r["counters"]["generated"] == n, r["conservation_failures"]
    return n / dt


def fresh_book(events):
    first = int(events[events["action"] == 1]["price"][0])
    return MboBook(levels=LEVELS, tick_size=TICK, base_price=first - LEVELS // 2 * TICK,
                   max_orders=1 << 20)


def run_apply_many(events):
    book = fresh_book(events)
    t0 = time.perf_counter()
    for i in range(0, len(events), 1 << 16):
        book.apply_many(events[i:i + (1 << 16)])
    return len(events) / (time.perf_counter() - t0)


def run_python_loop(events):
    book = fresh_book(events)
    t0 = time.perf_counter()
    for e in events:
        try:
            book.apply(e)
        except ValueError:  # a rejected event
            pass
    return len(events) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=2_000_000, help="messages generated (events ~ n)")
    args = ap.parse_args()
    events = lobster_events(args.n, seed=1)
    n = len(events)
    work = tempfile.mkdtemp(prefix="velox-bench-mbo-")
    path = os.path.join(work, "day.mbo")
    out = os.path.join(work, "out.bin")
    events.tofile(path)
    names = ("pipeline, no stage", "pipeline, noop stage", "pipeline, imbalance stage",
             "pipeline, 4 noop stages", "MboBook.apply_many", "Python loop of apply")
    res = {k: [] for k in names}
    for _ in range(args.rounds):  # interleaved: a load change hits every variant alike
        res[names[0]].append(run_pipeline(path, n, None, out))
        res[names[1]].append(run_pipeline(path, n, "noop", out))
        res[names[2]].append(run_pipeline(path, n, "imbalance", out))
        res[names[3]].append(run_pipeline(path, n, "noop+noop+noop+noop", out))
        res[names[4]].append(run_apply_many(events))
        res[names[5]].append(run_python_loop(events[:200_000]))
    print(f"bench_pipeline_mbo: {describe()}, {args.rounds} rounds of {n:,} events")
    med = {k: statistics.median(v) for k, v in res.items()}
    for k in names:
        print(f"  {k:28s} median {med[k] / 1e6:7.2f} M events/s  {1e9 / med[k]:8.1f} ns/event"
              f"   (rounds: {', '.join(f'{x / 1e6:.2f}' for x in res[k])})")
    noop, strat = med[names[1]], med[names[2]]
    print(f"  target replay -> MBO book -> no-op stage -> file >= 20 M events/s: "
          f"{'met' if noop >= 20e6 else 'NOT met'} ({noop / 1e6:.2f} M/s)")
    extra = 1e9 / strat - 1e9 / noop

    def notch(rates):  # 95 % confidence half-width of a median (McGill, Tukey & Larsen 1978)
        if len(rates) < 4:
            return float("inf")
        q = statistics.quantiles([1e9 / x for x in rates], n=4)
        return 1.58 * (q[2] - q[0]) / len(rates) ** 0.5

    # the difference of two medians: their notches combined
    ci = (notch(res[names[1]]) ** 2 + notch(res[names[2]]) ** 2) ** 0.5
    verdict = "met" if extra + ci <= 5 else "NOT met" if extra - ci > 5 else "unresolved"
    print(f"  target imbalance stage <= 5 ns/event over the no-op: {verdict} "
          f"({extra:+.1f} +- {ci:.1f} ns/event, 95 % notches of the two medians combined)")
    print(f"  3 more noop stages: {1e9 / med[names[3]] - 1e9 / noop:+.1f} ns/event over one")
    print(f"  pipeline (noop) vs a Python loop of apply: {noop / med[names[5]]:.1f}x; vs "
          f"MboBook.apply_many alone: {noop / med[names[4]]:.2f}")


if __name__ == "__main__":
    main()
