"""velox.backtest from Python: strategy loading and its refusals, SimVenue / RiskLimits
validation, a generated LOBSTER day through builtin:quote (conservation, determinism across
chunkings and input forms, positions = signed fills, the summary), builtin:script, risk
limits, stage_args reaching the strategy, snapshots, and input specs."""

import ctypes
import gc

import numpy as np
import pytest

import velox
from velox import (EXEC_DTYPE, MBO_DTYPE, ORDER_DTYPE, PNL_DTYPE, POSITION_DTYPE, ExecKind,
                   OrderAction, OrderType, RejectReason, RiskLimits, SimVenue, TimeInForce)
from velox._backtest import NativeBacktest, builtin_strategy
from velox._pipeline import BuiltinStage
from velox.backtest._result import SUMMARY_KEYS, max_drawdown
from velox.feedgen import lobster_events, lobster_book_rows
from velox.feeds import write_lobster, write_lobster_book

from scale import scaled
from strategy_tables import MISMATCHES, STRATEGY_SIZE, capsule_new, table_capsule

N_EVENTS = scaled(30_000, 5_000)



@pytest.fixture(scope="module")
def day():
    """A generated day's first part (orders rest at the end), as events and a LOBSTER pair."""
    return lobster_events(N_EVENTS * 3 // 2, seed=7)[:N_EVENTS]


@pytest.fixture(scope="module")
def lobster_pair(tmp_path_factory, day):
    d = tmp_path_factory.mktemp("bt")
    msg, book = d / "msg.csv", d / "book.csv"
    write_lobster(msg, day)
    write_lobster_book(book, lobster_book_rows(day, 5))
    return msg, book


def _quote(inp, **kw):
    kw.setdefault("stage_args", {"size": 1, "max_position": 5})
    return velox.backtest(inp, "builtin:quote", **kw)


def _same(a, b):
    for name in ("orders", "execs", "pnl", "positions"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name


# -- records -------------------------------------------------------------------------------

def test_result_dtypes_mirror_the_c_structs():
    assert PNL_DTYPE.itemsize == 56 and POSITION_DTYPE.itemsize == 80
    assert PNL_DTYPE.fields["total"][1] == 48 and PNL_DTYPE.fields["reason"][1] == 12
    assert POSITION_DTYPE.fields["volume"][1] == 48
    assert POSITION_DTYPE.fields["working_sell"][1] == 72
    assert PNL_DTYPE.alignment == POSITION_DTYPE.alignment == 8


# -- strategy loading ----------------------------------------------------------------------

def test_a_v1_stage_is_refused_saying_backtests_need_abi_v2(day):
    with pytest.raises(ValueError, match=r"ABI v1.*need a strategy of ABI v2.*strategy\.h"):
        velox.backtest(day[:100], BuiltinStage("noop"))
    with pytest.raises(ValueError, match="ABI v2"):
        velox.backtest(day[:100], BuiltinStage("noop").__velox_stage__())


def test_wrong_objects_and_capsule_names_are_refused(day):
    with pytest.raises(TypeError, match="velox.strategy.v2"):
        velox.backtest(day[:10], 3)
    buf = ctypes.create_string_buffer(STRATEGY_SIZE)
    other = ctypes.create_string_buffer(b"other.name")
    with pytest.raises(ValueError, match="must be named 'velox.strategy.v2'"):
        velox.backtest(day[:10], capsule_new(ctypes.addressof(buf), ctypes.addressof(other), None))

    class Bad:
        def __velox_stage__(self):
            return "not a capsule"
    with pytest.raises(TypeError, match="must return a PyCapsule"):
        velox.backtest(day[:10], Bad())
    with pytest.raises(ValueError, match="builtin strategies are builtin:quote, builtin:script"):
        velox.backtest(day[:10], "builtin:noop")
    with pytest.raises(ValueError, match="cannot import"):
        velox.backtest(day[:10], "no_such_module_xyz:Thing")


@pytest.mark.parametrize("field, value, names", MISMATCHES)
def test_a_version_mismatch_is_refused_naming_both(day, field, value, names):
    cap, keep = table_capsule(**{field: value})
    with pytest.raises(ValueError) as e:
        velox.backtest(day[:100], cap)
    assert str(e.value).startswith("stage <capsule object"), e.value
    for text in names:
        assert text in str(e.value)
    del keep


def test_an_unchanged_table_copy_runs(day):
    cap, keep = table_capsule()
    r = velox.backtest(day[:2000], cap, stage_args={"size": 1, "max_position": 5})
    assert len(r.orders) > 0
    del keep


def test_the_capsule_and_its_object_live_as_long_as_the_backtest(day):
    class Holder:
        made = 0

        def __velox_stage__(self):
            Holder.made += 1
            return builtin_strategy("quote")

    bt = NativeBacktest(Holder(), instruments=1, levels=4096, tick=1_000_000,
                        max_orders=1 << 16, args=["size=1", "max_position=3"])
    gc.collect()  # the Holder and its capsule are referenced only by the backtest
    assert Holder.made == 1 and isinstance(bt.stage, Holder)
    bt.feed(day[:3000])
    bt.finish()
    assert len(bt.orders()) > 0 and bt.counters()["host"]["market_calls"] > 0


def test_a_strategy_whose_init_refuses_fails_the_run(day):
    r = _quote(day[:500], stage_args={"size": 0})  # quote's init refuses size 0
    assert r.counters["host"]["init_failed"] and not r.ok
    assert r.verdict.startswith("backtest FAILED") and "init" in r.verdict
    assert len(r.orders) == 0


def test_create_refusals_are_value_errors(day):
    with pytest.raises(ValueError, match="levels"):
        NativeBacktest(builtin_strategy("quote"), instruments=1, levels=3, tick=1,
                       max_orders=16)
    with pytest.raises(ValueError, match="edges"):
        velox.backtest(day[:10], "builtin:quote", edges="sometimes")
    with pytest.raises(ValueError, match="edges"):
        NativeBacktest(builtin_strategy("quote"), instruments=1, levels=4, tick=1,
                       max_orders=16, edges="sometimes")


# -- venue and risk settings ---------------------------------------------------------------

@pytest.mark.parametrize("kw, error, name", [
    ({"entry_latency_ns": -1}, ValueError, "entry_latency_ns"),
    ({"response_latency_ns": 1.5}, TypeError, "response_latency_ns"),
    ({"entry_jitter_ns": True}, TypeError, "entry_jitter_ns"),
    ({"response_jitter_ns": 2**63}, ValueError, "response_jitter_ns"),
    ({"maker_fee": float("nan")}, ValueError, "maker_fee"),
    ({"taker_fee": "0.1"}, TypeError, "taker_fee"),
    ({"maker_fee_bps": float("inf")}, ValueError, "maker_fee_bps"),
    ({"taker_fee_bps": 1e5}, ValueError, "taker_fee_bps"),
    ({"max_orders": 0}, ValueError, "max_orders"),
    ({"max_in_flight": 15}, ValueError, "max_in_flight"),
])
def test_sim_venue_checks_every_field(kw, error, name):
    with pytest.raises(error, match=name):
        SimVenue(**kw)


@pytest.mark.parametrize("kw, error, name", [
    ({"max_position": -1}, ValueError, "max_position"),
    ({"max_order_qty": 2**32}, ValueError, "max_order_qty"),
    ({"max_loss": -1.0}, ValueError, "max_loss"),
    ({"max_loss": float("nan")}, ValueError, "max_loss"),
    ({"max_working": 0}, ValueError, "max_working"),
    ({"max_working": "3"}, TypeError, "max_working"),
])
def test_risk_limits_check_every_field(kw, error, name):
    with pytest.raises(error, match=name):
        RiskLimits(**kw)


def test_fees_become_fixed_point():
    v = SimVenue(maker_fee=-0.0025, taker_fee=0.003, maker_fee_bps=-0.2, taker_fee_bps=1.5,
                 entry_latency_ns=np.int64(5))
    n = v.native()
    assert (n["maker_per_lot"], n["taker_per_lot"]) == (-250_000, 300_000)
    assert (n["maker_rate"], n["taker_rate"]) == (-2_000, 15_000)  # bps / 1e4 x 1e8
    assert n["entry_latency_ns"] == 5 and type(n["entry_latency_ns"]) is int
    assert RiskLimits(max_loss=12.5).native()["max_loss"] == 1_250_000_000
    with pytest.raises(TypeError, match="venue"):
        velox.backtest(np.zeros(0, MBO_DTYPE), "builtin:quote", venue={"maker_fee": 1})


# -- a LOBSTER day through builtin:quote ---------------------------------------------------

def _signed_fills(r):
    e = r.execs
    fill = np.isin(e["kind"], (int(ExecKind.FILL), int(ExecKind.PARTIAL_FILL)))
    sign = np.where(e["side"] == velox.BUY, 1, -1)
    per = np.zeros(len(r.positions), np.int64)
    np.add.at(per, e["instrument"][fill].astype(np.int64), (sign * e["fill_qty"])[fill])
    return per


def test_lobster_day_with_quote_conserves_and_positions_are_signed_fills(lobster_pair):
    msg, _ = lobster_pair
    venue = SimVenue(entry_latency_ns=20_000, response_latency_ns=20_000, maker_fee=-0.002,
                     taker_fee=0.003)
    r = _quote(f"lobster:{msg}", venue=venue)
    c = r.counters
    assert c["events"] == c["applied"] + c["book_rejects"] == N_EVENTS
    assert r.ok, r.verdict
    assert r.check_failure is None, r.check_failure  # host.h's conservation check
    assert c["host"]["log_lost"] == 0 and c["venue"]["reports_dropped"] == 0
    assert c["finished"]
    fills = np.isin(r.execs["kind"], (int(ExecKind.FILL), int(ExecKind.PARTIAL_FILL)))
    assert fills.sum() > 10, "the quote must trade for this test to mean anything"
    assert np.array_equal(r.positions["position"], _signed_fills(r))
    assert int(r.positions["volume"].sum()) == int(r.execs["fill_qty"][fills].sum())
    assert int(r.positions["fills"].sum()) == int(fills.sum())
    assert int(r.positions["fees"].sum()) == int(r.execs["fee"].sum())
    # every NEW that left ends in exactly one of REJECT, FILL, CANCELED, EXPIRED
    sent_new = r.orders[r.orders["action"] == int(OrderAction.NEW)]["order_id"]
    ends = r.execs[np.isin(r.execs["kind"], (int(ExecKind.FILL), int(ExecKind.CANCELED),
                                             int(ExecKind.EXPIRED)))]["order_id"]
    new_rejects = r.execs[(r.execs["kind"] == int(ExecKind.REJECT))
                          & np.isin(r.execs["order_id"], sent_new)
                          & (r.execs["leaves_qty"] == 0)]
    assert len(np.unique(ends)) == len(ends)
    assert set(sent_new.tolist()) <= set(ends.tolist()) | set(new_rejects["order_id"].tolist())
    # the P&L series and the summary agree with the positions
    s = r.summary()
    assert tuple(s) == SUMMARY_KEYS
    assert s["events"] == N_EVENTS and s["orders"] == len(r.orders)
    assert s["volume"] == int(r.positions["volume"].sum())
    assert s["fills"] == int(fills.sum())
    total = int(r.positions["realized"].sum() + r.positions["unrealized"].sum()
                - r.positions["fees"].sum())
    assert s["pnl"] == total / velox.PRICE_SCALE
    assert s["max_drawdown"] == max_drawdown(r.pnl["total"]) / velox.PRICE_SCALE
    assert len(r.pnl) and np.all(np.diff(r.pnl["ts"].astype(np.int64)) >= 0)
    assert r.verdict.splitlines()[0] == r.verdict and r.verdict in r.format_summary()
    assert r.instruments is None  # LOBSTER names no symbol


def test_result_is_the_same_for_any_chunking_and_input_form(day, lobster_pair, tmp_path):
    msg, _ = lobster_pair
    venue = SimVenue(entry_latency_ns=15_000, response_latency_ns=5_000, entry_jitter_ns=9_000,
                     response_jitter_ns=3_000, taker_fee_bps=0.5)
    base = _quote(day, venue=venue, seed=3)
    assert len(base.orders) > 100
    for size in (1, 7, 255, 256, 257, 4096):
        parts = [day[i:i + size] for i in range(0, len(day), size)] if size < 64 else \
            (day[i:i + size] for i in range(0, len(day), size))
        _same(base, _quote(parts, venue=venue, seed=3))
    _same(base, _quote(f"lobster:{msg}", venue=venue, seed=3))
    _same(base, _quote(str(msg), venue=venue, seed=3))  # a bare .csv path
    raw = tmp_path / "day.mbo"
    day.tofile(raw)
    _same(base, _quote(f"mbo:{raw}", venue=venue, seed=3))
    other = _quote(day, venue=venue, seed=4)  # the seed drives the latency draws
    assert other.execs.tobytes() != base.execs.tobytes()


def test_a_misaligned_view_is_fed_as_a_copy(day):
    base = _quote(day[:3000])
    raw = np.zeros(3000 * MBO_DTYPE.itemsize + 8, np.uint8)
    for off in range(1, 8):
        view = raw[off:off + 3000 * MBO_DTYPE.itemsize].view(MBO_DTYPE)
        view[:] = day[:3000]
        _same(base, _quote(view))


# -- script, risk, stage_args ----------------------------------------------------------------

def _orders(rows):
    out = np.zeros(len(rows), ORDER_DTYPE)
    for i, row in enumerate(rows):
        for k, v in row.items():
            out[i][k] = v
    return out


def test_script_orders_and_hostile_ones_get_the_documented_reports(day):
    t0 = int(day["ts"][100])
    orders = _orders([
        dict(ts=t0, order_id=1, instrument=0, side=velox.BUY, type=int(OrderType.MARKET),
             tif=int(TimeInForce.IOC), action=int(OrderAction.NEW), qty=1, price=0),
        dict(ts=t0, order_id=2, instrument=5, side=velox.BUY, type=int(OrderType.LIMIT),
             tif=int(TimeInForce.GTC), action=int(OrderAction.NEW), qty=1, price=10**10),
        dict(ts=t0, order_id=3, instrument=0, side=velox.SELL, type=int(OrderType.LIMIT),
             tif=int(TimeInForce.GTC), action=int(OrderAction.NEW), qty=0, price=10**10),
        dict(ts=t0, order_id=77, instrument=0, action=int(OrderAction.CANCEL)),
    ])
    r = velox.backtest(day[:2000], "builtin:script", stage_args={"orders": orders})
    assert r.ok, r.verdict
    # .orders holds the orders that left for the venue (host.h logs those); the ones refused
    # before leaving are REJECT reports with ts_exchange 0
    assert r.orders["order_id"].tolist() == [1]
    rej = r.execs[r.execs["kind"] == int(ExecKind.REJECT)]
    reasons = dict(zip(rej["order_id"].tolist(), rej["reason"].tolist()))
    assert reasons[2] == RejectReason.UNKNOWN_INSTRUMENT
    assert reasons[3] == RejectReason.QTY
    assert reasons[77] == RejectReason.UNKNOWN_ORDER
    mine = r.execs[r.execs["order_id"] == 1]
    assert mine["kind"][0] == ExecKind.ACK
    assert r.summary()["refused"] == 3 and "3 refused" in r.verdict
    with pytest.raises(ValueError, match="orders"):
        velox.backtest(day[:10], "builtin:script")
    with pytest.raises(TypeError, match="ORDER_DTYPE"):
        velox.backtest(day[:10], "builtin:script", stage_args={"orders": day[:3]})


def test_risk_limits_refuse_orders(day):
    r = _quote(day[:3000], stage_args={"size": 2, "max_position": 10},
               risk=RiskLimits(max_order_qty=1))
    rej = r.execs[r.execs["kind"] == int(ExecKind.REJECT)]
    assert len(rej) > 0 and np.all(rej["reason"] == RejectReason.RISK)
    assert np.all(rej["ts_exchange"] == 0)  # refused before leaving: no venue saw them
    assert r.counters["host"]["refused_by_reason"]["risk"] == len(rej)
    assert len(r.orders) == 0 and r.counters["venue"]["orders"] == 0
    assert r.ok  # refusals are reported, not failures


def test_stage_args_reach_the_strategy_and_a_class_constructor(day):
    r = _quote(day[:3000], stage_args={"size": 3, "max_position": 9})
    new = r.orders[r.orders["action"] == int(OrderAction.NEW)]
    assert len(new) and np.all(new["qty"] == 3)

    class Quote:
        seen = None

        def __init__(self, size, max_position):
            Quote.seen = (size, max_position)

        def __velox_stage__(self):
            return builtin_strategy("quote")

    r2 = velox.backtest(day[:3000], Quote, stage_args={"size": 3, "max_position": 9})
    assert Quote.seen == (3, 9)
    _same(r, r2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        velox.backtest(day[:10], Quote, stage_args={"sizes": 3})


def test_instruments_are_inferred_from_the_events(day):
    two = np.zeros(len(day[:4000]), MBO_DTYPE)
    two[:] = day[:4000]
    two["instrument"][1::2] = 1  # half the events name book 1
    r = _quote(two)
    assert len(r.positions) == 2
    assert set(r.orders["instrument"].tolist()) == {0, 1}


# -- snapshots and inputs ----------------------------------------------------------------------

def test_a_lobster_book_row_snapshot_starts_after_that_row(day, lobster_pair):
    msg, book = lobster_pair
    row = 999
    with_snap = _quote(f"lobster:{msg}", snapshot=f"lobster-book:{book}#{row}")
    assert with_snap.counters["events"] == N_EVENTS - row - 1
    # the strategy quotes the snapshot's top at once: its first orders sit at row 999's best
    rows = lobster_book_rows(day, 1)
    first_buy = with_snap.orders[with_snap.orders["side"] == velox.BUY][0]
    bid_px = rows.bid_px[row][0] if hasattr(rows, "bid_px") else None
    if bid_px is not None:
        assert first_buy["price"] == bid_px
    assert with_snap.counters["book_rejects"] <= _quote(day[row + 1:]).counters["book_rejects"]


@pytest.mark.parametrize("spec, match", [
    ("synthetic", "market-by-order"),
    ("feed", "market-by-order"),
    ("data.xyz", "cannot tell the format"),
    ("itch:day.itch", "symbols"),
    ("lobster:", "needs a file path"),
])
def test_bad_input_specs_are_refused_before_the_run(spec, match):
    with pytest.raises(ValueError, match=match):
        velox.backtest(spec, "builtin:quote")


def test_bad_input_objects_are_refused(day):
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        velox.backtest(np.zeros(3, EXEC_DTYPE), "builtin:quote")
    with pytest.raises(TypeError, match="input chunk 1"):
        velox.backtest([day[:3], np.zeros(3)], "builtin:quote")
    with pytest.raises(TypeError, match="input must be"):
        velox.backtest(42, "builtin:quote")


def test_the_result_plots_or_names_the_install_line(day, tmp_path):
    """With matplotlib (the `plot` extra; the oracle extra brings it too) a figure is saved;
    without it (CI's ASan step, the 3.13+ legs) plot() raises ImportError naming the extra."""
    r = _quote(day[:3000])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"needs matplotlib: pip install 'velox\[plot\]'"):
            r.plot()
        return
    out = tmp_path / "bt.png"
    r.plot(out)
    assert out.stat().st_size > 0


def test_summary_money_and_drawdown_from_known_figures():
    """The summary's arithmetic on a result made by hand: pnl = realized + unrealized - fees
    over the positions, max drawdown measured from a flat start."""
    from velox.backtest._result import BacktestResult
    pos = np.zeros(2, POSITION_DTYPE)
    pos["realized"] = [3 * velox.PRICE_SCALE, -1 * velox.PRICE_SCALE]
    pos["unrealized"] = [2 * velox.PRICE_SCALE, 0]
    pos["fees"] = [velox.PRICE_SCALE // 2, 0]
    pnl = np.zeros(3, PNL_DTYPE)
    pnl["total"] = [-5 * velox.PRICE_SCALE, -2 * velox.PRICE_SCALE, 1 * velox.PRICE_SCALE]
    execs = np.zeros(2, EXEC_DTYPE)
    execs["kind"] = [int(ExecKind.PARTIAL_FILL), int(ExecKind.REJECT)]
    execs["fill_qty"] = [4, 0]
    counters = {"events": 10, "book_rejects": 0,
                "host": {"log_lost": 0, "bad_reports": 0, "init_failed": False, "killed": False},
                "venue": {"reports_dropped": 0}}
    r = BacktestResult(orders=np.zeros(3, ORDER_DTYPE), execs=execs, pnl=pnl, positions=pos,
                       instruments=None, counters=counters, wall_s=2.0, check_failure=None)
    s = r.summary()
    assert s["pnl"] == 3.5 and s["realized"] == 2.0 and s["fees"] == 0.5
    assert s["max_drawdown"] == 5.0  # from 0 down to -5 (not 0 from the first point)
    assert (s["orders"], s["refused"], s["fills"], s["volume"]) == (3, 1, 1, 4)
    assert s["events_per_s"] == 5.0 and s["ok"] and r.verdict.startswith("backtest ok")
    counters["host"]["log_lost"] = 2
    assert not r.ok and "2 log records lost" in r.verdict
    r.check_failure = "filled + canceled != lots"
    assert "conservation failed: filled + canceled != lots" in r.verdict


def test_small_logs_are_drained_mid_feed_and_lose_nothing(day):
    """With the smallest logs the loop stops many times inside one feed() for a drain; the
    records are those of a run with large logs, in the same order."""
    n = 6000  # IOC buys far below the market: ACK + CANCELED each, 3 records per order
    orders = np.zeros(n, ORDER_DTYPE)
    orders["ts"] = day["ts"][np.linspace(0, len(day) - 1, n).astype(np.int64)]
    orders["order_id"] = np.arange(1, n + 1)
    orders["side"] = velox.BUY
    orders["type"] = int(OrderType.LIMIT)
    orders["tif"] = int(TimeInForce.IOC)
    orders["action"] = int(OrderAction.NEW)
    orders["qty"] = 1
    orders["price"] = velox.to_fixed("1.00")
    big = velox.backtest(day, "builtin:script", stage_args={"orders": orders},
                         risk=RiskLimits(max_working=1))
    bt = NativeBacktest(builtin_strategy("script", orders=orders), instruments=1, levels=1024,
                        tick=1_000_000, max_orders=1 << 20, log_capacity=8192, max_working=1)
    assert bt.feed(day) == len(day)
    bt.finish()
    assert len(big.orders) > 5000 and len(big.execs) > 2 * 5000  # several drains needed
    assert bt.orders().tobytes() == big.orders.tobytes()
    assert bt.execs().tobytes() == big.execs.tobytes()
    assert bt.pnl().tobytes() == big.pnl.tobytes()
    assert bt.counters()["host"]["log_lost"] == 0 and bt.check_failure is None
