/* test_histogram.c — bucket layout, percentiles against a sorted array, merge, live reads. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "velox/histogram.h"
#include "velox/prng.h"
#include "velox/types.h"

static vx_histogram hist_a, hist_b, hist_live;

static void test_bucket_layout_is_contiguous_and_precise(void) {
    CHECK(vx_histogram_bucket_index(0) == 0);
    CHECK(vx_histogram_bucket_index(127) == 127);
    CHECK(vx_histogram_bucket_index(128) == 128);
    CHECK(vx_histogram_bucket_index(VX_HISTOGRAM_MAX_VALUE) == VX_HISTOGRAM_BUCKETS - 1);
    CHECK(vx_histogram_bucket_index(UINT64_MAX) == VX_HISTOGRAM_BUCKETS - 1);
    CHECK(vx_histogram_bucket_lowest(0) == 0);
    CHECK(vx_histogram_bucket_highest(VX_HISTOGRAM_BUCKETS - 1) == VX_HISTOGRAM_MAX_VALUE);
    for (uint32_t i = 0; i < VX_HISTOGRAM_BUCKETS; i++) {
        uint64_t lo = vx_histogram_bucket_lowest(i), hi = vx_histogram_bucket_highest(i);
        REQUIRE(lo <= hi);
        REQUIRE(vx_histogram_bucket_index(lo) == i);
        REQUIRE(vx_histogram_bucket_index(hi) == i);
        if (i + 1 < VX_HISTOGRAM_BUCKETS) REQUIRE(vx_histogram_bucket_lowest(i + 1) == hi + 1);
        /* width at most 1/64 of the lowest value (exact below 128) */
        if (lo >= 128) REQUIRE((hi - lo + 1) * 64 <= lo);
        else REQUIRE(hi == lo);
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_percentiles_match_sorted_values(void) {
    enum { N = 20000 };
    static uint64_t values[N];
    vx_prng rng;
    vx_prng_seed(&rng, 42);
    vx_histogram_init(&hist_a);
    CHECK(vx_histogram_count(&hist_a) == 0);
    CHECK(vx_histogram_percentile(&hist_a, 50, NULL) == 0);
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        /* log-uniform-ish spread from 0 to ~2^30 */
        uint64_t v = vx_prng_next(&rng) >> (34 + vx_prng_below(&rng, 30));
        values[i] = v;
        sum += v;
        vx_histogram_record(&hist_a, v);
    }
    qsort(values, N, sizeof values[0], cmp_u64);
    CHECK(vx_histogram_count(&hist_a) == N);
    CHECK(vx_histogram_min(&hist_a) == values[0]);
    CHECK(vx_histogram_max(&hist_a) == values[N - 1]);
    CHECK(vx_histogram_mean(&hist_a) == (double)sum / N);
    const double ps[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        double p = ps[k];
        uint64_t rank = (uint64_t)ceil(p / 100.0 * N);
        if (rank < 1) rank = 1;
        uint64_t truth = values[rank - 1];
        uint64_t got = vx_histogram_percentile(&hist_a, p, NULL);
        CHECK(got >= truth);
        CHECK(got <= truth + truth / 64 + 1);
    }
    int status = VX_OK;
    CHECK(vx_histogram_percentile(&hist_a, 100.5, &status) == 0 && status == VX_EINVAL);
    CHECK(vx_histogram_percentile(&hist_a, -1, &status) == 0 && status == VX_EINVAL);
    CHECK(vx_histogram_percentile(&hist_a, NAN, &status) == 0 && status == VX_EINVAL);
}

static void test_record_n_equals_record_and_merge_adds(void) {
    uint64_t values[1000];
    vx_prng rng;
    vx_prng_seed(&rng, 7);
    for (int i = 0; i < 1000; i++) values[i] = vx_prng_below(&rng, 1u << 20);
    values[3] = UINT64_MAX; /* saturates */
    vx_histogram_init(&hist_a);
    vx_histogram_init(&hist_b);
    for (int i = 0; i < 1000; i++) vx_histogram_record(&hist_a, values[i]);
    vx_histogram_record_n(&hist_b, values, 1000);
    CHECK(memcmp(&hist_a, &hist_b, sizeof hist_a) == 0);
    CHECK(atomic_load(&hist_a.saturated) == 1);
    CHECK(vx_histogram_max(&hist_a) == UINT64_MAX);
    vx_histogram_merge(&hist_a, &hist_b);
    CHECK(vx_histogram_count(&hist_a) == 2000);
    uint64_t counts_a[VX_HISTOGRAM_BUCKETS], counts_b[VX_HISTOGRAM_BUCKETS];
    CHECK(vx_histogram_copy_counts(&hist_a, counts_a, VX_HISTOGRAM_BUCKETS) == VX_HISTOGRAM_BUCKETS);
    vx_histogram_copy_counts(&hist_b, counts_b, VX_HISTOGRAM_BUCKETS);
    for (int i = 0; i < VX_HISTOGRAM_BUCKETS; i++) REQUIRE(counts_a[i] == 2 * counts_b[i]);
    /* merging an empty histogram changes nothing */
    vx_histogram_init(&hist_b);
    vx_histogram_merge(&hist_a, &hist_b);
    CHECK(vx_histogram_count(&hist_a) == 2000 && vx_histogram_min(&hist_a) == vx_histogram_min(&hist_a));
    vx_histogram_reset(&hist_a);
    CHECK(vx_histogram_count(&hist_a) == 0 && vx_histogram_max(&hist_a) == 0);
}

/* vx_histogram_record_count(v, k) leaves exactly what k calls of record(v) leave: runs of
 * equal values (as the pipeline's stages record them) with a saturating one and k = 0. */
static void test_record_count_equals_repeated_record(void) {
    vx_prng rng;
    vx_prng_seed(&rng, 11);
    vx_histogram_init(&hist_a);
    vx_histogram_init(&hist_b);
    for (int run = 0; run < 300; run++) {
        uint64_t v = run == 7 ? UINT64_MAX : vx_prng_below(&rng, 1u << 30) >> vx_prng_below(&rng, 30);
        uint64_t k = vx_prng_below(&rng, 70); /* 0 included: records nothing */
        for (uint64_t i = 0; i < k; i++) vx_histogram_record(&hist_a, v);
        vx_histogram_record_count(&hist_b, v, k);
    }
    CHECK(vx_histogram_count(&hist_a) > 0);
    CHECK(memcmp(&hist_a, &hist_b, sizeof hist_a) == 0);
    vx_histogram_init(&hist_b);
    vx_histogram_record_count(&hist_b, 5, 0);
    CHECK(vx_histogram_count(&hist_b) == 0 && vx_histogram_min(&hist_b) == 0 && vx_histogram_max(&hist_b) == 0);
}

static _Atomic int live_done;

static void *live_writer(void *arg) {
    (void)arg;
    vx_test_pin(0);
    uint64_t n = vx_test_count(2000000, 20000);
    for (uint64_t i = 0; i < n; i++) vx_histogram_record(&hist_live, 100 + (i % 5000));
    atomic_store_explicit(&live_done, 1, memory_order_release); /* pairs with acquire below */
    return NULL;
}

static void test_readable_while_written(void) {
    vx_histogram_init(&hist_live);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, live_writer, NULL) == 0);
    vx_test_pin(1);
    uint64_t last = 0;
    for (int rounds = 0; rounds < 1000000; rounds++) {
        int done = atomic_load_explicit(&live_done, memory_order_acquire); /* pairs with release in live_writer */
        uint64_t c = vx_histogram_count(&hist_live);
        REQUIRE(c >= last); /* a single writer's counter never goes back */
        last = c;
        if (c) {
            uint64_t p = vx_histogram_percentile(&hist_live, 50, NULL);
            REQUIRE(p >= 100 && p <= 5099);
        }
        if (done) break;
    }
    pthread_join(t, NULL);
    uint64_t n = vx_test_count(2000000, 20000);
    CHECK(vx_histogram_count(&hist_live) == n);
    CHECK(vx_histogram_min(&hist_live) == 100);
}

/* A reader that sees a count sees the value behind it: a fresh histogram gets one value while
 * a reader polls it; as soon as count() says 1, min, max and every percentile must be that
 * value (the writer publishes min/max before total_count with release, readers load the count
 * with acquire first). Before that order, percentile() could read min == UINT64_MAX after the
 * count and report "empty" (0). Ping-pong rounds so every round starts from a fresh histogram. */
static vx_histogram hist_pub;
static _Atomic uint64_t pub_round, pub_ack;

static void *pub_writer(void *arg) {
    uint64_t rounds = *(const uint64_t *)arg;
    vx_test_pin(0);
    for (uint64_t r = 1; r <= rounds; r++) {
        vx_histogram_init(&hist_pub);
        atomic_store_explicit(&pub_round, r, memory_order_release); /* pairs with the reader's acquire */
        vx_histogram_record(&hist_pub, 1000 + r);
        /* acquire: pairs with the reader's release of pub_ack (it is done reading hist_pub) */
        for (uint64_t spin = 0; atomic_load_explicit(&pub_ack, memory_order_acquire) != r; spin++)
            if (spin > 400000000u) return NULL; /* bounded; the reader's REQUIRE reports */
            else sched_yield(); /* 2 CPUs may be shared: let the reader run */
    }
    return NULL;
}

static void test_count_publishes_min_max(void) {
    uint64_t rounds = vx_test_count(1000, 400);
    atomic_store_explicit(&pub_round, 0, memory_order_relaxed); /* before the thread starts */
    atomic_store_explicit(&pub_ack, 0, memory_order_relaxed);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, pub_writer, &rounds) == 0);
    vx_test_pin(1);
    uint64_t bad = 0;
    for (uint64_t r = 1; r <= rounds; r++) {
        uint64_t spin = 0;
        /* acquire: pairs with the writer's release of pub_round (the reset is visible) */
        while (atomic_load_explicit(&pub_round, memory_order_acquire) != r) REQUIRE(++spin < 400000000u);
        /* tight poll (no yield): catch the writer between its stores */
        while (vx_histogram_count(&hist_pub) == 0) REQUIRE(++spin < 4000000000u);
        uint64_t v = 1000 + r;
        uint64_t p50 = vx_histogram_percentile(&hist_pub, 50, NULL);
        uint64_t p0 = vx_histogram_percentile(&hist_pub, 0, NULL);
        uint64_t p100 = vx_histogram_percentile(&hist_pub, 100, NULL);
        bad += !(vx_histogram_min(&hist_pub) == v && vx_histogram_max(&hist_pub) == v
                 && p0 == v && p50 == v && p100 == v);
        atomic_store_explicit(&pub_ack, r, memory_order_release); /* pairs with the writer's acquire */
    }
    pthread_join(t, NULL);
    if (bad) fprintf(stderr, "  %llu of %llu rounds saw a count without its value\n",
                     (unsigned long long)bad, (unsigned long long)rounds);
    CHECK(bad == 0);
}

int main(void) {
    RUN(test_bucket_layout_is_contiguous_and_precise);
    RUN(test_percentiles_match_sorted_values);
    RUN(test_record_n_equals_record_and_merge_adds);
    RUN(test_record_count_equals_repeated_record);
    RUN(test_readable_while_written);
    RUN(test_count_publishes_min_max);
    return CHECK_SUMMARY("test_histogram");
}
