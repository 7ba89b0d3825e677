/* velox/types.c — record validation and status names. See types.h for the contract. */
#include "velox/types.h"

vx_txn_field vx_txn_validate(const vx_txn *txn) {
    if (txn->side != VX_BUY && txn->side != VX_SELL) return VX_FIELD_SIDE;
    if (txn->kind != VX_NEW && txn->kind != VX_CANCEL) return VX_FIELD_KIND;
    return VX_FIELD_NONE;
}

vx_txn_field vx_bundle_validate(const vx_bundle *bundle, int *bad_index) {
    if (bad_index) *bad_index = -1;
    if (bundle->header.count > VX_BUNDLE_CAPACITY) return VX_FIELD_COUNT;
    for (uint32_t i = 0; i < bundle->header.count; i++) { /* bounded: count <= 16 */
        if (vx_txn_validate(&bundle->txns[i]) != VX_FIELD_NONE) {
            if (bad_index) *bad_index = (int)i;
            return VX_FIELD_TXNS;
        }
    }
    return VX_FIELD_NONE;
}

vx_txn_field vx_mbo_validate(const vx_mbo *event) {
    uint8_t a = event->action;
    if (a < VX_MBO_ADD || a > VX_MBO_ACTION_MAX) return VX_FIELD_ACTION;
    if (a == VX_MBO_ADD || a == VX_MBO_LEVEL) {
        if (event->side != VX_BUY && event->side != VX_SELL) return VX_FIELD_SIDE;
    } else if (event->side > VX_SIDE_NONE) {
        return VX_FIELD_SIDE;
    }
    return VX_FIELD_NONE;
}

const char *vx_status_name(vx_status status) {
    switch (status) {
    case VX_OK: return "ok";
    case VX_FULL: return "full";
    case VX_EMPTY: return "empty";
    case VX_EINVAL: return "invalid argument";
    case VX_ENOMEM: return "out of memory";
    case VX_TIMEOUT: return "timeout";
    case VX_ERANGE: return "out of range";
    case VX_ESTATE: return "invalid state";
    case VX_EMISUSE: return "contract misuse";
    case VX_ESYS: return "system error";
    case VX_ECORRUPT: return "corrupt shared data";
    }
    return "unknown status";
}
