/* test_mbo.c — the market-by-order book: actions, unknown orders and seeding, the hash index
 * under churn (backward-shift deletion), out-of-window orders across recenters, reserve, the
 * multi-instrument set, hostile events, and a writer/reader stress test (run under TSan by
 * `make check`): a reader polls best/depth/order/queue_position while the writer applies a
 * generated stream, and every answer must be one the writer could have published. */
#include "check.h"
#include "velox/mbo.h"
#include "velox/prng.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define TICK 1000000LL     /* 0.01 */
#define BASE 10000000000LL /* 100.00 */
#define P(i) (BASE + (int64_t)(i) * TICK)

static vx_mbo ev(int action, int side, uint64_t id, int64_t price, uint32_t qty) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    e.action = (uint8_t)action;
    e.side = (uint8_t)side;
    e.order_id = id;
    e.price = price;
    e.qty = qty;
    return e;
}

static vx_mbo_book *make(uint32_t levels, uint32_t max_orders) {
    vx_mbo_book *b = NULL;
    REQUIRE(vx_mbo_create(levels, TICK, BASE, max_orders, UINT32_MAX, &b) == VX_OK && b);
    return b;
}

static vx_status apply(vx_mbo_book *b, vx_mbo e) { return vx_mbo_apply(b, &e, NULL); }

static uint64_t qty_at(const vx_mbo_book *b, int side, int64_t price) {
    uint64_t q = 12345;
    REQUIRE(vx_mbo_qty(b, side, price, &q) == VX_OK);
    return q;
}

static void verify(const vx_mbo_book *b) {
    const char *why = NULL;
    vx_status st = vx_mbo_verify_invariants(b, &why);
    if (st != VX_OK) fprintf(stderr, "invariant: %s\n", why);
    CHECK(st == VX_OK);
}

static void test_create_arguments(void) {
    vx_mbo_book *b = NULL;
    CHECK(vx_mbo_create(1000, TICK, BASE, 16, UINT32_MAX, &b) == VX_EINVAL);
    CHECK(vx_mbo_create(1024, 0, BASE, 16, UINT32_MAX, &b) == VX_EINVAL);
    CHECK(vx_mbo_create(1024, TICK, BASE, 0, UINT32_MAX, &b) == VX_EINVAL);
    CHECK(vx_mbo_create(1024, TICK, BASE, VX_MBO_MAX_ORDERS + 1u, UINT32_MAX, &b) == VX_EINVAL);
    CHECK(vx_mbo_create(1024, TICK, INT64_MAX - 10, 16, UINT32_MAX, &b) == VX_EINVAL);
    CHECK(b == NULL);
    vx_mbo_set *s = NULL;
    CHECK(vx_mbo_set_create(0, 64, TICK, 16, &s) == VX_EINVAL);
    CHECK(vx_mbo_set_create(VX_MBO_MAX_INSTRUMENTS + 1u, 64, TICK, 16, &s) == VX_EINVAL);
    CHECK(s == NULL);
    b = make(64, 100);
    CHECK(vx_mbo_id_window_size(b) == 256); /* the default: the power of two >= 2 x capacity */
    CHECK(vx_mbo_id_window(b, 8) == VX_EINVAL);
    CHECK(vx_mbo_id_window(b, 24) == VX_EINVAL);
    CHECK(vx_mbo_id_window(b, (uint64_t)VX_MBO_MAX_WINDOW * 2) == VX_EINVAL);
    CHECK(vx_mbo_id_window_size(b) == 256);
    CHECK(vx_mbo_id_window(b, 0) == VX_OK && vx_mbo_id_window_size(b) == 0);
    CHECK(vx_mbo_id_window(b, VX_MBO_MIN_WINDOW) == VX_OK && vx_mbo_id_window_size(b) == 16);
    vx_mbo_destroy(b);
}

/* Changing the id window re-indexes every live order into an emptied hash index: orders that
 * were in the index (ids outside the window) and now fall inside the new window leave it. */
static void test_id_window_change_reindexes(void) {
    vx_mbo_book *b = make(64, 100);
    REQUIRE(vx_mbo_id_window(b, 0) == VX_OK); /* every id in the hash index */
    for (uint64_t id = 1; id <= 40; id++)
        CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, id * 3, P(10), 1)) == VX_OK);
    verify(b);
    REQUIRE(vx_mbo_id_window(b, 256) == VX_OK); /* now the window covers them all */
    verify(b);
    for (uint64_t id = 1; id <= 40; id += 2)
        CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, id * 3, 0, 0)) == VX_OK);
    verify(b);
    CHECK(qty_at(b, VX_BUY, P(10)) == 20);
    vx_mbo_destroy(b);
}

static void test_fifo_and_queue_position(void) {
    vx_mbo_book *b = make(64, 16);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 1, P(10), 10)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 2, P(10), 20)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 3, P(10), 30)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 4, P(11), 5)) == VX_OK);
    uint64_t ahead = 99;
    CHECK(vx_mbo_queue_position(b, 3, &ahead) == VX_OK && ahead == 30);
    CHECK(apply(b, ev(VX_MBO_CANCEL, VX_BUY, 2, 0, 15)) == VX_OK); /* keeps its place */
    CHECK(vx_mbo_queue_position(b, 3, &ahead) == VX_OK && ahead == 15);
    CHECK(apply(b, ev(VX_MBO_EXECUTE, VX_BUY, 1, 0, 10)) == VX_OK); /* fully executed: leaves */
    CHECK(vx_mbo_queue_position(b, 3, &ahead) == VX_OK && ahead == 5);
    CHECK(vx_mbo_queue_position(b, 1, &ahead) == VX_EINVAL);
    CHECK(apply(b, ev(VX_MBO_CANCEL, VX_BUY, 2, 0, 6)) == VX_ERANGE); /* more than it has */
    CHECK(qty_at(b, VX_BUY, P(10)) == 35);
    int64_t price;
    uint64_t q;
    CHECK(vx_mbo_best(b, VX_BUY, &price, &q) == VX_OK && price == P(10) && q == 35);
    CHECK(vx_mbo_best(b, VX_SELL, &price, &q) == VX_OK && price == P(11) && q == 5);
    int64_t prices[4];
    uint64_t qtys[4];
    uint32_t counts[4];
    CHECK(vx_mbo_depth(b, VX_BUY, 4, prices, qtys, counts) == 1 && counts[0] == 2 && qtys[0] == 35);
    /* REPLACE: new id, back of the queue, old side kept */
    vx_mbo r = ev(VX_MBO_REPLACE, VX_SELL, 2, P(10), 7);
    r.ref = 9;
    CHECK(vx_mbo_apply(b, &r, NULL) == VX_OK);
    vx_mbo_order_info info;
    CHECK(vx_mbo_order(b, 2, &info) == VX_EINVAL);
    CHECK(vx_mbo_order(b, 9, &info) == VX_OK && info.side == VX_BUY && info.qty == 7 && info.in_window);
    CHECK(vx_mbo_queue_position(b, 9, &ahead) == VX_OK && ahead == 30);
    /* duplicates, zero qty, bad side, bad action: rejected, book unchanged */
    uint64_t d = vx_mbo_digest(b);
    vx_mbo_reject why;
    CHECK(vx_mbo_apply(b, &(vx_mbo){.action = VX_MBO_ADD, .order_id = 3, .price = P(1), .qty = 1}, &why) == VX_ESTATE &&
          why == VX_MBO_REJECT_DUPLICATE);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 50, P(1), 0)) == VX_EINVAL);
    CHECK(apply(b, ev(VX_MBO_ADD, 2, 50, P(1), 1)) == VX_EINVAL);
    CHECK(apply(b, ev(0, 0, 50, P(1), 1)) == VX_EINVAL);
    CHECK(apply(b, ev(200, 0, 50, P(1), 1)) == VX_EINVAL);
    CHECK(vx_mbo_apply(b, &(vx_mbo){.action = VX_MBO_ADD, .order_id = 51, .price = P(1) + 1, .qty = 1}, &why) == VX_EINVAL &&
          why == VX_MBO_REJECT_OFF_GRID);
    CHECK(vx_mbo_digest(b) == d);
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.rejected == 7 && c.rejected_by_reason[VX_MBO_REJECT_DUPLICATE] == 1 &&
          c.rejected_by_reason[VX_MBO_REJECT_INVALID] == 4 && c.rejected_by_reason[VX_MBO_REJECT_OFF_GRID] == 1 &&
          c.rejected_by_reason[VX_MBO_REJECT_EXCEEDS] == 1);
    CHECK(c.by_action[VX_MBO_ADD] == 4 && c.by_action[VX_MBO_REPLACE] == 1 && c.traded_qty == 10);
    verify(b);
    vx_mbo_destroy(b);
}

static void test_seeded_and_unknown(void) {
    vx_mbo_book *b = make(64, 16);
    CHECK(vx_mbo_seed_level(b, VX_SELL, P(20), 100) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 1, P(20), 10)) == VX_OK);
    uint64_t ahead;
    CHECK(vx_mbo_queue_position(b, 1, &ahead) == VX_OK && ahead == 100);
    CHECK(apply(b, ev(VX_MBO_EXECUTE, VX_SELL, 777, P(20), 30)) == VX_OK); /* unknown order */
    CHECK(qty_at(b, VX_SELL, P(20)) == 80);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 778, P(20), 500)) == VX_OK); /* clamps at 0 */
    CHECK(qty_at(b, VX_SELL, P(20)) == 10);
    CHECK(vx_mbo_queue_position(b, 1, &ahead) == VX_OK && ahead == 0);
    CHECK(apply(b, ev(VX_MBO_CANCEL, VX_SELL, 779, P(5000), 5)) == VX_OK); /* outside: nothing */
    CHECK(apply(b, ev(VX_MBO_CANCEL, VX_SELL, 779, P(20) + 3, 5)) == VX_OK); /* off grid: nothing */
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.unknown_orders == 4 && c.rejected == 0 && c.traded_qty == 30);
    CHECK(vx_mbo_seed_level(b, VX_SELL, P(64), 1) == VX_ERANGE);
    CHECK(vx_mbo_seed_level(b, VX_SELL, P(3) + 1, 1) == VX_EINVAL);
    CHECK(vx_mbo_seed_level(b, 2, P(3), 1) == VX_EINVAL);
    CHECK(vx_mbo_seed_level(b, VX_BUY, P(3), VX_MBO_MAX_SEED + 1) == VX_ERANGE);
    CHECK(vx_mbo_seed_level(b, VX_SELL, P(20), 0) == VX_OK);
    verify(b);
    vx_mbo_clear(b);
    CHECK(vx_mbo_live_orders(b) == 0 && vx_mbo_best(b, VX_SELL, NULL, NULL) == VX_EMPTY);
    verify(b);
    vx_mbo_destroy(b);
}

/* LEVEL (L2 data): the level shows qty lots; seeded lots make up what identified orders do
 * not hold; routed by instrument in a set, placing an unplaced book; off grid, bad side and
 * outside the window as mbo.h says. */
static void test_level_events(void) {
    vx_mbo_book *b = make(64, 16);
    CHECK(apply(b, ev(VX_MBO_LEVEL, VX_BUY, 0, P(10), 50)) == VX_OK);
    CHECK(qty_at(b, VX_BUY, P(10)) == 50);
    int64_t price;
    uint64_t q;
    CHECK(vx_mbo_best(b, VX_BUY, &price, &q) == VX_OK && price == P(10) && q == 50);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 1, P(10), 20)) == VX_OK); /* behind the 50 */
    CHECK(qty_at(b, VX_BUY, P(10)) == 70);
    CHECK(apply(b, ev(VX_MBO_LEVEL, VX_BUY, 0, P(10), 30)) == VX_OK); /* 20 identified + 10 */
    CHECK(qty_at(b, VX_BUY, P(10)) == 30);
    uint64_t ahead;
    CHECK(vx_mbo_queue_position(b, 1, &ahead) == VX_OK && ahead == 10);
    CHECK(apply(b, ev(VX_MBO_LEVEL, VX_BUY, 0, P(10), 5)) == VX_OK); /* less than order 1 */
    CHECK(qty_at(b, VX_BUY, P(10)) == 20);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 1, 0, 0)) == VX_OK);
    CHECK(vx_mbo_best(b, VX_BUY, NULL, NULL) == VX_EMPTY);
    CHECK(apply(b, ev(VX_MBO_LEVEL, VX_SELL, 0, P(12), 7)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_LEVEL, VX_SELL, 0, P(11), 3)) == VX_OK);
    CHECK(vx_mbo_best(b, VX_SELL, &price, &q) == VX_OK && price == P(11) && q == 3);
    CHECK(apply(b, ev(VX_MBO_LEVEL, VX_SELL, 0, P(11), 0)) == VX_OK); /* the level is gone */
    CHECK(vx_mbo_best(b, VX_SELL, &price, &q) == VX_OK && price == P(12) && q == 7);
    vx_mbo_reject why;
    vx_mbo e = ev(VX_MBO_LEVEL, VX_SIDE_NONE, 0, P(12), 1);
    CHECK(vx_mbo_apply(b, &e, &why) == VX_EINVAL && why == VX_MBO_REJECT_INVALID);
    e = ev(VX_MBO_LEVEL, VX_SELL, 0, P(12) + 1, 1);
    CHECK(vx_mbo_apply(b, &e, &why) == VX_EINVAL && why == VX_MBO_REJECT_OFF_GRID);
    CHECK(apply(b, ev(VX_MBO_LEVEL, VX_SELL, 0, P(64), 9)) == VX_OK); /* outside: not kept */
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.dropped_seeded_qty == 9 && c.by_action[VX_MBO_LEVEL] == 7 && c.rejected == 2);
    CHECK(qty_at(b, VX_SELL, P(12)) == 7);
    verify(b);
    vx_mbo_destroy(b);

    vx_mbo_set *s = NULL;
    REQUIRE(vx_mbo_set_create(2, 64, TICK, 8, &s) == VX_OK);
    vx_mbo_book *b1 = vx_mbo_set_book(s, 1);
    e = ev(VX_MBO_LEVEL, VX_BUY, 0, P(500), 0);
    e.instrument = 1;
    CHECK(vx_mbo_set_apply(s, &e, NULL) == VX_OK && !vx_mbo_placed(b1)); /* 0: stays unplaced */
    e.qty = 4;
    CHECK(vx_mbo_set_apply(s, &e, NULL) == VX_OK && vx_mbo_placed(b1));
    CHECK(vx_mbo_base(b1) == P(500) - 32 * TICK && qty_at(b1, VX_BUY, P(500)) == 4);
    CHECK(!vx_mbo_placed(vx_mbo_set_book(s, 0)));
    verify(b1);
    vx_mbo_set_destroy(s);
}

/* The hash index under churn: random and sequential ids, adds and deletes interleaved, every
 * live id found, every deleted one gone (backward-shift deletion must not lose entries). */
static void test_index_churn(void) {
    enum { CAP = 1024, ROUNDS = 40000 };
    vx_mbo_book *b = make(256, CAP);
    static uint64_t ids[CAP];
    uint32_t live = 0;
    vx_prng rng;
    vx_prng_seed(&rng, 7);
    uint64_t next_seq_id = 1;
    for (uint32_t round = 0; round < ROUNDS; round++) {
        bool add = live == 0 || (live < CAP && vx_prng_below(&rng, 2));
        if (add) {
            uint64_t id = (round & 1) ? next_seq_id++ : (vx_prng_next(&rng) | 1ull << 63);
            int side = (int)(id & 1);
            REQUIRE(apply(b, ev(VX_MBO_ADD, side, id, P(vx_prng_below(&rng, 256)), 1 + (uint32_t)(id % 7))) == VX_OK);
            ids[live++] = id;
        } else {
            uint32_t k = vx_prng_below(&rng, live);
            REQUIRE(apply(b, ev(VX_MBO_DELETE, 0, ids[k], 0, 0)) == VX_OK);
            vx_mbo_order_info info;
            REQUIRE(vx_mbo_order(b, ids[k], &info) == VX_EINVAL);
            ids[k] = ids[--live];
        }
        if (round % 4096 == 0) {
            for (uint32_t i = 0; i < live; i++) {
                vx_mbo_order_info info;
                REQUIRE(vx_mbo_order(b, ids[i], &info) == VX_OK && info.order_id == ids[i]);
            }
            verify(b);
        }
    }
    CHECK(vx_mbo_live_orders(b) == live);
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.unknown_orders == 0 && c.rejected == 0);
    /* full table */
    while (live < CAP) {
        REQUIRE(apply(b, ev(VX_MBO_ADD, 0, next_seq_id, P(1), 1)) == VX_OK);
        ids[live++] = next_seq_id++;
    }
    vx_mbo_reject why;
    vx_mbo full = ev(VX_MBO_ADD, 0, next_seq_id, P(1), 1);
    CHECK(vx_mbo_apply(b, &full, &why) == VX_FULL && why == VX_MBO_REJECT_FULL);
    /* reserve keeps every order and makes room */
    uint64_t d = vx_mbo_digest(b);
    CHECK(vx_mbo_reserve(b, CAP * 4) == VX_OK && vx_mbo_capacity(b) == CAP * 4);
    CHECK(vx_mbo_digest(b) == d);
    CHECK(vx_mbo_apply(b, &full, NULL) == VX_OK);
    for (uint32_t i = 0; i < live; i++) {
        vx_mbo_order_info info;
        REQUIRE(vx_mbo_order(b, ids[i], &info) == VX_OK);
    }
    CHECK(vx_mbo_reserve(b, VX_MBO_MAX_ORDERS + 1u) == VX_EINVAL);
    verify(b);
    vx_mbo_destroy(b);
}

static void test_out_of_window_and_recenter(void) {
    vx_mbo_book *b = make(16, 64);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 1, P(20), 5)) == VX_OK); /* outside */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 2, P(20), 6)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 3, P(2), 7)) == VX_OK);   /* inside */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 4, P(2), 8)) == VX_OK);
    CHECK(vx_mbo_seed_level(b, VX_BUY, P(2), 100) == VX_OK);
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.out_of_window_orders == 2);
    uint64_t ahead;
    CHECK(vx_mbo_queue_position(b, 2, &ahead) == VX_ERANGE);
    CHECK(vx_mbo_best(b, VX_SELL, NULL, NULL) == VX_EMPTY);
    CHECK(vx_mbo_recenter(b, P(10)) == VX_OK); /* 20 enters, 2 leaves */
    CHECK(vx_mbo_queue_position(b, 2, &ahead) == VX_OK && ahead == 5);
    CHECK(vx_mbo_queue_position(b, 4, &ahead) == VX_ERANGE);
    vx_mbo_counters_read(b, &c);
    CHECK(c.out_of_window_orders == 2 && c.dropped_seeded_qty == 100 && c.recenters == 1);
    verify(b);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 5, P(2), 9)) == VX_OK); /* joins 3, 4 outside */
    CHECK(vx_mbo_recenter(b, P(0)) == VX_OK);
    CHECK(vx_mbo_queue_position(b, 5, &ahead) == VX_OK && ahead == 15); /* time priority kept */
    CHECK(vx_mbo_queue_position(b, 4, &ahead) == VX_OK && ahead == 7);
    CHECK(qty_at(b, VX_BUY, P(2)) == 24);
    CHECK(vx_mbo_recenter(b, P(0) + 1) == VX_EINVAL);
    CHECK(vx_mbo_recenter(b, BASE + ((INT64_MAX - BASE) / TICK - 5) * TICK) == VX_ERANGE);
    CHECK(vx_mbo_recenter(b, P(-100000)) == VX_OK); /* everything leaves */
    vx_mbo_counters_read(b, &c);
    CHECK(c.out_of_window_orders == 5 && vx_mbo_live_orders(b) == 5);
    verify(b);
    CHECK(vx_mbo_recenter(b, P(0)) == VX_OK);
    CHECK(vx_mbo_queue_position(b, 5, &ahead) == VX_OK && ahead == 15);
    verify(b);
    vx_mbo_destroy(b);
}

static void test_set_routing(void) {
    vx_mbo_set *s = NULL;
    REQUIRE(vx_mbo_set_create(3, 64, TICK, 32, &s) == VX_OK);
    vx_mbo_book *b0 = vx_mbo_set_book(s, 0), *b2 = vx_mbo_set_book(s, 2);
    CHECK(vx_mbo_set_book(s, 3) == NULL);
    vx_mbo e = ev(VX_MBO_ADD, VX_BUY, 10, P(500), 4);
    e.instrument = 2;
    CHECK(vx_mbo_set_apply(s, &e, NULL) == VX_OK); /* places book 2's window around P(500) */
    CHECK(vx_mbo_base(b2) == P(500) - 32 * TICK);
    int64_t price;
    CHECK(vx_mbo_best(b2, VX_BUY, &price, NULL) == VX_OK && price == P(500));
    CHECK(vx_mbo_best(b0, VX_BUY, NULL, NULL) == VX_EMPTY);
    vx_mbo_order_info info;
    CHECK(vx_mbo_order(b2, 10, &info) == VX_OK && vx_mbo_order(b0, 10, &info) == VX_EINVAL);
    /* an event about a known order goes to the order's book whatever its instrument says */
    vx_mbo d = ev(VX_MBO_CANCEL, VX_BUY, 10, 0, 1);
    d.instrument = 0;
    CHECK(vx_mbo_set_apply(s, &d, NULL) == VX_OK && qty_at(b2, VX_BUY, P(500)) == 3);
    e.instrument = 3;
    vx_mbo_reject why;
    CHECK(vx_mbo_set_apply(s, &e, &why) == VX_EINVAL && why == VX_MBO_REJECT_INSTRUMENT);
    e.instrument = 0;
    CHECK(vx_mbo_set_apply(s, &e, &why) == VX_ESTATE && why == VX_MBO_REJECT_DUPLICATE); /* ids are global */
    e.order_id = 11;
    CHECK(vx_mbo_set_apply(s, &e, NULL) == VX_OK);
    vx_mbo clr = ev(VX_MBO_CLEAR, VX_SIDE_NONE, 0, 0, 0);
    clr.instrument = 2;
    CHECK(vx_mbo_set_apply(s, &clr, NULL) == VX_OK);
    CHECK(vx_mbo_live_orders(b0) == 1 && vx_mbo_order(b0, 11, &info) == VX_OK);
    CHECK(vx_mbo_best(b2, VX_BUY, NULL, NULL) == VX_EMPTY);
    /* a book of a set only accepts its own instrument through vx_mbo_apply */
    e.order_id = 12;
    CHECK(vx_mbo_apply(b2, &e, &why) == VX_EINVAL && why == VX_MBO_REJECT_INSTRUMENT);
    e.instrument = 2;
    CHECK(vx_mbo_apply(b2, &e, NULL) == VX_OK);
    vx_mbo_destroy(b2); /* no-op: the set owns it */
    verify(b0);
    verify(b2);
    vx_mbo_set_destroy(s);
}

/* Hostile events: every byte pattern is either applied or rejected, never a crash, and the
 * book stays consistent. */
static void test_random_bytes(void) {
    vx_mbo_book *b = make(32, 64);
    vx_prng rng;
    vx_prng_seed(&rng, 99);
    uint64_t n = vx_test_count(200000, 5000);
    for (uint64_t i = 0; i < n; i++) {
        vx_mbo e;
        uint64_t *w = (uint64_t *)&e;
        for (size_t k = 0; k < sizeof e / 8; k++) w[k] = vx_prng_next(&rng);
        /* bias towards plausible values so deep paths run too */
        e.action = (uint8_t)(e.action % 12);
        e.side = (uint8_t)(e.side % 4);
        e.order_id %= 96;
        e.ref %= 96;
        e.price = P((int64_t)(vx_prng_below(&rng, 48)) - 8) + (vx_prng_below(&rng, 8) == 0);
        e.qty %= 9;
        vx_mbo_apply(b, &e, NULL);
        if ((i & 1023) == 0 && vx_prng_below(&rng, 4) == 0)
            vx_mbo_recenter(b, P((int64_t)vx_prng_below(&rng, 16) - 8));
        if ((i & 63) == 0) { /* following, on whatever the bytes made of the book */
            uint64_t work = 0, budget = vx_prng_below(&rng, 200);
            uint32_t moved = vx_mbo_follow(b, budget, &work);
            CHECK(moved <= 1 && (budget == 0 ? work == 0 : work <= budget + 2 * 32 + 64));
        }
    }
    verify(b);
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    uint64_t by = 0;
    for (int a = 0; a <= VX_MBO_ACTION_MAX; a++) by += c.by_action[a];
    uint64_t rj = 0;
    for (int r = 0; r < VX_MBO_REJECT_COUNT; r++) rj += c.rejected_by_reason[r];
    CHECK(c.applied + c.rejected == n && by == c.applied && rj == c.rejected);
    vx_mbo_destroy(b);
}

/* Following the market: a budget visits books one at a time and leaves the rest marked; a
 * move that would put the top level past INT64_MAX is not made (no wrap, no crash); a
 * centred market stays. */
static void test_follow_budget_and_int64_edge(void) {
    vx_mbo_set *set = NULL;
    REQUIRE(vx_mbo_set_create(4, 16, 1, 64, &set) == VX_OK);
    CHECK(!vx_mbo_set_follow_pending(set));
    for (uint32_t i = 0; i < 4; i++) {
        vx_mbo e = ev(VX_MBO_ADD, VX_BUY, 1 + i, 1000, 5);
        e.instrument = i;
        CHECK(vx_mbo_set_apply(set, &e, NULL) == VX_OK); /* places book i: 1000 at level 8 */
        e = ev(VX_MBO_ADD, VX_BUY, 10 + i, 5000, 5);      /* a bid far above: beyond */
        e.instrument = i;
        CHECK(vx_mbo_set_apply(set, &e, NULL) == VX_OK);
    }
    CHECK(vx_mbo_set_follow_pending(set));
    uint64_t work = 0;
    /* one book: 2 x levels + its 2 orders moved, + 1 outside order scanned for an ask (the
     * ask side has no level, so its market could rest outside) */
    CHECK(vx_mbo_set_follow(set, 1, &work) == 1 && work == 2 * 16 + 2 + 1);
    CHECK(vx_mbo_set_follow_pending(set));
    CHECK(vx_mbo_set_follow(set, UINT64_MAX, &work) == 3 && !vx_mbo_set_follow_pending(set));
    for (uint32_t i = 0; i < 4; i++) {
        const vx_mbo_book *b = vx_mbo_set_reader(set, i);
        int64_t px = 0;
        CHECK(vx_mbo_best(b, VX_BUY, &px, NULL) == VX_OK && px == 5000);
        CHECK(vx_mbo_base(b) == 5000 - 8);
        verify(b);
    }
    vx_mbo_set_destroy(set);

    vx_mbo_book *b = NULL;
    REQUIRE(vx_mbo_create(16, 1, INT64_MAX - 15, 64, UINT32_MAX, &b) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 1, INT64_MAX - 14, 1)) == VX_OK);  /* level 1 */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 2, INT64_MAX, 1)) == VX_OK);      /* level 15 */
    CHECK(vx_mbo_follow_pending(b));
    CHECK(vx_mbo_follow(b, UINT64_MAX, NULL) == 0 && vx_mbo_base(b) == INT64_MAX - 15); /* centred */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 3, INT64_MAX - 1, 1)) == VX_OK);   /* level 14 */
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 1, 0, 0)) == VX_OK);
    CHECK(vx_mbo_follow(b, UINT64_MAX, NULL) == 0 && vx_mbo_base(b) == INT64_MAX - 15); /* would wrap */
    verify(b);
    vx_mbo_destroy(b);
}

/* Many orders beyond the window (the market jumped): the book tracks the most extreme one;
 * once that one is deleted, follow() must still find the others and bring them into view
 * (the window holds them all), and again when the window followed the extreme order far
 * away and it left: the side's best then rests outside, behind the window. */
static void test_follow_many_outside(void) {
    vx_mbo_book *b = NULL;
    REQUIRE(vx_mbo_create(64, 1, 0, 256, UINT32_MAX, &b) == VX_OK); /* window [0, 63] */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 1, 30, 5)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 2, 33, 5)) == VX_OK);
    CHECK(vx_mbo_follow(b, UINT64_MAX, NULL) == 0 && vx_mbo_base(b) == 0); /* centred */
    for (uint64_t i = 0; i < 20; i++) /* bids 200..219: above the window */
        CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 100 + i, 200 + (int64_t)i, 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 300, 230, 1)) == VX_OK); /* an ask above them */
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 119, 0, 0)) == VX_OK); /* the tracked extreme */
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 2, 0, 0)) == VX_OK); /* bid 1 at 30 stays */
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.out_of_window_orders == 20);
    CHECK(vx_mbo_follow(b, UINT64_MAX, NULL) == 1);
    vx_mbo_counters_read(b, &c);
    /* mid (218 + 230) / 2 = 224 at level 32: [192, 255]; only the stale bid at 30 is out */
    CHECK(c.out_of_window_orders == 1);
    int64_t px = 0;
    CHECK(vx_mbo_best(b, VX_BUY, &px, NULL) == VX_OK && px == 218);
    CHECK(vx_mbo_best(b, VX_SELL, &px, NULL) == VX_OK && px == 230);
    verify(b);
    /* one bid far above: the window follows it; it leaves; the bids now rest below the window */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 500, 5000, 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 501, 5002, 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 300, 0, 0)) == VX_OK);
    CHECK(vx_mbo_follow(b, UINT64_MAX, NULL) == 1 && vx_mbo_base(b) == 5001 - 32);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 500, 0, 0)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 501, 0, 0)) == VX_OK);
    vx_mbo_counters_read(b, &c);
    CHECK(c.out_of_window_orders == 20 && vx_mbo_best(b, VX_BUY, NULL, NULL) == VX_EMPTY);
    CHECK(vx_mbo_follow_pending(b));
    CHECK(vx_mbo_follow(b, UINT64_MAX, NULL) == 1);
    vx_mbo_counters_read(b, &c);
    CHECK(c.out_of_window_orders == 1); /* [186, 249]: the bid at 30 stays below */
    CHECK(vx_mbo_best(b, VX_BUY, &px, NULL) == VX_OK && px == 218);
    verify(b);
    vx_mbo_destroy(b);
}

/* ---- writer / reader stress ------------------------------------------------------------- */

enum { SL = 256 }; /* levels: bids in [SL/4, SL/2), asks in [SL/2, 3SL/4): never crosses */

static int side_of(uint64_t id) { return (int)(id & 1); }
static uint32_t max_qty_of(uint64_t id) { return 1 + (uint32_t)(id % 100); }
static int64_t price_of(uint64_t id) {
    uint32_t k = (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 58) % (SL / 4); /* 0..63 */
    return P(side_of(id) ? SL / 2 + k : SL / 4 + k);
}

typedef struct {
    vx_mbo *events;
    size_t n;
    uint64_t max_id;
} stream;

/* A stream keeping ~target orders live; every order's side, price, qty bound and ts are
 * functions of its id, so a reader can tell a real version from a torn or recycled one. */
static stream make_stream(size_t n, uint32_t target, uint64_t seed) {
    stream s = {malloc(n * sizeof(vx_mbo)), n, 0};
    uint64_t *live = malloc((size_t)target * 2 * sizeof(uint64_t));
    uint32_t *left = malloc((size_t)target * 2 * sizeof(uint32_t));
    REQUIRE(s.events && live && left);
    uint32_t nlive = 0;
    uint64_t next = 1;
    vx_prng rng;
    vx_prng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        vx_mbo *e = &s.events[i];
        memset(e, 0, sizeof *e);
        if (nlive < target / 2 || (nlive < target * 2 - 1 && vx_prng_below(&rng, 2))) {
            uint64_t id = next++;
            *e = ev(VX_MBO_ADD, side_of(id), id, price_of(id), max_qty_of(id));
            e->ts = id * 7;
            live[nlive] = id;
            left[nlive++] = max_qty_of(id);
            continue;
        }
        uint32_t k = vx_prng_below(&rng, nlive);
        uint64_t id = live[k];
        uint32_t roll = vx_prng_below(&rng, 10);
        if (roll < 4 || (roll < 8 && left[k] == 1)) {
            *e = ev(VX_MBO_DELETE, side_of(id), id, 0, 0);
            live[k] = live[--nlive];
            left[k] = left[nlive];
        } else if (roll < 8) {
            uint32_t q = 1 + vx_prng_below(&rng, left[k] - 1);
            *e = ev(roll < 6 ? VX_MBO_CANCEL : VX_MBO_EXECUTE, side_of(id), id, 0, q);
            left[k] -= q;
        } else {
            uint64_t nid = next++;
            if (side_of(nid) != side_of(id)) nid = next++;
            *e = ev(VX_MBO_REPLACE, side_of(id), id, price_of(nid), max_qty_of(nid));
            e->ref = nid;
            e->ts = nid * 7;
            live[k] = nid;
            left[k] = max_qty_of(nid);
        }
    }
    s.max_id = next;
    free(live);
    free(left);
    return s;
}

typedef struct {
    vx_mbo_book *book;
    uint64_t max_id;
    _Atomic uint64_t recent_id; /* the newest id the writer has applied (relaxed: a hint) */
    _Atomic int done;
    _Atomic int started; /* vx_test_started after the first poll */
    uint64_t polls, found, timeouts;
} reader_arg;

static void *reader_main(void *p) {
    reader_arg *r = p;
    vx_prng rng;
    vx_prng_seed(&rng, 5);
    int64_t prices[8];
    uint64_t qtys[8];
    uint32_t counts[8];
    /* acquire: pairs with the writer's release store of done */
    while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
        r->polls++;
        int64_t bid, ask;
        uint64_t bq, aq;
        vx_status sb = vx_mbo_best(r->book, VX_BUY, &bid, &bq);
        vx_status sa = vx_mbo_best(r->book, VX_SELL, &ask, &aq);
        if (sb == VX_OK) REQUIRE(bq > 0 && bid >= P(SL / 4) && bid < P(SL / 2));
        if (sa == VX_OK) REQUIRE(aq > 0 && ask >= P(SL / 2) && ask < P(3 * SL / 4));
        if (sb == VX_OK && sa == VX_OK) REQUIRE(bid < ask);
        for (int side = 0; side < 2; side++) {
            size_t got = vx_mbo_depth(r->book, side, 8, prices, qtys, counts);
            for (size_t i = 0; i < got; i++) {
                REQUIRE(qtys[i] > 0);
                if (i) REQUIRE(side == VX_BUY ? prices[i] < prices[i - 1] : prices[i] > prices[i - 1]);
            }
        }
        /* mostly recent ids (likely live), sometimes any id */
        uint64_t recent = atomic_load_explicit(&r->recent_id, memory_order_relaxed); /* a hint */
        uint64_t id = vx_prng_below(&rng, 4) && recent > 4000 ? recent - vx_prng_below(&rng, 4000)
                                                              : 1 + vx_prng_below(&rng, (uint32_t)r->max_id);
        vx_mbo_order_info info;
        vx_status so = vx_mbo_order(r->book, id, &info);
        if (so == VX_OK) {
            r->found++;
            REQUIRE(info.order_id == id && info.side == side_of(id) && info.price == price_of(id));
            REQUIRE(info.qty >= 1 && info.qty <= max_qty_of(id) && info.ts == id * 7 && info.in_window);
        } else if (so == VX_TIMEOUT) {
            r->timeouts++;
        } else {
            REQUIRE(so == VX_EINVAL);
        }
        uint64_t ahead;
        vx_status sq = vx_mbo_queue_position(r->book, id, &ahead);
        /* at most every live order ahead, each < 101 lots */
        if (sq == VX_OK) REQUIRE(ahead <= (uint64_t)vx_mbo_capacity(r->book) * 100);
        else REQUIRE(sq == VX_EINVAL || sq == VX_TIMEOUT);
        if (r->polls == 1) vx_test_started(&r->started);
    }
    return NULL;
}

#define DEFAULT_WINDOW UINT64_MAX /* writer_reader_stress: keep the book's default id window */

/* window_ids: the direct id window (0 = none; 64 slides it every few ADDs under the reader). */
static void writer_reader_stress(uint64_t window_ids) {
    size_t n = (size_t)vx_test_count(window_ids == 0 ? 1000000 : 2000000, 20000);
    stream s = make_stream(n, 2000, 11);
    vx_mbo_book *b = make(SL, 8192);
    if (window_ids != DEFAULT_WINDOW) REQUIRE(vx_mbo_id_window(b, window_ids) == VX_OK);
    reader_arg r = {.book = b, .max_id = s.max_id};
    atomic_init(&r.done, 0);
    atomic_init(&r.started, 0);
    atomic_init(&r.recent_id, 0);
    pthread_t rt;
    REQUIRE(pthread_create(&rt, NULL, reader_main, &r) == 0);
    REQUIRE(vx_test_wait_started(&r.started, 60));
    uint64_t applied = 0, rejected = 0;
    for (size_t off = 0; off < n; off += 4096) { /* in batches, like apply_many callers */
        size_t k = n - off < 4096 ? n - off : 4096;
        uint64_t a, j;
        vx_mbo_apply_many(b, s.events + off, k, &a, &j);
        applied += a;
        rejected += j;
        const vx_mbo *last = &s.events[off + k - 1];
        uint64_t newest = last->ref > last->order_id ? last->ref : last->order_id;
        atomic_store_explicit(&r.recent_id, newest, memory_order_relaxed); /* a hint for the reader */
    }
    /* release: pairs with the reader's acquire load of done */
    atomic_store_explicit(&r.done, 1, memory_order_release);
    REQUIRE(pthread_join(rt, NULL) == 0);
    CHECK(applied == n && rejected == 0);
    verify(b);
    printf("     stress (id window %llu): %zu events, reader %llu polls, %llu orders found, %llu "
           "timeouts\n", (unsigned long long)vx_mbo_id_window_size(b), n,
           (unsigned long long)r.polls, (unsigned long long)r.found, (unsigned long long)r.timeouts);
    CHECK(r.polls > 0);
    /* determinism: the same stream in another book gives the same digest */
    vx_mbo_book *b2 = make(SL, 8192);
    vx_mbo_apply_many(b2, s.events, n, NULL, NULL);
    CHECK(vx_mbo_digest(b2) == vx_mbo_digest(b));
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.unknown_orders == 0 && c.out_of_window_orders == 0);
    vx_mbo_destroy(b2);
    vx_mbo_destroy(b);
    free(s.events);
}

/* apply_many over a table too big for the caches runs its prefetch stages (mbo.c: "batch
 * prefetch", from PF_MIN_BYTES = 4 MiB of live slots: 87,382 orders): the batches must apply
 * exactly what per-event calls do, for a book and for a set (events spread over 3
 * instruments). */
static void test_prefetched_batches_match_per_event(void) {
    size_t n = (size_t)vx_test_count(600000, 300000);
    stream s = make_stream(n, 200000, 23); /* 100,000 ADDs, then about as many live */
    vx_mbo_book *one = make(SL, 1u << 19), *many = make(SL, 1u << 19);
    for (size_t i = 0; i < n; i++) CHECK(vx_mbo_apply(one, &s.events[i], NULL) == VX_OK);
    uint64_t applied = 0, a, r;
    for (size_t off = 0; off < n; off += 1000) { /* batch edges inside the stages' reach */
        size_t k = n - off < 1000 ? n - off : 1000;
        vx_mbo_apply_many(many, s.events + off, k, &a, &r);
        applied += a;
        CHECK(r == 0);
    }
    CHECK(applied == n && vx_mbo_live_orders(many) > 87382);
    CHECK(vx_mbo_digest(many) == vx_mbo_digest(one));
    vx_mbo_counters c1, c2;
    vx_mbo_counters_read(one, &c1);
    vx_mbo_counters_read(many, &c2);
    CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
    verify(many);
    vx_mbo_destroy(one);
    vx_mbo_destroy(many);

    for (size_t i = 0; i < n; i++) s.events[i].instrument = (uint32_t)(s.events[i].order_id % 3);
    for (size_t i = 0; i < n; i++) /* a REPLACE's new order rests in the old one's book */
        if (s.events[i].action == VX_MBO_REPLACE) s.events[i].instrument = (uint32_t)(s.events[i].ref % 3);
    vx_mbo_set *sone = NULL, *smany = NULL;
    REQUIRE(vx_mbo_set_create(3, SL, TICK, 1u << 19, &sone) == VX_OK);
    REQUIRE(vx_mbo_set_create(3, SL, TICK, 1u << 19, &smany) == VX_OK);
    for (size_t i = 0; i < n; i++) CHECK(vx_mbo_set_apply(sone, &s.events[i], NULL) == VX_OK);
    applied = 0;
    for (size_t off = 0; off < n; off += 1000) {
        size_t k = n - off < 1000 ? n - off : 1000;
        vx_mbo_set_apply_many(smany, s.events + off, k, &a, &r);
        applied += a;
        CHECK(r == 0);
    }
    CHECK(applied == n);
    for (uint32_t k = 0; k < 3; k++) {
        vx_mbo_book *x = vx_mbo_set_book(sone, k), *y = vx_mbo_set_book(smany, k);
        CHECK(vx_mbo_digest(x) == vx_mbo_digest(y));
        verify(y);
    }
    CHECK(vx_mbo_live_orders(vx_mbo_set_book(smany, 0)) > 87382);
    vx_mbo_set_destroy(sone);
    vx_mbo_set_destroy(smany);
    free(s.events);
}

static void test_writer_reader_stress(void) {
    writer_reader_stress(DEFAULT_WINDOW); /* 2 x capacity */
    writer_reader_stress(0); /* no window: every id through the hash index */
    writer_reader_stress(64);
}

/* The id window slides under a reader: increasing ids, every 2nd kept for good (an anchor), the
 * rest deleted 8 ADDs later; a window of 256 ids slides every 64 ADDs and moves the 32 or so
 * anchors it passes to the hash index. The reader looks up anchors in the range the next
 * slide moves (and the last one moved): live for good, so it must never be told one is
 * unknown (a slide is bracketed like an erase: a probe overlapping it retries). */
enum { SLIDE_WINDOW = 256 };

typedef struct {
    vx_mbo_book *book;
    _Atomic uint64_t newest_anchor; /* release by the writer after the anchor's ADD */
    _Atomic int done;
    _Atomic int started;
    uint64_t found, timeouts, misses;
} slide_reader;

static void *slide_reader_main(void *p) {
    slide_reader *r = p;
    uint64_t k = 0;
    /* acquire: pairs with the writer's release store of done */
    while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
        /* acquire: pairs with the writer's release store after the anchor's ADD */
        uint64_t newest = atomic_load_explicit(&r->newest_anchor, memory_order_acquire);
        uint64_t back = SLIDE_WINDOW - 2 * (k++ % (SLIDE_WINDOW / 2)); /* even: anchors */
        uint64_t id = newest > back ? newest - back : newest;
        vx_mbo_order_info info;
        vx_status so = vx_mbo_order(r->book, id, &info);
        if (so == VX_OK) {
            r->found++;
            if (info.order_id != id || info.qty != 1) r->misses++;
        } else if (so == VX_TIMEOUT) {
            r->timeouts++;
        } else {
            r->misses++; /* a live anchor reported unknown */
        }
        if (k == 1) vx_test_started(&r->started);
    }
    return NULL;
}

static void test_reader_never_misses_an_order_the_window_slides_past(void) {
    const uint64_t rounds = (uint64_t)vx_test_count(400000, 40000);
    vx_mbo_book *b = make(SL, (uint32_t)(rounds / 2 + 64));
    REQUIRE(vx_mbo_id_window(b, SLIDE_WINDOW) == VX_OK);
    slide_reader r = {.book = b};
    atomic_init(&r.newest_anchor, 0);
    atomic_init(&r.done, 0);
    atomic_init(&r.started, 0);
    REQUIRE(apply(b, ev(VX_MBO_ADD, VX_BUY, 2, P(SL / 4), 1)) == VX_OK); /* the first anchor */
    atomic_store_explicit(&r.newest_anchor, 2, memory_order_release); /* pairs with the reader */
    pthread_t rt;
    REQUIRE(pthread_create(&rt, NULL, slide_reader_main, &r) == 0);
    REQUIRE(vx_test_wait_started(&r.started, 60));
    for (uint64_t id = 3; id < 3 + rounds; id++) {
        REQUIRE(apply(b, ev(VX_MBO_ADD, VX_BUY, id, P(SL / 4), 1)) == VX_OK);
        if (id % 2 == 0) atomic_store_explicit(&r.newest_anchor, id, memory_order_release); /* pairs with the reader */
        if (id >= 11 && (id - 8) % 2 != 0) REQUIRE(apply(b, ev(VX_MBO_DELETE, VX_BUY, id - 8, 0, 0)) == VX_OK);
    }
    /* release: pairs with the reader's acquire load of done */
    atomic_store_explicit(&r.done, 1, memory_order_release);
    REQUIRE(pthread_join(rt, NULL) == 0);
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    printf("     slides: %llu, reader %llu found, %llu timeouts, %llu misses\n",
           (unsigned long long)c.id_window_slides, (unsigned long long)r.found,
           (unsigned long long)r.timeouts, (unsigned long long)r.misses);
    CHECK(r.misses == 0);
    CHECK(r.found > 0);
    CHECK(c.id_window_slides > rounds / 128 && c.id_hash_lookups > 0 && c.id_window_hits > 0);
    verify(b);
    vx_mbo_destroy(b);
}

/* Robin Hood inserts and erases move other orders' index entries. A reader looking up an
 * order that stays live the whole time must never be told it is unknown (VX_EINVAL): a probe
 * that overlapped a shift has to retry (erase_seq), not answer. Anchors fill one 16-entry
 * block of a small index; churn ids whose run hashes to the same block (found by the formula
 * of hash_id in mbo.c, mirrored here) are added and deleted ahead of them, shifting every
 * anchor one place on and back again on each add and delete. */
typedef struct {
    vx_mbo_book *book;
    uint64_t first_anchor;
    _Atomic int done;
    _Atomic int started; /* vx_test_started after the first lookup */
    _Atomic uint64_t polls; /* relaxed: a progress count the writer watches */
    uint64_t found, timeouts, misses;
} anchor_reader;

static void *anchor_reader_main(void *p) {
    anchor_reader *r = p;
    uint64_t k = 0;
    /* acquire: pairs with the writer's release store of done */
    while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
        uint64_t id = r->first_anchor + (k++ & 15), ahead;
        vx_mbo_order_info info;
        vx_status so = vx_mbo_order(r->book, id, &info);
        if (so == VX_OK) {
            r->found++;
            if (info.order_id != id || info.qty != 1) r->misses++;
        } else if (so == VX_TIMEOUT) {
            r->timeouts++;
        } else {
            r->misses++; /* a live order reported unknown */
        }
        vx_status sq = vx_mbo_queue_position(r->book, id, &ahead);
        if (sq != VX_OK && sq != VX_TIMEOUT) r->misses++;
        if (k == 1) vx_test_started(&r->started);
        /* relaxed: progress only; the results are read after the join */
        atomic_fetch_add_explicit(&r->polls, 1, memory_order_relaxed);
    }
    return NULL;
}

#define KNOWN_MUL UINT64_C(0x9E3779B97F4A7C15)

/* Mirrors hash_id's home for multiplier m and an index of 2^bits entries (bits > 4): the top
 * bits - 4 bits of run * m, times 16. */
static uint64_t block_of_run_bits(uint64_t run, uint64_t m, uint32_t bits) {
    return ((run * m) >> (64 - (bits - 4))) << 4;
}
static uint32_t block_of_run(uint64_t run, uint64_t mask) {
    return (uint32_t)block_of_run_bits(run, KNOWN_MUL, 7) & (uint32_t)mask;
}

static void test_reader_never_misses_a_shifted_order(void) {
    vx_mbo_book *b = make(SL, 64); /* index of 128 entries: 8 blocks of 16 */
    REQUIRE(vx_mbo_id_window(b, 0) == VX_OK); /* every id through the index */
    REQUIRE(vx_mbo_index_reseed(b, KNOWN_MUL) == VX_OK); /* a known layout */
    const uint64_t mask = 127, r1 = 1;
    uint64_t r2 = r1 + 1;
    while (block_of_run(r2, mask) != block_of_run(r1, mask)) r2++; /* bounded: 1 in 8 match */
    for (uint64_t k = 0; k < 16; k++) REQUIRE(apply(b, ev(VX_MBO_ADD, VX_BUY, r1 * 16 + k, P(SL / 4), 1)) == VX_OK);
    anchor_reader r = {.book = b, .first_anchor = r1 * 16};
    atomic_init(&r.polls, 0);
    atomic_init(&r.done, 0);
    atomic_init(&r.started, 0);
    pthread_t rt;
    REQUIRE(pthread_create(&rt, NULL, anchor_reader_main, &r) == 0);
    REQUIRE(vx_test_wait_started(&r.started, 60));
    const size_t rounds = (size_t)vx_test_count(200000, 20000);
    for (size_t i = 0; i < rounds; i++) { /* add then delete churn ids homed before the anchors */
        uint64_t id = r2 * 16 + (i & 7);
        REQUIRE(apply(b, ev(VX_MBO_ADD, VX_SELL, id, P(SL / 2), 1)) == VX_OK);
        REQUIRE(apply(b, ev(VX_MBO_DELETE, VX_SELL, id, P(SL / 2), 1)) == VX_OK);
    }
    /* release: pairs with the reader's acquire load of done */
    atomic_store_explicit(&r.done, 1, memory_order_release);
    REQUIRE(pthread_join(rt, NULL) == 0);
    printf("     anchors: %zu add+delete rounds, %llu found, %llu timeouts, %llu misses\n", rounds,
           (unsigned long long)r.found, (unsigned long long)r.timeouts, (unsigned long long)r.misses);
    CHECK(r.misses == 0);
    CHECK(r.found > 0);
    CHECK(vx_mbo_live_orders(b) == 16);
    verify(b);
    vx_mbo_destroy(b);
}

/* A feed that does not say the side (ITCH E/C/X/D/U: VX_SIDE_NONE): a known order uses its own
 * side; an unknown one reduces no seeded lot, and its REPLACE adds nothing (counted). */
static void test_side_none(void) {
    vx_mbo_book *b = make(64, 16);
    CHECK(vx_mbo_seed_level(b, VX_BUY, P(20), 100) == VX_OK);
    CHECK(vx_mbo_seed_level(b, VX_SELL, P(21), 100) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SIDE_NONE, 1, P(21), 10)) == VX_EINVAL); /* ADD needs one */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 1, P(21), 10)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_EXECUTE, VX_SIDE_NONE, 1, 0, 4)) == VX_OK);    /* known: its side */
    CHECK(qty_at(b, VX_SELL, P(21)) == 106);
    CHECK(apply(b, ev(VX_MBO_EXECUTE, VX_SIDE_NONE, 777, P(20), 30)) == VX_OK); /* unknown */
    CHECK(apply(b, ev(VX_MBO_CANCEL, VX_SIDE_NONE, 778, P(21), 30)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_SIDE_NONE, 779, P(20), 30)) == VX_OK);
    CHECK(qty_at(b, VX_BUY, P(20)) == 100 && qty_at(b, VX_SELL, P(21)) == 106);
    vx_mbo u = ev(VX_MBO_REPLACE, VX_SIDE_NONE, 7, P(22), 300);            /* unknown: not added */
    u.ref = 8;
    CHECK(apply(b, u) == VX_OK);
    vx_mbo_order_info info;
    CHECK(vx_mbo_order(b, 8, &info) == VX_EINVAL && vx_mbo_live_orders(b) == 1);
    CHECK(vx_mbo_best(b, VX_BUY, NULL, NULL) == VX_OK);
    int64_t px;
    CHECK(vx_mbo_best(b, VX_BUY, &px, NULL) == VX_OK && px == P(20));
    u = ev(VX_MBO_REPLACE, VX_SIDE_NONE, 1, P(23), 5);                     /* known: its side */
    u.ref = 9;
    CHECK(apply(b, u) == VX_OK);
    CHECK(vx_mbo_order(b, 9, &info) == VX_OK && info.side == VX_SELL && info.price == P(23));
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    CHECK(c.unknown_orders == 4 && c.rejected == 1 && c.traded_qty == 34);
    verify(b);
    vx_mbo_destroy(b);
}

/* Ids chosen, for a known multiplier, so that every run of 16 homes in block 0 of the index
 * (the attack a fixed public hash allows: the multiply is invertible). The ADD that lands past
 * VX_MBO_PROBE_LIMIT rebuilds the index with a fresh multiplier: probes end up short, every
 * order is found, and the book is the one a book with another layout builds. */
static uint64_t mul_inverse(uint64_t m) { /* m odd: Newton's iteration mod 2^64 */
    uint64_t x = m;
    for (int i = 0; i < 6; i++) x *= 2 - m * x; /* bounded */
    return x;
}

static void test_crafted_ids_rehash(void) {
    enum { CAP = 4096, RUNS = 160 }; /* index 2^13 entries; 2,560 orders all homed in block 0 */
    vx_mbo_book *b = make(256, CAP), *other = make(256, CAP);
    REQUIRE(vx_mbo_index_reseed(b, KNOWN_MUL) == VX_OK);
    vx_mbo_counters c;
    vx_mbo_counters_read(b, &c);
    const uint64_t reseeds = c.index_rehashes; /* the reseed above is a rebuild too */
    const uint64_t inv = mul_inverse(KNOWN_MUL);
    uint64_t t = 1;
    uint32_t placed = 0;
    static uint64_t ids[RUNS * 16];
    while (placed < RUNS * 16) { /* bounded: 1 in 16 t gives a run below 2^60 */
        uint64_t run = t++ * inv;
        if (run >> 60) continue;
        REQUIRE(block_of_run_bits(run, KNOWN_MUL, 13) == 0);
        for (uint64_t k = 0; k < 16; k++) {
            uint64_t id = run << 4 | k;
            vx_mbo e = ev(VX_MBO_ADD, (int)(k & 1), id, P(100 + (k & 1) * 10 + (int64_t)(placed % 7)), 1 + (uint32_t)k);
            REQUIRE(vx_mbo_apply(b, &e, NULL) == VX_OK);
            REQUIRE(vx_mbo_apply(other, &e, NULL) == VX_OK);
            ids[placed++] = id;
        }
    }
    vx_mbo_counters_read(b, &c);
    const uint64_t automatic = c.index_rehashes - reseeds, distance = vx_mbo_index_max_distance(b);
    CHECK(automatic >= 1);                      /* the crafted ADDs made it rebuild */
    /* The rebuild's multiplier is random and these ids are an arithmetic progression, which a
     * multiplier can still cluster (the other book's random one: up to 224 seen); a rebuild
     * may come again only (index size) / 8 inserts later, so the bound is not the probe
     * limit itself. Without the rebuild all 2,560 orders home in one block: >= 2,000. */
    CHECK(distance <= 2 * VX_MBO_PROBE_LIMIT);
    /* 16 anchors, added last (so a rebuild, which re-inserts in slot order, leaves them out
     * of the index longest): a reader must never be told one is unknown while the index is
     * rebuilt under it */
    const uint64_t anchor = UINT64_C(1) << 61;
    for (uint64_t k = 0; k < 16; k++) {
        vx_mbo e = ev(VX_MBO_ADD, VX_BUY, anchor + k, P(50), 1);
        REQUIRE(vx_mbo_apply(b, &e, NULL) == VX_OK && vx_mbo_apply(other, &e, NULL) == VX_OK);
    }
    anchor_reader r = {.book = b, .first_anchor = anchor};
    atomic_init(&r.polls, 0);
    atomic_init(&r.done, 0);
    atomic_init(&r.started, 0);
    pthread_t rt;
    REQUIRE(pthread_create(&rt, NULL, anchor_reader_main, &r) == 0);
    REQUIRE(vx_test_wait_started(&r.started, 60));
    /* rebuilds until the reader made 20,000 lookups meanwhile (bounded: 200,000 rebuilds) */
    const uint64_t polls = atomic_load_explicit(&r.polls, memory_order_relaxed); /* progress only */
    const uint64_t want = (uint64_t)vx_test_count(20000, 2000);
    for (uint64_t k = 0; k < 200000 && atomic_load_explicit(&r.polls, memory_order_relaxed) - polls < want; k++) {
        uint64_t m = (k + 1) * UINT64_C(0xBF58476D1CE4E5B9);
        REQUIRE(vx_mbo_index_reseed(b, m ^ (m >> 31)) == VX_OK);
    }
    /* release: pairs with the reader's acquire load of done */
    atomic_store_explicit(&r.done, 1, memory_order_release);
    REQUIRE(pthread_join(rt, NULL) == 0);
    CHECK(r.misses == 0 && r.found > 0);
    vx_mbo_counters_read(b, &c);
    printf("     crafted ids: %u orders, %llu automatic rebuilds, max distance %llu (other book "
           "%llu); %llu rebuilds under a reader: %llu found, %llu misses\n", placed,
           (unsigned long long)automatic, (unsigned long long)distance,
           (unsigned long long)vx_mbo_index_max_distance(other),
           (unsigned long long)(c.index_rehashes - reseeds - automatic), (unsigned long long)r.found,
           (unsigned long long)r.misses);
    CHECK(vx_mbo_digest(b) == vx_mbo_digest(other));
    for (uint32_t i = 0; i < placed; i++) {
        vx_mbo_order_info info;
        REQUIRE(vx_mbo_order(b, ids[i], &info) == VX_OK && info.order_id == ids[i]);
    }
    for (uint32_t i = 0; i < placed; i += 2) {
        vx_mbo e = ev(VX_MBO_DELETE, 0, ids[i], 0, 0);
        REQUIRE(vx_mbo_apply(b, &e, NULL) == VX_OK && vx_mbo_apply(other, &e, NULL) == VX_OK);
    }
    CHECK(vx_mbo_digest(b) == vx_mbo_digest(other));
    CHECK(vx_mbo_live_orders(b) == placed / 2 + 16);
    verify(b);
    verify(other);
    vx_mbo_destroy(other);
    vx_mbo_destroy(b);
}

/* ---- the next best level (the writer's rankmap, velox/rankmap.h) ---- */

/* The best price of a side, or INT64_MIN when the side is empty. */
static int64_t best_px(const vx_mbo_book *b, int side) {
    int64_t px = INT64_MIN;
    return vx_mbo_best(b, side, &px, NULL) == VX_OK ? px : INT64_MIN;
}

/* Levels emptying far below the best, on a large ladder: the best empties and the next one
 * lies tens of thousands of ranks down, across every tier of the rankmap, down to rank 1
 * (bid index 0, ask index levels - 1: bit 0) and from rank `levels` (bid index levels - 1,
 * ask index 0: the last bit). verify() compares the rankmap with every level and the hints
 * with a walk of the quantities. */
static void test_next_best_across_gaps(void) {
    static const uint32_t ladders[] = {1u << 16, VX_MBO_MAX_LEVELS};
    for (size_t k = 0; k < sizeof ladders / sizeof ladders[0]; k++) {
        uint32_t n = ladders[k];
        vx_mbo_book *b = make(n, 64);
        /* bids at indices 0, 1, 64, 4095, 4096, n - 1; asks mirrored (ask rank = n - index) */
        static const uint32_t at[] = {0, 1, 64, 4095, 4096};
        uint64_t id = 1;
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
            REQUIRE(apply(b, ev(VX_MBO_ADD, VX_BUY, id++, P(at[i]), 1)) == VX_OK);
            REQUIRE(apply(b, ev(VX_MBO_ADD, VX_SELL, id++, P(n - 1 - at[i]), 1)) == VX_OK);
        }
        REQUIRE(apply(b, ev(VX_MBO_ADD, VX_BUY, 100, P(n - 1), 1)) == VX_OK);  /* top rank */
        REQUIRE(apply(b, ev(VX_MBO_ADD, VX_SELL, 101, P(0), 1)) == VX_OK);     /* top rank */
        CHECK(best_px(b, VX_BUY) == P(n - 1) && best_px(b, VX_SELL) == P(0));
        verify(b);
        /* the top empties: the next best is thousands of ranks below (all of tier 2 at 2^20) */
        CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 100, 0, 0)) == VX_OK);
        CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 101, 0, 0)) == VX_OK);
        CHECK(best_px(b, VX_BUY) == P(4096) && best_px(b, VX_SELL) == P(n - 1 - 4096));
        verify(b);
        /* then down through the word and tier-1 boundaries to bit 0 */
        for (size_t i = sizeof at / sizeof at[0]; i-- > 1;) {
            CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 1 + 2 * i, 0, 0)) == VX_OK);
            CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 2 + 2 * i, 0, 0)) == VX_OK);
            CHECK(best_px(b, VX_BUY) == P(at[i - 1]) && best_px(b, VX_SELL) == P(n - 1 - at[i - 1]));
            verify(b);
        }
        /* a level below the best fills and empties: the best stays */
        CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 1, 0, 0)) == VX_OK);
        CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 2, 0, 0)) == VX_OK);
        CHECK(best_px(b, VX_BUY) == INT64_MIN && best_px(b, VX_SELL) == INT64_MIN);
        verify(b);
        CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 200, P(n / 2), 1)) == VX_OK);
        CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 201, P(0), 1)) == VX_OK);
        CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 201, 0, 0)) == VX_OK);
        CHECK(best_px(b, VX_BUY) == P(n / 2));
        CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 200, 0, 0)) == VX_OK);
        CHECK(best_px(b, VX_BUY) == INT64_MIN);
        verify(b);
        vx_mbo_destroy(b);
    }
}

/* The smallest ladder: two levels per side, so rank 1 and rank 2 are bits 0 and 1 of one word. */
static void test_next_best_two_levels(void) {
    vx_mbo_book *b = make(2, 16);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 1, P(0), 3)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 2, P(1), 4)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 3, P(0), 5)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 4, P(1), 6)) == VX_OK);
    CHECK(best_px(b, VX_BUY) == P(1) && best_px(b, VX_SELL) == P(0));
    verify(b);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 2, 0, 0)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 3, 0, 0)) == VX_OK);
    CHECK(best_px(b, VX_BUY) == P(0) && best_px(b, VX_SELL) == P(1));
    verify(b);
    CHECK(vx_mbo_seed_level(b, VX_BUY, P(1), 7) == VX_OK); /* seeded lots fill a level too */
    CHECK(best_px(b, VX_BUY) == P(1));
    verify(b);
    CHECK(vx_mbo_seed_level(b, VX_BUY, P(1), 0) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_CANCEL, VX_BUY, 1, P(0), 3)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_EXECUTE, VX_SELL, 4, P(1), 6)) == VX_OK);
    CHECK(best_px(b, VX_BUY) == INT64_MIN && best_px(b, VX_SELL) == INT64_MIN);
    verify(b);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 5, P(1), 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_CLEAR, VX_SIDE_NONE, 0, 0, 0)) == VX_OK); /* clear empties the map */
    verify(b);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 6, P(1), 1)) == VX_OK);
    CHECK(best_px(b, VX_SELL) == P(1));
    verify(b);
    vx_mbo_destroy(b);
}

/* Recenter moves the levels wholesale (and brings orders in from outside): the rankmap is
 * rebuilt, so the best that empties next finds the right level below it. */
static void test_next_best_after_recenter(void) {
    vx_mbo_book *b = make(256, 64);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 1, P(10), 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 2, P(200), 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 3, P(300), 1)) == VX_OK);  /* outside, above */
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 4, P(250), 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 5, P(-50), 1)) == VX_OK); /* outside, below */
    CHECK(best_px(b, VX_BUY) == P(200) && best_px(b, VX_SELL) == P(250));
    CHECK(vx_mbo_recenter(b, P(100)) == VX_OK); /* 10 leaves, 300 enters; bids shift down */
    verify(b);
    CHECK(best_px(b, VX_BUY) == P(300) && best_px(b, VX_SELL) == P(250));
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 3, 0, 0)) == VX_OK);
    CHECK(best_px(b, VX_BUY) == P(200));
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 2, 0, 0)) == VX_OK);
    CHECK(best_px(b, VX_BUY) == INT64_MIN); /* 10 is outside the window now */
    verify(b);
    CHECK(vx_mbo_recenter(b, P(-100)) == VX_OK); /* 10 and -50 come back, 250 leaves */
    verify(b);
    CHECK(best_px(b, VX_BUY) == P(10) && best_px(b, VX_SELL) == P(-50));
    CHECK(apply(b, ev(VX_MBO_ADD, VX_SELL, 6, P(-90), 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_SELL, 5, 0, 0)) == VX_OK);
    CHECK(best_px(b, VX_SELL) == P(-90));
    CHECK(apply(b, ev(VX_MBO_ADD, VX_BUY, 7, P(-99), 1)) == VX_OK);
    CHECK(apply(b, ev(VX_MBO_DELETE, VX_BUY, 1, 0, 0)) == VX_OK);
    CHECK(best_px(b, VX_BUY) == P(-99));
    verify(b);
    vx_mbo_destroy(b);
}

/* A sparse ladder under random churn that mostly removes the best (the next-best search on
 * every such event), with recenters and seeded lots: the best of each side equals a model's
 * after every event, and verify() holds every 256 events. Also a set's books (one block of
 * rankmaps for all of them). */
static void test_next_best_random_sparse(void) {
    enum { LEVELS = 1u << 14, IDS = 512 };
    vx_mbo_book *b = make(LEVELS, IDS);
    vx_prng rng;
    vx_prng_seed(&rng, 22);
    static int64_t px_of[IDS];
    static int side_of[IDS];
    static bool live[IDS];
    int64_t base = BASE;
    uint64_t n = vx_test_count(60000, 3000), bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t id = vx_prng_below(&rng, IDS);
        if (!live[id]) {
            int side = (int)vx_prng_below(&rng, 2);
            uint32_t k = vx_prng_below(&rng, 4) == 0 ? vx_prng_below(&rng, 4) * (LEVELS / 4 - 1)
                                                     : vx_prng_below(&rng, LEVELS);
            px_of[id] = base + (int64_t)k * TICK;
            side_of[id] = side;
            live[id] = apply(b, ev(VX_MBO_ADD, side, id + 1, px_of[id], 1)) == VX_OK;
        } else {
            /* usually the side's best order instead of the drawn one */
            if (vx_prng_below(&rng, 4) != 0) {
                int side = side_of[id];
                for (uint32_t j = 0; j < IDS; j++) /* bounded */
                    if (live[j] && side_of[j] == side &&
                        (side == VX_BUY ? px_of[j] > px_of[id] : px_of[j] < px_of[id]))
                        id = j;
            }
            CHECK(apply(b, ev(VX_MBO_DELETE, side_of[id], id + 1, 0, 0)) == VX_OK);
            live[id] = false;
        }
        if ((i & 4095) == 4095) { /* a recenter by a random shift, orders leave and return */
            base += ((int64_t)vx_prng_below(&rng, LEVELS) - LEVELS / 2) * TICK;
            REQUIRE(vx_mbo_recenter(b, base) == VX_OK);
        }
        for (int side = 0; side < 2; side++) {
            int64_t want = INT64_MIN;
            for (uint32_t j = 0; j < IDS; j++) /* bounded */
                if (live[j] && side_of[j] == side && px_of[j] >= base &&
                    px_of[j] < base + (int64_t)LEVELS * TICK &&
                    (want == INT64_MIN || (side == VX_BUY ? px_of[j] > want : px_of[j] < want)))
                    want = px_of[j];
            bad += best_px(b, side) != want;
        }
        if ((i & 255) == 0) verify(b);
    }
    CHECK(bad == 0);
    verify(b);
    vx_mbo_destroy(b);

    vx_mbo_set *s = NULL;
    REQUIRE(vx_mbo_set_create(3, 4096, TICK, 64, &s) == VX_OK);
    for (uint32_t inst = 0; inst < 3; inst++) {
        vx_mbo e = ev(VX_MBO_ADD, VX_BUY, 10 + inst, P(0), 1);
        e.instrument = inst;
        REQUIRE(vx_mbo_set_apply(s, &e, NULL) == VX_OK); /* placed: P(0) at level 2048 */
        e = ev(VX_MBO_ADD, VX_BUY, 20 + inst, P(-2048), 1); /* level 0 */
        e.instrument = inst;
        REQUIRE(vx_mbo_set_apply(s, &e, NULL) == VX_OK);
    }
    vx_mbo e = ev(VX_MBO_DELETE, VX_BUY, 11, 0, 0);
    CHECK(vx_mbo_set_apply(s, &e, NULL) == VX_OK);
    for (uint32_t inst = 0; inst < 3; inst++) {
        CHECK(best_px(vx_mbo_set_reader(s, inst), VX_BUY) == (inst == 1 ? P(-2048) : P(0)));
        verify(vx_mbo_set_reader(s, inst));
    }
    vx_mbo_set_destroy(s);
}

int main(void) {
    RUN(test_create_arguments);
    RUN(test_id_window_change_reindexes);
    RUN(test_fifo_and_queue_position);
    RUN(test_prefetched_batches_match_per_event);
    RUN(test_seeded_and_unknown);
    RUN(test_level_events);
    RUN(test_side_none);
    RUN(test_index_churn);
    RUN(test_out_of_window_and_recenter);
    RUN(test_set_routing);
    RUN(test_random_bytes);
    RUN(test_follow_budget_and_int64_edge);
    RUN(test_follow_many_outside);
    RUN(test_writer_reader_stress);
    RUN(test_reader_never_misses_a_shifted_order);
    RUN(test_reader_never_misses_an_order_the_window_slides_past);
    RUN(test_crafted_ids_rehash);
    RUN(test_next_best_across_gaps);
    RUN(test_next_best_two_levels);
    RUN(test_next_best_after_recenter);
    RUN(test_next_best_random_sparse);
    return CHECK_SUMMARY("test_mbo");
}
