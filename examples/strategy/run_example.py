"""Runs the example strategies: Imbalance (a v1 stage) in velox's pipeline, then the two ABI
v2 strategies (L2Quote, QueueQuote) through velox.backtest and live, through the pipeline and
the example gateway process (../gateway/gateway.py) over shared memory."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import velox
from velox.feedgen import lobster_events
from velox.feeds import write_lobster
from velox_strategy import Imbalance, L2Quote, QueueQuote

ok = True
with tempfile.NamedTemporaryFile(suffix=".bin") as f:
    strategy = Imbalance(ratio=2)
    p = velox.Pipeline("max", max_txns=200_000, on_full="block", output=f.name,
                       timestamps="logical", bundle_timeout_us=0, stage=strategy)
    p.start()
    p.wait(timeout=60)
    report = p.stop()
    bundles = np.fromfile(f.name, velox.BUNDLE_DTYPE)
used = np.arange(16)[None, :] < bundles["count"].astype(np.int64)[:, None]
txns = bundles["txns"][used]
orders = txns[txns["seq"] >= 1 << 62]
u = report["counters"]["user_stage"]
print(f"strategy: {strategy.counts}; pipeline: {u}; orders in the output: {len(orders)}")
ok &= report["conservation_ok"] and len(orders) == u["emitted"] == strategy.counts["orders"] > 0

# ABI v2: the same compiled strategies in a backtest ...
events = lobster_events(20_000, seed=4)[:12_000]
args = {"size": 1, "max_position": 5}
for cls in (L2Quote, QueueQuote):
    s = cls()
    result = velox.backtest(events, s, stage_args=args)
    c = s.counts
    print(f"backtest {cls.__name__}: {result.verdict}; strategy {c}")
    # what the strategy saw matches the backtest's record of it (result.ok can be False when a
    # CANCEL crosses a fill: the simulated venue's REJECT of it counts as a bad report)
    fills = result.execs[(result.execs["kind"] == 3) | (result.execs["kind"] == 4)]
    ok &= c["inits"] == c["finishes"] == 1 and c["news"] > 0 and c["markets"] > 0
    ok &= c["fills"] == len(fills) and c["filled_lots"] == int(fills["fill_qty"].sum())
    if cls is QueueQuote:
        ok &= c["queue_checks"] > 0 and c["queue_unknown"] == 0  # the simulated venue knows

# ... and live: orders to a gateway process over shared memory, its reports back
gateway = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gateway", "gateway.py")
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "msg.csv")
    write_lobster(path, events)
    names = (f"example-orders-{os.getpid()}", f"example-execs-{os.getpid()}")
    s = QueueQuote()
    pipe = velox.Pipeline(input=f"lobster:{path}", stage=s, stage_args=args,
                          venue=velox.LiveVenue(*names), replay_speed=10_000)
    gw = subprocess.Popen([sys.executable, gateway, *names, "--fill-every", "4"],
                          stdout=subprocess.PIPE, text=True)
    pipe.start()
    pipe.wait(timeout=120)
    report = pipe.stop()
    out, _ = gw.communicate(timeout=60)
    c = s.counts
    print(f"live QueueQuote: {report['verdict']}; strategy {c}; gateway {out.strip()}")
    ok &= report["ok"] and gw.returncode == 0 and c["news"] > 0 and c["queue_unknown"] > 0
    ok &= c["execs"] == len(pipe.execs) and c["queue_checks"] == 0  # live: the queue is unknown
print("example OK" if ok else "example FAILED")
sys.exit(0 if ok else 1)
