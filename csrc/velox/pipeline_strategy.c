/* velox/pipeline_strategy.c — the book stage of a pipeline hosting an ABI v2 strategy
 * (cfg.strategy): groups of events at data edges, the host's delivery points, its logs moved
 * into rings for the driver, and the end of the run (see pipeline.h, "Strategies"). */
#include <stdlib.h>
#include <string.h>

#include "velox/pipeline_internal.h"

_Static_assert(sizeof(vx_order) == 40 && sizeof(vx_exec) == 56 && sizeof(vx_pnl_point) == 56,
               "the log rings' record sizes");

/* ---- construction -------------------------------------------------------------------- */

vx_status vx_pipe_strategy_create(vx_pipeline *p) {
    strategy_state *s = &p->strat;
    const vx_pipeline_config *c = &p->cfg;
    static const uint32_t elem[VX_PIPELINE_LOGS] = {sizeof(vx_order), sizeof(vx_exec),
                                                    sizeof(vx_pnl_point)};
    vx_status st;
    for (int k = 0; k < VX_PIPELINE_LOGS; k++) {
        if ((st = vx_ring_create(c->strategy_log_ring_capacity, elem[k], &s->logs[k])) != VX_OK)
            return st;
        p->memory_bytes += vx_ring_footprint(c->strategy_log_ring_capacity, elem[k]);
    }
    s->check = VX_ESTATE;
    s->check_why = "the run did not end (abandoned)";
    if (c->strategy_venue == VX_STRATEGY_VENUE_SIM) return vx_pipe_sim_create(p); /* pipeline_sim.c */
    s->group = calloc(VX_STRATEGY_MAX_GROUP, sizeof(vx_mbo));
    if (!s->group) return VX_ENOMEM;
    p->memory_bytes += VX_STRATEGY_MAX_GROUP * sizeof(vx_mbo);
    if ((st = vx_live_venue_create(c->venue_orders, c->venue_execs, &s->venue)) != VX_OK) return st;
    vx_host_config hc = c->strategy_host;
    hc.instruments = c->mbo_instruments;
    const char *why = NULL;
    if ((st = vx_host_create(&hc, c->strategy, p->mbo, vx_live_venue_seam(s->venue), &s->host,
                             &why)) != VX_OK)
        return st;
    p->memory_bytes += 3 * (uint64_t)hc.log_capacity * 56; /* the host's logs (the bulk) */
    return VX_OK;
}

void vx_pipe_strategy_destroy(vx_pipeline *p) {
    strategy_state *s = &p->strat;
    if (s->bt) {
        vx_pipe_sim_destroy(p); /* the host is the backtest's */
    } else {
        vx_host_destroy(s->host);
        vx_live_venue_destroy(s->venue);
    }
    for (int k = 0; k < VX_PIPELINE_LOGS; k++) vx_ring_destroy(s->logs[k]);
    free(s->group);
}

/* ---- logs ----------------------------------------------------------------------------- */

typedef size_t (*take_fn)(vx_host *h, void *out, size_t cap);
static int move_logs(vx_pipeline *p, strategy_state *s);

static size_t take_orders(vx_host *h, void *out, size_t cap) { return vx_host_take_orders(h, out, cap); }
static size_t take_execs(vx_host *h, void *out, size_t cap) { return vx_host_take_execs(h, out, cap); }
static size_t take_pnl(vx_host *h, void *out, size_t cap) { return vx_host_take_pnl(h, out, cap); }

/* Moves what the host logged into the log rings, straight into their free slots (no copy in
 * between): orders first, so a report about an order never reaches its ring before the order
 * reached its own (a driver that pops the execs ring before the orders ring sees every
 * report's order). Returns 1 when the host has room for one more callback afterwards. */
int vx_pipe_strategy_move_logs(vx_pipeline *p) { return move_logs(p, &p->strat); }

static int move_logs(vx_pipeline *p, strategy_state *s) {
    static const take_fn take[VX_PIPELINE_LOGS] = {take_orders, take_execs, take_pnl};
    for (int k = 0; k < VX_PIPELINE_LOGS; k++) {
        vx_ring_span sp;
        if (vx_ring_reserve(s->logs[k], vx_ring_capacity(s->logs[k]), &sp) != VX_OK) continue;
        size_t n = take[k](s->host, sp.first, sp.first_n);
        if (n == sp.first_n && sp.second_n) n += take[k](s->host, sp.second, sp.second_n);
        vx_ring_commit(s->logs[k], (uint32_t)n);
        if (n) counter_add(&s->logged[k], n);
    }
    (void)p;
    return vx_host_log_room(s->host) >= vx_host_callback_room(s->host);
}

int vx_pipe_strategy_logs_out(vx_pipeline *p) {
    move_logs(p, &p->strat);
    return vx_host_log_room(p->strat.host) >= p->cfg.strategy_host.log_capacity;
}

/* Delivers what is due at `t` and moves the logs; 1 when everything due went (the host
 * stops a delivery early when its logs run short: then 0, and the caller retries later). */
static int deliver(vx_pipeline *p, strategy_state *s, uint64_t t) {
    vx_host_deliver(s->host, t);
    return move_logs(p, s);
}

/* ---- groups --------------------------------------------------------------------------- */

static void close_group(vx_pipeline *p, strategy_state *s) {
    if (s->group_len && p->cfg.mbo_follow) vx_pipe_follow_market(p, s->group_len);
    if (s->group_n) vx_host_market(s->host, s->group, s->group_n, s->last_ts);
    counter_add(&s->groups, 1);
    s->group_n = s->group_len = 0;
    s->group_open = 0;
}

static int at_edge(const vx_pipeline *p, const strategy_state *s, const vx_mbo *e) {
    return p->cfg.strategy_edges == VX_STRATEGY_EDGE_EVENT || (e->flags & VX_MBO_F_LAST) ||
           s->group_len == VX_STRATEGY_MAX_GROUP;
}

/* The events of one book turn. Stops early (releasing only the events taken) at a point where
 * the host's logs need the driver first; the rest stay in the ring for the next turn. */
static uint32_t events_turn(vx_pipeline *p, strategy_state *s, const vx_ring_span *in,
                            vx_pipe_tap *tap) {
    book_state *b = &p->bookst;
    const uint32_t n = in->first_n + in->second_n;
    const uint64_t started = vx_tsc_read();
    span_walk win = walk_start(in);
    uint32_t taken = 0, applied = 0, rejected = 0, traded = 0, ref_differing = 0, ref_checked = 0;
    uint64_t ref_seeded = 0;
    const int referenced = p->cfg.mbo_reference != NULL;
    for (; taken < n; taken++) { /* bounded by batch */
        const vx_mbo *e = walk_next(&win, sizeof(vx_mbo));
        const uint64_t t = e->ts > s->last_ts ? e->ts : s->last_ts;
        if (!s->group_open) { /* the group's delivery point: what is due before its first */
            if (!deliver(p, s, t)) {
                counter_add(&s->log_waits, 1);
                break;
            }
            s->group_open = 1;
        }
        s->last_ts = t;
        vx_status st = vx_mbo_set_apply(p->mbo, e, NULL);
        if (referenced) vx_pipe_reference_event(p, &ref_seeded, &ref_differing, &ref_checked);
        s->group_len++;
        if (st == VX_OK) {
            s->group[s->group_n++] = *e; /* group_n <= group_len <= MAX_GROUP */
            applied++;
            traded += e->action == VX_MBO_EXECUTE;
        } else {
            rejected++;
        }
        if (at_edge(p, s, e)) {
            close_group(p, s);
            if (!move_logs(p, s)) { /* the next group needs room: the driver first */
                taken++;
                counter_add(&s->log_waits, 1);
                break;
            }
        }
    }
    vx_pipe_tap_finish(p, in, taken, tap); /* the journal's copy, before the slots go back */
    vx_ring_release(p->ring_in, taken);
    counter_add(&b->applied, applied);
    if (rejected) counter_add(&b->rejected, rejected);
    if (traded) counter_add(&b->traded, traded);
    if (ref_seeded) counter_add(&b->reference_seeded, ref_seeded);
    if (ref_differing) counter_add(&b->reference_rows_differing, ref_differing);
    if (ref_checked) counter_add(&b->reference_rows_checked, ref_checked);
    if (taken)
        vx_histogram_record(&p->hists[VX_HIST_BOOK_BATCH], elapsed_ns(p, vx_tsc_read(), started));
    return taken;
}

/* ---- the end -------------------------------------------------------------------------- */

/* One turn of the end of the run (the input is finished and taken). Returns 1 once done. */
static int closing_turn(vx_pipeline *p, strategy_state *s) {
    if (!s->closing) {
        if (s->group_len) close_group(p, s); /* the end of the input ends the last group */
        if (!move_logs(p, s)) return 0;
        vx_host_close(s->host, s->last_ts); /* a CANCEL for every working order */
        s->closing = 1;
        counter_add(&s->closing_flag, 1);
        s->close_deadline_ns = vx_monotonic_ns() + p->cfg.strategy_close_timeout_ns;
    }
    if (!s->ended) {
        if (!deliver(p, s, s->last_ts)) return 0;
        vx_working w;
        if (vx_host_working(s->host, &w, 1) != 0) { /* reports still to come */
            if (vx_monotonic_ns() < s->close_deadline_ns) return 0;
            counter_add(&s->close_timed_out, 1);
        }
        vx_host_finish(s->host, s->last_ts);
        s->ended = 1;
    }
    if (!vx_pipe_strategy_logs_out(p)) return 0; /* every record out before the check */
    s->check = vx_host_check(s->host, &s->check_why);
    if (s->check == VX_OK) s->check_why = NULL;
    return 1;
}

/* ---- the turn ------------------------------------------------------------------------- */

uint32_t vx_pipe_strategy_turn(vx_pipeline *p) {
    book_state *b = &p->bookst;
    strategy_state *s = &p->strat;
    if (!s->inited) {
        s->inited = 1;
        vx_host_init(s->host, 0); /* a refusal is the host's init_failed: the run goes on */
        move_logs(p, s);
    }
    /* acquire pairs with the release in stage_finish(ingress); read before the ring so that
     * "finished and empty" cannot miss a last record */
    uint32_t upstream_done = atomic_load_explicit(&p->stage_done[VX_STAGE_INGRESS], memory_order_acquire);
    vx_ring_span in;
    if (!s->closing && vx_ring_peek(p->ring_in, p->cfg.batch, &in) == VX_OK) {
        vx_pipe_tap tap = {{0}, 0, 0};
        if (p->cfg.input_tap) {
            vx_pipe_tap_reserve(p, &in, &tap);
            if (in.first_n + in.second_n == 0) { /* block mode, the tap is full: next turn */
                vx_ring_release(p->ring_in, 0);
                return 0;
            }
        }
        return events_turn(p, s, &in, &tap);
    }
    if (!upstream_done) { /* a quiet market: reports still reach the strategy */
        if (!s->group_open) { /* inside an open group, its edge comes first */
            counter_add(&s->idle_delivers, 1);
            if (!deliver(p, s, s->last_ts)) counter_add(&s->log_waits, 1);
        }
        return 0;
    }
    if (closing_turn(p, s)) stage_finish(p, VX_STAGE_BOOK, &b->done);
    return 0;
}

/* ---- observers ------------------------------------------------------------------------ */

void vx_pipe_strategy_counters(const vx_pipeline *p, vx_pipeline_counters *c) {
    const strategy_state *s = &p->strat;
    c->strategy_groups = counter_get(&s->groups);
    c->strategy_idle_delivers = counter_get(&s->idle_delivers);
    c->strategy_log_waits = counter_get(&s->log_waits);
    for (int k = 0; k < VX_PIPELINE_LOGS; k++) c->strategy_logged[k] = counter_get(&s->logged[k]);
    c->strategy_closing = counter_get(&s->closing_flag);
    c->strategy_close_timed_out = counter_get(&s->close_timed_out);
    if (s->venue) {
        vx_live_venue_counters v;
        vx_live_venue_counters_read(s->venue, &v);
        c->venue_submitted = v.submitted;
        c->venue_refused_full = v.refused_full;
        c->venue_polled = v.polled;
        c->venue_ring_errors = v.ring_errors;
    }
}

vx_ring *vx_pipeline_strategy_log(vx_pipeline *p, int which) {
    if (!p || !p->cfg.strategy || which < 0 || which >= VX_PIPELINE_LOGS) return NULL;
    return p->strat.logs[which];
}

vx_host *vx_pipeline_strategy_host(vx_pipeline *p) {
    if (!p || !p->cfg.strategy || (p->started && !p->joined)) return NULL;
    return p->strat.host;
}

vx_backtest *vx_pipeline_strategy_backtest(vx_pipeline *p) {
    if (!p || !p->cfg.strategy || (p->started && !p->joined)) return NULL;
    return p->strat.bt;
}

vx_status vx_pipeline_strategy_check(const vx_pipeline *p, const char **why) {
    if (!p || !p->cfg.strategy) {
        if (why) *why = "no strategy";
        return VX_ESTATE;
    }
    if (why) *why = p->strat.check_why;
    return p->strat.check;
}
