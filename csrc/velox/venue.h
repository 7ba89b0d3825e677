/*
 * velox/venue.h — where a strategy's orders go and its execution reports come from: the venue
 * seam (vx_venue, a small table any venue fills) and the simulated, queue-aware venue for
 * backtests (vx_sim_venue). The live venue (SharedRings to a gateway process) fills the same
 * seam; so can any other (a venue is three functions and a pointer).
 *
 * The seam. A host (host.h) calls, on its one thread:
 *   submit(self, order, now)   an order (already validated and risk-checked) leaves now (event
 *                              time, ns). VX_OK, or VX_FULL when the venue cannot take more
 *                              (the host turns that into a REJECT, reason VX_REJECT_LIMIT).
 *   poll(self, out, cap, now)  up to cap execution reports that have reached the strategy by
 *                              `now` (ts_local <= now), in the order they reach it; returns
 *                              how many. The host validates each (vx_exec_validate) before use.
 *   next_due(self)             the earliest time anything inside the venue is scheduled (an
 *                              order reaching the matching engine, a report reaching the
 *                              strategy), UINT64_MAX when nothing is. The simulated venue
 *                              uses it to interleave its work with market events; a live
 *                              venue returns UINT64_MAX.
 *
 * ---- The simulated venue ----------------------------------------------------------------
 * It replays nothing itself: the backtest applies market events to the books (vx_mbo_set) and
 * tells the venue about each one (vx_sim_venue_before_event / _after_event) so it can keep
 * its queue positions. The strategy's orders never enter the replayed books: the simulation
 * does not move the market (no market impact, no hidden liquidity, no queue of the replayed
 * orders changes because of ours).
 *
 * Time and latency. An order sent at t reaches the matching engine at t + entry latency; a
 * report made at venue time v reaches the strategy at v + response latency. Each latency is
 * constant + a uniform draw in [0, jitter] from the seeded generator (one stream for entry,
 * one for response), then made non-decreasing (an order never overtakes an earlier one on
 * the same path, as on one TCP session).
 * Precisely: the entry stream is vx_prng_seed(seed), the response stream
 * vx_prng_seed(seed ^ 0xD1B54A32D192ED03); with jitter j > 0 one draw is made per order
 * accepted by submit (entry) and per report made (response): d = (x * (j + 1)) >> 64 on the
 * next 64-bit output x (128-bit product; j = UINT64_MAX: d = x); j = 0 draws nothing.
 * arrival = max(now + latency, the previous arrival); ts_local = max(v + latency, the
 * previous ts_local) (sums saturate at UINT64_MAX). The venue's time v never goes back: an
 * action at a time below the latest one it acted at is stamped with that latest time.
 *
 * Matching (at the order's arrival time a, against the books as they are after every market
 * event with ts <= a):
 *   NEW          unknown instrument -> REJECT UNKNOWN_INSTRUMENT; order_id of a working order
 *                -> REJECT DUPLICATE_ID (order ids are one space across instruments). An
                invalid order (vx_order_validate) -> REJECT with that reason. A GTC /
                POST_ONLY when max_orders orders are working -> REJECT LIMIT. Else ACK
                (leaves = qty), then:
 *     marketable (BUY: best ask <= price, SELL: best bid >= price; MARKET always):
 *                POST_ONLY -> the ACK is not sent: REJECT WOULD_CROSS instead. Otherwise it
 *                takes displayed lots level by level from the opposite side (best first, only
 *                levels at or better than its limit), one PARTIAL_FILL / FILL report per level
 *                at that level's price, liquidity TAKER. Each marketable order sees the
 *                displayed book as replayed: two orders in a row can take the same lots (no
 *                market impact).
 *     the rest:  IOC / MARKET -> CANCELED (leaves 0). GTC / POST_ONLY -> rests at price at the
 *                back of its level: ahead = displayed lots at (side, price) at arrival (every
 *                replayed order and seeded lot there is ahead of it; 0 when the price is
 *                outside the book's window).
 *   CANCEL       working (an order of that id AND instrument) -> CANCELED (leaves 0); else
 *                REJECT UNKNOWN_ORDER (leaves 0, side VX_SIDE_NONE).
 *   MODIFY       not working -> REJECT UNKNOWN_ORDER (as CANCEL). Same price and qty <=
 *                leaves: leaves = qty, keeps its place and its ahead (MODIFIED). Otherwise it
 *                leaves its queue and is matched again as a NEW of the same id, side and tif
 *                at the new price (MODIFIED with leaves = qty first, then any TAKER fills, the
 *                rest at the back of its level with ahead = displayed lots now and t_O = now).
 *                POST_ONLY that would cross: no MODIFIED; REJECT WOULD_CROSS (leaves = the
 *                lots working before) then CANCELED (leaves 0): the order is gone.
 *   Reports of one action come in the order written here (ACK, fills best level first,
 *   CANCELED); an order whose fills leave 0 lots ends with its FILL.
 * Resting orders (queue-aware, from the market-by-order events; O = our order at (s, p),
 * a = lots ahead of it, placed at arrival time t_O):
 *   - a replayed order X "is ahead of O" when X was placed (ADD, REPLACE, or a MODIFY that lost
 *     priority) by an event with ts <= t_O and rests at (s, p);
 *   - CANCEL / EXECUTE / DELETE / MODIFY-down / REPLACE / priority-losing MODIFY of an X ahead
 *     of O: a -= the lots X loses (never below 0);
 *   - the same of an unknown order (seeded lots) at (s, p): a -= min(lots, a);
 *   - EXECUTE of e lots at (s, p) of an X NOT ahead of O (placed after O), or the part of an
 *     unknown order's execute beyond a, or an EXECUTE at a price through O's (s = BUY: below
 *     p; SELL: above p): those lots would have traded with O first: O fills min(e', leaves)
 *     at p, liquidity MAKER (e' = the lots of that execute not consumed by a);
 *   - TRADE prints (non-displayed executions) and the book's other events do not fill O.
 *   EXECUTE events with price 0 mean "at the order's own price".
 * Precisely (what the code does, for an independent implementation): before_event looks the
 * event's order up in the book of e->instrument (vx_mbo_order_writer; an order resting in
 * another instrument's book counts as unknown) and notes its side, price, lots and ts;
 * after_event acts only when the book applied the event (`applied`: a rejected event changes
 * nothing). The event's lots L: CANCEL / EXECUTE: min(qty, lots it had);
 * DELETE / REPLACE: all it had; MODIFY: lots it had - qty when the price is unchanged and
 * qty <= lots it had, else all it had. For an unknown order only CANCEL, DELETE and EXECUTE
 * with a side (BUY / SELL) and a price != 0 count, at (e->side, e->price), L = e->qty; the
 * unknown order "is ahead" of every O at that level. Then for each of our orders O resting
 * at the same side, in the order they came to rest (each O on its own: our orders are not in
 * one another's queue, so one execute may fill several of them):
 *   - X at O's price and ahead of O, not an unknown EXECUTE: a -= min(L, a);
 *   - an EXECUTE of X at O's price not ahead of O, or of an unknown order at O's price, or an
 *     EXECUTE at a price through O's (exec price = e->price, or X's price when 0): c =
 *     min(L, a) lots consume a (a -= c), then O fills min(L - c, leaves) at p (MAKER);
 *   - CLEAR of the instrument: a = 0 for each O of it (everything ahead left); no fill.
 * queue_events counts the events that changed some O's ahead or filled some O.
 * Fills at venue time e->ts. Reports of one event in the order above.
 *
 * Queue models (cfg.queue_model) for market-by-price (L2) data: LEVEL events (the level now
 * shows q lots; types.h) and TRADE prints. Every other event acts as above in every model.
 * Let q0 / q be the lots the book shows at the LEVEL's (side, price) before / after it
 * (vx_mbo_qty; 0 outside the window) and d = q0 - q when q0 > q, else 0. For each O resting
 * at that (side, price), in the order they came to rest:
 *   VX_QUEUE_FIFO (0, the default; exact with L3 data): the lots that left were ahead of O:
 *     a -= min(d, a). TRADE prints do nothing (as above), so on L2 data (no EXECUTE) no
 *     resting order ever fills: velox.backtest refuses L2 input unless a model is chosen.
 *   VX_QUEUE_RISK_AVERSE (1): O advances only by trades; a LEVEL only caps a: a = min(a, q).
 *   VX_QUEUE_PROB (2): x = d - p_O (p_O = TRADE lots at O's price since the last LEVEL there
 *     or since O came to rest, a MODIFY's re-match included; signed arithmetic; p_O = 0
 *     afterwards). When x > 0 and a > 0, the part of x that left
 *     ahead of O is estimated as hftbacktest's probabilistic models do: with b = q0 - a
 *     (0 when negative), f(y) = y^n (n = cfg.queue_power in [0, 8], doubles, n
 *     multiplications, y^0 = 1), share = f(a) / (f(a) + f(b)), cut = share * x, and when
 *     x - cut > b (the lots behind cannot have held that many) cut = x - b (then the cap
 *     below gives the same a; the bound's visible effect is that no draw is made). O advances by
 *     floor(cut) lots plus one more with probability frac = cut - floor(cut): when frac > 0
 *     one draw u from the queue stream (vx_prng_seed(seed ^ 0x9E6C63D0676A9A99)) adds 1 when
 *     u < (uint64_t)(frac * 2^64). a -= min(that, a). Then (x <= 0 too) a = min(a, q).
 *   In both L2 models a TRADE of L lots at price p with a price != 0 consumes the resting side
 *   r = its side when BUY / SELL; with VX_SIDE_NONE r is taken from the book before the event
 *   (BUY when a best bid exists and p <= it, else SELL when a best ask exists and p >= it,
 *   else the print is ignored). For each O on side r in the order they came to rest: at p,
 *   p_O += L (VX_QUEUE_PROB) and the fill rule (c = min(L, a), a -= c, O fills
 *   min(L - c, leaves) at its price, MAKER); at a price p through O's (r = BUY: p < O's
 *   price; SELL: p > it), the same fill rule.
 *   queue_events counts LEVEL and TRADE events that changed some a or filled some O. The
 *   double arithmetic is IEEE-754 binary64 with no fused multiply-add (-ffp-contract=off),
 *   so every machine gives the same reports.
 * A report made when the report queue is full is dropped and counted (reports_dropped; the
 * counters still count it by kind): size max_in_flight for the bursts a run can make.
 * Fees per fill (vx_fee_of): lots * per_lot + (price * lots) * rate / VX_PRICE_SCALE, with
 * the maker or taker figures by the fill's liquidity; integer (fixed point, 128-bit
 * intermediate), the rate term truncated toward zero; negative = rebate; a result outside
 * int64 saturates at INT64_MIN / INT64_MAX.
 * At the end (vx_sim_venue_close): every order still working gets EXPIRED (by instrument,
 * BUY before SELL, in the order they came to rest).
 *
 * Memory: every table is allocated at create (max_orders working orders, queue capacities
 * for orders in flight and reports in flight, max_in_flight each); submit refuses (VX_FULL)
 * when either queue is full; nothing grows.
 */
#ifndef VELOX_VENUE_H
#define VELOX_VENUE_H

#include <stddef.h>
#include <stdint.h>

#include "velox/mbo.h"
#include "velox/orders.h"
#include "velox/types.h"

typedef struct vx_venue {
    void *self;
    vx_status (*submit)(void *self, const vx_order *order, uint64_t now);
    size_t (*poll)(void *self, vx_exec *out, size_t cap, uint64_t now);
    uint64_t (*next_due)(const void *self);
    /* Lots ahead of our resting order (VX_OK, VX_EMPTY not resting); NULL when the venue
     * does not know (live): the api then answers VX_ESTATE. */
    vx_status (*queue_ahead)(const void *self, uint64_t order_id, uint64_t *ahead);
} vx_venue;

typedef struct vx_fee {
    int64_t per_lot;     /* fixed point currency per lot (< 0: rebate) */
    int64_t rate;        /* fixed point fraction of notional (1 bps = VX_PRICE_SCALE / 10000) */
} vx_fee;

typedef struct vx_sim_venue_config {
    uint32_t instruments;      /* ids 0 .. instruments-1 (the books' ids) */
    uint32_t max_orders;       /* working orders at once (>= 1) */
    uint32_t max_in_flight;    /* capacity of each queue: orders on their way, reports on
                                  their way ([16, 2^24]; max_orders <= 2^24 too) */
    uint32_t queue_model;      /* VX_QUEUE_FIFO (0), VX_QUEUE_RISK_AVERSE, VX_QUEUE_PROB */
    uint64_t entry_latency_ns;
    uint64_t entry_jitter_ns;
    uint64_t response_latency_ns;
    uint64_t response_jitter_ns;
    uint64_t seed;
    vx_fee maker;
    vx_fee taker;
    uint32_t queue_power;      /* VX_QUEUE_PROB's n, in [0, VX_QUEUE_MAX_POWER] */
    uint32_t reserved;         /* 0 */
} vx_sim_venue_config;

enum vx_queue_model { VX_QUEUE_FIFO = 0, VX_QUEUE_RISK_AVERSE = 1, VX_QUEUE_PROB = 2 };
enum { VX_QUEUE_MAX_POWER = 8 };

typedef struct vx_sim_venue vx_sim_venue;

typedef struct vx_sim_venue_counters {
    uint64_t orders;          /* orders submit took (VX_OK) */
    uint64_t acks, rejects, fills, partial_fills, canceled, modified, expired;
    uint64_t maker_fills, taker_fills;  /* fill reports by liquidity */
    uint64_t traded_lots;
    uint64_t queue_events;    /* market events that changed the ahead of, or filled, one of
                                 our resting orders */
    uint64_t reports_dropped; /* reports made while the report queue was full (lost) */
} vx_sim_venue_counters;

/* `books` is read (never written) at arrivals and in the event hooks; it must outlive the
 * venue. VX_EINVAL (bad config: instruments not in [1, the set's instruments], max_orders,
 * max_in_flight, queue_model or queue_power out of range, reserved != 0), VX_ENOMEM. */
vx_status vx_sim_venue_create(const vx_sim_venue_config *cfg, const vx_mbo_set *books,
                              vx_sim_venue **out);
void vx_sim_venue_destroy(vx_sim_venue *v);

/* The seam for this venue. */
vx_venue vx_sim_venue_seam(vx_sim_venue *v);

/* The seam's next_due, called directly: the earliest arrival or report time, UINT64_MAX when
 * nothing is scheduled. */
uint64_t vx_sim_venue_next_due(const vx_sim_venue *v);

/* Matching work due at or before `t` (orders reaching the engine): done now against the
 * books as they are. The backtest calls it before applying an event with ts > t. */
void vx_sim_venue_run_until(vx_sim_venue *v, uint64_t t);

/* The queue hooks, around the backtest's apply of one market event `e` (ts already made
 * non-decreasing). before_event reads the books as they are before e (the lots X loses);
 * after_event fills resting orders; `applied` = the book applied e (vx_mbo_set_apply returned
 * VX_OK). Both run on the books' writer thread. Cheap when e's instrument has none of ours. */
void vx_sim_venue_before_event(vx_sim_venue *v, const vx_mbo *e);
void vx_sim_venue_after_event(vx_sim_venue *v, const vx_mbo *e, int applied);

/* Lots ahead of our resting order: VX_OK, VX_EMPTY (not resting). */
vx_status vx_sim_venue_queue_ahead(const vx_sim_venue *v, uint64_t order_id, uint64_t *ahead);

/* End of session at `t`: every order in flight is delivered (matched at its arrival time
 * against the books as they are), then every working order EXPIRED at venue time t (or the
 * venue's latest time if later; reports due at that + response latency). Orders submitted
 * afterwards are REJECTed (VENUE) at once, at venue time `now` (no entry latency). */
void vx_sim_venue_close(vx_sim_venue *v, uint64_t t);

void vx_sim_venue_counters_read(const vx_sim_venue *v, vx_sim_venue_counters *out);

/* Fee of one fill (the formula above). */
int64_t vx_fee_of(const vx_fee *fee, int64_t price, uint32_t lots);

#endif /* VELOX_VENUE_H */
