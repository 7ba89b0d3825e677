/* mbo_file.h — the native drivers' reader of a raw MBO_DTYPE file (48-byte records, host
 * byte order): the whole file into one 64-byte-aligned array. NULL when it cannot be read. */
#ifndef VELOX_BENCH_MBO_FILE_H
#define VELOX_BENCH_MBO_FILE_H

#include <stdio.h>
#include <stdlib.h>

#include "velox/types.h"

_Static_assert(sizeof(vx_mbo) == 48, "the file holds 48-byte MBO_DTYPE records");

static vx_mbo *read_mbo_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    *n = bytes > 0 ? (size_t)bytes / sizeof(vx_mbo) : 0;
    vx_mbo *ev = aligned_alloc(64, (*n * sizeof(vx_mbo) + 63) / 64 * 64 + 64);
    if (ev && fread(ev, sizeof(vx_mbo), *n, f) != *n) {
        free(ev);
        ev = NULL;
    }
    fclose(f);
    return ev;
}

#endif
