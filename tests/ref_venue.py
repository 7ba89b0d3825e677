"""A deliberately simple pure-Python reference of velox's backtest loop (the oracle).

Written from the headers' text only (csrc/velox/venue.h, host.h, positions.h, backtest.h,
strategy.h, orders.h, mbo.h, types.h), never from the C sources: velox.backtest must produce
the same orders, execution reports and P&L points, byte for byte. Everything here favours
obviousness over speed: dicts and lists, one event at a time.

Pieces: ``Books`` (market-by-order books of several instruments sharing one order table;
LEVEL events of market-by-price data kept as seeded lots), ``Venue`` (latency queues,
matching, queue-ahead tracking, the queue models fifo / risk_averse / prob of venue.h
"Queue models"), ``Host`` (refusal order, working
table, positions), ``ScriptStrategy`` / ``QuoteStrategy`` (builtin:script, builtin:quote),
``run`` (the loop of backtest.h).

The headers (as refined with the C implementation: backtest.h's delivery points, host.h's
"Details", venue.h's "Precisely", strategy_builtin.h) settle most questions. Where they still
leave a choice, this module reads them as follows (velox must match, or the header must say
otherwise):

R1  Deliveries (venue arrivals, reports, local REJECTs) happen only at group starts, for
    everything due strictly before the group's first (made non-decreasing) ts, in time order;
    at one time arrivals first, then reports; local REJECTs queued so far go before any venue
    report at every delivery point (host.h "Delivery").
R2  result.orders holds the orders that left for the venue (ts = now); refused orders appear
    only as their REJECT in result.execs. A bad report (about an id not working, wrong side or
    instrument, or a fill that does not chain leaves) is logged in execs, not applied, and
    does not reach on_exec.
R3  The venue's time never goes back: a resting order's t_O is the (stamped) time the venue
    matched it at; a replayed order X is ahead of it when X's placing event has ts <= t_O.
R4  At one market event, our orders at the event's (instrument, side) are visited in the
    order they came to rest; each is alone (one execute may fill several).
R5  A delivered report's ts_local = max(its due time, the time the host already reached)
    (host.h); P&L fill points carry that ts; interval points (reason 2) are written
    in vx_host_market after the marks, for traded instruments in id order.
R6  vx_backtest_finish: deliveries until nothing is scheduled, close at the last time reached
    (the last event's ts or the last delivery's, whichever is later; the venue stamps the
    EXPIREDs at its latest time if later still), those reports.
R7  A CANCEL / MODIFY whose order id works on another instrument is refused by the host
    (UNKNOWN_ORDER, side VX_SIDE_NONE, leaves 0), as the venue's CANCEL rule reads
    "working" (id AND instrument); host.h says only "order_id not working".
R8  LEVEL (mbo.h) with qty 0 on an unplaced book is applied and changes nothing (the book
    stays unplaced: only a LEVEL with qty > 0 places it); a LEVEL outside a placed book's
    window is applied and kept nowhere, and shows 0 lots before and after (q0 = q = 0).
R9  VX_QUEUE_PROB's p_O (TRADE lots at O's price since the last LEVEL there) belongs to each
    resting order: 0 when it comes to rest
    (also when a MODIFY matches it again), += L for each print that reaches it at its price
    (side r), kept by a MODIFY in place, 0 after every applied LEVEL at its (side, price).
    Prints before it rested do not count.
R10 The prob estimate: a and b converted to double once; f(y) = 1.0 * y * ... * y (n
    multiplications, left to right); "x - cut > b" as (double)x - cut > (double)b and
    "cut = x - b" as (double)x - (double)b (= (double)(x - b) below 2^53). The draw is made
    whenever frac > 0 (x > 0, a > 0), also when floor(cut) alone empties a; one LEVEL draws
    once per such order, in the order they came to rest.
R11 A TRADE print acts (risk_averse, prob) only when the book applies it (valid instrument
    and side); with VX_SIDE_NONE its side comes from the displayed book before it (seeded
    lots included: LEVEL events show there).
Not modelled (the oracle raises NotImplementedError or the tests do not drive it): orders or
events outside the books' window (recentering; a LEVEL outside it is, R8), timers, the
max-loss kill switch, snapshots (seeded lots come only from LEVEL events), saturation at
int64 / uint64 (the prob estimate's cut >= 2^64 included).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import velox

SCALE = 10**8
BUY, SELL, SIDE_NONE = 0, 1, 2
(ADD, M_CANCEL, DELETE, EXECUTE, REPLACE, TRADE, CROSS, BROKEN, CLEAR, STATUS,
 M_MODIFY, LEVEL) = range(1, 13)
F_LAST = 4
LIMIT, MARKET = 1, 2
GTC, IOC, POST_ONLY = 1, 2, 3
NEW, CANCEL, MODIFY = 1, 2, 3
ACK, REJECT, FILL, PARTIAL_FILL, CANCELED, MODIFIED, EXPIRED = range(1, 8)
LIQ_NONE, MAKER, TAKER = 0, 1, 2
(R_ORDER_ID, R_SIDE, R_TYPE, R_TIF, R_ACTION, R_PRICE, R_QTY) = range(1, 8)
R_UNKNOWN_INSTRUMENT, R_UNKNOWN_ORDER, R_DUPLICATE_ID = 10, 11, 12
R_WOULD_CROSS, R_RISK, R_VENUE, R_LIMIT = 13, 14, 15, 16
MAX_SENDS = 4096
MAX_GROUP = 256
UINT64 = 1 << 64
FIFO, RISK_AVERSE, PROB = 0, 1, 2
QUEUE_MODELS = ("fifo", "risk_averse", "prob")
QUEUE_SEED_XOR = 0x9E6C63D0676A9A99

PNL_DTYPE = getattr(velox, "PNL_DTYPE", None) or np.dtype({
    "names": ["ts", "instrument", "reason", "position", "realized", "unrealized", "fees",
              "total"],
    "formats": ["=u8", "=u4", "=u4", "=i8", "=i8", "=i8", "=i8", "=i8"],
    "offsets": [0, 8, 12, 16, 24, 32, 40, 48], "itemsize": 56}, align=True)


def fee_of(fee: Tuple[int, int], price: int, lots: int) -> int:
    """venue.h vx_fee_of: lots * per_lot + (price * lots) * rate / SCALE, the rate term
    truncated toward zero."""
    per_lot, rate = fee
    num = price * lots * rate
    q = abs(num) // SCALE
    return lots * per_lot + (q if num >= 0 else -q)


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def validate_order(o: Dict[str, int]) -> int:
    """orders.h vx_order_validate: action, order_id, then NEW side/type/tif/price/qty or
    MODIFY price/qty."""
    act = o["action"]
    if act not in (NEW, CANCEL, MODIFY):
        return R_ACTION
    if o["order_id"] == 0:
        return R_ORDER_ID
    if act == NEW:
        if o["side"] not in (BUY, SELL):
            return R_SIDE
        if o["type"] not in (LIMIT, MARKET):
            return R_TYPE
        if o["tif"] not in (GTC, IOC, POST_ONLY) or (o["type"] == MARKET and o["tif"] != IOC):
            return R_TIF
        if (o["type"] == LIMIT and o["price"] <= 0) or (o["type"] == MARKET and o["price"] != 0):
            return R_PRICE
        if o["qty"] == 0:
            return R_QTY
    elif act == MODIFY:
        if o["price"] <= 0:
            return R_PRICE
        if o["qty"] == 0:
            return R_QTY
    return 0


# ---- prng.h: xoshiro256** seeded through splitmix64 ----------------------------------------

M64 = (1 << 64) - 1


class Prng:
    def __init__(self, seed: int):
        sm = seed & M64
        self.s = []
        for _ in range(4):
            sm = (sm + 0x9E3779B97F4A7C15) & M64
            z = sm
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self) -> int:
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def jitter(self, j: int) -> int:
        """venue.h: d = (x * (j + 1)) >> 64 (j = 2^64 - 1: d = x); j = 0 draws nothing."""
        if j == 0:
            return 0
        x = self.next()
        return x if j == M64 else (x * (j + 1)) >> 64


# ---- books ------------------------------------------------------------------------------

@dataclass
class MarketOrder:
    instrument: int
    side: int
    price: int
    qty: int
    placed: int   # ts of the event that placed it (ADD, REPLACE, priority-losing MODIFY)


class Books:
    """mbo.h's set of books: one order table, a FIFO (list of ids) per (instrument, side,
    price), seeded lots per level. Windows: a book is placed by its first ADD (level
    levels/2); anything outside the window raises NotImplementedError."""

    def __init__(self, instruments: int, tick: int, levels: int):
        self.instruments, self.tick, self.levels = instruments, tick, levels
        self.orders: Dict[int, MarketOrder] = {}
        self.queues: Dict[Tuple[int, int, int], List[int]] = {}
        self.seeded: Dict[Tuple[int, int, int], int] = {}
        self.base: Dict[int, int] = {}
        self.rejects = 0

    def _grid(self, inst: int, price: int) -> bool:
        """On the grid (an unplaced book: any price; raises when outside the window: not
        modelled)."""
        if inst not in self.base:
            return True
        k, r = divmod(price - self.base[inst], self.tick)
        if r:
            return False
        if not 0 <= k < self.levels:
            raise NotImplementedError(f"price {price} outside the window of book {inst}")
        return True

    def in_window(self, inst: int, price: int) -> bool:
        """On the ladder of a placed book (what vx_mbo_qty can answer for)."""
        if inst not in self.base:
            return False
        k, r = divmod(price - self.base[inst], self.tick)
        return r == 0 and 0 <= k < self.levels

    def shown(self, inst: int, side: int, price: int) -> int:
        """vx_mbo_qty: the lots the book shows at (side, price), 0 outside the window."""
        return self.qty_at(inst, side, price) if self.in_window(inst, price) else 0

    def qty_at(self, inst: int, side: int, price: int) -> int:
        key = (inst, side, price)
        return self.seeded.get(key, 0) + sum(self.orders[i].qty for i in self.queues.get(key, ()))

    def levels_of(self, inst: int, side: int) -> List[Tuple[int, int]]:
        """Displayed levels of a side, best first."""
        prices = {k[2] for k in set(self.queues) | set(self.seeded) if k[0] == inst and k[1] == side}
        out = [(p, self.qty_at(inst, side, p)) for p in prices]
        out = [x for x in out if x[1] > 0]
        out.sort(key=lambda x: -x[0] if side == BUY else x[0])
        return out

    def best(self, inst: int, side: int) -> Optional[int]:
        lv = self.levels_of(inst, side)
        return lv[0][0] if lv else None

    def _rest(self, oid: int, inst: int, side: int, price: int, qty: int, ts: int) -> None:
        if inst not in self.base:
            self.base[inst] = price - (self.levels // 2) * self.tick
        self.orders[oid] = MarketOrder(inst, side, price, qty, ts)
        self.queues.setdefault((inst, side, price), []).append(oid)

    def _leave(self, oid: int) -> None:
        o = self.orders.pop(oid)
        key = (o.instrument, o.side, o.price)
        self.queues[key].remove(oid)
        if not self.queues[key]:
            del self.queues[key]

    def _reduce_seeded(self, inst: int, side: int, price: int, qty: int) -> None:
        if side not in (BUY, SELL) or inst not in self.base:
            return
        if (price - self.base[inst]) % self.tick:
            return
        key = (inst, side, price)
        if key in self.seeded:
            self.seeded[key] = max(0, self.seeded[key] - qty)

    def apply(self, e: Dict[str, int], ts: int) -> bool:
        """Applies one event (ts already clamped); False when the book rejects it."""
        ok = self._apply(e, ts, False)
        if not ok:
            self.rejects += 1
        return ok

    def accepts(self, e: Dict[str, int]) -> bool:
        """Whether the books would apply e (nothing changes)."""
        return self._apply(e, 0, True)

    def _apply(self, e: Dict[str, int], ts: int, dry: bool) -> bool:
        act, oid, side, price, qty = e["action"], e["order_id"], e["side"], e["price"], e["qty"]
        inst = e["instrument"]
        if not 1 <= act <= LEVEL or side not in (BUY, SELL, SIDE_NONE):
            return False
        if act == ADD and side == SIDE_NONE:
            return False
        known = self.orders.get(oid) if act in (M_CANCEL, DELETE, EXECUTE, REPLACE, M_MODIFY) else None
        if known is None and inst >= self.instruments:
            return False
        if act == ADD:
            if qty == 0 or oid in self.orders:
                return False
            if not self._grid(inst, price):
                return False
            if not dry:
                self._rest(oid, inst, side, price, qty, ts)
        elif act in (M_CANCEL, EXECUTE):
            if known is None:
                if qty == 0:
                    return False
                if not dry:
                    self._reduce_seeded(inst, side, price, qty)
                return True
            if qty == 0 or qty > known.qty:
                return False
            if dry:
                return True
            known.qty -= qty
            if known.qty == 0:
                self._leave(oid)
        elif act == DELETE:
            if dry:
                return True
            if known is None:
                self._reduce_seeded(inst, side, price, qty)
            else:
                self._leave(oid)
        elif act == REPLACE:
            new = e["ref"]
            if qty == 0 or (new in self.orders and new != oid):
                return False
            rside = known.side if known else side
            rinst = known.instrument if known else inst
            if known is None and rside == SIDE_NONE:
                return True
            if not self._grid(rinst, price):
                return False
            if dry:
                return True
            if known:
                self._leave(oid)
            self._rest(new, rinst, rside, price, qty, ts)
        elif act == M_MODIFY:
            if qty == 0:
                return False
            if known is None:
                if side == SIDE_NONE:
                    return True
                if not self._grid(inst, price):
                    return False
                if not dry:
                    self._rest(oid, inst, side, price, qty, ts)
                return True
            if price == known.price and qty <= known.qty:
                if not dry:
                    known.qty = qty
                return True
            if not self._grid(known.instrument, price):
                return False
            if dry:
                return True
            self._leave(oid)
            self._rest(oid, known.instrument, known.side, price, qty, ts)
        elif act == LEVEL:
            # mbo.h LEVEL: the level now shows qty lots; its seeded lots = qty minus the
            # identified orders' lots there (>= 0); the first LEVEL with qty > 0 places an
            # unplaced book; outside the window: applied, not kept (R8)
            if side == SIDE_NONE:
                return False
            if inst not in self.base:
                if qty == 0:
                    return True
                if not dry:
                    self.base[inst] = price - (self.levels // 2) * self.tick
            else:
                k, r = divmod(price - self.base[inst], self.tick)
                if r:
                    return False
                if not 0 <= k < self.levels:
                    return True
            if not dry:
                key = (inst, side, price)
                held = sum(self.orders[i].qty for i in self.queues.get(key, ()))
                self.seeded[key] = max(0, qty - held)
        elif act == CLEAR:
            if dry:
                return True
            for i in [i for i, o in self.orders.items() if o.instrument == inst]:
                self._leave(i)
            for k in [k for k in self.seeded if k[0] == inst]:
                del self.seeded[k]
        return True


# ---- venue ------------------------------------------------------------------------------

@dataclass
class Resting:
    order_id: int
    instrument: int
    side: int
    price: int
    leaves: int
    tif: int
    placed: int   # arrival time t_O
    ahead: int
    seq: int      # order of coming to rest
    traded: int = 0   # VX_QUEUE_PROB's p_O: TRADE lots at its price since the last LEVEL there


def exec_record(**kw: int) -> Dict[str, int]:
    r = dict(ts_exchange=0, ts_local=0, order_id=0, fill_price=0, fee=0, fill_qty=0,
             leaves_qty=0, instrument=0, kind=0, side=0, liquidity=0, reason=0)
    r.update(kw)
    return r


class Venue:
    def __init__(self, books: Books, entry_ns: int, response_ns: int,
                 maker: Tuple[int, int], taker: Tuple[int, int], entry_jitter_ns: int = 0,
                 response_jitter_ns: int = 0, seed: int = 0, max_orders: int = 4096,
                 queue_model: str = "fifo", queue_power: int = 2):
        if queue_model not in QUEUE_MODELS or not 0 <= queue_power <= 8:
            raise ValueError(f"queue_model {queue_model!r} / queue_power {queue_power!r}")
        self.books = books
        self.model, self.power = QUEUE_MODELS.index(queue_model), queue_power
        self.queue_rng = Prng(seed ^ QUEUE_SEED_XOR)
        self.entry_ns, self.response_ns = entry_ns, response_ns
        self.entry_jitter, self.response_jitter = entry_jitter_ns, response_jitter_ns
        self.entry_rng = Prng(seed)
        self.response_rng = Prng(seed ^ 0xD1B54A32D192ED03)
        self.max_orders = max_orders
        self.vtime = 0   # the venue's time never goes back
        self.maker, self.taker = maker, taker
        self.inbound: deque = deque()   # (arrival, order)
        self.outbound: deque = deque()  # report dicts, ts_local = due
        self.working: Dict[int, Resting] = {}   # resting orders by id
        self.last_arrival = 0
        self.last_due = 0
        self.closed = False
        self.seq = 0

    def submit(self, order: Dict[str, int], now: int) -> None:
        a = max(now + self.entry_ns + self.entry_rng.jitter(self.entry_jitter), self.last_arrival)
        self.last_arrival = a
        self.inbound.append((a, order))

    def _report(self, v: int, **kw: int) -> None:
        due = max(v + self.response_ns + self.response_rng.jitter(self.response_jitter),
                  self.last_due)
        self.last_due = due
        self.outbound.append(exec_record(ts_exchange=v, ts_local=due, **kw))

    def next_arrival(self) -> Optional[int]:
        return self.inbound[0][0] if self.inbound else None

    def next_report(self) -> Optional[int]:
        return self.outbound[0]["ts_local"] if self.outbound else None

    def run_until(self, t: int, strict: bool) -> None:
        """Matches every order arriving before t (strict) or at/before t."""
        while self.inbound and (self.inbound[0][0] < t if strict else self.inbound[0][0] <= t):
            a, o = self.inbound.popleft()
            self._arrive(o, a)

    def _take(self, o: Dict[str, int], inst: int, side: int, limit: Optional[int],
              leaves: int, a: int) -> int:
        opp = SELL if side == BUY else BUY
        for price, qty in self.books.levels_of(inst, opp):
            if leaves == 0:
                break
            if limit is not None and (price > limit if side == BUY else price < limit):
                break
            lots = min(qty, leaves)
            leaves -= lots
            self._report(a, order_id=o["order_id"], instrument=inst, side=side,
                         kind=FILL if leaves == 0 else PARTIAL_FILL, fill_price=price,
                         fill_qty=lots, leaves_qty=leaves, liquidity=TAKER,
                         fee=fee_of(self.taker, price, lots))
        return leaves

    def _marketable(self, inst: int, side: int, otype: int, price: int) -> bool:
        if otype == MARKET:
            return True
        best = self.books.best(inst, SELL if side == BUY else BUY)
        if best is None:
            return False
        return best <= price if side == BUY else best >= price

    def _match(self, oid: int, inst: int, side: int, otype: int, tif: int, price: int,
               leaves: int, a: int) -> None:
        """The NEW path after the ACK / MODIFIED: take, then cancel or rest the rest."""
        if self._marketable(inst, side, otype, price):
            leaves = self._take({"order_id": oid}, inst, side,
                                None if otype == MARKET else price, leaves, a)
            if leaves == 0:
                return
        if tif == IOC or otype == MARKET:
            self._report(a, order_id=oid, instrument=inst, side=side, kind=CANCELED)
            return
        if not self.books._grid(inst, price):
            raise NotImplementedError(f"our order {oid} off the grid at {price}")
        self.seq += 1
        self.working[oid] = Resting(oid, inst, side, price, leaves, tif, a,
                                    self.books.qty_at(inst, side, price), self.seq)

    def _arrive(self, o: Dict[str, int], a: int) -> None:
        oid, inst, act = o["order_id"], o["instrument"], o["action"]
        a = self.vtime = max(a, self.vtime)
        if self.closed:
            self._report(a, order_id=oid, instrument=inst, side=o["side"], kind=REJECT,
                         reason=R_VENUE)
            return
        if act == NEW:
            side = o["side"]
            if inst >= self.books.instruments:
                self._report(a, order_id=oid, instrument=inst, side=side, kind=REJECT,
                             reason=R_UNKNOWN_INSTRUMENT)
                return
            if oid in self.working:
                self._report(a, order_id=oid, instrument=inst, side=side, kind=REJECT,
                             reason=R_DUPLICATE_ID)
                return
            if o["tif"] != IOC and o["type"] == LIMIT and len(self.working) >= self.max_orders:
                self._report(a, order_id=oid, instrument=inst, side=side, kind=REJECT,
                             reason=R_LIMIT)
                return
            if o["tif"] == POST_ONLY and self._marketable(inst, side, o["type"], o["price"]):
                self._report(a, order_id=oid, instrument=inst, side=side, kind=REJECT,
                             reason=R_WOULD_CROSS)
                return
            self._report(a, order_id=oid, instrument=inst, side=side, kind=ACK,
                         leaves_qty=o["qty"])
            self._match(oid, inst, side, o["type"], o["tif"], o["price"], o["qty"], a)
        elif act == CANCEL:
            r = self.working.get(oid)
            if r is None or r.instrument != inst:
                self._report(a, order_id=oid, instrument=inst, side=SIDE_NONE, kind=REJECT,
                             reason=R_UNKNOWN_ORDER)
                return
            del self.working[oid]
            self._report(a, order_id=oid, instrument=r.instrument, side=r.side, kind=CANCELED)
        elif act == MODIFY:
            r = self.working.get(oid)
            if r is None or r.instrument != inst:
                self._report(a, order_id=oid, instrument=inst, side=SIDE_NONE, kind=REJECT,
                             reason=R_UNKNOWN_ORDER)
                return
            if o["price"] == r.price and o["qty"] <= r.leaves:
                r.leaves = o["qty"]
                self._report(a, order_id=oid, instrument=r.instrument, side=r.side,
                             kind=MODIFIED, leaves_qty=r.leaves)
                return
            del self.working[oid]
            if r.tif == POST_ONLY and self._marketable(r.instrument, r.side, LIMIT, o["price"]):
                self._report(a, order_id=oid, instrument=r.instrument, side=r.side,
                             kind=REJECT, reason=R_WOULD_CROSS, leaves_qty=r.leaves)
                self._report(a, order_id=oid, instrument=r.instrument, side=r.side,
                             kind=CANCELED)
                return
            self._report(a, order_id=oid, instrument=r.instrument, side=r.side, kind=MODIFIED,
                         leaves_qty=o["qty"])
            self._match(oid, r.instrument, r.side, LIMIT, r.tif, o["price"], o["qty"], a)

    # -- the queue hooks: one call per market event with the book BEFORE it ---------------
    def on_event(self, e: Dict[str, int], ts: int) -> None:
        """Updates queue positions and fills resting orders for event e (call before the
        books apply it; call only when the books accept it). venue.h "Precisely"."""
        act = e["action"]
        if not self.working:
            return
        if act == TRADE:
            if self.model != FIFO:
                self._trade(e, ts)
            return
        if act == CLEAR:
            for r in self.working.values():
                if r.instrument == e["instrument"]:
                    r.ahead = 0
            return
        if act not in (M_CANCEL, DELETE, EXECUTE, REPLACE, M_MODIFY):
            return
        known = self.books.orders.get(e["order_id"])
        if known is not None and known.instrument != e["instrument"]:
            known = None   # resting in another instrument's book: unknown here
        if known is not None:
            side, xprice = known.side, known.price
            if act in (M_CANCEL, EXECUTE):
                lost = min(e["qty"], known.qty)
            elif act in (DELETE, REPLACE):
                lost = known.qty
            else:  # MODIFY
                lost = (known.qty - e["qty"]) if (e["price"] == known.price and
                                                  e["qty"] <= known.qty) else known.qty
            exec_price = e["price"] or known.price
        else:
            if act not in (M_CANCEL, DELETE, EXECUTE) or e["side"] not in (BUY, SELL) \
                    or e["price"] == 0:
                return
            side, xprice, lost = e["side"], e["price"], e["qty"]
            exec_price = e["price"]
        mine = sorted((r for r in self.working.values()
                       if r.instrument == e["instrument"] and r.side == side),
                      key=lambda r: r.seq)
        for r in mine:
            ahead = known is None or known.placed <= r.placed
            if xprice == r.price and ahead and not (known is None and act == EXECUTE):
                r.ahead -= min(lost, r.ahead)
            elif act == EXECUTE and (xprice == r.price or
                                     (exec_price < r.price if side == BUY else exec_price > r.price)):
                self._maker_fill(r, lost, ts)

    def _resting(self, inst: int, side: int) -> List[Resting]:
        """Our orders resting at (instrument, side), in the order they came to rest."""
        return sorted((r for r in self.working.values()
                       if r.instrument == inst and r.side == side), key=lambda r: r.seq)

    def _trade(self, e: Dict[str, int], ts: int) -> None:
        """venue.h "Queue models", both L2 models: a TRADE print of L lots at p consumes the
        resting side r (the print's, or from the book before it when VX_SIDE_NONE); at p
        (p_O += L) and through p the fill rule."""
        inst, p, lots, r = e["instrument"], e["price"], e["qty"], e["side"]
        if p == 0:
            return
        if r == SIDE_NONE:
            bid, ask = self.books.best(inst, BUY), self.books.best(inst, SELL)
            if bid is not None and p <= bid:
                r = BUY
            elif ask is not None and p >= ask:
                r = SELL
            else:
                return
        for o in self._resting(inst, r):
            if o.price == p:
                if self.model == PROB:
                    o.traded += lots
                self._maker_fill(o, lots, ts)
            elif p < o.price if r == BUY else p > o.price:
                self._maker_fill(o, lots, ts)

    def on_level(self, e: Dict[str, int], q0: int, q: int) -> None:
        """venue.h "Queue models": a LEVEL the books applied, which took the lots shown at its
        (side, price) from q0 to q. Call after the books applied it."""
        if not self.working:
            return
        d = q0 - q if q0 > q else 0
        for o in self._resting(e["instrument"], e["side"]):
            if o.price != e["price"]:
                continue
            if self.model == FIFO:
                o.ahead -= min(d, o.ahead)
            elif self.model == RISK_AVERSE:
                o.ahead = min(o.ahead, q)
            else:
                x = d - o.traded
                o.traded = 0
                if x > 0 and o.ahead > 0:
                    o.ahead -= min(self._prob_advance(o.ahead, q0, x), o.ahead)
                o.ahead = min(o.ahead, q)

    def _prob_advance(self, a: int, q0: int, x: int) -> int:
        """VX_QUEUE_PROB: the lots of x (> 0) that left ahead of an order with a (> 0) ahead
        at a level that showed q0: floor(cut) + one seeded Bernoulli(frac) draw. Python
        floats are IEEE binary64: each operation below rounds as the header's C does."""
        b = max(q0 - a, 0)
        fa = fb = 1.0
        for _ in range(self.power):
            fa *= float(a)
            fb *= float(b)
        share = fa / (fa + fb)
        cut = share * float(x)
        if float(x) - cut > float(b):
            cut = float(x) - float(b)
        whole = math.floor(cut)
        frac = cut - float(whole)
        if frac > 0.0 and self.queue_rng.next() < int(frac * 2.0**64):
            whole += 1
        return whole

    def _maker_fill(self, r: Resting, e: int, ts: int) -> None:
        used = min(e, r.ahead)
        r.ahead -= used
        lots = min(e - used, r.leaves)
        if lots == 0:
            return
        r.leaves -= lots
        ts = self.vtime = max(ts, self.vtime)
        self._report(ts, order_id=r.order_id, instrument=r.instrument, side=r.side,
                     kind=FILL if r.leaves == 0 else PARTIAL_FILL, fill_price=r.price,
                     fill_qty=lots, leaves_qty=r.leaves, liquidity=MAKER,
                     fee=fee_of(self.maker, r.price, lots))
        if r.leaves == 0:
            del self.working[r.order_id]

    def close(self, t: int) -> None:
        self.run_until(UINT64, strict=False)
        t = self.vtime = max(t, self.vtime)
        for r in sorted(self.working.values(), key=lambda r: (r.instrument, r.side, r.seq)):
            self._report(t, order_id=r.order_id, instrument=r.instrument, side=r.side,
                         kind=EXPIRED)
        self.working.clear()
        self.closed = True


# ---- host: working table, positions, refusal order --------------------------------------

@dataclass
class Working:
    order_id: int
    instrument: int
    side: int
    price: int
    qty: int
    leaves: int
    acked: bool = False


@dataclass
class Position:
    position: int = 0
    cash: int = 0
    open_cost: int = 0
    fees: int = 0
    mark: int = 0
    last_fill: int = 0
    traded: bool = False

    def fill(self, side: int, price: int, lots: int, fee: int) -> None:
        sign = 1 if side == BUY else -1
        self.cash -= sign * price * lots
        self.fees += fee
        pos = self.position
        if pos == 0 or (pos > 0) == (sign > 0):
            self.open_cost += sign * price * lots
        elif lots <= abs(pos):
            self.open_cost -= trunc_div(self.open_cost * lots, abs(pos))
            if lots == abs(pos):
                self.open_cost = 0
        else:
            rest = lots - abs(pos)
            self.open_cost = sign * price * rest
        self.position = pos + sign * lots
        self.last_fill = price
        self.traded = True

    def realized(self) -> int:
        return self.cash + self.open_cost

    def unrealized(self) -> int:
        return self.position * self.mark - self.open_cost

    def total(self) -> int:
        return self.cash + self.position * self.mark - self.fees


@dataclass
class Risk:
    max_position: int = 0
    max_order_qty: int = 0
    max_working: int = 1024


class Host:
    def __init__(self, books: Books, venue: Venue, risk: Risk):
        self.books, self.venue, self.risk = books, venue, risk
        self.working: Dict[int, Working] = {}
        self.positions = [Position() for _ in range(books.instruments)]
        self.orders: List[Dict[str, int]] = []
        self.execs: List[Dict[str, int]] = []
        self.pnl: List[Dict[str, int]] = []
        self.local: List[Dict[str, int]] = []
        self.now = 0
        self.sends = 0
        self.finished = False
        self.strategy: Any = None
        self.bad_reports = 0
        self.refused_unreported = 0
        self.interval = 0
        self.next_edge = 0

    # -- the api -----------------------------------------------------------------------
    def working_lots(self, inst: int, side: int) -> int:
        return sum(w.leaves for w in self.working.values() if w.instrument == inst and w.side == side)

    def _position_ok(self, inst: int, side: int, lots: int, own: int = 0) -> bool:
        if self.risk.max_position == 0:
            return True
        pos = self.positions[inst].position
        w = self.working_lots(inst, side) - own + lots
        return abs(pos + w if side == BUY else pos - w) <= self.risk.max_position

    def send(self, o: Dict[str, int]) -> int:
        o = dict(o)
        self.sends += 1
        reason = self._check(o)
        if reason:
            w = self.working.get(o["order_id"]) if o["action"] in (CANCEL, MODIFY) else None
            if w is not None and w.instrument != o["instrument"]:
                w = None
            if o["action"] == NEW:
                side = o["side"] if o["side"] in (BUY, SELL) else SIDE_NONE
            else:
                side = w.side if w else SIDE_NONE
            if len(self.local) >= MAX_SENDS + 1:
                self.refused_unreported += 1
                return reason
            self.local.append(exec_record(ts_local=self.now, order_id=o["order_id"],
                                          instrument=o["instrument"], side=side, kind=REJECT,
                                          reason=reason, leaves_qty=w.leaves if w else 0))
            return reason
        o["ts"] = self.now
        self.orders.append(o)
        if o["action"] == NEW:
            self.working[o["order_id"]] = Working(o["order_id"], o["instrument"], o["side"],
                                                  o["price"], o["qty"], o["qty"])
        self.venue.submit(o, self.now)
        return 0

    def _check(self, o: Dict[str, int]) -> int:
        if self.finished:
            return R_VENUE
        if self.sends > MAX_SENDS:
            return R_LIMIT
        r = validate_order(o)
        if r:
            return r
        if o["instrument"] >= self.books.instruments:
            return R_UNKNOWN_INSTRUMENT
        act, oid = o["action"], o["order_id"]
        if act == NEW:
            if oid in self.working:
                return R_DUPLICATE_ID
            if self.risk.max_order_qty and o["qty"] > self.risk.max_order_qty:
                return R_RISK
            if not self._position_ok(o["instrument"], o["side"], o["qty"]):
                return R_RISK
            if len(self.working) >= self.risk.max_working:
                return R_LIMIT
            return 0
        w = self.working.get(oid)
        if w is None or w.instrument != o["instrument"]:
            return R_UNKNOWN_ORDER   # working = that id AND instrument (as venue.h's CANCEL)
        if act == MODIFY:
            if self.risk.max_order_qty and o["qty"] > self.risk.max_order_qty:
                return R_RISK
            if not self._position_ok(w.instrument, w.side, o["qty"], own=w.leaves):
                return R_RISK
        return 0

    # -- deliveries --------------------------------------------------------------------
    def deliver_local(self) -> None:
        while self.local:
            r = self.local.pop(0)
            r["ts_local"] = max(self.now, r["ts_local"])  # when it reached the strategy
            self.execs.append(r)
            self._on_exec(r)

    def deliver_report(self, r: Dict[str, int]) -> None:
        # host.h: a delivered report's ts_local is when it reached the strategy, never before
        # the time the host already reached (a report due inside a group arrives at its end)
        self.now = max(self.now, r["ts_local"])
        r["ts_local"] = self.now
        self.execs.append(r)
        w = self.working.get(r["order_id"])
        if (w is None or w.instrument != r["instrument"] or w.side != r["side"]
                or (r["kind"] in (FILL, PARTIAL_FILL) and
                    (r["fill_qty"] > w.leaves or r["leaves_qty"] != w.leaves - r["fill_qty"]))):
            self.bad_reports += 1
            return
        k = r["kind"]
        if k == ACK:
            w.acked, w.leaves = True, r["leaves_qty"]
        elif k in (FILL, PARTIAL_FILL):
            w.leaves = r["leaves_qty"]
            p = self.positions[r["instrument"]]
            p.fill(r["side"], r["fill_price"], r["fill_qty"], r["fee"])
            self._mark(r["instrument"])
            self._point(r["instrument"], 1)
        elif k == MODIFIED:
            w.leaves = r["leaves_qty"]
        elif k == REJECT and not w.acked:
            w.leaves = 0
        if k in (FILL, CANCELED, EXPIRED) or (k == REJECT and not w.acked):
            del self.working[r["order_id"]]
        self._on_exec(r)

    def _on_exec(self, r: Dict[str, int]) -> None:
        self.sends = 0
        if self.strategy is not None:
            self.strategy.on_exec(self, r)

    def _mark(self, inst: int) -> None:
        """host.h: the mid bid + (ask - bid) / 2 (C division) when both sides exist, else the
        last fill price."""
        bid, ask = self.books.best(inst, BUY), self.books.best(inst, SELL)
        p = self.positions[inst]
        p.mark = bid + trunc_div(ask - bid, 2) if bid is not None and ask is not None else p.last_fill

    def _point(self, inst: int, reason: int) -> None:
        p = self.positions[inst]
        self.pnl.append(dict(ts=self.now, instrument=inst, reason=reason, position=p.position,
                             realized=p.realized(), unrealized=p.unrealized(), fees=p.fees,
                             total=sum(q.total() for q in self.positions)))

    def market(self, events: List[Dict[str, int]], now: int) -> None:
        self.now = now
        for i in sorted({e["instrument"] for e in events}):
            if i < len(self.positions) and self.positions[i].position != 0:
                self._mark(i)
        if self.interval and now >= self.next_edge:
            for i, p in enumerate(self.positions):
                if p.traded:
                    self._point(i, 2)
            self.next_edge = (now // self.interval + 1) * self.interval
        self.sends = 0
        if self.strategy is not None:
            self.strategy.on_market(self, events, now)


# ---- strategies -------------------------------------------------------------------------

class ScriptStrategy:
    """builtin:script: sends orders[i] (ts overwritten by now) at the first on_market whose
    now >= orders[i].ts, in order."""

    def __init__(self, orders: np.ndarray):
        self.orders = [{k: int(x[k]) for k in ORDER_FIELDS} for x in orders]
        self.next = 0

    def on_market(self, host: Host, events: List[Dict[str, int]], now: int) -> None:
        while self.next < len(self.orders) and self.orders[self.next]["ts"] <= now:
            host.send(self.orders[self.next])
            self.next += 1

    def on_exec(self, host: Host, r: Dict[str, int]) -> None:
        pass


class QuoteStrategy:
    """builtin:quote as csrc/velox/strategy_builtin.h states it (the kill switch's
    PENDING_CANCEL is not modelled)."""

    def __init__(self, size: int = 1, max_position: int = 10):
        self.size, self.max_position = size, max_position
        self.current: Dict[Tuple[int, int], int] = {}     # (instrument, side) -> order id
        self.canceling: Dict[Tuple[int, int], int] = {}
        self.next_id = 1

    def on_market(self, host: Host, events: List[Dict[str, int]], now: int) -> None:
        seen: List[int] = []
        for e in events:
            if e["instrument"] not in seen and e["instrument"] < host.books.instruments:
                seen.append(e["instrument"])
        for inst in seen:
            for side in (BUY, SELL):
                key = (inst, side)
                target = host.books.best(inst, side)
                if key in self.canceling and self.canceling[key] not in host.working:
                    del self.canceling[key]
                if key in self.current and self.current[key] not in host.working:
                    del self.current[key]
                cur = self.current.get(key)
                if cur is not None and (target is None or host.working[cur].price != target):
                    if key in self.canceling:
                        continue
                    host.send(dict(ts=now, order_id=cur, price=0, qty=0, instrument=inst,
                                   side=side, type=0, tif=0, action=CANCEL))
                    self.canceling[key] = cur
                    del self.current[key]
                if key in self.current or target is None:
                    continue
                pos = host.positions[inst].position
                w = host.working_lots(inst, side) + self.size
                if abs(pos + w if side == BUY else pos - w) > self.max_position:
                    continue
                oid = self.next_id
                self.next_id += 1
                if host.send(dict(ts=now, order_id=oid, price=target, qty=self.size,
                                  instrument=inst, side=side, type=LIMIT, tif=GTC,
                                  action=NEW)) == 0:
                    self.current[key] = oid

    def on_exec(self, host: Host, r: Dict[str, int]) -> None:
        pass


# ---- the loop ---------------------------------------------------------------------------

ORDER_FIELDS = ("ts", "order_id", "price", "qty", "instrument", "side", "type", "tif", "action")
EXEC_FIELDS = ("ts_exchange", "ts_local", "order_id", "fill_price", "fee", "fill_qty",
               "leaves_qty", "instrument", "kind", "side", "liquidity", "reason")
MBO_FIELDS = ("ts", "order_id", "price", "ref", "qty", "instrument", "side", "action", "flags")


@dataclass
class Result:
    orders: np.ndarray
    execs: np.ndarray
    pnl: np.ndarray
    positions: List[Position]
    book_rejects: int
    bad_reports: int
    ts_regressions: int
    groups: int
    counters: Dict[str, int] = field(default_factory=dict)


def to_array(rows: List[Dict[str, int]], dtype: np.dtype) -> np.ndarray:
    out = np.zeros(len(rows), dtype=dtype)
    for i, r in enumerate(rows):
        for k, v in r.items():
            out[k][i] = v
    return out


def fixed(x: float) -> int:
    return int(round(x * SCALE))


def run(events: np.ndarray, strategy: Any, *, instruments: int, tick: int, levels: int,
        entry_latency_ns: int = 0, response_latency_ns: int = 0, entry_jitter_ns: int = 0,
        response_jitter_ns: int = 0, seed: int = 0,
        maker_fee: float = 0.0, taker_fee: float = 0.0, maker_fee_bps: float = 0.0,
        taker_fee_bps: float = 0.0, max_orders: int = 4096, risk: Optional[Risk] = None,
        edges: str = "flag", pnl_interval_ns: int = 0, queue_model: str = "fifo",
        queue_power: int = 2) -> Result:
    """The backtest of backtest.h over MBO_DTYPE `events` with `strategy` (ScriptStrategy /
    QuoteStrategy). Fees as SimVenue's arguments (currency per lot, basis points)."""
    books = Books(instruments, tick, levels)
    venue = Venue(books, entry_latency_ns, response_latency_ns,
                  (fixed(maker_fee), fixed(maker_fee_bps) // 10000),
                  (fixed(taker_fee), fixed(taker_fee_bps) // 10000),
                  entry_jitter_ns, response_jitter_ns, seed, max_orders, queue_model,
                  queue_power)
    host = Host(books, venue, risk or Risk())
    host.interval = pnl_interval_ns
    host.strategy = strategy
    evs = [{k: int(x[k]) for k in MBO_FIELDS} for x in events]

    def deliver_before(t: Optional[int]) -> None:
        """backtest.h step 2 (t None: everything, the end of the input): in time order,
        venue arrivals, then reports (local REJECTs first), due strictly before t."""
        while True:
            host.deliver_local()
            a, r = venue.next_arrival(), venue.next_report()
            cand = [x for x in (a, r) if x is not None and (t is None or x < t)]
            if not cand:
                return
            d = min(cand)
            if a is not None and a == d:
                venue.run_until(d, strict=False)
                continue
            host.deliver_report(venue.outbound.popleft())

    prev = 0
    regressions = groups = 0
    i, n = 0, len(evs)
    while i < n:
        j = i
        group = []
        while j < n:
            group.append(evs[j])
            j += 1
            if edges == "event" or (evs[j - 1]["flags"] & F_LAST) or len(group) == MAX_GROUP:
                break
        for k, e in enumerate(group):
            if e["ts"] < prev:
                regressions += 1
                e["ts"] = prev
            prev = e["ts"]
            if k == 0:
                deliver_before(e["ts"])
            if not books.accepts(e):
                books.apply(e, e["ts"])   # rejected: changes nothing, counted
                continue
            where = (e["instrument"], e["side"], e["price"])
            q0 = books.shown(*where) if e["action"] == LEVEL else 0
            venue.on_event(e, e["ts"])
            books.apply(e, e["ts"])
            if e["action"] == LEVEL:
                venue.on_level(e, q0, books.shown(*where))
        groups += 1
        host.market(group, group[-1]["ts"])
        i = j
    deliver_before(None)
    venue.close(max(prev, host.now))   # the last time reached: events and deliveries
    deliver_before(None)
    host.finished = True
    return Result(to_array(host.orders, velox.ORDER_DTYPE), to_array(host.execs, velox.EXEC_DTYPE),
                  to_array(host.pnl, PNL_DTYPE), host.positions, books.rejects, host.bad_reports,
                  regressions, groups)
