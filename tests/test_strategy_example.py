"""examples/strategy, the downstream Cython strategy package, installs and runs with exactly
the commands its README documents (run here in a fresh virtual environment that sees the
velox under test), and its stage runs in the pipeline: its orders are in the output, counted,
and identical (byte for byte) to velox's own C "imbalance" stage, which implements the same
rule. The same compiled stage is chosen from the command line (and so from TOML)."""

import importlib.metadata
import json
import os
import re
import shutil
import subprocess

import pytest

from child_env import IMPORT_ROOT
from fresh_venv import fresh_venv, venv_env
import velox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "strategy")
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)

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


def readme_commands():
    """The commands of examples/strategy/README.md's ```sh block, one per line."""
    with open(os.path.join(EXAMPLE, "README.md"), encoding="utf-8") as f:
        blocks = BLOCK.findall(f.read())
    assert len(blocks) == 1, "examples/strategy/README.md documents one ```sh block"
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_readme_documents_an_install_and_a_run():
    commands = readme_commands()
    assert any("pip install" in c for c in commands) and "python run_example.py" in commands


def test_strategy_example_installs_as_documented_and_its_orders_reach_the_output(tmp_path):
    pytest.importorskip("Cython")
    work = tmp_path / "strategy"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("build", "*.so", "*.c",
                                                                  "*.egg-info", "__pycache__"))
    # run_example.py runs its v2 strategies live against ../gateway/gateway.py
    shutil.copytree(os.path.join(os.path.dirname(EXAMPLE), "gateway"), tmp_path / "gateway")
    python = fresh_venv(tmp_path / "venv", IMPORT_ROOT)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    try:
        importlib.metadata.version("velox")
    except importlib.metadata.PackageNotFoundError:
        # the velox under test is a built tree, not an installation: give pip the record of
        # one (the example depends on velox), so that it looks for nothing on an index
        info = os.path.join(site, f"velox-{velox.__version__}.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write(f"Metadata-Version: 2.1\nName: velox\nVersion: {velox.__version__}\n")
    env = venv_env(python)
    for command in readme_commands():  # exactly as documented, in the example's directory
        r = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                           text=True, timeout=900)
        assert r.returncode == 0, f"{command}:\n" + r.stdout[-3000:] + r.stderr[-3000:]
    assert "example OK" in r.stdout, r.stdout
    # the package went into the venv (not the source tree beside run_example.py)
    r = subprocess.run([python, "-c", "import velox_strategy; print(velox_strategy.__file__)"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith(site), r.stdout + r.stderr
    r = subprocess.run([python, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr
    # the same compiled stage chosen from the command line (and so from TOML: same key)
    js = tmp_path / "cli.json"
    r = subprocess.run([python, "-m", "velox.pipeline", "--rate", "max", "--count",
                        "50000", "--on-full", "block", "--levels", "256", "--stage",
                        "velox_strategy:Imbalance", "--json", str(js), "--quiet"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and "Imbalance" in rep["stage"]
    assert rep["counters"]["user_stage"]["emitted"] > 0
