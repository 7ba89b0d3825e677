"""Backtests on market-by-price (L2) data: LEVEL events, the simulated venue's queue models
(SimVenue queue_model / queue_power, csrc/velox/venue.h "Queue models"), feedgen's
market_by_price view of an L3 stream, the refusal to guess a model for L2 input, and the
same settings through the pipeline's simulated venue and both CLIs. The models' exact
reports are checked against the independent reference in tests/test_backtest_oracle.py."""

import json
import textwrap

import numpy as np
import pytest

import velox
from velox import Action, BUY, MBO_DTYPE, SELL, ExecKind, MboBook, MboFlag
from velox.backtest._cli import main as backtest_main
from velox.feedgen import lobster_events, market_by_price
from velox.pipeline._strategy import BuiltinStrategy

ARGS = {"size": 1, "max_position": 5}
MODELS = ("fifo", "risk_averse", "prob")


@pytest.fixture(scope="module")
def day():
    """A generated LOBSTER day (L3) and what an L2 feed of it says."""
    l3 = lobster_events(12_000, seed=3)
    return l3, market_by_price(l3)


def _fills(r, liquidity):
    e = r.execs
    fill = np.isin(e["kind"], (int(ExecKind.FILL), int(ExecKind.PARTIAL_FILL)))
    return int((fill & (e["liquidity"] == liquidity)).sum())


# -- the settings ------------------------------------------------------------------------

@pytest.mark.parametrize("kw, error, name", [
    ({"queue_model": "l3"}, ValueError, "queue_model"),
    ({"queue_model": 1}, ValueError, "queue_model"),
    ({"queue_power": 9}, ValueError, "queue_power"),
    ({"queue_power": -1}, ValueError, "queue_power"),
    ({"queue_power": True}, TypeError, "queue_power"),
    ({"queue_power": 2.0}, TypeError, "queue_power"),
])
def test_sim_venue_checks_the_queue_fields(kw, error, name):
    with pytest.raises(error, match=name):
        velox.SimVenue(**kw)


def test_queue_fields_reach_the_native_venue():
    assert velox.SimVenue().native()["queue_model"] == 0  # None: fifo
    n = velox.SimVenue(queue_model="prob", queue_power=np.int64(3)).native()
    assert (n["queue_model"], n["queue_power"]) == (2, 3) and type(n["queue_power"]) is int
    assert velox.SimVenue(queue_model="risk_averse").native()["queue_model"] == 1


# -- market_by_price ---------------------------------------------------------------------

def test_market_by_price_books_equal_the_order_books(day):
    """Applied to a book, the L2 view of every prefix of the day shows the levels the L3
    events show: same depth, same best prices."""
    l3, _ = day
    for n in (1, 500, 3_001, len(l3)):
        a = MboBook(1024, 100_000, int(l3["price"][l3["price"] > 0][0]) - 512 * 100_000,
                    max_orders=1 << 14)
        b = MboBook(1024, 100_000, int(l3["price"][l3["price"] > 0][0]) - 512 * 100_000,
                    max_orders=1 << 14)
        a.apply_many(l3[:n])
        l2 = market_by_price(l3[:n])
        res = b.apply_many(l2)
        assert res.rejected == 0
        for x, y in zip(a.depth(64), b.depth(64)):
            assert np.array_equal(x, y), n
        assert b.live_orders == 0  # L2: no identities


def test_market_by_price_events(day):
    l3, l2 = day
    assert set(np.unique(l2["action"])) <= {int(Action.LEVEL), int(Action.TRADE)}
    executes = l3[l3["action"] == Action.EXECUTE]
    prints = l2[(l2["action"] == Action.TRADE) & (l2["order_id"] != 0)]
    assert len(prints) == len(executes) and (prints["qty"] == executes["qty"]).all()
    assert (np.diff(l2["ts"].astype(np.int64)) >= 0).all()
    assert (l2["order_id"][l2["action"] == Action.LEVEL] == 0).all()
    # F_LAST stays on the last event made from an event
    ev = np.zeros(2, MBO_DTYPE)
    ev[["ts", "order_id", "price", "qty", "side", "action", "flags"]] = [
        (1, 7, 100, 5, BUY, Action.ADD, 0),
        (2, 7, 0, 2, BUY, Action.EXECUTE, MboFlag.LAST)]
    out = market_by_price(ev)
    assert out[["action", "qty", "flags"]].tolist() == [
        (Action.LEVEL, 5, 0), (Action.TRADE, 2, 0), (Action.LEVEL, 3, MboFlag.LAST)]
    assert out["price"][1] == 100 and out["side"][1] == BUY


def test_market_by_price_refuses_what_it_cannot_know():
    ev = np.zeros(1, MBO_DTYPE)
    ev[["order_id", "qty", "action"]] = [(9, 1, Action.CANCEL)]
    with pytest.raises(ValueError, match="event 0: CANCEL of order 9"):
        market_by_price(ev)
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        market_by_price(np.zeros(3, np.int64))


# -- backtests on L2 data ----------------------------------------------------------------

def test_an_l2_input_needs_a_queue_model(day):
    _, l2 = day
    with pytest.raises(ValueError, match="market-by-price data.*queue_model"):
        velox.backtest(l2, "builtin:quote", stage_args=ARGS)
    r = velox.backtest(l2, "builtin:quote", stage_args=ARGS,
                       venue=velox.SimVenue(queue_model="fifo"))
    assert r.ok and _fills(r, velox.Liquidity.MAKER) == 0  # fifo: prints never fill


def test_l2_models_fill_resting_orders_and_conserve(day):
    l3, l2 = day
    l3_result = velox.backtest(l3, "builtin:quote", stage_args=ARGS, seed=1)
    assert l3_result.ok and _fills(l3_result, velox.Liquidity.MAKER) > 20
    for model in ("risk_averse", "prob"):
        r = velox.backtest(l2, "builtin:quote", stage_args=ARGS, seed=1,
                           venue=velox.SimVenue(queue_model=model))
        assert r.ok, r.verdict
        assert _fills(r, velox.Liquidity.MAKER) > 20
        assert r.counters["venue"]["queue_events"] > 0


def test_prob_is_seeded(day):
    _, l2 = day
    runs = [velox.backtest(l2, "builtin:quote", stage_args=ARGS, seed=s,
                           venue=velox.SimVenue(queue_model="prob", queue_power=3))
            for s in (4, 4, 5, 6, 7)]
    assert runs[0].execs.tobytes() == runs[1].execs.tobytes()
    assert runs[0].counters == runs[1].counters
    # the draws move queue positions (the fills on this day come out the same)
    events = {r.counters["venue"]["queue_events"] for r in runs}
    assert len(events) > 1


@pytest.mark.parametrize("model", MODELS)
def test_the_pipeline_sim_venue_matches_the_backtest(day, tmp_path, model):
    _, l2 = day
    path = tmp_path / "l2.mbo"
    l2.tofile(path)
    venue = velox.SimVenue(queue_model=model, queue_power=3, entry_latency_ns=20_000,
                           response_latency_ns=10_000)
    r = velox.backtest(l2, "builtin:quote", stage_args=ARGS, venue=venue, seed=2)
    pipe = velox.Pipeline(input=f"mbo:{path}", stage=BuiltinStrategy("quote", dict(ARGS)),
                          venue=venue, seed=2, batch=7, instruments=1)
    pipe.start()
    assert pipe.wait(timeout=120)
    report = pipe.stop()
    assert report["ok"], report["verdict"]
    for which in ("orders", "execs", "pnl"):
        assert getattr(pipe, which).tobytes() == getattr(r, which).tobytes(), which


def test_the_pipeline_refuses_to_guess_too(day, tmp_path):
    _, l2 = day
    path = tmp_path / "l2.mbo"
    l2.tofile(path)
    with pytest.raises(ValueError, match="market-by-price data.*queue_model"):
        velox.Pipeline(input=f"mbo:{path}", stage=BuiltinStrategy("quote", dict(ARGS)),
                       venue=velox.SimVenue())
    from velox.pipeline._cli import main as pipeline_main
    assert pipeline_main(["--input", f"mbo:{path}", "--stage", "builtin:quote", "--venue",
                          "sim", "--quiet"]) == 2


def test_backtest_cli_queue_options_and_toml(day, tmp_path, capsys):
    _, l2 = day
    path = tmp_path / "l2.mbo"
    l2.tofile(path)
    argv = ["--input", f"mbo:{path}", "--stage", "builtin:quote", "--stage-arg", "size=1",
            "--stage-arg", "max_position=5", "--seed", "3", "--json"]
    assert backtest_main(argv + ["--queue-model", "prob", "--queue-power", "3"]) == 0
    cli = json.loads(capsys.readouterr().out)
    r = velox.backtest(l2, "builtin:quote", stage_args=ARGS, seed=3,
                       venue=velox.SimVenue(queue_model="prob", queue_power=3))
    assert cli["summary"]["fills"] == r.summary()["fills"] > 0
    assert cli["counters"]["venue"] == r.counters["venue"]  # queue_events: the model's work
    default_power = velox.backtest(l2, "builtin:quote", stage_args=ARGS, seed=3,
                                   venue=velox.SimVenue(queue_model="prob"))
    assert default_power.counters["venue"] != r.counters["venue"]  # so the power arrived
    cfg = tmp_path / "bt.toml"
    cfg.write_text(textwrap.dedent(f"""\
        input = "mbo:{path}"
        stage = "builtin:quote"
        stage_args = {{size = 1, max_position = 5}}
        seed = 3
        queue_model = "prob"
        queue_power = 3
        """))
    assert backtest_main(["--config", str(cfg), "--json"]) == 0
    toml_summary = json.loads(capsys.readouterr().out)["summary"]
    for key in ("events", "orders", "fills", "volume", "pnl"):
        assert toml_summary[key] == cli["summary"][key], key
    assert backtest_main(argv) == 2  # L2 input, no model chosen: refused before the run
    assert "market-by-price" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(f'input = "mbo:{path}"\nstage = "builtin:quote"\nqueue_model = "lifo"\n')
    with pytest.raises(SystemExit) as e:
        backtest_main(["--config", str(bad)])
    assert e.value.code == 2 and "lifo" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        backtest_main(argv + ["--queue-power", "9"])
    assert "queue-power" in capsys.readouterr().err


def test_l2_level_outside_the_window_is_counted():
    """A LEVEL the book's window cannot hold is counted, not kept (mbo.h)."""
    ev = np.zeros(2, MBO_DTYPE)
    ev[["ts", "price", "qty", "side", "action"]] = [
        (1, velox.to_fixed("100"), 5, BUY, Action.LEVEL),
        (2, velox.to_fixed("900"), 7, SELL, Action.LEVEL)]
    b = MboBook(64, velox.to_fixed("0.01"), velox.to_fixed("99.80"), max_orders=4)
    b.apply_many(ev)
    c = b.counters
    assert c.dropped_seeded_qty == 7 and c.applied == 2 and b.best_bid() == (ev["price"][0], 5)
