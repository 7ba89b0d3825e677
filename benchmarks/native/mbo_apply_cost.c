/* mbo_apply_cost.c — the market-by-order book alone, over a raw MBO_DTYPE file (e.g.
 * velox.feedgen.lobster_events(n).tofile(PATH)): one vx_mbo_set of one instrument, the
 * pipeline's defaults (levels 4096, tick 0.01, max_orders 2^20), vx_mbo_set_apply_many in
 * batches of 64 (the pipeline's batch), a follow pass after each batch as the pipeline does.
 * Prints ns/event (wall clock, best of `rounds`) and the book's digest; under callgrind the
 * instruction count per event is load-independent (the file read is outside the loop, and
 * `rounds` = 1 keeps it to one pass).
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S benchmarks/native/mbo_apply_cost.c \
 *       $S/velox/mbo.c $S/velox/types.c -o build/mbo_apply_cost
 *   build/mbo_apply_cost PATH 9
 *   valgrind --tool=callgrind --toggle-collect=apply_all build/mbo_apply_cost PATH 1
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "velox/mbo.h"

static vx_mbo *read_events(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f) / sizeof(vx_mbo);
    rewind(f);
    vx_mbo *ev = malloc(*n * sizeof *ev);
    if (ev && fread(ev, sizeof *ev, *n, f) != *n) {
        free(ev);
        ev = NULL;
    }
    fclose(f);
    return ev;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

__attribute__((noinline)) static uint64_t apply_all(vx_mbo_set *set, const vx_mbo *ev, size_t n) {
    uint64_t ok = 0;
    for (size_t i = 0; i < n; i += 64) { /* bounded by n */
        uint64_t a = 0;
        vx_mbo_set_apply_many(set, ev + i, n - i < 64 ? n - i : 64, &a, NULL);
        ok += a;
        if (vx_mbo_set_follow_pending(set)) (void)vx_mbo_set_follow(set, 1u << 16, NULL);
    }
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: %s EVENTS.mbo [rounds]\n", argv[0]), 2;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    size_t n = 0;
    vx_mbo *ev = read_events(argv[1], &n);
    if (!ev || n == 0) return 2;
    double best = 1e300;
    uint64_t ok = 0, digest = 0;
    for (int r = 0; r < rounds; r++) { /* bounded by rounds */
        vx_mbo_set *set = NULL;
        if (vx_mbo_set_create(1, 4096, 1000000, 1u << 20, &set) != VX_OK) return 1;
        double t0 = now_ns();
        ok = apply_all(set, ev, n);
        double dt = now_ns() - t0;
        if (dt < best) best = dt;
        digest = vx_mbo_digest(vx_mbo_set_reader(set, 0));
        const char *why = NULL;
        if (vx_mbo_verify_invariants(vx_mbo_set_reader(set, 0), &why) != VX_OK)
            return fprintf(stderr, "invariants: %s\n", why), 1;
        vx_mbo_set_destroy(set);
    }
    printf("events %zu applied %llu digest %016llx best %.1f ns/event = %.2f M events/s\n", n,
           (unsigned long long)ok, (unsigned long long)digest, best / (double)n,
           (double)n / best * 1e3);
    free(ev);
    return 0;
}
