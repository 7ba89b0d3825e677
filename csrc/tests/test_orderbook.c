/* test_orderbook.c — the ladder, best bid/ask, matching, recentering, and the multi-writer
 * contract: concurrent add/reduce/set are exactly conserved and the best hints settle exactly
 * while a reader polls. */
#include "check.h"
#include "velox/backoff.h"
#include "velox/orderbook.h"
#include "velox/prng.h"

#include <stdatomic.h>
#include <string.h>

#define TICK 1000000LL     /* 0.01 in VX_PRICE_SCALE units */
#define BASE 10000000000LL /* 100.00 */
#define P(i) (BASE + (int64_t)(i) * TICK)

static vx_book *make_book(uint32_t levels) {
    vx_book *b = NULL;
    REQUIRE(vx_book_create(levels, TICK, BASE, &b) == VX_OK && b != NULL);
    return b;
}

static vx_txn txn(int side, int kind, int64_t price, uint32_t qty) {
    vx_txn t;
    memset(&t, 0, sizeof t);
    t.side = (uint8_t)side;
    t.kind = (uint8_t)kind;
    t.price = price;
    t.qty = qty;
    return t;
}

static uint64_t level_qty(const vx_book *b, int side, int64_t price) {
    uint64_t q = 12345;
    REQUIRE(vx_book_qty(b, side, price, &q) == VX_OK);
    return q;
}

static void test_backoff(void) {
    vx_backoff bo;
    vx_backoff_init(&bo);
    int snoozes = 0;
    while (!vx_backoff_is_completed(&bo) && snoozes < 100) {
        vx_backoff_snooze(&bo);
        snoozes++;
    }
    CHECK(snoozes == VX_BACKOFF_YIELD_LIMIT + 1);
    vx_backoff_reset(&bo);
    CHECK(!vx_backoff_is_completed(&bo));
    for (int i = 0; i < 50; i++) vx_backoff_spin(&bo); /* spin never completes by itself... */
    CHECK(bo.step == VX_BACKOFF_SPIN_LIMIT + 1);        /* ...and saturates */
    CHECK(!vx_backoff_is_completed(&bo));
}

static void test_create_arguments(void) {
    vx_book *b = NULL;
    CHECK(vx_book_create(1000, TICK, BASE, &b) == VX_EINVAL); /* not a power of two */
    CHECK(vx_book_create(1, TICK, BASE, &b) == VX_EINVAL);
    CHECK(vx_book_create(VX_BOOK_MAX_LEVELS * 2u, TICK, BASE, &b) == VX_EINVAL);
    CHECK(vx_book_create(1024, 0, BASE, &b) == VX_EINVAL);
    CHECK(vx_book_create(1024, -5, BASE, &b) == VX_EINVAL);
    CHECK(vx_book_create(1024, TICK, INT64_MAX - 10, &b) == VX_EINVAL); /* top overflows */
    CHECK(vx_book_create(1024, TICK, BASE, NULL) == VX_EINVAL);
    CHECK(b == NULL);
    CHECK(vx_book_create(2, 1, INT64_MIN, &b) == VX_OK);
    vx_book_destroy(b);
    vx_book_destroy(NULL);
}

static void test_locate(void) {
    vx_book *b = make_book(16);
    uint32_t i = 99;
    CHECK(vx_book_locate(b, BASE, &i) == VX_OK && i == 0);
    CHECK(vx_book_locate(b, P(15), &i) == VX_OK && i == 15);
    CHECK(vx_book_locate(b, P(16), &i) == VX_ERANGE);
    CHECK(vx_book_locate(b, P(-1), &i) == VX_ERANGE);
    CHECK(vx_book_locate(b, P(3) + 1, &i) == VX_EINVAL);
    CHECK(vx_book_locate(b, P(-3) + 1, &i) == VX_EINVAL);
    CHECK(vx_book_locate(b, INT64_MIN, &i) == VX_EINVAL || vx_book_locate(b, INT64_MIN, &i) == VX_ERANGE);
    CHECK(vx_book_locate(b, INT64_MAX, &i) != VX_OK);
    vx_book_counters c;
    vx_book_counters_read(b, &c);
    CHECK(c.out_of_window == 0); /* locate is a pure query */
    vx_book_destroy(b);
}

/* The division-free locate agrees with plain division for random ticks (odd, even, powers of
 * two, 1, huge), bases (negative too) and prices around and far outside the window. */
static void test_locate_matches_division(void) {
    vx_prng rng;
    vx_prng_seed(&rng, 7);
    const int64_t ticks[] = {1, 2, 3, 5, 7, 100, 1000000, 1 << 20, 99999989, 100000000,
                             (int64_t)1 << 40, 3000000000000LL, INT64_MAX / 4096};
    const uint32_t levels[] = {2, 16, 1024, VX_BOOK_MAX_LEVELS};
    uint64_t rounds = vx_test_count(20000, 500);
    for (size_t t = 0; t < sizeof ticks / sizeof ticks[0]; t++) {
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            int64_t tick = ticks[t];
            int64_t base = (int64_t)(vx_prng_next(&rng) % 2000001) - 1000000;
            vx_book *b = NULL;
            if (vx_book_create(levels[l], tick, base, &b) != VX_OK) continue; /* window overflows */
            for (uint64_t r = 0; r < rounds; r++) {
                int64_t k = (int64_t)(vx_prng_next(&rng) % (levels[l] + 8)) - 4;
                int64_t off = (int64_t)(vx_prng_next(&rng) % 3) - 1; /* -1, 0, +1 */
                if (vx_prng_next(&rng) % 4 == 0) off = (int64_t)(vx_prng_next(&rng) % (uint64_t)tick);
                int64_t price;
                if (__builtin_mul_overflow(k, tick, &price) || __builtin_add_overflow(price, base, &price) ||
                    __builtin_add_overflow(price, off, &price))
                    continue;
                /* reference: exact arithmetic in __int128 */
                __int128 above = (__int128)price - base;
                vx_status want = (above % tick) ? VX_EINVAL
                                 : (above < 0 || above / tick >= levels[l]) ? VX_ERANGE : VX_OK;
                uint32_t idx = UINT32_MAX;
                vx_status got = vx_book_locate(b, price, &idx);
                REQUIRE(got == want);
                if (want == VX_OK) REQUIRE(idx == (uint32_t)(above / tick));
            }
            vx_book_destroy(b);
        }
    }
}

/* set_many == the same vx_book_set calls one by one: same book, same counts, same counters. */
static void test_set_many_matches_set(void) {
    enum { N = 4096, LV = 64 };
    static uint8_t sides[N];
    static int64_t prices[N];
    static uint64_t qtys[N];
    vx_prng rng;
    vx_prng_seed(&rng, 11);
    for (int i = 0; i < N; i++) {
        uint32_t roll = vx_prng_below(&rng, 100);
        sides[i] = (uint8_t)(roll < 2 ? 2 + roll : vx_prng_below(&rng, 2)); /* 2%: bad side */
        prices[i] = P((int64_t)vx_prng_below(&rng, LV + 8) - 4) + (roll == 50 ? 1 : 0);
        qtys[i] = roll == 60 ? VX_BOOK_MAX_QTY + 1 : (roll < 30 ? 0 : vx_prng_below(&rng, 1000));
    }
    vx_book *batch = make_book(LV), *single = make_book(LV);
    vx_set_batch_result r;
    vx_book_set_many(batch, sides, prices, qtys, N, &r);
    uint64_t ok = 0, first = N;
    for (int i = 0; i < N; i++) {
        if (vx_book_set(single, sides[i], prices[i], qtys[i]) == VX_OK) ok++;
        else if (first == N) first = (uint64_t)i;
    }
    CHECK(r.applied == ok && r.rejected == N - ok && r.first_rejected == first);
    CHECK(r.rejected > 0 && r.applied > 0);
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < LV; i++) CHECK(level_qty(batch, side, P(i)) == level_qty(single, side, P(i)));
    vx_book_counters cb, cs;
    vx_book_counters_read(batch, &cb);
    vx_book_counters_read(single, &cs);
    CHECK(cb.out_of_window == cs.out_of_window && cb.out_of_window > 0);
    const char *why = NULL; /* random L2 sets may cross the book; the ladder must still hold */
    CHECK(vx_book_verify_invariants(batch, &why) == VX_OK || strstr(why, "crossed") != NULL);
    vx_book_set_many(batch, sides, prices, qtys, 0, &r); /* empty batch */
    CHECK(r.applied == 0 && r.rejected == 0 && r.first_rejected == 0);
    vx_book_destroy(batch);
    vx_book_destroy(single);
}

static void test_level_operations(void) {
    vx_book *b = make_book(64);
    CHECK(vx_book_add(b, VX_BUY, P(10), 5) == VX_OK);
    CHECK(vx_book_add(b, VX_BUY, P(10), 7) == VX_OK);
    CHECK(level_qty(b, VX_BUY, P(10)) == 12);
    CHECK(level_qty(b, VX_SELL, P(10)) == 0);
    CHECK(vx_book_reduce(b, VX_BUY, P(10), 13) == VX_ERANGE); /* underflow: unchanged */
    CHECK(level_qty(b, VX_BUY, P(10)) == 12);
    CHECK(vx_book_reduce(b, VX_BUY, P(10), 12) == VX_OK);
    CHECK(level_qty(b, VX_BUY, P(10)) == 0);
    CHECK(vx_book_set(b, VX_SELL, P(20), 9) == VX_OK);
    CHECK(level_qty(b, VX_SELL, P(20)) == 9);
    CHECK(vx_book_set(b, VX_SELL, P(20), VX_BOOK_MAX_QTY) == VX_OK);
    CHECK(vx_book_add(b, VX_SELL, P(20), 1) == VX_ERANGE); /* overflow: unchanged */
    CHECK(level_qty(b, VX_SELL, P(20)) == VX_BOOK_MAX_QTY);
    CHECK(vx_book_set(b, VX_SELL, P(20), VX_BOOK_MAX_QTY + 1) == VX_ERANGE);
    CHECK(vx_book_set(b, VX_SELL, P(20), 0) == VX_OK);
    CHECK(vx_book_add(b, 2, P(1), 1) == VX_EINVAL);
    CHECK(vx_book_add(b, -1, P(1), 1) == VX_EINVAL);
    CHECK(vx_book_add(b, VX_BUY, P(64), 1) == VX_ERANGE);
    CHECK(vx_book_set(b, VX_BUY, P(-1), 1) == VX_ERANGE);
    CHECK(vx_book_reduce(b, VX_BUY, P(1) + 1, 1) == VX_EINVAL);
    uint64_t q;
    CHECK(vx_book_qty(b, VX_BUY, P(100), &q) == VX_ERANGE);
    vx_book_counters c;
    vx_book_counters_read(b, &c);
    CHECK(c.out_of_window == 3);
    CHECK(vx_book_verify_invariants(b, NULL) == VX_OK);
    vx_book_destroy(b);
}

static void test_best_and_depth(void) {
    vx_book *b = make_book(64);
    int64_t price;
    uint64_t q;
    CHECK(vx_book_best_bid(b, &price, &q) == VX_EMPTY);
    CHECK(vx_book_best_ask(b, &price, &q) == VX_EMPTY);
    CHECK(vx_book_spread(b, &price) == VX_EMPTY);
    vx_book_set(b, VX_BUY, P(10), 3);
    vx_book_set(b, VX_BUY, P(12), 4);
    vx_book_set(b, VX_BUY, P(5), 1);
    vx_book_set(b, VX_SELL, P(15), 6);
    vx_book_set(b, VX_SELL, P(20), 2);
    CHECK(vx_book_best_bid(b, &price, &q) == VX_OK && price == P(12) && q == 4);
    CHECK(vx_book_best_ask(b, &price, &q) == VX_OK && price == P(15) && q == 6);
    int64_t spread;
    double mid;
    CHECK(vx_book_spread(b, &spread) == VX_OK && spread == 3 * TICK);
    CHECK(vx_book_mid(b, &mid) == VX_OK && mid == (double)P(12) + 1.5 * (double)TICK);
    int64_t prices[8];
    uint64_t qtys[8];
    CHECK(vx_book_depth(b, VX_BUY, 8, prices, qtys) == 3);
    CHECK(prices[0] == P(12) && prices[1] == P(10) && prices[2] == P(5));
    CHECK(qtys[0] == 4 && qtys[1] == 3 && qtys[2] == 1);
    CHECK(vx_book_depth(b, VX_SELL, 1, prices, qtys) == 1 && prices[0] == P(15));
    CHECK(vx_book_depth(b, 7, 1, prices, qtys) == 0);
    /* emptying the best moves it to the next non-empty level */
    vx_book_reduce(b, VX_BUY, P(12), 4);
    CHECK(vx_book_best_bid(b, &price, &q) == VX_OK && price == P(10) && q == 3);
    vx_book_set(b, VX_SELL, P(15), 0);
    CHECK(vx_book_best_ask(b, &price, &q) == VX_OK && price == P(20));
    vx_book_set(b, VX_SELL, P(20), 0);
    CHECK(vx_book_best_ask(b, &price, &q) == VX_EMPTY);
    /* a better level arriving becomes the best */
    vx_book_add(b, VX_BUY, P(30), 1);
    CHECK(vx_book_best_bid(b, &price, &q) == VX_OK && price == P(30));
    CHECK(vx_book_verify_invariants(b, NULL) == VX_OK);
    /* level operations can cross the book; verify reports it */
    vx_book_set(b, VX_SELL, P(25), 1);
    const char *why = NULL;
    CHECK(vx_book_verify_invariants(b, &why) == VX_ESTATE && why != NULL);
    vx_book_destroy(b);
}

static void test_apply_matching(void) {
    vx_book *b = make_book(64);
    vx_apply_result r;
    vx_txn t;
    t = txn(VX_SELL, VX_NEW, P(20), 5);
    CHECK(vx_book_apply(b, &t, &r) == VX_OK && r.rested_qty == 5 && r.traded_qty == 0);
    t = txn(VX_SELL, VX_NEW, P(21), 5);
    CHECK(vx_book_apply(b, &t, &r) == VX_OK);
    t = txn(VX_SELL, VX_NEW, P(23), 5);
    CHECK(vx_book_apply(b, &t, &r) == VX_OK);
    t = txn(VX_BUY, VX_NEW, P(18), 4);
    CHECK(vx_book_apply(b, &t, &r) == VX_OK && r.rested_qty == 4);
    /* a buy at 21 for 12 takes 5 @20, 5 @21, stops before 23, rests 2 @21 */
    t = txn(VX_BUY, VX_NEW, P(21), 12);
    CHECK(vx_book_apply(b, &t, &r) == VX_OK);
    CHECK(r.traded_qty == 10 && r.rested_qty == 2 && r.levels_matched == 2);
    int64_t price;
    uint64_t q;
    CHECK(vx_book_best_bid(b, &price, &q) == VX_OK && price == P(21) && q == 2);
    CHECK(vx_book_best_ask(b, &price, &q) == VX_OK && price == P(23) && q == 5);
    /* a sell at 18 for 3 trades 2 @21 and 1 @18 */
    t = txn(VX_SELL, VX_NEW, P(18), 3);
    CHECK(vx_book_apply(b, &t, &r) == VX_OK && r.traded_qty == 3 && r.rested_qty == 0);
    CHECK(level_qty(b, VX_BUY, P(18)) == 3);
    /* cancel */
    t = txn(VX_BUY, VX_CANCEL, P(18), 4);
    CHECK(vx_book_apply(b, &t, &r) == VX_ERANGE && r.reason == VX_REJECT_UNDERFLOW);
    CHECK(level_qty(b, VX_BUY, P(18)) == 3);
    t = txn(VX_BUY, VX_CANCEL, P(18), 3);
    CHECK(vx_book_apply(b, &t, &r) == VX_OK && r.cancelled_qty == 3);
    CHECK(vx_book_best_bid(b, &price, &q) == VX_EMPTY);
    /* rejections */
    t = txn(VX_BUY, VX_NEW, P(64), 1);
    CHECK(vx_book_apply(b, &t, &r) == VX_ERANGE && r.reason == VX_REJECT_OUT_OF_WINDOW);
    t = txn(VX_BUY, VX_NEW, P(3) + 7, 1);
    CHECK(vx_book_apply(b, &t, &r) == VX_EINVAL && r.reason == VX_REJECT_OFF_GRID);
    t = txn(VX_BUY, VX_NEW, P(3), 0);
    CHECK(vx_book_apply(b, &t, &r) == VX_EINVAL && r.reason == VX_REJECT_INVALID);
    t = txn(3, VX_NEW, P(3), 1);
    CHECK(vx_book_apply(b, &t, &r) == VX_EINVAL && r.reason == VX_REJECT_INVALID);
    t = txn(VX_BUY, 9, P(3), 1);
    CHECK(vx_book_apply(b, &t, &r) == VX_EINVAL && r.reason == VX_REJECT_INVALID);
    vx_book_counters c;
    vx_book_counters_read(b, &c);
    CHECK(c.applied == 7 && c.rejected == 6 && c.traded_qty == 13 && c.out_of_window == 1);
    CHECK(vx_book_verify_invariants(b, NULL) == VX_OK);
    vx_book_destroy(b);
}

static void test_apply_many(void) {
    vx_book *b = make_book(64);
    vx_txn batch[5] = {txn(VX_SELL, VX_NEW, P(10), 4), txn(VX_BUY, VX_NEW, P(99), 1),
                       txn(VX_BUY, VX_NEW, P(10), 6), txn(VX_BUY, VX_CANCEL, P(10), 5),
                       txn(VX_BUY, VX_CANCEL, P(10), 2)};
    vx_apply_batch_result r;
    vx_book_apply_many(b, batch, 5, &r);
    /* out of window, and a cancel of 5 where 2 rest, are rejected; the rest apply */
    CHECK(r.applied == 3 && r.rejected == 2 && r.traded_qty == 4 && r.cas_timeouts == 0);
    CHECK(level_qty(b, VX_BUY, P(10)) == 0);
    vx_book_apply_many(b, batch, 0, &r);
    CHECK(r.applied == 0 && r.rejected == 0);
    vx_book_destroy(b);
}

static void test_recenter(void) {
    vx_book *b = make_book(16);
    vx_book_set(b, VX_BUY, P(0), 1);
    vx_book_set(b, VX_BUY, P(2), 2);
    vx_book_set(b, VX_BUY, P(5), 3);
    vx_book_set(b, VX_SELL, P(14), 4);
    vx_book_set(b, VX_SELL, P(15), 5);
    vx_recenter_result r;
    CHECK(vx_book_recenter(b, P(3) + 1, &r) == VX_EINVAL);
    CHECK(vx_book_recenter(b, P((INT64_MAX - BASE) / TICK), &r) == VX_ERANGE); /* top overflows */
    CHECK(vx_book_base_price(b) == BASE);
    CHECK(vx_book_recenter(b, P(3), &r) == VX_OK); /* window now [3, 18] */
    CHECK(r.dropped_levels[VX_BUY] == 2 && r.dropped_qty[VX_BUY] == 3);
    CHECK(r.dropped_levels[VX_SELL] == 0 && r.dropped_qty[VX_SELL] == 0);
    CHECK(level_qty(b, VX_BUY, P(5)) == 3);
    CHECK(level_qty(b, VX_SELL, P(15)) == 5);
    CHECK(level_qty(b, VX_SELL, P(18)) == 0);
    uint64_t q;
    CHECK(vx_book_qty(b, VX_BUY, P(2), &q) == VX_ERANGE);
    int64_t price;
    CHECK(vx_book_best_bid(b, &price, NULL) == VX_OK && price == P(5));
    CHECK(vx_book_best_ask(b, &price, NULL) == VX_OK && price == P(14));
    CHECK(vx_book_recenter(b, P(-10), &r) == VX_OK); /* window [-10, 5]: asks fall off */
    CHECK(r.dropped_levels[VX_SELL] == 2 && r.dropped_qty[VX_SELL] == 9);
    CHECK(vx_book_best_ask(b, &price, NULL) == VX_EMPTY);
    CHECK(vx_book_best_bid(b, &price, NULL) == VX_OK && price == P(5));
    CHECK(vx_book_recenter(b, P(1000000), NULL) == VX_OK); /* far away: everything drops */
    CHECK(vx_book_best_bid(b, &price, NULL) == VX_EMPTY);
    CHECK(vx_book_verify_invariants(b, NULL) == VX_OK);
    vx_book_counters c;
    vx_book_counters_read(b, &c);
    CHECK(c.recenters == 3);
    vx_book_destroy(b);
}

/* ---- a random single-writer run against a plain-array model ---- */

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_random_against_model(void) {
    enum { N = 32 };
    vx_book *b = make_book(N);
    uint64_t model[2][N];
    memset(model, 0, sizeof model);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint64_t ops = vx_test_count(200000, 2000);
    for (uint64_t k = 0; k < ops; k++) {
        int side = (int)(xorshift(&seed) & 1);
        uint32_t i = (uint32_t)(xorshift(&seed) % N);
        uint64_t q = xorshift(&seed) % 4;
        switch (xorshift(&seed) % 3) {
        case 0:
            REQUIRE(vx_book_add(b, side, P(i), q) == VX_OK);
            model[side][i] += q;
            break;
        case 1:
            REQUIRE(vx_book_reduce(b, side, P(i), q) == (q > model[side][i] ? VX_ERANGE : VX_OK));
            if (q <= model[side][i]) model[side][i] -= q;
            break;
        default:
            REQUIRE(vx_book_set(b, side, P(i), q) == VX_OK);
            model[side][i] = q;
        }
        for (int s = 0; s < 2; s++) {
            int64_t want = -1;
            for (int j = 0; j < N; j++) {
                int idx = s == VX_BUY ? N - 1 - j : j;
                if (model[s][idx]) {
                    want = P(idx);
                    break;
                }
            }
            int64_t got = -1;
            vx_book_best(b, s, &got, NULL);
            REQUIRE(got == want);
        }
        REQUIRE(level_qty(b, side, P(i)) == model[side][i]);
    }
    vx_book_destroy(b);
}

/* ---- concurrency: many writers, one reader ---- */

enum { WRITERS = 4, SHARED = 6, OWN_SET = 2, STACK = 5 };
/* Bids live on levels [100, 100+SHARED), asks on [120, 120+SHARED). Each writer also owns
 * OWN_SET levels per side for set(): bids below 100, asks above 200. The book is never crossed. */
#define BID_LEVEL(k) (100 + (k))
#define ASK_LEVEL(k) (120 + (k))
#define OWN_LEVEL(side, w, k) (((side) == VX_BUY ? 20 : 200) + (w) * OWN_SET + (k))

typedef struct writer_arg {
    vx_book *book;
    int id;
    uint64_t ops;
    uint64_t expected[2][SHARED];    /* this writer's outstanding quantity per shared level */
    uint64_t last_set[2][OWN_SET];   /* last value this writer set on its own levels */
    uint64_t failures;
} writer_arg;

typedef struct reader_arg {
    vx_book *book;
    atomic_int *stop;
    _Atomic int started; /* vx_test_started after the first poll */
    uint64_t polls;
    uint64_t failures;
} reader_arg;

static void *writer_main(void *p) {
    writer_arg *a = p;
    vx_test_pin(a->id + 1);
    uint64_t seed = 0x1234567ull * (uint64_t)(a->id + 1) + 99;
    struct { int side, level; uint64_t qty; } stack[STACK];
    int depth = 0;
    for (uint64_t k = 0; k < a->ops; k++) {
        uint64_t r = xorshift(&seed);
        if ((r & 15) == 0) { /* set on an owned level */
            int side = (int)((r >> 4) & 1), slot = (int)((r >> 5) % OWN_SET);
            uint64_t q = (r >> 8) % 3; /* often 0: exercises emptying */
            if (vx_book_set(a->book, side, P(OWN_LEVEL(side, a->id, slot)), q) == VX_OK) a->last_set[side][slot] = q;
            else a->failures++;
        } else if (depth < STACK && ((r >> 4) & 1)) { /* add */
            int side = (int)((r >> 5) & 1), k2 = (int)((r >> 6) % SHARED);
            uint64_t q = 1 + (r >> 12) % 3;
            int level = side == VX_BUY ? BID_LEVEL(k2) : ASK_LEVEL(k2);
            vx_status st = vx_book_add(a->book, side, P(level), q);
            if (st == VX_OK) {
                stack[depth].side = side;
                stack[depth].level = k2;
                stack[depth].qty = q;
                depth++;
                a->expected[side][k2] += q;
            } else if (st != VX_TIMEOUT) {
                a->failures++;
            }
        } else if (depth > 0) { /* reduce something this writer added: never underflows */
            depth--;
            int side = stack[depth].side, k2 = stack[depth].level;
            int level = side == VX_BUY ? BID_LEVEL(k2) : ASK_LEVEL(k2);
            vx_status st = vx_book_reduce(a->book, side, P(level), stack[depth].qty);
            if (st == VX_OK) a->expected[side][k2] -= stack[depth].qty;
            else if (st == VX_TIMEOUT) depth++; /* not applied: still outstanding */
            else a->failures++;
        }
    }
    return NULL;
}

static void *reader_main(void *p) {
    reader_arg *a = p;
    vx_test_pin(0);
    int64_t prices[SHARED + 8];
    uint64_t qtys[SHARED + 8];
    /* relaxed: a stop flag; the joins order everything else */
    while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
        int64_t bid = 0, ask = 0;
        uint64_t bq = 0, aq = 0;
        vx_status sb = vx_book_best_bid(a->book, &bid, &bq);
        vx_status sa = vx_book_best_ask(a->book, &ask, &aq);
        if (sb == VX_OK && (bq == 0 || bid >= P(ASK_LEVEL(0)))) a->failures++;
        if (sa == VX_OK && (aq == 0 || ask < P(ASK_LEVEL(0)))) a->failures++;
        if (sb == VX_OK && sa == VX_OK && bid >= ask) a->failures++; /* every bid level < every ask level */
        size_t n = vx_book_depth(a->book, VX_SELL, SHARED + 8, prices, qtys);
        for (size_t i = 0; i < n; i++) {
            if (qtys[i] == 0 || (i && prices[i] <= prices[i - 1])) a->failures++;
        }
        a->polls++;
        if (a->polls == 1) vx_test_started(&a->started);
    }
    return NULL;
}

static void test_concurrent_writers_conserve(void) {
    vx_book *b = make_book(1024);
    static writer_arg w[WRITERS];
    memset(w, 0, sizeof w);
    atomic_int stop;
    atomic_init(&stop, 0);
    reader_arg r = {.book = b, .stop = &stop, .polls = 0, .failures = 0};
    pthread_t wt[WRITERS], rt;
    atomic_init(&r.started, 0);
    REQUIRE(pthread_create(&rt, NULL, reader_main, &r) == 0);
    REQUIRE(vx_test_wait_started(&r.started, 60));
    for (int i = 0; i < WRITERS; i++) {
        w[i].book = b;
        w[i].id = i;
        w[i].ops = vx_test_count(400000, 4000);
        REQUIRE(pthread_create(&wt[i], NULL, writer_main, &w[i]) == 0);
    }
    for (int i = 0; i < WRITERS; i++) pthread_join(wt[i], NULL);
    atomic_store_explicit(&stop, 1, memory_order_relaxed); /* relaxed: see reader_main */
    pthread_join(rt, NULL);

    for (int i = 0; i < WRITERS; i++) CHECK(w[i].failures == 0);
    CHECK(r.failures == 0);
    CHECK(r.polls > 0);
    uint64_t total = 0;
    for (int side = 0; side < 2; side++) {
        for (int k = 0; k < SHARED; k++) {
            uint64_t want = 0;
            for (int i = 0; i < WRITERS; i++) want += w[i].expected[side][k];
            int level = side == VX_BUY ? BID_LEVEL(k) : ASK_LEVEL(k);
            uint64_t got = level_qty(b, side, P(level));
            CHECK(got == want);
            total += got;
        }
        for (int i = 0; i < WRITERS; i++)
            for (int k = 0; k < OWN_SET; k++)
                CHECK(level_qty(b, side, P(OWN_LEVEL(side, i, k))) == w[i].last_set[side][k]);
    }
    vx_book_counters c;
    vx_book_counters_read(b, &c);
    /* Hints are exact at quiescence unless a settle gave up (then counted, and parked high). */
    const char *why = NULL;
    vx_status ladder = vx_book_verify_invariants(b, &why);
    if (ladder != VX_OK && why) fprintf(stderr, "     invariant: %s\n", why);
    CHECK(ladder == VX_OK || (c.cas_timeouts > 0 && why && strstr(why, "hint")));
    printf("     total=%llu polls=%llu cas_retries=%llu cas_timeouts=%llu\n",
           (unsigned long long)total, (unsigned long long)r.polls,
           (unsigned long long)c.cas_retries, (unsigned long long)c.cas_timeouts);
    vx_book_destroy(b);
}

/* Writers hammer the emptiness transitions of adjacent levels at the top of the bid side:
 * after every round the hint must be exact. */
typedef struct flip_arg {
    vx_book *book;
    int id;
    uint64_t rounds;
    uint64_t failures;
} flip_arg;

static void *flip_main(void *p) {
    flip_arg *a = p;
    vx_test_pin(a->id);
    for (uint64_t k = 0; k < a->rounds; k++) {
        int64_t price = P(500 + a->id);
        if (vx_book_add(a->book, VX_BUY, price, 1) != VX_OK) a->failures++;
        if (vx_book_reduce(a->book, VX_BUY, price, 1) != VX_OK) a->failures++;
    }
    /* leave one lot on every other writer's level */
    if (a->id % 2 && vx_book_add(a->book, VX_BUY, P(500 + a->id), 1) != VX_OK) a->failures++;
    return NULL;
}

static void test_concurrent_best_settles_exactly(void) {
    for (int trial = 0; trial < 4; trial++) {
        vx_book *b = make_book(1024);
        vx_book_set(b, VX_BUY, P(400), 7); /* a floor below the contested levels */
        flip_arg a[WRITERS];
        pthread_t t[WRITERS];
        for (int i = 0; i < WRITERS; i++) {
            a[i] = (flip_arg){.book = b, .id = i, .rounds = vx_test_count(100000, 1000), .failures = 0};
            REQUIRE(pthread_create(&t[i], NULL, flip_main, &a[i]) == 0);
        }
        for (int i = 0; i < WRITERS; i++) pthread_join(t[i], NULL);
        for (int i = 0; i < WRITERS; i++) CHECK(a[i].failures == 0);
        int64_t price;
        uint64_t q;
        CHECK(vx_book_best_bid(b, &price, &q) == VX_OK && price == P(500 + WRITERS - 1) && q == 1);
        vx_book_counters c;
        vx_book_counters_read(b, &c);
        CHECK(vx_book_verify_invariants(b, NULL) == VX_OK || c.cas_timeouts > 0);
        vx_book_destroy(b);
    }
}

int main(void) {
    RUN(test_backoff);
    RUN(test_create_arguments);
    RUN(test_locate);
    RUN(test_locate_matches_division);
    RUN(test_set_many_matches_set);
    RUN(test_level_operations);
    RUN(test_best_and_depth);
    RUN(test_apply_matching);
    RUN(test_apply_many);
    RUN(test_recenter);
    RUN(test_random_against_model);
    RUN(test_concurrent_writers_conserve);
    RUN(test_concurrent_best_settles_exactly);
    return CHECK_SUMMARY("test_orderbook");
}
