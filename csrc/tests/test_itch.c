/* test_itch.c — ITCH 5.0 parser and writer: fields, framing errors, streaming, filter, fuzz. */
#include "check.h"
#include "velox/itch.h"
#include "velox/prng.h"

#include <string.h>

static size_t put_add(uint8_t *w, uint16_t loc, uint64_t ts, uint64_t ref, char side, uint32_t sh,
                      const char *sym, uint32_t px) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    e.action = VX_MBO_ADD;
    e.instrument = loc;
    e.ts = ts;
    e.order_id = ref;
    e.side = side == 'B' ? VX_BUY : VX_SELL;
    e.qty = sh;
    e.price = (int64_t)px * 10000;
    size_t done, written;
    char syms[8 * 4];
    memset(syms, ' ', sizeof syms);
    memcpy(syms + 8 * loc, sym, strlen(sym));
    CHECK(vx_itch_write(&e, 1, syms, 4, w, 64, &done, &written) == VX_OK && done == 1);
    CHECK(written == 38);
    return written;
}

static void test_add_fields(void) {
    uint8_t buf[64];
    size_t n = put_add(buf, 3, 0x0000123456789ABCULL, 0x1122334455667788ULL, 'S', 500, "AAPL", 1234567);
    /* the wire bytes, checked by hand against the specification's offsets */
    CHECK(buf[0] == 0 && buf[1] == 36 && buf[2] == 'A');
    CHECK(buf[3] == 0 && buf[4] == 3);                   /* locate */
    CHECK(buf[7] == 0x12 && buf[12] == 0xBC);            /* ts: 6 bytes big-endian */
    CHECK(buf[13] == 0x11 && buf[20] == 0x88);           /* ref */
    CHECK(buf[21] == 'S');
    CHECK(memcmp(buf + 26, "AAPL    ", 8) == 0);
    vx_itch_parser *p;
    CHECK(vx_itch_parser_create(&p) == VX_OK);
    vx_mbo out[2];
    size_t consumed, produced;
    CHECK(vx_itch_parse(p, buf, n, out, 2, &consumed, &produced) == VX_OK);
    CHECK(consumed == n && produced == 1);
    CHECK(out[0].action == VX_MBO_ADD && out[0].instrument == 3 && out[0].side == VX_SELL);
    CHECK(out[0].ts == 0x0000123456789ABCULL && out[0].order_id == 0x1122334455667788ULL);
    CHECK(out[0].qty == 500 && out[0].price == 1234567LL * 10000);
    CHECK(vx_itch_counts_get(p)->by_type['A'] == 1 && vx_itch_counts_get(p)->events == 1);
    vx_itch_parser_destroy(p);
}

static void test_errors(void) {
    uint8_t buf[128];
    size_t n = put_add(buf, 1, 5, 9, 'B', 1, "X", 1);
    vx_itch_parser *p;
    CHECK(vx_itch_parser_create(&p) == VX_OK);
    vx_mbo out[4];
    size_t consumed, produced;
    /* wrong length for the type */
    memcpy(buf + n, buf, n);
    buf[n + 1] = 35;
    CHECK(vx_itch_parse(p, buf, 2 * n - 1, out, 4, &consumed, &produced) == VX_EINVAL);
    CHECK(consumed == n && produced == 1 && vx_itch_error_offset(p) == n && vx_itch_error_type(p) == 'A');
    /* zero length */
    vx_itch_parser_reset(p);
    buf[n] = 0; buf[n + 1] = 0;
    CHECK(vx_itch_parse(p, buf, n + 2, out, 4, &consumed, &produced) == VX_EINVAL);
    CHECK(vx_itch_error_offset(p) == n);
    /* bad side */
    vx_itch_parser_reset(p);
    buf[21] = 'Z';
    CHECK(vx_itch_parse(p, buf, n, out, 4, &consumed, &produced) == VX_EINVAL && consumed == 0);
    buf[21] = 'B';
    /* truncated: every proper prefix consumes nothing and is not an error */
    for (size_t cut = 0; cut < n; cut++) {
        vx_itch_parser_reset(p);
        CHECK(vx_itch_parse(p, buf, cut, out, 4, &consumed, &produced) == VX_OK);
        CHECK(consumed == 0 && produced == 0);
    }
    /* unknown type skipped by its prefix */
    vx_itch_parser_reset(p);
    uint8_t unk[5] = {0, 3, 'z', 1, 2};
    memcpy(buf + n, unk, 5);
    CHECK(vx_itch_parse(p, buf, n + 5, out, 4, &consumed, &produced) == VX_OK);
    CHECK(consumed == n + 5 && produced == 1 && vx_itch_counts_get(p)->unknown == 1);
    vx_itch_parser_destroy(p);
}

static void test_streaming_and_filter(void) {
    uint8_t buf[1024];
    size_t n = 0, dn;
    CHECK(vx_itch_write_directory(1, 0, "AAA     ", buf + n, 41, &dn) == VX_OK); n += dn;
    CHECK(vx_itch_write_directory(2, 0, "BBB     ", buf + n, 41, &dn) == VX_OK); n += dn;
    for (int i = 0; i < 10; i++) n += put_add(buf + n, (uint16_t)(1 + i % 2), (uint64_t)i, (uint64_t)i + 1, 'B', 1, i % 2 ? "BBB" : "AAA", 10);
    vx_itch_parser *p;
    CHECK(vx_itch_parser_create(&p) == VX_OK);
    CHECK(vx_itch_filter_symbols(p, "BBB     ", 1) == VX_OK);
    vx_mbo out[16];
    size_t consumed, produced, pos = 0, total = 0;
    /* feed in 7-byte pieces that end anywhere inside a message */
    size_t have = 0;
    for (int guard = 0; guard < 1000 && pos < n; guard++) {
        have = have + 7 > n ? n : have + 7;
        CHECK(vx_itch_parse(p, buf + pos, have - pos, out + total, 16 - total, &consumed, &produced) == VX_OK);
        pos += consumed;
        total += produced;
    }
    CHECK(pos == n && total == 5);
    for (size_t i = 0; i < total; i++) CHECK(out[i].instrument == 2);
    CHECK(vx_itch_counts_get(p)->filtered == 5 && vx_itch_counts_get(p)->messages == 12);
    char sym[8];
    CHECK(vx_itch_symbol(p, 2, sym) == 1 && memcmp(sym, "BBB     ", 8) == 0);
    CHECK(vx_itch_symbol(p, 3, sym) == 0);
    CHECK(vx_itch_offset(p) == n);
    vx_itch_parser_destroy(p);
}

/* n random events that ITCH can carry, instruments 0..2 (symbols AAA, BBB, CCC). */
static void random_events(vx_mbo *ev, int n, vx_prng *rp) {
    vx_prng r = *rp;
    for (int i = 0; i < n; i++) {
        vx_mbo *e = &ev[i];
        memset(e, 0, sizeof *e);
        e->action = (uint8_t)(1 + vx_prng_next(&r) % 10);
        if (e->action == VX_MBO_CLEAR) e->action = VX_MBO_ADD;
        e->ts = vx_prng_next(&r) >> 16;
        e->instrument = (uint32_t)(vx_prng_next(&r) % 3);
        e->order_id = vx_prng_next(&r);
        e->qty = (uint32_t)vx_prng_next(&r);
        e->side = VX_SIDE_NONE; /* ITCH E/C/X/D/U carry none */
        switch (e->action) {
        case VX_MBO_ADD: e->side = (uint8_t)(vx_prng_next(&r) & 1); /* fall through */
        case VX_MBO_REPLACE: e->price = (int64_t)(uint32_t)vx_prng_next(&r) * 10000;
            if (e->action == VX_MBO_REPLACE) e->ref = vx_prng_next(&r);
            break;
        case VX_MBO_EXECUTE: e->ref = vx_prng_next(&r);
            if (vx_prng_next(&r) & 1) { e->price = 10000 * 77; e->flags = VX_MBO_F_PRINTABLE; }
            break;
        case VX_MBO_CANCEL: break;
        case VX_MBO_DELETE: e->qty = 0; break;
        case VX_MBO_TRADE: e->price = 10000; e->ref = 5; e->side = (uint8_t)(vx_prng_next(&r) % 3); break;
        case VX_MBO_CROSS: e->order_id = 0; e->price = 20000; e->ref = 6; e->side = VX_SIDE_NONE; e->status = 'O'; break;
        case VX_MBO_BROKEN: e->order_id = 0; e->qty = 0; e->ref = 9; e->side = VX_SIDE_NONE; break;
        case VX_MBO_STATUS: e->order_id = 0; e->qty = 0; e->side = VX_SIDE_NONE; e->status = 'Q';
            e->flags = (vx_prng_next(&r) & 1) ? VX_MBO_F_SYSTEM : 0; break;
        }
        if (e->action == VX_MBO_STATUS && e->flags) e->instrument = 0;
    }
    *rp = r;
}

static void test_write_roundtrip(void) {
    enum { N = 2000 };
    static vx_mbo ev[N], back[N];
    static uint8_t buf[N * 46];
    vx_prng r;
    vx_prng_seed(&r, 7);
    char syms[8 * 3];
    memcpy(syms, "AAA     BBB     CCC     ", 24);
    random_events(ev, N, &r);
    size_t done, written;
    CHECK(vx_itch_write(ev, N, syms, 3, buf, sizeof buf, &done, &written) == VX_OK && done == N);
    vx_itch_parser *p;
    CHECK(vx_itch_parser_create(&p) == VX_OK);
    size_t consumed, produced;
    CHECK(vx_itch_parse(p, buf, written, back, N, &consumed, &produced) == VX_OK);
    CHECK(consumed == written && produced == N);
    int same = 1;
    for (int i = 0; i < N; i++) same &= memcmp(&ev[i], &back[i], sizeof(vx_mbo)) == 0;
    CHECK(same);
    /* out capacity 1: stops after one event, resumes */
    vx_itch_parser_reset(p);
    CHECK(vx_itch_parse(p, buf, written, back, 1, &consumed, &produced) == VX_OK && produced == 1 && consumed < written);
    /* unrepresentable events */
    vx_mbo bad = ev[0];
    bad.action = VX_MBO_CLEAR;
    CHECK(vx_itch_write(&bad, 1, syms, 3, buf, sizeof buf, &done, &written) == VX_EINVAL && done == 0);
    bad = ev[0]; bad.action = VX_MBO_ADD; bad.price = 12345;
    CHECK(vx_itch_write(&bad, 1, syms, 3, buf, sizeof buf, &done, &written) == VX_EINVAL);
    bad.price = 10000; bad.instrument = 3;
    CHECK(vx_itch_write(&bad, 1, syms, 3, buf, sizeof buf, &done, &written) == VX_EINVAL);
    bad.instrument = 0; bad.ts = 1ULL << 48;
    CHECK(vx_itch_write(&bad, 1, syms, 3, buf, sizeof buf, &done, &written) == VX_EINVAL);
    vx_itch_parser_destroy(p);
}

/* Routing: instrument = the symbol's index, by the R in force at each event (a renamed locate
 * too); S events get 0; R at locate 0 is an error; a symbol given twice is refused. */
static void test_route(void) {
    uint8_t buf[1024];
    size_t n = 0, dn;
    CHECK(vx_itch_write_directory(1, 0, "AAA     ", buf + n, 41, &dn) == VX_OK); n += dn;
    n += put_add(buf + n, 1, 1, 1, 'B', 1, "AAA", 10);
    CHECK(vx_itch_write_directory(1, 0, "BBB     ", buf + n, 41, &dn) == VX_OK); n += dn;
    n += put_add(buf + n, 1, 2, 2, 'B', 1, "BBB", 10);
    CHECK(vx_itch_write_directory(1, 0, "CCC     ", buf + n, 41, &dn) == VX_OK); n += dn;
    n += put_add(buf + n, 1, 3, 3, 'B', 1, "CCC", 10);                   /* filtered */
    buf[n] = 0; buf[n + 1] = 12; buf[n + 2] = 'S'; memset(buf + n + 3, 0, 11); buf[n + 4] = 7;
    buf[n + 13] = 'O'; n += 14;                                               /* S at locate 7 */
    vx_itch_parser *p;
    CHECK(vx_itch_parser_create(&p) == VX_OK);
    CHECK(vx_itch_route_symbols(p, "BBB     AAA     ", 2) == VX_OK);
    vx_mbo out[8];
    size_t consumed, produced;
    CHECK(vx_itch_parse(p, buf, n, out, 8, &consumed, &produced) == VX_OK && consumed == n);
    CHECK(produced == 3);
    CHECK(out[0].order_id == 1 && out[0].instrument == 1);  /* AAA = symbols[1] */
    CHECK(out[1].order_id == 2 && out[1].instrument == 0);  /* after the rename: BBB */
    CHECK(out[2].action == VX_MBO_STATUS && out[2].instrument == 0);
    CHECK(vx_itch_counts_get(p)->filtered == 1);
    /* the filter alone keeps the locate */
    vx_itch_parser_reset(p);
    CHECK(vx_itch_filter_symbols(p, "BBB     AAA     ", 2) == VX_OK);
    CHECK(vx_itch_parse(p, buf, n, out, 8, &consumed, &produced) == VX_OK && produced == 3);
    CHECK(out[0].instrument == 1 && out[1].instrument == 1 && out[2].instrument == 7);
    /* a symbol twice: refused, filter off */
    vx_itch_parser_reset(p);
    CHECK(vx_itch_route_symbols(p, "AAA     AAA     ", 2) == VX_EINVAL);
    CHECK(vx_itch_filter_symbols(p, "AAA     AAA     ", 2) == VX_OK);
    /* R at locate 0 */
    vx_itch_parser_reset(p);
    n = put_add(buf, 1, 1, 1, 'B', 1, "AAA", 10);
    CHECK(vx_itch_write_directory(0, 0, "AAA     ", buf + n, 41, &dn) == VX_OK);
    CHECK(vx_itch_parse(p, buf, n + dn, out, 8, &consumed, &produced) == VX_EINVAL);
    CHECK(consumed == n && produced == 1 && vx_itch_error_offset(p) == n && vx_itch_error_type(p) == 'R');
    vx_itch_parser_destroy(p);
}

/* Random bytes and mutated valid streams: never a read outside the buffer (ASan), counts
 * conserved (consumed <= len, produced <= cap). */
static void test_fuzz(void) {
    enum { LEN = 4096 };
    static uint8_t valid[LEN], buf[LEN];
    static vx_mbo out[LEN];
    size_t n = 0;
    while (n + 38 <= LEN) n += put_add(valid + n, 1, n, n, 'B', 1, "F", 3);
    vx_prng r;
    vx_prng_seed(&r, 11);
    vx_itch_parser *p;
    CHECK(vx_itch_parser_create(&p) == VX_OK);
    long rounds = (long)(20000 * vx_test_scale()) + 100;
    int ok = 1;
    for (long i = 0; i < rounds; i++) {
        size_t len = (size_t)(vx_prng_next(&r) % (n + 1));
        /* a heap copy of exactly len bytes so ASan sees any overrun */
        uint8_t *heap = malloc(len ? len : 1);
        memcpy(buf, valid, n);
        int muts = (int)(vx_prng_next(&r) % 8);
        for (int m = 0; m < muts; m++) buf[vx_prng_next(&r) % n] = (uint8_t)vx_prng_next(&r);
        if (i % 4 == 0) for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)vx_prng_next(&r);
        memcpy(heap, buf, len);
        vx_itch_parser_reset(p);
        size_t pos = 0;
        for (int guard = 0; guard < LEN && pos < len; guard++) {
            size_t consumed = 0, produced = 0;
            vx_status st = vx_itch_parse(p, heap + pos, len - pos, out, LEN, &consumed, &produced);
            ok &= consumed <= len - pos && produced <= LEN;
            pos += consumed;
            if (st != VX_OK || consumed == 0) break;
        }
        free(heap);
    }
    CHECK(ok);
    vx_itch_parser_destroy(p);
}

/* One parse of in[0..len) to the end or the first error (after a reset; mode 1 filters, mode 2
 * routes to CCC, AAA), in calls of at most cap events (a heap output of exactly cap events)
 * or, with one_by_one, one message per call from a heap copy of that message's bytes alone.
 * events[] gets every event; the rest of what it saw is returned. */
typedef struct parse_result {
    vx_status st;
    size_t events;
    uint64_t offset, error_offset;
    uint8_t error_type;
    const char *error;
    vx_itch_counts counts;
} parse_result;

static parse_result parse_all(vx_itch_parser *p, int mode, const uint8_t *in, size_t len,
                              size_t cap, int one_by_one, vx_mbo *events, size_t max_events) {
    parse_result res = { .st = VX_OK };
    vx_itch_parser_reset(p);
    if (mode == 1) CHECK(vx_itch_filter_symbols(p, "CCC     AAA     ", 2) == VX_OK);
    if (mode == 2) CHECK(vx_itch_route_symbols(p, "CCC     AAA     ", 2) == VX_OK);
    vx_mbo *out = malloc(cap * sizeof *out);
    size_t pos = 0;
    for (size_t guard = 0; guard <= len; guard++) { /* bounded: each call consumes or stops */
        size_t n = len - pos;
        if (one_by_one && n >= 2) {
            size_t m = 2 + ((size_t)in[pos] << 8 | in[pos + 1]);
            if (m < n) n = m;
        }
        uint8_t *heap = malloc(n ? n : 1);
        memcpy(heap, in + pos, n);
        size_t consumed = 0, produced = 0;
        res.st = vx_itch_parse(p, heap, n, out, cap, &consumed, &produced);
        free(heap);
        CHECK(consumed <= n && produced <= cap && res.events + produced <= max_events);
        memcpy(events + res.events, out, produced * sizeof *out);
        res.events += produced;
        pos += consumed;
        if (res.st != VX_OK || consumed == 0) break;
    }
    free(out);
    res.offset = vx_itch_offset(p);
    res.error_offset = vx_itch_error_offset(p);
    res.error_type = vx_itch_error_type(p);
    res.error = vx_itch_error(p);
    res.counts = *vx_itch_counts_get(p);
    return res;
}

static int same_result(const parse_result *x, const vx_mbo *xe, const parse_result *y,
                       const vx_mbo *ye) {
    return x->st == y->st && x->events == y->events && x->offset == y->offset &&
           (x->st == VX_OK || (x->error_offset == y->error_offset &&
                               x->error_type == y->error_type && !strcmp(x->error, y->error))) &&
           !memcmp(&x->counts, &y->counts, sizeof x->counts) &&
           !memcmp(xe, ye, x->events * sizeof *xe);
}

/* Mixed streams (every type the writer makes, directory entries, mutated bytes, cut
 * anywhere; no filter, a filter, routing) with exact-size heap input and output, so ASan sees
 * any read or write outside them: the same events, counts and error (offset, type, text)
 * whether parsed in one call, in calls of a random capacity, or one message per call from a
 * buffer holding only it (the fast loop takes different runs of messages in each). */
static void test_fuzz_mixed(void) {
    enum { N = 600, CAP = N + N / 100, BYTES = N * 46 + 41 * (N / 100) };
    static vx_mbo ev[N], one[CAP], some[CAP], all[CAP];
    static uint8_t valid[BYTES], buf[BYTES];
    char syms[8 * 3];
    memcpy(syms, "AAA     BBB     CCC     ", 24);
    vx_prng r;
    vx_prng_seed(&r, 23);
    random_events(ev, N, &r);
    size_t n = 0, done, written;
    for (int i = 0; i < N; i += 100) { /* a directory entry before every 100 events */
        int sym = i / 100 % 3;
        CHECK(vx_itch_write_directory((uint16_t)(sym + 1), 0, syms + 8 * sym, valid + n, 41,
                                      &written) == VX_OK);
        n += written;
        CHECK(vx_itch_write(ev + i, 100, syms, 3, valid + n, BYTES - n, &done, &written) == VX_OK);
        CHECK(done == 100);
        n += written;
    }
    vx_itch_parser *p;
    CHECK(vx_itch_parser_create(&p) == VX_OK);
    long rounds = (long)(600 * vx_test_scale()) + 30;
    int same = 1, errors = 0, filtered = 0;
    for (long i = 0; i < rounds; i++) {
        size_t len = i < 3 ? n : (size_t)(vx_prng_next(&r) % (n + 1));
        memcpy(buf, valid, n);
        int muts = i < 3 ? 0 : (int)(vx_prng_next(&r) % 4);
        for (int m = 0; m < muts; m++) buf[vx_prng_next(&r) % n] = (uint8_t)vx_prng_next(&r);
        size_t cap = 1 + (size_t)(vx_prng_next(&r) % 70);
        int mode = (int)(i % 3);
        parse_result x = parse_all(p, mode, buf, len, 1, 1, one, CAP);
        parse_result y = parse_all(p, mode, buf, len, cap, 0, some, CAP);
        parse_result z = parse_all(p, mode, buf, len, CAP, 0, all, CAP);
        same &= same_result(&x, one, &y, some) && same_result(&x, one, &z, all);
        if (i == 0) CHECK(x.st == VX_OK && x.offset == n && !memcmp(all, ev, N * sizeof *ev));
        errors += x.st != VX_OK;
        filtered += x.counts.filtered > 0;
    }
    CHECK(same);
    CHECK(errors > 0 && filtered > 0); /* the rounds reach both */
    vx_itch_parser_destroy(p);
}

int main(void) {
    RUN(test_add_fields);
    RUN(test_errors);
    RUN(test_streaming_and_filter);
    RUN(test_write_roundtrip);
    RUN(test_route);
    RUN(test_fuzz);
    RUN(test_fuzz_mixed);
    return CHECK_SUMMARY("test_itch");
}
