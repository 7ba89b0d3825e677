/*
 * dbn_decode.c — vx_dbn_parse alone over a DBN file (the benchmarks/bench_dbn.py file, or any
 * plain DBN MBO file): wall-clock ns/record per repeat, and the instruction count per record
 * under callgrind (the file is read into memory first; chunks of 8,192 events as bench_dbn).
 *
 *   gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -Icsrc benchmarks/native/dbn_decode.c \
 *       csrc/velox/dbn.c -o build/dbn_decode
 *   build/dbn_decode FILE.dbn [repeats]
 *   valgrind --tool=callgrind build/dbn_decode FILE.dbn 1
 */
#include "velox/dbn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CHUNK = 8192 };

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE.dbn [repeats]\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)sz);
    if (!buf || sz < 8 || fread(buf, 1, (size_t)sz, f) != (size_t)sz || memcmp(buf, "DBN", 3)) {
        fprintf(stderr, "%s: not a readable plain DBN file\n", argv[1]);
        return 1;
    }
    fclose(f);
    uint32_t meta;
    memcpy(&meta, buf + 4, 4);
    size_t start = 8 + (size_t)meta;
    vx_mbo *out = malloc(sizeof(vx_mbo) * CHUNK);
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    for (int r = 0; r < repeats; r++) { /* bounded: repeats */
        vx_dbn_parser *p;
        if (!out || vx_dbn_parser_create(0, &p) != VX_OK) return 1;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        size_t pos = start, n = 0, c, k;
        while (pos < (size_t)sz) { /* bounded: each call consumes or errs */
            if (vx_dbn_parse(p, buf + pos, (size_t)sz - pos, out, CHUNK, &c, &k) != VX_OK ||
                (c == 0 && k == 0)) {
                fprintf(stderr, "%s: %s at byte offset %llu\n", argv[1], vx_dbn_error(p),
                        (unsigned long long)vx_dbn_error_offset(p));
                return 1;
            }
            pos += c;
            n += k;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
        printf("%zu records, %zu events: %.2f ns/record\n",
               (size_t)vx_dbn_counts_get(p)->records, n, ns / (double)vx_dbn_counts_get(p)->records);
        vx_dbn_parser_destroy(p);
    }
    free(out);
    free(buf);
    return 0;
}
