/* test_pipeline_sim.c — a market-by-order pipeline whose v2 strategy trades against the
 * simulated venue (pipeline.h "Simulated venue"): two threads, small batches and 16-slot log
 * rings drained by the main thread while it feeds the source; the orders, reports and P&L
 * points must equal, byte for byte, those of a vx_backtest fed the same events on this thread
 * (latencies with jitter, so the seed matters); counts conserve; the check holds; the
 * simulated venue's refusals are named. */
#include "check.h"
#include "strategy_logs.h"
#include "velox/backtest.h"
#include "velox/pipeline.h"
#include "velox/ring.h"
#include "velox/strategy_builtin.h"

#include <stdlib.h>
#include <string.h>

enum { N_EVENTS = 20000, LOG_CAPACITY = 1 << 14 };

/* The moving market of strategy_logs.h with executions at the touch (the quotes fill). */
static vx_mbo event_at(uint64_t i) { return strategy_market_event(i, 1); }

static vx_sim_venue_config venue_config(void) {
    vx_sim_venue_config v;
    memset(&v, 0, sizeof v);
    v.max_orders = 4096;
    v.max_in_flight = 65536;
    v.entry_latency_ns = 3000;
    v.entry_jitter_ns = 2500;
    v.response_latency_ns = 1500;
    v.response_jitter_ns = 1000;
    v.seed = 11;
    v.maker.per_lot = 1000;
    return v;
}

static vx_host_config host_config(int bursts) {
    static const char *const args[] = {"size=2", "max_position=8", NULL};
    vx_host_config h;
    memset(&h, 0, sizeof h);
    h.log_capacity = bursts ? VX_HOST_MIN_LOG_CAPACITY : LOG_CAPACITY;
    h.pnl_interval_ns = 50000;
    h.risk.max_working = bursts ? 1024 : 64;
    h.args = args;
    return h;
}

/* quote, or (bursts) the flooding script of strategy_logs.h: the backtest then stops at a
 * group edge until the driver drained its logs */
static vx_strategy *make_strategy(int bursts) {
    vx_strategy *s = NULL;
    if (bursts) return burst_script();
    REQUIRE(vx_quote_create(1, &s) == VX_OK);
    return s;
}

static void take_host(vx_host *h, drained *d) {
    d->n[0] += vx_host_take_orders(h, d->orders + d->n[0], MAX_LOG - d->n[0]);
    d->n[1] += vx_host_take_execs(h, d->execs + d->n[1], MAX_LOG - d->n[1]);
    d->n[2] += vx_host_take_pnl(h, d->pnl + d->n[2], MAX_LOG - d->n[2]);
}

/* The reference: a vx_backtest fed the same events on this thread. */
static void reference(uint64_t n, drained *d, int bursts) {
    vx_strategy *quote = make_strategy(bursts);
    vx_backtest_config c;
    memset(&c, 0, sizeof c);
    c.instruments = 1;
    c.levels = 1024;
    c.tick = 100;
    c.max_orders = 1 << 20;
    c.edges = VX_BACKTEST_EDGE_EVENT;
    c.venue = venue_config();
    c.host = host_config(bursts);
    vx_backtest *bt = NULL;
    REQUIRE(vx_backtest_create(&c, quote, &bt, NULL) == VX_OK);
    vx_host *h = vx_backtest_host(bt);
    for (uint64_t i = 0; i < n;) { /* bounded: each pass consumes or drains */
        vx_mbo e = event_at(i);
        size_t used = 0;
        REQUIRE(vx_backtest_feed(bt, &e, 1, &used) == VX_OK);
        i += used;
        take_host(h, d);
    }
    vx_status st = VX_FULL;
    for (int k = 0; k < 1000 && st == VX_FULL; k++) {
        st = vx_backtest_finish(bt, NULL);
        take_host(h, d);
    }
    CHECK(st == VX_OK);
    vx_backtest_destroy(bt);
    vx_builtin_destroy(quote);
}

static void run(int bursts) {
    const uint64_t n = vx_test_count(N_EVENTS, 5000);
    drained *want = calloc(1, sizeof *want), *got = calloc(1, sizeof *got);
    REQUIRE(want && got);
    reference(n, want, bursts);
    CHECK(want->n[0] > 20 && want->n[1] > 20);
    int fills = 0;
    for (uint64_t i = 0; i < want->n[1]; i++) fills += want->execs[i].kind == VX_EXEC_FILL;
    CHECK(bursts || (fills > 3 && want->n[2] > 5));

    vx_ring *src = NULL;
    REQUIRE(vx_ring_create(256, sizeof(vx_mbo), &src) == VX_OK);
    vx_strategy *quote = make_strategy(bursts);
    vx_pipeline_config c;
    /* 16-slot log rings: the driver is behind often, the backtest waits */
    strategy_run_config(&c, src, quote, 16);
    c.batch = 7;
    c.mbo_follow = 0;
    c.thread_count = 2; /* ingress + bundler on one, book + output on the other */
    c.stage_thread[VX_STAGE_INGRESS] = 0;
    c.stage_thread[VX_STAGE_BOOK] = 1;
    c.stage_thread[VX_STAGE_BUNDLER] = 0;
    c.stage_thread[VX_STAGE_OUTPUT] = 1;
    c.strategy_venue = VX_STRATEGY_VENUE_SIM;
    c.strategy_sim = venue_config();
    c.strategy_host = host_config(bursts);
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    REQUIRE(vx_pipeline_mbo(p) != NULL);
    uint64_t fed = 0;
    for (; fed < n; fed++) { /* a full ring at the start: batches of 7 straddle its wrap */
        vx_mbo e = event_at(fed);
        if (vx_ring_try_push(src, &e) != VX_OK) break;
    }
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    fed = strategy_feed_and_drain(p, src, event_at, fed, n, got, 16, bursts); /* bursts: slow */
    vx_pipeline_counters m;
    vx_pipeline_read_counters(p, &m);
    CHECK(fed == n && m.generated == n && m.applied + m.rejected == n);
    for (int k = 0; k < 3; k++) CHECK(m.strategy_logged[k] == got->n[k] && got->n[k] == want->n[k]);
    CHECK(memcmp(got->orders, want->orders, want->n[0] * sizeof(vx_order)) == 0);
    CHECK(memcmp(got->execs, want->execs, want->n[1] * sizeof(vx_exec)) == 0);
    CHECK(memcmp(got->pnl, want->pnl, want->n[2] * sizeof(vx_pnl_point)) == 0);
    CHECK(m.strategy_groups == n && (!bursts || m.strategy_log_waits > 0));
    vx_backtest *bt = vx_pipeline_strategy_backtest(p);
    REQUIRE(bt != NULL);
    vx_backtest_counters bc;
    vx_backtest_counters_read(bt, &bc);
    CHECK(bc.events == n && bc.finished == 1 && bc.applied == m.applied);
    vx_host_counters hc;
    vx_host_counters_read(vx_pipeline_strategy_host(p), &hc);
    CHECK(hc.log_lost == 0 && hc.bad_reports == 0 && hc.sent == got->n[0]);
    CHECK(!bursts || hc.refused > 0);
    const char *why = "?";
    vx_status st = vx_pipeline_strategy_check(p, &why);
    if (st != VX_OK) fprintf(stderr, "strategy check: %s\n", why);
    CHECK(st == VX_OK);
    vx_pipeline_destroy(p);
    vx_builtin_destroy(quote);
    vx_ring_destroy(src);
    free(want);
    free(got);
}

static void test_the_pipeline_equals_the_backtest(void) { run(0); }
static void test_a_slow_driver_waits_and_changes_nothing(void) { run(1); }

static void test_bad_configurations_are_named(void) {
    vx_ring *src = NULL, *orders = NULL;
    REQUIRE(vx_ring_create(64, sizeof(vx_mbo), &src) == VX_OK);
    REQUIRE(vx_ring_create(64, sizeof(vx_order), &orders) == VX_OK);
    vx_strategy *quote = NULL;
    REQUIRE(vx_quote_create(1, &quote) == VX_OK);
    vx_pipeline_config c;
    const char *field = NULL;
#define BASE()                                                                 \
    do {                                                                       \
        strategy_base_config(&c, src, quote);                                  \
        c.mbo_follow = 0;                                                      \
        c.strategy_venue = VX_STRATEGY_VENUE_SIM;                              \
        c.strategy_sim = venue_config();                                       \
    } while (0)
    BASE();
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
    BASE();
    c.strategy_venue = 2;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "strategy_venue") == 0);
    BASE();
    c.venue_orders = orders;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "venue_orders") == 0);
    BASE();
    c.mbo_follow = 1;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "mbo_follow") == 0);
    BASE();
    c.input_tap = src;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "input_tap") == 0);
    BASE();
    c.strategy_sim.max_in_flight = 4; /* refused by the backtest's venue at create */
    vx_pipeline *p = NULL;
    CHECK(vx_pipeline_create(&c, &p) != VX_OK && p == NULL);
#undef BASE
    vx_builtin_destroy(quote);
    vx_ring_destroy(src);
    vx_ring_destroy(orders);
}

int main(void) {
    RUN(test_bad_configurations_are_named);
    RUN(test_the_pipeline_equals_the_backtest);
    RUN(test_a_slow_driver_waits_and_changes_nothing);
    return CHECK_SUMMARY("test_pipeline_sim");
}
