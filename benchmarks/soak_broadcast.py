"""Broadcast soak: one writer, two reader processes, for --duration seconds at about --rate
records/s into a 4,096-record ungated ring, so readers are lapped now and then. Every record
is checked in the readers (tests/test_broadcast_processes.py's reader: content derived from
the sequence, order, every skipped record counted), and at the end read + lost == written
for each reader. Prints one line per reader and exits 1 on any failure.

    python benchmarks/soak_broadcast.py --duration 600 --rate 2000000
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import test_broadcast_processes as t  # noqa: E402
from velox import BroadcastRing  # noqa: E402

BATCH = 256


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--rate", type=float, default=2_000_000.0)
    args = ap.parse_args()
    if not (args.duration > 0 and args.rate >= BATCH):
        ap.error("--duration must be > 0 and --rate >= 256")
    n = int(args.duration * args.rate) // BATCH * BATCH
    name = f"velox-soak-bc-{os.getpid()}"
    ring = BroadcastRing.create(name, 4096, t.REC)
    try:
        ready = [t.CTX.Event() for _ in range(2)]
        result = t.CTX.Queue()
        procs = [t.CTX.Process(target=t.reader_main, args=(name, n, ready[i], result))
                 for i in range(2)]
        for p in procs:
            p.start()
        for e in ready:
            e.wait(60)
        buf = np.zeros(BATCH, t.REC)
        t0 = time.monotonic()
        written = 0
        while written < n:
            t.fill(buf, written)
            ring.write_many(buf)
            written += BATCH
            ahead = written / args.rate - (time.monotonic() - t0)
            if ahead > 0.001:
                time.sleep(ahead)
        outs = [result.get(timeout=300) for _ in procs]
        for p in procs:
            p.join()
    finally:
        ring.close()
        ring.unlink()
    print(f"{time.monotonic() - t0:.0f} s, {written:,} records written")
    ok = True
    for status, read, lost, lapped, bad in outs:
        good = status == "ok" and not bad and read + lost == written
        ok &= good
        print(f"  reader: {'OK' if good else 'FAIL'} read {read:,} + lost {lost:,} "
              f"= {read + lost:,} in {lapped:,} laps{'' if not bad else f'; {bad}'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
