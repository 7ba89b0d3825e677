/*
 * velox/itch.h — NASDAQ TotalView-ITCH 5.0 to vx_mbo events, and back (for tests/benchmarks).
 *
 * Framing: the published files are a sequence of [u16 big-endian length][message of that many
 * bytes]; the message's first byte is its type. Every multi-byte field is big-endian.
 * Timestamps are 6-byte ns since midnight; Price(4) fields are converted to velox fixed point
 * (x 10^4, VX_PRICE_SCALE = 10^8); order reference numbers become order_id, stock locate
 * becomes instrument.
 *
 * Mapping (one event per converted message, F_LAST not used):
 *   A, F  ADD      order_id=ref, side B/S, qty=shares, price (F's attribution dropped)
 *   E     EXECUTE  order_id=ref, qty=executed shares, price 0 (= at the order's price), ref=match,
 *                  side NONE
 *   C     EXECUTE  as E with price = execution price, F_PRINTABLE if printable == 'Y'
 *   X     CANCEL   order_id=ref, qty=cancelled shares, side NONE
 *   D     DELETE   order_id=ref, side NONE
 *   U     REPLACE  order_id=original ref, ref=new ref, qty, price, side NONE
 *   P     TRADE    order_id=ref, side B/S (else SIDE_NONE), qty, price, ref=match
 *   Q     CROSS    qty (8-byte shares: > UINT32_MAX is an error), price, ref=match, side NONE,
 *                  status = cross type character
 *   B     BROKEN   ref=match, side NONE
 *   S     STATUS   flags F_SYSTEM, status = event code, side NONE
 *   H     STATUS   status = trading state, side NONE
 *   R     (stock directory) fills the locate -> symbol table from its place in the stream on
 *         (a later R for the same locate renames it); no event. R at locate 0 is VX_EINVAL
 *         (NASDAQ's stock locates start at 1; 0 is the system events').
 * ITCH E/C/X/D/U carry no side: velox writes VX_SIDE_NONE there. The book takes a known
 * order's side from the order; for an order it does not know, NONE reduces no seeded lots and
 * a REPLACE adds no new order (mbo.h: partial data).
 * Every other known ITCH 5.0 type is skipped and counted (by_type, skipped); a type that is not
 * in ITCH 5.0 at all is skipped by its length prefix and counted in `unknown`.
 *
 * Distrust: every message is length-checked before any field is read; a known type whose
 * length prefix differs from its fixed length, a zero length, an A/F side other than B/S, a
 * Q cross with more than UINT32_MAX shares, or an R at locate 0 is VX_EINVAL with p->error_offset (absolute byte
 * offset of the message's length prefix), p->error_type and p->error (static text).
 *
 * Streaming: vx_itch_parse consumes whole messages only and stops at a message that does not
 * fit in the buffer (or when `cap` events are out). State between calls (counts, directory,
 * absolute offset) lives in the parser, so the next call starts where *consumed ended. At end
 * of input, leftover bytes (consumed < len) are a truncated final message: the caller decides
 * (velox.feeds raises ValueError naming the offset).
 *
 * Filter: with vx_itch_filter_symbols, only events of instruments whose R message named a
 * wanted symbol are written (others counted in `filtered`); S (system) events always pass.
 * The filter follows each R message at its place in the stream, so R messages must precede
 * the orders (as in NASDAQ's files), and a locate renamed by a later R passes or not by the
 * name in force at each event.
 * Routing: vx_itch_route_symbols filters the same way and writes into each event's
 * `instrument`, instead of the locate, the index i of its stock's symbol in the wanted list
 * (as the locate's latest R at that point named it), so book i = symbols[i]; S events get
 * instrument 0 (they have no book effect).
 *
 * No allocation except in create; no globals; single-threaded object.
 */
#ifndef VELOX_ITCH_H
#define VELOX_ITCH_H

#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

enum { VX_ITCH_LOCATES = 65536, VX_ITCH_SYMBOL_LEN = 8, VX_ITCH_MAX_WANTED = 65536 };

typedef struct vx_itch_counts {
    uint64_t messages;      /* whole messages consumed */
    uint64_t events;        /* events written */
    uint64_t skipped;       /* known types that make no event (R excluded) */
    uint64_t unknown;       /* types not in ITCH 5.0 (skipped by length prefix) */
    uint64_t filtered;      /* events dropped by the symbol filter */
    uint64_t by_type[256];  /* messages consumed, by type byte */
} vx_itch_counts;

typedef struct vx_itch_parser vx_itch_parser; /* opaque */

vx_status vx_itch_parser_create(vx_itch_parser **out);   /* VX_ENOMEM */
void vx_itch_parser_destroy(vx_itch_parser *p);
/* Back to the state after create (counts, directory, filter, offset cleared). */
void vx_itch_parser_reset(vx_itch_parser *p);

/* Only instruments whose R symbol is one of symbols[0..n) (8 bytes each, space padded) make
 * events. n = 0 turns the filter off. n > VX_ITCH_MAX_WANTED -> VX_EINVAL. Call before parsing. */
vx_status vx_itch_filter_symbols(vx_itch_parser *p, const char *symbols, size_t n);
/* As vx_itch_filter_symbols, and events carry the symbol's index in symbols[] as instrument
 * (see "Routing"). A symbol given twice -> VX_EINVAL and the filter is off. */
vx_status vx_itch_route_symbols(vx_itch_parser *p, const char *symbols, size_t n);

/* Parse whole messages from buf[0..len) into out[0..cap). See the header comment.
 * VX_OK (possibly with *consumed < len: the next message is incomplete or out is full) or
 * VX_EINVAL (then *consumed and *produced describe the messages before the bad one). */
vx_status vx_itch_parse(vx_itch_parser *p, const uint8_t *buf, size_t len, vx_mbo *out,
                        size_t cap, size_t *consumed, size_t *produced);

const vx_itch_counts *vx_itch_counts_get(const vx_itch_parser *p);
uint64_t vx_itch_offset(const vx_itch_parser *p); /* absolute bytes consumed so far */
/* 1 when an R message so far named symbols[i] of the last filter/route call (a symbol given
 * twice to the filter: only its first i); 0 otherwise or i out of range. */
int vx_itch_wanted_named(const vx_itch_parser *p, size_t i);
/* The directory: 1 and the 8 symbol bytes when locate has been named by an R message (its
 * latest name). */
int vx_itch_symbol(const vx_itch_parser *p, uint16_t locate, char out[VX_ITCH_SYMBOL_LEN]);
/* The last error (valid after VX_EINVAL). */
uint64_t vx_itch_error_offset(const vx_itch_parser *p);
uint8_t vx_itch_error_type(const vx_itch_parser *p);
const char *vx_itch_error(const vx_itch_parser *p);

/* Fixed length (type byte included, prefix excluded) of an ITCH 5.0 type, 0 if unknown. */
size_t vx_itch_message_length(uint8_t type);
/* The same lengths as a read-only table, for loops that inline the lookup (itch_levels.c). */
extern const uint8_t vx_itch_fixed_length[256];

/* Writer: events[0..n) as ITCH messages with length prefixes into out[0..cap). symbols holds
 * n_symbols 8-byte symbols indexed by instrument (for A, P, Q, H stock fields). Stops before an
 * event that does not fit (VX_OK, *done < n). VX_EINVAL at an event ITCH cannot carry (CLEAR;
 * price not a multiple of 10^4 or out of u32; ts >= 2^48; instrument > 65535 or >= n_symbols;
 * bad action/side): *done = its index. Tracking numbers are written as 0. */
vx_status vx_itch_write(const vx_mbo *events, size_t n, const char *symbols, size_t n_symbols,
                        uint8_t *out, size_t cap, size_t *done, size_t *written);
/* One R (stock directory) message for (locate, symbol): 41 bytes with prefix; other fields are
 * plausible defaults (market Q, normal, round lot 100). cap < 41 -> VX_EINVAL. Locate 0 is
 * written (tests craft such files) although the parser refuses it. */
vx_status vx_itch_write_directory(uint16_t locate, uint64_t ts, const char *symbol,
                                  uint8_t *out, size_t cap, size_t *written);

#endif /* VELOX_ITCH_H */
