/* test_lobster.c — LOBSTER message/orderbook parser and writer: fields, errors, fuzz. */
#include "check.h"
#include "velox/lobster.h"
#include "velox/prng.h"

#include <string.h>

static void test_messages(void) {
    const char *text =
        "34200.004241176,1,16113575,18,5853300,1\n"
        "34200.1,2,16113575,8,5853300,1\r\n"
        "34201,3,16113575,10,5853300,1\n"
        "34202.5,4,16120456,2,5854000,-1\n"
        "34203.000000001,5,0,100,5855000,-1\n"
        "34204.0,6,0,300,5856000,1\n"
        "34205.0,7,0,0,-1,-1\n";
    vx_mbo ev[8];
    size_t n;
    vx_lobster_error err;
    CHECK(vx_lobster_parse_messages(text, strlen(text), 9, ev, 8, &n, &err) == VX_OK && n == 7);
    CHECK(ev[0].ts == 34200004241176ULL && ev[0].action == VX_MBO_ADD && ev[0].order_id == 16113575);
    CHECK(ev[0].qty == 18 && ev[0].price == 5853300LL * 10000 && ev[0].side == VX_BUY && ev[0].instrument == 9);
    CHECK(ev[1].ts == 34200100000000ULL && ev[1].action == VX_MBO_CANCEL && ev[1].qty == 8);
    CHECK(ev[2].action == VX_MBO_DELETE && ev[2].ts == 34201000000000ULL);
    CHECK(ev[3].action == VX_MBO_EXECUTE && ev[3].side == VX_SELL && ev[3].price == 5854000LL * 10000);
    CHECK(ev[4].action == VX_MBO_TRADE && ev[4].ts == 34203000000001ULL);
    CHECK(ev[5].action == VX_MBO_CROSS && ev[5].side == VX_BUY);
    CHECK(ev[6].action == VX_MBO_STATUS && ev[6].status == 'H' && ev[6].price == 0);
    /* write back, parse again: same events */
    char out[7 * VX_LOBSTER_MAX_LINE];
    size_t done, written;
    CHECK(vx_lobster_write_messages(ev, 7, out, sizeof out, &done, &written) == VX_OK && done == 7);
    vx_mbo back[8];
    CHECK(vx_lobster_parse_messages(out, written, 9, back, 8, &n, &err) == VX_OK && n == 7);
    CHECK(memcmp(ev, back, sizeof(vx_mbo) * 7) == 0);
}

static void expect_error(const char *text, uint64_t line, uint64_t column) {
    vx_mbo ev[4];
    size_t n;
    vx_lobster_error err = {0, 0, 0};
    vx_status st = vx_lobster_parse_messages(text, strlen(text), 0, ev, 4, &n, &err);
    CHECK(st == VX_EINVAL);
    CHECK(err.line == line && err.column == column);
    if (err.line != line || err.column != column)
        fprintf(stderr, "  %s -> line %llu col %llu (%s)\n", text, (unsigned long long)err.line,
                (unsigned long long)err.column, err.what ? err.what : "?");
}

static void test_message_errors(void) {
    expect_error("1,8,1,1,1,1\n", 1, 3);               /* type 8 */
    expect_error("1,1,1,1,1,1\n1,1,1,1,1,0\n", 2, 11);  /* direction 0 */
    expect_error("1,1,1,1,1\n", 1, 10);                /* missing field */
    expect_error("1,1,1,1,1,1,1\n", 1, 12);            /* extra field */
    expect_error("1.1234567890,1,1,1,1,1\n", 1, 12);   /* 10 decimals */
    expect_error("1,1,1,4294967296,1,1\n", 1, 16);     /* size > u32 */
    expect_error("1,1,99999999999999999999,1,1,1\n", 1, 24); /* id > u64 */
    expect_error("1,1,1,1,-5,1\n", 1, 9);              /* negative price */
    expect_error("1,7,0,0,2,1\n", 1, 9);               /* type 7 price */
    expect_error("x\n", 1, 1);
    vx_mbo ev[1];
    size_t n;
    vx_lobster_error err;
    CHECK(vx_lobster_parse_messages("1,1,1,1,1,1\n1,1,1,1,1,1\n", 24, 0, ev, 1, &n, &err) == VX_ERANGE && n == 1);
}

static void test_book(void) {
    const char *text = "5859400,200,5853300,18,9999999999,0,5853100,150\n"
                       "5859400,100,-9999999999,0,9999999999,0,-9999999999,0\n";
    int64_t ap[4], bp[4];
    uint64_t aq[4], bq[4];
    size_t rows;
    vx_lobster_error err;
    CHECK(vx_lobster_first_line_fields(text, strlen(text)) == 8);
    CHECK(vx_lobster_parse_book(text, strlen(text), 2, ap, aq, bp, bq, 2, &rows, &err) == VX_OK && rows == 2);
    CHECK(ap[0] == 5859400LL * 10000 && aq[0] == 200 && bp[0] == 5853300LL * 10000 && bq[0] == 18);
    CHECK(ap[1] == 0 && aq[1] == 0 && bp[1] == 5853100LL * 10000 && bq[1] == 150);
    CHECK(bp[2] == 0 && bq[2] == 0 && aq[2] == 100);
    CHECK(vx_lobster_parse_book(text, strlen(text), 1, ap, aq, bp, bq, 4, &rows, &err) == VX_EINVAL && err.line == 1);
}

static void test_fuzz(void) {
    const char *valid = "34200.004241176,1,16113575,18,5853300,1\n34200.1,2,16113575,8,5853300,-1\n"
                        "5859400,200,5853300,18,9999999999,0,5853100,150\n";
    size_t vn = strlen(valid);
    vx_prng r;
    vx_prng_seed(&r, 3);
    long rounds = (long)(50000 * vx_test_scale()) + 100;
    static vx_mbo ev[64];
    static int64_t ap[64], bp[64];
    static uint64_t aq[64], bq[64];
    for (long i = 0; i < rounds; i++) {
        size_t len = (size_t)(vx_prng_next(&r) % (vn + 1));
        char *heap = malloc(len ? len : 1);
        memcpy(heap, valid, len);
        int muts = (int)(vx_prng_next(&r) % 6);
        for (int m = 0; m < muts && len; m++) heap[vx_prng_next(&r) % len] = "0123456789,.-\n\r x"[vx_prng_next(&r) % 17];
        size_t n, rows;
        vx_lobster_error err;
        vx_lobster_parse_messages(heap, len, 0, ev, 64, &n, &err);
        CHECK(n <= 64);
        vx_lobster_parse_book(heap, len, 1 + (size_t)(vx_prng_next(&r) % 3), ap, aq, bp, bq, 64 / 3, &rows, &err);
        free(heap);
    }
}

int main(void) {
    RUN(test_messages);
    RUN(test_message_errors);
    RUN(test_book);
    RUN(test_fuzz);
    return CHECK_SUMMARY("test_lobster");
}
