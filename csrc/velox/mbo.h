/*
 * velox/mbo.h — a market-by-order (L3) book: orders by id, a FIFO queue per price level,
 * aggregate level quantities on a price ladder like vx_book's (window, tick, recenter).
 *
 * DRAFT CONTRACT (session 2): the signatures below are what other modules (feeds, pipeline)
 * code against; mbo.c implements them. Extend, do not change, what is here.
 *
 * Layout
 *   - An order table allocated at create for `max_orders` orders (id → slot by an open-
 *     addressing hash, FIFO links as slot indices); vx_mbo_reserve grows it (explicit, never
 *     on the hot path). A full table rejects ADD with VX_REJECT_FULL (counted), never allocates.
 *   - Per side a ladder of `levels` price levels (power of two), level i = base + i * tick;
 *     each level keeps its aggregate quantity, order count and FIFO head/tail.
 *   - Orders priced outside the window are kept in the order table (counted in
 *     out_of_window_orders) and reach the ladder when a recenter brings their price in.
 *   - Seeded quantity (vx_mbo_seed_level): resting lots with no order identity, from an L2
 *     snapshot. It sits ahead of every identified order at that level.
 *
 * Partial data: DELETE / CANCEL / EXECUTE of an order the book does not know reduce the
 *   seeded quantity at (side, price) (clamped at zero) and count unknown_orders; they are not
 *   errors. REPLACE of an unknown order does the same for the old order, then adds the new one.
 *
 * Concurrency: SINGLE WRITER (apply, apply_many, seed_level, clear, reserve, recenter);
 *   readers (best, qty, depth, order, queue_position, counters) on any thread at any time:
 *   level aggregates and the best hints are atomics published with release by the writer and
 *   read with acquire; a multi-field answer is a recent view, not a snapshot. order() and
 *   queue_position() from a thread other than the writer's are validated by a per-slot
 *   sequence (seqlock): they retry a bounded number of times, then report VX_TIMEOUT.
 *   reserve, recenter and destroy are EXCLUSIVE (no other call at all).
 */
#ifndef VELOX_MBO_H
#define VELOX_MBO_H

#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

typedef struct vx_mbo_book vx_mbo_book; /* opaque; see mbo.c */

typedef enum vx_mbo_reject {
    VX_MBO_REJECT_NONE = 0,
    VX_MBO_REJECT_INVALID = 1,   /* vx_mbo_validate failed, qty 0 on ADD, etc.       VX_EINVAL */
    VX_MBO_REJECT_OFF_GRID = 2,  /* price not base + k * tick                        VX_EINVAL */
    VX_MBO_REJECT_DUPLICATE = 3, /* ADD / REPLACE to an id that already rests         VX_ESTATE */
    VX_MBO_REJECT_FULL = 4,      /* order table full (vx_mbo_reserve)                VX_FULL   */
    VX_MBO_REJECT_OVERFLOW = 5,  /* a level or order quantity would overflow          VX_ERANGE */
    VX_MBO_REJECT_INSTRUMENT = 6, /* event for another instrument (see create)        VX_EINVAL */
    VX_MBO_REJECT_COUNT = 7
} vx_mbo_reject;

/* Monotonic counters (relaxed reads from any thread). by_action[a] counts applied events of
 * action a (index = enum vx_mbo_action; [0] unused). */
typedef struct vx_mbo_counters {
    uint64_t applied;
    uint64_t rejected;
    uint64_t by_action[VX_MBO_ACTION_MAX + 1];
    uint64_t rejected_by_reason[VX_MBO_REJECT_COUNT];  /* index = vx_mbo_reject */
    uint64_t unknown_orders;         /* DELETE/CANCEL/EXECUTE/REPLACE of an unknown id */
    uint64_t out_of_window_orders;   /* live orders now outside the ladder (a gauge) */
    uint64_t recenters;
    uint64_t traded_qty;             /* EXECUTE lots */
} vx_mbo_counters;

typedef struct vx_mbo_order_info {
    uint64_t order_id;
    int64_t price;
    uint32_t qty;
    uint8_t side;
    uint8_t in_window;   /* 1 when the price is on the ladder */
    uint64_t ts;         /* ts of the event that placed it (ADD or REPLACE) */
} vx_mbo_order_info;

/* levels: power of two in [2, 1 << 20]; tick > 0; max_orders in [1, 1 << 30];
 * instrument: events whose instrument differs are rejected, unless instrument == UINT32_MAX
 * (accept any). VX_EINVAL / VX_ENOMEM; *out set only on VX_OK. */
vx_status vx_mbo_create(uint32_t levels, int64_t tick, int64_t base, uint32_t max_orders,
                        uint32_t instrument, vx_mbo_book **out);
void vx_mbo_destroy(vx_mbo_book *book);
vx_status vx_mbo_reserve(vx_mbo_book *book, uint32_t max_orders); /* EXCLUSIVE; grows only */

uint32_t vx_mbo_levels(const vx_mbo_book *book);
int64_t vx_mbo_tick(const vx_mbo_book *book);
int64_t vx_mbo_base(const vx_mbo_book *book);
uint32_t vx_mbo_capacity(const vx_mbo_book *book);  /* max_orders */
uint32_t vx_mbo_live_orders(const vx_mbo_book *book);

/* One event (SINGLE WRITER). Returns VX_OK or the reject's status; *reason may be NULL. */
vx_status vx_mbo_apply(vx_mbo_book *book, const vx_mbo *event, vx_mbo_reject *reason);

/* apply() for events[0..n) in order; never stops early; rejects are counted. No Python, no
 * allocation: callers may drop the GIL. *applied / *rejected (may be NULL) count this call. */
void vx_mbo_apply_many(vx_mbo_book *book, const vx_mbo *events, size_t n,
                       uint64_t *applied, uint64_t *rejected);

/* Resting quantity with no identity at (side, price), replacing what was seeded there
 * (SINGLE WRITER). Price rules as apply. */
vx_status vx_mbo_seed_level(vx_mbo_book *book, int side, int64_t price, uint64_t qty);

/* Readers. Quantities are level aggregates (identified orders + seeded lots). */
vx_status vx_mbo_best(const vx_mbo_book *book, int side, int64_t *price, uint64_t *qty);
vx_status vx_mbo_qty(const vx_mbo_book *book, int side, int64_t price, uint64_t *qty);
size_t vx_mbo_depth(const vx_mbo_book *book, int side, size_t n, int64_t *prices,
                    uint64_t *qtys, uint32_t *order_counts);
vx_status vx_mbo_order(const vx_mbo_book *book, uint64_t order_id, vx_mbo_order_info *out);
/* Lots ahead of order_id in its level's queue (seeded lots included). VX_ERANGE when the
 * order is outside the window (no ladder queue), VX_EINVAL when unknown. */
vx_status vx_mbo_queue_position(const vx_mbo_book *book, uint64_t order_id, uint64_t *ahead);

/* Moves the window so level 0 is new_base (EXCLUSIVE). Orders keep their prices: those that
 * leave the window stay in the table (out of window), those that enter it join their level's
 * queue in their original time priority. */
vx_status vx_mbo_recenter(vx_mbo_book *book, int64_t new_base);

void vx_mbo_counters_read(const vx_mbo_book *book, vx_mbo_counters *out);

/* A digest of the visible state (levels, queues, orders), equal for equal books: for
 * determinism tests. */
uint64_t vx_mbo_digest(const vx_mbo_book *book);

/* With the writer quiescent: every level's aggregate equals its orders + seeded lots, FIFO
 * links are consistent, best hints are exact. VX_OK or VX_ESTATE with *why. */
vx_status vx_mbo_verify_invariants(const vx_mbo_book *book, const char **why);

#endif /* VELOX_MBO_H */
