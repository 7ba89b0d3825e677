"""OrderBook's per-call fast path (add/reduce/set with an inline int conversion, binding=False
methods): every int converts exactly, across the digit-count boundaries of CPython's int
layout (2**30, 2**60) and int64's ends, and anything the fast path refuses still gets the
precise error of the slow path."""

import enum
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from velox._orderbook import MAX_QTY, OrderBook

TICK = 1
LEVELS = 64

# values around every boundary the conversion distinguishes: digit counts 0..3 (30-bit
# digits), the sign, and int64's ends
EDGES = sorted({s * (b + d) for b in (0, 1, 2**30, 2**60, 2**62, 2**63) for d in (-1, 0, 1)
                for s in (1, -1)})
ints = st.one_of(st.sampled_from(EDGES), st.integers(-(2**64), 2**64))


@settings(max_examples=400, deadline=None)
@given(ints)
def test_every_price_converts_exactly(price):
    """A price in the window lands on its level; outside it, the message shows the value the
    C code received, which must be the price itself; outside int64, the int64 error."""
    base = max(min(price - 7, 2**63 - LEVELS), -(2**63))  # window around price when possible
    book = OrderBook(LEVELS, TICK, base)
    if not -(2**63) <= price < 2**63:
        with pytest.raises(ValueError, match=f"price must fit in int64, got {price}"):
            book.set(0, price, 3)
        return
    if base <= price < base + LEVELS:
        book.set(0, price, 3)
        assert book.qty(0, price) == 3 and book.best_bid() == (price, 3)
        book.add(0, price, 2)
        book.reduce(0, price, 1)
        assert book.qty(0, price) == 4
    else:
        with pytest.raises(ValueError, match=rf"price {price} is outside the book's window"):
            book.set(0, price, 3)
    far = OrderBook(LEVELS, TICK, 0)
    if not 0 <= price < LEVELS:
        with pytest.raises(ValueError, match=rf"price {price} is outside"):
            far.add(1, price, 1)


@settings(max_examples=300, deadline=None)
@given(ints)
def test_every_qty_converts_exactly(qty):
    book = OrderBook(LEVELS, TICK, 0)
    if 0 <= qty <= MAX_QTY:
        book.set(1, 5, qty)
        assert book.qty(1, 5) == qty
        assert book.best_ask() == ((5, qty) if qty else None)
    else:
        with pytest.raises(ValueError, match=rf"qty must be in \[0, {MAX_QTY}\], got {qty}"):
            book.set(1, 5, qty)
        assert book.qty(1, 5) == 0


@settings(max_examples=200, deadline=None)
@given(ints)
def test_every_side_converts_exactly(side):
    book = OrderBook(LEVELS, TICK, 0)
    if side in (0, 1):
        book.set(side, 5, 1)
        assert book.qty(side, 5) == 1 and book.qty(1 - side, 5) == 0
    else:
        with pytest.raises(ValueError, match=rf"side must be velox.BUY \(0\) or velox.SELL \(1\), got {side}"):
            book.set(side, 5, 1)


class MyInt(int):
    pass


class Color(enum.IntEnum):
    BID = 0
    ASK = 1


def test_non_exact_ints_take_the_slow_path():
    book = OrderBook(LEVELS, TICK, 0)
    book.set(velox.SELL, 5, 2)  # IntEnum side: fast path (an int subclass)
    book.set(Color.BID, MyInt(6), MyInt(4))  # int subclasses for price/qty: slow path
    book.add(np.uint8(0), np.int64(6), np.uint64(1))  # NumPy integers: slow path
    assert book.qty(1, 5) == 2 and book.qty(0, 6) == 5
    for bad, exc, text in [((True, 5, 1), TypeError, "True"), ((0, 5.0, 1), TypeError, "5.0"),
                           ((0, 5, 1.5), TypeError, "1.5"), ((0, "5", 1), TypeError, "'5'"),
                           ((None, 5, 1), TypeError, "None"), ((0, 5, False), TypeError, "False"),
                           ((0, 5, -1), ValueError, "-1"), ((0, MyInt(2**63), 1), ValueError, "int64")]:
        with pytest.raises(exc, match=text):
            book.set(*bad)


def test_calling_conventions():
    book = OrderBook(LEVELS, TICK, 0)
    for name in ("add", "reduce", "set", "best_bid", "best_ask"):
        assert type(getattr(book, name)).__name__ == "builtin_function_or_method", name
    assert list(inspect.signature(book.set).parameters) == ["side", "price", "qty"]
    assert list(inspect.signature(book.best_bid).parameters) == []
    book.set(side=0, price=5, qty=1)  # keywords still work for the level ops
    assert book.best_bid() == (5, 1)
    with pytest.raises(TypeError):
        book.best_bid(0)
    with pytest.raises(TypeError):
        book.set(0, 5)
