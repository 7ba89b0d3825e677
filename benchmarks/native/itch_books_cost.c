/* itch_books_cost.c — velox's ITCH paths on a file, natively (for callgrind instruction and
 * cache-miss counts per message, and wall-clock beside benchmarks/native/itch_floor.c):
 *   levels  vx_itch_levels_feed over the whole mapped file (ItchLevels, build_itch_books
 *           levels_only=True): INSTRUMENTS books of 1024 one-cent levels, window 2^22, spill
 *           2^20. One object, vx_itch_levels_reset between rounds (untimed), as itch_floor.c
 *           reuses its arrays: both time the loop over memory an earlier round touched
 *   levels-fresh  the same with a new object every round (timed: the first touch of its pages)
 *   books   vx_itch_parse into a 256-event batch + vx_mbo_set_apply_many (ItchBooks.feed
 *           with out=None): market-by-order books with queues
 *   parse   vx_itch_parse only, into a 65,536-event batch
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S benchmarks/native/itch_books_cost.c \
 *       $S/velox/itch_levels.c $S/velox/itch.c $S/velox/mbo.c $S/velox/types.c -o build/itch_books_cost
 *   build/itch_books_cost FILE levels|levels-fresh|books|parse [ROUNDS] [INSTRUMENTS]
 *   valgrind --tool=callgrind --cache-sim=yes build/itch_books_cost FILE levels 0
 * (ROUNDS 0: one untimed pass, for callgrind.) Prints JSON.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "velox/itch.h"
#include "velox/itch_levels.h"
#include "velox/mbo.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static vx_mbo batch[65536];

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s FILE levels|levels-fresh|books|parse [ROUNDS] [INSTRUMENTS]\n", argv[0]); return 2; }
    const char *mode = argv[2];
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    uint32_t instr = argc > 4 ? (uint32_t)atoi(argv[4]) : 1024;
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[1]); return 1; }
    size_t len = (size_t)st.st_size;
    const uint8_t *buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (buf == MAP_FAILED) { perror("mmap"); return 1; }
    madvise((void *)buf, len, MADV_SEQUENTIAL);
    double best = 1e30;
    uint64_t messages = 0, live = 0, shares = 0, mem = 0;
    vx_itch_levels *lb = NULL; /* levels: the object the next round resets */
    for (int r = 0; r < (rounds ? rounds + 1 : 1); r++) { /* round 0 warms the page cache */
        double t0, t1;
        if (!strncmp(mode, "levels", 6)) {
            vx_itch_levels *b = lb;
            int fresh = !strcmp(mode, "levels-fresh");
            if (b && !fresh) vx_itch_levels_reset(b);
            else if (vx_itch_levels_create(instr, 1024, 100, 22, 1 << 20, &b) != VX_OK) return 1;
            lb = b;
            size_t consumed;
            t0 = now();
            vx_status s = vx_itch_levels_feed(b, buf, len, &consumed);
            t1 = now();
            if (s != VX_OK || consumed != len) { fprintf(stderr, "feed: %s\n", vx_itch_levels_error(b)); return 1; }
            vx_itch_levels_counts c;
            vx_itch_levels_counts_read(b, &c);
            messages = c.messages;
            live = c.live;
            shares = 0;
            static int64_t px[1024];
            static uint64_t q[1024];
            for (uint32_t i = 0; i < instr; i++)
                for (int side = 0; side < 2; side++) {
                    size_t n = vx_itch_levels_depth(b, i, side, 1024, px, q);
                    for (size_t k = 0; k < n; k++) shares += q[k];
                }
            mem = vx_itch_levels_memory_bytes(b);
            if (fresh) {
                vx_itch_levels_destroy(b);
                lb = NULL;
            }
        } else {
            int books = !strcmp(mode, "books");
            vx_itch_parser *p;
            vx_mbo_set *set = NULL;
            if (vx_itch_parser_create(&p) != VX_OK) return 1;
            if (books && vx_mbo_set_create(instr, 1024, 1000000, 1 << 22, &set) != VX_OK) return 1;
            size_t cap = books ? 256 : 65536, pos = 0, consumed, produced;
            t0 = now();
            for (;;) { /* bounded: each pass consumes a full batch, or is the last */
                vx_status s = vx_itch_parse(p, buf + pos, len - pos, batch, cap, &consumed, &produced);
                pos += consumed;
                if (books) vx_mbo_set_apply_many(set, batch, produced, NULL, NULL);
                if (s != VX_OK) { fprintf(stderr, "parse: %s\n", vx_itch_error(p)); return 1; }
                if (produced < cap) break;
            }
            t1 = now();
            messages = vx_itch_counts_get(p)->messages;
            if (books) {
                vx_mbo_book *b0 = vx_mbo_set_book(set, 0);
                live = vx_mbo_live_orders(b0);
                mem = vx_mbo_memory_bytes(b0);
                shares = 0;
                static int64_t px[1024];
                static uint64_t q[1024];
                for (uint32_t i = 0; i < instr; i++)
                    for (int side = 0; side < 2; side++) {
                        size_t n = vx_mbo_depth(vx_mbo_set_book(set, i), side, 1024, px, q, NULL);
                        for (size_t k = 0; k < n; k++) shares += q[k];
                    }
                vx_mbo_set_destroy(set);
            }
            vx_itch_parser_destroy(p);
        }
        if ((r || !rounds) && t1 - t0 < best) best = t1 - t0;
    }
    vx_itch_levels_destroy(lb);
    printf("{\"mode\": \"%s\", \"messages\": %llu, \"seconds\": %.6f, \"rate\": %.1f, \"live\": %llu, "
           "\"level_shares\": %llu, \"memory_bytes\": %llu}\n",
           mode, (unsigned long long)messages, best, (double)messages / best,
           (unsigned long long)live, (unsigned long long)shares, (unsigned long long)mem);
    return 0;
}
