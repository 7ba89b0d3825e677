# C declarations of csrc/velox/orderbook.h (the price-ladder order book) and
# csrc/velox/backoff.h (bounded exponential backoff). The header is the contract: level
# operations are multi-writer safe, apply/apply_many are single-writer, recenter/destroy
# are exclusive, readers may run anywhere at any time.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from velox.includes.types cimport vx_status, vx_txn

cdef extern from "velox/backoff.h" nogil:
    enum:
        VX_BACKOFF_SPIN_LIMIT
        VX_BACKOFF_YIELD_LIMIT
    ctypedef struct vx_backoff:
        uint32_t step
    void vx_backoff_init(vx_backoff *b)
    void vx_backoff_reset(vx_backoff *b)
    void vx_backoff_spin(vx_backoff *b)
    void vx_backoff_snooze(vx_backoff *b)
    bint vx_backoff_is_completed(const vx_backoff *b)

cdef extern from "velox/orderbook.h" nogil:
    enum:
        VX_BOOK_DEFAULT_LEVELS
        VX_BOOK_MIN_LEVELS
        VX_BOOK_MAX_LEVELS
        VX_BOOK_CAS_ATTEMPTS
    uint64_t VX_BOOK_MAX_QTY

    ctypedef struct vx_book:
        pass

    ctypedef enum vx_book_reject:
        VX_BOOK_REJECT_NONE
        VX_REJECT_INVALID
        VX_REJECT_OFF_GRID
        VX_REJECT_OUT_OF_WINDOW
        VX_REJECT_UNDERFLOW
        VX_REJECT_OVERFLOW
        VX_REJECT_TIMEOUT

    ctypedef struct vx_apply_result:
        vx_status status
        vx_book_reject reason
        uint32_t traded_qty
        uint32_t rested_qty
        uint32_t cancelled_qty
        uint32_t levels_matched

    ctypedef struct vx_apply_batch_result:
        uint64_t applied
        uint64_t rejected
        uint64_t traded_qty
        uint64_t cas_timeouts

    ctypedef struct vx_set_batch_result:
        uint64_t applied
        uint64_t rejected
        uint64_t first_rejected

    ctypedef struct vx_book_counters:
        uint64_t applied
        uint64_t rejected
        uint64_t traded_qty
        uint64_t out_of_window
        uint64_t cas_retries
        uint64_t cas_timeouts
        uint64_t recenters

    ctypedef struct vx_recenter_result:
        uint32_t dropped_levels[2]
        uint64_t dropped_qty[2]

    vx_status vx_book_create(uint32_t levels, int64_t tick_size, int64_t base_price, vx_book **out)
    void vx_book_destroy(vx_book *book)
    uint32_t vx_book_levels(const vx_book *book)
    int64_t vx_book_tick_size(const vx_book *book)
    int64_t vx_book_base_price(const vx_book *book)
    vx_status vx_book_locate(const vx_book *book, int64_t price, uint32_t *index)

    vx_status vx_book_add(vx_book *book, int side, int64_t price, uint64_t qty)
    vx_status vx_book_reduce(vx_book *book, int side, int64_t price, uint64_t qty)
    vx_status vx_book_set(vx_book *book, int side, int64_t price, uint64_t qty)
    void vx_book_set_many(vx_book *book, const uint8_t *sides, const int64_t *prices,
                          const uint64_t *qtys, size_t n, vx_set_batch_result *out)
    vx_status vx_book_qty(const vx_book *book, int side, int64_t price, uint64_t *qty)

    vx_status vx_book_best(const vx_book *book, int side, int64_t *price, uint64_t *qty)
    vx_status vx_book_best_bid(const vx_book *book, int64_t *price, uint64_t *qty)
    vx_status vx_book_best_ask(const vx_book *book, int64_t *price, uint64_t *qty)
    vx_status vx_book_spread(const vx_book *book, int64_t *spread)
    vx_status vx_book_mid(const vx_book *book, double *mid)
    size_t vx_book_depth(const vx_book *book, int side, size_t n, int64_t *prices, uint64_t *qtys)

    vx_status vx_book_apply(vx_book *book, const vx_txn *txn, vx_apply_result *out)
    void vx_book_apply_many(vx_book *book, const vx_txn *txns, size_t n, vx_apply_batch_result *out)
    vx_status vx_book_recenter(vx_book *book, int64_t new_base, vx_recenter_result *out)
    void vx_book_counters_read(const vx_book *book, vx_book_counters *out)
    vx_status vx_book_verify_invariants(const vx_book *book, const char **why)
