/*
 * velox/backtest.c — the deterministic one-thread backtest loop (backtest.h): books
 * (vx_mbo_set), the simulated venue over them, and a host running the strategy.
 *
 * A group's events are handed to on_market in place when the whole group lies in one feed
 * call's array with no timestamp clamped; otherwise (a group spanning calls, or one with a
 * clamped ts) they are copied, clamped, into a VX_STRATEGY_MAX_GROUP buffer allocated at
 * create. Either way the strategy sees the same bytes (events with their clamped ts), so
 * chunk boundaries are invisible.
 */
#include "velox/backtest.h"

#include <stdlib.h>
#include <string.h>

/* Step-2 and end-of-run delivery loops: each pass handles at least one scheduled item; the
 * bound only stops a venue that stops making progress (a broken seam) from hanging. */
#define DELIVERY_PASSES_MAX ((uint64_t)1 << 32)

enum finish_stage { FIN_GROUP = 0, FIN_DRAIN, FIN_CLOSE, FIN_DRAIN_CLOSED, FIN_DONE };

struct vx_backtest {
    vx_backtest_config cfg;
    vx_mbo_set *books;
    vx_sim_venue *venue;
    vx_venue seam;
    vx_host *host;
    vx_backtest_counters counters;
    vx_mbo *group;           /* VX_STRATEGY_MAX_GROUP events: a group spanning calls */
    uint32_t group_n;        /* events of the open group in `group` (buffer mode) */
    int group_open;          /* a group has started and not ended */
    int fed;                 /* the first feed happened (books no longer seedable) */
    int started;             /* the host's init ran */
    uint64_t clock;          /* event time reached (non-decreasing) */
    int stage;               /* enum finish_stage once finish began */
};

static int room_ok(const vx_backtest *bt) {
    return vx_host_log_room(bt->host) >= vx_host_callback_room(bt->host);
}

/* deliver_before when something may be due (out of line: the common case stays small). */
__attribute__((noinline)) static int deliver_due(vx_backtest *bt, uint64_t t) {
    vx_host_deliver_local(bt->host); /* refusals: before the next event, whatever its time */
    for (uint64_t pass = 0; pass < DELIVERY_PASSES_MAX; pass++) {
        if (!room_ok(bt)) return 0;
        uint64_t due = vx_sim_venue_next_due(bt->venue); /* the seam's next_due */
        uint64_t host_due = vx_host_next_due(bt->host);
        if (host_due < due) due = host_due;
        if (due >= t) return 1;
        /* only what is due by `due`: an item due at t (the next event's time) waits for that
         * event, even when the clock already stands at t (the host stamps deliveries with the
         * time it reached, never earlier) */
        if (due > bt->clock) bt->clock = due;
        vx_sim_venue_run_until(bt->venue, due);
        vx_host_deliver(bt->host, due);
    }
    return 1;
}

/* Everything scheduled before t (venue arrivals, reports, the timer) in time order. 0 when
 * it stopped because the logs need draining. */
static inline int deliver_before(vx_backtest *bt, uint64_t t) {
    /* the common case first: no refusal waiting and nothing of the venue or the host due
     * before t leaves only the room check of deliver_due's first pass */
    if (vx_host_local_pending(bt->host) == 0 && vx_sim_venue_next_due(bt->venue) >= t &&
        vx_host_next_due(bt->host) >= t)
        return room_ok(bt);
    return deliver_due(bt, t);
}

static void start(vx_backtest *bt, uint64_t now) {
    if (bt->started) return;
    bt->started = 1;
    vx_host_init(bt->host, now);
}

static void market(vx_backtest *bt, const vx_mbo *events, uint32_t n) {
    bt->counters.groups++;
    vx_host_market(bt->host, events, n, bt->clock);
}

vx_status vx_backtest_create(const vx_backtest_config *cfg, const vx_strategy *strategy,
                             vx_backtest **out, const char **why) {
    const char *ignored;
    if (!why) why = &ignored;
    *why = NULL;
    if (!out || !cfg) {
        *why = "backtest config or out is NULL";
        return VX_EINVAL;
    }
    *out = NULL;
    if (cfg->edges != VX_BACKTEST_EDGE_FLAG && cfg->edges != VX_BACKTEST_EDGE_EVENT) {
        *why = "backtest edges must be VX_BACKTEST_EDGE_FLAG (1) or VX_BACKTEST_EDGE_EVENT (2)";
        return VX_EINVAL;
    }
    if (cfg->instruments == 0 || cfg->instruments > VX_MBO_MAX_INSTRUMENTS) {
        *why = "backtest instruments must be in [1, 65536]";
        return VX_EINVAL;
    }
    vx_backtest *bt = calloc(1, sizeof *bt);
    if (!bt) return VX_ENOMEM;
    bt->cfg = *cfg;
    bt->cfg.venue.instruments = cfg->instruments;
    bt->cfg.host.instruments = cfg->instruments;
    bt->group = calloc(VX_STRATEGY_MAX_GROUP, sizeof *bt->group);
    if (!bt->group) {
        vx_backtest_destroy(bt);
        return VX_ENOMEM;
    }
    vx_status s = vx_mbo_set_create(cfg->instruments, cfg->levels, cfg->tick, cfg->max_orders,
                                    &bt->books);
    if (s != VX_OK) {
        *why = "backtest books: levels (a power of two in [2, 2^20]), tick (> 0) or max_orders "
               "(in [1, 2^30]) out of range";
        vx_backtest_destroy(bt);
        return s;
    }
    s = vx_sim_venue_create(&bt->cfg.venue, bt->books, &bt->venue);
    if (s != VX_OK) {
        *why = "backtest venue: a bad field (max_orders >= 1, max_in_flight >= 16)";
        vx_backtest_destroy(bt);
        return s;
    }
    bt->seam = vx_sim_venue_seam(bt->venue);
    s = vx_host_create(&bt->cfg.host, strategy, bt->books, bt->seam, &bt->host, why);
    if (s != VX_OK) {
        vx_backtest_destroy(bt);
        return s;
    }
    bt->cfg.host.args = NULL; /* copied by the host */
    *out = bt;
    return VX_OK;
}

void vx_backtest_destroy(vx_backtest *bt) {
    if (!bt) return;
    vx_host_destroy(bt->host);
    if (bt->venue) vx_sim_venue_destroy(bt->venue);
    if (bt->books) vx_mbo_set_destroy(bt->books);
    free(bt->group);
    free(bt);
}

vx_mbo_set *vx_backtest_books(vx_backtest *bt) { return bt->fed ? NULL : bt->books; }
const vx_mbo_set *vx_backtest_books_view(const vx_backtest *bt) { return bt->books; }
vx_host *vx_backtest_host(vx_backtest *bt) { return bt->host; }
vx_sim_venue *vx_backtest_venue(vx_backtest *bt) { return bt->venue; }

vx_status vx_backtest_feed(vx_backtest *bt, const vx_mbo *events, size_t n, size_t *consumed) {
    if (consumed) *consumed = 0;
    if (bt->stage != FIN_GROUP || bt->counters.finished) return VX_ESTATE;
    if (n && !events) return VX_EINVAL;
    if (n == 0) return VX_OK;
    bt->fed = 1;
    vx_backtest_counters *c = &bt->counters;
    const int by_flag = bt->cfg.edges == VX_BACKTEST_EDGE_FLAG;
    size_t gs = 0;           /* in-place group start in `events` */
    int inplace = 0;         /* the open group lies in events[gs..i) unclamped */
    size_t i = 0;
    for (; i < n; i++) { /* bounded: n */
        if (!bt->group_open) {
            /* step 1: t = the group's first ts, made non-decreasing */
            uint64_t t = events[i].ts < c->last_ts ? c->last_ts : events[i].ts;
            if (!bt->started) {
                bt->clock = t;
                start(bt, t);
            }
            /* step 2 (stops at this edge when the logs need draining) */
            if (!deliver_before(bt, t)) break; /* room checked there, last */
            bt->group_open = 1;
            bt->group_n = 0;
            inplace = 1;
            gs = i;
        }
        /* step 3: the ts clamp, the venue hooks, the books */
        const vx_mbo *e = &events[i];
        vx_mbo clamped;
        if (e->ts < c->last_ts) {
            clamped = *e;
            clamped.ts = c->last_ts;
            e = &clamped;
            c->ts_regressions++;
            if (inplace) { /* the group now differs from the caller's bytes: buffer it */
                memcpy(bt->group, &events[gs], (i - gs) * sizeof(vx_mbo));
                bt->group_n = (uint32_t)(i - gs);
                inplace = 0;
            }
        }
        c->last_ts = e->ts;
        if (e->ts > bt->clock) bt->clock = e->ts;
        c->events++;
        vx_sim_venue_before_event(bt->venue, e);
        vx_mbo_reject reason = VX_MBO_REJECT_NONE;
        int applied = vx_mbo_set_apply(bt->books, e, &reason) == VX_OK;
        if (applied) {
            c->applied++;
        } else {
            c->book_rejects++;
            c->book_rejects_by_reason[reason < VX_MBO_REJECT_COUNT ? reason : 0]++;
        }
        vx_sim_venue_after_event(bt->venue, e, applied);
        if (!inplace) bt->group[bt->group_n++] = *e;
        uint32_t in_group = inplace ? (uint32_t)(i + 1 - gs) : bt->group_n;
        int edge = !by_flag || (e->flags & VX_MBO_F_LAST) || in_group == VX_STRATEGY_MAX_GROUP;
        if (edge) { /* step 4 */
            bt->group_open = 0;
            market(bt, inplace ? &events[gs] : bt->group, in_group);
        }
    }
    if (bt->group_open && inplace) { /* the group continues in the next call: keep a copy */
        memcpy(bt->group, &events[gs], (i - gs) * sizeof(vx_mbo));
        bt->group_n = (uint32_t)(i - gs);
    }
    if (consumed) *consumed = i;
    return VX_OK;
}

/* Delivers everything still scheduled, in time order; 0 when the logs need draining. */
static int deliver_all(vx_backtest *bt) { return deliver_before(bt, UINT64_MAX); }

vx_status vx_backtest_finish(vx_backtest *bt, const char **why) {
    const char *ignored;
    if (!why) why = &ignored;
    *why = NULL;
    if (bt->counters.finished) return vx_host_check(bt->host, why);
    if (!bt->started) start(bt, bt->clock);
    for (int step = 0; step < FIN_DONE + 1; step++) { /* bounded: one pass per stage */
        switch (bt->stage) {
        case FIN_GROUP:
            if (bt->group_open) {
                if (!room_ok(bt)) return VX_FULL;
                bt->group_open = 0;
                market(bt, bt->group, bt->group_n);
            }
            bt->stage = FIN_DRAIN;
            break;
        case FIN_DRAIN:
            if (!deliver_all(bt)) return VX_FULL;
            bt->stage = FIN_CLOSE;
            break;
        case FIN_CLOSE:
            vx_sim_venue_close(bt->venue, bt->clock);
            bt->stage = FIN_DRAIN_CLOSED;
            break;
        case FIN_DRAIN_CLOSED:
            if (!deliver_all(bt)) return VX_FULL;
            if (!room_ok(bt)) return VX_FULL;
            vx_host_finish(bt->host, bt->clock);
            bt->stage = FIN_DONE;
            break;
        default:
            break;
        }
    }
    bt->counters.finished = 1;
    return vx_host_check(bt->host, why);
}

void vx_backtest_counters_read(const vx_backtest *bt, vx_backtest_counters *out) {
    *out = bt->counters;
}
