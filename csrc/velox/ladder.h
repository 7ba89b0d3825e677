/*
 * velox/ladder.h — price → level arithmetic shared by the L2 book (orderbook.c) and the L3
 * book (mbo.c): a window of `levels` prices base + i * tick, located without division.
 *
 * Ranks unify the two sides: bid rank = index + 1 (higher price is better), ask rank =
 * levels - index (lower price is better); 0 means "no level". A side's best hint holds a rank.
 *
 * Division-free locate: with window_span = levels * tick and, when window_span * tick < 2^64,
 * tick_reciprocal = floor((2^64 - 1) / tick) + 1 (= ceil(2^64 / tick) for a non-power of two),
 * (above * tick_reciprocal) >> 64 == above / tick for every above < window_span. Proof: with
 * m = 2^64/d + e, 0 <= e < 1, (x * m) >> 64 = floor(x/d + x*e/2^64); x*e/2^64 < x/2^64 < 1/d
 * whenever x*d < 2^64, and x/d's fractional part is at most (d-1)/d, so the floor is exactly
 * floor(x/d). Otherwise (and for tick 1, where the reciprocal would wrap to 0) it divides.
 * test_orderbook.c checks it against __int128 arithmetic.
 */
#ifndef VELOX_LADDER_H
#define VELOX_LADDER_H

#include <stdbool.h>
#include <stdint.h>

#include "velox/types.h"

typedef struct vx_ladder_geometry {
    int64_t base;             /* price of level 0 */
    int64_t tick;             /* > 0 */
    uint32_t levels;          /* power of two */
    uint64_t window_span;     /* levels * tick */
    uint64_t tick_reciprocal; /* 0 = divide */
} vx_ladder_geometry;

/* Fills g; VX_EINVAL when levels is not a power of two in [2, max_levels], tick <= 0 or
 * base + (levels - 1) * tick overflows int64. */
static inline vx_status vx_ladder_init(vx_ladder_geometry *g, uint32_t levels, uint32_t max_levels,
                                       int64_t tick, int64_t base) {
    if (levels < 2 || levels > max_levels || (levels & (levels - 1))) return VX_EINVAL;
    if (tick <= 0) return VX_EINVAL;
    int64_t span, top;
    if (__builtin_mul_overflow((int64_t)(levels - 1), tick, &span) ||
        __builtin_add_overflow(base, span, &top))
        return VX_EINVAL;
    g->base = base;
    g->tick = tick;
    g->levels = levels;
    g->window_span = (uint64_t)levels * (uint64_t)tick; /* <= 2 * 2^63: (levels-1)*tick fits */
    uint64_t span_times_tick;
    g->tick_reciprocal = __builtin_mul_overflow(g->window_span, (uint64_t)tick, &span_times_tick)
                             ? 0
                             : UINT64_MAX / (uint64_t)tick + 1;
    return VX_OK;
}

/* Price → level index: VX_OK, VX_EINVAL (off the grid) or VX_ERANGE (on the grid, outside).
 * The raw form takes the geometry's fields (orderbook.c keeps them in its own struct). */
static inline vx_status vx_ladder_locate_raw(int64_t base, int64_t tick_size, uint64_t window_span,
                                             uint64_t tick_reciprocal, int64_t price, uint32_t *index) {
    uint64_t tick = (uint64_t)tick_size;
    if (price < base) {
        /* unsigned difference is exact: 0 < base - price < 2^64 */
        uint64_t below = (uint64_t)base - (uint64_t)price;
        return below % tick ? VX_EINVAL : VX_ERANGE;
    }
    uint64_t above = (uint64_t)price - (uint64_t)base;
    if (above >= window_span) return above % tick ? VX_EINVAL : VX_ERANGE;
#ifdef __SIZEOF_INT128__
    uint64_t k = tick_reciprocal ? (uint64_t)(((unsigned __int128)above * tick_reciprocal) >> 64)
                                 : above / tick;
#else
    (void)tick_reciprocal;
    uint64_t k = above / tick;
#endif
    if (above - k * tick) return VX_EINVAL;
    *index = (uint32_t)k; /* k < levels */
    return VX_OK;
}

static inline vx_status vx_ladder_locate(const vx_ladder_geometry *g, int64_t price, uint32_t *index) {
    return vx_ladder_locate_raw(g->base, g->tick, g->window_span, g->tick_reciprocal, price, index);
}

/* new_base on the current grid (VX_EINVAL) with its top level inside int64 (VX_ERANGE);
 * *shift = signed level distance, clipped to ±levels. */
static inline vx_status vx_ladder_shift(const vx_ladder_geometry *g, int64_t new_base, int64_t *shift) {
    uint64_t tick = (uint64_t)g->tick;
    bool up = new_base >= g->base;
    uint64_t distance = up ? (uint64_t)new_base - (uint64_t)g->base : (uint64_t)g->base - (uint64_t)new_base;
    if (distance % tick) return VX_EINVAL;
    int64_t span, top;
    if (__builtin_mul_overflow((int64_t)(g->levels - 1), g->tick, &span) ||
        __builtin_add_overflow(new_base, span, &top))
        return VX_ERANGE;
    uint64_t steps = distance / tick;
    int64_t s = steps >= g->levels ? (int64_t)g->levels : (int64_t)steps;
    *shift = up ? s : -s;
    return VX_OK;
}

static inline uint32_t vx_ladder_index_of_rank(uint32_t levels, int side, uint32_t rank) {
    return side == VX_BUY ? rank - 1 : levels - rank;
}

static inline uint32_t vx_ladder_rank_of_index(uint32_t levels, int side, uint32_t index) {
    return side == VX_BUY ? index + 1 : levels - index;
}

static inline int64_t vx_ladder_price(const vx_ladder_geometry *g, uint32_t index) {
    return g->base + (int64_t)index * g->tick; /* no overflow: checked by init/shift */
}

#endif /* VELOX_LADDER_H */
