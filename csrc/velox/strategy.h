/*
 * velox/strategy.h — the strategy ABI, version 2: what a compiled strategy sees of velox and
 * what velox calls in it. A strategy compiles this header (and types.h, orders.h, which it
 * includes) and none of velox's C sources: every velox function it uses comes from the table
 * velox hands it at init (vx_api), as numpy.random's bit_generator capsule does.
 *
 * Loading. A downstream extension fills a vx_strategy and hands its address to Python as a
 * PyCapsule named VX_STRATEGY_CAPSULE_NAME ("velox.strategy.v2"), from a `__velox_stage__()`
 * method or as the capsule itself. velox refuses the table at load (ValueError naming both
 * versions) unless
 *     abi_version == VX_STRATEGY_ABI_VERSION and struct_size >= VX_STRATEGY_MIN_SIZE and
 *     api_version <= the vx_api version this velox provides (VX_API_VERSION),
 * and on_market is set. Tables and the api only ever grow by appending: a strategy compiled
 * against an older api runs on a newer velox; one compiled against a newer api is refused by
 * an older velox with a message naming both versions. A v1 table ("velox.stage.v1",
 * stage.h) still runs in pipelines as before; backtests and the live venue need v2 and
 * refuse a v1 table with a message saying so.
 *
 * Threading. Every call below runs on one thread (the backtest's, or the pipeline's book
 * thread, pinned when the pipeline is), never two at once. The api functions may be called
 * only from inside a callback, with the env pointer that callback received.
 *
 * Time. All times are nanoseconds of event time: in a backtest the data's own timestamps
 * (made non-decreasing: a timestamp below the previous one counts as the previous), live the
 * venue's clock as the source reports it. Nothing a strategy sees depends on wall-clock or
 * thread timing in a backtest.
 *
 * Calls (the stage is foreign code: everything it returns or sends is validated):
 *   init(state, api, env)     once, before the first event. Non-zero: the strategy refuses to
 *                             run; the run reports it and the strategy is never called again.
 *   on_market(state, env, events, n)
 *                             after the books applied n >= 1 events that end at a data edge:
 *                             an event with VX_MBO_F_LAST, or VX_STRATEGY_MAX_GROUP events
 *                             without one, or the end of the input. `events` are those n
 *                             events in order (read-only, valid until return); the books are
 *                             in the state after them. env's now = the last event's ts.
 *   on_exec(state, env, exec) one execution report for one of the strategy's orders, when it
 *                             reaches the strategy (exec->ts_local = now). Positions and the
 *                             working-order view already include it. May be NULL.
 *   on_timer(state, env, now) the timer set with api->set_timer is due (now = its time).
 *                             May be NULL (set_timer then returns VX_EINVAL).
 *   finish(state, env)        once, at the end of the run (after the last report). May be
 *                             NULL. api calls are allowed; orders sent here are refused
 *                             (REJECT, reason VX_REJECT_VENUE: the session is over).
 *
 * Order of deliveries in event time: everything scheduled at time t (an order reaching the
 * venue, a report reaching the strategy, the timer) happens after every market event with
 * ts <= t and before any with ts > t; among things due at the same t: venue arrivals, then
 * reports, then the timer. At the end of the input everything still scheduled is delivered
 * in time order, then working orders expire (EXPIRED reports), then finish.
 */
#ifndef VELOX_STRATEGY_H
#define VELOX_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

#include "velox/orders.h"
#include "velox/types.h"

#define VX_STRATEGY_ABI_VERSION 2u
#define VX_STRATEGY_CAPSULE_NAME "velox.strategy.v2"
#define VX_API_VERSION 1u              /* the vx_api table below; grows by appending */
#define VX_STRATEGY_MAX_GROUP 256u     /* events per on_market call without an F_LAST edge */
#define VX_STRATEGY_MAX_SENDS 4096u    /* orders a strategy may send per callback (then
                                          REJECT, reason VX_REJECT_LIMIT) */

typedef struct vx_strategy_env vx_strategy_env; /* opaque: velox's side of one strategy */

/* A position of the strategy in one instrument, as the execution reports it received say.
 * Money is fixed point (VX_PRICE_SCALE). */
typedef struct vx_position {
    int64_t position;       /* signed lots: buys - sells                        offset  0 */
    int64_t avg_price;      /* average open price of the position (0 if flat)   offset  8 */
    int64_t realized;       /* realized P&L, before fees                        offset 16 */
    int64_t unrealized;     /* position * mark - open cost (positions.h)        offset 24 */
    int64_t fees;           /* fees paid (< 0: rebates received)                offset 32 */
    int64_t mark;           /* the mark price: mid of the book, else last fill  offset 40 */
    uint64_t volume;        /* lots traded                                      offset 48 */
    uint64_t fills;         /* FILL and PARTIAL_FILL reports                    offset 56 */
    int64_t working_buy;    /* lots of working (sent, not done) buy orders      offset 64 */
    int64_t working_sell;   /* lots of working sell orders                      offset 72 */
} vx_position;
_Static_assert(sizeof(vx_position) == 80, "vx_position: 10 words, appended only");

/* One of the strategy's own orders, as the strategy's side knows it. */
enum vx_working_state {
    VX_WORKING_PENDING = 1,  /* sent, no report yet */
    VX_WORKING_LIVE = 2,     /* acknowledged, leaves_qty > 0 */
    VX_WORKING_PENDING_CANCEL = 3 /* a cancel is on its way */
};
typedef struct vx_working {
    uint64_t order_id;       /*                                                  offset  0 */
    int64_t price;           /* current limit price (after MODIFIED)             offset  8 */
    uint32_t instrument;     /*                                                  offset 16 */
    uint32_t qty;            /* size as sent (or as last modified)               offset 20 */
    uint32_t leaves_qty;     /* lots still working per the last report           offset 24 */
    uint8_t side;            /* VX_BUY / VX_SELL                                 offset 28 */
    uint8_t state;           /* enum vx_working_state                            offset 29 */
    uint8_t pad[2];
} vx_working;
_Static_assert(sizeof(vx_working) == 32, "vx_working: appended only");

/* velox's functions, handed to init. Each takes the env its callback received. Statuses are
 * vx_status values (types.h). */
typedef struct vx_api {
    uint32_t version;    /* VX_API_VERSION of the velox that made it */
    uint32_t size;       /* sizeof(vx_api) of that velox */
    /* Event time now (ns). */
    uint64_t (*now)(const vx_strategy_env *env);
    /* Number of instruments (ids 0 .. n-1). */
    uint32_t (*instruments)(const vx_strategy_env *env);
    /* Best level of a side (VX_BUY / VX_SELL): VX_OK, VX_EMPTY (side empty), VX_EINVAL. */
    vx_status (*best)(const vx_strategy_env *env, uint32_t instrument, int side,
                      int64_t *price, uint64_t *qty);
    /* Up to n best levels of a side, best first; returns how many were written. */
    size_t (*depth)(const vx_strategy_env *env, uint32_t instrument, int side, size_t n,
                    int64_t *prices, uint64_t *qtys);
    /* Displayed lots at (side, price): VX_OK (0 lots included), VX_EINVAL, VX_ERANGE. */
    vx_status (*qty_at)(const vx_strategy_env *env, uint32_t instrument, int side,
                        int64_t price, uint64_t *qty);
    /* A market order of the replayed feed by id (market-by-order books): VX_OK, VX_EMPTY. */
    vx_status (*market_order)(const vx_strategy_env *env, uint32_t instrument,
                              uint64_t order_id, int64_t *price, uint32_t *qty, int *side);
    /* Lots displayed ahead of the strategy's own working order `order_id` in its queue, as
     * the simulated venue tracks it (backtest); VX_EMPTY when the order is not resting;
     * VX_ESTATE in a live run (the venue does not say). */
    vx_status (*queue_ahead)(const vx_strategy_env *env, uint64_t order_id, uint64_t *ahead);
    /* Send an order (NEW, CANCEL, MODIFY). Returns VX_REJECT_NONE when it was sent; else it
     * was refused before leaving (validation, risk, limits): the reason is returned AND a
     * REJECT report with that reason reaches on_exec (ts_exchange 0) before the next event. */
    vx_reject (*send)(vx_strategy_env *env, const vx_order *order);
    /* The strategy's own order by id: VX_OK, VX_EMPTY (not working). */
    vx_status (*working)(const vx_strategy_env *env, uint64_t order_id, vx_working *out);
    /* Up to n working orders (any order); returns how many were written. */
    size_t (*working_list)(const vx_strategy_env *env, vx_working *out, size_t n);
    /* Position in one instrument (all zero before any fill): VX_OK, VX_EINVAL. */
    vx_status (*position)(const vx_strategy_env *env, uint32_t instrument, vx_position *out);
    /* Arm the one timer at `at` ns (replaces an earlier one; 0 disarms). VX_EINVAL when the
     * strategy has no on_timer. A time <= now fires at the next delivery point. */
    vx_status (*set_timer)(vx_strategy_env *env, uint64_t at);
    /* The kill switch: cancel every working order and refuse every new one (REJECT, reason
     * VX_REJECT_RISK) until the end of the run. Also engaged by the max-loss limit. */
    void (*kill)(vx_strategy_env *env);
    /* A strategy-supplied parameter by key ("size"), as given by stage_args / --stage-arg:
     * the value's text, NUL-terminated, or NULL when absent. Valid until the run ends. */
    const char *(*arg)(const vx_strategy_env *env, const char *key);
} vx_api;
_Static_assert(offsetof(vx_api, now) == 8, "vx_api: appended only");

typedef struct vx_strategy {
    uint32_t abi_version;   /* VX_STRATEGY_ABI_VERSION */
    uint32_t struct_size;   /* sizeof(vx_strategy) as the strategy was compiled */
    uint32_t api_version;   /* VX_API_VERSION the strategy was compiled against */
    uint32_t reserved;      /* 0 */
    const char *name;       /* for reports; may be NULL */
    void *state;            /* the strategy's own state, passed to every call */
    int (*init)(void *state, const vx_api *api, vx_strategy_env *env);      /* may be NULL */
    void (*on_market)(void *state, vx_strategy_env *env, const vx_mbo *events, uint32_t n);
    void (*on_exec)(void *state, vx_strategy_env *env, const vx_exec *exec);  /* may be NULL */
    void (*on_timer)(void *state, vx_strategy_env *env, uint64_t now);        /* may be NULL */
    void (*finish)(void *state, vx_strategy_env *env);                        /* may be NULL */
} vx_strategy;

#define VX_STRATEGY_MIN_SIZE (offsetof(vx_strategy, finish) + sizeof(void (*)(void)))
_Static_assert(offsetof(vx_strategy, name) == 16, "vx_strategy: appended only");

#endif /* VELOX_STRATEGY_H */
