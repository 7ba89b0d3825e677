/*
 * velox/positions.h — a strategy's positions and P&L per instrument, kept from the execution
 * reports it receives (native, on the strategy's thread; single-threaded, no atomics).
 *
 * Accounting (all fixed point, VX_PRICE_SCALE; money = price * lots):
 *   cash      -= side * price * lots for every fill (BUY +1, SELL -1), fees kept apart;
 *   open_cost  the signed cost of the open lots, average-cost method: a fill that grows the
 *              position adds price * lots; one that reduces it removes open_cost * lots / |pos|
 *              (truncated toward zero; at flat open_cost is exactly 0); a fill that flips the
 *              side closes the old position, then opens the rest at the fill price;
 *   realized   = cash + open_cost (what closed lots made, before fees);
 *   unrealized = position * mark - open_cost;
 *   total      = realized + unrealized - fees = cash + position * mark - fees, exactly (the
 *              identity the conservation check uses).
 *   mark: the mid of the instrument's best bid and ask when both exist, else its last fill
 *   price (0 before any): the caller passes the mid to vx_positions_mark, or 0 when there is
 *   none (then, and before any vx_positions_mark, the last fill price is the mark).
 *   avg_price (vx_position) = open_cost / position, truncated (0 when flat).
 *
 * Risk limits (vx_risk_limits, 0 = no limit) are checked by the host (host.h) before an order
 * leaves, using vx_positions_get and its working-order view:
 *   max_order_qty  a NEW or MODIFY for more lots;
 *   max_position   |position + working lots on the order's side (+ this order's lots)| for
 *                  the side the order would move it to;
 *   max_loss       when total P&L (all instruments, after fees) <= -max_loss, the kill switch
 *                  engages: every working order is canceled and every new one refused.
 *
 * P&L series (vx_pnl_point): one point per fill report (the instrument's figures after it) and,
 * every `interval` ns of event time, one point per instrument that has traded.
 */
#ifndef VELOX_POSITIONS_H
#define VELOX_POSITIONS_H

#include <stddef.h>
#include <stdint.h>

#include "velox/strategy.h"
#include "velox/types.h"

typedef struct vx_risk_limits {
    int64_t max_loss;         /* fixed point currency (> 0), 0 = none */
    uint64_t max_position;    /* lots, 0 = none */
    uint32_t max_order_qty;   /* lots, 0 = none */
    uint32_t max_working;     /* working orders at once (the host's table size, >= 1) */
} vx_risk_limits;

/* One point of the P&L series. velox.PNL_DTYPE mirrors it. 56 bytes. */
typedef struct vx_pnl_point {
    uint64_t ts;            /* event time, ns                                      offset  0 */
    uint32_t instrument;    /*                                                     offset  8 */
    uint32_t reason;        /* 1 = a fill, 2 = the interval                        offset 12 */
    int64_t position;       /* the instrument's signed lots                        offset 16 */
    int64_t realized;       /* the instrument's realized P&L                       offset 24 */
    int64_t unrealized;     /* the instrument's unrealized P&L at the mark         offset 32 */
    int64_t fees;           /* the instrument's fees                               offset 40 */
    int64_t total;          /* all instruments: realized + unrealized - fees       offset 48 */
} vx_pnl_point;
_Static_assert(sizeof(vx_pnl_point) == 56, "vx_pnl_point must be 56 bytes");
_Static_assert(offsetof(vx_pnl_point, total) == 48, "pnl total offset");

typedef struct vx_positions vx_positions;

/* instruments >= 1. VX_EINVAL / VX_ENOMEM. */
vx_status vx_positions_create(uint32_t instruments, vx_positions **out);
void vx_positions_destroy(vx_positions *p);

/* A fill of `lots` at `price` on `side` (VX_BUY / VX_SELL) with its fee. VX_EINVAL for a bad
 * instrument or side, price <= 0 or lots 0; VX_ERANGE when a money figure of the instrument
 * (cash, open_cost, fees, realized, position * mark, unrealized, its total) would overflow
 * int64 (nothing changes). The same check guards vx_positions_fee and vx_positions_mark. */
vx_status vx_positions_fill(vx_positions *p, uint32_t instrument, int side, int64_t price,
                            uint32_t lots, int64_t fee);
/* A fee on a report that is not a fill (a venue's cancel fee, ...). */
vx_status vx_positions_fee(vx_positions *p, uint32_t instrument, int64_t fee);
/* Set the mark price of an instrument (> 0; 0 = no mid: the last fill price). VX_EINVAL for a
 * bad instrument or mark < 0, VX_ERANGE as above. */
vx_status vx_positions_mark(vx_positions *p, uint32_t instrument, int64_t mark);

/* The instrument's position (working_buy / working_sell left 0: the host fills them). */
vx_status vx_positions_get(const vx_positions *p, uint32_t instrument, vx_position *out);
/* What vx_positions_get would answer after vx_positions_mark(p, instrument, mark) (the
 * account as it is when that would refuse the mark), changing nothing: a mark computed when
 * it is read (host.c). VX_EINVAL for a bad instrument or mark < 0. */
vx_status vx_positions_get_marked(const vx_positions *p, uint32_t instrument, int64_t mark,
                                  vx_position *out);
/* Whole-strategy total P&L after fees (sum over instruments, in 128 bits; saturates at
 * INT64_MIN / INT64_MAX). */
int64_t vx_positions_total(const vx_positions *p);
/* Whether the instrument ever traded. */
int vx_positions_traded(const vx_positions *p, uint32_t instrument);

#endif /* VELOX_POSITIONS_H */
