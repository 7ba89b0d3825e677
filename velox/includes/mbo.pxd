# C declarations of csrc/velox/mbo.h (the market-by-order book). The header is the contract:
# apply/apply_many/seed_level/clear are single-writer, reserve/recenter/destroy exclusive,
# readers (best, qty, depth, order, queue_position, counters) any thread at any time.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from velox.includes.types cimport vx_mbo, vx_status

cdef extern from "velox/mbo.h" nogil:
    enum:
        VX_MBO_DEFAULT_LEVELS
        VX_MBO_MAX_LEVELS
        VX_MBO_MAX_ORDERS
        VX_MBO_MAX_INSTRUMENTS
        VX_MBO_READ_ATTEMPTS
        VX_MBO_SLOT_BYTES
        VX_MBO_WINDOW_ENTRY_BYTES
        VX_MBO_MIN_WINDOW
        VX_MBO_MAX_WINDOW
    uint64_t VX_MBO_MAX_SEED

    ctypedef struct vx_mbo_book:
        pass
    ctypedef struct vx_mbo_set:
        pass

    ctypedef enum vx_mbo_reject:
        VX_MBO_REJECT_NONE
        VX_MBO_REJECT_INVALID
        VX_MBO_REJECT_OFF_GRID
        VX_MBO_REJECT_DUPLICATE
        VX_MBO_REJECT_FULL
        VX_MBO_REJECT_OVERFLOW
        VX_MBO_REJECT_INSTRUMENT
        VX_MBO_REJECT_EXCEEDS
        VX_MBO_REJECT_COUNT

    ctypedef struct vx_mbo_counters:
        uint64_t applied
        uint64_t rejected
        uint64_t by_action[11]
        uint64_t rejected_by_reason[8]
        uint64_t unknown_orders
        uint64_t out_of_window_orders
        uint64_t recenters
        uint64_t traded_qty
        uint64_t dropped_seeded_qty
        uint64_t read_retries
        uint64_t index_rehashes
        uint64_t id_window_hits
        uint64_t id_hash_lookups
        uint64_t id_window_slides

    ctypedef struct vx_mbo_order_info:
        uint64_t order_id
        int64_t price
        uint32_t qty
        uint8_t side
        uint8_t in_window
        uint64_t ts

    vx_status vx_mbo_create(uint32_t levels, int64_t tick, int64_t base, uint32_t max_orders,
                            uint32_t instrument, vx_mbo_book **out)
    void vx_mbo_destroy(vx_mbo_book *book)
    vx_status vx_mbo_reserve(vx_mbo_book *book, uint32_t max_orders)
    uint32_t vx_mbo_levels(const vx_mbo_book *book)
    int64_t vx_mbo_tick(const vx_mbo_book *book)
    int64_t vx_mbo_base(const vx_mbo_book *book)
    uint32_t vx_mbo_capacity(const vx_mbo_book *book)
    uint32_t vx_mbo_live_orders(const vx_mbo_book *book)
    uint32_t vx_mbo_instrument(const vx_mbo_book *book)
    bint vx_mbo_placed(const vx_mbo_book *book)
    size_t vx_mbo_memory_bytes(const vx_mbo_book *book)

    vx_status vx_mbo_apply(vx_mbo_book *book, const vx_mbo *event, vx_mbo_reject *reason)
    void vx_mbo_apply_many(vx_mbo_book *book, const vx_mbo *events, size_t n,
                           uint64_t *applied, uint64_t *rejected)
    vx_status vx_mbo_seed_level(vx_mbo_book *book, int side, int64_t price, uint64_t qty)
    void vx_mbo_clear(vx_mbo_book *book)
    vx_status vx_mbo_locate(const vx_mbo_book *book, int64_t price, uint32_t *index)

    vx_status vx_mbo_best(const vx_mbo_book *book, int side, int64_t *price, uint64_t *qty)
    vx_status vx_mbo_qty(const vx_mbo_book *book, int side, int64_t price, uint64_t *qty)
    size_t vx_mbo_depth(const vx_mbo_book *book, int side, size_t n, int64_t *prices,
                        uint64_t *qtys, uint32_t *order_counts)
    vx_status vx_mbo_order(const vx_mbo_book *book, uint64_t order_id, vx_mbo_order_info *out)
    vx_status vx_mbo_queue_position(const vx_mbo_book *book, uint64_t order_id, uint64_t *ahead)
    vx_status vx_mbo_recenter(vx_mbo_book *book, int64_t new_base)
    uint32_t vx_mbo_follow(vx_mbo_book *book, uint64_t budget, uint64_t *work)
    bint vx_mbo_follow_pending(const vx_mbo_book *book)
    void vx_mbo_counters_read(const vx_mbo_book *book, vx_mbo_counters *out)
    uint64_t vx_mbo_digest(const vx_mbo_book *book)
    vx_status vx_mbo_index_reseed(vx_mbo_book *book, uint64_t multiplier)
    uint64_t vx_mbo_index_max_distance(const vx_mbo_book *book)
    vx_status vx_mbo_id_window(vx_mbo_book *book, uint64_t ids)
    uint64_t vx_mbo_id_window_size(const vx_mbo_book *book)
    vx_status vx_mbo_verify_invariants(const vx_mbo_book *book, const char **why)

    vx_status vx_mbo_set_create(uint32_t instruments, uint32_t levels, int64_t tick,
                                uint32_t max_orders, vx_mbo_set **out)
    void vx_mbo_set_destroy(vx_mbo_set *set)
    uint32_t vx_mbo_set_instruments(const vx_mbo_set *set)
    vx_mbo_book *vx_mbo_set_book(vx_mbo_set *set, uint32_t instrument)
    size_t vx_mbo_set_memory_bytes(const vx_mbo_set *set)
    const vx_mbo_book *vx_mbo_set_reader(const vx_mbo_set *set, uint32_t instrument)
    vx_status vx_mbo_set_apply(vx_mbo_set *set, const vx_mbo *event, vx_mbo_reject *reason)
    void vx_mbo_set_apply_many(vx_mbo_set *set, const vx_mbo *events, size_t n,
                               uint64_t *applied, uint64_t *rejected)

    enum: VX_MBO_PREFETCH_BLOCK
    ctypedef struct vx_mbo_prefetch:
        uint64_t hints[16]
    bint vx_mbo_set_prefetch_wanted(const vx_mbo_set *set)
    void vx_mbo_set_prefetch(const vx_mbo_set *set, vx_mbo_prefetch *pf, const vx_mbo *events,
                             size_t i, size_t n)
