/*
 * test_host.c — the strategy host (host.h) against a fake venue written here (the seam is four
 * function pointers): the refusal order of host.h's list and every reason, the per-callback
 * send limit, max_working, the kill switch and max_loss, bad reports, api->arg, the timer's
 * place among deliveries, and the strategy-table refusals.
 */
#include <string.h>

#include "check.h"
#include "mbo_fixture.h"
#include "velox/host.h"
#include "velox/strategy_builtin.h"

#define PX(x) ((int64_t)(x) * VX_PRICE_SCALE)

/* ---- a fake venue: takes every order (or refuses all: full), hands out queued reports ---- */

#define FAKE_CAP 8192
struct fake_venue {
    vx_order sent[FAKE_CAP];
    size_t n_sent;
    vx_exec reports[FAKE_CAP];
    size_t head, n_reports;
    int full;
};

static vx_status fv_submit(void *self, const vx_order *o, uint64_t now) {
    struct fake_venue *v = self;
    (void)now;
    if (v->full || v->n_sent == FAKE_CAP) return VX_FULL;
    v->sent[v->n_sent++] = *o;
    return VX_OK;
}
static size_t fv_poll(void *self, vx_exec *out, size_t cap, uint64_t now) {
    struct fake_venue *v = self;
    size_t n = 0;
    while (n < cap && v->head < v->n_reports && v->reports[v->head].ts_local <= now)
        out[n++] = v->reports[v->head++];
    return n;
}
static uint64_t fv_next_due(const void *self) {
    const struct fake_venue *v = self;
    return v->head < v->n_reports ? v->reports[v->head].ts_local : UINT64_MAX;
}
static vx_venue fv_seam(struct fake_venue *v) {
    vx_venue s = {v, fv_submit, fv_poll, fv_next_due, NULL};
    return s;
}
static void fv_report(struct fake_venue *v, uint64_t at, uint64_t id, int kind, int side,
                      uint32_t fill_qty, int64_t fill_price, uint32_t leaves) {
    vx_exec e;
    memset(&e, 0, sizeof e);
    e.ts_exchange = at;
    e.ts_local = at;
    e.order_id = id;
    e.kind = (uint8_t)kind;
    e.side = (uint8_t)side;
    e.fill_qty = fill_qty;
    e.fill_price = fill_price;
    e.leaves_qty = leaves;
    if (fill_qty) e.liquidity = VX_LIQ_MAKER;
    v->reports[v->n_reports++] = e;
}

/* ---- a test strategy: on_market runs the test's step; it records what reached it --------- */

struct tstrat;
typedef void (*step_fn)(struct tstrat *t, vx_strategy_env *env);
struct tstrat {
    const vx_api *api;
    step_fn step;
    vx_exec execs[8192];
    size_t n_execs;
    char trace[64];          /* 'm' market, 'e' exec, 't' timer, 'f' finish */
    size_t n_trace;
    uint64_t timer_now;
    int init_rc;
    vx_reject last;
    const char *arg_size, *arg_empty, *arg_k, *arg_none;
    int exec_floods;         /* on_exec answers this many REJECTs with MAX_SENDS refused sends */
    vx_status timer_status;
    vx_position seen;        /* api->position(0) as step_read_position saw it */
};

static void trace(struct tstrat *t, char c) {
    if (t->n_trace < sizeof t->trace - 1) t->trace[t->n_trace++] = c;
}
static int ts_init(void *s, const vx_api *api, vx_strategy_env *env) {
    struct tstrat *t = s;
    t->api = api;
    t->arg_size = api->arg(env, "size");
    t->arg_empty = api->arg(env, "empty");
    t->arg_k = api->arg(env, "k");
    t->arg_none = api->arg(env, "none");
    return t->init_rc;
}
static void ts_market(void *s, vx_strategy_env *env, const vx_mbo *ev, uint32_t n) {
    struct tstrat *t = s;
    (void)ev;
    (void)n;
    trace(t, 'm');
    if (t->step) t->step(t, env);
}
static void ts_exec(void *s, vx_strategy_env *env, const vx_exec *e) {
    struct tstrat *t = s;
    trace(t, 'e');
    if (t->n_execs < 8192) t->execs[t->n_execs++] = *e;
    if (t->exec_floods > 0 && e->kind == VX_EXEC_REJECT) {
        t->exec_floods--;
        vx_order o;
        memset(&o, 0, sizeof o);
        o.order_id = 5;
        o.action = VX_ORDER_NEW; /* side 0 = BUY, type 0: refused TYPE */
        for (uint32_t i = 0; i < VX_STRATEGY_MAX_SENDS; i++) t->last = t->api->send(env, &o);
    }
}
static void ts_timer(void *s, vx_strategy_env *env, uint64_t now) {
    struct tstrat *t = s;
    (void)env;
    trace(t, 't');
    t->timer_now = now;
}
static void ts_finish(void *s, vx_strategy_env *env) {
    struct tstrat *t = s;
    trace(t, 'f');
    if (t->step) t->step(t, env);
}

static vx_strategy table_for(struct tstrat *t) {
    vx_strategy s;
    memset(&s, 0, sizeof s);
    s.abi_version = VX_STRATEGY_ABI_VERSION;
    s.struct_size = sizeof(vx_strategy);
    s.api_version = VX_API_VERSION;
    s.name = "test";
    s.state = t;
    s.init = ts_init;
    s.on_market = ts_market;
    s.on_exec = ts_exec;
    s.on_timer = ts_timer;
    s.finish = ts_finish;
    return s;
}

/* ---- fixture ----------------------------------------------------------------------------- */

struct fix {
    vx_mbo_set *books;
    struct fake_venue *venue;
    struct tstrat *t;
    vx_host *h;
    vx_strategy table;
};

static vx_host_config default_cfg(void) {
    vx_host_config c;
    memset(&c, 0, sizeof c);
    c.instruments = 2;
    c.log_capacity = VX_HOST_MIN_LOG_CAPACITY + 64;
    c.risk.max_working = 8;
    return c;
}

static void fix_open(struct fix *f, const vx_host_config *cfg) {
    memset(f, 0, sizeof *f);
    f->books = mbo_fx_books(cfg->instruments, 1024, PX(1), 1024);
    f->venue = calloc(1, sizeof *f->venue);
    f->t = calloc(1, sizeof *f->t);
    REQUIRE(f->venue && f->t);
    f->table = table_for(f->t);
    const char *why = NULL;
    REQUIRE(vx_host_create(cfg, &f->table, f->books, fv_seam(f->venue), &f->h, &why) == VX_OK);
    REQUIRE(vx_host_init(f->h, 1) == VX_OK);
}
static void fix_close(struct fix *f) {
    vx_host_destroy(f->h);
    vx_mbo_set_destroy(f->books);
    free(f->venue);
    free(f->t);
}

static void add(struct fix *f, uint64_t ts, uint64_t id, int side, int64_t price, uint32_t qty) {
    vx_mbo e = mbo_fx_event(VX_MBO_ADD, id, side, price, qty, ts);
    e.flags = VX_MBO_F_LAST;
    REQUIRE(mbo_fx_apply(f->books, &e) == VX_OK);
}
/* An order of the books leaves (DELETE, no side: the book knows it). */
static void del(vx_mbo_set *books, uint64_t id) {
    vx_mbo d = mbo_fx_event(VX_MBO_DELETE, id, VX_SIDE_NONE, 0, 0, 0);
    REQUIRE(mbo_fx_apply(books, &d) == VX_OK);
}
/* The event a market call carries: a STATUS of `instrument`, the last of its group. */
static vx_mbo status_event(uint64_t now, uint32_t instrument) {
    vx_mbo e = mbo_fx_event(VX_MBO_STATUS, 0, VX_SIDE_NONE, 0, 0, now);
    e.instrument = instrument;
    e.flags = VX_MBO_F_LAST;
    return e;
}
/* One market call at `now` (an event of instrument 0) running `step`. */
static void market(struct fix *f, uint64_t now, step_fn step) {
    vx_mbo e = status_event(now, 0);
    f->t->step = step;
    vx_host_market(f->h, &e, 1, now);
    f->t->step = NULL;
}

static vx_order new_order(uint64_t id, int side, int64_t price, uint32_t qty) {
    vx_order o;
    memset(&o, 0, sizeof o);
    o.order_id = id;
    o.side = (uint8_t)side;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_GTC;
    o.action = VX_ORDER_NEW;
    o.price = price;
    o.qty = qty;
    return o;
}
static vx_reject send(struct tstrat *t, vx_strategy_env *env, vx_order o) {
    t->last = t->api->send(env, &o);
    return t->last;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* Strategy tables velox must refuse, each with a message naming the versions. */
static void test_table_refusals(void) {
    vx_mbo_set *books = mbo_fx_books(1, 64, PX(1), 16);
    struct fake_venue *v = calloc(1, sizeof *v);
    struct tstrat t;
    memset(&t, 0, sizeof t);
    vx_host_config cfg = default_cfg();
    cfg.instruments = 1;
    struct {
        int field;
        uint32_t value;
        const char *must_name[2];
    } cases[] = {
        {0, 1, {"abi_version 1", "2"}},
        {0, 3, {"abi_version", "2"}},
        {1, (uint32_t)VX_STRATEGY_MIN_SIZE - 8, {"struct_size", "VX_STRATEGY_MIN_SIZE"}},
        {2, VX_API_VERSION + 1, {"api_version", "VX_API_VERSION = 1"}},
        {3, 0, {"on_market", "NULL"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vx_strategy s = table_for(&t);
        if (cases[i].field == 0) s.abi_version = cases[i].value;
        if (cases[i].field == 1) s.struct_size = cases[i].value;
        if (cases[i].field == 2) s.api_version = cases[i].value;
        if (cases[i].field == 3) s.on_market = NULL;
        vx_host *h = (vx_host *)1;
        const char *why = NULL;
        CHECK(vx_host_create(&cfg, &s, books, fv_seam(v), &h, &why) == VX_EINVAL);
        CHECK(h == NULL);
        CHECK(why && strstr(why, cases[i].must_name[0]) && strstr(why, cases[i].must_name[1]));
    }
    /* An older api_version and a larger struct_size are accepted. */
    vx_strategy s = table_for(&t);
    s.api_version = 0;
    s.struct_size = sizeof(vx_strategy) + 64;
    vx_host *h = NULL;
    CHECK(vx_host_create(&cfg, &s, books, fv_seam(v), &h, NULL) == VX_OK);
    vx_host_destroy(h);
    /* A log below the minimum is refused. */
    cfg.log_capacity = VX_HOST_MIN_LOG_CAPACITY - 1;
    s = table_for(&t);
    const char *why = NULL;
    CHECK(vx_host_create(&cfg, &s, books, fv_seam(v), &h, &why) == VX_EINVAL && why);
    free(v);
    vx_mbo_set_destroy(books);
}

/* Refusal order (host.h): each probe fails two checks and must get the earlier one's reason;
 * every local reason appears. */
static void step_refusals(struct tstrat *t, vx_strategy_env *env) {
    vx_order o;
    /* validation before instrument: bad qty on instrument 99 -> QTY */
    o = new_order(1, VX_BUY, PX(10), 0);
    o.instrument = 99;
    CHECK(send(t, env, o) == VX_REJECT_QTY);
    o = new_order(0, VX_BUY, PX(10), 1);
    CHECK(send(t, env, o) == VX_REJECT_ORDER_ID);
    o = new_order(1, 7, PX(10), 1);
    CHECK(send(t, env, o) == VX_REJECT_SIDE);
    o = new_order(1, VX_BUY, PX(10), 1);
    o.type = 9;
    CHECK(send(t, env, o) == VX_REJECT_TYPE);
    o = new_order(1, VX_BUY, PX(10), 1);
    o.tif = 9;
    CHECK(send(t, env, o) == VX_REJECT_TIF);
    o = new_order(1, VX_BUY, PX(10), 1);
    o.action = 0;
    CHECK(send(t, env, o) == VX_REJECT_ACTION);
    o = new_order(1, VX_BUY, -5, 1);
    CHECK(send(t, env, o) == VX_REJECT_PRICE);
    /* instrument before risk / ids */
    o = new_order(1, VX_BUY, PX(10), 1000);
    o.instrument = 2;
    CHECK(send(t, env, o) == VX_REJECT_UNKNOWN_INSTRUMENT);
    /* a working order 1 (max_order_qty 5, max_position 6, max_working 2) */
    CHECK(send(t, env, new_order(1, VX_BUY, PX(10), 5)) == VX_REJECT_NONE);
    /* duplicate before max_order_qty */
    CHECK(send(t, env, new_order(1, VX_BUY, PX(10), 100)) == VX_REJECT_DUPLICATE_ID);
    /* max_order_qty before max_working */
    CHECK(send(t, env, new_order(2, VX_SELL, PX(11), 6)) == VX_REJECT_RISK);
    /* max_position: 5 working buys + 2 > 6 */
    CHECK(send(t, env, new_order(2, VX_BUY, PX(10), 2)) == VX_REJECT_RISK);
    /* the sell side is its own: -5 */
    CHECK(send(t, env, new_order(2, VX_SELL, PX(11), 5)) == VX_REJECT_NONE);
    /* max_working (2) */
    CHECK(send(t, env, new_order(3, VX_SELL, PX(11), 1)) == VX_REJECT_LIMIT);
    /* CANCEL / MODIFY of an unknown id; of a known id on the wrong instrument */
    o = new_order(42, VX_BUY, PX(10), 1);
    o.action = VX_ORDER_CANCEL;
    CHECK(send(t, env, o) == VX_REJECT_UNKNOWN_ORDER);
    o.action = VX_ORDER_MODIFY;
    CHECK(send(t, env, o) == VX_REJECT_UNKNOWN_ORDER);
    o = new_order(1, VX_BUY, PX(10), 1);
    o.action = VX_ORDER_CANCEL;
    o.instrument = 1;
    CHECK(send(t, env, o) == VX_REJECT_UNKNOWN_ORDER);
    /* MODIFY: max_order_qty */
    o = new_order(1, VX_BUY, PX(10), 6);
    o.action = VX_ORDER_MODIFY;
    CHECK(send(t, env, o) == VX_REJECT_RISK);
    o.qty = 5;
    o.price = PX(9);
    CHECK(send(t, env, o) == VX_REJECT_NONE);
}

static void test_refusal_order(void) {
    vx_host_config cfg = default_cfg();
    cfg.risk.max_order_qty = 5;
    cfg.risk.max_position = 6;
    cfg.risk.max_working = 2;
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_refusals);
    CHECK(f.venue->n_sent == 3);
    CHECK(f.t->n_execs == 0); /* refusals wait for the next delivery point */
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.refused == 16);
    CHECK(c.refused_by_reason[VX_REJECT_RISK] == 3);
    CHECK(c.refused_by_reason[VX_REJECT_UNKNOWN_ORDER] == 3);
    CHECK(c.sent == 3);
    CHECK(vx_host_deliver(f.h, 100) == UINT64_MAX);
    CHECK(f.t->n_execs == 16);
    for (size_t i = 0; i < f.t->n_execs; i++) {
        CHECK(f.t->execs[i].kind == VX_EXEC_REJECT);
        CHECK(f.t->execs[i].ts_exchange == 0 && f.t->execs[i].ts_local == 100);
        CHECK(vx_exec_validate(&f.t->execs[i]) == VX_EXEC_FIELD_NONE);
    }
    CHECK(f.t->execs[0].reason == VX_REJECT_QTY);
    CHECK(f.t->execs[7].reason == VX_REJECT_UNKNOWN_INSTRUMENT);
    /* the refused MODIFY of working order 1 carries its side and leaves */
    CHECK(f.t->execs[15].reason == VX_REJECT_RISK && f.t->execs[15].leaves_qty == 5 &&
          f.t->execs[15].side == VX_BUY);
    /* logs: 3 orders, 16 reports in delivery order */
    vx_order orders[8];
    vx_exec execs[32];
    CHECK(vx_host_take_orders(f.h, orders, 8) == 3);
    CHECK(orders[0].ts == 100 && orders[2].action == VX_ORDER_MODIFY);
    CHECK(vx_host_take_execs(f.h, execs, 32) == 16);
    CHECK(memcmp(execs, f.t->execs, 16 * sizeof(vx_exec)) == 0);
    /* kill before duplicate; instrument before kill; the venue's VX_FULL -> LIMIT */
    vx_host_kill(f.h, 101);
    CHECK(f.venue->n_sent == 5); /* a cancel for each of the 2 working orders */
    CHECK(f.venue->sent[3].action == VX_ORDER_CANCEL && f.venue->sent[4].action == VX_ORDER_CANCEL);
    f.t->step = NULL;
    fix_close(&f);
}

static void step_after_kill(struct tstrat *t, vx_strategy_env *env) {
    vx_order o = new_order(1, VX_BUY, PX(10), 1);
    o.instrument = 5;
    CHECK(send(t, env, o) == VX_REJECT_UNKNOWN_INSTRUMENT);
    CHECK(send(t, env, new_order(1, VX_BUY, PX(10), 1)) == VX_REJECT_RISK); /* not DUPLICATE */
    CHECK(send(t, env, new_order(9, VX_BUY, PX(10), 1)) == VX_REJECT_RISK);
}
static void step_one_order(struct tstrat *t, vx_strategy_env *env) {
    send(t, env, new_order(1, VX_BUY, PX(10), 1)); /* the caller checks t->last */
}
static void step_two_orders(struct tstrat *t, vx_strategy_env *env) {
    CHECK(send(t, env, new_order(1, VX_BUY, PX(10), 1)) == VX_REJECT_NONE);
    CHECK(send(t, env, new_order(2, VX_SELL, PX(12), 2)) == VX_REJECT_NONE);
    CHECK(send(t, env, new_order(3, VX_SELL, PX(13), 3)) == VX_REJECT_NONE);
}
static void step_kill(struct tstrat *t, vx_strategy_env *env) { t->api->kill(env); }
static void step_order_inst1(struct tstrat *t, vx_strategy_env *env) {
    vx_order o = new_order(7, VX_BUY, PX(10), 1);
    o.instrument = 1;
    CHECK(send(t, env, o) == VX_REJECT_NONE);
}
static void step_read_position(struct tstrat *t, vx_strategy_env *env) {
    CHECK(t->api->position(env, 0, &t->seen) == VX_OK);
}

static void step_after_close(struct tstrat *t, vx_strategy_env *env) {
    CHECK(send(t, env, new_order(9, VX_BUY, PX(10), 1)) == VX_REJECT_VENUE);
}

/* The venue confirms the cancels of step_two_orders' three orders at `ts`: once delivered,
 * nothing is working and conservation holds. */
static void confirm_cancels(struct fix *f, uint64_t ts) {
    fv_report(f->venue, ts, 1, VX_EXEC_CANCELED, VX_BUY, 0, 0, 0);
    fv_report(f->venue, ts, 2, VX_EXEC_CANCELED, VX_SELL, 0, 0, 0);
    fv_report(f->venue, ts, 3, VX_EXEC_CANCELED, VX_SELL, 0, 0, 0);
    vx_host_deliver(f->h, ts);
    vx_working w[8];
    CHECK(vx_host_working(f->h, w, 8) == 0);
    const char *why = NULL;
    CHECK(vx_host_check(f->h, &why) == VX_OK);
}

/* vx_host_close (a live pipeline's end): the kill switch's cancels and later sends refused,
 * but not the kill switch: killed stays 0. */
static void test_close_is_not_the_kill_switch(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_two_orders);
    vx_host_close(f.h, 110);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 0);
    CHECK(f.venue->n_sent == 6);
    for (size_t i = 3; i < 6; i++) CHECK(f.venue->sent[i].action == VX_ORDER_CANCEL);
    vx_host_close(f.h, 111); /* a second close sends nothing more */
    CHECK(f.venue->n_sent == 6);
    market(&f, 120, step_after_close);
    CHECK(f.venue->n_sent == 6);
    confirm_cancels(&f, 130);
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 0);
    fix_close(&f);
}

/* The session's phases (host.h "Sending", vx_host_close, vx_host_kill, vx_host_finish):
 * after a close, sends are refused (VENUE) and those REJECTs still reach the strategy; a
 * second close sends nothing, even for cancels the venue refused the first time; the kill
 * switch engaged while closing sends its cancels and VENUE still comes first; finish runs
 * after a close, once, and its REJECTs are logged, never delivered. A second kill sends
 * nothing; a close after the kill switch still sends its cancels. */
static void test_session_phases(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_two_orders);
    f.venue->full = 1;
    vx_host_close(f.h, 110); /* the venue refuses the three cancels */
    f.venue->full = 0;
    vx_host_close(f.h, 111);
    CHECK(f.venue->n_sent == 3);
    market(&f, 120, step_after_close);
    vx_host_deliver(f.h, 120);
    CHECK(f.t->n_execs == 1 && f.t->execs[0].kind == VX_EXEC_REJECT &&
          f.t->execs[0].reason == VX_REJECT_VENUE);
    vx_host_kill(f.h, 125);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 1 && f.venue->n_sent == 6);
    market(&f, 126, step_after_close); /* VENUE, not the kill switch's RISK */
    vx_host_deliver(f.h, 126);
    CHECK(f.t->n_execs == 2 && f.t->execs[1].reason == VX_REJECT_VENUE);
    f.t->step = step_after_close;
    vx_host_finish(f.h, 130);
    f.t->step = NULL;
    vx_host_finish(f.h, 131);
    CHECK(strcmp(f.t->trace, "mmemef") == 0);
    CHECK(vx_host_local_pending(f.h) == 0);
    vx_host_deliver(f.h, 140);
    CHECK(f.t->n_execs == 2);
    vx_exec execs[8];
    CHECK(vx_host_take_execs(f.h, execs, 8) == 3 && execs[2].reason == VX_REJECT_VENUE);
    fix_close(&f);

    fix_open(&f, &cfg);
    market(&f, 100, step_two_orders);
    f.venue->full = 1;
    vx_host_kill(f.h, 110);
    f.venue->full = 0;
    vx_host_kill(f.h, 111);
    CHECK(f.venue->n_sent == 3);
    vx_host_close(f.h, 112);
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 1 && f.venue->n_sent == 6);
    fix_close(&f);
}

static void test_kill_switch(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_two_orders);
    fv_report(f.venue, 105, 2, VX_EXEC_ACK, VX_SELL, 0, 0, 2);
    vx_host_deliver(f.h, 105);
    market(&f, 110, step_kill);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 1);
    CHECK(f.venue->n_sent == 6);
    for (size_t i = 3; i < 6; i++) CHECK(f.venue->sent[i].action == VX_ORDER_CANCEL);
    vx_working w[8];
    size_t n = vx_host_working(f.h, w, 8);
    CHECK(n == 3);
    for (size_t i = 0; i < n; i++) CHECK(w[i].state == VX_WORKING_PENDING_CANCEL);
    /* a second kill sends nothing more */
    vx_host_kill(f.h, 111);
    CHECK(f.venue->n_sent == 6);
    market(&f, 120, step_after_kill);
    CHECK(f.venue->n_sent == 6);
    confirm_cancels(&f, 130);
    fix_close(&f);
    /* the venue refusing (VX_FULL) -> LIMIT */
    fix_open(&f, &cfg);
    f.venue->full = 1;
    market(&f, 100, step_one_order);
    CHECK(f.t->last == VX_REJECT_LIMIT);
    vx_host_counters_read(f.h, &c);
    CHECK(c.refused_by_reason[VX_REJECT_LIMIT] == 1 && c.sent == 0);
    fix_close(&f);
}

/* max_loss: a fill, then the mid falls: total <= -max_loss engages the kill switch. */
static void test_max_loss(void) {
    vx_host_config cfg = default_cfg();
    cfg.risk.max_loss = PX(50);
    struct fix f;
    fix_open(&f, &cfg);
    add(&f, 1, 1001, VX_BUY, PX(1000), 5);
    add(&f, 1, 1002, VX_SELL, PX(1002), 5);
    market(&f, 100, step_two_orders); /* 1: buy 1 @ 10 (a price for the id only) */
    fv_report(f.venue, 105, 2, VX_EXEC_ACK, VX_SELL, 0, 0, 2);
    fv_report(f.venue, 105, 1, VX_EXEC_ACK, VX_BUY, 0, 0, 1);
    fv_report(f.venue, 106, 1, VX_EXEC_FILL, VX_BUY, 1, PX(1001), 0);
    vx_host_deliver(f.h, 106);
    vx_position p;
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK);
    CHECK(p.position == 1 && p.mark == PX(1001)); /* mid of 1000 / 1002 */
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 0);
    /* the bid drops to 900, ask 940: mid 920, loss 81 >= 50 */
    add(&f, 200, 1003, VX_BUY, PX(900), 5);
    add(&f, 200, 1004, VX_SELL, PX(940), 5);
    del(f.books, 1001);
    del(f.books, 1002);
    market(&f, 200, NULL);
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.mark == PX(920));
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 1);
    CHECK(f.venue->n_sent == 5); /* orders 2 and 3 canceled */
    market(&f, 210, step_after_kill);
    const char *why;
    CHECK(vx_host_check(f.h, &why) == VX_OK);
    fix_close(&f);
}

/* MAX_SENDS per callback: calls past it get LIMIT (one report, the rest counted). */
static void step_flood(struct tstrat *t, vx_strategy_env *env) {
    for (uint32_t i = 0; i < VX_STRATEGY_MAX_SENDS + 3; i++) send(t, env, new_order(1, VX_BUY, PX(10), 0));
}

/* Marks are taken when read (host.h "Marks"), with the figures an eager mark at every
 * market call would give: the mid of the book of the last market call naming the
 * instrument while a position is held, whoever reads it (api->position, vx_host_position,
 * an interval P&L point); frozen while the position is 0. */
static void test_marks_when_read(void) {
    vx_host_config cfg = default_cfg();
    cfg.pnl_interval_ns = 1000;
    struct fix f;
    fix_open(&f, &cfg);
    add(&f, 1, 1001, VX_BUY, PX(1000), 5);
    add(&f, 1, 1002, VX_SELL, PX(1002), 5);
    market(&f, 100, step_two_orders); /* an interval point edge at 0: none traded yet */
    fv_report(f.venue, 105, 1, VX_EXEC_ACK, VX_BUY, 0, 0, 1);
    fv_report(f.venue, 106, 1, VX_EXEC_FILL, VX_BUY, 1, PX(1001), 0);
    vx_host_deliver(f.h, 106);
    vx_position p;
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.position == 1 && p.mark == PX(1001));
    /* the book moves to 1004 / 1006 (mid 1005); a market call names instrument 0 */
    del(f.books, 1001);
    del(f.books, 1002);
    add(&f, 200, 1003, VX_BUY, PX(1004), 5);
    add(&f, 200, 1004, VX_SELL, PX(1006), 5);
    market(&f, 200, step_read_position);
    CHECK(f.t->seen.mark == PX(1005) && f.t->seen.unrealized == PX(4));
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.mark == PX(1005));
    /* moves again (mid 992), read only through vx_host_position (nothing takes it first) */
    del(f.books, 1003);
    del(f.books, 1004);
    add(&f, 300, 1005, VX_BUY, PX(990), 5);
    add(&f, 300, 1006, VX_SELL, PX(994), 5);
    market(&f, 300, NULL);
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.mark == PX(992) &&
          p.unrealized == -PX(9));
    /* and again (mid 1010): the interval point of the market call at 1000 carries it */
    del(f.books, 1005);
    del(f.books, 1006);
    add(&f, 1000, 1007, VX_BUY, PX(1008), 5);
    add(&f, 1000, 1008, VX_SELL, PX(1012), 5);
    vx_pnl_point pts[16];
    size_t n = vx_host_take_pnl(f.h, pts, 16); /* the fill's point */
    CHECK(n == 1 && pts[0].reason == 1 && pts[0].unrealized == 0);
    market(&f, 1000, NULL);
    n = vx_host_take_pnl(f.h, pts, 16);
    CHECK(n == 1 && pts[0].reason == 2 && pts[0].unrealized == PX(9) && pts[0].total == PX(9));
    /* flat again (sold at 1012, the mark taken then: mid 1010); the book moves, market calls
     * name the instrument: the mark stays the one taken at the fill */
    fv_report(f.venue, 1100, 2, VX_EXEC_ACK, VX_SELL, 0, 0, 2);
    fv_report(f.venue, 1100, 2, VX_EXEC_PARTIAL_FILL, VX_SELL, 1, PX(1012), 1);
    vx_host_deliver(f.h, 1100);
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.position == 0 && p.mark == PX(1010));
    /* a position in instrument 1 (so some instrument is held) */
    market(&f, 1150, step_order_inst1);
    fv_report(f.venue, 1160, 7, VX_EXEC_ACK, VX_BUY, 0, 0, 1);
    f.venue->reports[f.venue->n_reports - 1].instrument = 1;
    fv_report(f.venue, 1160, 7, VX_EXEC_FILL, VX_BUY, 1, PX(10), 0);
    f.venue->reports[f.venue->n_reports - 1].instrument = 1;
    vx_host_deliver(f.h, 1160);
    CHECK(vx_host_position(f.h, 1, &p) == VX_OK && p.position == 1);
    del(f.books, 1007);
    add(&f, 1200, 1009, VX_BUY, PX(1000), 5);
    market(&f, 1200, step_read_position);
    CHECK(f.t->seen.mark == PX(1010));
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.mark == PX(1010));
    const char *why;
    CHECK(vx_host_check(f.h, &why) == VX_OK);
    fix_close(&f);
}

/* max_loss after a fee: a fee report is not followed by a check, the next market call's
 * check sees it (the total moved) and engages the kill switch. */
static void test_max_loss_after_a_fee(void) {
    vx_host_config cfg = default_cfg();
    cfg.risk.max_loss = PX(5);
    struct fix f;
    fix_open(&f, &cfg);
    add(&f, 1, 1001, VX_BUY, PX(1000), 5);
    add(&f, 1, 1002, VX_SELL, PX(1002), 5);
    market(&f, 100, step_two_orders);
    fv_report(f.venue, 105, 1, VX_EXEC_ACK, VX_BUY, 0, 0, 1);
    fv_report(f.venue, 106, 1, VX_EXEC_FILL, VX_BUY, 1, PX(1001), 0); /* at the mid: 0 */
    vx_host_deliver(f.h, 106);
    market(&f, 110, NULL);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 0);
    fv_report(f.venue, 120, 2, VX_EXEC_ACK, VX_SELL, 0, 0, 2);
    f.venue->reports[f.venue->n_reports - 1].fee = PX(6); /* a fee on an ACK: total -6 */
    vx_host_deliver(f.h, 120);
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 0); /* no check after a report that is not a fill */
    market(&f, 130, NULL);
    vx_host_counters_read(f.h, &c);
    CHECK(c.killed == 1);
    fix_close(&f);
}

static void test_max_sends(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_flood);
    CHECK(f.t->last == VX_REJECT_LIMIT);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.refused == VX_STRATEGY_MAX_SENDS + 3);
    CHECK(c.refused_by_reason[VX_REJECT_QTY] == VX_STRATEGY_MAX_SENDS);
    CHECK(c.refused_by_reason[VX_REJECT_LIMIT] == 3);
    CHECK(c.refused_unreported == 2);
    vx_host_deliver(f.h, 100);
    CHECK(f.t->n_execs == VX_STRATEGY_MAX_SENDS + 1);
    CHECK(f.t->execs[VX_STRATEGY_MAX_SENDS].reason == VX_REJECT_LIMIT);
    /* the next callback has its own budget */
    market(&f, 101, step_one_order);
    CHECK(f.t->last == VX_REJECT_NONE);
    fix_close(&f);
    /* a strategy answering REJECTs with floods: the queue (2 callbacks' worth) fills, the
     * overflow becomes LIMIT without a report, every refusal counted */
    fix_open(&f, &cfg);
    f.t->exec_floods = 3;
    market(&f, 100, step_flood);
    vx_exec log[64];
    for (int round = 0; round < 64 && vx_host_next_due(f.h) != UINT64_MAX; round++) {
        vx_host_deliver(f.h, 100);
        while (vx_host_take_execs(f.h, log, 64) == 64) {}
    }
    vx_host_counters_read(f.h, &c);
    CHECK(vx_host_next_due(f.h) == UINT64_MAX);
    CHECK(c.refused == VX_STRATEGY_MAX_SENDS + 3 + 3 * (uint64_t)VX_STRATEGY_MAX_SENDS);
    uint64_t sum = 0;
    for (int r = 0; r <= VX_REJECT_MAX; r++) sum += c.refused_by_reason[r];
    CHECK(sum == c.refused);
    CHECK(c.refused_unreported > 2);
    CHECK(c.exec_calls == c.refused - c.refused_unreported);
    CHECK(c.log_lost == 0);
    fix_close(&f);
}

/* Reports that fail validation or match no order: counted, logged as received, not applied. */
static void test_bad_reports(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_one_order);
    fv_report(f.venue, 101, 1, 0, VX_BUY, 0, 0, 1);                  /* kind 0 */
    fv_report(f.venue, 101, 7, VX_EXEC_ACK, VX_BUY, 0, 0, 1);        /* unknown id */
    fv_report(f.venue, 101, 1, VX_EXEC_ACK, VX_SELL, 0, 0, 1);       /* wrong side */
    fv_report(f.venue, 101, 1, VX_EXEC_FILL, VX_BUY, 2, PX(10), 0);  /* fill > leaves */
    fv_report(f.venue, 101, 1, VX_EXEC_ACK, VX_BUY, 0, 0, 1);        /* valid */
    f.venue->reports[f.venue->n_reports - 1].instrument = 0;
    fv_report(f.venue, 101, 1, VX_EXEC_ACK, VX_BUY, 0, 0, 1);        /* wrong instrument */
    f.venue->reports[f.venue->n_reports - 1].instrument = 1;
    /* a cancel that crossed its order's end: REJECT UNKNOWN_ORDER of an id not working */
    fv_report(f.venue, 101, 9, VX_EXEC_REJECT, VX_BUY, 0, 0, 0);
    f.venue->reports[f.venue->n_reports - 1].reason = VX_REJECT_UNKNOWN_ORDER;
    vx_host_deliver(f.h, 101);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.bad_reports == 5);
    CHECK(c.reports == 2);
    CHECK(f.t->n_execs == 2 && f.t->execs[0].kind == VX_EXEC_ACK);
    CHECK(f.t->execs[1].kind == VX_EXEC_REJECT && f.t->execs[1].order_id == 9);
    vx_position p;
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.position == 0 && p.working_buy == 1);
    vx_exec log[8];
    CHECK(vx_host_take_execs(f.h, log, 8) == 7);
    CHECK(memcmp(&log[3], &f.venue->reports[3], sizeof(vx_exec)) == 0);
    const char *why;
    CHECK(vx_host_check(f.h, &why) == VX_OK);
    fix_close(&f);
}

static void test_args(void) {
    char size[] = "size=3";
    const char *args[] = {size, "empty=", "k=v=w", NULL};
    vx_host_config cfg = default_cfg();
    cfg.args = args;
    struct fix f;
    fix_open(&f, &cfg);
    size[5] = '9'; /* the host keeps its own copies */
    CHECK(f.t->arg_size && strcmp(f.t->arg_size, "3") == 0);
    CHECK(f.t->arg_empty && strcmp(f.t->arg_empty, "") == 0);
    CHECK(f.t->arg_k && strcmp(f.t->arg_k, "v=w") == 0);
    CHECK(f.t->arg_none == NULL);
    fix_close(&f);
    const char *bad[] = {"novalue", NULL};
    cfg.args = bad;
    vx_mbo_set *books = mbo_fx_books(2, 64, PX(1), 16);
    struct fake_venue *v = calloc(1, sizeof *v);
    struct tstrat t;
    memset(&t, 0, sizeof t);
    vx_strategy s = table_for(&t);
    vx_host *h = NULL;
    const char *why = NULL;
    CHECK(vx_host_create(&cfg, &s, books, fv_seam(v), &h, &why) == VX_EINVAL && why);
    free(v);
    vx_mbo_set_destroy(books);
}

static void step_timer(struct tstrat *t, vx_strategy_env *env) {
    t->timer_status = t->api->set_timer(env, 150);
    send(t, env, new_order(1, VX_BUY, PX(10), 0)); /* a local REJECT, due now */
}

/* Among things due at one time: reports, then the timer; local REJECTs first. */
static void test_timer_order(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_one_order);
    CHECK(f.t->last == VX_REJECT_NONE);
    market(&f, 100, step_timer);
    CHECK(f.t->timer_status == VX_OK);
    CHECK(vx_host_next_due(f.h) == 100); /* the local REJECT */
    fv_report(f.venue, 100, 1, VX_EXEC_ACK, VX_BUY, 0, 0, 1);
    fv_report(f.venue, 150, 1, VX_EXEC_CANCELED, VX_BUY, 0, 0, 0);
    CHECK(vx_host_deliver(f.h, 100) == 150);
    CHECK(strcmp(f.t->trace, "mmee") == 0);
    /* the local REJECT (made before) reaches the strategy before the venue's report */
    CHECK(f.t->execs[0].kind == VX_EXEC_REJECT && f.t->execs[1].kind == VX_EXEC_ACK);
    CHECK(vx_host_deliver(f.h, 149) == 150);
    CHECK(strcmp(f.t->trace, "mmee") == 0);
    CHECK(vx_host_deliver(f.h, 150) == UINT64_MAX);
    CHECK(strcmp(f.t->trace, "mmeeet") == 0);
    CHECK(f.t->timer_now == 150);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.timer_calls == 1 && c.exec_calls == 3 && c.market_calls == 2);
    /* finish: orders sent there are refused VENUE, logged, never delivered */
    f.t->step = step_one_order;
    vx_host_finish(f.h, 200);
    CHECK(strcmp(f.t->trace, "mmeeetf") == 0);
    CHECK(f.t->last == VX_REJECT_VENUE);
    vx_host_deliver(f.h, 200);
    CHECK(f.t->n_execs == 3);
    fix_close(&f);
    /* no on_timer: set_timer refuses */
    fix_open(&f, &cfg);
    vx_host_destroy(f.h);
    f.table.on_timer = NULL;
    REQUIRE(vx_host_create(&cfg, &f.table, f.books, fv_seam(f.venue), &f.h, NULL) == VX_OK);
    REQUIRE(vx_host_init(f.h, 1) == VX_OK);
    market(&f, 100, step_timer);
    CHECK(f.t->timer_status == VX_EINVAL);
    fix_close(&f);
}

/* init refusing: never called again. */
static void test_init_refused(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    memset(&f, 0, sizeof f);
    f.books = mbo_fx_books(2, 64, PX(1), 16);
    f.venue = calloc(1, sizeof *f.venue);
    f.t = calloc(1, sizeof *f.t);
    f.t->init_rc = 3;
    f.table = table_for(f.t);
    REQUIRE(vx_host_create(&cfg, &f.table, f.books, fv_seam(f.venue), &f.h, NULL) == VX_OK);
    CHECK(vx_host_init(f.h, 1) == VX_ESTATE);
    market(&f, 100, step_one_order);
    vx_host_finish(f.h, 200);
    vx_host_counters c;
    vx_host_counters_read(f.h, &c);
    CHECK(c.init_failed == 1 && c.market_calls == 0);
    CHECK(f.t->n_trace == 0);
    fix_close(&f);
}

/* A life cycle: ACK, PARTIAL_FILL, MODIFIED, FILL; positions, P&L points, conservation. */
static void step_modify(struct tstrat *t, vx_strategy_env *env) {
    vx_order o = new_order(1, VX_BUY, PX(11), 4);
    o.action = VX_ORDER_MODIFY;
    CHECK(send(t, env, o) == VX_REJECT_NONE);
}
static void test_life_cycle(void) {
    vx_host_config cfg = default_cfg();
    struct fix f;
    fix_open(&f, &cfg);
    market(&f, 100, step_two_orders);
    fv_report(f.venue, 101, 2, VX_EXEC_ACK, VX_SELL, 0, 0, 2);
    fv_report(f.venue, 102, 2, VX_EXEC_PARTIAL_FILL, VX_SELL, 1, PX(12), 1);
    vx_host_deliver(f.h, 102);
    vx_position p;
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.position == -1 && p.working_sell == 1 + 3);
    /* the pending MODIFY's price and qty show once MODIFIED arrives */
    fv_report(f.venue, 103, 1, VX_EXEC_ACK, VX_BUY, 0, 0, 1);
    vx_host_deliver(f.h, 103);
    market(&f, 104, step_modify);
    fv_report(f.venue, 105, 1, VX_EXEC_MODIFIED, VX_BUY, 0, 0, 4);
    vx_host_deliver(f.h, 105);
    vx_working list[8];
    size_t n = vx_host_working(f.h, list, 8);
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i].order_id == 1) {
            seen = 1;
            CHECK(list[i].price == PX(11) && list[i].qty == 4 && list[i].leaves_qty == 4);
            CHECK(list[i].state == VX_WORKING_LIVE);
        }
    CHECK(seen);
    fv_report(f.venue, 106, 1, VX_EXEC_FILL, VX_BUY, 4, PX(11), 0);
    fv_report(f.venue, 106, 2, VX_EXEC_FILL, VX_SELL, 1, PX(12), 0);
    fv_report(f.venue, 107, 3, VX_EXEC_REJECT, VX_SELL, 0, 0, 0);
    f.venue->reports[f.venue->n_reports - 1].reason = VX_REJECT_WOULD_CROSS;
    vx_host_deliver(f.h, 107);
    CHECK(vx_host_working(f.h, list, 8) == 0);
    CHECK(vx_host_position(f.h, 0, &p) == VX_OK && p.position == 2 && p.working_sell == 0 &&
          p.working_buy == 0);
    vx_pnl_point pts[8];
    CHECK(vx_host_take_pnl(f.h, pts, 8) == 3);
    CHECK(pts[0].reason == 1 && pts[0].position == -1 && pts[2].position == 2);
    const char *why = NULL;
    CHECK(vx_host_check(f.h, &why) == VX_OK);
    fix_close(&f);
}

/* Builtin strategies under the host. */
static vx_host *builtin_host(vx_strategy *s, vx_mbo_set *books, struct fake_venue *v,
                             const char *const *args) {
    vx_host_config cfg = default_cfg();
    cfg.args = args;
    vx_host *h = NULL;
    REQUIRE(vx_host_create(&cfg, s, books, fv_seam(v), &h, NULL) == VX_OK);
    return h;
}
static void market_on(vx_host *h, uint64_t now, uint32_t instrument) {
    vx_mbo e = status_event(now, instrument);
    vx_host_market(h, &e, 1, now);
}

static void test_quote(void) {
    struct fix f;
    vx_host_config cfg = default_cfg();
    fix_open(&f, &cfg);
    vx_strategy *q = NULL;
    REQUIRE(vx_quote_create(2, &q) == VX_OK);
    CHECK(strcmp(q->name, "quote") == 0);
    const char *args[] = {"size=2", "max_position=3", NULL};
    vx_host *h = builtin_host(q, f.books, f.venue, args);
    CHECK(vx_host_init(h, 1) == VX_OK);
    add(&f, 1, 1001, VX_BUY, PX(1000), 5);
    add(&f, 1, 1002, VX_SELL, PX(1002), 5);
    market_on(h, 10, 1); /* instrument 1: empty book, nothing */
    CHECK(f.venue->n_sent == 0);
    market_on(h, 10, 0);
    CHECK(f.venue->n_sent == 2);
    CHECK(f.venue->sent[0].order_id == 1 && f.venue->sent[0].side == VX_BUY &&
          f.venue->sent[0].price == PX(1000) && f.venue->sent[0].qty == 2);
    CHECK(f.venue->sent[1].order_id == 2 && f.venue->sent[1].side == VX_SELL &&
          f.venue->sent[1].price == PX(1002));
    market_on(h, 11, 0); /* nothing moved */
    CHECK(f.venue->n_sent == 2);
    add(&f, 12, 1003, VX_BUY, PX(1001), 5);
    market_on(h, 12, 0);
    /* the bid moved: cancel 1; a new bid would make |0 + 2 + 2| > 3 while 1 still works */
    CHECK(f.venue->n_sent == 3);
    CHECK(f.venue->sent[2].action == VX_ORDER_CANCEL && f.venue->sent[2].order_id == 1);
    fv_report(f.venue, 13, 1, VX_EXEC_CANCELED, VX_BUY, 0, 0, 0);
    vx_host_deliver(h, 13);
    market_on(h, 14, 0);
    CHECK(f.venue->n_sent == 4);
    CHECK(f.venue->sent[3].order_id == 3 && f.venue->sent[3].price == PX(1001) &&
          f.venue->sent[3].action == VX_ORDER_NEW);
    /* a fill of the ask: position -2; a new ask would make |-2 - 0 - 2| > 3 */
    fv_report(f.venue, 15, 2, VX_EXEC_FILL, VX_SELL, 2, PX(1002), 0);
    vx_host_deliver(h, 15);
    market_on(h, 16, 0);
    CHECK(f.venue->n_sent == 4);
    vx_host_destroy(h);
    /* without a position limit: one cancel on its way per side, so <= 2 orders per side */
    f.venue->n_sent = 0;
    const char *loose[] = {"max_position=100", NULL};
    vx_strategy *q2 = NULL;
    REQUIRE(vx_quote_create(2, &q2) == VX_OK);
    h = builtin_host(q2, f.books, f.venue, loose);
    CHECK(vx_host_init(h, 1) == VX_OK);
    market_on(h, 20, 0); /* bid 1001, ask 1002 */
    CHECK(f.venue->n_sent == 2);
    del(f.books, 1003); /* bid back to 1000 */
    market_on(h, 21, 0);
    CHECK(f.venue->n_sent == 4); /* cancel 1, new bid 3 @ 1000 */
    add(&f, 22, 1004, VX_BUY, PX(1001), 5);
    market_on(h, 22, 0);         /* bid 1001 again: order 1's cancel is unconfirmed */
    CHECK(f.venue->n_sent == 4);
    vx_working wl[16];
    CHECK(vx_host_working(h, wl, 16) <= 4);
    vx_host_destroy(h);
    vx_builtin_destroy(q2);
    /* bad args: init refuses */
    const char *bad[][2] = {{"size=0", NULL}, {"size=x1", NULL}, {"max_position=-1", NULL},
                            {"size=", NULL}, {"size=4294967296", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *a[] = {bad[i][0], NULL};
        h = builtin_host(q, f.books, f.venue, a);
        CHECK(vx_host_init(h, 1) == VX_ESTATE);
        vx_host_destroy(h);
    }
    vx_builtin_destroy(q);
    fix_close(&f);
}

static void test_script(void) {
    struct fix f;
    vx_host_config cfg = default_cfg();
    fix_open(&f, &cfg);
    vx_order orders[3] = {new_order(1, VX_BUY, PX(10), 1), new_order(2, VX_BUY, PX(10), 1),
                          new_order(3, VX_BUY, PX(10), 0)};
    orders[0].ts = 100;
    orders[1].ts = 200;
    orders[2].ts = 300; /* the last order due alone: a spent-script test must not skip it */
    vx_strategy *s = NULL;
    REQUIRE(vx_script_create(orders, 3, &s) == VX_OK);
    orders[0].qty = 77; /* copied at create */
    CHECK(strcmp(s->name, "script") == 0);
    vx_host *h = builtin_host(s, f.books, f.venue, NULL);
    CHECK(vx_host_init(h, 1) == VX_OK);
    market_on(h, 99, 0);
    CHECK(f.venue->n_sent == 0);
    market_on(h, 150, 0);
    CHECK(f.venue->n_sent == 1 && f.venue->sent[0].ts == 150 && f.venue->sent[0].qty == 1);
    market_on(h, 250, 0);
    CHECK(f.venue->n_sent == 2 && f.venue->sent[1].order_id == 2);
    vx_host_counters c;
    vx_host_counters_read(h, &c);
    CHECK(c.refused_by_reason[VX_REJECT_QTY] == 0);
    market_on(h, 300, 0); /* order 3 (qty 0): sent by the script, refused by the host */
    vx_host_counters_read(h, &c);
    CHECK(c.refused_by_reason[VX_REJECT_QTY] == 1);
    market_on(h, 400, 0);
    CHECK(f.venue->n_sent == 2);
    vx_host_destroy(h);
    vx_builtin_destroy(s);
    fix_close(&f);
}

int main(void) {
    RUN(test_quote);
    RUN(test_script);
    RUN(test_table_refusals);
    RUN(test_refusal_order);
    RUN(test_kill_switch);
    RUN(test_close_is_not_the_kill_switch);
    RUN(test_session_phases);
    RUN(test_max_loss);
    RUN(test_marks_when_read);
    RUN(test_max_loss_after_a_fee);
    RUN(test_max_sends);
    RUN(test_bad_reports);
    RUN(test_args);
    RUN(test_timer_order);
    RUN(test_init_refused);
    RUN(test_life_cycle);
    return CHECK_SUMMARY("test_host");
}
