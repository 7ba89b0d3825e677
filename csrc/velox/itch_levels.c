/*
 * itch_levels.c — ITCH 5.0 bytes to aggregate levels in one loop (contract in itch_levels.h).
 *
 * Order record: 8 bytes, {qty, where}. qty 0 = free (an ADD of 0 shares is refused, an order
 * executed or cancelled to 0 leaves). where = the order's level as one index into the level
 * array, (instrument * 2 + side) << level_bits | level, or, for an order outside its book's
 * window, OUTSIDE | (instrument * 2 + side): either way the record knows its book and side
 * (a U needs them) and an E/X/D touches the level with one add, no price arithmetic.
 *
 * Direct window: ids [lo, lo + W) live at win[id & (W - 1)]: one load maps an id to its order.
 * An ADD at id in [lo + W, lo + 2W) slides lo up to id + W/4 + 1 - W (a quarter of the window
 * stays free above it, so sequential ids slide once per W/4 ADDs); the ids that leave are
 * scanned (<= W records, amortised: every id is scanned once as lo passes it) and their live
 * records move to the spill table. The slide happens only when the spill table has room for
 * the live orders it moves (counted first, so a slide never loses one); otherwise the ADD goes
 * to the spill table. An id below lo, or >= lo + 2W (a jump), goes to the spill table too; a
 * jump with no live window order just moves lo there (a feed whose ids start high). The window
 * never covers a spilled id: when it moves past the least id spilled above it, the spill table
 * is scanned and the ids it now covers move into it (O(spill capacity); only when ids arrive
 * out of order by more than a window).
 *
 * Spill table: linear probing with a random odd multiplier (vx_entropy64, per table), load kept
 * <= 1/2, deletion by backward shift (no tombstones); every probe bounded by the capacity.
 *
 * Foreign bytes: every message's length is checked against the buffer and against its type's
 * fixed length (vx_itch_fixed_length) before any field is read. The prefetch cursor ahead of
 * the loop follows the same length prefixes unchecked, reads only inside the buffer and only
 * prefetches (addresses inside the window, the spill table or the level array; a prefetch
 * never faults anyway).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall (velox/entropy.h) */
#endif
#include "velox/itch_levels.h"
#include "velox/entropy.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "velox/itch.h"
#include "velox/bigendian.h"
#include "velox/ladder.h"

#define OUTSIDE 0x80000000u
#define AHEAD 32 /* messages ahead whose order record is prefetched; its level: AHEAD / 2 */

struct rec {
    uint32_t qty;   /* 0 = free */
    uint32_t where; /* level index, or OUTSIDE | book key (see the file comment) */
};
_Static_assert(sizeof(struct rec) == VX_ITCH_LEVELS_RECORD_BYTES, "an order record is 8 bytes");

struct spill {
    uint64_t id;
    struct rec r; /* r.qty 0 = empty entry */
};
_Static_assert(sizeof(struct spill) == VX_ITCH_LEVELS_SPILL_BYTES, "a spill entry is 16 bytes");

struct vx_itch_levels {
    uint64_t *lv;        /* [(instrument * 2 + side) << level_bits | level] aggregate shares */
    size_t lv_mapped, win_mapped; /* their mapping lengths (zalloc_big), 0 = from calloc */
    int64_t *base;       /* per instrument: level 0's price; INT64_MIN = unplaced */
    struct rec *win;     /* the direct window */
    uint64_t win_size, win_mask, lo, win_live;
    struct spill *sp;
    uint64_t sp_mask, sp_mul, sp_count;
    uint64_t sp_above, sp_above_min; /* spill entries stored above the window then (an upper
                                        bound: erases do not decrement) and their least id */
    uint32_t sp_shift;   /* 64 - log2(spill capacity) */
    /* A slide refused for lack of spill room: the new lo it wanted (0: none) and how many
     * records it lacked, less the window and spill deletes since, plus the spill inserts
     * since. While the credit is > 0, a slide to that lo or above cannot fit (place_id). */
    uint64_t refused_lo;
    int64_t refused_credit;
    uint32_t instruments, levels, level_bits, tick;
    uint64_t span, tick_recip; /* vx_ladder_locate_raw's window span and reciprocal */
    uint64_t offset;     /* absolute bytes consumed */
    uint64_t error_offset;
    const char *error;
    uint8_t error_type;
    vx_itch_levels_counts c;
};


static uint32_t log2u(uint64_t v) {
    uint32_t k = 0;
    while (k < 63 && ((uint64_t)1 << k) < v) k++; /* bounded */
    return k;
}

#if defined(__SANITIZE_ADDRESS__)
#define BIG_FROM_CALLOC 1 /* ASan: calloc'd arrays, so that its redzones guard them */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BIG_FROM_CALLOC 1
#endif
#endif
#define HUGE_PAGE ((size_t)2 << 20)

/* n zeroed bytes. An array of at least 2 MiB is an anonymous mapping aligned to 2 MiB and
 * advised for transparent huge pages (best effort), so the loop's scattered accesses to it miss
 * the TLB less and its first touches fault 2 MiB at a time; pages are still committed only when
 * first written. *mapped = the mapping's length (for munmap), 0 for a calloc'd array. */
static void *zalloc_big(size_t n, size_t *mapped) {
    *mapped = 0;
#ifndef BIG_FROM_CALLOC
    if (n >= HUGE_PAGE) {
        size_t len = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        uint8_t *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
        uint8_t *a = p + ((HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE);
        if (a > p) munmap(p, (size_t)(a - p)); /* the slack before and after the aligned part */
        if (a < p + HUGE_PAGE) munmap(a + len, (size_t)(p + HUGE_PAGE - a));
#ifdef MADV_HUGEPAGE
        (void)madvise(a, len, MADV_HUGEPAGE); /* refused without THP: 4 KiB pages then */
#endif
        *mapped = len;
        return a;
    }
#endif
    return calloc(1, n);
}

static void free_big(void *p, size_t mapped) {
    if (mapped) munmap(p, mapped);
    else free(p);
}

static uint64_t random_odd(const void *salt) {
    return vx_entropy64(salt) | 1;
}

vx_status vx_itch_levels_create(uint32_t instruments, uint32_t levels, uint32_t tick,
                                uint32_t window_bits, uint32_t spill_capacity,
                                vx_itch_levels **out) {
    if (!out || instruments < 1 || instruments > VX_ITCH_LOCATES || levels < 2 ||
        levels > (1u << 20) || (levels & (levels - 1)) || (uint64_t)instruments * 2 * levels > (1ull << 31) ||
        tick < 1 || tick >= (1u << 31) || window_bits < 4 ||
        window_bits > VX_ITCH_LEVELS_MAX_WINDOW_BITS || spill_capacity < 16 ||
        spill_capacity > VX_ITCH_LEVELS_MAX_SPILL || (spill_capacity & (spill_capacity - 1)))
        return VX_EINVAL;
    vx_itch_levels *b = calloc(1, sizeof *b);
    if (!b) return VX_ENOMEM;
    b->instruments = instruments;
    b->levels = levels;
    b->level_bits = log2u(levels);
    b->tick = tick;
    vx_ladder_geometry g; /* the span and reciprocal vx_ladder_init derives (any base) */
    if (vx_ladder_init(&g, levels, 1u << 20, tick, 0) != VX_OK) {
        free(b);
        return VX_EINVAL;
    }
    b->span = g.window_span;
    b->tick_recip = g.tick_reciprocal;
    b->win_size = (uint64_t)1 << window_bits;
    b->win_mask = b->win_size - 1;
    b->sp_mask = (uint64_t)spill_capacity - 1;
    b->sp_shift = 64 - log2u(spill_capacity);
    b->sp_mul = random_odd(b);
    b->sp_above_min = UINT64_MAX;
    b->error = "";
    b->lv = zalloc_big((size_t)instruments * 2 * levels * sizeof *b->lv, &b->lv_mapped);
    b->base = malloc((size_t)instruments * sizeof *b->base);
    b->win = zalloc_big(b->win_size * sizeof *b->win, &b->win_mapped);
    b->sp = calloc(spill_capacity, sizeof *b->sp);
    if (!b->lv || !b->base || !b->win || !b->sp) {
        vx_itch_levels_destroy(b);
        return VX_ENOMEM;
    }
    for (uint32_t i = 0; i < instruments; i++) b->base[i] = INT64_MIN; /* bounded */
    *out = b;
    return VX_OK;
}

void vx_itch_levels_destroy(vx_itch_levels *b) {
    if (!b) return;
    if (b->lv) free_big(b->lv, b->lv_mapped);
    free(b->base);
    if (b->win) free_big(b->win, b->win_mapped);
    free(b->sp);
    free(b);
}

void vx_itch_levels_reset(vx_itch_levels *b) {
    size_t book = (size_t)2 << b->level_bits; /* a book's two sides, in levels */
    for (uint32_t i = 0; i < b->instruments; i++) { /* bounded */
        if (b->base[i] == INT64_MIN) continue; /* unplaced: its levels were never written */
        memset(&b->lv[i * book], 0, book * sizeof *b->lv);
        b->base[i] = INT64_MIN;
    }
    /* a record is free when its qty is 0: only live ones need clearing */
    if (b->win_live) memset(b->win, 0, b->win_size * sizeof *b->win);
    if (b->sp_count) memset(b->sp, 0, (b->sp_mask + 1) * sizeof *b->sp);
    b->lo = b->win_live = b->sp_count = b->sp_above = 0;
    b->refused_lo = 0;
    b->refused_credit = 0;
    b->sp_above_min = UINT64_MAX;
    b->offset = b->error_offset = 0;
    b->error = "";
    b->error_type = 0;
    memset(&b->c, 0, sizeof b->c);
}

/* ---- spill table ----------------------------------------------------------------------- */

static inline uint64_t sp_home(const vx_itch_levels *b, uint64_t id) {
    return (id * b->sp_mul) >> b->sp_shift;
}

static inline struct spill *sp_find(vx_itch_levels *b, uint64_t id) {
    uint64_t pos = sp_home(b, id);
    for (uint64_t n = 0; n <= b->sp_mask; n++) { /* bounded; load <= 1/2 ends it sooner */
        struct spill *e = &b->sp[pos];
        if (e->r.qty == 0) return NULL;
        if (e->id == id) return e;
        pos = (pos + 1) & b->sp_mask;
    }
    return NULL;
}

static inline bool sp_room(const vx_itch_levels *b, uint64_t more) {
    return b->sp_count + more <= (b->sp_mask + 1) / 2;
}

/* Precondition: id absent, sp_room(b, 1). */
static inline void sp_insert(vx_itch_levels *b, uint64_t id, struct rec r) {
    uint64_t pos = sp_home(b, id);
    for (uint64_t n = 0; n <= b->sp_mask && b->sp[pos].r.qty; n++) pos = (pos + 1) & b->sp_mask; /* bounded */
    b->sp[pos].id = id;
    b->sp[pos].r = r;
    b->sp_count++;
    b->refused_credit++; /* one record less room */
}

static void sp_erase(vx_itch_levels *b, struct spill *e) {
    uint64_t i = (uint64_t)(e - b->sp), j = i;
    for (uint64_t n = 0; n < b->sp_mask; n++) { /* bounded: backward shift */
        j = (j + 1) & b->sp_mask;
        if (b->sp[j].r.qty == 0) break;
        uint64_t k = sp_home(b, b->sp[j].id);
        /* move j back to i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            b->sp[i] = b->sp[j];
            i = j;
        }
    }
    b->sp[i].r.qty = 0;
    b->sp_count--;
    b->refused_credit--; /* one record more room */
}

/* ---- order table ----------------------------------------------------------------------- */

/* The live order of id, or NULL; *in_win: its record is in the window (else in the spill
 * table), so that the caller forgets it without asking where it is. */
static inline struct rec *find(vx_itch_levels *b, uint64_t id, bool *in_win) {
    *in_win = id - b->lo < b->win_size;
    if (*in_win) {
        struct rec *r = &b->win[id & b->win_mask];
        return r->qty ? r : NULL;
    }
    if (b->sp_count == 0) return NULL;
    struct spill *e = sp_find(b, id);
    return e ? &e->r : NULL;
}

static inline void forget(vx_itch_levels *b, struct rec *r, bool in_win) {
    if (in_win) {
        r->qty = 0;
        b->win_live--;
        b->refused_credit--; /* at most one record less to move */
    } else {
        sp_erase(b, (struct spill *)((char *)r - offsetof(struct spill, r)));
    }
}

/* After lo moved up: spilled ids the window now covers move into it (their window slots are
 * free: the ids that used them left with the slide). Bounded: each pass advances or erases. */
static void adopt(vx_itch_levels *b) {
    if (b->sp_above == 0 || b->lo + b->win_size <= b->sp_above_min) return;
    uint64_t above = 0, above_min = UINT64_MAX;
    for (uint64_t pos = 0, n = 0; pos <= b->sp_mask && n <= 2 * (b->sp_mask + 1); n++) { /* bounded */
        struct spill *e = &b->sp[pos];
        if (e->r.qty && e->id - b->lo < b->win_size) {
            b->win[e->id & b->win_mask] = e->r;
            b->win_live++;
            sp_erase(b, e); /* an entry may shift into pos: look at it again */
            continue;
        }
        if (e->r.qty && e->id >= b->lo + b->win_size) {
            above++;
            if (e->id < above_min) above_min = e->id;
        }
        pos++;
    }
    b->sp_above = above;
    b->sp_above_min = above_min;
}

/* Live orders of the ids a slide to new_lo would move out of the window (<= W records read;
 * the slide reads the same ones again, so a slide costs two passes over what it evicts). */
static uint64_t leaving(const vx_itch_levels *b, uint64_t new_lo) {
    uint64_t n = new_lo - b->lo, live = 0;
    if (n > b->win_size) n = b->win_size;
    for (uint64_t i = 0; i < n; i++) live += b->win[(b->lo + i) & b->win_mask].qty != 0; /* bounded by W */
    return live;
}

/* Moves lo up to new_lo: live records of the ids that leave go to the spill table (the caller
 * counted them with leaving() and checked the room). */
static void slide(vx_itch_levels *b, uint64_t new_lo) {
    uint64_t n = new_lo - b->lo;
    if (n > b->win_size) n = b->win_size;
    for (uint64_t i = 0; i < n && b->win_live; i++) { /* bounded by W */
        uint64_t id = b->lo + i;
        struct rec *r = &b->win[id & b->win_mask];
        if (r->qty) {
            sp_insert(b, id, *r);
            r->qty = 0;
            b->win_live--;
        }
    }
    b->lo = new_lo;
    b->refused_lo = 0;
    b->c.slides++;
    adopt(b);
}

/* Where a new id goes: its record (free), or NULL when no room (FULL). May slide the window. */
static inline struct rec *place_id(vx_itch_levels *b, uint64_t id, bool may_slide) {
    uint64_t d = id - b->lo;
    if (d < b->win_size) return &b->win[id & b->win_mask];
    if (id > b->lo && may_slide) {
        if (b->win_live == 0) { /* nothing to move: the window jumps */
            b->lo = id - b->win_size / 2; /* > lo: id >= lo + W */
            b->refused_lo = 0;
            b->c.slides++;
            adopt(b);
            return &b->win[id & b->win_mask];
        }
        if (d < 2 * b->win_size) {
            uint64_t new_lo = id + b->win_size / 4 + 1 - b->win_size;
            /* Counting the records that would leave is O(W): after a refusal, count again
             * only when the slide may fit (its credit spent) or wants less (a lower lo).
             * Refused with shortfall s = need - room, a slide to lo' >= that lo needs
             * s <= window deletes + spill deletes - spill inserts since (the leaving range
             * only grows with lo', window inserts only add to it): credit > 0 = no fit. */
            if (!b->refused_lo || new_lo < b->refused_lo || b->refused_credit <= 0) {
                uint64_t need = leaving(b, new_lo) + 1;
                if (sp_room(b, need)) {
                    slide(b, new_lo);
                    return &b->win[id & b->win_mask];
                }
                b->c.slides_refused++;
                b->refused_lo = new_lo;
                b->refused_credit = (int64_t)(b->sp_count + need - (b->sp_mask + 1) / 2);
            }
        }
    }
    if (!sp_room(b, 1)) return NULL;
    return (struct rec *)1; /* spill: the caller inserts */
}

static inline void store(vx_itch_levels *b, uint64_t id, struct rec *slot, struct rec r) {
    if (slot == (struct rec *)1) {
        sp_insert(b, id, r);
        if (id - b->lo >= b->win_size && id > b->lo) { /* above the window */
            b->sp_above++;
            if (id < b->sp_above_min) b->sp_above_min = id;
        }
    } else {
        *slot = r;
        b->win_live++;
    }
}

/* ---- books ----------------------------------------------------------------------------- */

/* Level of (instrument, side, price) for a new order: OK with *where, or OFF_GRID. Places an
 * unplaced book (price at level levels / 2). */
static inline vx_mbo_reject locate(vx_itch_levels *b, uint32_t inst, int side, uint32_t price,
                                   uint32_t *where) {
    int64_t base = b->base[inst];
    if (base == INT64_MIN) base = b->base[inst] = (int64_t)price - (int64_t)(b->levels / 2) * b->tick;
    uint32_t key = inst * 2 + (uint32_t)side, k;
    vx_status st = vx_ladder_locate_raw(base, b->tick, b->span, b->tick_recip, price, &k);
    if (st == VX_EINVAL) return VX_MBO_REJECT_OFF_GRID;
    *where = st == VX_OK ? key << b->level_bits | k : OUTSIDE | key;
    return VX_MBO_REJECT_NONE;
}

static inline void rest(vx_itch_levels *b, uint32_t where, uint32_t qty) {
    if (where & OUTSIDE) b->c.outside++;
    else b->lv[where] += qty;
}

static inline void leave(vx_itch_levels *b, struct rec *r, bool in_win) {
    if (r->where & OUTSIDE) b->c.outside--;
    else b->lv[r->where] -= r->qty;
    forget(b, r, in_win);
}

static inline uint32_t key_of(const vx_itch_levels *b, uint32_t where) {
    return where & OUTSIDE ? where & ~OUTSIDE : where >> b->level_bits;
}

/* An ADD whose id is not in the window (above it: may slide; below or far above: spill). */
static __attribute__((noinline)) vx_mbo_reject add_outside_window(vx_itch_levels *b, uint32_t inst,
                                                                  uint64_t id, int side, uint32_t qty,
                                                                  uint32_t price) {
    if (b->sp_count && sp_find(b, id)) return VX_MBO_REJECT_DUPLICATE;
    struct rec *slot = place_id(b, id, true);
    if (!slot) return VX_MBO_REJECT_FULL;
    uint32_t where;
    vx_mbo_reject why = locate(b, inst, side, price, &where);
    if (why) return why;
    struct rec r = {qty, where};
    store(b, id, slot, r);
    rest(b, where, qty);
    return VX_MBO_REJECT_NONE;
}

static inline vx_mbo_reject add(vx_itch_levels *b, uint32_t inst, uint64_t id, int side,
                                uint32_t qty, uint32_t price) {
    if (qty == 0) return VX_MBO_REJECT_INVALID;
    if (id - b->lo >= b->win_size) return add_outside_window(b, inst, id, side, qty, price);
    struct rec *slot = &b->win[id & b->win_mask]; /* the window never shadows a spilled id */
    if (slot->qty) return VX_MBO_REJECT_DUPLICATE;
    uint32_t where;
    vx_mbo_reject why = locate(b, inst, side, price, &where);
    if (why) return why;
    slot->qty = qty;
    slot->where = where;
    b->win_live++;
    rest(b, where, qty);
    return VX_MBO_REJECT_NONE;
}

static inline vx_mbo_reject reduce(vx_itch_levels *b, uint64_t id, uint32_t qty, bool trade) {
    if (qty == 0) return VX_MBO_REJECT_INVALID;
    bool in_win;
    struct rec *r = find(b, id, &in_win);
    if (!r) {
        b->c.unknown_orders++;
        return VX_MBO_REJECT_NONE;
    }
    if (qty > r->qty) return VX_MBO_REJECT_EXCEEDS;
    if (trade) b->c.traded_qty += qty;
    if (qty == r->qty) {
        leave(b, r, in_win);
    } else {
        r->qty -= qty;
        if (!(r->where & OUTSIDE)) b->lv[r->where] -= qty;
    }
    return VX_MBO_REJECT_NONE;
}

static vx_mbo_reject replace(vx_itch_levels *b, uint64_t id, uint64_t ref, uint32_t qty,
                             uint32_t price) {
    if (qty == 0) return VX_MBO_REJECT_INVALID;
    bool in_win;
    if (ref != id && find(b, ref, &in_win)) return VX_MBO_REJECT_DUPLICATE;
    struct rec *r = find(b, id, &in_win);
    if (!r) {
        b->c.unknown_orders++;
        return VX_MBO_REJECT_NONE;
    }
    uint32_t key = key_of(b, r->where), inst = key >> 1, where;
    int side = (int)(key & 1);
    vx_mbo_reject why = locate(b, inst, side, price, &where);
    if (why) return why;
    /* room for ref, decided before anything changes (no slide: r may move) */
    uint64_t d = ref - b->lo;
    if (d >= b->win_size && !sp_room(b, 1) && ref != id) return VX_MBO_REJECT_FULL;
    leave(b, r, in_win);
    struct rec *slot = place_id(b, ref, false);
    if (!slot) return VX_MBO_REJECT_FULL; /* unreachable: checked above or a slot was freed */
    struct rec nr = {qty, where};
    store(b, ref, slot, nr);
    rest(b, where, qty);
    return VX_MBO_REJECT_NONE;
}

static inline vx_status fail(vx_itch_levels *b, size_t pos, uint8_t type, const char *why) {
    b->error_offset = b->offset + pos;
    b->error_type = type;
    b->error = why;
    return VX_EINVAL;
}

static const struct rec no_record = {0, OUTSIDE}; /* no level to prefetch */

/* The cursor's step for the message at buf + *ahead (if its first 21 bytes are in the buffer):
 * the 8 bytes at offset 11 (the order reference of A F E C X D U), whatever the type, inside
 * the window: prefetches their record and *rec = it (the loop prefetches the level that record
 * names AHEAD / 2 messages later); below the window while orders are spilled: prefetches their
 * spill table home slot. Else *rec = no_record. Checks nothing else: every address it
 * prefetches is inside the window or the spill table (a prefetch never faults anyway), and a
 * message it passes is validated when the loop reaches it. */
static inline __attribute__((always_inline)) void look_ahead(const vx_itch_levels *b, const uint8_t *buf,
                                                             size_t len, size_t *ahead,
                                                             const struct rec **rec) {
    *rec = &no_record;
    if (*ahead + 2 + 19 > len) return;
    uint64_t id = vx_be64(buf + *ahead + 2 + 11);
    if (id - b->lo < b->win_size) {
        *rec = &b->win[id & b->win_mask];
        __builtin_prefetch(*rec, 1);
    } else if (id < b->lo && b->sp_count) {
        __builtin_prefetch(&b->sp[sp_home(b, id)], 1);
    }
    *ahead += 2 + vx_be16(buf + *ahead);
}

/* The loop, inlined twice: with timed = false (feed) the timestamp test is compiled out.
 *
 * Prefetch (look_ahead): a cursor walks the same length prefixes AHEAD messages ahead of pos and
 * prefetches each message's order record (or spill slot); AHEAD / 2 messages ahead the loop
 * prefetches the level named by the record the cursor saw for that message (fetched by then;
 * an ADD's fresh record names none). The prefetches sit in always-inlined code on purpose: GCC
 * deleted calls to static helpers holding only __builtin_prefetch as pure calls. */
static inline __attribute__((always_inline)) vx_status
feed_loop(vx_itch_levels *b, const uint8_t *buf, size_t len, uint64_t until_ns, size_t *consumed,
          const bool timed) {
    size_t pos = 0, ahead = 0;
    const struct rec *ahead_rec[AHEAD]; /* [message % AHEAD]: its record, as the cursor saw it */
    for (int i = 0; i < AHEAD; i++) look_ahead(b, buf, len, &ahead, &ahead_rec[i]); /* bounded */
    vx_status st = VX_OK;
    vx_itch_levels_counts *c = &b->c;
    uint64_t messages = 0, applied = 0; /* added to c at the end */
    /* bounded: each pass consumes >= 3 bytes or leaves */
    while (len - pos >= 2) {
        size_t mlen = vx_be16(buf + pos);
        if (mlen - 1 >= len - pos - 2) { /* mlen 0 wraps: one test for both */
            if (mlen == 0) st = fail(b, pos, 0, "zero message length");
            break; /* else incomplete: resume here with more bytes */
        }
        const struct rec *near = ahead_rec[(messages + AHEAD / 2) % AHEAD];
        if (!(near->where & OUTSIDE)) __builtin_prefetch(&b->lv[near->where], 1);
        look_ahead(b, buf, len, &ahead, &ahead_rec[messages % AHEAD]);
        const uint8_t *m = buf + pos + 2;
        uint8_t type = m[0];
        if (mlen != vx_itch_fixed_length[type]) {
            if (vx_itch_fixed_length[type] == 0) {
                c->unknown_types++;
                messages++;
                pos += 2 + mlen;
                continue;
            }
            st = fail(b, pos, type, "message length differs from its type's fixed length");
            break;
        }
        /* every ITCH 5.0 type carries its 6-byte timestamp at offset 5 (fixed lengths >= 12) */
        if (timed &&
            ((uint64_t)vx_be16(m + 5) << 32 | vx_be32(m + 7)) >= until_ns)
            break;
        vx_mbo_reject why = VX_MBO_REJECT_NONE;
        uint32_t inst = vx_be16(m + 1);
        switch (type) {
        case 'A':
        case 'F': {
            int s = m[19]; /* 'B' or 'S': one test, no branch on the side */
            if ((s - 'B') * (s - 'S') != 0) { st = fail(b, pos, type, "add order side is not 'B' or 'S'"); goto done; }
            why = inst >= b->instruments ? VX_MBO_REJECT_INSTRUMENT
                                         : add(b, inst, vx_be64(m + 11), s == 'S', vx_be32(m + 20), vx_be32(m + 32));
            break;
        }
        case 'E':
        case 'C':
            why = inst >= b->instruments ? VX_MBO_REJECT_INSTRUMENT : reduce(b, vx_be64(m + 11), vx_be32(m + 19), true);
            break;
        case 'X':
            why = inst >= b->instruments ? VX_MBO_REJECT_INSTRUMENT : reduce(b, vx_be64(m + 11), vx_be32(m + 19), false);
            break;
        case 'D': {
            if (inst >= b->instruments) { why = VX_MBO_REJECT_INSTRUMENT; break; }
            bool in_win;
            struct rec *r = find(b, vx_be64(m + 11), &in_win);
            if (r) leave(b, r, in_win);
            else c->unknown_orders++;
            break;
        }
        case 'U':
            why = inst >= b->instruments ? VX_MBO_REJECT_INSTRUMENT
                                         : replace(b, vx_be64(m + 11), vx_be64(m + 19), vx_be32(m + 27), vx_be32(m + 31));
            break;
        default: /* no book effect */
            c->other_messages++;
            messages++;
            pos += 2 + mlen;
            continue;
        }
        if (why == VX_MBO_REJECT_NONE) applied++;
        else { c->rejected++; c->rejected_by_reason[why]++; }
        messages++;
        pos += 2 + mlen;
    }
done:
    b->offset += pos;
    c->messages += messages;
    c->applied += applied;
    *consumed = pos;
    return st;
}

vx_status vx_itch_levels_feed(vx_itch_levels *b, const uint8_t *buf, size_t len,
                              size_t *consumed) {
    return feed_loop(b, buf, len, UINT64_MAX, consumed, false);
}

vx_status vx_itch_levels_feed_until(vx_itch_levels *b, const uint8_t *buf, size_t len,
                                    uint64_t until_ns, size_t *consumed) {
    if (until_ns == UINT64_MAX) return vx_itch_levels_feed(b, buf, len, consumed);
    return feed_loop(b, buf, len, until_ns, consumed, true);
}

void vx_itch_levels_counts_read(const vx_itch_levels *b, vx_itch_levels_counts *out) {
    *out = b->c;
    out->spilled = b->sp_count;
    out->live = b->win_live + b->sp_count; /* every live order is in one of the two */
}
uint64_t vx_itch_levels_error_offset(const vx_itch_levels *b) { return b->error_offset; }
uint8_t vx_itch_levels_error_type(const vx_itch_levels *b) { return b->error_type; }
const char *vx_itch_levels_error(const vx_itch_levels *b) { return b->error; }

size_t vx_itch_levels_memory_bytes(const vx_itch_levels *b) {
    return (size_t)b->instruments * 2 * b->levels * sizeof *b->lv +
           (size_t)b->instruments * sizeof *b->base + b->win_size * sizeof *b->win +
           (size_t)(b->sp_mask + 1) * sizeof *b->sp;
}

int vx_itch_levels_base(const vx_itch_levels *b, uint32_t instrument, int64_t *base) {
    if (instrument >= b->instruments || b->base[instrument] == INT64_MIN) return 0;
    *base = b->base[instrument];
    return 1;
}

size_t vx_itch_levels_depth(const vx_itch_levels *b, uint32_t instrument, int side, size_t n,
                            int64_t *prices, uint64_t *qtys) {
    int64_t base;
    if ((side != VX_BUY && side != VX_SELL) || !vx_itch_levels_base(b, instrument, &base)) return 0;
    const uint64_t *lv = &b->lv[(size_t)(instrument * 2 + (uint32_t)side) << b->level_bits];
    size_t got = 0;
    for (uint32_t i = 0; i < b->levels && got < n; i++) { /* bounded */
        uint32_t k = side == VX_BUY ? b->levels - 1 - i : i; /* bids from the top */
        if (lv[k]) {
            prices[got] = base + (int64_t)k * b->tick;
            qtys[got] = lv[k];
            got++;
        }
    }
    return got;
}

vx_status vx_itch_levels_best(const vx_itch_levels *b, uint32_t instrument, int side,
                              int64_t *price, uint64_t *qty) {
    if ((side != VX_BUY && side != VX_SELL) || instrument >= b->instruments) return VX_EINVAL;
    return vx_itch_levels_depth(b, instrument, side, 1, price, qty) ? VX_OK : VX_EMPTY;
}
