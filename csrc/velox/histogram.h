/*
 * velox/histogram.h — a fixed-memory, log-linear (HDR-style) latency histogram.
 *
 * Contract:
 *   - Values are unsigned integers (velox records nanoseconds). Values in [0, 128) have their
 *     own bucket (exact). Above that, each power-of-two range [64*2^k, 128*2^k) is split into
 *     64 linear sub-buckets of width 2^k, so every bucket's width is at most 1/64 (1.6 %) of
 *     the values it holds. VX_HISTOGRAM_BUCKETS buckets cover [0, VX_HISTOGRAM_MAX_VALUE].
 *   - Values above VX_HISTOGRAM_MAX_VALUE (2^40 - 1 ns, about 18 minutes) are counted in the
 *     top bucket and in `saturated`; min/max/sum still see the true value.
 *   - Single writer: exactly one thread calls vx_histogram_record/record_n/reset on a given
 *     histogram. Any number of threads may read it (count, percentile, min, max, mean, copy,
 *     merge-from) at any time, also while it is being written. Publication order: the writer
 *     updates the buckets, sum, saturated, min and max first (relaxed) and then total_count
 *     with a release store; readers load total_count with acquire first and decide emptiness
 *     by it. So a reader that sees a count of n also sees at least the buckets, min and max of
 *     those n values (never "count 1 but min still UINT64_MAX"). Fields written after the
 *     count a reader saw may be newer (e.g. the bucket sum one ahead of count); readers clamp
 *     so that results stay within [min, max].
 *   - No allocation: the struct is the whole state (about 18 KB); embed it or allocate it.
 *   - Mergeable: vx_histogram_merge adds one histogram into another (the destination's writer
 *     must be the caller or stopped).
 */
#ifndef VELOX_HISTOGRAM_H
#define VELOX_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum {
    VX_HISTOGRAM_SUB_BITS = 7,                                  /* 128 sub-buckets in bucket 0 */
    VX_HISTOGRAM_SUB_COUNT = 1 << VX_HISTOGRAM_SUB_BITS,        /* 128 */
    VX_HISTOGRAM_SUB_HALF = VX_HISTOGRAM_SUB_COUNT / 2,         /* 64 linear steps per octave */
    VX_HISTOGRAM_VALUE_BITS = 40,                               /* values up to 2^40 - 1 */
    /* bucket index of (2^40 - 1) + 1 */
    VX_HISTOGRAM_BUCKETS = (VX_HISTOGRAM_VALUE_BITS - VX_HISTOGRAM_SUB_BITS + 1) * VX_HISTOGRAM_SUB_HALF
                           + VX_HISTOGRAM_SUB_HALF
};

#define VX_HISTOGRAM_MAX_VALUE ((UINT64_C(1) << VX_HISTOGRAM_VALUE_BITS) - 1)

_Static_assert(VX_HISTOGRAM_BUCKETS == 2240, "bucket count for 40-bit values, 64 sub-buckets");

typedef struct vx_histogram {
    _Atomic uint64_t total_count;   /* values recorded (including saturated ones) */
    _Atomic uint64_t saturated;     /* values above VX_HISTOGRAM_MAX_VALUE */
    _Atomic uint64_t sum;           /* sum of values (wraps only after 2^64 ns of latency) */
    _Atomic uint64_t min;           /* UINT64_MAX while empty */
    _Atomic uint64_t max;           /* 0 while empty */
    _Atomic uint64_t counts[VX_HISTOGRAM_BUCKETS];
} vx_histogram;

_Static_assert(sizeof(_Atomic uint64_t) == 8, "lock-free 64-bit atomics are plain 8-byte words");

/* Bucket index of a value (values above the maximum map to the last bucket). */
static inline uint32_t vx_histogram_bucket_index(uint64_t value) {
    if (value > VX_HISTOGRAM_MAX_VALUE) value = VX_HISTOGRAM_MAX_VALUE;
    if (value < VX_HISTOGRAM_SUB_COUNT) return (uint32_t)value;
    /* shift so the value lands in [64, 128): shift = floor(log2 value) - 6 >= 1 */
    uint32_t shift = (uint32_t)(63 - __builtin_clzll(value)) - (VX_HISTOGRAM_SUB_BITS - 1);
    return shift * VX_HISTOGRAM_SUB_HALF + (uint32_t)(value >> shift);
}

/* Smallest value that maps to bucket `index` (index < VX_HISTOGRAM_BUCKETS). */
uint64_t vx_histogram_bucket_lowest(uint32_t index);
/* Largest value that maps to bucket `index` (index < VX_HISTOGRAM_BUCKETS). */
uint64_t vx_histogram_bucket_highest(uint32_t index);

/* Empties the histogram. Writer only (or when no writer runs). */
void vx_histogram_init(vx_histogram *h);
#define vx_histogram_reset vx_histogram_init

/* Records `count` copies of one value (writer only): exactly what `count` separate records
 * of it would leave, at the cost of one. Relaxed load + relaxed store instead of fetch_add:
 * there is one writer, so no increment can be lost, and readers only need each word untorn. The pipeline's stages use it
 * for runs of equal latencies (every transaction of one upstream batch carries the same
 * timestamp and is taken at the same `now`). count == 0 does nothing. */
static inline void vx_histogram_record_count(vx_histogram *h, uint64_t value, uint64_t count) {
    if (count == 0) return;
    uint32_t i = vx_histogram_bucket_index(value);
    /* relaxed: single writer; these fields are published by the release store of total_count
     * below, which pairs with the readers' acquire load of total_count (vx_histogram_count,
     * _mean, _percentile). The relaxed load + store pairs need no ordering: one writer. */
    atomic_store_explicit(&h->counts[i],
                          atomic_load_explicit(&h->counts[i], memory_order_relaxed) + count,
                          memory_order_relaxed);
    atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, memory_order_relaxed) + value * count,
                          memory_order_relaxed);
    if (value < atomic_load_explicit(&h->min, memory_order_relaxed))
        atomic_store_explicit(&h->min, value, memory_order_relaxed);
    if (value > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, value, memory_order_relaxed);
    if (value > VX_HISTOGRAM_MAX_VALUE)
        atomic_store_explicit(&h->saturated,
                              atomic_load_explicit(&h->saturated, memory_order_relaxed) + count,
                              memory_order_relaxed);
    /* release, last: publishes the bucket, sum, min, max and saturated stores above; pairs
     * with the acquire load of total_count in every reader (a reader that sees the new count
     * sees them too). The relaxed load is the writer reading its own last store. */
    atomic_store_explicit(&h->total_count,
                          atomic_load_explicit(&h->total_count, memory_order_relaxed) + count,
                          memory_order_release);
}

/* Records one value. Writer only. (count == 1 folds away: this is as cheap as a dedicated
 * single-value path.) */
static inline void vx_histogram_record(vx_histogram *h, uint64_t value) {
    vx_histogram_record_count(h, value, 1);
}

/* Records n values (writer only). Counts into the buckets with one pass and updates the
 * summary fields once, so it is much cheaper per value than n calls. */
void vx_histogram_record_n(vx_histogram *h, const uint64_t *values, size_t n);

/* Readers (any thread, any time). */
uint64_t vx_histogram_count(const vx_histogram *h);
uint64_t vx_histogram_min(const vx_histogram *h);   /* 0 when empty */
uint64_t vx_histogram_max(const vx_histogram *h);   /* 0 when empty */
double vx_histogram_mean(const vx_histogram *h);    /* 0.0 when empty */

/* The value at percentile p in [0, 100]: the highest value of the bucket holding the
 * ceil(p/100 * count)-th smallest value (rank at least 1), clamped to [min, max]. So the
 * answer is never below the true inverted-CDF percentile and at most one bucket width (1/64
 * of the value) above it. p = 0 gives min, p = 100 gives max. Returns 0 when empty.
 * p outside [0, 100] or NaN: returns 0 and sets *status (if not NULL) to VX_EINVAL. */
uint64_t vx_histogram_percentile(const vx_histogram *h, double p, int *status);

/* Copies the bucket counts into out[0..n) (n <= VX_HISTOGRAM_BUCKETS; the rest are not
 * copied). Returns the number copied. */
size_t vx_histogram_copy_counts(const vx_histogram *h, uint64_t *out, size_t n);

/* dst += src. dst's writer must be the caller (or stopped); src may be live. */
void vx_histogram_merge(vx_histogram *dst, const vx_histogram *src);

#endif /* VELOX_HISTOGRAM_H */
