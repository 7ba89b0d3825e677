/* books_noop_cost.c — the floor under a backtest's replay: the same raw MBO_DTYPE file and
 * group edges as backtest_cost.c, applied to the same books (vx_mbo_set: levels 4096 unless
 * given, tick 0.01, max_orders 2^20), each group handed to a no-op stage through a function
 * pointer; no venue, no host, no positions. backtest_cost's `replay` minus this = what the
 * simulated venue, the strategy host and position keeping add per event over a no-op stage
 * (docs/benchmarks.md). A separate program, not a mode of backtest_cost: a second caller of
 * vx_mbo_set_apply in one LTO unit changes how GCC inlines it into vx_backtest_feed.
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S -flto=auto \
 *       benchmarks/native/books_noop_cost.c $S/velox/mbo.c $S/velox/types.c \
 *       -o build/books_noop_cost -lm
 *   valgrind --tool=callgrind --toggle-collect=feed_all build/books_noop_cost lob.mbo 1
 *   build/books_noop_cost lob.mbo 5        # best wall-clock ns/event of 5 rounds
 *   (arguments: PATH [ROUNDS] [flag|event] [LEVELS]; the file as backtest_cost.c's header
 *    makes it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "velox/mbo.h"
#include "mbo_file.h"
#include "velox/strategy.h"

typedef struct totals {
    uint64_t events, applied, rejects, groups;
} totals;

typedef void (*noop_stage_fn)(totals *t, const vx_mbo *events, uint32_t n);

/* The no-op stage: one store, so the call stays. */
__attribute__((noinline)) static void noop_stage(totals *t, const vx_mbo *events, uint32_t n) {
    (void)events;
    (void)n;
    t->groups++;
}
static noop_stage_fn volatile stage_fn = noop_stage;

/* The measured part: vx_backtest_feed's grouping (an edge at F_LAST, at
 * VX_STRATEGY_MAX_GROUP events, or at every event) around the books alone. */
__attribute__((noinline)) void feed_all(vx_mbo_set *books, const vx_mbo *ev, size_t n,
                                        int by_event, totals *t) {
    noop_stage_fn fn = stage_fn;
    size_t gs = 0;
    for (size_t i = 0; i < n; i++) { /* bounded: n */
        const vx_mbo *e = &ev[i];
        t->events++;
        vx_mbo_reject reason = VX_MBO_REJECT_NONE;
        if (vx_mbo_set_apply(books, e, &reason) == VX_OK) t->applied++;
        else t->rejects++;
        uint32_t in_group = (uint32_t)(i + 1 - gs);
        if (by_event || (e->flags & VX_MBO_F_LAST) || in_group == VX_STRATEGY_MAX_GROUP) {
            fn(t, &ev[gs], in_group);
            gs = i + 1;
        }
    }
    if (gs < n) fn(t, &ev[gs], (uint32_t)(n - gs));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH [ROUNDS] [flag|event] [LEVELS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    int by_event = argc > 3 && strcmp(argv[3], "event") == 0;
    uint32_t levels = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 4096;
    size_t n = 0;
    uint32_t instruments = 1;
    vx_mbo *ev = read_mbo_file(argv[1], &n, &instruments);
    if (!ev) return 2;
    double best = 1e30;
    totals t = {0};
    for (int r = 0; r < rounds; r++) {
        vx_mbo_set *books = NULL;
        if (vx_mbo_set_create(instruments, levels, 1000000, 1u << 20, &books) != VX_OK) return 1;
        memset(&t, 0, sizeof t);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        feed_all(books, ev, n, by_event, &t);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
                    (double)n;
        if (ns < best) best = ns;
        vx_mbo_set_destroy(books);
    }
    printf("books + no-op stage: %.2f ns/event (%.2f M events/s, best of %d, %zu events); "
           "groups %llu applied %llu book rejects %llu\n",
           best, 1e3 / best, rounds, n, (unsigned long long)t.groups,
           (unsigned long long)t.applied, (unsigned long long)t.rejects);
    free(ev);
    return 0;
}
