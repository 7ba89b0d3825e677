/*
 * journal_cost.c — the journal's append and replay without Python, beside the machine's copy
 * ceiling for the same bytes: appends `records` records of `size` bytes (default 32; each
 * starts with the 32-byte record below, the rest is filled per record) in batches of `batch` to
 * a new journal, replays them with a reader opened afresh (its first pass maps and faults the pages)
 * and again with the same reader (warm mapping), and copies the same bytes between two warm
 * buffers with memcpy. Prints GB/s of record bytes for each (best of `rounds`) and the page
 * faults of each phase (getrusage). Under callgrind the per-record instruction counts of
 * vx_journal_append and vx_journal_reader_read are read with --toggle-collect.
 *
 *   S=csrc; gcc -std=c11 -O3 -D_GNU_SOURCE -I$S benchmarks/native/journal_cost.c \
 *       $S/velox/journal.c $S/velox/crc32c.c $S/velox/types.c -o build/journal_cost
 *   build/journal_cost [records=2097152] [batch=65536] [dir=/tmp/vx-journal-cost] [rounds=3] [size=32]
 *   valgrind --tool=callgrind --toggle-collect=vx_journal_reader_read build/journal_cost 262144
 * (the reader's count covers two replays: divide by 2 * records; VELOX_NO_HW_CRC=1 measures the
 * portable checksum)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "velox/journal.h"
#include "velox/tsc.h"

typedef struct rec {
    int64_t ts;
    uint64_t seq;
    int64_t px;
    uint32_t qty, flags;
} rec;
_Static_assert(sizeof(rec) == 32, "32-byte records");

static long faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt + u.ru_majflt;
}

static void report(const char *what, double best_s, uint64_t bytes, long flt, uint64_t records) {
    printf("  %-34s %7.2f GB/s  %7.2f ns/record  %6.3f faults/KiB\n", what, bytes / best_s / 1e9,
           best_s * 1e9 / (double)records, (double)flt / (double)(bytes >> 10));
}

/* Reads n records in batches from the reader's position; returns how many it got. */
static uint64_t replay(vx_journal_reader *r, uint8_t *dst, uint64_t n, uint64_t batch) {
    uint64_t total = 0;
    for (uint64_t k = 0; k < n; k += batch) { /* bounded by n */
        uint64_t got = 0;
        vx_journal_reader_read(r, dst, batch, &got);
        total += got;
    }
    return total;
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2097152;
    uint64_t batch = argc > 2 ? strtoull(argv[2], NULL, 10) : 65536;
    const char *dir = argc > 3 ? argv[3] : "/tmp/vx-journal-cost";
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    uint64_t size = argc > 5 ? strtoull(argv[5], NULL, 10) : sizeof(rec);
    if (batch == 0 || n % batch || rounds < 1 || size < sizeof(rec) || size % 8 || size > 4096)
        return 2;
    uint8_t *src = calloc(batch, size), *dst = calloc(batch, size);
    uint8_t *big_a = calloc(n, size), *big_b = calloc(n, size);
    if (!src || !dst || !big_a || !big_b) return 1;
    for (uint64_t i = 0; i < batch; i++) { /* bounded by batch */
        rec r = {(int64_t)i, i, (int64_t)i * 25, (uint32_t)(i % 1000), 0};
        memcpy(src + i * size, &r, sizeof r);
        for (uint64_t b = sizeof r; b < size; b++) src[i * size + b] = (uint8_t)(i * 31 + b);
    }
    char dt[128];
    if (size == sizeof(rec))
        snprintf(dt, sizeof dt, "%s", "[('ts', '<i8'), ('seq', '<u8'), ('px', '<i8'), ('qty', '<u4'), ('flags', '<u4')]");
    else
        snprintf(dt, sizeof dt, "'|V%llu'", (unsigned long long)size);
    uint64_t bytes = n * size;
    double best_append = 1e30, best_cold = 1e30, best_warm = 1e30, best_copy = 1e30;
    long f_append = 0, f_cold = 0, f_warm = 0;
    char cmd[512];
    for (int round = 0; round < rounds; round++) { /* bounded by rounds */
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
        if (system(cmd) != 0) return 1;
        vx_journal_writer w;
        /* one segment holds the whole run: the roll is not what this measures */
        if (vx_journal_create(&w, dir, (uint32_t)size, 1024 + (n + 1) * (8 + size), dt, strlen(dt), 0,
                              0) != VX_OK)
            return 1;
        long f0 = faults();
        uint64_t t0 = vx_monotonic_ns();
        for (uint64_t k = 0; k < n; k += batch) /* bounded by n */
            if (vx_journal_append(&w, src, batch, NULL) != VX_OK) return 1;
        uint64_t t1 = vx_monotonic_ns();
        long f1 = faults();
        vx_journal_reader r;
        if (vx_journal_reader_open(&r, dir) != VX_OK) return 1;
        uint64_t t2 = vx_monotonic_ns();
        uint64_t got_total = replay(&r, dst, n, batch);
        uint64_t t3 = vx_monotonic_ns();
        long f2 = faults();
        if (vx_journal_reader_to_start(&r) != VX_OK) return 1;
        uint64_t t4 = vx_monotonic_ns();
        got_total += replay(&r, dst, n, batch);
        uint64_t t5 = vx_monotonic_ns();
        long f3 = faults();
        if (got_total != 2 * n || r.skipped) {
            fprintf(stderr, "read %llu of %llu, skipped %llu\n", (unsigned long long)got_total,
                    (unsigned long long)(2 * n), (unsigned long long)r.skipped);
            return 1;
        }
        vx_journal_reader_close(&r);
        vx_journal_close(&w);
        memcpy(big_b, big_a, bytes); /* both buffers faulted in before the timed copy */
        uint64_t t6 = vx_monotonic_ns();
        memcpy(big_a, big_b, bytes);
        uint64_t t7 = vx_monotonic_ns();
        double a = (t1 - t0) / 1e9, c = (t3 - t2) / 1e9, wm = (t5 - t4) / 1e9, cp = (t7 - t6) / 1e9;
        if (a < best_append) best_append = a, f_append = f1 - f0;
        if (c < best_cold) best_cold = c, f_cold = f2 - f1;
        if (wm < best_warm) best_warm = wm, f_warm = f3 - f2;
        if (cp < best_copy) best_copy = cp;
    }
    printf("%llu records of %llu bytes (%.1f MiB), batches of %llu, best of %d rounds, %s:\n",
           (unsigned long long)n, (unsigned long long)size, bytes / 1048576.0, (unsigned long long)batch, rounds, dir);
    report("append (new segment, page cache)", best_append, bytes, f_append, n);
    report("replay, new reader (cold mapping)", best_cold, bytes, f_cold, n);
    report("replay, same reader (warm mapping)", best_warm, bytes, f_warm, n);
    report("memcpy of the same bytes (ceiling)", best_copy, bytes, 0, n);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) != 0;
}
