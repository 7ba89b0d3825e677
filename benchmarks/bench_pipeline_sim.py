"""The simulated venue inside the threaded pipeline, next to velox.backtest on the calling
thread, in one run: the same LOBSTER file, builtin:quote (size 1, max_position 10), SimVenue
with constant latency (entry and response 10 us), seed 0. The two give byte-identical orders,
reports and P&L (tests/test_pipeline_sim.py); this measures what the pipeline's threads,
rings and log drain cost on top of the backtest loop (the books are shared: no event is
applied twice).

    python benchmarks/bench_pipeline_sim.py --fast       # quick look (200,000 events)
    python benchmarks/bench_pipeline_sim.py -o sim.json  # full pyperf run (1,000,000 events)

Cases (each loop = the whole file through a fresh run, set-up and file parsing included):
  (a) velox.backtest("lobster:FILE", "builtin:quote", ...);
  (b) Pipeline(input="lobster:FILE", stage=builtin:quote, venue=SimVenue(...)), one native
      thread for every stage (unpinned), unpaced;
  (c) the same on two threads (ingress+bundler, book+output), unpaced.
events/s = the file's events / seconds.
"""

import os
import sys
import tempfile

import pyperf
from _pyperf import Runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ is None:  # run from a source checkout: import the in-place build
    sys.path.insert(0, ROOT)

import velox  # noqa: E402
from velox.feedgen import lobster_events  # noqa: E402
from velox.feeds import write_lobster  # noqa: E402
from velox.pipeline._strategy import BuiltinStrategy  # noqa: E402

FULL_EVENTS = 1_000_000
FAST_EVENTS = 200_000
ARGS = {"size": 1, "max_position": 10}
VENUE = velox.SimVenue(entry_latency_ns=10_000, response_latency_ns=10_000)
CACHE = os.path.join(tempfile.gettempdir(), "velox-bench-pipeline-sim")


def stream_file(n):
    """A LOBSTER message file of n events (generated once per size, kept in the temp dir)."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"msg-{n}.csv")
    if not os.path.exists(path):
        tmp = path + f".{os.getpid()}.tmp"
        write_lobster(tmp, lobster_events(n * 3 // 2, seed=1)[:n])
        os.replace(tmp, path)
    return path


FAST = "--fast" in sys.argv
N_EVENTS = FAST_EVENTS if FAST else FULL_EVENTS
PATH = stream_file(N_EVENTS)


def run_backtest():
    r = velox.backtest(f"lobster:{PATH}", "builtin:quote", stage_args=ARGS, venue=VENUE, seed=0)
    assert r.ok
    return r


def run_pipeline(topology):
    pipe = velox.Pipeline(input=f"lobster:{PATH}", stage=BuiltinStrategy("quote", dict(ARGS)),
                          venue=VENUE, seed=0, topology=topology)
    pipe.start()
    assert pipe.wait(timeout=600)
    report = pipe.stop()
    assert report["ok"], report["verdict"]
    return pipe


def timed(func, *args):
    def bench(loops):
        t = 0.0
        for _ in range(loops):
            t0 = pyperf.perf_counter()
            func(*args)
            t += pyperf.perf_counter() - t0
        return t
    return bench


CASES = [
    ("(a) velox.backtest, calling thread", timed(run_backtest)),
    ("(b) Pipeline + SimVenue, 1 thread", timed(run_pipeline, "ingress+book+bundler+output")),
    ("(c) Pipeline + SimVenue, 2 threads", timed(run_pipeline, "ingress+bundler,book+output")),
]


def main():
    runner = Runner(processes=3, values=3, warmups=1, loops=1)
    runner.metadata["stream"] = f"LOBSTER file, {N_EVENTS} events, lobster_events seed 1"
    results = {}
    for name, func in CASES:
        bench = runner.bench_time_func(name, func, inner_loops=N_EVENTS)
        if bench is not None and not runner.args.worker:
            results[name] = bench.median()
    if runner.args.worker or not results:
        return
    r, p = run_backtest(), run_pipeline("ingress+bundler,book+output")
    same = all(getattr(p, k).tobytes() == getattr(r, k).tobytes()
               for k in ("orders", "execs", "pnl"))
    print(f"\n{N_EVENTS:,} events, {len(r.orders):,} orders, {len(r.execs):,} reports; "
          f"pipeline == backtest byte for byte: {same}")
    print(f"{'case':38} {'ns/event':>10} {'M events/s':>12}")
    for name, t in results.items():
        print(f"{name:38} {t * 1e9:10.1f} {1 / t / 1e6:12.2f}")


if __name__ == "__main__":
    main()
