/* test_positions.c — positions and P&L (positions.h): average cost, flips, partial closes,
 * the exact identity on random fills, overflow refusal. */
#include <string.h>

#include "check.h"
#include "velox/positions.h"
#include "velox/prng.h"

static vx_position get(const vx_positions *p, uint32_t i) {
    vx_position r;
    memset(&r, 0xAB, sizeof r);
    REQUIRE(vx_positions_get(p, i, &r) == VX_OK);
    return r;
}

static void test_open_add_partial_close(void) {
    vx_positions *p;
    REQUIRE(vx_positions_create(2, &p) == VX_OK);
    CHECK(!vx_positions_traded(p, 0));
    vx_position r = get(p, 0);
    CHECK(r.position == 0 && r.avg_price == 0 && r.mark == 0 && r.realized == 0);
    CHECK(vx_positions_fill(p, 0, VX_BUY, 100, 3, 1) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_BUY, 101, 1, 1) == VX_OK);
    r = get(p, 0);
    CHECK(r.position == 4 && r.avg_price == 100 && r.mark == 101); /* 401 / 4 truncated */
    CHECK(r.unrealized == 4 * 101 - 401 && r.fees == 2 && r.volume == 4 && r.fills == 2);
    CHECK(r.working_buy == 0 && r.working_sell == 0);
    /* sell 2 at 105: removes 401 * 2 / 4 = 200 (200.5 truncated) */
    CHECK(vx_positions_fill(p, 0, VX_SELL, 105, 2, 0) == VX_OK);
    r = get(p, 0);
    CHECK(r.position == 2 && r.avg_price == 100);       /* open cost 201 */
    CHECK(r.realized == (-401 + 210) + 201);            /* cash + open cost = 10 */
    CHECK(r.unrealized == 2 * 105 - 201);
    CHECK(vx_positions_total(p) == -401 + 210 + 2 * 105 - 2);
    /* close exactly: open cost 0 */
    CHECK(vx_positions_fill(p, 0, VX_SELL, 99, 2, 0) == VX_OK);
    r = get(p, 0);
    CHECK(r.position == 0 && r.avg_price == 0 && r.unrealized == 0);
    CHECK(r.realized == -401 + 210 + 198);
    CHECK(vx_positions_traded(p, 0) && !vx_positions_traded(p, 1));
    vx_positions_destroy(p);
}

static void test_flip(void) {
    vx_positions *p;
    REQUIRE(vx_positions_create(1, &p) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_BUY, 100, 10, 0) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_SELL, 110, 15, 0) == VX_OK);
    vx_position r = get(p, 0);
    CHECK(r.position == -5 && r.avg_price == 110);
    CHECK(r.realized == 100);                /* 10 lots closed at +10 */
    CHECK(r.unrealized == 0);                /* mark = last fill 110 */
    CHECK(vx_positions_mark(p, 0, 120) == VX_OK);
    r = get(p, 0);
    CHECK(r.mark == 120 && r.unrealized == -50);
    CHECK(vx_positions_mark(p, 0, 0) == VX_OK); /* no mid: back to the last fill */
    CHECK(get(p, 0).mark == 110);
    /* flip back up through flat */
    CHECK(vx_positions_fill(p, 0, VX_BUY, 90, 8, 0) == VX_OK);
    r = get(p, 0);
    CHECK(r.position == 3 && r.avg_price == 90 && r.realized == 100 + 5 * 20);
    vx_positions_destroy(p);
    /* short side: -401 * 2 / 4 = -200.5 removes -200 (toward zero), leaving -201 */
    REQUIRE(vx_positions_create(1, &p) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_SELL, 100, 3, 0) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_SELL, 101, 1, 0) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_BUY, 95, 2, 0) == VX_OK);
    r = get(p, 0);
    CHECK(r.position == -2 && r.avg_price == 100); /* -201 / -2 = 100.5 truncated */
    CHECK(r.realized == (401 - 190) - 201);
    CHECK(r.unrealized == -2 * 95 + 201);
    vx_positions_destroy(p);
}

static void test_random_identity(void) {
    vx_positions *p;
    REQUIRE(vx_positions_create(3, &p) == VX_OK);
    vx_prng rng;
    vx_prng_seed(&rng, 42);
    int64_t cash[3] = {0}, pos[3] = {0}, fees[3] = {0}, mark[3] = {0}, last[3] = {0};
    int64_t lo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, hi[3] = {0};
    uint64_t n = vx_test_count(200000, 2000);
    int ok = 1;
    for (uint64_t k = 0; k < n && ok; k++) {
        uint32_t i = vx_prng_below(&rng, 3);
        if (vx_prng_below(&rng, 8) == 0) {
            int64_t m = vx_prng_below(&rng, 4) == 0 ? 0 : 9000 + vx_prng_below(&rng, 2000);
            ok &= vx_positions_mark(p, i, m) == VX_OK;
            mark[i] = m;
            continue;
        }
        int side = (int)vx_prng_below(&rng, 2);
        int64_t price = 9000 + vx_prng_below(&rng, 2000);
        uint32_t lots = 1 + vx_prng_below(&rng, 50);
        int64_t fee = (int64_t)vx_prng_below(&rng, 21) - 10;
        ok &= vx_positions_fill(p, i, side, price, lots, fee) == VX_OK;
        int64_t d = side == VX_BUY ? lots : -(int64_t)lots;
        int64_t before = pos[i];
        pos[i] += d;
        cash[i] -= d * price;
        fees[i] += fee;
        last[i] = price;
        /* a new open (flat or flipped) resets the open price range */
        if (before == 0 || (before > 0) != (pos[i] > 0)) lo[i] = hi[i] = price;
        else if ((before > 0) == (d > 0)) {
            if (price < lo[i]) lo[i] = price;
            if (price > hi[i]) hi[i] = price;
        }
        int64_t total = 0;
        for (uint32_t j = 0; j < 3; j++) {
            vx_position r = get(p, j);
            int64_t m = mark[j] ? mark[j] : last[j];
            ok &= r.position == pos[j] && r.fees == fees[j] && r.mark == m;
            /* the identity, exactly */
            ok &= r.realized + r.unrealized - r.fees == cash[j] + pos[j] * m - fees[j];
            ok &= r.realized + r.unrealized == cash[j] + pos[j] * m;
            if (pos[j] == 0) ok &= r.avg_price == 0 && r.realized == cash[j];
            else ok &= r.avg_price >= lo[j] - 1 && r.avg_price <= hi[j];
            total += cash[j] + pos[j] * m - fees[j];
        }
        ok &= vx_positions_total(p) == total;
        if (!ok) fprintf(stderr, "identity failed at step %llu\n", (unsigned long long)k);
    }
    CHECK(ok);
    vx_positions_destroy(p);
}

static void test_overflow_refused(void) {
    vx_positions *p;
    REQUIRE(vx_positions_create(1, &p) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_BUY, INT64_MAX / 4, 2, 0) == VX_OK);
    vx_position before = get(p, 0);
    /* cash would pass INT64_MIN */
    CHECK(vx_positions_fill(p, 0, VX_BUY, INT64_MAX / 4, 3, 0) == VX_ERANGE);
    vx_position after = get(p, 0);
    CHECK(memcmp(&before, &after, sizeof before) == 0);
    /* a mark that makes position * mark overflow */
    CHECK(vx_positions_mark(p, 0, INT64_MAX) == VX_ERANGE);
    after = get(p, 0);
    CHECK(memcmp(&before, &after, sizeof before) == 0);
    /* fees */
    CHECK(vx_positions_fee(p, 0, INT64_MAX) == VX_OK);
    CHECK(vx_positions_fee(p, 0, 1) == VX_ERANGE);
    CHECK(get(p, 0).fees == INT64_MAX);
    vx_positions_destroy(p);
    REQUIRE(vx_positions_create(1, &p) == VX_OK);
    CHECK(vx_positions_fill(p, 0, VX_SELL, INT64_MAX, UINT32_MAX, 0) == VX_ERANGE);
    vx_position zero = get(p, 0);
    CHECK(zero.position == 0 && zero.volume == 0 && zero.fills == 0);
    CHECK(!vx_positions_traded(p, 0));
    vx_positions_destroy(p);
}

static void test_bad_arguments(void) {
    vx_positions *p = NULL;
    CHECK(vx_positions_create(0, &p) == VX_EINVAL && p == NULL);
    REQUIRE(vx_positions_create(1, &p) == VX_OK);
    vx_position r;
    CHECK(vx_positions_fill(p, 1, VX_BUY, 100, 1, 0) == VX_EINVAL);
    CHECK(vx_positions_fill(p, 0, 2, 100, 1, 0) == VX_EINVAL);
    CHECK(vx_positions_fill(p, 0, VX_BUY, 0, 1, 0) == VX_EINVAL);
    CHECK(vx_positions_fill(p, 0, VX_BUY, 100, 0, 0) == VX_EINVAL);
    CHECK(vx_positions_mark(p, 0, -1) == VX_EINVAL);
    CHECK(vx_positions_mark(p, 1, 1) == VX_EINVAL);
    CHECK(vx_positions_fee(p, 1, 1) == VX_EINVAL);
    CHECK(vx_positions_get(p, 1, &r) == VX_EINVAL);
    CHECK(!vx_positions_traded(p, 1));
    CHECK(vx_positions_fee(p, 0, 7) == VX_OK && vx_positions_total(p) == -7);
    vx_positions_destroy(p);
}

int main(void) {
    RUN(test_open_add_partial_close);
    RUN(test_flip);
    RUN(test_random_identity);
    RUN(test_overflow_refused);
    RUN(test_bad_arguments);
    return CHECK_SUMMARY("test_positions");
}
