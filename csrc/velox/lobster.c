/*
 * lobster.c — LOBSTER text parser and writer (contract in lobster.h).
 *
 * A cursor walks the buffer; every read checks `pos < len` first. Integers are accumulated
 * with an overflow check before each digit, so no field can wrap.
 */
#include "velox/lobster.h"

#include <stdio.h>
#include <string.h>

typedef struct cursor {
    const char *buf;
    size_t len, pos, line_start;
    uint64_t line;
    vx_lobster_error *err;
} cursor;

static vx_status bad(cursor *c, const char *what) {
    if (c->err) {
        c->err->line = c->line;
        c->err->column = (uint64_t)(c->pos - c->line_start) + 1;
        c->err->what = what;
    }
    return VX_EINVAL;
}

static inline int at_eol(const cursor *c) {
    return c->pos >= c->len || c->buf[c->pos] == '\n' ||
           (c->buf[c->pos] == '\r' && c->pos + 1 < c->len && c->buf[c->pos + 1] == '\n') ||
           (c->buf[c->pos] == '\r' && c->pos + 1 == c->len);
}

/* Unsigned decimal integer (at least one digit, at most `max`). */
static vx_status read_u64(cursor *c, uint64_t max, uint64_t *out) {
    size_t start = c->pos;
    uint64_t v = 0;
    while (c->pos < c->len && c->buf[c->pos] >= '0' && c->buf[c->pos] <= '9') {
        uint64_t d = (uint64_t)(c->buf[c->pos] - '0');
        if (v > (max - d) / 10) return bad(c, "integer out of range");
        v = v * 10 + d;
        c->pos++;
    }
    if (c->pos == start) return bad(c, "expected a digit");
    *out = v;
    return VX_OK;
}

static vx_status read_i64(cursor *c, int64_t *out) {
    int neg = 0;
    if (c->pos < c->len && (c->buf[c->pos] == '-' || c->buf[c->pos] == '+')) {
        neg = c->buf[c->pos] == '-';
        c->pos++;
    }
    uint64_t v;
    vx_status st = read_u64(c, (uint64_t)INT64_MAX, &v);
    if (st != VX_OK) return st;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return VX_OK;
}

/* seconds[.fraction] with <= 9 decimals -> ns */
static vx_status read_time(cursor *c, uint64_t *ns) {
    uint64_t s;
    vx_status st = read_u64(c, UINT64_MAX / 1000000000ULL - 1, &s);
    if (st != VX_OK) return st;
    uint64_t frac = 0;
    int digits = 0;
    if (c->pos < c->len && c->buf[c->pos] == '.') {
        c->pos++;
        while (c->pos < c->len && c->buf[c->pos] >= '0' && c->buf[c->pos] <= '9') {
            if (digits == 9) return bad(c, "time has more than 9 decimals");
            frac = frac * 10 + (uint64_t)(c->buf[c->pos] - '0');
            digits++;
            c->pos++;
        }
        if (digits == 0) return bad(c, "expected a digit after '.'");
    }
    for (int i = digits; i < 9; i++) frac *= 10;
    *ns = s * 1000000000ULL + frac;
    return VX_OK;
}

static vx_status comma(cursor *c) {
    if (c->pos >= c->len || c->buf[c->pos] != ',') return bad(c, "expected ','");
    c->pos++;
    return VX_OK;
}

/* At end of a line's fields: consume the line ending. */
static vx_status end_line(cursor *c) {
    if (!at_eol(c)) return bad(c, "expected end of line");
    if (c->pos < c->len && c->buf[c->pos] == '\r') c->pos++;
    if (c->pos < c->len) c->pos++; /* '\n' */
    c->line++;
    c->line_start = c->pos;
    return VX_OK;
}

#define TRY(x) do { vx_status st_ = (x); if (st_ != VX_OK) return st_; } while (0)

vx_status vx_lobster_parse_messages(const char *buf, size_t len, uint32_t instrument,
                                    vx_mbo *out, size_t cap, size_t *n, vx_lobster_error *err) {
    cursor c = {buf, len, 0, 0, 1, err};
    size_t k = 0;
    *n = 0;
    while (c.pos < c.len) { /* each pass consumes a line or returns */
        if (k == cap) return bad(&c, "more lines than the output can hold"), VX_ERANGE;
        uint64_t ts = 0, type = 0, id = 0, size = 0;
        int64_t price = 0, dir = 0;
        TRY(read_time(&c, &ts));
        TRY(comma(&c));
        size_t type_pos = c.pos;
        TRY(read_u64(&c, 9, &type));
        if (type < 1 || type > 7) { c.pos = type_pos; return bad(&c, "event type not in 1..7"); }
        TRY(comma(&c));
        TRY(read_u64(&c, UINT64_MAX, &id));
        TRY(comma(&c));
        TRY(read_u64(&c, UINT32_MAX, &size));
        TRY(comma(&c));
        size_t price_pos = c.pos;
        TRY(read_i64(&c, &price));
        TRY(comma(&c));
        size_t dir_pos = c.pos;
        TRY(read_i64(&c, &dir));
        if (dir != 1 && dir != -1) { c.pos = dir_pos; return bad(&c, "direction must be 1 or -1"); }
        vx_mbo *e = &out[k];
        memset(e, 0, sizeof *e);
        e->ts = ts;
        e->order_id = id;
        e->qty = (uint32_t)size;
        e->instrument = instrument;
        e->side = dir == 1 ? VX_BUY : VX_SELL;
        if (type == 7) {
            if (price < -1 || price > 1) { c.pos = price_pos; return bad(&c, "type 7 price must be -1, 0 or 1"); }
            e->action = VX_MBO_STATUS;
            e->status = price == -1 ? 'H' : price == 0 ? 'Q' : 'T';
            e->qty = 0;
            if (size != 0) { c.pos = price_pos; return bad(&c, "type 7 size must be 0"); }
        } else {
            if (price < 0 || price > INT64_MAX / 10000) { c.pos = price_pos; return bad(&c, "price out of range"); }
            e->price = price * 10000;
            static const uint8_t act[7] = {VX_MBO_ADD, VX_MBO_CANCEL, VX_MBO_DELETE, VX_MBO_EXECUTE,
                                           VX_MBO_TRADE, VX_MBO_CROSS, 0};
            e->action = act[type - 1];
        }
        TRY(end_line(&c));
        k++;
        *n = k;
    }
    return VX_OK;
}

size_t vx_lobster_first_line_fields(const char *buf, size_t len) {
    size_t i = 0, fields = 0;
    if (len == 0 || buf[0] == '\n') return 0;
    fields = 1;
    for (; i < len && buf[i] != '\n'; i++) fields += buf[i] == ',';
    return fields;
}

#define EMPTY_ASK 9999999999LL

vx_status vx_lobster_parse_book(const char *buf, size_t len, size_t levels, int64_t *ask_px,
                                uint64_t *ask_qty, int64_t *bid_px, uint64_t *bid_qty,
                                size_t cap_rows, size_t *rows, vx_lobster_error *err) {
    cursor c = {buf, len, 0, 0, 1, err};
    size_t r = 0;
    *rows = 0;
    if (levels == 0) return bad(&c, "levels must be > 0");
    while (c.pos < c.len) {
        if (r == cap_rows) return bad(&c, "more lines than the output can hold"), VX_ERANGE;
        for (size_t l = 0; l < levels; l++) {
            int64_t ap = 0, bp = 0;
            uint64_t aq = 0, bq = 0;
            size_t at;
            if (l) TRY(comma(&c));
            at = c.pos;
            TRY(read_i64(&c, &ap));
            if (ap != EMPTY_ASK && (ap < 0 || ap > INT64_MAX / 10000)) { c.pos = at; return bad(&c, "ask price out of range"); }
            TRY(comma(&c));
            TRY(read_u64(&c, UINT64_MAX, &aq));
            TRY(comma(&c));
            at = c.pos;
            TRY(read_i64(&c, &bp));
            if (bp != -EMPTY_ASK && (bp < 0 || bp > INT64_MAX / 10000)) { c.pos = at; return bad(&c, "bid price out of range"); }
            TRY(comma(&c));
            TRY(read_u64(&c, UINT64_MAX, &bq));
            size_t i = r * levels + l;
            ask_px[i] = ap == EMPTY_ASK ? 0 : ap * 10000;
            ask_qty[i] = ap == EMPTY_ASK ? 0 : aq;
            bid_px[i] = bp == -EMPTY_ASK ? 0 : bp * 10000;
            bid_qty[i] = bp == -EMPTY_ASK ? 0 : bq;
        }
        TRY(end_line(&c));
        r++;
        *rows = r;
    }
    return VX_OK;
}

vx_status vx_lobster_write_messages(const vx_mbo *events, size_t n, char *out, size_t cap,
                                    size_t *done, size_t *written) {
    size_t pos = 0, i = 0;
    vx_status st = VX_OK;
    for (; i < n; i++) {
        const vx_mbo *e = &events[i];
        int type;
        int64_t price;
        switch (e->action) {
        case VX_MBO_ADD: type = 1; break;
        case VX_MBO_CANCEL: type = 2; break;
        case VX_MBO_DELETE: type = 3; break;
        case VX_MBO_EXECUTE: type = 4; break;
        case VX_MBO_TRADE: type = 5; break;
        case VX_MBO_CROSS: type = 6; break;
        case VX_MBO_STATUS: type = 7; break;
        default: st = VX_EINVAL; goto out;
        }
        if (e->side != VX_BUY && e->side != VX_SELL) { st = VX_EINVAL; goto out; }
        if (type == 7) {
            if (e->status == 'H') price = -1;
            else if (e->status == 'Q') price = 0;
            else if (e->status == 'T') price = 1;
            else { st = VX_EINVAL; goto out; }
        } else {
            if (e->price < 0 || e->price % 10000) { st = VX_EINVAL; goto out; }
            price = e->price / 10000;
        }
        char line[VX_LOBSTER_MAX_LINE];
        int w = snprintf(line, sizeof line, "%llu.%09llu,%d,%llu,%u,%lld,%d\n",
                         (unsigned long long)(e->ts / 1000000000ULL),
                         (unsigned long long)(e->ts % 1000000000ULL), type,
                         (unsigned long long)e->order_id, type == 7 ? 0u : (unsigned)e->qty,
                         (long long)price, e->side == VX_BUY ? 1 : -1);
        if (w < 0 || (size_t)w >= sizeof line) { st = VX_EINVAL; goto out; }
        if (cap - pos < (size_t)w) break;
        memcpy(out + pos, line, (size_t)w);
        pos += (size_t)w;
    }
out:
    *done = i;
    *written = pos;
    return st;
}
