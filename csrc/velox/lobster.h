/*
 * velox/lobster.h — LOBSTER message and orderbook files (CSV text) to vx_mbo events / level
 * arrays, and messages back to text (for tests and benchmarks).
 *
 * Message file: one event per line, six comma-separated fields
 *     time, type, order id, size, price, direction
 *   time      seconds after midnight, decimal: digits[.digits] with at most 9 decimals -> ns
 *   type      1 submit -> ADD, 2 partial cancel -> CANCEL, 3 delete -> DELETE,
 *             4 visible execution -> EXECUTE (price = the execution price),
 *             5 hidden execution -> TRADE, 6 cross -> CROSS (side kept), 7 halt -> STATUS
 *   order id  non-negative integer (u64)
 *   size      non-negative integer (u32)
 *   price     integer dollars x 10000 (may be negative: type 7 uses -1/0/1) -> x 10^4
 *   direction 1 buy, -1 sell (for executions: the side of the resting order)
 *   Type 7: price -1 -> status 'H' (halt), 0 -> 'Q' (quoting), 1 -> 'T' (trading resumes);
 *   the event has price 0, qty 0, order_id kept, side = direction.
 * Orderbook file: 4 x levels integers per line: ask price, ask size, bid price, bid size for
 *   level 1..levels. Empty levels (ask price 9999999999, bid price -9999999999) become price 0,
 *   size 0. Prices x 10^4.
 * Strict: every line must have exactly the fields above (CR before LF allowed, an empty last
 * line allowed); on the first bad field VX_EINVAL with err->line (1-based), err->column
 * (1-based byte column) and err->what (static text). Lines beyond cap are an error too
 * (VX_ERANGE), so callers size output by counting newlines first.
 */
#ifndef VELOX_LOBSTER_H
#define VELOX_LOBSTER_H

#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

typedef struct vx_lobster_error {
    uint64_t line;
    uint64_t column;
    const char *what;
} vx_lobster_error;

/* Parse a whole message file buf[0..len) into out[0..cap); *n = events written. */
vx_status vx_lobster_parse_messages(const char *buf, size_t len, uint32_t instrument,
                                    vx_mbo *out, size_t cap, size_t *n, vx_lobster_error *err);

/* Parse a whole orderbook file with `levels` levels into row-major arrays of rows x levels:
 * ask_px, ask_qty, bid_px, bid_qty (each cap_rows * levels long). *rows = lines parsed. */
vx_status vx_lobster_parse_book(const char *buf, size_t len, size_t levels, int64_t *ask_px,
                                uint64_t *ask_qty, int64_t *bid_px, uint64_t *bid_qty,
                                size_t cap_rows, size_t *rows, vx_lobster_error *err);

/* Count the fields of the first line (0 if empty), so callers can infer `levels`. */
size_t vx_lobster_first_line_fields(const char *buf, size_t len);

/* Events as message-file lines into out[0..cap). Stops before a line that does not fit
 * (VX_OK, *done < n). VX_EINVAL at an event LOBSTER cannot carry (actions REPLACE, BROKEN,
 * CLEAR; a price not a multiple of 10^4; STATUS other than 'H','Q','T'; side not BUY/SELL):
 * *done = its index. VX_LOBSTER_MAX_LINE bytes always suffice for one line. */
enum { VX_LOBSTER_MAX_LINE = 128 };
vx_status vx_lobster_write_messages(const vx_mbo *events, size_t n, char *out, size_t cap,
                                    size_t *done, size_t *written);

#endif /* VELOX_LOBSTER_H */
