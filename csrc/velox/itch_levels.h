/*
 * velox/itch_levels.h — ITCH 5.0 bytes to aggregate price levels (L2 from L3) in one loop:
 * parse → route by stock locate → apply, with no event array in between.
 *
 * CONTRACT (docs/feeds.md "Levels-only books" has the full semantics):
 *
 * Books. `instruments` books (book = ITCH stock locate, 0 .. instruments-1), each a window of
 *   `levels` (power of two) price levels of `tick` ITCH price units (1e-4 $; 100 = one cent)
 *   per side, holding the aggregate shares of the orders resting there. A book's window is
 *   placed by its first ADD so that price sits at level levels/2 (as vx_mbo_set places its
 *   books); orders priced outside the window are kept (they are executed, cancelled, replaced
 *   as any other) but are in no level (counted: outside). No recenter.
 *
 * Semantics (equal to vx_mbo_set's level aggregates for the same messages, ItchBooks.feed):
 *   A/F  ADD: shares 0 → INVALID, id live → DUPLICATE, locate >= instruments → INSTRUMENT,
 *        price off the book's grid → OFF_GRID, no room for the order → FULL (all rejected,
 *        counted by reason, book unchanged).
 *   E/C  EXECUTE, X CANCEL: shares 0 → INVALID; more than the order has → EXCEEDS; equal →
 *        the order leaves; unknown order → unknown_orders (no effect). C's price is ignored.
 *   D    DELETE: the order leaves; unknown → unknown_orders.
 *   U    REPLACE: shares 0 → INVALID; new ref live (and != original) → DUPLICATE; new price
 *        off the grid → OFF_GRID; unknown original → unknown_orders, nothing added; else the
 *        original leaves and the new ref rests on its side and book at the new price.
 *   Every other ITCH 5.0 type has no book effect (counted in other_messages); a type not in
 *   ITCH 5.0 is skipped by its length prefix (unknown_types).
 *   Errors (VX_EINVAL, the feed stops before the message; offset/type/text kept): a zero
 *   length, a known type whose length differs from its fixed length, an A/F side not B/S.
 *
 * Order table (dense ids). ITCH order references are dense and increasing within a day, so an
 *   order lives in a direct window of 2^window_bits 8-byte records indexed by id & mask, the
 *   window covering ids [lo, lo + 2^window_bits). An ADD above the window slides it up (the
 *   records of ids that leave it, if live, move to the spill table); an id below the window or
 *   far above it (more than one window) goes to the spill table: open addressing of
 *   `spill_capacity` 16-byte entries (power of two, load <= 1/2, keyed multiplicative hash).
 *   An ADD that finds no room is FULL. Memory: 8 B x 2^window_bits + 16 B x spill_capacity +
 *   8 B x 2 x levels x instruments, all allocated at create (zeroed, committed when first
 *   written; the window and level arrays, from 2 MiB up, in transparent huge pages where the
 *   kernel grants them).
 *
 * Streaming: vx_itch_levels_feed consumes whole messages; the next call continues where
 *   *consumed ended (state in the object). Prefetch: the loop prefetches the order record (or
 *   spill slot) of the message 32 ahead and the level of the order of the message 16 ahead.
 *
 * Concurrency: single-threaded object (feed and the readers from one thread at a time; the
 *   Python class holds a lock). No allocation after create; every loop bounded.
 */
#ifndef VELOX_ITCH_LEVELS_H
#define VELOX_ITCH_LEVELS_H

#include <stddef.h>
#include <stdint.h>

#include "velox/mbo.h"
#include "velox/types.h"

enum {
    VX_ITCH_LEVELS_MAX_WINDOW_BITS = 28,
    VX_ITCH_LEVELS_MAX_SPILL = 1 << 28,
    VX_ITCH_LEVELS_RECORD_BYTES = 8,   /* one order of the direct window */
    VX_ITCH_LEVELS_SPILL_BYTES = 16    /* one entry of the spill table */
};

typedef struct vx_itch_levels vx_itch_levels; /* opaque */

typedef struct vx_itch_levels_counts {
    uint64_t messages;        /* whole messages consumed */
    uint64_t applied;         /* book messages (A F E C X D U) applied */
    uint64_t rejected;        /* book messages rejected (sum of rejected_by_reason) */
    uint64_t rejected_by_reason[VX_MBO_REJECT_COUNT]; /* index = vx_mbo_reject */
    uint64_t unknown_orders;  /* E C X D U of an id not live */
    uint64_t other_messages;  /* known ITCH types with no book effect */
    uint64_t unknown_types;   /* not ITCH 5.0 (skipped by length) */
    uint64_t traded_qty;      /* shares executed (E, C) of known orders */
    uint64_t live;            /* live orders (gauge) */
    uint64_t outside;         /* live orders outside their book's window (gauge) */
    uint64_t spilled;         /* live orders in the spill table (gauge) */
    uint64_t slides;          /* times the direct window moved up */
    uint64_t slides_refused;  /* slides refused: the spill table lacked room for the orders
                                 leaving the window (those ADDs spill, or are FULL when the
                                 spill is full: a larger window_bits or spill_capacity) */
} vx_itch_levels_counts;

/* instruments in [1, 65536]; levels a power of two in [2, 2^20] with instruments * 2 * levels
 * <= 2^31; tick in [1, 2^31); window_bits in [4, VX_ITCH_LEVELS_MAX_WINDOW_BITS]; spill_capacity
 * a power of two in [16, VX_ITCH_LEVELS_MAX_SPILL]. VX_EINVAL / VX_ENOMEM; *out only on VX_OK. */
vx_status vx_itch_levels_create(uint32_t instruments, uint32_t levels, uint32_t tick,
                                uint32_t window_bits, uint32_t spill_capacity,
                                vx_itch_levels **out);
void vx_itch_levels_destroy(vx_itch_levels *b);
/* Back to the state after create (every book unplaced and empty, no orders, counts and error
 * cleared) in the same memory: the next day on one object faults no page the last one touched.
 * Clears the placed books' levels, the window only if orders are live in it, the spill table
 * only if orders are spilled. */
void vx_itch_levels_reset(vx_itch_levels *b);

/* Applies the whole messages of buf[0..len). VX_OK (*consumed < len: the last message is
 * incomplete; pass the rest again with more bytes) or VX_EINVAL at a malformed message
 * (*consumed = the bytes before it; vx_itch_levels_error*). */
vx_status vx_itch_levels_feed(vx_itch_levels *b, const uint8_t *buf, size_t len,
                              size_t *consumed);

/* As vx_itch_levels_feed, and stops before the first ITCH 5.0 message whose timestamp (ns
 * since midnight) is >= until_ns (a snapshot point: the books then hold every message before
 * it). UINT64_MAX = no stop. */
vx_status vx_itch_levels_feed_until(vx_itch_levels *b, const uint8_t *buf, size_t len,
                                    uint64_t until_ns, size_t *consumed);

void vx_itch_levels_counts_read(const vx_itch_levels *b, vx_itch_levels_counts *out);
uint64_t vx_itch_levels_error_offset(const vx_itch_levels *b); /* absolute, of the prefix */
uint8_t vx_itch_levels_error_type(const vx_itch_levels *b);
const char *vx_itch_levels_error(const vx_itch_levels *b);

/* Readers (prices in ITCH units). Best: VX_OK, VX_EMPTY (no level on that side, or the book
 * is unplaced), VX_EINVAL (bad instrument or side). O(levels). */
vx_status vx_itch_levels_best(const vx_itch_levels *b, uint32_t instrument, int side,
                              int64_t *price, uint64_t *qty);
/* Top n non-empty levels of a side, best first; returns how many (0 for a bad argument). */
size_t vx_itch_levels_depth(const vx_itch_levels *b, uint32_t instrument, int side, size_t n,
                            int64_t *prices, uint64_t *qtys);
/* 1 and the book's level-0 price when placed, else 0. */
int vx_itch_levels_base(const vx_itch_levels *b, uint32_t instrument, int64_t *base);
size_t vx_itch_levels_memory_bytes(const vx_itch_levels *b);

#endif /* VELOX_ITCH_LEVELS_H */
