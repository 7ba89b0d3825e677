"""velox.backtest against the pure-Python reference venue (tests/ref_venue.py).

Two halves. The oracle's own unit tests (hand-written expected reports from the headers'
text) run everywhere. The comparisons (hypothesis-generated market-by-order streams and
script strategies, a generated LOBSTER day with builtin:quote) need velox.backtest and skip
until it exists; each asserts velox's orders, execs and fill P&L points byte-identical to the
oracle's and checks conservation on both. The last part does the same for market-by-price
(L2) data: LEVEL events and TRADE prints under each queue model (fifo, risk_averse, prob),
streams computed by hand and generated ones, pure L2 and mixed with L3 events."""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import velox

import ref_venue as rv
from scale import scaled
from ref_venue import (ACK, ADD, BUY, CANCEL, CANCELED, DELETE, EXECUTE, EXPIRED, F_LAST,
                       FILL, GTC, IOC, LEVEL, LIMIT, M_CANCEL, M_MODIFY, MAKER, MARKET, MODIFY,
                       MODIFIED, NEW, PARTIAL_FILL, POST_ONLY, REJECT, REPLACE, SCALE, SELL,
                       SIDE_NONE, TAKER, TRADE)

TICK = SCALE // 100
LEVELS = 64
CENTER = 1000 * TICK

has_backtest = hasattr(velox, "backtest")
needs_backtest = pytest.mark.skipif(not has_backtest, reason="velox.backtest not built yet")


def P(ticks: int) -> int:
    return CENTER + ticks * TICK


def mbo(rows: List[Dict[str, int]]) -> np.ndarray:
    out = np.zeros(len(rows), dtype=velox.MBO_DTYPE)
    for i, r in enumerate(rows):
        for k, v in r.items():
            out[k][i] = v
    return out


def ev(ts: int, action: int, oid: int, side: int = BUY, price: int = 0, qty: int = 0,
       inst: int = 0, ref: int = 0, last: bool = True) -> Dict[str, int]:
    return dict(ts=ts, action=action, order_id=oid, side=side, price=price, qty=qty,
                instrument=inst, ref=ref, flags=F_LAST if last else 0)


def order(ts: int, oid: int, action: int = NEW, side: int = BUY, price: int = 0, qty: int = 1,
          inst: int = 0, otype: int = LIMIT, tif: int = GTC) -> Dict[str, int]:
    return dict(ts=ts, order_id=oid, action=action, side=side, price=price, qty=qty,
                instrument=inst, type=otype, tif=tif)


def orders(rows: List[Dict[str, int]]) -> np.ndarray:
    out = np.zeros(len(rows), dtype=velox.ORDER_DTYPE)
    for i, r in enumerate(rows):
        for k, v in r.items():
            out[k][i] = v
    return out


def script(rows: List[Dict[str, int]]) -> rv.ScriptStrategy:
    return rv.ScriptStrategy(orders(rows))


def reports(res: rv.Result) -> List[Dict[str, int]]:
    return [{k: int(x[k]) for k in rv.EXEC_FIELDS} for x in res.execs]


def rep(kind: int, oid: int, ts_ex: int, ts_local: int, side: int = BUY, **kw: int) -> Dict[str, int]:
    return rv.exec_record(kind=kind, order_id=oid, ts_exchange=ts_ex, ts_local=ts_local,
                          side=side, **kw)


# ---- conservation (used on the oracle and on velox) -------------------------------------

def check_conservation(orders_arr: np.ndarray, execs: np.ndarray, pnl: np.ndarray) -> None:
    """Every NEW ends once (REJECT of the NEW, FILL, CANCELED, EXPIRED); leaves chain
    through the reports; fills never exceed leaves; position = signed fills; the P&L
    identity total = cash + position * mark - fees at every fill point."""
    news = [int(o["order_id"]) for o in orders_arr if o["action"] == NEW]
    state: Dict[int, Dict[str, int]] = {}
    ended: Dict[int, int] = {oid: 0 for oid in news}
    pos: Dict[int, int] = {}
    cash: Dict[int, int] = {}
    fees: Dict[int, int] = {}
    fill_log: List[Any] = []
    single_instrument = len({int(x["instrument"]) for x in execs if x["kind"] in (FILL, PARTIAL_FILL)}) <= 1
    for x in execs:
        oid, kind = int(x["order_id"]), int(x["kind"])
        if x["ts_exchange"] == 0 and kind == REJECT:
            continue  # a local refusal: the order never left
        s = state.get(oid)
        if kind == ACK:
            assert s is None, f"second ACK for {oid}"
            state[oid] = dict(leaves=int(x["leaves_qty"]))
            continue
        if kind == REJECT and s is None and x["reason"] != rv.R_UNKNOWN_ORDER:
            ended[oid] = ended.get(oid, 0) + 1    # a NEW refused by the venue
            continue
        if s is None:
            continue  # a report about an order that already ended (bad report)
        if kind in (FILL, PARTIAL_FILL):
            q = int(x["fill_qty"])
            assert 0 < q <= s["leaves"], (oid, q, s)
            assert int(x["leaves_qty"]) == s["leaves"] - q
            s["leaves"] -= q
            inst, sign = int(x["instrument"]), (1 if x["side"] == BUY else -1)
            pos[inst] = pos.get(inst, 0) + sign * q
            cash[inst] = cash.get(inst, 0) - sign * q * int(x["fill_price"])
            fees[inst] = fees.get(inst, 0) + int(x["fee"])
            fill_log.append((inst, cash[inst], pos[inst], fees[inst]))
        elif kind == MODIFIED:
            s["leaves"] = int(x["leaves_qty"])
        if kind in (FILL, CANCELED, EXPIRED):
            assert int(x["leaves_qty"]) == 0
            ended[oid] = ended.get(oid, 0) + 1
            del state[oid]
    assert not state, f"orders never ended: {sorted(state)}"
    sent: Dict[int, int] = {}
    for oid in news:
        sent[oid] = sent.get(oid, 0) + 1
    assert ended == sent, ({k: (sent.get(k), v) for k, v in ended.items() if v != sent.get(k)})
    # one P&L point per applied fill, carrying the instrument's running figures; the identity
    # realized + unrealized = cash + position * mark (mark > 0 while a position is open)
    points = [p for p in pnl if p["reason"] == 1]
    assert len(points) == len(fill_log), (len(points), len(fill_log))
    for p, (inst, c, q, f) in zip(points, fill_log):
        assert (int(p["instrument"]), int(p["position"]), int(p["fees"])) == (inst, q, f)
        rest = int(p["realized"]) + int(p["unrealized"]) - c
        if q == 0:
            assert rest == 0, (p, c)
        else:
            assert rest % q == 0 and rest // q > 0, (p, c)
        if single_instrument:
            assert int(p["total"]) == int(p["realized"]) + int(p["unrealized"]) - int(p["fees"])


# ---- the oracle's own tests (expected reports written by hand) --------------------------

def book_rows() -> List[Dict[str, int]]:
    return [ev(10, ADD, 1, SELL, P(1), 5), ev(20, ADD, 2, SELL, P(2), 5),
            ev(30, ADD, 3, BUY, P(-1), 5)]


def test_oracle_taker_sweeps_levels_with_taker_fees():
    res = rv.run(mbo(book_rows()), script([order(30, 7, price=P(2), qty=8)]),
                 instruments=1, tick=TICK, levels=LEVELS, taker_fee=0.01)
    fee = SCALE // 100
    assert reports(res) == [
        rep(ACK, 7, 30, 30, leaves_qty=8),
        rep(PARTIAL_FILL, 7, 30, 30, fill_price=P(1), fill_qty=5, leaves_qty=3,
            liquidity=TAKER, fee=5 * fee),
        rep(FILL, 7, 30, 30, fill_price=P(2), fill_qty=3, leaves_qty=0, liquidity=TAKER,
            fee=3 * fee)]
    # P&L: mark = mid(P(-1), P(1)) = P(0); cash -(5 P1 + 3 P2); pos 8
    p = res.pnl[-1]
    cash = -(5 * P(1) + 3 * P(2))
    assert int(p["position"]) == 8
    assert int(p["fees"]) == 8 * fee
    assert int(p["realized"]) == 0            # nothing closed: cash + open_cost = 0
    assert int(p["unrealized"]) == 8 * P(0) + cash
    assert int(p["total"]) == cash + 8 * P(0) - 8 * fee
    check_conservation(res.orders, res.execs, res.pnl)


def test_oracle_latencies_and_order_of_deliveries():
    # sent at 30, reaches the venue at 35 (after the event at 35), reports at 35 + 7
    rows = book_rows() + [ev(35, ADD, 4, SELL, P(1), 2), ev(50, TRADE, 0, SELL, P(1), 1)]
    res = rv.run(mbo(rows), script([order(30, 7, price=P(1), qty=8, tif=IOC)]),
                 instruments=1, tick=TICK, levels=LEVELS, entry_latency_ns=5,
                 response_latency_ns=7)
    assert reports(res) == [
        rep(ACK, 7, 35, 42, leaves_qty=8),
        rep(PARTIAL_FILL, 7, 35, 42, fill_price=P(1), fill_qty=7, leaves_qty=1,
            liquidity=TAKER),
        rep(CANCELED, 7, 35, 42)]


def test_oracle_queue_ahead_and_maker_fills():
    rows = book_rows() + [
        ev(40, EXECUTE, 3, BUY, 0, 2),          # ahead of ours: a 5 -> 3
        ev(50, ADD, 5, BUY, P(-1), 4),           # behind ours
        ev(60, EXECUTE, 5, BUY, P(-1), 4),       # behind ours: consumes a (3), 1 fills ours
        ev(70, M_CANCEL, 3, BUY, P(-1), 3),      # ahead, a already 0
        ev(80, EXECUTE, 77, BUY, P(-1), 10),     # unknown order: all beyond a -> fills 5
    ]
    res = rv.run(mbo(rows), script([order(30, 7, price=P(-1), qty=6)]),
                 instruments=1, tick=TICK, levels=LEVELS, maker_fee=-0.002)
    reb = -SCALE * 2 // 1000
    assert reports(res) == [
        rep(ACK, 7, 30, 30, leaves_qty=6),
        rep(PARTIAL_FILL, 7, 60, 60, fill_price=P(-1), fill_qty=1, leaves_qty=5,
            liquidity=MAKER, fee=reb),
        rep(FILL, 7, 80, 80, fill_price=P(-1), fill_qty=5, leaves_qty=0, liquidity=MAKER,
            fee=5 * reb)]
    check_conservation(res.orders, res.execs, res.pnl)


def test_oracle_execute_through_our_price_and_replace_behind():
    rows = book_rows() + [
        ev(40, REPLACE, 3, BUY, P(-1), 5, ref=9),   # ahead one leaves: a 5 -> 0, 9 behind
        ev(50, ADD, 10, BUY, P(-2), 3),
        ev(60, EXECUTE, 10, BUY, 0, 2),             # a bid below ours traded: ours fills 2
    ]
    res = rv.run(mbo(rows), script([order(30, 7, price=P(-1), qty=3)]),
                 instruments=1, tick=TICK, levels=LEVELS)
    assert reports(res)[1:] == [
        rep(PARTIAL_FILL, 7, 60, 60, fill_price=P(-1), fill_qty=2, leaves_qty=1,
            liquidity=MAKER),
        rep(EXPIRED, 7, 60, 60)]


def test_oracle_refusals_post_only_and_modify():
    res = rv.run(mbo(book_rows()), script([
        order(30, 1, price=P(1), qty=1, tif=POST_ONLY),        # would cross: venue REJECT
        order(30, 2, qty=0, price=P(0)),                         # local QTY
        order(30, 3, inst=5, price=P(0)),                        # local UNKNOWN_INSTRUMENT
        order(30, 4, action=CANCEL),                             # local UNKNOWN_ORDER
        order(30, 5, price=P(-2), qty=4),                        # rests
        order(30, 5, price=P(-2), qty=4),                        # DUPLICATE_ID
        order(30, 5, action=MODIFY, price=P(-2), qty=2),         # keeps its place
        order(30, 5, action=MODIFY, price=P(3), qty=3),          # crosses: takes 3 at P(1)
        order(30, 0, price=P(0)),                                # ORDER_ID
        order(30, 6, otype=MARKET, tif=IOC, side=SELL, qty=9),  # takes 5 at P(-1), rest canceled
    ]), instruments=1, tick=TICK, levels=LEVELS)
    got = reports(res)
    loc = [rep(REJECT, 2, 0, 30, reason=rv.R_QTY),
           rep(REJECT, 3, 0, 30, reason=rv.R_UNKNOWN_INSTRUMENT, instrument=5),
           rep(REJECT, 4, 0, 30, side=SIDE_NONE, reason=rv.R_UNKNOWN_ORDER),
           rep(REJECT, 5, 0, 30, reason=rv.R_DUPLICATE_ID),
           rep(REJECT, 0, 0, 30, reason=rv.R_ORDER_ID)]
    assert got[:5] == loc
    assert got[5:] == [
        rep(REJECT, 1, 30, 30, reason=rv.R_WOULD_CROSS),
        rep(ACK, 5, 30, 30, leaves_qty=4),
        rep(MODIFIED, 5, 30, 30, leaves_qty=2),
        rep(MODIFIED, 5, 30, 30, leaves_qty=3),
        rep(FILL, 5, 30, 30, fill_price=P(1), fill_qty=3, liquidity=TAKER),
        rep(ACK, 6, 30, 30, side=SELL, leaves_qty=9),
        rep(PARTIAL_FILL, 6, 30, 30, side=SELL, fill_price=P(-1), fill_qty=5, leaves_qty=4,
            liquidity=TAKER),
        rep(CANCELED, 6, 30, 30, side=SELL)]
    assert [int(o["order_id"]) for o in res.orders] == [1, 5, 5, 5, 6]
    check_conservation(res.orders, res.execs, res.pnl)


def test_oracle_send_budget_per_callback():
    n = rv.MAX_SENDS + 4
    res = rv.run(mbo(book_rows()), script([order(30, 1000 + i, action=CANCEL) for i in range(n)]),
                 instruments=1, tick=TICK, levels=LEVELS)
    reasons = [int(x["reason"]) for x in res.execs]
    # call 4097 gets a LIMIT report; 4098.. are past the local REJECT queue (host.h): unreported
    assert reasons == [rv.R_UNKNOWN_ORDER] * rv.MAX_SENDS + [rv.R_LIMIT]


def test_oracle_risk_limits():
    res = rv.run(mbo(book_rows()), script([
        order(30, 1, price=P(-3), qty=3), order(30, 2, price=P(-3), qty=3),
        order(30, 3, price=P(-3), qty=6), order(30, 4, side=SELL, price=P(5), qty=9)]),
        instruments=1, tick=TICK, levels=LEVELS,
        risk=rv.Risk(max_position=5, max_order_qty=8))
    refused = [(int(x["order_id"]), int(x["reason"])) for x in res.execs if x["ts_exchange"] == 0]
    assert refused == [(2, rv.R_RISK), (3, rv.R_RISK), (4, rv.R_RISK)]


def test_oracle_positions_average_cost():
    p = rv.Position()
    p.fill(BUY, 10, 3, 0)
    p.fill(BUY, 14, 1, 0)
    assert (p.position, p.open_cost) == (4, 44)
    p.fill(SELL, 20, 2, 1)
    assert (p.position, p.open_cost, p.realized()) == (2, 22, 18)
    p.fill(SELL, 9, 5, 0)           # flips: closes 2, opens 3 short at 9
    assert (p.position, p.open_cost) == (-3, -27)
    p.mark = 8
    assert p.total() == p.realized() + p.unrealized() - p.fees
    p.fill(BUY, 7, 3, 0)
    assert (p.position, p.open_cost) == (0, 0)
    assert rv.trunc_div(-7, 2) == -3 and rv.fee_of((0, -5000), 3, 7) == 0
    assert rv.fee_of((2, 50_000), 3 * SCALE, 7) == 14 + 3 * 7 * 50_000


def test_oracle_quote_strategy_requotes_on_best_moves():
    rows = book_rows() + [ev(40, ADD, 4, BUY, P(0), 1), ev(50, DELETE, 4, BUY)]
    res = rv.run(mbo(rows), rv.QuoteStrategy(size=2), instruments=1, tick=TICK, levels=LEVELS)
    got = [(int(o["order_id"]), int(o["action"]), int(o["side"]), int(o["price"]))
           for o in res.orders]
    # ts 30: bid appears -> buy 2 at P(-1); ts 40: bid moves up -> cancel 2, buy 3 at P(0);
    # ts 50: bid back -> cancel 3, buy 4 at P(-1)
    assert got == [(1, NEW, SELL, P(1)), (2, NEW, BUY, P(-1)), (2, CANCEL, BUY, 0),
                   (3, NEW, BUY, P(0)), (3, CANCEL, BUY, 0), (4, NEW, BUY, P(-1))]


# ---- generated streams ------------------------------------------------------------------

@st.composite
def market_streams(draw: Any, max_events: int = 40) -> np.ndarray:
    """A few instruments on a small price grid: ADD, CANCEL, DELETE, EXECUTE (price 0 or
    the order's), MODIFY, REPLACE, TRADE, events about unknown orders; ts non-decreasing
    with ties and occasional regressions; F_LAST on most events."""
    n_inst = draw(st.integers(1, 3))
    live: Dict[int, List[int]] = {}   # id -> [inst, side, price, qty]
    next_id = 100
    ts = 1000
    rows = []
    for _ in range(draw(st.integers(1, max_events))):
        step = draw(st.sampled_from([0, 0, 1, 3, 10, 50, -7]))
        ts = max(1, ts + step)
        kind = draw(st.sampled_from(["add"] * 4 + ["cancel", "delete", "execute", "execute",
                                                   "modify", "replace", "trade", "unknown"]))
        last = draw(st.integers(0, 9)) < 8
        if kind != "add" and kind not in ("trade", "unknown") and not live:
            kind = "add"
        if kind == "add":
            inst = draw(st.integers(0, n_inst - 1))
            side = draw(st.sampled_from([BUY, SELL]))
            price = P(draw(st.integers(-2, 0)) if side == BUY else draw(st.integers(0, 2)))
            qty = draw(st.integers(1, 9))
            live[next_id] = [inst, side, price, qty]
            rows.append(ev(ts, ADD, next_id, side, price, qty, inst, last=last))
            next_id += 1
            continue
        if kind in ("trade", "unknown"):
            inst = draw(st.integers(0, n_inst - 1))
            side = draw(st.sampled_from([BUY, SELL]))
            price = P(draw(st.integers(-4, 4)))
            act = TRADE if kind == "trade" else draw(st.sampled_from([M_CANCEL, DELETE, EXECUTE]))
            rows.append(ev(ts, act, 90 if kind == "unknown" else 0, side, price,
                           draw(st.integers(1, 9)), inst, last=last))
            continue
        oid = draw(st.sampled_from(sorted(live)))
        inst, side, price, qty = live[oid]
        eside = draw(st.sampled_from([side, side, SIDE_NONE]))
        if kind == "cancel":
            q = draw(st.integers(1, qty))
            rows.append(ev(ts, M_CANCEL, oid, eside, price, q, inst, last=last))
            live[oid][3] -= q
        elif kind == "execute":
            q = draw(st.integers(1, qty))
            rows.append(ev(ts, EXECUTE, oid, eside, draw(st.sampled_from([0, price])), q, inst,
                           last=last))
            live[oid][3] -= q
        elif kind == "delete":
            rows.append(ev(ts, DELETE, oid, eside, price, qty, inst, last=last))
            live[oid][3] = 0
        elif kind == "modify":
            np_ = draw(st.sampled_from([price, price, P(draw(st.integers(-4, 4)))]))
            nq = draw(st.integers(1, 9))
            rows.append(ev(ts, M_MODIFY, oid, side, np_, nq, inst, last=last))
            live[oid][2:] = [np_, nq]
        else:
            np_ = P(draw(st.integers(-4, 4)))
            nq = draw(st.integers(1, 9))
            rows.append(ev(ts, REPLACE, oid, eside, np_, nq, inst, ref=next_id, last=last))
            live[next_id] = [inst, side, np_, nq]
            live[oid][3] = 0
            next_id += 1
        if live[oid][3] == 0:
            del live[oid]
    return mbo(rows)


@st.composite
def script_orders(draw: Any, events: np.ndarray, n_inst: int, max_orders: int = 14) -> np.ndarray:
    """The strategy's orders: NEW LIMIT / MARKET with every tif, CANCEL and MODIFY of its
    own ids (working or not), and hostile ones (unknown instrument, qty 0, order id 0,
    duplicate ids, a bad side)."""
    lo, hi = int(events["ts"].min()), int(events["ts"].max())
    rows = []
    ids = [1]
    for _ in range(draw(st.integers(0, max_orders))):
        ts = draw(st.sampled_from([lo, lo, draw(st.integers(lo, hi))]))
        kind = draw(st.sampled_from(["limit"] * 4 + ["market", "cancel", "cancel", "modify",
                                                      "modify", "hostile"]))
        inst = draw(st.integers(0, n_inst - 1))
        side = draw(st.sampled_from([BUY, SELL]))
        if kind in ("limit", "market"):
            oid = draw(st.sampled_from(ids + [max(ids) + 1] * 3))
            ids.append(oid)
            if kind == "limit":
                rows.append(order(ts, oid, NEW, side, P(draw(st.integers(-3, 3))),
                                  draw(st.integers(1, 12)), inst,
                                  tif=draw(st.sampled_from([GTC, GTC, IOC, POST_ONLY]))))
            else:
                rows.append(order(ts, oid, NEW, side, 0, draw(st.integers(1, 12)), inst,
                                  otype=MARKET, tif=IOC))
        elif kind == "cancel":
            rows.append(order(ts, draw(st.sampled_from(ids + [555])), CANCEL, inst=inst))
        elif kind == "modify":
            rows.append(order(ts, draw(st.sampled_from(ids)), MODIFY, side,
                              P(draw(st.integers(-5, 5))), draw(st.integers(1, 12)), inst))
        else:
            h = draw(st.sampled_from(["instrument", "qty", "id0", "side", "price"]))
            o = order(ts, max(ids) + 1, NEW, side, P(0), 3, inst)
            if h == "instrument":
                o["instrument"] = n_inst + 3
            elif h == "qty":
                o["qty"] = 0
            elif h == "id0":
                o["order_id"] = 0
            elif h == "side":
                o["side"] = 7
            else:
                o["price"] = -P(0)
            rows.append(o)
    rows.sort(key=lambda r: r["ts"])
    return orders(rows)


def n_instruments(events: np.ndarray) -> int:
    return int(events["instrument"].max()) + 1 if len(events) else 1


# ---- comparison with velox ---------------------------------------------------------------

def run_velox(events: np.ndarray, stage: str, stage_args: Dict[str, Any], *, instruments: int,
              tick: int = TICK, levels: int = LEVELS, risk: rv.Risk | None = None,
              seed: int = 0, edges: str = "flag", pnl_interval_ns: int = 0,
              **venue_kw: Any) -> Any:
    kw: Dict[str, Any] = {}
    if risk is not None:
        kw["risk"] = velox.RiskLimits(max_position=risk.max_position,
                                      max_order_qty=risk.max_order_qty,
                                      max_working=risk.max_working)
    return velox.backtest(events, stage, stage_args=stage_args, venue=velox.SimVenue(**venue_kw),
                          instruments=instruments, tick=tick / SCALE, levels=levels,
                          pnl_interval_ns=pnl_interval_ns, seed=seed, edges=edges, **kw)


def describe(arr: np.ndarray, i: int) -> str:
    if i >= len(arr):
        return "(none)"
    return str({k: int(arr[k][i]) for k in arr.dtype.names})


def assert_same(name: str, got: np.ndarray, want: np.ndarray) -> None:
    """Field by field first (naming the first differing record), then byte for byte (the
    padding velox writes must be zero)."""
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    n = min(len(got), len(want))
    fields = want.dtype.names
    i = next((k for k in range(n) if any(got[f][k] != want[f][k] for f in fields)), n)
    if i < n or len(got) != len(want):
        pytest.fail(f"{name} differ at record {i} (velox {len(got)}, oracle {len(want)}):\n"
                    f"  velox:  {describe(got, i)}\n  oracle: {describe(want, i)}")
    if got.tobytes() != want.tobytes():
        raw, ref = got.tobytes(), want.tobytes()
        k = next(k for k in range(len(raw)) if raw[k] != ref[k])
        pytest.fail(f"{name}: equal fields but velox's padding is not zero: record "
                    f"{k // want.dtype.itemsize}, byte {k % want.dtype.itemsize} = {raw[k]:#x}")


def compare(events: np.ndarray, strategy_orders: np.ndarray | None = None, *,
            quote: Dict[str, int] | None = None, risk: rv.Risk | None = None,
            instruments: int | None = None, tick: int = TICK, levels: int = LEVELS,
            seed: int = 0, edges: str = "flag", pnl_interval_ns: int = 0,
            **venue_kw: Any) -> rv.Result:
    n = instruments or n_instruments(events)
    if quote is not None:
        strat: Any = rv.QuoteStrategy(**quote)
        stage, args = "builtin:quote", dict(quote)
    else:
        strat = rv.ScriptStrategy(strategy_orders)
        stage, args = "builtin:script", {"orders": strategy_orders}
    want = rv.run(events.copy(), strat, instruments=n, tick=tick, levels=levels, risk=risk,
                  seed=seed, edges=edges, pnl_interval_ns=pnl_interval_ns, **venue_kw)
    check_conservation(want.orders, want.execs, want.pnl)
    if not has_backtest:
        return want
    got = run_velox(events, stage, args, instruments=n, tick=tick, levels=levels, risk=risk,
                    seed=seed, edges=edges, pnl_interval_ns=pnl_interval_ns, **venue_kw)
    check_conservation(got.orders, got.execs, got.pnl)
    assert_same("orders", got.orders, want.orders)
    assert_same("execs", got.execs, want.execs)
    assert_same("pnl", got.pnl, want.pnl)
    return want


FEES = st.sampled_from([{}, {"maker_fee": -0.002, "taker_fee": 0.003},
                        {"maker_fee_bps": -0.5, "taker_fee_bps": 1.5},
                        {"taker_fee": 0.01, "taker_fee_bps": 2.0, "maker_fee": 0.001}])
LATENCY = st.sampled_from([{}, {"entry_latency_ns": 5}, {"response_latency_ns": 7},
                           {"entry_latency_ns": 3, "response_latency_ns": 11},
                           {"entry_latency_ns": 100, "response_latency_ns": 100},
                           {"entry_latency_ns": 2, "entry_jitter_ns": 9},
                           {"response_latency_ns": 1, "response_jitter_ns": 30,
                            "entry_jitter_ns": 1_000_003}])


@st.composite
def scenarios(draw: Any) -> Any:
    events = draw(market_streams())
    n = n_instruments(events)
    latency = dict(draw(LATENCY))
    if any("jitter" in k for k in latency):
        latency["seed"] = draw(st.integers(0, 2**64 - 1))
    latency["edges"] = draw(st.sampled_from(["flag", "flag", "event"]))
    return events, draw(script_orders(events, n)), draw(FEES), latency


@settings(max_examples=scaled(300, 60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_script_strategy_matches_the_oracle(case: Any) -> None:
    events, strategy_orders, fees, latency = case
    compare(events, strategy_orders, **fees, **latency)


@settings(max_examples=scaled(60, 15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from([rv.Risk(max_position=6), rv.Risk(max_order_qty=5),
                                     rv.Risk(max_working=2),
                                     rv.Risk(max_position=10, max_order_qty=4, max_working=3)]))
def test_risk_limits_match_the_oracle(case: Any, risk: rv.Risk) -> None:
    events, strategy_orders, fees, latency = case
    compare(events, strategy_orders, risk=risk, **fees, **latency)


@settings(max_examples=scaled(60, 15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market_streams(max_events=60), st.integers(1, 4), st.sampled_from([1, 3, 8, 1000]),
       LATENCY, FEES, st.sampled_from([0, 0, 7, 100]))
def test_quote_strategy_matches_the_oracle(events: np.ndarray, size: int, max_position: int,
                                          latency: Dict[str, int], fees: Dict[str, float],
                                          interval: int) -> None:
    compare(events, quote={"size": size, "max_position": max_position}, **fees, **latency,
            pnl_interval_ns=interval)


def test_flood_beyond_the_send_budget_matches_the_oracle() -> None:
    rows = [order(30, 1000 + i, CANCEL) for i in range(rv.MAX_SENDS + 10)]
    rows += [order(30, 1, NEW, BUY, P(-1), 2), order(40, 2, NEW, BUY, P(-1), 2)]
    events = mbo(book_rows() + [ev(40, EXECUTE, 3, BUY, 0, 5)])
    want = compare(events, orders(rows))
    limit = [x for x in want.execs if x["reason"] == rv.R_LIMIT]
    # call 4097 is refused LIMIT with a report; later ones past the local REJECT queue's room
    # (MAX_SENDS + 1) are counted, unreported (host.h)
    assert len(limit) == 1 and want.execs["reason"][rv.MAX_SENDS] == rv.R_LIMIT
    assert any(x["order_id"] == 2 and x["kind"] == ACK for x in want.execs)


@pytest.mark.parametrize("seed", [1, 2])
def test_lobster_day_with_builtin_quote_matches_the_oracle(seed: int) -> None:
    from velox import feedgen
    events = feedgen.lobster_events(3000, seed=seed)
    prices = events["price"][events["price"] > 0]
    tick = SCALE // 100
    span = int((prices.max() - prices.min()) // tick) + 1
    levels = 1 << max(6, (4 * span).bit_length())
    want = compare(events, quote={"size": 2, "max_position": 10}, instruments=1, tick=tick,
                   levels=levels, entry_latency_ns=20_000, response_latency_ns=30_000,
                   maker_fee=-0.002, taker_fee=0.003)
    kinds = set(int(k) for k in want.execs["kind"])
    assert {ACK, CANCELED}.issubset(kinds), kinds


# Queue positions on fixed streams: ours (BUY 4 at P(-1), arriving at 30 behind order 3's
# 5 lots) and what happens to the lots ahead of it, then an order placed behind it executes.
QUEUE_CASES = {
    "cancel ahead": [ev(40, M_CANCEL, 3, BUY, P(-1), 3)],
    "delete ahead": [ev(40, DELETE, 3, BUY, P(-1), 5)],
    "execute ahead": [ev(40, EXECUTE, 3, BUY, 0, 2)],
    "modify down ahead": [ev(40, M_MODIFY, 3, BUY, P(-1), 1)],
    "modify away ahead": [ev(40, M_MODIFY, 3, BUY, P(-2), 5)],
    "replace ahead": [ev(40, REPLACE, 3, SIDE_NONE, P(-1), 5, ref=50)],
    "unknown cancel": [ev(40, M_CANCEL, 77, BUY, P(-1), 4)],
    "unknown execute": [ev(40, EXECUTE, 77, BUY, P(-1), 7)],
    "through": [ev(40, ADD, 9, BUY, P(-2), 9), ev(45, EXECUTE, 9, BUY, 0, 6)],
    "trade print": [ev(40, TRADE, 0, BUY, P(-1), 9)],
}


@pytest.mark.parametrize("case", sorted(QUEUE_CASES))
def test_queue_positions_match_the_oracle(case: str) -> None:
    rows = book_rows() + QUEUE_CASES[case] + [ev(60, ADD, 60, BUY, P(-1), 6),
                                              ev(70, EXECUTE, 60, BUY, 0, 6)]
    want = compare(mbo(rows), orders([order(30, 7, price=P(-1), qty=4)]),
                   maker_fee=-0.002)
    fills = [int(x["fill_qty"]) for x in want.execs if x["kind"] in (FILL, PARTIAL_FILL)]
    assert fills, case


# ---- market-by-price (L2) data: LEVEL events, TRADE prints and the three queue models -------
# venue.h "Queue models"; mbo.h LEVEL. Hand-computed streams first (velox and the oracle must
# both give the reports written here), then generated ones.

MODELS = ("fifo", "risk_averse", "prob")


def lv(ts: int, side: int, price: int, qty: int, inst: int = 0,
       last: bool = True) -> Dict[str, int]:
    """LEVEL: (side, price) of instrument inst now shows qty lots."""
    return ev(ts, LEVEL, 0, side, price, qty, inst, last=last)


def fills(execs: np.ndarray) -> List[Any]:
    """(ts_exchange, order id, lots, price, liquidity) of every fill report."""
    return [(int(x["ts_exchange"]), int(x["order_id"]), int(x["fill_qty"]), int(x["fill_price"]),
             int(x["liquidity"])) for x in execs if x["kind"] in (FILL, PARTIAL_FILL)]


# BUY 6 at P(-1) reaches the venue at 10 behind the 10 lots the level shows (a = 10). Per model
# (prob: queue_power 2, seed 0: the queue stream's draws are u1 = 0.1014 x 2^64,
# u2 = 0.6261 x 2^64):
#  ts  event                         fifo           risk_averse       prob
#  20  LEVEL 10 -> 15 (increase)     a 10           a = min(10,15)=10 x = 0: a = min(10,15) = 10
#  30  LEVEL 15 -> 12 (3 left)       a 10-3 = 7     a = min(10,12)=10 x=3, b=5, share=100/125,
#                                                                     cut=2.4: 2 + (u1 < 0.4: 1)
#                                                                     a = 7
#  40  TRADE BUY P(-1) 4             nothing        c=4: a 6          t=4, c=4: a 3
#  45  TRADE BUY price 0; TRADE NONE P(0) (between the sides): ignored by every model
#  50  LEVEL 12 -> 5 (7 left)        a 7-7 = 0      a = min(6,5) = 5  x = 7-4 = 3, b = 9,
#                                                                     share = 9/90, cut = 0.3:
#                                                                     0 + (u2 >= 0.3: 0): a 3
#  60  TRADE NONE P(-1) 6 (<= best   nothing        c=5, fills 1      c=3, fills 3
#      bid P(-1): the BUY side)
#  70  TRADE NONE P(-2) 3 (through)  nothing        fills 3           fills 3 (FILL)
#  80  EXECUTE unknown BUY P(-1) 4   c=0, fills 4   fills 2 (FILL)    (done)
#      (an L3 event: as before in every model)
L2_STREAM = [lv(10, BUY, P(-1), 10), lv(10, SELL, P(1), 8), lv(20, BUY, P(-1), 15),
             lv(30, BUY, P(-1), 12), ev(40, TRADE, 0, BUY, P(-1), 4),
             ev(45, TRADE, 0, BUY, 0, 9), ev(45, TRADE, 0, SIDE_NONE, P(0), 9),
             lv(50, BUY, P(-1), 5), ev(60, TRADE, 0, SIDE_NONE, P(-1), 6),
             ev(70, TRADE, 0, SIDE_NONE, P(-2), 3), ev(80, EXECUTE, 77, BUY, P(-1), 4)]
L2_FILLS = {
    "fifo": [(80, 7, 4, P(-1), MAKER)],
    "risk_averse": [(60, 7, 1, P(-1), MAKER), (70, 7, 3, P(-1), MAKER), (80, 7, 2, P(-1), MAKER)],
    "prob": [(60, 7, 3, P(-1), MAKER), (70, 7, 3, P(-1), MAKER)],
}


@pytest.mark.parametrize("model", MODELS)
def test_l2_queue_models_by_hand(model: str) -> None:
    want = compare(mbo(L2_STREAM), orders([order(10, 7, price=P(-1), qty=6)]),
                   queue_model=model, queue_power=2, seed=0)
    got = reports(want)
    assert got[0] == rep(ACK, 7, 10, 10, leaves_qty=6)
    assert fills(want.execs) == L2_FILLS[model]
    assert got[-1]["kind"] == (EXPIRED if model == "fifo" else FILL)


# The prob model's estimate, one LEVEL decrease at a time: BUY 6 at P(-1) behind a = 10 (the
# level shows 10), the level grows to `up` (behind us), then shows `down`: d = up - down
# lots left, x = d - t (t: TRADE lots at P(-1) since the last LEVEL), with `extra` events
# in between (by ts). Then TRADE BUY P(-1) `lots` at 40 and 9 at 50 show the a reached: the
# first fills lots - a when a < lots. Draws: seed 0's u1 = 0.1014 x 2^64, u2 = 0.6261 x 2^64;
# seed 2's u1 = 0.5887 x 2^64; seed 5's u1 = 0.9784 x 2^64.
PROB_CASES = {
    # x = 2, b = 5, share = 0.8, cut = 1.6: 1 + (u < 0.6: 1) -> a = 8
    "draw adds one": (15, 13, 2, 0, [], 9, [(40, 1), (50, 5)]),
    # the same, u >= 0.6: a = 9
    "draw adds nothing": (15, 13, 2, 5, [], 9, [(50, 6)]),
    # the same, u = 0.5887: below 0.6 (n = 2), above n = 1's 0.333 (share 10/15): a = 8
    "draw between the powers' fractions": (15, 13, 2, 2, [], 9, [(40, 1), (50, 5)]),
    # n = 0: share = 1/2, cut = 1.0: no fraction, no draw: a = 9
    "power 0": (15, 13, 0, 0, [], 9, [(50, 6)]),
    # n = 8: share = 10^8 / (10^8 + 5^8), cut = 1.992: 1 + (u < 0.992: 1) -> a = 8
    "power 8": (15, 13, 8, 5, [], 9, [(40, 1), (50, 5)]),
    # up 12, down 5: x = 7, b = 2, n = 0: cut = 3.5 but x - cut > b: cut = x - b = 5: a = 5
    # (no fraction: no draw)
    "lots behind cannot hold it": (12, 5, 0, 0, [], 9, [(40, 4), (50, 2)]),
    # the same, then the level 5 -> 8 -> 7 at 35, 37: x = 1, b = 3, cut = 0.5: 0 + (u1 < 0.5:
    # 1) -> a = 4 (u1: the clamp at 30 drew nothing)
    "the clamp draws nothing": (12, 5, 0, 0, [lv(35, BUY, P(-1), 8), lv(37, BUY, P(-1), 7)], 9,
                                [(40, 5), (50, 1)]),
    # a TRADE of 2 at 25 (c = 2: a = 8, t = 2), then 2 lots leave: x = 0: only the cap (a 8)
    "trades explain the decrease": (15, 13, 2, 0, [ev(25, TRADE, 0, BUY, P(-1), 2)], 9,
                                    [(40, 1), (50, 5)]),
    # the same, then 13 -> 11 at 35: t was reset by the LEVEL at 30: x = 2, a = 8, b = 5,
    # share = 64/89, cut = 1.438: 1 + (u1 < 0.438: 1) -> a = 6
    "a LEVEL resets the trades": (15, 13, 2, 0, [ev(25, TRADE, 0, BUY, P(-1), 2),
                                                 lv(35, BUY, P(-1), 11)], 9, [(40, 3), (50, 3)]),
    # a TRADE of 2 at 25 (a = 8, t = 2), 3 lots leave: x = 1, b = 7, share = 64/113, cut = 0.566:
    # 0 + (u < 0.566: 1) -> a = 7
    "trades explain part of it": (15, 12, 2, 0, [ev(25, TRADE, 0, BUY, P(-1), 2)], 9,
                                  [(40, 2), (50, 4)]),
    # a TRADE of 5 at 25 (a = 5, t = 5), the level falls 15 -> 2: x = 8, b = 10, share =
    # 25/125, cut = 1.6: 1 + (u < 0.6: 1) -> a = 3, then the cap a = min(a, q) = 2
    "cap": (15, 2, 2, 0, [ev(25, TRADE, 0, BUY, P(-1), 5)], 4, [(40, 2), (50, 4)]),
}


@pytest.mark.parametrize("case", sorted(PROB_CASES))
def test_prob_queue_model_by_hand(case: str) -> None:
    up, down, power, seed, extra, lots, want_fills = PROB_CASES[case]
    rows = [lv(10, BUY, P(-1), 10), lv(10, SELL, P(1), 8), lv(20, BUY, P(-1), up),
            lv(30, BUY, P(-1), down), ev(40, TRADE, 0, BUY, P(-1), lots),
            ev(50, TRADE, 0, BUY, P(-1), 9)]
    rows = sorted(rows + extra, key=lambda r: r["ts"])
    want = compare(mbo(rows), orders([order(10, 7, price=P(-1), qty=6)]), queue_model="prob",
                   queue_power=power, seed=seed)
    assert [(t, q) for t, _, q, _, _ in fills(want.execs)] == want_fills


# LEVEL on a book with identified (L3) orders: the level's seeded lots are qty minus their
# lots (mbo.h). ADD 3 (BUY 4 at P(-1)) then LEVEL P(-1) 10: 6 seeded, shows 10; ADD 4 (BUY 5
# at P(-2)) then LEVEL P(-2) 3: 0 seeded, shows 5. Our BUY 5 at P(-1) rests behind a = 10;
# an unknown EXECUTE of 12 there (an L3 event: as before in every model) consumes the 10
# and fills 2; the book then shows P(-1): 4 (order 3; seeded 6 - 12 -> 0), P(-2): 5, which a
# MARKET SELL of 20 takes (then CANCELED 11).
MIXED_STREAM = [ev(10, ADD, 1, SELL, P(1), 5), ev(10, ADD, 3, BUY, P(-1), 4),
                lv(10, BUY, P(-1), 10), ev(10, ADD, 4, BUY, P(-2), 5), lv(10, BUY, P(-2), 3),
                ev(20, EXECUTE, 77, BUY, P(-1), 12), ev(40, TRADE, 0, SELL, P(5), 1)]


@pytest.mark.parametrize("model", MODELS)
def test_level_keeps_identified_orders_by_hand(model: str) -> None:
    want = compare(mbo(MIXED_STREAM),
                   orders([order(10, 7, price=P(-1), qty=5),
                           order(30, 8, side=SELL, qty=20, otype=MARKET, tif=IOC)]),
                   queue_model=model)
    assert fills(want.execs) == [(20, 7, 2, P(-1), MAKER), (40, 8, 4, P(-1), TAKER),
                                 (40, 8, 5, P(-2), TAKER)]
    assert reports(want)[-2] == rep(CANCELED, 8, 40, 40, side=SELL)


@st.composite
def level_streams(draw: Any, max_events: int = 40, mixed: bool = False) -> np.ndarray:
    """L2 data: LEVEL events (mostly moving a level up or down from what it shows, sometimes
    to 0; a few with SIDE_NONE, which the book rejects) and TRADE prints (side BUY / SELL /
    SIDE_NONE, at a level, between the sides, through a level, or price 0) on a few
    instruments; ts ties and regressions; quantities small, or up to 2^32 - 1 (large a and b
    for the prob model's doubles). mixed: L3 ADD / CANCEL / EXECUTE / DELETE of known orders
    and events of unknown ones among them."""
    n_inst = draw(st.sampled_from([1, 1, 2, 3]))
    big = draw(st.sampled_from([False, False, False, True]))
    top = 2**32 - 1 if big else 20
    shown: Dict[Any, int] = {}
    live: Dict[int, List[int]] = {}
    next_id = 100
    ts = 1000
    rows = []
    kinds = ["level"] * 5 + ["trade"] * 3
    if mixed:
        kinds += ["add", "add", "cancel", "execute", "delete", "unknown", "unknown"]
    for _ in range(draw(st.integers(1, max_events))):
        ts = max(1, ts + draw(st.sampled_from([0, 0, 1, 3, 10, 50, -7])))
        last = draw(st.integers(0, 9)) < 8
        inst = draw(st.integers(0, n_inst - 1))
        side = draw(st.sampled_from([BUY, SELL]))
        kind = draw(st.sampled_from(kinds))
        if kind in ("cancel", "execute", "delete") and not live:
            kind = "add"
        # levels seen so far: LEVEL'd ones and those where identified orders rest
        keys = sorted(set(shown) | {(v[0], v[1], v[2]) for v in live.values()})
        if kind == "level":
            if keys and draw(st.integers(0, 2)):
                inst, side, price = draw(st.sampled_from(keys))   # move a level again
            else:
                k = draw(st.sampled_from([-2, -1, -1, 0, 0, 1, -4]))
                price = P(k if side == BUY else -k)
            old = shown.get((inst, side, price), 0)
            how = draw(st.sampled_from(["down", "down", "up", "up", "zero", "any", "none"]))
            if how == "down":
                qty = draw(st.integers(0, old)) if old else 0
            elif how == "up":
                qty = min(top, old + draw(st.integers(1, top)))
            elif how == "zero":
                qty = 0
            else:
                qty = draw(st.integers(0, top))
            if how == "none":
                rows.append(lv(ts, SIDE_NONE, price, qty, inst, last=last))
            else:
                shown[(inst, side, price)] = qty
                rows.append(lv(ts, side, price, qty, inst, last=last))
        elif kind == "trade":
            tside = draw(st.sampled_from([BUY, SELL, SIDE_NONE]))
            price = draw(st.sampled_from([0] + [P(k) for k in (-3, -2, -1, -1, 0, 1, 1, 2, 3)]))
            qty = draw(st.integers(1, 9)) if draw(st.integers(0, 3)) else draw(st.integers(1, top))
            if mixed and tside != SIDE_NONE and price and draw(st.booleans()):
                # the same lots as an L3 execute of an unknown order (fills in every model)
                rows.append(ev(ts, EXECUTE, 90, tside, price, qty, inst, last=last))
            else:
                rows.append(ev(ts, TRADE, 0, tside, price, qty, inst, last=last))
        elif kind == "add":
            price = P(draw(st.integers(-3, 0)) if side == BUY else draw(st.integers(0, 3)))
            qty = draw(st.integers(1, 9))
            live[next_id] = [inst, side, price, qty]
            rows.append(ev(ts, ADD, next_id, side, price, qty, inst, last=last))
            next_id += 1
        elif kind == "unknown":
            act = draw(st.sampled_from([M_CANCEL, DELETE, EXECUTE, EXECUTE, EXECUTE]))
            price = P(draw(st.integers(-4, 4)))
            if keys and draw(st.integers(0, 2)):
                inst, side, price = draw(st.sampled_from(keys))
            rows.append(ev(ts, act, 90, side, price, draw(st.integers(1, 20)), inst, last=last))
        else:
            oid = draw(st.sampled_from(sorted(live)))
            inst, side, price, qty = live[oid]
            eside = draw(st.sampled_from([side, SIDE_NONE]))
            if kind == "delete":
                rows.append(ev(ts, DELETE, oid, eside, price, qty, inst, last=last))
                q = qty
            else:
                q = draw(st.integers(1, qty))
                rows.append(ev(ts, M_CANCEL if kind == "cancel" else EXECUTE, oid, eside,
                               draw(st.sampled_from([0, price])) if kind == "execute" else price,
                               q, inst, last=last))
            live[oid][3] -= q
            if live[oid][3] == 0:
                del live[oid]
    return mbo(rows)


@st.composite
def l2_orders(draw: Any, events: np.ndarray, n_inst: int) -> np.ndarray:
    """script_orders' mix, plus GTC orders that rest where the stream's LEVEL events are
    (the same instrument, side and price, sent when such an event is applied), so that the
    levels' later moves reach them."""
    rows = [{k: int(x[k]) for k in rv.ORDER_FIELDS} for x in draw(script_orders(events, n_inst, 8))]
    levels = [x for x in events if x["action"] == LEVEL and x["side"] != SIDE_NONE]
    for k in range(draw(st.integers(1, 8)) if levels else 0):
        x = draw(st.sampled_from(levels))     # sent when it is applied: behind what it shows
        rows.append(order(int(x["ts"]), 1000 + k, NEW, int(x["side"]), int(x["price"]),
                          draw(st.integers(1, 12)), int(x["instrument"])))
    rows.sort(key=lambda r: r["ts"])
    return orders(rows)


@st.composite
def l2_scenarios(draw: Any, mixed: bool = False) -> Any:
    events = draw(level_streams(mixed=mixed))
    n = n_instruments(events)
    latency = dict(draw(LATENCY))
    latency["edges"] = draw(st.sampled_from(["flag", "flag", "event"]))
    queue = {"queue_power": draw(st.integers(0, 8)), "seed": draw(st.integers(0, 2**64 - 1))}
    return events, draw(l2_orders(events, n)), draw(FEES), latency, queue


@pytest.mark.parametrize("mixed", [False, True], ids=["l2", "mixed_l3"])
@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=scaled(130, 25), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_l2_streams_match_the_oracle(model: str, mixed: bool, data: Any) -> None:
    """LEVEL + TRADE streams (mixed_l3: with ADD / CANCEL / EXECUTE / DELETE among them),
    every queue_power, any seed."""
    events, strategy_orders, fees, latency, queue = data.draw(l2_scenarios(mixed=mixed))
    compare(events, strategy_orders, queue_model=model, **queue, **fees, **latency)


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=scaled(40, 10), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(events=level_streams(max_events=60), size=st.integers(1, 4), power=st.integers(0, 8),
       seed=st.integers(0, 2**64 - 1), latency=LATENCY)
def test_l2_quote_strategy_matches_the_oracle(model: str, events: np.ndarray, size: int,
                                              power: int, seed: int,
                                              latency: Dict[str, int]) -> None:
    compare(events, quote={"size": size, "max_position": 8}, queue_model=model,
            queue_power=power, seed=seed, **latency)
