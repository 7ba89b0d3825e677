/*
 * velox/strategy_builtin.c — the quote and script strategies (strategy_builtin.h).
 */
#include "velox/strategy_builtin.h"

#include <stdlib.h>
#include <string.h>

/* ---- quote ----------------------------------------------------------------------------- */

struct quote_side {
    uint64_t current;        /* its quote on this side (0: none) */
    int64_t current_price;
    uint64_t canceling;      /* its last canceled quote (0: none) */
};

struct quote_inst {
    struct quote_side side[2];  /* [VX_BUY], [VX_SELL] */
    uint64_t stamp;             /* on_market call that last visited it */
};

struct quote {
    vx_strategy table;
    const vx_api *api;
    uint32_t instruments;
    uint32_t size;
    uint64_t max_position;
    uint64_t next_id;
    uint64_t calls;
    struct quote_inst inst[];
};

_Static_assert(VX_BUY == 0 && VX_SELL == 1, "quote_inst.side is indexed by side");

/* Decimal digits only, value in [1, max]; 0 on success. */
static int parse_lots(const char *text, uint64_t max, uint64_t *out) {
    if (!text || !*text) return -1;
    uint64_t v = 0;
    for (size_t i = 0; text[i]; i++) { /* bounded: stops past 19 digits */
        if (text[i] < '0' || text[i] > '9' || i >= 19) return -1;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (v < 1 || v > max) return -1;
    *out = v;
    return 0;
}

static int quote_init(void *state, const vx_api *api, vx_strategy_env *env) {
    struct quote *q = state;
    q->api = api;
    uint64_t size = 1, max_position = 10;
    const char *s = api->arg(env, "size");
    if (s && parse_lots(s, UINT32_MAX, &size) != 0) return 1;
    s = api->arg(env, "max_position");
    if (s && parse_lots(s, (uint64_t)1 << 62, &max_position) != 0) return 1;
    q->size = (uint32_t)size;
    q->max_position = max_position;
    if (api->instruments(env) < q->instruments) q->instruments = api->instruments(env);
    return 0;
}

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

static void quote_side(struct quote *q, vx_strategy_env *env, uint32_t k, int side) {
    const vx_api *api = q->api;
    struct quote_side *qs = &q->inst[k].side[side];
    vx_working w;
    if (qs->canceling && api->working(env, qs->canceling, &w) != VX_OK) qs->canceling = 0;
    if (qs->current && api->working(env, qs->current, &w) != VX_OK) qs->current = 0;
    if (qs->current && w.state == VX_WORKING_PENDING_CANCEL) { /* canceled by the kill switch */
        if (qs->canceling) return; /* one canceling order tracked per side */
        qs->canceling = qs->current;
        qs->current = 0;
    }
    int64_t target = 0;
    uint64_t lots;
    int has_target = api->best(env, k, side, &target, &lots) == VX_OK;
    if (qs->current && (!has_target || qs->current_price != target)) {
        if (qs->canceling) return; /* one cancel on its way per side */
        vx_order c;
        memset(&c, 0, sizeof c);
        c.ts = api->now(env);
        c.order_id = qs->current;
        c.instrument = k;
        c.side = (uint8_t)side;
        c.action = VX_ORDER_CANCEL;
        if (api->send(env, &c) == VX_REJECT_NONE) qs->canceling = qs->current;
        qs->current = 0;
    }
    if (qs->current || !has_target) return;
    vx_position p;
    if (api->position(env, k, &p) != VX_OK) return;
    int64_t after = side == VX_BUY ? p.position + p.working_buy + (int64_t)q->size
                                   : p.position - p.working_sell - (int64_t)q->size;
    if ((uint64_t)abs64(after) > q->max_position) return;
    vx_order o;
    memset(&o, 0, sizeof o);
    o.ts = api->now(env);
    o.order_id = ++q->next_id;
    o.price = target;
    o.qty = q->size;
    o.instrument = k;
    o.side = (uint8_t)side;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_GTC;
    o.action = VX_ORDER_NEW;
    if (api->send(env, &o) == VX_REJECT_NONE) {
        qs->current = o.order_id;
        qs->current_price = target;
    }
}

static void quote_on_market(void *state, vx_strategy_env *env, const vx_mbo *events,
                            uint32_t n) {
    struct quote *q = state;
    q->calls++;
    for (uint32_t i = 0; i < n; i++) { /* bounded: n */
        uint32_t k = events[i].instrument;
        if (k >= q->instruments || q->inst[k].stamp == q->calls) continue;
        q->inst[k].stamp = q->calls;
        quote_side(q, env, k, VX_BUY);
        quote_side(q, env, k, VX_SELL);
    }
}

vx_status vx_quote_create(uint32_t instruments, vx_strategy **out) {
    if (!out || instruments == 0 || instruments > (1u << 16)) return VX_EINVAL;
    struct quote *q = calloc(1, sizeof *q + (size_t)instruments * sizeof(struct quote_inst));
    if (!q) return VX_ENOMEM;
    q->instruments = instruments;
    q->table.abi_version = VX_STRATEGY_ABI_VERSION;
    q->table.struct_size = sizeof(vx_strategy);
    q->table.api_version = VX_API_VERSION;
    q->table.name = "quote";
    q->table.state = q;
    q->table.init = quote_init;
    q->table.on_market = quote_on_market;
    *out = &q->table;
    return VX_OK;
}

/* ---- script ---------------------------------------------------------------------------- */

struct script {
    vx_strategy table;
    const vx_api *api;
    size_t n;
    size_t next;
    vx_order orders[];
};

static int script_init(void *state, const vx_api *api, vx_strategy_env *env) {
    (void)env;
    ((struct script *)state)->api = api;
    return 0;
}

/* Sends the orders due by now (out of line: a spent script's on_market stays a test). */
__attribute__((noinline)) static void script_send_due(struct script *s, vx_strategy_env *env) {
    uint64_t now = s->api->now(env);
    size_t left = s->n - s->next;
    for (size_t i = 0; i < left && s->orders[s->next].ts <= now; i++) { /* bounded: n */
        vx_order o = s->orders[s->next++];
        o.ts = now;
        s->api->send(env, &o);
    }
}

static void script_on_market(void *state, vx_strategy_env *env, const vx_mbo *events,
                             uint32_t n) {
    (void)events;
    (void)n;
    struct script *s = state;
    if (s->next < s->n) script_send_due(s, env); /* else spent (or empty: a replay) */
}

vx_status vx_script_create(const vx_order *orders, size_t n, vx_strategy **out) {
    if (!out || (n > 0 && !orders) || n > UINT32_MAX) return VX_EINVAL;
    struct script *s = calloc(1, sizeof *s + n * sizeof(vx_order));
    if (!s) return VX_ENOMEM;
    if (n) memcpy(s->orders, orders, n * sizeof(vx_order));
    s->n = n;
    s->table.abi_version = VX_STRATEGY_ABI_VERSION;
    s->table.struct_size = sizeof(vx_strategy);
    s->table.api_version = VX_API_VERSION;
    s->table.name = "script";
    s->table.state = s;
    s->table.init = script_init;
    s->table.on_market = script_on_market;
    *out = &s->table;
    return VX_OK;
}

/* ---- both ------------------------------------------------------------------------------ */

_Static_assert(offsetof(struct quote, table) == 0, "the table is the allocation's start");
_Static_assert(offsetof(struct script, table) == 0, "the table is the allocation's start");

void vx_builtin_destroy(vx_strategy *s) { free(s); }
