/* strategy_logs.h — helpers shared by the tests of pipelines hosting a v2 strategy
 * (test_pipeline_strategy.c, test_pipeline_sim.c): the configuration they start from, the
 * driver's side of the run (this thread feeds the source ring and drains the three log rings
 * while the pipeline's threads run), and a script strategy that floods the host's logs. */
#ifndef VELOX_TEST_STRATEGY_LOGS_H
#define VELOX_TEST_STRATEGY_LOGS_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "velox/pipeline.h"
#include "velox/ring.h"
#include "velox/strategy_builtin.h"
#include "velox/tsc.h"

enum { MAX_LOG = 1 << 16 };

/* What the driver popped from the log rings (orders, execs, P&L points). */
typedef struct drained {
    vx_order orders[MAX_LOG];
    vx_exec execs[MAX_LOG];
    vx_pnl_point pnl[MAX_LOG];
    uint64_t n[VX_PIPELINE_LOGS];
} drained;

/* Pops what each log ring holds (at most `most` records per ring). */
static inline void drain(vx_pipeline *p, drained *d, uint32_t most) {
    void *dst[VX_PIPELINE_LOGS] = {d->orders, d->execs, d->pnl};
    const size_t size[VX_PIPELINE_LOGS] = {sizeof(vx_order), sizeof(vx_exec), sizeof(vx_pnl_point)};
    for (int k = 0; k < VX_PIPELINE_LOGS; k++) {
        uint32_t got = 0;
        uint32_t room = (uint32_t)(MAX_LOG - d->n[k]) < most ? (uint32_t)(MAX_LOG - d->n[k]) : most;
        if (!room) continue;
        vx_ring_pop_n(vx_pipeline_strategy_log(p, k), (char *)dst[k] + d->n[k] * size[k], room, &got);
        d->n[k] += got;
    }
}

/* Event i of a market whose top moves (instrument 0, ts 1000000 + 1000 i, each event its own
 * group): ADDs of bids and asks around a mid that walks (every even i and the first 8), and
 * at each other i the order added 8 events before: DELETEd, or (executes) EXECUTEd one lot
 * at a time (the quotes at the touch fill) and DELETEd at every third. */
static inline vx_mbo strategy_market_event(uint64_t i, int executes) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    e.ts = 1000000 + i * 1000;
    int64_t mid = 100000 + (int64_t)((i / 32) % 50) * 100;
    if (i % 2 == 0 || i < 8) {
        e.action = VX_MBO_ADD;
        e.order_id = i + 1;
        e.side = (uint8_t)((i / 2) % 2);
        e.price = mid + (e.side == VX_SELL ? 100 : -100) * (int64_t)(1 + (i / 4) % 3);
        e.qty = (uint32_t)(1 + i % 7);
    } else {
        e.action = executes && i % 6 != 3 ? VX_MBO_EXECUTE : VX_MBO_DELETE;
        e.order_id = i - 8 + 1 - ((i - 8) % 2);
        e.qty = e.action == VX_MBO_EXECUTE ? 1 : 0;
        e.side = VX_SIDE_NONE;
    }
    e.flags = VX_MBO_F_LAST;
    return e;
}

/* What every configuration of these tests shares: an MBO pipeline from `src` hosting
 * `strategy` (ticks_per_ns 1: enough for vx_pipeline_config_validate). The bad-configuration
 * tests start from it. */
static inline void strategy_base_config(vx_pipeline_config *c, vx_ring *src,
                                        vx_strategy *strategy) {
    vx_pipeline_config_default(c);
    c->ticks_per_ns = 1.0;
    c->records = VX_RECORDS_MBO;
    c->source_ring = src;
    c->strategy = strategy;
}

/* The base of a run: the clock calibrated, 1024 levels of tick 100, yielding waits, a
 * blocking source, a group at every event, log rings of `log_ring` records (threads, venue
 * and host are the caller's). */
static inline void strategy_run_config(vx_pipeline_config *c, vx_ring *src,
                                       vx_strategy *strategy, uint32_t log_ring) {
    strategy_base_config(c, src, strategy);
    c->ticks_per_ns = vx_tsc_calibrate(20000000);
    c->levels = 1024;
    c->tick_size = 100;
    c->wait = VX_WAIT_YIELD;
    c->on_full = VX_ON_FULL_BLOCK;
    c->strategy_edges = VX_STRATEGY_EDGE_EVENT;
    c->strategy_log_ring_capacity = log_ring;
}

/* The driver's side of a started pipeline: feeds events `fed`..n-1 of `event_at` into `src`
 * as they fit (closing the source after the last), drains at most `drain_most` records per
 * log ring a pass, and (slow) sleeps 200 us between passes, until the pipeline finished
 * (bounded: 120 s); then joins it and drains the rest. Returns the events fed. */
static inline uint64_t strategy_feed_and_drain(vx_pipeline *p, vx_ring *src,
                                           vx_mbo (*event_at)(uint64_t), uint64_t fed,
                                           uint64_t n, drained *d, uint32_t drain_most,
                                           int slow) {
    const uint64_t deadline = vx_monotonic_ns() + 120000000000ull;
    while (!vx_pipeline_finished(p) && vx_monotonic_ns() < deadline) { /* bounded */
        while (fed < n) { /* feed what fits */
            vx_mbo e = event_at(fed);
            if (vx_ring_try_push(src, &e) != VX_OK) break;
            if (++fed == n) vx_pipeline_close_source(p);
        }
        drain(p, d, drain_most);
        if (slow) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        } else {
            sched_yield();
        }
    }
    REQUIRE(vx_pipeline_finished(p));
    vx_pipeline_join(p);
    drain(p, d, MAX_LOG);
    return fed;
}

/* A script of three bursts of 3,800 orders, in the first three callbacks (events at ts
 * 1000000, 1001000, 1002000): each one's REJECTs (LIMIT) leave the host's logs less than a
 * callback's room, so the book thread must wait for the driver before the next group. */
static inline vx_strategy *burst_script(void) {
    enum { ONE = 3800, BURST = 3 * ONE };
    vx_order *burst = calloc(BURST, sizeof *burst);
    REQUIRE(burst != NULL);
    for (uint32_t i = 0; i < BURST; i++) {
        burst[i].ts = 1000000 + (uint64_t)(i / ONE) * 1000; /* events 0, 1, 2 */
        burst[i].order_id = 100000 + i;
        burst[i].price = 90000 + 100 * (int64_t)(i % 10);
        burst[i].qty = 1;
        burst[i].side = VX_BUY;
        burst[i].type = VX_ORDER_LIMIT;
        burst[i].tif = VX_TIF_GTC;
        burst[i].action = VX_ORDER_NEW;
    }
    vx_strategy *s = NULL;
    REQUIRE(vx_script_create(burst, BURST, &s) == VX_OK);
    free(burst);
    return s;
}

#endif
