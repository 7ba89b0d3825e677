"""The gateway: creates the shared-memory MpscRing the strategies send ORDER_DTYPE orders
into (its creator is its one consumer), answers nothing, and journals every order.

    python gateway.py ORDER_RING JOURNAL_DIR

Runs until SIGTERM or SIGINT, then takes what is left in the ring, journals it and prints
one JSON line with the counts (received = journaled; skipped = slots of producers that died
between claim and publish)."""

from __future__ import annotations

import argparse
import json
import signal

import numpy as np

import velox

stopping = False


def _stop(signum: int, frame: object) -> None:
    global stopping
    stopping = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("order_ring")
    ap.add_argument("journal_dir")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    buf = np.empty(4096, velox.ORDER_DTYPE)
    received = 0
    with velox.Journal.create(args.journal_dir, velox.ORDER_DTYPE) as journal, \
            velox.MpscRing.create(args.order_ring, 1 << 14, velox.ORDER_DTYPE) as ring:
        print(json.dumps({"ready": "gateway"}), flush=True)
        while True:  # bounded by the stop signal; each wait <= 50 ms
            last = stopping  # read before the pop: after a stop, one more empty pop ends it
            try:
                n = ring.pop_many(buf, timeout=0.05)
            except TimeoutError:  # nothing arrived within 50 ms
                n = 0
            if n:
                journal.append_many(buf[:n])
                received += n
            elif last:
                break
        print(json.dumps({"gateway": {"received": received, "journaled": journal.next_seq,
                                      "skipped": ring.skipped}}), flush=True)


if __name__ == "__main__":
    main()
