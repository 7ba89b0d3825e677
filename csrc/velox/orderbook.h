/*
 * velox/orderbook.h — a price-ladder order book: per-level atomic quantities, best bid/ask
 * kept current by compare-and-swap, level-by-level matching for apply().
 *
 * Layout
 *   Two sides (VX_BUY = bids, VX_SELL = asks), each a ladder of `levels` price levels
 *   (a power of two in [2, VX_BOOK_MAX_LEVELS], default 1024). Level i has the fixed-point
 *   price base_price + i * tick_size (VX_PRICE_SCALE units, see types.h). Each level's
 *   quantity is an atomic uint64 in [0, VX_BOOK_MAX_QTY]. All storage is allocated once by
 *   vx_book_create; nothing allocates afterwards.
 *
 * Prices
 *   A price maps to a level when (price - base_price) is a non-negative multiple of tick_size
 *   below levels * tick_size. Off the tick grid → VX_EINVAL. On the grid but outside the window
 *   → VX_ERANGE, counted in counters.out_of_window. vx_book_recenter() moves the window.
 *
 * Concurrency model (who may call what at the same time)
 *   - Level operations vx_book_add / vx_book_reduce / vx_book_set are safe from any number of
 *     threads at once, on the same or different levels: each is one atomic read-modify-write of
 *     the level (add/reduce: weak CAS, release on success, relaxed on failure, at most
 *     VX_BOOK_CAS_ATTEMPTS attempts with vx_backoff_spin between them; set: one exchange, which
 *     cannot fail). Concurrent adds and reduces are exactly conserved: the final quantity is
 *     the sum of every call that returned VX_OK.
 *   - Best bid/ask: each side keeps a hint (the best level), changed only by CAS/exchange.
 *     A writer whose update empties a level or makes an empty level non-empty re-settles the
 *     hint (scan to the next non-empty level, CAS, re-scan to verify, bounded). Once writers
 *     are quiescent the hint is exactly the best level, unless a settle timed out (counted in
 *     cas_timeouts; the hint is then parked at the top of the ladder, readers stay correct
 *     but slower until the next settle on that side).
 *   - Readers (vx_book_qty, _best, _spread, _mid, _depth, _counters_read) may run on any
 *     thread at any time, concurrently with writers. Each level read is atomic; a multi-level
 *     answer (depth, spread, a best level and its quantity) is a recent view, not a snapshot.
 *     A reader never returns an empty level as the best one.
 *   - vx_book_apply / vx_book_apply_many touch several levels (matching), so they are
 *     SINGLE-WRITER: at most one thread applies at a time, and no level operation may run
 *     concurrently with it (readers may). The pipeline's book stage is that one writer.
 *     Because nothing else writes meanwhile, apply publishes levels and hints with plain
 *     release stores (no CAS, no locked instruction) and never times out; whatever hands the
 *     writer role between threads (join, ring hand-off) must order the two.
 *   - vx_book_recenter and vx_book_destroy need exclusive access: no other call at all.
 *   - Level operations never stop the book from being crossed (an L2 feed writes what it is
 *     told); apply never crosses it: a marketable order trades first and only its remainder
 *     rests.
 *
 * Errors are vx_status codes; a call that fails leaves the book unchanged.
 */
#ifndef VELOX_ORDERBOOK_H
#define VELOX_ORDERBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

enum {
    VX_BOOK_DEFAULT_LEVELS = 1024,
    VX_BOOK_MIN_LEVELS = 2,
    VX_BOOK_MAX_LEVELS = 1 << 20,
    VX_BOOK_CAS_ATTEMPTS = 100 /* per level update or best-hint settle, then VX_TIMEOUT */
};

/* Largest quantity a level holds: a level above this would mean a wrapped underflow. */
#define VX_BOOK_MAX_QTY ((uint64_t)INT64_MAX)

typedef struct vx_book vx_book; /* opaque; see orderbook.c */

/* Why apply() rejected a transaction (VX_BOOK_REJECT_NONE when it was applied). The
 * "none" value is not VX_REJECT_NONE: orders.h names its order refusals VX_REJECT_* and a
 * file may include both. */
typedef enum vx_book_reject {
    VX_BOOK_REJECT_NONE = 0,
    VX_REJECT_INVALID = 1,       /* bad side/kind (vx_txn_validate) or qty == 0   → VX_EINVAL */
    VX_REJECT_OFF_GRID = 2,      /* price not base + k * tick                      → VX_EINVAL */
    VX_REJECT_OUT_OF_WINDOW = 3, /* price outside the ladder                       → VX_ERANGE */
    VX_REJECT_UNDERFLOW = 4,     /* CANCEL of more than rests at that level        → VX_ERANGE */
    VX_REJECT_OVERFLOW = 5,      /* the level would exceed VX_BOOK_MAX_QTY         → VX_ERANGE */
    VX_REJECT_TIMEOUT = 6        /* a CAS loop gave up (contention)                → VX_TIMEOUT */
} vx_book_reject;

/* What one apply() did. */
typedef struct vx_apply_result {
    vx_status status;        /* VX_OK if applied; otherwise see reason */
    vx_book_reject reason;
    uint32_t traded_qty;     /* NEW: lots matched against the opposite side */
    uint32_t rested_qty;     /* NEW: lots added to the transaction's own side */
    uint32_t cancelled_qty;  /* CANCEL: lots removed */
    uint32_t levels_matched; /* NEW: opposite levels traded against */
} vx_apply_result;

/* What one apply_many() did (sums over the batch). */
typedef struct vx_apply_batch_result {
    uint64_t applied;      /* transactions with status VX_OK */
    uint64_t rejected;     /* all others (each also counted in vx_book_counters) */
    uint64_t traded_qty;   /* lots matched */
    uint64_t cas_timeouts; /* rejected because a CAS loop gave up (0 today: apply has none) */
} vx_apply_batch_result;

/* What one set_many() did. */
typedef struct vx_set_batch_result {
    uint64_t applied;        /* updates written */
    uint64_t rejected;       /* updates refused: bad side, off the grid, outside the window,
                              * qty > VX_BOOK_MAX_QTY (out-of-window ones also in counters) */
    uint64_t first_rejected; /* index of the first refused update, or n if none was */
} vx_set_batch_result;

/* Monotonic counters since creation; readable from any thread at any time (relaxed). */
typedef struct vx_book_counters {
    uint64_t applied;       /* apply: accepted transactions */
    uint64_t rejected;      /* apply: rejected transactions (any reason) */
    uint64_t traded_qty;    /* apply: lots matched */
    uint64_t out_of_window; /* any call: price on the grid but outside the ladder */
    uint64_t cas_retries;   /* failed CAS attempts (contention), level updates and settles */
    uint64_t cas_timeouts;  /* CAS loops that gave up after VX_BOOK_CAS_ATTEMPTS */
    uint64_t recenters;     /* successful vx_book_recenter calls */
} vx_book_counters;

/* What recenter() dropped: levels that fell out of the window, per side (index: vx_side). */
typedef struct vx_recenter_result {
    uint32_t dropped_levels[2]; /* non-empty levels discarded */
    uint64_t dropped_qty[2];    /* their total quantity */
} vx_recenter_result;

/* Allocates a book. levels: power of two in [VX_BOOK_MIN_LEVELS, VX_BOOK_MAX_LEVELS];
 * tick_size > 0; base_price + (levels - 1) * tick_size must not overflow int64.
 * VX_EINVAL on bad arguments, VX_ENOMEM if allocation fails; *out is set only on VX_OK. */
vx_status vx_book_create(uint32_t levels, int64_t tick_size, int64_t base_price, vx_book **out);

/* Frees the book (NULL is fine). Exclusive. */
void vx_book_destroy(vx_book *book);

uint32_t vx_book_levels(const vx_book *book);
int64_t vx_book_tick_size(const vx_book *book);
int64_t vx_book_base_price(const vx_book *book); /* changes only in recenter */

/* Maps a price to its level index: VX_OK, VX_EINVAL (off the grid) or VX_ERANGE (outside the
 * window; not counted — this is a pure query). */
vx_status vx_book_locate(const vx_book *book, int64_t price, uint32_t *index);

/* Level operations (multi-writer safe). side is VX_BUY (bids) or VX_SELL (asks), else VX_EINVAL.
 *   add:    level += qty; VX_ERANGE if it would exceed VX_BOOK_MAX_QTY.
 *   reduce: level -= qty; VX_ERANGE if qty > level (never wraps).
 *   set:    level = qty (0 clears it); VX_ERANGE if qty > VX_BOOK_MAX_QTY (checked before the
 *           price, so such a call never counts as out-of-window).
 * Plus the price errors above, and VX_TIMEOUT (add/reduce) if the CAS loop gave up. */
vx_status vx_book_add(vx_book *book, int side, int64_t price, uint64_t qty);
vx_status vx_book_reduce(vx_book *book, int side, int64_t price, uint64_t qty);
vx_status vx_book_set(vx_book *book, int side, int64_t price, uint64_t qty);

/* vx_book_set for updates i in [0, n) in order: level (sides[i], prices[i]) = qtys[i]. Same
 * contract as n vx_book_set calls (multi-writer safe; each update is one exchange); never
 * stops early: an update vx_book_set would refuse is counted in *out and skipped. No
 * allocation, no Python: callers may drop the GIL. The arrays must not change meanwhile. */
void vx_book_set_many(vx_book *book, const uint8_t *sides, const int64_t *prices,
                      const uint64_t *qtys, size_t n, vx_set_batch_result *out);

/* Quantity resting at a price (0 for an empty level). Price errors as above (out-of-window
 * queries are counted). */
vx_status vx_book_qty(const vx_book *book, int side, int64_t price, uint64_t *qty);

/* Best level of a side: VX_OK with its price and quantity (either pointer may be NULL), or
 * VX_EMPTY when the side is empty, VX_EINVAL for a bad side. */
vx_status vx_book_best(const vx_book *book, int side, int64_t *price, uint64_t *qty);
vx_status vx_book_best_bid(const vx_book *book, int64_t *price, uint64_t *qty);
vx_status vx_book_best_ask(const vx_book *book, int64_t *price, uint64_t *qty);

/* best ask - best bid, and (best bid + best ask) / 2 in fixed-point units; VX_EMPTY unless
 * both sides have a level. */
vx_status vx_book_spread(const vx_book *book, int64_t *spread);
vx_status vx_book_mid(const vx_book *book, double *mid);

/* Up to n non-empty levels of a side, best first, into prices[] and qtys[]; returns how many
 * were written (fewer when the side has fewer levels; 0 for a bad side). */
size_t vx_book_depth(const vx_book *book, int side, size_t n, int64_t *prices, uint64_t *qtys);

/* Applies one transaction (SINGLE-WRITER, see above). Always fills *out.
 *   NEW, side BUY at price p, qty q: while q > 0 and the best ask <= p, trade min(q, level)
 *   against the best ask level; the remainder rests on the bid level p. SELL mirrors it
 *   (trades against bids >= p, rests on the ask level p). Price and capacity are checked
 *   before anything trades, so a rejected NEW leaves the book unchanged.
 *   CANCEL: reduces the level (side, price) by qty; more than rests → VX_ERANGE, unchanged.
 * Returns out->status. Rejections are counted (counters.rejected and, for the window,
 * counters.out_of_window). (VX_REJECT_TIMEOUT is kept for ABI stability: apply uses no CAS
 * loop, so it does not occur today.) */
vx_status vx_book_apply(vx_book *book, const vx_txn *txn, vx_apply_result *out);

/* apply() for txns[0..n) in order (SINGLE-WRITER); never stops early: rejected transactions
 * are counted in *out and skipped. Runs without Python, so callers may drop the GIL. */
void vx_book_apply_many(vx_book *book, const vx_txn *txns, size_t n, vx_apply_batch_result *out);

/* Moves the window so level 0 is new_base (EXCLUSIVE). new_base must be on the current grid
 * (VX_EINVAL otherwise) and new_base + (levels - 1) * tick_size must fit in int64 (VX_ERANGE).
 * Quantities keep their prices; levels that fall outside the new window are dropped and
 * reported in *out (may be NULL). */
vx_status vx_book_recenter(vx_book *book, int64_t new_base, vx_recenter_result *out);

/* Copies the counters (each read atomically, relaxed). */
void vx_book_counters_read(const vx_book *book, vx_book_counters *out);

/* Checks, with writers quiescent: every level <= VX_BOOK_MAX_QTY (none "negative"), each
 * side's best hint equals its highest (bids) / lowest (asks) non-empty level, and best bid <
 * best ask when both exist. VX_OK, or VX_ESTATE with *why (if not NULL) naming the broken
 * invariant. O(levels). In VELOX_DEBUG builds apply() asserts the first two after every call
 * (not the third: level operations may cross a book, and apply cannot un-cross it). */
vx_status vx_book_verify_invariants(const vx_book *book, const char **why);

#endif /* VELOX_ORDERBOOK_H */
