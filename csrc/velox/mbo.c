/* velox/mbo.c — the market-by-order (L3) book. See mbo.h for the contract, docs/mbo.md for
 * the semantics.
 *
 * Order table. Orders live in `slots` (48 B each, allocated at create / reserve), found by
 * order id through an open-addressing index of 8-byte entries (linear probing in Robin Hood
 * order, load factor <= 1/2, deletion by backward shift, so no tombstones). An entry is
 *     key << 32 | (slot + 1),   key = 32 bits of a keyed multiplicative hash of the id (hash_id),
 * 0 = empty. An ADD placed further than VX_MBO_PROBE_LIMIT from its home rebuilds the index
 * with a new random multiplier (rehash), so no probe, insert or erase walks far. The entry's home position is key & index_mask, so the shifts never read a
 * slot, and a probe compares the stored key before it touches a slot. Robin Hood order: along
 * a run of entries, homes never go backwards (an entry's distance from home is at most its
 * predecessor's + 1). An insert goes where the probe meets the first entry nearer its home
 * than the probe is to the new one's, moving the rest of the run one place on; a probe stops
 * there too; and an erase shifts back only the entries that are away from home, stopping at
 * the first one at home. (Plain linear probing had to shift to the end of the run: a run of
 * 16 sequential ids, all at home, cost an erase ~7 steps; Robin Hood stops after one.) Free
 * slots form a stack through `next`; slots above high_water were never used.
 *
 * Id window. Feed ids are mostly dense and increasing (ITCH order references), so before the
 * hash index comes a direct window: ids [lo, lo + W) map to win[id & (W - 1)] (slot + 1, 0 =
 * none), one load and no hash. Every live id in that range is in the window and nowhere else;
 * every other live id is in the index. An ADD of an id in [lo + W, lo + 2W) slides lo up to
 * id - (3W/4 - 1) (a quarter of the window stays free above it, so increasing ids slide once
 * per ~W/4 ADDs): the live orders whose ids lo passes move to the index (each window entry is
 * scanned once as lo passes it: O(1) per id, amortised). An ADD further above goes to the
 * index, unless the window holds nothing and no indexed id lies above it: then lo jumps to
 * it (a feed whose ids start high). lo never moves down, except when the table is empty (and
 * in the exclusive rebuilds of reserve / vx_mbo_id_window, which place every order again).
 * Indexed ids above the window are counted (hash_above, exact) with a lower bound of the
 * least (hash_above_min); when a slide moves the window's top past that bound, the index is
 * scanned and the ids it now covers move into the window (adopt: O(index), only when ids
 * arrive more than a window ahead of the rest and then catch up). lo + 2W never passes 2^64,
 * so "above" is a plain compare. A slide is bracketed like an erase (erase_seq odd): a reader
 * that overlaps it retries a negative answer.
 *
 * Queues. Each level keeps its FIFO as a doubly linked list of slot indices (head/tail in the
 * level, prev/next in the slots). Orders outside the window sit in the book's `outside` list,
 * kept in arrival order (seq), so a recenter can move them onto the ladder in time priority.
 *
 * Best hints. Each side's hint is the rank of its best non-empty level. When a level fills or
 * empties, the writer settles the hint from the side's rankmap (rankmap.h: a three-tier bitmap
 * of the non-empty ranks, the writer's alone), so the next best after the best empties is
 * found in at most 8 word loads however far below it lies (a walk down the levels cost ~230
 * instructions per event at 4096 levels). Readers never touch the rankmap: they start at the
 * hint and read the level quantities. vx_mbo_verify_invariants checks the rankmap against the
 * quantities and the hints against a walk of the quantities (scan_down), not the rankmap.
 *
 * Concurrency (single writer, readers anywhere). Level aggregates, order counts and best hints
 * are atomics the writer publishes with release stores and readers load with acquire. Slot
 * fields and index entries are atomics too (writer: release stores; readers: acquire loads;
 * on x86_64 both are plain moves), validated without any per-event cost to the writer:
 *   - A slot's seq_inst is its GENERATION: 0 while free or being filled, else a value no
 *     other allocation ever has (arrival sequence, 48 bits, never reused). The writer fills
 *     the fields, then publishes seq_inst (release), then the index entry; on removal it
 *     zeroes seq_inst first, then unlinks and frees. A reader loads seq_inst (g1), the fields,
 *     seq_inst again (g2): g1 == g2 != 0 and the id matches → all fields belong to one
 *     allocation of that order (fields that change in place, qty and links, are single atomics).
 *     Any load that saw a store made after the zeroing forces the later g2 load to see 0 or a
 *     newer generation (release/acquire), so a mixed read cannot validate.
 *   - A "not found" could be false while an erase shifts entries back past the probe, so
 *     erase_at makes erase_seq odd before and even after moving entries (relaxed odd store
 *     followed by release entry stores; even store release); a negative answer is trusted only
 *     if erase_seq was even and unchanged around the probe. (No fences: GCC's ThreadSanitizer
 *     cannot check atomic_thread_fence.)
 *   - queue_position walks prev links from the order; each visited slot is validated the same
 *     way and must be in the same level with an older arrival sequence than the one visited
 *     before it (a slot recycled into the queue's tail is caught that way).
 * A reader retries VX_MBO_READ_ATTEMPTS times, then reports VX_TIMEOUT. Every slot index a
 * reader follows is bounds-checked before use, and every walk is bounded by the capacity.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall (velox/entropy.h) */
#endif
#include "velox/mbo.h"
#include "velox/entropy.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "velox/backoff.h"
#include "velox/ladder.h"
#include "velox/rankmap.h"

enum { LINE = 128 };

#define NIL UINT32_MAX
#define LOC_FREE 0x7FFFFFFEu       /* slot.loc of a free slot (no level has this index) */
#define LOC_OUTSIDE 0x7FFFFFFFu    /* level bits of an out-of-window order */
#define LOC_SIDE_BIT 31
#define INST_BITS 16               /* slot.seq_inst = arrival seq << 16 | book index */
#define HASH_HI 0xFFFFFFFF00000000ull
#define POS_WIN (UINT64_C(1) << 63) /* a find() position in the id window (else in the index) */

/* Slot fields, index entries and level fields (see the file comment):
 *   LD: the writer reading its own data (relaxed: nobody else writes it);
 *   ST: the writer's stores, release: orders every earlier store (a zeroed generation, an odd
 *       erase_seq) ahead of it; pairs with RD in readers;
 *   RD: readers' loads, acquire: pairs with ST, and keeps every later load (the generation
 *       or erase_seq re-check) after it. On x86_64 all three are plain moves. */
#define LD(p) atomic_load_explicit((p), memory_order_relaxed)
#define ST(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define RD(p) atomic_load_explicit((p), memory_order_acquire)

struct slot {
    _Atomic uint64_t order_id;
    _Atomic int64_t price;
    _Atomic uint64_t ts;
    _Atomic uint64_t seq_inst; /* generation: arrival seq (>= 1) << INST_BITS | book index; 0 = free */
    _Atomic uint32_t qty;
    _Atomic uint32_t prev;
    _Atomic uint32_t next;     /* also the free-stack link */
    _Atomic uint32_t loc;      /* side << 31 | level index (LOC_OUTSIDE), LOC_FREE if free */
};
_Static_assert(sizeof(struct slot) == VX_MBO_SLOT_BYTES, "an order slot is 48 bytes");

struct level {
    _Atomic uint64_t qty;    /* orders + seeded; release by the writer, acquire by readers */
    _Atomic uint64_t seeded; /* lots without identity */
    _Atomic uint32_t count;  /* identified orders in the queue */
    uint32_t head, tail;     /* writer only */
    uint32_t pad;
};
_Static_assert(sizeof(struct level) == 32, "a level is 32 bytes");

struct table {
    struct slot *slots;
    _Atomic uint64_t *index;
    uint32_t capacity;
    uint32_t high_water;
    uint32_t free_head;
    uint32_t index_bits; /* index has 1 << index_bits entries, >= 2 * capacity */
    uint64_t index_mask;
    _Atomic uint64_t hash_mul; /* odd, random: drawn at create, reserve and rehash (hash_id);
                                  release in rehash, acquire in hash_id (see rehash) */
    uint32_t hash_rot;   /* index_bits - 4 (0 for an index of <= 16 entries) */
    uint64_t rng;        /* splitmix64 state the multipliers are drawn from */
    uint64_t inserts_since_rehash; /* a rehash waits for (index size) / 8 of them */
    uint64_t next_seq;
    /* The direct id window (file comment). win, win_size, win_mask change only in exclusive
     * calls (reserve, vx_mbo_id_window); win_size 0 = no window. */
    _Atomic uint32_t *win;     /* slot + 1, 0 = none; ST by the writer, RD by readers */
    uint64_t win_size, win_mask;
    _Atomic uint64_t win_lo;   /* release by the writer (slide, jump); acquire in find */
    uint64_t win_live;         /* entries in the window (writer) */
    uint64_t hash_above;       /* indexed live ids >= lo + W (writer; exact) */
    uint64_t hash_above_min;   /* <= the least of them (UINT64_MAX: none since the last scan) */
    bool win_auto;             /* default size: reserve grows it */
    vx_mbo_book *books; /* the books whose orders this table holds: [0, nbooks) */
    uint32_t nbooks;
    uint32_t follow_head; /* marked books (vx_mbo_follow): a stack through follow_next, NIL = none */
    _Atomic uint32_t live;

    alignas(LINE) _Atomic uint64_t erase_seq; /* odd while erase_at moves index entries */

    /* Counters written only by the writer (load + store), read relaxed by anyone. */
    alignas(LINE) _Atomic uint64_t by_action[VX_MBO_ACTION_MAX + 1];
    _Atomic uint64_t by_reason[VX_MBO_REJECT_COUNT];
    _Atomic uint64_t unknown_orders;
    _Atomic uint64_t outside;
    _Atomic uint64_t recenters;
    _Atomic uint64_t traded_qty;
    _Atomic uint64_t dropped_seeded_qty;
    _Atomic uint64_t rehashes;
    _Atomic uint64_t win_hits;
    _Atomic uint64_t hash_lookups;
    _Atomic uint64_t slides;

    /* Written by readers (fetch_add), on their retry path only. */
    alignas(LINE) _Atomic uint64_t read_retries;
};
_Static_assert(offsetof(struct table, erase_seq) % LINE == 0, "erase_seq owns a line");
_Static_assert(offsetof(struct table, by_action) % LINE == 0, "writer counters own a line");
_Static_assert(offsetof(struct table, read_retries) % LINE == 0, "reader counter owns a line");

struct vx_mbo_book {
    vx_ladder_geometry g; /* base changes only in recenter (exclusive) or placement */
    struct level *lv[2];  /* [side][index] */
    struct table *t;
    uint32_t instrument;  /* UINT32_MAX = any */
    uint32_t book_index;  /* index in t->books */
    _Atomic bool placed;  /* window placed (a set's books start unplaced); release after g is
                           * written (place, recenter), acquire by readers before they read g */
    bool owns;            /* standalone: owns t, lv and the rankmaps' storage */
    uint32_t out_head, out_tail, out_count; /* outside list (writer only) */
    /* Which ranks of each side are non-empty (rankmap.h): WRITER-ONLY state, plain words, no
     * atomics; readers never look at it (they read the level quantities). Kept equal to
     * (lv[side][i].qty != 0) by set_level, clear_book and recenter (rebuild_nonempty), the only
     * writers of a level's qty; vx_mbo_verify_invariants checks it. nonempty[0].tier[0] is
     * the start of both sides' storage (one block; a set's books share the set's block). */
    vx_rankmap nonempty[2];
    /* following the market (writer only; see vx_mbo_follow) */
    uint32_t follow_next;  /* next marked book (index in t->books) */
    bool follow_marked;
    bool beyond[2];        /* beyond_id[side] names the most extreme order resting beyond the
                              window on the market's side (a bid above it, an ask below) */
    uint32_t beyond_count[2]; /* outside orders beyond the window on that side (is_beyond) */
    uint64_t beyond_id[2];
    int64_t beyond_px[2];
    alignas(LINE) _Atomic uint32_t best[2]; /* best rank per side; writer release, readers acquire */
};
_Static_assert(offsetof(struct vx_mbo_book, best) % LINE == 0, "hints own a line");
_Static_assert(VX_MBO_MAX_INSTRUMENTS <= (1u << INST_BITS), "book index fits in INST_BITS");
_Static_assert(VX_MBO_MAX_LEVELS < LOC_OUTSIDE, "level index fits below LOC_OUTSIDE");
_Static_assert((uint32_t)VX_MBO_MAX_LEVELS <= (uint32_t)VX_RANKMAP_MAX_RANKS, "a rankmap covers the largest ladder");
_Static_assert((uint64_t)VX_MBO_MAX_ORDERS * UINT32_MAX + VX_MBO_MAX_SEED < (uint64_t)INT64_MAX,
               "a level aggregate cannot overflow");

struct vx_mbo_set {
    struct table *t;
    vx_mbo_book *books;
    struct level *levels; /* one block for every book */
    uint64_t *rank_words; /* every book's rankmaps, one block */
    uint32_t instruments;
};

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                             */

static inline bool valid_side(int side) { return side == VX_BUY || side == VX_SELL; }
static inline uint32_t loc_make(int side, uint32_t level) { return (uint32_t)side << LOC_SIDE_BIT | level; }
static inline int loc_side(uint32_t loc) { return (int)(loc >> LOC_SIDE_BIT); }
static inline uint32_t loc_level(uint32_t loc) { return loc & LOC_OUTSIDE; }

static inline void bump(_Atomic uint64_t *c, uint64_t n) {
    /* single writer: load + store, no locked instruction; readers load relaxed */
    ST(c, LD(c) + n);
}

static void *alloc_lines(size_t bytes) {
    size_t rounded = (bytes + LINE - 1) / LINE * LINE;
    return aligned_alloc(LINE, rounded ? rounded : LINE);
}

/* Zeroed, LINE-aligned memory for the order table's large arrays (slots, hash index, id
 * window: tens of MB at 2^20 orders), freed with zfree_lines. calloc serves a large size from
 * fresh anonymous pages without writing them (glibc, musl), so a page costs a fault only when
 * an order first touches it: creating a 2^20-order book does not zero 70+ MB up front. The
 * pointer calloc returned sits in the word before the aligned block. */
static void *zalloc_lines(size_t bytes) {
    if (bytes > SIZE_MAX - LINE - sizeof(void *)) return NULL;
    unsigned char *raw = calloc(1, bytes + LINE + sizeof(void *));
    if (raw == NULL) return NULL;
    uintptr_t at = ((uintptr_t)(raw + sizeof(void *)) + LINE - 1) & ~(uintptr_t)(LINE - 1);
    memcpy((void *)(at - sizeof(void *)), &raw, sizeof raw);
    return (void *)at;
}

static void zfree_lines(void *p) {
    if (p == NULL) return;
    void *raw;
    memcpy(&raw, (unsigned char *)p - sizeof raw, sizeof raw);
    free(raw);
}

static inline uint64_t read_begin(const struct table *t) {
    /* acquire: pairs with the release store in erase_at's end */
    return atomic_load_explicit(&t->erase_seq, memory_order_acquire);
}

/* A negative probe is trusted when no backward shift overlapped it. */
static inline bool read_end(const struct table *t, uint64_t e1) {
    /* relaxed: every load before it was an acquire (RD), so it cannot move above them */
    return (e1 & 1) == 0 && atomic_load_explicit(&t->erase_seq, memory_order_relaxed) == e1;
}

/* The 32-bit key an entry stores, and its home (key & index_mask): the low 4 bits are the id's,
 * so a run of 16 consecutive ids sits in one aligned block of 16 entries (feed ids are mostly
 * sequential: 16 ADDs in a row touch the same 128 bytes of the index; hashing the whole id
 * spread them over the index, and one cache miss on the entry was 64 % of per-call apply);
 * the block is the TOP index_bits - 4 bits of (id >> 4) * hash_mul, i.e. multiplicative
 * (Fibonacci) hashing with a random odd multiplier per table: for any two runs the chance of
 * one block is about 2 / blocks whatever the ids, so a file cannot pick ids that pile up in
 * one place (with the multiplier fixed and public it could: the multiply is invertible; the
 * old key took middle bits, and ids with those bits zero all homed in block 0). The rotate
 * puts those top bits at the key's bottom; the key's other bits are a tag a probe compares
 * before it reads a slot. The layout depends on the multiplier, results never do (nothing
 * walks the index in its order but the rebuilds). */
static inline uint64_t hash_id(const struct table *t, uint64_t id) {
    /* acquire: pairs with the release store in rehash (a reader that sees the new multiplier
     * sees erase_seq odd, so its probe is retried, not trusted) */
    uint64_t mul = atomic_load_explicit(&t->hash_mul, memory_order_acquire);
    uint32_t top = (uint32_t)(((id >> 4) * mul) >> 32);
    uint32_t r = t->hash_rot; /* < 32 */
    uint32_t rot = r ? (top << r) | (top >> (32 - r)) : top;
    uint32_t key = rot << 4 | (uint32_t)(id & 15u);
    return (uint64_t)key << 32;
}
static inline uint64_t home_of(const struct table *t, uint64_t entry_or_hash) {
    return (entry_or_hash >> 32) & t->index_mask;
}

/* How far an entry at position p sits from its home. */
static inline uint64_t distance(const struct table *t, uint64_t entry, uint64_t p) {
    return (p - home_of(t, entry)) & t->index_mask;
}

/* Slot of order_id, or NIL; *pos = its index position, or (NIL) where the probe stopped: an
 * empty position or the first entry nearer its home than the probe is to the id's (Robin
 * Hood: the id cannot be further on), which is where an insert goes (index_insert). Bounded
 * by the index size. Safe for readers: every slot index is bounds-checked (a reader racing a
 * shift may stop early; read_end makes it retry). */
static inline uint32_t hash_find(const struct table *t, uint64_t id, uint64_t *pos) {
    uint64_t h = hash_id(t, id), tag = h;
    uint64_t p = home_of(t, h);
    for (uint64_t probe = 0; probe <= t->index_mask; probe++) {
        uint64_t e = RD(&t->index[p]);
        if (e == 0 || distance(t, e, p) < probe) break;
        if ((e & HASH_HI) == tag) {
            uint32_t s = (uint32_t)e - 1;
            if (s < t->capacity && RD(&t->slots[s].order_id) == id) {
                *pos = p;
                return s;
            }
        }
        p = (p + 1) & t->index_mask;
    }
    *pos = p;
    return NIL;
}

/* Slot of order_id, or NIL: through the id window when the id lies in it (*pos = POS_WIN |
 * its entry), else through the index (hash_find). Safe for readers: a window entry is
 * bounds-checked and its slot must hold the id (a reader that raced a slide may look at a
 * stale entry: the id check, the generation and read_end catch it). */
static inline uint32_t find(const struct table *t, uint64_t id, uint64_t *pos) {
    /* acquire: pairs with the release store of win_lo in slide / window_place (a reader that
     * sees the new lo sees the index entries of the orders the slide moved there) */
    uint64_t lo = atomic_load_explicit(&t->win_lo, memory_order_acquire);
    if (id - lo < t->win_size) {
        uint64_t w = id & t->win_mask;
        uint32_t e = RD(&t->win[w]);
        *pos = POS_WIN | w;
        if (e != 0 && e - 1 < t->capacity && RD(&t->slots[e - 1].order_id) == id) return e - 1;
        return NIL;
    }
    return hash_find(t, id, pos);
}

/* find() for the writer: a window entry needs no check (the writer's own invariant: the entry
 * of an id in the window is that id's slot + 1, or 0, and 0 - 1 is NIL). */
static inline uint32_t writer_find(const struct table *t, uint64_t id, uint64_t *pos) {
    if (id - LD(&t->win_lo) < t->win_size) {
        uint64_t w = id & t->win_mask;
        *pos = POS_WIN | w;
        return LD(&t->win[w]) - 1;
    }
    return hash_find(t, id, pos);
}

/* Writer: id is at or above the window's top (lo + W never overflows: file comment). */
static inline bool above_window(const struct table *t, uint64_t id) {
    return t->win_size != 0 && id >= LD(&t->win_lo) + t->win_size;
}

/* Writer: entries are about to move (readers distrust a negative probe meanwhile). */
static inline uint64_t shift_begin(struct table *t) {
    uint64_t seq = LD(&t->erase_seq); /* only the writer writes it */
    /* relaxed: the release entry stores that follow order it ahead of them (file comment) */
    atomic_store_explicit(&t->erase_seq, seq + 1, memory_order_relaxed);
    return seq;
}
static inline void shift_end(struct table *t, uint64_t seq) {
    /* release: pairs with the acquire load in read_begin */
    atomic_store_explicit(&t->erase_seq, seq + 2, memory_order_release);
}

/* Removes the entry at pos (writer): the entries after it that are away from home move back
 * one place each, up to the first empty or at-home entry (Robin Hood order keeps them sorted
 * by home, so none further on could move). */
static void erase_shift(struct table *t, uint64_t pos) {
    uint64_t hole = pos;
    for (uint64_t step = 0; step < t->index_mask; step++) { /* bounded by the index size */
        uint64_t j = (hole + 1) & t->index_mask;
        uint64_t e = LD(&t->index[j]);
        if (e == 0 || distance(t, e, j) == 0) break;
        ST(&t->index[hole], e);
        hole = j;
    }
    ST(&t->index[hole], 0);
}

/* erase_shift bracketed for readers. */
static void erase_at(struct table *t, uint64_t pos) {
    uint64_t seq = shift_begin(t);
    erase_shift(t, pos);
    shift_end(t, seq);
}

/* Puts id's entry at pos, where find() stopped (writer): an empty position, or the first
 * entry nearer its home, which moves one place on with the rest of its run, last first.
 * Readers need no erase_seq bracket here (tests/test_mbo.c's anchor test; the erase bracket's
 * mutant fails it): an entry is copied one place on BEFORE its old place is overwritten (both
 * release), and a probe reads forward with acquire loads, so a probe that sees the overwrite
 * at q also sees the copy at q + 1; and a copied entry is one place further from home, so no
 * probe stops early (Robin Hood order: its distance there >= the next entry's old one). */
static inline void index_insert(struct table *t, uint64_t pos, uint64_t id, uint32_t slot) {
    const uint64_t entry = hash_id(t, id) | ((uint64_t)slot + 1);
    if (LD(&t->index[pos]) != 0) {
        uint64_t end = pos;
        for (uint64_t step = 0; step < t->index_mask; step++) { /* bounded: load <= 1/2 */
            end = (end + 1) & t->index_mask;
            if (LD(&t->index[end]) == 0) break;
        }
        for (uint64_t j = end; j != pos; j = (j - 1) & t->index_mask) /* bounded by the run */
            ST(&t->index[j], LD(&t->index[(j - 1) & t->index_mask]));
    }
    ST(&t->index[pos], entry);
}

/* id's entry goes where find() (or window_place) put pos, for slot s (writer). */
static inline void entry_insert(struct table *t, uint64_t pos, uint64_t id, uint32_t s) {
    if (pos & POS_WIN) {
        ST(&t->win[pos & ~POS_WIN], s + 1); /* release: after the slot's generation */
        t->win_live++;
        return;
    }
    if (above_window(t, id)) {
        t->hash_above++;
        if (id < t->hash_above_min) t->hash_above_min = id;
    }
    index_insert(t, pos, id, s);
}

/* Removes the entry at pos of the order in slot s, as find() returned it (writer). */
static inline void entry_erase(struct table *t, uint64_t pos, uint32_t s) {
    if (pos & POS_WIN) {
        ST(&t->win[pos & ~POS_WIN], 0);
        t->win_live--;
        return;
    }
    if (above_window(t, LD(&t->slots[s].order_id))) t->hash_above--;
    erase_at(t, pos);
}

/* After lo moved up (inside the slide's bracket): indexed ids the window now covers move into
 * it, then hash_above / hash_above_min are counted again (a second pass: a backward shift can
 * bring an entry already looked at back to the position looked at again). O(index); only when
 * the window's top passed hash_above_min. Bounded: each step advances or erases an entry. */
static void adopt(struct table *t) {
    uint64_t lo = LD(&t->win_lo), top = lo + t->win_size;
    if (t->hash_above == 0 || t->hash_above_min >= top) return;
    for (uint64_t p = 0, n = 0; p <= t->index_mask && n <= 2 * (t->index_mask + 1); n++) { /* bounded */
        uint64_t e = LD(&t->index[p]);
        if (e != 0) {
            uint32_t s = (uint32_t)e - 1;
            uint64_t id = LD(&t->slots[s].order_id);
            if (id - lo < t->win_size) {
                ST(&t->win[id & t->win_mask], s + 1);
                t->win_live++;
                erase_shift(t, p); /* an entry may shift back into p: look at p again */
                continue;
            }
        }
        p++;
    }
    uint64_t above = 0, least = UINT64_MAX;
    for (uint64_t p = 0; p <= t->index_mask; p++) { /* bounded */
        uint64_t e = LD(&t->index[p]);
        if (e == 0) continue;
        uint64_t id = LD(&t->slots[(uint32_t)e - 1].order_id);
        if (id >= top) {
            above++;
            if (id < least) least = id;
        }
    }
    t->hash_above = above;
    t->hash_above_min = least;
}

/* Moves lo up to new_lo (writer): the live orders of the ids it passes go to the index, then
 * the indexed ids the window now covers come in (adopt). Readers retry meanwhile. */
static void slide(struct table *t, uint64_t new_lo) {
    uint64_t lo = LD(&t->win_lo), n = new_lo - lo;
    if (n > t->win_size) n = t->win_size;
    uint64_t seq = shift_begin(t);
    for (uint64_t i = 0; i < n && t->win_live; i++) { /* bounded by the window */
        uint64_t id = lo + i, w = id & t->win_mask, pos;
        uint32_t e = LD(&t->win[w]);
        if (e == 0) continue;
        (void)hash_find(t, id, &pos);
        index_insert(t, pos, id, e - 1); /* id < new_lo: below the window, not counted above */
        ST(&t->win[w], 0);
        t->win_live--;
    }
    /* release: pairs with the acquire in find (the moved orders' entries are in the index) */
    atomic_store_explicit(&t->win_lo, new_lo, memory_order_release);
    adopt(t);
    shift_end(t, seq);
    bump(&t->slides, 1);
}

/* Where the entry of a new id goes (writer; the id is not live; pos is where find() stopped):
 * an id up to a window above the window slides it and lands in it; with the window empty and
 * no indexed id above it, the window jumps to the id (anywhere when the table is empty);
 * otherwise pos (the index), unchanged. */
static inline uint64_t window_place(struct table *t, uint64_t id, uint64_t pos) {
    uint64_t w = t->win_size;
    if ((pos & POS_WIN) || w == 0) return pos;
    uint64_t lo = LD(&t->win_lo), keep = w - w / 4 - 1; /* the id lands keep above the new lo */
    uint64_t new_lo = id > keep ? id - keep : 0;
    if (new_lo > UINT64_MAX - 2 * w) return pos; /* lo + 2W must stay below 2^64 */
    if (id >= lo && id - lo < 2 * w) {
        slide(t, new_lo); /* id - lo >= w: find() did not place it in the window */
    } else if (t->win_live == 0 && t->hash_above == 0 && (id > lo || LD(&t->live) == 0)) {
        uint64_t seq = shift_begin(t); /* the window is empty and nothing above it: a jump */
        /* release: pairs with the acquire in find */
        atomic_store_explicit(&t->win_lo, new_lo, memory_order_release);
        t->hash_above_min = UINT64_MAX;
        shift_end(t, seq);
        bump(&t->slides, 1);
    } else {
        return pos;
    }
    return POS_WIN | (id & t->win_mask);
}

/* The caller zeroed the generation first. order_id is left: no index entry points here. */
static inline void slot_free(struct table *t, uint32_t s) {
    struct slot *o = &t->slots[s]; /* the writer's own pointer: read once */
    ST(&o->loc, LOC_FREE);
    ST(&o->next, t->free_head);
    t->free_head = s;
}

/* First non-empty rank at or below start (0 if none), by the level quantities: O(start). The
 * writer asks its rankmap instead (next_best); this walk is the independent oracle of
 * vx_mbo_verify_invariants. */
static uint32_t scan_down(const vx_mbo_book *b, int side, uint32_t start) {
    for (uint32_t r = start; r > 0; r--) { /* bounded: start <= levels */
        /* acquire: pairs with the release store in set_level */
        if (atomic_load_explicit(&b->lv[side][vx_ladder_index_of_rank(b->g.levels, side, r)].qty,
                                 memory_order_acquire) != 0)
            return r;
    }
    return 0;
}

/* Levels from either edge in which a best bid or ask marks its book for following. */
static inline uint32_t follow_margin(uint32_t levels) { return levels / 8; }

/* An out-of-window order of `side` at `price` is better than any level could be: a bid above
 * the window, an ask below it (the market has left the window). */
static inline bool is_beyond(const vx_mbo_book *b, int side, int64_t price) {
    return side == VX_BUY ? price > b->g.base : price < b->g.base;
}

/* Writer: b goes on its table's stack of books to follow (once). */
static inline void follow_mark(vx_mbo_book *b) {
    if (b->follow_marked) return;
    b->follow_marked = true;
    b->follow_next = b->t->follow_head;
    b->t->follow_head = b->book_index;
}

/* Writer: first non-empty rank at or below start (0 if none), from the rankmap: O(1). */
static inline uint32_t next_best(const vx_mbo_book *b, int side, uint32_t start) {
    return vx_rankmap_highest_at_or_below(&b->nonempty[side], start);
}

/* Writer (or exclusive): side's rankmap from its level quantities, after levels moved
 * wholesale (recenter). O(levels). */
static void rebuild_nonempty(vx_mbo_book *b, int side) {
    vx_rankmap *m = &b->nonempty[side];
    vx_rankmap_clear(m);
    for (uint32_t i = 0; i < b->g.levels; i++) /* bounded */
        if (LD(&b->lv[side][i].qty)) vx_rankmap_set(m, vx_ladder_rank_of_index(b->g.levels, side, i));
}

/* Writer: a level just filled (after > 0, it was 0) or emptied (after == 0): settle the
 * side's rankmap and hint, and mark the book for following when its best nears an edge. */
static inline void settle_emptiness(vx_mbo_book *b, int side, uint32_t index, bool filled) {
    uint32_t rank = vx_ladder_rank_of_index(b->g.levels, side, index);
    if (filled) vx_rankmap_set(&b->nonempty[side], rank);
    else vx_rankmap_unset(&b->nonempty[side], rank);
    /* relaxed: only the writer writes hints */
    uint32_t hint = atomic_load_explicit(&b->best[side], memory_order_relaxed);
    /* The hint is exact (vx_mbo_verify_invariants checks it): a level filling above it is
     * the new best, a level filling or emptying below it changes nothing, and only the best
     * emptying needs the search, from the rank below it. */
    uint32_t best = filled ? (rank > hint ? rank : hint) : rank == hint ? next_best(b, side, rank - 1) : hint;
    /* release: pairs with the acquire hint loads of readers */
    atomic_store_explicit(&b->best[side], best, memory_order_release);
    if (best) { /* a best within the margin of either edge: follow the market */
        uint32_t at = vx_ladder_index_of_rank(b->g.levels, side, best), m = follow_margin(b->g.levels);
        if (at < m || at >= b->g.levels - m) follow_mark(b);
    } else if (b->out_count) {
        follow_mark(b); /* the side's market may rest outside the window now */
    }
}

/* Writer: a level's aggregate goes before → after; settle the rankmap and the hint if
 * emptiness changed. */
static inline void set_level(vx_mbo_book *b, int side, uint32_t index, uint64_t before, uint64_t after) {
    /* release: pairs with the acquire loads of readers (best, qty, depth) */
    atomic_store_explicit(&b->lv[side][index].qty, after, memory_order_release);
    if ((before == 0) != (after == 0)) settle_emptiness(b, side, index, after != 0);
}

/* Writer: an order in level l keeps its place with `lots` fewer (it still has some): the level
 * stays non-empty, so its rankmap bit and the side's hint stay as they are. */
static inline void level_reduce(struct level *l, uint64_t lots) {
    /* release: pairs with the acquire loads of readers (best, qty, depth) */
    atomic_store_explicit(&l->qty, LD(&l->qty) - lots, memory_order_release);
}

static inline void set_count(struct level *l, uint32_t count) {
    /* release: pairs with the acquire load in vx_mbo_depth */
    atomic_store_explicit(&l->count, count, memory_order_release);
}

/* ---- queues ---- */

/* s (its fields filled, qty > 0) joins the tail of level index's queue: the level cannot be
 * empty after it, so only before == 0 changes its emptiness. */
static inline void queue_append(vx_mbo_book *b, int side, uint32_t index, uint32_t s, uint32_t qty) {
    struct slot *slots = b->t->slots; /* the writer's own pointer: read once */
    struct level *l = &b->lv[side][index];
    uint32_t tail = l->tail; /* writer only */
    ST(&slots[s].prev, tail);
    ST(&slots[s].next, NIL);
    if (tail == NIL) l->head = s;
    else ST(&slots[tail].next, s);
    l->tail = s;
    ST(&slots[s].loc, loc_make(side, index));
    uint64_t before = LD(&l->qty); /* our own value */
    set_count(l, LD(&l->count) + 1);
    /* release: pairs with the acquire loads of readers (best, qty, depth) */
    atomic_store_explicit(&l->qty, before + qty, memory_order_release);
    if (before == 0) settle_emptiness(b, side, index, true);
}

static inline void outside_append(vx_mbo_book *b, uint32_t s) {
    struct table *t = b->t;
    ST(&t->slots[s].prev, b->out_tail);
    ST(&t->slots[s].next, NIL);
    if (b->out_tail == NIL) b->out_head = s;
    else ST(&t->slots[b->out_tail].next, s);
    b->out_tail = s;
    b->out_count++;
    bump(&t->outside, 1);
}

/* Unlinks s from its level queue or the outside list and takes its qty off the level; slots
 * is b->t->slots. */
static void order_unlink(vx_mbo_book *b, struct slot *slots, uint32_t s) {
    struct slot *o = &slots[s];
    uint32_t loc = LD(&o->loc), prev = LD(&o->prev), next = LD(&o->next);
    uint32_t level = loc_level(loc);
    if (level == LOC_OUTSIDE) {
        if (is_beyond(b, loc_side(loc), LD(&o->price))) b->beyond_count[loc_side(loc)]--;
        if (prev == NIL) b->out_head = next;
        else ST(&slots[prev].next, next);
        if (next == NIL) b->out_tail = prev;
        else ST(&slots[next].prev, prev);
        b->out_count--;
        ST(&b->t->outside, LD(&b->t->outside) - 1);
        return;
    }
    int side = loc_side(loc);
    struct level *l = &b->lv[side][level];
    if (prev == NIL) l->head = next;
    else ST(&slots[prev].next, next);
    if (next == NIL) l->tail = prev;
    else ST(&slots[next].prev, prev);
    uint64_t after = LD(&l->qty) - LD(&o->qty);
    set_count(l, LD(&l->count) - 1);
    /* release: pairs with the acquire loads of readers (best, qty, depth) */
    atomic_store_explicit(&l->qty, after, memory_order_release);
    /* the level held this order's qty (> 0): only after == 0 changes its emptiness */
    if (after == 0) settle_emptiness(b, side, level, false);
}

static inline vx_mbo_book *book_of_slot(const struct table *t, uint32_t s) {
    if (t->nbooks == 1) return t->books; /* a standalone book: no load, no multiply */
    return &t->books[(uint32_t)(LD(&t->slots[s].seq_inst) & ((1u << INST_BITS) - 1))];
}

static inline bool is_placed(const vx_mbo_book *b) {
    /* acquire: pairs with the release store after the geometry is written */
    return atomic_load_explicit(&b->placed, memory_order_acquire);
}

/* Places an unplaced book's window so price sits at level levels/2 (or as near as int64 allows). */
static bool place(vx_mbo_book *b, int64_t price) {
    int64_t half, base;
    vx_ladder_geometry g;
    uint32_t levels = b->g.levels;
    int64_t tick = b->g.tick;
    if (!__builtin_mul_overflow((int64_t)(levels / 2), tick, &half) &&
        !__builtin_sub_overflow(price, half, &base) &&
        vx_ladder_init(&g, levels, VX_MBO_MAX_LEVELS, tick, base) == VX_OK) {
        b->g.base = g.base; /* levels, tick, span, reciprocal are unchanged */
        atomic_store_explicit(&b->placed, true, memory_order_release); /* pairs with is_placed */
        return true;
    }
    int64_t span;
    if (!__builtin_mul_overflow((int64_t)(levels - 1), tick, &span) &&
        !__builtin_sub_overflow(price, span, &base) &&
        vx_ladder_init(&g, levels, VX_MBO_MAX_LEVELS, tick, base) == VX_OK) {
        b->g.base = g.base; /* levels, tick, span, reciprocal are unchanged */
        atomic_store_explicit(&b->placed, true, memory_order_release); /* pairs with is_placed */
        return true;
    }
    if (vx_ladder_init(&g, levels, VX_MBO_MAX_LEVELS, tick, price) == VX_OK) {
        b->g.base = g.base;
        atomic_store_explicit(&b->placed, true, memory_order_release); /* pairs with is_placed */
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Construction                                                                              */

static uint32_t index_bits_for(uint32_t capacity) {
    uint32_t bits = 2;
    while (bits < 32 && ((uint64_t)1 << bits) < (uint64_t)capacity * 2) bits++; /* bounded */
    return bits;
}

/* The next odd multiplier of hash_id (splitmix64 of the table's state). */
static uint64_t next_multiplier(struct table *t) {
    uint64_t z = (t->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return (z ^ (z >> 31)) | 1;
}

static void set_index_bits(struct table *t, uint32_t bits) {
    t->index_bits = bits;
    t->index_mask = ((uint64_t)1 << bits) - 1;
    t->hash_rot = bits > 4 ? bits - 4 : 0;
}

/* The default window: the power of two >= 2 x capacity ids, in [MIN, MAX]. */
static uint64_t default_window(uint32_t capacity) {
    uint64_t w = VX_MBO_MIN_WINDOW;
    while (w < VX_MBO_MAX_WINDOW && w < (uint64_t)capacity * 2) w <<= 1; /* bounded */
    return w;
}

static _Atomic uint32_t *window_new(uint64_t ids) {
    if (ids == 0) return NULL;
    return zalloc_lines((size_t)ids * sizeof(_Atomic uint32_t)); /* zero = no order */
}

static struct table *table_new(uint32_t capacity) {
    struct table *t = alloc_lines(sizeof *t);
    if (t == NULL) return NULL;
    memset(t, 0, sizeof *t);
    set_index_bits(t, index_bits_for(capacity));
    t->rng = vx_entropy64(t);
    atomic_init(&t->hash_mul, next_multiplier(t));
    t->slots = zalloc_lines((size_t)capacity * sizeof(struct slot));
    t->index = zalloc_lines((size_t)(t->index_mask + 1) * sizeof(uint64_t)); /* 0 = empty entry */
    t->win_size = default_window(capacity);
    t->win_mask = t->win_size - 1;
    t->win = window_new(t->win_size);
    t->win_auto = true;
    t->hash_above_min = UINT64_MAX;
    atomic_init(&t->win_lo, 0);
    if (t->slots == NULL || t->index == NULL || t->win == NULL) {
        zfree_lines(t->slots);
        zfree_lines(t->index);
        zfree_lines(t->win);
        free(t);
        return NULL;
    }
    t->capacity = capacity;
    t->free_head = NIL;
    t->follow_head = NIL;
    t->next_seq = 1; /* generation 0 means "free" */
    return t;
}

static void table_free(struct table *t) {
    if (t == NULL) return;
    zfree_lines(t->slots);
    zfree_lines(t->index);
    zfree_lines(t->win);
    free(t);
}

/* rank_words: 2 x vx_rankmap_words(levels) words for the two sides' rankmaps. */
static void book_init(vx_mbo_book *b, struct table *t, struct level *bids, struct level *asks,
                      uint64_t *rank_words, uint32_t instrument, uint32_t book_index) {
    b->lv[0] = bids;
    b->lv[1] = asks;
    vx_rankmap_init(&b->nonempty[0], rank_words, b->g.levels);
    vx_rankmap_init(&b->nonempty[1], rank_words + vx_rankmap_words(b->g.levels), b->g.levels);
    for (int side = 0; side < 2; side++) {
        for (uint32_t i = 0; i < b->g.levels; i++) { /* bounded */
            struct level *l = &b->lv[side][i];
            atomic_init(&l->qty, 0);
            atomic_init(&l->seeded, 0);
            atomic_init(&l->count, 0);
            l->head = l->tail = NIL;
            l->pad = 0;
        }
        atomic_init(&b->best[side], 0);
    }
    b->t = t;
    b->instrument = instrument;
    b->book_index = book_index;
    b->out_head = b->out_tail = NIL;
    b->out_count = 0;
    b->follow_next = NIL;
}

vx_status vx_mbo_create(uint32_t levels, int64_t tick, int64_t base, uint32_t max_orders,
                        uint32_t instrument, vx_mbo_book **out) {
    if (out == NULL || max_orders < 1 || max_orders > VX_MBO_MAX_ORDERS) return VX_EINVAL;
    vx_ladder_geometry g;
    if (vx_ladder_init(&g, levels, VX_MBO_MAX_LEVELS, tick, base) != VX_OK) return VX_EINVAL;
    vx_mbo_book *b = alloc_lines(sizeof *b);
    struct level *lv = alloc_lines((size_t)levels * 2 * sizeof(struct level));
    uint64_t *rank_words = alloc_lines((size_t)vx_rankmap_words(levels) * 2 * sizeof(uint64_t));
    struct table *t = table_new(max_orders);
    if (b == NULL || lv == NULL || rank_words == NULL || t == NULL) {
        free(b);
        free(lv);
        free(rank_words);
        table_free(t);
        return VX_ENOMEM;
    }
    memset(b, 0, sizeof *b);
    b->g = g;
    atomic_store_explicit(&b->placed, true, memory_order_release); /* pairs with is_placed */
    b->owns = true;
    book_init(b, t, lv, lv + levels, rank_words, instrument, 0);
    t->books = b;
    t->nbooks = 1;
    *out = b;
    return VX_OK;
}

void vx_mbo_destroy(vx_mbo_book *b) {
    if (b == NULL || !b->owns) return; /* a set's books die with the set */
    table_free(b->t);
    free(b->lv[0]);
    free(b->nonempty[0].tier[0]); /* both sides' rankmaps: one block (vx_mbo_create) */
    free(b);
}

vx_status vx_mbo_set_create(uint32_t instruments, uint32_t levels, int64_t tick,
                            uint32_t max_orders, vx_mbo_set **out) {
    if (out == NULL || instruments < 1 || instruments > VX_MBO_MAX_INSTRUMENTS ||
        max_orders < 1 || max_orders > VX_MBO_MAX_ORDERS)
        return VX_EINVAL;
    vx_ladder_geometry g;
    if (vx_ladder_init(&g, levels, VX_MBO_MAX_LEVELS, tick, 0) != VX_OK) return VX_EINVAL;
    vx_mbo_set *set = malloc(sizeof *set);
    vx_mbo_book *books = alloc_lines((size_t)instruments * sizeof(vx_mbo_book));
    struct level *lv = alloc_lines((size_t)instruments * levels * 2 * sizeof(struct level));
    size_t book_words = (size_t)vx_rankmap_words(levels) * 2;
    uint64_t *rank_words = alloc_lines((size_t)instruments * book_words * sizeof(uint64_t));
    struct table *t = table_new(max_orders);
    if (set == NULL || books == NULL || lv == NULL || rank_words == NULL || t == NULL) {
        free(set);
        free(books);
        free(lv);
        free(rank_words);
        table_free(t);
        return VX_ENOMEM;
    }
    memset(books, 0, (size_t)instruments * sizeof(vx_mbo_book));
    for (uint32_t i = 0; i < instruments; i++) { /* bounded */
        vx_mbo_book *b = &books[i];
        b->g = g;
        atomic_init(&b->placed, false);
        b->owns = false;
        struct level *mine = lv + (size_t)i * levels * 2;
        book_init(b, t, mine, mine + levels, rank_words + (size_t)i * book_words, i, i);
    }
    t->books = books;
    t->nbooks = instruments;
    set->t = t;
    set->books = books;
    set->levels = lv;
    set->rank_words = rank_words;
    set->instruments = instruments;
    *out = set;
    return VX_OK;
}

void vx_mbo_set_destroy(vx_mbo_set *set) {
    if (set == NULL) return;
    table_free(set->t);
    free(set->levels);
    free(set->rank_words);
    free(set->books);
    free(set);
}

uint32_t vx_mbo_set_instruments(const vx_mbo_set *set) { return set->instruments; }

vx_mbo_book *vx_mbo_set_book(vx_mbo_set *set, uint32_t instrument) {
    return instrument < set->instruments ? &set->books[instrument] : NULL;
}

const vx_mbo_book *vx_mbo_set_reader(const vx_mbo_set *set, uint32_t instrument) {
    return instrument < set->instruments ? &set->books[instrument] : NULL;
}

/* Every live order outside the window into an empty index (writer), in slot order; with
 * with_window, the window (emptied by the caller) gets the others. */
static void reinsert_all(struct table *t, bool with_window) {
    uint64_t lo = LD(&t->win_lo);
    t->hash_above = 0;
    t->hash_above_min = UINT64_MAX;
    for (uint32_t s = 0; s < t->high_water; s++) { /* bounded */
        if (LD(&t->slots[s].loc) == LOC_FREE) continue;
        uint64_t pos;
        uint64_t id = LD(&t->slots[s].order_id);
        if (id - lo < t->win_size) {
            if (with_window) entry_insert(t, POS_WIN | (id & t->win_mask), id, s);
            continue; /* (without: already in the window) */
        }
        (void)hash_find(t, id, &pos);
        entry_insert(t, pos, id, s);
    }
    t->inserts_since_rehash = 0;
}

/* Rebuilds the index in place with multiplier mul (writer; readers may run: the rebuild is
 * bracketed like an erase, so a probe that overlaps it retries instead of answering "not
 * found", and a positive answer is validated by the slot's generation as always).
 * O(index size + slots used); no allocation. */
static void rehash(struct table *t, uint64_t mul) {
    uint64_t seq = shift_begin(t);
    /* release: orders the odd erase_seq before it; pairs with the acquire in hash_id */
    atomic_store_explicit(&t->hash_mul, mul | 1, memory_order_release);
    for (uint64_t p = 0; p <= t->index_mask; p++) ST(&t->index[p], 0); /* bounded */
    reinsert_all(t, false);
    shift_end(t, seq);
    bump(&t->rehashes, 1);
}

vx_status vx_mbo_index_reseed(vx_mbo_book *b, uint64_t multiplier) {
    rehash(b->t, multiplier);
    return VX_OK;
}

uint64_t vx_mbo_index_max_distance(const vx_mbo_book *b) {
    const struct table *t = b->t;
    uint64_t most = 0;
    for (uint64_t p = 0; p <= t->index_mask; p++) { /* bounded */
        uint64_t e = LD(&t->index[p]);
        if (e != 0 && distance(t, e, p) > most) most = distance(t, e, p);
    }
    return most;
}

/* Exclusive: the window becomes win (ids entries, 0 = none; the old one is freed) and every
 * live order is indexed again (window or index), into an index the caller has emptied (a new
 * one from zalloc_lines is). lo moves down if lo + 2W would pass 2^64. */
static void window_install(struct table *t, _Atomic uint32_t *win, uint64_t ids) {
    zfree_lines(t->win);
    t->win = win;
    t->win_size = ids;
    t->win_mask = ids ? ids - 1 : 0;
    t->win_live = 0;
    uint64_t lo = LD(&t->win_lo);
    if (ids && lo > UINT64_MAX - 2 * ids) lo = UINT64_MAX - 2 * ids;
    /* relaxed: exclusive (no reader) */
    atomic_store_explicit(&t->win_lo, lo, memory_order_relaxed);
    reinsert_all(t, true);
}

vx_status vx_mbo_id_window(vx_mbo_book *b, uint64_t ids) {
    struct table *t = b->t;
    if (ids != 0 && (ids < VX_MBO_MIN_WINDOW || ids > VX_MBO_MAX_WINDOW || (ids & (ids - 1))))
        return VX_EINVAL;
    _Atomic uint32_t *win = window_new(ids);
    if (ids != 0 && win == NULL) return VX_ENOMEM;
    for (uint64_t p = 0; p <= t->index_mask; p++) ST(&t->index[p], 0); /* bounded */
    window_install(t, win, ids);
    t->win_auto = false;
    return VX_OK;
}

uint64_t vx_mbo_id_window_size(const vx_mbo_book *b) { return b->t->win_size; }

vx_status vx_mbo_reserve(vx_mbo_book *b, uint32_t max_orders) {
    struct table *t = b->t;
    if (max_orders > VX_MBO_MAX_ORDERS) return VX_EINVAL;
    if (max_orders <= t->capacity) return VX_OK;
    uint32_t bits = index_bits_for(max_orders);
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    uint64_t win_ids = t->win_auto ? default_window(max_orders) : t->win_size;
    struct slot *slots = zalloc_lines((size_t)max_orders * sizeof(struct slot));
    _Atomic uint64_t *index = zalloc_lines((size_t)(mask + 1) * sizeof(uint64_t));
    _Atomic uint32_t *win = window_new(win_ids);
    if (slots == NULL || index == NULL || (win_ids != 0 && win == NULL)) {
        zfree_lines(slots);
        zfree_lines(index);
        zfree_lines(win);
        return VX_ENOMEM;
    }
    /* the slots past the old capacity are zero already (zalloc_lines) */
    memcpy(slots, t->slots, (size_t)t->capacity * sizeof(struct slot)); /* exclusive: no reader */
    zfree_lines(t->slots);
    zfree_lines(t->index);
    t->slots = slots;
    t->index = index;
    t->capacity = max_orders;
    set_index_bits(t, bits);
    /* relaxed: reserve is exclusive (no reader) */
    atomic_store_explicit(&t->hash_mul, next_multiplier(t), memory_order_relaxed);
    window_install(t, win, win_ids); /* indexes every live order again */
    return VX_OK;
}

uint32_t vx_mbo_levels(const vx_mbo_book *b) { return b->g.levels; }
int64_t vx_mbo_tick(const vx_mbo_book *b) { return b->g.tick; }
int64_t vx_mbo_base(const vx_mbo_book *b) { return b->g.base; }
uint32_t vx_mbo_capacity(const vx_mbo_book *b) { return b->t->capacity; }
uint32_t vx_mbo_live_orders(const vx_mbo_book *b) { return LD(&b->t->live); }
uint32_t vx_mbo_instrument(const vx_mbo_book *b) { return b->instrument; }
bool vx_mbo_placed(const vx_mbo_book *b) { return is_placed(b); }

/* One book's own part: its ladder, its two rankmaps and its struct. */
static size_t book_bytes(const vx_mbo_book *b) {
    return (size_t)b->g.levels * 2 * sizeof(struct level) +
           (size_t)vx_rankmap_words(b->g.levels) * 2 * sizeof(uint64_t) + sizeof *b;
}

/* The table's part, shared by a set's books: slots, index and id window. */
static size_t table_bytes(const struct table *t) {
    return (size_t)t->capacity * sizeof(struct slot) + (size_t)(t->index_mask + 1) * 8 +
           (size_t)t->win_size * VX_MBO_WINDOW_ENTRY_BYTES;
}

size_t vx_mbo_memory_bytes(const vx_mbo_book *b) { return table_bytes(b->t) + book_bytes(b); }

size_t vx_mbo_set_memory_bytes(const vx_mbo_set *set) {
    size_t bytes = table_bytes(set->t);
    for (uint32_t i = 0; i < set->instruments; i++) bytes += book_bytes(&set->books[i]); /* bounded */
    return bytes;
}

vx_status vx_mbo_locate(const vx_mbo_book *b, int64_t price, uint32_t *index) {
    if (!is_placed(b)) return VX_ERANGE;
    return vx_ladder_locate(&b->g, price, index);
}

/* ---------------------------------------------------------------------------------------- */
/* apply (single writer)                                                                     */

typedef struct {
    vx_status status;
    vx_mbo_reject reason;
} verdict;

static inline verdict rej(vx_mbo_reject reason, vx_status st) {
    verdict v = {st, reason};
    return v;
}
static const verdict OK = {VX_OK, VX_MBO_REJECT_NONE};

/* add_order's order outside the window: the outside list, and the market's edge. */
__attribute__((noinline)) static void rest_outside(vx_mbo_book *b, uint32_t s, int side, int64_t price, uint64_t id) {
    ST(&b->t->slots[s].loc, loc_make(side, LOC_OUTSIDE));
    outside_append(b, s);
    /* a bid above the window or an ask below it: the market has left the window */
    if (is_beyond(b, side, price)) {
        b->beyond_count[side]++;
        if (!b->beyond[side] || (side == VX_BUY ? price > b->beyond_px[side] : price < b->beyond_px[side])) {
            b->beyond[side] = true;
            b->beyond_id[side] = id;
            b->beyond_px[side] = price;
        }
        follow_mark(b);
    }
}

/* Rests a new order (id free at index position pos) in book b, on `side`, with e's price,
 * qty and ts. Checks before changing. */
static verdict add_order(vx_mbo_book *b, uint64_t id, uint64_t pos, int side, const vx_mbo *e) {
    const int64_t price = e->price;
    const uint32_t qty = e->qty;
    struct table *t = b->t;
    /* Its slot: the free stack's top, else the first never used (taken below, after the
     * checks: nothing in between allocates or frees a slot). */
    uint32_t s = t->free_head;
    if (s == NIL && t->high_water >= t->capacity) return rej(VX_MBO_REJECT_FULL, VX_FULL);
    if (!is_placed(b) && !place(b, price)) return rej(VX_MBO_REJECT_INVALID, VX_EINVAL);
    uint32_t level;
    vx_status st = vx_ladder_locate(&b->g, price, &level);
    if (st == VX_EINVAL) return rej(VX_MBO_REJECT_OFF_GRID, VX_EINVAL);
    pos = window_place(t, id, pos); /* may slide the window (the book is unchanged by it) */
    struct slot *slots = t->slots; /* the writer's own pointer: read once */
    if (s != NIL) t->free_head = LD(&slots[s].next); /* pop the free stack */
    else s = t->high_water++;
    struct slot *o = &slots[s];
    ST(&o->order_id, id);
    ST(&o->price, price);
    ST(&o->ts, e->ts);
    ST(&o->qty, qty);
    if (st == VX_OK) {
        queue_append(b, side, level, s, qty);
    } else {
        rest_outside(b, s, side, price, id);
    }
    /* the generation after the fields, the index entry after the generation (both release) */
    ST(&o->seq_inst, t->next_seq++ << INST_BITS | b->book_index);
    entry_insert(t, pos, id, s);
    ST(&t->live, LD(&t->live) + 1);
    if (pos & POS_WIN) return OK;
    /* Bounded probes: an entry placed further than VX_MBO_PROBE_LIMIT from its home means the
     * multiplier is unlucky for these ids: draw another and rebuild, at most once per
     * (index size) / 8 inserts, so the rebuilds cost O(1) per insert. */
    if (__builtin_expect(distance(t, hash_id(t, id), pos) > VX_MBO_PROBE_LIMIT, 0) &&
        t->inserts_since_rehash >= (t->index_mask + 1) / 8)
        rehash(t, next_multiplier(t));
    t->inserts_since_rehash++;
    return OK;
}

static void remove_order(struct table *t, uint32_t s, uint64_t pos) {
    struct slot *slots = t->slots; /* the writer's own pointer: read once */
    vx_mbo_book *ob = book_of_slot(t, s);
    ST(&slots[s].seq_inst, 0); /* generation first: readers stop trusting the slot */
    order_unlink(ob, slots, s);
    entry_erase(t, pos, s);
    slot_free(t, s);
    ST(&t->live, LD(&t->live) - 1);
}

/* Unknown order: take up to qty lots off the seeded quantity at (side, price); nothing when
 * the event does not say its side (VX_SIDE_NONE: which side's lots left is unknown). */
static void reduce_seeded(vx_mbo_book *b, int side, int64_t price, uint32_t qty) {
    uint32_t index;
    if (side == VX_SIDE_NONE) return;
    if (!is_placed(b) || vx_ladder_locate(&b->g, price, &index) != VX_OK) return;
    struct level *l = &b->lv[side][index];
    uint64_t seeded = LD(&l->seeded);
    uint64_t take = seeded < qty ? seeded : qty;
    if (take == 0) return;
    ST(&l->seeded, seeded - take);
    uint64_t before = LD(&l->qty);
    set_level(b, side, index, before, before - take);
}

/* LEVEL (L2 data): the level (side, price) shows e->qty lots in all; the seeded lots make up
 * what the identified orders there do not hold. Not inlined: off the L3 path. */
__attribute__((noinline)) static verdict set_shown(vx_mbo_book *b, const vx_mbo *e) {
    if (!valid_side(e->side)) return rej(VX_MBO_REJECT_INVALID, VX_EINVAL);
    if (!is_placed(b)) {
        if (e->qty == 0) return OK; /* nothing to show on a book with no place yet */
        if (!place(b, e->price)) return rej(VX_MBO_REJECT_OFF_GRID, VX_EINVAL);
    }
    uint32_t index;
    vx_status st = vx_ladder_locate(&b->g, e->price, &index);
    if (st == VX_EINVAL) return rej(VX_MBO_REJECT_OFF_GRID, VX_EINVAL);
    if (st != VX_OK) { /* outside the window: not kept, counted */
        bump(&b->t->dropped_seeded_qty, e->qty);
        return OK;
    }
    struct level *l = &b->lv[e->side][index];
    uint64_t seeded = LD(&l->seeded), before = LD(&l->qty);
    uint64_t identified = before - seeded;
    uint64_t now = e->qty > identified ? e->qty - identified : 0;
    if (now == seeded) return OK;
    ST(&l->seeded, now);
    set_level(b, e->side, index, before, identified + now);
    return OK;
}

static void clear_book(vx_mbo_book *b) {
    struct table *t = b->t;
    for (int side = 0; side < 2; side++) {
        for (uint32_t i = 0; i < b->g.levels; i++) { /* bounded */
            struct level *l = &b->lv[side][i];
            for (uint32_t s = l->head, n = 0; s != NIL && n < t->capacity; n++) { /* bounded */
                uint32_t next = LD(&t->slots[s].next);
                uint64_t pos;
                ST(&t->slots[s].seq_inst, 0); /* generation first */
                uint64_t id = LD(&t->slots[s].order_id);
                if (find(t, id, &pos) == s) entry_erase(t, pos, s);
                slot_free(t, s);
                ST(&t->live, LD(&t->live) - 1);
                s = next;
            }
            l->head = l->tail = NIL;
            set_count(l, 0);
            ST(&l->seeded, 0);
            /* release: pairs with the acquire loads of readers */
            atomic_store_explicit(&l->qty, 0, memory_order_release);
        }
        vx_rankmap_clear(&b->nonempty[side]);
        /* release: pairs with the acquire hint loads of readers */
        atomic_store_explicit(&b->best[side], 0, memory_order_release);
    }
    for (uint32_t s = b->out_head, n = 0; s != NIL && n < t->capacity; n++) { /* bounded */
        uint32_t next = LD(&t->slots[s].next);
        uint64_t pos;
        ST(&t->slots[s].seq_inst, 0); /* generation first */
        uint64_t id = LD(&t->slots[s].order_id);
        if (find(t, id, &pos) == s) entry_erase(t, pos, s);
        slot_free(t, s);
        ST(&t->live, LD(&t->live) - 1);
        s = next;
    }
    ST(&t->outside, LD(&t->outside) - b->out_count);
    b->out_head = b->out_tail = NIL;
    b->out_count = 0;
    b->beyond[0] = b->beyond[1] = false;
    b->beyond_count[0] = b->beyond_count[1] = 0;
}

/* Per action byte, one load per event: in the low bits vx_mbo_validate's rule, the side an
 * event of that action may have is below ACT_SIDES (BUY/SELL for ADD, any of BUY/SELL/NONE
 * otherwise: NONE on an order event means the feed does not say; see reduce_seeded, REPLACE;
 * 0 for a byte that is no action: every side is rejected); ACT_ORDER marks the actions about
 * one order (they look its id up; the others act on the book or on nothing). */
enum { ACT_SIDES = 3, ACT_ORDER = 4 };
#define ORDER_ACT (ACT_ORDER | (VX_SIDE_NONE + 1))
static const uint8_t action_kind[256] = {
    [VX_MBO_ADD] = ACT_ORDER | (VX_SELL + 1), [VX_MBO_CANCEL] = ORDER_ACT,
    [VX_MBO_DELETE] = ORDER_ACT,              [VX_MBO_EXECUTE] = ORDER_ACT,
    [VX_MBO_REPLACE] = ORDER_ACT,             [VX_MBO_MODIFY] = ORDER_ACT,
    [VX_MBO_TRADE] = VX_SIDE_NONE + 1,        [VX_MBO_CROSS] = VX_SIDE_NONE + 1,
    [VX_MBO_BROKEN] = VX_SIDE_NONE + 1,       [VX_MBO_CLEAR] = VX_SIDE_NONE + 1,
    [VX_MBO_STATUS] = VX_SIDE_NONE + 1,       [VX_MBO_LEVEL] = VX_SIDE_NONE + 1,
};
#undef ORDER_ACT
_Static_assert(VX_MBO_ACTION_MAX == VX_MBO_LEVEL && VX_MBO_ADD == 1 && VX_SIDE_NONE + 1 <= ACT_SIDES,
               "action_kind names every action (vx_mbo_validate) and its side bound fits ACT_SIDES");
_Static_assert(sizeof(((vx_mbo *)0)->action) == 1, "action_kind covers every action byte");

/* One event. `b` is the book events about new or unknown orders go to. */
static inline verdict apply_event(struct table *t, vx_mbo_book *b, const vx_mbo *e) {
    uint32_t action = e->action, kind = action_kind[action];
    if (__builtin_expect(e->side >= (kind & ACT_SIDES), 0)) return rej(VX_MBO_REJECT_INVALID, VX_EINVAL);
    if (!(kind & ACT_ORDER)) {
        if (action == VX_MBO_CLEAR) clear_book(b);
        if (action == VX_MBO_LEVEL) return set_shown(b, e);
        return OK; /* TRADE, CROSS, BROKEN, STATUS: no book effect */
    }
    uint64_t pos;
    uint32_t s = writer_find(t, e->order_id, &pos);
    bump(pos & POS_WIN ? &t->win_hits : &t->hash_lookups, 1);
    int side = e->side;
    switch (action) {
    case VX_MBO_ADD:
        if (e->qty == 0) return rej(VX_MBO_REJECT_INVALID, VX_EINVAL);
        if (s != NIL) return rej(VX_MBO_REJECT_DUPLICATE, VX_ESTATE);
        return add_order(b, e->order_id, pos, side, e);
    case VX_MBO_CANCEL:
    case VX_MBO_EXECUTE: {
        if (e->qty == 0) return rej(VX_MBO_REJECT_INVALID, VX_EINVAL);
        if (s == NIL) {
            reduce_seeded(b, side, e->price, e->qty);
            bump(&t->unknown_orders, 1);
        } else {
            struct slot *o = &t->slots[s];
            uint32_t have = LD(&o->qty);
            if (e->qty > have) return rej(VX_MBO_REJECT_EXCEEDS, VX_ERANGE);
            if (e->qty == have) {
                remove_order(t, s, pos);
            } else {
                ST(&o->qty, have - e->qty);
                uint32_t loc = LD(&o->loc);
                if (loc_level(loc) != LOC_OUTSIDE) {
                    vx_mbo_book *ob = book_of_slot(t, s);
                    level_reduce(&ob->lv[loc_side(loc)][loc_level(loc)], e->qty);
                }
            }
        }
        if (action == VX_MBO_EXECUTE) bump(&t->traded_qty, e->qty);
        return OK;
    }
    case VX_MBO_DELETE:
        if (s == NIL) {
            reduce_seeded(b, side, e->price, e->qty);
            bump(&t->unknown_orders, 1);
        } else {
            remove_order(t, s, pos);
        }
        return OK;
    case VX_MBO_MODIFY: {
        if (e->qty == 0) return rej(VX_MBO_REJECT_INVALID, VX_EINVAL);
        if (s == NIL) {
            if (side == VX_SIDE_NONE) { /* no side to rest it on: not added */
                bump(&t->unknown_orders, 1);
                return OK;
            }
            verdict v = add_order(b, e->order_id, pos, side, e);
            if (v.status == VX_OK) bump(&t->unknown_orders, 1);
            return v;
        }
        struct slot *o = &t->slots[s];
        uint32_t have = LD(&o->qty);
        if (LD(&o->price) == e->price && e->qty <= have) { /* keeps its queue place */
            if (e->qty == have) return OK;
            ST(&o->qty, e->qty);
            uint32_t loc = LD(&o->loc);
            if (loc_level(loc) != LOC_OUTSIDE) {
                vx_mbo_book *ob = book_of_slot(t, s);
                level_reduce(&ob->lv[loc_side(loc)][loc_level(loc)], have - e->qty);
            }
            return OK;
        }
        vx_mbo_book *ob = book_of_slot(t, s);
        uint32_t level;
        if (vx_ladder_locate(&ob->g, e->price, &level) == VX_EINVAL)
            return rej(VX_MBO_REJECT_OFF_GRID, VX_EINVAL);
        int old_side = loc_side(LD(&o->loc));
        remove_order(t, s, pos);
        /* the id's place in the window stays (only an ADD moves the window); in the index the
         * entries moved: probe again */
        uint64_t new_pos = pos;
        if (!(pos & POS_WIN)) (void)writer_find(t, e->order_id, &new_pos);
        return add_order(ob, e->order_id, new_pos, old_side, e);
    }
    case VX_MBO_REPLACE: {
        if (e->qty == 0) return rej(VX_MBO_REJECT_INVALID, VX_EINVAL);
        uint64_t new_pos;
        uint32_t clash = writer_find(t, e->ref, &new_pos);
        if (clash != NIL && e->ref != e->order_id) return rej(VX_MBO_REJECT_DUPLICATE, VX_ESTATE);
        if (s == NIL) {
            if (side == VX_SIDE_NONE) { /* no side to rest the new order on: it is not added */
                bump(&t->unknown_orders, 1);
                return OK;
            }
            verdict v = add_order(b, e->ref, new_pos, side, e);
            if (v.status == VX_OK) bump(&t->unknown_orders, 1);
            return v;
        }
        vx_mbo_book *ob = book_of_slot(t, s);
        uint32_t level;
        if (vx_ladder_locate(&ob->g, e->price, &level) == VX_EINVAL)
            return rej(VX_MBO_REJECT_OFF_GRID, VX_EINVAL);
        int old_side = loc_side(LD(&t->slots[s].loc));
        remove_order(t, s, pos);
        /* as MODIFY: the window place stays, the index entries moved */
        if (!(new_pos & POS_WIN)) (void)writer_find(t, e->ref, &new_pos);
        return add_order(ob, e->ref, new_pos, old_side, e); /* a slot is free */
    }
    default:
        __builtin_unreachable(); /* action_kind marks the six cases above ACT_ORDER */
    }
}

static inline vx_status apply_counted(struct table *t, vx_mbo_book *b, const vx_mbo *e,
                                      vx_mbo_reject *reason) {
    verdict v = apply_event(t, b, e);
    /* applied / rejected are the sums of these (computed by vx_mbo_counters_read) */
    if (__builtin_expect(v.status == VX_OK, 1)) bump(&t->by_action[e->action], 1);
    else bump(&t->by_reason[v.reason], 1);
    if (reason) *reason = v.reason;
    return v.status;
}

static inline vx_status book_apply(vx_mbo_book *b, const vx_mbo *e, vx_mbo_reject *reason) {
    if (__builtin_expect(b->instrument != UINT32_MAX && e->instrument != b->instrument, 0)) {
        bump(&b->t->by_reason[VX_MBO_REJECT_INSTRUMENT], 1);
        if (reason) *reason = VX_MBO_REJECT_INSTRUMENT;
        return VX_EINVAL;
    }
    /* (no per-event invariant assert in debug builds: verify is O(index); tests call it) */
    return apply_counted(b->t, b, e, reason);
}

vx_status vx_mbo_apply(vx_mbo_book *b, const vx_mbo *e, vx_mbo_reject *reason) {
    return book_apply(b, e, reason);
}

/* ---- batch prefetch ----
 * A table larger than the caches makes each event wait for memory: the id's window entry, its
 * slot, the slot's neighbours in the queue (unlink writes their links) and its level; an ADD
 * waits for its level and the level's tail slot. The batch loops apply events in blocks of
 * PF_BLOCK and, before each block, run three stages on the blocks ahead of it: three blocks
 * ahead the window entries are prefetched; two ahead each entry is read and its slot
 * prefetched (an ADD's level instead), and what was found is kept in a small ring; one ahead
 * each kept slot is read and its neighbours and level prefetched (a kept level: its tail
 * slot). The stages only read the writer's own state and prefetch; every index they follow,
 * kept ones included, is range-checked right before use, so a stale or hostile value costs a
 * useless prefetch, never a wrong access. While the live slots take less than PF_MIN_BYTES,
 * most of what an event touches is in the caches and the stages (about 85 instructions per
 * event) cost more than they save: a DBN day of 44,000 live orders in 101 books of 4,096
 * levels ran no faster with them, an ITCH day of 1.2 M live orders 3-5x faster (docs/mbo.md). */
enum { PF_BLOCK = VX_MBO_PREFETCH_BLOCK, PF_RING = 2 * PF_BLOCK };
#define PF_MIN_BYTES (UINT64_C(4) << 20) /* 87,382 live orders */
_Static_assert((PF_RING & (PF_RING - 1)) == 0 && PF_RING >= 2 * PF_BLOCK &&
                   sizeof(((vx_mbo_prefetch *)0)->hints) == PF_RING * sizeof(uint64_t),
               "the ring holds the block being read and the block being written");

/* Whether a batch's events will wait for memory (checked once per batch). */
static inline bool worth_prefetching(const struct table *t) {
    return t->win_size != 0 && (uint64_t)LD(&t->live) * sizeof(struct slot) >= PF_MIN_BYTES;
}

typedef struct {
    const struct table *t; /* its books: t->books[0, t->nbooks) */
    uint64_t *ring;        /* [PF_RING]: what stage 2 found for event i (pf_slot_hint) */
} prefetcher;

/* Stage 2's finds, kept as indices that stage 3 range-checks again before use (the ring is
 * the caller's memory): slot s -> s << 1; level k of `side` in book bi -> (bi << 21 | side << 20
 * | k) << 1 | 1; nothing -> UINT64_MAX. */
_Static_assert(VX_MBO_MAX_LEVELS <= (1u << 20) && VX_MBO_MAX_INSTRUMENTS <= (1u << 16),
               "a level hint fits in 38 bits");
static inline uint64_t pf_slot_hint(uint32_t s) { return (uint64_t)s << 1; }
static inline uint64_t pf_level_hint(uint32_t bi, int side, uint32_t k) {
    return ((uint64_t)bi << 21 | (uint64_t)side << 20 | k) << 1 | 1;
}

/* Stage 1: the window entry of each event in [lo, hi). */
static void pf_entries(const prefetcher *p, const vx_mbo *events, size_t lo, size_t hi) {
    const struct table *t = p->t;
    uint64_t wlo = LD(&t->win_lo);
    for (size_t i = lo; i < hi; i++) /* bounded: hi - lo <= PF_BLOCK */
        if (events[i].order_id - wlo < t->win_size) __builtin_prefetch(&t->win[events[i].order_id & t->win_mask], 1);
}

/* Stage 2: each event's slot (in the window) or, for an ADD, the level it would rest on. */
static void pf_slots(prefetcher *p, const vx_mbo *events, size_t lo, size_t hi) {
    const struct table *t = p->t;
    uint64_t wlo = LD(&t->win_lo);
    for (size_t i = lo; i < hi; i++) { /* bounded: hi - lo <= PF_BLOCK */
        const vx_mbo *e = &events[i];
        uint64_t found = UINT64_MAX;
        uint32_t s = e->order_id - wlo < t->win_size ? LD(&t->win[e->order_id & t->win_mask]) - 1 : NIL;
        if (s < t->capacity) {
            found = pf_slot_hint(s);
            __builtin_prefetch(&t->slots[s], 1);
            __builtin_prefetch((const char *)&t->slots[s] + sizeof(struct slot) - 1, 1);
        } else if (e->action == VX_MBO_ADD && e->side <= VX_SELL) {
            /* the book an ADD rests in: a standalone book's, or the set's of its instrument */
            uint32_t bi = t->nbooks == 1 ? 0 : e->instrument, k;
            if (bi < t->nbooks && is_placed(&t->books[bi]) &&
                vx_ladder_locate(&t->books[bi].g, e->price, &k) == VX_OK) {
                __builtin_prefetch(&t->books[bi].lv[e->side][k], 1);
                found = pf_level_hint(bi, e->side, k);
            }
        }
        p->ring[i & (PF_RING - 1)] = found;
    }
}

/* Stage 3: what stage 2 found: a slot's queue neighbours and level, a level's tail slot. */
static void pf_near(const prefetcher *p, size_t lo, size_t hi) {
    const struct table *t = p->t;
    const uint32_t levels = t->books[0].g.levels; /* every book of a set has as many */
    for (size_t i = lo; i < hi; i++) { /* bounded: hi - lo <= PF_BLOCK */
        uint64_t hint = p->ring[i & (PF_RING - 1)], v = hint >> 1;
        if (hint & 1) {
            uint32_t bi = (uint32_t)(v >> 21), k = (uint32_t)v & ((1u << 20) - 1);
            if (bi >= t->nbooks || k >= levels) continue;
            uint32_t tail = t->books[bi].lv[v >> 20 & 1][k].tail;
            if (tail < t->capacity) __builtin_prefetch(&t->slots[tail].next, 1);
        } else if (v < t->capacity) {
            const struct slot *o = &t->slots[v];
            uint32_t prev = LD(&o->prev), next = LD(&o->next), loc = LD(&o->loc);
            if (prev < t->capacity) __builtin_prefetch(&t->slots[prev].next, 1);
            if (next < t->capacity) __builtin_prefetch(&t->slots[next].prev, 1);
            if (loc_level(loc) < levels) /* in a level: book_of_slot's index is the writer's own */
                __builtin_prefetch(&book_of_slot(t, (uint32_t)v)->lv[loc_side(loc)][loc_level(loc)], 1);
        }
    }
}

static inline size_t pf_min(size_t a, size_t b) { return a < b ? a : b; }

/* Before the block at lo: the stages for the blocks 1, 2 and 3 ahead (at lo == 0 also for
 * the first blocks themselves). Not inlined: once per PF_BLOCK events. */
__attribute__((noinline)) static void prefetch_blocks(prefetcher *p, const vx_mbo *events, size_t lo, size_t n) {
    if (lo == 0) {
        for (size_t k = 0; k < 3; k++) /* bounded */
            pf_entries(p, events, pf_min(k * PF_BLOCK, n), pf_min((k + 1) * PF_BLOCK, n));
        pf_slots(p, events, 0, pf_min(PF_BLOCK, n));
        pf_slots(p, events, pf_min(PF_BLOCK, n), pf_min(2 * PF_BLOCK, n));
        pf_near(p, 0, pf_min(PF_BLOCK, n));
    }
    pf_entries(p, events, pf_min(lo + 3 * PF_BLOCK, n), pf_min(lo + 4 * PF_BLOCK, n));
    pf_slots(p, events, pf_min(lo + 2 * PF_BLOCK, n), pf_min(lo + 3 * PF_BLOCK, n));
    pf_near(p, pf_min(lo + PF_BLOCK, n), pf_min(lo + 2 * PF_BLOCK, n));
}

void vx_mbo_apply_many(vx_mbo_book *b, const vx_mbo *events, size_t n, uint64_t *applied,
                       uint64_t *rejected) {
    uint64_t ok = 0;
    vx_mbo_prefetch ring;
    prefetcher pf = {.t = b->t, .ring = ring.hints};
    if (worth_prefetching(b->t)) {
        for (size_t lo = 0; lo < n; lo += PF_BLOCK) { /* bounded */
            prefetch_blocks(&pf, events, lo, n);
            for (size_t i = lo, hi = pf_min(lo + PF_BLOCK, n); i < hi; i++) /* bounded */
                ok += book_apply(b, &events[i], NULL) == VX_OK;
        }
    } else {
        for (size_t i = 0; i < n; i++) ok += book_apply(b, &events[i], NULL) == VX_OK; /* bounded */
    }
    if (applied) *applied = ok;
    if (rejected) *rejected = n - ok;
}

vx_status vx_mbo_set_apply(vx_mbo_set *set, const vx_mbo *e, vx_mbo_reject *reason) {
    if (__builtin_expect(e->instrument >= set->instruments, 0)) {
        bump(&set->t->by_reason[VX_MBO_REJECT_INSTRUMENT], 1);
        if (reason) *reason = VX_MBO_REJECT_INSTRUMENT;
        return VX_EINVAL;
    }
    return apply_counted(set->t, &set->books[e->instrument], e, reason);
}

void vx_mbo_set_apply_many(vx_mbo_set *set, const vx_mbo *events, size_t n, uint64_t *applied,
                           uint64_t *rejected) {
    uint64_t ok = 0;
    vx_mbo_prefetch ring;
    prefetcher pf = {.t = set->t, .ring = ring.hints};
    if (worth_prefetching(set->t)) {
        for (size_t lo = 0; lo < n; lo += PF_BLOCK) { /* bounded */
            prefetch_blocks(&pf, events, lo, n);
            for (size_t i = lo, hi = pf_min(lo + PF_BLOCK, n); i < hi; i++) /* bounded */
                ok += vx_mbo_set_apply(set, &events[i], NULL) == VX_OK;
        }
    } else {
        for (size_t i = 0; i < n; i++) ok += vx_mbo_set_apply(set, &events[i], NULL) == VX_OK; /* bounded */
    }
    if (applied) *applied = ok;
    if (rejected) *rejected = n - ok;
}

bool vx_mbo_set_prefetch_wanted(const vx_mbo_set *set) { return worth_prefetching(set->t); }

void vx_mbo_set_prefetch(const vx_mbo_set *set, vx_mbo_prefetch *ring, const vx_mbo *events, size_t i,
                         size_t n) {
    prefetcher pf = {.t = set->t, .ring = ring->hints};
    if (i < n) prefetch_blocks(&pf, events, i, n);
}

vx_status vx_mbo_seed_level(vx_mbo_book *b, int side, int64_t price, uint64_t qty) {
    if (!valid_side(side)) return VX_EINVAL;
    if (qty > VX_MBO_MAX_SEED) return VX_ERANGE;
    if (!is_placed(b) && !place(b, price)) return VX_EINVAL;
    uint32_t index;
    vx_status st = vx_ladder_locate(&b->g, price, &index);
    if (st != VX_OK) return st;
    struct level *l = &b->lv[side][index];
    uint64_t old = LD(&l->seeded), before = LD(&l->qty);
    ST(&l->seeded, qty);
    set_level(b, side, index, before, before - old + qty);
    return VX_OK;
}

void vx_mbo_clear(vx_mbo_book *b) {
    clear_book(b);
}

/* ---------------------------------------------------------------------------------------- */
/* recenter (exclusive)                                                                      */

static inline uint64_t seq_of(const struct table *t, uint32_t s) { return LD(&t->slots[s].seq_inst) >> INST_BITS; }

static vx_status recenter(vx_mbo_book *b, int64_t new_base, uint64_t *walked);

vx_status vx_mbo_recenter(vx_mbo_book *b, int64_t new_base) {
    uint64_t walked;
    return recenter(b, new_base, &walked);
}

/* vx_mbo_recenter; *walked = the order slots it visited (its cost beside the levels). */
static vx_status recenter(vx_mbo_book *b, int64_t new_base, uint64_t *walked) {
    struct table *t = b->t;
    *walked = 0;
    if (!is_placed(b)) {
        vx_ladder_geometry g;
        if (vx_ladder_init(&g, b->g.levels, VX_MBO_MAX_LEVELS, b->g.tick, new_base) != VX_OK)
            return VX_ERANGE;
        b->g = g;
        atomic_store_explicit(&b->placed, true, memory_order_release); /* pairs with is_placed */
        bump(&t->recenters, 1);
        return VX_OK; /* unplaced: it held no order, so nothing rests beyond it */
    }
    int64_t shift;
    vx_status st = vx_ladder_shift(&b->g, new_base, &shift);
    if (st != VX_OK) return st;
    uint32_t n = b->g.levels;
    uint32_t s_abs = (uint32_t)(shift < 0 ? -shift : shift);
    /* 1. Orders of the levels that fall off go to a "leaving" list (next links). */
    uint32_t leave_head = NIL, leave_tail = NIL;
    uint64_t dropped = 0;
    for (int side = 0; side < 2; side++) {
        for (uint32_t k = 0; k < s_abs; k++) { /* bounded by levels */
            struct level *l = &b->lv[side][shift > 0 ? k : n - 1 - k];
            dropped += LD(&l->seeded);
            if (l->head == NIL) continue;
            if (leave_tail == NIL) leave_head = l->head;
            else ST(&t->slots[leave_tail].next, l->head);
            leave_tail = l->tail;
        }
        /* 2. Shift the levels (exclusive: relaxed copies). */
        struct level *lv = b->lv[side];
        if (shift > 0) {
            for (uint32_t i = 0; i < n; i++) { /* new[i] = old[i + s], ascending */
                struct level *dst = &lv[i];
                if (i + s_abs < n) {
                    struct level *src = &lv[i + s_abs];
                    ST(&dst->qty, LD(&src->qty));
                    ST(&dst->seeded, LD(&src->seeded));
                    ST(&dst->count, LD(&src->count));
                    dst->head = src->head;
                    dst->tail = src->tail;
                } else {
                    ST(&dst->qty, 0);
                    ST(&dst->seeded, 0);
                    ST(&dst->count, 0);
                    dst->head = dst->tail = NIL;
                }
            }
        } else if (shift < 0) {
            for (uint32_t i = n; i-- > 0;) { /* new[i] = old[i - s], descending */
                struct level *dst = &lv[i];
                if (i >= s_abs) {
                    struct level *src = &lv[i - s_abs];
                    ST(&dst->qty, LD(&src->qty));
                    ST(&dst->seeded, LD(&src->seeded));
                    ST(&dst->count, LD(&src->count));
                    dst->head = src->head;
                    dst->tail = src->tail;
                } else {
                    ST(&dst->qty, 0);
                    ST(&dst->seeded, 0);
                    ST(&dst->count, 0);
                    dst->head = dst->tail = NIL;
                }
            }
        }
        /* 3. Every queued order learns its new level index. */
        for (uint32_t i = 0; i < n; i++) { /* bounded */
            uint32_t c = 0;
            for (uint32_t s = lv[i].head; s != NIL && c < t->capacity; c++) { /* bounded */
                ST(&t->slots[s].loc, loc_make(side, i));
                s = LD(&t->slots[s].next);
            }
            *walked += c;
        }
    }
    if (leave_tail != NIL) ST(&t->slots[leave_tail].next, NIL);
    for (uint32_t s = leave_head, c = 0; s != NIL && c < t->capacity; c++) { /* bounded */
        ST(&t->slots[s].loc, loc_make(loc_side(LD(&t->slots[s].loc)), LOC_OUTSIDE));
        s = LD(&t->slots[s].next);
    }
    b->g.base = new_base; /* same levels and tick: span and reciprocal unchanged */
    /* 4. Outside list + leaving orders. Orders of one price are all in the window or all
     * outside, so the outside list holds each price's orders in arrival order: leaving queues
     * are in order and go after every outside order (none at their prices), ADDs append, and
     * step 5 keeps the list's order. That is all time priority needs (no sort). */
    if (b->out_tail != NIL) ST(&t->slots[b->out_tail].next, leave_head);
    else b->out_head = leave_head;
    uint32_t all = b->out_head;
    b->out_head = b->out_tail = NIL;
    uint32_t out_before = b->out_count;
    b->out_count = 0;
    b->beyond_count[0] = b->beyond_count[1] = 0;
    /* 5. In arrival order: an order now in the window joins its level's tail (those levels were
     * outside before, so they hold no earlier order); the rest rebuild the outside list. */
    for (uint32_t s = all, c = 0; s != NIL && c <= t->capacity; c++, ++*walked) { /* bounded */
        uint32_t next = LD(&t->slots[s].next);
        uint32_t level;
        int side = loc_side(LD(&t->slots[s].loc));
        if (vx_ladder_locate(&b->g, LD(&t->slots[s].price), &level) == VX_OK) {
            struct level *l = &b->lv[side][level];
            ST(&t->slots[s].prev, l->tail);
            ST(&t->slots[s].next, NIL);
            if (l->tail == NIL) l->head = s;
            else ST(&t->slots[l->tail].next, s);
            l->tail = s;
            ST(&t->slots[s].loc, loc_make(side, level));
            ST(&l->count, LD(&l->count) + 1);
            ST(&l->qty, LD(&l->qty) + LD(&t->slots[s].qty));
        } else {
            ST(&t->slots[s].prev, b->out_tail);
            ST(&t->slots[s].next, NIL);
            if (b->out_tail == NIL) b->out_head = s;
            else ST(&t->slots[b->out_tail].next, s);
            b->out_tail = s;
            b->out_count++;
            if (is_beyond(b, side, LD(&t->slots[s].price))) b->beyond_count[side]++;
        }
        s = next;
    }
    ST(&t->outside, LD(&t->outside) - out_before + b->out_count);
    for (int side = 0; side < 2; side++) {
        rebuild_nonempty(b, side); /* the levels moved wholesale */
        /* release: pairs with the acquire hint loads of readers */
        atomic_store_explicit(&b->best[side], next_best(b, side, n), memory_order_release);
    }
    bump(&t->dropped_seeded_qty, dropped);
    bump(&t->recenters, 1);
    b->beyond[0] = b->beyond[1] = false; /* the window moved: found again when needed */
    return VX_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Following the market (writer, exclusive of readers)                                      */

__extension__ typedef __int128 wide; /* GCC and Clang on every 64-bit target velox builds for */

/* The best out-of-window order of `side` (highest bid, lowest ask), among those beyond the
 * window only if beyond_only; false when there is none. *scanned += orders visited. */
static bool outside_best(vx_mbo_book *b, int side, bool beyond_only, uint64_t *id, int64_t *price,
                         uint64_t *scanned) {
    struct table *t = b->t;
    bool found = false;
    uint32_t c = 0;
    for (uint32_t s = b->out_head; s != NIL && c < t->capacity; c++) { /* bounded */
        int64_t px = LD(&t->slots[s].price);
        int sd = loc_side(LD(&t->slots[s].loc));
        if (sd == side && (!beyond_only || is_beyond(b, side, px)) &&
            (!found || (side == VX_BUY ? px > *price : px < *price))) {
            found = true;
            *price = px;
            *id = LD(&t->slots[s].order_id);
        }
        s = LD(&t->slots[s].next);
    }
    *scanned += c;
    return found;
}

/* The price of the market's side `side` as the writer sees it: the most extreme order beyond
 * the window when there is one (it is better than anything on the ladder: the tracked one, or,
 * once that one left, the best of the others, found by a walk of the outside list), else the
 * ladder's best, else (no level of that side) the side's best order outside the window.
 * *edge: that best lies within the margin of an edge, or outside. false when the side is
 * empty. *scanned += outside orders visited. */
static bool market_side(vx_mbo_book *b, int side, int64_t *price, bool *edge, uint64_t *scanned) {
    struct table *t = b->t;
    if (b->beyond_count[side]) {
        if (b->beyond[side]) {
            uint64_t pos;
            uint32_t s = find(t, b->beyond_id[side], &pos);
            if (s != NIL && book_of_slot(t, s) == b && loc_level(LD(&t->slots[s].loc)) == LOC_OUTSIDE &&
                LD(&t->slots[s].price) == b->beyond_px[side]) {
                *price = b->beyond_px[side];
                *edge = true;
                return true;
            }
        }
        /* it left (or the window moved): the most extreme of the others */
        b->beyond[side] = outside_best(b, side, true, &b->beyond_id[side], &b->beyond_px[side], scanned);
        if (b->beyond[side]) {
            *price = b->beyond_px[side];
            *edge = true;
            return true;
        }
    }
    b->beyond[side] = false;
    uint32_t rank = LD(&b->best[side]);
    if (rank == 0) {
        uint64_t id;
        if (b->out_count == 0 || !outside_best(b, side, false, &id, price, scanned)) return false;
        *edge = true;
        return true;
    }
    uint32_t at = vx_ladder_index_of_rank(b->g.levels, side, rank), m = follow_margin(b->g.levels);
    *price = vx_ladder_price(&b->g, at);
    *edge = at < m || at >= b->g.levels - m;
    return true;
}

/* One marked book: recenters it on its market when that market is at an edge or outside.
 * Returns true when it moved; *work = the work done: outside orders scanned, plus 2 x levels
 * and the order slots visited by a recenter, or 1 when it stayed. */
static bool follow_book(vx_mbo_book *b, uint64_t *work) {
    int64_t bid = 0, ask = 0;
    bool bid_edge = false, ask_edge = false;
    uint64_t scanned = 0;
    bool has_bid = is_placed(b) && market_side(b, VX_BUY, &bid, &bid_edge, &scanned);
    bool has_ask = is_placed(b) && market_side(b, VX_SELL, &ask, &ask_edge, &scanned);
    *work = scanned + 1; /* 1 for a book left alone */
    if (!bid_edge && !ask_edge) return false;
    wide centre = has_bid && has_ask ? ((wide)bid + ask) / 2 : has_bid ? bid : ask;
    /* the level the centre falls in (floor), moved to the window's middle level */
    wide off = centre - b->g.base;
    wide k = off / b->g.tick - (off % b->g.tick < 0) - b->g.levels / 2;
    wide m = follow_margin(b->g.levels);
    if (k == 0 || (k > -m && k < m)) return false; /* about centred already (or a spread wider
                                                       than the window: no better place) */
    wide nb = (wide)b->g.base + k * b->g.tick;
    if (nb < INT64_MIN || nb > INT64_MAX) return false;
    uint64_t walked;
    if (recenter(b, (int64_t)nb, &walked) != VX_OK) return false; /* the top would overflow int64 */
    *work = scanned + 2 * (uint64_t)b->g.levels + walked;
    return true;
}

static uint32_t follow(struct table *t, uint64_t budget, uint64_t *work) {
    uint64_t done = 0;
    uint32_t moved = 0;
    for (uint32_t n = 0; n < t->nbooks && t->follow_head != NIL && done < budget; n++) { /* bounded */
        vx_mbo_book *b = &t->books[t->follow_head];
        t->follow_head = b->follow_next;
        b->follow_marked = false;
        uint64_t w;
        moved += follow_book(b, &w);
        done += w;
    }
    if (work) *work = done;
    return moved;
}

uint32_t vx_mbo_follow(vx_mbo_book *b, uint64_t budget, uint64_t *work) {
    return follow(b->t, budget, work);
}

uint32_t vx_mbo_set_follow(vx_mbo_set *set, uint64_t budget, uint64_t *work) {
    return follow(set->t, budget, work);
}

bool vx_mbo_set_follow_pending(const vx_mbo_set *set) { return set->t->follow_head != NIL; }
bool vx_mbo_follow_pending(const vx_mbo_book *b) { return b->t->follow_head != NIL; }

/* ---------------------------------------------------------------------------------------- */
/* Readers (any thread)                                                                      */

vx_status vx_mbo_best(const vx_mbo_book *b, int side, int64_t *price, uint64_t *qty) {
    if (!valid_side(side)) return VX_EINVAL;
    /* acquire: pairs with the release hint stores in set_level / recenter / clear */
    uint32_t hint = atomic_load_explicit(&b->best[side], memory_order_acquire);
    for (uint32_t r = hint; r > 0; r--) { /* bounded: hint <= levels; normally one step */
        uint32_t index = vx_ladder_index_of_rank(b->g.levels, side, r);
        /* acquire: pairs with the release store in set_level */
        uint64_t q = atomic_load_explicit(&b->lv[side][index].qty, memory_order_acquire);
        if (q != 0) {
            if (price) *price = vx_ladder_price(&b->g, index);
            if (qty) *qty = q;
            return VX_OK;
        }
    }
    return VX_EMPTY;
}

vx_status vx_mbo_qty(const vx_mbo_book *b, int side, int64_t price, uint64_t *qty) {
    if (!valid_side(side)) return VX_EINVAL;
    uint32_t index;
    vx_status st = vx_mbo_locate(b, price, &index);
    if (st != VX_OK) return st;
    /* acquire: pairs with the release store in set_level */
    *qty = atomic_load_explicit(&b->lv[side][index].qty, memory_order_acquire);
    return VX_OK;
}

size_t vx_mbo_depth(const vx_mbo_book *b, int side, size_t n, int64_t *prices, uint64_t *qtys,
                    uint32_t *order_counts) {
    if (!valid_side(side)) return 0;
    /* acquire: pairs with the release hint stores */
    uint32_t hint = atomic_load_explicit(&b->best[side], memory_order_acquire);
    size_t written = 0;
    for (uint32_t r = hint; r > 0 && written < n; r--) { /* bounded: hint <= levels */
        uint32_t index = vx_ladder_index_of_rank(b->g.levels, side, r);
        const struct level *l = &b->lv[side][index];
        /* acquire: pairs with the release store in set_level */
        uint64_t q = atomic_load_explicit(&l->qty, memory_order_acquire);
        if (q == 0) continue;
        if (prices) prices[written] = vx_ladder_price(&b->g, index);
        if (qtys) qtys[written] = q;
        /* acquire: pairs with the release store in set_count */
        if (order_counts) order_counts[written] = atomic_load_explicit(&l->count, memory_order_acquire);
        written++;
    }
    return written;
}

static void count_retry(const vx_mbo_book *b) {
    /* relaxed fetch_add: statistics, written by readers only */
    atomic_fetch_add_explicit((_Atomic uint64_t *)&b->t->read_retries, 1, memory_order_relaxed);
}

static inline uint32_t book_index_of(uint64_t generation) {
    return (uint32_t)(generation & ((1u << INST_BITS) - 1));
}

enum lookup { LOOKUP_FOUND, LOOKUP_ABSENT, LOOKUP_RETRY };

/* The reader's first half of one lookup attempt, shared by vx_mbo_order and
 * vx_mbo_queue_position: backs off before every retry, finds the order's slot and reads its
 * generation (g1 != 0). ABSENT only when the index had no such id and no writer moved it
 * meanwhile (read_end); RETRY when a writer interfered or the slot is mid-fill. The caller
 * copies what it needs, then re-reads seq_inst == g1 to validate the copy. */
static inline enum lookup lookup_begin(const vx_mbo_book *b, uint64_t order_id, uint32_t attempt,
                                       vx_backoff *backoff, const struct slot **slot,
                                       uint64_t *g1) {
    const struct table *t = b->t;
    if (attempt) {
        count_retry(b);
        vx_backoff_spin(backoff);
    }
    uint64_t e1 = read_begin(t), pos;
    uint32_t s = find(t, order_id, &pos);
    if (s == NIL) return read_end(t, e1) ? LOOKUP_ABSENT : LOOKUP_RETRY;
    *slot = &t->slots[s];
    *g1 = RD(&(*slot)->seq_inst);
    return *g1 == 0 ? LOOKUP_RETRY : LOOKUP_FOUND; /* 0: being filled or freed */
}

vx_status vx_mbo_order(const vx_mbo_book *b, uint64_t order_id, vx_mbo_order_info *out) {
    vx_backoff backoff;
    vx_backoff_init(&backoff);
    for (uint32_t attempt = 0; attempt < VX_MBO_READ_ATTEMPTS; attempt++) {
        const struct slot *o = NULL;
        uint64_t g1 = 0;
        enum lookup r = lookup_begin(b, order_id, attempt, &backoff, &o, &g1);
        if (r == LOOKUP_ABSENT) return VX_EINVAL;
        if (r == LOOKUP_RETRY) continue;
        vx_mbo_order_info info;
        memset(&info, 0, sizeof info);
        uint64_t id = RD(&o->order_id);
        uint32_t loc = RD(&o->loc);
        info.order_id = order_id;
        info.price = RD(&o->price);
        info.qty = RD(&o->qty);
        info.ts = RD(&o->ts);
        info.side = (uint8_t)loc_side(loc);
        info.in_window = loc_level(loc) != LOC_OUTSIDE;
        if (RD(&o->seq_inst) != g1 || id != order_id) continue;
        if (book_index_of(g1) != b->book_index) return VX_EINVAL;
        *out = info;
        return VX_OK;
    }
    return VX_TIMEOUT;
}

vx_status vx_mbo_order_writer(const vx_mbo_book *b, uint64_t order_id, vx_mbo_order_info *out) {
    const struct table *t = b->t;
    uint64_t pos = 0;
    uint32_t s = writer_find(t, order_id, &pos);
    if (s == NIL) return VX_EINVAL;
    const struct slot *o = &t->slots[s];
    uint64_t g = LD(&o->seq_inst);
    if (book_index_of(g) != b->book_index) return VX_EINVAL;
    uint32_t loc = LD(&o->loc);
    memset(out, 0, sizeof *out);
    out->order_id = order_id;
    out->price = LD(&o->price);
    out->qty = LD(&o->qty);
    out->ts = LD(&o->ts);
    out->side = (uint8_t)loc_side(loc);
    out->in_window = loc_level(loc) != LOC_OUTSIDE;
    return VX_OK;
}

vx_status vx_mbo_queue_position(const vx_mbo_book *b, uint64_t order_id, uint64_t *ahead) {
    const struct table *t = b->t;
    vx_backoff backoff;
    vx_backoff_init(&backoff);
    for (uint32_t attempt = 0; attempt < VX_MBO_READ_ATTEMPTS; attempt++) {
        const struct slot *o = NULL;
        uint64_t g1 = 0;
        enum lookup r = lookup_begin(b, order_id, attempt, &backoff, &o, &g1);
        if (r == LOOKUP_ABSENT) return VX_EINVAL;
        if (r == LOOKUP_RETRY) continue;
        uint64_t id = RD(&o->order_id);
        uint32_t loc = RD(&o->loc);
        uint32_t level = loc_level(loc);
        bool ok = id == order_id;
        uint64_t sum = 0;
        if (ok && book_index_of(g1) == b->book_index && level < b->g.levels) {
            sum = RD(&b->lv[loc_side(loc)][level].seeded);
            uint64_t last = g1 >> INST_BITS;
            uint32_t p = RD(&o->prev);
            for (uint32_t c = 0; p != NIL && c < t->capacity; c++) { /* bounded */
                if (p >= t->capacity) {
                    ok = false;
                    break;
                }
                const struct slot *q = &t->slots[p];
                uint64_t gp = RD(&q->seq_inst);
                uint32_t lots = RD(&q->qty), ploc = RD(&q->loc), pprev = RD(&q->prev);
                if (gp == 0 || RD(&q->seq_inst) != gp || ploc != loc || (gp >> INST_BITS) >= last) {
                    ok = false; /* recycled or moved while we walked: start again */
                    break;
                }
                sum += lots;
                last = gp >> INST_BITS;
                p = pprev;
            }
        }
        if (!ok || RD(&o->seq_inst) != g1) continue;
        if (book_index_of(g1) != b->book_index) return VX_EINVAL;
        if (level == LOC_OUTSIDE) return VX_ERANGE;
        if (level >= b->g.levels) continue; /* cannot happen for a validated read */
        *ahead = sum;
        return VX_OK;
    }
    return VX_TIMEOUT;
}

void vx_mbo_counters_read(const vx_mbo_book *b, vx_mbo_counters *out) {
    const struct table *t = b->t;
    /* relaxed: statistics, each value atomic on its own */
    out->applied = out->rejected = 0;
    for (int a = 0; a <= VX_MBO_ACTION_MAX; a++) out->applied += out->by_action[a] = LD(&t->by_action[a]);
    for (int r = 0; r < VX_MBO_REJECT_COUNT; r++)
        out->rejected += out->rejected_by_reason[r] = LD(&t->by_reason[r]);
    out->unknown_orders = LD(&t->unknown_orders);
    out->out_of_window_orders = LD(&t->outside);
    out->recenters = LD(&t->recenters);
    out->traded_qty = LD(&t->traded_qty);
    out->dropped_seeded_qty = LD(&t->dropped_seeded_qty);
    out->read_retries = LD(&t->read_retries);
    out->index_rehashes = LD(&t->rehashes);
    out->id_window_hits = LD(&t->win_hits);
    out->id_hash_lookups = LD(&t->hash_lookups);
    out->id_window_slides = LD(&t->slides);
}

/* ---------------------------------------------------------------------------------------- */
/* Digest and invariants (writer quiescent)                                                  */

static inline uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v;
    h *= 0x100000001B3ull * 0x9E3779B97F4A7C15ull | 1;
    return h ^ (h >> 31);
}

uint64_t vx_mbo_digest(const vx_mbo_book *b) {
    const struct table *t = b->t;
    uint64_t h = 0xCBF29CE484222325ull;
    h = mix(h, (uint64_t)b->g.base);
    for (int side = 0; side < 2; side++) {
        for (uint32_t i = 0; i < b->g.levels; i++) { /* bounded */
            const struct level *l = &b->lv[side][i];
            if (LD(&l->qty) == 0) continue;
            h = mix(h, (uint64_t)side << 32 | i);
            h = mix(h, LD(&l->qty));
            h = mix(h, LD(&l->seeded));
            h = mix(h, LD(&l->count));
            for (uint32_t s = l->head, c = 0; s != NIL && c < t->capacity; c++) { /* bounded */
                h = mix(h, LD(&t->slots[s].order_id));
                h = mix(h, LD(&t->slots[s].qty));
                h = mix(h, LD(&t->slots[s].ts));
                s = LD(&t->slots[s].next);
            }
        }
    }
    for (uint32_t s = b->out_head, c = 0; s != NIL && c < t->capacity; c++) { /* bounded */
        h = mix(h, LD(&t->slots[s].order_id));
        h = mix(h, (uint64_t)LD(&t->slots[s].price));
        h = mix(h, LD(&t->slots[s].qty));
        h = mix(h, LD(&t->slots[s].loc));
        h = mix(h, LD(&t->slots[s].ts));
        s = LD(&t->slots[s].next);
    }
    return h;
}

#define FAIL(msg)       \
    do {                \
        *why = (msg);   \
        return VX_ESTATE; \
    } while (0)

static vx_status check_order(const vx_mbo_book *b, uint32_t s, uint32_t expect_loc, const char **why) {
    const struct table *t = b->t;
    if (s >= t->capacity || s >= t->high_water) FAIL("a queue links to a slot beyond the table");
    const struct slot *o = &t->slots[s];
    if (LD(&o->loc) != expect_loc) FAIL("an order's location does not match its queue");
    if (LD(&o->qty) == 0) FAIL("a resting order has qty 0");
    if ((uint32_t)(LD(&o->seq_inst) & ((1u << INST_BITS) - 1)) != b->book_index)
        FAIL("an order's book index does not match its book");
    uint64_t pos;
    if (find(t, LD(&o->order_id), &pos) != s) FAIL("a resting order is not found by its id");
    return VX_OK;
}

vx_status vx_mbo_verify_invariants(const vx_mbo_book *b, const char **why) {
    const char *ignored;
    if (why == NULL) why = &ignored;
    *why = NULL;
    const struct table *t = b->t;
    vx_status st;
    for (int side = 0; side < 2; side++) {
        for (uint32_t i = 0; i < b->g.levels; i++) { /* bounded */
            const struct level *l = &b->lv[side][i];
            uint64_t sum = LD(&l->seeded);
            uint32_t count = 0, prev = NIL;
            for (uint32_t s = l->head; s != NIL; count++) { /* bounded below */
                if (count >= t->capacity) FAIL("a level queue is longer than the table (cycle)");
                if ((st = check_order(b, s, loc_make(side, i), why)) != VX_OK) return st;
                if (LD(&t->slots[s].prev) != prev) FAIL("a queue's prev link is wrong");
                if (prev != NIL && seq_of(t, s) <= seq_of(t, prev)) FAIL("a level queue is not in arrival order");
                sum += LD(&t->slots[s].qty);
                prev = s;
                s = LD(&t->slots[s].next);
            }
            if (l->tail != prev) FAIL("a level's tail is not its last order");
            if (count != LD(&l->count)) FAIL("a level's order count does not match its queue");
            if (sum != LD(&l->qty)) FAIL("a level's aggregate != its orders + seeded lots");
            if (LD(&l->seeded) > VX_MBO_MAX_SEED) FAIL("a level's seeded qty exceeds VX_MBO_MAX_SEED");
            uint32_t rank = vx_ladder_rank_of_index(b->g.levels, side, i);
            if (vx_rankmap_has(&b->nonempty[side], rank) != (LD(&l->qty) != 0))
                FAIL("the writer's rankmap disagrees with a level's emptiness");
        }
        if (!vx_rankmap_check(&b->nonempty[side])) FAIL("the writer's rankmap tiers disagree");
        /* scan_down over the quantities: the oracle, independent of the rankmap */
        if (atomic_load_explicit(&b->best[side], memory_order_acquire) != scan_down(b, side, b->g.levels))
            FAIL(side == VX_BUY ? "best bid hint does not match the ladder"
                                : "best ask hint does not match the ladder");
    }
    uint32_t count = 0, prev = NIL;
    for (uint32_t s = b->out_head; s != NIL; count++) { /* bounded below */
        if (count >= t->capacity) FAIL("the outside list is longer than the table (cycle)");
        if (s >= t->capacity) FAIL("the outside list links beyond the table");
        uint32_t loc = LD(&t->slots[s].loc);
        if (loc == LOC_FREE || loc_level(loc) != LOC_OUTSIDE) FAIL("an outside order is marked in window");
        if ((st = check_order(b, s, loc, why)) != VX_OK) return st;
        if (LD(&t->slots[s].prev) != prev) FAIL("the outside list's prev link is wrong");
        uint32_t index;
        if (vx_ladder_locate(&b->g, LD(&t->slots[s].price), &index) == VX_OK)
            FAIL("an order marked outside the window has a price inside it");
        prev = s;
        s = LD(&t->slots[s].next);
    }
    if (b->out_tail != prev || b->out_count != count) FAIL("the outside list's tail/count is wrong");
    /* table-wide: live + free == high_water, index entries == live */
    uint32_t free_count = 0;
    for (uint32_t s = t->free_head; s != NIL; free_count++) { /* bounded below */
        if (free_count >= t->capacity || s >= t->high_water) FAIL("the free list is corrupt");
        if (LD(&t->slots[s].loc) != LOC_FREE) FAIL("a free-list slot is not marked free");
        s = LD(&t->slots[s].next);
    }
    if ((uint64_t)free_count + LD(&t->live) != t->high_water) FAIL("live + free slots != slots used");
    uint64_t lo = LD(&t->win_lo), in_window = 0, above = 0, least = UINT64_MAX;
    if (t->win_size && lo > UINT64_MAX - 2 * t->win_size) FAIL("the id window's top passes 2^64");
    for (uint64_t w = 0; w < t->win_size; w++) { /* bounded */
        uint32_t e = LD(&t->win[w]);
        if (e == 0) continue;
        in_window++;
        if (e - 1 >= t->high_water || LD(&t->slots[e - 1].loc) == LOC_FREE)
            FAIL("an id window entry names a free slot");
        uint64_t id = LD(&t->slots[e - 1].order_id);
        if (id - lo >= t->win_size || (id & t->win_mask) != w)
            FAIL("an id window entry holds an id outside the window or at another place");
    }
    if (in_window != t->win_live) FAIL("id window entries != its live count");
    uint64_t entries = 0;
    for (uint64_t p = 0; p <= t->index_mask; p++) { /* bounded */
        uint64_t e = LD(&t->index[p]), next = LD(&t->index[(p + 1) & t->index_mask]);
        entries += e != 0;
        if (e != 0) {
            uint64_t id = LD(&t->slots[(uint32_t)e - 1].order_id);
            if (id - lo < t->win_size) FAIL("an id the window covers is in the hash index");
            if (t->win_size && id >= lo + t->win_size) {
                above++;
                if (id < least) least = id;
            }
        }
        if (next != 0 && distance(t, next, (p + 1) & t->index_mask) > (e ? distance(t, e, p) + 1 : 0))
            FAIL("the index is out of Robin Hood order (an entry is further from home than its "
                 "predecessor allows)");
    }
    if (entries + in_window != LD(&t->live)) FAIL("index + window entries != live orders");
    if (above != t->hash_above || least < t->hash_above_min)
        FAIL("the count (or least id) of indexed ids above the id window is wrong");
    if (t->nbooks == 1 && LD(&t->outside) != b->out_count) FAIL("out_of_window gauge != outside orders");
    return VX_OK;
}
