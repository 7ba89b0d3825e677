/*
 * broadcast_cost.c — the broadcast ring's per-record cost without Python and without a second
 * core: one thread writes a batch of `batch` 32-byte records, then each of `readers` readers
 * copies it out, `records` records in all; beside it, memcpy of the same bytes from the same
 * slots (the copy the ring's reader cannot avoid). Prints ns per record for the write, for one
 * reader's read and for the memcpy (best of `rounds`). Under callgrind the per-record
 * instruction counts of vx_bcast_try_write and vx_bcast_read are read with --toggle-collect.
 *
 *   S=csrc; gcc -std=c11 -O3 -D_GNU_SOURCE -I$S benchmarks/native/broadcast_cost.c \
 *       $S/velox/broadcast.c $S/velox/shm.c $S/velox/ring.c $S/velox/types.c -o build/broadcast_cost
 *   build/broadcast_cost [records=16777216] [batch=1024] [readers=2] [rounds=5]
 *   valgrind --tool=callgrind --toggle-collect=vx_bcast_read build/broadcast_cost 1048576
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "velox/broadcast.h"
#include "velox/tsc.h"

#define CAPACITY (1u << 16)
#define MAX_READERS 8

typedef struct rec {
    uint64_t a, b, c, d;
} rec;
_Static_assert(sizeof(rec) == 32, "32-byte records");

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 16777216;
    size_t batch = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
    int readers = argc > 3 ? atoi(argv[3]) : 2;
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (batch == 0 || batch > CAPACITY || n % batch || readers < 1 || readers > MAX_READERS ||
        rounds < 1)
        return 2;
    size_t size = vx_bcast_footprint(CAPACITY, sizeof(rec), 0);
    void *mem = aligned_alloc(VX_BCAST_LINE, (size + VX_BCAST_LINE - 1) / VX_BCAST_LINE * VX_BCAST_LINE);
    rec *src = calloc(batch, sizeof *src), *dst = calloc(batch, sizeof *dst);
    if (!mem || !src || !dst) return 1;
    for (size_t i = 0; i < batch; i++) src[i] = (rec){i, i * 3, i * 5, i * 7};
    double best_w = 1e30, best_r = 1e30, best_c = 1e30;
    for (int round = 0; round < rounds; round++) { /* bounded by rounds */
        vx_bcast ring;
        if (vx_bcast_init_in(&ring, mem, size, CAPACITY, sizeof(rec), 0) != VX_OK) return 1;
        vx_bcast_reader rd[MAX_READERS];
        for (int k = 0; k < readers; k++) vx_bcast_reader_init(&rd[k], &ring, 0);
        uint64_t tw = 0, tr = 0, tc = 0, sum = 0;
        for (uint64_t done = 0; done < n; done += batch) { /* bounded by n */
            size_t w = 0, got = 0;
            uint64_t t0 = vx_monotonic_ns();
            vx_bcast_try_write(&ring, src, batch, &w);
            uint64_t t1 = vx_monotonic_ns();
            for (int k = 0; k < readers; k++) { /* bounded by readers */
                vx_bcast_read(&rd[k], dst, batch, &got);
                sum += got;
            }
            uint64_t t2 = vx_monotonic_ns();
            /* the same bytes from the same slots: record i of the batch at its slot's payload */
            const char *slots = ring.slots;
            for (int k = 0; k < readers; k++) /* bounded by readers */
                for (size_t i = 0; i < batch; i++) /* bounded by batch */
                    memcpy(&dst[i], slots + ((done + i) & ring.mask) * ring.stride + 8, sizeof(rec));
            uint64_t t3 = vx_monotonic_ns();
            tw += t1 - t0, tr += t2 - t1, tc += t3 - t2;
        }
        if (sum != n * (uint64_t)readers || rd[0].lost) return 1;
        double w = (double)tw / n, r = (double)tr / n / readers, c = (double)tc / n / readers;
        if (w < best_w) best_w = w;
        if (r < best_r) best_r = r;
        if (c < best_c) best_c = c;
    }
    printf("%llu records of 32 bytes, batches of %zu, %d readers, one thread, best of %d:\n",
           (unsigned long long)n, batch, readers, rounds);
    printf("  write                        %6.2f ns/record\n", best_w);
    printf("  read (one reader)            %6.2f ns/record\n", best_r);
    printf("  memcpy of the same slots     %6.2f ns/record\n", best_c);
    return 0;
}
