/* velox/orders.c — order and execution-report validation. See orders.h for the contract. */
#include "velox/orders.h"

vx_reject vx_order_validate(const vx_order *order) {
    uint8_t action = order->action;
    if (action < VX_ORDER_NEW || action > VX_ORDER_ACTION_MAX) return VX_REJECT_ACTION;
    if (order->order_id == 0) return VX_REJECT_ORDER_ID;
    if (action == VX_ORDER_CANCEL) return VX_REJECT_NONE; /* the rest is not used */
    if (action == VX_ORDER_MODIFY) {
        if (order->price <= 0) return VX_REJECT_PRICE;
        if (order->qty == 0) return VX_REJECT_QTY;
        return VX_REJECT_NONE;
    }
    if (order->side != VX_BUY && order->side != VX_SELL) return VX_REJECT_SIDE;
    if (order->type < VX_ORDER_LIMIT || order->type > VX_ORDER_TYPE_MAX) return VX_REJECT_TYPE;
    if (order->tif < VX_TIF_GTC || order->tif > VX_TIF_MAX) return VX_REJECT_TIF;
    if (order->type == VX_ORDER_MARKET) {
        if (order->tif != VX_TIF_IOC) return VX_REJECT_TIF; /* a market order never rests */
        if (order->price != 0) return VX_REJECT_PRICE;
    } else if (order->price <= 0) {
        return VX_REJECT_PRICE;
    }
    if (order->qty == 0) return VX_REJECT_QTY;
    return VX_REJECT_NONE;
}

vx_exec_field vx_exec_validate(const vx_exec *exec) {
    uint8_t kind = exec->kind;
    if (kind < VX_EXEC_ACK || kind > VX_EXEC_KIND_MAX) return VX_EXEC_FIELD_KIND;
    int reject = kind == VX_EXEC_REJECT;
    if (reject ? exec->side > VX_SIDE_NONE : exec->side != VX_BUY && exec->side != VX_SELL)
        return VX_EXEC_FIELD_SIDE;
    int fill = kind == VX_EXEC_FILL || kind == VX_EXEC_PARTIAL_FILL;
    if (exec->order_id == 0 && !reject) return VX_EXEC_FIELD_ORDER_ID;
    if (reject ? exec->reason == VX_REJECT_NONE || exec->reason > VX_REJECT_MAX
               : exec->reason != VX_REJECT_NONE)
        return VX_EXEC_FIELD_REASON;
    if (fill ? exec->fill_qty == 0 : exec->fill_qty != 0) return VX_EXEC_FIELD_FILL_QTY;
    if (fill ? exec->fill_price <= 0 : exec->fill_price != 0) return VX_EXEC_FIELD_FILL_PRICE;
    switch (kind) {
    case VX_EXEC_FILL:
    case VX_EXEC_CANCELED:
    case VX_EXEC_EXPIRED:
        if (exec->leaves_qty != 0) return VX_EXEC_FIELD_LEAVES_QTY;
        break;
    case VX_EXEC_ACK:
    case VX_EXEC_PARTIAL_FILL:
    case VX_EXEC_MODIFIED:
        if (exec->leaves_qty == 0) return VX_EXEC_FIELD_LEAVES_QTY;
        break;
    default: /* REJECT: the lots still working, any */
        break;
    }
    if (fill ? exec->liquidity != VX_LIQ_MAKER && exec->liquidity != VX_LIQ_TAKER
             : exec->liquidity != VX_LIQ_NONE)
        return VX_EXEC_FIELD_LIQUIDITY;
    return VX_EXEC_FIELD_NONE;
}
