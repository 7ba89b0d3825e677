"""A strategy process: reads every event of the feed's BroadcastRing (a registered reader,
from the oldest record) and sends its orders (ORDER_DTYPE, see strategy_logic.decide) through
the gateway's shared-memory MpscRing.

    python strategy.py ID FEED_RING ORDER_RING --events N

It stops after N events (the session's length, which the feed handler reports) and prints
one JSON line with what it read, lost and sent."""

from __future__ import annotations

import argparse
import json

import numpy as np

import velox
from strategy_logic import decide, order_id_base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("id", type=int)
    ap.add_argument("feed_ring")
    ap.add_argument("order_ring")
    ap.add_argument("--events", type=int, required=True)
    args = ap.parse_args()
    feed = velox.BroadcastRing.attach(args.feed_ring, velox.MBO_DTYPE, timeout=30)
    orders = velox.MpscRing.attach(args.order_ring, velox.ORDER_DTYPE, timeout=30)
    reader = feed.reader(start="oldest", register=True)
    print(json.dumps({"ready": f"strategy {args.id}"}), flush=True)
    buf = np.empty(4096, velox.MBO_DTYPE)
    next_id = order_id_base(args.id)
    sent = 0
    while reader.read + reader.lost < args.events:  # bounded: each wait <= 30 s
        n = reader.read_many(buf, timeout=30)
        if n == 0:
            raise SystemExit(f"strategy {args.id}: no event for 30 s after {reader.read}")
        out = decide(buf[:n], args.id, next_id)
        if len(out):
            orders.push_many(out, timeout=30)
            next_id += len(out)
            sent += len(out)
    print(json.dumps({"strategy": args.id, "read": reader.read, "lost": reader.lost,
                      "sent": sent}), flush=True)
    reader.close()
    orders.close()
    feed.close()


if __name__ == "__main__":
    main()
