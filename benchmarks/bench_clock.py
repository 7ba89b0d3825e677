"""velox.tsc.read() vs time.perf_counter_ns() (and time.monotonic_ns), per call, from Python.

Target (issue 2): velox.tsc.read() costs at most half of time.perf_counter_ns().

    python benchmarks/bench_clock.py            # full pyperf run, prints the comparison
    python benchmarks/bench_clock.py --fast     # quicker, noisier
"""

import time

from _pyperf import Runner

import velox

LOOPS_INNER = 1000


def bench_calls(loops, fn):
    # Unrolled 10x so the loop's own overhead is a small share of each call.
    range_it = range(loops * LOOPS_INNER // 10)
    t0 = time.perf_counter()
    for _ in range_it:
        fn(); fn(); fn(); fn(); fn(); fn(); fn(); fn(); fn(); fn()  # noqa: E702
    return time.perf_counter() - t0


def main():
    runner = Runner()
    runner.metadata["description"] = "Per-call cost of reading a clock from Python"
    results = {}
    for name, fn in [
        ("velox.tsc.read", velox.tsc.read),
        ("time.perf_counter_ns", time.perf_counter_ns),
        ("time.monotonic_ns", time.monotonic_ns),
    ]:
        results[name] = runner.bench_time_func(name, bench_calls, fn, inner_loops=LOOPS_INNER)
    if all(r is not None for r in results.values()):  # only the parent process prints
        velox_ns = results["velox.tsc.read"].median() * 1e9
        pc_ns = results["time.perf_counter_ns"].median() * 1e9
        print()
        print(f"{'clock':<24}{'ns/call (median)':>18}")
        for name, r in results.items():
            print(f"{name:<24}{r.median() * 1e9:>18.1f}")
        ratio = pc_ns / velox_ns
        print(f"\nvelox.tsc.read is {ratio:.2f}x cheaper than time.perf_counter_ns "
              f"(target >= 2.00x: {'met' if ratio >= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
