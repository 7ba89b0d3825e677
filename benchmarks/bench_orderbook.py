"""Order book benchmark: velox.OrderBook next to the `order-book` package and a dict baseline,
on one seeded stream of L2 level updates. One run prints every comparison.

    python benchmarks/bench_orderbook.py --fast          # quick look
    python benchmarks/bench_orderbook.py -o ob.json      # full pyperf run

Measured:
  * native single update latency (vx_book_set timed with the TSC, median and p99, timer cost
    subtracted) and native back-to-back throughput;
  * updates/s from Python: velox set_many (the L2 batch: the stream's three columns as
    uint8/int64/uint64 arrays, GIL released), velox apply_many (the same stream converted to
    NEW/CANCEL transactions), velox per-call set,
    order_book.OrderBook (bids[price] = size / del), a dict baseline;
  * update + best bid + best ask per update (velox vs order-book vs a pure-Python tick ladder).

Targets (issue 4): native median <= 20 ns; batches >= 10x order-book's update rate (reported
for set_many, which is the L2 stream itself, and for apply_many); per-call set >= 2x
order-book; set + best_bid() + best_ask() >= 20x order-book's update + best.
"""

import os
import sys

import numpy as np
import pyperf
from _pyperf import Runner

try:
    import order_book  # noqa: F401  (the peer; may have no wheel for a new interpreter)

    HAVE_ORDER_BOOK = True
except ImportError:
    HAVE_ORDER_BOOK = False

if __package__ is None:  # run from a source checkout: import the in-place build
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import velox  # noqa: E402
from velox._orderbook import (  # noqa: E402
    OrderBook,
    _bench_native_set,
    _bench_native_set_loop,
    _bench_tsc_overhead,
)

SEED = 20240501
LEVELS = 1024
TICK = velox.to_fixed("0.01")
BASE = velox.to_fixed(100)
N_UPDATES = int(os.environ.get("VELOX_BENCH_N_UPDATES", 1_000_000))  # smaller: count_instructions.py
N_WITH_BEST = min(100_000, N_UPDATES)  # update+best runs on the first 10^5 updates (order-book needs ~3 us each)


def make_stream(n, seed=SEED):
    """L2 level updates around a mid of 105.12: bids below, asks above, ~20% clears."""
    rng = np.random.default_rng(seed)
    sides = rng.integers(0, 2, n).astype(np.uint8)
    offsets = np.minimum(rng.geometric(0.08, n), 200)  # levels away from the mid, 1..200
    mid_level = 512
    levels = np.where(sides == 0, mid_level - offsets, mid_level + offsets)
    prices = (BASE + levels * TICK).astype(np.int64)
    qtys = rng.integers(1, 500, n).astype(np.uint64)
    qtys[rng.random(n) < 0.2] = 0
    return sides, prices, qtys


SIDES, PRICES, QTYS = make_stream(N_UPDATES)
# The same stream as Python objects for the per-call variants, and floats for order-book.
SIDES_L, PRICES_L, QTYS_L = SIDES.tolist(), PRICES.tolist(), QTYS.tolist()
FLOAT_PRICES_L = (PRICES / velox.PRICE_SCALE).tolist()
# apply_many form: an L2 "set" is a NEW when the level grows, a CANCEL when it shrinks, so
# replay the stream through a model once to derive the equivalent transactions.


def make_txns():
    level = {}
    side_out, price_out, qty_out, kind_out = [], [], [], []
    for s, p, q in zip(SIDES_L, PRICES_L, QTYS_L):
        old = level.get((s, p), 0)
        if q == old:
            continue
        side_out.append(s)
        price_out.append(p)
        kind_out.append(velox.NEW if q > old else velox.CANCEL)
        qty_out.append(abs(q - old))
        level[(s, p)] = q
    txns = np.zeros(len(side_out), dtype=velox.TXN_DTYPE)
    txns["side"], txns["price"], txns["qty"], txns["kind"] = side_out, price_out, qty_out, kind_out
    return txns


TXNS = make_txns()


def bench_velox_apply_many(loops):
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        book = OrderBook(LEVELS, TICK, BASE)
        book.apply_many(TXNS)
    return pyperf.perf_counter() - t0


def bench_velox_set_many(loops):
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        book = OrderBook(LEVELS, TICK, BASE)
        book.set_many(SIDES, PRICES, QTYS)
    return pyperf.perf_counter() - t0


def bench_velox_set(loops):
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        book = OrderBook(LEVELS, TICK, BASE)
        set_ = book.set
        for s, p, q in zip(SIDES_L, PRICES_L, QTYS_L):
            set_(s, p, q)
    return pyperf.perf_counter() - t0


def bench_order_book(loops):
    from order_book import OrderBook as PkgBook

    t0 = pyperf.perf_counter()
    for _ in range(loops):
        ob = PkgBook()
        sides = (ob.bids, ob.asks)
        for s, p, q in zip(SIDES_L, FLOAT_PRICES_L, QTYS_L):
            side = sides[s]
            if q:
                side[p] = q
            elif p in side:
                del side[p]
    return pyperf.perf_counter() - t0


def bench_dict(loops):
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        sides = ({}, {})
        for s, p, q in zip(SIDES_L, PRICES_L, QTYS_L):
            if q:
                sides[s][p] = q
            else:
                sides[s].pop(p, None)
    return pyperf.perf_counter() - t0


def bench_velox_set_best(loops):
    n = N_WITH_BEST
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        book = OrderBook(LEVELS, TICK, BASE)
        set_, bid, ask = book.set, book.best_bid, book.best_ask
        for s, p, q in zip(SIDES_L[:n], PRICES_L[:n], QTYS_L[:n]):
            set_(s, p, q)
            bid()
            ask()
    return pyperf.perf_counter() - t0


def bench_order_book_best(loops):
    from order_book import OrderBook as PkgBook

    n = N_WITH_BEST
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        ob = PkgBook()
        sides = (ob.bids, ob.asks)
        bids, asks = ob.bids, ob.asks
        for s, p, q in zip(SIDES_L[:n], FLOAT_PRICES_L[:n], QTYS_L[:n]):
            side = sides[s]
            if q:
                side[p] = q
            elif p in side:
                del side[p]
            if len(bids):
                bids.index(0)
            if len(asks):
                asks.index(0)
    return pyperf.perf_counter() - t0


def bench_python_ladder_best(loops):
    """A pure-Python tick ladder: lists of qty per level plus best indexes."""
    n = N_WITH_BEST
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        qty = ([0] * LEVELS, [0] * LEVELS)
        best = [-1, LEVELS]
        for s, p, q in zip(SIDES_L[:n], PRICES_L[:n], QTYS_L[:n]):
            i = (p - BASE) // TICK
            qty[s][i] = q
            ladder = qty[s]
            if s == 0:
                if q and i > best[0]:
                    best[0] = i
                elif not q and i == best[0]:
                    while best[0] >= 0 and not ladder[best[0]]:
                        best[0] -= 1
            else:
                if q and i < best[1]:
                    best[1] = i
                elif not q and i == best[1]:
                    while best[1] < LEVELS and not ladder[best[1]]:
                        best[1] += 1
            bb = (BASE + best[0] * TICK, qty[0][best[0]]) if best[0] >= 0 else None
            ba = (BASE + best[1] * TICK, qty[1][best[1]]) if best[1] < LEVELS else None
    return pyperf.perf_counter() - t0


def native_latency():
    velox.tsc.calibrate(0.05)
    book = OrderBook(LEVELS, TICK, BASE)
    _bench_native_set(book, SIDES[:10_000], PRICES[:10_000], QTYS[:10_000])  # warm up
    book = OrderBook(LEVELS, TICK, BASE)
    ticks = _bench_native_set(book, SIDES, PRICES, QTYS).astype(np.int64)
    overhead = int(np.median(_bench_tsc_overhead(100_000)))
    ns = np.maximum(ticks - overhead, 0) / velox.tsc.ticks_per_ns()
    book = OrderBook(LEVELS, TICK, BASE)
    loop_ns = velox.tsc.ticks_to_ns(_bench_native_set_loop(book, SIDES, PRICES, QTYS)) / N_UPDATES
    return float(np.median(ns)), float(np.percentile(ns, 99)), overhead / velox.tsc.ticks_per_ns(), loop_ns


ALL_CASES = [
    ("velox set_many", bench_velox_set_many, N_UPDATES),
    ("velox apply_many", bench_velox_apply_many, len(TXNS)),
    ("velox set (per call)", bench_velox_set, N_UPDATES),
    ("order-book update", bench_order_book, N_UPDATES),
    ("dict update", bench_dict, N_UPDATES),
    ("velox set+best_bid+best_ask", bench_velox_set_best, N_WITH_BEST),
    ("order-book update+best", bench_order_book_best, N_WITH_BEST),
    ("python ladder update+best", bench_python_ladder_best, N_WITH_BEST),
]
# Without the order-book package the velox rows still run; the ratios fall back to the dict
# baseline (update) and the pure-Python ladder (update+best), and say so.
CASES = [c for c in ALL_CASES if HAVE_ORDER_BOOK or not c[0].startswith("order-book")]


def add_cmdline_args(cmd, args):
    if args.only:
        cmd.extend(("--only", args.only))


def main():
    runner = Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument(
        "--only", default="", help="comma-separated case-name prefixes, e.g. 'velox set (,order-book update,dict'")
    runner.metadata["stream"] = f"{N_UPDATES} L2 updates, seed {SEED}, {LEVELS} levels"
    args = runner.parse_args()
    only = [p for p in args.only.split(",") if p]
    cases = [c for c in CASES if not only or any(c[0].startswith(p) for p in only)]
    results = {}
    for name, func, per_loop in cases:
        bench = runner.bench_time_func(name, func, inner_loops=per_loop)
        if bench is not None and not runner.args.worker:
            results[name] = bench.median()
    if runner.args.worker or not results:
        return
    if only:  # a partial run: the rows and the per-call ratio only
        print(f"\n{sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}")
        peer = "order-book update" if "order-book update" in results else "dict update"
        for name, t in results.items():
            ratio = f"{results[peer] / t:6.2f}x vs {peer}" if peer in results else ""
            print(f"{name:32} {t * 1e9:10.1f} ns/update  {ratio}")
        return
    med, p99, timer_ns, loop_ns = native_latency()
    peer = "order-book" if HAVE_ORDER_BOOK else "dict"
    ob = results["order-book update" if HAVE_ORDER_BOOK else "dict update"]
    ob_best = results["order-book update+best" if HAVE_ORDER_BOOK else "python ladder update+best"]
    print()
    print(f"{sys.version.split()[0]}"
          f"{' free-threading' if not getattr(sys, '_is_gil_enabled', lambda: True)() else ''}, "
          f"load average {os.getloadavg()[0]:.2f}")
    if not HAVE_ORDER_BOOK:
        print("order-book is not installed for this interpreter: ratios are against the dict "
              "update and the Python ladder instead (the order-book targets are not evaluated)")
    print(f"stream: {N_UPDATES} L2 updates ({len(TXNS)} as NEW/CANCEL transactions), "
          f"{LEVELS} levels, seed {SEED}; update+best on the first {N_WITH_BEST}")
    print(f"native vx_book_set: median {med:.1f} ns, p99 {p99:.1f} ns per update "
          f"(TSC, timer cost {timer_ns:.1f} ns subtracted; target median <= 20 ns); "
          f"back-to-back {loop_ns:.1f} ns/update")
    print(f"{'case':32} {'ns/update':>10} {'updates/s':>14}  ratio")
    for name, _, _ in CASES:
        t = results[name]
        base = ob_best if "best" in name else ob
        print(f"{name:32} {t * 1e9:10.1f} {1 / t:14,.0f}  {base / t:6.1f}x vs {peer}")
    print()
    print(f"target set_many >= 10x {peer} (L2 batch): {ob / results['velox set_many']:.1f}x")
    print(f"target apply_many >= 10x {peer}:          {ob / results['velox apply_many']:.1f}x")
    print(f"target per-call set >= 2x {peer}:         {ob / results['velox set (per call)']:.1f}x")
    print(f"target set+best >= 20x {peer} update+best: "
          f"{ob_best / results['velox set+best_bid+best_ask']:.1f}x")


if __name__ == "__main__":
    main()
