"""The feed handler: replays a LOBSTER message file into a shared-memory BroadcastRing of
MBO_DTYPE events, journaling every event first (write-ahead: whatever a strategy read is in
the journal).

    python feed_handler.py MESSAGE_FILE JOURNAL_DIR RING_NAME --readers 2

The ring is gated: the handler waits (up to 30 s) for --readers registered readers and never
laps them, so every strategy sees every event. Prints one JSON line at the end."""

from __future__ import annotations

import argparse
import json
import time

import velox
from velox.feeds import read_lobster

CHUNK = 4096


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("message_file")
    ap.add_argument("journal_dir")
    ap.add_argument("ring_name")
    ap.add_argument("--readers", type=int, default=2)
    args = ap.parse_args()
    events = read_lobster(args.message_file)
    with velox.Journal.create(args.journal_dir, velox.MBO_DTYPE) as journal, \
            velox.BroadcastRing.create(args.ring_name, 1 << 14, velox.MBO_DTYPE,
                                       gated=True) as ring:
        print(json.dumps({"ready": "feed_handler", "events": len(events)}), flush=True)
        deadline = time.monotonic() + 30
        while ring.registered < args.readers:  # bounded: 30 s
            if time.monotonic() > deadline:
                raise SystemExit(f"feed_handler: only {ring.registered} of {args.readers} "
                                 "readers registered within 30 s")
            time.sleep(0.01)
        for start in range(0, len(events), CHUNK):
            chunk = events[start:start + CHUNK]
            journal.append_many(chunk)           # journaled before any reader sees it
            ring.write_many(chunk, timeout=30)   # gated: waits for the slowest reader
        print(json.dumps({"feed_handler": {"written": ring.written,
                                           "journaled": journal.next_seq}}), flush=True)
        # the strategies keep their mapping after this process unlinks the name and exits


if __name__ == "__main__":
    main()
