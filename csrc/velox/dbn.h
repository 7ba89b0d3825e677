/*
 * velox/dbn.h — Databento DBN (versions 1-3) MBO records to vx_mbo events.
 *
 * Scope: the record stream that follows a DBN metadata header (velox.feeds parses the header
 * in Python: it is read once). Every record starts with a 16-byte header whose first byte is
 * its length in 4-byte words and whose second is its rtype. MBO records (rtype 0xA0, `MboMsg`,
 * identical in DBN 1, 2 and 3) are 56 bytes (longer when the file has ts_out: the extra bytes
 * are ignored); all integers little-endian. Field offsets (the DBN spec):
 *   0 length u8 | 1 rtype u8 | 2 publisher_id u16 | 4 instrument_id u32 | 8 ts_event u64 |
 *   16 order_id u64 | 24 price i64 (1e-9) | 32 size u32 | 36 flags u8 | 37 channel_id u8 |
 *   38 action char | 39 side char | 40 ts_recv u64 | 48 ts_in_delta i32 | 52 sequence u32
 *
 * Mapping (one event per A/C/M/R/T/F record; N makes none):
 *   A  ADD      order_id, side (B -> BUY, A -> SELL), qty = size, price
 *   C  CANCEL   qty = size (the lots cancelled: a partial or full cancel), side B/A/N
 *   M  MODIFY   order_id, price, qty = the new size, side: the book keeps the order's queue
 *               place when the price is unchanged and the size does not grow, else it goes to
 *               the back at the new price; an unknown order is added (mbo.h)
 *   R  CLEAR    every order of the instrument leaves (order_id, price, qty, side dropped)
 *   T  TRADE    the aggressor's trade print: price, qty, side B/A/N, order_id; no book effect
 *   F  TRADE    a resting order's fill: no book effect (DBN sends the C/M that changes the
 *               book after it); order_id, price, qty, side kept
 *   N  (none)   counted in `none`, no event
 *   instrument = instrument_id; ts = ts_recv (or ts_event, see vx_dbn_parser_create); flags:
 *   DBN F_LAST -> VX_MBO_F_LAST; the other DBN flags are counted (snapshot, bad_ts_recv,
 *   maybe_bad_book), not carried.
 * Prices: a defined price must be a whole 1e-8 (DBN 1e-9 units divisible by 10) -> price / 10;
 *   UNDEF_PRICE (INT64_MAX) on A or M is an error; on C/R/T/F it becomes 0 ("not given").
 *
 * Distrust: a length byte below 4 words (the header) is an error (it could not advance); the
 * whole record must be in the buffer before anything but its header is read; an MBO record
 * shorter than 56 bytes, an action or side outside the spec, a price that does not convert is
 * VX_EINVAL with p->error_offset (absolute byte offset of the record), error_rtype and error
 * (static text). Records of other rtypes are skipped by their length and counted
 * (`skipped`, by_rtype).
 *
 * Streaming: whole records only (a record is at most 1020 bytes); state (counts, absolute
 * offset) lives in the parser, so the next call starts where *consumed ended; leftover bytes at
 * the end of input are a truncated final record (the caller raises).
 *
 * No allocation except in create; no globals; single-threaded object.
 */
#ifndef VELOX_DBN_H
#define VELOX_DBN_H

#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

enum {
    VX_DBN_RTYPE_MBO = 0xA0,
    VX_DBN_MBO_LEN = 56,        /* bytes of an MboMsg */
    VX_DBN_HEADER_LEN = 16,     /* bytes of a record header */
    VX_DBN_MAX_RECORD = 255 * 4,
    VX_DBN_F_LAST = 1 << 7,
    VX_DBN_F_SNAPSHOT = 1 << 5,
    VX_DBN_F_BAD_TS_RECV = 1 << 3,
    VX_DBN_F_MAYBE_BAD_BOOK = 1 << 2
};
#define VX_DBN_UNDEF_PRICE INT64_MAX

typedef struct vx_dbn_counts {
    uint64_t records;         /* whole records consumed (every rtype) */
    uint64_t events;          /* events written */
    uint64_t skipped;         /* records of rtypes other than MBO */
    uint64_t none;            /* MBO records with action N (no event) */
    uint64_t snapshot;        /* MBO records flagged F_SNAPSHOT */
    uint64_t bad_ts_recv;     /* MBO records flagged F_BAD_TS_RECV */
    uint64_t maybe_bad_book;  /* MBO records flagged F_MAYBE_BAD_BOOK */
    uint64_t by_action[256];  /* MBO records by action character */
    uint64_t by_rtype[256];   /* records by rtype */
    uint64_t by_flags[256];   /* MBO records by their flags byte */
} vx_dbn_counts;

typedef struct vx_dbn_parser vx_dbn_parser; /* opaque */

/* ts_event != 0: events carry ts_event instead of ts_recv. VX_ENOMEM. */
vx_status vx_dbn_parser_create(int ts_event, vx_dbn_parser **out);
void vx_dbn_parser_destroy(vx_dbn_parser *p);

/* Parse whole records of buf[0..len) into out[0..cap). VX_OK (possibly *consumed < len: the
 * next record is incomplete or out is full) or VX_EINVAL (then *consumed and *produced
 * describe the records before the bad one). */
vx_status vx_dbn_parse(vx_dbn_parser *p, const uint8_t *buf, size_t len, vx_mbo *out,
                       size_t cap, size_t *consumed, size_t *produced);

/* The counts (the totals are derived from the by_* tables at this call; the parse loop keeps
 * only those). */
const vx_dbn_counts *vx_dbn_counts_get(vx_dbn_parser *p);
uint64_t vx_dbn_offset(const vx_dbn_parser *p);   /* stream bytes consumed so far */
/* Set the absolute offset of the first record (the metadata length), for error messages. */
void vx_dbn_set_offset(vx_dbn_parser *p, uint64_t offset);
uint64_t vx_dbn_error_offset(const vx_dbn_parser *p);
uint8_t vx_dbn_error_rtype(const vx_dbn_parser *p);
const char *vx_dbn_error(const vx_dbn_parser *p);

#endif /* VELOX_DBN_H */
