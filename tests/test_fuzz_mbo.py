"""API fuzzing of velox.MboBook (the same hostile arguments as test_fuzz_api.py): every call
succeeds or raises an ordinary exception; the book stays consistent."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import velox
from velox import MBO_DTYPE, Action, MboBook
from test_fuzz_api import BAD_INPUT, FUZZ, _hostile_arrays, expect_ok_or, hostile

TICK = 1_000_000


def _book():
    book = MboBook(16, TICK, 100 * TICK, max_orders=32)
    book.apply_fields(Action.ADD, velox.BUY, 1, 104 * TICK, 5)
    book.apply_fields(Action.ADD, velox.SELL, 2, 106 * TICK, 7)
    return book


@FUZZ
@given(pos=st.integers(0, 4), arg=hostile())
def test_mbo_constructor(pos, arg):
    args = [16, TICK, 100 * TICK, 32, None]
    args[pos] = arg
    b = expect_ok_or(BAD_INPUT, MboBook, *args)
    if b is not None:
        assert b.best_bid() is None and b.live_orders == 0
    expect_ok_or(BAD_INPUT, MboBook.from_prices, *args)


@FUZZ
@given(method=st.sampled_from(["apply", "apply_many", "apply_fields", "seed_level", "qty",
                               "depth", "order", "queue_position", "reserve", "recenter"]),
       pos=st.integers(0, 7), arg=hostile())
def test_mbo_methods(method, pos, arg):
    book = _book()
    if method == "apply_fields":
        args = [Action.ADD, velox.BUY, 3, 103 * TICK, 4, 0, 0, 0]
        args[pos] = arg
        expect_ok_or(BAD_INPUT, book.apply_fields, *args)
    elif method in ("seed_level", "qty"):
        args = [velox.SELL, 107 * TICK, 3][: 3 if method == "seed_level" else 2]
        args[min(pos, len(args) - 1)] = arg
        expect_ok_or(BAD_INPUT, getattr(book, method), *args)
    elif method == "reserve" and isinstance(arg, int) and arg > 1 << 20:
        pass  # a valid huge reserve would allocate gigabytes
    else:
        expect_ok_or(BAD_INPUT, getattr(book, method), arg)
    book.verify_invariants()


def test_mbo_hostile_arrays():
    book = _book()
    for arr in _hostile_arrays():
        expect_ok_or(BAD_INPUT, book.apply_many, arr)
        expect_ok_or(BAD_INPUT, book.apply, arr)
    ev = np.zeros(4, MBO_DTYPE)
    for arr in (ev[::2], ev[::-1], ev.astype(MBO_DTYPE.newbyteorder()), ev.view(np.uint8),
                ev.reshape(2, 2)):
        expect_ok_or(BAD_INPUT, book.apply_many, arr)
    book.verify_invariants()


@FUZZ
@given(data=st.binary(min_size=48, max_size=48 * 64))
def test_mbo_random_records(data):
    n = len(data) // 48
    ev = np.frombuffer(data[: n * 48], MBO_DTYPE)
    book = _book()
    r = book.apply_many(ev)
    assert r.applied + r.rejected == n
    book.verify_invariants()
    for rec in ev[:4]:
        expect_ok_or(BAD_INPUT, book.apply, rec)
    book.verify_invariants()
