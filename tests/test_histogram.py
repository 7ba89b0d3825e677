"""velox.Histogram: percentiles against numpy within the bucket precision, exact summary
statistics, record_many == record, merge, errors naming the bad value."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velox import Histogram
from velox._histogram import BUCKETS, MAX_VALUE, RELATIVE_PRECISION, bucket_bounds

values_st = st.lists(st.integers(0, 2**40 - 1) | st.integers(0, 5000), min_size=1, max_size=300)


def within_bucket(got, truth):
    # never below the true value, at most one bucket width (1/64 of it) above
    return truth <= got <= truth + truth * RELATIVE_PRECISION + 1


@settings(max_examples=150, deadline=None)
@given(values_st, st.floats(0, 100))
def test_percentile_matches_numpy_within_bucket_precision(values, p):
    h = Histogram()
    for v in values:
        h.record(v)
    truth = int(np.percentile(np.array(values, dtype=np.uint64), p, method="inverted_cdf"))
    assert within_bucket(h.percentile(p), truth)
    # and it is never outside the observed range
    assert min(values) <= h.percentile(p) <= max(values)


@settings(max_examples=100, deadline=None)
@given(values_st)
def test_summary_statistics_are_exact(values):
    h = Histogram()
    h.record_many(np.array(values, dtype=np.uint64))
    assert h.count == len(h) == len(values)
    assert h.min == min(values)
    assert h.max == max(values)
    assert h.mean == pytest.approx(sum(values) / len(values), rel=1e-12)
    assert h.percentile(0) == min(values)
    assert h.percentile(100) == max(values)


@settings(max_examples=60, deadline=None)
@given(values_st, values_st)
def test_record_many_equals_record_and_merge_adds(a, b):
    one, many, other = Histogram(), Histogram(), Histogram()
    for v in a:
        one.record(v)
    many.record_many(a)
    assert np.array_equal(one.to_numpy(), many.to_numpy())
    other.record_many(np.array(b, dtype=np.int64))
    one.merge(other)
    both = Histogram()
    both.record_many(a + b)
    assert np.array_equal(one.to_numpy(), both.to_numpy())
    assert (one.count, one.min, one.max) == (both.count, both.min, both.max)


def test_to_numpy_buckets_hold_their_values():
    h = Histogram()
    vals = [0, 1, 127, 128, 129, 1000, 1007, 1008, 10**9, MAX_VALUE]
    h.record_many(vals)
    table = h.to_numpy()
    assert table.dtype.names == ("lowest", "highest", "count")
    assert int(table["count"].sum()) == len(vals)
    for v in vals:
        lo, hi = bucket_bounds(v)
        assert lo <= v <= hi
        row = table[table["lowest"] == lo]
        assert len(row) == 1 and row["highest"][0] == hi
    assert bucket_bounds(1000) == (1000, 1007)
    assert BUCKETS == 2240


def test_empty_and_reset():
    h = Histogram()
    assert (h.count, h.min, h.max, h.mean) == (0, 0, 0, 0.0)
    for p in (0, 50, 100):  # an empty histogram has no percentile: not a silent 0
        with pytest.raises(ValueError, match="empty Histogram"):
            h.percentile(p)
    with pytest.raises(ValueError, match="empty Histogram"):
        h.percentiles([50, 99])
    assert h.summary() == {"count": 0, "min": 0, "mean": 0.0, "p50": 0, "p90": 0, "p99": 0,
                           "p999": 0, "max": 0}
    assert len(h.to_numpy()) == 0
    h.record(5)
    h.reset()
    assert h.count == 0 and h.max == 0
    assert "count=0" in repr(h)
    c = Histogram()
    c.record(9)
    d = c.copy()
    c.record(10)
    assert d.count == 1 and c.count == 2


@pytest.mark.parametrize("bad, exc, text", [
    (-1, ValueError, "-1"),
    (2**40, ValueError, str(2**40)),
    (2**70, ValueError, str(2**70)),
    (1.5, TypeError, "1.5"),
    ("7", TypeError, "'7'"),
    (None, TypeError, "None"),
])
def test_record_rejects_bad_values_by_name(bad, exc, text):
    h = Histogram()
    with pytest.raises(exc, match=text.replace("*", r"\*")):
        h.record(bad)
    assert h.count == 0


def test_record_many_rejects_bad_arrays_and_percentile_range():
    h = Histogram()
    with pytest.raises(ValueError, match="-3"):
        h.record_many(np.array([1, -3, 2]))
    with pytest.raises(ValueError, match=str(2**41)):
        h.record_many(np.array([2**41], dtype=np.uint64))
    with pytest.raises(TypeError, match="float64"):
        h.record_many(np.array([1.0, 2.0]))
    h.record_many(np.array([], dtype=np.float64))  # empty: nothing to check, nothing recorded
    h.record_many(np.array([[1, 2], [3, 4]], dtype=np.uint16))  # any integer dtype, flattened
    assert h.count == 4
    with pytest.raises(ValueError, match="100.5"):
        h.percentile(100.5)
    with pytest.raises(ValueError, match="nan"):
        h.percentile(float("nan"))
    with pytest.raises(TypeError, match="'x'"):
        h.percentile("x")
    with pytest.raises(TypeError):
        h.merge(None)
