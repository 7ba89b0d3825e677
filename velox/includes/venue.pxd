# C declarations of csrc/velox/venue.h (the venue seam and the simulated venue).
from libc.stdint cimport int64_t, uint32_t, uint64_t

from velox.includes.mbo cimport vx_mbo_set
from velox.includes.orders cimport vx_exec, vx_order
from velox.includes.types cimport vx_mbo, vx_status

cdef extern from "velox/venue.h" nogil:
    ctypedef struct vx_venue:
        void *self
        vx_status (*submit)(void *self, const vx_order *order, uint64_t now)
        size_t (*poll)(void *self, vx_exec *out, size_t cap, uint64_t now)
        uint64_t (*next_due)(const void *self)
        vx_status (*queue_ahead)(const void *self, uint64_t order_id, uint64_t *ahead)

    ctypedef struct vx_fee:
        int64_t per_lot
        int64_t rate

    ctypedef struct vx_sim_venue_config:
        uint32_t instruments
        uint32_t max_orders
        uint32_t max_in_flight
        uint32_t queue_model
        uint64_t entry_latency_ns
        uint64_t entry_jitter_ns
        uint64_t response_latency_ns
        uint64_t response_jitter_ns
        uint64_t seed
        vx_fee maker
        vx_fee taker
        uint32_t queue_power
        uint32_t reserved

    enum:
        VX_QUEUE_FIFO
        VX_QUEUE_RISK_AVERSE
        VX_QUEUE_PROB
        VX_QUEUE_MAX_POWER

    ctypedef struct vx_sim_venue:
        pass

    ctypedef struct vx_sim_venue_counters:
        uint64_t orders
        uint64_t acks
        uint64_t rejects
        uint64_t fills
        uint64_t partial_fills
        uint64_t canceled
        uint64_t modified
        uint64_t expired
        uint64_t maker_fills
        uint64_t taker_fills
        uint64_t traded_lots
        uint64_t queue_events
        uint64_t reports_dropped

    vx_status vx_sim_venue_create(const vx_sim_venue_config *cfg, const vx_mbo_set *books,
                                  vx_sim_venue **out)
    void vx_sim_venue_destroy(vx_sim_venue *v)
    vx_venue vx_sim_venue_seam(vx_sim_venue *v)
    void vx_sim_venue_run_until(vx_sim_venue *v, uint64_t t)
    void vx_sim_venue_before_event(vx_sim_venue *v, const vx_mbo *e)
    void vx_sim_venue_after_event(vx_sim_venue *v, const vx_mbo *e)
    vx_status vx_sim_venue_queue_ahead(const vx_sim_venue *v, uint64_t order_id, uint64_t *ahead)
    void vx_sim_venue_close(vx_sim_venue *v, uint64_t t)
    void vx_sim_venue_counters_read(const vx_sim_venue *v, vx_sim_venue_counters *out)
    int64_t vx_fee_of(const vx_fee *fee, int64_t price, uint32_t lots)
