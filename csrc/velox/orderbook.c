/* velox/orderbook.c — the price-ladder order book. See orderbook.h for the contract.
 *
 * Ranks. Both sides are walked with one piece of code by numbering levels by "rank": rank 0
 * means "no level", and a higher rank is a better price. Bids: rank = index + 1 (higher price
 * is better). Asks: rank = levels - index (lower price is better). A side's best hint holds
 * a rank.
 *
 * Settling the best hint (settle_best). Every write of a hint is a read-modify-write
 * (CAS or exchange, acq_rel), so all hint writes form one chain in the hint's modification
 * order, and a successful CAS synchronizes with every earlier hint write. A writer that makes
 * a level empty or non-empty, after publishing the level (release), settles the hint:
 *     start  = max(hint, own rank if the level became non-empty, every earlier start)
 *     target = first non-empty rank at or below start
 *     CAS hint: expected → target; on success re-scan from start: same answer → done,
 *     otherwise loop (another writer's level change became visible through the CAS).
 * Why this is exact once writers stop: take the last successful hint CAS S. Any level change
 * whose own settle CAS came earlier in the hint's order happens-before S's verifying re-scan
 * (release/acquire through the RMW chain), so S saw it; any level change whose settle CAS
 * came later contradicts S being last. The carried-forward start keeps a writer that once
 * covered rank m covering it, so a lower intermediate value cannot end the chain. The loop is
 * bounded (VX_BOOK_CAS_ATTEMPTS); on exhaustion the hint is exchanged to the top rank, an
 * over-estimate that readers (which scan down from the hint) still handle correctly.
 */
#include "velox/orderbook.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "velox/backoff.h"
#include "velox/ladder.h"

enum { VX_BOOK_LINE = 128 }; /* adjacent-line prefetch pairs 64-byte lines on x86_64 */

struct vx_book_hint {
    alignas(VX_BOOK_LINE) _Atomic uint32_t rank; /* best rank of one side; 0 = side empty */
};

struct vx_book {
    /* Fixed at creation (base_price also by recenter, which is exclusive). */
    uint32_t levels;
    int64_t tick_size;
    int64_t base_price;
    _Atomic uint64_t *qty[2]; /* [side][index], `levels` cells each */
    /* Division-free locate (fixed at creation; recenter keeps the tick): window_span is
     * levels * tick_size; when window_span * tick_size < 2^64, tick_reciprocal =
     * floor((2^64 - 1) / tick_size) + 1 and (above * tick_reciprocal) >> 64 == above / tick_size
     * for every above < window_span (see vx_book_locate); otherwise (and for tick_size 1,
     * where it would wrap) tick_reciprocal is 0 and locate divides. */
    uint64_t window_span;
    uint64_t tick_reciprocal;

    struct vx_book_hint best[2]; /* one line each: bid and ask hints are written independently */

    /* Written only by the single apply writer (load + store, no RMW), read by anyone. */
    alignas(VX_BOOK_LINE) _Atomic uint64_t applied;
    _Atomic uint64_t rejected;
    _Atomic uint64_t traded_qty;

    /* Written by any thread with fetch_add, on rare paths only. */
    alignas(VX_BOOK_LINE) _Atomic uint64_t out_of_window;
    _Atomic uint64_t cas_retries;
    _Atomic uint64_t cas_timeouts;
    _Atomic uint64_t recenters;
};

_Static_assert(sizeof(struct vx_book_hint) == VX_BOOK_LINE, "a hint fills exactly one line pair");
_Static_assert(offsetof(struct vx_book, best) % VX_BOOK_LINE == 0, "hints start on a line");
_Static_assert(offsetof(struct vx_book, applied) % VX_BOOK_LINE == 0, "apply counters own a line");
_Static_assert(offsetof(struct vx_book, out_of_window) % VX_BOOK_LINE == 0, "shared counters own a line");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "a level is one 8-byte atomic");
_Static_assert(VX_BOOK_MAX_LEVELS <= UINT32_MAX / 2, "ranks fit in uint32_t");
_Static_assert(VX_BOOK_MAX_QTY <= UINT64_MAX / 2, "max + max never wraps a uint64");

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                             */

static inline bool valid_side(int side) { return side == VX_BUY || side == VX_SELL; }

static inline uint32_t index_of_rank(const vx_book *b, int side, uint32_t rank) {
    return side == VX_BUY ? rank - 1 : b->levels - rank;
}

static inline uint32_t rank_of_index(const vx_book *b, int side, uint32_t index) {
    return side == VX_BUY ? index + 1 : b->levels - index;
}

static inline int64_t price_of_index(const vx_book *b, uint32_t index) {
    return b->base_price + (int64_t)index * b->tick_size; /* no overflow: checked at create/recenter */
}

static inline _Atomic uint64_t *cell_of(const vx_book *b, int side, uint32_t index) {
    return &b->qty[side][index];
}

/* Counters are atomics inside the book; const readers may still count (never a const object). */
static inline void count(const vx_book *b, _Atomic uint64_t *counter_in_b, uint64_t n) {
    (void)b;
    atomic_fetch_add_explicit(counter_in_b, n, memory_order_relaxed); /* statistics only */
}

/* Single-writer counter bump: load + store, no locked instruction (apply is single-writer). */
static inline void bump_single_writer(_Atomic uint64_t *counter, uint64_t n) {
    uint64_t v = atomic_load_explicit(counter, memory_order_relaxed); /* only this thread writes */
    atomic_store_explicit(counter, v + n, memory_order_relaxed);      /* readers: relaxed loads */
}

/* First non-empty rank at or below start (0 if none). Bounded by start <= levels. */
static uint32_t scan_down(const vx_book *b, int side, uint32_t start) {
    for (uint32_t r = start; r > 0; r--) {
        /* acquire: pairs with the release CAS/exchange that published the level */
        if (atomic_load_explicit(cell_of(b, side, index_of_rank(b, side, r)), memory_order_acquire) != 0)
            return r;
    }
    return 0;
}

/* Re-settles a side's best hint after a level of it became empty or non-empty; from_rank is
 * that level's rank if it became non-empty, 0 if it became empty. See the file comment. */
static void settle_best(vx_book *b, int side, uint32_t from_rank) {
    _Atomic uint32_t *hint = &b->best[side].rank;
    vx_backoff backoff;
    vx_backoff_init(&backoff);
    /* relaxed: only a first guess for the CAS; the CAS's acquire is what synchronizes */
    uint32_t expected = atomic_load_explicit(hint, memory_order_relaxed);
    uint32_t start = from_rank;
    for (uint32_t attempt = 0; attempt < VX_BOOK_CAS_ATTEMPTS; attempt++) {
        if (expected > start) start = expected;
        uint32_t target = scan_down(b, side, start);
        /* acq_rel on success: release publishes our level change to later hint writers and
         * readers; acquire pairs with the release of every earlier hint CAS/exchange (all hint
         * writes are RMWs, so they form one release sequence). relaxed on failure: we retry. */
        if (atomic_compare_exchange_weak_explicit(hint, &expected, target, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (scan_down(b, side, start) == target) {
                if (attempt) count(b, &b->cas_retries, attempt);
                return;
            }
            expected = target; /* someone's change became visible: go round with the same start */
        } else {
            vx_backoff_spin(&backoff);
        }
    }
    count(b, &b->cas_retries, VX_BOOK_CAS_ATTEMPTS);
    count(b, &b->cas_timeouts, 1);
    /* Park the hint at the top rank: an over-estimate, which readers scan down from correctly.
     * acq_rel exchange: an RMW like every other hint write (keeps the release sequence). */
    atomic_exchange_explicit(hint, b->levels, memory_order_acq_rel);
}

enum level_op { LEVEL_ADD, LEVEL_REDUCE };

/* One bounded weak-CAS loop on a level. *before receives the quantity replaced. */
static vx_status level_cas(vx_book *b, int side, uint32_t index, enum level_op op, uint64_t qty,
                           uint64_t *before) {
    _Atomic uint64_t *cell = cell_of(b, side, index);
    vx_backoff backoff;
    vx_backoff_init(&backoff);
    /* relaxed: the value is only the CAS's expected guess */
    uint64_t current = atomic_load_explicit(cell, memory_order_relaxed);
    for (uint32_t attempt = 0; attempt < VX_BOOK_CAS_ATTEMPTS; attempt++) {
        uint64_t next;
        if (op == LEVEL_ADD) {
            if (qty > VX_BOOK_MAX_QTY - current) {
                if (attempt) count(b, &b->cas_retries, attempt);
                return VX_ERANGE;
            }
            next = current + qty;
        } else {
            if (qty > current) {
                if (attempt) count(b, &b->cas_retries, attempt);
                return VX_ERANGE;
            }
            next = current - qty;
        }
        /* release on success: pairs with the acquire loads of readers (scan_down, vx_book_qty,
         * vx_book_best, vx_book_depth); relaxed on failure: current is reloaded and we retry */
        if (atomic_compare_exchange_weak_explicit(cell, &current, next, memory_order_release,
                                                  memory_order_relaxed)) {
            if (attempt) count(b, &b->cas_retries, attempt);
            *before = current;
            return VX_OK;
        }
        vx_backoff_spin(&backoff);
    }
    count(b, &b->cas_retries, VX_BOOK_CAS_ATTEMPTS);
    count(b, &b->cas_timeouts, 1);
    return VX_TIMEOUT;
}

/* After a level went from `before` to `after`, settle the hint if it changed emptiness. */
static inline void after_level_change(vx_book *b, int side, uint32_t index, uint64_t before,
                                      uint64_t after) {
    if ((before == 0) != (after == 0)) settle_best(b, side, after ? rank_of_index(b, side, index) : 0);
}

/* Price → level index (the body of vx_book_locate, inlined into the hot paths).
 * In-window prices take the division-free path: with m = tick_reciprocal = ceil(2^64 / d) (d =
 * tick_size, not a power of two; for a power of two m = 2^64 / d exactly), m = 2^64/d + e with
 * 0 <= e < 1, so (x * m) >> 64 = floor(x/d + x*e/2^64); x*e/2^64 < x/2^64 < 1/d whenever x*d < 2^64,
 * which create() checked for every x < window_span, and x/d's fractional part is at most
 * (d-1)/d, so the floor is exactly floor(x/d). Everything outside the window divides. */
static inline vx_status locate_fast(const vx_book *b, int64_t price, uint32_t *index) {
    /* shared with the MBO book: velox/ladder.h */
    return vx_ladder_locate_raw(b->base_price, b->tick_size, b->window_span, b->tick_reciprocal,
                                price, index);
}

/* locate + count out-of-window. */
static inline vx_status locate_counted(const vx_book *b, int64_t price, uint32_t *index) {
    vx_status st = locate_fast(b, price, index);
    if (__builtin_expect(st == VX_ERANGE, 0)) count(b, (_Atomic uint64_t *)&b->out_of_window, 1);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Construction                                                                              */

static void *alloc_lines(size_t bytes) {
    size_t rounded = (bytes + VX_BOOK_LINE - 1) / VX_BOOK_LINE * VX_BOOK_LINE;
    return aligned_alloc(VX_BOOK_LINE, rounded);
}

vx_status vx_book_create(uint32_t levels, int64_t tick_size, int64_t base_price, vx_book **out) {
    if (out == NULL) return VX_EINVAL;
    if (levels < VX_BOOK_MIN_LEVELS || levels > VX_BOOK_MAX_LEVELS || (levels & (levels - 1)))
        return VX_EINVAL;
    if (tick_size <= 0) return VX_EINVAL;
    int64_t span, top;
    if (__builtin_mul_overflow((int64_t)(levels - 1), tick_size, &span) ||
        __builtin_add_overflow(base_price, span, &top))
        return VX_EINVAL;

    vx_book *b = alloc_lines(sizeof *b);
    if (b == NULL) return VX_ENOMEM;
    memset(b, 0, sizeof *b);
    b->levels = levels;
    b->tick_size = tick_size;
    b->base_price = base_price;
    b->window_span = (uint64_t)levels * (uint64_t)tick_size; /* <= 2 * 2^63: (levels-1)*tick fits int64 */
    uint64_t span_times_tick;
    b->tick_reciprocal = __builtin_mul_overflow(b->window_span, (uint64_t)tick_size, &span_times_tick)
                             ? 0
                             : UINT64_MAX / (uint64_t)tick_size + 1;
    for (int side = 0; side < 2; side++) {
        b->qty[side] = alloc_lines((size_t)levels * sizeof(_Atomic uint64_t));
        if (b->qty[side] == NULL) {
            free(b->qty[0]);
            free(b);
            return VX_ENOMEM;
        }
        for (uint32_t i = 0; i < levels; i++) atomic_init(&b->qty[side][i], 0); /* bounded */
        atomic_init(&b->best[side].rank, 0);
    }
    atomic_init(&b->applied, 0);
    atomic_init(&b->rejected, 0);
    atomic_init(&b->traded_qty, 0);
    atomic_init(&b->out_of_window, 0);
    atomic_init(&b->cas_retries, 0);
    atomic_init(&b->cas_timeouts, 0);
    atomic_init(&b->recenters, 0);
    *out = b;
    return VX_OK;
}

void vx_book_destroy(vx_book *b) {
    if (b == NULL) return;
    free(b->qty[0]);
    free(b->qty[1]);
    free(b);
}

uint32_t vx_book_levels(const vx_book *b) { return b->levels; }
int64_t vx_book_tick_size(const vx_book *b) { return b->tick_size; }
int64_t vx_book_base_price(const vx_book *b) { return b->base_price; }

vx_status vx_book_locate(const vx_book *b, int64_t price, uint32_t *index) {
    return locate_fast(b, price, index);
}

/* ---------------------------------------------------------------------------------------- */
/* Level operations (multi-writer)                                                           */

static vx_status add_or_reduce(vx_book *b, int side, int64_t price, uint64_t qty, enum level_op op) {
    if (!valid_side(side)) return VX_EINVAL;
    uint32_t index;
    vx_status st = locate_counted(b, price, &index);
    if (st != VX_OK) return st;
    if (qty > VX_BOOK_MAX_QTY) return VX_ERANGE;
    if (qty == 0) return VX_OK;
    uint64_t before;
    st = level_cas(b, side, index, op, qty, &before);
    if (st != VX_OK) return st;
    after_level_change(b, side, index, before, op == LEVEL_ADD ? before + qty : before - qty);
    return VX_OK;
}

vx_status vx_book_add(vx_book *b, int side, int64_t price, uint64_t qty) {
    return add_or_reduce(b, side, price, qty, LEVEL_ADD);
}

vx_status vx_book_reduce(vx_book *b, int side, int64_t price, uint64_t qty) {
    return add_or_reduce(b, side, price, qty, LEVEL_REDUCE);
}

/* vx_book_set's body, inlined into vx_book_set_many. */
static inline vx_status set_one(vx_book *b, int side, int64_t price, uint64_t qty) {
    if (!valid_side(side)) return VX_EINVAL;
    /* qty before price, as the Python wrapper converts it: a refused update with a bad qty
     * never counts as out-of-window, whichever API refused it */
    if (qty > VX_BOOK_MAX_QTY) return VX_ERANGE;
    uint32_t index;
    vx_status st = locate_counted(b, price, &index);
    if (st != VX_OK) return st;
    /* An unconditional write needs no retry loop: one exchange cannot fail. release pairs
     * with the acquire loads of readers; the old value tells us whether emptiness changed. */
    uint64_t before = atomic_exchange_explicit(cell_of(b, side, index), qty, memory_order_release);
    after_level_change(b, side, index, before, qty);
    return VX_OK;
}

vx_status vx_book_set(vx_book *b, int side, int64_t price, uint64_t qty) {
    return set_one(b, side, price, qty);
}

void vx_book_set_many(vx_book *b, const uint8_t *sides, const int64_t *prices, const uint64_t *qtys,
                      size_t n, vx_set_batch_result *out) {
    uint64_t applied = 0;
    size_t first_rejected = n;
    for (size_t i = 0; i < n; i++) { /* bounded by n */
        if (__builtin_expect(set_one(b, sides[i], prices[i], qtys[i]) == VX_OK, 1)) {
            applied++;
        } else if (first_rejected == n) {
            first_rejected = i;
        }
    }
    out->applied = applied;
    out->rejected = n - applied;
    out->first_rejected = first_rejected;
}

/* ---------------------------------------------------------------------------------------- */
/* Readers (any thread)                                                                      */

vx_status vx_book_qty(const vx_book *b, int side, int64_t price, uint64_t *qty) {
    if (!valid_side(side)) return VX_EINVAL;
    uint32_t index;
    vx_status st = locate_counted(b, price, &index);
    if (st != VX_OK) return st;
    /* acquire: pairs with the release CAS/exchange in the level operations */
    *qty = atomic_load_explicit(cell_of(b, side, index), memory_order_acquire);
    return VX_OK;
}

vx_status vx_book_best(const vx_book *b, int side, int64_t *price, uint64_t *qty) {
    if (!valid_side(side)) return VX_EINVAL;
    /* acquire: pairs with the acq_rel hint CAS/exchange in settle_best and recenter */
    uint32_t hint = atomic_load_explicit(&b->best[side].rank, memory_order_acquire);
    for (uint32_t r = hint; r > 0; r--) { /* bounded: hint <= levels; normally one step */
        uint32_t index = index_of_rank(b, side, r);
        /* acquire: pairs with the release CAS/exchange in the level operations */
        uint64_t q = atomic_load_explicit(cell_of(b, side, index), memory_order_acquire);
        if (q != 0) {
            if (price) *price = price_of_index(b, index);
            if (qty) *qty = q;
            return VX_OK;
        }
    }
    return VX_EMPTY;
}

vx_status vx_book_best_bid(const vx_book *b, int64_t *price, uint64_t *qty) {
    return vx_book_best(b, VX_BUY, price, qty);
}

vx_status vx_book_best_ask(const vx_book *b, int64_t *price, uint64_t *qty) {
    return vx_book_best(b, VX_SELL, price, qty);
}

vx_status vx_book_spread(const vx_book *b, int64_t *spread) {
    int64_t bid, ask;
    if (vx_book_best_bid(b, &bid, NULL) != VX_OK || vx_book_best_ask(b, &ask, NULL) != VX_OK)
        return VX_EMPTY;
    *spread = ask - bid; /* both inside one window of < 2^63 span: no overflow */
    return VX_OK;
}

vx_status vx_book_mid(const vx_book *b, double *mid) {
    int64_t bid, ask;
    if (vx_book_best_bid(b, &bid, NULL) != VX_OK || vx_book_best_ask(b, &ask, NULL) != VX_OK)
        return VX_EMPTY;
    *mid = (double)bid + (double)(ask - bid) / 2.0;
    return VX_OK;
}

size_t vx_book_depth(const vx_book *b, int side, size_t n, int64_t *prices, uint64_t *qtys) {
    if (!valid_side(side)) return 0;
    /* acquire: pairs with the acq_rel hint CAS/exchange in settle_best and recenter */
    uint32_t hint = atomic_load_explicit(&b->best[side].rank, memory_order_acquire);
    size_t written = 0;
    for (uint32_t r = hint; r > 0 && written < n; r--) { /* bounded: hint <= levels */
        uint32_t index = index_of_rank(b, side, r);
        /* acquire: pairs with the release CAS/exchange in the level operations */
        uint64_t q = atomic_load_explicit(cell_of(b, side, index), memory_order_acquire);
        if (q == 0) continue;
        prices[written] = price_of_index(b, index);
        qtys[written] = q;
        written++;
    }
    return written;
}

void vx_book_counters_read(const vx_book *b, vx_book_counters *out) {
    /* relaxed: statistics, each value atomic on its own */
    out->applied = atomic_load_explicit(&b->applied, memory_order_relaxed);
    out->rejected = atomic_load_explicit(&b->rejected, memory_order_relaxed);
    out->traded_qty = atomic_load_explicit(&b->traded_qty, memory_order_relaxed);
    out->out_of_window = atomic_load_explicit(&b->out_of_window, memory_order_relaxed);
    out->cas_retries = atomic_load_explicit(&b->cas_retries, memory_order_relaxed);
    out->cas_timeouts = atomic_load_explicit(&b->cas_timeouts, memory_order_relaxed);
    out->recenters = atomic_load_explicit(&b->recenters, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------------------- */
/* apply (single writer)                                                                     */

static vx_status verify_ladder(const vx_book *b, const char **why);

/* apply is single-writer by contract (no other writer of any kind runs concurrently), so it
 * updates levels and hints with plain atomic stores instead of CAS: no locked instruction on
 * the hot path. Whatever hands the writer role to another thread (a join, a ring hand-off)
 * orders these stores before that thread's CAS-based updates. */
static inline void sw_store_level(vx_book *b, int side, uint32_t index, uint64_t before, uint64_t after) {
    /* release: pairs with the acquire loads of readers (scan_down, vx_book_qty, _best, _depth) */
    atomic_store_explicit(cell_of(b, side, index), after, memory_order_release);
    if ((before == 0) != (after == 0)) {
        _Atomic uint32_t *hint = &b->best[side].rank;
        /* relaxed: only this thread writes hints while apply runs */
        uint32_t start = atomic_load_explicit(hint, memory_order_relaxed);
        uint32_t rank = rank_of_index(b, side, index);
        if (after && rank > start) start = rank;
        /* release: pairs with the acquire hint loads of readers */
        atomic_store_explicit(hint, scan_down(b, side, start), memory_order_release);
    }
}

static vx_status reject(vx_apply_result *out, vx_book_reject reason, vx_status status) {
    out->reason = reason;
    return status;
}

static vx_status apply_one(vx_book *b, const vx_txn *t, vx_apply_result *out) {
    if (vx_txn_validate(t) != VX_FIELD_NONE || t->qty == 0)
        return reject(out, VX_REJECT_INVALID, VX_EINVAL);
    uint32_t index;
    vx_status st = locate_counted(b, t->price, &index);
    if (st == VX_EINVAL) return reject(out, VX_REJECT_OFF_GRID, VX_EINVAL);
    if (st != VX_OK) return reject(out, VX_REJECT_OUT_OF_WINDOW, VX_ERANGE);
    int side = t->side;
    uint64_t before;

    if (t->kind == VX_CANCEL) {
        /* relaxed: single writer, this is the value we (or a handed-over writer) stored */
        before = atomic_load_explicit(cell_of(b, side, index), memory_order_relaxed);
        if (t->qty > before) return reject(out, VX_REJECT_UNDERFLOW, VX_ERANGE);
        sw_store_level(b, side, index, before, before - t->qty);
        out->cancelled_qty = t->qty;
        return VX_OK;
    }

    /* NEW. Check the resting capacity first so a rejection leaves the book unchanged (single
     * writer: nobody else changes this level). relaxed: our own writes. */
    uint64_t own = atomic_load_explicit(cell_of(b, side, index), memory_order_relaxed);
    if ((uint64_t)t->qty > VX_BOOK_MAX_QTY - own) return reject(out, VX_REJECT_OVERFLOW, VX_ERANGE);

    int opposite = side ^ 1;
    uint32_t own_rank_on_opposite = rank_of_index(b, opposite, index); /* worst acceptable rank */
    uint32_t remaining = t->qty;
    /* Each round empties an opposite level or fills the order: at most levels + 1 rounds. */
    for (uint32_t round = 0; remaining > 0 && round <= b->levels; round++) {
        /* acquire: pairs with the acq_rel hint writes (ours, in a single-writer world) */
        uint32_t hint = atomic_load_explicit(&b->best[opposite].rank, memory_order_acquire);
        uint32_t best = scan_down(b, opposite, hint); /* == hint unless a settle timed out */
        if (best == 0 || best < own_rank_on_opposite) break; /* nothing marketable left */
        uint32_t level = index_of_rank(b, opposite, best);
        /* relaxed: single writer, this is the value we wrote */
        uint64_t available = atomic_load_explicit(cell_of(b, opposite, level), memory_order_relaxed);
        uint32_t take = available < remaining ? (uint32_t)available : remaining;
        sw_store_level(b, opposite, level, available, available - take);
        remaining -= take;
        out->traded_qty += take;
        out->levels_matched++;
    }
    if (remaining > 0) {
        sw_store_level(b, side, index, own, own + remaining); /* capacity checked above */
        out->rested_qty = remaining;
    }
    return VX_OK;
}

vx_status vx_book_apply(vx_book *b, const vx_txn *t, vx_apply_result *out) {
    memset(out, 0, sizeof *out);
    vx_status st = apply_one(b, t, out);
    out->status = st;
    if (st == VX_OK) {
        bump_single_writer(&b->applied, 1);
    } else {
        bump_single_writer(&b->rejected, 1);
    }
    if (out->traded_qty) bump_single_writer(&b->traded_qty, out->traded_qty);
#ifdef VELOX_DEBUG
    /* apply keeps the hints exact and never wraps a level; it cannot un-cross a book that
     * level operations crossed, so the crossing check is left to vx_book_verify_invariants. */
    assert(verify_ladder(b, NULL) == VX_OK);
#endif
    return st;
}

void vx_book_apply_many(vx_book *b, const vx_txn *txns, size_t n, vx_apply_batch_result *out) {
    memset(out, 0, sizeof *out);
    vx_apply_result r;
    for (size_t i = 0; i < n; i++) { /* bounded by n */
        vx_status st = vx_book_apply(b, &txns[i], &r);
        if (st == VX_OK) {
            out->applied++;
        } else {
            out->rejected++;
            if (st == VX_TIMEOUT) out->cas_timeouts++;
        }
        out->traded_qty += r.traded_qty;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* recenter (exclusive)                                                                      */

/* Moves one side's quantities so each keeps its price when level 0 moves up by `shift` levels
 * (down when shift < 0; |shift| < levels). Exclusive, so relaxed loads/stores suffice. */
static void shift_side(vx_book *b, int side, int64_t shift, vx_recenter_result *out) {
    uint32_t n = b->levels;
    uint32_t s = (uint32_t)(shift < 0 ? -shift : shift);
    for (uint32_t k = 0; k < s; k++) { /* the levels that fall off */
        uint32_t gone = shift > 0 ? k : n - 1 - k;
        uint64_t q = atomic_load_explicit(cell_of(b, side, gone), memory_order_relaxed);
        if (q) {
            out->dropped_levels[side]++;
            out->dropped_qty[side] += q;
        }
    }
    if (shift > 0) {
        for (uint32_t i = 0; i < n; i++) { /* new[i] = old[i + s], ascending so reads lead writes */
            uint64_t q = i + s < n ? atomic_load_explicit(cell_of(b, side, i + s), memory_order_relaxed) : 0;
            atomic_store_explicit(cell_of(b, side, i), q, memory_order_relaxed);
        }
    } else {
        for (uint32_t i = n; i-- > 0;) { /* new[i] = old[i - s], descending */
            uint64_t q = i >= s ? atomic_load_explicit(cell_of(b, side, i - s), memory_order_relaxed) : 0;
            atomic_store_explicit(cell_of(b, side, i), q, memory_order_relaxed);
        }
    }
}

vx_status vx_book_recenter(vx_book *b, int64_t new_base, vx_recenter_result *out) {
    vx_recenter_result ignored;
    if (out == NULL) out = &ignored;
    memset(out, 0, sizeof *out);
    /* the grid and overflow checks and the clipped level distance are ladder.h's */
    const vx_ladder_geometry g = {.base = b->base_price, .tick = b->tick_size,
                                  .levels = b->levels};
    int64_t shift;
    vx_status st = vx_ladder_shift(&g, new_base, &shift);
    if (st != VX_OK) return st;
    for (int side = 0; side < 2; side++) {
        shift_side(b, side, shift, out);
        /* acq_rel exchange: hint writes stay RMWs (see settle_best); exact, since exclusive */
        atomic_exchange_explicit(&b->best[side].rank, scan_down(b, side, b->levels), memory_order_acq_rel);
    }
    b->base_price = new_base;
    count(b, &b->recenters, 1);
    return VX_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Invariants                                                                                */

/* No wrapped level, hints exact. */
static vx_status verify_ladder(const vx_book *b, const char **why) {
    static const char *const hint_wrong[2] = {"best bid hint does not match the ladder",
                                              "best ask hint does not match the ladder"};
    const char *ignored;
    if (why == NULL) why = &ignored;
    *why = NULL;
    for (int side = 0; side < 2; side++) {
        for (uint32_t i = 0; i < b->levels; i++) { /* bounded */
            if (atomic_load_explicit(cell_of(b, side, i), memory_order_acquire) > VX_BOOK_MAX_QTY) {
                *why = "a level exceeds VX_BOOK_MAX_QTY (a negative quantity wrapped)";
                return VX_ESTATE;
            }
        }
        /* acquire: pairs with the acq_rel hint writes */
        uint32_t hint = atomic_load_explicit(&b->best[side].rank, memory_order_acquire);
        if (hint != scan_down(b, side, b->levels)) {
            *why = hint_wrong[side];
            return VX_ESTATE;
        }
    }
    return VX_OK;
}

vx_status vx_book_verify_invariants(const vx_book *b, const char **why) {
    const char *ignored;
    if (why == NULL) why = &ignored;
    vx_status st = verify_ladder(b, why);
    if (st != VX_OK) return st;
    int64_t bid, ask;
    if (vx_book_best_bid(b, &bid, NULL) == VX_OK && vx_book_best_ask(b, &ask, NULL) == VX_OK &&
        bid >= ask) {
        *why = "book is crossed: best bid >= best ask";
        return VX_ESTATE;
    }
    return VX_OK;
}
