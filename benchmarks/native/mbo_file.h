/* mbo_file.h — the native drivers' reader of a raw MBO_DTYPE file (48-byte records, host
 * byte order): the whole file into one 64-byte-aligned array, and its instrument count. */
#ifndef VELOX_BENCH_MBO_FILE_H
#define VELOX_BENCH_MBO_FILE_H

#include <stdio.h>
#include <stdlib.h>

#include "velox/types.h"

_Static_assert(sizeof(vx_mbo) == 48, "the file holds 48-byte MBO_DTYPE records");

/* The whole file, *n records, *instruments = 1 + the largest instrument in it (>= 1); NULL,
 * with one line on stderr, when it cannot be read or holds no record. */
static vx_mbo *read_mbo_file(const char *path, size_t *n, uint32_t *instruments) {
    FILE *f = fopen(path, "rb");
    vx_mbo *ev = NULL;
    *n = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        long bytes = ftell(f);
        fseek(f, 0, SEEK_SET);
        *n = bytes > 0 ? (size_t)bytes / sizeof(vx_mbo) : 0;
        ev = *n ? aligned_alloc(64, (*n * sizeof(vx_mbo) + 63) / 64 * 64 + 64) : NULL;
        if (ev && fread(ev, sizeof(vx_mbo), *n, f) != *n) {
            free(ev);
            ev = NULL;
        }
        fclose(f);
    }
    if (!ev) {
        fprintf(stderr, "cannot read MBO records from %s\n", path);
        return NULL;
    }
    *instruments = 1;
    for (size_t i = 0; i < *n; i++) /* bounded: n */
        if (ev[i].instrument + 1u > *instruments) *instruments = ev[i].instrument + 1u;
    return ev;
}

#endif
