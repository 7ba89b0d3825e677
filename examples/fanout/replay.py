"""Checks a run.py session by replaying its journals:

- the feed journal holds exactly the LOBSTER file's events, byte for byte, and as many as
  the feed handler wrote and each strategy read;
- the orders journal holds exactly the orders the two strategies decide when the journaled
  feed is replayed through their logic (per strategy, in its order, byte for byte), and as
  many as they reported sending;
- the feed journal replays through the native pipeline (input journal:DIR) to the same
  market-by-order books as the LOBSTER file itself.

    python replay.py OUT        # exit 0 and "replay OK ..." when every check holds"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import velox
from strategy_logic import decide, order_id_base
from velox.feeds import read_lobster


def read_all(path: str) -> np.ndarray:
    """Every record of a journal, as the bytes it holds (joined as bytes: a field-wise copy
    of a padded dtype would not carry the padding)."""
    with velox.Journal.reader(path) as r:
        dtype, parts = r.dtype, []
        while True:  # bounded by the journal's records
            chunk = r.read(1 << 16)
            if not len(chunk):
                break
            parts.append(chunk.tobytes())
        if r.skipped:
            raise SystemExit(f"{path}: {r.skipped} corrupt record(s)")
    return np.frombuffer(b"".join(parts), dtype)


def select(records: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """records[mask] with every byte, padding included (NumPy's masked copy of a padded
    dtype may leave the padding uninitialised)."""
    rows = np.frombuffer(records.tobytes(), np.uint8).reshape(-1, records.dtype.itemsize)
    return np.frombuffer(rows[mask].tobytes(), records.dtype)


def book_digest(input_spec: str) -> str:
    with velox.Pipeline(input=input_spec, timestamps="logical", bundle_timeout_us=0,
                        callback=None) as pipe:
        pipe.wait(60)
    report = pipe.stop()
    if not report["ok"]:
        raise SystemExit(f"pipeline over {input_spec}: {report['verdict']}")
    return str(report["book_digest"])


def main() -> None:
    out = sys.argv[1]
    run = json.load(open(os.path.join(out, "run.json")))
    failures = []
    feed = read_all(os.path.join(out, "journal", "feed"))
    events = read_lobster(os.path.join(out, "day_message.csv"))
    if feed.tobytes() != events.tobytes():
        failures.append(f"the feed journal ({len(feed)} events) differs from the file "
                        f"({len(events)} events)")
    for s in run["strategies"]:
        if s["read"] != len(feed) or s["lost"]:
            failures.append(f"strategy {s['strategy']} read {s['read']} and lost {s['lost']} "
                            f"of {len(feed)} events")
    if run["feed_handler"]["journaled"] != len(feed):
        failures.append("the feed handler's count differs from its journal")
    orders = read_all(os.path.join(out, "journal", "orders"))
    for s in run["strategies"]:
        k = s["strategy"]
        want = decide(feed, k, order_id_base(k))   # the replayed day through its logic
        got = select(orders, (orders["order_id"] >> np.uint64(56)) == k + 1)
        if got.tobytes() != want.tobytes():
            failures.append(f"strategy {k}: {len(got)} journaled orders differ from the "
                            f"{len(want)} its logic sends on the replayed feed")
        if s["sent"] != len(want):
            failures.append(f"strategy {k} sent {s['sent']}, its logic sends {len(want)}")
    if run["gateway"]["journaled"] != len(orders) or len(orders) != sum(
            s["sent"] for s in run["strategies"]):
        failures.append(f"the gateway journaled {len(orders)} orders, the strategies sent "
                        f"{sum(s['sent'] for s in run['strategies'])}")
    live = book_digest("lobster:" + os.path.join(out, "day_message.csv"))
    replayed = book_digest("journal:" + os.path.join(out, "journal", "feed"))
    if live != replayed:
        failures.append(f"books from the file ({live}) and from the feed journal ({replayed}) differ")
    if failures:
        print("replay FAILED: " + "; ".join(failures))
        raise SystemExit(1)
    print(f"replay OK: {len(feed):,} feed events and {len(orders):,} orders reproduced byte for "
          f"byte; books from the journal equal the file's (digest {live})")


if __name__ == "__main__":
    main()
