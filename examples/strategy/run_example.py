"""Runs the example strategy in velox's pipeline and shows the orders it emitted."""
import sys
import tempfile

import numpy as np
import velox
from velox_strategy import Imbalance

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
ok = report["conservation_ok"] and len(orders) == u["emitted"] == strategy.counts["orders"] > 0
print("example OK" if ok else "example FAILED")
sys.exit(0 if ok else 1)
