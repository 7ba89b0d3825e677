"""examples/strategy, the downstream Cython strategy package, builds against the installed
velox (get_include/get_sources + its .pxd files) and runs in the pipeline: its orders are in
the output, counted, and identical (byte for byte) to velox's own C "imbalance" stage, which
implements the same rule."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from child_env import child_env
import velox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = r'''
import sys, numpy as np, velox
from velox._pipeline import BuiltinStage
from velox_strategy import Imbalance

def run(stage, path):
    p = velox.Pipeline("max", max_txns=50_000, on_full="block", output=path, levels=256,
                       timestamps="logical", bundle_timeout_us=0, stage=stage)
    p.start(); assert p.wait(timeout=60)
    return p.stop(), open(path, "rb").read()

s = Imbalance(ratio=2)
r1, b1 = run(s, "cython.bin")
r2, b2 = run(BuiltinStage("imbalance", ratio=2), "c.bin")
assert r1["conservation_ok"], r1["conservation_failures"]
u = r1["counters"]["user_stage"]
assert u["emitted"] == s.counts["orders"] > 0 and s.counts["inits"] == s.counts["finishes"] == 1
bundles = np.frombuffer(b1, velox.BUNDLE_DTYPE)
used = np.arange(16)[None, :] < bundles["count"].astype(np.int64)[:, None]
t = bundles["txns"][used]
assert (t["seq"] >= 1 << 62).sum() == u["emitted"]
assert b1 == b2 and r1["book_digest"] == r2["book_digest"]
print("OK", u["emitted"])
'''


def test_strategy_example_builds_and_its_orders_reach_the_output(tmp_path):
    pytest.importorskip("Cython")
    src = os.path.join(ROOT, "examples", "strategy")
    work = tmp_path / "strategy"
    shutil.copytree(src, work, ignore=shutil.ignore_patterns("build", "*.so", "*.c"))
    b = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace",
                        "--build-temp", str(tmp_path / "tmp")],
                       cwd=work, capture_output=True, text=True, timeout=600,
                       env=child_env())
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=child_env(work),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
    # the same compiled stage chosen from the command line (and so from TOML: same key)
    js = tmp_path / "cli.json"
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--rate", "max", "--count",
                        "50000", "--on-full", "block", "--levels", "256", "--stage",
                        "velox_strategy:Imbalance", "--json", str(js), "--quiet"],
                       cwd=tmp_path, env=child_env(work), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and "Imbalance" in rep["stage"]
    assert rep["counters"]["user_stage"]["emitted"] > 0
