# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/backtest.c csrc/velox/host.c csrc/velox/venue.c csrc/velox/positions.c csrc/velox/strategy_builtin.c csrc/velox/mbo.c csrc/velox/orders.c csrc/velox/types.c csrc/velox/tsc.c
"""The backtest's native part: ``NativeBacktest`` owns one ``vx_backtest`` (csrc/velox/backtest.h:
books -> an ABI v2 strategy -> the simulated venue -> reports back, on the calling thread),
feeds it MBO_DTYPE arrays with the GIL released, and drains its logs (orders sent, execution
reports, the P&L series) into growing lists of NumPy chunks. ``builtin_strategy`` makes
velox's own strategies (csrc/velox/strategy_builtin.h). The Python face is velox.backtest."""

cimport cython
from cpython.pycapsule cimport (PyCapsule_CheckExact, PyCapsule_GetContext, PyCapsule_GetPointer,
                                PyCapsule_IsValid, PyCapsule_New, PyCapsule_SetContext)
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from libc.stdint cimport int64_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cimport numpy as cnp

from velox.includes.backtest cimport *
from velox.includes.host cimport *
from velox.includes.mbo cimport (VX_MBO_REJECT_COUNT, vx_mbo_book, vx_mbo_reject,
                                 vx_mbo_seed_level, vx_mbo_set, vx_mbo_set_apply,
                                 vx_mbo_set_book)
from velox.includes.orders cimport VX_REJECT_MAX, vx_exec, vx_order
from velox.includes.positions cimport vx_pnl_point, vx_risk_limits
from velox.includes.strategy cimport *
from velox.includes.strategy_builtin cimport *
from velox.includes.types cimport VX_EMPTY, VX_ENOMEM, VX_ESTATE, VX_FULL, VX_OK, vx_mbo, vx_status, vx_status_name
from velox.includes.venue cimport (VX_QUEUE_MAX_POWER, VX_QUEUE_PROB, vx_fee, vx_sim_venue_config,
                                   vx_sim_venue_counters, vx_sim_venue_counters_read)

import numpy as np

from velox._mbo import REJECT_REASONS
from velox._records import (EXEC_DTYPE, MBO_DTYPE, ORDER_DTYPE, PNL_DTYPE, POSITION_DTYPE,
                            RejectReason)

cnp.import_array()

STRATEGY_CAPSULE_NAME = "velox.strategy.v2"
STRATEGY_ABI_VERSION = VX_STRATEGY_ABI_VERSION
API_VERSION = VX_API_VERSION
MAX_GROUP = VX_STRATEGY_MAX_GROUP
MAX_SENDS = VX_STRATEGY_MAX_SENDS
EDGES = {"flag": VX_BACKTEST_EDGE_FLAG, "event": VX_BACKTEST_EDGE_EVENT}
BUILTIN_STRATEGIES = ("quote", "script")
#: the v1 stage ABI's capsule name (csrc/velox/stage.h): pipelines only
_V1_CAPSULE_NAME = "velox.stage.v1"

# One of the strategy's working orders (strategy.h vx_working, 32 bytes).
WORKING_DTYPE = np.dtype({
    "names": ["order_id", "price", "instrument", "qty", "leaves_qty", "side", "state"],
    "formats": ["=u8", "=i8", "=u4", "=u4", "=u4", "u1", "u1"],
    "offsets": [VX_WORKING_OFFSET_ORDER_ID, VX_WORKING_OFFSET_PRICE,
                VX_WORKING_OFFSET_INSTRUMENT, VX_WORKING_OFFSET_QTY,
                VX_WORKING_OFFSET_LEAVES_QTY, VX_WORKING_OFFSET_SIDE, VX_WORKING_OFFSET_STATE],
    "itemsize": sizeof(vx_working),
}, align=True)

_U32 = 2**32 - 1
_U64 = 2**64 - 1
_I64 = 2**63 - 1
# the most drain rounds one feed()/finish() may need before it is a bug, not a backlog
_MAX_ROUNDS = 1 << 24


def _int_in(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return int(value)


# -- strategies ---------------------------------------------------------------------------------

def strategy_capsule(stage):
    """The "velox.strategy.v2" PyCapsule of a strategy: what its ``__velox_stage__()`` returns,
    or the stage itself when it is such a capsule. A "velox.stage.v1" capsule (a pipeline
    stage, csrc/velox/stage.h) is refused with a ValueError saying backtests need ABI v2; any
    other object or capsule name is a TypeError / ValueError naming it."""
    if hasattr(stage, "__velox_stage__"):
        try:
            cap = stage.__velox_stage__()
        except Exception as e:
            raise ValueError(f"stage {stage!r}: __velox_stage__() failed: "
                             f"{type(e).__name__}: {e}") from None
    else:
        cap = stage
    if not PyCapsule_CheckExact(cap):
        if cap is stage:
            raise TypeError(f"stage must be a PyCapsule named {STRATEGY_CAPSULE_NAME!r} or an "
                            f"object with __velox_stage__(), got {stage!r}")
        raise TypeError(f"stage {stage!r}: __velox_stage__() must return a PyCapsule named "
                        f"{STRATEGY_CAPSULE_NAME!r}, got {cap!r}")
    if PyCapsule_IsValid(cap, _V1_CAPSULE_NAME.encode()):
        raise ValueError(f"stage {stage!r} is a pipeline stage of ABI v1 (capsule "
                         f"{_V1_CAPSULE_NAME!r}, csrc/velox/stage.h): backtests need a strategy "
                         f"of ABI v{VX_STRATEGY_ABI_VERSION} (csrc/velox/strategy.h, capsule "
                         f"{STRATEGY_CAPSULE_NAME!r})")
    if not PyCapsule_IsValid(cap, VX_STRATEGY_CAPSULE_NAME):
        raise ValueError(f"stage capsule must be named {STRATEGY_CAPSULE_NAME!r} (a vx_strategy "
                         f"of ABI v{VX_STRATEGY_ABI_VERSION}, csrc/velox/strategy.h), got {cap!r}")
    return cap


cdef cnp.ndarray _snapshot_events(object events):
    """A 1-D MBO_DTYPE array as a fresh, aligned copy (velox/_backtest.pxd)."""
    if not isinstance(events, np.ndarray) or events.dtype != MBO_DTYPE or events.ndim != 1:
        raise TypeError(f"events must be a 1-D MBO_DTYPE array, got "
                        f"{getattr(events, 'dtype', type(events).__name__)}")
    cdef cnp.ndarray arr = np.zeros(len(events), MBO_DTYPE)
    arr[:] = events
    return arr


cdef int _apply_snapshot(cnp.ndarray arr, snapshot_apply_fn apply, void *books) except -1:
    """Applies arr's events in order; ValueError naming the first one refused (velox/_backtest.pxd)."""
    cdef const vx_mbo *e = <const vx_mbo *>cnp.PyArray_DATA(arr)
    cdef vx_mbo_reject reason
    cdef Py_ssize_t k
    for k in range(len(arr)):
        if apply(books, &e[k], &reason) != VX_OK:
            raise ValueError(f"snapshot event {k} ({arr[k]!r}) was refused by the book "
                             f"(reject reason {REJECT_REASONS[<int>reason]})")
    return 0


cdef vx_status _apply_to_set(void *books, const vx_mbo *event, vx_mbo_reject *reason) noexcept:
    return vx_mbo_set_apply(<vx_mbo_set *>books, event, reason)


cdef const vx_strategy *_strategy_table(object stage, object cap, str noun) except NULL:
    """The vx_strategy* inside `cap` (held by the caller), its versions checked with both
    numbers in the message, which starts with `noun` (velox/_backtest.pxd); the C side
    (vx_backtest_create, vx_pipeline_create) checks them again, and the rest."""
    cdef const vx_strategy *t = <const vx_strategy *>PyCapsule_GetPointer(cap, VX_STRATEGY_CAPSULE_NAME)
    label = f"{noun} {stage!r}"
    if t.abi_version != VX_STRATEGY_ABI_VERSION:
        raise ValueError(f"{label}: its vx_strategy has abi_version {t.abi_version}, this velox "
                         f"runs strategy ABI version {VX_STRATEGY_ABI_VERSION} (rebuild it "
                         "against this velox's velox/strategy.h)")
    if t.struct_size < VX_STRATEGY_MIN_SIZE:
        raise ValueError(f"{label}: its vx_strategy has struct_size {t.struct_size}, smaller "
                         f"than version {VX_STRATEGY_ABI_VERSION}'s {VX_STRATEGY_MIN_SIZE}; set "
                         "it to sizeof(vx_strategy)")
    if t.api_version > VX_API_VERSION:
        raise ValueError(f"{label}: it was compiled against vx_api version {t.api_version}, this "
                         f"velox provides vx_api version {VX_API_VERSION} (upgrade velox, or "
                         "rebuild the strategy against this velox's velox/strategy.h)")
    if t.on_market == NULL:
        raise ValueError(f"{label}: its vx_strategy has no on_market")
    return t


cdef extern from "Python.h":
    # raw declarations: a capsule destructor may run while an exception is pending (a
    # refused backtest drops its capsule), so no call here may look at the error indicator
    void *_capsule_pointer "PyCapsule_GetPointer"(PyObject *cap, const char *name) noexcept
    void *_capsule_context "PyCapsule_GetContext"(PyObject *cap) noexcept
    void _decref "Py_DECREF"(PyObject *obj) noexcept
    void _err_fetch "PyErr_Fetch"(PyObject **t, PyObject **v, PyObject **tb) noexcept
    void _err_restore "PyErr_Restore"(PyObject *t, PyObject *v, PyObject *tb) noexcept


cdef void _destroy_builtin(object cap) noexcept:
    """The builtin strategies' capsule destructor: frees the strategy, releases the orders
    array a script capsule holds (its context)."""
    cdef PyObject *t
    cdef PyObject *v
    cdef PyObject *tb
    _err_fetch(&t, &v, &tb)
    cdef vx_strategy *s = <vx_strategy *>_capsule_pointer(<PyObject *>cap, VX_STRATEGY_CAPSULE_NAME)
    cdef void *ctx = _capsule_context(<PyObject *>cap)
    if s != NULL:
        vx_builtin_destroy(s)
    if ctx != NULL:
        _decref(<PyObject *>ctx)
    _err_restore(t, v, tb)


def builtin_strategy(kind, *, instruments=1, orders=None):
    """One of velox's own ABI v2 strategies (csrc/velox/strategy_builtin.h) as a
    "velox.strategy.v2" capsule that owns it (its destructor destroys the strategy):

    - ``"quote"``: one quote of ``size`` lots at the best bid and the best ask of each of
      ``instruments`` instruments, re-priced when the top changes, within ``max_position``
      (its parameters come from the backtest's stage_args: ``size``, ``max_position``);
    - ``"script"``: sends the 1-D ORDER_DTYPE array ``orders`` in order, each at the first
      market event with ts >= its ts (orders are copied).

    ValueError / TypeError naming the bad argument."""
    if kind not in BUILTIN_STRATEGIES:
        raise ValueError(f"builtin strategy must be one of {', '.join(BUILTIN_STRATEGIES)}, "
                         f"got {kind!r}")
    cdef vx_strategy *s = NULL
    cdef vx_status st
    cdef uint32_t n_inst
    cdef cnp.ndarray arr
    if kind == "quote":
        if orders is not None:
            raise ValueError("builtin strategy 'quote' takes no orders (that is 'script')")
        n_inst = _int_in("instruments", instruments, 1, _U32)
        st = vx_quote_create(n_inst, &s)
        if st != VX_OK:
            raise ValueError(f"builtin strategy 'quote' (instruments={instruments!r}): "
                             f"{vx_status_name(st).decode()}")
        return PyCapsule_New(s, VX_STRATEGY_CAPSULE_NAME, _destroy_builtin)
    if orders is None:
        raise ValueError("builtin strategy 'script' needs orders (a 1-D ORDER_DTYPE array)")
    if not isinstance(orders, np.ndarray) or orders.dtype != ORDER_DTYPE:
        raise TypeError(f"script orders must be a numpy array of ORDER_DTYPE, got "
                        f"{getattr(orders, 'dtype', type(orders).__name__)}")
    if orders.ndim != 1:
        raise ValueError(f"script orders must be 1-D, got shape {orders.shape!r}")
    arr = np.zeros(len(orders), ORDER_DTYPE)  # aligned, zero padding
    arr[...] = orders
    st = vx_script_create(<const vx_order *>cnp.PyArray_DATA(arr), <size_t>len(arr), &s)
    if st != VX_OK:
        raise ValueError(f"builtin strategy 'script' ({len(arr)} orders): "
                         f"{vx_status_name(st).decode()}")
    cap = PyCapsule_New(s, VX_STRATEGY_CAPSULE_NAME, _destroy_builtin)
    Py_INCREF(arr)  # the orders live as long as the capsule (released by its destructor)
    PyCapsule_SetContext(cap, <void *>arr)
    return cap


# -- the backtest -------------------------------------------------------------------------------

cdef object _join(list parts, object dtype):
    """Chunks of one record dtype in one new array, copied as bytes (padding stays zero)."""
    cdef Py_ssize_t total = 0, pos = 0, size = dtype.itemsize
    for p in parts:
        total += len(p)
    out = np.zeros(total, dtype)
    raw = out.view(np.uint8)
    for p in parts:
        raw[pos:pos + len(p) * size] = p.view(np.uint8)
        pos += len(p) * size
    return out


cdef object _owned(cnp.ndarray src, size_t n):
    """The first n records of src in a new array, copied as bytes into zeros (``.copy()`` of a
    padded dtype leaves the padding uninitialised: outputs must compare bytewise)."""
    out = np.zeros(n, src.dtype)
    if n:
        memcpy(cnp.PyArray_DATA(out), cnp.PyArray_DATA(src), n * src.dtype.itemsize)
    return out


@cython.final
cdef class NativeBacktest:
    """NativeBacktest(stage, *, instruments, levels, tick, max_orders, edges="event",
    entry_latency_ns=0, response_latency_ns=0, entry_jitter_ns=0, response_jitter_ns=0,
    maker_per_lot=0, maker_rate=0, taker_per_lot=0, taker_rate=0, venue_max_orders=4096,
    max_in_flight=65536, seed=0, queue_model=0, queue_power=0, max_loss=0, max_position=0,
    max_order_qty=0, max_working=1024, pnl_interval_ns=1_000_000_000, log_capacity=65536,
    args=())

    One ``vx_backtest`` (csrc/velox/backtest.h). stage: a strategy object with
    ``__velox_stage__()`` or a "velox.strategy.v2" capsule (kept, with its object, until this
    is destroyed). Money fields are fixed point (maker_rate / taker_rate: a fraction of
    notional, PRICE_SCALE = 1). args: "key=value" strings for the strategy's api->arg.
    Every refusal of vx_backtest_create is a ValueError with its reason.

    feed(events) consumes a 1-D MBO_DTYPE array (the GIL released), draining the logs into
    Python-side chunks whenever the backtest stops early; finish() ends the input. orders(),
    execs(), pnl() are every record drained so far; counters(), positions(), working() read
    the native state. One caller at a time (a second one gets RuntimeError)."""
    cdef vx_backtest *bt
    cdef vx_backtest_config cfg
    cdef readonly object stage
    cdef readonly object capsule
    cdef list _arg_bytes
    cdef const char **_argv
    cdef list _orders, _execs, _pnl
    cdef cnp.ndarray _scratch_orders, _scratch_execs, _scratch_pnl
    cdef bint _busy
    cdef bint _fed
    cdef readonly object check_failure
    cdef readonly bint finished

    def __cinit__(self, stage, *, instruments, levels, tick, max_orders, edges="event",
                  entry_latency_ns=0, response_latency_ns=0, entry_jitter_ns=0,
                  response_jitter_ns=0, maker_per_lot=0, maker_rate=0, taker_per_lot=0,
                  taker_rate=0, venue_max_orders=4096, max_in_flight=65536, seed=0,
                  queue_model=0, queue_power=0, max_loss=0, max_position=0, max_order_qty=0, max_working=1024,
                  pnl_interval_ns=1_000_000_000, log_capacity=65536, args=()):
        self.bt = NULL
        self._argv = NULL
        self._orders, self._execs, self._pnl = [], [], []
        self.check_failure = None
        memset(&self.cfg, 0, sizeof(self.cfg))
        c = &self.cfg
        c.instruments = _int_in("instruments", instruments, 1, _U32)
        c.levels = _int_in("levels", levels, 2, _U32)
        c.tick = _int_in("tick", tick, 1, _I64)
        c.max_orders = _int_in("max_orders", max_orders, 1, _U32)
        if edges not in EDGES:
            raise ValueError(f"edges must be one of {', '.join(EDGES)}, got {edges!r}")
        c.edges = EDGES[edges]
        c.venue.instruments = c.instruments
        c.venue.max_orders = _int_in("venue max_orders", venue_max_orders, 1, 1 << 24)
        c.venue.max_in_flight = _int_in("max_in_flight", max_in_flight, 16, 1 << 24)
        c.venue.entry_latency_ns = _int_in("entry_latency_ns", entry_latency_ns, 0, _U64)
        c.venue.response_latency_ns = _int_in("response_latency_ns", response_latency_ns, 0, _U64)
        c.venue.entry_jitter_ns = _int_in("entry_jitter_ns", entry_jitter_ns, 0, _U64)
        c.venue.response_jitter_ns = _int_in("response_jitter_ns", response_jitter_ns, 0, _U64)
        c.venue.seed = _int_in("seed", seed, 0, _U64)
        c.venue.maker.per_lot = _int_in("maker_per_lot", maker_per_lot, -_I64, _I64)
        c.venue.maker.rate = _int_in("maker_rate", maker_rate, -_I64, _I64)
        c.venue.taker.per_lot = _int_in("taker_per_lot", taker_per_lot, -_I64, _I64)
        c.venue.taker.rate = _int_in("taker_rate", taker_rate, -_I64, _I64)
        c.venue.queue_model = _int_in("queue_model", queue_model, 0, VX_QUEUE_PROB)
        c.venue.queue_power = _int_in("queue_power", queue_power, 0, VX_QUEUE_MAX_POWER)
        c.host.instruments = c.instruments
        c.host.log_capacity = _int_in("log_capacity", log_capacity, VX_HOST_MIN_LOG_CAPACITY, _U32)
        c.host.pnl_interval_ns = _int_in("pnl_interval_ns", pnl_interval_ns, 0, _U64)
        c.host.risk.max_loss = _int_in("max_loss", max_loss, 0, _I64)
        c.host.risk.max_position = _int_in("max_position", max_position, 0, _U64)
        c.host.risk.max_order_qty = _int_in("max_order_qty", max_order_qty, 0, _U32)
        c.host.risk.max_working = _int_in("max_working", max_working, 1, _U32)
        self._arg_bytes = []
        for a in args:
            if not isinstance(a, str) or "=" not in a or "\0" in a:
                raise ValueError(f"strategy args are 'key=value' strings, got {a!r}")
            self._arg_bytes.append(a.encode())
        self._argv = <const char **>malloc((len(self._arg_bytes) + 1) * sizeof(char *))
        if self._argv == NULL:
            raise MemoryError()
        for i, b in enumerate(self._arg_bytes):
            self._argv[i] = <const char *>b
        self._argv[len(self._arg_bytes)] = NULL
        c.host.args = self._argv
        # the capsule (and its object) stay referenced until __dealloc__ destroyed the backtest
        self.stage = stage
        self.capsule = strategy_capsule(stage)
        cdef const vx_strategy *table = _strategy_table(stage, self.capsule, "stage")
        cdef const char *why = NULL
        cdef vx_status st = vx_backtest_create(&self.cfg, table, &self.bt, &why)
        if st != VX_OK:
            self.bt = NULL
            if why != NULL:
                raise ValueError(f"stage {stage!r}: {why.decode('utf-8', 'replace')}")
            if st == VX_ENOMEM:
                raise MemoryError("vx_backtest_create: out of memory")
            raise ValueError(f"backtest configuration refused: {vx_status_name(st).decode()}")
        cap = c.host.log_capacity
        self._scratch_orders = np.zeros(cap, ORDER_DTYPE)
        self._scratch_execs = np.zeros(cap, EXEC_DTYPE)
        self._scratch_pnl = np.zeros(cap, PNL_DTYPE)

    def __dealloc__(self):
        if self.bt != NULL:
            vx_backtest_destroy(self.bt)
            self.bt = NULL
        free(self._argv)
        self._argv = NULL

    cdef int _enter(self, str what) except -1:
        with cython.critical_section(self):
            if self._busy:
                raise RuntimeError(f"NativeBacktest.{what}: another thread is inside this "
                                   "backtest (one caller at a time)")
            self._busy = True
        return 0

    cdef void _leave(self):
        with cython.critical_section(self):
            self._busy = False

    # -- seeding (snapshots), before the first feed -----------------------------------------

    cdef vx_mbo_set *_books_before_start(self, str what) except NULL:
        cdef vx_mbo_set *books = vx_backtest_books(self.bt)
        if books == NULL or self._fed:
            raise RuntimeError(f"{what}() only before the first feed(): the replay writes the books")
        return books

    def seed_level(self, instrument, side, price, qty):
        """Before the first feed (a snapshot): seeded lots with no identity at (side, price)
        of `instrument`'s book (vx_mbo_seed_level). ValueError naming the level when the
        book refuses it (off the tick grid, outside the window, too large)."""
        cdef uint32_t i = _int_in("instrument", instrument, 0, self.cfg.instruments - 1)
        cdef int sd = _int_in("side", side, 0, 1)
        cdef int64_t px = _int_in("price", price, -_I64 - 1, _I64)
        cdef uint64_t q = _int_in("qty", qty, 0, _U64)
        self._enter("seed_level")
        try:
            books = self._books_before_start("seed_level")
            st = vx_mbo_seed_level(vx_mbo_set_book(books, i), sd, px, q)
        finally:
            self._leave()
        if st != VX_OK:
            raise ValueError(f"seed_level(instrument={instrument!r}, side={side!r}, "
                             f"price={price!r}, qty={qty!r}): the book refused it "
                             f"({vx_status_name(st).decode()}: off the tick grid, outside the "
                             f"book's window of {self.cfg.levels} levels, or too large)")

    def apply_before_start(self, events):
        """Before the first feed (a snapshot): applies a 1-D MBO_DTYPE array to the books in
        order. ValueError naming the first event a book refuses (nothing after it applied)."""
        cdef cnp.ndarray arr = _snapshot_events(events)
        self._enter("apply_before_start")
        try:
            _apply_snapshot(arr, _apply_to_set, self._books_before_start("apply_before_start"))
        finally:
            self._leave()

    # -- the run ---------------------------------------------------------------------------

    def feed(self, events):
        """Feeds a 1-D MBO_DTYPE array (GIL released while the loop runs); drains the logs
        whenever the backtest stops early for it. Returns the number of events consumed (all).
        RuntimeError after finish()."""
        if not isinstance(events, np.ndarray) or events.dtype != MBO_DTYPE:
            raise TypeError(f"events must be a numpy array of MBO_DTYPE, got "
                            f"{getattr(events, 'dtype', type(events).__name__)}")
        if events.ndim != 1:
            raise ValueError(f"events must be 1-D, got shape {events.shape!r}")
        cdef cnp.ndarray arr = np.ascontiguousarray(events)
        if (<uintptr_t>cnp.PyArray_DATA(arr)) & 7:
            arr = np.zeros(len(events), MBO_DTYPE)
            arr[...] = events
        cdef const vx_mbo *data = <const vx_mbo *>cnp.PyArray_DATA(arr)
        cdef size_t n = <size_t>len(arr), done = 0, consumed = 0
        cdef vx_status st = VX_OK
        cdef Py_ssize_t stalls = 0
        self._enter("feed")
        try:
            if self.finished:
                raise RuntimeError("feed() after finish(): the backtest has ended")
            self._fed = True
            while done < n:  # bounded: each round consumes events or drains (stalls capped)
                consumed = 0
                with nogil:
                    st = vx_backtest_feed(self.bt, data + done, n - done, &consumed)
                if st != VX_OK:
                    raise RuntimeError(f"vx_backtest_feed: {vx_status_name(st).decode()}")
                done += consumed
                if done < n:
                    self._drain()
                stalls = stalls + 1 if consumed == 0 else 0
                if stalls > 2:
                    raise RuntimeError("vx_backtest_feed consumed nothing after its logs were "
                                       "drained (a bug in the backtest loop)")
        finally:
            self._leave()
        return done

    def finish(self):
        """End of input: everything scheduled is delivered, working orders expire, the
        strategy's finish runs, conservation is checked (a failure is kept in
        ``check_failure``, not raised), and every log is drained. Idempotent."""
        cdef const char *why = NULL
        cdef vx_status st
        cdef Py_ssize_t rounds
        self._enter("finish")
        try:
            if self.finished:
                return
            for rounds in range(_MAX_ROUNDS):
                why = NULL
                with nogil:
                    st = vx_backtest_finish(self.bt, &why)
                if st != VX_FULL:
                    break
                self._drain()
            if st == VX_ESTATE:
                self.check_failure = (why.decode("utf-8", "replace") if why != NULL
                                      else "conservation check failed")
            elif st != VX_OK:
                raise RuntimeError(f"vx_backtest_finish: {vx_status_name(st).decode()}")
            self.finished = True
            self._drain()
        finally:
            self._leave()

    cdef void _drain(self) except *:
        """Moves everything in the three logs into new NumPy chunks."""
        cdef vx_host *h = vx_backtest_host(self.bt)
        cdef size_t cap = self.cfg.host.log_capacity, got
        cdef Py_ssize_t rounds
        for rounds in range(_MAX_ROUNDS):  # bounded: each round empties `cap` records or ends
            got = vx_host_take_orders(h, <vx_order *>cnp.PyArray_DATA(self._scratch_orders), cap)
            if got:
                self._orders.append(_owned(self._scratch_orders, got))
            if got < cap:
                break
        for rounds in range(_MAX_ROUNDS):
            got = vx_host_take_execs(h, <vx_exec *>cnp.PyArray_DATA(self._scratch_execs), cap)
            if got:
                self._execs.append(_owned(self._scratch_execs, got))
            if got < cap:
                break
        for rounds in range(_MAX_ROUNDS):
            got = vx_host_take_pnl(h, <vx_pnl_point *>cnp.PyArray_DATA(self._scratch_pnl), cap)
            if got:
                self._pnl.append(_owned(self._scratch_pnl, got))
            if got < cap:
                break

    def drain(self):
        """Drains the logs now (feed() and finish() do it as needed)."""
        self._enter("drain")
        try:
            self._drain()
        finally:
            self._leave()

    # -- results ---------------------------------------------------------------------------

    def orders(self):
        """Every order the strategy sent, refused ones included (ORDER_DTYPE), drained so far."""
        return _join(self._orders, ORDER_DTYPE)

    def execs(self):
        """Every execution report delivered to the strategy, in delivery order (EXEC_DTYPE)."""
        return _join(self._execs, EXEC_DTYPE)

    def pnl(self):
        """The P&L series drained so far (PNL_DTYPE)."""
        return _join(self._pnl, PNL_DTYPE)

    @property
    def instruments(self):
        return self.cfg.instruments

    def positions(self):
        """One POSITION_DTYPE row per instrument (the host's view, working lots included)."""
        out = np.zeros(self.cfg.instruments, POSITION_DTYPE)
        cdef vx_position *p = <vx_position *>cnp.PyArray_DATA(out)
        cdef uint32_t i
        cdef vx_host *h = vx_backtest_host(self.bt)
        for i in range(self.cfg.instruments):
            if vx_host_position(h, i, &p[i]) != VX_OK:
                raise RuntimeError(f"vx_host_position({i}) failed")
        return out

    def working(self):
        """The strategy's working orders now (WORKING_DTYPE: order_id, price, instrument, qty,
        leaves_qty, side, state)."""
        cdef size_t cap = self.cfg.host.risk.max_working
        out = np.zeros(cap, WORKING_DTYPE)
        cdef size_t n = vx_host_working(vx_backtest_host(self.bt),
                                        <vx_working *>cnp.PyArray_DATA(out), cap)
        return _owned(out, n)

    def counters(self):
        """Every counter of the loop: the backtest's (events, applied, book rejects by reason,
        groups, ts_regressions, last_ts, finished), "host" (the strategy's side: calls, sent,
        refused by reason, reports, bad_reports, log_lost, killed, init_failed) and "venue"
        (the simulated venue's: orders, acks, rejects, fills, ...)."""
        cdef vx_backtest_counters b
        cdef vx_host_counters h
        cdef vx_sim_venue_counters v
        vx_backtest_counters_read(self.bt, &b)
        vx_host_counters_read(vx_backtest_host(self.bt), &h)
        vx_sim_venue_counters_read(vx_backtest_venue(self.bt), &v)
        reasons = {r.name.lower(): h.refused_by_reason[<int>r] for r in RejectReason
                   if <int>r != 0 and <int>r <= VX_REJECT_MAX}
        return {
            "events": b.events, "applied": b.applied, "book_rejects": b.book_rejects,
            "book_rejects_by_reason": {REJECT_REASONS[i]: b.book_rejects_by_reason[i]
                                       for i in range(1, VX_MBO_REJECT_COUNT)},
            "groups": b.groups, "ts_regressions": b.ts_regressions, "last_ts": b.last_ts,
            "finished": bool(b.finished),
            "host": {
                "market_calls": h.market_calls, "exec_calls": h.exec_calls,
                "timer_calls": h.timer_calls, "sent": h.sent, "refused": h.refused,
                "refused_by_reason": reasons, "reports": h.reports,
                "bad_reports": h.bad_reports, "log_lost": h.log_lost,
                "killed": bool(h.killed), "init_failed": bool(h.init_failed),
                "refused_unreported": h.refused_unreported,
            },
            "venue": {
                "orders": v.orders, "acks": v.acks, "rejects": v.rejects, "fills": v.fills,
                "partial_fills": v.partial_fills, "canceled": v.canceled,
                "modified": v.modified, "expired": v.expired, "maker_fills": v.maker_fills,
                "taker_fills": v.taker_fills, "traded_lots": v.traded_lots,
                "queue_events": v.queue_events, "reports_dropped": v.reports_dropped,
            },
        }
