"""A seeded order-flow generator for tests and benchmarks that looks like a market (docs/feeds.md).

``generate(...)`` yields MBO_DTYPE chunks in time order for ``n_symbols`` instruments
(locates 1..n_symbols). Each instrument has a matching engine: a book of price levels, each a
FIFO queue of orders. Every step picks an instrument (Zipf-like popularity) and one of

- a passive limit order (ADD): it sits a few ticks behind a latent fair price (a random
  walk of about 1 % of the price over the day), sometimes improves inside the spread; it
  never crosses or locks the book;
- an aggressive order: it trades against the resting orders of the other side, best price
  first and FIFO within a level, up to its limit price (one EXECUTE per resting order it
  fills; some as ITCH C with the price and printable); what is left rests at the limit (or is
  discarded, as an immediate-or-cancel order would be); most aggressive orders buy below
  the fair price and sell above it, so the book follows it;
- a DELETE, a partial CANCEL or a REPLACE (ITCH U: a new id at a nearby passive price) of a
  random live order of that instrument;
- now and then a TRADE (P: a hidden execution, no book effect).

So after every event every book has best bid < best ask, and every EXECUTE/CANCEL/DELETE/
REPLACE names a live order with enough shares. The mix of new orders and removals follows a
target live-order count per instrument: it ramps up over the first tenth of the day, holds
``peak_live_orders`` (in total) and drains to zero over the last part; orders still live a
second before the close are deleted then. Timestamps never go backwards: S 'O', 'S', 'Q'
and H 'T' per instrument at 09:30:00, orders in [09:30:00, 16:00:00), S 'M', 'E', 'C' at
16:00:00. Prices sit on a $0.01 grid (10^6 in velox fixed point), sizes are round lots.
The same arguments give the same events, byte for byte.

``write_itch_file`` writes the day as ITCH 5.0 (R directory first); ``lobster_events`` makes
one instrument's LOBSTER-representable stream and ``write_lobster_files`` its message and
orderbook files. ``txn_flow`` makes a TXN_DTYPE order flow for the pipeline's L2 book
(Pipeline.feed, events: files, shm: sources). ``market_by_price`` turns any MBO stream into
what a market-by-price (L2) feed of it says (LEVEL and TRADE events).
"""

from __future__ import annotations

import bisect
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from velox._feeds import itch_directory, itch_write
from velox._records import BUY, MBO_DTYPE, PRICE_SCALE, SELL, SIDE_NONE, TXN_DTYPE, Action, MboFlag

TICK = 1_000_000          # $0.01 in velox fixed point (1e8 scale)
DAY_START = 34_200 * 10**9  # 09:30:00
DAY_END = 57_600 * 10**9    # 16:00:00
CLOSE_SWEEP_NS = 10**9      # orders still live at 15:59:59 are deleted in the last second
DEFAULT_MAX_PEAK = 10**6    # default peak_live_orders at most (a live order holds ~300 B)

_BLOCK = 4096               # steps whose random draws are made at once
_RAMP = 0.10                # live-order target: 0 -> peak over the first 10 % of the day,
_DRAIN_START = 0.85         # peak -> 0 from 85 % to 95 % of the day
_DRAIN_END = 0.95
_SCAN = 64                  # ticks scanned for the next level before taking min()/max()

# generate()'s keyword defaults, shared by write_itch_file and lobster_events
_DEFAULTS: Dict[str, Any] = dict(peak_live_orders=None, p_aggressive=0.15, p_replace=0.1,
                                 p_partial=0.1, p_trade=0.01, p_exec_price=0.2, p_improve=0.1,
                                 chunk=1 << 16)

_ADD, _CANCEL, _DELETE, _EXECUTE, _REPLACE, _TRADE = (
    int(Action.ADD), int(Action.CANCEL), int(Action.DELETE), int(Action.EXECUTE),
    int(Action.REPLACE), int(Action.TRADE))
_MODIFY, _CLEAR, _LEVEL = int(Action.MODIFY), int(Action.CLEAR), int(Action.LEVEL)
_PRINTABLE = int(MboFlag.PRINTABLE)


def concat(parts) -> np.ndarray:
    """np.concatenate for MBO_DTYPE arrays that keeps the padded layout (NumPy's promotion
    of structured dtypes would drop the padding and the offsets). Copies field by field into a
    zeroed array: NumPy's boolean/fancy indexing and whole-record copies carry a source's
    uninitialised padding bytes along, and velox's records compare bytewise."""
    out = np.zeros(sum(len(p) for p in parts), MBO_DTYPE)
    pos = 0
    for p in parts:
        for name in MBO_DTYPE.names or ():
            out[name][pos:pos + len(p)] = p[name]
        pos += len(p)
    return out


def symbol_names(n: int) -> List[str]:
    """Deterministic 1-8 character symbols: 'S0', 'S1', ... (index = locate - 1)."""
    return [f"S{i}" for i in range(n)]


def _events(n, ts, action, oid, side, price, qty, inst, ref=None, flags=None, status=None):
    e = np.zeros(n, MBO_DTYPE)
    e["ts"] = ts
    e["action"] = action
    e["order_id"] = oid
    e["side"] = side
    e["price"] = price
    e["qty"] = qty
    e["instrument"] = inst
    if ref is not None:
        e["ref"] = ref
    if flags is not None:
        e["flags"] = flags
    if status is not None:
        e["status"] = status
    return e


def _live_target_shape(x: float) -> float:
    """The live-order target as a fraction of the peak, at fraction x of the day."""
    if x >= _DRAIN_END:
        return 0.0
    return max(0.0, min(1.0, x / _RAMP, (_DRAIN_END - x) / (_DRAIN_END - _DRAIN_START)))


def _check_probability(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _rows(records: list) -> np.ndarray:
    """The loop's message tuples (order_id, price_ticks, ref, qty, locate, side, action,
    flags, ts) -> an MBO_DTYPE array."""
    n = len(records)
    cols = np.array(records, dtype=np.int64).reshape(n, 9)
    e = np.zeros(n, MBO_DTYPE)
    e["ts"] = cols[:, 8]
    e["order_id"] = cols[:, 0]
    e["price"] = cols[:, 1] * TICK
    e["ref"] = cols[:, 2]
    e["qty"] = cols[:, 3]
    e["instrument"] = cols[:, 4]
    e["side"] = cols[:, 5]
    e["action"] = cols[:, 6]
    e["flags"] = cols[:, 7]
    return e


def _checked_flow(n_messages: int, n_symbols: int, seed: int, peak_live_orders: Optional[int],
                  p_aggressive: float, p_replace: float, p_partial: float, p_trade: float,
                  p_exec_price: float, p_improve: float, full_fields: bool,
                  chunk: int) -> Iterator[Tuple[np.ndarray, int, int]]:
    """Check the arguments now (ValueError naming the value), then return the generator of
    (events, live orders after them, peak live orders so far) chunk by chunk."""
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    if not isinstance(n_messages, int) or n_messages < 1:
        raise ValueError(f"n_messages must be an int >= 1, got {n_messages!r}")
    if not isinstance(n_symbols, int) or not 1 <= n_symbols <= 65535:
        raise ValueError(f"n_symbols must be an int in [1, 65535], got {n_symbols!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    for name, p in (("p_aggressive", p_aggressive), ("p_replace", p_replace),
                    ("p_partial", p_partial), ("p_trade", p_trade),
                    ("p_exec_price", p_exec_price), ("p_improve", p_improve)):
        _check_probability(name, p)
    if p_replace + p_partial > 1.0:
        raise ValueError(f"p_replace + p_partial must be <= 1, got {p_replace} + {p_partial}")
    if peak_live_orders is None:
        peak_live_orders = max(n_symbols, min(n_messages // 20, DEFAULT_MAX_PEAK))
    if not isinstance(peak_live_orders, int) or peak_live_orders < 1:
        raise ValueError(f"peak_live_orders must be an int >= 1, got {peak_live_orders!r}")
    return _flow(n_messages, n_symbols, seed, peak_live_orders, p_aggressive, p_replace,
                 p_partial, p_trade, p_exec_price, p_improve, full_fields, chunk)


def _flow(n_messages: int, n_symbols: int, seed: int, peak_live_orders: int,
          p_aggressive: float, p_replace: float, p_partial: float, p_trade: float,
          p_exec_price: float, p_improve: float, full_fields: bool,
          chunk: int) -> Iterator[Tuple[np.ndarray, int, int]]:
    """The matching engines' day, chunk by chunk; see generate()."""
    rng = np.random.default_rng(seed)

    # opening: S 'O', 'S', 'Q', then H 'T' for every symbol, all at 09:30:00
    opening = concat([
        _events(3, DAY_START, Action.STATUS, 0, SIDE_NONE, 0, 0, 0, flags=MboFlag.SYSTEM,
                status=[ord("O"), ord("S"), ord("Q")]),
        _events(n_symbols, DAY_START, Action.STATUS, 0, SIDE_NONE, 0, 0,
                np.arange(1, n_symbols + 1), status=ord("T"))])
    yield opening, 0, 0

    weights = 1.0 / np.arange(1, n_symbols + 1) ** 0.8   # Zipf-like popularity
    weights /= weights.sum()
    cum = np.cumsum(weights)
    cum[-1] = 1.0
    peak_share = (peak_live_orders * weights).tolist()
    ref_px: List[int] = rng.integers(1000, 50000, n_symbols).tolist()  # $10..$500, in ticks
    # a latent fair price per symbol: a random walk of about 1 % of the price over the day;
    # most aggressive orders buy below it and sell above it, so the book follows it
    fair = [float(p) for p in ref_px]
    n_main_estimate = max(1, n_messages - 6 - n_symbols)
    fair_step = (0.01 * np.array(ref_px, np.float64)
                 / np.sqrt(np.maximum(n_main_estimate * weights, 1.0))).tolist()
    bids: List[Dict[int, List[int]]] = [{} for _ in range(n_symbols)]  # tick -> FIFO of ids
    asks: List[Dict[int, List[int]]] = [{} for _ in range(n_symbols)]
    best_bid = [0] * n_symbols  # 0: no bid
    best_ask = [0] * n_symbols  # 0: no ask
    live: List[List[int]] = [[] for _ in range(n_symbols)]  # ids, any order (O(1) removal)
    orders: Dict[int, list] = {}  # id -> [symbol, side, tick, qty, index in live[symbol]]
    n_live = 0
    max_live = 0
    next_id = 1
    next_match = 1

    span = DAY_END - CLOSE_SWEEP_NS - DAY_START      # the main flow: [09:30:00, 15:59:59)
    n_main = max(1, n_messages - 6 - n_symbols)      # messages of the main flow
    ns_per_message = span / n_main
    records: list = []  # (order_id, tick, ref, qty, locate, side, action, flags, ts)
    k = 0  # messages made

    def best_after_removal(book, side, px):
        """The side's new best once level px (the best) emptied; 0 when the side is empty."""
        if not book:
            return 0
        step = 1 if side == SELL else -1
        nxt = px + step
        for _ in range(_SCAN):
            if nxt in book:
                return nxt
            nxt += step
        return min(book) if side == SELL else max(book)

    def remove(oid, o):
        """Take a live order out of its level, the live list and the table."""
        nonlocal n_live
        s, side, px, _qty, idx = o
        book = bids[s] if side == BUY else asks[s]
        lvl = book[px]
        if lvl[0] == oid:
            del lvl[0]
        else:
            lvl.remove(oid)
        if not lvl:
            del book[px]
            if side == BUY:
                if best_bid[s] == px:
                    best_bid[s] = best_after_removal(book, BUY, px)
            elif best_ask[s] == px:
                best_ask[s] = best_after_removal(book, SELL, px)
        ids = live[s]
        last = ids.pop()
        if last != oid:
            ids[idx] = last
            orders[last][4] = idx
        del orders[oid]
        n_live -= 1

    def rest(oid, s, side, px, qty):
        """A new order joins the tail of its level (the caller checked it does not cross)."""
        nonlocal n_live, max_live
        if side == BUY:
            lvl = bids[s].get(px)
            if lvl is None:
                bids[s][px] = [oid]
                if px > best_bid[s]:
                    best_bid[s] = px
            else:
                lvl.append(oid)
        else:
            lvl = asks[s].get(px)
            if lvl is None:
                asks[s][px] = [oid]
                if best_ask[s] == 0 or px < best_ask[s]:
                    best_ask[s] = px
            else:
                lvl.append(oid)
        orders[oid] = [s, side, px, qty, len(live[s])]
        live[s].append(oid)
        n_live += 1
        if n_live > max_live:
            max_live = n_live

    def passive_price(s, side, depth, improve):
        """A price `depth` ticks behind the fair price (or one tick inside the spread when
        `improve` and the spread allows) that does not reach the other side; 0 when there
        is none (a one-tick ask leaves no room for a bid)."""
        bb = best_bid[s]
        ba = best_ask[s]
        if side == BUY:
            if improve and bb and (ba == 0 or bb + 1 < ba):
                return bb + 1
            px = int(fair[s]) - depth
            if ba and px >= ba:
                px = ba - 1
            if px < 1:
                px = 1
            return px if ba == 0 or px < ba else 0
        if improve and ba and ba - 1 > bb:
            return ba - 1
        px = int(fair[s]) + 1 + depth
        if px <= bb:
            px = bb + 1
        return px

    shape = 0.0
    next_shape_k = 0  # the target's shape is re-read every 1/1000 of the day
    for _ in range(n_main):  # every block makes messages (trades, deletes, ...): bounded
        if k >= n_main:
            break
        sym = np.searchsorted(cum, rng.random(_BLOCK)).tolist()
        u_action = rng.random(_BLOCK).tolist()
        u_kind = rng.random(_BLOCK).tolist()
        u_pick = rng.random(_BLOCK).tolist()
        u_flag = rng.random(_BLOCK).tolist()
        sides = rng.integers(0, 2, _BLOCK).tolist()
        depths = (rng.geometric(0.35, _BLOCK) - 1).tolist()
        limits = (rng.geometric(0.6, _BLOCK) - 1).tolist()
        moves = rng.integers(-2, 3, _BLOCK).tolist()
        qtys = (rng.geometric(0.3, _BLOCK) * 100).tolist()
        u_rest = rng.random(_BLOCK).tolist()
        u_informed = rng.random(_BLOCK).tolist()
        noise = rng.standard_normal(_BLOCK).tolist()
        jitter = rng.random(_BLOCK).tolist()
        for s, ua, uk, up, uf, side_j, depth, lim, mv, qty_j, ur, ui, nz, jt in zip(
                sym, u_action, u_kind, u_pick, u_flag, sides, depths, limits, moves, qtys,
                u_rest, u_informed, noise, jitter):
            if k >= n_main:
                break
            if k >= next_shape_k:
                shape = _live_target_shape(k / n_main)
                next_shape_k = k + 1 + n_main // 1000
            loc = s + 1
            fair[s] += nz * fair_step[s]
            ts = DAY_START + int((k + jt) * ns_per_message)
            k0 = len(records)
            ids = live[s]
            n_s = len(ids)
            if uk < p_trade:  # a hidden execution: a print, no book effect
                bb = best_bid[s]
                ba = best_ask[s]
                px = (bb + ba) // 2 if bb and ba else (bb or ba or ref_px[s])
                records.append((0, px, next_match, 100, loc, BUY, _TRADE, 0, ts))
                next_match += 1
            else:
                tgt = peak_share[s] * shape
                p_new = 0.5 + 0.45 * (tgt - n_s) / (tgt + n_s + 1.0)
                side = side_j
                if n_s == 0 or ua < p_new:
                    qty = qty_j
                    ba = best_ask[s]
                    bb = best_bid[s]
                    if up < p_aggressive and bb and ba and ui < 0.75:
                        side = BUY if 2.0 * fair[s] > bb + ba else SELL  # informed flow
                    opposite = ba if side == BUY else bb
                    if opposite and up < p_aggressive:
                        # aggressive: trade against the other side up to the limit price
                        book = asks[s] if side == BUY else bids[s]
                        other = SELL if side == BUY else BUY
                        limit = opposite + lim if side == BUY else opposite - lim
                        if limit < 1:
                            limit = 1
                        printable = uf < p_exec_price
                        px = last_px = opposite
                        for _ in range(n_s + 1):  # each pass fills an order or the incoming one
                            if not px or (px > limit if side == BUY else px < limit):
                                break
                            oid = book[px][0]
                            o = orders[oid]
                            fill = qty if qty < o[3] else o[3]
                            records.append((oid, px if (printable or full_fields) else 0,
                                            next_match, fill, loc, other, _EXECUTE,
                                            _PRINTABLE if printable else 0, ts))
                            next_match += 1
                            qty -= fill
                            if fill == o[3]:
                                remove(oid, o)
                            else:
                                o[3] -= fill
                            last_px = px
                            px = best_ask[s] if side == BUY else best_bid[s]
                            if qty == 0:
                                break
                        ref_px[s] = last_px
                        if qty and ur < 0.7:  # 70 % of remainders rest at the limit
                            rest(next_id, s, side, limit, qty)
                            records.append((next_id, limit, 0, qty, loc, side, _ADD, 0, ts))
                            next_id += 1
                    else:
                        px = passive_price(s, side, depth, ur < p_improve)
                        if px:
                            rest(next_id, s, side, px, qty)
                            records.append((next_id, px, 0, qty, loc, side, _ADD, 0, ts))
                            next_id += 1
                else:
                    oid = ids[int(up * n_s)]
                    o = orders[oid]
                    side = o[1]
                    old_px = o[2]
                    r = ua - p_new
                    span_r = 1.0 - p_new
                    if r < p_replace * span_r:
                        # replace: a new id at a nearby price that stays passive
                        qty = o[3]
                        remove(oid, o)
                        px = old_px + mv
                        if side == BUY:
                            ba = best_ask[s]
                            if ba and px >= ba:
                                px = ba - 1
                            if px < 1:
                                px = 1
                            ok = ba == 0 or px < ba
                        else:
                            bb = best_bid[s]
                            if px <= bb:
                                px = bb + 1
                            ok = True
                        if ok:
                            rest(next_id, s, side, px, qty)
                            records.append((oid, px, next_id, qty, loc, side, _REPLACE, 0, ts))
                            next_id += 1
                        else:  # no passive price left: the order is deleted instead
                            records.append((oid, old_px if full_fields else 0, 0,
                                            qty if full_fields else 0, loc, side, _DELETE, 0,
                                            ts))
                    elif r < (p_replace + p_partial) * span_r and o[3] >= 2:
                        cut = o[3] // 2
                        o[3] -= cut
                        records.append((oid, old_px if full_fields else 0, 0, cut, loc, side,
                                        _CANCEL, 0, ts))
                    else:
                        qty = o[3]
                        remove(oid, o)
                        records.append((oid, old_px if full_fields else 0, 0,
                                        qty if full_fields else 0, loc, side, _DELETE, 0, ts))
            k += len(records) - k0
            if len(records) >= chunk:
                yield _rows(records), n_live, max_live
                records = []

    # the close: every order still live is deleted in the last second, oldest symbol first
    rest_ids = [oid for ids in live for oid in sorted(ids)]
    t0 = DAY_END - CLOSE_SWEEP_NS
    gap = CLOSE_SWEEP_NS / (len(rest_ids) + 1)
    for i, oid in enumerate(rest_ids):
        o = orders[oid]
        s, side, px, qty = o[0], o[1], o[2], o[3]
        remove(oid, o)
        records.append((oid, px if full_fields else 0, 0, qty if full_fields else 0, s + 1,
                        side, _DELETE, 0, t0 + int((i + 1) * gap)))
    if records:
        yield _rows(records), n_live, max_live
    closing = _events(3, DAY_END, Action.STATUS, 0, SIDE_NONE, 0, 0, 0, flags=MboFlag.SYSTEM,
                      status=[ord("M"), ord("E"), ord("C")])
    yield closing, n_live, max_live


def generate(n_messages: int, n_symbols: int = 100, *, seed: int = 0,
             peak_live_orders: Optional[int] = None, p_aggressive: float = 0.15,
             p_replace: float = 0.1, p_partial: float = 0.1, p_trade: float = 0.01,
             p_exec_price: float = 0.2, p_improve: float = 0.1,
             chunk: int = 1 << 16) -> Iterator[np.ndarray]:
    """Yield MBO_DTYPE chunks (time-ordered, about ``chunk`` events each) totalling about
    ``n_messages`` events of ``n_symbols`` instruments (locates 1..n_symbols).

    ``peak_live_orders``: the live-order count (all instruments) the day holds between the
    ramp after the open and the drain before the close (default n_messages // 20, at least
    n_symbols, at most 10^6: each live order holds about 300 bytes of Python objects). Of
    the new orders ``p_aggressive`` trade against the book; of the removals ``p_replace``
    are REPLACEs and ``p_partial`` partial CANCELs (the rest DELETEs);
    ``p_trade`` of the steps are hidden TRADE prints; ``p_exec_price`` of the aggressive
    orders' executions carry the price (ITCH C, printable); ``p_improve`` of the passive
    orders improve the best price when the spread allows. The same arguments give the same
    bytes. Bad arguments raise ValueError at the call."""
    flow = _checked_flow(n_messages, n_symbols, seed, peak_live_orders, p_aggressive,
                         p_replace, p_partial, p_trade, p_exec_price, p_improve, False, chunk)
    return (events for events, _, _ in flow)


def write_itch_file(path, n_messages: int, n_symbols: int = 100, *, seed: int = 0,
                    **kw) -> dict:
    """Generate a day (``generate(n_messages, n_symbols, seed=seed, **kw)``: ``kw`` are
    generate's keywords) and write it to ``path`` as plain ITCH 5.0 (R directory first, locates
    1..n_symbols). Returns a summary dict: events, bytes (file size), max_live (peak live
    orders), live_at_end, symbols, messages (events + R messages)."""
    syms = symbol_names(n_symbols)
    table = [None] + syms  # instrument = locate, locate 0 unnamed
    events = 0
    size = 0
    max_live = 0
    live = 0
    args = dict(_DEFAULTS)
    unknown = set(kw) - set(args)
    if unknown:
        raise TypeError(f"write_itch_file got unexpected keyword arguments {sorted(unknown)}")
    args.update(kw)
    flow = _checked_flow(n_messages, n_symbols, seed, args["peak_live_orders"],
                         args["p_aggressive"], args["p_replace"], args["p_partial"],
                         args["p_trade"], args["p_exec_price"], args["p_improve"], False,
                         args["chunk"])
    with open(os.fspath(path), "wb") as f:
        head = b"".join(itch_directory(i + 1, DAY_START, s) for i, s in enumerate(syms))
        f.write(head)
        size += len(head)
        for chunk, live, max_live in flow:
            data = itch_write(chunk, table)
            f.write(data)
            size += len(data)
            events += len(chunk)
    return {"events": events, "bytes": size, "max_live": max_live, "live_at_end": live,
            "symbols": n_symbols, "messages": events + n_symbols}


def lobster_events(n_messages: int, *, seed: int = 0, **kw) -> np.ndarray:
    """One instrument's stream that LOBSTER can carry (``generate``'s keyword arguments; no
    REPLACE, no status events): instrument 0, types 1-5; DELETE, CANCEL and EXECUTE carry
    the order's price (and DELETE its remaining size), as LOBSTER's message files do."""
    args = dict(_DEFAULTS, p_replace=0.0, p_exec_price=1.0)
    unknown = set(kw) - set(args)
    if unknown:
        raise TypeError(f"lobster_events got unexpected keyword arguments {sorted(unknown)}")
    args.update(kw)
    if args["p_replace"] != 0.0:
        raise ValueError(f"LOBSTER has no REPLACE: p_replace must be 0, got {args['p_replace']!r}")
    ev = concat([c for c, _, _ in _checked_flow(
        n_messages, 1, seed, args["peak_live_orders"], args["p_aggressive"], 0.0,
        args["p_partial"], args["p_trade"], args["p_exec_price"], args["p_improve"], True,
        args["chunk"])])
    ev = ev[ev["action"] != Action.STATUS]
    ev["instrument"] = 0
    ev["side"][ev["action"] == Action.TRADE] = SELL
    ev["flags"] = 0  # LOBSTER has no printable flag
    ev["ref"] = 0    # nor match numbers
    return concat([ev])  # boolean indexing above left the padding uninitialised


def market_by_price(events: np.ndarray) -> np.ndarray:
    """What a market-by-price (L2) feed of the same market says: each MBO_DTYPE event about an
    order becomes a LEVEL event per level it touched (that level's new total, on its
    instrument and side), an EXECUTE first a TRADE print of its lots at the order's price
    (side: the resting side) and then the LEVEL; TRADE, CROSS, BROKEN, STATUS, CLEAR and LEVEL
    events are copied. An event's ts and instrument stay on every event made from it, its
    F_LAST flag on the last one. For trying the simulated venue's L2 queue models on a stream
    whose L3 answer is known (docs/backtest.md). ValueError when an event names an order the
    stream never added (the stream must hold every order it touches) or an ADD repeats a
    live id."""
    if not isinstance(events, np.ndarray) or events.dtype != MBO_DTYPE or events.ndim != 1:
        raise TypeError("market_by_price takes a 1-D MBO_DTYPE array")
    orders: Dict[int, List[int]] = {}        # id -> [instrument, side, price, qty]
    levels: Dict[Tuple[int, int, int], int] = {}
    out: List[Tuple[int, ...]] = []
    last = int(MboFlag.LAST)

    def level(inst: int, side: int, price: int, delta: int, ts: int) -> None:
        key = (inst, side, price)
        levels[key] = levels.get(key, 0) + delta
        out.append((ts, 0, price, 0, levels[key], inst, side, _LEVEL, 0, 0))

    for i, e in enumerate(events.tolist()):
        ts, oid, price, ref, qty, inst, side, action, flags, _status = e
        if action in (_ADD, _CANCEL, _DELETE, _EXECUTE, _REPLACE, _MODIFY):
            o = orders.get(oid)
            if action == _ADD:
                if o is not None:
                    raise ValueError(f"event {i}: ADD of order {oid}, which is live")
                orders[oid] = [inst, side, price, qty]
                level(inst, side, price, qty, ts)
            elif o is None:
                raise ValueError(f"event {i}: {Action(action).name} of order {oid}, which the "
                                 "stream never added (market_by_price needs every order)")
            elif action in (_CANCEL, _EXECUTE):
                lots = min(qty, o[3])
                if action == _EXECUTE:
                    out.append((ts, oid, o[2], ref, lots, o[0], o[1], _TRADE, flags & ~last, 0))
                o[3] -= lots
                level(o[0], o[1], o[2], -lots, ts)
                if o[3] == 0:
                    del orders[oid]
            elif action == _DELETE:
                level(o[0], o[1], o[2], -o[3], ts)
                del orders[oid]
            else:  # REPLACE (a new id) or MODIFY (the same id): at the new price and size
                del orders[oid]
                new_id = ref if action == _REPLACE else oid
                if new_id in orders:
                    raise ValueError(f"event {i}: {Action(action).name} to order {new_id}, "
                                     "which is live")
                orders[new_id] = [o[0], o[1], price, qty]
                if price == o[2]:  # one level: an L2 feed shows the net change
                    level(o[0], o[1], price, qty - o[3], ts)
                else:
                    level(o[0], o[1], o[2], -o[3], ts)
                    level(o[0], o[1], price, qty, ts)
        else:
            if action == _CLEAR:
                orders = {k: v for k, v in orders.items() if v[0] != inst}
                levels = {k: v for k, v in levels.items() if k[0] != inst}
            out.append(tuple(e))
        out[-1] = out[-1][:8] + ((out[-1][8] & ~last) | (flags & last),) + out[-1][9:]
    return np.array(out, dtype=MBO_DTYPE) if out else np.zeros(0, MBO_DTYPE)


def lobster_book_rows(events: np.ndarray, levels: int):
    """The LOBSTER orderbook file of a message stream (``velox.feeds.LobsterBook``): row i =
    the top ``levels`` levels after event i, aggregated from the events by a plain Python
    replay (independent of ``MboBook``). Events must name their orders' prices (as
    ``lobster_events`` makes them)."""
    from velox.feeds import LobsterBook

    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an int >= 1, got {levels!r}")
    n = len(events)
    ask_px = np.zeros((n, levels), np.int64)
    ask_qty = np.zeros((n, levels), np.uint64)
    bid_px = np.zeros((n, levels), np.int64)
    bid_qty = np.zeros((n, levels), np.uint64)
    qty_at: List[Dict[int, int]] = [{}, {}]  # side -> price -> lots
    prices: List[List[int]] = [[], []]        # side -> sorted prices with lots
    orders: Dict[int, List[int]] = {}         # id -> [side, price, lots]
    cols = zip(events["action"].tolist(), events["order_id"].tolist(),
               events["side"].tolist(), events["price"].tolist(), events["qty"].tolist())
    for i, (action, oid, side, price, qty) in enumerate(cols):
        if action == _ADD:
            orders[oid] = [side, price, qty]
            delta = qty
        elif action in (_CANCEL, _EXECUTE, _DELETE):
            o = orders[oid]
            side, price = o[0], o[1]
            delta = -(o[2] if action == _DELETE else qty)
            o[2] += delta
            if o[2] == 0:
                del orders[oid]
        else:
            delta = 0
        if delta:
            book = qty_at[side]
            left = book.get(price, 0) + delta
            if left:
                if price not in book:
                    bisect.insort(prices[side], price)
                book[price] = left
            else:
                del book[price]
                ps = prices[side]
                del ps[bisect.bisect_left(ps, price)]
        bp = prices[BUY][:-levels - 1:-1]
        ap = prices[SELL][:levels]
        bid_px[i, :len(bp)] = bp
        bid_qty[i, :len(bp)] = [qty_at[BUY][p] for p in bp]
        ask_px[i, :len(ap)] = ap
        ask_qty[i, :len(ap)] = [qty_at[SELL][p] for p in ap]
    return LobsterBook(ask_px, ask_qty, bid_px, bid_qty)


def write_lobster_files(message_path, orderbook_path, n_messages: int, *, levels: int = 10,
                        seed: int = 0, **kw) -> dict:
    """Write one instrument's generated day (``lobster_events``) as a LOBSTER message file
    and its ``levels``-level orderbook file (row i = the book after message i). Returns a
    summary dict: events, levels, message_bytes, orderbook_bytes."""
    from velox.feeds import write_lobster, write_lobster_book

    ev = lobster_events(n_messages, seed=seed, **kw)
    book = lobster_book_rows(ev, levels)
    return {"events": len(ev), "levels": levels,
            "message_bytes": write_lobster(message_path, ev),
            "orderbook_bytes": write_lobster_book(orderbook_path, book)}


def txn_flow(n: int, seed: int = 3, gap_ns: int = 0) -> np.ndarray:
    """n TXN_DTYPE records of a valid-looking order flow on velox.Pipeline's default book (base
    100.00, tick 0.01): seq = 0..n-1, random sides, 20 % cancels, sizes 1..49, prices 104.00 to
    105.99; tsc = i * gap_ns (a recorded ns timestamp, for paced replays). The same arguments
    give the same bytes."""
    if n < 0 or gap_ns < 0:
        raise ValueError(f"txn_flow needs n >= 0 and gap_ns >= 0, got n={n!r}, gap_ns={gap_ns!r}")
    rng = np.random.default_rng(seed)
    a = np.zeros(n, TXN_DTYPE)
    a["seq"] = np.arange(n)
    a["side"] = rng.integers(0, 2, n)
    a["kind"] = rng.random(n) < 0.2
    a["qty"] = rng.integers(1, 50, n)
    a["price"] = 100 * PRICE_SCALE + rng.integers(400, 600, n) * (PRICE_SCALE // 100)
    a["tsc"] = np.arange(n, dtype=np.uint64) * np.uint64(gap_ns)
    return a
