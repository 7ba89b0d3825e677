"""Runs the whole fan-out session in OUT: generates a LOBSTER day, starts the gateway, the
feed handler and two strategies as separate processes, waits for the feed to be read,
stops the gateway and writes OUT/run.json (every process's counts).

    python run.py OUT [--messages 100000]

Journals: OUT/journal/feed (MBO_DTYPE, by the feed handler), OUT/journal/orders
(ORDER_DTYPE, by the gateway). replay.py OUT checks them."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from typing import IO, Any

from velox.feedgen import lobster_events
from velox.feeds import write_lobster

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = 60


def start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, os.path.join(HERE, script), *args],
                            stdout=subprocess.PIPE, text=True, cwd=HERE)


def first_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The JSON line a process prints once it is ready (its rings exist)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"{proc.args[1]} exited with {proc.wait(TIMEOUT_S)} before it was ready")
    return dict(json.loads(line))


def last_line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise SystemExit(f"{proc.args[1]} exited with {proc.returncode}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--messages", type=int, default=100_000)
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "journal"), exist_ok=True)
    feed_file = os.path.join(args.out, "day_message.csv")
    write_lobster(feed_file, lobster_events(args.messages, seed=7))
    tag = f"fanout-{os.getpid()}"  # shared-memory names of this run
    procs: list[subprocess.Popen[str]] = []
    try:
        gateway = start("gateway.py", f"{tag}-orders", os.path.join(args.out, "journal", "orders"))
        procs.append(gateway)
        first_line(gateway)
        feed = start("feed_handler.py", feed_file, os.path.join(args.out, "journal", "feed"),
                     f"{tag}-feed", "--readers", "2")
        procs.append(feed)
        events = first_line(feed)["events"]
        strategies = [start("strategy.py", str(i), f"{tag}-feed", f"{tag}-orders",
                            "--events", str(events)) for i in range(2)]
        procs += strategies
        for s in strategies:
            first_line(s)
        report = {"events": events, "feed_handler": last_line(feed)["feed_handler"],
                  "strategies": [last_line(s) for s in strategies]}
        gateway.send_signal(signal.SIGTERM)  # every strategy has exited: its orders are in
        report["gateway"] = last_line(gateway)["gateway"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(report, f, indent=1)
    sent = sum(s["sent"] for s in report["strategies"])
    print(f"feed: {events:,} events broadcast to 2 strategies "
          f"(read {', '.join(str(s['read']) for s in report['strategies'])}, lost "
          f"{sum(s['lost'] for s in report['strategies'])}); orders: {sent:,} sent, "
          f"{report['gateway']['journaled']:,} journaled by the gateway")


if __name__ == "__main__":
    main()
