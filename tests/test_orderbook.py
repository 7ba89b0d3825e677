"""velox.OrderBook: the Python face — conversions, errors naming the bad value, NumPy depth,
apply/apply_many, recentering, counters, and conservation under concurrent writers."""

import threading

import numpy as np
import pytest

import velox
from velox._orderbook import DEFAULT_LEVELS, MAX_QTY, OrderBook

TICK = velox.to_fixed("0.01")
BASE = velox.to_fixed(100)


def P(k):
    return BASE + k * TICK


@pytest.fixture
def book():
    return OrderBook(64, TICK, BASE)


def test_construction_and_properties():
    b = OrderBook()
    assert b.levels == DEFAULT_LEVELS == 1024
    assert b.tick_size == 1_000_000 and b.base_price == 0
    assert b.max_price == 1023 * 1_000_000
    f = OrderBook.from_prices(128, tick=0.01, base=99.5)
    assert (f.levels, f.tick_size, f.base_price) == (128, TICK, velox.to_fixed("99.5"))
    assert "levels=128" in repr(f)


@pytest.mark.parametrize("levels", [0, 1, 3, 1000, 2**21])
def test_levels_must_be_power_of_two(levels):
    with pytest.raises(ValueError, match=str(levels)):
        OrderBook(levels)


def test_constructor_type_errors():
    with pytest.raises(TypeError, match="2.5"):
        OrderBook(2.5)
    with pytest.raises(TypeError, match="0.01"):
        OrderBook(16, 0.01)
    with pytest.raises(ValueError, match="-3"):
        OrderBook(16, -3)
    with pytest.raises(ValueError, match="overflows"):
        OrderBook(16, TICK, 2**63 - 10)


def test_level_operations(book):
    book.add(velox.BUY, P(10), 5)
    book.add(0, P(10), 7)
    assert book.qty(velox.BUY, P(10)) == 12
    assert book.qty(velox.SELL, P(10)) == 0
    book.reduce(0, P(10), 2)
    assert book.qty(0, P(10)) == 10
    book.set(1, P(20), 9)
    book.set(1, P(20), 4)
    assert book.qty(1, P(20)) == 4
    book.set(1, P(20), 0)
    assert book.best_ask() is None
    book.set(np.uint8(1), np.int64(P(21)), np.uint64(3))  # NumPy integers work
    assert book.best_ask() == (P(21), 3)


def test_reduce_below_zero_raises_and_leaves_book_unchanged(book):
    book.set(0, P(5), 3)
    with pytest.raises(ValueError, match=r"by 4: only 3 rests"):
        book.reduce(0, P(5), 4)
    assert book.qty(0, P(5)) == 3


@pytest.mark.parametrize(
    "call, exc, text",
    [
        (lambda b: b.add(2, P(1), 1), ValueError, "got 2"),
        (lambda b: b.add(-1, P(1), 1), ValueError, "got -1"),
        (lambda b: b.add("buy", P(1), 1), TypeError, "'buy'"),
        (lambda b: b.add(True, P(1), 1), TypeError, "True"),
        (lambda b: b.add(0, 100.5, 1), TypeError, "100.5"),
        (lambda b: b.add(0, P(1) + 1, 1), ValueError, f"{P(1) + 1} is not on the tick grid"),
        (lambda b: b.add(0, P(64), 1), ValueError, f"{P(64)} is outside"),
        (lambda b: b.set(0, P(-1), 1), ValueError, "outside"),
        (lambda b: b.qty(0, P(99)), ValueError, "outside"),
        (lambda b: b.add(0, 2**64, 1), ValueError, str(2**64)),
        (lambda b: b.add(0, P(1), -5), ValueError, "-5"),
        (lambda b: b.add(0, P(1), 1.0), TypeError, "1.0"),
        (lambda b: b.set(0, P(1), MAX_QTY + 1), ValueError, str(MAX_QTY + 1)),
        (lambda b: b.depth(-1), ValueError, "-1"),
        (lambda b: b.depth(1.5), TypeError, "1.5"),
        (lambda b: b.recenter(P(1) + 3), ValueError, str(P(1) + 3)),
        (lambda b: b.recenter(P((2**63 - 1 - BASE) // TICK)), ValueError, "beyond int64"),
    ],
)
def test_bad_input_raises_naming_the_value(book, call, exc, text):
    with pytest.raises(exc, match=text):
        call(book)
    assert book.best_bid() is None and book.best_ask() is None


def test_add_overflow_is_an_error(book):
    book.set(0, P(1), MAX_QTY)
    with pytest.raises(ValueError, match="MAX_QTY"):
        book.add(0, P(1), 1)
    assert book.qty(0, P(1)) == MAX_QTY


def test_best_spread_mid_depth(book):
    assert book.best_bid() is None and book.spread() is None and book.mid() is None
    for k, q in [(10, 3), (12, 4), (5, 1)]:
        book.set(velox.BUY, P(k), q)
    for k, q in [(15, 6), (20, 2)]:
        book.set(velox.SELL, P(k), q)
    assert book.best_bid() == (P(12), 4)
    assert book.best_ask() == (P(15), 6)
    assert book.spread() == 3 * TICK
    assert book.mid() == P(12) + 1.5 * TICK
    (bp, bq), (ap, aq) = book.depth(2)
    assert bp.dtype == np.int64 and bq.dtype == np.uint64
    assert bp.tolist() == [P(12), P(10)] and bq.tolist() == [4, 3]
    assert ap.tolist() == [P(15), P(20)] and aq.tolist() == [6, 2]
    book.set(velox.BUY, P(12), 0)
    assert book.best_bid() == (P(10), 3)
    assert [len(a) for side in book.depth(64) for a in side] == [2, 2, 2, 2]
    book.verify_invariants()


def test_apply_matches_best_level_first(book):
    for k in (20, 21, 23):
        book.apply(velox.Transaction(price=P(k), qty=5, side=velox.SELL, kind=velox.NEW))
    r = book.apply(velox.Transaction(price=P(21), qty=12, side=velox.BUY, kind=velox.NEW))
    assert (r.traded_qty, r.rested_qty, r.levels_matched) == (10, 2, 2)
    assert book.best_bid() == (P(21), 2) and book.best_ask() == (P(23), 5)
    r = book.apply(velox.Transaction(price=P(21), qty=2, side=velox.BUY, kind=velox.CANCEL))
    assert r.cancelled_qty == 2 and book.best_bid() is None
    c = book.counters
    assert (c.applied, c.rejected, c.traded_qty) == (5, 0, 10)


def test_apply_rejections_raise_and_leave_book_unchanged(book):
    book.set(velox.BUY, P(3), 2)
    with pytest.raises(ValueError, match="cancel of more than rests.*2 rests there"):
        book.apply(velox.Transaction(price=P(3), qty=3, side=velox.BUY, kind=velox.CANCEL))
    with pytest.raises(ValueError, match="outside the book's window"):
        book.apply(velox.Transaction(price=P(70), qty=1, side=velox.BUY, kind=velox.NEW))
    with pytest.raises(ValueError, match="tick grid"):
        book.apply(velox.Transaction(price=P(3) + 1, qty=1, side=velox.SELL, kind=velox.NEW))
    with pytest.raises(ValueError, match="zero qty"):
        book.apply(velox.Transaction(price=P(3), qty=0, side=velox.SELL, kind=velox.NEW))
    with pytest.raises(TypeError):
        book.apply((P(3), 1))
    assert book.qty(velox.BUY, P(3)) == 2 and book.best_ask() is None
    c = book.counters
    assert (c.applied, c.rejected, c.out_of_window) == (0, 4, 1)


def test_apply_many_counts_instead_of_raising(book):
    txns = np.zeros(6, dtype=velox.TXN_DTYPE)
    txns["side"] = [velox.SELL, velox.BUY, velox.BUY, velox.BUY, velox.BUY, 7]
    txns["kind"] = [velox.NEW, velox.NEW, velox.NEW, velox.CANCEL, velox.CANCEL, velox.NEW]
    txns["price"] = [P(10), P(99), P(10), P(10), P(10), P(10)]
    txns["qty"] = [4, 1, 6, 5, 2, 1]
    r = book.apply_many(txns)
    assert r == (3, 4, 3, 0)  # applied, traded, rejected, cas_timeouts
    assert book.qty(velox.BUY, P(10)) == 0
    assert book.apply_many(txns[:0]) == (0, 0, 0, 0)
    strided = np.zeros(200, dtype=velox.TXN_DTYPE)
    strided["price"], strided["qty"], strided["side"] = P(1), 1, velox.BUY
    assert book.apply_many(strided[::2]).applied == 100  # non-contiguous: copied, then applied
    assert book.qty(velox.BUY, P(1)) == 100


@pytest.mark.parametrize("bad, exc", [
    ([1, 2], TypeError), (np.zeros(3), TypeError), (np.zeros((2, 2), dtype=velox.TXN_DTYPE), ValueError),
])
def test_apply_many_rejects_wrong_input(book, bad, exc):
    with pytest.raises(exc):
        book.apply_many(bad)


def test_recenter_keeps_prices_and_reports_dropped(book):
    book.set(velox.BUY, P(0), 1)
    book.set(velox.BUY, P(5), 3)
    book.set(velox.SELL, P(60), 4)
    r = book.recenter(P(3))
    assert r == (1, 1, 0, 0)
    assert book.base_price == P(3) and book.max_price == P(66)
    assert book.qty(velox.BUY, P(5)) == 3 and book.qty(velox.SELL, P(60)) == 4
    assert book.best_bid() == (P(5), 3)
    book.add(velox.SELL, P(66), 1)  # newly inside the window
    r = book.recenter(P(-50))  # window [-50, 13]
    assert r == (0, 0, 2, 5)
    assert book.best_ask() is None and book.best_bid() == (P(5), 3)
    assert book.counters.recenters == 2
    book.verify_invariants()


def test_verify_invariants_reports_a_crossed_book(book):
    book.set(velox.BUY, P(10), 1)
    book.set(velox.SELL, P(9), 1)  # level operations write what an L2 feed says
    with pytest.raises(AssertionError, match="crossed"):
        book.verify_invariants()


def test_concurrent_writers_conserve_quantity_while_reader_polls():
    """Python threads add and reduce the same levels; a reader polls best bid/ask. Every
    successful call is accounted for: the final ladder equals the exact expected sums."""
    book = OrderBook(256, TICK, BASE)
    writers, ops = 4, 3000
    expected = [[0] * 8 for _ in range(2)]
    lock = threading.Lock()
    stop = threading.Event()
    problems = []

    def writer(seed):
        rng = np.random.default_rng(seed)
        mine = [[0] * 8 for _ in range(2)]
        outstanding = []
        for _ in range(ops):
            if outstanding and rng.random() < 0.5:
                side, k, q = outstanding.pop()
                book.reduce(side, P(100 + k if side == 0 else 120 + k), q)
                mine[side][k] -= q
            else:
                side, k, q = int(rng.integers(2)), int(rng.integers(8)), int(rng.integers(1, 4))
                book.add(side, P(100 + k if side == 0 else 120 + k), q)
                mine[side][k] += q
                outstanding.append((side, k, q))
        with lock:
            for side in range(2):
                for k in range(8):
                    expected[side][k] += mine[side][k]

    def reader():
        while not stop.is_set():
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and (bid[1] == 0 or not P(100) <= bid[0] < P(108)):
                problems.append(("bid", bid))
            if ask is not None and (ask[1] == 0 or not P(120) <= ask[0] < P(128)):
                problems.append(("ask", ask))

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(writers)]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    r.join()
    assert problems == []
    for side in range(2):
        for k in range(8):
            price = P(100 + k if side == 0 else 120 + k)
            assert book.qty(side, price) == expected[side][k]
    book.verify_invariants()


# ---- set_many (batch L2 updates) -------------------------------------------------------------

def l2(sides, prices, qtys):
    return (np.asarray(sides, dtype=np.uint8), np.asarray(prices, dtype=np.int64),
            np.asarray(qtys, dtype=np.uint64))


def test_set_many_applies_in_order_and_counts_rejections(book):
    r = book.set_many(*l2([0, 0, 1, 0, 2, 1, 0, 1],
                          [P(10), P(10), P(20), P(99), P(11), P(21) + 1, P(12), P(20)],
                          [5, 7, 3, 1, 4, 1, MAX_QTY + 1, 0]))
    assert r == (4, 4, 3)  # applied, rejected (window, side 2, off grid, qty), first rejected
    assert (r.applied, r.rejected, r.first_rejected) == (4, 4, 3)
    assert book.qty(0, P(10)) == 7  # later update of the same level wins
    assert book.qty(0, P(12)) == 0 and book.best_ask() is None  # set to 0 cleared it
    assert book.best_bid() == (P(10), 7)
    assert book.counters.out_of_window == 1
    assert book.set_many(*l2([], [], [])) == (0, 0, -1)
    # matched by kind and size: np.longlong / np.ulonglong are int64 / uint64 here too
    r = book.set_many(np.array([1], np.uint8), np.array([P(30)], np.longlong),
                      np.array([2], np.ulonglong))
    assert r == (1, 0, -1) and book.best_ask() == (P(30), 2)
    book.verify_invariants()


def test_set_many_large_batch_releases_the_gil_and_matches_set(book):
    rng = np.random.default_rng(5)
    n = 5000
    sides, prices, qtys = l2(rng.integers(0, 2, n), P(rng.integers(0, 64, n)), rng.integers(0, 9, n))
    r = book.set_many(sides, prices, qtys)
    assert r == (n, 0, -1)
    ref = OrderBook(64, TICK, BASE)
    for s, p, q in zip(sides.tolist(), prices.tolist(), qtys.tolist()):
        ref.set(s, p, q)
    assert [a.tolist() for side in book.depth(64) for a in side] == \
        [a.tolist() for side in ref.depth(64) for a in side]


@pytest.mark.parametrize("args, exc, text", [
    (([0], [P(1)], [1]), TypeError, "sides must be a numpy array of uint8, got list"),
    ((np.zeros(1, np.int64), np.array([P(1)]), np.ones(1, np.uint64)), TypeError,
     "sides must be a numpy array of uint8, got int64"),
    ((np.zeros(1, np.uint8), np.array([P(1)], np.uint64), np.ones(1, np.uint64)), TypeError,
     "prices must be a numpy array of int64, got uint64"),
    ((np.zeros(1, np.uint8), np.array([P(1)]), np.ones(1, np.int64)), TypeError,
     "qtys must be a numpy array of uint64, got int64"),
    ((np.zeros(1, np.uint8), np.array([P(1)], ">i8"), np.ones(1, np.uint64)), ValueError,
     "prices must be C-contiguous, aligned and in native byte order"),
    ((np.zeros(4, np.uint8)[::2], np.full(2, P(1)), np.ones(2, np.uint64)), ValueError,
     "sides must be C-contiguous"),
    ((np.zeros((1, 1), np.uint8), np.full(1, P(1)), np.ones(1, np.uint64)), ValueError,
     r"sides must be 1-D, got shape \(1, 1\)"),
    ((np.zeros(2, np.uint8), np.full(1, P(1)), np.ones(2, np.uint64)), ValueError,
     "equal lengths, got 2, 1, 2"),
])
def test_set_many_rejects_wrong_arrays_naming_them(book, args, exc, text):
    with pytest.raises(exc, match=text):
        book.set_many(*args)
    assert book.best_bid() is None and book.best_ask() is None


def test_best_tuples_follow_every_change(book):
    """best_bid/best_ask may return a cached tuple; it must never be stale."""
    book.set(0, P(5), 3)
    first = book.best_bid()
    assert first == (P(5), 3) and book.best_bid() == first
    book.set(0, P(5), 4)  # same price, new qty
    assert book.best_bid() == (P(5), 4)
    book.set(0, P(6), 4)  # new price, same qty
    assert book.best_bid() == (P(6), 4)
    book.set(0, P(6), 0)
    assert book.best_bid() == (P(5), 4)
    book.set(0, P(5), 0)
    assert book.best_bid() is None
    book.set(0, P(5), 3)
    assert book.best_bid() == (P(5), 3) and book.best_ask() is None
    book.set(1, P(9), 3)
    assert book.best_ask() == (P(9), 3) and book.best_bid() == (P(5), 3)


def test_set_many_from_threads_on_disjoint_levels_while_reader_polls():
    """Two threads stream set_many batches (GIL released) onto their own levels, a third
    calls set() on others; afterwards every level holds the last value its writer set."""
    book = OrderBook(256, TICK, BASE)
    batches, n = 40, 500
    problems = []
    stop = threading.Event()
    final = {}
    lock = threading.Lock()

    def batch_writer(seed, side, lo):
        rng = np.random.default_rng(seed)
        last = {}
        for _ in range(batches):
            ks = rng.integers(lo, lo + 16, n)
            sides, prices, qtys = l2(np.full(n, side), P(ks), rng.integers(0, 50, n))
            r = book.set_many(sides, prices, qtys)
            if r != (n, 0, -1):
                problems.append(r)
            for p, q in zip(prices.tolist(), qtys.tolist()):
                last[(side, p)] = q
        with lock:
            final.update(last)

    def single_writer():
        rng = np.random.default_rng(99)
        last = {}
        for _ in range(2000):
            k, q = int(rng.integers(200, 216)), int(rng.integers(0, 50))
            book.set(1, P(k), q)
            last[(1, P(k))] = q
        with lock:
            final.update(last)

    def reader():
        while not stop.is_set():
            for best in (book.best_bid(), book.best_ask()):
                if best is not None and best[1] == 0:
                    problems.append(best)

    writers = [threading.Thread(target=batch_writer, args=(1, 0, 10)),
               threading.Thread(target=batch_writer, args=(2, 1, 100)),
               threading.Thread(target=single_writer)]
    r = threading.Thread(target=reader)
    r.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    r.join()
    assert problems == []
    assert len(final) == 48
    for (side, price), q in final.items():
        assert book.qty(side, price) == q
    assert book.best_bid() == max(((p, q) for (s, p), q in final.items() if s == 0 and q),
                                  default=None)
    assert book.best_ask() == min(((p, q) for (s, p), q in final.items() if s == 1 and q),
                                  default=None)
    book.verify_invariants()
