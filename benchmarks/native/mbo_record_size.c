/*
 * mbo_record_size.c — does a 64-byte MBO record apply faster than the 48-byte vx_mbo? The same
 * generated stream (~5,000 live orders) is stored twice: packed 48-byte records, and 64-byte
 * records (vx_mbo + 16 bytes of padding, so every record is one cache line). Each is applied to
 * a fresh book with vx_mbo_apply loops; runs alternate; medians of wall (TSC) and thread CPU
 * time are printed (CPU time is the figure that survives a shared, loaded machine).
 *
 *   S=csrc; gcc -std=c11 -O2 -D_GNU_SOURCE -I$S benchmarks/native/mbo_record_size.c \
 *       $S/velox/mbo.c $S/velox/types.c $S/velox/tsc.c -o build/mbo_record_size -lm
 *   build/mbo_record_size [events=1000000] [live=5000] [runs=11]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "velox/mbo.h"
#include "velox/prng.h"
#include "velox/tsc.h"

typedef struct {
    vx_mbo e;
    uint8_t pad[16];
} mbo64;
_Static_assert(sizeof(mbo64) == 64, "padded record is 64 bytes");

#define TICK 1000000LL
#define BASE 10000000000LL

static void make_stream(vx_mbo *out, size_t n, uint32_t target) {
    uint64_t *live = malloc(target * 2 * sizeof *live);
    uint32_t *left = malloc(target * 2 * sizeof *left);
    uint8_t *side = malloc(target * 2);
    uint32_t nlive = 0;
    uint64_t next = 1;
    vx_prng rng;
    vx_prng_seed(&rng, 42);
    for (size_t i = 0; i < n; i++) {
        vx_mbo *e = &out[i];
        memset(e, 0, sizeof *e);
        e->ts = i;
        if (nlive < target * 9 / 10 || (nlive < target * 11 / 10 && vx_prng_below(&rng, 100) < 48)) {
            int s = (int)vx_prng_below(&rng, 2);
            uint32_t off = 1 + vx_prng_below(&rng, 60);
            e->action = VX_MBO_ADD;
            e->side = (uint8_t)s;
            e->order_id = next++;
            e->price = BASE + (int64_t)(s ? 512 + off : 512 - off) * TICK;
            e->qty = 1 + vx_prng_below(&rng, 500);
            live[nlive] = e->order_id;
            left[nlive] = e->qty;
            side[nlive++] = (uint8_t)s;
            continue;
        }
        uint32_t k = vx_prng_below(&rng, nlive);
        e->order_id = live[k];
        e->side = side[k];
        uint32_t roll = vx_prng_below(&rng, 100);
        if (roll < 55 || left[k] == 1) {
            e->action = VX_MBO_DELETE;
            live[k] = live[--nlive];
            left[k] = left[nlive];
            side[k] = side[nlive];
        } else if (roll < 90) {
            e->action = roll < 72 ? VX_MBO_CANCEL : VX_MBO_EXECUTE;
            e->qty = 1 + vx_prng_below(&rng, left[k] - 1);
            left[k] -= e->qty;
        } else {
            uint32_t off = 1 + vx_prng_below(&rng, 60);
            e->action = VX_MBO_REPLACE;
            e->ref = next++;
            e->price = BASE + (int64_t)(side[k] ? 512 + off : 512 - off) * TICK;
            e->qty = 1 + vx_prng_below(&rng, 500);
            live[k] = e->ref;
            left[k] = e->qty;
        }
    }
    free(live);
    free(left);
    free(side);
}

static double thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    uint32_t live = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 5000;
    int runs = argc > 3 ? atoi(argv[3]) : 11;
    if (runs < 1 || runs > 101) runs = 11;
    vx_mbo *packed = malloc(n * sizeof *packed);
    mbo64 *padded = aligned_alloc(64, n * sizeof *padded);
    if (!packed || !padded) return 1;
    make_stream(packed, n, live);
    memset(padded, 0, n * sizeof *padded);
    for (size_t i = 0; i < n; i++) padded[i].e = packed[i];
    double tpn = vx_tsc_calibrate(50000000);
    double r48[101], r64[101], c48[101], c64[101];
    uint64_t bad = 0;
    for (int r = 0; r < runs; r++) {
        for (int which = 0; which < 2; which++) {
            vx_mbo_book *b = NULL;
            if (vx_mbo_create(1024, TICK, BASE, 1 << 15, UINT32_MAX, &b) != VX_OK) return 1;
            double c0 = thread_cpu_ns();
            uint64_t t0 = vx_tsc_read();
            if (which == 0) {
                for (size_t i = 0; i < n; i++) bad += vx_mbo_apply(b, &packed[i], NULL) != VX_OK;
            } else {
                for (size_t i = 0; i < n; i++) bad += vx_mbo_apply(b, &padded[i].e, NULL) != VX_OK;
            }
            double ns = (double)(vx_tsc_read() - t0) / tpn / (double)n;
            (which ? r64 : r48)[r] = ns;
            (which ? c64 : c48)[r] = (thread_cpu_ns() - c0) / (double)n;
            vx_mbo_destroy(b);
        }
    }
    qsort(r48, (size_t)runs, sizeof(double), cmp);
    qsort(r64, (size_t)runs, sizeof(double), cmp);
    qsort(c48, (size_t)runs, sizeof(double), cmp);
    qsort(c64, (size_t)runs, sizeof(double), cmp);
    printf("%zu events, ~%u live orders, %d runs each (alternating), rejected %llu\n", n, live, runs,
           (unsigned long long)bad);
    printf("48-byte records: median %.2f ns/event (min %.2f, max %.2f), stream %.1f MB\n", r48[runs / 2],
           r48[0], r48[runs - 1], n * 48 / 1e6);
    printf("64-byte records: median %.2f ns/event (min %.2f, max %.2f), stream %.1f MB\n", r64[runs / 2],
           r64[0], r64[runs - 1], n * 64 / 1e6);
    printf("thread CPU time (excludes preemption on a loaded machine): 48 B median %.2f (min %.2f), "
           "64 B median %.2f (min %.2f) ns/event\n", c48[runs / 2], c48[0], c64[runs / 2], c64[0]);
    free(packed);
    free(padded);
    return 0;
}
