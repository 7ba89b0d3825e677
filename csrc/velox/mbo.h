/*
 * velox/mbo.h — a market-by-order (L3) book: orders by id, a FIFO queue per price level,
 * aggregate level quantities on a price ladder like vx_book's (window, tick, recenter).
 *
 * CONTRACT: the signatures below are what other modules (feeds, pipeline) code against;
 * mbo.c implements them (docs/mbo.md has the full semantics).
 *
 * Layout
 *   - An order table allocated at create for `max_orders` orders (FIFO links as slot
 *     indices); vx_mbo_reserve grows it (explicit, never on the hot path). A full table
 *     rejects ADD with VX_REJECT_FULL (counted), never allocates.
 *   - id → slot: a direct window of ids [lo, lo + W) (one 4-byte entry per id, W a power of
 *     two, allocated at create / reserve / vx_mbo_id_window) that slides forward with the
 *     ids in use (an ADD up to a window above it moves lo; the few live orders it passes move
 *     to the hash index), and for every other id an open-addressing hash index with a random
 *     per-table multiplier and bounded probes. Feed ids that are dense and increasing (ITCH
 *     order references) are found in one load. Books and answers are the same with any
 *     window, or none (vx_mbo_id_window(book, 0)).
 *   - Per side a ladder of `levels` price levels (power of two), level i = base + i * tick;
 *     each level keeps its aggregate quantity, order count and FIFO head/tail (32 B). Per side
 *     the writer also keeps a bitmap of its non-empty levels (rankmap.h, three tiers of 64-bit
 *     words: about levels / 8 bytes), so the next best level after the best empties is found
 *     in O(1) whatever the gap; it is writer-only state (readers use the quantities).
 *   - Orders priced outside the window are kept in the order table (counted in
 *     out_of_window_orders) and reach the ladder when a recenter brings their price in.
 *   - Seeded quantity (vx_mbo_seed_level): resting lots with no order identity, from an L2
 *     snapshot. It sits ahead of every identified order at that level.
 *
 * Partial data: DELETE / CANCEL / EXECUTE of an order the book does not know reduce the
 *   seeded quantity at (side, price) by qty (clamped at zero; nothing when the price is off
 *   the grid or outside the window, or the side is VX_SIDE_NONE) and count unknown_orders;
 *   they are not errors (applied). REPLACE of an unknown order counts unknown_orders and adds
 *   the new one on the event's side; with side VX_SIDE_NONE (ITCH U) the new order is not
 *   added (nothing says which side it rests on). It cannot reduce a seeded level because the
 *   event does not carry the old order's price or size (ITCH U).
 *
 * Actions on known orders:
 *   ADD      a new order at the tail of its level's queue (qty 0 → INVALID, id already live →
 *            DUPLICATE, table full → FULL, price off the grid → OFF_GRID).
 *   CANCEL   qty lots leave the order (it keeps its queue place); qty == its remaining qty
 *            removes it; more than it has → EXCEEDS (book unchanged); qty 0 → INVALID.
 *   EXECUTE  as CANCEL, and qty counts in traded_qty.
 *   DELETE   the order leaves (qty, price ignored).
 *   REPLACE  the order leaves and ref rests on the OLD order's side at price with qty (the back
 *            of the queue); ref already live (and != order_id) → DUPLICATE, qty 0 → INVALID,
 *            price off the grid → OFF_GRID, all checked before anything changes.
 *   MODIFY   the order now has price and qty (its side stays): same price and qty <= its
 *            qty → reduced in place (keeps its queue place; equal → no change); otherwise it
 *            leaves and rests again at the back of the queue at price (price off the grid →
 *            OFF_GRID, book unchanged). qty 0 → INVALID. An unknown order is added on the
 *            event's side (counted in unknown_orders); with VX_SIDE_NONE it is not added.
 *   TRADE, CROSS, BROKEN, STATUS: no book effect (applied, counted by action).
 *   LEVEL    (L2 data; routed by instrument, order_id ignored) the level (side, price) now
 *            shows qty lots: its seeded lots become qty minus the identified orders' lots
 *            there (0 when they already hold qty or more). side not BUY/SELL → INVALID, price
 *            off the grid → OFF_GRID. The first LEVEL with qty > 0 places an unplaced book (as
 *            seed_level); a LEVEL outside the window is applied but not kept: its qty counts
 *            in dropped_seeded_qty.
 *   CLEAR    every order and every seeded lot of the book leaves.
 *   A rejected event leaves the book unchanged.
 *
 * Multi-instrument (ITCH "a book for every symbol"): vx_mbo_set_create makes `instruments`
 *   books (instrument ids 0 .. instruments-1, e.g. ITCH stock locates) that share ONE order
 *   table (order ids are unique across the feed), all allocated up front. vx_mbo_set_apply /
 *   _apply_many route ADD (and events about unknown orders, CLEAR) by event.instrument and
 *   every event about a known order to the book the order rests in. vx_mbo_set_book gives
 *   the per-instrument vx_mbo_book for every reader above (its order/queue_position see only
 *   its own orders). A set's books start unplaced: the first ADD or seed_level on a book
 *   centres its window on that price (level levels/2), unless vx_mbo_recenter placed it
 *   first. Counters, capacity and live_orders of a set's book are the whole set's.
 *
 * Concurrency: SINGLE WRITER (apply, apply_many, seed_level, clear, reserve, recenter);
 *   readers (best, qty, depth, order, queue_position, counters) on any thread at any time:
 *   level aggregates and the best hints are atomics published with release by the writer and
 *   read with acquire; a multi-field answer is a recent view, not a snapshot. order() and
 *   queue_position() from a thread other than the writer's are validated by a per-slot
 *   sequence (seqlock): they retry a bounded number of times, then report VX_TIMEOUT.
 *   reserve, recenter, follow and destroy are EXCLUSIVE (no other call at all).
 */
#ifndef VELOX_MBO_H
#define VELOX_MBO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

typedef struct vx_mbo_book vx_mbo_book; /* opaque; see mbo.c */
typedef struct vx_mbo_set vx_mbo_set;   /* opaque: books sharing one order table */

enum {
    VX_MBO_DEFAULT_LEVELS = 1024,
    VX_MBO_MAX_LEVELS = 1 << 20,
    VX_MBO_MAX_ORDERS = 1 << 30,
    VX_MBO_MAX_INSTRUMENTS = 1 << 16, /* a set's books (ITCH stock locate is 16-bit) */
    VX_MBO_READ_ATTEMPTS = 64,        /* order/queue_position tries, then VX_TIMEOUT */
    VX_MBO_PROBE_LIMIT = 512,         /* an ADD whose index entry lands further than this from
                                         its home redraws the hash multiplier and rebuilds the
                                         index (at most once per index size / 8 inserts) */
    VX_MBO_SLOT_BYTES = 48,           /* memory per order of capacity: one 48-B slot + 16-32 B of
                                         hash index (8-B entries, a power of two >= 2 x capacity)
                                         + 8-16 B of id window by default (see below) */
    VX_MBO_WINDOW_ENTRY_BYTES = 4,    /* one id of the direct window */
    VX_MBO_MIN_WINDOW = 16,           /* ids of the smallest window (0 = no window) */
    VX_MBO_MAX_WINDOW = 1 << 28       /* ids of the largest window; the default at create /
                                         reserve is the power of two >= 2 x max_orders, capped */
};
/* Largest seeded quantity of one level. With <= 2^30 orders of < 2^32 lots, a level's
 * aggregate stays below 2^63, so it never overflows. */
#define VX_MBO_MAX_SEED ((uint64_t)1 << 62)

typedef enum vx_mbo_reject {
    VX_MBO_REJECT_NONE = 0,
    VX_MBO_REJECT_INVALID = 1,   /* vx_mbo_validate failed, qty 0 on ADD, etc.       VX_EINVAL */
    VX_MBO_REJECT_OFF_GRID = 2,  /* price not base + k * tick                        VX_EINVAL */
    VX_MBO_REJECT_DUPLICATE = 3, /* ADD / REPLACE to an id that already rests         VX_ESTATE */
    VX_MBO_REJECT_FULL = 4,      /* order table full (vx_mbo_reserve)                VX_FULL   */
    VX_MBO_REJECT_OVERFLOW = 5,  /* a level or order quantity would overflow          VX_ERANGE */
    VX_MBO_REJECT_INSTRUMENT = 6, /* event for another instrument (see create)        VX_EINVAL */
    VX_MBO_REJECT_EXCEEDS = 7,   /* CANCEL / EXECUTE of more than the order has       VX_ERANGE */
    VX_MBO_REJECT_COUNT = 8
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
    uint64_t traded_qty;             /* EXECUTE lots (known and unknown orders) */
    uint64_t dropped_seeded_qty;     /* seeded lots that left the window in a recenter, and
                                        the qty of LEVEL events outside the window */
    uint64_t read_retries;           /* order/queue_position retries (a writer was busy) */
    uint64_t index_rehashes;         /* index rebuilds with a new multiplier (PROBE_LIMIT) */
    /* (appended) an event's order id looked up by the writer: in the direct window, or in the
     * hash index (outside the window, or no window); REPLACE's new id is not counted */
    uint64_t id_window_hits;
    uint64_t id_hash_lookups;
    uint64_t id_window_slides;       /* the window moved up (a slide or, when empty, a jump) */
} vx_mbo_counters;

typedef struct vx_mbo_order_info {
    uint64_t order_id;
    int64_t price;
    uint32_t qty;
    uint8_t side;
    uint8_t in_window;   /* 1 when the price is on the ladder */
    uint64_t ts;         /* ts of the event that placed it (ADD or REPLACE) */
} vx_mbo_order_info;

/* levels: power of two in [2, VX_MBO_MAX_LEVELS]; tick > 0; max_orders in [1, VX_MBO_MAX_ORDERS];
 * instrument: events whose instrument differs are rejected, unless instrument == UINT32_MAX
 * (accept any). VX_EINVAL / VX_ENOMEM; *out set only on VX_OK. */
vx_status vx_mbo_create(uint32_t levels, int64_t tick, int64_t base, uint32_t max_orders,
                        uint32_t instrument, vx_mbo_book **out);
void vx_mbo_destroy(vx_mbo_book *book);
/* EXCLUSIVE; grows only (a smaller max_orders is VX_OK, no change); VX_EINVAL above
 * VX_MBO_MAX_ORDERS, VX_ENOMEM (book unchanged). A set's book grows the whole set's table. */
vx_status vx_mbo_reserve(vx_mbo_book *book, uint32_t max_orders);

uint32_t vx_mbo_levels(const vx_mbo_book *book);
int64_t vx_mbo_tick(const vx_mbo_book *book);
int64_t vx_mbo_base(const vx_mbo_book *book);
uint32_t vx_mbo_capacity(const vx_mbo_book *book);  /* max_orders */
uint32_t vx_mbo_live_orders(const vx_mbo_book *book);
uint32_t vx_mbo_instrument(const vx_mbo_book *book); /* UINT32_MAX = any */
/* Whether the book's window is placed: a standalone book always; a set's book once its first
 * ADD or seed_level placed it (or vx_mbo_recenter did). Counters are the whole set's, so this
 * is what tells which of a set's books took orders. Readers: acquire. */
bool vx_mbo_placed(const vx_mbo_book *book);
size_t vx_mbo_memory_bytes(const vx_mbo_book *book); /* table + index + id window + ladder +
                                                        rankmaps (a set: table, index and window
                                                        are the whole set's) */

/* One event (SINGLE WRITER). Returns VX_OK or the reject's status; *reason may be NULL. */
vx_status vx_mbo_apply(vx_mbo_book *book, const vx_mbo *event, vx_mbo_reject *reason);

/* apply() for events[0..n) in order; never stops early; rejects are counted. No Python, no
 * allocation: callers may drop the GIL. *applied / *rejected (may be NULL) count this call. */
void vx_mbo_apply_many(vx_mbo_book *book, const vx_mbo *events, size_t n,
                       uint64_t *applied, uint64_t *rejected);

/* Resting quantity with no identity at (side, price), replacing what was seeded there
 * (SINGLE WRITER). VX_EINVAL bad side / off the grid, VX_ERANGE outside the window or
 * qty > VX_MBO_MAX_SEED. */
vx_status vx_mbo_seed_level(vx_mbo_book *book, int side, int64_t price, uint64_t qty);

/* Every order and seeded lot leaves the book (SINGLE WRITER); like a CLEAR event. */
void vx_mbo_clear(vx_mbo_book *book);

/* Locate a price on the book's grid: VX_OK + level index, VX_EINVAL off the grid, VX_ERANGE
 * outside the window (pure query, any thread). */
vx_status vx_mbo_locate(const vx_mbo_book *book, int64_t price, uint32_t *index);

/* Readers. Quantities are level aggregates (identified orders + seeded lots). */
vx_status vx_mbo_best(const vx_mbo_book *book, int side, int64_t *price, uint64_t *qty);
vx_status vx_mbo_qty(const vx_mbo_book *book, int side, int64_t price, uint64_t *qty);
size_t vx_mbo_depth(const vx_mbo_book *book, int side, size_t n, int64_t *prices,
                    uint64_t *qtys, uint32_t *order_counts);
/* VX_OK, VX_EINVAL when unknown (to this book), VX_TIMEOUT when VX_MBO_READ_ATTEMPTS reads
 * all overlapped a write (only from a non-writer thread). Never a torn or recycled order: every
 * answer is a state the writer published between two events. */
vx_status vx_mbo_order(const vx_mbo_book *book, uint64_t order_id, vx_mbo_order_info *out);
/* vx_mbo_order for the writer's own thread (or when no writer runs): the same answer without
 * the reader's sequence checks and retries (VX_OK, VX_EINVAL: not in this book). Calling it
 * from another thread while a writer runs is a contract breach (a torn answer). */
vx_status vx_mbo_order_writer(const vx_mbo_book *book, uint64_t order_id, vx_mbo_order_info *out);
/* Lots ahead of order_id in its level's queue (seeded lots included). VX_ERANGE when the
 * order is outside the window (no ladder queue), VX_EINVAL when unknown, VX_TIMEOUT as order.
 * O(orders ahead). */
vx_status vx_mbo_queue_position(const vx_mbo_book *book, uint64_t order_id, uint64_t *ahead);

/* Moves the window so level 0 is new_base (EXCLUSIVE). Orders keep their prices: those that
 * leave the window stay in the table (out of window), those that enter it join their level's
 * queue in their original time priority. Seeded lots that leave are dropped (counted in
 * dropped_seeded_qty). VX_EINVAL off the current grid (an unplaced set book: any base),
 * VX_ERANGE when the top level would overflow int64. O(levels + live orders of the book). */
vx_status vx_mbo_recenter(vx_mbo_book *book, int64_t new_base);

/* Following the market. The writer MARKS a book (cheaply, while applying) when its market
 * nears an edge of its window (a best bid or ask within levels/8 levels of either edge) or
 * leaves it (a bid comes to rest above the window, an ask below it). vx_mbo_follow visits the
 * marked books of the book's table (vx_mbo_set_follow: of the set), unmarks each, and
 * recenters a book whose market is still at an edge or beyond so that the market's middle
 * (the mid of its best bid and ask, the most extreme order beyond the window counting as that
 * side's best, and for a side with no order on the ladder its best order outside the window;
 * one side when the other is empty) falls in level levels/2 -- unless that moves the window
 * by less than levels/8 levels (a spread wider than the window stays where it is). The book
 * counts its orders beyond the window per side and tracks the most extreme; once that one has
 * left, the outside list is walked for the next (a side emptying its ladder while orders rest
 * outside marks the book too). It stops once the work done (2 x levels + order slots visited
 * per recenter, 1 per book left alone, + outside orders walked) reaches `budget`, the rest
 * staying marked; *work (may be NULL) gets the work done; returns
 * the books recentered (counted in their counters' recenters). Same exclusivity as
 * vx_mbo_recenter: the writer's thread, no reader at all meanwhile (the pipeline gates its
 * live view for it: vx_pipeline_view_enter). Amortise it: a caller that calls it only while
 * the work done so far is at most the events applied (the pipeline does) spends O(1) per
 * event, whatever the events. */
uint32_t vx_mbo_follow(vx_mbo_book *book, uint64_t budget, uint64_t *work);
uint32_t vx_mbo_set_follow(vx_mbo_set *set, uint64_t budget, uint64_t *work);
/* A marked book is waiting (writer; O(1)). */
bool vx_mbo_follow_pending(const vx_mbo_book *book);
bool vx_mbo_set_follow_pending(const vx_mbo_set *set);

void vx_mbo_counters_read(const vx_mbo_book *book, vx_mbo_counters *out);

/* The order index hashes (id >> 4) with a random odd 64-bit multiplier drawn per table (at
 * create, reserve and every rebuild; see mbo.c hash_id): the index layout differs from run to
 * run, every answer and digest does not. vx_mbo_index_reseed rebuilds the index with the given
 * multiplier (made odd) -- for tests that need a known layout (SINGLE WRITER; readers may run:
 * a probe overlapping the rebuild retries). vx_mbo_index_max_distance: the furthest any entry
 * sits from its home position (writer quiescent; O(index)). */
vx_status vx_mbo_index_reseed(vx_mbo_book *book, uint64_t multiplier);
uint64_t vx_mbo_index_max_distance(const vx_mbo_book *book);

/* Resizes the direct id window (see Layout) to `ids` (a power of two in [VX_MBO_MIN_WINDOW,
 * VX_MBO_MAX_WINDOW]) or turns it off (0: every id through the hash index) and re-indexes
 * every live order (EXCLUSIVE; allocates: VX_ENOMEM leaves the book unchanged; VX_EINVAL for
 * another size). A size set here stays through vx_mbo_reserve; the default one grows with it.
 * A set's book sets the whole set's. Books, answers and digests are the same whatever the
 * window (tests/test_mbo_window.py). */
vx_status vx_mbo_id_window(vx_mbo_book *book, uint64_t ids);
uint64_t vx_mbo_id_window_size(const vx_mbo_book *book); /* ids; 0 = off */

/* A digest of the visible state (levels, queues, orders), equal for equal books: for
 * determinism tests. */
uint64_t vx_mbo_digest(const vx_mbo_book *book);

/* With the writer quiescent: every level's aggregate equals its orders + seeded lots, FIFO
 * links are consistent, best hints are exact. VX_OK or VX_ESTATE with *why. */
vx_status vx_mbo_verify_invariants(const vx_mbo_book *book, const char **why);

/* ---- Multi-instrument set (see "Multi-instrument" above) ---------------------------------- */

/* instruments in [1, VX_MBO_MAX_INSTRUMENTS] books of `levels` levels of `tick`, one shared
 * table of max_orders. Memory: max_orders * (48 + 16..32 + 8..16) B + instruments * (levels * 64 B
 * + 16 * vx_rankmap_words(levels) B), the second term the two sides' rankmaps (about levels / 4 B). */
vx_status vx_mbo_set_create(uint32_t instruments, uint32_t levels, int64_t tick,
                            uint32_t max_orders, vx_mbo_set **out);
void vx_mbo_set_destroy(vx_mbo_set *set);
uint32_t vx_mbo_set_instruments(const vx_mbo_set *set);
/* The whole set's bytes: the shared table, index and id window, and every book's ladder and
 * rankmaps (the formula above). */
size_t vx_mbo_set_memory_bytes(const vx_mbo_set *set);
/* The book of instrument i (NULL when i >= instruments); valid for the set's lifetime. */
vx_mbo_book *vx_mbo_set_book(vx_mbo_set *set, uint32_t instrument);
/* The same book for readers only (best, qty, depth, order, queue_position, counters): what a
 * pipeline's user stage and live view get. */
const vx_mbo_book *vx_mbo_set_reader(const vx_mbo_set *set, uint32_t instrument);
/* SINGLE WRITER for the whole set. Rejects event.instrument >= instruments (INSTRUMENT). */
vx_status vx_mbo_set_apply(vx_mbo_set *set, const vx_mbo *event, vx_mbo_reject *reason);
void vx_mbo_set_apply_many(vx_mbo_set *set, const vx_mbo *events, size_t n,
                           uint64_t *applied, uint64_t *rejected);

/* Prefetch for a writer that applies a set's events one by one with vx_mbo_set_apply (it acts
 * between events: the pipeline's book stage). vx_mbo_set_apply_many does the same by itself
 * (mbo.c, "batch prefetch"). vx_mbo_set_prefetch_wanted: whether the table is large enough
 * for it to pay (ask once per batch). Then, for each run events[0, n) applied in order, call
 * vx_mbo_set_prefetch(set, pf, events, i, n) before applying events[i] for every i that is a
 * multiple of VX_MBO_PREFETCH_BLOCK (i = 0 starts the run). It only prefetches and keeps
 * hints in *pf (the caller's, any contents): the books are the same with or without it.
 * Writer only (it reads the writer's own state). */
#define VX_MBO_PREFETCH_BLOCK 8
typedef struct vx_mbo_prefetch {
    uint64_t hints[2 * VX_MBO_PREFETCH_BLOCK];
} vx_mbo_prefetch;
bool vx_mbo_set_prefetch_wanted(const vx_mbo_set *set);
void vx_mbo_set_prefetch(const vx_mbo_set *set, vx_mbo_prefetch *pf, const vx_mbo *events, size_t i,
                         size_t n);

#endif /* VELOX_MBO_H */
