"""MboBook's best bid and ask when the best level empties and the next one lies far below it.

The book's writer finds the next best level from a bitmap of non-empty levels (three tiers of
64-bit words, csrc/velox/rankmap.h): these tests put orders on sparse ladders of 2 to 2^16
levels, at the first and last levels, on both sides of 64- and 4096-level boundaries and
anywhere, then delete them (mostly the side's best first), with a recenter in between, and
compare the best prices and quantities with a model after every event. verify_invariants
checks the bitmap against every level."""

from hypothesis import given, settings
from hypothesis import strategies as st

from scale import scaled
from velox import BUY, SELL, Action, MboBook

TICK = 100
BASE = 1_000_000
EDGES = (1, 62, 63, 64, 65, 127, 128, 4094, 4095, 4096, 4097, 8191, 8192)


@st.composite
def cases(draw):
    levels = draw(st.sampled_from([2, 64, 128, 4096, 8192, 1 << 16]))
    at = st.one_of(st.integers(0, min(3, levels - 1)),
                   st.integers(max(0, levels - 4), levels - 1),
                   st.sampled_from([e for e in EDGES if e < levels] or [0]),
                   st.integers(0, levels - 1))
    orders = draw(st.lists(st.tuples(st.sampled_from([BUY, SELL]), at, st.integers(1, 9)),
                           min_size=1, max_size=24))
    order = draw(st.permutations(range(len(orders))))
    best_first = draw(st.booleans())
    recenter_after = draw(st.integers(0, len(orders)))
    shift = draw(st.integers(-levels // 2, levels // 2))
    return levels, orders, order, best_first, recenter_after, shift


class Model:
    def __init__(self, levels):
        self.levels, self.base = levels, BASE
        self.live = {}  # order id -> (side, price, qty)

    def best(self, side):
        top = self.base + self.levels * TICK
        prices = [p for s, p, _ in self.live.values() if s == side and self.base <= p < top]
        if not prices:
            return None
        price = max(prices) if side == BUY else min(prices)
        return price, sum(q for s, p, q in self.live.values() if s == side and p == price)


def agree(book, model):
    assert book.best_bid() == model.best(BUY)
    assert book.best_ask() == model.best(SELL)
    book.verify_invariants()


@settings(max_examples=scaled(300, 40), deadline=None)
@given(cases())
def test_best_after_the_best_empties(case):
    levels, orders, order, best_first, recenter_after, shift = case
    book = MboBook(levels, TICK, BASE, max_orders=64)
    model = Model(levels)
    for oid, (side, k, qty) in enumerate(orders, 1):
        book.apply_fields(Action.ADD, side, oid, BASE + k * TICK, qty)
        model.live[oid] = (side, BASE + k * TICK, qty)
        agree(book, model)
    pending = [oid + 1 for oid in order]
    for step in range(len(orders)):
        if step == recenter_after:  # levels move wholesale; orders leave and come back
            model.base += shift * TICK
            book.recenter(model.base)
            agree(book, model)
        oid = pending[0]
        if best_first:  # the side's best order: the next best is searched for
            side = model.live[oid][0]
            best = model.best(side)
            oid = next((o for o in pending
                        if best and model.live[o][0] == side and model.live[o][1] == best[0]), oid)
        pending.remove(oid)
        book.apply_fields(Action.DELETE, model.live[oid][0], oid)
        del model.live[oid]
        agree(book, model)
    assert book.best_bid() is None and book.best_ask() is None


def test_gap_of_the_whole_ladder():
    """The best empties and the next best is the lowest level of the largest ladder tested
    (rank 1: bit 0), then the highest (the last bit) empties to nothing."""
    levels = 1 << 16
    book = MboBook(levels, TICK, BASE, max_orders=8)
    book.apply_fields(Action.ADD, BUY, 1, BASE, 2)                          # lowest bid
    book.apply_fields(Action.ADD, BUY, 2, BASE + (levels - 1) * TICK, 3)    # highest bid
    book.apply_fields(Action.ADD, SELL, 3, BASE, 4)                         # best ask
    book.apply_fields(Action.ADD, SELL, 4, BASE + (levels - 1) * TICK, 5)   # worst ask
    assert book.best_bid() == (BASE + (levels - 1) * TICK, 3)
    assert book.best_ask() == (BASE, 4)
    book.apply_fields(Action.DELETE, BUY, 2)
    book.apply_fields(Action.DELETE, SELL, 3)
    assert book.best_bid() == (BASE, 2)
    assert book.best_ask() == (BASE + (levels - 1) * TICK, 5)
    book.verify_invariants()
    book.apply_fields(Action.DELETE, BUY, 1)
    book.apply_fields(Action.DELETE, SELL, 4)
    assert book.best_bid() is None and book.best_ask() is None
    book.verify_invariants()
