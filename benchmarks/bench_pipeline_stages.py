"""Open-pipeline benchmark (issue 12): a replayed events file through the L2 book with no user
stage, a no-op user stage and the imbalance strategy stage, into the bundler and a file; and
Pipeline.feed() from Python in batches.

    python benchmarks/bench_pipeline_stages.py --fast

Each benchmark is ns per event for N events (unpaced, block mode, no bundle timeout, logical
timestamps, default mapping: one pipeline thread on a 2-CPU machine). The stage cost is the
difference between the stage and no-stage runs. Targets (issue 12): replay -> book -> no-op
stage -> bundler -> file >= 20 M events/s on one thread (the target is for the MBO book; this
is the L2 book), the strategy adds <= 5 ns/event; feed() >= 50 M events/s.
"""

import os
import tempfile
import time

import numpy as np
from _pyperf import Runner

import velox
from velox import TXN_DTYPE, Pipeline
from velox._pipeline import BuiltinStage

N = 500_000
TMP = tempfile.mkdtemp(prefix="velox-bench-stages-")
SRC = os.path.join(TMP, "events.bin")
OUT = os.path.join(TMP, "out.bin")


def make_events():
    if os.path.exists(SRC):
        return
    rng = np.random.default_rng(1)
    a = np.zeros(N, TXN_DTYPE)
    a["seq"] = np.arange(N)
    a["side"] = rng.integers(0, 2, N)
    a["kind"] = rng.random(N) < 0.2
    a["qty"] = rng.integers(1, 100, N)
    a["price"] = velox.to_fixed(100) + rng.integers(400, 600, N) * velox.to_fixed("0.01")
    a.tofile(SRC)


def replay(stage_kind):
    def run(loops):
        total = 0.0
        for _ in range(loops):
            stage = BuiltinStage(stage_kind) if stage_kind else None
            p = Pipeline(input=f"events:{SRC}", on_full="block", bundle_timeout_us=0,
                         output=OUT, timestamps="logical", stage=stage)
            t0 = time.perf_counter()
            p.start()
            p.wait(timeout=120)
            total += time.perf_counter() - t0
            r = p.stop()
            assert r["conservation_ok"], r["conservation_failures"]
        return total / N  # seconds per event
    return run


def feed(loops):
    a = np.fromfile(SRC, TXN_DTYPE)
    total = 0.0
    for _ in range(loops):
        p = Pipeline(input="feed", on_full="block", bundle_timeout_us=0, timestamps="logical")
        p.start()
        t0 = time.perf_counter()
        for i in range(0, N, 65536):
            p.feed(a[i:i + 65536])
        total += time.perf_counter() - t0
        p.close_feed()
        p.wait(timeout=120)
        p.stop()
    return total / N


def main():
    make_events()
    runner = Runner()
    runner.metadata["load_avg"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    runner.bench_time_func("replay_l2_no_stage_per_event", replay(None))
    runner.bench_time_func("replay_l2_noop_stage_per_event", replay("noop"))
    runner.bench_time_func("replay_l2_imbalance_stage_per_event", replay("imbalance"))
    runner.bench_time_func("feed_per_event", feed)


if __name__ == "__main__":
    main()
