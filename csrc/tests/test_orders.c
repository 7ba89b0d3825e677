/* test_orders.c — vx_order / vx_exec layout and validation, and both records crossing
 * threads through an SPSC ring with every item validated and compared. */
#include "check.h"
#include "velox/orders.h"
#include "velox/ring.h"
#include "velox/tsc.h"

#include <pthread.h>
#include <string.h>

static vx_order good_order(void) {
    vx_order o;
    memset(&o, 0, sizeof o);
    o.ts = 1;
    o.order_id = 7;
    o.price = 100 * VX_PRICE_SCALE;
    o.qty = 5;
    o.instrument = 3;
    o.side = VX_SELL;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_GTC;
    o.action = VX_ORDER_NEW;
    return o;
}

static vx_exec good_exec(uint8_t kind) {
    vx_exec e;
    memset(&e, 0, sizeof e);
    e.order_id = 7;
    e.side = VX_BUY;
    e.kind = kind;
    if (kind == VX_EXEC_FILL || kind == VX_EXEC_PARTIAL_FILL) {
        e.fill_qty = 2;
        e.fill_price = 99 * VX_PRICE_SCALE;
        e.liquidity = VX_LIQ_TAKER;
    }
    if (kind == VX_EXEC_ACK || kind == VX_EXEC_PARTIAL_FILL || kind == VX_EXEC_MODIFIED)
        e.leaves_qty = 3;
    if (kind == VX_EXEC_REJECT) e.reason = VX_REJECT_RISK;
    return e;
}

static void test_layout(void) {
    CHECK(sizeof(vx_order) == 40 && _Alignof(vx_order) == 8);
    CHECK(sizeof(vx_exec) == 56 && _Alignof(vx_exec) == 8);
    CHECK(VX_ORDER_OFFSET_ACTION == 35 && VX_EXEC_OFFSET_REASON == 55);
}

static void test_order_validate(void) {
    vx_order z;
    memset(&z, 0, sizeof z);
    CHECK(vx_order_validate(&z) == VX_REJECT_ACTION); /* an unwritten slot is refused */
    vx_order o = good_order();
    CHECK(vx_order_validate(&o) == VX_REJECT_NONE);
    o.pad[3] = 9; /* padding is ignored on input */
    CHECK(vx_order_validate(&o) == VX_REJECT_NONE);
    for (int tif = VX_TIF_GTC; tif <= VX_TIF_MAX; tif++) {
        o.tif = (uint8_t)tif;
        CHECK(vx_order_validate(&o) == VX_REJECT_NONE);
    }
    o = good_order(); o.action = 4; CHECK(vx_order_validate(&o) == VX_REJECT_ACTION);
    o = good_order(); o.order_id = 0; CHECK(vx_order_validate(&o) == VX_REJECT_ORDER_ID);
    o = good_order(); o.side = 2; CHECK(vx_order_validate(&o) == VX_REJECT_SIDE);
    o = good_order(); o.type = 0; CHECK(vx_order_validate(&o) == VX_REJECT_TYPE);
    o = good_order(); o.type = 3; CHECK(vx_order_validate(&o) == VX_REJECT_TYPE);
    o = good_order(); o.tif = 0; CHECK(vx_order_validate(&o) == VX_REJECT_TIF);
    o = good_order(); o.tif = 4; CHECK(vx_order_validate(&o) == VX_REJECT_TIF);
    o = good_order(); o.price = 0; CHECK(vx_order_validate(&o) == VX_REJECT_PRICE);
    o = good_order(); o.price = -1; CHECK(vx_order_validate(&o) == VX_REJECT_PRICE);
    o = good_order(); o.qty = 0; CHECK(vx_order_validate(&o) == VX_REJECT_QTY);
    /* MARKET: IOC and no price */
    o = good_order(); o.type = VX_ORDER_MARKET; o.tif = VX_TIF_IOC; o.price = 0;
    CHECK(vx_order_validate(&o) == VX_REJECT_NONE);
    o.price = 1; CHECK(vx_order_validate(&o) == VX_REJECT_PRICE);
    o.price = 0; o.tif = VX_TIF_GTC; CHECK(vx_order_validate(&o) == VX_REJECT_TIF);
    o.tif = VX_TIF_POST_ONLY; CHECK(vx_order_validate(&o) == VX_REJECT_TIF);
    /* CANCEL: only the id counts */
    memset(&o, 0xEE, sizeof o); o.action = VX_ORDER_CANCEL; o.order_id = 1;
    o.price = -5; o.qty = 0;
    CHECK(vx_order_validate(&o) == VX_REJECT_NONE);
    o.order_id = 0; CHECK(vx_order_validate(&o) == VX_REJECT_ORDER_ID);
    /* MODIFY: a new price and size; side, type and tif unused */
    o = good_order(); o.action = VX_ORDER_MODIFY; o.side = 9; o.type = 9; o.tif = 9;
    CHECK(vx_order_validate(&o) == VX_REJECT_NONE);
    o.price = 0; CHECK(vx_order_validate(&o) == VX_REJECT_PRICE);
    o.price = 1; o.qty = 0; CHECK(vx_order_validate(&o) == VX_REJECT_QTY);
}

static void test_exec_validate(void) {
    vx_exec z;
    memset(&z, 0, sizeof z);
    CHECK(vx_exec_validate(&z) == VX_EXEC_FIELD_KIND);
    for (int k = VX_EXEC_ACK; k <= VX_EXEC_KIND_MAX; k++) {
        vx_exec e = good_exec((uint8_t)k);
        CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_NONE);
        e = good_exec((uint8_t)k); e.side = 2;
        CHECK(vx_exec_validate(&e) == (k == VX_EXEC_REJECT ? VX_EXEC_FIELD_NONE : VX_EXEC_FIELD_SIDE));
        e = good_exec((uint8_t)k); e.side = 3; CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_SIDE);
        e = good_exec((uint8_t)k); e.order_id = 0;
        CHECK(vx_exec_validate(&e) == (k == VX_EXEC_REJECT ? VX_EXEC_FIELD_NONE : VX_EXEC_FIELD_ORDER_ID));
        e = good_exec((uint8_t)k); e.reason = (uint8_t)(k == VX_EXEC_REJECT ? 0 : VX_REJECT_RISK);
        CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_REASON);
        int fill = k == VX_EXEC_FILL || k == VX_EXEC_PARTIAL_FILL;
        e = good_exec((uint8_t)k); e.fill_qty = fill ? 0 : 1;
        CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_FILL_QTY);
        e = good_exec((uint8_t)k); e.fill_price = fill ? 0 : 1;
        CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_FILL_PRICE);
        e = good_exec((uint8_t)k); e.liquidity = fill ? VX_LIQ_NONE : VX_LIQ_MAKER;
        CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_LIQUIDITY);
        e = good_exec((uint8_t)k); e.leaves_qty = e.leaves_qty ? 0 : 1;
        CHECK(vx_exec_validate(&e) == (k == VX_EXEC_REJECT ? VX_EXEC_FIELD_NONE : VX_EXEC_FIELD_LEAVES_QTY));
        e = good_exec((uint8_t)k); e.fee = -3; /* a rebate, any kind */
        CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_NONE);
    }
    vx_exec e = good_exec(VX_EXEC_REJECT);
    e.reason = VX_REJECT_MAX + 1; CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_REASON);
    e = good_exec(VX_EXEC_FILL); e.fill_price = -1; CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_FILL_PRICE);
    e = good_exec(VX_EXEC_FILL); e.liquidity = 3; CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_LIQUIDITY);
    e = good_exec(VX_EXEC_ACK); e.kind = VX_EXEC_KIND_MAX + 1; CHECK(vx_exec_validate(&e) == VX_EXEC_FIELD_KIND);
}

/* Orders one way, their reports back, across two threads: every record validated and
 * compared with what was sent (a torn or reordered record fails). */
typedef struct cross_args {
    vx_ring *orders, *execs;
    uint64_t count;
} cross_args;

static vx_order nth_order(uint64_t i) {
    vx_order o = good_order();
    o.order_id = i + 1;
    o.ts = i * 3;
    o.qty = (uint32_t)(1 + i % 1000);
    o.price = (int64_t)(1 + i % 5000) * VX_PRICE_SCALE / 100;
    o.side = (uint8_t)(i & 1);
    o.instrument = (uint32_t)(i % 7);
    o.tif = (uint8_t)(VX_TIF_GTC + i % 3);
    return o;
}

static void *venue_thread(void *p) {
    cross_args *a = p;
    vx_test_pin(1);
    vx_ring_backoff b = {0};
    for (uint64_t i = 0; i < a->count; i++) { /* bounded: count orders */
        vx_order o;
        REQUIRE(vx_ring_pop_wait(a->orders, &o, vx_monotonic_ns() + 60000000000ull, &b) == VX_OK);
        vx_order want = nth_order(i);
        REQUIRE(vx_order_validate(&o) == VX_REJECT_NONE);
        REQUIRE(memcmp(&o, &want, sizeof o) == 0);
        vx_exec e;
        memset(&e, 0, sizeof e);
        e.order_id = o.order_id;
        e.instrument = o.instrument;
        e.side = o.side;
        e.ts_exchange = o.ts + 1;
        e.kind = VX_EXEC_FILL;
        e.fill_qty = o.qty;
        e.fill_price = o.price;
        e.liquidity = VX_LIQ_MAKER;
        e.fee = -(int64_t)o.qty;
        REQUIRE(vx_ring_push_wait(a->execs, &e, vx_monotonic_ns() + 60000000000ull, &b) == VX_OK);
        b.step = 0; /* progress: wait from the start again */
    }
    return NULL;
}

static void test_orders_cross_threads(void) {
    uint64_t count = vx_test_count(200000ull, 20000);
    cross_args a = {NULL, NULL, count};
    REQUIRE(vx_ring_create(256, sizeof(vx_order), &a.orders) == VX_OK);
    REQUIRE(vx_ring_create(256, sizeof(vx_exec), &a.execs) == VX_OK);
    pthread_t venue;
    REQUIRE(pthread_create(&venue, NULL, venue_thread, &a) == 0);
    vx_test_pin(0);
    uint64_t sent = 0, got = 0, filled = 0;
    vx_ring_backoff b = {0};
    for (uint64_t round = 0; got < count && round < count * 1000; round++) { /* bounded */
        int progress = 0;
        for (int k = 0; k < 64 && sent < count; k++) { /* bounded: a burst of 64 */
            vx_order o = nth_order(sent);
            if (vx_ring_try_push(a.orders, &o) != VX_OK) break;
            sent++;
            progress = 1;
        }
        vx_exec e;
        for (int k = 0; k < 64 && vx_ring_try_pop(a.execs, &e) == VX_OK; k++) {
            vx_order o = nth_order(got);
            REQUIRE(vx_exec_validate(&e) == VX_EXEC_FIELD_NONE);
            REQUIRE(e.order_id == o.order_id && e.fill_qty == o.qty && e.fill_price == o.price);
            REQUIRE(e.side == o.side && e.instrument == o.instrument && e.fee == -(int64_t)o.qty);
            filled += e.fill_qty;
            got++;
            progress = 1;
        }
        if (progress) b.step = 0; else vx_ring_backoff_pause(&b);
    }
    pthread_join(venue, NULL);
    CHECK(sent == count && got == count);
    uint64_t want = 0;
    for (uint64_t i = 0; i < count; i++) want += 1 + i % 1000;
    CHECK(filled == want);
    vx_ring_destroy(a.orders);
    vx_ring_destroy(a.execs);
}

int main(void) {
    RUN(test_layout);
    RUN(test_order_validate);
    RUN(test_exec_validate);
    RUN(test_orders_cross_threads);
    return CHECK_SUMMARY("test_orders");
}
