/* itch_parse_cost.c — vx_itch_parse alone on an ITCH 5.0 file, natively: the parse-only phase of
 * benchmarks/bench_feeds.py (ItchParser.parse over a memory-mapped file into one reused
 * 65,536-event buffer) without Python, for callgrind instruction and D1-miss counts per message
 * and for wall clock.
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S benchmarks/native/itch_parse_cost.c \
 *       $S/velox/itch.c $S/velox/types.c -o build/itch_parse_cost
 *   build/itch_parse_cost FILE [ROUNDS] [BATCH] [digest]
 *   valgrind --tool=callgrind --cache-sim=yes --toggle-collect=vx_itch_parse \
 *       build/itch_parse_cost FILE 0
 *   callgrind_annotate --auto=yes callgrind.out.PID csrc/velox/itch.c
 * ROUNDS 0: one untimed pass (for callgrind; the count covers vx_itch_parse only, not the file
 * mapping). Otherwise a warm-up pass (page cache) and ROUNDS timed ones; the best is printed.
 * `digest` adds an FNV-1a 64 digest of every event byte written (48 per event, in order) and
 * of the counts, so two builds of the parser can be compared on one file: equal digests =
 * equal output. Prints JSON.
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

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const uint8_t *b = data;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static vx_mbo batch[65536];

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FILE [ROUNDS] [BATCH] [digest]\n", argv[0]); return 2; }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    size_t cap = argc > 3 ? (size_t)atol(argv[3]) : 65536;
    int digest = argc > 4 && !strcmp(argv[4], "digest");
    if (cap == 0 || cap > 65536 || rounds < 0) { fprintf(stderr, "BATCH 1..65536, ROUNDS >= 0\n"); return 2; }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[1]); return 1; }
    size_t len = (size_t)st.st_size;
    const uint8_t *buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (buf == MAP_FAILED) { perror("mmap"); return 1; }
    madvise((void *)buf, len, MADV_SEQUENTIAL);
    double best = 1e30;
    uint64_t messages = 0, events = 0, h = 0xcbf29ce484222325ULL;
    for (int r = 0; r < (rounds ? rounds + 1 : 1); r++) { /* round 0 warms the page cache */
        vx_itch_parser *p;
        if (vx_itch_parser_create(&p) != VX_OK) return 1;
        size_t pos = 0, consumed, produced;
        int last = r == (rounds ? rounds : 0);
        h = 0xcbf29ce484222325ULL;
        double t0 = now();
        for (;;) { /* bounded: each pass fills the batch, or is the last */
            vx_status s = vx_itch_parse(p, buf + pos, len - pos, batch, cap, &consumed, &produced);
            pos += consumed;
            if (digest && last) h = fnv1a(h, batch, produced * sizeof batch[0]);
            if (s != VX_OK) { fprintf(stderr, "parse: %s at %llu\n", vx_itch_error(p),
                                      (unsigned long long)vx_itch_error_offset(p)); return 1; }
            if (produced < cap) break;
        }
        double t1 = now();
        if (pos != len) { fprintf(stderr, "parse: %zu of %zu bytes consumed\n", pos, len); return 1; }
        const vx_itch_counts *c = vx_itch_counts_get(p);
        messages = c->messages;
        events = c->events;
        if (digest && last) h = fnv1a(h, c, sizeof *c);
        vx_itch_parser_destroy(p);
        if ((r || !rounds) && t1 - t0 < best) best = t1 - t0;
    }
    printf("{\"messages\": %llu, \"events\": %llu, \"seconds\": %.6f, \"rate\": %.1f",
           (unsigned long long)messages, (unsigned long long)events, best, (double)messages / best);
    if (digest) printf(", \"digest\": \"%016llx\"", (unsigned long long)h);
    printf("}\n");
    return 0;
}
