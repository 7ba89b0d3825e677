/* mbo_stage_cost.c — instruction cost of a user stage in a market-by-order pipeline
 * (issue 12: "the example strategy adds <= 5 ns/event over the no-op stage"), load-
 * independent under callgrind: a raw MBO_DTYPE file (e.g. benchmarks/bench_pipeline_mbo.py's
 * day, `velox.feedgen.lobster_events(n).tofile(PATH)`) fed through a source ring by a feeder
 * thread into the MBO pipeline (block mode, one pipeline thread, levels 4096, follow on),
 * with no stage / the builtin noop / the builtin imbalance stage.
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S -flto=auto \
 *       benchmarks/native/mbo_stage_cost.c $S/velox/pipeline*.c $S/velox/stage_builtin.c \
 *       $S/velox/orderbook.c $S/velox/mbo.c $S/velox/ring.c $S/velox/histogram.c \
 *       $S/velox/tsc.c $S/velox/types.c -o build/mbo_stage_cost -pthread -lm
 *   for k in none noop imbalance; do valgrind --tool=callgrind build/mbo_stage_cost PATH $k; done
 *   (instructions / events = per event; differences = the stage's cost; the feeder's share is
 *   the same in every run)
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
    const vx_mbo *ev;
    size_t n;
} feeder;

static void *feed(void *a_) {
    feeder *a = a_;
    for (size_t i = 0; i < a->n;) { /* bounded: each round pushes or yields */
        size_t k = a->n - i < 4096 ? a->n - i : 4096;
        uint32_t got = 0;
        (void)vx_ring_push_n(a->ring, a->ev + i, (uint32_t)k, &got);
        if (got) i += got;
        else sched_yield();
    }
    vx_pipeline_close_source(a->p);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s EVENTS.mbo none|noop|imbalance\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return perror(argv[1]), 2;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    rewind(f);
    size_t n = (size_t)bytes / sizeof(vx_mbo);
    vx_mbo *ev = malloc(n * sizeof *ev);
    if (!ev || fread(ev, sizeof *ev, n, f) != n) return 2;
    fclose(f);
    const char *kind = argv[2];
    vx_ring *ring = NULL;
    if (vx_ring_create(1 << 16, sizeof(vx_mbo), &ring) != VX_OK) return 1;
    vx_pipeline_config c;
    vx_pipeline_config_default(&c);
    c.ticks_per_ns = vx_tsc_calibrate(20 * 1000 * 1000);
    c.records = VX_RECORDS_MBO;
    c.source_ring = ring;
    c.levels = 4096;
    c.tick_size = 1000000; /* 0.01 */
    c.on_full = VX_ON_FULL_BLOCK;
    c.bundle_timeout_ns = 0;
    c.thread_count = 1;
    memset(c.stage_thread, 0, sizeof c.stage_thread);
    c.thread_cpu[0] = -1;
    c.wait = VX_WAIT_YIELD;
    vx_builtin_stage st;
    if (strcmp(kind, "none") != 0) {
        vx_builtin_kind k = strcmp(kind, "noop") == 0 ? VX_BUILTIN_NOOP : VX_BUILTIN_IMBALANCE;
        vx_builtin_stage_init(&st, k, 2);
        c.user_stages[0] = &st.table;
        c.user_stage_count = 1;
    }
    vx_pipeline *p = NULL;
    if (vx_pipeline_create(&c, &p) != VX_OK) return 1;
    feeder a = {ring, p, ev, n};
    pthread_t t;
    vx_pipeline_start(p);
    pthread_create(&t, NULL, feed, &a);
    pthread_join(t, NULL);
    while (!vx_pipeline_finished(p)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    vx_pipeline_join(p);
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    printf("%s: events %zu generated %llu applied %llu emitted %llu bundled %llu recenters %llu "
           "conservation %s\n", kind, n, (unsigned long long)k.generated,
           (unsigned long long)k.applied, (unsigned long long)k.user_emitted,
           (unsigned long long)k.bundled, (unsigned long long)k.recenters,
           vx_pipeline_check_conservation(&k, 0) ? "FAILED" : "ok");
    vx_pipeline_destroy(p);
    vx_ring_destroy(ring);
    free(ev);
    return 0;
}
