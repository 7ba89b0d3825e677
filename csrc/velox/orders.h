/*
 * velox/orders.h — the trading loop's records: an order a strategy sends (vx_order, 40 bytes)
 * and an execution report a venue sends back (vx_exec, 56 bytes), with their validation.
 *
 * Contract:
 *   - Both records are 8-byte aligned, host byte order, fields in descending size with
 *     explicit zero padding; velox.ORDER_DTYPE / EXEC_DTYPE mirror them byte for byte (built
 *     from the VX_ORDER_OFFSET_* / VX_EXEC_OFFSET_* macros; every one is _Static_asserted).
 *   - Prices and fees are fixed point (VX_PRICE_SCALE, types.h); quantities are lots.
 *   - Every enumeration starts at 1 where 0 would be meaningless, so an all-zero record is
 *     invalid (a slot nobody wrote is refused, never traded).
 *   - Records are foreign bytes (a strategy, a gateway process): a consumer calls
 *     vx_order_validate / vx_exec_validate before acting on one. Padding is ignored on input
 *     and written as zero by velox.
 *
 * Orders (vx_order), per action:
 *   NEW      order_id (> 0, chosen by the strategy, unique among its orders) for instrument,
 *            side, type, tif, price, qty (> 0). LIMIT: price > 0, tif GTC, IOC or POST_ONLY.
 *            MARKET: price 0, tif IOC (a market order never rests).
 *   CANCEL   cancel the working order order_id of instrument; side, type, tif, price and qty
 *            are not used (any value).
 *   MODIFY   give the working LIMIT order order_id of instrument a new price (> 0) and qty
 *            (> 0, the new total size); side, type and tif are not used.
 *   ts: nanoseconds, when the strategy made the order (event time in a replay).
 *
 * Execution reports (vx_exec), per kind (the order's order_id, instrument and side):
 *   ACK           the venue took the order (NEW): it is working, leaves_qty (> 0) lots.
 *   REJECT        the venue refused an order, a cancel or a modify: reason says why (> 0);
 *                 leaves_qty: lots of order_id still working (0 when a NEW was refused);
 *                 order_id may be 0 and side VX_SIDE_NONE when the refused message did not
 *                 carry a valid one (an order with a bad side, a cancel of an unknown id).
 *   FILL          the last fill_qty lots traded at fill_price: leaves_qty 0, the order is done.
 *   PARTIAL_FILL  fill_qty lots traded at fill_price, leaves_qty (> 0) still working.
 *   CANCELED      the order left the book by a cancel (or an IOC's unfilled rest): leaves 0.
 *   MODIFIED      a MODIFY took effect: leaves_qty (> 0) is the new working size.
 *   EXPIRED       the order's time in force ended it (the venue's session end): leaves 0.
 *   fill_price, fill_qty and liquidity (MAKER: it rested, TAKER: it took) are set for FILL and
 *   PARTIAL_FILL only, 0 / NONE otherwise. fee: fixed-point currency charged for this report
 *   (negative: a rebate), any kind. ts_exchange: when the venue acted (its clock, ns);
 *   ts_local: when the report reached the strategy (ns, the strategy's clock).
 */
#ifndef VELOX_ORDERS_H
#define VELOX_ORDERS_H

#include "velox/types.h"

enum vx_order_type { VX_ORDER_LIMIT = 1, VX_ORDER_MARKET = 2, VX_ORDER_TYPE_MAX = 2 };
enum vx_tif { VX_TIF_GTC = 1, VX_TIF_IOC = 2, VX_TIF_POST_ONLY = 3, VX_TIF_MAX = 3 };
enum vx_order_action {
    VX_ORDER_NEW = 1,
    VX_ORDER_CANCEL = 2,
    VX_ORDER_MODIFY = 3,
    VX_ORDER_ACTION_MAX = 3
};

/* Why an order (or a cancel / modify) is refused: vx_order_validate's result and a REJECT
 * report's reason. 1..9 are the record's own fields (vx_order_validate); 10.. are what only a
 * venue can know. */
typedef enum vx_reject {
    VX_REJECT_NONE = 0,
    VX_REJECT_ORDER_ID = 1,    /* order_id 0 */
    VX_REJECT_SIDE = 2,        /* side not VX_BUY / VX_SELL (NEW) */
    VX_REJECT_TYPE = 3,        /* type not LIMIT / MARKET (NEW) */
    VX_REJECT_TIF = 4,         /* tif unknown, or not IOC for a MARKET order (NEW) */
    VX_REJECT_ACTION = 5,      /* action not NEW / CANCEL / MODIFY */
    VX_REJECT_PRICE = 6,       /* LIMIT or MODIFY price <= 0, or a MARKET price not 0 */
    VX_REJECT_QTY = 7,         /* qty 0 (NEW, MODIFY) */
    VX_REJECT_UNKNOWN_INSTRUMENT = 10, /* the venue has no such instrument */
    VX_REJECT_UNKNOWN_ORDER = 11,      /* CANCEL / MODIFY of an order that is not working */
    VX_REJECT_DUPLICATE_ID = 12,       /* NEW with the order_id of a working order */
    VX_REJECT_WOULD_CROSS = 13,        /* POST_ONLY order that would take liquidity */
    VX_REJECT_RISK = 14,               /* a risk limit or the kill switch refused it */
    VX_REJECT_VENUE = 15,              /* any other venue reason (the session is over, ...) */
    VX_REJECT_LIMIT = 16,              /* too many orders in flight, working, or sent in one
                                          callback (strategy.h's limits) */
    VX_REJECT_MAX = 16
} vx_reject;

enum vx_exec_kind {
    VX_EXEC_ACK = 1,
    VX_EXEC_REJECT = 2,
    VX_EXEC_FILL = 3,
    VX_EXEC_PARTIAL_FILL = 4,
    VX_EXEC_CANCELED = 5,
    VX_EXEC_MODIFIED = 6,
    VX_EXEC_EXPIRED = 7,
    VX_EXEC_KIND_MAX = 7
};
enum vx_liquidity { VX_LIQ_NONE = 0, VX_LIQ_MAKER = 1, VX_LIQ_TAKER = 2 };

/* One order-entry message from a strategy. 40 bytes. */
typedef struct vx_order {
    uint64_t ts;          /* ns: when the strategy made it                        offset  0 */
    uint64_t order_id;    /* client order id (> 0)                                offset  8 */
    int64_t price;        /* fixed point, VX_PRICE_SCALE units (MARKET: 0)        offset 16 */
    uint32_t qty;         /* lots (NEW: size; MODIFY: new size; CANCEL: unused)   offset 24 */
    uint32_t instrument;  /* instrument id (the book's, e.g. vx_mbo.instrument)   offset 28 */
    uint8_t side;         /* enum vx_side                                         offset 32 */
    uint8_t type;         /* enum vx_order_type                                   offset 33 */
    uint8_t tif;          /* enum vx_tif                                          offset 34 */
    uint8_t action;       /* enum vx_order_action                                 offset 35 */
    uint8_t pad[4];       /* explicit padding, always zero                        offset 36 */
} vx_order;

/* One execution report from a venue. 56 bytes. */
typedef struct vx_exec {
    uint64_t ts_exchange; /* ns: when the venue acted (venue clock)               offset  0 */
    uint64_t ts_local;    /* ns: when the report reached the strategy             offset  8 */
    uint64_t order_id;    /* the client order id it is about                      offset 16 */
    int64_t fill_price;   /* fixed point (FILL, PARTIAL_FILL; else 0)             offset 24 */
    int64_t fee;          /* fixed point currency for this report (< 0: rebate)   offset 32 */
    uint32_t fill_qty;    /* lots traded by this report (FILL, PARTIAL_FILL)      offset 40 */
    uint32_t leaves_qty;  /* lots still working after it                          offset 44 */
    uint32_t instrument;  /* the order's instrument                               offset 48 */
    uint8_t kind;         /* enum vx_exec_kind                                    offset 52 */
    uint8_t side;         /* the order's side (REJECT: or VX_SIDE_NONE)           offset 53 */
    uint8_t liquidity;    /* enum vx_liquidity (FILL, PARTIAL_FILL; else NONE)    offset 54 */
    uint8_t reason;       /* REJECT: enum vx_reject (> 0); else 0                 offset 55 */
} vx_exec;

#define VX_ORDER_OFFSET_TS offsetof(vx_order, ts)
#define VX_ORDER_OFFSET_ORDER_ID offsetof(vx_order, order_id)
#define VX_ORDER_OFFSET_PRICE offsetof(vx_order, price)
#define VX_ORDER_OFFSET_QTY offsetof(vx_order, qty)
#define VX_ORDER_OFFSET_INSTRUMENT offsetof(vx_order, instrument)
#define VX_ORDER_OFFSET_SIDE offsetof(vx_order, side)
#define VX_ORDER_OFFSET_TYPE offsetof(vx_order, type)
#define VX_ORDER_OFFSET_TIF offsetof(vx_order, tif)
#define VX_ORDER_OFFSET_ACTION offsetof(vx_order, action)

#define VX_EXEC_OFFSET_TS_EXCHANGE offsetof(vx_exec, ts_exchange)
#define VX_EXEC_OFFSET_TS_LOCAL offsetof(vx_exec, ts_local)
#define VX_EXEC_OFFSET_ORDER_ID offsetof(vx_exec, order_id)
#define VX_EXEC_OFFSET_FILL_PRICE offsetof(vx_exec, fill_price)
#define VX_EXEC_OFFSET_FEE offsetof(vx_exec, fee)
#define VX_EXEC_OFFSET_FILL_QTY offsetof(vx_exec, fill_qty)
#define VX_EXEC_OFFSET_LEAVES_QTY offsetof(vx_exec, leaves_qty)
#define VX_EXEC_OFFSET_INSTRUMENT offsetof(vx_exec, instrument)
#define VX_EXEC_OFFSET_KIND offsetof(vx_exec, kind)
#define VX_EXEC_OFFSET_SIDE offsetof(vx_exec, side)
#define VX_EXEC_OFFSET_LIQUIDITY offsetof(vx_exec, liquidity)
#define VX_EXEC_OFFSET_REASON offsetof(vx_exec, reason)

_Static_assert(sizeof(vx_order) == 40, "vx_order must be 40 bytes");
_Static_assert(alignof(vx_order) == 8, "vx_order must be 8-byte aligned");
_Static_assert(VX_ORDER_OFFSET_TS == 0, "order ts offset");
_Static_assert(VX_ORDER_OFFSET_ORDER_ID == 8, "order order_id offset");
_Static_assert(VX_ORDER_OFFSET_PRICE == 16, "order price offset");
_Static_assert(VX_ORDER_OFFSET_QTY == 24, "order qty offset");
_Static_assert(VX_ORDER_OFFSET_INSTRUMENT == 28, "order instrument offset");
_Static_assert(VX_ORDER_OFFSET_SIDE == 32, "order side offset");
_Static_assert(VX_ORDER_OFFSET_TYPE == 33, "order type offset");
_Static_assert(VX_ORDER_OFFSET_TIF == 34, "order tif offset");
_Static_assert(VX_ORDER_OFFSET_ACTION == 35, "order action offset");
_Static_assert(offsetof(vx_order, pad) == 36, "order pad offset");

_Static_assert(sizeof(vx_exec) == 56, "vx_exec must be 56 bytes");
_Static_assert(alignof(vx_exec) == 8, "vx_exec must be 8-byte aligned");
_Static_assert(VX_EXEC_OFFSET_TS_EXCHANGE == 0, "exec ts_exchange offset");
_Static_assert(VX_EXEC_OFFSET_TS_LOCAL == 8, "exec ts_local offset");
_Static_assert(VX_EXEC_OFFSET_ORDER_ID == 16, "exec order_id offset");
_Static_assert(VX_EXEC_OFFSET_FILL_PRICE == 24, "exec fill_price offset");
_Static_assert(VX_EXEC_OFFSET_FEE == 32, "exec fee offset");
_Static_assert(VX_EXEC_OFFSET_FILL_QTY == 40, "exec fill_qty offset");
_Static_assert(VX_EXEC_OFFSET_LEAVES_QTY == 44, "exec leaves_qty offset");
_Static_assert(VX_EXEC_OFFSET_INSTRUMENT == 48, "exec instrument offset");
_Static_assert(VX_EXEC_OFFSET_KIND == 52, "exec kind offset");
_Static_assert(VX_EXEC_OFFSET_SIDE == 53, "exec side offset");
_Static_assert(VX_EXEC_OFFSET_LIQUIDITY == 54, "exec liquidity offset");
_Static_assert(VX_EXEC_OFFSET_REASON == 55, "exec reason offset");

/* Which field of an execution report failed validation. */
typedef enum vx_exec_field {
    VX_EXEC_FIELD_NONE = 0,
    VX_EXEC_FIELD_KIND = 1,        /* kind not in [ACK, EXPIRED] */
    VX_EXEC_FIELD_SIDE = 2,        /* side not VX_BUY / VX_SELL (REJECT: or VX_SIDE_NONE) */
    VX_EXEC_FIELD_ORDER_ID = 3,    /* order_id 0 outside a REJECT */
    VX_EXEC_FIELD_REASON = 4,      /* REJECT without a known reason, or a reason elsewhere */
    VX_EXEC_FIELD_FILL_QTY = 5,    /* a fill of 0 lots, or lots outside a fill */
    VX_EXEC_FIELD_FILL_PRICE = 6,  /* a fill price <= 0, or a price outside a fill */
    VX_EXEC_FIELD_LEAVES_QTY = 7,  /* FILL, CANCELED, EXPIRED with lots left; ACK,
                                      PARTIAL_FILL, MODIFIED with none */
    VX_EXEC_FIELD_LIQUIDITY = 8    /* a fill neither MAKER nor TAKER, or liquidity elsewhere */
} vx_exec_field;

/* Checks an order's fields as the contract above says: the action first, then order_id,
 * then (NEW) side, type, tif, price, qty or (MODIFY) price, qty; the first failure is
 * returned. Returns VX_REJECT_NONE when valid. */
vx_reject vx_order_validate(const vx_order *order);

/* Checks an execution report's fields as the contract above says (the first failure, in the
 * order of enum vx_exec_field). Returns VX_EXEC_FIELD_NONE when valid. */
vx_exec_field vx_exec_validate(const vx_exec *exec);

#endif /* VELOX_ORDERS_H */
