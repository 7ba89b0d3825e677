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

    vx_txn_field vx_txn_validate(const vx_txn *txn)
    vx_txn_field vx_bundle_validate(const vx_bundle *bundle, int *bad_index)
    const char *vx_status_name(vx_status status)
