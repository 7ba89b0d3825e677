# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/orderbook.c csrc/velox/types.c csrc/velox/tsc.c
"""OrderBook: a price-ladder order book with atomic per-level quantities. Thin wrapper over
``csrc/velox/orderbook.h`` (see docs/orderbook.md).

Prices are fixed-point ints (``velox.to_fixed(101.25)``; ``velox.from_fixed`` back); quantities
are non-negative ints. Sides are ``velox.BUY`` (0, bids) and ``velox.SELL`` (1, asks).

Free-threading compatible: every C call is memory-safe under any interleaving. The level
operations (``add``, ``reduce``, ``set``) and every reader may run from many threads at once;
``apply``/``apply_many`` are single-writer and ``recenter`` is exclusive, as the C contract
says — breaking that contract gives wrong quantities, never a crash.
"""

from collections import namedtuple

cimport cython
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

cimport numpy as cnp
import numpy as np

cdef extern from *:
    """
    #include "velox/types.h"
    /* the C alignment of vx_txn (8: u64 fields), for apply_many's misaligned-view check */
    #define VX_TXN_ALIGN_ ((size_t)_Alignof(vx_txn))
    """
    size_t _TXN_ALIGN "VX_TXN_ALIGN_"

from velox._records cimport Transaction
from velox.includes.orderbook cimport *
from velox.includes.tsc cimport vx_tsc_read
from velox.includes.types cimport (VX_EINVAL, VX_EMPTY, VX_ENOMEM, VX_ERANGE, VX_OK, VX_TIMEOUT,
                                   vx_status, vx_status_name, vx_txn)

from velox._records import TXN_DTYPE

cnp.import_array()

DEFAULT_LEVELS = VX_BOOK_DEFAULT_LEVELS
MIN_LEVELS = VX_BOOK_MIN_LEVELS
MAX_LEVELS = VX_BOOK_MAX_LEVELS
MAX_QTY = VX_BOOK_MAX_QTY
CAS_ATTEMPTS = VX_BOOK_CAS_ATTEMPTS

# apply_many / set_many batches at least this long drop the GIL (shorter ones are cheaper than the hand-off).
NOGIL_BATCH = 64

ApplyResult = namedtuple("ApplyResult", "traded_qty rested_qty cancelled_qty levels_matched")
ApplyResult.__doc__ = "What one OrderBook.apply did (lots traded, rested, cancelled; levels hit)."
BatchResult = namedtuple("BatchResult", "applied traded rejected cas_timeouts")
BatchResult.__doc__ = "What OrderBook.apply_many did: transactions applied/rejected, lots traded."
SetBatchResult = namedtuple("SetBatchResult", "applied rejected first_rejected")
SetBatchResult.__doc__ = ("What OrderBook.set_many did: updates applied/rejected, index of the "
                          "first rejected one (-1 if none).")
BookCounters = namedtuple(
    "BookCounters",
    "applied rejected traded_qty out_of_window cas_retries cas_timeouts recenters")
BookCounters.__doc__ = "Monotonic counters since the book was created (see orderbook.h)."
RecenterResult = namedtuple(
    "RecenterResult", "dropped_bid_levels dropped_bid_qty dropped_ask_levels dropped_ask_qty")
RecenterResult.__doc__ = "Non-empty levels (and their quantity) that fell out of the window."

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_SIDE_NAMES = ("bid", "ask")
_REJECT_WHY = {
    VX_REJECT_INVALID: "invalid side, kind or zero qty",
    VX_REJECT_OFF_GRID: "price is not on the tick grid",
    VX_REJECT_OUT_OF_WINDOW: "price is outside the book's window",
    VX_REJECT_UNDERFLOW: "cancel of more than rests at that level",
    VX_REJECT_OVERFLOW: "the level would exceed MAX_QTY",
    VX_REJECT_TIMEOUT: "a compare-and-swap loop gave up (contention)",
}


# ---- argument conversion (fast path: exact int; slow path explains what was wrong) ----------

cdef extern from *:
    """
    /* An int (or int subclass: IntEnum) to int64 with no function call for |v| < 2**60 (at
     * most two 30-bit digits: every side, qty and price a feed sends); bigger values go
     * through PyLong_AsLongLongAndOverflow. Returns 0, or 1 if v does not fit in int64. The
     * digit layout is CPython's cpython/longintrepr.h (3.11: ob_size + ob_digit; 3.12+:
     * lv_tag = digit count << _PyLong_NON_SIZE_BITS | sign bits), the same fields
     * PyUnstable_Long_IsCompact reads; other builds take the generic path. */
    static inline __attribute__((always_inline)) int vx_int_as_i64(PyObject *o, int64_t *out) {
    #if !defined(Py_LIMITED_API) && PyLong_SHIFT == 30 && PY_VERSION_HEX >= 0x030C0000
        const PyLongObject *l = (const PyLongObject *)o;
        uintptr_t tag = l->long_value.lv_tag;
        if (tag < (2 << _PyLong_NON_SIZE_BITS)) {
            *out = (int64_t)PyUnstable_Long_CompactValue(l);
            return 0;
        }
        if ((tag >> _PyLong_NON_SIZE_BITS) == 2) {
            uint64_t v = (uint64_t)l->long_value.ob_digit[0]
                         | ((uint64_t)l->long_value.ob_digit[1] << 30);
            *out = (tag & _PyLong_SIGN_MASK) == 2 ? -(int64_t)v : (int64_t)v;
            return 0;
        }
    #elif !defined(Py_LIMITED_API) && PyLong_SHIFT == 30
        const digit *d = ((const PyLongObject *)o)->ob_digit;
        switch (Py_SIZE(o)) {
        case 0: *out = 0; return 0;
        case 1: *out = (int64_t)d[0]; return 0;
        case -1: *out = -(int64_t)d[0]; return 0;
        case 2: *out = (int64_t)((uint64_t)d[0] | ((uint64_t)d[1] << 30)); return 0;
        case -2: *out = -(int64_t)((uint64_t)d[0] | ((uint64_t)d[1] << 30)); return 0;
        default: break;
        }
    #endif
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        *out = (int64_t)v;
        return overflow != 0;  /* v == -1 without overflow cannot fail for an int */
    }

    /* The (side, price, qty) of add/reduce/set in one inline call: 1 when side is an int
     * (or IntEnum) 0 or 1, price an exact int that fits int64 and qty an exact int in
     * [0, INT64_MAX]; 0 otherwise (then the Cython converters raise the precise error or
     * convert NumPy integers). */
    static inline __attribute__((always_inline)) int vx_level_args(
            PyObject *side, PyObject *price, PyObject *qty, int *s, int64_t *p, uint64_t *q) {
        int64_t sv, qv;
        if (!PyLong_Check(side) || PyBool_Check(side) || !PyLong_CheckExact(price)
                || !PyLong_CheckExact(qty))
            return 0;
        if (vx_int_as_i64(side, &sv) || (sv != 0 && sv != 1) || vx_int_as_i64(price, p)
                || vx_int_as_i64(qty, &qv) || qv < 0)
            return 0;
        *s = (int)sv;
        *q = (uint64_t)qv;
        return 1;
    }
    """
    int vx_int_as_i64(PyObject *o, int64_t *out) noexcept
    int vx_level_args(PyObject *side, PyObject *price, PyObject *qty, int *s, int64_t *p,
                      uint64_t *q) noexcept

cdef int _side_slow(object side) except -1:
    if isinstance(side, (bool, float)) or not hasattr(side, "__index__"):
        raise TypeError(f"side must be velox.BUY (0) or velox.SELL (1), got {side!r}")
    value = side.__index__()  # NumPy integers
    if value == 0 or value == 1:
        return <int>value
    raise ValueError(f"side must be velox.BUY (0) or velox.SELL (1), got {side!r}")

cdef inline int _side(object side) except -1:
    # Fast path: an int or int subclass (velox.BUY is an IntEnum) other than bool, 0 or 1.
    cdef int64_t v
    if PyLong_Check(side) and type(side) is not bool:
        if vx_int_as_i64(<PyObject *>side, &v) == 0 and (v == 0 or v == 1):
            return <int>v
    return _side_slow(side)

cdef int64_t _price_slow(object price, str what) except? -1:
    if isinstance(price, bool) or isinstance(price, float) or not hasattr(price, "__index__"):
        raise TypeError(
            f"{what} must be a fixed-point int (use velox.to_fixed), got {price!r}")
    value = price.__index__()
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{what} must fit in int64, got {price!r}")
    return <int64_t>value

cdef inline int64_t _price(object price, str what="price") except? -1:
    cdef int64_t value
    if type(price) is int:
        if vx_int_as_i64(<PyObject *>price, &value):
            raise ValueError(f"{what} must fit in int64, got {price!r}")
        return value
    return _price_slow(price, what)

cdef uint64_t _qty_slow(object qty) except? 0xFFFFFFFFFFFFFFFF:
    if isinstance(qty, bool) or isinstance(qty, float) or not hasattr(qty, "__index__"):
        raise TypeError(f"qty must be an int, got {qty!r}")
    value = qty.__index__()
    if not 0 <= value <= VX_BOOK_MAX_QTY:
        raise ValueError(f"qty must be in [0, {VX_BOOK_MAX_QTY}], got {qty!r}")
    return <uint64_t>value

cdef inline uint64_t _qty(object qty) except? 0xFFFFFFFFFFFFFFFF:
    # MAX_QTY == INT64_MAX, so every valid qty fits an int64: overflow or < 0 is the error.
    cdef int64_t value
    if type(qty) is int:
        if vx_int_as_i64(<PyObject *>qty, &value) or value < 0:
            raise ValueError(f"qty must be in [0, {VX_BOOK_MAX_QTY}], got {qty!r}")
        return <uint64_t>value
    return _qty_slow(qty)


# set_many's arrays: exactly these dtypes (native byte order, aligned, C-contiguous, 1-D).
# Matched by kind and size, not type number: int64 is both NPY_LONG and NPY_LONGLONG on LP64.
cdef cnp.ndarray _l2_array(object arr, str name, char kind, int itemsize, str dtype_name):
    if (not isinstance(arr, np.ndarray)
            or (<cnp.dtype>cnp.PyArray_DESCR(<cnp.ndarray>arr)).kind != kind
            or cnp.PyArray_ITEMSIZE(<cnp.ndarray>arr) != itemsize):
        got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
        raise TypeError(f"{name} must be a numpy array of {dtype_name}, got {got} "
                        f"(convert once with np.asarray({name}, dtype=np.{dtype_name}))")
    cdef cnp.ndarray a = <cnp.ndarray>arr
    if cnp.PyArray_NDIM(a) != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape!r}")
    if not (cnp.PyArray_ISCARRAY_RO(a) and cnp.PyArray_ISNOTSWAPPED(a)):
        raise ValueError(f"{name} must be C-contiguous, aligned and in native byte order "
                         f"(use np.ascontiguousarray({name}, dtype=np.{dtype_name}))")
    return a


cdef class OrderBook:
    """OrderBook(levels=1024, tick_size=1_000_000, base_price=0)

    A two-sided price ladder: ``levels`` price levels per side (a power of two), level ``i``
    at ``base_price + i * tick_size`` (fixed-point ints, ``velox.PRICE_SCALE`` units; the
    default tick is 0.01). Quantities are atomic per level.

    Level operations (``add``, ``reduce``, ``set``) are safe from many threads at once;
    ``apply``/``apply_many`` (which match against several levels) are single-writer;
    ``recenter`` needs exclusive use. Readers (``qty``, ``best_bid``, ``best_ask``, ``spread``,
    ``mid``, ``depth``, ``counters``) may run on any thread at any time.
    """

    def __cinit__(self, levels=VX_BOOK_DEFAULT_LEVELS, tick_size=1_000_000, base_price=0):
        self.book = NULL
        if isinstance(levels, bool) or not PyLong_Check(levels):
            raise TypeError(f"levels must be an int, got {levels!r}")
        if not (VX_BOOK_MIN_LEVELS <= levels <= VX_BOOK_MAX_LEVELS) or (levels & (levels - 1)):
            raise ValueError(
                f"levels must be a power of two in [{VX_BOOK_MIN_LEVELS}, {VX_BOOK_MAX_LEVELS}], "
                f"got {levels!r}")
        cdef int64_t tick = _price(tick_size, "tick_size")
        if tick <= 0:
            raise ValueError(f"tick_size must be a positive fixed-point int, got {tick_size!r}")
        cdef int64_t base = _price(base_price, "base_price")
        if base + (levels - 1) * tick > _INT64_MAX:
            raise ValueError(
                f"base_price {base_price!r} + (levels - 1) * tick_size overflows int64")
        cdef vx_status st = vx_book_create(<uint32_t>levels, tick, base, &self.book)
        if st == VX_ENOMEM:
            raise MemoryError(f"cannot allocate an order book of {levels} levels")
        if st != VX_OK:
            raise ValueError(f"cannot create the order book: {vx_status_name(st).decode()}")
        self.levels = levels
        self.tick_size = tick

    def __dealloc__(self):
        vx_book_destroy(self.book)
        self.book = NULL

    @classmethod
    def from_prices(cls, levels=VX_BOOK_DEFAULT_LEVELS, tick=0.01, base=0.0):
        """Float convenience: ``OrderBook.from_prices(1024, tick=0.01, base=99.0)`` converts
        ``tick`` and ``base`` with ``velox.to_fixed``. Every other method takes fixed-point ints."""
        from velox._records import to_fixed
        return cls(levels, to_fixed(tick), to_fixed(base))

    @property
    def base_price(self):
        """Fixed-point price of level 0 (moves only with ``recenter``)."""
        return vx_book_base_price(self.book)

    @property
    def max_price(self):
        """Fixed-point price of the top level: ``base_price + (levels - 1) * tick_size``."""
        return vx_book_base_price(self.book) + (self.levels - 1) * self.tick_size

    def __repr__(self):
        return (f"OrderBook(levels={self.levels}, tick_size={self.tick_size}, "
                f"base_price={self.base_price})")

    # ---- errors -----------------------------------------------------------------------------

    cdef int _raise_price(self, vx_status st, object price) except -1:
        lo = vx_book_base_price(self.book)
        if st == VX_EINVAL:
            raise ValueError(
                f"price {price!r} is not on the tick grid (base_price {lo}, tick_size "
                f"{self.tick_size})")
        raise ValueError(
            f"price {price!r} is outside the book's window [{lo}, {self.max_price}]; "
            f"use recenter() to move it")

    cdef int _raise(self, vx_status st, str op, int side, int64_t price, object qty) except -1:
        cdef uint32_t index
        cdef uint64_t resting = 0
        cdef vx_status where = vx_book_locate(self.book, price, &index)
        if where != VX_OK:
            return self._raise_price(where, price)
        if st == VX_TIMEOUT:
            raise TimeoutError(
                f"{op} on the {_SIDE_NAMES[side]} level {price} gave up after {CAS_ATTEMPTS} "
                f"compare-and-swap attempts (contention); nothing was changed")
        if st == VX_ERANGE and op == "reduce":
            vx_book_qty(self.book, side, price, &resting)
            raise ValueError(
                f"cannot reduce the {_SIDE_NAMES[side]} level {price} by {qty!r}: only "
                f"{resting} rests there (the book is unchanged)")
        if st == VX_ERANGE:
            raise ValueError(f"{op} of {qty!r} would take the {_SIDE_NAMES[side]} level {price} "
                             f"above MAX_QTY ({VX_BOOK_MAX_QTY})")
        raise ValueError(f"{op} failed: {vx_status_name(st).decode()}")

    # ---- level operations (multi-writer) ------------------------------------------------------

    @cython.binding(False)  # as set (below)
    @cython.embedsignature.format("clinic")
    def add(self, side, price, qty):
        """Add ``qty`` lots at ``price`` on ``side`` (0 = bid, 1 = ask)."""
        cdef int s
        cdef int64_t p
        cdef uint64_t q
        if not vx_level_args(<PyObject *>side, <PyObject *>price, <PyObject *>qty, &s, &p, &q):
            s = _side(side)
            p = _price(price)
            q = _qty(qty)
        cdef vx_status st = vx_book_add(self.book, s, p, q)
        if st != VX_OK:
            self._raise(st, "add", s, p, qty)

    @cython.binding(False)  # as set (below)
    @cython.embedsignature.format("clinic")
    def reduce(self, side, price, qty):
        """Remove ``qty`` lots at ``price``; more than rests raises ValueError (book unchanged)."""
        cdef int s
        cdef int64_t p
        cdef uint64_t q
        if not vx_level_args(<PyObject *>side, <PyObject *>price, <PyObject *>qty, &s, &p, &q):
            s = _side(side)
            p = _price(price)
            q = _qty(qty)
        cdef vx_status st = vx_book_reduce(self.book, s, p, q)
        if st != VX_OK:
            self._raise(st, "reduce", s, p, qty)

    # Per-call hot methods (add, reduce, set, best_bid, best_ask) are binding=False: a plain C method in
    # the type's method table (METH_FASTCALL|METH_KEYWORDS for the level ops, METH_NOARGS for the best
    # readers) that CPython's specialising interpreter calls directly, instead of a bound
    # method around a cyfunction (callgrind: set 450 -> 280 instructions with the int fast
    # path; docs/benchmarks.md). The clinic signature keeps inspect.signature working.
    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    def set(self, side, price, qty):
        """Set the level at ``price`` to ``qty`` lots (0 clears it): an L2 update."""
        cdef int s
        cdef int64_t p
        cdef uint64_t q
        if not vx_level_args(<PyObject *>side, <PyObject *>price, <PyObject *>qty, &s, &p, &q):
            s = _side(side)
            p = _price(price)
            q = _qty(qty)
        cdef vx_status st = vx_book_set(self.book, s, p, q)
        if st != VX_OK:
            self._raise(st, "set", s, p, qty)

    def set_many(self, sides, prices, qtys):
        """Apply a batch of L2 level updates in C, in order: level ``(sides[i], prices[i])`` =
        ``qtys[i]``, exactly like ``set`` called for each i (multi-writer safe). Arrays: 1-D,
        C-contiguous, equal length, dtypes exactly uint8 / int64 / uint64 (TypeError naming
        the array otherwise; nothing is converted or copied). An update ``set`` would refuse
        (side not 0/1, price off the grid or outside the window, qty > MAX_QTY) is counted,
        not raised. GIL released for batches of at least NOGIL_BATCH.
        Returns SetBatchResult(applied, rejected, first_rejected) (first_rejected: index of
        the first refused update, -1 if none)."""
        cdef cnp.ndarray s = _l2_array(sides, "sides", b'u', 1, "uint8")
        cdef cnp.ndarray p = _l2_array(prices, "prices", b'i', 8, "int64")
        cdef cnp.ndarray q = _l2_array(qtys, "qtys", b'u', 8, "uint64")
        cdef size_t n = <size_t>cnp.PyArray_DIM(s, 0)
        if <size_t>cnp.PyArray_DIM(p, 0) != n or <size_t>cnp.PyArray_DIM(q, 0) != n:
            raise ValueError(f"sides, prices and qtys must have equal lengths, got "
                             f"{len(s)}, {len(p)}, {len(q)}")
        cdef const uint8_t *sd = <const uint8_t *>cnp.PyArray_DATA(s)
        cdef const int64_t *pd = <const int64_t *>cnp.PyArray_DATA(p)
        cdef const uint64_t *qd = <const uint64_t *>cnp.PyArray_DATA(q)
        cdef vx_set_batch_result r
        if n >= NOGIL_BATCH:
            with nogil:
                vx_book_set_many(self.book, sd, pd, qd, n, &r)
        else:
            vx_book_set_many(self.book, sd, pd, qd, n, &r)
        return SetBatchResult(r.applied, r.rejected,
                              -1 if r.first_rejected == n else <Py_ssize_t>r.first_rejected)

    def qty(self, side, price):
        """Lots resting at ``price`` on ``side`` (0 for an empty level)."""
        cdef int s = _side(side)
        cdef int64_t p = _price(price)
        cdef uint64_t q = 0
        cdef vx_status st = vx_book_qty(self.book, s, p, &q)
        if st != VX_OK:
            self._raise_price(st, price)
        return q

    # ---- readers ------------------------------------------------------------------------------

    cdef object _best(self, int side):
        # Returns the cached tuple when the best level still has the same price and qty, so a
        # poll of an unchanged book allocates nothing. The critical section makes the cache
        # update atomic in free-threaded builds (a no-op with the GIL).
        cdef int64_t p
        cdef uint64_t q
        if vx_book_best(self.book, side, &p, &q) != VX_OK:
            return None
        with cython.critical_section(self):
            cached = self._bid_tuple if side == 0 else self._ask_tuple
            if cached is not None and self._best_price[side] == p and self._best_qty[side] == q:
                return cached
            cached = (p, q)
            if side == 0:
                self._bid_tuple = cached
            else:
                self._ask_tuple = cached
            self._best_price[side] = p
            self._best_qty[side] = q
            return cached

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    @cython.always_allow_keywords(False)
    def best_bid(self):
        """``(price, qty)`` of the highest non-empty bid level, or None."""
        return self._best(0)

    @cython.binding(False)
    @cython.embedsignature.format("clinic")
    @cython.always_allow_keywords(False)
    def best_ask(self):
        """``(price, qty)`` of the lowest non-empty ask level, or None."""
        return self._best(1)

    @cython.always_allow_keywords(False)
    def spread(self):
        """best ask - best bid (fixed point), or None unless both sides have a level."""
        cdef int64_t s
        if vx_book_spread(self.book, &s) != VX_OK:
            return None
        return s

    @cython.always_allow_keywords(False)
    def mid(self):
        """(best bid + best ask) / 2 as a float in fixed-point units, or None."""
        cdef double m
        if vx_book_mid(self.book, &m) != VX_OK:
            return None
        return m

    def depth(self, n=10):
        """The best ``n`` non-empty levels per side as NumPy arrays, best first:
        ``((bid_prices, bid_qtys), (ask_prices, ask_qtys))`` (int64 prices, uint64 quantities)."""
        if isinstance(n, bool) or not PyLong_Check(n):
            raise TypeError(f"n must be an int, got {n!r}")
        if not 0 <= n <= self.levels:
            raise ValueError(f"n must be in [0, {self.levels}], got {n!r}")
        out = []
        cdef cnp.ndarray prices, qtys
        cdef size_t got
        cdef int side
        for side in range(2):
            prices = np.empty(n, dtype=np.int64)
            qtys = np.empty(n, dtype=np.uint64)
            got = vx_book_depth(self.book, side, <size_t>n, <int64_t *>cnp.PyArray_DATA(prices),
                                <uint64_t *>cnp.PyArray_DATA(qtys))
            out.append((prices[:got], qtys[:got]))
        return tuple(out)

    @property
    def counters(self):
        """BookCounters(applied, rejected, traded_qty, out_of_window, cas_retries,
        cas_timeouts, recenters), read atomically per field; any thread, any time."""
        cdef vx_book_counters c
        vx_book_counters_read(self.book, &c)
        return BookCounters(c.applied, c.rejected, c.traded_qty, c.out_of_window,
                            c.cas_retries, c.cas_timeouts, c.recenters)

    # ---- transactions (single writer) ---------------------------------------------------------

    def apply(self, Transaction txn not None):
        """Apply one ``velox.Transaction``: a NEW trades against the opposite side up to its
        limit price and rests the remainder; a CANCEL reduces its level. Returns ApplyResult.
        A rejected transaction raises ValueError (TimeoutError on contention), book unchanged."""
        cdef vx_apply_result r
        cdef vx_status st = vx_book_apply(self.book, &txn.c, &r)
        if st != VX_OK:
            msg = (f"transaction rejected: {_REJECT_WHY.get(r.reason, 'unknown')} (side="
                   f"{txn.c.side}, kind={txn.c.kind}, price={txn.c.price}, qty={txn.c.qty})")
            if r.reason == VX_REJECT_UNDERFLOW:
                msg += f"; {self.qty(txn.c.side, txn.c.price)} rests there"
            elif r.reason == VX_REJECT_OUT_OF_WINDOW:
                msg += f"; window is [{self.base_price}, {self.max_price}]"
            if st == VX_TIMEOUT:
                raise TimeoutError(msg)
            raise ValueError(msg)
        return ApplyResult(r.traded_qty, r.rested_qty, r.cancelled_qty, r.levels_matched)

    def apply_many(self, txns):
        """Apply a 1-D ``TXN_DTYPE`` array in order, in C (GIL released for long batches).
        Rejected transactions are counted, not raised. Returns BatchResult(applied, traded,
        rejected, cas_timeouts); ``traded`` is lots matched."""
        if not isinstance(txns, np.ndarray):
            raise TypeError(f"txns must be a numpy array of TXN_DTYPE, got {type(txns).__name__}")
        if txns.dtype != TXN_DTYPE:
            raise TypeError(f"txns must have dtype TXN_DTYPE, got {txns.dtype!r}")
        if txns.ndim != 1:
            raise ValueError(f"txns must be 1-D, got shape {txns.shape!r}")
        cdef cnp.ndarray arr = np.ascontiguousarray(txns)
        if (<size_t>cnp.PyArray_DATA(arr)) % _TXN_ALIGN:
            # a contiguous view at an odd offset (np.frombuffer(buf, TXN_DTYPE, offset=1)):
            # C reads vx_txn fields as u64, so hand it an aligned copy (UBSan: misaligned load)
            arr = arr.copy()
        cdef const vx_txn *data = <const vx_txn *>cnp.PyArray_DATA(arr)
        cdef size_t n = <size_t>arr.shape[0]
        cdef vx_apply_batch_result r
        if n >= NOGIL_BATCH:
            with nogil:
                vx_book_apply_many(self.book, data, n, &r)
        else:
            vx_book_apply_many(self.book, data, n, &r)
        return BatchResult(r.applied, r.traded_qty, r.rejected, r.cas_timeouts)

    def recenter(self, new_base):
        """Move the window so level 0 is ``new_base`` (on the current tick grid). Quantities
        keep their prices; levels falling out are dropped and reported. Exclusive use."""
        cdef int64_t b = _price(new_base, "new_base")
        cdef vx_recenter_result r
        cdef vx_status st = vx_book_recenter(self.book, b, &r)
        if st == VX_EINVAL:
            raise ValueError(
                f"new_base {new_base!r} is not on the tick grid (base_price {self.base_price}, "
                f"tick_size {self.tick_size})")
        if st != VX_OK:
            raise ValueError(f"new_base {new_base!r} puts the top level beyond int64")
        return RecenterResult(r.dropped_levels[0], r.dropped_qty[0],
                              r.dropped_levels[1], r.dropped_qty[1])

    @cython.always_allow_keywords(False)
    def verify_invariants(self):
        """Check (with writers quiescent) that no level wrapped, the best hints match the
        ladder, and best bid < best ask. Raises AssertionError naming the broken invariant."""
        cdef const char *why = NULL
        if vx_book_verify_invariants(self.book, &why) != VX_OK:
            raise AssertionError(f"order book invariant broken: {why.decode()}")


# ---- benchmark helpers (used by benchmarks/bench_orderbook.py; not part of the API) ---------

def _bench_native_set(OrderBook book not None, sides, prices, qtys):
    """Time each ``vx_book_set`` with the TSC: returns uint64 ticks per update (includes one
    ``vx_tsc_read``; subtract ``_bench_tsc_overhead``). Arrays: uint8 sides, int64 prices,
    uint64 qtys, same length, all on the book's grid and window."""
    cdef const unsigned char[::1] s = np.ascontiguousarray(sides, dtype=np.uint8)
    cdef const int64_t[::1] p = np.ascontiguousarray(prices, dtype=np.int64)
    cdef const uint64_t[::1] q = np.ascontiguousarray(qtys, dtype=np.uint64)
    if not (s.shape[0] == p.shape[0] == q.shape[0]):
        raise ValueError(f"sides, prices and qtys differ in length: {s.shape[0]}, "
                         f"{p.shape[0]}, {q.shape[0]}")
    ticks = np.empty(s.shape[0], dtype=np.uint64)
    cdef uint64_t[::1] t = ticks
    cdef Py_ssize_t i, bad = 0
    cdef uint64_t t0, t1
    with nogil:
        for i in range(s.shape[0]):
            t0 = vx_tsc_read()
            bad += vx_book_set(book.book, s[i], p[i], q[i]) != VX_OK
            t1 = vx_tsc_read()
            t[i] = t1 - t0
    if bad:
        raise ValueError(f"{bad} updates were off the grid or outside the window")
    return ticks


def _bench_native_set_loop(OrderBook book not None, sides, prices, qtys):
    """All updates back to back (no per-update timing): returns total TSC ticks."""
    cdef const unsigned char[::1] s = np.ascontiguousarray(sides, dtype=np.uint8)
    cdef const int64_t[::1] p = np.ascontiguousarray(prices, dtype=np.int64)
    cdef const uint64_t[::1] q = np.ascontiguousarray(qtys, dtype=np.uint64)
    cdef Py_ssize_t i, n = min(s.shape[0], p.shape[0], q.shape[0])
    cdef uint64_t t0, t1
    with nogil:
        t0 = vx_tsc_read()
        for i in range(n):
            vx_book_set(book.book, s[i], p[i], q[i])
        t1 = vx_tsc_read()
    return t1 - t0


def _bench_tsc_overhead(Py_ssize_t n):
    """Ticks between two back-to-back TSC reads, n samples (the timer's own cost)."""
    ticks = np.empty(n, dtype=np.uint64)
    cdef uint64_t[::1] t = ticks
    cdef Py_ssize_t i
    cdef uint64_t t0
    with nogil:
        for i in range(n):
            t0 = vx_tsc_read()
            t[i] = vx_tsc_read() - t0
    return ticks
