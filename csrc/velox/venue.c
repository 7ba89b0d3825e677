/*
 * velox/venue.c — the simulated, queue-aware venue (see venue.h for the contract).
 *
 * Layout (all allocated at create, nothing after):
 *   - `orders`: max_orders working-order slots; free slots chained through `next`.
 *   - `index`: order_id -> slot + 1 (0 = empty), open addressing with linear probing in a
 *     power-of-two table of >= 2 x max_orders entries, backward-shift erase (probes bounded by
 *     the table size; with a load <= 1/2 they stay short).
 *   - per (instrument, side) a FIFO list of our resting orders in the order they came to rest
 *     (head/tail slot indices) and per instrument a count of resting orders: the event hooks
 *     return after one load when the event's instrument has none of ours.
 *   - two FIFO rings of max_in_flight entries: orders on their way (with their arrival time)
 *     and reports on their way (vx_exec, ts_local non-decreasing).
 * Single-threaded (the backtest's thread): no atomics.
 */
#include "velox/venue.h"

#include <stdlib.h>
#include <string.h>

#include "velox/prng.h"

__extension__ typedef __int128 wide; /* GCC and Clang on every 64-bit target velox builds for */
__extension__ typedef unsigned __int128 uwide;

#define NONE UINT32_MAX
#define DEPTH_CHUNK 32u              /* levels read per vx_mbo_depth call when taking */
#define MAX_CAPACITY (1u << 24)      /* max_orders / max_in_flight ceiling (memory sanity) */
#define RESPONSE_SEED_XOR UINT64_C(0xD1B54A32D192ED03)
#define QUEUE_SEED_XOR UINT64_C(0x9E6C63D0676A9A99)
#define TWO_POW_64 18446744073709551616.0

typedef struct venue_order {
    uint64_t order_id;
    int64_t price;
    uint64_t ahead;       /* lots ahead of it in its queue */
    uint64_t placed_ts;   /* t_O: when it came to rest (arrival time of its NEW / MODIFY) */
    uint64_t traded;      /* VX_QUEUE_PROB: TRADE lots at its price since the last LEVEL there */
    uint32_t leaves;
    uint32_t instrument;
    uint32_t prev, next;  /* list of its (instrument, side); `next` chains free slots */
    uint8_t side, tif, used, pad[5];
} venue_order;
_Static_assert(sizeof(venue_order) == 64, "venue_order: 8 words, one line");

typedef struct in_flight_order {
    vx_order order;
    uint64_t arrival;
} in_flight_order;
_Static_assert(sizeof(in_flight_order) == 48, "in_flight_order: order + arrival");

/* What before_event learned about the event's order, for after_event. */
typedef struct pending_event {
    int kind;             /* PEND_NONE, PEND_KNOWN, PEND_UNKNOWN, PEND_CLEAR */
    int side;
    int64_t price;        /* the order's price (known) or the event's price (unknown) */
    uint32_t qty;         /* the order's lots before the event (known) */
    uint64_t placed_ts;   /* the order's placement ts (known) */
    uint64_t shown;       /* LEVEL: the lots the book showed at (side, price) before it */
} pending_event;
enum { PEND_NONE = 0, PEND_KNOWN = 1, PEND_UNKNOWN = 2, PEND_CLEAR = 3, PEND_LEVEL = 4,
       PEND_TRADE = 5 };

struct vx_sim_venue {
    vx_sim_venue_config cfg;
    const vx_mbo_set *books;
    const vx_mbo_book **readers;  /* per instrument */
    venue_order *orders;
    uint32_t *index;
    uint32_t index_mask;
    uint32_t free_head;
    uint32_t working;
    uint32_t *heads, *tails;      /* [instrument * 2 + side] */
    uint32_t *resting;            /* [instrument]: our resting orders, both sides */
    in_flight_order *ring_orders;
    uint32_t orders_head, orders_count;
    vx_exec *ring_reports;
    uint32_t reports_head, reports_count;
    uint32_t cap;                 /* max_in_flight: capacity of each ring */
    uint64_t last_arrival;        /* entry path made non-decreasing */
    uint64_t last_local;          /* response path made non-decreasing */
    uint64_t clock;               /* venue time: the latest time it acted */
    int closed;
    vx_prng entry_rng, response_rng, queue_rng;
    pending_event pend;
    vx_sim_venue_counters counters;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static inline uint64_t sat_add(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* constant + a uniform draw in [0, jitter]: the high 64 bits of next * (jitter + 1) */
static uint64_t draw_latency(vx_prng *rng, uint64_t constant, uint64_t jitter) {
    if (jitter == 0) return constant;
    uint64_t x = vx_prng_next(rng);
    uint64_t d = jitter == UINT64_MAX ? x : (uint64_t)(((uwide)x * (jitter + 1)) >> 64);
    return sat_add(constant, d);
}

int64_t vx_fee_of(const vx_fee *fee, int64_t price, uint32_t lots) {
    wide per_lot = (wide)lots * fee->per_lot;          /* |.| < 2^95 */
    wide notional = (wide)price * lots;                /* |.| < 2^95 */
    wide product;
    wide total;
    if (__builtin_mul_overflow(notional, (wide)fee->rate, &product)) {
        /* |rate term| >= 2^127 / 1e8 > 2^95 + 2^63: the sum is out of int64 on that side */
        total = ((notional < 0) != (fee->rate < 0)) ? -((wide)1 << 100) : ((wide)1 << 100);
    } else {
        total = per_lot + product / VX_PRICE_SCALE;    /* C division truncates toward zero */
    }
    if (total > INT64_MAX) return INT64_MAX;
    if (total < INT64_MIN) return INT64_MIN;
    return (int64_t)total;
}

/* ---- working-order table ---------------------------------------------------------------- */

static inline uint32_t home_of(const vx_sim_venue *v, uint64_t id) {
    return (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & v->index_mask;
}

static uint32_t find_slot(const vx_sim_venue *v, uint64_t id) {
    uint32_t i = home_of(v, id);
    for (uint32_t probe = 0; probe <= v->index_mask; probe++) { /* bounded: table size */
        uint32_t e = v->index[i];
        if (e == 0) return NONE;
        if (v->orders[e - 1].order_id == id) return e - 1;
        i = (i + 1) & v->index_mask;
    }
    return NONE;
}

static void index_insert(vx_sim_venue *v, uint64_t id, uint32_t slot) {
    uint32_t i = home_of(v, id);
    for (uint32_t probe = 0; probe <= v->index_mask; probe++) { /* bounded; load <= 1/2 */
        if (v->index[i] == 0) {
            v->index[i] = slot + 1;
            return;
        }
        i = (i + 1) & v->index_mask;
    }
}

static void index_erase(vx_sim_venue *v, uint64_t id) {
    uint32_t i = home_of(v, id);
    uint32_t probe = 0;
    for (; probe <= v->index_mask; probe++) { /* bounded: table size */
        uint32_t e = v->index[i];
        if (e == 0) return;
        if (v->orders[e - 1].order_id == id) break;
        i = (i + 1) & v->index_mask;
    }
    if (probe > v->index_mask) return;
    /* backward shift: move later entries of the run into the hole when their home allows */
    uint32_t hole = i;
    uint32_t j = i;
    for (uint32_t step = 0; step <= v->index_mask; step++) { /* bounded: table size */
        j = (j + 1) & v->index_mask;
        uint32_t e = v->index[j];
        if (e == 0) break;
        uint32_t h = home_of(v, v->orders[e - 1].order_id);
        /* e may move to the hole when its home is not cyclically in (hole, j] */
        int home_in_range = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
        if (!home_in_range) {
            v->index[hole] = e;
            hole = j;
        }
    }
    v->index[hole] = 0;
}

static void list_append(vx_sim_venue *v, uint32_t slot) {
    venue_order *o = &v->orders[slot];
    uint32_t key = o->instrument * 2u + o->side;
    o->next = NONE;
    o->prev = v->tails[key];
    if (o->prev == NONE) v->heads[key] = slot;
    else v->orders[o->prev].next = slot;
    v->tails[key] = slot;
    v->resting[o->instrument]++;
}

static void list_remove(vx_sim_venue *v, uint32_t slot) {
    venue_order *o = &v->orders[slot];
    uint32_t key = o->instrument * 2u + o->side;
    if (o->prev == NONE) v->heads[key] = o->next;
    else v->orders[o->prev].next = o->next;
    if (o->next == NONE) v->tails[key] = o->prev;
    else v->orders[o->next].prev = o->prev;
    o->prev = o->next = NONE;
    v->resting[o->instrument]--;
}

/* The order is no longer working: out of the index, its slot free (already out of its list). */
static void free_slot(vx_sim_venue *v, uint32_t slot) {
    venue_order *o = &v->orders[slot];
    index_erase(v, o->order_id);
    o->used = 0;
    o->next = v->free_head;
    v->free_head = slot;
    v->working--;
}

static void release_slot(vx_sim_venue *v, uint32_t slot) {
    list_remove(v, slot);
    free_slot(v, slot);
}

/* ---- reports ------------------------------------------------------------------------------ */

static void emit(vx_sim_venue *v, uint64_t at, uint8_t kind, uint64_t order_id,
                 uint32_t instrument, uint8_t side, uint8_t reason, uint32_t leaves,
                 int64_t fill_price, uint32_t fill_qty, uint8_t liquidity, int64_t fee) {
    if (at < v->clock) at = v->clock;
    v->clock = at;
    uint64_t local = sat_add(at, draw_latency(&v->response_rng, v->cfg.response_latency_ns,
                                              v->cfg.response_jitter_ns));
    if (local < v->last_local) local = v->last_local;
    v->last_local = local;
    switch (kind) {
    case VX_EXEC_ACK: v->counters.acks++; break;
    case VX_EXEC_REJECT: v->counters.rejects++; break;
    case VX_EXEC_FILL: v->counters.fills++; break;
    case VX_EXEC_PARTIAL_FILL: v->counters.partial_fills++; break;
    case VX_EXEC_CANCELED: v->counters.canceled++; break;
    case VX_EXEC_MODIFIED: v->counters.modified++; break;
    case VX_EXEC_EXPIRED: v->counters.expired++; break;
    default: break;
    }
    if (liquidity == VX_LIQ_MAKER) v->counters.maker_fills++;
    if (liquidity == VX_LIQ_TAKER) v->counters.taker_fills++;
    v->counters.traded_lots += fill_qty;
    if (v->reports_count == v->cap) { /* only when a burst outgrows the ring: counted */
        v->counters.reports_dropped++;
        return;
    }
    vx_exec *x = &v->ring_reports[(v->reports_head + v->reports_count) % v->cap];
    memset(x, 0, sizeof *x);
    x->ts_exchange = at;
    x->ts_local = local;
    x->order_id = order_id;
    x->fill_price = fill_price;
    x->fee = fee;
    x->fill_qty = fill_qty;
    x->leaves_qty = leaves;
    x->instrument = instrument;
    x->kind = kind;
    x->side = side;
    x->liquidity = liquidity;
    x->reason = reason;
    v->reports_count++;
}

static void emit_fill(vx_sim_venue *v, uint64_t at, uint64_t order_id, uint32_t instrument,
                      uint8_t side, int64_t price, uint32_t lots, uint32_t leaves,
                      uint8_t liquidity) {
    const vx_fee *fee = liquidity == VX_LIQ_MAKER ? &v->cfg.maker : &v->cfg.taker;
    emit(v, at, leaves ? VX_EXEC_PARTIAL_FILL : VX_EXEC_FILL, order_id, instrument, side, 0,
         leaves, price, lots, liquidity, vx_fee_of(fee, price, lots));
}

/* ---- matching at arrival ------------------------------------------------------------------ */

static inline int acceptable(int side, int64_t level_price, int64_t limit, int market) {
    if (market) return 1;
    return side == VX_BUY ? level_price <= limit : level_price >= limit;
}

/* Take displayed lots level by level from the side opposite `side`; returns the lots left. */
static uint32_t take(vx_sim_venue *v, uint64_t at, const vx_order *o, int side, int64_t limit,
                     int market, uint32_t leaves) {
    const vx_mbo_book *book = v->readers[o->instrument];
    int opposite = 1 - side;
    int64_t prices[DEPTH_CHUNK];
    uint64_t qtys[DEPTH_CHUNK];
    size_t n = vx_mbo_depth(book, opposite, DEPTH_CHUNK, prices, qtys, NULL);
    int64_t last = 0;
    for (size_t i = 0; i < n && leaves > 0; i++) { /* bounded: DEPTH_CHUNK */
        if (!acceptable(side, prices[i], limit, market)) return leaves;
        uint32_t lots = qtys[i] < leaves ? (uint32_t)qtys[i] : leaves;
        leaves -= lots;
        last = prices[i];
        emit_fill(v, at, o->order_id, o->instrument, (uint8_t)side, prices[i], lots, leaves,
                  VX_LIQ_TAKER);
    }
    if (leaves == 0 || n < DEPTH_CHUNK) return leaves;
    /* deeper than the chunk: walk the ladder tick by tick (bounded by the window) */
    int64_t tick = vx_mbo_tick(book);
    uint32_t levels = vx_mbo_levels(book);
    int64_t step = opposite == VX_SELL ? tick : -tick; /* away from the best */
    int64_t price = last;
    for (uint32_t k = 0; k < levels && leaves > 0; k++) { /* bounded: window levels */
        if (__builtin_add_overflow(price, step, &price)) break;
        if (!acceptable(side, price, limit, market)) break;
        uint64_t q = 0;
        if (vx_mbo_qty(book, opposite, price, &q) != VX_OK) break; /* left the window */
        if (q == 0) continue;
        uint32_t lots = q < leaves ? (uint32_t)q : leaves;
        leaves -= lots;
        emit_fill(v, at, o->order_id, o->instrument, (uint8_t)side, price, lots, leaves,
                  VX_LIQ_TAKER);
    }
    return leaves;
}

static int marketable(const vx_sim_venue *v, uint32_t instrument, int side, int64_t price,
                      int market) {
    if (market) return 1;
    int64_t best = 0;
    uint64_t q = 0;
    if (vx_mbo_best(v->readers[instrument], 1 - side, &best, &q) != VX_OK) return 0;
    return side == VX_BUY ? best <= price : best >= price;
}

static uint64_t displayed(const vx_sim_venue *v, uint32_t instrument, int side, int64_t price) {
    uint64_t q = 0;
    if (vx_mbo_qty(v->readers[instrument], side, price, &q) != VX_OK) return 0;
    return q;
}

/* Put a working order (slot already holding its fields) at the back of its queue at `at`. */
static void rest(vx_sim_venue *v, uint32_t slot, uint64_t at) {
    venue_order *r = &v->orders[slot];
    r->placed_ts = at;
    r->ahead = displayed(v, r->instrument, r->side, r->price);
    r->traded = 0;
    list_append(v, slot);
}

/* A NEW at its arrival: POST_ONLY check, ACK, take, then cancel or rest the rest. */
static void match_new(vx_sim_venue *v, uint64_t at, const vx_order *o) {
    int side = o->side;
    int market = o->type == VX_ORDER_MARKET;
    int is_marketable = marketable(v, o->instrument, side, o->price, market);
    if (is_marketable && o->tif == VX_TIF_POST_ONLY) {
        emit(v, at, VX_EXEC_REJECT, o->order_id, o->instrument, o->side,
             VX_REJECT_WOULD_CROSS, 0, 0, 0, VX_LIQ_NONE, 0);
        return;
    }
    int rests = o->tif == VX_TIF_GTC || o->tif == VX_TIF_POST_ONLY;
    if (rests && v->free_head == NONE) { /* the working-order table is full */
        emit(v, at, VX_EXEC_REJECT, o->order_id, o->instrument, o->side, VX_REJECT_LIMIT, 0,
             0, 0, VX_LIQ_NONE, 0);
        return;
    }
    emit(v, at, VX_EXEC_ACK, o->order_id, o->instrument, o->side, 0, o->qty, 0, 0,
         VX_LIQ_NONE, 0);
    uint32_t leaves = o->qty;
    if (is_marketable) leaves = take(v, at, o, side, o->price, market, leaves);
    if (leaves == 0) return;
    if (!rests) {
        emit(v, at, VX_EXEC_CANCELED, o->order_id, o->instrument, o->side, 0, 0, 0, 0,
             VX_LIQ_NONE, 0);
        return;
    }
    uint32_t slot = v->free_head;
    venue_order *r = &v->orders[slot];
    v->free_head = r->next;
    memset(r, 0, sizeof *r);
    r->order_id = o->order_id;
    r->price = o->price;
    r->leaves = leaves;
    r->instrument = o->instrument;
    r->side = o->side;
    r->tif = o->tif;
    r->used = 1;
    index_insert(v, o->order_id, slot);
    v->working++;
    rest(v, slot, at);
}

static uint32_t find_working(const vx_sim_venue *v, const vx_order *o) {
    uint32_t slot = find_slot(v, o->order_id);
    if (slot == NONE || v->orders[slot].instrument != o->instrument) return NONE;
    return slot;
}

static void arrive(vx_sim_venue *v, const vx_order *o, uint64_t at) {
    vx_reject why = vx_order_validate(o);
    uint8_t side = o->action == VX_ORDER_NEW ? o->side : (uint8_t)VX_SIDE_NONE;
    if (why != VX_REJECT_NONE) {
        uint8_t s = (o->side == VX_BUY || o->side == VX_SELL) ? side : (uint8_t)VX_SIDE_NONE;
        emit(v, at, VX_EXEC_REJECT, o->order_id, o->instrument, s, (uint8_t)why, 0, 0, 0,
             VX_LIQ_NONE, 0);
        return;
    }
    if (o->action == VX_ORDER_NEW) {
        if (o->instrument >= v->cfg.instruments) {
            emit(v, at, VX_EXEC_REJECT, o->order_id, o->instrument, o->side,
                 VX_REJECT_UNKNOWN_INSTRUMENT, 0, 0, 0, VX_LIQ_NONE, 0);
        } else if (find_slot(v, o->order_id) != NONE) {
            emit(v, at, VX_EXEC_REJECT, o->order_id, o->instrument, o->side,
                 VX_REJECT_DUPLICATE_ID, 0, 0, 0, VX_LIQ_NONE, 0);
        } else {
            match_new(v, at, o);
        }
        return;
    }
    uint32_t slot = find_working(v, o);
    if (slot == NONE) {
        emit(v, at, VX_EXEC_REJECT, o->order_id, o->instrument, VX_SIDE_NONE,
             VX_REJECT_UNKNOWN_ORDER, 0, 0, 0, VX_LIQ_NONE, 0);
        return;
    }
    venue_order *r = &v->orders[slot];
    if (o->action == VX_ORDER_CANCEL) {
        emit(v, at, VX_EXEC_CANCELED, r->order_id, r->instrument, r->side, 0, 0, 0, 0,
             VX_LIQ_NONE, 0);
        release_slot(v, slot);
        return;
    }
    /* MODIFY */
    if (o->price == r->price && o->qty <= r->leaves) { /* keeps its place */
        r->leaves = o->qty;
        emit(v, at, VX_EXEC_MODIFIED, r->order_id, r->instrument, r->side, 0, r->leaves, 0, 0,
             VX_LIQ_NONE, 0);
        return;
    }
    vx_order again;
    memset(&again, 0, sizeof again);
    again.ts = o->ts;
    again.order_id = r->order_id;
    again.price = o->price;
    again.qty = o->qty;
    again.instrument = r->instrument;
    again.side = r->side;
    again.type = VX_ORDER_LIMIT;
    again.tif = r->tif;
    again.action = VX_ORDER_NEW;
    list_remove(v, slot); /* leaves its queue */
    int side_ = r->side;
    if (r->tif == VX_TIF_POST_ONLY && marketable(v, r->instrument, side_, o->price, 0)) {
        emit(v, at, VX_EXEC_REJECT, r->order_id, r->instrument, r->side,
             VX_REJECT_WOULD_CROSS, r->leaves, 0, 0, VX_LIQ_NONE, 0);
        emit(v, at, VX_EXEC_CANCELED, r->order_id, r->instrument, r->side, 0, 0, 0, 0,
             VX_LIQ_NONE, 0);
        free_slot(v, slot);
        return;
    }
    emit(v, at, VX_EXEC_MODIFIED, r->order_id, r->instrument, r->side, 0, o->qty, 0, 0,
         VX_LIQ_NONE, 0);
    uint32_t leaves = o->qty;
    if (marketable(v, r->instrument, side_, o->price, 0))
        leaves = take(v, at, &again, side_, o->price, 0, leaves);
    r->price = o->price;
    if (leaves == 0) {
        free_slot(v, slot);
        return;
    }
    r->leaves = leaves;
    rest(v, slot, at);
}

/* ---- the seam ------------------------------------------------------------------------------ */

static vx_status seam_submit(void *self, const vx_order *order, uint64_t now) {
    vx_sim_venue *v = self;
    if (v->orders_count == v->cap || v->reports_count == v->cap) return VX_FULL;
    if (v->closed) { /* the session is over: refused at once, at venue time max(now, clock) */
        v->counters.orders++;
        uint8_t side = order->action == VX_ORDER_NEW &&
                               (order->side == VX_BUY || order->side == VX_SELL)
                           ? order->side
                           : (uint8_t)VX_SIDE_NONE;
        emit(v, now, VX_EXEC_REJECT, order->order_id, order->instrument, side,
             VX_REJECT_VENUE, 0, 0, 0, VX_LIQ_NONE, 0);
        return VX_OK;
    }
    uint64_t arrival = sat_add(now, draw_latency(&v->entry_rng, v->cfg.entry_latency_ns,
                                                 v->cfg.entry_jitter_ns));
    if (arrival < v->last_arrival) arrival = v->last_arrival;
    v->last_arrival = arrival;
    in_flight_order *f = &v->ring_orders[(v->orders_head + v->orders_count) % v->cap];
    f->order = *order;
    f->arrival = arrival;
    v->orders_count++;
    v->counters.orders++;
    return VX_OK;
}

static size_t seam_poll(void *self, vx_exec *out, size_t cap, uint64_t now) {
    vx_sim_venue *v = self;
    size_t n = 0;
    while (n < cap && v->reports_count > 0) { /* bounded: cap and the ring's count */
        const vx_exec *x = &v->ring_reports[v->reports_head];
        if (x->ts_local > now) break;
        out[n++] = *x;
        v->reports_head = (v->reports_head + 1) % v->cap;
        v->reports_count--;
    }
    return n;
}

static uint64_t seam_next_due(const void *self) { return vx_sim_venue_next_due(self); }

uint64_t vx_sim_venue_next_due(const vx_sim_venue *v) {
    uint64_t due = UINT64_MAX;
    if (v->orders_count > 0) due = v->ring_orders[v->orders_head].arrival;
    if (v->reports_count > 0 && v->ring_reports[v->reports_head].ts_local < due)
        due = v->ring_reports[v->reports_head].ts_local;
    return due;
}

static vx_status seam_queue_ahead(const void *self, uint64_t order_id, uint64_t *ahead) {
    return vx_sim_venue_queue_ahead(self, order_id, ahead);
}

vx_venue vx_sim_venue_seam(vx_sim_venue *v) {
    vx_venue s = {v, seam_submit, seam_poll, seam_next_due, seam_queue_ahead};
    return s;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

vx_status vx_sim_venue_create(const vx_sim_venue_config *cfg, const vx_mbo_set *books,
                              vx_sim_venue **out) {
    if (cfg == NULL || books == NULL || out == NULL) return VX_EINVAL;
    if (cfg->instruments < 1 || cfg->instruments > vx_mbo_set_instruments(books))
        return VX_EINVAL;
    if (cfg->max_orders < 1 || cfg->max_orders > MAX_CAPACITY) return VX_EINVAL;
    if (cfg->max_in_flight < 16 || cfg->max_in_flight > MAX_CAPACITY) return VX_EINVAL;
    if (cfg->queue_model > VX_QUEUE_PROB || cfg->queue_power > VX_QUEUE_MAX_POWER) return VX_EINVAL;
    if (cfg->reserved != 0) return VX_EINVAL;
    vx_sim_venue *v = calloc(1, sizeof *v);
    if (v == NULL) return VX_ENOMEM;
    v->cfg = *cfg;
    v->books = books;
    v->cap = cfg->max_in_flight;
    uint32_t index_size = 2;
    while (index_size < 2u * cfg->max_orders) index_size <<= 1; /* bounded: <= 2^25 */
    v->index_mask = index_size - 1;
    v->readers = calloc(cfg->instruments, sizeof *v->readers);
    v->orders = calloc(cfg->max_orders, sizeof *v->orders);
    v->index = calloc(index_size, sizeof *v->index);
    v->heads = malloc((size_t)cfg->instruments * 2 * sizeof *v->heads);
    v->tails = malloc((size_t)cfg->instruments * 2 * sizeof *v->tails);
    v->resting = calloc(cfg->instruments, sizeof *v->resting);
    v->ring_orders = calloc(v->cap, sizeof *v->ring_orders);
    v->ring_reports = calloc(v->cap, sizeof *v->ring_reports);
    if (!v->readers || !v->orders || !v->index || !v->heads || !v->tails || !v->resting ||
        !v->ring_orders || !v->ring_reports) {
        vx_sim_venue_destroy(v);
        return VX_ENOMEM;
    }
    for (uint32_t i = 0; i < cfg->instruments; i++) v->readers[i] = vx_mbo_set_reader(books, i);
    for (uint32_t i = 0; i < cfg->instruments * 2u; i++) v->heads[i] = v->tails[i] = NONE;
    for (uint32_t i = 0; i < cfg->max_orders; i++) {
        v->orders[i].next = i + 1 < cfg->max_orders ? i + 1 : NONE;
        v->orders[i].prev = NONE;
    }
    v->free_head = 0;
    vx_prng_seed(&v->entry_rng, cfg->seed);
    vx_prng_seed(&v->response_rng, cfg->seed ^ RESPONSE_SEED_XOR);
    vx_prng_seed(&v->queue_rng, cfg->seed ^ QUEUE_SEED_XOR);
    *out = v;
    return VX_OK;
}

void vx_sim_venue_destroy(vx_sim_venue *v) {
    if (v == NULL) return;
    free(v->readers);
    free(v->orders);
    free(v->index);
    free(v->heads);
    free(v->tails);
    free(v->resting);
    free(v->ring_orders);
    free(v->ring_reports);
    free(v);
}

void vx_sim_venue_run_until(vx_sim_venue *v, uint64_t t) {
    uint32_t n = v->orders_count;
    for (uint32_t i = 0; i < n; i++) { /* bounded: the orders in flight now */
        in_flight_order *f = &v->ring_orders[v->orders_head];
        if (f->arrival > t) break;
        vx_order o = f->order;
        uint64_t at = f->arrival;
        v->orders_head = (v->orders_head + 1) % v->cap;
        v->orders_count--;
        arrive(v, &o, at);
    }
}

/* ---- queue hooks --------------------------------------------------------------------------- */

static inline int through(int side, int64_t exec_price, int64_t p) {
    return side == VX_BUY ? exec_price < p : exec_price > p;
}

/* Whether an event at (key's side, price) can change one of our orders there: one of them at
 * that price, or (an EXECUTE) one the execute's price is through. Bounded: the list. */
static int touches_ours(const vx_sim_venue *v, uint32_t key, int side, int64_t price,
                        int execute, int64_t exec_price) {
    uint32_t i = v->heads[key];
    for (uint32_t step = 0; i != NONE && step < v->cfg.max_orders; step++) {
        const venue_order *r = &v->orders[i];
        if (r->price == price || (execute && through(side, exec_price, r->price))) return 1;
        i = r->next;
    }
    return 0;
}

/* before_event when the event's instrument has orders of ours. */
__attribute__((noinline)) static void before_event_ours(vx_sim_venue *v, const vx_mbo *e) {
    uint32_t inst = e->instrument;
    const vx_mbo_book *book = v->readers[inst];
    int execute = e->action == VX_MBO_EXECUTE;
    switch (e->action) {
    case VX_MBO_CLEAR:
        v->pend.kind = PEND_CLEAR;
        return;
    case VX_MBO_CANCEL:
    case VX_MBO_DELETE:
    case VX_MBO_EXECUTE:
    case VX_MBO_REPLACE:
    case VX_MBO_MODIFY: {
        vx_mbo_order_info info;
        if (vx_mbo_order_writer(book, e->order_id, &info) == VX_OK) {
            uint32_t key = inst * 2u + info.side;
            int64_t exec_price = e->price != 0 ? e->price : info.price;
            if (!touches_ours(v, key, info.side, info.price, execute, exec_price)) return;
            v->pend.kind = PEND_KNOWN;
            v->pend.side = info.side;
            v->pend.price = info.price;
            v->pend.qty = info.qty;
            v->pend.placed_ts = info.ts;
        } else {
            /* seeded lots: only CANCEL / DELETE / EXECUTE reduce them, at a known level */
            if (e->action == VX_MBO_REPLACE || e->action == VX_MBO_MODIFY) return;
            if (e->side != VX_BUY && e->side != VX_SELL) return;
            if (e->price == 0) return;
            uint32_t key = inst * 2u + e->side;
            if (!touches_ours(v, key, e->side, e->price, execute, e->price)) return;
            v->pend.kind = PEND_UNKNOWN;
            v->pend.side = e->side;
            v->pend.price = e->price;
            v->pend.qty = e->qty;
        }
        break;
    }
    case VX_MBO_LEVEL: {
        if (e->side != VX_BUY && e->side != VX_SELL) return;
        if (!touches_ours(v, inst * 2u + e->side, e->side, e->price, 0, 0)) return;
        uint64_t shown = 0;
        (void)vx_mbo_qty(book, e->side, e->price, &shown); /* 0 off the grid / window */
        v->pend.kind = PEND_LEVEL;
        v->pend.side = e->side;
        v->pend.price = e->price;
        v->pend.shown = shown;
        return;
    }
    case VX_MBO_TRADE: {
        if (v->cfg.queue_model == VX_QUEUE_FIFO || e->price == 0) return;
        int side = e->side;
        if (side != VX_BUY && side != VX_SELL) { /* which side traded: from the book */
            int64_t best;
            uint64_t lots;
            if (vx_mbo_best(book, VX_BUY, &best, &lots) == VX_OK && e->price <= best) side = VX_BUY;
            else if (vx_mbo_best(book, VX_SELL, &best, &lots) == VX_OK && e->price >= best)
                side = VX_SELL;
            else return;
        }
        if (!touches_ours(v, inst * 2u + (uint32_t)side, side, e->price, 1, e->price)) return;
        v->pend.kind = PEND_TRADE;
        v->pend.side = side;
        v->pend.price = e->price;
        return;
    }
    default:
        return; /* ADD, CROSS, BROKEN, STATUS (and TRADE with VX_QUEUE_FIFO): no queue ahead
                   changes, no fill */
    }
}

void vx_sim_venue_before_event(vx_sim_venue *v, const vx_mbo *e) {
    v->pend.kind = PEND_NONE;
    uint32_t inst = e->instrument;
    if (inst >= v->cfg.instruments || v->resting[inst] == 0) return; /* the hot path */
    before_event_ours(v, e);
}

/* The fill rule: c = min(e, a) lots consume a, O fills min(e - c, leaves) at its price. */
static int fill_resting(vx_sim_venue *v, uint32_t slot, uint64_t lots, uint64_t at) {
    venue_order *r = &v->orders[slot];
    uint64_t consumed = lots < r->ahead ? lots : r->ahead;
    r->ahead -= consumed;
    uint64_t rest_lots = lots - consumed;
    if (rest_lots == 0) return consumed > 0;
    uint32_t f = rest_lots < r->leaves ? (uint32_t)rest_lots : r->leaves;
    r->leaves -= f;
    emit_fill(v, at, r->order_id, r->instrument, r->side, r->price, f, r->leaves,
              VX_LIQ_MAKER);
    if (r->leaves == 0) release_slot(v, slot);
    return 1;
}

/* VX_QUEUE_PROB: the lots of x that left ahead of r (venue.h, "Queue models"). */
static uint64_t prob_advance(vx_sim_venue *v, const venue_order *r, uint64_t shown, uint64_t x) {
    uint64_t back = shown > r->ahead ? shown - r->ahead : 0;
    double fa = 1.0, fb = 1.0;
    double a = (double)r->ahead, b = (double)back;
    for (uint32_t k = 0; k < v->cfg.queue_power; k++) { /* bounded: VX_QUEUE_MAX_POWER */
        fa *= a;
        fb *= b;
    }
    double sum = fa + fb;
    double share = fa / sum; /* sum > 0: a > 0, so fa > 0 */
    double cut = share * (double)x;
    double behind = (double)x - cut;
    if (behind > b) cut = (double)x - b;
    if (cut >= TWO_POW_64) return UINT64_MAX;
    /* cut in [0, 2^64): truncation is the floor, at most 2^64 - 2048, so lots + 1 fits */
    uint64_t lots = (uint64_t)cut;
    double frac = cut - (double)lots;      /* exact: lots came from a double */
    if (frac > 0.0 && vx_prng_next(&v->queue_rng) < (uint64_t)(frac * TWO_POW_64)) lots++;
    return lots;
}

/* A LEVEL at (p->side, p->price): each of our orders there per the queue model. */
static int level_changed(vx_sim_venue *v, const vx_mbo *e, const pending_event *p) {
    uint64_t now = 0;
    (void)vx_mbo_qty(v->readers[e->instrument], p->side, p->price, &now);
    uint64_t d = p->shown > now ? p->shown - now : 0;
    int touched = 0;
    uint32_t i = v->heads[e->instrument * 2u + (uint32_t)p->side];
    for (uint32_t step = 0; i != NONE && step < v->cfg.max_orders; step++) { /* bounded */
        venue_order *r = &v->orders[i];
        i = r->next;
        if (r->price != p->price) continue;
        uint64_t before = r->ahead;
        if (v->cfg.queue_model == VX_QUEUE_FIFO) {
            r->ahead -= d < r->ahead ? d : r->ahead;
        } else {
            if (v->cfg.queue_model == VX_QUEUE_PROB) {
                uint64_t traded = r->traded;
                r->traded = 0;
                if (d > traded && r->ahead > 0) {
                    uint64_t lots = prob_advance(v, r, p->shown, d - traded);
                    r->ahead -= lots < r->ahead ? lots : r->ahead;
                }
            }
            if (r->ahead > now) r->ahead = now;
        }
        touched |= r->ahead != before;
    }
    return touched;
}

/* A TRADE print of e->qty lots at p->price on resting side p->side (L2 models). */
static int trade_printed(vx_sim_venue *v, const vx_mbo *e, const pending_event *p) {
    int touched = 0;
    uint32_t i = v->heads[e->instrument * 2u + (uint32_t)p->side];
    for (uint32_t step = 0; i != NONE && step < v->cfg.max_orders; step++) { /* bounded */
        uint32_t next = v->orders[i].next; /* fill_resting may release i */
        venue_order *r = &v->orders[i];
        if (r->price == p->price) {
            if (v->cfg.queue_model == VX_QUEUE_PROB) r->traded = sat_add(r->traded, e->qty);
            touched |= fill_resting(v, i, e->qty, e->ts);
        } else if (through(p->side, p->price, r->price)) {
            touched |= fill_resting(v, i, e->qty, e->ts);
        }
        i = next;
    }
    return touched;
}

/* after_event when before_event noted something. */
__attribute__((noinline)) static void after_event_ours(vx_sim_venue *v, const vx_mbo *e, int applied) {
    pending_event p = v->pend;
    v->pend.kind = PEND_NONE;
    uint32_t inst = e->instrument;
    int touched = 0;
    if (p.kind == PEND_CLEAR) {
        for (int s = 0; s < 2; s++) {
            /* bounded: the list holds at most max_orders slots */
            for (uint32_t i = v->heads[inst * 2u + s]; i != NONE; i = v->orders[i].next) {
                if (v->orders[i].ahead) touched = 1;
                v->orders[i].ahead = 0;
            }
        }
        if (touched) v->counters.queue_events++;
        return;
    }
    if (!applied) return; /* the book refused the event: nothing changed */
    if (p.kind == PEND_LEVEL) {
        if (level_changed(v, e, &p)) v->counters.queue_events++;
        return;
    }
    if (p.kind == PEND_TRADE) {
        if (trade_printed(v, e, &p)) v->counters.queue_events++;
        return;
    }
    uint64_t lots = 0;    /* lots the event's order lost (known) or the event's lots */
    if (p.kind == PEND_KNOWN) {
        switch (e->action) {
        case VX_MBO_CANCEL:
        case VX_MBO_EXECUTE: lots = e->qty < p.qty ? e->qty : p.qty; break;
        case VX_MBO_MODIFY:
            lots = (e->price == p.price && e->qty <= p.qty) ? p.qty - e->qty : p.qty;
            break;
        default: lots = p.qty; break; /* DELETE, REPLACE */
        }
    } else {
        lots = p.qty;
    }
    int execute = e->action == VX_MBO_EXECUTE;
    int64_t exec_price = e->price != 0 ? e->price : p.price;
    uint32_t key = inst * 2u + (uint32_t)p.side;
    uint32_t i = v->heads[key];
    for (uint32_t step = 0; i != NONE && step < v->cfg.max_orders; step++) { /* bounded */
        uint32_t next = v->orders[i].next; /* fill_resting may release i */
        venue_order *r = &v->orders[i];
        if (p.price == r->price) {
            int ahead = p.kind == PEND_KNOWN ? p.placed_ts <= r->placed_ts : 1;
            if (ahead && !(p.kind == PEND_UNKNOWN && execute)) {
                uint64_t c2 = lots < r->ahead ? lots : r->ahead;
                r->ahead -= c2;
                touched |= c2 > 0;
            } else if (execute) {
                touched |= fill_resting(v, i, lots, e->ts);
            }
        } else if (execute && through(p.side, exec_price, r->price)) {
            touched |= fill_resting(v, i, lots, e->ts);
        }
        i = next;
    }
    if (touched) v->counters.queue_events++;
}

void vx_sim_venue_after_event(vx_sim_venue *v, const vx_mbo *e, int applied) {
    if (v->pend.kind != PEND_NONE) after_event_ours(v, e, applied); /* else: the hot path */
}

vx_status vx_sim_venue_queue_ahead(const vx_sim_venue *v, uint64_t order_id, uint64_t *ahead) {
    uint32_t slot = find_slot(v, order_id);
    if (slot == NONE) return VX_EMPTY;
    *ahead = v->orders[slot].ahead;
    return VX_OK;
}

void vx_sim_venue_close(vx_sim_venue *v, uint64_t t) {
    vx_sim_venue_run_until(v, UINT64_MAX);
    if (t < v->clock) t = v->clock;
    for (uint32_t inst = 0; inst < v->cfg.instruments; inst++) { /* bounded: instruments */
        if (v->resting[inst] == 0) continue;
        for (int s = 0; s < 2; s++) {
            uint32_t key = inst * 2u + (uint32_t)s;
            for (uint32_t step = 0; v->heads[key] != NONE && step < v->cfg.max_orders; step++) {
                uint32_t slot = v->heads[key];
                venue_order *r = &v->orders[slot];
                emit(v, t, VX_EXEC_EXPIRED, r->order_id, r->instrument, r->side, 0, 0, 0, 0,
                     VX_LIQ_NONE, 0);
                release_slot(v, slot);
            }
        }
    }
    v->closed = 1;
}

void vx_sim_venue_counters_read(const vx_sim_venue *v, vx_sim_venue_counters *out) {
    *out = v->counters;
}
