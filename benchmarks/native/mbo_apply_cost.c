/*
 * mbo_apply_cost.c — the market-by-order book alone, per event: a raw MBO_DTYPE file applied
 * with vx_mbo_apply to a fresh vx_mbo_book (bench_mbo.py's geometry: 1024 levels, tick 0.01,
 * base 100, 2^15 orders), with the direct id window at its default, off, or a given size.
 * Prints, per round, the wall-clock ns/event of the whole file and the median ns/event of
 * 1024-event chunks (the figure bench_mbo.py calls "native median"), then the medians over
 * rounds, the digest and the window counters. Under callgrind use ROUNDS 1 and
 * --toggle-collect=apply_all (the file read stays out of the count); --cache-sim=yes for the
 * D1/LL misses.
 *
 *   python -c 'import sys; sys.path.insert(0, "benchmarks"); import bench_mbo as b; \
 *              b.EVENTS.tofile("/tmp/bench_mbo.mbo")'
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S -flto=auto \
 *       benchmarks/native/mbo_apply_cost.c $S/velox/mbo.c $S/velox/types.c $S/velox/tsc.c \
 *       -o build/mbo_apply_cost -lm
 *   build/mbo_apply_cost /tmp/bench_mbo.mbo [WINDOW=default|0|IDS] [ROUNDS=21]
 *   valgrind --tool=callgrind --toggle-collect=apply_all build/mbo_apply_cost /tmp/bench_mbo.mbo default 1
 *
 * Compiled with -DVX_NO_ID_WINDOW it builds against an mbo.h without the window (the code
 * before it), for before/after counts; WINDOW is then ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "velox/mbo.h"

#define LEVELS 1024
#define TICK 1000000LL
#define BASE 10000000000LL
#define MAX_ORDERS (1u << 15)
#define CHUNK 1024
#define MAX_ROUNDS 1001

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The measured loop (callgrind: --toggle-collect=apply_all). chunk_ns gets each chunk's
 * ns/event when not NULL. */
__attribute__((noinline)) void apply_all(vx_mbo_book *b, const vx_mbo *ev, size_t n, double *chunk_ns) {
    for (size_t c = 0; c * CHUNK < n; c++) {
        size_t lo = c * CHUNK, hi = lo + CHUNK < n ? lo + CHUNK : n;
        double t0 = chunk_ns ? now_ns() : 0;
        for (size_t i = lo; i < hi; i++) vx_mbo_apply(b, &ev[i], NULL);
        if (chunk_ns) chunk_ns[c] = (now_ns() - t0) / (double)(hi - lo);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [WINDOW=default|0|IDS] [ROUNDS=21]\n", argv[0]);
        return 2;
    }
    const char *window = argc > 2 ? argv[2] : "default";
    int rounds = argc > 3 ? atoi(argv[3]) : 21;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "ROUNDS must be in [1, %d]\n", MAX_ROUNDS);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t n = (size_t)bytes / sizeof(vx_mbo);
    vx_mbo *ev = malloc(n * sizeof *ev);
    if (!ev || fread(ev, sizeof *ev, n, f) != n) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    size_t chunks = (n + CHUNK - 1) / CHUNK;
    double *chunk_ns = malloc(chunks * sizeof *chunk_ns);
    double whole[MAX_ROUNDS], chunk_median[MAX_ROUNDS];
    uint64_t digest = 0;
    vx_mbo_counters c;
    memset(&c, 0, sizeof c);
    for (int r = 0; r < rounds; r++) {
        vx_mbo_book *b = NULL;
        if (vx_mbo_create(LEVELS, TICK, BASE, MAX_ORDERS, UINT32_MAX, &b) != VX_OK) return 1;
#ifndef VX_NO_ID_WINDOW
        if (strcmp(window, "default") != 0 && vx_mbo_id_window(b, strtoull(window, NULL, 10)) != VX_OK) {
            fprintf(stderr, "bad WINDOW %s\n", window);
            return 2;
        }
#endif
        double t0 = now_ns();
        apply_all(b, ev, n, rounds > 1 ? chunk_ns : NULL);
        whole[r] = (now_ns() - t0) / (double)n;
        chunk_median[r] = rounds > 1 ? median(chunk_ns, chunks) : whole[r];
        digest = vx_mbo_digest(b);
        vx_mbo_counters_read(b, &c);
        vx_mbo_destroy(b);
    }
    printf("%zu events, window %s, %d rounds\n", n, window, rounds);
    printf("whole file: median %.2f ns/event (%.1f M events/s)\n", median(whole, (size_t)rounds),
           1e3 / median(whole, (size_t)rounds));
    printf("1024-event chunks: median of per-round medians %.2f ns/event\n",
           median(chunk_median, (size_t)rounds));
    printf("digest %016llx applied %llu rejected %llu", (unsigned long long)digest,
           (unsigned long long)c.applied, (unsigned long long)c.rejected);
#ifndef VX_NO_ID_WINDOW
    printf(" window hits %llu hash lookups %llu slides %llu", (unsigned long long)c.id_window_hits,
           (unsigned long long)c.id_hash_lookups, (unsigned long long)c.id_window_slides);
#endif
    printf("\n");
    free(chunk_ns);
    free(ev);
    return 0;
}
