/*
 * test_backtest.c — the backtest loop (backtest.h) with the quote strategy: the same events fed
 * in chunks of 1, 7 and all at once (and with the smallest logs, drained when feed stops) give
 * identical logs and books; ts regressions and book rejects are counted; the quote strategy
 * never exceeds max_position; conservation passes, and fails when positions miscount (the
 * simulated venue is venue.c; positions come from tests/fake_positions.h).
 */
#include <string.h>

#include "check.h"
#include "mbo_fixture.h"
#include "velox/backtest.h"
#include "velox/prng.h"
#include "velox/strategy_builtin.h"

/* positions.h's contract with a switch that miscounts (the conservation test); the real
 * positions.c has its own tests (test_positions). */
#include "fake_positions.h"


#define PX(x) ((int64_t)(x) * VX_PRICE_SCALE)
#define MAX_POSITION 3

struct model_order {
    uint64_t id;
    int64_t price;
    uint32_t qty;
    uint32_t instrument;
    uint8_t side;
};

struct events {
    vx_mbo *e;
    size_t n;
    uint64_t regressions, rejects;
};

/* An event about a model order: at its instrument, side and price. */
static vx_mbo model_event(const struct model_order *o, uint8_t action, uint32_t qty, uint64_t ts,
                          uint8_t flags) {
    vx_mbo e = mbo_fx_event(action, o->id, o->side, o->price, qty, ts);
    e.instrument = o->instrument;
    e.flags = flags;
    return e;
}

/* Seeded MBO stream over 2 instruments: books never cross; planted ts regressions and
 * over-cancels (EXCEEDS rejects). */
static struct events make_events(size_t n, uint64_t seed) {
    struct events ev = {calloc(n, sizeof(vx_mbo)), n, 0, 0};
    struct model_order *live = calloc(4096, sizeof *live);
    REQUIRE(ev.e && live);
    size_t nlive = 0;
    uint64_t next_id = 1, ts = 1000;
    vx_prng rng;
    vx_prng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = vx_prng_below(&rng, 100);
        ts += vx_prng_below(&rng, 3);
        uint64_t at = ts;
        if (i % 1009 == 1008) {
            at = ts - 5;
            ev.regressions++;
        }
        uint8_t flags = vx_prng_below(&rng, 3) == 0 ? VX_MBO_F_LAST : 0;
        if (nlive && i % 997 == 996) { /* over-cancel: rejected, nothing changes */
            struct model_order *o = &live[vx_prng_below(&rng, (uint32_t)nlive)];
            ev.e[i] = model_event(o, VX_MBO_CANCEL, o->qty + 1, at, flags);
            ev.rejects++;
            continue;
        }
        if (nlive < 8 || (r < 45 && nlive < 40)) {
            struct model_order *o = &live[nlive++];
            o->id = next_id++;
            o->instrument = vx_prng_below(&rng, 2);
            o->side = (uint8_t)vx_prng_below(&rng, 2);
            o->price = o->side == VX_BUY ? PX(995 + vx_prng_below(&rng, 5))
                                         : PX(1001 + vx_prng_below(&rng, 5));
            o->qty = 1 + vx_prng_below(&rng, 10);
            ev.e[i] = model_event(o, VX_MBO_ADD, o->qty, at, flags);
            continue;
        }
        size_t k = vx_prng_below(&rng, (uint32_t)nlive);
        struct model_order *o = &live[k];
        uint32_t q = 1 + vx_prng_below(&rng, o->qty);
        if (r < 75) {
            ev.e[i] = model_event(o, VX_MBO_EXECUTE, q, at, flags);
        } else if (r < 90) {
            ev.e[i] = model_event(o, VX_MBO_DELETE, 0, at, flags); /* qty 0: all it has */
            q = o->qty;
        } else {
            ev.e[i] = model_event(o, VX_MBO_CANCEL, q, at, flags);
        }
        o->qty -= q;
        if (o->qty == 0) live[k] = live[--nlive];
    }
    free(live);
    return ev;
}

struct run {
    vx_order *orders;
    vx_exec *execs;
    vx_pnl_point *pnl;
    size_t n_orders, n_execs, n_pnl, cap;
    size_t stops;          /* feed calls that stopped early, finish calls that said VX_FULL */
    vx_backtest_counters c;
    vx_host_counters hc;
    uint64_t digest[2];
    vx_status finish;
    const char *why;
    int64_t max_abs_position;
};

static void drain(vx_backtest *bt, struct run *r) {
    vx_host *h = vx_backtest_host(bt);
    for (int i = 0; i < 1000; i++) { /* bounded: each pass takes up to 4096 of each */
        size_t a = vx_host_take_orders(h, r->orders + r->n_orders,
                                       r->cap - r->n_orders < 4096 ? r->cap - r->n_orders : 4096);
        size_t b = vx_host_take_execs(h, r->execs + r->n_execs,
                                      r->cap - r->n_execs < 4096 ? r->cap - r->n_execs : 4096);
        size_t c = vx_host_take_pnl(h, r->pnl + r->n_pnl,
                                    r->cap - r->n_pnl < 4096 ? r->cap - r->n_pnl : 4096);
        r->n_orders += a;
        r->n_execs += b;
        r->n_pnl += c;
        if (a + b + c == 0) return;
    }
}

static void run_backtest(const struct events *ev, size_t chunk, uint32_t log_capacity,
                         struct run *r) {
    memset(r, 0, sizeof *r);
    r->cap = 1u << 20;
    r->orders = calloc(r->cap, sizeof(vx_order));
    r->execs = calloc(r->cap, sizeof(vx_exec));
    r->pnl = calloc(r->cap, sizeof(vx_pnl_point));
    REQUIRE(r->orders && r->execs && r->pnl);
    vx_strategy *q;
    REQUIRE(vx_quote_create(2, &q) == VX_OK);
    const char *args[] = {"size=1", "max_position=3", NULL};
    vx_backtest_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.instruments = 2;
    cfg.levels = 256;
    cfg.tick = PX(1);
    cfg.max_orders = 8192;
    cfg.edges = VX_BACKTEST_EDGE_FLAG;
    cfg.venue.max_orders = 64;
    cfg.venue.max_in_flight = 256;
    cfg.venue.entry_latency_ns = 3;
    cfg.venue.response_latency_ns = 2;
    cfg.venue.seed = 7;
    cfg.host.log_capacity = log_capacity;
    cfg.host.pnl_interval_ns = 500;
    cfg.host.risk.max_working = 16;
    cfg.host.args = args;
    vx_backtest *bt;
    const char *why = NULL;
    REQUIRE(vx_backtest_create(&cfg, q, &bt, &why) == VX_OK);
    size_t off = 0;
    for (size_t guard = 0; off < ev->n && guard < 4 * ev->n + 16; guard++) {
        size_t n = ev->n - off < chunk ? ev->n - off : chunk;
        size_t consumed = 0;
        REQUIRE(vx_backtest_feed(bt, ev->e + off, n, &consumed) == VX_OK);
        off += consumed;
        if (consumed < n) {
            r->stops++;
            drain(bt, r);
        }
    }
    REQUIRE(off == ev->n);
    for (int i = 0; i < 100; i++) { /* bounded: each VX_FULL is followed by a drain */
        r->finish = vx_backtest_finish(bt, &r->why);
        if (r->finish != VX_FULL) break;
        r->stops++;
        drain(bt, r);
    }
    drain(bt, r);
    vx_backtest_counters_read(bt, &r->c);
    vx_host_counters_read(vx_backtest_host(bt), &r->hc);
    for (uint32_t k = 0; k < 2; k++) {
        r->digest[k] = vx_mbo_digest(vx_mbo_set_reader(vx_backtest_books_view(bt), k));
        vx_position p;
        REQUIRE(vx_host_position(vx_backtest_host(bt), k, &p) == VX_OK);
        int64_t a = p.position < 0 ? -p.position : p.position;
        if (a > r->max_abs_position) r->max_abs_position = a;
    }
    for (size_t i = 0; i < r->n_pnl; i++) {
        int64_t a = r->pnl[i].position < 0 ? -r->pnl[i].position : r->pnl[i].position;
        if (a > r->max_abs_position) r->max_abs_position = a;
    }
    vx_backtest_destroy(bt);
    vx_builtin_destroy(q);
}

static void run_free(struct run *r) {
    free(r->orders);
    free(r->execs);
    free(r->pnl);
}

static int same_run(const struct run *a, const struct run *b) {
    return a->n_orders == b->n_orders && a->n_execs == b->n_execs && a->n_pnl == b->n_pnl &&
           memcmp(a->orders, b->orders, a->n_orders * sizeof(vx_order)) == 0 &&
           memcmp(a->execs, b->execs, a->n_execs * sizeof(vx_exec)) == 0 &&
           memcmp(a->pnl, b->pnl, a->n_pnl * sizeof(vx_pnl_point)) == 0 &&
           memcmp(&a->c, &b->c, sizeof a->c) == 0 && memcmp(&a->hc, &b->hc, sizeof a->hc) == 0 &&
           a->digest[0] == b->digest[0] && a->digest[1] == b->digest[1];
}

/* Not scaled: the small-log run must pass the log room (about 4 100 records) to stop. */
static size_t n_events(void) { return 60000; }

static void test_determinism_and_counts(void) {
    struct events ev = make_events(n_events(), 42);
    struct run all, one, seven, tiny;
    run_backtest(&ev, ev.n, 1u << 20, &all);
    run_backtest(&ev, 1, 1u << 20, &one);
    run_backtest(&ev, 7, 1u << 20, &seven);
    run_backtest(&ev, ev.n, VX_HOST_MIN_LOG_CAPACITY, &tiny);
    CHECK(all.finish == VX_OK);
    CHECK(all.n_orders > 100 && all.n_execs > 100 && all.n_pnl > 10);
    CHECK(all.hc.log_lost == 0 && tiny.hc.log_lost == 0);
    CHECK(same_run(&all, &one));
    CHECK(same_run(&all, &seven));
    CHECK(same_run(&all, &tiny));
    CHECK(tiny.stops > 0);       /* the small logs made feed stop for draining */
    CHECK(all.stops == 0);
    CHECK(all.c.events == ev.n);
    CHECK(all.c.ts_regressions == ev.regressions && ev.regressions > 0);
    CHECK(all.c.book_rejects == ev.rejects && ev.rejects > 0);
    CHECK(all.c.book_rejects_by_reason[VX_MBO_REJECT_EXCEEDS] == ev.rejects);
    CHECK(all.c.applied + all.c.book_rejects == ev.n);
    CHECK(all.c.finished == 1);
    /* quote: positions reached, never beyond max_position */
    CHECK(all.max_abs_position >= 1);
    CHECK(all.max_abs_position <= MAX_POSITION);
    CHECK(all.hc.bad_reports == 0 && all.hc.init_failed == 0);
    printf("     %zu events: %zu orders, %zu reports, %zu pnl points, %zu stops (small logs)\n",
           ev.n, all.n_orders, all.n_execs, all.n_pnl, tiny.stops);
    run_free(&all);
    run_free(&one);
    run_free(&seven);
    run_free(&tiny);
    free(ev.e);
}

static void test_conservation_fails_on_a_miscount(void) {
    struct events ev = make_events(6000, 9);
    struct run r;
    fake_positions_skew = 1;
    run_backtest(&ev, ev.n, 1u << 20, &r);
    fake_positions_skew = 0;
    CHECK(r.finish == VX_ESTATE);
    CHECK(r.why && strstr(r.why, "position"));
    run_free(&r);
    free(ev.e);
}

static void test_refusals(void) {
    vx_backtest_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.instruments = 1;
    cfg.levels = 64;
    cfg.tick = 1;
    cfg.max_orders = 16;
    cfg.edges = VX_BACKTEST_EDGE_FLAG;
    cfg.venue.max_orders = 4;
    cfg.venue.max_in_flight = 16;
    cfg.host.log_capacity = VX_HOST_MIN_LOG_CAPACITY;
    cfg.host.risk.max_working = 4;
    vx_strategy *q;
    REQUIRE(vx_quote_create(1, &q) == VX_OK);
    vx_backtest *bt = NULL;
    const char *why = NULL;
    q->abi_version = 1;
    CHECK(vx_backtest_create(&cfg, q, &bt, &why) == VX_EINVAL && bt == NULL);
    CHECK(why && strstr(why, "abi_version 1"));
    q->abi_version = VX_STRATEGY_ABI_VERSION;
    cfg.edges = 3;
    CHECK(vx_backtest_create(&cfg, q, &bt, &why) == VX_EINVAL && why && strstr(why, "edges"));
    cfg.edges = VX_BACKTEST_EDGE_EVENT;
    cfg.levels = 3;
    CHECK(vx_backtest_create(&cfg, q, &bt, &why) == VX_EINVAL && why && strstr(why, "levels"));
    cfg.levels = 64;
    REQUIRE(vx_backtest_create(&cfg, q, &bt, &why) == VX_OK);
    CHECK(vx_backtest_books(bt) != NULL);
    vx_mbo e;
    memset(&e, 0, sizeof e);
    e.ts = 5;
    e.action = VX_MBO_STATUS;
    e.side = VX_SIDE_NONE;
    size_t consumed = 0;
    CHECK(vx_backtest_feed(bt, &e, 1, &consumed) == VX_OK && consumed == 1);
    CHECK(vx_backtest_books(bt) == NULL);
    CHECK(vx_backtest_finish(bt, &why) == VX_OK);
    CHECK(vx_backtest_feed(bt, &e, 1, &consumed) == VX_ESTATE && consumed == 0);
    vx_backtest_counters c;
    vx_backtest_counters_read(bt, &c);
    CHECK(c.groups == 1 && c.finished == 1);
    vx_backtest_destroy(bt);
    vx_builtin_destroy(q);
}

/* ---- deliveries at group starts (backtest.h step 2), on hand-made events --------------- */

struct tracer {
    const vx_api *api;
    char trace[32];
    size_t n;
    uint64_t calls;
    vx_exec execs[8];
    size_t n_execs;
};

static void tr(struct tracer *t, char c) {
    if (t->n < sizeof t->trace - 1) t->trace[t->n++] = c;
}
static int tr_init(void *s, const vx_api *api, vx_strategy_env *env) {
    (void)env;
    ((struct tracer *)s)->api = api;
    return 0;
}
/* call 1: a refused NEW (qty 0); call 2: a BUY 1 @ 100 (id 7); call 3: the timer at 25. */
static void tr_market(void *s, vx_strategy_env *env, const vx_mbo *ev, uint32_t n) {
    struct tracer *t = s;
    (void)ev;
    (void)n;
    tr(t, 'm');
    t->calls++;
    vx_order o;
    memset(&o, 0, sizeof o);
    o.order_id = 7;
    o.side = VX_BUY;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_GTC;
    o.action = VX_ORDER_NEW;
    o.price = PX(100);
    o.qty = t->calls == 1 ? 0 : 1;
    if (t->calls <= 2) t->api->send(env, &o);
    if (t->calls == 3) CHECK(t->api->set_timer(env, 25) == VX_OK);
}
static void tr_exec(void *s, vx_strategy_env *env, const vx_exec *e) {
    struct tracer *t = s;
    (void)env;
    tr(t, e->kind == VX_EXEC_REJECT ? 'r' : e->kind == VX_EXEC_ACK ? 'a' : 'x');
    if (t->n_execs < 8) t->execs[t->n_execs++] = *e;
}
static void tr_timer(void *s, vx_strategy_env *env, uint64_t now) {
    (void)env;
    (void)now;
    tr(s, 't');
}

/* One book, one event a group; `orders` for the venue's tables and the host's max_working. */
static vx_backtest_config one_book_cfg(uint32_t orders, uint32_t log_capacity) {
    vx_backtest_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.instruments = 1;
    cfg.levels = 64;
    cfg.tick = PX(1);
    cfg.max_orders = 64;
    cfg.edges = VX_BACKTEST_EDGE_EVENT;
    cfg.venue.max_orders = orders;
    cfg.venue.max_in_flight = orders < 16 ? 16 : orders;
    cfg.host.risk.max_working = orders;
    cfg.host.log_capacity = log_capacity;
    return cfg;
}

static vx_mbo status_at(uint64_t ts) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    e.ts = ts;
    e.action = VX_MBO_STATUS;
    e.side = VX_SIDE_NONE;
    return e;
}

/* A local REJECT queued at t reaches the strategy before the next group at the same t; an
 * order arriving at 19 is matched before the event at 20 (which would make it marketable);
 * its ACK (due 19) and the timer (due 25) come before the groups after them. */
static void test_group_start_deliveries(void) {
    vx_mbo ev[5] = {status_at(10), status_at(10), status_at(20), status_at(30), status_at(30)};
    ev[2].action = VX_MBO_ADD; /* an ask at our bid's price, at 20 */
    ev[2].order_id = 500;
    ev[2].side = VX_SELL;
    ev[2].price = PX(100);
    ev[2].qty = 5;
    struct tracer t;
    memset(&t, 0, sizeof t);
    vx_strategy s;
    memset(&s, 0, sizeof s);
    s.abi_version = VX_STRATEGY_ABI_VERSION;
    s.struct_size = sizeof(vx_strategy);
    s.api_version = VX_API_VERSION;
    s.name = "tracer";
    s.state = &t;
    s.init = tr_init;
    s.on_market = tr_market;
    s.on_exec = tr_exec;
    s.on_timer = tr_timer;
    vx_backtest_config cfg = one_book_cfg(4, VX_HOST_MIN_LOG_CAPACITY);
    cfg.venue.entry_latency_ns = 9;
    vx_backtest *bt = NULL;
    const char *why = NULL;
    REQUIRE(vx_backtest_create(&cfg, &s, &bt, &why) == VX_OK);
    size_t consumed = 0;
    CHECK(vx_backtest_feed(bt, ev, 5, &consumed) == VX_OK && consumed == 5);
    CHECK(strcmp(t.trace, "mrmamtmm") == 0);
    CHECK(t.n_execs == 2 && t.execs[1].ts_exchange == 19 && t.execs[1].ts_local == 19);
    CHECK(vx_backtest_finish(bt, &why) == VX_OK);
    CHECK(strcmp(t.trace, "mrmamtmmx") == 0); /* EXPIRED at the close */
    vx_backtest_destroy(bt);
}

/* Feed stops at a group start whenever the log room is below one callback's, even with
 * nothing due (orders on their way for longer than the run): drained, nothing lost. */
static void test_stops_for_room_with_nothing_due(void) {
    enum { EVENTS = 3000 };
    vx_mbo *ev = calloc(EVENTS, sizeof *ev);
    vx_order *orders = calloc(2 * EVENTS, sizeof *orders);
    REQUIRE(ev && orders);
    for (size_t i = 0; i < EVENTS; i++) ev[i] = status_at(10 + i);
    for (size_t i = 0; i < 2 * EVENTS; i++) { /* two orders per event, sent and logged */
        orders[i].ts = 10 + i / 2;
        orders[i].order_id = 1 + i;
        orders[i].side = VX_BUY;
        orders[i].type = VX_ORDER_LIMIT;
        orders[i].tif = VX_TIF_GTC;
        orders[i].action = VX_ORDER_NEW;
        orders[i].price = PX(100);
        orders[i].qty = 1;
    }
    vx_strategy *script;
    REQUIRE(vx_script_create(orders, 2 * EVENTS, &script) == VX_OK);
    /* the least log capacity allowed: one callback's room */
    vx_backtest_config cfg = one_book_cfg(2 * EVENTS, VX_STRATEGY_MAX_SENDS + 2 + 2 * EVENTS + 1);
    cfg.venue.entry_latency_ns = (uint64_t)1 << 40; /* nothing arrives during the run */
    vx_backtest *bt = NULL;
    const char *why = NULL;
    REQUIRE(vx_backtest_create(&cfg, script, &bt, &why) == VX_OK);
    vx_order *taken = calloc(2 * EVENTS, sizeof *taken);
    REQUIRE(taken);
    size_t off = 0, n_taken = 0, stops = 0;
    for (size_t guard = 0; off < EVENTS && guard < 2 * EVENTS; guard++) {
        size_t consumed = 0;
        REQUIRE(vx_backtest_feed(bt, ev + off, EVENTS - off, &consumed) == VX_OK);
        off += consumed;
        if (off < EVENTS) stops++;
        n_taken += vx_host_take_orders(vx_backtest_host(bt), taken + n_taken, 2 * EVENTS - n_taken);
    }
    CHECK(off == EVENTS);
    CHECK(stops > 0);
    vx_host_counters hc;
    vx_host_counters_read(vx_backtest_host(bt), &hc);
    CHECK(hc.log_lost == 0 && hc.sent == 2 * EVENTS && n_taken == 2 * EVENTS);
    vx_backtest_destroy(bt);
    vx_builtin_destroy(script);
    free(taken);
    free(orders);
    free(ev);
}

int main(void) {
    RUN(test_refusals);
    RUN(test_group_start_deliveries);
    RUN(test_stops_for_room_with_nothing_due);
    RUN(test_determinism_and_counts);
    RUN(test_conservation_fails_on_a_miscount);
    return CHECK_SUMMARY("test_backtest");
}
