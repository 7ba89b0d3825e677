"""Pipeline sources other than the synthetic generator: Pipeline.feed() from Python and
events:PATH (a raw TXN_DTYPE file). Every record fed is counted (fed == generated, exact
conservation), hostile bytes are rejected by the book and never crash, a finite source ends
the run by itself, replaying a file twice writes identical bytes and the same book digest,
bad input specs raise naming the value, the CLI replays a file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from child_env import IMPORT_ROOT
import velox
from velox import BUNDLE_DTYPE, TXN_DTYPE, Pipeline
from velox._pipeline import BuiltinStage
from velox.feedgen import txn_flow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where `python -m velox.pipeline` subprocesses run: the folder velox is imported from (the
# checkout for an editable build, site-packages for an installed wheel), never a checkout
# whose velox/ has no built extension (as in scripts/build-wheel.sh's test run).


def flow(n, seed=3):
    """A valid-looking order flow on Pipeline's default book (base 100.00, tick 0.01)."""
    return txn_flow(n, seed)


@pytest.mark.parametrize("on_full", ["block", "drop"])
def test_feed_counts_every_record(on_full):
    a = flow(50_000)
    with Pipeline(input="feed", on_full=on_full, levels=1024) as p:
        assert p.feed(a[:20_000]) == 20_000
        assert p.feed(a[20_000:]) == 30_000
        p.close_feed()
        assert p.wait(timeout=30)
    r = p.stop()
    c = r["counters"]
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["fed"] == c["generated"] == 50_000
    assert c["applied"] + c["rejected"] + c["drops"]["ingress_to_book"] == 50_000
    if on_full == "block":
        assert c["drops"]["ingress_to_book"] == 0 and c["bundled"] == c["applied"]


def test_hostile_feed_bytes_are_rejected_never_crash():
    rng = np.random.default_rng(9)
    junk = np.frombuffer(rng.bytes(32 * 20_000), TXN_DTYPE).copy()
    with Pipeline(input="feed", on_full="block") as p:
        p.feed(junk)
        p.close_feed()
        assert p.wait(timeout=30)
    r = p.stop()
    assert r["conservation_ok"] and r["counters"]["generated"] == 20_000
    assert r["counters"]["rejected"] > 19_000  # random side/kind bytes are almost all invalid


def test_feed_needs_a_feed_pipeline_and_txn_records():
    p = Pipeline(rate=1000)
    with pytest.raises(RuntimeError, match="input='feed'"):
        p.feed(flow(3))
    q = Pipeline(input="feed")
    with pytest.raises(RuntimeError, match="started"):
        q.feed(flow(3))
    with q:
        with pytest.raises(TypeError, match="TXN_DTYPE"):
            q.feed(np.zeros(3, BUNDLE_DTYPE))
    assert q.stop()["conservation_ok"]


def replay(tmp_path, src, name, **kw):
    out = tmp_path / name
    p = Pipeline(input=f"events:{src}", on_full="block", output=out, timestamps="logical",
                 bundle_timeout_us=0, **kw)
    p.start()
    assert p.wait(timeout=60)  # a file ends the run by itself
    r = p.stop()
    return r, out.read_bytes()


def test_events_file_replays_identically_and_drives_a_stage(tmp_path):
    src = tmp_path / "events.bin"
    flow(80_000).tofile(src)
    r1, b1 = replay(tmp_path, src, "a.bin")
    r2, b2 = replay(tmp_path, src, "b.bin")
    assert r1["conservation_ok"] and r1["fed"] == r1["counters"]["generated"] == 80_000
    assert b1 == b2 and r1["book_digest"] == r2["book_digest"] and len(b1) > 0
    st = BuiltinStage("imbalance")
    r3, b3 = replay(tmp_path, src, "s.bin", stage=st)
    assert r3["conservation_ok"]
    bundles = np.frombuffer(b3, BUNDLE_DTYPE)
    used = np.arange(16)[None, :] < bundles["count"].astype(np.int64)[:, None]
    t = bundles["txns"][used]
    orders = t[t["seq"] >= 1 << 62]
    assert len(orders) == r3["counters"]["user_stage"]["emitted"] == st.counts["orders"] > 0


def test_bad_input_specs_raise_naming_the_value(tmp_path):
    with pytest.raises(ValueError, match="lobster"):
        Pipeline(input="lobster:x")
    with pytest.raises(ValueError, match="needs a file path"):
        Pipeline(input="events:")
    with pytest.raises(ValueError, match="cannot read"):
        Pipeline(input=f"events:{tmp_path / 'missing.bin'}")
    bad = tmp_path / "trunc.bin"
    bad.write_bytes(b"x" * 33)
    with pytest.raises(ValueError, match="33 bytes"):
        Pipeline(input=f"events:{bad}")
    with pytest.raises(TypeError, match="input"):
        Pipeline(input=3)


def test_cli_replays_an_events_file_and_ends_by_itself(tmp_path):
    src = tmp_path / "events.bin"
    flow(30_000).tofile(src)
    js = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"events:{src}",
                        "--on-full", "block", "--json", str(js), "--quiet"], cwd=IMPORT_ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and rep["counters"]["generated"] == 30_000 and rep["fed"] == 30_000
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", "events:"],
                       cwd=IMPORT_ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--input" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_live_book_view_while_running_and_after():
    """Pipeline.book reads the running book (no crash, sane answers while the book thread
    writes) and, once finished, agrees with the digest's book (a replayed flow)."""
    a = flow(200_000)
    with Pipeline(input="feed", on_full="block", levels=1024) as p:
        seen = 0
        for i in range(0, len(a), 20_000):
            p.feed(a[i:i + 20_000])
            bid, ask = p.book.best_bid(), p.book.best_ask()
            for best in (bid, ask):
                if best is not None:
                    assert best[1] > 0 and best[0] > 0
                    seen += 1
            (bp, bq), (ap, aq) = p.book.depth(5)
            assert len(bp) == len(bq) <= 5 and (bq > 0).all() and (aq > 0).all()
            assert (np.diff(bp) < 0).all() and (np.diff(ap) > 0).all()  # best first
        p.close_feed()
        assert p.wait(timeout=30)
        final_bid = p.book.best_bid()
    assert seen > 0 and final_bid is not None
    (bp, bq), _ = p.book.depth(1024)
    assert final_bid == (int(bp[0]), int(bq[0]))
    with pytest.raises(ValueError, match="side"):
        p._native.best(2)


def test_cli_and_toml_choose_a_user_stage(tmp_path):
    """--stage builtin:KIND / MODULE:ATTR and the TOML key `stage`: the stage runs (its orders
    are counted and conserved); a bad spec is one line and exit 2, before any run."""
    src = tmp_path / "events.bin"
    flow(20_000).tofile(src)
    js = tmp_path / "r.json"
    base = [sys.executable, "-m", "velox.pipeline", "--input", f"events:{src}", "--on-full",
            "block", "--quiet", "--json", str(js)]
    r = subprocess.run(base + ["--stage", "builtin:echo"], cwd=IMPORT_ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    u = rep["counters"]["user_stage"]
    assert rep["conservation_ok"] and u["emitted"] == rep["counters"]["applied"] > 0  # one per event
    # two stages, in order: each echoes every event
    r = subprocess.run(base + ["--stage", "builtin:echo", "--stage", "builtin:echo"], cwd=IMPORT_ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and [u["emitted"] for u in rep["counters"]["user_stages"]] == [
        rep["counters"]["applied"]] * 2
    toml = tmp_path / "p.toml"
    toml.write_text('[pipeline]\nstage = ["builtin:echo", "builtin:imbalance"]\n')
    r = subprocess.run(base + ["--config", str(toml)], cwd=IMPORT_ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and len(rep["stages"]) == 2 and "imbalance" in rep["stages"][1]
    toml.write_text('[pipeline]\nstage = 3\n')
    r = subprocess.run(base + ["--config", str(toml)], cwd=IMPORT_ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "stage must be a spec string or a list" in r.stderr, r.stderr
    toml.write_text('[pipeline]\nstage = "builtin:imbalance"\n')
    r = subprocess.run(base + ["--config", str(toml)], cwd=IMPORT_ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and "imbalance" in rep["stage"]
    # bad specs: load_stage's messages (in-process), and the CLI turns one into exit 2 + one line
    from velox.pipeline import load_stage
    for bad, why in (("builtin:nope", "builtin stages are"), ("nosuchmodule_xyz:S", "cannot import"),
                     ("json:NoSuchThing", "has no attribute"), ("imbalance", "expected")):
        with pytest.raises(ValueError, match=why):
            load_stage(bad)
    r = subprocess.run(base + ["--stage", "builtin:echo", "--stage", "nosuchmodule_xyz:S"],
                       cwd=IMPORT_ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "cannot import" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    # an importable attribute that is not a stage is refused by the Pipeline, naming it
    r = subprocess.run(base + ["--stage", "json:JSONDecodeError"], cwd=IMPORT_ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
