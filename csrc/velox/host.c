/*
 * velox/host.c — runs one v2 strategy (host.h): the vx_api table, the working-order table,
 * risk checks, positions and P&L, report delivery, the timer, and the three logs.
 *
 * Single-threaded by contract (host.h): no atomics here. Every table is allocated at create:
 * the working-order table (open addressing by order id, linear probes bounded by its size,
 * backward-shift erase), the local REJECT queue (one callback's worth), the three logs, the
 * per-instrument figures and the copied args.
 */
#include "velox/host.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(vx_order) == 40, "host logs copy 40-B orders");
_Static_assert(sizeof(vx_exec) == 56, "host logs copy 56-B reports");
_Static_assert(VX_REJECT_MAX == 16, "refused_by_reason is indexed by vx_reject");

/* The env a callback receives is the host's own embedded record (env = the host). */
struct vx_strategy_env {
    struct vx_host *host;
};

/* One working order of the strategy (a NEW from its send until a report ends it). */
struct work {
    vx_working w;            /* what api->working shows */
    uint32_t used;           /* 1 = this slot holds an order */
    uint32_t acked;          /* 1 once an ACK arrived */
    uint64_t lots;           /* the order's lots as modified: filled + leaves at MODIFIED */
    uint64_t filled;         /* lots filled so far */
    int64_t pending_price;   /* a MODIFY on its way: its price and qty */
    uint32_t pending_qty;
    uint32_t pending_modify; /* 1 while a MODIFY is on its way */
};

/* A bounded log of fixed-size records (FIFO: the driver takes the oldest first). */
struct log {
    unsigned char *buf;
    size_t item;
    size_t cap;
    size_t head;             /* oldest record */
    size_t count;
};

/* Per instrument: what the host keeps beside positions.c for risk, marks and conservation. */
struct inst {
    int64_t fill_position;   /* signed sum of fills (conservation) */
    int64_t cash;            /* -side * price * lots over fills (conservation) */
    int64_t fees;            /* fees of applied reports (conservation) */
    int64_t last_fill_price; /* mark when the book has no two-sided market */
    int64_t working_buy;     /* leaves of working buy orders */
    int64_t working_sell;
    int64_t mark_taken;      /* the mark vx_positions_mark last took (0: none yet) */
    uint32_t mark_state;     /* enum mark_state */
};

/* Marks are taken when they are read (see "Marks" in host.h): a market call names an
 * instrument with a position MARK_DIRTY (and lists it once); a reader takes the mark of a
 * dirty instrument from its book as it stands, which is the book of that market call. */
enum mark_state {
    MARK_NONE = 0,   /* not in the dirty list */
    MARK_DIRTY = 1,  /* in the list, its mark not taken since its book moved */
    MARK_CLEAN = 2   /* in the list, its mark taken since (a reader of that one instrument) */
};

/* Where the session stands (host.h "Sending", vx_host_close, vx_host_finish). It only moves
 * forward, and only in session_advance. The kill switch is not one of these: it engages in
 * any of them (a max_loss breach while the close's reports arrive, a strategy calling
 * api->kill in its finish) and is kept in counters.killed, set only by engage_kill. */
enum session {
    SESSION_OPEN = 0,     /* orders go to the venue */
    SESSION_CLOSING = 1,  /* vx_host_close ran: sends refused (VENUE), reports delivered */
    SESSION_FINISHED = 2  /* finish has started: sends refused (VENUE), their REJECTs only
                             logged (finish is the last call) */
};

struct vx_host {
    struct vx_strategy_env env;
    vx_strategy strategy;
    vx_host_config cfg;
    const vx_mbo_set *books;
    vx_venue venue;
    vx_positions *positions;
    const vx_mbo_book **readers; /* per instrument */
    vx_host_counters counters;

    struct work *table;
    size_t table_mask;
    uint32_t working_count;

    vx_exec *rejects;        /* local REJECT queue (FIFO) */
    size_t rejects_cap;
    size_t rejects_head;
    size_t rejects_count;

    struct log orders_log, execs_log, pnl_log;
    struct inst *inst;
    uint32_t *dirty;         /* instruments whose mark_state is not MARK_NONE (each once) */
    uint32_t dirty_count;
    uint32_t positioned;     /* instruments whose fill_position is not 0 */
    int total_moved;         /* total P&L may have changed since max_loss was last checked */

    char **arg_keys;         /* copies of "key=value": key and value NUL-terminated */
    const char **arg_values;
    size_t args;

    uint64_t now;
    uint64_t timer_at;       /* 0 = disarmed */
    uint64_t next_pnl;       /* next interval point time */
    uint32_t sends_in_callback;
    int in_callback;
    enum session session;
    int init_done;

    /* conservation */
    uint64_t news_sent;      /* NEW orders that left for the venue */
    uint64_t news_ended;     /* ...that a REJECT, FILL, CANCELED or EXPIRED ended */
    uint64_t lots_mismatches;/* ended orders whose filled + leaves != lots */
    uint64_t limit_unreported; /* refusals turned into LIMIT without a report */
};

/* The one place the session moves: forward only. 1 when it moved to `to` (the caller's
 * transition runs), 0 when it was already there or past it. */
static int session_advance(vx_host *h, enum session to) {
    if (h->session >= to) return 0;
    h->session = to;
    return 1;
}

/* ---- logs ------------------------------------------------------------------------------ */

static int log_init(struct log *l, size_t item, size_t cap) {
    l->buf = calloc(cap, item);
    l->item = item;
    l->cap = cap;
    l->head = 0;
    l->count = 0;
    return l->buf != NULL;
}

static void log_push(vx_host *h, struct log *l, const void *rec) {
    if (l->count == l->cap) {
        h->counters.log_lost++;
        return;
    }
    size_t at = (l->head + l->count) % l->cap;
    memcpy(l->buf + at * l->item, rec, l->item);
    l->count++;
}

static size_t log_take(struct log *l, void *out, size_t cap) {
    size_t n = l->count < cap ? l->count : cap;
    for (size_t i = 0; i < n; i++) { /* bounded: n <= cap of the log */
        memcpy((unsigned char *)out + i * l->item, l->buf + l->head * l->item, l->item);
        l->head = (l->head + 1) % l->cap;
    }
    l->count -= n;
    return n;
}

/* ---- working-order table ---------------------------------------------------------------- */

static size_t home_of(const vx_host *h, uint64_t id) {
    /* Fibonacci hashing: ids chosen by the strategy are often 1, 2, 3, ... */
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & h->table_mask;
}

static struct work *work_find(const vx_host *h, uint64_t id) {
    size_t i = home_of(h, id);
    for (size_t probe = 0; probe <= h->table_mask; probe++) { /* bounded: table size */
        struct work *w = &h->table[i];
        if (!w->used) return NULL;
        if (w->w.order_id == id) return w;
        i = (i + 1) & h->table_mask;
    }
    return NULL;
}

/* Caller checked working_count < max_working (<= half the table): a free slot exists. */
static struct work *work_insert(vx_host *h, uint64_t id) {
    size_t i = home_of(h, id);
    for (size_t probe = 0; probe <= h->table_mask; probe++) { /* bounded: table size */
        struct work *w = &h->table[i];
        if (!w->used) {
            memset(w, 0, sizeof *w);
            w->used = 1;
            w->w.order_id = id;
            h->working_count++;
            return w;
        }
        i = (i + 1) & h->table_mask;
    }
    return NULL;
}

static void work_erase(vx_host *h, struct work *w) {
    size_t hole = (size_t)(w - h->table);
    size_t i = hole;
    h->table[hole].used = 0;
    h->working_count--;
    /* backward shift: move later entries of the run into the hole when their home allows */
    for (size_t probe = 0; probe <= h->table_mask; probe++) { /* bounded: table size */
        i = (i + 1) & h->table_mask;
        struct work *n = &h->table[i];
        if (!n->used) return;
        size_t home = home_of(h, n->w.order_id);
        /* n may move to hole when hole lies cyclically in [home, i) */
        if (((i - home) & h->table_mask) >= ((i - hole) & h->table_mask)) {
            h->table[hole] = *n;
            n->used = 0;
            hole = i;
        }
    }
}

static void working_lots_add(vx_host *h, const struct work *w, int64_t lots) {
    struct inst *in = &h->inst[w->w.instrument];
    if (w->w.side == VX_BUY)
        in->working_buy += lots;
    else
        in->working_sell += lots;
}

/* ---- marks and P&L ----------------------------------------------------------------------- */

/* The mark the book gives now: the mid when both sides exist, else the last fill price (0:
 * none yet). */
static int64_t mark_now(const vx_host *h, uint32_t instrument) {
    const vx_mbo_book *b = h->readers[instrument];
    int64_t bid, ask, mark = h->inst[instrument].last_fill_price;
    uint64_t q;
    if (b && vx_mbo_best(b, VX_BUY, &bid, &q) == VX_OK && vx_mbo_best(b, VX_SELL, &ask, &q) == VX_OK)
        mark = bid + (ask - bid) / 2;
    return mark;
}

/* Takes the instrument's mark from its book now. A mark equal to the one taken last changes
 * nothing (vx_positions_mark of the same mark succeeds and stores the same figures: every
 * update since kept them in range at that mark), so it is not given again. */
static void take_mark(vx_host *h, uint32_t instrument) {
    struct inst *in = &h->inst[instrument];
    int64_t mark = mark_now(h, instrument);
    if (mark <= 0 || mark == in->mark_taken) return;
    if (vx_positions_mark(h->positions, instrument, mark) != VX_OK) return;
    in->mark_taken = mark;
    h->total_moved = 1;
}

/* Takes the mark of one instrument when its book moved since (a reader of that instrument). */
static void settle_mark(vx_host *h, uint32_t instrument) {
    struct inst *in = &h->inst[instrument];
    if (in->mark_state != MARK_DIRTY) return;
    take_mark(h, instrument);
    in->mark_state = MARK_CLEAN;
}

/* Takes every mark that is due (a reader of the total or of a P&L point). */
static void settle_marks(vx_host *h) {
    for (uint32_t i = 0; i < h->dirty_count; i++) { /* bounded: each instrument once */
        uint32_t k = h->dirty[i];
        if (h->inst[k].mark_state == MARK_DIRTY) take_mark(h, k);
        h->inst[k].mark_state = MARK_NONE;
    }
    h->dirty_count = 0;
}

static void pnl_point(vx_host *h, uint32_t instrument, uint32_t reason) {
    settle_marks(h); /* the point's total spans every instrument */
    vx_position p;
    vx_pnl_point pt;
    memset(&pt, 0, sizeof pt);
    vx_positions_get(h->positions, instrument, &p);
    pt.ts = h->now;
    pt.instrument = instrument;
    pt.reason = reason;
    pt.position = p.position;
    pt.realized = p.realized;
    pt.unrealized = p.unrealized;
    pt.fees = p.fees;
    pt.total = vx_positions_total(h->positions);
    log_push(h, &h->pnl_log, &pt);
}

static void engage_kill(vx_host *h);

/* Total P&L moves only at a mark taken, a fill or a fee (total_moved): a check with none of
 * them since the last one would answer as that one did. */
static void check_max_loss(vx_host *h) {
    if (h->counters.killed || h->cfg.risk.max_loss <= 0) return;
    settle_marks(h);
    if (!h->total_moved) return;
    h->total_moved = 0;
    if (vx_positions_total(h->positions) <= -h->cfg.risk.max_loss) engage_kill(h);
}

/* ---- REJECTs made here ------------------------------------------------------------------ */

/* Queues (or, in finish, logs) the REJECT of a refused order; returns the reason the caller
 * sees. A LIMIT refusal past the first one of a callback, or any refusal that finds the queue
 * full, becomes LIMIT without a report (counted in refused_unreported). */
static vx_reject queue_reject(vx_host *h, const vx_order *o, vx_reject reason,
                              const struct work *w) {
    h->counters.refused++;
    if (h->session != SESSION_FINISHED &&
        ((reason == VX_REJECT_LIMIT && h->in_callback &&
          h->sends_in_callback > VX_STRATEGY_MAX_SENDS + 1) ||
         h->rejects_count == h->rejects_cap)) {
        h->counters.refused_by_reason[VX_REJECT_LIMIT]++;
        h->limit_unreported++;
        return VX_REJECT_LIMIT;
    }
    h->counters.refused_by_reason[reason]++;
    vx_exec e;
    memset(&e, 0, sizeof e);
    e.ts_exchange = 0;
    e.ts_local = h->now;
    e.order_id = o->order_id;
    e.instrument = o->instrument;
    e.kind = VX_EXEC_REJECT;
    e.reason = (uint8_t)reason;
    if (o->action == VX_ORDER_NEW) {
        e.side = (o->side == VX_BUY || o->side == VX_SELL) ? o->side : VX_SIDE_NONE;
    } else if (w) { /* a refused CANCEL / MODIFY of a working order: its side and leaves */
        e.side = w->w.side;
        e.leaves_qty = w->w.leaves_qty;
        e.instrument = w->w.instrument;
    } else {
        e.side = VX_SIDE_NONE;
    }
    if (h->session == SESSION_FINISHED) { /* finish's orders: logged, never delivered */
        log_push(h, &h->execs_log, &e);
        return reason;
    }
    h->rejects[(h->rejects_head + h->rejects_count) % h->rejects_cap] = e;
    h->rejects_count++;
    return reason;
}

/* ---- sending ---------------------------------------------------------------------------- */

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

/* max_position: |position + working lots on the side (+ lots)| for the side it moves to. */
static int position_exceeds(const vx_host *h, uint32_t instrument, int side, int64_t lots) {
    if (h->cfg.risk.max_position == 0) return 0;
    const struct inst *in = &h->inst[instrument];
    int64_t after = side == VX_BUY ? in->fill_position + in->working_buy + lots
                                   : in->fill_position - in->working_sell - lots;
    return (uint64_t)abs64(after) > h->cfg.risk.max_position;
}

static vx_reject send_checked(vx_host *h, const vx_order *order) {
    if (h->session != SESSION_OPEN) return VX_REJECT_VENUE;
    if (h->in_callback && h->sends_in_callback > VX_STRATEGY_MAX_SENDS) return VX_REJECT_LIMIT;
    vx_reject r = vx_order_validate(order);
    if (r != VX_REJECT_NONE) return r;
    if (order->instrument >= h->cfg.instruments) return VX_REJECT_UNKNOWN_INSTRUMENT;
    if (h->counters.killed) return VX_REJECT_RISK;
    struct work *w = work_find(h, order->order_id);
    if (order->action == VX_ORDER_NEW) {
        if (w) return VX_REJECT_DUPLICATE_ID;
        if (h->cfg.risk.max_order_qty && order->qty > h->cfg.risk.max_order_qty)
            return VX_REJECT_RISK;
        if (position_exceeds(h, order->instrument, order->side, order->qty)) return VX_REJECT_RISK;
        if (h->working_count >= h->cfg.risk.max_working) return VX_REJECT_LIMIT;
    } else {
        if (!w || w->w.instrument != order->instrument) return VX_REJECT_UNKNOWN_ORDER;
        if (order->action == VX_ORDER_MODIFY) {
            if (h->cfg.risk.max_order_qty && order->qty > h->cfg.risk.max_order_qty)
                return VX_REJECT_RISK;
            if (position_exceeds(h, order->instrument, w->w.side,
                                 (int64_t)order->qty - (int64_t)w->w.leaves_qty))
                return VX_REJECT_RISK;
        }
    }
    return VX_REJECT_NONE;
}

static vx_reject host_send(vx_host *h, const vx_order *order) {
    if (h->in_callback) h->sends_in_callback++;
    vx_reject r = send_checked(h, order);
    struct work *w = NULL;
    if (r == VX_REJECT_NONE) {
        vx_order o = *order;
        o.ts = h->now;
        memset(o.pad, 0, sizeof o.pad);
        if (h->venue.submit(h->venue.self, &o, h->now) != VX_OK) {
            r = VX_REJECT_LIMIT;
        } else {
            log_push(h, &h->orders_log, &o);
            h->counters.sent++;
            w = work_find(h, o.order_id);
            if (o.action == VX_ORDER_NEW) {
                w = work_insert(h, o.order_id);
                w->w.price = o.price;
                w->w.instrument = o.instrument;
                w->w.qty = o.qty;
                w->w.leaves_qty = o.qty;
                w->w.side = o.side;
                w->w.state = VX_WORKING_PENDING;
                w->lots = o.qty;
                working_lots_add(h, w, o.qty);
                h->news_sent++;
            } else if (o.action == VX_ORDER_CANCEL) {
                w->w.state = VX_WORKING_PENDING_CANCEL;
            } else {
                w->pending_modify = 1;
                w->pending_price = o.price;
                w->pending_qty = o.qty;
            }
            return VX_REJECT_NONE;
        }
    }
    if (order->action != VX_ORDER_NEW && r != VX_REJECT_UNKNOWN_ORDER)
        w = work_find(h, order->order_id);
    return queue_reject(h, order, r, w);
}

/* A CANCEL for every working order not already being canceled. Host-made cancels are logged
 * and counted in sent; a venue that refuses one leaves the order working (it expires at the
 * close). The kill switch and the orderly close (vx_host_close) share it. */
static void cancel_working(vx_host *h) {
    for (size_t i = 0; i <= h->table_mask; i++) { /* bounded: table size */
        struct work *w = &h->table[i];
        if (!w->used || w->w.state == VX_WORKING_PENDING_CANCEL) continue;
        vx_order o;
        memset(&o, 0, sizeof o);
        o.ts = h->now;
        o.order_id = w->w.order_id;
        o.instrument = w->w.instrument;
        o.side = w->w.side;
        o.action = VX_ORDER_CANCEL;
        if (h->venue.submit(h->venue.self, &o, h->now) != VX_OK) continue;
        log_push(h, &h->orders_log, &o);
        h->counters.sent++;
        w->w.state = VX_WORKING_PENDING_CANCEL;
    }
}

/* Kill switch: every working order canceled, every later order refused (RISK),
 * counters.killed (the only place that sets it). */
static void engage_kill(vx_host *h) {
    if (h->counters.killed) return;
    h->counters.killed = 1;
    cancel_working(h);
}

/* ---- the api table --------------------------------------------------------------------- */

static vx_host *host_of(const vx_strategy_env *env) { return env->host; }

static uint64_t api_now(const vx_strategy_env *env) { return host_of(env)->now; }

static uint32_t api_instruments(const vx_strategy_env *env) {
    return host_of(env)->cfg.instruments;
}

static const vx_mbo_book *book_of(const vx_host *h, uint32_t instrument, int side) {
    if (instrument >= h->cfg.instruments || (side != VX_BUY && side != VX_SELL)) return NULL;
    return h->readers[instrument];
}

static vx_status api_best(const vx_strategy_env *env, uint32_t instrument, int side,
                          int64_t *price, uint64_t *qty) {
    const vx_mbo_book *b = book_of(host_of(env), instrument, side);
    if (!b || !price || !qty) return VX_EINVAL;
    return vx_mbo_best(b, side, price, qty);
}

static size_t api_depth(const vx_strategy_env *env, uint32_t instrument, int side, size_t n,
                        int64_t *prices, uint64_t *qtys) {
    const vx_mbo_book *b = book_of(host_of(env), instrument, side);
    if (!b) return 0;
    return vx_mbo_depth(b, side, n, prices, qtys, NULL);
}

static vx_status api_qty_at(const vx_strategy_env *env, uint32_t instrument, int side,
                            int64_t price, uint64_t *qty) {
    const vx_mbo_book *b = book_of(host_of(env), instrument, side);
    if (!b || !qty) return VX_EINVAL;
    return vx_mbo_qty(b, side, price, qty);
}

static vx_status api_market_order(const vx_strategy_env *env, uint32_t instrument,
                                  uint64_t order_id, int64_t *price, uint32_t *qty, int *side) {
    const vx_mbo_book *b = book_of(host_of(env), instrument, VX_BUY);
    if (!b || !price || !qty || !side) return VX_EINVAL;
    vx_mbo_order_info info;
    if (vx_mbo_order(b, order_id, &info) != VX_OK) return VX_EMPTY;
    *price = info.price;
    *qty = info.qty;
    *side = info.side;
    return VX_OK;
}

static vx_status api_queue_ahead(const vx_strategy_env *env, uint64_t order_id,
                                 uint64_t *ahead) {
    const vx_host *h = host_of(env);
    if (!ahead) return VX_EINVAL;
    if (!h->venue.queue_ahead) return VX_ESTATE;
    if (!work_find(h, order_id)) return VX_EMPTY;
    return h->venue.queue_ahead(h->venue.self, order_id, ahead);
}

static vx_reject api_send(vx_strategy_env *env, const vx_order *order) {
    vx_host *h = host_of(env);
    if (!order) { /* a NULL order is refused like an order with a bad action */
        vx_order none;
        memset(&none, 0, sizeof none);
        if (h->in_callback) h->sends_in_callback++;
        return queue_reject(h, &none, VX_REJECT_ACTION, NULL);
    }
    return host_send(h, order);
}

static vx_status api_working(const vx_strategy_env *env, uint64_t order_id, vx_working *out) {
    const struct work *w = work_find(host_of(env), order_id);
    if (!out) return VX_EINVAL;
    if (!w) return VX_EMPTY;
    *out = w->w;
    return VX_OK;
}

static size_t api_working_list(const vx_strategy_env *env, vx_working *out, size_t n) {
    return vx_host_working(host_of(env), out, n);
}

static vx_status api_position(const vx_strategy_env *env, uint32_t instrument,
                              vx_position *out) {
    vx_host *h = host_of(env);
    if (instrument < h->cfg.instruments) settle_mark(h, instrument);
    return vx_host_position(h, instrument, out);
}

static vx_status api_set_timer(vx_strategy_env *env, uint64_t at) {
    vx_host *h = host_of(env);
    if (!h->strategy.on_timer) return VX_EINVAL;
    h->timer_at = at;
    return VX_OK;
}

static void api_kill(vx_strategy_env *env) { engage_kill(host_of(env)); }

static const char *api_arg(const vx_strategy_env *env, const char *key) {
    const vx_host *h = host_of(env);
    if (!key) return NULL;
    for (size_t i = 0; i < h->args; i++) /* bounded: the args copied at create */
        if (strcmp(h->arg_keys[i], key) == 0) return h->arg_values[i];
    return NULL;
}

static const vx_api host_api = {
    .version = VX_API_VERSION,
    .size = sizeof(vx_api),
    .now = api_now,
    .instruments = api_instruments,
    .best = api_best,
    .depth = api_depth,
    .qty_at = api_qty_at,
    .market_order = api_market_order,
    .queue_ahead = api_queue_ahead,
    .send = api_send,
    .working = api_working,
    .working_list = api_working_list,
    .position = api_position,
    .set_timer = api_set_timer,
    .kill = api_kill,
    .arg = api_arg,
};

/* ---- create / destroy ------------------------------------------------------------------ */

static const char *check_table(const vx_strategy *s) {
    if (!s) return "strategy table is NULL";
    if (s->abi_version != VX_STRATEGY_ABI_VERSION)
        return s->abi_version == 1
                   ? "strategy abi_version 1 (a v1 stage table, velox.stage.v1): backtests and "
                     "the live venue need abi_version 2 (velox.strategy.v2)"
                   : "strategy abi_version is not 2: this velox runs strategy ABI version 2 "
                     "only (abi_version must equal VX_STRATEGY_ABI_VERSION = 2)";
    if (s->struct_size < VX_STRATEGY_MIN_SIZE)
        return "strategy struct_size is below the ABI v2 table size this velox needs "
               "(VX_STRATEGY_MIN_SIZE, through finish): the table was compiled against another "
               "strategy.h";
    if (s->api_version > VX_API_VERSION)
        return "strategy api_version is newer than this velox's vx_api version "
               "(VX_API_VERSION = 1): rebuild the strategy against this velox's strategy.h";
    if (!s->on_market) return "strategy on_market is NULL (required)";
    return NULL;
}

vx_status vx_host_create(const vx_host_config *cfg, const vx_strategy *strategy,
                         const vx_mbo_set *books, vx_venue venue, vx_host **out,
                         const char **why) {
    const char *ignored;
    if (!why) why = &ignored;
    *why = NULL;
    if (!out) return VX_EINVAL;
    *out = NULL;
    const char *bad = check_table(strategy);
    if (bad) {
        *why = bad;
        return VX_EINVAL;
    }
    if (!cfg || !books) {
        *why = "host config or books is NULL";
        return VX_EINVAL;
    }
    if (cfg->instruments == 0 || cfg->instruments != vx_mbo_set_instruments(books)) {
        *why = "host instruments must be >= 1 and equal the books' instruments";
        return VX_EINVAL;
    }
    if (cfg->risk.max_working == 0 || cfg->risk.max_working > (1u << 24)) {
        *why = "risk max_working must be in [1, 2^24]";
        return VX_EINVAL;
    }
    if (cfg->risk.max_loss < 0) {
        *why = "risk max_loss must be >= 0 (0 = no limit)";
        return VX_EINVAL;
    }
    if (!venue.submit || !venue.poll || !venue.next_due) {
        *why = "venue seam: submit, poll and next_due must be set";
        return VX_EINVAL;
    }
    if (cfg->log_capacity < VX_HOST_MIN_LOG_CAPACITY ||
        (uint64_t)cfg->log_capacity <
            (uint64_t)VX_STRATEGY_MAX_SENDS + 2u + cfg->risk.max_working + cfg->instruments) {
        *why = "host log_capacity must be >= 2 * VX_STRATEGY_MAX_SENDS and >= the room one "
               "callback may need (VX_STRATEGY_MAX_SENDS + 2 + max_working + instruments)";
        return VX_EINVAL;
    }
    size_t nargs = 0;
    if (cfg->args) {
        for (; cfg->args[nargs]; nargs++) { /* bounded: the caller's NULL-terminated list */
            if (!strchr(cfg->args[nargs], '=')) {
                *why = "host args: every entry must be \"key=value\"";
                return VX_EINVAL;
            }
        }
    }
    vx_host *h = calloc(1, sizeof *h);
    if (!h) return VX_ENOMEM;
    h->env.host = h;
    memcpy(&h->strategy, strategy, sizeof h->strategy);
    h->cfg = *cfg;
    h->cfg.args = NULL;
    h->books = books;
    h->venue = venue;
    size_t table = 2;
    while (table < 2 * (size_t)cfg->risk.max_working) table *= 2; /* bounded: <= 2^25 */
    h->table = calloc(table, sizeof *h->table);
    h->table_mask = table - 1;
    h->rejects_cap = 2 * ((size_t)VX_STRATEGY_MAX_SENDS + 1);
    h->rejects = calloc(h->rejects_cap, sizeof *h->rejects);
    h->inst = calloc(cfg->instruments, sizeof *h->inst);
    h->dirty = calloc(cfg->instruments, sizeof *h->dirty);
    h->readers = calloc(cfg->instruments, sizeof *h->readers);
    h->args = nargs;
    h->arg_keys = calloc(nargs + 1, sizeof *h->arg_keys);
    h->arg_values = calloc(nargs + 1, sizeof *h->arg_values);
    int ok = h->table && h->rejects && h->inst && h->dirty && h->readers && h->arg_keys &&
             h->arg_values &&
             log_init(&h->orders_log, sizeof(vx_order), cfg->log_capacity) &&
             log_init(&h->execs_log, sizeof(vx_exec), cfg->log_capacity) &&
             log_init(&h->pnl_log, sizeof(vx_pnl_point), cfg->log_capacity) &&
             vx_positions_create(cfg->instruments, &h->positions) == VX_OK;
    for (size_t i = 0; ok && i < nargs; i++) { /* bounded: nargs */
        h->arg_keys[i] = strdup(cfg->args[i]);
        if (!h->arg_keys[i]) {
            ok = 0;
            break;
        }
        char *eq = strchr(h->arg_keys[i], '=');
        *eq = '\0';
        h->arg_values[i] = eq + 1;
    }
    if (!ok) {
        vx_host_destroy(h);
        return VX_ENOMEM;
    }
    for (uint32_t k = 0; k < cfg->instruments; k++) /* bounded: instruments */
        h->readers[k] = vx_mbo_set_reader(books, k);
    *out = h;
    return VX_OK;
}

void vx_host_destroy(vx_host *h) {
    if (!h) return;
    for (size_t i = 0; h->arg_keys && i < h->args; i++) free(h->arg_keys[i]);
    free(h->arg_keys);
    free((void *)h->arg_values);
    free(h->table);
    free(h->rejects);
    free(h->inst);
    free(h->dirty);
    free((void *)h->readers);
    free(h->orders_log.buf);
    free(h->execs_log.buf);
    free(h->pnl_log.buf);
    if (h->positions) vx_positions_destroy(h->positions);
    free(h);
}

/* ---- callbacks ------------------------------------------------------------------------- */

static void enter(vx_host *h) {
    h->in_callback = 1;
    h->sends_in_callback = 0;
}
static void leave(vx_host *h) { h->in_callback = 0; }

static int runnable(const vx_host *h) { return h->init_done && !h->counters.init_failed; }

vx_status vx_host_init(vx_host *h, uint64_t now) {
    if (h->init_done) return h->counters.init_failed ? VX_ESTATE : VX_OK;
    h->now = now;
    h->init_done = 1;
    int rc = 0;
    if (h->strategy.init) {
        enter(h);
        rc = h->strategy.init(h->strategy.state, &host_api, &h->env);
        leave(h);
    }
    if (rc != 0) {
        h->counters.init_failed = 1;
        return VX_ESTATE;
    }
    return VX_OK;
}

/* The instruments the events name that have a position: their marks are due (taken when
 * read). */
__attribute__((noinline)) static void mark_named(vx_host *h, const vx_mbo *events, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) { /* bounded: n */
        uint32_t k = events[i].instrument;
        if (k >= h->cfg.instruments) continue;
        struct inst *in = &h->inst[k];
        if (in->fill_position == 0 || in->mark_state == MARK_DIRTY) continue;
        if (in->mark_state == MARK_NONE) h->dirty[h->dirty_count++] = k;
        in->mark_state = MARK_DIRTY;
    }
}

/* One interval point per traded instrument, then the next edge. */
__attribute__((noinline)) static void interval_points(vx_host *h) {
    for (uint32_t k = 0; k < h->cfg.instruments; k++) /* bounded: instruments */
        if (vx_positions_traded(h->positions, k)) pnl_point(h, k, 2);
    h->next_pnl = (h->now / h->cfg.pnl_interval_ns + 1) * h->cfg.pnl_interval_ns;
}

void vx_host_market(vx_host *h, const vx_mbo *events, uint32_t n, uint64_t now) {
    if (now > h->now) h->now = now;
    if (!runnable(h) || n == 0) return;
    h->counters.market_calls++;
    if (h->positioned) mark_named(h, events, n);
    if (h->cfg.risk.max_loss > 0) check_max_loss(h);
    if (h->cfg.pnl_interval_ns && h->now >= h->next_pnl) interval_points(h);
    enter(h);
    h->strategy.on_market(h->strategy.state, &h->env, events, n);
    leave(h);
}

static void call_on_exec(vx_host *h, const vx_exec *e) {
    vx_exec copy = *e;
    copy.ts_local = h->now; /* when it reached the strategy: the log says the same */
    log_push(h, &h->execs_log, &copy);
    if (!h->strategy.on_exec) return;
    h->counters.exec_calls++;
    enter(h);
    h->strategy.on_exec(h->strategy.state, &h->env, &copy);
    leave(h);
}

/* A report that ends the order: conservation bookkeeping and erase. */
static void end_order(vx_host *h, struct work *w, uint64_t end_leaves) {
    if (w->filled + end_leaves != w->lots) h->lots_mismatches++;
    working_lots_add(h, w, -(int64_t)w->w.leaves_qty);
    h->news_ended++;
    work_erase(h, w);
}

/* Validates and applies one venue report; 0 when it is bad (counted and logged, not applied). */
static int apply_report(vx_host *h, const vx_exec *e) {
    if (vx_exec_validate(e) != VX_EXEC_FIELD_NONE) return 0;
    struct work *w = work_find(h, e->order_id);
    if (!w && e->kind == VX_EXEC_REJECT && e->reason == VX_REJECT_UNKNOWN_ORDER &&
        e->leaves_qty == 0 && e->fee == 0 && e->order_id != 0 &&
        e->instrument < h->cfg.instruments) {
        /* a CANCEL / MODIFY that crossed its order's end (a fill, an expiry): changes nothing */
        h->counters.reports++;
        return 1;
    }
    if (!w || w->w.instrument != e->instrument || w->w.side != e->side) return 0;
    int fill = e->kind == VX_EXEC_FILL || e->kind == VX_EXEC_PARTIAL_FILL;
    if (fill && (e->fill_qty > w->w.leaves_qty || e->leaves_qty != w->w.leaves_qty - e->fill_qty))
        return 0;
    if (fill || e->fee != 0) /* the account's figures as of the marks before this report */
        settle_mark(h, e->instrument);
    if (fill) {
        int64_t sign = e->side == VX_BUY ? 1 : -1;
        if (vx_positions_fill(h->positions, e->instrument, e->side, e->fill_price, e->fill_qty,
                              e->fee) != VX_OK)
            return 0;
        struct inst *in = &h->inst[e->instrument];
        int was_flat = in->fill_position == 0;
        in->fill_position += sign * (int64_t)e->fill_qty;
        if (was_flat != (in->fill_position == 0)) {
            if (was_flat) h->positioned++;
            else h->positioned--;
        }
        in->cash -= sign * e->fill_price * (int64_t)e->fill_qty;
        in->fees += e->fee;
        in->last_fill_price = e->fill_price;
        h->total_moved = 1;
    } else if (e->fee != 0) {
        if (vx_positions_fee(h->positions, e->instrument, e->fee) != VX_OK) return 0;
        h->inst[e->instrument].fees += e->fee;
        h->total_moved = 1;
    }
    switch (e->kind) {
    case VX_EXEC_ACK:
        w->acked = 1;
        working_lots_add(h, w, (int64_t)e->leaves_qty - (int64_t)w->w.leaves_qty);
        w->w.leaves_qty = e->leaves_qty;
        if (w->w.state == VX_WORKING_PENDING) w->w.state = VX_WORKING_LIVE;
        break;
    case VX_EXEC_PARTIAL_FILL:
        w->filled += e->fill_qty;
        working_lots_add(h, w, -(int64_t)e->fill_qty);
        w->w.leaves_qty = e->leaves_qty;
        break;
    case VX_EXEC_FILL:
        w->filled += e->fill_qty;
        working_lots_add(h, w, -(int64_t)e->fill_qty);
        w->w.leaves_qty = 0;
        end_order(h, w, 0);
        break;
    case VX_EXEC_MODIFIED:
        if (w->pending_modify) {
            w->w.price = w->pending_price;
            w->w.qty = w->pending_qty;
            w->pending_modify = 0;
        }
        working_lots_add(h, w, (int64_t)e->leaves_qty - (int64_t)w->w.leaves_qty);
        w->w.leaves_qty = e->leaves_qty;
        w->lots = w->filled + e->leaves_qty;
        break;
    case VX_EXEC_CANCELED:
    case VX_EXEC_EXPIRED:
        end_order(h, w, w->w.leaves_qty);
        break;
    case VX_EXEC_REJECT:
        if (!w->acked) { /* the NEW itself was refused */
            end_order(h, w, w->lots - w->filled);
        } else {         /* a CANCEL or MODIFY was refused: the order works on */
            w->pending_modify = 0;
            w->w.state = VX_WORKING_LIVE;
        }
        break;
    default:
        return 0;
    }
    h->counters.reports++;
    if (fill) {
        take_mark(h, e->instrument); /* after settle_mark above: its book has not moved */
        pnl_point(h, e->instrument, 1);
        check_max_loss(h);
    }
    return 1;
}

/* Delivers the local REJECTs queued so far (not those their on_exec calls add). */
static void deliver_rejects(vx_host *h) {
    size_t n = h->rejects_count;
    for (size_t i = 0; i < n; i++) { /* bounded: the queue's count at entry */
        vx_exec e = h->rejects[h->rejects_head];
        h->rejects_head = (h->rejects_head + 1) % h->rejects_cap;
        h->rejects_count--;
        call_on_exec(h, &e);
    }
}

static int room_ok(const vx_host *h) { return vx_host_log_room(h) >= vx_host_callback_room(h); }

uint64_t vx_host_deliver(vx_host *h, uint64_t now) {
    if (now > h->now) h->now = now;
    if (!runnable(h)) {
        h->rejects_count = 0;
        return UINT64_MAX;
    }
    /* Each pass delivers at most one callback's worth, then rechecks the log room; every
     * callback here logs at least one record (the report) except the timer's, which fires once
     * per arming: bounded by the log capacity. */
    for (;;) {
        if (!room_ok(h)) return h->now; /* more is due: the driver drains and calls again */
        if (h->rejects_count) {
            deliver_rejects(h);
            continue;
        }
        vx_exec e;
        if (h->venue.poll(h->venue.self, &e, 1, now) == 1) { /* due by `now`, not later */
            if (apply_report(h, &e)) {
                call_on_exec(h, &e);
            } else {
                h->counters.bad_reports++;
                log_push(h, &h->execs_log, &e);
            }
            continue;
        }
        if (h->timer_at && h->timer_at <= now && h->strategy.on_timer) {
            h->timer_at = 0;
            h->counters.timer_calls++;
            enter(h);
            h->strategy.on_timer(h->strategy.state, &h->env, h->now);
            leave(h);
            continue;
        }
        break;
    }
    return vx_host_next_due(h);
}

void vx_host_deliver_local(vx_host *h) {
    if (!runnable(h)) {
        h->rejects_count = 0;
        return;
    }
    /* bounded: each pass empties the queue as it stood, the strategy's on_exec may refill it
     * only up to rejects_cap; the log room check stops a flood that keeps refilling it */
    while (h->rejects_count && room_ok(h)) deliver_rejects(h);
}

size_t vx_host_local_pending(const vx_host *h) { return h->rejects_count; }

uint64_t vx_host_next_due(const vx_host *h) {
    if (h->rejects_count) return h->now;
    return h->timer_at ? h->timer_at : UINT64_MAX;
}

void vx_host_finish(vx_host *h, uint64_t now) {
    if (now > h->now) h->now = now;
    settle_marks(h); /* the positions read after the run hold the marks taken */
    if (!session_advance(h, SESSION_FINISHED)) return;
    if (!runnable(h) || !h->strategy.finish) return;
    enter(h);
    h->strategy.finish(h->strategy.state, &h->env);
    leave(h);
}

void vx_host_kill(vx_host *h, uint64_t now) {
    if (now > h->now) h->now = now;
    engage_kill(h);
}

void vx_host_close(vx_host *h, uint64_t now) {
    if (now > h->now) h->now = now;
    if (!session_advance(h, SESSION_CLOSING)) return;
    cancel_working(h);
}

size_t vx_host_callback_room(const vx_host *h) {
    return (size_t)VX_STRATEGY_MAX_SENDS + 2u + h->cfg.risk.max_working + h->cfg.instruments;
}

size_t vx_host_log_room(const vx_host *h) {
    size_t a = h->orders_log.cap - h->orders_log.count;
    size_t b = h->execs_log.cap - h->execs_log.count;
    size_t c = h->pnl_log.cap - h->pnl_log.count;
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t vx_host_take_orders(vx_host *h, vx_order *out, size_t cap) {
    return log_take(&h->orders_log, out, cap);
}
size_t vx_host_take_execs(vx_host *h, vx_exec *out, size_t cap) {
    return log_take(&h->execs_log, out, cap);
}
size_t vx_host_take_pnl(vx_host *h, vx_pnl_point *out, size_t cap) {
    return log_take(&h->pnl_log, out, cap);
}

void vx_host_counters_read(const vx_host *h, vx_host_counters *out) {
    *out = h->counters;
    out->refused_unreported = h->limit_unreported;
}

vx_status vx_host_position(const vx_host *h, uint32_t instrument, vx_position *out) {
    if (!out || instrument >= h->cfg.instruments) return VX_EINVAL;
    int64_t mark = h->inst[instrument].mark_state == MARK_DIRTY ? mark_now(h, instrument) : 0;
    /* a mark due but not taken yet: the answer as if taken (nothing changes here) */
    vx_status s = mark > 0 ? vx_positions_get_marked(h->positions, instrument, mark, out)
                           : vx_positions_get(h->positions, instrument, out);
    if (s != VX_OK) return s;
    out->working_buy = h->inst[instrument].working_buy;
    out->working_sell = h->inst[instrument].working_sell;
    return VX_OK;
}

size_t vx_host_working(const vx_host *h, vx_working *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i <= h->table_mask && n < cap; i++) /* bounded: table size */
        if (h->table[i].used) out[n++] = h->table[i].w;
    return n;
}

vx_status vx_host_check(const vx_host *h, const char **why) {
    const char *ignored;
    if (!why) why = &ignored;
    *why = NULL;
    if (h->news_sent != h->news_ended + h->working_count) {
        *why = "conservation: NEW orders sent != orders ended (REJECT, FILL, CANCELED, "
               "EXPIRED) + orders working";
        return VX_ESTATE;
    }
    if (h->lots_mismatches) {
        *why = "conservation: an order's filled lots + canceled/expired leaves != its lots";
        return VX_ESTATE;
    }
    uint64_t by_reason = 0;
    for (int r = 0; r <= VX_REJECT_MAX; r++) by_reason += h->counters.refused_by_reason[r];
    if (by_reason != h->counters.refused) {
        *why = "conservation: refused != the sum of refused_by_reason";
        return VX_ESTATE;
    }
    __int128 total = 0;
    for (uint32_t k = 0; k < h->cfg.instruments; k++) { /* bounded: instruments */
        vx_position p;
        vx_positions_get(h->positions, k, &p);
        const struct inst *in = &h->inst[k];
        if (p.position != in->fill_position) {
            *why = "conservation: a position != the signed sum of its fills";
            return VX_ESTATE;
        }
        if (p.fees != in->fees) {
            *why = "conservation: an instrument's fees != the sum of its reports' fees";
            return VX_ESTATE;
        }
        total += (__int128)in->cash + (__int128)p.position * p.mark - in->fees;
        if ((__int128)p.realized + p.unrealized - p.fees !=
            (__int128)in->cash + (__int128)p.position * p.mark - in->fees) {
            *why = "conservation: realized + unrealized - fees != cash + position * mark - fees";
            return VX_ESTATE;
        }
    }
    if (total != (__int128)vx_positions_total(h->positions)) {
        *why = "conservation: total P&L != the sum over instruments of cash + position * mark "
               "- fees";
        return VX_ESTATE;
    }
    return VX_OK;
}
