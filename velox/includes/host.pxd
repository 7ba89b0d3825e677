# C declarations of csrc/velox/host.h (runs one ABI v2 strategy against books and a venue).
from libc.stdint cimport int64_t, uint32_t, uint64_t

from velox.includes.mbo cimport vx_mbo_set
from velox.includes.orders cimport vx_exec, vx_order
from velox.includes.positions cimport vx_pnl_point, vx_risk_limits
from velox.includes.strategy cimport vx_position, vx_strategy, vx_working
from velox.includes.types cimport vx_mbo, vx_status
from velox.includes.venue cimport vx_venue

cdef extern from "velox/host.h" nogil:
    enum:
        VX_HOST_MIN_LOG_CAPACITY

    ctypedef struct vx_host:
        pass

    ctypedef struct vx_host_config:
        uint32_t instruments
        uint32_t log_capacity
        uint64_t pnl_interval_ns
        vx_risk_limits risk
        const char *const *args

    ctypedef struct vx_host_counters:
        uint64_t market_calls
        uint64_t exec_calls
        uint64_t timer_calls
        uint64_t sent
        uint64_t refused
        uint64_t refused_by_reason[17]   # VX_REJECT_MAX + 1
        uint64_t reports
        uint64_t bad_reports
        uint64_t log_lost
        uint64_t killed
        uint64_t init_failed
        uint64_t refused_unreported

    vx_status vx_host_create(const vx_host_config *cfg, const vx_strategy *strategy,
                             const vx_mbo_set *books, vx_venue venue, vx_host **out,
                             const char **why)
    void vx_host_destroy(vx_host *h)
    vx_status vx_host_init(vx_host *h, uint64_t now)
    void vx_host_market(vx_host *h, const vx_mbo *events, uint32_t n, uint64_t now)
    uint64_t vx_host_deliver(vx_host *h, uint64_t now)
    uint64_t vx_host_next_due(const vx_host *h)
    void vx_host_finish(vx_host *h, uint64_t now)
    void vx_host_kill(vx_host *h, uint64_t now)
    size_t vx_host_callback_room(const vx_host *h)
    size_t vx_host_log_room(const vx_host *h)
    size_t vx_host_take_orders(vx_host *h, vx_order *out, size_t cap)
    size_t vx_host_take_execs(vx_host *h, vx_exec *out, size_t cap)
    size_t vx_host_take_pnl(vx_host *h, vx_pnl_point *out, size_t cap)
    void vx_host_counters_read(const vx_host *h, vx_host_counters *out)
    vx_status vx_host_position(const vx_host *h, uint32_t instrument, vx_position *out)
    size_t vx_host_working(const vx_host *h, vx_working *out, size_t cap)
    vx_status vx_host_check(const vx_host *h, const char **why)
