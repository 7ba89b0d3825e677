/* test_itch_levels.c — ITCH bytes to aggregate levels: semantics, the direct window and its
 * spill table (slides, jumps, ids below the window), errors, and a fuzzer of corrupted bytes
 * (run under ASan: a field read past a message or a bad index is caught there). */
#include "check.h"
#include "velox/itch_levels.h"
#include "velox/prng.h"

#include <string.h>

static uint8_t *put16(uint8_t *w, uint16_t v) { w[0] = (uint8_t)(v >> 8); w[1] = (uint8_t)v; return w + 2; }
static uint8_t *put32(uint8_t *w, uint32_t v) { for (int i = 3; i >= 0; i--) *w++ = (uint8_t)(v >> (8 * i)); return w; }
static uint8_t *put64(uint8_t *w, uint64_t v) { for (int i = 7; i >= 0; i--) *w++ = (uint8_t)(v >> (8 * i)); return w; }
static uint8_t *head(uint8_t *w, uint16_t len, char type, uint16_t loc) {
    w = put16(w, len);
    *w++ = (uint8_t)type;
    w = put16(w, loc);
    w = put16(w, 0);
    memset(w, 0, 6);
    return w + 6;
}
static size_t add(uint8_t *w, uint16_t loc, uint64_t ref, char side, uint32_t sh, uint32_t px) {
    uint8_t *p = head(w, 36, 'A', loc);
    p = put64(p, ref);
    *p++ = (uint8_t)side;
    p = put32(p, sh);
    memcpy(p, "SYM     ", 8);
    p = put32(p + 8, px);
    return (size_t)(p - w);
}
static size_t cancel(uint8_t *w, uint16_t loc, uint64_t ref, uint32_t sh) {
    uint8_t *p = head(w, 23, 'X', loc);
    p = put64(p, ref);
    p = put32(p, sh);
    return (size_t)(p - w);
}
static size_t del(uint8_t *w, uint16_t loc, uint64_t ref) {
    uint8_t *p = head(w, 19, 'D', loc);
    p = put64(p, ref);
    return (size_t)(p - w);
}
static size_t repl(uint8_t *w, uint16_t loc, uint64_t ref, uint64_t nref, uint32_t sh, uint32_t px) {
    uint8_t *p = head(w, 35, 'U', loc);
    p = put64(p, ref);
    p = put64(p, nref);
    p = put32(p, sh);
    p = put32(p, px);
    return (size_t)(p - w);
}

static vx_itch_levels *make(uint32_t window_bits, uint32_t spill) {
    vx_itch_levels *b = NULL;
    CHECK(vx_itch_levels_create(4, 64, 100, window_bits, spill, &b) == VX_OK);
    return b;
}

static uint64_t qty_at(const vx_itch_levels *b, uint32_t inst, int side, int64_t price) {
    int64_t px[64];
    uint64_t q[64];
    size_t n = vx_itch_levels_depth(b, inst, side, 64, px, q);
    for (size_t i = 0; i < n; i++) if (px[i] == price) return q[i];
    return 0;
}

static void feed_all(vx_itch_levels *b, const uint8_t *buf, size_t n) {
    size_t c = 0;
    CHECK(vx_itch_levels_feed(b, buf, n, &c) == VX_OK);
    CHECK(c == n);
}

static void test_semantics(void) {
    static uint8_t buf[4096];
    size_t n = 0;
    vx_itch_levels *b = make(20, 64);
    n += add(buf + n, 1, 7, 'B', 100, 100000);  /* places book 1 at 100000 - 32 levels */
    n += add(buf + n, 1, 8, 'B', 50, 100000);
    n += add(buf + n, 1, 9, 'S', 30, 100100);
    n += add(buf + n, 1, 10, 'S', 30, 100150);  /* off the one-cent grid: OFF_GRID */
    n += add(buf + n, 1, 11, 'S', 30, 900000);  /* far above: kept outside */
    n += cancel(buf + n, 1, 7, 40);
    n += cancel(buf + n, 1, 8, 51);             /* more than it has: EXCEEDS */
    n += repl(buf + n, 1, 9, 12, 5, 100200);
    n += del(buf + n, 1, 99);                   /* unknown */
    n += add(buf + n, 9, 13, 'B', 1, 100000);   /* locate >= instruments */
    feed_all(b, buf, n);
    vx_itch_levels_counts c;
    vx_itch_levels_counts_read(b, &c);
    CHECK(qty_at(b, 1, VX_BUY, 100000) == 110);
    CHECK(qty_at(b, 1, VX_SELL, 100100) == 0);
    CHECK(qty_at(b, 1, VX_SELL, 100200) == 5);
    CHECK(c.live == 4 && c.outside == 1 && c.unknown_orders == 1);
    CHECK(c.rejected_by_reason[VX_MBO_REJECT_OFF_GRID] == 1);
    CHECK(c.rejected_by_reason[VX_MBO_REJECT_EXCEEDS] == 1);
    CHECK(c.rejected_by_reason[VX_MBO_REJECT_INSTRUMENT] == 1);
    int64_t px;
    uint64_t q;
    CHECK(vx_itch_levels_best(b, 1, VX_BUY, &px, &q) == VX_OK && px == 100000 && q == 110);
    CHECK(vx_itch_levels_best(b, 2, VX_BUY, &px, &q) == VX_EMPTY);
    CHECK(vx_itch_levels_best(b, 4, VX_BUY, &px, &q) == VX_EINVAL);
    vx_itch_levels_destroy(b);
}

/* Many orders through a 16-id window and a small spill table: every order is found again. */
static void test_window_and_spill(void) {
    enum { N = 3000 };
    static uint8_t buf[N * 40];
    vx_prng r;
    vx_prng_seed(&r, 5);
    vx_itch_levels *b = make(4, 1 << 13); /* room for every order */
    size_t n = 0;
    uint64_t total = 0;
    for (uint64_t i = 0; i < N; i++) { /* rising ids, some far, some old */
        uint64_t id = 10000 + i;
        uint64_t k = vx_prng_next(&r) % 16;
        if (k == 0) id = (uint64_t)1 << 40 | i;
        if (k == 1) id = i + 1; /* below the window */
        n += add(buf + n, 2, id, 'S', 3, 200000);
        total += 3;
    }
    feed_all(b, buf, n);
    vx_itch_levels_counts c;
    vx_itch_levels_counts_read(b, &c);
    CHECK(c.rejected == 0 && c.live == N && c.slides > 10 && c.spilled > 0);
    CHECK(qty_at(b, 2, VX_SELL, 200000) == total);
    /* remove them in the same order: nothing unknown, the level empties */
    vx_prng_seed(&r, 5);
    n = 0;
    for (uint64_t i = 0; i < N; i++) {
        uint64_t id = 10000 + i;
        uint64_t k = vx_prng_next(&r) % 16;
        if (k == 0) id = (uint64_t)1 << 40 | i;
        if (k == 1) id = i + 1;
        n += del(buf + n, 2, id);
    }
    feed_all(b, buf, n);
    vx_itch_levels_counts_read(b, &c);
    CHECK(c.unknown_orders == 0 && c.live == 0 && c.spilled == 0);
    CHECK(qty_at(b, 2, VX_SELL, 200000) == 0);
    vx_itch_levels_destroy(b);
}

/* reset: the object reads as new (counts, books, error), and the same bytes fed again give
 * what a new object gives, whether the orders were left in the window, the spill table or
 * outside their book. */
static void test_reset_is_a_new_object(void) {
    enum { N = 600 };
    static uint8_t buf[N * 64 + 64]; /* an add (38 B) and a cancel (25 B) per order */
    vx_prng r;
    vx_prng_seed(&r, 9);
    size_t n = 0;
    for (uint64_t i = 0; i < N; i++) { /* far, old and rising ids; some outside the book */
        uint64_t id = 10000 + i, k = vx_prng_next(&r) % 16;
        if (k == 0) id = (uint64_t)1 << 40 | i;
        if (k == 1) id = i + 1;
        uint32_t px = k == 2 ? 900000 : 200000 + 100 * (uint32_t)(vx_prng_next(&r) % 8);
        n += add(buf + n, (uint16_t)(i % 4), id, i & 1 ? 'S' : 'B', 3 + (uint32_t)(i % 5), px);
        if (i % 3 == 0) n += cancel(buf + n, (uint16_t)(i % 4), id, 1);
    }
    vx_itch_levels *b = make(10, 1 << 13), *f = make(10, 1 << 13); /* most orders stay in the window */
    feed_all(b, buf, n);
    vx_itch_levels_counts c, fc, zero;
    vx_itch_levels_counts_read(b, &c);
    CHECK(c.live > 0 && c.spilled > 0 && c.outside > 0 && c.slides > 0); /* all of it used */
    size_t used;
    buf[n] = buf[n + 1] = 0; /* a zero length: the object holds an error too */
    CHECK(vx_itch_levels_feed(b, buf, n + 2, &used) == VX_EINVAL);
    vx_itch_levels_reset(b);
    memset(&zero, 0, sizeof zero);
    vx_itch_levels_counts_read(b, &c);
    CHECK(memcmp(&c, &zero, sizeof c) == 0);
    CHECK(vx_itch_levels_error_offset(b) == 0 && vx_itch_levels_error(b)[0] == 0);
    int64_t base, px[64];
    uint64_t q[64];
    for (uint32_t i = 0; i < 4; i++) {
        CHECK(!vx_itch_levels_base(b, i, &base));
        for (int side = 0; side < 2; side++) CHECK(vx_itch_levels_depth(b, i, side, 64, px, q) == 0);
    }
    /* no order is left anywhere: deleting every id meets none */
    static uint8_t dels[N * 3 * 21]; /* up to three deletes (21 B) per order */
    size_t nd = 0;
    for (uint64_t i = 0; i < N; i++) {
        nd += del(dels + nd, 0, 10000 + i);
        nd += del(dels + nd, 0, (uint64_t)1 << 40 | i);
        if (i < N / 2) nd += del(dels + nd, 0, i + 1);
    }
    feed_all(b, dels, nd);
    vx_itch_levels_counts_read(b, &c);
    CHECK(c.unknown_orders == c.messages && c.live == 0);
    vx_itch_levels_reset(b);
    feed_all(b, buf, n);
    feed_all(f, buf, n);
    vx_itch_levels_counts_read(b, &c);
    vx_itch_levels_counts_read(f, &fc);
    CHECK(memcmp(&c, &fc, sizeof c) == 0);
    for (uint32_t i = 0; i < 4; i++) {
        int64_t fpx[64];
        uint64_t fq[64];
        for (int side = 0; side < 2; side++) {
            size_t k = vx_itch_levels_depth(b, i, side, 64, px, q);
            CHECK(k == vx_itch_levels_depth(f, i, side, 64, fpx, fq));
            CHECK(memcmp(px, fpx, k * sizeof *px) == 0 && memcmp(q, fq, k * sizeof *q) == 0);
        }
    }
    vx_itch_levels_destroy(b);
    vx_itch_levels_destroy(f);
}

static void test_errors_and_arguments(void) {
    uint8_t buf[128];
    size_t n = add(buf, 1, 1, 'B', 1, 100000), c;
    buf[n] = 0;
    buf[n + 1] = 0; /* zero length */
    vx_itch_levels *b = make(8, 64);
    CHECK(vx_itch_levels_feed(b, buf, n + 2, &c) == VX_EINVAL && c == n);
    CHECK(vx_itch_levels_error_offset(b) == n);
    buf[2 + 19] = 'Q'; /* bad side */
    CHECK(vx_itch_levels_feed(b, buf, n, &c) == VX_EINVAL && c == 0);
    CHECK(vx_itch_levels_feed(b, buf, n - 1, &c) == VX_OK && c == 0); /* incomplete */
    vx_itch_levels_destroy(b);
    vx_itch_levels *x = NULL;
    CHECK(vx_itch_levels_create(0, 64, 100, 8, 64, &x) == VX_EINVAL);
    CHECK(vx_itch_levels_create(4, 63, 100, 8, 64, &x) == VX_EINVAL);
    CHECK(vx_itch_levels_create(4, 64, 0, 8, 64, &x) == VX_EINVAL);
    CHECK(vx_itch_levels_create(4, 64, 100, 3, 64, &x) == VX_EINVAL);
    CHECK(vx_itch_levels_create(4, 64, 100, 8, 100, &x) == VX_EINVAL);
    CHECK(vx_itch_levels_create(65536, 1 << 20, 100, 8, 64, &x) == VX_EINVAL);
    CHECK(x == NULL);
}

/* Corrupted bytes: never a read outside the buffer (ASan), never a hang, counts consistent. */
static void test_fuzz(void) {
    enum { LEN = 4096 };
    static uint8_t valid[LEN], buf[LEN];
    vx_prng r;
    vx_prng_seed(&r, 17);
    size_t n = 0;
    for (uint64_t i = 0; n + 40 <= LEN; i++) {
        switch (i % 4) {
        case 0: case 1: n += add(valid + n, (uint16_t)(i % 5), 100 + i, i & 1 ? 'S' : 'B', 10, 100000 + 100 * (uint32_t)(i % 7)); break;
        case 2: n += cancel(valid + n, 1, 100 + i - 2, 3); break;
        default: n += repl(valid + n, 1, 100 + i - 3, 5000 + i, 4, 100100); break;
        }
    }
    long rounds = (long)(20000 * vx_test_scale()) + 100;
    int ok = 1;
    for (long i = 0; i < rounds; i++) {
        size_t len = (size_t)(vx_prng_next(&r) % (n + 1));
        memcpy(buf, valid, n);
        int muts = (int)(vx_prng_next(&r) % 8);
        for (int m = 0; m < muts; m++) buf[vx_prng_next(&r) % n] = (uint8_t)vx_prng_next(&r);
        if (i % 4 == 0) for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)vx_prng_next(&r);
        if (i % 4 == 1) { /* the last message claims fewer bytes than its type has, and the
                             buffer ends there: a field read past the claim leaves the heap */
            memcpy(buf, valid, n);
            size_t s = 0;
            while (s + 2 + 40 <= len) s += 2 + (size_t)(valid[s] << 8 | valid[s + 1]); /* bounded */
            size_t mlen = (size_t)(valid[s] << 8 | valid[s + 1]);
            size_t short_len = 1 + (size_t)(vx_prng_next(&r) % (mlen - 1));
            buf[s] = 0;
            buf[s + 1] = (uint8_t)short_len;
            len = s + 2 + short_len;
        }
        uint8_t *heap = malloc(len ? len : 1); /* exactly len bytes: ASan sees any overrun */
        memcpy(heap, buf, len);
        vx_itch_levels *b = make((uint32_t)(4 + i % 3), 64);
        size_t pos = 0;
        for (int guard = 0; guard < LEN && pos < len; guard++) {
            size_t consumed = 0;
            vx_status st = vx_itch_levels_feed(b, heap + pos, len - pos, &consumed);
            ok &= consumed <= len - pos;
            pos += consumed;
            if (st != VX_OK || consumed == 0) break;
        }
        vx_itch_levels_counts c;
        vx_itch_levels_counts_read(b, &c);
        uint64_t reasons = 0;
        for (int k = 0; k < VX_MBO_REJECT_COUNT; k++) reasons += c.rejected_by_reason[k];
        ok &= reasons == c.rejected && c.outside <= c.live && c.spilled <= c.live;
        vx_itch_levels_destroy(b);
        free(heap);
    }
    CHECK(ok);
}

int main(void) {
    RUN(test_semantics);
    RUN(test_window_and_spill);
    RUN(test_reset_is_a_new_object);
    RUN(test_errors_and_arguments);
    RUN(test_fuzz);
    return CHECK_SUMMARY("test_itch_levels");
}
