/*
 * velox/host.h — runs one compiled strategy (strategy.h, ABI v2) against books and a venue:
 * implements the vx_api the strategy calls, keeps its working orders, positions and risk
 * limits, delivers its execution reports and its timer, and records what crossed (orders
 * sent, reports received, the P&L series). Used by the backtest (backtest.h) with the
 * simulated venue, and by the pipeline's book thread with the live venue: the same strategy
 * binary and the same callbacks in both.
 *
 * Single-threaded: every call on one thread (the caller's), never two at once.
 *
 * Sending (api->send): an order is checked, in this order, and refused with a REJECT report
 * (ts_exchange 0, delivered to on_exec before the next market event, ts_local = that delivery
 * time; also logged) on the first failure:
 *   the session is closing or over (vx_host_close, finish) -> VENUE; the strategy has sent
 *   VX_STRATEGY_MAX_SENDS orders in this callback -> LIMIT; vx_order_validate; instrument >=
 *   instruments -> UNKNOWN_INSTRUMENT; the kill switch -> RISK; NEW: order_id working ->
 *   DUPLICATE_ID, max_order_qty / max_position -> RISK, max_working orders working -> LIMIT;
 *   CANCEL / MODIFY: order_id not working -> UNKNOWN_ORDER; MODIFY: max_order_qty /
 *   max_position -> RISK; the venue refuses (VX_FULL) -> LIMIT.
 * Accepted orders get ts = now, are logged, and go to the venue; the working table holds a
 * NEW from its send until a report ends it (REJECT of a NEW, FILL, CANCELED, EXPIRED).
 *
 * Reports (vx_host_deliver): each report the venue returns is validated (vx_exec_validate)
 * and must be about a known order of this strategy (order_id working, same instrument and
 * side; fills no larger than leaves): a report that fails is counted (bad_reports), logged
 * with its original bytes, and not applied. A valid one updates the working table, the
 * positions (fills, fees), the P&L series, is logged, then on_exec runs. A delivered report
 * (logged and passed to on_exec) carries ts_local = now at its delivery, the time it reached
 * the strategy: the venue's ts_local, or later when the host's clock had already passed it (a
 * backtest delivers at group starts, so a report due inside a group of events spanning
 * several times arrives at the group's end); its P&L point has the same ts.
 * Conservation (checked by vx_host_check at the end): every NEW sent ends in exactly one of
 * REJECT, FILL, CANCELED, EXPIRED; filled lots + canceled/expired leaves = the order's lots
 * (as modified); position = the signed sum of fills; the P&L identity of positions.h.
 *
 * Logs: bounded buffers allocated at create (log_capacity records each). The driver drains
 * them (vx_host_take_*) whenever vx_host_log_room says less than the room one callback may
 * need; a record that finds its log full is counted (log_lost) and the run reports the loss.
 *
 * Details (the Python reference follows them):
 *   - The per-callback limit counts every send call of the callback (accepted or refused);
 *     call VX_STRATEGY_MAX_SENDS + 1 and later get LIMIT, the first of them with a REJECT
 *     report, the others without (refused_unreported). The local REJECT queue holds
 *     2 * (VX_STRATEGY_MAX_SENDS + 1) reports: a refusal that finds it full (a strategy
 *     answering its REJECTs with floods of refused orders) becomes LIMIT, without a report
 *     (refused_unreported). Sends outside a callback (none today) are not limited.
 *   - A local REJECT: order_id, instrument as sent; side the order's (NEW with a valid side),
 *     the working order's (CANCEL / MODIFY of a working order, whose leaves_qty it carries),
 *     else VX_SIDE_NONE. REJECTs of orders sent in finish are logged, never delivered.
 *   - max_position for a MODIFY counts (new qty - the order's leaves) on the order's side.
 *   - A fill report is valid only when fill_qty <= leaves and its leaves_qty = leaves -
 *     fill_qty. A REJECT before the order's ACK ends the NEW; after it (a refused CANCEL or
 *     MODIFY) the order works on (state LIVE). A REJECT with reason UNKNOWN_ORDER, leaves 0,
 *     fee 0, order_id > 0 and a known instrument about an id not working is a cancel or
 *     modify that crossed its order's end (a fill): applied (delivered, logged, counted in
 *     reports), changing nothing. Any other report about an id not working is bad.
 *   - A fill whose money figures positions.h refuses (VX_ERANGE: int64 overflow) is a bad
 *     report (not applied); so is a fee it refuses.
 *   - An order's lots "as modified" = lots filled so far + the MODIFIED report's leaves_qty.
 *   - Kill switch: one CANCEL (logged, counted in sent) per working order not already being
 *     canceled; a cancel the venue refuses (VX_FULL) leaves the order working (EXPIRED at the
 *     end).
 *   - Marks: the mid (bid + (ask - bid) / 2) when both sides exist, else the last fill
 *     price. An instrument is marked after each of its fills, and again once a
 *     vx_host_market names it (an event of the group has its instrument id) while its
 *     position is not 0. That mark is taken when first read, not in vx_host_market: a P&L
 *     point, api->position, vx_host_position, the max_loss check, a fill or fee of that
 *     instrument, vx_host_finish. It comes from the book as the book is then, which is
 *     the book of that vx_host_market, because only events naming an instrument move its
 *     book (except an event about a known order that names another instrument, mbo.h:
 *     the mark read then shows its move). max_loss is checked after each fill and at
 *     the end of each vx_host_market's marking, with the marks taken. A check is skipped
 *     when no mark, fill or fee changed the total since the last check, because it would
 *     give the same answer.
 *   - P&L interval points are written in vx_host_market, before on_market, when now >= the
 *     next interval edge (initially 0): one point per traded instrument, then the next edge
 *     = (now / interval + 1) * interval (a gap of many intervals writes one set).
 *   - Delivery (vx_host_deliver at now): repeatedly, local REJECTs queued so far, else one
 *     venue report, else the timer if due (on_timer gets now), until nothing is due or the
 *     log room falls below vx_host_callback_room (then it returns now: drain and call again).
 */
#ifndef VELOX_HOST_H
#define VELOX_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "velox/mbo.h"
#include "velox/orders.h"
#include "velox/positions.h"
#include "velox/strategy.h"
#include "velox/venue.h"

typedef struct vx_host vx_host;

#define VX_HOST_MIN_LOG_CAPACITY (2u * VX_STRATEGY_MAX_SENDS)

typedef struct vx_host_config {
    uint32_t instruments;      /* >= 1; the books' ids */
    uint32_t log_capacity;     /* records per log (>= VX_HOST_MIN_LOG_CAPACITY and >= the
                                  callback room, vx_host_callback_room) */
    uint64_t pnl_interval_ns;  /* 0 = points at fills only */
    vx_risk_limits risk;
    const char *const *args;   /* "key=value" strings for api->arg, NULL-terminated (copied) */
} vx_host_config;

typedef struct vx_host_counters {
    uint64_t market_calls;     /* on_market calls */
    uint64_t exec_calls;       /* on_exec calls */
    uint64_t timer_calls;
    uint64_t sent;             /* orders that left for the venue */
    uint64_t refused;          /* orders refused before leaving (local REJECT reports) */
    uint64_t refused_by_reason[VX_REJECT_MAX + 1];
    uint64_t reports;          /* valid reports applied */
    uint64_t bad_reports;      /* reports that failed validation or matched no order */
    uint64_t log_lost;         /* records that found their log full */
    uint64_t killed;           /* 1 once the kill switch engaged */
    uint64_t init_failed;      /* 1 when init returned non-zero (the strategy never ran) */
    uint64_t refused_unreported; /* refusals without a REJECT report (counted in refused
                                    and refused_by_reason[LIMIT], returned by send): LIMIT
                                    past the first one of a callback, and any refusal that
                                    finds the local REJECT queue full */
} vx_host_counters;

/* Checks the strategy table (version, size, api_version, on_market) and makes a host.
 * VX_EINVAL with *why set to a static message naming both versions when the table is
 * refused; VX_ENOMEM. `books` and the venue must outlive the host. */
vx_status vx_host_create(const vx_host_config *cfg, const vx_strategy *strategy,
                         const vx_mbo_set *books, vx_venue venue, vx_host **out,
                         const char **why);
void vx_host_destroy(vx_host *h);

/* Calls init (once). VX_OK, or VX_ESTATE when init refused (the strategy is then never
 * called again; init_failed = 1). */
vx_status vx_host_init(vx_host *h, uint64_t now);

/* The books applied `events` (n >= 1, ending at a data edge); now = the last one's ts.
 * Updates the marks of the instruments that have positions, calls on_market. */
void vx_host_market(vx_host *h, const vx_mbo *events, uint32_t n, uint64_t now);

/* Delivers everything due by `now`: local REJECTs, the venue's reports (poll(.., now)), the
 * timer (timer_at <= now). The host's clock becomes max(its clock, now): a report delivered
 * when the clock already passed `now` is stamped with the clock. Returns the earliest time something of the host is scheduled after it (the timer), or
 * UINT64_MAX. */
uint64_t vx_host_deliver(vx_host *h, uint64_t now);

/* Delivers only the local REJECTs queued so far (and those their on_exec calls add), while
 * the logs have room: they reach the strategy before the next market event, whatever its
 * time (a refusal is immediate; the venue's reports wait for their time). */
void vx_host_deliver_local(vx_host *h);

/* Earliest time the host has something scheduled (the timer; local REJECTs count as now). */
uint64_t vx_host_next_due(const vx_host *h);
/* Local REJECTs queued, not delivered yet (vx_host_deliver_local delivers them). */
size_t vx_host_local_pending(const vx_host *h);

/* End of the run at `now`: calls finish (orders it sends are refused). */
void vx_host_finish(vx_host *h, uint64_t now);

/* Engage the kill switch from outside (Python's stop, a watchdog): every working order
 * canceled (host-made CANCELs, logged and counted in sent), the session over (finish runs),
 * every later order refused; counters.killed = 1. */
void vx_host_kill(vx_host *h, uint64_t now);

/* The orderly end of a live session at `now`: the same CANCELs as the kill switch, and every
 * later order refused (VENUE) while reports are still delivered, without engaging the kill
 * switch (counters.killed stays 0; a risk limit may still engage it). The driver calls
 * vx_host_finish after. No-op once closing or after finish. */
void vx_host_close(vx_host *h, uint64_t now);

/* The log room one callback may need: VX_STRATEGY_MAX_SENDS + 2 + risk.max_working +
 * instruments (its sends and their REJECTs, the report delivered, a kill switch's cancels,
 * one P&L point per instrument). vx_host_deliver stops (returning now) whenever the room is
 * below it; the backtest stops feeding at a group edge for the same reason. */
size_t vx_host_callback_room(const vx_host *h);
/* Log room left (the smallest of the three logs). */
size_t vx_host_log_room(const vx_host *h);
size_t vx_host_take_orders(vx_host *h, vx_order *out, size_t cap);
size_t vx_host_take_execs(vx_host *h, vx_exec *out, size_t cap);
size_t vx_host_take_pnl(vx_host *h, vx_pnl_point *out, size_t cap);

void vx_host_counters_read(const vx_host *h, vx_host_counters *out);
vx_status vx_host_position(const vx_host *h, uint32_t instrument, vx_position *out);
size_t vx_host_working(const vx_host *h, vx_working *out, size_t cap);

/* The conservation checks above: VX_OK, or VX_ESTATE with *why set to a static message. */
vx_status vx_host_check(const vx_host *h, const char **why);

#endif /* VELOX_HOST_H */
