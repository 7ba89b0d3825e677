# C declarations of csrc/velox/types.h (records and status codes).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "velox/types.h" nogil:
    long long VX_PRICE_SCALE
    enum:
        VX_BUY
        VX_SELL
        VX_NEW
        VX_CANCEL
        VX_BUNDLE_CAPACITY

    ctypedef enum vx_status:
        VX_OK
        VX_FULL
        VX_EMPTY
        VX_EINVAL
        VX_ENOMEM
        VX_TIMEOUT
        VX_ERANGE
        VX_ESTATE
        VX_EMISUSE
        VX_ESYS
        VX_ECORRUPT

    ctypedef struct vx_txn:
        uint64_t tsc
        uint64_t seq
        int64_t price
        uint32_t qty
        uint8_t side
        uint8_t kind
        uint8_t pad[2]

    ctypedef struct vx_bundle_header:
        uint64_t bundle_id
        uint32_t count
        uint32_t pad

    ctypedef struct vx_bundle:
        vx_bundle_header header
        vx_txn txns[16]

    size_t VX_TXN_OFFSET_TSC
    size_t VX_TXN_OFFSET_SEQ
    size_t VX_TXN_OFFSET_PRICE
    size_t VX_TXN_OFFSET_QTY
    size_t VX_TXN_OFFSET_SIDE
    size_t VX_TXN_OFFSET_KIND
    size_t VX_BUNDLE_OFFSET_ID
    size_t VX_BUNDLE_OFFSET_COUNT
    size_t VX_BUNDLE_OFFSET_TXNS

    ctypedef enum vx_txn_field:
        VX_FIELD_NONE
        VX_FIELD_SIDE
        VX_FIELD_KIND
        VX_FIELD_COUNT
        VX_FIELD_TXNS
        VX_FIELD_ACTION

    # Market-by-order events (vx_mbo, 48 bytes)
    enum:
        VX_MBO_ADD
        VX_MBO_CANCEL
        VX_MBO_DELETE
        VX_MBO_EXECUTE
        VX_MBO_REPLACE
        VX_MBO_TRADE
        VX_MBO_CROSS
        VX_MBO_BROKEN
        VX_MBO_CLEAR
        VX_MBO_STATUS
        VX_MBO_MODIFY
        VX_MBO_LEVEL
        VX_MBO_ACTION_MAX
        VX_SIDE_NONE
        VX_MBO_F_SYSTEM
        VX_MBO_F_PRINTABLE
        VX_MBO_F_LAST

    ctypedef struct vx_mbo:
        uint64_t ts
        uint64_t order_id
        int64_t price
        uint64_t ref
        uint32_t qty
        uint32_t instrument
        uint8_t side
        uint8_t action
        uint8_t flags
        uint8_t status
        uint8_t pad[4]

    size_t VX_MBO_OFFSET_TS
    size_t VX_MBO_OFFSET_ORDER_ID
    size_t VX_MBO_OFFSET_PRICE
    size_t VX_MBO_OFFSET_REF
    size_t VX_MBO_OFFSET_QTY
    size_t VX_MBO_OFFSET_INSTRUMENT
    size_t VX_MBO_OFFSET_SIDE
    size_t VX_MBO_OFFSET_ACTION
    size_t VX_MBO_OFFSET_FLAGS
    size_t VX_MBO_OFFSET_STATUS

    vx_txn_field vx_mbo_validate(const vx_mbo *event)

    vx_txn_field vx_txn_validate(const vx_txn *txn)
    vx_txn_field vx_bundle_validate(const vx_bundle *bundle, int *bad_index)
    const char *vx_status_name(vx_status status)
