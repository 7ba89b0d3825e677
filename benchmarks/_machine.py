"""What a benchmark figure was measured on: one line for every script's header. The CPU
model matters as much as the load: the same code ran 2-3x faster on the AMD EPYC host of
2026-12-06 than on the host of 2026-12-03 (docs/benchmarks.md), so figures from different
hosts are never compared, only A/B runs within one."""

import os
import platform
import sys
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_model()}, "
            f"{os.cpu_count()} CPUs, load {load:.2f}, Python {sys.version.split()[0]}")
