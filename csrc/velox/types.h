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
    VX_ESYS = 9,         /* an OS call failed; errno says why */
    VX_ECORRUPT = 10     /* shared data broke its invariant (another process wrote it); sticky */
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

/* ---- Market-by-order (L3) events: vx_mbo, 48 bytes ----------------------------------------
 * One exchange message about one order (or one instrument-wide event). velox.MBO_DTYPE mirrors
 * it field for field. Readers (velox.feeds) produce these; MboBook and the pipeline consume them.
 *
 * Semantics per action (what each field means; fields not listed are written as 0):
 *   ADD      order_id rests on side at price with qty.
 *   CANCEL   partial cancel: qty lots leave order_id (the rest keeps its queue place).
 *   DELETE   order_id leaves the book entirely (qty, price ignored on input).
 *   EXECUTE  qty lots of resting order_id trade (visible execution). price = execution price,
 *            or 0 = "at the order's own price". ref = the exchange match number (0 if none).
 *   REPLACE  order_id leaves; ref = the new order id, resting on the same side at price with
 *            qty (a new queue place, as ITCH U and LOBSTER's cancel+add imply).
 *   side of CANCEL/DELETE/EXECUTE/REPLACE: the resting order's side, or VX_SIDE_NONE when the
 *            feed does not carry it (ITCH); the book takes a known order's side from the order.
 *   TRADE    a non-displayed execution / trade print: no book effect; price, qty, side (the
 *            resting side if known, else VX_SIDE_NONE), ref = match number.
 *   CROSS    an auction cross trade print (ITCH Q): no book effect; price, qty, ref.
 *   BROKEN   a trade was broken (ITCH B): ref = its match number; no book effect.
 *   CLEAR    every order of the instrument leaves the book.
 *   MODIFY   order_id now has price and qty (the new size, not a difference), same id and
 *            side: it keeps its queue place when the price is unchanged and qty does not grow,
 *            else it goes to the back of the queue at price (Databento DBN `M`).
 *   STATUS   a system or trading-status event: status = its code character (ITCH S event code
 *            'O','S','Q','M','E','C'; ITCH H trading state 'H','P','Q','T'; LOBSTER type 7:
 *            'H' halt, 'Q' quoting resumes, 'T' trading resumes); flags say which (F_SYSTEM).
 *   LEVEL    market-by-price (L2) data: the level (side, price) now shows qty lots in all
 *            (0: the level is gone); order_id and ref are 0; side BUY/SELL. With L2 data the
 *            executions are TRADE events (side: the resting side whose lots traded).
 * instrument: the feed's instrument number (ITCH stock locate; LOBSTER 0 or caller-chosen).
 * ts: nanoseconds (feeds: since midnight, as the exchange stamps them).
 */
enum vx_mbo_action {
    VX_MBO_ADD = 1,
    VX_MBO_CANCEL = 2,
    VX_MBO_DELETE = 3,
    VX_MBO_EXECUTE = 4,
    VX_MBO_REPLACE = 5,
    VX_MBO_TRADE = 6,
    VX_MBO_CROSS = 7,
    VX_MBO_BROKEN = 8,
    VX_MBO_CLEAR = 9,
    VX_MBO_STATUS = 10,
    VX_MBO_MODIFY = 11,
    VX_MBO_LEVEL = 12,
    VX_MBO_ACTION_MAX = 12
};
enum { VX_SIDE_NONE = 2 }; /* vx_mbo.side for events that have no side (status, clear, cross)
                              or whose feed does not carry it (ITCH E/C/X/D/U) */
enum vx_mbo_flags {
    VX_MBO_F_SYSTEM = 1,      /* STATUS: a system event (ITCH S); else a trading-state event */
    VX_MBO_F_PRINTABLE = 2,   /* EXECUTE (ITCH C) / TRADE: the exchange marks it printable */
    VX_MBO_F_LAST = 4         /* the last event of one source message or packet (batch edge) */
};

typedef struct vx_mbo {
    uint64_t ts;        /* ns timestamp                                         offset  0 */
    uint64_t order_id;  /* the order this event is about (0 for instrument-wide) offset  8 */
    int64_t price;      /* fixed point, VX_PRICE_SCALE units                     offset 16 */
    uint64_t ref;       /* REPLACE: new order id; EXECUTE/TRADE/CROSS/BROKEN:
                           match number; else 0                                   offset 24 */
    uint32_t qty;       /* lots                                                   offset 32 */
    uint32_t instrument;/* feed instrument number (ITCH locate)                   offset 36 */
    uint8_t side;       /* VX_BUY, VX_SELL or VX_SIDE_NONE                        offset 40 */
    uint8_t action;     /* enum vx_mbo_action                                     offset 41 */
    uint8_t flags;      /* enum vx_mbo_flags                                      offset 42 */
    uint8_t status;     /* STATUS: the event/state code character; else 0         offset 43 */
    uint8_t pad[4];     /* explicit padding, always zero                          offset 44 */
} vx_mbo;

#define VX_MBO_OFFSET_TS offsetof(vx_mbo, ts)
#define VX_MBO_OFFSET_ORDER_ID offsetof(vx_mbo, order_id)
#define VX_MBO_OFFSET_PRICE offsetof(vx_mbo, price)
#define VX_MBO_OFFSET_REF offsetof(vx_mbo, ref)
#define VX_MBO_OFFSET_QTY offsetof(vx_mbo, qty)
#define VX_MBO_OFFSET_INSTRUMENT offsetof(vx_mbo, instrument)
#define VX_MBO_OFFSET_SIDE offsetof(vx_mbo, side)
#define VX_MBO_OFFSET_ACTION offsetof(vx_mbo, action)
#define VX_MBO_OFFSET_FLAGS offsetof(vx_mbo, flags)
#define VX_MBO_OFFSET_STATUS offsetof(vx_mbo, status)

_Static_assert(sizeof(vx_mbo) == 48, "vx_mbo must be 48 bytes");
_Static_assert(alignof(vx_mbo) == 8, "vx_mbo must be 8-byte aligned");
_Static_assert(VX_MBO_OFFSET_TS == 0, "mbo ts offset");
_Static_assert(VX_MBO_OFFSET_ORDER_ID == 8, "mbo order_id offset");
_Static_assert(VX_MBO_OFFSET_PRICE == 16, "mbo price offset");
_Static_assert(VX_MBO_OFFSET_REF == 24, "mbo ref offset");
_Static_assert(VX_MBO_OFFSET_QTY == 32, "mbo qty offset");
_Static_assert(VX_MBO_OFFSET_INSTRUMENT == 36, "mbo instrument offset");
_Static_assert(VX_MBO_OFFSET_SIDE == 40, "mbo side offset");
_Static_assert(VX_MBO_OFFSET_ACTION == 41, "mbo action offset");
_Static_assert(VX_MBO_OFFSET_FLAGS == 42, "mbo flags offset");
_Static_assert(VX_MBO_OFFSET_STATUS == 43, "mbo status offset");
_Static_assert(offsetof(vx_mbo, pad) == 44, "mbo pad offset");

/* Which field of a record failed validation. */
typedef enum vx_txn_field {
    VX_FIELD_NONE = 0,
    VX_FIELD_SIDE = 1,
    VX_FIELD_KIND = 2,
    VX_FIELD_COUNT = 3,   /* bundle header count > 16 */
    VX_FIELD_TXNS = 4,    /* a bundle's transaction (see *bad_index) */
    VX_FIELD_ACTION = 5   /* vx_mbo action not in [VX_MBO_ADD, VX_MBO_ACTION_MAX] */
} vx_txn_field;

/* Checks a transaction's enumerated fields (side, kind). Padding is not checked: NumPy may
 * leave gaps in structured arrays uninitialised, so velox ignores padding on input and writes
 * it as zero on output. Returns VX_FIELD_NONE when valid. */
vx_txn_field vx_txn_validate(const vx_txn *txn);

/* Checks a bundle: count <= 16 and every counted transaction valid (slots past count and
 * padding are ignored, as for transactions).
 * On failure *bad_index (if not NULL) is the offending transaction's index, or -1. */
vx_txn_field vx_bundle_validate(const vx_bundle *bundle, int *bad_index);

/* Checks an MBO event's enumerated fields: action in range, side VX_BUY/VX_SELL for ADD,
 * any of the three otherwise (CANCEL, DELETE, EXECUTE, REPLACE: VX_SIDE_NONE when the feed
 * does not say, as ITCH E/C/X/D/U do not: the book then uses the resting order's side).
 * Returns VX_FIELD_NONE when valid. */
vx_txn_field vx_mbo_validate(const vx_mbo *event);

/* Human-readable name of a status code (static string, never NULL). */
const char *vx_status_name(vx_status status);

#endif /* VELOX_TYPES_H */
