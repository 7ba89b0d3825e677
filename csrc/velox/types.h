/*
 * velox/types.h — the records velox moves, and the status codes every C call returns.
 *
 * Contract:
 *   - vx_txn is exactly 32 bytes, vx_bundle exactly 528 bytes (16-byte header + 16 txns),
 *     both 8-byte aligned, little-endian host layout. velox.TXN_DTYPE / BUNDLE_DTYPE mirror
 *     them field for field; the VX_*_OFFSET_* macros below are what the Python side builds
 *     the dtypes from, and the _Static_asserts pin every one of them.
 *   - Prices are fixed point: price_fixed = round(price * VX_PRICE_SCALE).
 *   - Padding bytes (and a bundle's unused slots) are written as zero by velox and ignored on
 *     input, so records velox makes compare bytewise.
 *   - No mutable globals anywhere in csrc/: every module's state lives in objects the caller
 *     owns (so several Python extension modules can link the same sources safely).
 */
#ifndef VELOX_TYPES_H
#define VELOX_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdalign.h>

#define VX_PRICE_SCALE 100000000LL /* 1e8: eight decimal places */

enum vx_side { VX_BUY = 0, VX_SELL = 1 };
enum vx_kind { VX_NEW = 0, VX_CANCEL = 1 };

enum { VX_BUNDLE_CAPACITY = 16 };

/* Status codes returned by every fallible velox C function. 0 is success; "full" and "empty"
 * are normal results (backpressure), not failures. */
typedef enum vx_status {
    VX_OK = 0,
    VX_FULL = 1,         /* ring: no free slot (backpressure) */
    VX_EMPTY = 2,        /* ring: nothing to pop */
    VX_EINVAL = 3,       /* an argument is out of its documented range */
    VX_ENOMEM = 4,       /* construction could not allocate */
    VX_TIMEOUT = 5,      /* a bounded wait or CAS loop gave up */
    VX_ERANGE = 6,       /* a price outside the book's window, or an underflow */
    VX_ESTATE = 7,       /* the call is not valid in the object's current state */
    VX_EMISUSE = 8,      /* a contract was broken (e.g. two concurrent producers on an SPSC ring) */
    VX_ESYS = 9          /* an OS call failed; errno says why */
} vx_status;

/* One order-flow event. 32 bytes, fields in descending size so no implicit padding. */
typedef struct vx_txn {
    uint64_t tsc;     /* TSC ticks at creation (velox.tsc.read())           offset  0 */
    uint64_t seq;     /* sequence id, unique per producer                    offset  8 */
    int64_t price;    /* fixed point, VX_PRICE_SCALE units                   offset 16 */
    uint32_t qty;     /* quantity in lots                                    offset 24 */
    uint8_t side;     /* enum vx_side                                        offset 28 */
    uint8_t kind;     /* enum vx_kind                                        offset 29 */
    uint8_t pad[2];   /* explicit padding, always zero                       offset 30 */
} vx_txn;

/* The 16-byte bundle header. */
typedef struct vx_bundle_header {
    uint64_t bundle_id; /* offset 0 */
    uint32_t count;     /* valid transactions in txns[0..count), <= 16      offset 8 */
    uint32_t pad;       /* explicit padding, always zero                   offset 12 */
} vx_bundle_header;

/* Up to 16 transactions travelling together. 528 bytes. Slots at and after count are zero. */
typedef struct vx_bundle {
    vx_bundle_header header;              /* offset  0 */
    vx_txn txns[VX_BUNDLE_CAPACITY];      /* offset 16 */
} vx_bundle;

#define VX_TXN_OFFSET_TSC offsetof(vx_txn, tsc)
#define VX_TXN_OFFSET_SEQ offsetof(vx_txn, seq)
#define VX_TXN_OFFSET_PRICE offsetof(vx_txn, price)
#define VX_TXN_OFFSET_QTY offsetof(vx_txn, qty)
#define VX_TXN_OFFSET_SIDE offsetof(vx_txn, side)
#define VX_TXN_OFFSET_KIND offsetof(vx_txn, kind)
#define VX_BUNDLE_OFFSET_ID offsetof(vx_bundle, header.bundle_id)
#define VX_BUNDLE_OFFSET_COUNT offsetof(vx_bundle, header.count)
#define VX_BUNDLE_OFFSET_TXNS offsetof(vx_bundle, txns)

_Static_assert(sizeof(vx_txn) == 32, "vx_txn must be 32 bytes");
_Static_assert(alignof(vx_txn) == 8, "vx_txn must be 8-byte aligned");
_Static_assert(VX_TXN_OFFSET_TSC == 0, "tsc offset");
_Static_assert(VX_TXN_OFFSET_SEQ == 8, "seq offset");
_Static_assert(VX_TXN_OFFSET_PRICE == 16, "price offset");
_Static_assert(VX_TXN_OFFSET_QTY == 24, "qty offset");
_Static_assert(VX_TXN_OFFSET_SIDE == 28, "side offset");
_Static_assert(VX_TXN_OFFSET_KIND == 29, "kind offset");
_Static_assert(offsetof(vx_txn, pad) == 30, "pad offset");
_Static_assert(sizeof(vx_bundle_header) == 16, "bundle header must be 16 bytes");
_Static_assert(sizeof(vx_bundle) == 528, "vx_bundle must be 528 bytes");
_Static_assert(alignof(vx_bundle) == 8, "vx_bundle must be 8-byte aligned");
_Static_assert(VX_BUNDLE_OFFSET_ID == 0, "bundle_id offset");
_Static_assert(VX_BUNDLE_OFFSET_COUNT == 8, "count offset");
_Static_assert(VX_BUNDLE_OFFSET_TXNS == 16, "txns offset");
_Static_assert(sizeof(int64_t) == 8 && sizeof(uint32_t) == 4, "fixed-width integers");

/* Which field of a record failed validation. */
typedef enum vx_txn_field {
    VX_FIELD_NONE = 0,
    VX_FIELD_SIDE = 1,
    VX_FIELD_KIND = 2,
    VX_FIELD_COUNT = 3,   /* bundle header count > 16 */
    VX_FIELD_TXNS = 4     /* a bundle's transaction (see *bad_index) */
} vx_txn_field;

/* Checks a transaction's enumerated fields (side, kind). Padding is not checked: NumPy may
 * leave gaps in structured arrays uninitialised, so velox ignores padding on input and writes
 * it as zero on output. Returns VX_FIELD_NONE when valid. */
vx_txn_field vx_txn_validate(const vx_txn *txn);

/* Checks a bundle: count <= 16 and every counted transaction valid (slots past count and
 * padding are ignored, as for transactions).
 * On failure *bad_index (if not NULL) is the offending transaction's index, or -1. */
vx_txn_field vx_bundle_validate(const vx_bundle *bundle, int *bad_index);

/* Human-readable name of a status code (static string, never NULL). */
const char *vx_status_name(vx_status status);

#endif /* VELOX_TYPES_H */
