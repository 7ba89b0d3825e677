/*
 * fake_sim_venue.h — a small stand-in for venue.c's vx_sim_venue, for C tests of the backtest
 * loop that run before venue.c exists on their branch (include it once; do not list venue in
 * the test's deps). Not queue-aware: NEW -> ACK, then a marketable order fills its whole size
 * at the opposite best (IOC rest canceled), a resting one fills whole when an EXECUTE event
 * trades at its (side, price); CANCEL -> CANCELED / REJECT; MODIFY -> MODIFIED (price, qty);
 * close -> EXPIRED. Constant latencies; bounded tables (VX_FULL when full).
 */
#ifndef VELOX_TESTS_FAKE_SIM_VENUE_H
#define VELOX_TESTS_FAKE_SIM_VENUE_H

#include <stdlib.h>
#include <string.h>

#include "velox/venue.h"

#define FSV_CAP 256
struct fsv_rest {
    vx_order o;
    uint32_t leaves;
    int used;
};
struct vx_sim_venue {
    vx_sim_venue_config cfg;
    const vx_mbo_set *books;
    vx_order inflight[FSV_CAP]; /* arrival = ts + entry latency; FIFO */
    size_t in_head, in_n;
    vx_exec out[FSV_CAP];       /* FIFO by ts_local */
    size_t out_head, out_n;
    struct fsv_rest rest[FSV_CAP];
    vx_sim_venue_counters c;
    int closed;
    uint64_t clock;
};

static void fsv_report(vx_sim_venue *v, const vx_order *o, int kind, uint32_t fill, int64_t px,
                       uint32_t leaves, int reason, int liq) {
    if (v->out_n == FSV_CAP) abort(); /* the test sizes its flows below this */
    vx_exec e;
    memset(&e, 0, sizeof e);
    e.ts_exchange = v->clock;
    e.ts_local = v->clock + v->cfg.response_latency_ns;
    e.order_id = o->order_id;
    e.instrument = o->instrument;
    e.side = o->side;
    e.kind = (uint8_t)kind;
    e.fill_qty = fill;
    e.fill_price = px;
    e.leaves_qty = leaves;
    e.reason = (uint8_t)reason;
    e.liquidity = (uint8_t)liq;
    v->out[(v->out_head + v->out_n++) % FSV_CAP] = e;
}
static struct fsv_rest *fsv_find(vx_sim_venue *v, uint64_t id) {
    for (size_t i = 0; i < FSV_CAP; i++)
        if (v->rest[i].used && v->rest[i].o.order_id == id) return &v->rest[i];
    return NULL;
}
static void fsv_match(vx_sim_venue *v, struct fsv_rest *r) {
    const vx_mbo_book *b = vx_mbo_set_reader(v->books, r->o.instrument);
    int64_t px;
    uint64_t q;
    int opp = r->o.side == VX_BUY ? VX_SELL : VX_BUY;
    if (vx_mbo_best(b, opp, &px, &q) == VX_OK &&
        (r->o.side == VX_BUY ? px <= r->o.price : px >= r->o.price)) {
        fsv_report(v, &r->o, VX_EXEC_FILL, r->leaves, px, 0, 0, VX_LIQ_TAKER);
        r->used = 0;
    } else if (r->o.tif == VX_TIF_IOC) {
        fsv_report(v, &r->o, VX_EXEC_CANCELED, 0, 0, 0, 0, 0);
        r->used = 0;
    }
}
static void fsv_arrive(vx_sim_venue *v, const vx_order *o) {
    struct fsv_rest *r = fsv_find(v, o->order_id);
    if (o->action == VX_ORDER_NEW) {
        if (r) {
            fsv_report(v, o, VX_EXEC_REJECT, 0, 0, 0, VX_REJECT_DUPLICATE_ID, 0);
            return;
        }
        for (size_t i = 0; i < FSV_CAP; i++)
            if (!v->rest[i].used) {
                r = &v->rest[i];
                break;
            }
        if (!r) abort();
        r->used = 1;
        r->o = *o;
        r->leaves = o->qty;
        fsv_report(v, o, VX_EXEC_ACK, 0, 0, o->qty, 0, 0);
        fsv_match(v, r);
    } else if (!r) {
        fsv_report(v, o, VX_EXEC_REJECT, 0, 0, 0, VX_REJECT_UNKNOWN_ORDER, 0);
    } else if (o->action == VX_ORDER_CANCEL) {
        fsv_report(v, &r->o, VX_EXEC_CANCELED, 0, 0, 0, 0, 0);
        r->used = 0;
    } else {
        r->o.price = o->price;
        r->leaves = o->qty;
        fsv_report(v, &r->o, VX_EXEC_MODIFIED, 0, 0, o->qty, 0, 0);
        fsv_match(v, r);
    }
}

static vx_status fsv_submit(void *self, const vx_order *o, uint64_t now) {
    vx_sim_venue *v = self;
    if (v->in_n == FSV_CAP) return VX_FULL;
    vx_order c = *o;
    c.ts = now;
    v->inflight[(v->in_head + v->in_n++) % FSV_CAP] = c;
    v->c.orders++;
    return VX_OK;
}
static size_t fsv_poll(void *self, vx_exec *out, size_t cap, uint64_t now) {
    vx_sim_venue *v = self;
    size_t n = 0;
    while (n < cap && v->out_n && v->out[v->out_head].ts_local <= now) {
        out[n++] = v->out[v->out_head];
        v->out_head = (v->out_head + 1) % FSV_CAP;
        v->out_n--;
    }
    return n;
}
static uint64_t fsv_next_due(const void *self) {
    const vx_sim_venue *v = self;
    uint64_t due = UINT64_MAX;
    if (v->in_n) due = v->inflight[v->in_head].ts + v->cfg.entry_latency_ns;
    if (v->out_n && v->out[v->out_head].ts_local < due) due = v->out[v->out_head].ts_local;
    return due;
}
static vx_status fsv_queue_ahead(const void *self, uint64_t id, uint64_t *ahead) {
    (void)self;
    (void)id;
    *ahead = 0;
    return VX_EMPTY;
}

vx_status vx_sim_venue_create(const vx_sim_venue_config *cfg, const vx_mbo_set *books,
                              vx_sim_venue **out) {
    if (cfg->max_orders == 0 || cfg->max_in_flight < 16) return VX_EINVAL;
    vx_sim_venue *v = calloc(1, sizeof *v);
    if (!v) return VX_ENOMEM;
    v->cfg = *cfg;
    v->books = books;
    *out = v;
    return VX_OK;
}
void vx_sim_venue_destroy(vx_sim_venue *v) { free(v); }
vx_venue vx_sim_venue_seam(vx_sim_venue *v) {
    vx_venue s = {v, fsv_submit, fsv_poll, fsv_next_due, fsv_queue_ahead};
    return s;
}
void vx_sim_venue_run_until(vx_sim_venue *v, uint64_t t) {
    while (v->in_n && v->inflight[v->in_head].ts + v->cfg.entry_latency_ns <= t) {
        vx_order o = v->inflight[v->in_head];
        v->in_head = (v->in_head + 1) % FSV_CAP;
        v->in_n--;
        if (o.ts + v->cfg.entry_latency_ns > v->clock) v->clock = o.ts + v->cfg.entry_latency_ns;
        if (v->closed)
            fsv_report(v, &o, VX_EXEC_REJECT, 0, 0, 0, VX_REJECT_VENUE, 0);
        else
            fsv_arrive(v, &o);
    }
}
void vx_sim_venue_before_event(vx_sim_venue *v, const vx_mbo *e) {
    vx_sim_venue_run_until(v, e->ts > 0 ? e->ts - 1 : 0);
}
void vx_sim_venue_after_event(vx_sim_venue *v, const vx_mbo *e) {
    if (e->action != VX_MBO_EXECUTE || e->price == 0) return;
    if (e->ts > v->clock) v->clock = e->ts;
    for (size_t i = 0; i < FSV_CAP; i++) {
        struct fsv_rest *r = &v->rest[i];
        if (r->used && r->o.instrument == e->instrument && r->o.price == e->price &&
            r->o.side == e->side) {
            fsv_report(v, &r->o, VX_EXEC_FILL, r->leaves, r->o.price, 0, 0, VX_LIQ_MAKER);
            r->used = 0;
        }
    }
}
vx_status vx_sim_venue_queue_ahead(const vx_sim_venue *v, uint64_t id, uint64_t *ahead) {
    return fsv_queue_ahead(v, id, ahead);
}
void vx_sim_venue_close(vx_sim_venue *v, uint64_t t) {
    vx_sim_venue_run_until(v, UINT64_MAX);
    if (t > v->clock) v->clock = t;
    v->closed = 1;
    for (size_t i = 0; i < FSV_CAP; i++)
        if (v->rest[i].used) {
            fsv_report(v, &v->rest[i].o, VX_EXEC_EXPIRED, 0, 0, 0, 0, 0);
            v->rest[i].used = 0;
        }
}
void vx_sim_venue_counters_read(const vx_sim_venue *v, vx_sim_venue_counters *out) {
    *out = v->c;
}
int64_t vx_fee_of(const vx_fee *fee, int64_t price, uint32_t lots) {
    return (int64_t)lots * fee->per_lot +
           (int64_t)((__int128)price * lots * fee->rate / VX_PRICE_SCALE);
}

#endif
