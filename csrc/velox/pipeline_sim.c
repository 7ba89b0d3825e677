/* velox/pipeline_sim.c — the book stage of a pipeline whose v2 strategy trades against the
 * simulated venue (cfg.strategy_venue == VX_STRATEGY_VENUE_SIM; pipeline.h "Simulated
 * venue"): it drives a vx_backtest (backtest.h) with the events it takes, in ring order. The
 * backtest cuts the groups and makes every delivery at data edges, and chunk boundaries are
 * invisible to it, so what the strategy sees does not depend on the batches, the pacing or
 * the threads. The backtest's books are the pipeline's books (the live view reads them). */
#include "velox/pipeline_internal.h"

/* ---- construction -------------------------------------------------------------------- */

vx_status vx_pipe_sim_create(vx_pipeline *p) {
    strategy_state *s = &p->strat;
    const vx_pipeline_config *c = &p->cfg;
    vx_backtest_config bc;
    memset(&bc, 0, sizeof bc);
    bc.instruments = c->mbo_instruments;
    bc.levels = c->levels;
    bc.tick = c->tick_size;
    bc.max_orders = c->mbo_max_orders;
    bc.edges = c->strategy_edges == VX_STRATEGY_EDGE_FLAG ? VX_BACKTEST_EDGE_FLAG
                                                          : VX_BACKTEST_EDGE_EVENT;
    bc.venue = c->strategy_sim;
    bc.host = c->strategy_host;
    const char *why = NULL;
    vx_status st = vx_backtest_create(&bc, c->strategy, &s->bt, &why);
    if (st != VX_OK) {
        s->bt = NULL;
        return st;
    }
    p->mbo = vx_backtest_books(s->bt); /* seedable until the first feed (snapshots) */
    s->host = vx_backtest_host(s->bt);
    p->memory_bytes += vx_mbo_set_memory_bytes(p->mbo)
                       + 3 * (uint64_t)c->strategy_host.log_capacity * 56;  /* host logs */
    return VX_OK;
}

void vx_pipe_sim_destroy(vx_pipeline *p) {
    strategy_state *s = &p->strat;
    vx_backtest_destroy(s->bt); /* the host, the venue and the books with it */
    s->bt = NULL;
    s->host = NULL;
    p->mbo = NULL;
}

/* ---- the turn ------------------------------------------------------------------------- */

/* Adds what the backtest counted since the last call to the pipeline's counters (applied and
 * rejected keep the book stage's conservation equation; groups the strategy's). */
static void sync_counters(vx_pipeline *p, strategy_state *s) {
    vx_backtest_counters bc;
    vx_backtest_counters_read(s->bt, &bc);
    book_state *b = &p->bookst;
    if (bc.applied != s->sim_applied) counter_add(&b->applied, bc.applied - s->sim_applied);
    if (bc.book_rejects != s->sim_rejected)
        counter_add(&b->rejected, bc.book_rejects - s->sim_rejected);
    if (bc.groups != s->sim_groups) counter_add(&s->groups, bc.groups - s->sim_groups);
    s->sim_applied = bc.applied;
    s->sim_rejected = bc.book_rejects;
    s->sim_groups = bc.groups;
}

/* Feeds one run of the peeked span; returns the events the backtest consumed. */
static uint32_t feed_run(strategy_state *s, const void *run, uint32_t n, uint32_t *traded) {
    if (n == 0) return 0;
    size_t consumed = 0;
    if (vx_backtest_feed(s->bt, (const vx_mbo *)run, n, &consumed) != VX_OK) return 0;
    const vx_mbo *e = (const vx_mbo *)run;
    for (size_t i = 0; i < consumed; i++) *traded += e[i].action == VX_MBO_EXECUTE; /* bounded: n */
    return (uint32_t)consumed;
}

static uint32_t events_turn(vx_pipeline *p, strategy_state *s, const vx_ring_span *in) {
    const uint64_t started = vx_tsc_read();
    uint32_t traded = 0;
    uint32_t taken = feed_run(s, in->first, in->first_n, &traded);
    if (taken == in->first_n) taken += feed_run(s, in->second, in->second_n, &traded);
    /* the backtest stops at a group edge when its logs need draining: move them (the driver
     * drains the rings); the events it left stay in the ring for the next turn */
    vx_pipe_strategy_move_logs(p);
    if (taken < in->first_n + in->second_n) counter_add(&s->log_waits, 1);
    vx_ring_release(p->ring_in, taken);
    sync_counters(p, s);
    if (traded) counter_add(&p->bookst.traded, traded);
    if (taken)
        vx_histogram_record(&p->hists[VX_HIST_BOOK_BATCH], elapsed_ns(p, vx_tsc_read(), started));
    return taken;
}

/* One turn of the end of the run (the input is finished and taken). Returns 1 once done. */
static int closing_turn(vx_pipeline *p, strategy_state *s) {
    if (!s->ended) {
        if (!s->closing) {
            s->closing = 1;
            counter_add(&s->closing_flag, 1);
        }
        const char *why = NULL;
        vx_status st = vx_backtest_finish(s->bt, &why);
        vx_pipe_strategy_move_logs(p);
        sync_counters(p, s);
        if (st == VX_FULL) return 0; /* the logs need the driver first: again next turn */
        s->check = st;
        s->check_why = st == VX_OK ? NULL : (why ? why : "the backtest's conservation failed");
        s->ended = 1;
    }
    return vx_pipe_strategy_logs_out(p);
}

uint32_t vx_pipe_sim_turn(vx_pipeline *p) {
    strategy_state *s = &p->strat;
    /* acquire pairs with the release in stage_finish(ingress); read before the ring so that
     * "finished and empty" cannot miss a last record */
    uint32_t upstream_done = atomic_load_explicit(&p->stage_done[VX_STAGE_INGRESS], memory_order_acquire);
    vx_ring_span in;
    if (!s->closing && vx_ring_peek(p->ring_in, p->cfg.batch, &in) == VX_OK)
        return events_turn(p, s, &in);
    /* a quiet market: nothing to do (deliveries happen at the data's edges only) */
    if (upstream_done && closing_turn(p, s)) stage_finish(p, VX_STAGE_BOOK, &p->bookst.done);
    return 0;
}
