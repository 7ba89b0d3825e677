"""Pipeline benchmark: velox's native pipeline next to the same four stages written in Python
(threads + queue.SimpleQueue, dict order book), in one run.

    python benchmarks/bench_pipeline.py --fast

Measured:
  * unpaced throughput in block mode (--rate max --on-full block, no bundle timeout): time per
    transaction through all four stages, velox vs the Python threads pipeline (pyperf);
  * latency percentiles at 100 k/s and 1 M/s (paced, drop mode, default wait), and the
    highest paced rate sustained with zero drops and achieved within 1 % (parent only).

Targets (issue 5): unpaced block >= 10 M txn/s; paced 1 M/s with 0 drops, achieved within 1 %,
ingress->bundler p99 < 5 us. The parent prints each target with "met" / "NOT met", the UTC time
and the load average (figures on a busy machine are provisional).

Default mapping and wait (velox.pipeline.default_cores): every CPU but the first, spin; on a
2-CPU machine that is one pipeline thread running all four stages.
"""

import os
import queue
import sys
import threading
import time

from _pyperf import Runner

import velox
from velox import Pipeline

N_NATIVE = 2_000_000
N_PYTHON = 20_000


def bench_native(loops):
    total = 0.0
    for _ in range(loops):
        p = Pipeline("max", on_full="block", bundle_timeout_us=0, max_txns=N_NATIVE)
        t0 = time.perf_counter()
        p.start()
        p.wait(timeout=60)
        total += time.perf_counter() - t0
        p.stop()
    return total


def python_pipeline(n):
    """Ingress -> book -> bundler -> output as Python threads joined by queues."""
    import random
    q1, q2, q3 = queue.SimpleQueue(), queue.SimpleQueue(), queue.SimpleQueue()
    done = object()
    out = []

    def ingress():
        rnd = random.Random(1)
        for seq in range(n):
            q1.put((time.perf_counter_ns(), seq, 10000 + rnd.randrange(64), 1 + rnd.randrange(100),
                    rnd.randrange(2)))
        q1.put(done)

    def book():
        levels = [{}, {}]
        while (t := q1.get()) is not done:
            side_levels = levels[t[4]]
            side_levels[t[2]] = side_levels.get(t[2], 0) + t[3]
            q2.put(t)
        q2.put(done)

    def bundler():
        b = []
        while (t := q2.get()) is not done:
            b.append(t)
            if len(b) == 16:
                q3.put(b)
                b = []
        if b:
            q3.put(b)
        q3.put(done)

    def output():
        while (b := q3.get()) is not done:
            out.append(len(b))

    threads = [threading.Thread(target=f) for f in (ingress, book, bundler, output)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(out) == n


def bench_python(loops):
    t0 = time.perf_counter()
    for _ in range(loops):
        python_pipeline(N_PYTHON)
    return time.perf_counter() - t0


def paced(rate, seconds):
    p = Pipeline(rate)
    p.start()
    time.sleep(seconds)
    return p.stop()


def pipeline_drops(r):
    d = r["counters"]["drops"]
    return d["ingress_to_book"] + d["book_to_bundler"] + d["bundler_to_output"]


def extras(unpaced_txn_per_s):
    print()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    at_1m = None
    for rate, seconds in ((100_000, 1.0), (1_000_000, 2.0)):
        r = paced(rate, seconds)
        if rate == 1_000_000:
            at_1m = r
        lat = r["latency_ns"]
        print(f"paced {rate:>9,}/s ({r['threads']} thread(s) {r['mapping']}, wait={r['wait']}): "
              f"achieved {r['rate']['achieved']:,.0f}/s ({100 * r['rate']['achieved'] / rate:.2f}%), "
              f"drops {pipeline_drops(r)}, late {r['counters']['late']}, "
              f"conservation {'OK' if r['conservation_ok'] else 'FAILED'}")
        for name in ("ingress_to_book", "ingress_to_bundler", "bundle_to_output", "end_to_end"):
            h = lat[name]
            print(f"    {name:<18} p50 {h['p50']:>9,} ns  p90 {h['p90']:>9,}  p99 {h['p99']:>9,}"
                  f"  p99.9 {h['p999']:>10,}  max {h['max']:>11,}")
    best = 0
    for rate in (1e6, 2e6, 3e6, 4e6, 6e6, 8e6, 12e6, 16e6, 24e6, 32e6):
        r = paced(rate, 0.5)
        drops = pipeline_drops(r)
        ok = drops == 0 and r["rate"]["achieved"] >= 0.99 * rate
        print(f"sustain {rate / 1e6:5.1f} M/s: achieved {r['rate']['achieved'] / 1e6:6.2f} M/s, drops {drops}"
              f" -> {'ok' if ok else 'no'}")
        if not ok:
            break
        best = rate
    print(f"highest paced rate with zero drops (within 1%): {best / 1e6:.1f} M txn/s")

    achieved = at_1m["rate"]["achieved"]
    p99 = at_1m["latency_ns"]["ingress_to_bundler"]["p99"]
    targets = [
        ("unpaced block >= 10 M txn/s", unpaced_txn_per_s >= 10e6,
         f"{unpaced_txn_per_s / 1e6:.2f} M txn/s"),
        ("paced 1 M/s: 0 drops", pipeline_drops(at_1m) == 0, f"{pipeline_drops(at_1m)} drops"),
        ("paced 1 M/s: achieved within 1 %", abs(achieved - 1e6) <= 0.01 * 1e6,
         f"{achieved:,.0f}/s"),
        ("paced 1 M/s: ingress->bundler p99 < 5 us", p99 < 5000, f"p99 {p99:,} ns"),
    ]
    print()
    print("issue 5 targets:")
    for name, met, value in targets:
        print(f"  {name:<42} {value:>18}  {'met' if met else 'NOT met'}")


def main():
    runner = Runner()
    runner.metadata["description"] = "Transactions through ingress -> book -> bundler -> output"
    r = {
        "velox pipeline (unpaced, block)": runner.bench_time_func(
            "velox pipeline (unpaced, block)", bench_native, inner_loops=N_NATIVE),
        "python threads + queues": runner.bench_time_func(
            "python threads + queues", bench_python, inner_loops=N_PYTHON),
    }
    if all(v is not None for v in r.values()):
        ns = {k: v.median() * 1e9 for k, v in r.items()}
        base = ns["python threads + queues"]
        print()
        for k, v in ns.items():
            print(f"{k:<34} {v:9.2f} ns/txn  {1e3 / v:8.2f} M txn/s  {base / v:7.1f}x python")
        if "--worker" not in sys.argv:
            extras(1e9 / ns["velox pipeline (unpaced, block)"])


if __name__ == "__main__":
    main()
