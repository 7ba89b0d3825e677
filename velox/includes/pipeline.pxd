# C declarations of csrc/velox/pipeline.h (the native pipeline).
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from velox.includes.histogram cimport vx_histogram
from velox.includes.types cimport vx_mbo, vx_status

from velox.includes.ring cimport vx_ring, vx_ring_pop_n, vx_ring_size
from velox.includes.stage cimport vx_user_stage
from velox.includes.orderbook cimport vx_book
from velox.includes.mbo cimport vx_mbo_reject, vx_mbo_set
from velox.includes.backtest cimport vx_backtest
from velox.includes.venue cimport vx_sim_venue_config

# The parts of strategy.h, positions.h, orders.h and host.h that a pipeline hosting a v2
# strategy uses (pipeline.h includes host.h), declared once in their own .pxd files; cimported
# here so that `from velox.includes.pipeline cimport *` still reaches them.
from velox.includes.host cimport (VX_HOST_MIN_LOG_CAPACITY, vx_host, vx_host_config,
                                  vx_host_counters, vx_host_counters_read, vx_host_position,
                                  vx_host_working)
from velox.includes.orders cimport VX_REJECT_MAX
from velox.includes.positions cimport vx_risk_limits
from velox.includes.strategy cimport (VX_API_VERSION, VX_STRATEGY_ABI_VERSION,
                                      VX_STRATEGY_CAPSULE_NAME, VX_STRATEGY_MAX_GROUP,
                                      VX_STRATEGY_MAX_SENDS, VX_STRATEGY_MIN_SIZE, vx_position,
                                      vx_strategy, vx_working)

cdef extern from "velox/pipeline.h" nogil:
    enum:
        VX_STRATEGY_EDGE_FLAG
        VX_STRATEGY_EDGE_EVENT
        VX_STRATEGY_VENUE_LIVE
        VX_STRATEGY_VENUE_SIM
        VX_PIPELINE_LOG_ORDERS
        VX_PIPELINE_LOG_EXECS
        VX_PIPELINE_LOG_PNL
        VX_STAGE_INGRESS
        VX_STAGE_BOOK
        VX_STAGE_BUNDLER
        VX_STAGE_OUTPUT
        VX_STAGES
        VX_PIPELINE_MAX_THREADS
        VX_PIPELINE_MAX_USER_STAGES
        VX_PIPELINE_LATE_NS
        VX_CONSERVE_BOOK
        VX_CONSERVE_BUNDLER
        VX_CONSERVE_BUNDLES
        VX_CONSERVE_OUTPUT
        VX_CONSERVE_PYTHON
        VX_CONSERVE_EXTERNAL
        VX_CONSERVE_FILE
        VX_CONSERVE_TAP
        VX_PIPELINE_SINK_PYTHON
        VX_PIPELINE_SINK_EXTERNAL
        VX_PIPELINE_SINK_FILE
        VX_PIPELINE_SINK_TAP

    ctypedef enum vx_on_full:
        VX_ON_FULL_DROP
        VX_ON_FULL_BLOCK

    ctypedef enum vx_pipeline_records:
        VX_RECORDS_TXN
        VX_RECORDS_MBO

    ctypedef enum vx_wait:
        VX_WAIT_SPIN
        VX_WAIT_YIELD
        VX_WAIT_BACKOFF

    ctypedef enum vx_pipeline_hist:
        VX_HIST_INGRESS_TO_BOOK
        VX_HIST_BOOK_TO_BUNDLER
        VX_HIST_INGRESS_TO_BUNDLER
        VX_HIST_BUNDLE_TO_OUTPUT
        VX_HIST_END_TO_END
        VX_HIST_INGRESS_LATENESS
        VX_HIST_BOOK_BATCH
        VX_PIPELINE_HISTS

    enum: VX_PIPELINE_MAX_REFERENCE_LEVELS

    ctypedef struct vx_pipeline_reference:
        const int64_t *bid_px
        const int64_t *ask_px
        const uint64_t *bid_qty
        const uint64_t *ask_qty
        uint64_t rows
        uint32_t levels
        uint64_t first_row

    ctypedef struct vx_pipeline_config:
        double ticks_per_ns
        double rate_per_s
        uint64_t max_txns
        uint64_t seed
        uint32_t logical_timestamps
        uint32_t levels
        int64_t tick_size
        int64_t base_price
        double cancel_share
        uint32_t max_qty
        uint64_t bundle_timeout_ns
        vx_on_full on_full
        vx_wait wait
        uint32_t batch
        uint32_t txn_ring_capacity
        uint32_t bundle_ring_capacity
        uint32_t python_ring_capacity
        vx_ring *external_ring
        vx_ring *input_tap
        int output_fd
        uint32_t output_buffer_bundles
        uint32_t thread_count
        uint32_t stage_thread[4]
        int32_t thread_cpu[4]
        const vx_user_stage *user_stages[8]
        uint32_t user_stage_count
        uint32_t user_emit_capacity
        vx_ring *source_ring
        double replay_speed
        vx_pipeline_records records
        uint32_t mbo_instruments
        uint32_t mbo_max_orders
        uint32_t mbo_follow
        const vx_pipeline_reference *mbo_reference
        const vx_strategy *strategy
        uint32_t strategy_venue
        vx_sim_venue_config strategy_sim
        vx_host_config strategy_host
        vx_ring *venue_orders
        vx_ring *venue_execs
        uint32_t strategy_edges
        uint32_t strategy_log_ring_capacity
        uint64_t strategy_close_timeout_ns

    ctypedef struct vx_pipeline_stage_counters:
        uint64_t batches
        uint64_t emitted
        uint64_t rejected
        uint64_t bad_returns
        uint64_t init_failed

    ctypedef struct vx_pipeline_counters:
        uint64_t generated
        uint64_t applied
        uint64_t rejected
        uint64_t traded
        uint64_t cas_timeouts
        uint64_t recenters
        uint64_t recenters_deferred
        uint64_t reference_seeded
        uint64_t reference_rows_differing
        uint64_t reference_rows_checked
        uint64_t bundled
        uint64_t bundles
        uint64_t bundles_timed_out
        uint64_t output_bundles
        uint64_t output_txns
        uint64_t python_bundles
        uint64_t external_bundles
        uint64_t bytes_written
        uint64_t write_errors
        uint64_t drops_ingress
        uint64_t drops_book
        uint64_t drops_bundler
        uint64_t drops_bundler_txns
        uint64_t drops_python
        uint64_t drops_external
        uint64_t late
        uint64_t pin_failures
        uint64_t user_batches
        uint64_t user_emitted
        uint64_t user_rejected
        uint64_t user_bad_returns
        uint64_t user_init_failed
        vx_pipeline_stage_counters user[8]
        uint64_t tapped
        uint64_t drops_tap
        uint64_t source_errors
        int32_t source_status
        uint32_t records
        int32_t last_write_errno
        uint32_t finished
        uint64_t strategy_groups
        uint64_t strategy_idle_delivers
        uint64_t strategy_log_waits
        uint64_t strategy_logged[3]
        uint64_t strategy_closing
        uint64_t strategy_close_timed_out
        uint64_t venue_submitted
        uint64_t venue_refused_full
        uint64_t venue_polled
        uint64_t venue_ring_errors

    ctypedef struct vx_pipeline:
        pass

    void vx_pipeline_config_default(vx_pipeline_config *cfg)
    vx_status vx_pipeline_config_validate(const vx_pipeline_config *cfg, const char **field)
    vx_status vx_pipeline_create(const vx_pipeline_config *cfg, vx_pipeline **out)
    vx_status vx_pipeline_start(vx_pipeline *p)
    void vx_pipeline_stop(vx_pipeline *p)
    void vx_pipeline_abandon(vx_pipeline *p)
    vx_status vx_pipeline_seed_level(vx_pipeline *p, uint32_t instrument, int side,
                                     int64_t price, uint64_t qty)
    vx_status vx_pipeline_apply_before_start(vx_pipeline *p, const vx_mbo *event,
                                             vx_mbo_reject *reason)
    int vx_pipeline_finished(const vx_pipeline *p)
    vx_status vx_pipeline_join(vx_pipeline *p)
    void vx_pipeline_destroy(vx_pipeline *p)
    void vx_pipeline_read_counters(const vx_pipeline *p, vx_pipeline_counters *out)
    const vx_histogram *vx_pipeline_histogram(const vx_pipeline *p, vx_pipeline_hist which)
    vx_ring *vx_pipeline_python_ring(vx_pipeline *p)
    void vx_pipeline_close_source(vx_pipeline *p)
    const vx_book *vx_pipeline_book(const vx_pipeline *p)
    const vx_mbo_set *vx_pipeline_mbo(const vx_pipeline *p)
    vx_status vx_pipeline_view_enter(vx_pipeline *p) nogil
    void vx_pipeline_view_exit(vx_pipeline *p) nogil
    uint32_t vx_pipeline_check_conservation(const vx_pipeline_counters *c, uint32_t sinks)
    uint64_t vx_pipeline_memory_bytes(const vx_pipeline *p)
    uint64_t vx_pipeline_book_digest(const vx_pipeline *p)
    vx_ring *vx_pipeline_strategy_log(vx_pipeline *p, int which)
    vx_host *vx_pipeline_strategy_host(vx_pipeline *p)
    vx_backtest *vx_pipeline_strategy_backtest(vx_pipeline *p)
    vx_status vx_pipeline_strategy_check(const vx_pipeline *p, const char **why)
