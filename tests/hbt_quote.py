"""hftbacktest 2.4.4 beside velox.backtest: a market-by-order stream converted to hftbacktest's
L3 events, a market-by-price stream to its L2 events, and velox's builtin:quote strategy
written again in numba against hftbacktest's API. Shared by tests/test_backtest_hftbacktest.py
and tests/test_backtest_hftbacktest_l2.py (the cross-checks) and benchmarks/bench_backtest.py
(the speed comparison). Imports hftbacktest and numba only when
a function here is called, so the module itself imports anywhere.

Conversion (MBO_DTYPE -> hftbacktest event_dtype; every row is both an exchange and a local
event with exch_ts = local_ts = the event's ts: no feed latency, as velox's strategy sees an
event at its own ts):
  ADD                          -> ADD_ORDER (side, price, qty)
  CANCEL (partial, q lots)     -> MODIFY_ORDER with the remaining qty (same price: keeps its
                                  place in hftbacktest's queue, as a reduction does in velox)
  CANCEL of every lot, DELETE  -> CANCEL_ORDER
  EXECUTE (e lots)             -> FILL (the resting order's side, the execution's price, e)
                                  then CANCEL_ORDER (nothing left) or MODIFY_ORDER (the rest)
  TRADE (a non-displayed execution) -> nothing: no order of the book is named, and velox's
                                  venue does not fill on it either
Prices: fixed point (1e8) -> float; the tick is the stream's (0.01), qty in lots.

Market-by-price (L2) conversion (to_hftbacktest_l2; LEVEL and TRADE events only, one
instrument), for hftbacktest's L2 queue models on its L2 market depth:
  LEVEL (side, price, qty)     -> DEPTH_EVENT with BUY_EVENT (bids) / SELL_EVENT (asks), px,
                                  qty = the level's new total (0: the level is gone)
  TRADE (resting side r)       -> TRADE_EVENT flagged with the AGGRESSOR's side, the other
                                  one: velox's TRADE side is the resting side whose lots traded,
                                  hftbacktest's is the initiator's (its exchange fills our
                                  SELL orders on a BUY_EVENT trade: nopartialfillexchange.rs)
                                  so r = BUY -> SELL_EVENT, r = SELL -> BUY_EVENT
  TRADE with SIDE_NONE         -> r taken from the book before the print, as velox's venue
                                  does (venue.h "Queue models"): BUY when a bid exists and the
                                  price <= the best bid, else SELL when an ask exists and the
                                  price >= the best ask; otherwise the print is dropped (velox
                                  ignores it; hftbacktest would too, having no side)
  TRADE at price 0             -> dropped (velox ignores it)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, DefaultDict, Dict, List, Set, Tuple

import numpy as np

ADD, CANCEL, DELETE, EXECUTE, TRADE, LEVEL = 1, 2, 3, 4, 6, 12   # velox Action values
BUY, SELL, SIDE_NONE = 0, 1, 2                                     # velox side values
PRICE_SCALE = 100_000_000
Fill = Tuple[int, int, int]   # side +1 buy / -1 sell, price tick, exchange ts

# hftbacktest.types, spelled out so the converter needs no hftbacktest import
EXCH_EVENT, LOCAL_EVENT, BUY_EVENT, SELL_EVENT = 1 << 31, 1 << 30, 1 << 29, 1 << 28
ADD_ORDER_EVENT, CANCEL_ORDER_EVENT, MODIFY_ORDER_EVENT, FILL_EVENT = 10, 11, 12, 13
DEPTH_EVENT, TRADE_EVENT = 1, 2
HBT_EVENT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"),
                            ("qty", "f8"), ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")],
                           align=True)


def remaining_after(events: np.ndarray) -> np.ndarray:
    """Lots an event's order still has after the event (ADD, CANCEL, EXECUTE; 0 after a
    DELETE), by a running sum per order id. Raises ValueError if an order goes below zero or
    an event names an order that was never added (the stream is not market-by-order)."""
    act = events["action"]
    named = (act == ADD) | (act == CANCEL) | (act == DELETE) | (act == EXECUTE)
    idx = np.flatnonzero(named)
    ids = events["order_id"][idx]
    delta = events["qty"][idx].astype(np.int64)
    delta[act[idx] != ADD] *= -1
    delta[act[idx] == DELETE] = 0
    order = np.argsort(ids, kind="stable")   # each order's events, in stream order
    s_ids, s_delta = ids[order], delta[order]
    run = np.cumsum(s_delta)
    starts = np.flatnonzero(np.r_[True, s_ids[1:] != s_ids[:-1]])
    base = np.repeat(run[starts] - s_delta[starts], np.diff(np.r_[starts, len(s_ids)]))
    rem_sorted = run - base
    if len(starts) and (act[idx][order][starts] != ADD).any():
        bad = int(s_ids[starts][act[idx][order][starts] != ADD][0])
        raise ValueError(f"order id {bad} is named before it was added")
    rem = np.empty(len(idx), np.int64)
    rem[order] = rem_sorted
    rem[act[idx] == DELETE] = 0
    if (rem < 0).any():
        raise ValueError(f"order id {int(ids[rem < 0][0])} loses more lots than it has")
    out = np.zeros(len(events), np.int64)
    out[idx] = rem
    return out


def to_hftbacktest(events: np.ndarray) -> np.ndarray:
    """hftbacktest L3 events (event_dtype) of one instrument's MBO_DTYPE stream (see the module
    docstring). Raises ValueError for other actions than ADD/CANCEL/DELETE/EXECUTE/TRADE,
    for more than one instrument, and for an inconsistent stream (remaining_after)."""
    act = events["action"]
    known = (act == ADD) | (act == CANCEL) | (act == DELETE) | (act == EXECUTE) | (act == TRADE)
    if not known.all():
        raise ValueError(f"action {int(act[~known][0])} has no hftbacktest L3 conversion here")
    if len(events) and (events["instrument"] != events["instrument"][0]).any():
        raise ValueError("one instrument per hftbacktest asset: the stream has several")
    rem = remaining_after(events)
    keep = act != TRADE
    ex = act == EXECUTE
    rows_per = keep.astype(np.int64) + ex           # EXECUTE -> FILL + CANCEL/MODIFY
    pos = np.cumsum(rows_per) - rows_per            # first row of each event
    out = np.zeros(int(rows_per.sum()), HBT_EVENT_DTYPE)
    side_flag = np.where(events["side"] == BUY, BUY_EVENT, SELL_EVENT).astype(np.uint64)
    base = np.uint64(EXCH_EVENT | LOCAL_EVENT) | side_flag
    px = events["price"] / PRICE_SCALE
    ts = events["ts"].astype(np.int64)
    oid = events["order_id"]

    def put(sel: np.ndarray, rows: np.ndarray, kind: np.ndarray, qty: np.ndarray) -> None:
        out["ev"][rows] = base[sel] | kind.astype(np.uint64)
        out["exch_ts"][rows] = ts[sel]
        out["local_ts"][rows] = ts[sel]
        out["px"][rows] = px[sel]
        out["qty"][rows] = qty
        out["order_id"][rows] = oid[sel]

    gone = rem == 0
    after_kind = np.where(gone, CANCEL_ORDER_EVENT, MODIFY_ORDER_EVENT)
    sel = act == ADD
    put(sel, pos[sel], np.full(sel.sum(), ADD_ORDER_EVENT), events["qty"][sel])
    sel = (act == CANCEL) | (act == DELETE)
    put(sel, pos[sel], after_kind[sel], rem[sel])
    put(ex, pos[ex], np.full(ex.sum(), FILL_EVENT), events["qty"][ex])
    put(ex, pos[ex] + 1, after_kind[ex], rem[ex])
    return out


def resting_sides(events: np.ndarray) -> np.ndarray:
    """The resting side of each TRADE of an L2 stream (LEVEL, TRADE): its own side when BUY or
    SELL; for SIDE_NONE the side velox's venue takes from the book before the print (BUY when
    a bid exists and price <= the best bid, else SELL when an ask exists and price >= the best
    ask), else SIDE_NONE (ignored). Other rows: their side, unchanged."""
    sides = events["side"].astype(np.int64)
    act = events["action"]
    if not ((act == TRADE) & (sides == SIDE_NONE)).any():
        return sides
    levels: Dict[int, Dict[int, int]] = {BUY: {}, SELL: {}}
    for i, (a, s, p, q) in enumerate(zip(act.tolist(), sides.tolist(),
                                         events["price"].tolist(), events["qty"].tolist())):
        if a == LEVEL:
            if q > 0:
                levels[s][p] = q
            else:
                levels[s].pop(p, None)
        elif s == SIDE_NONE:
            bids, asks = levels[BUY], levels[SELL]
            if bids and p <= max(bids):
                sides[i] = BUY
            elif asks and p >= min(asks):
                sides[i] = SELL
    return sides


def to_hftbacktest_l2(events: np.ndarray) -> np.ndarray:
    """hftbacktest L2 events (event_dtype) of one instrument's market-by-price MBO_DTYPE stream
    (LEVEL and TRADE events; see the module docstring). Raises ValueError for other actions,
    a LEVEL without a side, and more than one instrument."""
    act = events["action"]
    known = (act == LEVEL) | (act == TRADE)
    if not known.all():
        raise ValueError(f"action {int(act[~known][0])} has no hftbacktest L2 conversion here")
    if ((act == LEVEL) & (events["side"] != BUY) & (events["side"] != SELL)).any():
        raise ValueError("a LEVEL event without a side (BUY / SELL)")
    if len(events) and (events["instrument"] != events["instrument"][0]).any():
        raise ValueError("one instrument per hftbacktest asset: the stream has several")
    sides = resting_sides(events)
    trade = act == TRADE
    keep = ~trade | ((sides != SIDE_NONE) & (events["price"] != 0))
    ev, sides, trade = events[keep], sides[keep], trade[keep]
    out = np.zeros(len(ev), HBT_EVENT_DTYPE)
    # a LEVEL's flag is its own side; a print's the aggressor's (the side opposite the resting)
    buy_flag = np.where(trade, sides == SELL, sides == BUY)
    kind = np.where(trade, TRADE_EVENT, DEPTH_EVENT)
    out["ev"] = (np.uint64(EXCH_EVENT | LOCAL_EVENT)
                 | np.where(buy_flag, BUY_EVENT, SELL_EVENT).astype(np.uint64)
                 | kind.astype(np.uint64))
    out["exch_ts"] = ev["ts"].astype(np.int64)
    out["local_ts"] = out["exch_ts"]
    out["px"] = ev["price"] / PRICE_SCALE
    out["qty"] = ev["qty"]
    return out


def with_timestamp_edges(events: np.ndarray) -> np.ndarray:
    """A copy whose last event of each run of equal timestamps carries F_LAST (4): velox's
    strategy then runs once per timestamp, as hftbacktest's wait_next_feed returns once per
    timestamp (it processes every event at the time of the first one it meets)."""
    out = events.copy()
    ts = events["ts"]
    last = np.r_[ts[1:] != ts[:-1], True]
    out["flags"] = np.where(last, out["flags"] | 4, out["flags"] & ~np.uint8(4))
    return out


def fill_keys(execs: np.ndarray, hbt_fills: np.ndarray, tick: int) -> Tuple[List[Fill], List[Fill]]:
    """The fills of a velox run (its EXEC_DTYPE reports) and of an hftbacktest run (run_quote's
    `fills`) as sorted (side +1/-1, price tick, exchange ts) keys for match_fills; both runs
    must have traded single lots (asserted)."""
    fill = (execs["kind"] == 3) | (execs["kind"] == 4)   # FILL, PARTIAL_FILL
    vf = execs[fill]
    assert (hbt_fills[:, 4] == 1).all() and (vf["fill_qty"] == 1).all()
    v_keys = sorted(zip(np.where(vf["side"] == BUY, 1, -1).tolist(),
                        (vf["fill_price"] // tick).tolist(), vf["ts_exchange"].tolist()))
    h_keys = sorted(zip(hbt_fills[:, 2].tolist(), hbt_fills[:, 3].tolist(),
                        hbt_fills[:, 0].tolist()))
    return v_keys, h_keys


def match_fills(a: List[Fill], b: List[Fill], window_ns: int) -> Tuple[List[Fill], List[Fill]]:
    """Greedy match of two sorted lists of fills (side +1/-1, price tick, exchange ts) by equal
    (side, price) and exchange times within window_ns; returns the unmatched of each."""
    pool: DefaultDict[Tuple[int, int], List[int]] = defaultdict(list)
    for k in b:
        pool[(k[0], k[1])].append(k[2])
    used: DefaultDict[Tuple[int, int], Set[int]] = defaultdict(set)
    left_a = []
    for s, p, t in a:
        cands = pool[(s, p)]
        best = None
        for j, tb in enumerate(cands):
            if j not in used[(s, p)] and abs(tb - t) <= window_ns:
                best = j
                break
        if best is None:
            left_a.append((s, p, t))
        else:
            used[(s, p)].add(best)
    left_b = [(s, p, t) for (s, p), ts_ in pool.items() for j, t in enumerate(ts_)
              if j not in used[(s, p)]]
    return left_a, left_b


_JIT: Dict[str, Any] = {}


def _compiled() -> Dict[str, Any]:
    """The numba functions, compiled on first use (numba and hftbacktest imported here)."""
    if _JIT:
        return _JIT
    from numba import njit

    # hftbacktest Status / Side values (hftbacktest.order)
    NEW, FILLED, CANCELED, EXPIRED = 1, 3, 4, 2
    ST_NONE = 0

    @njit(cache=False)
    def replay(hbt) -> int:
        """Replay only: wait for every feed timestamp, read the top of the book."""
        n = 0
        acc = 0
        while hbt.wait_next_feed(False, 1 << 62) == 2:
            d = hbt.depth(0)
            acc += d.best_bid_tick ^ d.best_ask_tick
            n += 1
        return n + (acc & 0)

    @njit(cache=False)
    def tops(hbt, out) -> int:
        """Replay only, recording after each feed timestamp: ts, best bid tick, its qty,
        best ask tick, its qty (0, 0 for an empty side)."""
        n = 0
        while n < len(out) and hbt.wait_next_feed(False, 1 << 62) == 2:
            d = hbt.depth(0)
            out[n, 0] = hbt.current_timestamp
            if d.best_bid_qty > 0:
                out[n, 1] = d.best_bid_tick
                out[n, 2] = int(d.best_bid_qty)
            if d.best_ask_qty > 0:
                out[n, 3] = d.best_ask_tick
                out[n, 4] = int(d.best_ask_qty)
            n += 1
        return n

    @njit(cache=False)
    def _working(orders, oid):
        """(working?, side, leaves) of our order oid as the strategy's side knows it."""
        if oid == 0:
            return False, 0, 0.0
        o = orders.get(oid)
        if o is None:
            return False, 0, 0.0
        st = o.status
        if st == FILLED or st == CANCELED or st == EXPIRED:
            return False, 0, 0.0
        if o.req == 0 and st == ST_NONE:   # a rejected request: never working
            return False, 0, 0.0
        return True, o.side, o.leaves_qty

    @njit(cache=False)
    def quote(hbt, size, max_position, out, fills):
        """velox's builtin:quote (strategy_builtin.h), per feed timestamp, BUY then SELL:
        forget `canceling` / `current` once no longer working; if current's price is not the
        side's best (or the side is empty): cancel it unless a cancel is already on its way
        on this side (then do nothing this time); with no current and a best price: a NEW
        GTC of `size` at the best when |position +- working lots on that side + size| <=
        max_position. At most 2 working orders per side."""
        current = np.zeros(2, np.uint64)
        current_tick = np.zeros(2, np.int64)
        canceling = np.zeros(2, np.uint64)
        next_id = 0
        feeds = 0
        sent = 0
        cancels = 0
        refused = 0
        nfills = 0
        mid2 = 0   # 2 x the last mid of a two-sided book, in ticks
        while hbt.wait_next_feed(False, 1 << 62) == 2:
            feeds += 1
            d = hbt.depth(0)
            if d.best_bid_qty > 0 and d.best_ask_qty > 0:
                mid2 = d.best_bid_tick + d.best_ask_tick
            orders = hbt.orders(0)
            # working lots per side (sent and not done: pending, live, pending cancel)
            work_buy = 0.0
            work_sell = 0.0
            vals = orders.values()
            while vals.has_next():
                o = vals.get()
                st = o.status
                if st == FILLED or st == CANCELED or st == EXPIRED:
                    continue
                if o.side == 1:
                    work_buy += o.leaves_qty
                else:
                    work_sell += o.leaves_qty
            pos = hbt.position(0)
            for s in range(2):
                if canceling[s] != 0 and not _working(orders, canceling[s])[0]:
                    canceling[s] = 0
                if current[s] != 0 and not _working(orders, current[s])[0]:
                    current[s] = 0
                if s == 0:
                    tgt = d.best_bid_tick
                    has_target = d.best_bid_qty > 0
                else:
                    tgt = d.best_ask_tick
                    has_target = d.best_ask_qty > 0
                if current[s] != 0 and (not has_target or current_tick[s] != tgt):
                    if canceling[s] != 0:
                        continue
                    # hftbacktest refuses a cancel while the order's NEW awaits its
                    # response (OrderRequestInProcess): keep it and try at the next feed
                    if hbt.cancel(0, current[s], False) != 0:
                        refused += 1
                        continue
                    cancels += 1
                    canceling[s] = current[s]
                    current[s] = 0
                if current[s] != 0 or not has_target:
                    continue
                if s == 0:
                    after = pos + work_buy + size
                else:
                    after = pos - work_sell - size
                if abs(after) > max_position:
                    continue
                next_id += 1
                px = tgt * d.tick_size
                if s == 0:
                    hbt.submit_buy_order(0, next_id, px, size, 0, 0, False)   # GTC, LIMIT
                    work_buy += size
                else:
                    hbt.submit_sell_order(0, next_id, px, size, 0, 0, False)
                    work_sell += size
                sent += 1
                current[s] = next_id
                current_tick[s] = tgt
            if nfills < len(fills):   # record our fills before they are cleared
                vals = orders.values()
                while vals.has_next():
                    o = vals.get()
                    if o.status == FILLED and nfills < len(fills):
                        fills[nfills, 0] = o.exch_timestamp
                        fills[nfills, 1] = o.local_timestamp
                        fills[nfills, 2] = 1 if o.side == 1 else -1
                        fills[nfills, 3] = o.exec_price_tick
                        fills[nfills, 4] = int(o.exec_qty)
                        fills[nfills, 5] = 1 if o.arr[0].maker else 0
                        nfills += 1
            hbt.clear_inactive_orders(0)
        out[0] = feeds
        out[1] = sent
        out[2] = cancels
        out[3] = refused
        out[4] = mid2
        out[5] = nfills
        return feeds

    _JIT.update(replay=replay, quote=quote, tops=tops)
    return _JIT


# hftbacktest's queue models by name: l3_fifo on its L3 market-by-order depth (to_hftbacktest
# data), the others on its L2 depth (to_hftbacktest_l2 data). power_prob is the one velox's
# "prob" model follows: the share of a level decrease ahead of the order is
# f(front) / (f(front) + f(back)), f(x) = x^n (PowerProbQueueFunc: prob = f(back) / (f(back) +
# f(front)) is the part behind); power_prob2 / power_prob3 / log_prob / log_prob2 spread it
# otherwise (f(back) / f(back + front), 1 - f(front / (front + back)), f = log(1 + x)).
QUEUE_MODELS = {"l3_fifo": "l3_fifo_queue_model", "risk_adverse": "risk_adverse_queue_model",
                "power_prob": "power_prob_queue_model", "power_prob2": "power_prob_queue_model2",
                "power_prob3": "power_prob_queue_model3", "log_prob": "log_prob_queue_model",
                "log_prob2": "log_prob_queue_model2"}


def make_backtest(data: np.ndarray, *, entry_latency_ns: int, response_latency_ns: int,
                  tick: float = 0.01, maker_fee: float = 0.0, taker_fee: float = 0.0,
                  queue_model: str = "l3_fifo", queue_power: float = 0.0) -> Any:
    """An hftbacktest HashMapMarketDepthBacktest over converted events: the queue model named
    (QUEUE_MODELS; queue_power = n of the power models), no-partial-fill exchange, constant
    order latency, linear asset, fees as fractions of traded value (hftbacktest's
    trading_value_fee_model)."""
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    if queue_model not in QUEUE_MODELS:
        raise ValueError(f"queue_model {queue_model!r}: one of {sorted(QUEUE_MODELS)}")
    asset = (BacktestAsset().data(data).linear_asset(1.0)
             .constant_order_latency(entry_latency_ns, response_latency_ns))
    choose = getattr(asset, QUEUE_MODELS[queue_model])
    asset = choose(float(queue_power)) if queue_model.startswith("power_prob") else choose()
    asset = (asset.no_partial_fill_exchange()
             .trading_value_fee_model(maker_fee, taker_fee)
             .tick_size(tick).lot_size(1.0).last_trades_capacity(0))
    return HashMapMarketDepthBacktest([asset])


def run_replay(data: np.ndarray) -> int:
    """hftbacktest replay only (no orders): returns the feed timestamps seen."""
    hbt = make_backtest(data, entry_latency_ns=0, response_latency_ns=0)
    n = _compiled()["replay"](hbt)
    hbt.close()
    return int(n)


def book_tops(book: Any, events: np.ndarray, tick: int) -> np.ndarray:
    """velox's side of run_tops: ``events`` applied to a velox MboBook one timestamp at a
    time (every event applied), and after each, a row of (ts, best bid tick, its qty, best
    ask tick, its qty), 0 for an empty side."""
    ts = events["ts"]
    ends = np.flatnonzero(np.r_[ts[1:] != ts[:-1], True]) + 1
    out = np.zeros((len(ends), 5), np.int64)
    start = 0
    for i, end in enumerate(ends):
        assert book.apply_many(events[start:end]).rejected == 0
        start = end
        out[i, 0] = ts[end - 1]
        bid, ask = book.best_bid(), book.best_ask()
        if bid:
            out[i, 1], out[i, 2] = bid[0] // tick, bid[1]
        if ask:
            out[i, 3], out[i, 4] = ask[0] // tick, ask[1]
    return out


def run_tops(data: np.ndarray, *, queue_model: str = "l3_fifo") -> np.ndarray:
    """The top of hftbacktest's book after each feed timestamp: rows of (ts, best bid tick,
    its qty, best ask tick, its qty), 0 for an empty side (queue_model: "l3_fifo" for L3
    data, an L2 model for L2 data)."""
    hbt = make_backtest(data, entry_latency_ns=0, response_latency_ns=0,
                        queue_model=queue_model)
    out = np.zeros((len(data), 5), np.int64)
    n = _compiled()["tops"](hbt, out)
    hbt.close()
    return out[:n]


def run_quote(data: np.ndarray, *, size: int = 1, max_position: int = 10,
              entry_latency_ns: int, response_latency_ns: int, maker_fee: float = 0.0,
              taker_fee: float = 0.0, tick: float = 0.01, max_fills: int = 0,
              queue_model: str = "l3_fifo", queue_power: float = 0.0) -> Dict[str, Any]:
    """The quoting strategy through hftbacktest, from the start of the data to its end, with
    the queue model named (make_backtest).
    Figures: feeds, sent, cancels, position, balance, fee, num_trades, volume, value, pnl
    (balance + position * mid - fees, in price units; mid = the last mid of a two-sided book:
    the generated day ends with an empty book), and with max_fills > 0 `fills`: up to
    max_fills of the strategy's fills as seen when their reports arrive, rows of (exchange
    ts, local ts at sending, side +1/-1, price tick, qty, maker 1/0), in arrival order."""
    hbt = make_backtest(data, entry_latency_ns=entry_latency_ns,
                        response_latency_ns=response_latency_ns, maker_fee=maker_fee,
                        taker_fee=taker_fee, tick=tick, queue_model=queue_model,
                        queue_power=queue_power)
    out = np.zeros(6, np.int64)
    fills = np.zeros((max_fills, 6), np.int64)
    _compiled()["quote"](hbt, float(size), float(max_position), out, fills)
    mid = out[4] * tick / 2.0
    sv = hbt.state_values(0)
    fig = dict(feeds=int(out[0]), sent=int(out[1]), cancels=int(out[2]), cancel_refused=int(out[3]),
               position=float(sv.position), balance=float(sv.balance), fee=float(sv.fee),
               num_trades=int(sv.num_trades), volume=float(sv.trading_volume),
               value=float(sv.trading_value), mid=mid)
    fig["fills"] = fills[:out[5]]
    fig["pnl"] = fig["balance"] + fig["position"] * mid - fig["fee"]
    hbt.close()
    return fig
