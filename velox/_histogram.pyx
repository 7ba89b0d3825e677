# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/histogram.c csrc/velox/types.c
"""Histogram: a fixed-memory log-linear (HDR-style) latency histogram. Thin wrapper over
``csrc/velox/histogram.h``: values are non-negative integers (velox records nanoseconds) up to
2**40 - 1; every bucket is at most 1/64 (1.6 %) of its values wide; one writer at a time.

Thread-safe from Python: every method holds the histogram's own lock (a ``cython.pymutex``,
a PyMutex), so threads recording into one Histogram at once lose no count, with or without
the GIL (free-threaded 3.14t). C code recording through ``hist.h`` directly (see the .pxd) is
its own single writer."""

from cpython.long cimport PyLong_Check
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.number cimport PyNumber_Index
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

cimport cython

cimport numpy as cnp
import numpy as np

from velox.includes.histogram cimport *

cnp.import_array()

BUCKETS = VX_HISTOGRAM_BUCKETS
MAX_VALUE = VX_HISTOGRAM_MAX_VALUE
#: Worst-case relative width of a bucket (values below 128 are exact).
RELATIVE_PRECISION = 1.0 / VX_HISTOGRAM_SUB_HALF

BUCKET_DTYPE = np.dtype([("lowest", "<u8"), ("highest", "<u8"), ("count", "<u8")])


cdef class Histogram:
    """Latency histogram: record(value), record_many(array), count, min, max, mean,
    percentile(p), to_numpy(), merge(other), reset().

    Percentiles are the highest value of the bucket holding the ceil(p/100 * count)-th
    smallest value, clamped to [min, max]: never below the true (inverted-CDF) percentile and
    at most one bucket width (<= 1/64 of the value) above it. min, max and mean are exact.
    """

    def __cinit__(self):
        self.h = <vx_histogram *>PyMem_Malloc(sizeof(vx_histogram))
        if self.h == NULL:
            raise MemoryError("cannot allocate a Histogram")
        vx_histogram_init(self.h)

    def __dealloc__(self):
        PyMem_Free(self.h)

    def record(self, value):
        """Records one non-negative integer value (ns) <= MAX_VALUE (2**40 - 1)."""
        cdef unsigned long long v = _as_u64(value)
        if v > VX_HISTOGRAM_MAX_VALUE:
            raise ValueError(f"value must be an integer in [0, 2**40 - 1], got {value!r}")
        with self._lock:
            vx_histogram_record(self.h, v)

    def record_many(self, values):
        """Records every value of a 1-D integer array (or sequence); all must be in
        [0, MAX_VALUE]. The copy/count runs without the GIL."""
        arr = np.asarray(values)
        if arr.dtype.kind not in "iu":
            if arr.size == 0:
                return
            raise TypeError(f"values must be integers, got an array of dtype {arr.dtype}")
        arr = arr.reshape(-1)
        if arr.size == 0:
            return
        lo = arr.min()
        hi = arr.max()
        if lo < 0 or hi > VX_HISTOGRAM_MAX_VALUE:
            bad = lo if lo < 0 else hi
            raise ValueError(f"values must be integers in [0, 2**40 - 1], got {int(bad)!r}")
        # "A": aligned too (ascontiguousarray keeps a misaligned view as it is, and C reads
        # uint64_t *); also converts byte-swapped and narrower integer arrays
        cdef cnp.ndarray[cnp.uint64_t, ndim=1, mode="c"] u = np.require(arr, np.uint64, ("C", "A"))
        if (<size_t>cnp.PyArray_DATA(u)) % sizeof(uint64_t):  # belt and braces: the real pointer
            u = u.copy()
        cdef size_t n = u.shape[0]
        cdef const uint64_t *p = <const uint64_t *>cnp.PyArray_DATA(u)
        with nogil:
            with self._lock:
                vx_histogram_record_n(self.h, p, n)

    @property
    def count(self):
        """Values recorded."""
        with self._lock:
            return vx_histogram_count(self.h)

    def __len__(self):
        with self._lock:
            return vx_histogram_count(self.h)

    @property
    def min(self):
        """Smallest value recorded (0 when empty)."""
        with self._lock:
            return vx_histogram_min(self.h)

    @property
    def max(self):
        """Largest value recorded (0 when empty)."""
        with self._lock:
            return vx_histogram_max(self.h)

    @property
    def mean(self):
        """Mean of the values recorded (0.0 when empty)."""
        with self._lock:
            return vx_histogram_mean(self.h)

    def percentile(self, p):
        """Value at percentile p in [0, 100]; see the class doc for precision. ValueError when
        nothing was recorded (an empty histogram has no percentiles)."""
        cdef double q
        try:
            q = p
        except TypeError:
            raise TypeError(f"percentile must be a number in [0, 100], got {p!r}") from None
        cdef int status = 0
        cdef uint64_t v, n
        with self._lock:
            v = vx_histogram_percentile(self.h, q, &status)
            n = vx_histogram_count(self.h)
        if status != 0:
            raise ValueError(f"percentile must be in [0, 100], got {p!r}")
        if n == 0:
            raise ValueError(f"percentile({p!r}) of an empty Histogram: nothing was recorded "
                             f"(check count first; summary() reports it as count 0)")
        return v

    def percentiles(self, ps):
        """dict {p: percentile(p)} for each p of ps."""
        return {p: self.percentile(p) for p in ps}

    def to_numpy(self):
        """Non-empty buckets as a structured array of (lowest, highest, count) in value order."""
        cdef cnp.ndarray[cnp.uint64_t, ndim=1, mode="c"] counts = np.empty(VX_HISTOGRAM_BUCKETS, np.uint64)
        with self._lock:
            vx_histogram_copy_counts(self.h, <uint64_t *>cnp.PyArray_DATA(counts), VX_HISTOGRAM_BUCKETS)
        idx = np.flatnonzero(counts)
        out = np.empty(idx.size, BUCKET_DTYPE)
        cdef Py_ssize_t k
        cdef cnp.ndarray[cnp.uint64_t, ndim=1] lows = np.empty(idx.size, np.uint64)
        cdef cnp.ndarray[cnp.uint64_t, ndim=1] highs = np.empty(idx.size, np.uint64)
        cdef cnp.ndarray[cnp.int64_t, ndim=1] ii = idx.astype(np.int64)
        for k in range(idx.size):
            lows[k] = vx_histogram_bucket_lowest(<unsigned int>ii[k])
            highs[k] = vx_histogram_bucket_highest(<unsigned int>ii[k])
        out["lowest"] = lows
        out["highest"] = highs
        out["count"] = counts[idx]
        return out

    def merge(self, Histogram other not None):
        """Adds every value recorded in other into this histogram."""
        # Snapshot other under its lock, then merge under ours: one lock at a time, so
        # a.merge(b) racing b.merge(a) cannot deadlock, and h.merge(h) works.
        cdef vx_histogram *tmp = <vx_histogram *>PyMem_Malloc(sizeof(vx_histogram))
        if tmp == NULL:
            raise MemoryError("cannot allocate a Histogram snapshot")
        try:
            with other._lock:
                memcpy(tmp, other.h, sizeof(vx_histogram))
            with self._lock:
                vx_histogram_merge(self.h, tmp)
        finally:
            PyMem_Free(tmp)

    def reset(self):
        """Forgets every value."""
        with self._lock:
            vx_histogram_init(self.h)

    def copy(self):
        """An independent copy."""
        cdef Histogram h = Histogram.__new__(Histogram)
        with self._lock:
            vx_histogram_merge(h.h, self.h)
        return h

    def summary(self):
        """dict with count, min, max, mean and p50/p90/p99/p999/max (ns); every value is 0
        when count is 0 (a report row for a histogram nothing was recorded in)."""
        if not self.count:
            return {"count": 0, "min": 0, "mean": 0.0, "p50": 0, "p90": 0, "p99": 0,
                    "p999": 0, "max": 0}
        return {
            "count": self.count, "min": self.min, "mean": self.mean,
            "p50": self.percentile(50), "p90": self.percentile(90), "p99": self.percentile(99),
            "p999": self.percentile(99.9), "max": self.max,
        }

    def __repr__(self):
        if not self.count:
            return "Histogram(count=0)"
        return (f"Histogram(count={self.count}, min={self.min}, p50={self.percentile(50)}, "
                f"p99={self.percentile(99)}, max={self.max})")


def bucket_bounds(value):
    """(lowest, highest) of the bucket that holds value (a non-negative integer)."""
    cdef unsigned long long v = _as_u64(value)
    cdef unsigned int i = vx_histogram_bucket_index(v)
    return vx_histogram_bucket_lowest(i), vx_histogram_bucket_highest(i)


cdef unsigned long long _as_u64(object value) except? 0:
    """value as a C u64: Python and NumPy integers; TypeError/ValueError naming it otherwise."""
    try:
        if not PyLong_Check(value):
            value = PyNumber_Index(value)  # numpy integers yes, floats no
        return value
    except (OverflowError, TypeError):
        raise _bad_value(value)


cdef object _bad_value(value):
    if hasattr(value, "__index__"):
        return ValueError(f"value must be an integer in [0, 2**40 - 1], got {value!r}")
    return TypeError(f"value must be an integer, got {value!r}")


cdef Histogram histogram_snapshot(const vx_histogram *src):
    cdef Histogram h = Histogram.__new__(Histogram)
    vx_histogram_merge(h.h, src)
    return h
