"""velox.Histogram.record / record_many next to hdrhistogram's HdrHistogram.record_value.

Target (issue 5): velox.Histogram.record from Python >= 20x faster than hdrh's record_value,
record_many(ndarray) far faster still (per value).

    python benchmarks/bench_histogram.py --fast
"""

import time

import numpy as np
from _pyperf import Runner
from hdrh.histogram import HdrHistogram

import velox

N = 1000
VALUES = [int(v) for v in np.random.default_rng(1).integers(100, 100_000, N)]
ARRAY = np.array(VALUES * 100, dtype=np.uint64)  # 100k values per record_many call


def bench_record(loops, record):
    values = VALUES
    t0 = time.perf_counter()
    for _ in range(loops):
        for v in values:
            record(v)
    return time.perf_counter() - t0


def bench_record_many(loops, h):
    arr = ARRAY
    t0 = time.perf_counter()
    for _ in range(loops):
        h.record_many(arr)
    return time.perf_counter() - t0


def main():
    runner = Runner()
    runner.metadata["description"] = "Recording one latency value into a histogram from Python"
    vh = velox.Histogram()
    hh = HdrHistogram(1, 2**40, 2)
    r = {
        "velox Histogram.record": runner.bench_time_func(
            "velox Histogram.record", bench_record, vh.record, inner_loops=N),
        "hdrh record_value": runner.bench_time_func(
            "hdrh record_value", bench_record, hh.record_value, inner_loops=N),
        "velox Histogram.record_many (per value)": runner.bench_time_func(
            "velox Histogram.record_many (per value)", bench_record_many, vh,
            inner_loops=len(ARRAY)),
    }
    if all(v is not None for v in r.values()):
        ns = {k: v.median() * 1e9 for k, v in r.items()}
        base = ns["hdrh record_value"]
        print()
        for k, v in ns.items():
            print(f"{k:<42} {v:9.2f} ns/value   {base / v:8.1f}x hdrh")


if __name__ == "__main__":
    main()
