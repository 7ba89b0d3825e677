"""Market-by-order book benchmark: velox.MboBook next to nautilus_trader's OrderBook(L3_MBO),
the bmoscon `order-book` package used as an L3 book, and a pure-Python dict L3 book, on one
seeded stream of 10^6 MBO events with ~5,000 live orders. One run prints every comparison.

    python benchmarks/bench_mbo.py --fast          # quick look
    python benchmarks/bench_mbo.py -o mbo.json     # full pyperf run

Measured (events/s, each case applies the whole stream to a fresh book; inputs pre-built,
not timed):
  * native: vx_mbo_apply in a C loop, chunks of 1024 events timed with the TSC (median and
    p99 ns/event over chunks) — no Python at all;
  * velox MboBook.apply_many (the MBO_DTYPE array, GIL released), with the default direct
    order-id window and with id_window=0 (every id through the hash index) in the same run;
  * velox MboBook.apply per event (pre-built numpy.void records) and apply_fields per event;
  * nautilus_trader OrderBook(BookType.L3_MBO): apply_delta per delta and apply_deltas on one
    OrderBookDeltas batch (the stream as pre-built OrderBookDelta objects: CANCEL/EXECUTE
    become UPDATE with the remaining size, a full one DELETE, REPLACE = DELETE + ADD);
  * bmoscon order-book: it has no L3 mode of its own (its sides are sorted price → value
    dicts); the L3 use its README and cryptofeed describe is price → {order_id: size} values
    plus the caller's own id → (side, price) dict, which is what is timed here;
  * a pure-Python dict L3 book (id → order, per-side price → {id: size} dicts, level sums);
  * adversarial order ids: 40,000 ADDs with ids crafted to collide in a fixed-multiplier
    index next to 40,000 sequential ids (apply_many, fresh 2^20-order book each).
Targets (issue 11): native median <= 20 ns/event; apply_many >= 40 M events/s, >= 10x
nautilus apply_deltas and >= 20x nautilus apply_delta; per-call apply >= 5x apply_delta.
Issue 22: apply_many >= 60 M events/s (>= 15x nautilus apply_deltas); native median <= 15 ns.
"""

import os
import sys
import tempfile

import numpy as np
import pyperf
from _pyperf import Runner

if __package__ is None:  # run from a source checkout: import the in-place build
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import velox  # noqa: E402
from velox import MBO_DTYPE, Action, MboBook  # noqa: E402
from velox._mbo import _bench_native_chunks  # noqa: E402

SEED = 20261202
N_EVENTS = 1_000_000
LIVE = 5_000
LEVELS = 1024
TICK = velox.to_fixed("0.01")
BASE = velox.to_fixed(100)
MID_LEVEL = 512
MAX_ORDERS = 1 << 15


def make_stream(n=N_EVENTS, live_target=LIVE, seed=SEED):
    """ADD 48 %, DELETE ~28 %, partial CANCEL 9 %, EXECUTE 9 % (partial or full), REPLACE 6 %
    around a fixed mid; bids below, asks above (never crossed); ~live_target orders live."""
    rng = np.random.default_rng(seed)
    rolls = rng.random(n)
    picks = rng.random(n)
    offsets = np.minimum(rng.geometric(0.05, 2 * n), 300)
    sizes = rng.integers(1, 500, 2 * n)
    ev = np.zeros(n, dtype=MBO_DTYPE)
    live_ids, live_side, live_price, live_qty = [], [], [], []
    where = {}
    next_id = 1
    k = 0
    cols = {name: [0] * n for name in ("order_id", "price", "ref", "qty", "side", "action")}

    def new_order(side=None):
        nonlocal next_id, k
        oid = next_id
        next_id += 1
        if side is None:
            side = int(sizes[k] & 1)
        off = int(offsets[k])
        price = BASE + (MID_LEVEL - off if side == 0 else MID_LEVEL + off) * TICK
        qty = int(sizes[k])
        k += 1
        return oid, side, price, qty

    def drop(j):
        last = len(live_ids) - 1
        where[live_ids[last]] = j
        del where[live_ids[j]]
        for lst in (live_ids, live_side, live_price, live_qty):
            lst[j] = lst[last]
            lst.pop()

    for i in range(n):
        r = rolls[i]
        nlive = len(live_ids)
        if nlive < live_target * 0.9 or (r < 0.48 and nlive < live_target * 1.1):
            oid, side, price, qty = new_order()
            where[oid] = nlive
            live_ids.append(oid), live_side.append(side), live_price.append(price), live_qty.append(qty)
            cols["action"][i], cols["order_id"][i], cols["side"][i] = Action.ADD, oid, side
            cols["price"][i], cols["qty"][i] = price, qty
            continue
        j = int(picks[i] * nlive)
        oid, side, price, qty = live_ids[j], live_side[j], live_price[j], live_qty[j]
        cols["order_id"][i], cols["side"][i], cols["price"][i] = oid, side, price
        u = (r - 0.48) / 0.52 if r >= 0.48 else r / 0.48
        if u < 0.54 or (u < 0.72 and qty == 1):
            cols["action"][i] = Action.DELETE
            drop(j)
        elif u < 0.88:
            action = Action.CANCEL if u < 0.72 else Action.EXECUTE
            take = qty if action == Action.EXECUTE and u > 0.84 else 1 + int(picks[i] * 7919) % (qty - 1 or 1)
            take = min(take, qty)
            cols["action"][i], cols["qty"][i] = action, take
            if take == qty:
                drop(j)
            else:
                live_qty[j] = qty - take
        else:
            nid, _side, nprice, nqty = new_order(side)  # same side as the old order
            cols["action"][i], cols["ref"][i], cols["price"][i], cols["qty"][i] = (
                Action.REPLACE, nid, nprice, nqty)
            del where[oid]
            where[nid] = j
            live_ids[j], live_price[j], live_qty[j] = nid, nprice, nqty
    for name, values in cols.items():
        ev[name] = values
    ev["ts"] = np.arange(1, n + 1, dtype=np.uint64) * 1000
    return ev


def load_stream():
    path = os.path.join(tempfile.gettempdir(), f"velox_bench_mbo_{SEED}_{N_EVENTS}_{LIVE}.npy")
    try:
        ev = np.load(path)
        if ev.dtype == MBO_DTYPE and len(ev) == N_EVENTS:
            return ev
    except (OSError, ValueError):
        pass
    ev = make_stream()
    tmp = f"{path}.{os.getpid()}.npy"
    np.save(tmp, ev)
    os.replace(tmp, path)
    return ev


EVENTS = load_stream()


def fresh_book(**kw):
    return MboBook(LEVELS, TICK, BASE, max_orders=MAX_ORDERS, **kw)


# ---- velox ----------------------------------------------------------------------------------

def bench_velox_apply_many(loops):
    t = 0.0
    for _ in range(loops):
        book = fresh_book()
        t0 = pyperf.perf_counter()
        book.apply_many(EVENTS)
        t += pyperf.perf_counter() - t0
    return t


def bench_velox_apply_many_no_window(loops):
    t = 0.0
    for _ in range(loops):
        book = fresh_book(id_window=0)
        t0 = pyperf.perf_counter()
        book.apply_many(EVENTS)
        t += pyperf.perf_counter() - t0
    return t


RECORDS = None
FIELDS = None


def bench_velox_apply(loops):
    global RECORDS
    if RECORDS is None:
        RECORDS = list(EVENTS)  # numpy.void records, pre-built
    t = 0.0
    for _ in range(loops):
        book = fresh_book()
        apply = book.apply
        t0 = pyperf.perf_counter()
        for rec in RECORDS:
            apply(rec)
        t += pyperf.perf_counter() - t0
    return t


def bench_velox_apply_fields(loops):
    global FIELDS
    if FIELDS is None:
        FIELDS = list(zip(EVENTS["action"].tolist(), EVENTS["side"].tolist(),
                          EVENTS["order_id"].tolist(), EVENTS["price"].tolist(),
                          EVENTS["qty"].tolist(), EVENTS["ref"].tolist()))
    t = 0.0
    for _ in range(loops):
        book = fresh_book()
        apply = book.apply_fields
        t0 = pyperf.perf_counter()
        for a, s, o, p, q, r in FIELDS:
            apply(a, s, o, p, q, r)
        t += pyperf.perf_counter() - t0
    return t


# ---- nautilus_trader ---------------------------------------------------------------------------

NAUTILUS = None


def nautilus_deltas():
    """The stream as nautilus OrderBookDelta objects (built once per process, not timed)."""
    global NAUTILUS
    if NAUTILUS is not None:
        return NAUTILUS
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.enums import BookAction, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import Price, Quantity

    iid = InstrumentId.from_str("VLX.XNAS")
    sides = (OrderSide.BUY, OrderSide.SELL)
    prices = {}

    def px(p):
        obj = prices.get(p)
        if obj is None:
            obj = prices[p] = Price(p / velox.PRICE_SCALE, 2)
        return obj

    live = {}  # id -> [side, price, qty]
    deltas = []
    seq = 0
    for a, s, oid, p, q, ref, ts in zip(EVENTS["action"].tolist(), EVENTS["side"].tolist(),
                                        EVENTS["order_id"].tolist(), EVENTS["price"].tolist(),
                                        EVENTS["qty"].tolist(), EVENTS["ref"].tolist(),
                                        EVENTS["ts"].tolist()):
        seq += 1
        if a == Action.ADD:
            live[oid] = [s, p, q]
            order = BookOrder(sides[s], px(p), Quantity(q, 0), oid)
            deltas.append(OrderBookDelta(iid, BookAction.ADD, order, 0, seq, ts, ts))
        elif a == Action.DELETE or ((a in (Action.CANCEL, Action.EXECUTE)) and live[oid][2] == q):
            side, price, qty = live.pop(oid)
            order = BookOrder(sides[side], px(price), Quantity(qty, 0), oid)
            deltas.append(OrderBookDelta(iid, BookAction.DELETE, order, 0, seq, ts, ts))
        elif a in (Action.CANCEL, Action.EXECUTE):
            o = live[oid]
            o[2] -= q
            order = BookOrder(sides[o[0]], px(o[1]), Quantity(o[2], 0), oid)
            deltas.append(OrderBookDelta(iid, BookAction.UPDATE, order, 0, seq, ts, ts))
        elif a == Action.REPLACE:
            side, price, qty = live.pop(oid)
            order = BookOrder(sides[side], px(price), Quantity(qty, 0), oid)
            deltas.append(OrderBookDelta(iid, BookAction.DELETE, order, 0, seq, ts, ts))
            live[ref] = [side, p, q]
            order = BookOrder(sides[side], px(p), Quantity(q, 0), ref)
            deltas.append(OrderBookDelta(iid, BookAction.ADD, order, 0, seq, ts, ts))
    NAUTILUS = (iid, deltas)
    return NAUTILUS


def bench_nautilus_apply_delta(loops):
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.enums import BookType
    iid, deltas = nautilus_deltas()
    t = 0.0
    for _ in range(loops):
        book = OrderBook(iid, BookType.L3_MBO)
        apply = book.apply_delta
        t0 = pyperf.perf_counter()
        for d in deltas:
            apply(d)
        t += pyperf.perf_counter() - t0
    return t


BATCH = None


def bench_nautilus_apply_deltas(loops):
    global BATCH
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import OrderBookDeltas
    from nautilus_trader.model.enums import BookType
    iid, deltas = nautilus_deltas()
    if BATCH is None:
        BATCH = OrderBookDeltas(iid, deltas)
    t = 0.0
    for _ in range(loops):
        book = OrderBook(iid, BookType.L3_MBO)
        t0 = pyperf.perf_counter()
        book.apply_deltas(BATCH)
        t += pyperf.perf_counter() - t0
    return t


# ---- pure Python / order-book ---------------------------------------------------------------------

TUPLES = None


def tuples():
    global TUPLES
    if TUPLES is None:
        TUPLES = list(zip(EVENTS["action"].tolist(), EVENTS["side"].tolist(),
                          EVENTS["order_id"].tolist(), EVENTS["price"].tolist(),
                          EVENTS["qty"].tolist(), EVENTS["ref"].tolist()))
    return TUPLES


class DictL3Book:
    """A pure-Python L3 book: id -> [side, price, qty], per side price -> {id: qty} (insertion
    ordered = FIFO) and price -> aggregate."""

    def __init__(self):
        self.orders = {}
        self.levels = ({}, {})
        self.agg = ({}, {})

    def apply(self, a, s, oid, p, q, ref):
        orders = self.orders
        if a == 1:  # ADD
            orders[oid] = [s, p, q]
            lv = self.levels[s].get(p)
            if lv is None:
                self.levels[s][p] = {oid: q}
                self.agg[s][p] = q
            else:
                lv[oid] = q
                self.agg[s][p] += q
        elif a == 3 or a == 5:  # DELETE, REPLACE
            o = orders.pop(oid)
            side, price, qty = o
            lv = self.levels[side][price]
            del lv[oid]
            if lv:
                self.agg[side][price] -= qty
            else:
                del self.levels[side][price]
                del self.agg[side][price]
            if a == 5:
                self.apply(1, side, ref, p, q, 0)
        elif a == 2 or a == 4:  # CANCEL, EXECUTE
            o = orders[oid]
            if q >= o[2]:
                self.apply(3, s, oid, p, q, 0)
            else:
                o[2] -= q
                self.levels[o[0]][o[1]][oid] = o[2]
                self.agg[o[0]][o[1]] -= q


def bench_dict_book(loops):
    events = tuples()
    t = 0.0
    for _ in range(loops):
        book = DictL3Book()
        apply = book.apply
        t0 = pyperf.perf_counter()
        for a, s, o, p, q, r in events:
            apply(a, s, o, p, q, r)
        t += pyperf.perf_counter() - t0
    return t


def bench_order_book_l3(loops):
    """bmoscon order-book as an L3 book: sides are its sorted dicts with {id: size} values."""
    from order_book import OrderBook as PkgBook
    events = tuples()
    t = 0.0
    for _ in range(loops):
        ob = PkgBook()
        sides = (ob.bids, ob.asks)
        orders = {}
        t0 = pyperf.perf_counter()
        for a, s, oid, p, q, ref in events:
            if a == 1:
                orders[oid] = (s, p)
                side = sides[s]
                if p in side:
                    side[p][oid] = q
                else:
                    side[p] = {oid: q}
            elif a == 3 or a == 5:
                side_i, price = orders.pop(oid)
                side = sides[side_i]
                lv = side[price]
                del lv[oid]
                if not lv:
                    del side[price]
                if a == 5:
                    orders[ref] = (side_i, p)
                    if p in side:
                        side[p][ref] = q
                    else:
                        side[p] = {ref: q}
            else:
                side_i, price = orders[oid]
                side = sides[side_i]
                lv = side[price]
                left = lv[oid] - q
                if left > 0:
                    lv[oid] = left
                else:
                    del lv[oid]
                    del orders[oid]
                    if not lv:
                        del side[price]
        t += pyperf.perf_counter() - t0
    return t


def native_latency():
    velox.tsc.calibrate(0.05)
    _bench_native_chunks(fresh_book(), EVENTS[:100_000])  # warm up
    book = fresh_book()
    ticks = _bench_native_chunks(book, EVENTS, 1024).astype(np.float64)
    ns = ticks / velox.tsc.ticks_per_ns() / 1024
    c = book.counters
    assert c.rejected == 0, c
    return float(np.median(ns)), float(np.percentile(ns, 99)), float(ns.mean()), book


# Adversarial ids (issue 21): ADDs whose ids were chosen to share one home in a fixed-
# multiplier order index ((id >> 4) * 0x9E3779B97F4A7C15 with bits
# 32..48 zero), next to the same number of sequential ids, at one price, into the pipeline's
# default table (2^20 orders). With a random per-table multiplier both cost the same.
N_ADVERSARIAL = 40_000


def crafted_ids(n=N_ADVERSARIAL):
    c = 0x9E3779B97F4A7C15
    cinv = pow(c, -1, 1 << 49)
    ids, t = [], 0
    while len(ids) < n:
        run = (t * cinv) & ((1 << 49) - 1)
        ids.extend((run << 4) | k for k in range(16))
        t += 1
    return np.array(ids[:n], np.uint64)


def adds_of(ids):
    ev = np.zeros(len(ids), MBO_DTYPE)
    ev["action"] = int(Action.ADD)
    ev["qty"] = 1
    ev["order_id"] = ids
    ev["price"] = BASE + MID_LEVEL // 2 * TICK
    return ev


SEQUENTIAL_ADDS = adds_of(np.arange(1, N_ADVERSARIAL + 1, dtype=np.uint64))
CRAFTED_ADDS = adds_of(crafted_ids())


def _bench_adds(events, loops):
    t = 0.0
    for _ in range(loops):
        book = MboBook(LEVELS, TICK, BASE, max_orders=1 << 20)
        t0 = pyperf.perf_counter()
        book.apply_many(events)
        t += pyperf.perf_counter() - t0
    return t


def bench_adds_sequential(loops):
    return _bench_adds(SEQUENTIAL_ADDS, loops)


def bench_adds_crafted(loops):
    return _bench_adds(CRAFTED_ADDS, loops)


CASES = [
    ("velox apply_many", bench_velox_apply_many, N_EVENTS),
    ("velox apply_many, id_window=0", bench_velox_apply_many_no_window, N_EVENTS),
    ("velox 40k ADDs, sequential ids", bench_adds_sequential, N_ADVERSARIAL),
    ("velox 40k ADDs, crafted ids", bench_adds_crafted, N_ADVERSARIAL),
    ("velox apply (per call)", bench_velox_apply, N_EVENTS),
    ("velox apply_fields (per call)", bench_velox_apply_fields, N_EVENTS),
    ("nautilus apply_deltas (batch)", bench_nautilus_apply_deltas, N_EVENTS),
    ("nautilus apply_delta (per delta)", bench_nautilus_apply_delta, N_EVENTS),
    ("order-book as L3 (dict values)", bench_order_book_l3, N_EVENTS),
    ("pure-Python dict L3 book", bench_dict_book, N_EVENTS),
]


def main():
    runner = Runner()
    runner.metadata["stream"] = f"{N_EVENTS} MBO events, ~{LIVE} live orders, seed {SEED}"
    results = {}
    for name, func, per_loop in CASES:
        bench = runner.bench_time_func(name, func, inner_loops=per_loop)
        if bench is not None and not runner.args.worker:
            results[name] = bench.median()
    if runner.args.worker or not results:
        return
    med, p99, mean, book = native_latency()
    counts = {a.name: int((EVENTS["action"] == a).sum()) for a in Action if (EVENTS["action"] == a).any()}
    print()
    print(f"stream: {N_EVENTS} MBO events {counts}, ~{LIVE} live orders "
          f"(at end {book.live_orders}), {LEVELS} levels, seed {SEED}; nautilus gets "
          f"{len(nautilus_deltas()[1])} deltas (REPLACE = DELETE + ADD)")
    print(f"native vx_mbo_apply: median {med:.1f} ns/event, p99 {p99:.1f}, mean {mean:.1f} "
          f"(chunks of 1024 timed with the TSC; target median <= 20 ns)")
    print("order-book (bmoscon) has no L3 mode of its own: timed as its sorted price dicts "
          "holding {order_id: size} values plus a Python id -> (side, price) dict")
    nd = results["nautilus apply_delta (per delta)"]
    nb = results["nautilus apply_deltas (batch)"]
    print(f"{'case':34} {'ns/event':>10} {'events/s':>14}  vs apply_delta  vs apply_deltas")
    print(f"{'velox native vx_mbo_apply':34} {mean:10.1f} {1e9 / mean:14,.0f}  "
          f"{nd * 1e9 / mean:12.1f}x  {nb * 1e9 / mean:13.1f}x")
    for name, _, _ in CASES:
        t = results[name]
        print(f"{name:34} {t * 1e9:10.1f} {1 / t:14,.0f}  {nd / t:12.1f}x  {nb / t:13.1f}x")
    am = results["velox apply_many"]
    print()
    seq, bad = results["velox 40k ADDs, sequential ids"], results["velox 40k ADDs, crafted ids"]
    print(f"adversarial ids: crafted / sequential = {bad / seq:.2f}x per ADD "
          f"({bad * 1e9:.1f} vs {seq * 1e9:.1f} ns; a fixed-multiplier index: quadratic)")
    print(f"target native median <= 20 ns (issue 22: <= 15 ns): {med:.1f} ns")
    print(f"target apply_many >= 40 M events/s (issue 22: >= 60): {1 / am / 1e6:.1f} M/s "
          f"(id_window=0: {1 / results['velox apply_many, id_window=0'] / 1e6:.1f} M/s)")
    print(f"target apply_many >= 10x nautilus batch:    {nb / am:.1f}x")
    print(f"target apply_many >= 20x nautilus per-delta: {nd / am:.1f}x")
    print(f"target per-call apply >= 5x apply_delta:    {nd / results['velox apply (per call)']:.1f}x")


if __name__ == "__main__":
    main()
