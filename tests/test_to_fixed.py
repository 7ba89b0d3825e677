"""to_fixed on int/Decimal/str: exact, one rounding (half to even at 1e-8), independent of the
caller's decimal context, and immediate on hostile exponents (issue 10, items 6 and 7)."""

import decimal
import signal
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import velox

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def model(price):
    """round(price * 1e8) half to even, in exact rational arithmetic; None if outside int64."""
    r = round(Fraction(Decimal(price)) * velox.PRICE_SCALE)  # Fraction.__round__: half to even
    return r if INT64_MIN <= r <= INT64_MAX else None


def test_one_rounding_not_two():
    # rounding to the context's 28 digits first would make ...14999.. a tie, then round up
    assert velox.to_fixed("1.00000001499999999999999999999") == 100000001
    assert velox.to_fixed(Decimal("1.00000001499999999999999999999")) == 100000001
    assert velox.to_fixed("1.000000015000000000000000000000001") == 100000002


@pytest.mark.parametrize("text, units", [
    ("0.000000005", 0), ("0.000000015", 2), ("0.000000025", 2), ("-0.000000015", -2),
    ("0.0000000050000000000000000000000000001", 1), ("0.00000000499999999999999999999", 0),
    ("0.0000000005", 0), ("1e-400000000", 0), ("-0", 0), ("0E+999999999", 0),
    ("92233720368.54775807", INT64_MAX), ("-92233720368.54775808", INT64_MIN),
    ("9e10", 9 * 10**18), ("123.45678901", 12345678901),
])
def test_half_even_and_edges(text, units):
    assert velox.to_fixed(text) == units
    assert velox.to_fixed(Decimal(text)) == units


def test_independent_of_the_callers_context():
    with decimal.localcontext() as ctx:
        ctx.prec = 6
        ctx.rounding = decimal.ROUND_DOWN
        ctx.traps[decimal.InvalidOperation] = False
        assert velox.to_fixed("12345.678") == 1234567800000
        assert velox.to_fixed(Decimal("12345.678")) == 1234567800000
        assert velox.to_fixed("0.000000015") == 2
        with pytest.raises(ValueError, match="abc"):  # not a silent NaN without the trap
            velox.to_fixed("abc")


def _alarm(signum, frame):
    raise AssertionError("to_fixed did not return within 20 s (a hang guard, not a timing test)")


@pytest.mark.parametrize("bad", [
    "9e999990", "1e400000000", "-1e400000000", "1e999999999999999999", "92233720368.54775808",
    "-92233720368.54775809", Decimal("9e999990"), Decimal("1e400000000"), "1" * 5000,
    "nan", "NaN", "-nan", "snan", "sNaN", "inf", "-Infinity", Decimal("NaN"), Decimal("sNaN"),
    Decimal("-Inf"), "abc", "", "1e", "--1", "1e-999999999999999999999",
])
def test_hostile_values_raise_valueerror_at_once(bad):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        with pytest.raises(ValueError) as info:
            velox.to_fixed(bad)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert repr(bad)[:20] in str(info.value)


def test_huge_int_rejected():
    with pytest.raises(ValueError, match="int64"):
        velox.to_fixed(10**100000)  # also: repr() of it would raise (int_max_str_digits)
    assert velox.to_fixed(92233720368) == 92233720368 * 10**8


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None)
       | st.decimals(min_value=-10**11, max_value=10**11, allow_nan=False, allow_infinity=False))
def test_matches_exact_rational_model(d):
    expect = model(d)
    if expect is None:
        with pytest.raises(ValueError):
            velox.to_fixed(d)
        with pytest.raises(ValueError):
            velox.to_fixed(str(d))
    else:
        assert velox.to_fixed(d) == expect
        assert velox.to_fixed(str(d)) == expect


@given(st.integers(-10**12, 10**12), st.integers(0, 40), st.integers(0, 10**30))
def test_long_fractions_round_once(units, extra, tail):
    # a price with many more decimals than 8: digits beyond the 9th only break ties
    head = f"{Decimal(units).scaleb(-8):f}"
    text = f"{head}{'' if '.' in head else '.'}{tail:0{extra}d}"
    expect = model(text)
    if expect is None:
        with pytest.raises(ValueError):
            velox.to_fixed(text)
    else:
        assert velox.to_fixed(text) == expect
