/* stage_cost.c — instruction cost of hosting a user stage (velox/stage.h), load-independent
 * under callgrind: the pipeline, unpaced, block mode, one pipeline thread, with no stage /
 * the builtin noop / the builtin imbalance stage, over either
 *   N       the synthetic transaction flow (N transactions, L2 book, logical timestamps), or
 *   mbo:PATH a raw MBO_DTYPE file (e.g. velox.feedgen.lobster_events(n).tofile(PATH)) fed
 *           through a source ring by a feeder thread into the market-by-order books
 *           (levels 4096, tick 0.01, follow_market on; the feeder's share is the same in
 *           every run).
 *   txn:PATH a raw TXN_DTYPE file fed the same way into the L2 book (what Pipeline.feed() and
 *           a shm: source do: the source ring, ingress, book, bundler, file-less output).
 *   book:PATH [ROUNDS] no pipeline: the MBO file straight into one vx_mbo_set (the
 *           pipeline's defaults: levels 4096, tick 0.01, max_orders 2^20) in batches of 64
 *           with a follow pass after each, as the book stage does; prints the best wall-clock
 *           ns/event of ROUNDS (default 5) and the digest. Under callgrind use ROUNDS 1 and
 *           --toggle-collect=book_apply_all (the file read stays out of the count).
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S -flto=auto benchmarks/native/stage_cost.c \
 *       $S/velox/pipeline*.c $S/velox/stage_builtin.c $S/velox/orderbook.c $S/velox/mbo.c \
 *       $S/velox/ring.c $S/velox/histogram.c $S/velox/tsc.c $S/velox/types.c \
 *       -o build/stage_cost -pthread -lm
 *   for k in none noop imbalance; do valgrind --tool=callgrind build/stage_cost 1000000 $k; done
 *   for k in none noop imbalance; do valgrind --tool=callgrind build/stage_cost mbo:PATH $k; done
 *   (instructions / records = per record, or callgrind_annotate --inclusive=yes for the
 *   book stage's vx_pipe_book_turn alone; differences = the stage's cost)
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "velox/pipeline.h"
#include "velox/stage_builtin.h"
#include "velox/tsc.h"

typedef struct {
    vx_ring *ring;
    vx_pipeline *p;
    const char *ev;
    size_t n, elem;
} feeder;

static void *feed(void *a_) {
    feeder *a = a_;
    for (size_t i = 0; i < a->n;) { /* bounded: each round pushes or yields */
        uint32_t got = 0;
        (void)vx_ring_push_n(a->ring, a->ev + i * a->elem, (uint32_t)(a->n - i < 4096 ? a->n - i : 4096),
                             &got);
        if (got) i += got;
        else sched_yield();
    }
    vx_pipeline_close_source(a->p);
    return NULL;
}

static char *read_events(const char *path, size_t elem, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f) / elem;
    rewind(f);
    char *ev = malloc(*n * elem);
    if (ev && fread(ev, elem, *n, f) != *n) {
        free(ev);
        ev = NULL;
    }
    fclose(f);
    return ev;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((noinline)) static uint64_t book_apply_all(vx_mbo_set *set, const vx_mbo *ev, size_t n) {
    uint64_t ok = 0;
    for (size_t i = 0; i < n; i += 64) { /* bounded by n */
        uint64_t a = 0;
        vx_mbo_set_apply_many(set, ev + i, n - i < 64 ? n - i : 64, &a, NULL);
        ok += a;
        if (vx_mbo_set_follow_pending(set)) (void)vx_mbo_set_follow(set, 1u << 16, NULL);
    }
    return ok;
}

/* book:PATH: the MBO book alone (see the file comment). */
static int book_alone(const char *path, int rounds) {
    size_t n = 0;
    vx_mbo *ev = (vx_mbo *)read_events(path, sizeof(vx_mbo), &n);
    if (!ev || n == 0) return 2;
    double best = 1e300;
    uint64_t ok = 0, digest = 0;
    for (int r = 0; r < rounds; r++) { /* bounded by rounds */
        vx_mbo_set *set = NULL;
        if (vx_mbo_set_create(1, 4096, 1000000, 1u << 20, &set) != VX_OK) return 1;
        double t0 = now_s();
        ok = book_apply_all(set, ev, n);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        const vx_mbo_book *b = vx_mbo_set_reader(set, 0);
        digest = vx_mbo_digest(b);
        const char *why = NULL;
        if (vx_mbo_verify_invariants(b, &why) != VX_OK) return fprintf(stderr, "invariants: %s\n", why), 1;
        vx_mbo_set_destroy(set);
    }
    printf("book: events %zu applied %llu digest %016llx best %.1f ns/event = %.2f M events/s\n", n,
           (unsigned long long)ok, (unsigned long long)digest, best * 1e9 / (double)n,
           (double)n / best / 1e6);
    free(ev);
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "1000000";
    const char *kind = argc > 2 ? argv[2] : "none";
    if (strncmp(what, "book:", 5) == 0) return book_alone(what + 5, argc > 2 ? atoi(argv[2]) : 5);
    const int mbo = strncmp(what, "mbo:", 4) == 0, txn = strncmp(what, "txn:", 4) == 0;
    const size_t elem = mbo ? sizeof(vx_mbo) : sizeof(vx_txn);
    vx_pipeline_config c;
    vx_pipeline_config_default(&c);
    c.ticks_per_ns = vx_tsc_calibrate(20 * 1000 * 1000);
    c.rate_per_s = 0;
    c.on_full = VX_ON_FULL_BLOCK;
    c.bundle_timeout_ns = 0;
    c.logical_timestamps = 1;
    c.thread_count = 1;
    memset(c.stage_thread, 0, sizeof c.stage_thread);
    c.thread_cpu[0] = -1;
    c.wait = mbo || txn ? VX_WAIT_YIELD : VX_WAIT_SPIN; /* a feeder thread needs the CPU too */
    size_t n = 0;
    char *ev = NULL;
    vx_ring *ring = NULL;
    if (mbo || txn) {
        if (!(ev = read_events(what + 4, elem, &n))) return 2;
        if (vx_ring_create(1 << 16, (uint32_t)elem, &ring) != VX_OK) return 1;
        c.source_ring = ring;
    }
    if (mbo) {
        c.records = VX_RECORDS_MBO;
        c.levels = 4096;
        c.tick_size = 1000000; /* 0.01 */
    } else if (!txn) {
        c.max_txns = strtoull(what, NULL, 10);
    }
    vx_builtin_stage st;
    if (strcmp(kind, "none") != 0) {
        vx_builtin_kind k = strcmp(kind, "noop") == 0 ? VX_BUILTIN_NOOP : VX_BUILTIN_IMBALANCE;
        vx_builtin_stage_init(&st, k, 2);
        c.user_stages[0] = &st.table;
        c.user_stage_count = 1;
    }
    vx_pipeline *p = NULL;
    if (vx_pipeline_create(&c, &p) != VX_OK) return 1;
    const double t0 = now_s();
    vx_pipeline_start(p);
    if (mbo || txn) {
        feeder a = {ring, p, ev, n, elem};
        pthread_t t;
        pthread_create(&t, NULL, feed, &a);
        pthread_join(t, NULL);
    }
    while (!vx_pipeline_finished(p)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    const double secs = now_s() - t0;
    vx_pipeline_join(p);
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    printf("%s: generated %llu applied %llu emitted %llu bundled %llu recenters %llu "
           "conservation %s, %.2f M records/s (wall clock, start to finished)\n", kind,
           (unsigned long long)k.generated,
           (unsigned long long)k.applied, (unsigned long long)k.user_emitted,
           (unsigned long long)k.bundled, (unsigned long long)k.recenters,
           vx_pipeline_check_conservation(&k, 0) ? "FAILED" : "ok",
           (double)k.generated / secs / 1e6);
    vx_pipeline_destroy(p);
    vx_ring_destroy(ring);
    free(ev);
    return 0;
}
