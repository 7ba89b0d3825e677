"""Hypothesis stateful test: velox.OrderBook against a small pure-Python reference book.

The reference keeps each side as a dict {price: qty} of non-empty levels and does everything
the obvious way (min/max over the dict). After every step the best bid/ask, every touched
level, the full depth and the counters must agree.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import velox
from velox._orderbook import MAX_QTY, OrderBook

LEVELS = 16
TICK = 5
BASE = 100
BUY, SELL = 0, 1


class ReferenceBook:
    """Obviously-correct model: two dicts of non-empty levels and a window."""

    def __init__(self, levels, tick, base):
        self.levels, self.tick, self.base = levels, tick, base
        self.sides = ({}, {})
        self.out_of_window = 0
        self.applied = self.rejected = self.traded = 0

    def check_price(self, price):
        """'ok', 'grid' or 'window' (window rejections are counted)."""
        if (price - self.base) % self.tick:
            return "grid"
        if not self.base <= price < self.base + self.levels * self.tick:
            self.out_of_window += 1
            return "window"
        return "ok"

    def qty(self, side, price):
        return self.sides[side].get(price, 0)

    def put(self, side, price, qty):
        if qty:
            self.sides[side][price] = qty
        else:
            self.sides[side].pop(price, None)

    def best(self, side):
        levels = self.sides[side]
        if not levels:
            return None
        price = max(levels) if side == BUY else min(levels)
        return (price, levels[price])

    def depth(self, side, n):
        prices = sorted(self.sides[side], reverse=(side == BUY))[:n]
        return prices, [self.sides[side][p] for p in prices]

    def apply(self, side, kind, price, qty):
        """Returns (traded, rested, cancelled) or None when rejected."""
        result = self._apply(side, kind, price, qty)
        if result is None:
            self.rejected += 1
        else:
            self.applied += 1
            self.traded += result[0]
        return result

    def _apply(self, side, kind, price, qty):
        if qty == 0 or self.check_price(price) != "ok":
            return None
        if kind == velox.CANCEL:
            if qty > self.qty(side, price):
                return None
            self.put(side, price, self.qty(side, price) - qty)
            return (0, 0, qty)
        if self.qty(side, price) + qty > MAX_QTY:
            return None
        other = 1 - side
        remaining, traded = qty, 0
        while remaining:
            best = self.best(other)
            if best is None or (best[0] > price if side == BUY else best[0] < price):
                break
            take = min(remaining, best[1])
            self.put(other, best[0], best[1] - take)
            remaining -= take
            traded += take
        if remaining:
            self.put(side, price, self.qty(side, price) + remaining)
        return (traded, remaining, 0)

    def recenter(self, new_base):
        if (new_base - self.base) % self.tick:
            return None
        self.base = new_base
        dropped = []
        for side in (BUY, SELL):
            gone = [p for p in self.sides[side] if not new_base <= p < new_base + self.levels * self.tick]
            dropped += [len(gone), sum(self.sides[side][p] for p in gone)]
            for p in gone:
                del self.sides[side][p]
        return tuple(dropped)

    def crossed(self):
        b, a = self.best(BUY), self.best(SELL)
        return b is not None and a is not None and b[0] >= a[0]


# Prices around the window, including off-grid and out-of-window ones.
prices = st.integers(BASE - 4 * TICK, BASE + (LEVELS + 4) * TICK)
grid_prices = st.integers(-4, LEVELS + 4).map(lambda k: BASE + k * TICK)
any_price = st.one_of(grid_prices, grid_prices, prices)
sides = st.sampled_from([BUY, SELL])
small_qty = st.integers(0, 12)


@settings(max_examples=60, stateful_step_count=40, deadline=None)
class BookMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.book = OrderBook(LEVELS, TICK, BASE)
        self.ref = ReferenceBook(LEVELS, TICK, BASE)
        self.touched = set()

    def _same_outcome(self, call, ref_ok):
        """Run call(); it must raise ValueError exactly when the reference rejected."""
        try:
            out = call()
        except ValueError:
            assert not ref_ok
            return None
        assert ref_ok
        return out

    @rule(side=sides, price=any_price, qty=small_qty)
    def add(self, side, price, qty):
        ok = self.ref.check_price(price) == "ok"
        if ok:
            self.ref.put(side, price, self.ref.qty(side, price) + qty)
            self.touched.add((side, price))
        self._same_outcome(lambda: self.book.add(side, price, qty), ok)

    @rule(side=sides, price=any_price, qty=small_qty)
    def reduce(self, side, price, qty):
        ok = self.ref.check_price(price) == "ok" and qty <= self.ref.qty(side, price)
        if ok:
            self.ref.put(side, price, self.ref.qty(side, price) - qty)
            self.touched.add((side, price))
        self._same_outcome(lambda: self.book.reduce(side, price, qty), ok)

    @rule(side=sides, price=any_price, qty=small_qty)
    def set(self, side, price, qty):
        ok = self.ref.check_price(price) == "ok"
        if ok:
            self.ref.put(side, price, qty)
            self.touched.add((side, price))
        self._same_outcome(lambda: self.book.set(side, price, qty), ok)

    @rule(side=sides, kind=st.sampled_from([velox.NEW, velox.NEW, velox.CANCEL]),
          price=any_price, qty=small_qty, batch=st.booleans())
    def apply(self, side, kind, price, qty, batch):
        want = self.ref.apply(side, kind, price, qty)
        self.touched.add((side, price))
        if batch:
            txns = np.zeros(1, dtype=velox.TXN_DTYPE)
            txns[0] = (0, 0, price, qty, side, kind)
            got = self.book.apply_many(txns)
            assert got.applied == (want is not None)
            assert got.rejected == (want is None)
            assert got.traded == (want[0] if want else 0)
            assert got.cas_timeouts == 0
        else:
            txn = velox.Transaction(price=price, qty=qty, side=side, kind=kind)
            got = self._same_outcome(lambda: self.book.apply(txn), want is not None)
            if want is not None:
                assert (got.traded_qty, got.rested_qty, got.cancelled_qty) == want

    @rule(shift=st.integers(-(LEVELS + 2), LEVELS + 2), off_grid=st.integers(0, 20))
    def recenter(self, shift, off_grid):
        new_base = self.ref.base + shift * TICK + (1 if off_grid == 0 else 0)
        want = self.ref.recenter(new_base)
        got = self._same_outcome(lambda: self.book.recenter(new_base), want is not None)
        if want is not None:
            assert tuple(got) == want

    @invariant()
    def agrees_with_reference(self):
        book, ref = self.book, self.ref
        assert book.base_price == ref.base
        assert book.best_bid() == ref.best(BUY)
        assert book.best_ask() == ref.best(SELL)
        for side, price in self.touched:
            if ref.base <= price < ref.base + LEVELS * TICK and (price - ref.base) % TICK == 0:
                assert book.qty(side, price) == ref.qty(side, price)
        (bid_p, bid_q), (ask_p, ask_q) = book.depth(LEVELS)
        assert (bid_p.tolist(), bid_q.tolist()) == ref.depth(BUY, LEVELS)
        assert (ask_p.tolist(), ask_q.tolist()) == ref.depth(SELL, LEVELS)
        b, a = ref.best(BUY), ref.best(SELL)
        assert book.spread() == (a[0] - b[0] if a and b else None)
        c = book.counters
        assert (c.applied, c.rejected, c.traded_qty) == (ref.applied, ref.rejected, ref.traded)
        assert c.out_of_window == ref.out_of_window
        if ref.crossed():
            try:
                book.verify_invariants()
            except AssertionError as exc:
                assert "crossed" in str(exc)
            else:
                raise AssertionError("a crossed book passed verify_invariants")
        else:
            book.verify_invariants()


TestBookAgainstReference = BookMachine.TestCase


# ---- set_many == the same set() calls one by one -----------------------------------------------

l2_update = st.tuples(
    st.one_of(sides, sides, sides, st.integers(0, 255)),        # sides: mostly valid, some bad
    any_price,                                                  # on/off grid, in/out of window
    st.one_of(small_qty, small_qty, st.integers(MAX_QTY - 1, 2**64 - 1)))  # some above MAX_QTY


@settings(max_examples=200, deadline=None)
@given(before=st.lists(l2_update, max_size=20), batch=st.lists(l2_update, max_size=80))
def test_set_many_equals_sequence_of_set_calls(before, batch):
    one_by_one = OrderBook(LEVELS, TICK, BASE)
    batched = OrderBook(LEVELS, TICK, BASE)
    for book in (one_by_one, batched):  # same starting state, built with set()
        for side, price, qty in before:
            try:
                book.set(side, price, qty)
            except ValueError:
                pass
    applied, first_rejected = 0, -1
    for i, (side, price, qty) in enumerate(batch):
        try:
            one_by_one.set(side, price, qty)
            applied += 1
        except ValueError:
            if first_rejected < 0:
                first_rejected = i
    cols = list(zip(*batch)) or [(), (), ()]
    got = batched.set_many(np.array(cols[0], dtype=np.uint8), np.array(cols[1], dtype=np.int64),
                           np.array(cols[2], dtype=np.uint64))
    assert got == (applied, len(batch) - applied, first_rejected)
    assert [a.tolist() for side in batched.depth(LEVELS) for a in side] == \
        [a.tolist() for side in one_by_one.depth(LEVELS) for a in side]
    assert batched.best_bid() == one_by_one.best_bid()
    assert batched.best_ask() == one_by_one.best_ask()
    assert batched.counters == one_by_one.counters
