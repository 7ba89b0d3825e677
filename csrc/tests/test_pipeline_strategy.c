/* test_pipeline_strategy.c — a market-by-order pipeline hosting an ABI v2 strategy
 * (pipeline.h "Strategies"): velox's quote strategy trades through the live venue against a
 * gateway thread (ACK every NEW, CANCELED for every CANCEL of a working order, a FILL for
 * every 3rd NEW) while the main thread drains the three log rings. Checks: every order the
 * gateway got is in the orders log, in order; every report it sent is in the execs log with
 * ts_local = event time; counts conserve (logged = drained, venue counters = gateway's);
 * the host's check holds; with log rings of 16 slots and a slow drain the book thread waits
 * for room (log_waits > 0) and still loses nothing; bad configurations are refused by name. */
#include "check.h"
#include "strategy_logs.h"
#include "velox/pipeline.h"
#include "velox/ring.h"
#include "velox/strategy_builtin.h"
#include "velox/tsc.h"

#include <pthread.h>
#include <string.h>

enum { N_EVENTS = 20000 };

/* The moving market of strategy_logs.h, without executions. */
static vx_mbo event_at(uint64_t i) { return strategy_market_event(i, 0); }

typedef struct gateway {
    vx_ring *orders, *execs;
    _Atomic int stop, started;
    vx_order got[MAX_LOG];
    vx_exec sent[MAX_LOG];
    uint64_t n_got, n_sent, news;
    int bad;
    uint64_t working[4096]; /* ids resting at the gateway (0: free) */
} gateway;

static void gw_send(gateway *g, const vx_order *o, uint8_t kind, uint32_t leaves, uint32_t fill) {
    vx_exec e;
    memset(&e, 0, sizeof e);
    e.ts_exchange = 7;
    e.order_id = o->order_id;
    e.instrument = o->instrument;
    e.side = o->side;
    e.kind = kind;
    e.leaves_qty = leaves;
    if (fill) {
        e.fill_qty = fill;
        e.fill_price = o->price;
        e.liquidity = VX_LIQ_MAKER;
    }
    vx_ring_backoff b = {0};
    if (g->n_sent >= MAX_LOG ||
        vx_ring_push_wait(g->execs, &e, vx_monotonic_ns() + 30000000000ull, &b) != VX_OK) {
        g->bad = 1;
        return;
    }
    g->sent[g->n_sent++] = e;
}

static void *gateway_main(void *arg) {
    gateway *g = arg;
    vx_test_started(&g->started);
    const uint64_t deadline = vx_monotonic_ns() + 120000000000ull;
    while (vx_monotonic_ns() < deadline) { /* bounded by the deadline */
        vx_order o;
        if (vx_ring_try_pop(g->orders, &o) != VX_OK) {
            if (atomic_load(&g->stop)) return NULL;
            sched_yield();
            continue;
        }
        if (g->n_got >= MAX_LOG) { g->bad = 1; return NULL; }
        g->got[g->n_got++] = o;
        uint64_t *slot = &g->working[o.order_id % 4096];
        if (o.action == VX_ORDER_NEW) {
            g->news++;
            gw_send(g, &o, VX_EXEC_ACK, o.qty, 0);
            if (g->news % 3 == 0) gw_send(g, &o, VX_EXEC_FILL, 0, o.qty);
            else *slot = o.order_id;
        } else if (o.action == VX_ORDER_CANCEL && *slot == o.order_id) {
            *slot = 0;
            vx_order w = o;
            gw_send(g, &w, VX_EXEC_CANCELED, 0, 0);
        } /* a cancel of a filled order: no answer (its FILL went first) */
    }
    g->bad = 1;
    return NULL;
}

static void run(uint32_t log_ring, uint32_t drain_most, int slow) {
    vx_ring *src = NULL, *orders = NULL, *execs = NULL;
    REQUIRE(vx_ring_create(1024, sizeof(vx_mbo), &src) == VX_OK);
    REQUIRE(vx_ring_create(64, sizeof(vx_order), &orders) == VX_OK);
    REQUIRE(vx_ring_create(64, sizeof(vx_exec), &execs) == VX_OK);
    vx_strategy *quote = NULL;
    if (slow) { /* bursts: the book thread must wait for the driver (strategy_logs.h) */
        quote = burst_script();
    } else {
        REQUIRE(vx_quote_create(1, &quote) == VX_OK);
    }
    vx_pipeline_config c;
    strategy_run_config(&c, src, quote, log_ring);
    c.thread_count = 1;
    memset(c.stage_thread, 0, sizeof c.stage_thread);
    c.venue_orders = orders;
    c.venue_execs = execs;
    c.strategy_host.risk.max_working = slow ? 1024 : 16;
    c.strategy_host.log_capacity = VX_HOST_MIN_LOG_CAPACITY; /* 8192: a burst fills half */
    static const char *const args[] = {"size=2", "max_position=8", NULL};
    c.strategy_host.args = args;
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    gateway *g = calloc(1, sizeof *g);
    drained *d = calloc(1, sizeof *d);
    REQUIRE(g && d);
    g->orders = orders;
    g->execs = execs;
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, gateway_main, g) == 0);
    REQUIRE(vx_test_wait_started(&g->started, 20.0));
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    const uint64_t n = vx_test_count(N_EVENTS, 5000);
    const uint64_t fed = strategy_feed_and_drain(p, src, event_at, 0, n, d, drain_most, slow);
    atomic_store(&g->stop, 1);
    pthread_join(th, NULL);
    vx_pipeline_counters m;
    vx_pipeline_read_counters(p, &m);
    CHECK(g->bad == 0 && fed == n && m.generated == n);
    for (int k = 0; k < VX_PIPELINE_LOGS; k++) CHECK(m.strategy_logged[k] == d->n[k]);
    vx_host *h = vx_pipeline_strategy_host(p);
    REQUIRE(h != NULL);
    vx_host_counters hc;
    vx_host_counters_read(h, &hc);
    CHECK(hc.log_lost == 0 && hc.bad_reports == 0 && hc.sent == g->n_got);
    const char *why = "?";
    vx_status st = vx_pipeline_strategy_check(p, &why);
    if (st != VX_OK) fprintf(stderr, "strategy check: %s\n", why);
    CHECK(st == VX_OK);
    if (slow) { /* the driver was behind: the book thread waited, and lost nothing */
        CHECK(m.strategy_log_waits > 0 && hc.refused > 0);
        CHECK(d->n[0] == hc.sent && d->n[1] == g->n_sent + hc.refused - hc.refused_unreported);
        goto done;
    }
    /* every order the gateway got was logged, in order, and nothing else left */
    CHECK(m.venue_submitted == g->n_got && d->n[0] == g->n_got && g->news > 2);
    CHECK(memcmp(d->orders, g->got, g->n_got * sizeof(vx_order)) == 0);
    /* every report it sent reached the strategy, unchanged but for ts_local (event time) */
    CHECK(d->n[1] == g->n_sent && m.venue_polled == g->n_sent);
    int same = 1, clock_ok = 1;
    for (uint64_t i = 0; i < d->n[1] && i < g->n_sent; i++) {
        vx_exec x = d->execs[i];
        clock_ok &= x.ts_local >= 1000000 && x.ts_local <= 1000000 + (n - 1) * 1000;
        x.ts_local = 0;
        same &= memcmp(&x, &g->sent[i], sizeof x) == 0;
    }
    CHECK(same && clock_ok);
    CHECK(d->n[2] == g->news / 3); /* a P&L point per fill */
    CHECK(m.strategy_closing == 1 && m.strategy_close_timed_out == 0 && m.venue_ring_errors == 0);
    CHECK(hc.reports == g->n_sent);
    vx_position pos;
    CHECK(vx_host_position(h, 0, &pos) == VX_OK && pos.fills == g->news / 3);
done:
    vx_pipeline_destroy(p);
    vx_builtin_destroy(quote);
    vx_ring_destroy(src);
    vx_ring_destroy(orders);
    vx_ring_destroy(execs);
    free(g);
    free(d);
}

static void test_quote_live_against_a_gateway_thread(void) { run(4096, 4096, 0); }
static void test_slow_driver_waits_and_loses_nothing(void) { run(16, 64, 1); }

static void test_bad_configurations_are_named(void) {
    vx_ring *src = NULL, *orders = NULL, *execs = NULL;
    REQUIRE(vx_ring_create(64, sizeof(vx_mbo), &src) == VX_OK);
    REQUIRE(vx_ring_create(64, sizeof(vx_order), &orders) == VX_OK);
    REQUIRE(vx_ring_create(64, sizeof(vx_exec), &execs) == VX_OK);
    vx_strategy *quote = NULL;
    REQUIRE(vx_quote_create(1, &quote) == VX_OK);
    vx_pipeline_config c;
    const char *field = NULL;
#define BASE()                                                                 \
    do {                                                                       \
        strategy_base_config(&c, src, quote);                                  \
        c.venue_orders = orders;                                               \
        c.venue_execs = execs;                                                 \
    } while (0)
    BASE();
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
    BASE();
    c.records = VX_RECORDS_TXN;
    c.source_ring = NULL;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "strategy") == 0);
    BASE();
    c.venue_orders = execs; /* a ring of the wrong records */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "venue_orders") == 0);
    BASE();
    c.venue_execs = NULL;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "venue_execs") == 0);
    BASE();
    c.strategy_edges = 3;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "strategy_edges") == 0);
    BASE();
    c.strategy_log_ring_capacity = 8;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL &&
          strcmp(field, "strategy_log_ring_capacity") == 0);
    BASE();
    vx_strategy bad = *quote;
    bad.abi_version = 1; /* refused by the host at create */
    c.strategy = &bad;
    vx_pipeline *p = NULL;
    CHECK(vx_pipeline_create(&c, &p) == VX_EINVAL && p == NULL);
#undef BASE
    vx_builtin_destroy(quote);
    vx_ring_destroy(src);
    vx_ring_destroy(orders);
    vx_ring_destroy(execs);
}

int main(void) {
    RUN(test_bad_configurations_are_named);
    RUN(test_quote_live_against_a_gateway_thread);
    RUN(test_slow_driver_waits_and_loses_nothing);
    return CHECK_SUMMARY("test_pipeline_strategy");
}
