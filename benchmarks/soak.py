"""Soak run of the native pipeline: conservation, memory and latency drift over time.

    python benchmarks/soak.py --duration 1800 --rate 100000            # the 30-minute soak
    python benchmarks/soak.py --duration 120 --interval 20             # a quick check

Runs velox.Pipeline (ingress -> book -> bundler -> output, native threads, backoff wait by
default so an idle stage sleeps instead of burning a core) for --duration seconds at --rate
transactions/s, draining every bundle into a Python callback that checks bundle ids are
consecutive and counts transactions. Every --interval seconds it prints one line: the
interval's achieved rate, the process RSS, drops, and the interval's end-to-end latency
percentiles (computed from the difference of two histogram snapshots, so each line describes
that interval only, not the run so far). At the end it stops the pipeline (drain + join) and
checks:

  conservation  the native conservation equations hold exactly, and the callback saw exactly
                python_bundles bundles carrying exactly the transactions the output counted;
  memory        RSS after the last interval is within --max-rss-growth-mb of RSS after the
                first (warm-up) interval;
  rate          every interval achieved at least --min-rate-share of the target rate;
  drift         the median of the last third of intervals' p50 / p99 end-to-end latency is
                within --max-drift times the median of the first third's (reported; a busy
                shared machine moves these, so drift fails the run only with --strict-drift).

Exit status 0 when all enforced checks pass, 1 otherwise. --json writes the whole record.
Not a CI step (it is long by design); see docs/reliability.md for the recorded 30-minute run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

try:
    from velox import Pipeline
except ImportError:  # run from a source checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from velox import Pipeline


def rss_bytes():
    """Resident set size of this process (Linux /proc; falls back to ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - non-Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bucket_counts(hist):
    """{bucket lowest value: (highest, count)} of a velox.Histogram snapshot."""
    arr = hist.to_numpy()
    return {int(r["lowest"]): (int(r["highest"]), int(r["count"])) for r in arr}


def interval_percentiles(now, before, ps=(50.0, 99.0, 99.9)):
    """Percentiles (ns, bucket upper bound) of the values recorded between two snapshots."""
    rows = []
    for low, (high, count) in now.items():
        delta = count - before.get(low, (high, 0))[1]
        if delta > 0:
            rows.append((low, high, delta))
    rows.sort()
    total = sum(r[2] for r in rows)
    out = {"count": total}
    for p in ps:
        if not total:
            out[f"p{p:g}"] = None
            continue
        rank = max(1, int(np.ceil(p / 100.0 * total)))
        seen = 0
        for _low, high, n in rows:
            seen += n
            if seen >= rank:
                out[f"p{p:g}"] = high
                break
    return out


class BundleChecker:
    """The pipeline's Python callback: bundle ids must be consecutive (the python ring drops
    whole bundles only when full, which the output counts as drops_python and we allow for by
    checking ids only increase), transaction counts in range, every bundle counted."""

    def __init__(self):
        self.bundles = 0
        self.txns = 0
        self.last_id = -1
        self.id_gaps = 0
        self.errors = []

    def __call__(self, batch):
        ids = batch["bundle_id"].astype(np.int64)
        counts = batch["count"].astype(np.int64)
        if len(ids):
            if ids[0] <= self.last_id or (len(ids) > 1 and np.any(np.diff(ids) <= 0)):
                self.errors.append(f"bundle ids not increasing near {int(ids[0])}")
            gaps = int(ids[0] - self.last_id - 1) + int(np.sum(np.diff(ids) - 1))
            self.id_gaps += gaps
            self.last_id = int(ids[-1])
        if np.any(counts < 1) or np.any(counts > 16):
            self.errors.append(f"bundle count out of [1, 16]: {counts.min()}..{counts.max()}")
        self.bundles += len(batch)
        self.txns += int(counts.sum())


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    ap.add_argument("--rate", type=float, default=100_000.0, help="transactions/s (default 1e5)")
    ap.add_argument("--interval", type=float, default=60.0, help="seconds per report line")
    ap.add_argument("--wait", default="backoff", choices=("spin", "yield", "backoff"))
    ap.add_argument("--cores", default=None, help="CPU list for the stages, e.g. '0,1'")
    ap.add_argument("--on-full", default="drop", choices=("drop", "block"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-rss-growth-mb", type=float, default=4.0)
    ap.add_argument("--min-rate-share", type=float, default=0.95)
    ap.add_argument("--max-drift", type=float, default=2.0)
    ap.add_argument("--strict-drift", action="store_true", help="fail the run on latency drift")
    ap.add_argument("--json", default=None, help="write the full record here")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    checker = BundleChecker()
    pipe = Pipeline(args.rate, cores=args.cores, wait=args.wait, on_full=args.on_full,
                    seed=args.seed, callback=checker)
    record = {
        "args": vars(args),
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "intervals": [],
    }
    print(f"soak: {args.duration:.0f} s at {args.rate:,.0f} txn/s, wait={args.wait}, "
          f"mapping={pipe.mapping}, working set {pipe._native.memory_bytes:,} B", flush=True)
    print(f"{'t_s':>6} {'rate/s':>10} {'rss_MB':>8} {'drops':>7} {'late':>7} "
          f"{'e2e_p50':>9} {'e2e_p99':>9} {'e2e_p999':>9} {'load1':>6}", flush=True)

    cpu0 = time.process_time()
    pipe.start()
    t0 = time.perf_counter()
    prev_c = pipe.counters()
    prev_h = bucket_counts(pipe.histogram("end_to_end"))
    prev_t = t0
    end = t0 + args.duration
    next_report = t0 + args.interval
    while True:
        now = time.perf_counter()
        if now >= next_report or now >= end:
            c = pipe.counters()
            h = bucket_counts(pipe.histogram("end_to_end"))
            dt = now - prev_t
            drops = sum(c["drops"][k] - prev_c["drops"][k] for k in
                        ("ingress_to_book", "book_to_bundler", "bundler_to_output_txns"))
            row = {
                "t_s": round(now - t0, 1),
                "rate_per_s": (c["generated"] - prev_c["generated"]) / dt,
                "rss_bytes": rss_bytes(),
                "drops_txns": drops,
                "drops_python_bundles": c["drops"]["output_to_python"]
                - prev_c["drops"]["output_to_python"],
                "late": c["late"] - prev_c["late"],
                "e2e_ns": interval_percentiles(h, prev_h),
                "loadavg1": os.getloadavg()[0],
            }
            record["intervals"].append(row)
            e = row["e2e_ns"]
            print(f"{row['t_s']:6.0f} {row['rate_per_s']:10,.0f} {row['rss_bytes'] / 2**20:8.2f} "
                  f"{drops:7d} {row['late']:7d} {e['p50'] or 0:9,} {e['p99'] or 0:9,} "
                  f"{e['p99.9'] or 0:9,} {row['loadavg1']:6.2f}", flush=True)
            prev_c, prev_h, prev_t = c, h, now
            next_report += args.interval
            if now >= end:
                break
        # drain to the callback; sleep a little when idle (bounded: the loop ends at `end`)
        if not pipe.poll():
            time.sleep(0.002)

    final = pipe.stop()
    cpu_s = time.process_time() - cpu0
    wall_s = time.perf_counter() - t0
    c = final["counters"]
    rows = record["intervals"]

    checks = {}
    conservation_ok = bool(final["conservation_ok"]) and not final["abandoned"]
    callback_ok = (checker.bundles == c["python_bundles"] and not checker.errors
                   and checker.id_gaps == c["drops"]["output_to_python"])
    checks["conservation"] = {
        "ok": conservation_ok and callback_ok,
        "native_failures": final["conservation_failures"],
        "callback_bundles": checker.bundles, "python_bundles": c["python_bundles"],
        "callback_txns": checker.txns, "bundle_id_gaps": checker.id_gaps,
        "callback_errors": checker.errors[:5],
    }
    rss_first, rss_last = rows[0]["rss_bytes"], rows[-1]["rss_bytes"]
    growth_mb = (rss_last - rss_first) / 2**20
    checks["memory"] = {"ok": growth_mb <= args.max_rss_growth_mb,
                        "rss_first_mb": rss_first / 2**20, "rss_last_mb": rss_last / 2**20,
                        "rss_max_mb": max(r["rss_bytes"] for r in rows) / 2**20,
                        "growth_mb": growth_mb}
    full_rows = [r for r in rows if r is not rows[-1] or len(rows) == 1]  # last may be short
    min_rate = min(r["rate_per_s"] for r in full_rows)
    checks["rate"] = {"ok": min_rate >= args.min_rate_share * args.rate,
                      "min_interval_rate": min_rate,
                      "mean_rate": c["generated"] / wall_s}
    third = max(1, len(rows) // 3)

    def med(rs, key):
        vals = [r["e2e_ns"][key] for r in rs if r["e2e_ns"][key] is not None]
        return statistics.median(vals) if vals else None

    drift = {}
    for key in ("p50", "p99"):
        first, last = med(rows[:third], key), med(rows[-third:], key)
        drift[key] = {"first_third_median_ns": first, "last_third_median_ns": last,
                      "ratio": (last / first) if first and last else None}
    drift_ok = all(d["ratio"] is not None and d["ratio"] <= args.max_drift for d in drift.values())
    checks["drift"] = {"ok": drift_ok, "enforced": args.strict_drift, **drift}
    total_drops = (c["drops"]["ingress_to_book"] + c["drops"]["book_to_bundler"]
                   + c["drops"]["bundler_to_output_txns"])

    record.update({
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wall_s": wall_s, "process_cpu_s": cpu_s, "cpu_share_of_one_core": cpu_s / wall_s,
        "working_set_bytes": final["memory_bytes"],
        "counters": c, "total_drops_txns": total_drops,
        "latency_ns_whole_run": final["latency_ns"]["end_to_end"],
        "book_digest": final["book_digest"], "checks": checks,
        "loadavg_end": os.getloadavg(),
    })
    ok = all(v["ok"] for k, v in checks.items() if k != "drift") and (drift_ok or not args.strict_drift)
    record["ok"] = ok

    e = final["latency_ns"]["end_to_end"]
    print(f"\nsoak {'PASSED' if ok else 'FAILED'}: {wall_s:.0f} s, generated {c['generated']:,} "
          f"(mean {c['generated'] / wall_s:,.0f}/s), bundles {c['bundles']:,}, "
          f"drops {total_drops:,} txns + {c['drops']['output_to_python']:,} python bundles, "
          f"rejected {c['rejected']:,}")
    print(f"  conservation: {'OK' if checks['conservation']['ok'] else 'FAILED'} "
          f"(callback saw {checker.bundles:,} bundles / {checker.txns:,} txns; "
          f"native failures {final['conservation_failures']})")
    print(f"  memory: RSS {rss_first / 2**20:.2f} MB after first interval -> {rss_last / 2**20:.2f} MB "
          f"at end (growth {growth_mb:+.2f} MB, limit {args.max_rss_growth_mb} MB); "
          f"native working set {final['memory_bytes']:,} B")
    print(f"  rate: slowest interval {min_rate:,.0f}/s (need >= {args.min_rate_share:.0%} of "
          f"{args.rate:,.0f})")
    print(f"  drift (median first third -> last third): "
          + ", ".join(f"{k} {d['first_third_median_ns']} -> {d['last_third_median_ns']} ns"
                      f" (x{d['ratio']:.2f})" if d["ratio"] else f"{k} n/a"
                      for k, d in drift.items())
          + ("" if args.strict_drift else " [reported, not enforced]"))
    print(f"  whole-run end-to-end: p50 {e['p50']:,} p99 {e['p99']:,} p99.9 {e['p999']:,} "
          f"max {e['max']:,} ns; process CPU {cpu_s:.1f} s = {cpu_s / wall_s:.0%} of one core")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1, default=str)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
