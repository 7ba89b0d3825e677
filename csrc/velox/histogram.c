/* velox/histogram.c — see histogram.h for the contract. */
#include "velox/histogram.h"

#include <math.h>

#include "velox/types.h"

uint64_t vx_histogram_bucket_lowest(uint32_t index) {
    if (index < VX_HISTOGRAM_SUB_COUNT) return index;
    uint32_t shift = index / VX_HISTOGRAM_SUB_HALF - 1;
    uint64_t sub = index - shift * VX_HISTOGRAM_SUB_HALF; /* in [64, 128) */
    return sub << shift;
}

uint64_t vx_histogram_bucket_highest(uint32_t index) {
    if (index < VX_HISTOGRAM_SUB_COUNT) return index;
    uint32_t shift = index / VX_HISTOGRAM_SUB_HALF - 1;
    uint64_t sub = index - shift * VX_HISTOGRAM_SUB_HALF;
    return ((sub + 1) << shift) - 1;
}

void vx_histogram_init(vx_histogram *h) {
    /* relaxed stores: the writer (or the owner before any writer starts) resets; readers that
     * overlap a reset see a mix of old and zero values, which the reader functions tolerate
     * (a count > 0 with min == UINT64_MAX reads as empty). total_count first: a reader that
     * still sees the old count may see reset fields, never the reverse order's "count 0 but
     * buckets full" (that would be harmless too: readers decide emptiness by the count). The
     * next record's release store of total_count publishes all of these. */
    atomic_store_explicit(&h->total_count, 0, memory_order_relaxed);
    atomic_store_explicit(&h->saturated, 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
    atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
    atomic_store_explicit(&h->max, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < VX_HISTOGRAM_BUCKETS; i++)
        atomic_store_explicit(&h->counts[i], 0, memory_order_relaxed);
}

void vx_histogram_record_n(vx_histogram *h, const uint64_t *values, size_t n) {
    if (n == 0) return;
    uint64_t sum = 0, lo = UINT64_MAX, hi = 0, saturated = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t v = values[k];
        uint32_t i = vx_histogram_bucket_index(v);
        /* relaxed, single writer; pairs with readers' relaxed loads */
        atomic_store_explicit(&h->counts[i],
                              atomic_load_explicit(&h->counts[i], memory_order_relaxed) + 1,
                              memory_order_relaxed);
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        saturated += v > VX_HISTOGRAM_MAX_VALUE;
    }
    /* relaxed, single writer; published by the release store of total_count below (see
     * vx_histogram_record_count) */
    atomic_store_explicit(&h->sum, atomic_load_explicit(&h->sum, memory_order_relaxed) + sum,
                          memory_order_relaxed);
    atomic_store_explicit(&h->saturated,
                          atomic_load_explicit(&h->saturated, memory_order_relaxed) + saturated,
                          memory_order_relaxed);
    if (lo < atomic_load_explicit(&h->min, memory_order_relaxed))
        atomic_store_explicit(&h->min, lo, memory_order_relaxed);
    if (hi > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, hi, memory_order_relaxed);
    /* release, last: pairs with the readers' acquire load of total_count */
    atomic_store_explicit(&h->total_count, atomic_load_explicit(&h->total_count, memory_order_relaxed) + n,
                          memory_order_release);
}

uint64_t vx_histogram_count(const vx_histogram *h) {
    /* acquire: pairs with the writer's release store of total_count (record_count, record_n,
     * merge); whatever the caller reads next (min, max, percentile) covers these values */
    return atomic_load_explicit(&h->total_count, memory_order_acquire);
}

uint64_t vx_histogram_min(const vx_histogram *h) {
    /* acquire on total_count (pairs with the writer's release store of it): emptiness is
     * decided by the count; then min is at least as new as that count */
    if (atomic_load_explicit(&h->total_count, memory_order_acquire) == 0) return 0;
    /* relaxed: ordered after the acquire above; UINT64_MAX only during an overlapping reset */
    uint64_t v = atomic_load_explicit(&h->min, memory_order_relaxed);
    return v == UINT64_MAX ? 0 : v;
}

uint64_t vx_histogram_max(const vx_histogram *h) {
    /* acquire on total_count: pairs with the writer's release store of it (see _min) */
    if (atomic_load_explicit(&h->total_count, memory_order_acquire) == 0) return 0;
    /* relaxed: ordered after the acquire above */
    return atomic_load_explicit(&h->max, memory_order_relaxed);
}

double vx_histogram_mean(const vx_histogram *h) {
    /* acquire: pairs with the writer's release store of total_count, so sum covers at least
     * these n values (it may include a few newer ones) */
    uint64_t n = atomic_load_explicit(&h->total_count, memory_order_acquire);
    /* relaxed: ordered after the acquire above */
    uint64_t s = atomic_load_explicit(&h->sum, memory_order_relaxed);
    return n ? (double)s / (double)n : 0.0;
}

uint64_t vx_histogram_percentile(const vx_histogram *h, double p, int *status) {
    if (status) *status = VX_OK;
    if (!(p >= 0.0 && p <= 100.0)) { /* also rejects NaN */
        if (status) *status = VX_EINVAL;
        return 0;
    }
    /* acquire: pairs with the writer's release store of total_count (published last), so
     * emptiness is decided by the count and min, max and the buckets below cover at least
     * these values. (Before: min was read first and a writer that had stored the count but
     * not yet min made a 1-value histogram look empty — csrc/tests/test_histogram.c
     * test_readable_while_written caught it under TSan.) */
    if (atomic_load_explicit(&h->total_count, memory_order_acquire) == 0) return 0; /* empty */
    /* relaxed loads from here: ordered after the acquire above; a live snapshot may still be
     * slightly newer in some fields, so the walk is bounded by the bucket array and clamped */
    uint64_t lo = atomic_load_explicit(&h->min, memory_order_relaxed);
    uint64_t hi = atomic_load_explicit(&h->max, memory_order_relaxed);
    if (lo == UINT64_MAX) return 0; /* only while a reset overlaps this read */
    if (p == 0.0) return lo;
    if (p == 100.0) return hi;
    /* the count from the buckets themselves, so the rank is reachable in this snapshot */
    uint64_t total = 0;
    for (uint32_t i = 0; i < VX_HISTOGRAM_BUCKETS; i++)
        total += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    if (total == 0) return 0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)total);
    if (rank < 1) rank = 1;
    if (rank > total) rank = total;
    uint64_t seen = 0;
    uint64_t value = hi;
    for (uint32_t i = 0; i < VX_HISTOGRAM_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (seen >= rank) {
            value = vx_histogram_bucket_highest(i);
            break;
        }
    }
    if (value > hi) value = hi;
    if (value < lo) value = lo;
    return value;
}

size_t vx_histogram_copy_counts(const vx_histogram *h, uint64_t *out, size_t n) {
    if (n > VX_HISTOGRAM_BUCKETS) n = VX_HISTOGRAM_BUCKETS;
    for (size_t i = 0; i < n; i++)
        /* relaxed: pairs with the writer's relaxed store in vx_histogram_record */
        out[i] = atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    return n;
}

void vx_histogram_merge(vx_histogram *dst, const vx_histogram *src) {
    /* all relaxed: src's loads pair with src's writer's relaxed stores; dst is written only
     * by the caller (its single writer) */
    uint64_t added = 0;
    uint32_t first = 0, last = 0;
    for (uint32_t i = 0; i < VX_HISTOGRAM_BUCKETS; i++) {
        uint64_t c = atomic_load_explicit(&src->counts[i], memory_order_relaxed);
        if (!c) continue;
        if (!added) first = i;
        last = i;
        added += c;
        atomic_store_explicit(&dst->counts[i], atomic_load_explicit(&dst->counts[i], memory_order_relaxed) + c,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&dst->sum,
                          atomic_load_explicit(&dst->sum, memory_order_relaxed)
                              + atomic_load_explicit(&src->sum, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&dst->saturated,
                          atomic_load_explicit(&dst->saturated, memory_order_relaxed)
                              + atomic_load_explicit(&src->saturated, memory_order_relaxed),
                          memory_order_relaxed);
    uint64_t lo = atomic_load_explicit(&src->min, memory_order_relaxed);
    uint64_t hi = atomic_load_explicit(&src->max, memory_order_relaxed);
    /* a live src may have published a bucket before its min/max: bound them by the buckets */
    if (added && lo > vx_histogram_bucket_highest(first)) lo = vx_histogram_bucket_lowest(first);
    if (added && hi < vx_histogram_bucket_lowest(last)) hi = vx_histogram_bucket_highest(last);
    if (added && lo < atomic_load_explicit(&dst->min, memory_order_relaxed))
        atomic_store_explicit(&dst->min, lo, memory_order_relaxed);
    if (added && hi > atomic_load_explicit(&dst->max, memory_order_relaxed))
        atomic_store_explicit(&dst->max, hi, memory_order_relaxed);
    /* release, last: take the count from the buckets copied, so dst stays self-consistent
     * even if src is live; publishes dst's stores above to readers of dst (pairs with their
     * acquire load of total_count) */
    atomic_store_explicit(&dst->total_count,
                          atomic_load_explicit(&dst->total_count, memory_order_relaxed) + added,
                          memory_order_release);
}
