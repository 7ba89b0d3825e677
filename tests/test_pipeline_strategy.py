"""A pipeline hosting a strategy of ABI v2 (csrc/velox/pipeline.h "Strategies") with the live
venue (velox.LiveVenue: orders out, reports in over two shared-memory rings), against the
example gateway (examples/gateway/gateway.py) run as a separate process: every order and
report is checked end to end (the same bytes on both sides, ids, every NEW ending once,
conservation of lots, positions = the signed sum of fills), the CLI and TOML reach it, bad
combinations are refused before the run, and a gateway that sends bad reports fails the run.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import velox
from child_env import IMPORT_ROOT, child_env
from shm_names import fresh_name
from strategy_tables import MISMATCHES, table_capsule
from velox._backtest import builtin_strategy
from velox.feedgen import lobster_events
from velox.feeds import write_lobster
from velox.pipeline._specs import load_stage
from velox.pipeline._strategy import StrategyLogs, WithArgs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATEWAY = os.path.join(ROOT, "examples", "gateway", "gateway.py")
NEW, CANCEL = 1, 2
ACK, REJECT, FILL, PARTIAL, CANCELED, MODIFIED, EXPIRED = range(1, 8)


@pytest.fixture(scope="module")
def lobster_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lobster") / "msg.csv"
    write_lobster(path, lobster_events(12_000, seed=7)[:8_000])
    return str(path)


def gateway(orders, execs, *args):
    return subprocess.Popen([sys.executable, GATEWAY, orders, execs, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=IMPORT_ROOT, env=child_env())


#: How long a gateway child may take to attach its rings (a hang guard). A child Python gets
#: little CPU on a loaded 2-CPU machine (a session's processes share one scheduler group): a
#: free-threaded child took longer than LiveVenue's 30 s default to start and import velox.
ATTACH_GUARD_S = 300


def start_live(pipe, gw):
    """pipe.start() once the gateway child holds the orders ring's consumer role (what start()
    waits for); fails at once, with the child's stderr, if the child exits first. Either
    failure leaves no segment behind (stop_unstarted)."""
    ring = pipe.venue.orders_ring
    deadline = time.monotonic() + ATTACH_GUARD_S
    while not ring.consumer_pid:
        if gw.poll() is not None or time.monotonic() >= deadline:
            gw.kill()
            _, err = gw.communicate(timeout=60)
            pipe.stop_unstarted()
            pytest.fail(f"the gateway did not attach (exit status {gw.returncode}): {err}")
        time.sleep(0.01)
    pipe.start()


def quote(size=2, max_position=6):
    return WithArgs(builtin_strategy("quote", instruments=1),
                    {"size": size, "max_position": max_position})


def run_live(tmp_path, lobster_file, stage, *gw_args, speed=20_000, **kw):
    names = fresh_name(), fresh_name()
    pipe = velox.Pipeline(input=f"lobster:{lobster_file}", stage=stage,
                          venue=velox.LiveVenue(*names), replay_speed=speed, **kw)
    record = tmp_path / "gateway.npz"
    gw = gateway(*names, "--record", record, *gw_args)
    start_live(pipe, gw)
    assert pipe.wait(timeout=120)
    report = pipe.stop()
    out, err = gw.communicate(timeout=60)
    assert gw.returncode == 0, err
    return pipe, report, json.loads(out), np.load(record)


def test_every_order_and_report_end_to_end(tmp_path, lobster_file):
    pipe, r, counts, rec = run_live(tmp_path, lobster_file, quote(), "--fill-every", 3)
    assert r["ok"], r["verdict"]
    orders, execs = pipe.orders, pipe.execs
    s = r["strategy"]
    hc = s["counters"]
    # the same orders left the pipeline as reached the gateway, field for field, in order
    assert len(orders) > 10 and len(orders) == len(rec["orders"])
    for name in velox.ORDER_DTYPE.names:
        assert np.array_equal(orders[name], rec["orders"][name]), name
    assert hc["sent"] == len(orders) == s["venue_counters"]["submitted"] == counts["orders"]
    # every report the gateway sent reached the strategy, unchanged but for ts_local
    sent = rec["execs"]
    assert len(execs) == len(sent) == hc["reports"] == s["venue_counters"]["polled"]
    for name in velox.EXEC_DTYPE.names:
        if name != "ts_local":
            assert np.array_equal(execs[name], sent[name]), name
    # ts_local is the strategy's clock: the data's event time, not the gateway's wall clock
    events = velox.feeds.read_lobster(lobster_file)
    assert (execs["ts_local"] >= events["ts"].min()).all()
    assert (execs["ts_local"] <= events["ts"].max()).all()
    assert (execs["ts_exchange"] > execs["ts_local"].max()).all()  # time.time_ns() today
    assert hc["bad_reports"] == 0 and hc["log_lost"] == 0 and s["working_at_end"] == []
    # every NEW ends exactly once; its lots are filled or canceled, never both nor neither
    news = orders[orders["action"] == NEW]
    assert len(np.unique(news["order_id"])) == len(news)
    qty = dict(zip(news["order_id"].tolist(), news["qty"].tolist()))
    filled = dict.fromkeys(qty, 0)
    ends = dict.fromkeys(qty, 0)
    for e in execs.tolist():
        oid, fill_qty, leaves, kind = e[2], e[5], e[6], e[8]
        assert oid in qty
        if kind in (FILL, PARTIAL):
            filled[oid] += fill_qty
        if kind in (REJECT, FILL, CANCELED, EXPIRED) and leaves == 0:
            ends[oid] += 1
            assert filled[oid] == qty[oid] or kind != FILL
    assert set(ends.values()) == {1}
    fills = execs[np.isin(execs["kind"], (FILL, PARTIAL))]
    assert counts["lots_filled"] == int(fills["fill_qty"].sum()) > 0
    # the end-of-run cancels (kill switch) took every resting order off the gateway
    assert r["counters"]["strategy"]["closing"]
    assert counts["working_at_end"] == 0 and hc["killed"]
    # position = the signed sum of fills, as the host keeps it and the live view tallies it
    signed = int(np.where(fills["side"] == 0, 1, -1) @ fills["fill_qty"].astype(np.int64))
    assert s["positions"][0]["position"] == signed
    assert pipe.book.positions()[0]["position"] == signed
    assert pipe.book.working_orders() == []
    assert s["pnl_points"] == len(pipe.pnl) == len(fills)  # a point per fill (no interval)


def test_a_live_strategy_run_journals_its_whole_input(tmp_path, lobster_file):
    """journal=DIR with a v2 strategy: the strategy's book turn copies every event it takes
    into the input tap, so DIR/input holds the file's events in order and the run's tap
    conservation (applied + rejected == tapped) holds."""
    from velox import Journal
    from velox.feeds import read_lobster
    jdir = tmp_path / "j"
    pipe, r, _, _ = run_live(tmp_path, lobster_file, quote(), "--fill-every", 3,
                             journal=jdir, callback_thread=True)
    assert r["ok"], r["verdict"]
    with Journal.reader(jdir / "input") as reader:
        got = reader.read(1 << 20)
        assert reader.skipped == 0 and not len(reader.read(1))
    events = read_lobster(lobster_file)
    assert len(got) == len(events) == r["journaled"]["input_records"] > 0
    assert got.tobytes() == events.tobytes()


def test_cli_and_toml_run_a_builtin_strategy_live(tmp_path, lobster_file):
    # two child Pythons start side by side: each waits up to ATTACH_GUARD_S for the other
    names = fresh_name(), fresh_name()
    gw = gateway(*names, "--attach-timeout", ATTACH_GUARD_S)
    cmd = [sys.executable, "-m", "velox.pipeline", "--input", f"lobster:{lobster_file}",
           "--stage", "builtin:quote", "--stage-arg", "size=3", "--speed", "20000",
           "--venue", f"live:{names[0]},{names[1]}?attach_timeout={ATTACH_GUARD_S}",
           "--json", "-", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=IMPORT_ROOT,
                       env=child_env())
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["strategy"]["name"] == "quote" and rep["strategy"]["orders"] > 0
    out, _ = gw.communicate(timeout=60)
    assert json.loads(out)["orders"] == rep["strategy"]["orders"]
    toml = tmp_path / "live.toml"
    names = fresh_name(), fresh_name()
    toml.write_text(textwrap.dedent(f"""\
        input = "lobster:{lobster_file}"
        stage = ["builtin:quote"]
        stage_args = {{size = 1}}
        venue = "live:{names[0]},{names[1]}?attach_timeout={ATTACH_GUARD_S}"
        speed = 20000
        """))
    gw = gateway(*names, "--attach-timeout", ATTACH_GUARD_S)
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--config", str(toml),
                        "--json", "-", "--quiet"], capture_output=True, text=True, timeout=600,
                       cwd=IMPORT_ROOT, env=child_env())
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    gw.communicate(timeout=60)
    assert rep["ok"] and rep["strategy"]["orders"] > 0
    news = rep["strategy"]["counters"]["sent"]
    assert news > 0


def test_a_gateway_sending_bad_reports_fails_the_run(tmp_path, lobster_file):
    """Foreign bytes: a report of an unknown kind, and one about an order never sent, are
    counted as bad, not applied, and make the run not ok."""
    names = fresh_name(), fresh_name()
    pipe = velox.Pipeline(input=f"lobster:{lobster_file}", stage=quote(),
                          venue=velox.LiveVenue(*names), replay_speed=20_000)
    code = textwrap.dedent(f"""
        import numpy as np, velox
        o = velox.SharedRing.attach({names[0]!r}, velox.ORDER_DTYPE, timeout=30)
        e = velox.SharedRing.attach({names[1]!r}, velox.EXEC_DTYPE, timeout=30)
        bad = np.zeros(2, velox.EXEC_DTYPE)
        bad[0]["kind"] = 99; bad[0]["order_id"] = 1
        bad[1]["kind"] = 1; bad[1]["order_id"] = 10**12; bad[1]["leaves_qty"] = 1
        e.push_many(bad, timeout=30)
        try:
            while True:
                o.pop_many(64, timeout=None)  # read on, answer nothing
        except BrokenPipeError:
            pass
        """)
    gw = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                          cwd=IMPORT_ROOT, env=child_env())
    start_live(pipe, gw)
    assert pipe.wait(timeout=120)
    r = pipe.stop()
    gw.communicate(timeout=60)
    assert r["strategy"]["counters"]["bad_reports"] == 2
    assert not r["ok"] and "report(s) that failed validation" in r["verdict"]


def test_start_waits_for_the_gateway_and_refuses_without_one(lobster_file):
    names = fresh_name(), fresh_name()
    pipe = velox.Pipeline(input=f"lobster:{lobster_file}", stage=quote(),
                          venue=velox.LiveVenue(*names, attach_timeout=0.2))
    with pytest.raises(TimeoutError, match="no gateway attached"):
        pipe.start()
    # the failed start released the rings itself (a `with Pipeline(...)` never reaches stop)
    assert not [n for n in os.listdir("/dev/shm") if n in names]
    pipe.stop_unstarted()  # harmless after it
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input",
                        f"lobster:{lobster_file}", "--stage", "builtin:quote", "--venue",
                        f"live:{names[0]},{names[1]}?attach_timeout=0.2"], capture_output=True,
                       text=True, timeout=120, cwd=IMPORT_ROOT, env=child_env())
    assert r.returncode == 2 and "no gateway attached" in r.stderr, r.stderr


def test_bad_combinations_are_refused_before_the_run(lobster_file):
    names = fresh_name(), fresh_name()
    v2 = quote()
    with pytest.raises(ValueError, match="ABI v2: its orders need a venue"):
        velox.Pipeline(input=f"lobster:{lobster_file}", stage=v2)
    with pytest.raises(ValueError, match="needs a strategy of ABI v2"):
        velox.Pipeline(input=f"lobster:{lobster_file}", venue=velox.LiveVenue(*names))
    with pytest.raises(ValueError, match="market-by-order input"):
        velox.Pipeline(input="synthetic", stage=v2, venue=velox.LiveVenue(*names))
    with pytest.raises(ValueError, match="runs alone"):
        velox.Pipeline(input=f"lobster:{lobster_file}", venue=velox.LiveVenue(*names),
                       stage=[v2, velox._pipeline.BuiltinStage("noop")])
    for bad in ("live:a", "live:a,a", "sim:a,b", "live:a b,c", 7, "live:a,b?speed=1",
                "live:a,b?capacity=3", "live:a,b?close_timeout=x"):
        with pytest.raises((ValueError, TypeError)):
            velox.Pipeline(input=f"lobster:{lobster_file}", stage=v2, venue=bad)
    with pytest.raises(TypeError, match="RiskLimits or a dict"):
        velox.Pipeline(input=f"lobster:{lobster_file}", stage=v2,
                       venue=velox.LiveVenue(*names), risk=[1])
    with pytest.raises(ValueError, match="unknown limit"):
        velox.Pipeline(input=f"lobster:{lobster_file}", stage=v2,
                       venue=velox.LiveVenue(*names), risk={"max_lots": 1})
    assert not [n for n in os.listdir("/dev/shm") if n in names]  # nothing left behind
    ok = velox.Pipeline(input=f"lobster:{lobster_file}", stage=v2, venue=velox.LiveVenue(*names),
                        risk=velox.RiskLimits(max_position=4, max_working=8))
    ok.stop_unstarted()  # a backtest's RiskLimits are taken as they are
    assert not [n for n in os.listdir("/dev/shm") if n in names]
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input",
                        f"lobster:{lobster_file}", "--stage", "builtin:quote"],
                       capture_output=True, text=True, timeout=60, cwd=IMPORT_ROOT,
                       env=child_env())
    assert r.returncode == 2 and "its orders need a venue" in r.stderr
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--venue", "live:x"],
                       capture_output=True, text=True, timeout=60, cwd=IMPORT_ROOT,
                       env=child_env())
    assert r.returncode == 2 and "live:ORDERS,EXECS" in r.stderr


@pytest.mark.parametrize("field, value, names", MISMATCHES)
def test_a_mismatched_strategy_table_is_refused_naming_both(lobster_file, field, value, names):
    names_shm = fresh_name(), fresh_name()
    cap, keep = table_capsule(**{field: value})
    with pytest.raises(ValueError) as e:
        velox.Pipeline(input=f"lobster:{lobster_file}", stage=cap,
                       venue=velox.LiveVenue(*names_shm))
    assert str(e.value).startswith("strategy <capsule object"), e.value
    for text in names:
        assert text in str(e.value)
    assert not [n for n in os.listdir("/dev/shm") if n in names_shm]  # nothing left behind
    del keep


def test_load_stage_carries_a_v2_strategys_arguments():
    s = load_stage("builtin:quote", {"size": 4})
    assert s.kind == "quote" and s.args == {"size": 4}
    with pytest.raises(ValueError, match="builtin strategies"):
        load_stage("builtin:nosuch")


def test_live_view_tally_of_working_orders_and_positions():
    """The view's tally from drained logs: a NEW is working until a report with leaves 0
    ends it; a REJECT of a CANCEL (leaves > 0) keeps it; fills move the position."""
    logs = StrategyLogs()
    o = np.zeros(3, velox.ORDER_DTYPE)
    o["order_id"] = [1, 2, 3]
    o["action"] = NEW
    o["qty"] = [5, 4, 2]
    o["side"] = [0, 1, 0]
    o["price"] = 100
    e = np.zeros(5, velox.EXEC_DTYPE)
    e["order_id"] = [1, 1, 2, 2, 3]
    e["kind"] = [ACK, FILL, ACK, REJECT, REJECT]
    e["leaves_qty"] = [5, 0, 4, 4, 0]
    e["fill_qty"] = [0, 5, 0, 0, 0]
    e["side"] = [0, 0, 1, 1, 0]

    class Native:
        def __init__(self):
            self.q = {"orders": [o], "execs": [e], "pnl": []}

        def drain_log(self, which, n):
            q = self.q[which]
            return q.pop(0) if q else np.zeros(0, {"orders": velox.ORDER_DTYPE,
                                                   "execs": velox.EXEC_DTYPE,
                                                   "pnl": velox.PNL_DTYPE}[which])

    assert logs.take(Native()) == 8
    w = logs.working_orders()
    assert [x["order_id"] for x in w] == [2] and w[0]["state"] == "live"
    assert logs.positions() == {0: {"position": 5, "total_pnl": 0}}
    assert logs.array("orders").tobytes() == o.tobytes()


def test_reports_reach_the_strategy_while_the_market_is_quiet():
    """Idle book turns deliver: events fed, then none; the gateway's reports still reach the
    strategy (drained into pipe.execs) while the feed stays open."""
    events = lobster_events(3_000, seed=3)[:400]
    names = fresh_name(), fresh_name()
    pipe = velox.Pipeline(input="feed", records="mbo", stage=quote(),
                          venue=velox.LiveVenue(*names))
    gw = gateway(*names)
    start_live(pipe, gw)
    pipe.feed(events)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not len(pipe.execs):
        time.sleep(0.01)
    got = len(pipe.execs)
    idle = pipe.counters()["strategy"]["idle_delivers"]
    pipe.close_feed()
    assert pipe.wait(timeout=60)
    r = pipe.stop()
    gw.communicate(timeout=60)
    assert got > 0 and idle > 0 and r["ok"], r["verdict"]
    assert r["counters"]["generated"] == len(events)  # nothing more came: delivered idle
