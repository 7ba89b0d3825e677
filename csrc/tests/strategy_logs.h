/* strategy_logs.h — helpers shared by the tests of pipelines hosting a v2 strategy
 * (test_pipeline_strategy.c, test_pipeline_sim.c): the driver's side of the three log rings,
 * and a script strategy that floods the host's logs. */
#ifndef VELOX_TEST_STRATEGY_LOGS_H
#define VELOX_TEST_STRATEGY_LOGS_H

#include <stdlib.h>

#include "check.h"
#include "velox/pipeline.h"
#include "velox/ring.h"
#include "velox/strategy_builtin.h"

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
