# C declarations of csrc/velox/backtest.h (the deterministic one-thread backtest loop).
from libc.stdint cimport int64_t, uint32_t, uint64_t

from velox.includes.host cimport vx_host, vx_host_config
from velox.includes.mbo cimport vx_mbo_set
from velox.includes.strategy cimport vx_strategy
from velox.includes.types cimport vx_mbo, vx_status
from velox.includes.venue cimport vx_sim_venue, vx_sim_venue_config

cdef extern from "velox/backtest.h" nogil:
    enum:
        VX_BACKTEST_EDGE_FLAG
        VX_BACKTEST_EDGE_EVENT

    ctypedef struct vx_backtest_config:
        uint32_t instruments
        uint32_t levels
        int64_t tick
        uint32_t max_orders
        uint32_t edges
        vx_sim_venue_config venue
        vx_host_config host

    ctypedef struct vx_backtest_counters:
        uint64_t events
        uint64_t applied
        uint64_t book_rejects
        uint64_t book_rejects_by_reason[8]   # VX_MBO_REJECT_COUNT
        uint64_t groups
        uint64_t ts_regressions
        uint64_t last_ts
        uint64_t finished

    ctypedef struct vx_backtest:
        pass

    vx_status vx_backtest_create(const vx_backtest_config *cfg, const vx_strategy *strategy,
                                 vx_backtest **out, const char **why)
    void vx_backtest_destroy(vx_backtest *bt)
    vx_mbo_set *vx_backtest_books(vx_backtest *bt)
    const vx_mbo_set *vx_backtest_books_view(const vx_backtest *bt)
    vx_host *vx_backtest_host(vx_backtest *bt)
    vx_sim_venue *vx_backtest_venue(vx_backtest *bt)
    vx_status vx_backtest_feed(vx_backtest *bt, const vx_mbo *events, size_t n, size_t *consumed)
    vx_status vx_backtest_finish(vx_backtest *bt, const char **why)
    void vx_backtest_counters_read(const vx_backtest *bt, vx_backtest_counters *out)
