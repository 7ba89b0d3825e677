/*
 * velox/backtest.h — a deterministic backtest on one thread: market-by-order events -> books
 * (vx_mbo_set) -> the strategy (host.h) -> the simulated venue (venue.h) -> reports back.
 * What the strategy sees, and when, depends only on the events fed and the configuration
 * (seed included): never on chunking, wall-clock or machine. Chunk boundaries are invisible.
 *
 * The loop, per group of events ending at a data edge (edges: VX_BACKTEST_EDGE_FLAG = an event
 * with VX_MBO_F_LAST, or VX_STRATEGY_MAX_GROUP events without one; VX_BACKTEST_EDGE_EVENT =
 * every event; the end of the input ends the last group):
 *   1. t = the group's first event's ts (made non-decreasing: below the previous -> the
 *      previous, counted in ts_regressions);
 *   2. everything scheduled before t, in time order: venue arrivals (matching), reports
 *      reaching the strategy, the timer (host.h; strategy.h's order of deliveries);
 *   3. each event of the group: venue before_event, vx_mbo_set_apply (a rejected event is
 *      counted by reason in book_rejects and changes nothing), venue after_event;
 *   4. the strategy's on_market with the group's events (now = the last one's ts).
 * vx_backtest_finish: everything still scheduled is delivered in time order, the venue closes
 * (working orders EXPIRED), those reports are delivered, finish runs, the host checks
 * conservation.
 *
 * Feeding: vx_backtest_feed consumes events and returns how many it consumed: all of them,
 * or fewer when it stopped at a group edge because a log needs draining (vx_host_take_*).
 * The caller drains and feeds the rest. Events are read, never kept past the call (a group
 * that spans two calls is copied, at most VX_STRATEGY_MAX_GROUP events).
 * The room one group may need is vx_host_callback_room (host.h): feed stops at a group's
 * start whenever vx_host_log_room is below it, before each of step 2's deliveries and before
 * the group's first event (the group's own events log nothing until on_market).
 * The events on_market receives carry their made-non-decreasing ts (a group with a clamped
 * ts, or one spanning calls, is handed over as a copy; otherwise in place): the same bytes
 * whatever the chunking.
 * Deliveries happen only at group starts (step 2) and at the end: an order or report due in
 * the middle of a group's time span is handled before the next group (a group's events
 * usually share one ts: one source message).
 * vx_backtest_finish: the open group's on_market, then deliveries until nothing is scheduled
 * (a strategy that re-arms its timer forever is cut off after 2^32 passes), the venue's close
 * at the last event time reached, those reports, finish. Each stage stops with VX_FULL when
 * the logs need draining and resumes there. After the first VX_OK / VX_ESTATE, further
 * calls return the conservation check again.
 */
#ifndef VELOX_BACKTEST_H
#define VELOX_BACKTEST_H

#include <stddef.h>
#include <stdint.h>

#include "velox/host.h"
#include "velox/mbo.h"
#include "velox/strategy.h"
#include "velox/venue.h"

enum vx_backtest_edges { VX_BACKTEST_EDGE_FLAG = 1, VX_BACKTEST_EDGE_EVENT = 2 };

typedef struct vx_backtest_config {
    uint32_t instruments;     /* books 0 .. instruments-1 (>= 1) */
    uint32_t levels;          /* per book side (power of two, as vx_mbo_set_create) */
    int64_t tick;             /* price grid (> 0) */
    uint32_t max_orders;      /* replayed orders live at once (the books' order table) */
    uint32_t edges;           /* enum vx_backtest_edges */
    vx_sim_venue_config venue;  /* its instruments is set from the above */
    vx_host_config host;        /* its instruments is set from the above */
} vx_backtest_config;

typedef struct vx_backtest_counters {
    uint64_t events;          /* events consumed */
    uint64_t applied;         /* events the books applied */
    uint64_t book_rejects;    /* events the books refused (by reason below) */
    uint64_t book_rejects_by_reason[VX_MBO_REJECT_COUNT];
    uint64_t groups;          /* on_market groups */
    uint64_t ts_regressions;  /* events whose ts was below the previous one's */
    uint64_t last_ts;
    uint64_t finished;        /* 1 after vx_backtest_finish */
} vx_backtest_counters;

typedef struct vx_backtest vx_backtest;

/* VX_EINVAL with *why (a static message: a bad field, or the strategy table refused, naming
 * both versions), VX_ENOMEM. */
vx_status vx_backtest_create(const vx_backtest_config *cfg, const vx_strategy *strategy,
                             vx_backtest **out, const char **why);
void vx_backtest_destroy(vx_backtest *bt);

/* The books, to seed before the first feed (snapshots: vx_mbo_set_apply of ADD events,
 * vx_mbo_seed_level); NULL after the first feed. */
vx_mbo_set *vx_backtest_books(vx_backtest *bt);
/* Read-only books at any time (between calls). */
const vx_mbo_set *vx_backtest_books_view(const vx_backtest *bt);
vx_host *vx_backtest_host(vx_backtest *bt);
vx_sim_venue *vx_backtest_venue(vx_backtest *bt);

/* Consumes up to n events (see above). VX_ESTATE after finish. */
vx_status vx_backtest_feed(vx_backtest *bt, const vx_mbo *events, size_t n, size_t *consumed);

/* End of input. Returns VX_OK, or VX_FULL when a log needs draining first (call again after
 * draining: it resumes where it stopped), or VX_ESTATE with *why when conservation failed. */
vx_status vx_backtest_finish(vx_backtest *bt, const char **why);

void vx_backtest_counters_read(const vx_backtest *bt, vx_backtest_counters *out);

#endif /* VELOX_BACKTEST_H */
