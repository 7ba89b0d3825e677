# C declarations of csrc/velox/orders.h (order and execution-report records).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "velox/orders.h" nogil:
    enum:
        VX_ORDER_LIMIT
        VX_ORDER_MARKET
        VX_ORDER_TYPE_MAX
        VX_TIF_GTC
        VX_TIF_IOC
        VX_TIF_POST_ONLY
        VX_TIF_MAX
        VX_ORDER_NEW
        VX_ORDER_CANCEL
        VX_ORDER_MODIFY
        VX_ORDER_ACTION_MAX
        VX_EXEC_ACK
        VX_EXEC_REJECT
        VX_EXEC_FILL
        VX_EXEC_PARTIAL_FILL
        VX_EXEC_CANCELED
        VX_EXEC_MODIFIED
        VX_EXEC_EXPIRED
        VX_EXEC_KIND_MAX
        VX_LIQ_NONE
        VX_LIQ_MAKER
        VX_LIQ_TAKER

    ctypedef enum vx_reject:
        VX_REJECT_NONE
        VX_REJECT_ORDER_ID
        VX_REJECT_SIDE
        VX_REJECT_TYPE
        VX_REJECT_TIF
        VX_REJECT_ACTION
        VX_REJECT_PRICE
        VX_REJECT_QTY
        VX_REJECT_UNKNOWN_INSTRUMENT
        VX_REJECT_UNKNOWN_ORDER
        VX_REJECT_DUPLICATE_ID
        VX_REJECT_WOULD_CROSS
        VX_REJECT_RISK
        VX_REJECT_VENUE
        VX_REJECT_LIMIT
        VX_REJECT_MAX

    ctypedef enum vx_exec_field:
        VX_EXEC_FIELD_NONE
        VX_EXEC_FIELD_KIND
        VX_EXEC_FIELD_SIDE
        VX_EXEC_FIELD_ORDER_ID
        VX_EXEC_FIELD_REASON
        VX_EXEC_FIELD_FILL_QTY
        VX_EXEC_FIELD_FILL_PRICE
        VX_EXEC_FIELD_LEAVES_QTY
        VX_EXEC_FIELD_LIQUIDITY

    ctypedef struct vx_order:
        uint64_t ts
        uint64_t order_id
        int64_t price
        uint32_t qty
        uint32_t instrument
        uint8_t side
        uint8_t type
        uint8_t tif
        uint8_t action
        uint8_t pad[4]

    ctypedef struct vx_exec:
        uint64_t ts_exchange
        uint64_t ts_local
        uint64_t order_id
        int64_t fill_price
        int64_t fee
        uint32_t fill_qty
        uint32_t leaves_qty
        uint32_t instrument
        uint8_t kind
        uint8_t side
        uint8_t liquidity
        uint8_t reason

    size_t VX_ORDER_OFFSET_TS
    size_t VX_ORDER_OFFSET_ORDER_ID
    size_t VX_ORDER_OFFSET_PRICE
    size_t VX_ORDER_OFFSET_QTY
    size_t VX_ORDER_OFFSET_INSTRUMENT
    size_t VX_ORDER_OFFSET_SIDE
    size_t VX_ORDER_OFFSET_TYPE
    size_t VX_ORDER_OFFSET_TIF
    size_t VX_ORDER_OFFSET_ACTION
    size_t VX_EXEC_OFFSET_TS_EXCHANGE
    size_t VX_EXEC_OFFSET_TS_LOCAL
    size_t VX_EXEC_OFFSET_ORDER_ID
    size_t VX_EXEC_OFFSET_FILL_PRICE
    size_t VX_EXEC_OFFSET_FEE
    size_t VX_EXEC_OFFSET_FILL_QTY
    size_t VX_EXEC_OFFSET_LEAVES_QTY
    size_t VX_EXEC_OFFSET_INSTRUMENT
    size_t VX_EXEC_OFFSET_KIND
    size_t VX_EXEC_OFFSET_SIDE
    size_t VX_EXEC_OFFSET_LIQUIDITY
    size_t VX_EXEC_OFFSET_REASON

    vx_reject vx_order_validate(const vx_order *order)
    vx_exec_field vx_exec_validate(const vx_exec *exec)
