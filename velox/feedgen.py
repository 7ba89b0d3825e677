"""A seeded, vectorised order-flow generator for tests and benchmarks (docs/feeds.md).

``generate(...)`` yields MBO_DTYPE chunks in time order for ``n_symbols`` instruments
(locates 1..n_symbols). Every order follows a life cycle drawn at its ADD:

- rests until the end of the day (``p_rest``: these make the live-order count grow),
- DELETE after an exponential lifetime,
- partial CANCEL, then DELETE,
- full EXECUTE (ITCH E; some as C with the order's price and printable),
- REPLACE (ITCH U) to a new id at a nearby price, which is later DELETEd.

Events of one order have strictly increasing timestamps, so sorting by time keeps each life
cycle in order; every EXECUTE/CANCEL/DELETE/REPLACE names a live order with enough shares.
A few TRADE (P) prints, system (S) events at the open/close and one trading-status (H) per
symbol complete the stream. Prices sit on a $0.01 grid (10^6 in velox fixed point) around a
per-symbol mid that random-walks; sizes are round lots.

Generation works window by window (``window_ns`` of the day): follow-up events that fall in a
later window wait in per-window buckets, so memory stays proportional to one window plus the
pending follow-ups, not the whole day. ``write_itch_file`` writes the day as ITCH 5.0 (R
directory first); ``lobster_events`` makes one symbol's LOBSTER-representable stream.
``txn_flow`` makes a TXN_DTYPE order flow for the pipeline's L2 book (Pipeline.feed, events:
files, shm: sources).
"""

from __future__ import annotations

import os
from typing import Iterator, List, Optional

import numpy as np

from velox._feeds import itch_directory, itch_write
from velox._records import BUY, MBO_DTYPE, PRICE_SCALE, SELL, SIDE_NONE, TXN_DTYPE, Action, MboFlag

TICK = 1_000_000          # $0.01 in velox fixed point (1e8 scale)
DAY_START = 34_200 * 10**9  # 09:30:00
DAY_END = 57_600 * 10**9    # 16:00:00


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


def generate(n_messages: int, n_symbols: int = 100, *, seed: int = 0,
             p_rest: float = 0.12, mean_life_s: float = 20.0, p_replace: float = 0.1,
             p_execute: float = 0.1, p_partial: float = 0.1, p_trade: float = 0.01, p_exec_price: float = 0.2,
             window_ns: Optional[int] = None) -> Iterator[np.ndarray]:
    """Yield MBO_DTYPE chunks (time-ordered) totalling about ``n_messages`` events."""
    if n_messages < 1 or not 1 <= n_symbols <= 65535:
        raise ValueError(f"need n_messages >= 1 and n_symbols in [1, 65535], got "
                         f"{n_messages}, {n_symbols}")
    rng = np.random.default_rng(seed)
    # events per order: 1 (rest), 2 (delete / execute), 3 (partial+delete, replace+delete)
    p_delete = 1.0 - p_rest - p_replace - p_execute - p_partial
    if p_delete < 0:
        raise ValueError("life-cycle probabilities exceed 1")
    per_order = p_rest + 2 * (p_delete + p_execute) + 3 * (p_partial + p_replace) + p_trade
    n_orders = max(1, int(n_messages / per_order))
    day = DAY_END - DAY_START
    if window_ns is None:
        window_ns = max(10**6, day // max(1, n_orders // 200_000))
    n_windows = -(-day // window_ns)
    mids = (rng.integers(1000, 50000, n_symbols) * TICK).astype(np.int64)  # $10..$500
    # symbol popularity: Zipf-like weights
    weights = 1.0 / np.arange(1, n_symbols + 1) ** 0.8
    weights /= weights.sum()
    cum = np.cumsum(weights)
    pending: dict = {}
    next_id = 1
    next_match = 1
    orders_per_window = np.diff(np.linspace(0, n_orders, n_windows + 1).astype(np.int64))

    # opening events: S 'O', 'S', 'Q' and H 'T' for every symbol
    t0 = DAY_START - 10**9
    opening = [_events(3, [t0, t0 + 1, t0 + 2], Action.STATUS, 0, SIDE_NONE, 0, 0, 0,
                       flags=MboFlag.SYSTEM, status=[ord("O"), ord("S"), ord("Q")])]
    opening.append(_events(n_symbols, t0 + 3, Action.STATUS, 0, SIDE_NONE, 0, 0,
                           np.arange(1, n_symbols + 1), status=ord("T")))
    yield concat(opening)

    for w in range(n_windows):
        w0 = DAY_START + w * window_ns
        n = int(orders_per_window[w])
        parts = pending.pop(w, [])
        if n:
            ts = np.sort(rng.integers(w0, w0 + window_ns, n)).astype(np.uint64)
            inst = np.searchsorted(cum, rng.random(n)).astype(np.uint32)
            inst = np.minimum(inst, n_symbols - 1)
            mids += rng.integers(-2, 3, n_symbols) * TICK
            mids = np.maximum(mids, 100 * TICK)
            side = rng.integers(0, 2, n).astype(np.uint8)
            dist = rng.geometric(0.15, n).astype(np.int64)  # ticks away from the mid
            price = mids[inst] + np.where(side == BUY, -dist, dist) * TICK
            qty = (rng.geometric(0.3, n) * 100).astype(np.uint32)
            oid = np.arange(next_id, next_id + n, dtype=np.uint64)
            next_id += n
            locate = inst + 1
            parts.append(_events(n, ts, Action.ADD, oid, side, price, qty, locate))
            fate = rng.random(n)
            c1 = p_rest
            c2 = c1 + p_delete
            c3 = c2 + p_execute
            c4 = c3 + p_partial
            life = (rng.exponential(mean_life_s * 1e9, n) + 1).astype(np.uint64)
            t1 = ts + life
            t2 = t1 + (rng.exponential(mean_life_s * 1e9, n) + 1).astype(np.uint64)

            def later(mask, t, make):
                idx = np.nonzero(mask & (t < DAY_END))[0]
                if not len(idx):
                    return
                ev = make(idx)
                bucket = ((ev["ts"] - DAY_START) // window_ns).astype(np.int64)
                for b in np.unique(bucket):
                    pending.setdefault(int(b), []).append(ev[bucket == b])

            later((fate >= c1) & (fate < c2), t1, lambda i: _events(
                len(i), t1[i], Action.DELETE, oid[i], side[i], 0, 0, locate[i]))
            ex = (fate >= c2) & (fate < c3)
            with_price = rng.random(n) < p_exec_price
            matches = np.arange(next_match, next_match + n, dtype=np.uint64)
            next_match += n
            later(ex, t1, lambda i: _events(
                len(i), t1[i], Action.EXECUTE, oid[i], side[i],
                np.where(with_price[i], price[i], 0), qty[i], locate[i], ref=matches[i],
                flags=np.where(with_price[i], int(MboFlag.PRINTABLE), 0)))
            part = (fate >= c3) & (fate < c4)
            cut = np.maximum(1, qty // 2).astype(np.uint32)
            later(part, t1, lambda i: _events(
                len(i), t1[i], Action.CANCEL, oid[i], side[i], 0, cut[i], locate[i]))
            later(part, t2, lambda i: _events(
                len(i), t2[i], Action.DELETE, oid[i], side[i], 0, 0, locate[i]))
            rep = fate >= c4
            nr = n
            new_id = np.arange(next_id, next_id + nr, dtype=np.uint64)
            next_id += nr
            new_price = price + np.where(side == BUY, -1, 1) * TICK
            later(rep, t1, lambda i: _events(
                len(i), t1[i], Action.REPLACE, oid[i], side[i], new_price[i], qty[i],
                locate[i], ref=new_id[i]))
            later(rep & (t1 < DAY_END), t2, lambda i: _events(
                len(i), t2[i], Action.DELETE, new_id[i], side[i], 0, 0, locate[i]))
            nt = rng.binomial(n, p_trade)
            if nt:
                ti = rng.integers(0, n, nt)
                parts.append(_events(nt, ts[ti] + 1, Action.TRADE, 0, BUY, price[ti],
                                     100, locate[ti],
                                     ref=np.arange(next_match, next_match + nt, dtype=np.uint64)))
                next_match += nt
        parts += pending.pop(w, [])  # follow-ups that fell in this same window
        if parts:
            chunk = concat(parts)
            # stable sort by time: same-ts events keep generation order
            chunk = chunk[np.argsort(chunk["ts"], kind="stable")]
            yield chunk
    closing = _events(3, [DAY_END + 1, DAY_END + 2, DAY_END + 3], Action.STATUS, 0, SIDE_NONE,
                      0, 0, 0, flags=MboFlag.SYSTEM,
                      status=[ord("M"), ord("E"), ord("C")])
    yield closing


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
    live = 0
    max_live = 0
    with open(os.fspath(path), "wb") as f:
        head = b"".join(itch_directory(i + 1, DAY_START - 2 * 10**9, s) for i, s in enumerate(syms))
        f.write(head)
        size += len(head)
        for chunk in generate(n_messages, n_symbols, seed=seed, **kw):
            data = itch_write(chunk, table)
            f.write(data)
            size += len(data)
            events += len(chunk)
            a = chunk["action"]
            delta = np.where(a == Action.ADD, 1, 0) - np.where(
                (a == Action.DELETE) | (a == Action.EXECUTE), 1, 0)
            run = live + np.cumsum(delta)
            if len(run):
                max_live = max(max_live, int(run.max()))
                live = int(run[-1])
    return {"events": events, "bytes": size, "max_live": max_live, "live_at_end": live,
            "symbols": n_symbols, "messages": events + n_symbols}


def lobster_events(n_messages: int, *, seed: int = 0) -> np.ndarray:
    """One symbol's stream that LOBSTER can carry (no REPLACE, no system S events):
    instrument 0, types 1-5 and one halt/resume pair."""
    parts = [c for c in generate(n_messages, 1, seed=seed, p_replace=0.0, p_trade=0.01,
                                      p_exec_price=1.0)]
    ev = concat(parts)
    ev = ev[(ev["action"] != Action.STATUS)]
    ev["instrument"] = 0
    trade = ev["action"] == Action.TRADE
    ev["side"][trade] = SELL
    ev["flags"] = 0  # LOBSTER has no printable flag
    ev["ref"] = 0    # nor match numbers
    return concat([ev])  # boolean indexing above left the padding uninitialised


def txn_flow(n: int, seed: int = 3, gap_ns: int = 0) -> np.ndarray:
    """n TXN_DTYPE records of a valid-looking order flow on velox.Pipeline's default book (base
    100.00, tick 0.01): seq = 0..n-1, random sides, 20 % cancels, sizes 1..49, prices 104.00 to
    105.99; tsc = i * gap_ns (a recorded ns timestamp, for paced replays)."""
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
