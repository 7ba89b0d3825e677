/* test_venue.c — the simulated venue (venue.h): matching, queue positions, latency, fees,
 * close, capacity. Small hand-made books (tick 1, prices around 100). */
#include <string.h>

#include "check.h"
#include "mbo_fixture.h"
#include "velox/prng.h"
#include "velox/venue.h"

#define MAXR 256

typedef struct fixture {
    vx_mbo_set *set;
    vx_sim_venue *v;
    vx_venue seam;
    vx_exec r[MAXR]; /* reports polled so far */
    size_t n;
    uint64_t now;
} fixture;

static vx_sim_venue_config base_cfg(void) {
    vx_sim_venue_config c;
    memset(&c, 0, sizeof c);
    c.instruments = 2;
    c.max_orders = 64;
    c.max_in_flight = 64;
    c.seed = 7;
    return c;
}

static void fx_open_tick(fixture *f, const vx_sim_venue_config *cfg, int64_t tick) {
    memset(f, 0, sizeof *f);
    f->set = mbo_fx_books(2, 256, tick, 1024);
    REQUIRE(vx_sim_venue_create(cfg, f->set, &f->v) == VX_OK);
    f->seam = vx_sim_venue_seam(f->v);
}

static void fx_open(fixture *f, const vx_sim_venue_config *cfg) { fx_open_tick(f, cfg, 1); }

static void fx_close(fixture *f) {
    vx_sim_venue_destroy(f->v);
    vx_mbo_set_destroy(f->set);
}

/* One market event through the hooks, as the backtest applies it. Returns the book's status. */
static vx_status ev(fixture *f, uint8_t action, uint64_t id, int side, int64_t price,
                    uint32_t qty, uint64_t ts) {
    vx_mbo e = mbo_fx_event(action, id, side, price, qty, ts);
    vx_sim_venue_run_until(f->v, ts - 1);
    return mbo_fx_venue_apply(f->v, f->set, &e);
}

static void add(fixture *f, uint64_t id, int side, int64_t price, uint32_t qty, uint64_t ts) {
    REQUIRE(ev(f, VX_MBO_ADD, id, side, price, qty, ts) == VX_OK);
}

/* Send an order at `now`, deliver everything due, poll every report due. */
static void send(fixture *f, uint8_t action, uint64_t id, int side, uint8_t type, uint8_t tif,
                 int64_t price, uint32_t qty, uint64_t now) {
    vx_order o;
    memset(&o, 0, sizeof o);
    o.ts = now;
    o.order_id = id;
    o.price = price;
    o.qty = qty;
    o.side = (uint8_t)side;
    o.type = type;
    o.tif = tif;
    o.action = action;
    REQUIRE(f->seam.submit(f->seam.self, &o, now) == VX_OK);
    f->now = now;
}

static size_t drain(fixture *f, uint64_t upto) {
    vx_sim_venue_run_until(f->v, upto);
    size_t before = f->n;
    f->n += f->seam.poll(f->seam.self, f->r + f->n, MAXR - f->n, upto);
    return f->n - before;
}

static void limit(fixture *f, uint64_t id, int side, uint8_t tif, int64_t price, uint32_t qty,
                  uint64_t now) {
    send(f, VX_ORDER_NEW, id, side, VX_ORDER_LIMIT, tif, price, qty, now);
    drain(f, now);
}

static int is(const vx_exec *x, uint8_t kind, uint64_t id, int64_t price, uint32_t fill,
              uint32_t leaves) {
    return x->kind == kind && x->order_id == id && x->fill_price == price &&
           x->fill_qty == fill && x->leaves_qty == leaves && vx_exec_validate(x) == 0;
}

static uint64_t ahead_of(fixture *f, uint64_t id) {
    uint64_t a = UINT64_MAX;
    if (vx_sim_venue_queue_ahead(f->v, id, &a) != VX_OK) return UINT64_MAX;
    return a;
}

/* asks 101 x5, 102 x3, 104 x10; bids 99 x4 */
static void ladder(fixture *f) {
    add(f, 1, VX_SELL, 101, 5, 1);
    add(f, 2, VX_SELL, 102, 3, 2);
    add(f, 3, VX_SELL, 104, 10, 3);
    add(f, 4, VX_BUY, 99, 4, 4);
}

static void test_taker_level_by_level(void) {
    vx_sim_venue_config c = base_cfg();
    c.taker.per_lot = 10;
    fixture f;
    fx_open(&f, &c);
    ladder(&f);
    /* IOC through two levels: the rest canceled */
    limit(&f, 100, VX_BUY, VX_TIF_IOC, 102, 10, 10);
    CHECK(f.n == 4);
    CHECK(is(&f.r[0], VX_EXEC_ACK, 100, 0, 0, 10));
    CHECK(is(&f.r[1], VX_EXEC_PARTIAL_FILL, 100, 101, 5, 5));
    CHECK(f.r[1].liquidity == VX_LIQ_TAKER && f.r[1].fee == 50);
    CHECK(is(&f.r[2], VX_EXEC_PARTIAL_FILL, 100, 102, 3, 2));
    CHECK(f.r[2].fee == 30);
    CHECK(is(&f.r[3], VX_EXEC_CANCELED, 100, 0, 0, 0));
    /* no market impact: the same lots again, ending with FILL */
    limit(&f, 101, VX_BUY, VX_TIF_GTC, 102, 8, 11);
    CHECK(f.n == 7);
    CHECK(is(&f.r[5], VX_EXEC_PARTIAL_FILL, 101, 101, 5, 3));
    CHECK(is(&f.r[6], VX_EXEC_FILL, 101, 102, 3, 0));
    CHECK(ahead_of(&f, 101) == UINT64_MAX); /* done, not resting */
    /* GTC: the rest rests at its price */
    limit(&f, 102, VX_BUY, VX_TIF_GTC, 102, 9, 12);
    CHECK(f.n == 10);
    CHECK(is(&f.r[9], VX_EXEC_PARTIAL_FILL, 102, 102, 3, 1));
    CHECK(ahead_of(&f, 102) == 0);
    /* MARKET takes every level */
    send(&f, VX_ORDER_NEW, 103, VX_BUY, VX_ORDER_MARKET, VX_TIF_IOC, 0, 20, 13);
    drain(&f, 13);
    CHECK(f.n == 15);
    CHECK(is(&f.r[13], VX_EXEC_PARTIAL_FILL, 103, 104, 10, 2));
    CHECK(is(&f.r[14], VX_EXEC_CANCELED, 103, 0, 0, 0));
    /* SELL side: takes the bid */
    limit(&f, 104, VX_SELL, VX_TIF_IOC, 98, 3, 14);
    CHECK(is(&f.r[16], VX_EXEC_FILL, 104, 99, 3, 0));
    /* not marketable IOC: ACK then CANCELED */
    limit(&f, 105, VX_BUY, VX_TIF_IOC, 100, 3, 15);
    CHECK(is(&f.r[17], VX_EXEC_ACK, 105, 0, 0, 3));
    CHECK(is(&f.r[18], VX_EXEC_CANCELED, 105, 0, 0, 0));
    vx_sim_venue_counters k;
    vx_sim_venue_counters_read(f.v, &k);
    CHECK(k.orders == 6 && k.acks == 6 && k.taker_fills == 10 && k.canceled == 3);
    CHECK(k.traded_lots == 8 + 8 + 8 + 18 + 3);
    fx_close(&f);
}

static void test_taker_deeper_than_a_chunk(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    for (uint32_t i = 0; i < 40; i++) add(&f, 1 + i, VX_SELL, 101 + 2 * i, 1 + (i % 3), 1 + i);
    send(&f, VX_ORDER_NEW, 100, VX_BUY, VX_ORDER_MARKET, VX_TIF_IOC, 0, 1000, 100);
    drain(&f, 100);
    CHECK(f.n == 42);
    uint64_t lots = 0;
    for (size_t i = 1; i <= 40; i++) {
        CHECK(f.r[i].fill_price == 101 + 2 * (int64_t)(i - 1));
        lots += f.r[i].fill_qty;
    }
    CHECK(lots == 13 * 6 + 1);
    CHECK(f.r[41].kind == VX_EXEC_CANCELED);
    /* a limit inside the deep part stops there */
    limit(&f, 101, VX_BUY, VX_TIF_IOC, 101 + 2 * 35, 1000, 101);
    CHECK(f.n == 42 + 1 + 36 + 1);
    CHECK(f.r[f.n - 2].fill_price == 101 + 2 * 35);
    fx_close(&f);
}

static void test_post_only(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    ladder(&f);
    limit(&f, 100, VX_BUY, VX_TIF_POST_ONLY, 101, 5, 10);
    CHECK(f.n == 1);
    CHECK(f.r[0].kind == VX_EXEC_REJECT && f.r[0].reason == VX_REJECT_WOULD_CROSS);
    CHECK(f.r[0].leaves_qty == 0 && f.r[0].side == VX_BUY);
    limit(&f, 101, VX_BUY, VX_TIF_POST_ONLY, 100, 5, 11);
    CHECK(f.n == 2 && is(&f.r[1], VX_EXEC_ACK, 101, 0, 0, 5));
    CHECK(ahead_of(&f, 101) == 0);
    limit(&f, 102, VX_SELL, VX_TIF_POST_ONLY, 99, 1, 12);
    CHECK(f.r[2].reason == VX_REJECT_WOULD_CROSS);
    fx_close(&f);
}

/* bids at 100: X1 5 lots (ts 1), X2 3 (ts 2); ours arrives at 10 behind 8 lots */
static void queue_setup(fixture *f) {
    add(f, 1, VX_BUY, 100, 5, 1);
    add(f, 2, VX_BUY, 100, 3, 2);
    limit(f, 100, VX_BUY, VX_TIF_GTC, 100, 4, 10);
    REQUIRE(f->n == 1);
}

static void test_join_behind_and_cancels_ahead(void) {
    vx_sim_venue_config c = base_cfg();
    c.maker.per_lot = -2;
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f);
    CHECK(ahead_of(&f, 100) == 8);
    add(&f, 3, VX_BUY, 100, 6, 20);                 /* behind us */
    CHECK(ahead_of(&f, 100) == 8);
    ev(&f, VX_MBO_CANCEL, 3, VX_SIDE_NONE, 0, 1, 21); /* behind: no change */
    CHECK(ahead_of(&f, 100) == 8);
    ev(&f, VX_MBO_CANCEL, 1, VX_SIDE_NONE, 0, 2, 22);
    CHECK(ahead_of(&f, 100) == 6);
    ev(&f, VX_MBO_DELETE, 2, VX_SIDE_NONE, 0, 0, 23);
    CHECK(ahead_of(&f, 100) == 3);
    ev(&f, VX_MBO_EXECUTE, 1, VX_SIDE_NONE, 0, 3, 24); /* ahead executes: no fill */
    CHECK(ahead_of(&f, 100) == 0);
    CHECK(f.n == 1);
    /* an execute behind us fills us at our price, MAKER */
    ev(&f, VX_MBO_EXECUTE, 3, VX_SIDE_NONE, 0, 3, 25);
    drain(&f, 25);
    CHECK(f.n == 2 && is(&f.r[1], VX_EXEC_PARTIAL_FILL, 100, 100, 3, 1));
    CHECK(f.r[1].liquidity == VX_LIQ_MAKER && f.r[1].fee == -6 && f.r[1].ts_exchange == 25);
    ev(&f, VX_MBO_EXECUTE, 3, VX_SIDE_NONE, 0, 2, 26);
    drain(&f, 26);
    CHECK(f.n == 3 && is(&f.r[2], VX_EXEC_FILL, 100, 100, 1, 0));
    CHECK(ahead_of(&f, 100) == UINT64_MAX);
    vx_sim_venue_counters k;
    vx_sim_venue_counters_read(f.v, &k);
    CHECK(k.maker_fills == 2 && k.fills == 1 && k.partial_fills == 1 && k.queue_events == 5);
    fx_close(&f);
}

/* An order placed by an event with the same ts as our arrival is ahead of us (ts <= t_O). */
static void test_same_ts_is_ahead(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    add(&f, 1, VX_BUY, 100, 5, 10);
    limit(&f, 100, VX_BUY, VX_TIF_GTC, 100, 4, 10); /* arrives at 10 */
    add(&f, 2, VX_BUY, 100, 5, 11);
    CHECK(ahead_of(&f, 100) == 5);
    ev(&f, VX_MBO_CANCEL, 1, VX_SIDE_NONE, 0, 1, 12);  /* a cancel ahead counts */
    CHECK(ahead_of(&f, 100) == 4);
    ev(&f, VX_MBO_EXECUTE, 1, VX_SIDE_NONE, 0, 1, 12); /* ahead: no fill */
    drain(&f, 12);
    CHECK(f.n == 1 && ahead_of(&f, 100) == 3);
    ev(&f, VX_MBO_EXECUTE, 2, VX_SIDE_NONE, 0, 4, 13); /* behind: 3 consume, 1 fills */
    drain(&f, 13);
    CHECK(f.n == 2 && is(&f.r[1], VX_EXEC_PARTIAL_FILL, 100, 100, 1, 3));
    fx_close(&f);
}

static void test_execute_behind_consumes_ahead_first(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f);
    add(&f, 3, VX_BUY, 100, 20, 20);
    ev(&f, VX_MBO_EXECUTE, 3, VX_SIDE_NONE, 0, 5, 21); /* consumes 5 of the 8 ahead */
    CHECK(ahead_of(&f, 100) == 3);
    CHECK(f.n == 1);
    ev(&f, VX_MBO_EXECUTE, 3, VX_SIDE_NONE, 0, 5, 22); /* 3 consume the rest, 2 fill us */
    drain(&f, 22);
    CHECK(ahead_of(&f, 100) == 0);
    CHECK(f.n == 2 && is(&f.r[1], VX_EXEC_PARTIAL_FILL, 100, 100, 2, 2));
    /* a rejected event (more than the order has) changes nothing */
    CHECK(ev(&f, VX_MBO_EXECUTE, 3, VX_SIDE_NONE, 0, 50, 23) != VX_OK);
    drain(&f, 23);
    CHECK(f.n == 2);
    /* TRADE prints and the other side do not fill */
    ev(&f, VX_MBO_TRADE, 0, VX_BUY, 100, 5, 24);
    add(&f, 9, VX_SELL, 105, 5, 25);
    ev(&f, VX_MBO_EXECUTE, 9, VX_SIDE_NONE, 0, 5, 26);
    drain(&f, 26);
    CHECK(f.n == 2);
    fx_close(&f);
}

static void test_trade_through(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f);                          /* ours BUY 100 x4, ahead 8 */
    add(&f, 5, VX_BUY, 99, 10, 20);
    ev(&f, VX_MBO_EXECUTE, 5, VX_SIDE_NONE, 0, 10, 21); /* through: 8 consume, 2 fill */
    drain(&f, 21);
    CHECK(ahead_of(&f, 100) == 0);
    CHECK(f.n == 2 && is(&f.r[1], VX_EXEC_PARTIAL_FILL, 100, 100, 2, 2));
    /* a better-priced execute (above ours) is not through */
    add(&f, 6, VX_BUY, 101, 10, 22);
    ev(&f, VX_MBO_EXECUTE, 6, VX_SIDE_NONE, 0, 10, 23);
    drain(&f, 23);
    CHECK(f.n == 2);
    /* SELL side mirror: ours SELL 110, an ask at 111 executes */
    add(&f, 7, VX_SELL, 111, 4, 24);
    limit(&f, 101, VX_SELL, VX_TIF_GTC, 110, 3, 25);
    ev(&f, VX_MBO_EXECUTE, 7, VX_SIDE_NONE, 111, 4, 26);
    drain(&f, 26);
    CHECK(f.n == 4 && is(&f.r[3], VX_EXEC_FILL, 101, 110, 3, 0));
    /* the execute's own price decides "through", not the resting order's */
    add(&f, 8, VX_SELL, 109, 4, 27);
    limit(&f, 102, VX_SELL, VX_TIF_GTC, 110, 2, 28);
    ev(&f, VX_MBO_EXECUTE, 8, VX_SIDE_NONE, 111, 2, 29);
    drain(&f, 29);
    CHECK(f.n == 6 && is(&f.r[5], VX_EXEC_FILL, 102, 110, 2, 0));
    fx_close(&f);
}

static void test_unknown_order_reductions(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    REQUIRE(vx_mbo_seed_level(vx_mbo_set_book(f.set, 0), VX_BUY, 100, 10) == VX_OK);
    limit(&f, 100, VX_BUY, VX_TIF_GTC, 100, 5, 10);
    CHECK(ahead_of(&f, 100) == 10);
    ev(&f, VX_MBO_DELETE, 77, VX_BUY, 100, 4, 11);
    CHECK(ahead_of(&f, 100) == 6);
    /* one of ours on instrument 1 (BUY 100, behind 5 seeded lots): untouched by instrument 0 */
    REQUIRE(vx_mbo_seed_level(vx_mbo_set_book(f.set, 1), VX_BUY, 100, 5) == VX_OK);
    vx_order o;
    memset(&o, 0, sizeof o);
    o.order_id = 200;
    o.instrument = 1;
    o.side = VX_BUY;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_GTC;
    o.action = VX_ORDER_NEW;
    o.price = 100;
    o.qty = 1;
    REQUIRE(f.seam.submit(f.seam.self, &o, 11) == VX_OK);
    drain(&f, 11);
    REQUIRE(f.n == 2 && ahead_of(&f, 200) == 5);
    ev(&f, VX_MBO_CANCEL, 78, VX_SIDE_NONE, 100, 4, 12); /* no side: nothing known */
    CHECK(ahead_of(&f, 200) == 5);
    CHECK(ahead_of(&f, 100) == 6);
    ev(&f, VX_MBO_CANCEL, 78, VX_BUY, 101, 4, 13);       /* another level */
    CHECK(ahead_of(&f, 100) == 6);
    ev(&f, VX_MBO_EXECUTE, 79, VX_BUY, 100, 4, 14);     /* within a: no fill */
    CHECK(ahead_of(&f, 100) == 2);
    CHECK(f.n == 2);
    ev(&f, VX_MBO_EXECUTE, 80, VX_BUY, 100, 5, 15);     /* 2 consume a, 3 fill */
    drain(&f, 15);
    CHECK(ahead_of(&f, 100) == 0);
    CHECK(f.n == 3 && is(&f.r[2], VX_EXEC_PARTIAL_FILL, 100, 100, 3, 2));
    ev(&f, VX_MBO_CANCEL, 81, VX_BUY, 100, 40, 16);     /* never below 0 */
    CHECK(ahead_of(&f, 100) == 0);
    ev(&f, VX_MBO_EXECUTE, 82, VX_BUY, 99, 9, 17);      /* unknown through: fills the rest */
    drain(&f, 17);
    CHECK(f.n == 4 && is(&f.r[3], VX_EXEC_FILL, 100, 100, 2, 0));
    CHECK(ahead_of(&f, 200) == 5);
    fx_close(&f);
}

static void test_modify_of_orders_ahead(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f);                                    /* X1 5, X2 3 ahead */
    ev(&f, VX_MBO_MODIFY, 1, VX_BUY, 100, 2, 20);       /* down, keeps its place */
    CHECK(ahead_of(&f, 100) == 5);
    ev(&f, VX_MBO_MODIFY, 2, VX_BUY, 100, 7, 21);       /* up: loses priority, now behind */
    CHECK(ahead_of(&f, 100) == 2);
    ev(&f, VX_MBO_EXECUTE, 2, VX_SIDE_NONE, 0, 3, 22);  /* behind: 2 consume, 1 fills */
    drain(&f, 22);
    CHECK(ahead_of(&f, 100) == 0);
    CHECK(f.n == 2 && is(&f.r[1], VX_EXEC_PARTIAL_FILL, 100, 100, 1, 3));
    fx_close(&f);
}

static void test_replace_and_clear(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f);
    vx_mbo e = mbo_fx_event(VX_MBO_REPLACE, 1, VX_SIDE_NONE, 100, 5, 20);
    e.ref = 11;
    REQUIRE(mbo_fx_venue_apply(f.v, f.set, &e) == VX_OK);
    CHECK(ahead_of(&f, 100) == 3);                      /* X1 left; 11 is behind */
    ev(&f, VX_MBO_CLEAR, 0, VX_SIDE_NONE, 0, 0, 21);
    CHECK(ahead_of(&f, 100) == 0);
    CHECK(f.n == 1);
    fx_close(&f);
}

static void test_our_modify(void) {
    vx_sim_venue_config c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f);                                    /* ours 100 x4, ahead 8 */
    add(&f, 3, VX_BUY, 100, 6, 11);
    add(&f, 4, VX_SELL, 103, 2, 12);
    send(&f, VX_ORDER_MODIFY, 100, 0, 0, 0, 100, 3, 20); /* down: keeps place */
    drain(&f, 20);
    CHECK(f.n == 2 && is(&f.r[1], VX_EXEC_MODIFIED, 100, 0, 0, 3));
    CHECK(ahead_of(&f, 100) == 8);
    send(&f, VX_ORDER_MODIFY, 100, 0, 0, 0, 100, 6, 21); /* up: back of the queue */
    drain(&f, 21);
    CHECK(f.n == 3 && is(&f.r[2], VX_EXEC_MODIFIED, 100, 0, 0, 6));
    CHECK(ahead_of(&f, 100) == 14);
    send(&f, VX_ORDER_MODIFY, 100, 0, 0, 0, 103, 5, 22); /* crosses: MODIFIED, then takes */
    drain(&f, 22);
    CHECK(f.n == 5 && is(&f.r[3], VX_EXEC_MODIFIED, 100, 0, 0, 5));
    CHECK(is(&f.r[4], VX_EXEC_PARTIAL_FILL, 100, 103, 2, 3) && f.r[4].liquidity == VX_LIQ_TAKER);
    CHECK(ahead_of(&f, 100) == 0);
    /* POST_ONLY modify that would cross: REJECT then CANCELED, gone */
    limit(&f, 101, VX_BUY, VX_TIF_POST_ONLY, 99, 4, 23);
    send(&f, VX_ORDER_MODIFY, 101, 0, 0, 0, 103, 4, 24);
    drain(&f, 24);
    CHECK(f.n == 8);
    CHECK(f.r[6].kind == VX_EXEC_REJECT && f.r[6].reason == VX_REJECT_WOULD_CROSS);
    CHECK(f.r[6].leaves_qty == 4);
    CHECK(is(&f.r[7], VX_EXEC_CANCELED, 101, 0, 0, 0));
    CHECK(ahead_of(&f, 101) == UINT64_MAX);
    /* MODIFY of an unknown order */
    send(&f, VX_ORDER_MODIFY, 555, 0, 0, 0, 100, 4, 25);
    drain(&f, 25);
    CHECK(f.r[8].kind == VX_EXEC_REJECT && f.r[8].reason == VX_REJECT_UNKNOWN_ORDER);
    fx_close(&f);
}

static void test_cancel_duplicate_unknown(void) {
    vx_sim_venue_config c = base_cfg();
    c.max_orders = 2;
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f);
    send(&f, VX_ORDER_CANCEL, 999, 0, 0, 0, 0, 0, 20);
    drain(&f, 20);
    CHECK(f.n == 2 && f.r[1].kind == VX_EXEC_REJECT);
    CHECK(f.r[1].reason == VX_REJECT_UNKNOWN_ORDER && f.r[1].side == VX_SIDE_NONE);
    CHECK(f.r[1].order_id == 999 && f.r[1].leaves_qty == 0);
    limit(&f, 100, VX_SELL, VX_TIF_GTC, 200, 1, 21);
    CHECK(f.n == 3 && f.r[2].reason == VX_REJECT_DUPLICATE_ID && f.r[2].leaves_qty == 0);
    send(&f, VX_ORDER_NEW, 101, VX_BUY, VX_ORDER_LIMIT, VX_TIF_GTC, 90, 1, 22);
    vx_order o;
    memset(&o, 0, sizeof o);
    o.order_id = 102;
    o.instrument = 5;
    o.side = VX_BUY;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_GTC;
    o.action = VX_ORDER_NEW;
    o.price = 90;
    o.qty = 1;
    REQUIRE(f.seam.submit(f.seam.self, &o, 22) == VX_OK);
    drain(&f, 22);
    CHECK(f.n == 5 && is(&f.r[3], VX_EXEC_ACK, 101, 0, 0, 1));
    CHECK(f.r[4].reason == VX_REJECT_UNKNOWN_INSTRUMENT && f.r[4].instrument == 5);
    limit(&f, 103, VX_BUY, VX_TIF_GTC, 90, 1, 23);       /* table of 2 is full */
    CHECK(f.n == 6 && f.r[5].reason == VX_REJECT_LIMIT);
    /* the cancel must name the right instrument */
    o.action = VX_ORDER_CANCEL;
    o.order_id = 101;
    o.instrument = 1;
    REQUIRE(f.seam.submit(f.seam.self, &o, 24) == VX_OK);
    drain(&f, 24);
    CHECK(f.n == 7 && f.r[6].reason == VX_REJECT_UNKNOWN_ORDER);
    send(&f, VX_ORDER_CANCEL, 101, 0, 0, 0, 0, 0, 25);
    drain(&f, 25);
    CHECK(f.n == 8 && is(&f.r[7], VX_EXEC_CANCELED, 101, 0, 0, 0) && f.r[7].side == VX_BUY);
    CHECK(ahead_of(&f, 101) == UINT64_MAX);
    /* a slot is free again */
    limit(&f, 104, VX_BUY, VX_TIF_GTC, 90, 1, 26);
    CHECK(f.n == 9 && f.r[8].kind == VX_EXEC_ACK);
    /* an invalid order is refused with its reason */
    limit(&f, 105, VX_BUY, VX_TIF_GTC, 90, 0, 27);
    CHECK(f.n == 10 && f.r[9].reason == VX_REJECT_QTY);
    vx_sim_venue_counters k;
    vx_sim_venue_counters_read(f.v, &k);
    CHECK(k.rejects == 6 && k.acks == 3 && k.canceled == 1);
    fx_close(&f);
}

static void test_latency_draws_and_order(void) {
    vx_sim_venue_config c = base_cfg();
    c.entry_latency_ns = 100;
    c.entry_jitter_ns = 1000;
    c.response_latency_ns = 30;
    c.response_jitter_ns = 20;
    c.seed = 12345;
    c.max_in_flight = 256;
    fixture f;
    fx_open(&f, &c);
    /* the documented draws */
    vx_prng er, rr;
    vx_prng_seed(&er, c.seed);
    vx_prng_seed(&rr, c.seed ^ UINT64_C(0xD1B54A32D192ED03));
    uint64_t arrival = 0, local = 0, exp_arr[64], exp_local[64];
    for (uint64_t i = 0; i < 64; i++) {
        uint64_t now = 1000 + i; /* 1 ns apart: jitter would reorder without the rule */
        send(&f, VX_ORDER_NEW, 1 + i, VX_BUY, VX_ORDER_LIMIT, VX_TIF_IOC, 50, 1, now);
        uint64_t d = (uint64_t)(((unsigned __int128)vx_prng_next(&er) * 1001u) >> 64);
        uint64_t a = now + 100 + d;
        arrival = a > arrival ? a : arrival;
        exp_arr[i] = arrival;
    }
    CHECK(f.seam.next_due(f.seam.self) == exp_arr[0]);
    for (uint64_t i = 0; i < 64; i++) {
        for (int k = 0; k < 2; k++) { /* ACK, CANCELED */
            uint64_t d = (uint64_t)(((unsigned __int128)vx_prng_next(&rr) * 21u) >> 64);
            uint64_t l = exp_arr[i] + 30 + d;
            local = l > local ? l : local;
            exp_local[i] = local;
        }
    }
    int due_ok = 1; /* step by next_due: each arrival, in order, never in the past */
    for (int i = 0; i < 64; i++) {
        uint64_t due = f.seam.next_due(f.seam.self);
        due_ok &= i == 0 || due >= exp_arr[i - 1];
        vx_sim_venue_run_until(f.v, exp_arr[i]);
        f.n += f.seam.poll(f.seam.self, f.r + f.n, MAXR - f.n, exp_arr[i]);
    }
    CHECK(due_ok);
    f.n += f.seam.poll(f.seam.self, f.r + f.n, MAXR - f.n, UINT64_MAX);
    CHECK(f.n == 128);
    int ok = 1;
    for (size_t i = 0; i < 128; i++) {
        ok &= f.r[i].order_id == 1 + i / 2;                  /* never overtaken */
        ok &= f.r[i].ts_exchange == exp_arr[i / 2];
        if (i % 2) ok &= f.r[i].ts_local == exp_local[i / 2];
        if (i) ok &= f.r[i].ts_local >= f.r[i - 1].ts_local;
    }
    CHECK(ok);
    int reordered = 0; /* the raw draws would have reordered some: the rule did work */
    for (size_t i = 1; i < 64; i++) reordered |= exp_arr[i] == exp_arr[i - 1];
    CHECK(reordered);
    CHECK(f.seam.next_due(f.seam.self) == UINT64_MAX);
    /* poll stops at `now` */
    send(&f, VX_ORDER_NEW, 900, VX_BUY, VX_ORDER_LIMIT, VX_TIF_IOC, 50, 1, 5000);
    uint64_t due = f.seam.next_due(f.seam.self);
    CHECK(due >= 5100 && due <= 6100);
    vx_sim_venue_run_until(f.v, due - 1);
    CHECK(f.seam.next_due(f.seam.self) == due);
    vx_sim_venue_run_until(f.v, due);
    uint64_t report_due = f.seam.next_due(f.seam.self);
    CHECK(report_due >= due + 30 && report_due <= due + 50);
    CHECK(f.seam.poll(f.seam.self, f.r, MAXR, report_due - 1) == 0);
    CHECK(f.seam.poll(f.seam.self, f.r, 1, report_due) == 1);
    fx_close(&f);
}

static void test_same_seed_same_reports(void) {
    vx_exec out[3][MAXR];
    size_t n[3];
    for (int run = 0; run < 3; run++) {
        vx_sim_venue_config c = base_cfg();
        c.entry_latency_ns = 10;
        c.entry_jitter_ns = 500;
        c.response_jitter_ns = 500;
        c.seed = run == 2 ? 99 : 5;
        fixture f;
        fx_open(&f, &c);
        ladder(&f);
        for (uint64_t i = 0; i < 20; i++)
            send(&f, VX_ORDER_NEW, 1 + i, VX_BUY, VX_ORDER_LIMIT, VX_TIF_IOC, 102, 2, 100 + i);
        vx_sim_venue_close(f.v, 200);
        n[run] = f.seam.poll(f.seam.self, out[run], MAXR, UINT64_MAX);
        fx_close(&f);
    }
    CHECK(n[0] == n[1] && n[0] == 40 && memcmp(out[0], out[1], n[0] * sizeof(vx_exec)) == 0);
    CHECK(n[2] == n[0] && memcmp(out[0], out[2], n[0] * sizeof(vx_exec)) != 0);
}

static void test_fees(void) {
    vx_fee f = {0, 0};
    CHECK(vx_fee_of(&f, 100 * VX_PRICE_SCALE, 10) == 0);
    f.per_lot = VX_PRICE_SCALE / 100; /* 1 cent a lot */
    CHECK(vx_fee_of(&f, 100 * VX_PRICE_SCALE, 10) == VX_PRICE_SCALE / 10);
    f.per_lot = -VX_PRICE_SCALE / 1000; /* rebate */
    CHECK(vx_fee_of(&f, 100 * VX_PRICE_SCALE, 10) == -VX_PRICE_SCALE / 100);
    vx_fee bps = {0, VX_PRICE_SCALE / 10000}; /* 1 bps of 1000.00 = 0.10 */
    CHECK(vx_fee_of(&bps, 100 * VX_PRICE_SCALE, 10) == VX_PRICE_SCALE / 10);
    /* truncated toward zero: 3 * 1 * 7 / 1e8 -> 0 both ways; 1e8+1 notional... */
    vx_fee r = {0, 7};
    CHECK(vx_fee_of(&r, 3, 1) == 0);
    vx_fee rn = {0, -7};
    CHECK(vx_fee_of(&rn, 3, 1) == 0);
    vx_fee half = {0, VX_PRICE_SCALE / 2};
    CHECK(vx_fee_of(&half, 3, 1) == 1);    /* 1.5 -> 1 */
    vx_fee nhalf = {0, -VX_PRICE_SCALE / 2};
    CHECK(vx_fee_of(&nhalf, 3, 1) == -1);  /* -1.5 -> -1, not -2 */
    vx_fee both = {5, VX_PRICE_SCALE / 2};
    CHECK(vx_fee_of(&both, 3, 2) == 10 + 3);
    /* 128-bit intermediate: price * lots * rate is far beyond 64 bits */
    vx_fee big = {0, VX_PRICE_SCALE};
    CHECK(vx_fee_of(&big, INT64_MAX / 8, 4) == INT64_MAX / 8 * 4);
    /* saturation */
    CHECK(vx_fee_of(&big, INT64_MAX, 4) == INT64_MAX);
    vx_fee nbig = {0, INT64_MIN};
    CHECK(vx_fee_of(&nbig, INT64_MAX, UINT32_MAX) == INT64_MIN);
    vx_fee lot = {INT64_MAX, 0};
    CHECK(vx_fee_of(&lot, 1, 2) == INT64_MAX);
    /* in the venue: maker per lot + bps, taker bps */
    vx_sim_venue_config c = base_cfg();
    c.maker.per_lot = -1000;
    c.maker.rate = VX_PRICE_SCALE / 10000;
    c.taker.rate = 3 * (VX_PRICE_SCALE / 10000);
    fixture fx;
    fx_open_tick(&fx, &c, VX_PRICE_SCALE / 100);
    int64_t P = 100 * VX_PRICE_SCALE;
    add(&fx, 1, VX_SELL, P, 10, 1);
    add(&fx, 2, VX_BUY, P - VX_PRICE_SCALE, 10, 2);
    limit(&fx, 100, VX_BUY, VX_TIF_IOC, P, 4, 3);
    CHECK(fx.r[1].fee == vx_fee_of(&c.taker, P, 4) && fx.r[1].fee == 3 * 4 * VX_PRICE_SCALE / 100);
    limit(&fx, 101, VX_BUY, VX_TIF_GTC, P - VX_PRICE_SCALE, 4, 4);
    add(&fx, 3, VX_BUY, P - VX_PRICE_SCALE, 20, 5);
    ev(&fx, VX_MBO_EXECUTE, 3, VX_SIDE_NONE, 0, 12, 6); /* 10 consume ahead, 2 fill */
    drain(&fx, 6);
    CHECK(fx.n == 4 && fx.r[3].liquidity == VX_LIQ_MAKER && fx.r[3].fill_qty == 2);
    CHECK(fx.r[3].fee == -2000 + (P - VX_PRICE_SCALE) * 2 / 10000);
    fx_close(&fx);
}

static void test_close_expires(void) {
    vx_sim_venue_config c = base_cfg();
    c.entry_latency_ns = 50;
    c.response_latency_ns = 5;
    fixture f;
    fx_open(&f, &c);
    add(&f, 1, VX_BUY, 100, 5, 1);
    send(&f, VX_ORDER_NEW, 100, VX_BUY, VX_ORDER_LIMIT, VX_TIF_GTC, 100, 4, 10);
    drain(&f, 99); /* ours rests (arrived at 60) */
    REQUIRE(f.n == 1);
    send(&f, VX_ORDER_NEW, 101, VX_SELL, VX_ORDER_LIMIT, VX_TIF_GTC, 120, 2, 100);
    send(&f, VX_ORDER_NEW, 102, VX_BUY, VX_ORDER_LIMIT, VX_TIF_GTC, 90, 2, 101);
    vx_sim_venue_close(f.v, 120); /* both in flight: delivered, then all three expire */
    f.n += f.seam.poll(f.seam.self, f.r + f.n, MAXR - f.n, UINT64_MAX);
    CHECK(f.n == 6);
    CHECK(f.r[1].kind == VX_EXEC_ACK && f.r[1].ts_exchange == 150);
    CHECK(f.r[2].kind == VX_EXEC_ACK && f.r[2].ts_exchange == 151);
    CHECK(is(&f.r[3], VX_EXEC_EXPIRED, 100, 0, 0, 0) && f.r[3].ts_exchange == 151);
    CHECK(is(&f.r[4], VX_EXEC_EXPIRED, 102, 0, 0, 0) && f.r[4].ts_local == 156);
    CHECK(is(&f.r[5], VX_EXEC_EXPIRED, 101, 0, 0, 0));
    CHECK(ahead_of(&f, 100) == UINT64_MAX);
    send(&f, VX_ORDER_NEW, 103, VX_BUY, VX_ORDER_LIMIT, VX_TIF_GTC, 90, 2, 300);
    f.n += f.seam.poll(f.seam.self, f.r + f.n, MAXR - f.n, UINT64_MAX);
    CHECK(f.n == 7 && f.r[6].kind == VX_EXEC_REJECT && f.r[6].reason == VX_REJECT_VENUE);
    CHECK(f.r[6].ts_exchange == 300 && f.r[6].ts_local == 305);
    vx_sim_venue_counters k;
    vx_sim_venue_counters_read(f.v, &k);
    CHECK(k.expired == 3 && k.orders == 4);
    fx_close(&f);
}

static void test_full_queues(void) {
    vx_sim_venue_config c = base_cfg();
    c.max_in_flight = 16;
    c.entry_latency_ns = 1000;
    fixture f;
    fx_open(&f, &c);
    vx_order o;
    memset(&o, 0, sizeof o);
    o.side = VX_BUY;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_IOC;
    o.action = VX_ORDER_NEW;
    o.price = 50;
    o.qty = 1;
    for (uint64_t i = 0; i < 16; i++) {
        o.order_id = 1 + i;
        CHECK(f.seam.submit(f.seam.self, &o, 10) == VX_OK);
    }
    o.order_id = 17;
    CHECK(f.seam.submit(f.seam.self, &o, 10) == VX_FULL);
    vx_sim_venue_run_until(f.v, 1010); /* 16 arrive: 32 reports for a ring of 16 */
    vx_sim_venue_counters k;
    vx_sim_venue_counters_read(f.v, &k);
    CHECK(k.orders == 16 && k.acks == 16 && k.reports_dropped == 16);
    CHECK(f.seam.submit(f.seam.self, &o, 20) == VX_FULL); /* report queue full */
    CHECK(f.seam.poll(f.seam.self, f.r, MAXR, UINT64_MAX) == 16);
    CHECK(f.seam.submit(f.seam.self, &o, 20) == VX_OK);
    fx_close(&f);
}

static void test_config_and_hot_path(void) {
    vx_mbo_set *set = mbo_fx_books(2, 64, 1, 16);
    vx_sim_venue *v = NULL;
    vx_sim_venue_config c = base_cfg();
    c.instruments = 3;
    CHECK(vx_sim_venue_create(&c, set, &v) == VX_EINVAL);
    c = base_cfg();
    c.max_in_flight = 15;
    CHECK(vx_sim_venue_create(&c, set, &v) == VX_EINVAL);
    c = base_cfg();
    c.max_orders = 0;
    CHECK(vx_sim_venue_create(&c, set, &v) == VX_EINVAL);
    c = base_cfg();
    c.reserved = 1;
    CHECK(vx_sim_venue_create(&c, set, &v) == VX_EINVAL);
    c = base_cfg();
    c.queue_model = VX_QUEUE_PROB + 1;
    CHECK(vx_sim_venue_create(&c, set, &v) == VX_EINVAL);
    c = base_cfg();
    c.queue_power = VX_QUEUE_MAX_POWER + 1;
    CHECK(vx_sim_venue_create(&c, set, &v) == VX_EINVAL);
    CHECK(v == NULL);
    vx_mbo_set_destroy(set);
    /* events of an instrument without our orders touch nothing */
    c = base_cfg();
    fixture f;
    fx_open(&f, &c);
    queue_setup(&f); /* instrument 0 */
    vx_mbo e = mbo_fx_event(VX_MBO_ADD, 500, VX_BUY, 100, 5, 30);
    e.instrument = 1;
    REQUIRE(mbo_fx_venue_apply(f.v, f.set, &e) == VX_OK);
    e.action = VX_MBO_EXECUTE;
    e.ts = 31;
    REQUIRE(mbo_fx_venue_apply(f.v, f.set, &e) == VX_OK);
    drain(&f, 31);
    CHECK(f.n == 1 && ahead_of(&f, 100) == 8);
    vx_sim_venue_counters k;
    vx_sim_venue_counters_read(f.v, &k);
    CHECK(k.queue_events == 0);
    fx_close(&f);
}

/* Many working orders: the id index keeps finding them as they come and go. */
static void test_index_churn(void) {
    vx_sim_venue_config c = base_cfg();
    c.max_orders = 200;
    c.max_in_flight = 1024;
    fixture f;
    fx_open(&f, &c);
    vx_prng rng;
    vx_prng_seed(&rng, 3);
    uint8_t live[1000] = {0};
    int ok = 1;
    for (uint64_t step = 0; step < 5000; step++) {
        uint64_t id = 1 + vx_prng_below(&rng, 999);
        if (live[id]) {
            send(&f, VX_ORDER_CANCEL, id, 0, 0, 0, 0, 0, 10 + step);
            live[id] = 0;
        } else {
            send(&f, VX_ORDER_NEW, id, VX_BUY, VX_ORDER_LIMIT, VX_TIF_GTC,
                 50 + (int64_t)(id % 7), 1, 10 + step);
            live[id] = 1;
        }
        f.n = 0;
        drain(&f, 10 + step);
        if (f.n != 1) { ok = 0; break; }
        if (f.r[0].kind == VX_EXEC_REJECT) live[id] = 0; /* table full */
        uint64_t a;
        ok &= (vx_sim_venue_queue_ahead(f.v, id, &a) == VX_OK) == (live[id] == 1);
    }
    CHECK(ok);
    uint64_t a;
    for (uint64_t id = 1; id < 1000; id++)
        ok &= (vx_sim_venue_queue_ahead(f.v, id, &a) == VX_OK) == (live[id] == 1);
    CHECK(ok);
    fx_close(&f);
}

/* ---- queue models for L2 data (venue.h "Queue models") ---- */

static void level(fixture *f, int side, int64_t price, uint32_t qty, uint64_t ts) {
    REQUIRE(ev(f, VX_MBO_LEVEL, 0, side, price, qty, ts) == VX_OK);
}

static void trade(fixture *f, int side, int64_t price, uint32_t qty, uint64_t ts) {
    REQUIRE(ev(f, VX_MBO_TRADE, 0, side, price, qty, ts) == VX_OK);
}

static void fx_open_model(fixture *f, uint32_t model, uint32_t power, uint64_t seed) {
    vx_sim_venue_config c = base_cfg();
    c.queue_model = model;
    c.queue_power = power;
    c.seed = seed;
    fx_open(f, &c);
}

/* The prob model's first draw for `seed`: the queue stream's first output. */
static uint64_t first_queue_draw(uint64_t seed) {
    vx_prng q;
    vx_prng_seed(&q, seed ^ UINT64_C(0x9E6C63D0676A9A99));
    return vx_prng_next(&q);
}

/* One L2 story under each model: bid 100 shows 10, we join (ahead 10), 4 lots join behind us,
 * 4 leave, a trade of 5, the level drops to 4, a print with no side, a print through us. */
static void l2_story(uint32_t model, uint32_t power, uint64_t expect_ahead[4]) {
    fixture f;
    fx_open_model(&f, model, power, 7);
    level(&f, VX_BUY, 100, 10, 1);
    level(&f, VX_SELL, 101, 10, 1);
    limit(&f, 100, VX_BUY, VX_TIF_GTC, 100, 3, 2);
    CHECK(f.n == 1 && is(&f.r[0], VX_EXEC_ACK, 100, 0, 0, 3));
    CHECK(ahead_of(&f, 100) == 10);
    level(&f, VX_BUY, 100, 14, 3); /* 4 behind us */
    CHECK(ahead_of(&f, 100) == 10);
    level(&f, VX_BUY, 100, 10, 4); /* 4 leave */
    CHECK(ahead_of(&f, 100) == expect_ahead[0]);
    trade(&f, VX_SELL, 100, 5, 5); /* the other side's print: not ours */
    CHECK(ahead_of(&f, 100) == expect_ahead[0]);
    trade(&f, VX_BUY, 100, 5, 5);
    CHECK(ahead_of(&f, 100) == expect_ahead[1]);
    level(&f, VX_BUY, 100, 4, 6);
    CHECK(ahead_of(&f, 100) == expect_ahead[2]);
    trade(&f, VX_SIDE_NONE, 100, 1, 6); /* no side: p <= the best bid, so the bids traded */
    CHECK(ahead_of(&f, 100) == expect_ahead[3]);
    drain(&f, 6);
    vx_sim_venue_counters k;
    vx_sim_venue_counters_read(f.v, &k);
    if (model == VX_QUEUE_FIFO) {
        /* prints never fill; the order is still working, nothing ahead */
        CHECK(f.n == 1 && k.fills + k.partial_fills == 0);
    }
    fx_close(&f);
}

static void test_queue_models_on_l2_data(void) {
    /* fifo: 10 -> 6 (the 4 that left were ahead); prints do nothing; 10 -> 4 leaves 6: 0 */
    uint64_t fifo[4] = {6, 6, 0, 0};
    l2_story(VX_QUEUE_FIFO, 0, fifo);
    /* risk averse: a cancel moves nothing (cap 10); the print of 5 takes 5; cap at 4; 1 more */
    uint64_t averse[4] = {10, 5, 4, 3};
    l2_story(VX_QUEUE_RISK_AVERSE, 0, averse);
    /* prob, n = 0: share 1/2, x = 4 -> 2 exactly (no draw): 8; the print 5: 3; then
     * d = 6 of which 5 were the print: x = 1, a = 3, b = 7: cut 0.5 -> 0 or 1 by one draw */
    uint64_t extra = first_queue_draw(7) < (UINT64_C(1) << 63);
    uint64_t prob[4] = {8, 3, 3 - extra, 2 - extra};
    l2_story(VX_QUEUE_PROB, 0, prob);
}

static void test_queue_model_fills(void) {
    for (uint32_t model = VX_QUEUE_RISK_AVERSE; model <= VX_QUEUE_PROB; model++) {
        fixture f;
        fx_open_model(&f, model, 2, 7);
        level(&f, VX_BUY, 100, 4, 1);
        level(&f, VX_SELL, 102, 9, 1);
        limit(&f, 100, VX_BUY, VX_TIF_GTC, 100, 3, 2);
        limit(&f, 101, VX_SELL, VX_TIF_GTC, 102, 2, 2);
        trade(&f, VX_SIDE_NONE, 101, 7, 3); /* inside the spread, no side: ignored */
        CHECK(ahead_of(&f, 100) == 4 && ahead_of(&f, 101) == 9);
        trade(&f, VX_BUY, 100, 6, 4);       /* 4 ahead, then 2 of our 3 */
        drain(&f, 4);
        CHECK(f.n == 3 && is(&f.r[2], VX_EXEC_PARTIAL_FILL, 100, 100, 2, 1));
        CHECK(f.r[2].liquidity == VX_LIQ_MAKER);
        trade(&f, VX_BUY, 99, 1, 5);        /* through our price: fills the rest */
        drain(&f, 5);
        CHECK(f.n == 4 && is(&f.r[3], VX_EXEC_FILL, 100, 100, 1, 0));
        trade(&f, VX_SIDE_NONE, 103, 20, 6); /* p >= the best ask: the asks traded, through ours */
        drain(&f, 6);
        CHECK(f.n == 5 && is(&f.r[4], VX_EXEC_FILL, 101, 102, 2, 0));
        vx_sim_venue_counters k;
        vx_sim_venue_counters_read(f.v, &k);
        CHECK(k.queue_events == 3 && k.maker_fills == 3);
        fx_close(&f);
    }
    /* fifo: the same prints fill nothing */
    fixture f;
    fx_open_model(&f, VX_QUEUE_FIFO, 0, 7);
    level(&f, VX_BUY, 100, 4, 1);
    limit(&f, 100, VX_BUY, VX_TIF_GTC, 100, 3, 2);
    trade(&f, VX_BUY, 100, 6, 4);
    trade(&f, VX_BUY, 99, 1, 5);
    drain(&f, 5);
    CHECK(f.n == 1 && ahead_of(&f, 100) == 4);
    fx_close(&f);
}

/* prob, power n, seed: bid 100 shows 10, our order joins (ahead 10), `behind` lots join
 * behind it. */
static void prob_queue(fixture *f, uint32_t power, uint64_t seed, uint32_t behind) {
    fx_open_model(f, VX_QUEUE_PROB, power, seed);
    level(f, VX_BUY, 100, 10, 1);
    limit(f, 100, VX_BUY, VX_TIF_GTC, 100, 3, 2);
    level(f, VX_BUY, 100, 10 + behind, 3);
}

static void test_prob_draws_from_the_queue_stream(void) {
    for (uint64_t seed = 0; seed < 16; seed++) {
        /* n = 1, 4 behind, 4 leave: the cut is 4 x 10/14, its fraction settled by the draw */
        fixture f;
        prob_queue(&f, 1, seed, 4);
        level(&f, VX_BUY, 100, 10, 4);
        double cut = (10.0 / (10.0 + 4.0)) * 4.0;
        uint64_t lots = 2 + (first_queue_draw(seed) < (uint64_t)((cut - 2.0) * 18446744073709551616.0));
        CHECK(ahead_of(&f, 100) == 10 - lots);
        fx_close(&f);
        /* n = 0, 1 behind, 5 leave: half is 2.5 but only 1 can have been behind, so 4 were
         * ahead: no fraction, no draw. The next decrease (a 6, b 14, x 3: cut 1.5) takes the
         * stream's first draw. */
        prob_queue(&f, 0, seed, 1);
        level(&f, VX_BUY, 100, 6, 4);
        CHECK(ahead_of(&f, 100) == 6);
        level(&f, VX_BUY, 100, 20, 5);
        level(&f, VX_BUY, 100, 17, 6);
        CHECK(ahead_of(&f, 100) == 5 - (first_queue_draw(seed) < (UINT64_C(1) << 63)));
        fx_close(&f);
    }
}

int main(void) {
    RUN(test_taker_level_by_level);
    RUN(test_taker_deeper_than_a_chunk);
    RUN(test_post_only);
    RUN(test_join_behind_and_cancels_ahead);
    RUN(test_same_ts_is_ahead);
    RUN(test_execute_behind_consumes_ahead_first);
    RUN(test_trade_through);
    RUN(test_unknown_order_reductions);
    RUN(test_modify_of_orders_ahead);
    RUN(test_replace_and_clear);
    RUN(test_our_modify);
    RUN(test_cancel_duplicate_unknown);
    RUN(test_latency_draws_and_order);
    RUN(test_same_seed_same_reports);
    RUN(test_fees);
    RUN(test_close_expires);
    RUN(test_full_queues);
    RUN(test_config_and_hot_path);
    RUN(test_index_churn);
    RUN(test_queue_models_on_l2_data);
    RUN(test_queue_model_fills);
    RUN(test_prob_draws_from_the_queue_stream);
    return CHECK_SUMMARY("test_venue");
}
