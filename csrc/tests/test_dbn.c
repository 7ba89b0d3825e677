/* test_dbn.c — DBN MBO decoder: fields, every action, errors with offsets, byte-by-byte
 * streaming, skipped rtypes, and a fuzz run that must never read past a record. */
#include "check.h"
#include "velox/dbn.h"
#include "velox/prng.h"

#include <stdlib.h>
#include <string.h>

static size_t put(uint8_t *w, uint8_t words, uint8_t rtype, uint32_t inst, uint64_t oid,
                  int64_t price, uint32_t size, uint8_t flags, char action, char side) {
    memset(w, 0, (size_t)words * 4);
    w[0] = words;
    w[1] = rtype;
    memcpy(w + 4, &inst, 4);
    uint64_t ts_event = 1000 + oid, ts_recv = 2000 + oid;
    memcpy(w + 8, &ts_event, 8);
    memcpy(w + 16, &oid, 8);
    memcpy(w + 24, &price, 8);
    memcpy(w + 32, &size, 4);
    w[36] = flags;
    w[38] = (uint8_t)action;
    w[39] = (uint8_t)side;
    memcpy(w + 40, &ts_recv, 8);
    return (size_t)words * 4;
}

static void test_fields_and_actions(void) {
    uint8_t buf[1024];
    size_t n = 0;
    n += put(buf + n, 14, 0xA0, 7, 11, 1234567890, 5, 0x80, 'A', 'B');
    n += put(buf + n, 14, 0xA0, 7, 11, 1234567890, 2, 0, 'C', 'B');
    n += put(buf + n, 16, 0xA0, 7, 11, 1234567800, 9, 0, 'M', 'B'); /* ts_out: 64 bytes */
    n += put(buf + n, 10, 0x99, 0, 0, 0, 0, 0, 0, 0);                  /* another rtype */
    n += put(buf + n, 14, 0xA0, 7, 0, INT64_MAX, 3, 0, 'T', 'A');
    n += put(buf + n, 14, 0xA0, 7, 11, INT64_MAX, 3, 0, 'F', 'B');
    n += put(buf + n, 14, 0xA0, 7, 0, 0, 0, 0x80, 'N', 'N');
    n += put(buf + n, 14, 0xA0, 8, 0, INT64_MAX, 0, 0x20, 'R', 'N');
    vx_dbn_parser *p;
    CHECK(vx_dbn_parser_create(0, &p) == VX_OK);
    vx_mbo out[16];
    size_t consumed, produced;
    CHECK(vx_dbn_parse(p, buf, n, out, 16, &consumed, &produced) == VX_OK);
    CHECK(consumed == n && produced == 6);
    CHECK(out[0].action == VX_MBO_ADD && out[0].side == VX_BUY && out[0].price == 123456789 &&
          out[0].qty == 5 && out[0].order_id == 11 && out[0].instrument == 7 &&
          out[0].ts == 2011 && out[0].flags == VX_MBO_F_LAST && out[0].ref == 0);
    CHECK(out[1].action == VX_MBO_CANCEL && out[1].qty == 2 && out[1].flags == 0);
    CHECK(out[2].action == VX_MBO_MODIFY && out[2].ref == 0 && out[2].price == 123456780);
    CHECK(out[3].action == VX_MBO_TRADE && out[3].side == VX_SELL && out[3].price == 0);
    CHECK(out[4].action == VX_MBO_TRADE && out[4].order_id == 11);
    CHECK(out[5].action == VX_MBO_CLEAR && out[5].side == VX_SIDE_NONE && out[5].instrument == 8);
    const vx_dbn_counts *c = vx_dbn_counts_get(p);
    CHECK(c->records == 8 && c->events == 6 && c->skipped == 1 && c->none == 1 && c->snapshot == 1);
    CHECK(c->by_rtype[0x99] == 1 && c->by_rtype[0xA0] == 7 && c->by_action['N'] == 1);
    vx_dbn_parser_destroy(p);

    /* byte by byte: the same events */
    CHECK(vx_dbn_parser_create(1, &p) == VX_OK);
    size_t pos = 0, have = 0, total = 0;
    vx_mbo o2[16];
    for (size_t end = 1; end <= n; end++) { /* bounded: n steps */
        CHECK(vx_dbn_parse(p, buf + pos, end - pos, o2 + total, 16 - total, &consumed,
                           &produced) == VX_OK);
        pos += consumed;
        total += produced;
        have = end;
    }
    CHECK(pos == have && total == 6 && o2[0].ts == 1011 && vx_dbn_offset(p) == n);
    vx_dbn_parser_destroy(p);
}

static void test_errors(void) {
    uint8_t buf[256];
    vx_dbn_parser *p;
    vx_mbo out[4];
    size_t consumed, produced, n;
    struct { uint8_t words; int64_t price; char action, side; const char *what; } bad[] = {
        {13, 10, 'A', 'B', "shorter"}, {3, 10, 'A', 'B', "below"}, {14, 15, 'A', 'B', "whole"},
        {14, INT64_MAX, 'M', 'A', "undefined"}, {14, 10, 'X', 'B', "action"},
        {14, 10, 'C', 'Q', "side"}, {14, 10, 'A', 'N', "side N"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(vx_dbn_parser_create(0, &p) == VX_OK);
        vx_dbn_set_offset(p, 100);
        n = put(buf, 14, 0xA0, 1, 1, 10, 1, 0, 'A', 'B');
        size_t w = bad[i].words < 4 ? 16 : (size_t)bad[i].words * 4;
        memset(buf + n, 0, 64);
        put(buf + n, bad[i].words < 14 && bad[i].words >= 4 ? 14 : 14, 0xA0, 1, 2, bad[i].price,
            1, 0, bad[i].action, bad[i].side);
        buf[n] = bad[i].words;
        n += w;
        CHECK(vx_dbn_parse(p, buf, n, out, 4, &consumed, &produced) == VX_EINVAL);
        CHECK(consumed == 56 && produced == 1 && vx_dbn_error_offset(p) == 156);
        CHECK(strstr(vx_dbn_error(p), bad[i].what) != NULL);
        vx_dbn_parser_destroy(p);
    }
}

/* Streams of valid records (every action and side, F_LAST and other flags, UNDEF_PRICE where
 * allowed, 64-byte ts_out records and other rtypes between them) decoded in random pieces
 * into random capacities: every event and count as the spec gives them record by record. */
static void test_runs_match_spec(void) {
    enum { RECS = 200, CAP = RECS };
    uint8_t *buf = malloc(RECS * 64);
    vx_mbo *out = malloc(CAP * sizeof(vx_mbo)), *want = malloc(CAP * sizeof(vx_mbo));
    CHECK(buf && out && want);
    vx_prng rng;
    vx_prng_seed(&rng, 11);
    static const char acts[] = "ACMRTFN", sides[] = "BAN";
    uint64_t rounds = vx_test_count(3000, 100);
    for (uint64_t round = 0; round < rounds; round++) { /* bounded: rounds */
        int ts_event = (int)(round & 1);
        size_t n = 0, nwant = 0, other = 0, nrec = 1 + vx_prng_below(&rng, RECS);
        uint64_t by_action[256] = {0}, by_flags[256] = {0}, mbo = 0;
        for (size_t i = 0; i < nrec; i++) { /* bounded: nrec */
            uint32_t pick = vx_prng_below(&rng, 64);
            if (pick == 0) { /* another rtype */
                n += put(buf + n, 10, 0x13, 0, 0, 0, 0, 0, 0, 0);
                other++;
                continue;
            }
            char a = acts[vx_prng_below(&rng, 7)], s = sides[vx_prng_below(&rng, 3)];
            if ((a == 'A' || a == 'M') && s == 'N') s = "BA"[i & 1];
            uint8_t flags = (uint8_t)vx_prng_next(&rng);
            int64_t px = ((int64_t)vx_prng_below(&rng, 2000000) - 1000000) * 10;
            if (a != 'A' && a != 'M' && vx_prng_below(&rng, 8) == 0) px = INT64_MAX;
            uint64_t oid = vx_prng_next(&rng) >> 1;
            uint32_t inst = vx_prng_below(&rng, 50), qty = (uint32_t)vx_prng_next(&rng);
            uint8_t words = vx_prng_below(&rng, 16) == 0 ? 16 : 14;
            n += put(buf + n, words, 0xA0, inst, oid, px, qty, flags, a, s);
            mbo++;
            by_action[(uint8_t)a]++;
            by_flags[flags]++;
            if (a == 'N') continue;
            uint8_t act = a == 'A' ? VX_MBO_ADD : a == 'C' ? VX_MBO_CANCEL
                        : a == 'M' ? VX_MBO_MODIFY : a == 'R' ? VX_MBO_CLEAR : VX_MBO_TRADE;
            vx_mbo e = {.ts = ts_event ? 1000 + oid : 2000 + oid, .instrument = inst,
                        .side = VX_SIDE_NONE, .action = act,
                        .flags = (flags & VX_DBN_F_LAST) ? VX_MBO_F_LAST : 0};
            if (a != 'R') {
                e.order_id = oid;
                e.price = px == INT64_MAX ? 0 : px / 10;
                e.qty = qty;
                e.side = s == 'B' ? VX_BUY : s == 'A' ? VX_SELL : VX_SIDE_NONE;
            }
            want[nwant++] = e;
        }
        vx_dbn_parser *p;
        CHECK(vx_dbn_parser_create(ts_event, &p) == VX_OK);
        size_t pos = 0, got = 0;
        for (int step = 0; step < 4 * RECS && pos < n; step++) { /* bounded: steps */
            size_t piece = 1 + vx_prng_below(&rng, (uint32_t)(n - pos));
            size_t cap = 1 + vx_prng_below(&rng, 40), consumed, produced;
            if (cap > CAP - got) cap = CAP - got;
            CHECK(vx_dbn_parse(p, buf + pos, piece, out + got, cap, &consumed, &produced) ==
                  VX_OK);
            pos += consumed;
            got += produced;
        }
        CHECK(pos == n && got == nwant);
        CHECK(memcmp(out, want, nwant * sizeof(vx_mbo)) == 0);
        const vx_dbn_counts *c = vx_dbn_counts_get(p);
        CHECK(c->records == mbo + other && c->skipped == other && c->events == nwant);
        CHECK(c->by_rtype[0xA0] == mbo && c->by_rtype[0x13] == other);
        CHECK(memcmp(c->by_action, by_action, sizeof by_action) == 0);
        CHECK(memcmp(c->by_flags, by_flags, sizeof by_flags) == 0);
        vx_dbn_parser_destroy(p);
    }
    free(buf);
    free(out);
    free(want);
}

static void test_fuzz(void) {
    enum { RECS = 64 };
    uint8_t *buf = malloc(RECS * 56);
    vx_mbo *out = malloc(RECS * sizeof(vx_mbo));
    CHECK(buf && out);
    vx_prng rng;
    vx_prng_seed(&rng, 7);
    uint64_t rounds = vx_test_count(20000, 2000);
    for (uint64_t r = 0; r < rounds; r++) {
        size_t n = 0;
        for (int i = 0; i < RECS; i++)
            n += put(buf + n, 14, 0xA0, 1, (uint64_t)i, 100, 1, 0, "ACMRTFN"[i % 7], "BA"[i & 1]);
        for (int k = 0; k < 4; k++) buf[vx_prng_next(&rng) % n] = (uint8_t)vx_prng_next(&rng);
        size_t len = n - vx_prng_next(&rng) % 64;
        /* an exact-size heap copy, so ASan sees any read past the end */
        uint8_t *copy = malloc(len);
        CHECK(copy != NULL);
        memcpy(copy, buf, len);
        vx_dbn_parser *p;
        CHECK(vx_dbn_parser_create(0, &p) == VX_OK);
        size_t consumed = 0, produced = 0;
        vx_status st = vx_dbn_parse(p, copy, len, out, RECS, &consumed, &produced);
        CHECK(st == VX_OK || st == VX_EINVAL);
        CHECK(consumed <= len && produced <= RECS);
        vx_dbn_parser_destroy(p);
        free(copy);
    }
    free(buf);
    free(out);
}

int main(void) {
    RUN(test_fields_and_actions);
    RUN(test_errors);
    RUN(test_runs_match_spec);
    RUN(test_fuzz);
    return CHECK_SUMMARY("test_dbn");
}
