# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/pipeline.c csrc/velox/pipeline_source.c csrc/velox/pipeline_book.c csrc/velox/pipeline_bundler.c csrc/velox/pipeline_sink.c csrc/velox/pipeline_strategy.c csrc/velox/pipeline_sim.c csrc/velox/backtest.c csrc/velox/venue.c csrc/velox/stage_builtin.c csrc/velox/host.c csrc/velox/positions.c csrc/velox/venue_live.c csrc/velox/orders.c csrc/velox/orderbook.c csrc/velox/mbo.c csrc/velox/ring.c csrc/velox/histogram.c csrc/velox/tsc.c csrc/velox/types.c
"""NativePipeline: the C pipeline (csrc/velox/pipeline.h) as a thin Cython class. Use
velox.Pipeline (velox/pipeline/) for the friendly interface; this class takes the C
configuration fields as keyword arguments, checks their ranges, and calls one C function per
method. Python never runs on the pipeline's threads.

Not marked free-threading compatible: start/stop/join/drain assume one controlling thread,
which the GIL provides."""

cimport cython
cimport numpy as cnp
import numpy as np

from velox._mbo import MboOrder
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from velox._backtest cimport _apply_snapshot, _snapshot_events, _strategy_table
from velox._histogram cimport histogram_snapshot
from velox._journal cimport Journal
from velox._ring cimport SpscRing, _mark_busy
from velox.includes.histogram cimport vx_histogram
from velox.includes.pipeline cimport *
from velox.includes.ring cimport (vx_ring, vx_ring_elem_size, vx_ring_peek, vx_ring_release,
                                  vx_ring_span)
from velox.includes.stage cimport *
from velox.includes.orderbook cimport vx_book_best, vx_book_depth
from velox.includes.mbo cimport (vx_mbo_best, vx_mbo_depth, vx_mbo_order, vx_mbo_order_info,
                                 vx_mbo_queue_position, vx_mbo_set_reader, vx_mbo_book,
                                 vx_mbo_reject, vx_mbo_placed,
                                 vx_mbo_counters, vx_mbo_counters_read, VX_MBO_REJECT_COUNT)
from cpython.pycapsule cimport PyCapsule_CheckExact, PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New
from libc.stdlib cimport free, malloc
from velox.includes.types cimport VX_EMPTY, VX_OK, VX_TIMEOUT, vx_mbo, vx_status, vx_status_name
from velox.includes.backtest cimport (vx_backtest, vx_backtest_counters,
                                      vx_backtest_counters_read, vx_backtest_venue)
from velox.includes.venue cimport (VX_QUEUE_MAX_POWER, VX_QUEUE_PROB, vx_sim_venue_counters,
                                   vx_sim_venue_counters_read)

from velox._records import BUNDLE_DTYPE, EXEC_DTYPE, MBO_DTYPE, ORDER_DTYPE, PNL_DTYPE, TXN_DTYPE, Action
from velox._mbo import REJECT_REASONS

cdef extern from "<string.h>" nogil:
    size_t strnlen(const char *s, size_t maxlen)

cnp.import_array()

STAGES = ("ingress", "book", "bundler", "output")
HISTOGRAMS = ("ingress_to_book", "book_to_bundler", "ingress_to_bundler",
              "bundle_to_output", "end_to_end", "ingress_lateness", "book_batch")
ON_FULL = {"drop": VX_ON_FULL_DROP, "block": VX_ON_FULL_BLOCK}
WAIT = {"spin": VX_WAIT_SPIN, "yield": VX_WAIT_YIELD, "backoff": VX_WAIT_BACKOFF}
LATE_NS = VX_PIPELINE_LATE_NS
MAX_THREADS = VX_PIPELINE_MAX_THREADS

_U32 = 2**32 - 1
_U64 = 2**64 - 1
_I64 = 2**63 - 1

_CONSERVATION = (
    (VX_CONSERVE_BOOK, "generated == applied + rejected + drops.ingress_to_book"),
    (VX_CONSERVE_BUNDLER, "applied + user_stage.emitted == bundled + drops.book_to_bundler"),
    (VX_CONSERVE_BUNDLES, "bundled == sum of bundle counts (output_txns + dropped bundles' txns)"),
    (VX_CONSERVE_OUTPUT, "bundles == output_bundles + drops.bundler_to_output"),
    (VX_CONSERVE_PYTHON, "output_bundles == python_bundles + drops.output_to_python"),
    (VX_CONSERVE_EXTERNAL, "output_bundles == external_bundles + drops.output_to_external"),
    (VX_CONSERVE_FILE, "bytes_written == output_bundles * 528 with no write errors"),
    (VX_CONSERVE_TAP, "applied + rejected == tapped + drops.book_to_tap (the input tap)"),
)


def _int_in(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return int(value)


_RING_DTYPE_NAMES = ((TXN_DTYPE, "TXN_DTYPE"), (MBO_DTYPE, "MBO_DTYPE"),
                     (BUNDLE_DTYPE, "BUNDLE_DTYPE"), (ORDER_DTYPE, "ORDER_DTYPE"),
                     (EXEC_DTYPE, "EXEC_DTYPE"))


cdef vx_ring *_ring_arg(str name, object ring, object dtype, bint producer) except NULL:
    """The C ring of the ring argument `name`: a live velox.SpscRing (or SharedRing) of
    `dtype`, else TypeError / ValueError naming it. Claims the pipeline's side of it
    (`producer`: the pipeline pushes); a SharedRing takes that process-wide role here."""
    dtype_name = next(text for dt, text in _RING_DTYPE_NAMES if dt is dtype)
    if not isinstance(ring, SpscRing):
        raise TypeError(f"{name} must be a velox.SpscRing or SharedRing of {dtype_name}, "
                        f"got {ring!r}")
    cdef SpscRing r = <SpscRing>ring
    r._live(name)
    if r.dtype != dtype or vx_ring_elem_size(r.ring) != <size_t>dtype.itemsize:
        raise ValueError(f"{name} must hold {dtype_name} records, got a ring of {r.dtype!r}")
    r._side(producer, name)
    return r.ring


def _float_in(name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not lo <= v <= hi:  # also rejects NaN
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


cdef uint64_t _journal_ring(vx_ring *ring, Journal journal, uint32_t max_n) except? 0xFFFFFFFFFFFFFFFF:
    """Appends up to max_n records waiting in ring (the consumer side) to journal straight from
    the ring's slots, one copy-and-hash per record and no array between, then frees them in
    the ring; returns how many. A failed append raises after freeing what was appended (the
    rest stays in the ring)."""
    cdef vx_ring_span span
    cdef vx_status st = vx_ring_peek(ring, max_n, &span)
    if st == VX_EMPTY:
        vx_ring_release(ring, 0)
        return 0
    if st != VX_OK:
        raise RuntimeError(f"reading a ring for the journal: {vx_status_name(st).decode()}")
    cdef uint64_t before = journal.w.next_seq
    try:
        journal._append(span.first, span.first_n, "append_many", None)
        if span.second_n:
            journal._append(span.second, span.second_n, "append_many", None)
    finally:  # the records appended, also when the second run (or a roll) failed
        vx_ring_release(ring, <uint32_t>(journal.w.next_seq - before))
    return journal.w.next_seq - before


cdef vx_status _apply_before_start(void *p, const vx_mbo *event, vx_mbo_reject *reason) noexcept:
    return vx_pipeline_apply_before_start(<vx_pipeline *>p, event, reason)


# no_gc_clear: __dealloc__ joins the threads, which may still be writing into external_ring,
# so the ring must not be cleared (and possibly freed or unmapped) before that.
@cython.no_gc_clear
cdef class NativePipeline:
    """NativePipeline(*, ticks_per_ns, rate_per_s=1e5, max_txns=0, seed=1, levels=1024,
    tick_size=1_000_000, base_price=10_000_000_000, cancel_share=0.2, max_qty=100,
    bundle_timeout_ns=100_000, on_full="drop", wait="backoff", batch=64,
    txn_ring_capacity=4096, bundle_ring_capacity=1024, python_ring_capacity=0,
    output_fd=-1, output_buffer_bundles=64, stage_thread=(0, 0, 1, 1), thread_cpu=(-1, -1),
    logical_timestamps=False, external_ring=None)

    Prices are fixed point (VX_PRICE_SCALE units). stage_thread gives the thread of
    (ingress, book, bundler, output); thread_cpu the CPU of each thread (-1: not pinned).
    external_ring: an SpscRing (or SharedRing) of BUNDLE_DTYPE that the output stage pushes
    every bundle into (drop or block per on_full); this object becomes its producer: it
    claims the producer side at construction (a SharedRing's process role), and from start()
    to join() marks it busy (a SharedRing then refuses close()). Pop from it on one other
    thread or process.
    input_tap: an SpscRing of the source's records (TXN_DTYPE, or MBO_DTYPE with
    records="mbo") into which the book stage copies every record it takes, in its order
    (block: the book waits for room; drop: counted drops["book_to_tap"]); pop it on one
    other thread (the journal of Pipeline(journal=DIR))."""

    def __cinit__(self, *, ticks_per_ns, rate_per_s=1e5, max_txns=0, seed=1, levels=1024,
                  tick_size=1_000_000, base_price=10_000_000_000, cancel_share=0.2, max_qty=100,
                  bundle_timeout_ns=100_000, on_full="drop", wait="backoff", batch=64,
                  txn_ring_capacity=4096, bundle_ring_capacity=1024, python_ring_capacity=0,
                  output_fd=-1, output_buffer_bundles=64, stage_thread=(0, 0, 1, 1),
                  thread_cpu=(-1, -1), logical_timestamps=False, external_ring=None,
                  user_stage=None, user_emit_capacity=64, source_ring=None,
                  replay_speed=0.0, records="txn", mbo_instruments=1, mbo_max_orders=1 << 20,
                  mbo_follow=True, mbo_reference=None, input_tap=None, strategy=None, venue_orders=None,
                  venue_execs=None, strategy_args=None, strategy_edges="flag",
                  log_capacity=4 * VX_STRATEGY_MAX_SENDS, pnl_interval_ns=0, max_loss=0,
                  max_position=0, max_order_qty=0, max_working=64,
                  strategy_log_ring_capacity=4096, strategy_close_timeout_ns=2_000_000_000,
                  stage_capsules=None, sim_venue=None):
        self.p = NULL
        self.strategy = None
        self.strategy_capsule = None
        self.venue_orders = None
        self.venue_execs = None
        self.venue_busy = False
        self.external_ring = None
        self.external_busy = False
        self.user_stage = None
        self.user_stages = ()
        self.stage_capsules = ()
        self.source_ring = None
        self.input_tap = None
        self.bundle_dtype = BUNDLE_DTYPE
        vx_pipeline_config_default(&self.cfg)
        cdef vx_pipeline_config *c = &self.cfg
        c.ticks_per_ns = _float_in("ticks_per_ns", ticks_per_ns, 1e-6, 1e6)
        c.rate_per_s = _float_in("rate_per_s", rate_per_s, 0.0, 1e9)
        if 0.0 < c.rate_per_s < 1.0:
            raise ValueError(f"rate_per_s must be 0 (unpaced) or in [1, 1e9], got {rate_per_s!r}")
        c.max_txns = _int_in("max_txns", max_txns, 0, _U64)
        c.seed = _int_in("seed", seed, 0, _U64)
        if not isinstance(logical_timestamps, bool):
            raise TypeError(f"logical_timestamps must be a bool, got {logical_timestamps!r}")
        c.logical_timestamps = 1 if logical_timestamps else 0
        c.levels = _int_in("levels", levels, 2, 1 << 20)
        if levels & (levels - 1):
            raise ValueError(f"levels must be a power of two in [2, 2**20], got {levels!r}")
        c.tick_size = _int_in("tick_size", tick_size, 1, _I64)
        c.base_price = _int_in("base_price", base_price, 1, _I64)
        c.cancel_share = _float_in("cancel_share", cancel_share, 0.0, 0.999999)
        c.max_qty = _int_in("max_qty", max_qty, 1, _U32)
        c.bundle_timeout_ns = _int_in("bundle_timeout_ns", bundle_timeout_ns, 0, 3_600_000_000_000)
        if on_full not in ON_FULL:
            raise ValueError(f"on_full must be 'drop' or 'block', got {on_full!r}")
        c.on_full = ON_FULL[on_full]
        if wait not in WAIT:
            raise ValueError(f"wait must be 'spin', 'yield' or 'backoff', got {wait!r}")
        c.wait = WAIT[wait]
        c.batch = _int_in("batch", batch, 1, 4096)
        c.txn_ring_capacity = _int_in("txn_ring_capacity", txn_ring_capacity, 2, 1 << 24)
        c.bundle_ring_capacity = _int_in("bundle_ring_capacity", bundle_ring_capacity, 2, 1 << 20)
        c.python_ring_capacity = _int_in("python_ring_capacity", python_ring_capacity, 0, 1 << 20)
        c.output_fd = _int_in("output_fd", output_fd, -1, 2**31 - 1)
        c.output_buffer_bundles = _int_in("output_buffer_bundles", output_buffer_bundles, 1, 65536)
        stage_thread = tuple(stage_thread)
        thread_cpu = tuple(thread_cpu)
        if len(stage_thread) != VX_STAGES:
            raise ValueError(f"stage_thread must give a thread for each of the 4 stages, got {stage_thread!r}")
        if not 1 <= len(thread_cpu) <= VX_PIPELINE_MAX_THREADS:
            raise ValueError(f"thread_cpu must list 1 to 4 threads' CPUs, got {thread_cpu!r}")
        c.thread_count = len(thread_cpu)
        cdef int i
        for i in range(VX_STAGES):
            c.stage_thread[i] = _int_in("stage_thread", stage_thread[i], 0, len(thread_cpu) - 1)
        for i in range(len(thread_cpu)):
            c.thread_cpu[i] = _int_in("thread_cpu", thread_cpu[i], -1, 1023)
        if external_ring is not None:
            c.external_ring = _ring_arg("external_ring", external_ring, BUNDLE_DTYPE, True)
        if records not in ("txn", "mbo"):
            raise ValueError(f"records must be 'txn' (transactions, L2 book) or 'mbo' "
                             f"(market-by-order events, MBO books), got {records!r}")
        c.records = VX_RECORDS_MBO if records == "mbo" else VX_RECORDS_TXN
        self.records = records
        if records == "mbo":
            c.mbo_instruments = _int_in("mbo_instruments", mbo_instruments, 1, 1 << 16)
            c.mbo_max_orders = _int_in("mbo_max_orders", mbo_max_orders, 1, 1 << 30)
            if source_ring is None:
                raise ValueError("records='mbo' needs a source_ring of MBO_DTYPE (there is no "
                                 "market-by-order generator)")
        if not isinstance(mbo_follow, bool):
            raise TypeError(f"mbo_follow must be a bool, got {mbo_follow!r}")
        c.mbo_follow = 1 if mbo_follow else 0
        self.reference_arrays = None
        if mbo_reference is not None:
            self._set_reference(mbo_reference)
        record_dtype = MBO_DTYPE if records == "mbo" else TXN_DTYPE
        if source_ring is not None:
            c.source_ring = _ring_arg("source_ring", source_ring, record_dtype, False)
            self.source_ring = source_ring
        if input_tap is not None:
            c.input_tap = _ring_arg("input_tap", input_tap, record_dtype, True)
            self.input_tap = input_tap
        if isinstance(replay_speed, bool) or not isinstance(replay_speed, (int, float, np.integer, np.floating)):
            raise TypeError(f"replay_speed must be a number, got {replay_speed!r}")
        if replay_speed != 0:
            if source_ring is None:
                raise ValueError("replay_speed needs a source_ring (pacing replays recorded timestamps)")
            c.replay_speed = _float_in("replay_speed", replay_speed, 1e-3, 1e6)
        stages = _stage_list(user_stage)
        # Each stage's capsule is kept (self.stage_capsules) from here until __dealloc__ has
        # destroyed the C pipeline: a capsule may own its table (freeing it in its destructor),
        # so the table is read only while its capsule is held.
        if stage_capsules is not None and len(stage_capsules) != len(stages):
            raise ValueError(f"stage_capsules: {len(stage_capsules)} for {len(stages)} stage(s)")
        capsules = [_stage_capsule(stage, i if len(stages) > 1 else -1,
                                   None if stage_capsules is None else stage_capsules[i])
                    for i, stage in enumerate(stages)]
        self.stage_capsules = tuple(capsules)
        for i, cap in enumerate(capsules):
            c.user_stages[i] = _stage_table(stages[i], cap, records, i if len(stages) > 1 else -1)
        c.user_stage_count = len(stages)
        if stages:
            c.user_emit_capacity = _int_in("user_emit_capacity", user_emit_capacity, 1, VX_STAGE_MAX_EMIT)
            if len(stages) * c.user_emit_capacity >= c.txn_ring_capacity:
                raise ValueError(f"user_emit_capacity={user_emit_capacity!r} x {len(stages)} stage(s) "
                                 f"must stay below txn_ring_capacity={c.txn_ring_capacity} (block mode "
                                 "reserves every stage's emit buffer beside a batch)")
            self.user_stage = user_stage
            self.user_stages = tuple(stages)
        cdef const char **argv = NULL
        if strategy is not None:
            argv = self._set_strategy(strategy, venue_orders, venue_execs, strategy_args,
                                      strategy_edges, log_capacity, pnl_interval_ns, max_loss,
                                      max_position, max_order_qty, max_working,
                                      strategy_log_ring_capacity, strategy_close_timeout_ns,
                                      sim_venue)
        elif venue_orders is not None or venue_execs is not None:
            raise ValueError("venue rings given without a strategy of ABI v2")
        elif sim_venue is not None:
            raise ValueError("sim_venue given without a strategy of ABI v2")
        try:
            self._create(stage_thread, thread_cpu)
        finally:
            free(argv)  # the host copied the arguments
        self.external_ring = external_ring

    cdef int _create(self, stage_thread, thread_cpu) except -1:
        cdef vx_pipeline_config *c = &self.cfg
        cdef const char *field = NULL
        if vx_pipeline_config_validate(c, &field) != VX_OK:
            name = field.decode() if field != NULL else "config"
            raise ValueError(f"invalid pipeline configuration: {name} "
                             f"(stage_thread={stage_thread!r}, thread_cpu={thread_cpu!r})")
        cdef vx_status st = vx_pipeline_create(c, &self.p)
        if st != VX_OK:
            if st == 4:  # VX_ENOMEM
                raise MemoryError("cannot allocate the pipeline")
            raise ValueError(f"cannot create the pipeline: {vx_status_name(st).decode()}")
        return 0

    cdef const char **_set_strategy(self, strategy, venue_orders, venue_execs, strategy_args,
                                    strategy_edges, log_capacity, pnl_interval_ns, max_loss,
                                    max_position, max_order_qty, max_working,
                                    log_ring_capacity, close_timeout_ns, sim_venue) except? NULL:
        """cfg.strategy and its host, venue and logs (pipeline.h "Strategies"). Returns the
        malloc'd argv the host config points to (freed by the caller once the host copied it;
        NULL when there are no arguments)."""
        cdef vx_pipeline_config *c = &self.cfg
        if c.records != VX_RECORDS_MBO:
            raise ValueError("a strategy of ABI v2 needs a market-by-order pipeline "
                             "(records='mbo': lobster:, itch:, dbn:, journal: or an MBO feed)")
        if c.user_stage_count:
            raise ValueError("a strategy of ABI v2 runs alone on the book thread: pass it as the "
                             "only stage (v1 stages cannot run beside it)")
        cap = strategy_capsule(strategy)
        if cap is None:
            raise TypeError(f"strategy must be an object with __velox_stage__() returning a "
                            f"{STRATEGY_CAPSULE_NAME!r} capsule, or such a capsule; got {strategy!r}")
        c.strategy = _strategy_table(strategy, cap, "strategy")
        self.strategy = strategy
        self.strategy_capsule = cap
        if sim_venue is not None:
            if venue_orders is not None or venue_execs is not None:
                raise ValueError("sim_venue trades against the simulated venue: give no "
                                 "venue_orders / venue_execs rings")
            self._set_sim_venue(sim_venue)
        else:
            if venue_orders is venue_execs and isinstance(venue_orders, SpscRing):
                raise ValueError("venue_orders and venue_execs must be two rings")
            # the live venue's rings: orders out (producer), execution reports in (consumer)
            c.venue_orders = _ring_arg("venue_orders", venue_orders, ORDER_DTYPE, True)
            c.venue_execs = _ring_arg("venue_execs", venue_execs, EXEC_DTYPE, False)
            self.venue_orders = venue_orders
            self.venue_execs = venue_execs
        if strategy_edges not in ("flag", "event"):
            raise ValueError(f"strategy_edges must be 'flag' (F_LAST, or {VX_STRATEGY_MAX_GROUP} "
                             f"events) or 'event' (every event), got {strategy_edges!r}")
        c.strategy_edges = VX_STRATEGY_EDGE_FLAG if strategy_edges == "flag" else VX_STRATEGY_EDGE_EVENT
        c.strategy_host.log_capacity = _int_in("log_capacity", log_capacity,
                                               VX_HOST_MIN_LOG_CAPACITY, 1 << 24)
        c.strategy_host.pnl_interval_ns = _int_in("pnl_interval_ns", pnl_interval_ns, 0, _U64)
        c.strategy_host.risk.max_loss = _int_in("max_loss", max_loss, 0, _I64)
        c.strategy_host.risk.max_position = _int_in("max_position", max_position, 0, _U64)
        c.strategy_host.risk.max_order_qty = _int_in("max_order_qty", max_order_qty, 0, _U32)
        c.strategy_host.risk.max_working = _int_in("max_working", max_working, 1, 1 << 20)
        c.strategy_log_ring_capacity = _int_in("strategy_log_ring_capacity", log_ring_capacity,
                                               16, 1 << 20)
        if log_ring_capacity & (log_ring_capacity - 1):
            raise ValueError(f"strategy_log_ring_capacity must be a power of two in [16, 2**20], "
                             f"got {log_ring_capacity!r}")
        c.strategy_close_timeout_ns = _int_in("strategy_close_timeout_ns", close_timeout_ns, 0,
                                              3_600_000_000_000)
        args = _strategy_args(strategy_args)
        self.strategy_args = args
        if not args:
            c.strategy_host.args = NULL
            return NULL
        cdef const char **argv = <const char **>malloc((len(args) + 1) * sizeof(char *))
        if argv == NULL:
            raise MemoryError()
        for i, a in enumerate(args):
            argv[i] = <const char *>a
        argv[len(args)] = NULL
        c.strategy_host.args = argv
        return argv

    cdef int _set_sim_venue(self, dict sim) except -1:
        """cfg.strategy_venue = VX_STRATEGY_VENUE_SIM and cfg.strategy_sim from the dict of
        velox.SimVenue.native() fields plus "seed" (pipeline.h "Simulated venue")."""
        known = {"entry_latency_ns", "response_latency_ns", "entry_jitter_ns",
                 "response_jitter_ns", "maker_per_lot", "taker_per_lot", "maker_rate",
                 "taker_rate", "venue_max_orders", "max_in_flight", "seed", "queue_model",
                 "queue_power"}
        unknown = set(sim) - known
        if unknown:
            raise ValueError(f"sim_venue: unknown field(s) {sorted(unknown)}")
        cdef vx_pipeline_config *c = &self.cfg
        c.strategy_venue = VX_STRATEGY_VENUE_SIM
        v = &c.strategy_sim
        v.max_orders = _int_in("venue_max_orders", sim.get("venue_max_orders", 4096), 1, 1 << 24)
        v.max_in_flight = _int_in("max_in_flight", sim.get("max_in_flight", 65536), 16, 1 << 24)
        v.entry_latency_ns = _int_in("entry_latency_ns", sim.get("entry_latency_ns", 0), 0, _U64)
        v.response_latency_ns = _int_in("response_latency_ns",
                                        sim.get("response_latency_ns", 0), 0, _U64)
        v.entry_jitter_ns = _int_in("entry_jitter_ns", sim.get("entry_jitter_ns", 0), 0, _U64)
        v.response_jitter_ns = _int_in("response_jitter_ns",
                                       sim.get("response_jitter_ns", 0), 0, _U64)
        v.seed = _int_in("seed", sim.get("seed", 0), 0, _U64)
        v.maker.per_lot = _int_in("maker_per_lot", sim.get("maker_per_lot", 0), -_I64, _I64)
        v.maker.rate = _int_in("maker_rate", sim.get("maker_rate", 0), -_I64, _I64)
        v.taker.per_lot = _int_in("taker_per_lot", sim.get("taker_per_lot", 0), -_I64, _I64)
        v.taker.rate = _int_in("taker_rate", sim.get("taker_rate", 0), -_I64, _I64)
        v.queue_model = _int_in("queue_model", sim.get("queue_model", 0), 0, VX_QUEUE_PROB)
        v.queue_power = _int_in("queue_power", sim.get("queue_power", 0), 0, VX_QUEUE_MAX_POWER)
        return 0

    def _set_reference(self, ref):
        """mbo_reference=(bid_px, bid_qty, ask_px, ask_qty, first_row): the L2 book after every
        event of the replay, (rows, levels) arrays best first (int64 prices, uint64 qtys; an
        empty level has qty 0), row first_row for the first event (csrc/velox/pipeline.h,
        vx_pipeline_reference)."""
        if self.cfg.records != VX_RECORDS_MBO:
            raise ValueError("mbo_reference needs records='mbo'")
        if not isinstance(ref, tuple) or len(ref) != 5:
            raise TypeError(f"mbo_reference must be (bid_px, bid_qty, ask_px, ask_qty, first_row), "
                            f"got {type(ref).__name__}")
        arrays = []
        for name, a, dt in zip(("bid_px", "bid_qty", "ask_px", "ask_qty"), ref[:4],
                               (np.int64, np.uint64, np.int64, np.uint64)):
            if not isinstance(a, np.ndarray) or a.dtype != dt or a.ndim != 2:
                raise TypeError(f"mbo_reference {name} must be a 2-D {np.dtype(dt)} array, got "
                                f"{getattr(a, 'dtype', type(a).__name__)}")
            arrays.append(np.ascontiguousarray(a))
        shape = arrays[0].shape
        if any(a.shape != shape for a in arrays):
            raise ValueError(f"mbo_reference arrays must have one shape, got "
                             f"{[a.shape for a in arrays]}")
        rows, levels = shape
        if not 1 <= levels <= VX_PIPELINE_MAX_REFERENCE_LEVELS or rows < 1:
            raise ValueError(f"mbo_reference: 1 to {VX_PIPELINE_MAX_REFERENCE_LEVELS} levels and "
                             f"at least one row, got shape {shape}")
        first = _int_in("mbo_reference first_row", ref[4], 0, rows - 1)
        cdef int64_t[:, ::1] bp = arrays[0]
        cdef uint64_t[:, ::1] bq = arrays[1]
        cdef int64_t[:, ::1] ap = arrays[2]
        cdef uint64_t[:, ::1] aq = arrays[3]
        self.reference.bid_px = &bp[0, 0]
        self.reference.bid_qty = &bq[0, 0]
        self.reference.ask_px = &ap[0, 0]
        self.reference.ask_qty = &aq[0, 0]
        self.reference.rows = rows
        self.reference.levels = levels
        self.reference.first_row = first
        self.reference_arrays = tuple(arrays)  # the C pipeline reads them until destroyed
        self.cfg.mbo_reference = &self.reference

    def seed_level(self, instrument, side, price, qty):
        """Before start() (a snapshot): seeded lots with no identity at (side, price) of
        `instrument`'s book (vx_mbo_seed_level). ValueError naming the level when the book
        refuses it (off the tick grid, outside the window, too large)."""
        cdef uint32_t i = _int_in("instrument", instrument, 0, self.cfg.mbo_instruments - 1)
        cdef int sd = _int_in("side", side, 0, 1)
        cdef int64_t px = _int_in("price", price, -_I64 - 1, _I64)
        cdef uint64_t q = _int_in("qty", qty, 0, _U64)
        self._before_start("seed_level")
        cdef vx_status st = vx_pipeline_seed_level(self.p, i, sd, px, q)
        if st != VX_OK:
            raise ValueError(f"seed_level(instrument={instrument!r}, side={side!r}, "
                             f"price={price!r}, qty={qty!r}): the book refused it "
                             f"({vx_status_name(st).decode()}: off the tick grid, outside the "
                             f"book's window of {self.cfg.levels} levels, or too large)")

    def apply_before_start(self, events):
        """Before start() (a snapshot): applies a 1-D MBO_DTYPE array to the books in order.
        ValueError naming the first event a book refuses (nothing after it is applied)."""
        self._before_start("apply_before_start")
        _apply_snapshot(_snapshot_events(events), _apply_before_start, self.p)

    def _before_start(self, what):
        if self.cfg.records != VX_RECORDS_MBO:
            raise RuntimeError(f"{what}() needs a market-by-order pipeline (records='mbo')")
        if self.started:
            raise RuntimeError(f"{what}() only before start(): the book thread writes the books")

    @property
    def reference_first_row(self):
        """The row of the first event of mbo_reference (None without one)."""
        return self.reference.first_row if self.cfg.mbo_reference != NULL else None

    def __dealloc__(self):
        if self.p != NULL:
            with nogil:
                vx_pipeline_destroy(self.p)  # abandons and joins if still running
            self.p = NULL
        if self.external_busy:  # inline, not _release_external: no method calls in dealloc
            (<SpscRing>self.external_ring)._producer_busy -= 1
            self.external_busy = False
        if self.source_busy:
            (<SpscRing>self.source_ring)._consumer_busy -= 1
            self.source_busy = False
        if self.venue_busy:
            (<SpscRing>self.venue_orders)._producer_busy -= 1
            (<SpscRing>self.venue_execs)._consumer_busy -= 1
            self.venue_busy = False
        if self.tap_busy:
            (<SpscRing>self.input_tap)._producer_busy -= 1
            self.tap_busy = False

    cdef int _claim_ring(self, object ring, bint producer, str what) except -1:
        """Marks the side of `ring` that the native threads drive busy (start..join), so a
        SharedRing refuses close() (unmap) under them. Caller holds self's critical section."""
        cdef SpscRing r = ring
        with cython.critical_section(r):
            r._live(what)  # closed between construction and start?
            if (r._producer_busy if producer else r._consumer_busy):
                raise RuntimeError(f"{what} is in use by another "
                                   f"{'producer' if producer else 'consumer'} (a blocking call, "
                                   "batch copy or another pipeline)")
            if producer:
                r._producer_busy += 1
            else:
                r._consumer_busy += 1
        return 0

    cdef int _release_ring(self, object ring, bint producer) except -1:
        cdef SpscRing r = ring
        with cython.critical_section(r):
            if producer:
                r._producer_busy -= 1
            else:
                r._consumer_busy -= 1
        return 0

    cdef int _release_rings_locked(self) except -1:
        """Caller holds self's critical section."""
        if self.external_busy:
            self._release_ring(self.external_ring, True)
            self.external_busy = False
        if self.source_busy:
            self._release_ring(self.source_ring, False)
            self.source_busy = False
        if self.venue_busy:
            self._release_ring(self.venue_orders, True)
            self._release_ring(self.venue_execs, False)
            self.venue_busy = False
        if self.tap_busy:
            self._release_ring(self.input_tap, True)
            self.tap_busy = False
        return 0

    cdef int _release_external(self) except -1:
        """After join: the rings the threads drove may be closed now."""
        with cython.critical_section(self):
            self._release_rings_locked()
        return 0

    def start(self):
        """Starts the native threads."""
        # Critical sections (free-threaded builds; no-ops with the GIL): two threads starting
        # one pipeline, or two pipelines claiming one external ring, must not both pass.
        cdef SpscRing ext = self.external_ring
        cdef vx_status st
        with cython.critical_section(self):
            if self.started:
                raise RuntimeError("the pipeline was already started (a pipeline runs once)")
            if ext is not None:
                self._claim_ring(ext, True, "external_ring")
                self.external_busy = True
            if self.source_ring is not None:
                try:
                    self._claim_ring(self.source_ring, False, "source_ring")
                except BaseException:
                    self._release_rings_locked()
                    raise
                self.source_busy = True
            if self.venue_orders is not None:
                try:
                    self._claim_ring(self.venue_orders, True, "venue_orders")
                    try:
                        self._claim_ring(self.venue_execs, False, "venue_execs")
                    except BaseException:
                        self._release_ring(self.venue_orders, True)
                        raise
                except BaseException:
                    self._release_rings_locked()
                    raise
                self.venue_busy = True
            if self.input_tap is not None:
                try:
                    self._claim_ring(self.input_tap, True, "input_tap")
                except BaseException:
                    self._release_rings_locked()
                    raise
                self.tap_busy = True
            st = vx_pipeline_start(self.p)
            if st != VX_OK:
                self._release_rings_locked()
                raise OSError(f"cannot start the pipeline threads: {vx_status_name(st).decode()}")
            self.started = True

    def stop(self):
        """Asks ingress to stop; the other stages drain. Returns at once."""
        vx_pipeline_stop(self.p)

    cdef const vx_mbo_book *_mbo_book(self, object instrument) except NULL:
        cdef uint32_t i = _int_in("instrument", instrument, 0, self.cfg.mbo_instruments - 1)
        return vx_mbo_set_reader(vx_pipeline_mbo(self.p), i)

    cdef int _view_enter(self, str what) except -1:
        """Into the live view's gate (the book stage does not recenter a book meanwhile);
        the caller exits it in a finally. Waits, GIL released, while a recenter runs."""
        cdef vx_status st
        with nogil:
            st = vx_pipeline_view_enter(self.p)
        if st != VX_OK:
            raise TimeoutError(f"{what}: the book stage kept recentering the books (the live "
                               f"view's gate stayed closed)")
        return 0

    def best(self, int side, instrument=0):
        """(price, qty) of the live book's best level on side (0 buy, 1 sell), or None. A
        reader of the running pipeline's book (atomic level reads; GIL held, no lock).
        records='mbo': of the book of `instrument` (0 .. mbo_instruments - 1)."""
        if side not in (0, 1):
            raise ValueError(f"side must be 0 (buy) or 1 (sell), got {side!r}")
        cdef int64_t px
        cdef uint64_t q
        cdef vx_status st
        cdef const vx_mbo_book *b
        if self.cfg.records == VX_RECORDS_MBO:
            b = self._mbo_book(instrument)
            self._view_enter("best")
            try:
                st = vx_mbo_best(b, side, &px, &q)
            finally:
                vx_pipeline_view_exit(self.p)
        else:
            st = vx_book_best(vx_pipeline_book(self.p), side, &px, &q)
        if st != VX_OK:
            return None
        return (px, q)

    def depth(self, int side, n=10, instrument=0):
        """Up to n (price, qty) levels of the live book's side, best first (a recent view).
        records='mbo': of the book of `instrument`."""
        if side not in (0, 1):
            raise ValueError(f"side must be 0 (buy) or 1 (sell), got {side!r}")
        cdef size_t k = _int_in("n", n, 1, self.cfg.levels)
        prices = np.empty(k, np.int64)
        qtys = np.empty(k, np.uint64)
        cdef int64_t[::1] pv = prices
        cdef uint64_t[::1] qv = qtys
        cdef size_t got
        cdef const vx_mbo_book *b
        if self.cfg.records == VX_RECORDS_MBO:
            b = self._mbo_book(instrument)
            self._view_enter("depth")
            try:
                got = vx_mbo_depth(b, side, k, &pv[0], &qv[0], NULL)
            finally:
                vx_pipeline_view_exit(self.p)
        else:
            got = vx_book_depth(vx_pipeline_book(self.p), side, k, &pv[0], &qv[0])
        return prices[:got], qtys[:got]

    def order(self, order_id, instrument=0):
        """records='mbo': the live order `order_id` of `instrument`'s book as
        ``velox.MboOrder(order_id, side, price, qty, ts, in_window)`` (MboBook.order's type),
        or None if that book does not hold it. A seqlock read (mbo.h): never a torn order;
        TimeoutError if the book thread kept rewriting it."""
        cdef vx_mbo_order_info info
        if self._lookup("order", order_id, instrument, &info, NULL) != VX_OK:
            return None
        return MboOrder(info.order_id, info.side, info.price, info.qty, info.ts,
                        bool(info.in_window))

    def queue_position(self, order_id, instrument=0):
        """records='mbo': lots ahead of `order_id` in its level's queue, or None if unknown
        (or outside the book's window)."""
        cdef uint64_t ahead = 0
        if self._lookup("queue_position", order_id, instrument, NULL, &ahead) != VX_OK:
            return None
        return ahead

    cdef int _lookup(self, str what, object order_id, object instrument,
                     vx_mbo_order_info *info, uint64_t *ahead) except -1:
        """order (info) or queue_position (ahead) of a live MBO order, inside the gate: its
        vx_status (>= 0); TimeoutError when the book thread rewrote it on every read."""
        self._need_mbo(what)
        cdef uint64_t oid = _int_in("order_id", order_id, 0, _U64)
        cdef const vx_mbo_book *b = self._mbo_book(instrument)
        cdef vx_status st
        self._view_enter(what)
        try:
            st = vx_mbo_order(b, oid, info) if info != NULL else vx_mbo_queue_position(b, oid, ahead)
        finally:
            vx_pipeline_view_exit(self.p)
        if st == VX_TIMEOUT:
            raise TimeoutError(f"{what}({order_id!r}): the book thread rewrote it on every read")
        return st

    def mbo_placed(self, instrument=0):
        """records="mbo": whether book `instrument`'s price window is placed (its first ADD or LEVEL
        came; the counters cannot tell, being the whole set's)."""
        self._need_mbo("mbo_placed")
        return vx_mbo_placed(self._mbo_book(instrument))

    def mbo_counters(self, instrument=0):
        """records="mbo": the books' counters as a dict: applied, rejected, by_action
        (applied events per action name), rejected_by_reason (per reason name),
        unknown_orders, out_of_window_orders (a gauge), traded_qty, recenters. The books
        share one order table and these counters, so every `instrument` gives the same
        (kept for the bounds check). Relaxed reads while the pipeline runs (a recent view),
        exact once it finished."""
        self._need_mbo("mbo_counters")
        cdef const vx_mbo_book *b = self._mbo_book(instrument)
        cdef vx_mbo_counters c
        vx_mbo_counters_read(b, &c)
        return {
            "applied": c.applied, "rejected": c.rejected,
            "by_action": {a.name.lower(): c.by_action[int(a)] for a in Action},
            "rejected_by_reason": {REJECT_REASONS[i]: c.rejected_by_reason[i]
                                   for i in range(1, VX_MBO_REJECT_COUNT)},
            "unknown_orders": c.unknown_orders, "out_of_window_orders": c.out_of_window_orders,
            "traded_qty": c.traded_qty, "recenters": c.recenters,
        }

    def _need_mbo(self, what):
        if self.cfg.records != VX_RECORDS_MBO:
            raise RuntimeError(f"{what}() needs a market-by-order pipeline (records='mbo'): an "
                               "L2 book has no order identity")

    def close_source(self):
        """With a source_ring: no more records will be pushed; ingress finishes once the ring
        is empty."""
        vx_pipeline_close_source(self.p)

    def abandon(self):
        """Asks every stage to quit at once, without draining."""
        vx_pipeline_abandon(self.p)

    @property
    def finished(self):
        """True once every stage has finished (join will not wait)."""
        return bool(vx_pipeline_finished(self.p))

    def join(self):
        """Joins the threads (GIL released). Call after stop() and once finished is true, or
        after abandon(); otherwise it waits for max_txns to be reached."""
        if not self.started:
            raise RuntimeError("the pipeline was never started")
        with nogil:
            # _join_lock: two threads joining at once must not both pthread_join the threads
            # (free-threaded builds; with the GIL, joined is checked in C under the lock too).
            with self._join_lock:
                vx_pipeline_join(self.p)
        self.joined = True
        self._release_external()  # the output thread is gone: the ring may be closed now

    def counters(self):
        """Counter snapshot as a dict (exact once finished)."""
        cdef vx_pipeline_counters c
        vx_pipeline_read_counters(self.p, &c)
        return _counters_dict(&c, self.cfg.user_stage_count)

    def conservation_failures(self, counters=None):
        """Descriptions of the conservation equations that do not hold for the final
        counters (empty list: all hold). Only meaningful once finished."""
        cdef vx_pipeline_counters c
        vx_pipeline_read_counters(self.p, &c)
        cdef uint32_t sinks = 0
        if self.cfg.python_ring_capacity != 0:
            sinks |= VX_PIPELINE_SINK_PYTHON
        if self.cfg.external_ring != NULL:
            sinks |= VX_PIPELINE_SINK_EXTERNAL
        if self.cfg.output_fd >= 0:
            sinks |= VX_PIPELINE_SINK_FILE
        if self.cfg.input_tap != NULL:
            sinks |= VX_PIPELINE_SINK_TAP
        cdef uint32_t bad = vx_pipeline_check_conservation(&c, sinks)
        return [text for bit, text in _CONSERVATION if bad & bit]

    def histogram(self, name):
        """A snapshot (velox.Histogram copy) of the live histogram `name` (see HISTOGRAMS)."""
        try:
            which = HISTOGRAMS.index(name)
        except ValueError:
            raise ValueError(f"histogram must be one of {HISTOGRAMS}, got {name!r}") from None
        return histogram_snapshot(vx_pipeline_histogram(self.p, <vx_pipeline_hist>which))

    def drain(self, max_bundles=1024):
        """Pops up to max_bundles bundles from the python ring into a new BUNDLE_DTYPE array
        (GIL released around the copy). Empty array when nothing is waiting."""
        cdef vx_ring *ring = vx_pipeline_python_ring(self.p)
        if ring == NULL:
            raise RuntimeError("this pipeline has no python ring (python_ring_capacity=0)")
        cdef uint32_t n = _int_in("max_bundles", max_bundles, 1, _U32)
        cdef uint32_t waiting = vx_ring_size(ring)
        if waiting < n:
            n = waiting
        out = np.empty(n, self.bundle_dtype)
        if n == 0:
            return out
        cdef cnp.ndarray arr = out
        cdef void *data = cnp.PyArray_DATA(arr)
        cdef uint32_t popped = 0
        with nogil:
            vx_ring_pop_n(ring, data, n, &popped)
        return out[:popped]


    def journal_output(self, Journal journal not None, max_bundles=4096):
        """Appends up to max_bundles bundles waiting in the python ring to journal (a
        BUNDLE_DTYPE velox.Journal) straight from the ring's slots: the drain() copy without
        the array. Returns how many (0: none waiting). A failed append raises (the bundles it
        appended are taken, the rest stay in the ring). One consumer at a time, as drain()."""
        cdef vx_ring *ring = vx_pipeline_python_ring(self.p)
        if ring == NULL:
            raise RuntimeError("this pipeline has no python ring (python_ring_capacity=0)")
        journal._live("journal_output")
        if journal.dtype != self.bundle_dtype:
            raise TypeError(f"journal_output: the journal's dtype {journal.dtype} is not "
                            f"BUNDLE_DTYPE")
        return _journal_ring(ring, journal, _int_in("max_bundles", max_bundles, 1, _U32))

    def journal_tap(self, Journal journal not None, max_records=4096):
        """Appends up to max_records records waiting in the input tap to journal (of the tap's
        dtype) straight from the tap's slots, without the pop_many copy into an array. Returns
        how many (0: none waiting). A failed append raises (the records it appended are taken,
        the rest stay in the tap). The tap's consumer: one thread at a time."""
        if self.input_tap is None:
            raise RuntimeError("this pipeline has no input tap (input_tap=None)")
        cdef SpscRing tap = self.input_tap
        tap._live("journal_tap")
        tap._side(False, "journal_tap")
        journal._live("journal_tap")
        if journal.dtype != tap.dtype:
            raise TypeError(f"journal_tap: the journal's dtype {journal.dtype} is not the "
                            f"tap's {tap.dtype}")
        cdef uint32_t n = _int_in("max_records", max_records, 1, _U32)
        _mark_busy(tap, False, 1)
        try:
            return _journal_ring(tap.ring, journal, n)
        finally:
            _mark_busy(tap, False, -1)

    # -- a hosted v2 strategy (cfg.strategy) ------------------------------------------------

    def drain_log(self, which, max_records=4096):
        """Pops up to max_records records of the strategy's log `which` ("orders": ORDER_DTYPE,
        "execs": EXEC_DTYPE, "pnl": PNL_DTYPE) into a new array (empty when nothing waits).
        One consumer at a time (the driver's drain thread, or the caller after it stopped)."""
        if self.cfg.strategy == NULL:
            raise RuntimeError("this pipeline hosts no strategy of ABI v2")
        try:
            k = STRATEGY_LOGS.index(which)
        except ValueError:
            raise ValueError(f"which must be one of {STRATEGY_LOGS}, got {which!r}") from None
        cdef vx_ring *ring = vx_pipeline_strategy_log(self.p, k)
        cdef uint32_t n = _int_in("max_records", max_records, 1, _U32)
        cdef uint32_t waiting = vx_ring_size(ring)
        if waiting < n:
            n = waiting
        out = np.zeros(n, (ORDER_DTYPE, EXEC_DTYPE, PNL_DTYPE)[k])
        if n == 0:
            return out
        cdef cnp.ndarray arr = out
        cdef void *data = cnp.PyArray_DATA(arr)
        cdef uint32_t popped = 0
        with nogil:
            vx_ring_pop_n(ring, data, n, &popped)
        return out[:popped]

    cdef vx_host *_host(self, str what) except NULL:
        if self.cfg.strategy == NULL:
            raise RuntimeError(f"{what}: this pipeline hosts no strategy of ABI v2")
        cdef vx_host *h = vx_pipeline_strategy_host(self.p)
        if h == NULL:
            raise RuntimeError(f"{what}: the host is the book thread's until join()")
        return h

    def strategy_counters(self):
        """The host's counters (csrc/velox/host.h vx_host_counters) as a dict; after join()."""
        cdef vx_host_counters hc
        vx_host_counters_read(self._host("strategy_counters()"), &hc)
        return {"market_calls": hc.market_calls, "exec_calls": hc.exec_calls,
                "timer_calls": hc.timer_calls, "sent": hc.sent, "refused": hc.refused,
                "refused_by_reason": {REJECT_REASON_NAMES[r]: hc.refused_by_reason[r]
                                      for r in REJECT_REASON_NAMES if hc.refused_by_reason[r]},
                "reports": hc.reports, "bad_reports": hc.bad_reports, "log_lost": hc.log_lost,
                "killed": bool(hc.killed), "init_failed": bool(hc.init_failed),
                "refused_unreported": hc.refused_unreported}

    def strategy_positions(self):
        """{instrument: position dict} for every instrument that traded or has working lots
        (host.h vx_host_position; money fixed point); after join()."""
        cdef vx_host *h = self._host("strategy_positions()")
        cdef vx_position pos
        out = {}
        for i in range(self.cfg.mbo_instruments):
            if vx_host_position(h, i, &pos) != VX_OK:
                continue
            if pos.volume or pos.working_buy or pos.working_sell or pos.position:
                out[i] = {"position": pos.position, "avg_price": pos.avg_price,
                          "realized": pos.realized, "unrealized": pos.unrealized,
                          "fees": pos.fees, "mark": pos.mark, "volume": pos.volume,
                          "fills": pos.fills, "working_buy": pos.working_buy,
                          "working_sell": pos.working_sell}
        return out

    def strategy_working(self):
        """The orders still working at the end (after join()), as dicts."""
        cdef vx_host *h = self._host("strategy_working()")
        cdef vx_working w[256]
        cdef size_t n = vx_host_working(h, w, 256)
        return [{"order_id": w[i].order_id, "price": w[i].price, "instrument": w[i].instrument,
                 "qty": w[i].qty, "leaves_qty": w[i].leaves_qty, "side": w[i].side,
                 "state": w[i].state} for i in range(n)]

    def sim_counters(self):
        """With the simulated venue (sim_venue=), after join(): {"backtest": the backtest's
        counters (backtest.h vx_backtest_counters), "venue": the simulated venue's
        (venue.h vx_sim_venue_counters)}; None with the live venue."""
        self._host("sim_counters()")
        cdef vx_backtest *bt = vx_pipeline_strategy_backtest(self.p)
        if bt == NULL:
            return None
        cdef vx_backtest_counters b
        cdef vx_sim_venue_counters v
        vx_backtest_counters_read(bt, &b)
        vx_sim_venue_counters_read(vx_backtest_venue(bt), &v)
        return {
            "backtest": {"events": b.events, "applied": b.applied,
                         "book_rejects": b.book_rejects, "groups": b.groups,
                         "ts_regressions": b.ts_regressions, "last_ts": b.last_ts,
                         "finished": bool(b.finished)},
            "venue": {"orders": v.orders, "acks": v.acks, "rejects": v.rejects,
                      "fills": v.fills, "partial_fills": v.partial_fills,
                      "canceled": v.canceled, "modified": v.modified, "expired": v.expired,
                      "maker_fills": v.maker_fills, "taker_fills": v.taker_fills,
                      "traded_lots": v.traded_lots, "queue_events": v.queue_events,
                      "reports_dropped": v.reports_dropped}}

    def strategy_check(self):
        """None when the run ended and the host's conservation checks held (host.h
        vx_host_check), else the reason (text); after join()."""
        self._host("strategy_check()")
        cdef const char *why = NULL
        if vx_pipeline_strategy_check(self.p, &why) == VX_OK:
            return None
        return why.decode() if why != NULL else "the strategy's checks failed"

    @property
    def strategy_name(self):
        """The strategy table's name (None without a strategy or a name)."""
        if self.cfg.strategy == NULL or self.cfg.strategy.name == NULL:
            return None
        return self.cfg.strategy.name[:strnlen(self.cfg.strategy.name, 80)].decode("utf-8", "replace")

    @property
    def stage_thread(self):
        """The thread of each stage (ingress, book, bundler, output) as the C pipeline has it."""
        return tuple(self.cfg.stage_thread[i] for i in range(VX_STAGES))

    @property
    def thread_cpu(self):
        """The CPU each thread is pinned to (-1: not pinned), as the C pipeline has it."""
        return tuple(self.cfg.thread_cpu[i] for i in range(self.cfg.thread_count))

    @property
    def memory_bytes(self):
        """Bytes allocated at creation (rings, book, buffers, histograms)."""
        return vx_pipeline_memory_bytes(self.p)

    def book_digest(self):
        """64-bit digest of the book's levels (for determinism checks). Call after join()."""
        if self.started and not self.joined:
            raise RuntimeError("book_digest() needs the pipeline joined (the book stage writes the book)")
        return vx_pipeline_book_digest(self.p)


cdef dict _stage_counters(const vx_pipeline_stage_counters *u):
    return {"batches": u.batches, "emitted": u.emitted, "rejected": u.rejected,
            "bad_returns": u.bad_returns, "init_failed": bool(u.init_failed)}


cdef dict _counters_dict(const vx_pipeline_counters *c, uint32_t stages):
    return {
        "generated": c.generated, "applied": c.applied, "rejected": c.rejected,
        "traded": c.traded, "cas_timeouts": c.cas_timeouts, "recenters": c.recenters,
        "recenters_deferred": c.recenters_deferred,
        "reference_seeded": c.reference_seeded,
        "reference_rows_differing": c.reference_rows_differing,
        "reference_rows_checked": c.reference_rows_checked, "bundled": c.bundled,
        "bundles": c.bundles, "bundles_timed_out": c.bundles_timed_out,
        "output_bundles": c.output_bundles, "output_txns": c.output_txns,
        "python_bundles": c.python_bundles, "external_bundles": c.external_bundles,
        "bytes_written": c.bytes_written,
        "write_errors": c.write_errors, "last_write_errno": c.last_write_errno,
        "late": c.late, "pin_failures": c.pin_failures, "finished": bool(c.finished),
        "source_errors": c.source_errors, "tapped": c.tapped,
        "source_status": vx_status_name(<vx_status>c.source_status).decode() if c.source_status else None,
        "user_stage": {
            "batches": c.user_batches, "emitted": c.user_emitted, "rejected": c.user_rejected,
            "bad_returns": c.user_bad_returns, "init_failed": bool(c.user_init_failed),
            "init_failures": c.user_init_failed,
        },
        "user_stages": [_stage_counters(&c.user[i]) for i in range(stages)],
        "strategy": {
            "groups": c.strategy_groups, "idle_delivers": c.strategy_idle_delivers,
            "log_waits": c.strategy_log_waits,
            "logged": {STRATEGY_LOGS[k]: c.strategy_logged[k] for k in range(3)},
            "closing": bool(c.strategy_closing), "close_timed_out": bool(c.strategy_close_timed_out),
        },
        "venue": {
            "submitted": c.venue_submitted, "refused_full": c.venue_refused_full,
            "polled": c.venue_polled, "ring_errors": c.venue_ring_errors,
        },
        "drops": {
            "ingress_to_book": c.drops_ingress, "book_to_bundler": c.drops_book,
            "bundler_to_output": c.drops_bundler, "bundler_to_output_txns": c.drops_bundler_txns,
            "output_to_python": c.drops_python, "output_to_external": c.drops_external,
            "book_to_tap": c.drops_tap,
        },
    }


# -- user stages (csrc/velox/stage.h) ----------------------------------------------------------

STAGE_CAPSULE_NAME = "velox.stage.v1"
STAGE_ABI_VERSION = VX_STAGE_ABI_VERSION
BUILTIN_STAGES = ("noop", "imbalance", "echo", "bad_count", "bad_records", "fail_init")


MAX_USER_STAGES = VX_PIPELINE_MAX_USER_STAGES


cdef list _stage_list(object user_stage):
    """user_stage as a list of stage objects: [] for None, [x] for one stage, the items of a
    list or tuple (1 .. MAX_USER_STAGES of them)."""
    if user_stage is None:
        return []
    if not isinstance(user_stage, (list, tuple)):
        return [user_stage]
    stages = list(user_stage)
    if not 1 <= len(stages) <= VX_PIPELINE_MAX_USER_STAGES:
        raise ValueError(f"user_stage: a list of 1 to {VX_PIPELINE_MAX_USER_STAGES} stages, "
                         f"got {len(stages)}")
    return stages


cdef str _stage_label(object stage, int position):
    """How errors name a stage: its repr, and its place when the pipeline has several."""
    where = f"user_stage[{position}] " if position >= 0 else "stage "
    return f"{where}{stage!r}"


def fetch_stage_capsule(stage, position=-1):
    """What a stage object's __velox_stage__() returns (called once here), or the stage
    itself when it has none (a capsule). ValueError naming the stage when the call fails. The
    driver fetches each stage's capsule once and passes it on (stage_capsules=), so a stage
    whose capsule owns its table is asked once."""
    if hasattr(stage, "__velox_stage__") and not PyCapsule_CheckExact(stage):
        try:
            return stage.__velox_stage__()
        except Exception as e:
            raise ValueError(f"{_stage_label(stage, position)}: __velox_stage__() failed: "
                             f"{type(e).__name__}: {e}") from None
    return stage


def is_strategy_capsule(cap):
    """True for a "velox.strategy.v2" capsule."""
    return bool(PyCapsule_CheckExact(cap) and PyCapsule_IsValid(cap, VX_STRATEGY_CAPSULE_NAME))


cdef object _stage_capsule(object stage, int position, object fetched=None):
    """The PyCapsule of a stage object: what its __velox_stage__() returns (or `fetched`, what
    fetch_stage_capsule got from it), or the stage itself when it is such a capsule. Checks
    the capsule's type and name; the caller keeps it alive for as long as the table it points
    to may be called."""
    cap = fetch_stage_capsule(stage, position) if fetched is None else fetched
    if not PyCapsule_CheckExact(cap):
        if cap is stage:
            raise TypeError(f"user_stage must be a PyCapsule named {STAGE_CAPSULE_NAME!r} or an "
                            f"object with __velox_stage__(), got {stage!r}")
        raise TypeError(f"{_stage_label(stage, position)}: __velox_stage__() must return a "
                        f"PyCapsule named {STAGE_CAPSULE_NAME!r}, got {cap!r}")
    if not PyCapsule_IsValid(cap, VX_STAGE_CAPSULE_NAME):
        raise ValueError(f"user_stage capsule must be named {STAGE_CAPSULE_NAME!r} "
                         f"(a vx_user_stage of ABI {VX_STAGE_ABI_VERSION}), got {cap!r}")
    return cap


cdef const vx_user_stage *_stage_table(object stage, object cap, str records,
                                       int position) except NULL:
    """The vx_user_stage* inside `cap` (from _stage_capsule, held by the caller: the pointer is
    valid only while the capsule lives), checked: the ABI version, the struct size, and the
    batch callback that `records` ("txn" or "mbo") input calls."""
    cdef const vx_user_stage *t = <const vx_user_stage *>PyCapsule_GetPointer(cap, VX_STAGE_CAPSULE_NAME)
    label = _stage_label(stage, position)
    if t.abi_version != VX_STAGE_ABI_VERSION:
        raise ValueError(f"{label}: its vx_user_stage table has abi_version {t.abi_version}, this "
                         f"velox runs version {VX_STAGE_ABI_VERSION} (rebuild the stage against "
                         "this velox's velox/stage.h)")
    if t.struct_size < VX_USER_STAGE_V1_SIZE:
        raise ValueError(f"{label}: its vx_user_stage table has struct_size {t.struct_size}, "
                         f"smaller than any release's ({VX_USER_STAGE_V1_SIZE}); set it to "
                         "sizeof(vx_user_stage)")
    if t.name != NULL:  # the stage's own name says more than a repr
        label = f"{label} (name {t.name[:strnlen(t.name, 80)].decode('utf-8', 'replace')!r})"
    if records == "mbo" and vx_user_stage_mbo_batch(t) == NULL:
        raise ValueError(f"{label} has no on_mbo_batch (market-by-order input needs one)"
                         + ("; its on_batch serves transaction input" if t.on_batch != NULL else ""))
    if records != "mbo" and t.on_batch == NULL:
        raise ValueError(f"{label} has no on_batch (transaction input needs one)"
                         + ("; its on_mbo_batch serves market-by-order input"
                            if vx_user_stage_mbo_batch(t) != NULL else ""))
    if vx_user_stage_check(t) != VX_OK:  # the checks above cover it; kept as the C contract
        raise ValueError(f"{label}: bad vx_user_stage table")
    return t


# -- strategies of ABI v2 (csrc/velox/strategy.h), hosted on the book thread ----------------

STRATEGY_CAPSULE_NAME = "velox.strategy.v2"
STRATEGY_ABI_VERSION = VX_STRATEGY_ABI_VERSION
API_VERSION = VX_API_VERSION
#: the strategy's three logs, in vx_pipeline_strategy_log order
STRATEGY_LOGS = ("orders", "execs", "pnl")
REJECT_REASON_NAMES = {0: "none", 1: "order_id", 2: "side", 3: "type", 4: "tif", 5: "action",
                       6: "price", 7: "qty", 10: "unknown_instrument", 11: "unknown_order",
                       12: "duplicate_id", 13: "would_cross", 14: "risk", 15: "venue",
                       16: "limit"}


def strategy_capsule(stage):
    """The "velox.strategy.v2" capsule of `stage` (what its __velox_stage__() returns, or the
    stage itself when it is such a capsule), or None when `stage` is not a v2 strategy (a v1
    stage, or anything else: the caller's checks name it)."""
    cap = fetch_stage_capsule(stage)
    return cap if is_strategy_capsule(cap) else None


cdef tuple _strategy_args(object args):
    """stage_args of a v2 strategy as the host's "key=value" strings (api->arg): a dict of
    identifier keys; values as text (True/False as 1/0)."""
    if args is None:
        return ()
    if not isinstance(args, dict):
        raise TypeError(f"strategy_args must be a dict of parameters, got {args!r}")
    out = []
    for k, v in args.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise TypeError(f"strategy_args: {k!r} is not a parameter name")
        if isinstance(v, bool):
            v = int(v)
        text = str(v)
        if "\0" in text:
            raise ValueError(f"strategy_args: the value of {k!r} holds a NUL byte")
        out.append(f"{k}={text}".encode())
    return tuple(out)


@cython.final
cdef class BuiltinStage:
    """A user stage shipped with velox (C, csrc/velox/stage_builtin.c): "noop" (emits
    nothing: the cost of hosting a stage), "imbalance" (emits one order per batch against a
    lopsided top of book: buy at the ask when bid qty >= ratio x ask qty, sell at the bid in
    the mirror case), "echo" (one order per event), and the hostile "bad_count" (returns
    capacity + 1), "bad_records" (invalid orders), "fail_init" (init refuses). Pass it as
    ``Pipeline(stage=BuiltinStage("imbalance"))``. Its counters are plain fields written by
    the pipeline thread: read them after stop()."""
    cdef vx_builtin_stage *b
    cdef readonly str kind

    def __cinit__(self, kind="noop", *, ratio=2):
        if kind not in BUILTIN_STAGES:
            raise ValueError(f"kind must be one of {BUILTIN_STAGES}, got {kind!r}")
        cdef uint64_t r = _int_in("ratio", ratio, 1, _U32)
        self.b = <vx_builtin_stage *>malloc(sizeof(vx_builtin_stage))
        if self.b == NULL:
            raise MemoryError()
        cdef int k = BUILTIN_STAGES.index(kind)
        vx_builtin_stage_init(self.b, <vx_builtin_kind>k, <uint32_t>r)
        self.kind = kind

    def __dealloc__(self):
        free(self.b)

    def __velox_stage__(self):
        """The PyCapsule of the vx_user_stage table (valid while this object lives)."""
        return PyCapsule_New(&self.b.table, VX_STAGE_CAPSULE_NAME, NULL)

    @property
    def counts(self):
        """{"inits", "finishes", "batches", "events", "orders"} as the stage saw them."""
        s = &self.b.state
        return {"inits": s.inits, "finishes": s.finishes, "batches": s.batches,
                "events": s.events, "orders": s.orders}

    def __repr__(self):
        return f"BuiltinStage({self.kind!r})"
