"""A v2 strategy in the threaded pipeline against the simulated venue (Pipeline(venue=
velox.SimVenue(...)); csrc/velox/pipeline.h "Simulated venue", csrc/velox/pipeline_sim.c):
the book thread drives a deterministic backtest, so the strategy's orders, execution reports
and P&L are byte-identical to velox.backtest's on the same input and settings, whatever the
batch size, the pacing, the thread layout or pinning; the run conserves its counts, reports the
backtest's counters, and refuses what cannot be deterministic before the run."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import velox
from child_env import IMPORT_ROOT, child_env
from velox.feedgen import generate, lobster_events
from velox.feedgen import lobster_book_rows
from velox.feeds import write_lobster, write_lobster_book
from velox.pipeline._strategy import BuiltinStrategy

ARGS = {"size": 2, "max_position": 6}
# latencies with jitter: the seed matters (seeded latency draws)
VENUE = velox.SimVenue(entry_latency_ns=40_000, response_latency_ns=25_000,
                       entry_jitter_ns=9_000, response_jitter_ns=5_000, maker_fee=0.002,
                       taker_fee_bps=0.5)
LOGS = ("orders", "execs", "pnl")


@pytest.fixture(scope="module")
def lobster_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lobster") / "msg.csv"
    write_lobster(path, lobster_events(12_000, seed=7)[:8_000])
    return str(path)


@pytest.fixture(scope="module")
def reference(lobster_file):
    """velox.backtest's result on the LOBSTER file (seed 5)."""
    r = velox.backtest(f"lobster:{lobster_file}", "builtin:quote", stage_args=ARGS,
                       venue=VENUE, seed=5)
    assert r.ok and len(r.orders) > 100 and (r.execs["kind"] == 3).sum() > 10  # fills
    return r


def run_pipeline(inp, seed=5, venue=VENUE, args=ARGS, **kw):
    pipe = velox.Pipeline(input=inp, stage=BuiltinStrategy("quote", dict(args)), venue=venue,
                          seed=seed, **kw)
    pipe.start()
    assert pipe.wait(timeout=120)
    return pipe, pipe.stop()


def assert_same_logs(pipe, result):
    for which in LOGS:
        mine, theirs = getattr(pipe, which), getattr(result, which)
        assert mine.dtype == theirs.dtype
        assert len(mine) == len(theirs), which
        assert mine.tobytes() == theirs.tobytes(), which


def assert_conserved(report, events):
    assert report["ok"], report["verdict"]
    assert report["conservation_ok"], report["conservation_failures"]
    s = report["strategy"]
    bt = s["backtest"]
    assert bt["events"] == events == bt["applied"] + bt["book_rejects"]
    assert bt["finished"] and s["check_failed"] is None
    c = report["counters"]
    assert c["generated"] == events
    v = s["sim_venue"]
    assert v["reports_dropped"] == 0
    assert s["counters"]["sent"] == v["orders"] == s["orders"]
    assert s["counters"]["reports"] == s["execs"] - s["counters"]["refused"]


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_unpaced_any_batch_size_matches_the_backtest(lobster_file, reference, batch):
    pipe, r = run_pipeline(f"lobster:{lobster_file}", batch=batch)
    assert_same_logs(pipe, reference)
    assert_conserved(r, 8_000)


def test_paced_replay_matches_the_backtest(lobster_file, reference):
    pipe, r = run_pipeline(f"lobster:{lobster_file}", replay_speed=1e6, batch=7)
    assert_same_logs(pipe, reference)
    assert_conserved(r, 8_000)


@pytest.mark.parametrize("topology", [
    "ingress+book+bundler+output",            # one thread, unpinned
    "ingress+book+bundler+output@0",          # one thread, pinned
    "ingress+bundler,book+output",            # two threads, unpinned
    "ingress+bundler@0,book+output@1",        # two threads, pinned
])
def test_every_topology_matches_the_backtest(lobster_file, reference, topology):
    if topology.endswith("@1") and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs")
    pipe, r = run_pipeline(f"lobster:{lobster_file}", topology=topology, batch=7)
    assert_same_logs(pipe, reference)
    assert_conserved(r, 8_000)


def test_live_view_and_report_read_the_backtests_state(lobster_file, reference):
    pipe, r = run_pipeline(f"lobster:{lobster_file}")
    s = r["strategy"]
    fills = reference.execs[np.isin(reference.execs["kind"], (3, 4))]
    signed = int(np.where(fills["side"] == 0, 1, -1) @ fills["fill_qty"].astype(np.int64))
    assert s["positions"][0]["position"] == signed == pipe.book.positions()[0]["position"]
    assert pipe.book.working_orders() == [] and s["working_at_end"] == []
    # the books the live view reads are the backtest's: the replayed market at the end
    book = velox.feeds.read_lobster(lobster_file)
    assert pipe.book.best_bid() is not None or pipe.book.best_ask() is not None
    assert r["strategy"]["venue"].startswith("SimVenue(") and len(book) == 8_000
    text = pipe.summary() if hasattr(pipe, "summary") else ""
    assert isinstance(text, str)


def _stream(seed, n=1_500):
    return np.concatenate(list(generate(n, 2, seed=seed, chunk=512)))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 96), seed=st.integers(0, 2**64 - 1), stream=st.integers(0, 3))
def test_generated_streams_any_batch_and_seed_match_the_backtest(tmp_path, batch, seed, stream):
    events = _stream(stream)
    path = tmp_path / f"s{stream}.mbo"
    events.tofile(path)
    result = velox.backtest(events, "builtin:quote", stage_args=ARGS, venue=VENUE, seed=seed,
                            instruments=3)
    assert result.ok
    pipe, r = run_pipeline(f"mbo:{path}", seed=seed, batch=batch, instruments=3)
    assert_same_logs(pipe, result)
    assert_conserved(r, len(events))


def test_the_seed_reaches_the_latency_draws(lobster_file, reference):
    pipe, _ = run_pipeline(f"lobster:{lobster_file}", seed=6)
    assert pipe.execs.tobytes() != reference.execs.tobytes()  # seed 5's
    assert_same_logs(pipe, velox.backtest(f"lobster:{lobster_file}", "builtin:quote",
                                          stage_args=ARGS, venue=VENUE, seed=6))


@pytest.mark.parametrize("kw, error, match", [
    ({"follow_market": True}, ValueError, "follow_market=True"),
    ({"seed_from_book": "x.csv"}, ValueError, "seed_from_book"),
    ({"venue": 3}, TypeError, "venue must be"),
    ({"venue": "simulated"}, ValueError, "live:ORDERS,EXECS"),
    ({"risk": {"max_lots": 3}}, ValueError, "unknown limit"),
])
def test_bad_combinations_are_refused_before_the_run(lobster_file, kw, error, match):
    kw = {"venue": VENUE, **kw}
    with pytest.raises(error, match=match):
        velox.Pipeline(input=f"lobster:{lobster_file}", stage=BuiltinStrategy("quote"), **kw)


def test_venue_sim_text_is_the_default_simulated_venue(lobster_file):
    pipe = velox.Pipeline(input=f"lobster:{lobster_file}", stage=BuiltinStrategy("quote"),
                          venue="sim")
    assert pipe.venue == velox.SimVenue() and not pipe.follow_market
    pipe.stop_unstarted()


def test_journal_is_refused_with_the_simulated_venue(lobster_file, tmp_path):
    with pytest.raises(ValueError, match="journal"):
        velox.Pipeline(input=f"lobster:{lobster_file}", stage=BuiltinStrategy("quote"),
                       venue=VENUE, journal=str(tmp_path / "j"))


def test_risk_limits_reach_the_simulated_venues_host(lobster_file):
    risk = velox.RiskLimits(max_order_qty=1)
    result = velox.backtest(f"lobster:{lobster_file}", "builtin:quote", stage_args=ARGS,
                            venue=VENUE, risk=risk, seed=5)
    pipe, r = run_pipeline(f"lobster:{lobster_file}", risk=risk)
    assert r["strategy"]["counters"]["refused_by_reason"].get("risk", 0) > 0
    assert_same_logs(pipe, result)


def _script_orders(lobster_file):
    """Orders at the replayed market's prices, with hostile ones among them (qty 0, a cancel
    of an unknown id, an unknown instrument): each gets the documented report."""
    ev = velox.feeds.read_lobster(lobster_file)
    adds = ev[ev["action"] == 1]
    picks = adds[:: max(1, len(adds) // 60)][:60]
    o = np.zeros(len(picks) + 3, velox.ORDER_DTYPE)
    o["ts"][:len(picks)] = picks["ts"]
    o["order_id"][:len(picks)] = np.arange(1, len(picks) + 1)
    o["price"][:len(picks)] = picks["price"]
    o["side"][:len(picks)] = picks["side"]
    o["qty"] = 1
    o["action"] = 1  # NEW
    o["type"], o["tif"] = 0, 0  # LIMIT, GTC
    t = int(ev["ts"][len(ev) // 2])
    o[-3:]["ts"] = t
    o[-3]["order_id"], o[-3]["qty"] = 1001, 0                       # qty 0
    o[-2]["order_id"], o[-2]["action"] = 1002, 2                    # CANCEL of an unknown id
    o[-1]["order_id"], o[-1]["instrument"] = 1003, 5                # unknown instrument
    return np.sort(o, order="ts", kind="stable")


def test_builtin_script_in_the_pipeline_matches_the_backtest(lobster_file):
    orders = _script_orders(lobster_file)
    result = velox.backtest(f"lobster:{lobster_file}", "builtin:script",
                            stage_args={"orders": orders}, venue=VENUE, seed=2)
    assert result.ok and (result.execs["kind"] == 2).sum() >= 3  # the hostile ones: REJECT
    pipe = velox.Pipeline(input=f"lobster:{lobster_file}", venue=VENUE, seed=2, batch=5,
                          stage=BuiltinStrategy("script", {"orders": orders}))
    pipe.start()
    assert pipe.wait(timeout=120)
    r = pipe.stop()
    assert_same_logs(pipe, result)
    assert_conserved(r, 8_000)
    with pytest.raises(ValueError, match="needs stage_args"):
        velox.Pipeline(input=f"lobster:{lobster_file}", venue=VENUE,
                       stage=BuiltinStrategy("script"))


def test_a_snapshot_seeds_the_backtests_books_in_the_pipeline(tmp_path):
    day = lobster_events(6_000, seed=3)[:4_000]
    msg, book = tmp_path / "msg.csv", tmp_path / "book.csv"
    write_lobster(msg, day)
    write_lobster_book(book, lobster_book_rows(day, 5))
    snap = f"lobster-book:{book}#999"
    result = velox.backtest(f"lobster:{msg}", "builtin:quote", stage_args=ARGS, venue=VENUE,
                            seed=5, snapshot=snap)
    assert result.ok and result.counters["events"] == 4_000 - 1_000
    pipe, r = run_pipeline(f"lobster:{msg}", snapshot=snap, batch=7)
    assert_same_logs(pipe, result)
    assert_conserved(r, 3_000)
    # without the snapshot the strategy sees another market
    other = velox.backtest(day[1_000:], "builtin:quote", stage_args=ARGS, venue=VENUE, seed=5)
    assert other.orders.tobytes() != pipe.orders.tobytes()


def _cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "velox.pipeline", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=IMPORT_ROOT, env=child_env())


def test_cli_and_toml_venue_sim_match_the_backtest_cli(lobster_file, tmp_path):
    knobs = ["--entry-latency-ns", "40000", "--response-latency-ns", "25000",
             "--maker-fee", "0.002", "--max-position", "4", "--seed", "9"]
    r = _cli("--input", f"lobster:{lobster_file}", "--stage", "builtin:quote",
             "--stage-arg", "size=2", "--venue", "sim", *knobs, "--json", "-", "--quiet")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    b = subprocess.run([sys.executable, "-m", "velox.backtest", "--input",
                        f"lobster:{lobster_file}", "--stage", "builtin:quote", "--stage-arg",
                        "size=2", *knobs, "--json"], capture_output=True, text=True,
                       timeout=180, cwd=IMPORT_ROOT, env=child_env())
    assert b.returncode == 0, b.stderr
    bt = json.loads(b.stdout)
    s = rep["strategy"]
    assert rep["ok"] and s["orders"] == bt["summary"]["orders"] > 0
    assert s["counters"]["refused"] == bt["counters"]["host"]["refused"]
    toml = tmp_path / "sim.toml"
    toml.write_text(textwrap.dedent(f"""\
        input = "lobster:{lobster_file}"
        stage = ["builtin:quote"]
        stage_args = {{size = 2}}
        venue = "sim"
        entry_latency_ns = 40000
        response_latency_ns = 25000
        maker_fee = 0.002
        max_position = 4
        seed = 9
        """))
    t = _cli("--config", str(toml), "--json", "-", "--quiet")
    assert t.returncode == 0, t.stderr
    assert json.loads(t.stdout)["strategy"]["orders"] == s["orders"]


def test_cli_refuses_venue_knobs_without_the_simulated_venue(lobster_file):
    r = _cli("--input", f"lobster:{lobster_file}", "--stage", "builtin:quote",
             "--entry-latency-ns", "5", "--quiet", timeout=60)
    assert r.returncode == 2 and "--venue sim" in r.stderr
