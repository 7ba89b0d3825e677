# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/mbo.c csrc/velox/types.c csrc/velox/tsc.c
"""MboBook: a market-by-order (L3) book — orders by id, a FIFO queue per price level,
aggregate level quantities on a price ladder like ``OrderBook``'s. Thin wrapper over
``csrc/velox/mbo.h`` (see docs/mbo.md).

Events are ``velox.MBO_DTYPE`` records (``apply`` takes one, ``apply_many`` an array);
``apply_fields`` takes the fields as ints. Prices are fixed-point ints (``velox.to_fixed``).

Concurrency (docs/mbo.md "Concurrency contract"): one writer (``apply*``, ``seed_level``,
``clear``) at a time, a second one raises RuntimeError; ``reserve``, ``recenter`` and
``follow`` need exclusive use and raise RuntimeError while a writer or a GIL-free reader
(``order``, ``queue_position``) is inside; readers (``best_bid``, ``best_ask``, ``qty``,
``depth``, ``order``, ``queue_position``, ``counters``) may run on any thread at any time.
``order`` and ``queue_position`` never return a torn or recycled order: they retry a bounded
number of times while the writer is mid-event and then raise TimeoutError.
"""

from collections import namedtuple

cimport cython
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong, PyLong_Check
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memcpy, memset

cimport numpy as cnp
import numpy as np

from velox.includes.guard cimport *
from velox.includes.mbo cimport *
from velox.includes.tsc cimport vx_tsc_read
from velox.includes.types cimport (VX_EINVAL, VX_EMPTY, VX_ENOMEM, VX_ERANGE, VX_ESTATE, VX_FULL,
                                   VX_MBO_ACTION_MAX, VX_MBO_ADD, VX_MBO_REPLACE, VX_OK,
                                   VX_TIMEOUT, vx_mbo, vx_status, vx_status_name)

from velox._records import MBO_DTYPE, Action

cnp.import_array()

cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define VX_MBO_GIL_DISABLED 1
    #else
    #define VX_MBO_GIL_DISABLED 0
    #endif
    """
    const bint VX_MBO_GIL_DISABLED

cdef extern from "numpy/arrayscalars.h":
    ctypedef struct PyVoidScalarObject:
        char *obval
        cnp.PyArray_Descr *descr

DEFAULT_LEVELS = VX_MBO_DEFAULT_LEVELS
MAX_LEVELS = VX_MBO_MAX_LEVELS
MAX_ORDERS = VX_MBO_MAX_ORDERS
MAX_SEED = VX_MBO_MAX_SEED
SLOT_BYTES = VX_MBO_SLOT_BYTES
MIN_ID_WINDOW = VX_MBO_MIN_WINDOW
MAX_ID_WINDOW = VX_MBO_MAX_WINDOW
DEFAULT_MAX_ORDERS = 1 << 16

# apply_many batches at least this long drop the GIL (shorter ones are cheaper than the hand-off).
NOGIL_BATCH = 64

MboOrder = namedtuple("MboOrder", "order_id side price qty ts in_window")
MboOrder.__doc__ = "A resting order: id, side (0 bid / 1 ask), fixed-point price, lots, ts, on the ladder?"
MboBatchResult = namedtuple("MboBatchResult", "applied rejected by_action rejected_by_reason unknown_orders")
MboBatchResult.__doc__ = ("What MboBook.apply_many did: events applied/rejected, applied events per "
                          "Action and rejects per reason (non-zero entries only), events about "
                          "orders the book did not know.")
MboCounters = namedtuple(
    "MboCounters",
    "applied rejected by_action rejected_by_reason unknown_orders out_of_window_orders "
    "recenters traded_qty dropped_seeded_qty read_retries index_rehashes id_window_hits "
    "id_hash_lookups id_window_slides")
MboCounters.__doc__ = ("Counters since the book was created (see mbo.h); out_of_window_orders is "
                       "a gauge; index_rehashes counts order-index rebuilds with a new hash "
                       "multiplier (an ADD placed too far from its home); id_window_hits / "
                       "id_hash_lookups: events whose order id was found through the direct id "
                       "window / the hash index; id_window_slides: moves of the window.")

REJECT_REASONS = ("none", "invalid", "off_grid", "duplicate", "full", "overflow", "instrument",
                  "exceeds")
_REJECT_WHY = (
    "",
    "invalid action/side, or qty 0 where lots are required",
    "price is not on the tick grid",
    "the order id already rests in the book",
    "the order table is full (use reserve() to grow it)",
    "a quantity would overflow",
    "event for another instrument",
    "cancel/execute of more lots than the order has",
)
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1
_UINT32_MAX = (1 << 32) - 1
_SIDE_NAMES = ("bid", "ask")
_ACTIONS = tuple(Action(a) if a else None for a in range(VX_MBO_ACTION_MAX + 1))


def _px(fixed):
    """A fixed-point price as an exact decimal for messages: 58512000000 -> '585.12'."""
    v = int(fixed)
    whole, frac = divmod(-v if v < 0 else v, 100_000_000)
    digits = f"{frac:08d}".rstrip("0").ljust(2, "0")
    return f"{'-' if v < 0 else ''}{whole}.{digits}"


cdef inline bint _misaligned(const void *p) noexcept nogil:
    return (<uintptr_t>p) & 7 != 0  # vx_mbo holds 8-byte fields


# ---- argument conversion (fast path: exact int; slow path names what was wrong) ------------

cdef object _int_slow(object value, str what, object lo, object hi):
    if isinstance(value, bool) or isinstance(value, float) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be an int, got {value!r}")
    v = value.__index__()
    if not lo <= v <= hi:
        raise ValueError(f"{what} must be in [{lo}, {hi}], got {value!r}")
    return v

cdef inline int64_t _i64(object value, str what) except? -1:
    cdef int overflow = 0
    cdef long long v
    if type(value) is int:
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow:
            return v
    return <int64_t>_int_slow(value, what, _INT64_MIN, _INT64_MAX)

cdef inline uint64_t _u64(object value, str what, uint64_t hi) except? 0xFFFFFFFFFFFFFFFF:
    cdef int overflow = 0
    cdef long long v
    if type(value) is int:
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow and v >= 0 and <uint64_t>v <= hi:
            return <uint64_t>v
    return <uint64_t>_int_slow(value, what, 0, hi)

cdef inline int _side(object side) except -1:
    cdef int overflow = 0
    cdef long long v
    if PyLong_Check(side) and type(side) is not bool:
        v = PyLong_AsLongLongAndOverflow(side, &overflow)
        if v == 0 or v == 1:
            return <int>v
    if isinstance(side, (bool, float)) or not hasattr(side, "__index__"):
        raise TypeError(f"side must be velox.BUY (0) or velox.SELL (1), got {side!r}")
    raise ValueError(f"side must be velox.BUY (0) or velox.SELL (1), got {side!r}")


cdef class MboBook:
    """MboBook(levels=1024, tick_size=1_000_000, base_price=0, max_orders=65536, instrument=None, *, id_window=None)

    A market-by-order book: up to ``max_orders`` live orders by id (the table is allocated
    here; ``reserve`` grows it; a full table rejects ADD, it never allocates per event), a FIFO
    queue per price level on a ladder of ``levels`` prices per side (a power of two), level
    ``i`` at ``base_price + i * tick_size`` (fixed-point ints). Orders priced outside the window
    are kept (``counters.out_of_window_orders``) and join the ladder when ``recenter`` brings
    their price in. ``instrument``: events for another instrument are rejected (None: any).
    ``id_window``: ids of the direct order-id window (a power of two in [MIN_ID_WINDOW,
    MAX_ID_WINDOW]; 0 = none, every id through the hash index; None = the power of two
    >= 2 x max_orders, grown by ``reserve``). Answers never depend on it (docs/mbo.md).
    """

    def __cinit__(self, levels=VX_MBO_DEFAULT_LEVELS, tick_size=1_000_000, base_price=0,
                  max_orders=DEFAULT_MAX_ORDERS, instrument=None, *, id_window=None):
        self.book = NULL
        vx_guard_init(&self.guard)
        self._descr_ok = MBO_DTYPE
        if isinstance(levels, bool) or not PyLong_Check(levels):
            raise TypeError(f"levels must be an int, got {levels!r}")
        if not (2 <= levels <= VX_MBO_MAX_LEVELS) or (levels & (levels - 1)):
            raise ValueError(
                f"levels must be a power of two in [2, {VX_MBO_MAX_LEVELS}], got {levels!r}")
        cdef int64_t tick = _i64(tick_size, "tick_size")
        if tick <= 0:
            raise ValueError(f"tick_size must be a positive fixed-point int, got {tick_size!r}")
        cdef int64_t base = _i64(base_price, "base_price")
        if base + (levels - 1) * tick > _INT64_MAX:
            raise ValueError(
                f"base_price {base_price!r} + (levels - 1) * tick_size overflows int64")
        cdef uint64_t cap = _u64(max_orders, "max_orders", VX_MBO_MAX_ORDERS)
        if cap == 0:
            raise ValueError(f"max_orders must be in [1, {VX_MBO_MAX_ORDERS}], got {max_orders!r}")
        cdef uint32_t inst = 0xFFFFFFFF
        if instrument is not None:
            inst = <uint32_t>_u64(instrument, "instrument", _UINT32_MAX - 1)
        cdef uint64_t win = 0
        if id_window is not None:
            win = _u64(id_window, "id_window", VX_MBO_MAX_WINDOW)
            if win != 0 and (win < VX_MBO_MIN_WINDOW or (win & (win - 1))):
                raise ValueError(f"id_window must be 0 (no window) or a power of two in "
                                 f"[{VX_MBO_MIN_WINDOW}, {VX_MBO_MAX_WINDOW}], got {id_window!r}")
        cdef vx_status st = vx_mbo_create(<uint32_t>levels, tick, base, <uint32_t>cap, inst,
                                          &self.book)
        if st == VX_ENOMEM:
            raise MemoryError(f"cannot allocate an MBO book of {levels} levels and "
                              f"{max_orders} orders")
        if st != VX_OK:
            raise ValueError(f"cannot create the MBO book: {vx_status_name(st).decode()}")
        if id_window is not None:
            st = vx_mbo_id_window(self.book, win)
            if st == VX_ENOMEM:
                raise MemoryError(f"cannot allocate an id window of {id_window} ids")
            if st != VX_OK:
                raise ValueError(f"id_window {id_window!r}: {vx_status_name(st).decode()}")
        self.levels = levels
        self.tick_size = tick

    def __dealloc__(self):
        # Every call holds a reference to the book, so nothing is inside by now; if something
        # were, leaking the table beats freeing it under that caller.
        if vx_guard_enter_exclusive(&self.guard) == 0:
            vx_mbo_destroy(self.book)
        self.book = NULL

    # ---- the threading contract (csrc/velox/guard.h) --------------------------------------

    cdef int _enter_writer(self, str what) except -1:
        cdef uint32_t why = vx_guard_enter_writer(&self.guard)
        if why:
            self._refuse(what, why)
        return 0

    cdef int _enter_reader(self, str what) except -1:
        if not vx_guard_enter_reader(&self.guard):
            self._refuse(what, VX_GUARD_EXCLUSIVE)
        return 0

    cdef int _enter_exclusive(self, str what) except -1:
        cdef uint32_t why = vx_guard_enter_exclusive(&self.guard)
        if why:
            self._refuse(what, why)
        return 0

    cdef int _refuse(self, str what, uint32_t inside) except -1:
        if inside & VX_GUARD_EXCLUSIVE:
            who = "reserve/recenter/follow is running on another thread"
        elif inside & VX_GUARD_WRITER and not (inside >> 2):
            who = "another thread is applying events (one writer at a time)"
        else:
            parts = []
            if inside & VX_GUARD_WRITER:
                parts.append("a writer")
            if inside >> 2:
                parts.append(f"{inside >> 2} reader(s) (order/queue_position)")
            who = " and ".join(parts) + " inside on other threads; it needs exclusive use"
        raise RuntimeError(f"MboBook.{what}: {who} (see docs/mbo.md, Concurrency contract)")

    @classmethod
    def from_prices(cls, levels=VX_MBO_DEFAULT_LEVELS, tick=0.01, base=None,
                    max_orders=DEFAULT_MAX_ORDERS, instrument=None):
        """Float convenience: ``MboBook.from_prices(1024, tick=0.01, base=580.0)`` converts
        ``tick`` and ``base`` with ``velox.to_fixed``. ``base`` (the price of level 0) is
        required: the window is ``[base, base + (levels - 1) * tick]`` and orders priced
        outside it have no queue until a recenter. Every other method takes fixed-point ints."""
        from velox._records import to_fixed
        if base is None:
            raise TypeError(
                "MboBook.from_prices needs base= (the price of level 0): the window holds "
                f"levels x tick from there, e.g. base=580.0 with levels={levels!r}, "
                f"tick={tick!r}; a default of 0 would put every real price outside it")
        return cls(levels, to_fixed(tick), to_fixed(base), max_orders, instrument)

    @property
    def base_price(self):
        """Fixed-point price of level 0 (moves only with ``recenter``)."""
        return vx_mbo_base(self.book)

    @property
    def max_price(self):
        """Fixed-point price of the top level: ``base_price + (levels - 1) * tick_size``."""
        return vx_mbo_base(self.book) + (self.levels - 1) * self.tick_size

    @property
    def capacity(self):
        """Orders the table holds (``reserve`` grows it)."""
        return vx_mbo_capacity(self.book)

    @property
    def live_orders(self):
        """Orders resting now (in the window or not)."""
        return vx_mbo_live_orders(self.book)

    @property
    def instrument(self):
        """The instrument this book accepts, or None for any."""
        cdef uint32_t i = vx_mbo_instrument(self.book)
        return None if i == 0xFFFFFFFF else i

    @property
    def id_window(self):
        """Ids the direct order-id window covers (0: none; see the class doc)."""
        return vx_mbo_id_window_size(self.book)

    @property
    def memory_bytes(self):
        """Bytes allocated: order table + hash index + id window + ladder."""
        return vx_mbo_memory_bytes(self.book)

    def __repr__(self):
        return (f"MboBook(levels={self.levels}, tick_size={self.tick_size}, "
                f"base_price={self.base_price}, max_orders={self.capacity}, "
                f"instrument={self.instrument!r})")

    # ---- errors -------------------------------------------------------------------------------

    cdef int _raise_price(self, vx_status st, object price) except -1:
        lo = vx_mbo_base(self.book)
        if st == VX_EINVAL:
            raise ValueError(f"price {_px(price)} (fixed point {price!r}) is not on the tick "
                             f"grid {_px(lo)} + k * {_px(self.tick_size)}")
        raise ValueError(f"price {_px(price)} (fixed point {price!r}) is outside the book's "
                         f"window [{_px(lo)}, {_px(self.max_price)}]; use recenter() to move it")

    cdef int _raise_reject(self, vx_status st, int reason, const vx_mbo *e) except -1:
        why = _REJECT_WHY[reason] if 0 <= reason < len(_REJECT_WHY) else "unknown"
        action = e.action
        try:
            action = Action(e.action).name
        except ValueError:
            pass
        msg = (f"event rejected: {why} (action={action}, side={e.side}, order_id={e.order_id}, "
               f"price={_px(e.price)}, qty={e.qty}, ref={e.ref}, instrument={e.instrument})")
        if reason == VX_MBO_REJECT_OFF_GRID:
            msg += f"; grid is {_px(vx_mbo_base(self.book))} + k * {_px(self.tick_size)}"
        raise ValueError(msg)

    # ---- events (single writer) ---------------------------------------------------------------

    def apply(self, event):
        """Apply one ``MBO_DTYPE`` record (a ``numpy.void``, e.g. ``events[i]``). A rejected
        event raises ValueError naming why (the book is unchanged); events about orders the
        book does not know are not errors (see docs/mbo.md)."""
        cdef vx_mbo_reject reason = VX_MBO_REJECT_NONE
        cdef const vx_mbo *e
        cdef vx_mbo copy
        cdef cnp.ndarray arr
        cdef PyVoidScalarObject *v
        if type(event) is np.void and (
                (<PyVoidScalarObject *>event).descr == <cnp.PyArray_Descr *>MBO_DTYPE
                or (<PyVoidScalarObject *>event).descr == <cnp.PyArray_Descr *>self._descr_ok):
            # fast path: one pointer compare (MBO_DTYPE itself, or the last equal dtype seen)
            e = <const vx_mbo *>(<PyVoidScalarObject *>event).obval
        elif type(event) is np.void and event.dtype == MBO_DTYPE:
            # an equal dtype that is another object (np.load, pickling): remember it
            v = <PyVoidScalarObject *>event
            self._descr_ok = <object>v.descr
            e = <const vx_mbo *>v.obval
        else:
            if not isinstance(event, (np.void, np.ndarray)) or event.dtype != MBO_DTYPE:
                got = event.dtype if isinstance(event, (np.void, np.ndarray)) else type(event).__name__
                raise TypeError(f"event must be an MBO_DTYPE record (numpy.void), got {got}")
            arr = np.ascontiguousarray(event, dtype=MBO_DTYPE).reshape(-1)
            if arr.shape[0] != 1:
                raise ValueError(f"apply takes one event, got {arr.shape[0]} (use apply_many)")
            copy = (<const vx_mbo *>cnp.PyArray_DATA(arr))[0]
            e = &copy
        if _misaligned(e):  # a record viewing a misaligned array: C reads an aligned copy
            memcpy(&copy, e, sizeof(vx_mbo))
            e = &copy
        cdef vx_status st
        if VX_MBO_GIL_DISABLED:
            self._enter_writer("apply")
            st = vx_mbo_apply(self.book, e, &reason)
            vx_guard_exit_writer(&self.guard)
        else:
            # With the GIL held throughout, only a GIL-free section can overlap this call, and
            # each marks the guard before it lets the GIL go: a look is enough.
            if vx_guard_state(&self.guard) & (VX_GUARD_WRITER | VX_GUARD_EXCLUSIVE):
                self._refuse("apply", vx_guard_state(&self.guard))
            st = vx_mbo_apply(self.book, e, &reason)
        if st != VX_OK:
            self._raise_reject(st, reason, e)

    def apply_fields(self, action, side, order_id, price=0, qty=0, ref=0, ts=0, instrument=0):
        """``apply`` from fields: ``book.apply_fields(Action.ADD, BUY, 17, price, 100)``.
        ``side`` is 0, 1 or ``SIDE_NONE`` (2); every value is range-checked (TypeError /
        ValueError naming it)."""
        cdef vx_mbo e
        memset(&e, 0, sizeof(e))
        e.action = <uint8_t>_u64(action, "action", 255)
        e.side = <uint8_t>_u64(side, "side", 255)
        e.order_id = _u64(order_id, "order_id", _UINT64_MAX)
        e.price = _i64(price, "price")
        e.qty = <uint32_t>_u64(qty, "qty", _UINT32_MAX)
        e.ref = _u64(ref, "ref", _UINT64_MAX)
        e.ts = _u64(ts, "ts", _UINT64_MAX)
        e.instrument = <uint32_t>_u64(instrument, "instrument", _UINT32_MAX)
        cdef vx_mbo_reject reason = VX_MBO_REJECT_NONE
        cdef vx_status st
        if VX_MBO_GIL_DISABLED:
            self._enter_writer("apply_fields")
            st = vx_mbo_apply(self.book, &e, &reason)
            vx_guard_exit_writer(&self.guard)
        else:  # see apply
            if vx_guard_state(&self.guard) & (VX_GUARD_WRITER | VX_GUARD_EXCLUSIVE):
                self._refuse("apply_fields", vx_guard_state(&self.guard))
            st = vx_mbo_apply(self.book, &e, &reason)
        if st != VX_OK:
            self._raise_reject(st, reason, &e)

    def apply_many(self, events):
        """Apply a 1-D ``MBO_DTYPE`` array in order, in C (GIL released for long batches).
        Rejected events are counted, not raised. Returns MboBatchResult(applied, rejected,
        by_action, rejected_by_reason, unknown_orders)."""
        if not isinstance(events, np.ndarray):
            raise TypeError(f"events must be a numpy array of MBO_DTYPE, got "
                            f"{type(events).__name__}")
        if events.dtype != MBO_DTYPE:
            raise TypeError(f"events must have dtype MBO_DTYPE, got {events.dtype!r}")
        if events.ndim != 1:
            raise ValueError(f"events must be 1-D, got shape {events.shape!r}")
        cdef cnp.ndarray arr = np.ascontiguousarray(events)
        if _misaligned(cnp.PyArray_DATA(arr)):  # a view at an odd offset: C reads a copy
            arr = np.zeros(arr.shape[0], MBO_DTYPE)
            arr[...] = events
        cdef const vx_mbo *data = <const vx_mbo *>cnp.PyArray_DATA(arr)
        cdef size_t n = <size_t>arr.shape[0]
        cdef uint64_t applied = 0, rejected = 0
        cdef vx_mbo_counters before, after
        self._enter_writer("apply_many")
        vx_mbo_counters_read(self.book, &before)
        try:
            if n >= NOGIL_BATCH:
                with nogil:
                    vx_mbo_apply_many(self.book, data, n, &applied, &rejected)
            else:
                vx_mbo_apply_many(self.book, data, n, &applied, &rejected)
            vx_mbo_counters_read(self.book, &after)
        finally:
            vx_guard_exit_writer(&self.guard)
        by_action = {}
        cdef int i
        for i in range(1, VX_MBO_ACTION_MAX + 1):
            if after.by_action[i] != before.by_action[i]:
                by_action[_ACTIONS[i]] = after.by_action[i] - before.by_action[i]
        by_reason = {}
        for i in range(1, VX_MBO_REJECT_COUNT):
            if after.rejected_by_reason[i] != before.rejected_by_reason[i]:
                by_reason[REJECT_REASONS[i]] = (after.rejected_by_reason[i]
                                                - before.rejected_by_reason[i])
        return MboBatchResult(applied, rejected, by_action, by_reason,
                              after.unknown_orders - before.unknown_orders)

    def seed_level(self, side, price, qty):
        """Set the resting quantity without order identity at ``(side, price)`` (replacing what
        was seeded there): start from an L2 snapshot. It queues ahead of every identified
        order at that level; events about unknown orders at that price reduce it."""
        cdef int s = _side(side)
        cdef int64_t p = _i64(price, "price")
        cdef uint64_t q = _u64(qty, "qty", VX_MBO_MAX_SEED)
        self._enter_writer("seed_level")
        cdef vx_status st = vx_mbo_seed_level(self.book, s, p, q)
        vx_guard_exit_writer(&self.guard)
        if st != VX_OK:
            self._raise_price(st, price)

    @cython.always_allow_keywords(False)
    def clear(self):
        """Every order and seeded lot leaves the book (like a CLEAR event)."""
        self._enter_writer("clear")
        vx_mbo_clear(self.book)
        vx_guard_exit_writer(&self.guard)

    def reserve(self, max_orders):
        """Grow the order table to hold ``max_orders`` (never shrinks). Exclusive use:
        RuntimeError while another thread applies events or reads an order."""
        cdef uint64_t cap = _u64(max_orders, "max_orders", VX_MBO_MAX_ORDERS)
        self._enter_exclusive("reserve")
        cdef vx_status st = vx_mbo_reserve(self.book, <uint32_t>cap)
        vx_guard_exit_exclusive(&self.guard)
        if st == VX_ENOMEM:
            raise MemoryError(f"cannot grow the order table to {max_orders} orders")
        if st != VX_OK:
            raise ValueError(f"reserve({max_orders!r}) failed: {vx_status_name(st).decode()}")

    def recenter(self, new_base):
        """Move the window so level 0 is ``new_base`` (on the current tick grid). Orders keep
        their prices and time priority: those leaving the window stay in the book (out of
        window), those entering join their queues. Seeded lots that leave are dropped
        (``counters.dropped_seeded_qty``). Exclusive use (RuntimeError otherwise, as
        ``reserve``)."""
        cdef int64_t b = _i64(new_base, "new_base")
        self._enter_exclusive("recenter")
        cdef vx_status st = vx_mbo_recenter(self.book, b)
        vx_guard_exit_exclusive(&self.guard)
        if st == VX_EINVAL:
            raise ValueError(f"new_base {_px(new_base)} (fixed point {new_base!r}) is not on "
                             f"the tick grid {_px(self.base_price)} + k * {_px(self.tick_size)}")
        if st != VX_OK:
            raise ValueError(f"new_base {_px(new_base)} puts the top level beyond int64")

    def follow(self):
        """Recenter the window on the market if it nears an edge or left it: True if it moved.
        The market is the mid of the best bid and ask (an order resting beyond the window,
        a bid above it or an ask below, counting as its side's best); the window moves so it
        falls in level ``levels // 2``, unless that is less than ``levels // 8`` levels away.
        The book notices cheaply while applying (mbo.h "Following the market"); calling
        this after every ``apply_many`` batch keeps the market on the ladder. What the
        pipeline does with follow_market=True. Exclusive use, like ``recenter``."""
        self._enter_exclusive("follow")
        try:
            if not vx_mbo_follow_pending(self.book):
                return False
            return vx_mbo_follow(self.book, ~(<uint64_t>0), NULL) != 0
        finally:
            vx_guard_exit_exclusive(&self.guard)

    # ---- readers (any thread) -----------------------------------------------------------------

    cdef object _best(self, int side):
        cdef int64_t p
        cdef uint64_t q
        if vx_mbo_best(self.book, side, &p, &q) != VX_OK:
            return None
        return (p, q)

    @cython.always_allow_keywords(False)
    def best_bid(self):
        """``(price, qty)`` of the highest non-empty bid level, or None."""
        return self._best(0)

    @cython.always_allow_keywords(False)
    def best_ask(self):
        """``(price, qty)`` of the lowest non-empty ask level, or None."""
        return self._best(1)

    def qty(self, side, price):
        """Lots resting at ``price`` on ``side`` (identified orders + seeded lots)."""
        cdef int s = _side(side)
        cdef int64_t p = _i64(price, "price")
        cdef uint64_t q = 0
        cdef vx_status st = vx_mbo_qty(self.book, s, p, &q)
        if st != VX_OK:
            self._raise_price(st, price)
        return q

    def depth(self, n=10, orders=False):
        """The best ``n`` non-empty levels per side as NumPy arrays, best first:
        ``((bid_prices, bid_qtys), (ask_prices, ask_qtys))`` (int64, uint64); with
        ``orders=True`` each side also has a uint32 array of order counts."""
        if isinstance(n, bool) or not PyLong_Check(n):
            raise TypeError(f"n must be an int, got {n!r}")
        if not 0 <= n <= self.levels:
            raise ValueError(f"n must be in [0, {self.levels}], got {n!r}")
        out = []
        cdef cnp.ndarray prices, qtys, counts
        cdef size_t got
        cdef int side
        for side in range(2):
            prices = np.empty(n, dtype=np.int64)
            qtys = np.empty(n, dtype=np.uint64)
            counts = np.empty(n, dtype=np.uint32)
            got = vx_mbo_depth(self.book, side, <size_t>n, <int64_t *>cnp.PyArray_DATA(prices),
                               <uint64_t *>cnp.PyArray_DATA(qtys),
                               <uint32_t *>cnp.PyArray_DATA(counts))
            if orders:
                out.append((prices[:got], qtys[:got], counts[:got]))
            else:
                out.append((prices[:got], qtys[:got]))
        return tuple(out)

    def order(self, order_id):
        """The resting order ``order_id`` as MboOrder(order_id, side, price, qty, ts,
        in_window), or None if the book does not hold it."""
        cdef uint64_t oid = _u64(order_id, "order_id", _UINT64_MAX)
        cdef vx_mbo_order_info info
        cdef vx_status st
        self._enter_reader("order")
        with nogil:
            st = vx_mbo_order(self.book, oid, &info)
        vx_guard_exit_reader(&self.guard)
        if st == VX_EINVAL:
            return None
        if st == VX_TIMEOUT:
            raise TimeoutError(f"order({order_id}): the writer kept changing the book "
                               f"({VX_MBO_READ_ATTEMPTS} attempts)")
        return MboOrder(info.order_id, info.side, info.price, info.qty, info.ts,
                        bool(info.in_window))

    def queue_position(self, order_id):
        """Lots queued ahead of ``order_id`` at its level (seeded lots included), or None if
        the book does not hold it. ValueError when the order is outside the window (it has no
        queue until a recenter brings its price in)."""
        cdef uint64_t oid = _u64(order_id, "order_id", _UINT64_MAX)
        cdef uint64_t ahead = 0
        cdef vx_status st
        self._enter_reader("queue_position")
        with nogil:
            st = vx_mbo_queue_position(self.book, oid, &ahead)
        vx_guard_exit_reader(&self.guard)
        if st == VX_OK:
            return ahead
        if st == VX_EINVAL:
            return None
        if st == VX_ERANGE:
            raise ValueError(f"order {order_id} is outside the window [{_px(self.base_price)}, "
                             f"{_px(self.max_price)}]: it has no queue position")
        raise TimeoutError(f"queue_position({order_id}): the writer kept changing the book "
                           f"({VX_MBO_READ_ATTEMPTS} attempts)")

    @property
    def counters(self):
        """MboCounters(...), each field read atomically; any thread, any time."""
        cdef vx_mbo_counters c
        vx_mbo_counters_read(self.book, &c)
        cdef int i
        by_action = {_ACTIONS[i]: c.by_action[i] for i in range(1, VX_MBO_ACTION_MAX + 1)}
        by_reason = {REJECT_REASONS[i]: c.rejected_by_reason[i]
                     for i in range(1, VX_MBO_REJECT_COUNT)}
        return MboCounters(c.applied, c.rejected, by_action, by_reason, c.unknown_orders,
                           c.out_of_window_orders, c.recenters, c.traded_qty,
                           c.dropped_seeded_qty, c.read_retries, c.index_rehashes,
                           c.id_window_hits, c.id_hash_lookups, c.id_window_slides)

    @cython.always_allow_keywords(False)
    def digest(self):
        """A 64-bit digest of the visible state (levels, queues, orders): equal books, equal
        digests (for determinism tests). Writer quiescent (RuntimeError while another thread
        applies events)."""
        self._enter_writer("digest")
        d = vx_mbo_digest(self.book)
        vx_guard_exit_writer(&self.guard)
        return d

    @cython.always_allow_keywords(False)
    def verify_invariants(self):
        """Check (writer quiescent): level aggregates = orders + seeded lots, FIFO links,
        order table and index consistent, best hints exact. AssertionError naming the broken
        invariant."""
        cdef const char *why = NULL
        self._enter_writer("verify_invariants")
        cdef vx_status st = vx_mbo_verify_invariants(self.book, &why)
        vx_guard_exit_writer(&self.guard)
        if st != VX_OK:
            raise AssertionError(f"MBO book invariant broken: {why.decode()}")

    @cython.always_allow_keywords(False)
    def _index_max_distance(self):
        """How far the furthest order-index entry sits from its home position (a probe is
        at most one longer). For tests of the hash; writer quiescent."""
        self._enter_writer("_index_max_distance")
        d = vx_mbo_index_max_distance(self.book)
        vx_guard_exit_writer(&self.guard)
        return d


# ---- benchmark helpers (benchmarks/bench_mbo.py; not part of the API) ------------------------

def _bench_native_chunks(MboBook book not None, events, Py_ssize_t chunk=1024):
    """Apply ``events`` (MBO_DTYPE) with vx_mbo_apply in chunks of ``chunk``, timing each chunk
    with the TSC: returns uint64 ticks per chunk (the last partial chunk is not timed)."""
    if not isinstance(events, np.ndarray) or events.dtype != MBO_DTYPE or events.ndim != 1:
        raise TypeError("events must be a 1-D MBO_DTYPE array")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    cdef cnp.ndarray arr = np.ascontiguousarray(events)
    if _misaligned(cnp.PyArray_DATA(arr)):
        arr = np.zeros(arr.shape[0], MBO_DTYPE)
        arr[...] = events
    cdef const vx_mbo *e = <const vx_mbo *>cnp.PyArray_DATA(arr)
    cdef Py_ssize_t n = arr.shape[0], chunks = n // chunk, c, i
    ticks = np.empty(chunks, dtype=np.uint64)
    cdef uint64_t[::1] t = ticks
    cdef uint64_t t0
    book._enter_writer("_bench_native_chunks")
    with nogil:
        for c in range(chunks):
            t0 = vx_tsc_read()
            for i in range(c * chunk, (c + 1) * chunk):
                vx_mbo_apply(book.book, &e[i], NULL)
            t[c] = vx_tsc_read() - t0
        for i in range(chunks * chunk, n):
            vx_mbo_apply(book.book, &e[i], NULL)
    vx_guard_exit_writer(&book.guard)
    return ticks
