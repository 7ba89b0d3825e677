"""Pipeline sources fed across a process boundary or paced by recorded time:

- input="shm:NAME": a velox.SharedRing of TXN_DTYPE created and fed by another process. Every
  record pushed is counted (the bytes of a feed-run of the same records come out), the run
  ends by itself when the producer closes the ring or dies, a producer that corrupts the ring's
  indices ends the source with a clear error (never a crash, never a read outside the ring),
  a missing segment is a clear error after attach_timeout, and the CLI takes --input shm:NAME.
- replay_speed: a replay is paced by the records' tsc (ns timestamps) / speed: never early
  (a lower bound only: a loaded machine is late, never early), every lateness recorded, bad
  speeds refused naming the value.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from child_env import IMPORT_ROOT, child_env
import velox
from shm_names import fresh_name
from velox import Pipeline
from velox.feedgen import txn_flow
from shm_producer import producer_process

CHILD_ENV = child_env()


flow = txn_flow  # records on Pipeline's default book; tsc = i * gap_ns


def run_shm(tmp_path, name, out, **kw):
    with Pipeline(input=f"shm:{name}", rate="max", on_full="block", attach_timeout=60,
                  timestamps="logical", bundle_timeout_us=0, output=str(tmp_path / out), **kw) as p:
        assert p.wait(timeout=120)
    return p.stop(), (tmp_path / out).read_bytes()


def run_feed(tmp_path, records, out):
    with Pipeline(input="feed", rate="max", on_full="block", timestamps="logical", bundle_timeout_us=0,
                  output=str(tmp_path / out)) as p:
        p.feed(records)
        p.close_feed()
        assert p.wait(timeout=120)
    return p.stop(), (tmp_path / out).read_bytes()


def test_shm_source_counts_every_record_and_matches_a_feed_run(tmp_path):
    records = flow(30_000)  # 7 ring-fulls: the producer blocks on the pipeline many times
    with producer_process(tmp_path, records) as name:
        r, data = run_shm(tmp_path, name, "shm.bin")
    c = r["counters"]
    assert r["conservation_ok"], r["conservation_failures"]
    assert c["generated"] == 30_000 and c["source_errors"] == 0 and r["fed"] is None
    assert c["drops"]["ingress_to_book"] == 0 and c["bundled"] == c["applied"]
    ref, ref_data = run_feed(tmp_path, records, "feed.bin")
    assert data == ref_data and r["book_digest"] == ref["book_digest"] and len(data) > 0


def test_shm_source_ends_when_the_producer_dies(tmp_path):
    records = flow(10_000, seed=5)
    with producer_process(tmp_path, records, after="kill") as name:  # exits with -9
        r, _ = run_shm(tmp_path, name, "killed.bin")
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["counters"]["generated"] == 10_000  # everything it pushed before dying


def test_shm_source_corrupted_by_its_producer_is_an_error_not_a_crash(tmp_path):
    records = flow(3_000, seed=7)
    with producer_process(tmp_path, records, after="corrupt") as name:
        r, _ = run_shm(tmp_path, name, "corrupt.bin")
    c = r["counters"]
    assert c["source_errors"] == 1 and c["source_status"] == "corrupt shared data", c
    assert not r["conservation_ok"] and "broke its invariant" in r["input_error"]
    assert c["generated"] <= 3_000  # never more records than the ring held


def test_shm_source_missing_segment_and_bad_specs():
    with pytest.raises(FileNotFoundError, match="no shared ring named"):
        Pipeline(input=f"shm:{fresh_name()}", attach_timeout=0.1)
    with pytest.raises(ValueError, match="needs a segment name"):
        Pipeline(input="shm:")
    with pytest.raises(ValueError, match="not a path"):
        Pipeline(input="shm:a/b")
    with pytest.raises(ValueError, match="attach_timeout"):
        Pipeline(input="shm:x", attach_timeout=-1)
    with pytest.raises(TypeError, match="attach_timeout"):
        Pipeline(input="shm:x", attach_timeout="1")
    # a ring of another record type is refused at attach
    name = fresh_name()
    other = velox.SharedRing.create(name, 8, velox.BUNDLE_DTYPE)
    try:
        with pytest.raises(ValueError):
            Pipeline(input=f"shm:{name}", attach_timeout=1)
    finally:
        other.close()
        other.unlink()


def test_cli_input_shm(tmp_path):
    records = flow(20_000, seed=11)
    js = tmp_path / "r.json"
    with producer_process(tmp_path, records) as name:
        r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"shm:{name}",
                            "--on-full", "block", "--json", str(js), "--quiet"],
                           cwd=IMPORT_ROOT, env=CHILD_ENV, capture_output=True, text=True,
                           timeout=180)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and rep["counters"]["generated"] == 20_000


# ---- paced replay ------------------------------------------------------------------------

@pytest.mark.parametrize("speed", [1.0, 8.0])
def test_paced_replay_is_never_early(tmp_path, speed):
    n, gap_ns = 200, 1_000_000  # 199 ms of recorded time
    src = tmp_path / "paced.bin"
    flow(n, gap_ns=gap_ns).tofile(src)
    with Pipeline(input=f"events:{src}", rate="max", on_full="block", replay_speed=speed,
                  timestamps="logical", output=str(tmp_path / "out.bin")) as p:
        assert p.wait(timeout=120)
    r = p.stop()
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["counters"]["generated"] == n and r["replay_speed"] == speed
    assert r["duration_s"] >= (n - 1) * gap_ns / speed / 1e9  # never early
    assert r["latency_ns"]["ingress_lateness"]["count"] == n
    out = np.fromfile(tmp_path / "out.bin", velox.BUNDLE_DTYPE)
    used = np.arange(16)[None, :] < out["count"].astype(np.int64)[:, None]
    txns = out["txns"][used]
    accepted = txns["seq"]
    assert (np.diff(accepted.astype(np.int64)) > 0).all()  # in order
    assert (txns["tsc"] == accepted * np.uint64(gap_ns)).all()  # recorded stamps kept


def test_replay_speed_is_validated_naming_the_value(tmp_path):
    src = tmp_path / "e.bin"
    flow(10).tofile(src)
    with pytest.raises(ValueError, match="replay_speed"):
        Pipeline(replay_speed=1.0)  # synthetic input: paced by rate
    for bad in (1e-4, 2e6, float("nan"), -1.0):
        with pytest.raises(ValueError, match="replay_speed"):
            Pipeline(input=f"events:{src}", replay_speed=bad)
    with pytest.raises(TypeError, match="replay_speed"):
        Pipeline(input=f"events:{src}", replay_speed="fast")
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"events:{src}",
                        "--speed", "0"], cwd=IMPORT_ROOT, env=CHILD_ENV, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--speed" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_stop_during_a_paced_replay_stops_feeding_at_once(tmp_path):
    """A record stamped an hour later holds the replay; stop() ends the replay there: the
    held record is not pushed through the book unpaced but counted as left unreplayed, so
    everything fed is accounted for (fed = generated + left_unreplayed)."""
    a = flow(50, gap_ns=0)
    a["tsc"][-1] = 3600 * 10**9
    src = tmp_path / "hold.bin"
    a.tofile(src)
    p = Pipeline(input=f"events:{src}", rate="max", on_full="block", replay_speed=1.0).start()
    assert not p.wait(timeout=0.5)
    r = p.stop()
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["fed"] == 50 and r["counters"]["generated"] == 49 and r["left_unreplayed"] == 1
    assert r["ok"] and "1 fed records left unreplayed" in r["verdict"]
