# Cython interface of velox._pipeline: downstream Cython can cimport NativePipeline and reach
# the C pipeline (p.p) without Python, e.g. to read counters nogil:
#     from velox._pipeline cimport NativePipeline
#     from velox.includes.pipeline cimport vx_pipeline_read_counters, vx_pipeline_counters
cimport cython

from libc.stdint cimport uint64_t

from velox.includes.mbo cimport vx_mbo_book, vx_mbo_order_info
from velox.includes.pipeline cimport vx_host, vx_pipeline, vx_pipeline_config, vx_pipeline_reference

cdef class NativePipeline:
    cdef vx_pipeline *p
    cdef vx_pipeline_config cfg
    cdef bint started
    cdef bint joined
    cdef object bundle_dtype
    cdef readonly object external_ring  # the SpscRing/SharedRing given as external_ring, or None
    cdef bint external_busy             # we hold external_ring._producer_busy (start..join)
    cdef cython.pymutex _join_lock      # serialises vx_pipeline_join (free-threaded builds)
    cdef readonly object user_stage     # the object given as user_stage (kept alive), or None
    cdef readonly tuple user_stages     # the stages it names, in order (() for none)
    cdef readonly tuple stage_capsules  # each stage's "velox.stage.v1" capsule, kept until the
                                        # C pipeline is destroyed (it may own the table)
    cdef readonly object source_ring    # the SpscRing/SharedRing of TXN_DTYPE given as source_ring, or None
    cdef bint source_busy               # we hold source_ring._consumer_busy (start..join)
    cdef readonly object input_tap      # the SpscRing given as input_tap, or None
    cdef bint tap_busy                  # we hold input_tap._producer_busy (start..join)
    cdef readonly str records           # "txn" or "mbo"
    cdef vx_pipeline_reference reference  # cfg.mbo_reference points here (mbo_reference=)
    cdef readonly tuple reference_arrays  # the arrays it points into (kept alive), or None
    cdef readonly object strategy         # the v2 strategy object (kept alive), or None
    cdef readonly object strategy_capsule # its "velox.strategy.v2" capsule (held until destroy)
    cdef readonly tuple strategy_args     # the "key=value" bytes the host copied, or ()
    cdef readonly object venue_orders     # the live venue's rings (SpscRing/SharedRing), or None
    cdef readonly object venue_execs
    cdef bint venue_busy                  # we hold their busy marks (start..join)

    cdef int _release_external(self) except -1
    cdef const vx_mbo_book *_mbo_book(self, object instrument) except NULL
    cdef int _view_enter(self, str what) except -1
    cdef int _lookup(self, str what, object order_id, object instrument,
                     vx_mbo_order_info *info, uint64_t *ahead) except -1
    cdef int _release_rings_locked(self) except -1
    cdef int _claim_ring(self, object ring, bint producer, str what) except -1
    cdef int _release_ring(self, object ring, bint producer) except -1
    cdef int _create(self, object stage_thread, object thread_cpu) except -1
    cdef const char **_set_strategy(self, strategy, venue_orders, venue_execs, strategy_args,
                                    strategy_edges, log_capacity, pnl_interval_ns, max_loss,
                                    max_position, max_order_qty, max_working,
                                    log_ring_capacity, close_timeout_ns, sim_venue) except? NULL
    cdef int _set_sim_venue(self, dict sim) except -1
    cdef vx_host *_host(self, str what) except NULL
