/*
 * dbn.c — DBN MBO record decoder (contract in dbn.h).
 *
 * The loop reads the length byte, checks that the record is whole in the buffer, and only then
 * reads its rtype; an MBO record is further checked to be at least 56 bytes before any field
 * is read, each at a constant offset below 56. So no read can leave the buffer whatever the
 * bytes say.
 */
#include "velox/dbn.h"

#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dbn.c reads DBN's little-endian fields with plain loads"
#endif

struct vx_dbn_parser {
    vx_dbn_counts counts;
    uint64_t offset;       /* absolute bytes consumed */
    uint64_t error_offset;
    const char *error;
    uint8_t error_rtype;
    uint8_t ts_event;      /* events carry ts_event, not ts_recv */
    uint64_t events;       /* events written */
};

_Static_assert(sizeof(vx_mbo) == 48, "vx_mbo is 48 bytes");
_Static_assert(VX_DBN_MBO_LEN == 14 * 4, "MboMsg is 14 words");

/* DBN action character -> velox action; NONE_EV = no event (N); 0 = not a DBN action. */
enum { NONE_EV = 0xFF };
static const uint8_t ACTION[256] = {
    ['A'] = VX_MBO_ADD, ['C'] = VX_MBO_CANCEL, ['M'] = VX_MBO_MODIFY, ['R'] = VX_MBO_CLEAR,
    ['T'] = VX_MBO_TRADE, ['F'] = VX_MBO_TRADE, ['N'] = NONE_EV,
};
/* DBN side character -> velox side + 1; 0 = not a DBN side. */
static const uint8_t SIDE[256] = {['B'] = VX_BUY + 1, ['A'] = VX_SELL + 1, ['N'] = VX_SIDE_NONE + 1};

static inline uint64_t u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

vx_status vx_dbn_parser_create(int ts_event, vx_dbn_parser **out) {
    vx_dbn_parser *p = calloc(1, sizeof *p);
    if (!p) return VX_ENOMEM;
    p->ts_event = ts_event != 0;
    *out = p;
    return VX_OK;
}

void vx_dbn_parser_destroy(vx_dbn_parser *p) { free(p); }

static vx_status fail(vx_dbn_parser *p, uint64_t at, uint8_t rtype, const char *why) {
    p->error_offset = at;
    p->error_rtype = rtype;
    p->error = why;
    return VX_EINVAL;
}

static const char *check_mbo(uint8_t action, uint8_t side1, int64_t price) {
    if (!action) return "MBO action is not one of A C M R T F N";
    if (!side1) return "MBO side is not one of B A N";
    if ((action == VX_MBO_ADD || action == VX_MBO_MODIFY) && side1 == VX_SIDE_NONE + 1)
        return "MBO add/modify with side N (the book needs a side)";
    if (price == VX_DBN_UNDEF_PRICE)
        return (action == VX_MBO_ADD || action == VX_MBO_MODIFY)
                   ? "MBO add/modify with an undefined price (UNDEF_PRICE)" : NULL;
    return "MBO price is not a whole 1e-8 (velox fixed point)";
}

vx_status vx_dbn_parse(vx_dbn_parser *p, const uint8_t *buf, size_t len, vx_mbo *out,
                       size_t cap, size_t *consumed, size_t *produced) {
    size_t pos = 0, n = 0;
    vx_status st = VX_OK;
    vx_dbn_counts *c = &p->counts;
    const size_t ts_at = p->ts_event ? 8 : 40;
    while (n < cap && pos < len) { /* bounded: each pass consumes >= 16 bytes or leaves */
        const uint8_t *r = buf + pos;
        size_t rlen = (size_t)r[0] * 4;
        if (__builtin_expect(rlen < VX_DBN_HEADER_LEN, 0)) {
            st = fail(p, p->offset + pos, len - pos >= 2 ? r[1] : 0,
                      "record length below the 16-byte record header");
            break;
        }
        if (rlen > len - pos) break; /* incomplete: the caller gives more */
        uint8_t rtype = r[1];
        if (__builtin_expect(rtype != VX_DBN_RTYPE_MBO, 0)) {
            c->by_rtype[rtype]++;
            pos += rlen;
            continue;
        }
        if (__builtin_expect(rlen < VX_DBN_MBO_LEN, 0)) {
            st = fail(p, p->offset + pos, rtype, "MBO record shorter than 56 bytes");
            break;
        }
        uint8_t dflags = r[36], act_c = r[38];
        uint8_t action = ACTION[act_c], side1 = SIDE[r[39]];
        int64_t price = (int64_t)u64(r + 24), q = price / 10;
        /* one test for the common record: known action and side, a whole 1e-8 price */
        if (__builtin_expect(!action || !side1 || q * 10 != price ||
                             (side1 == VX_SIDE_NONE + 1 &&
                              (action == VX_MBO_ADD || action == VX_MBO_MODIFY)), 0)) {
            const char *why = check_mbo(action, side1, price);
            if (why) {
                st = fail(p, p->offset + pos, rtype, why);
                break;
            }
            q = 0; /* UNDEF_PRICE where no price is needed: "not given" */
        }
        c->by_rtype[rtype]++;
        c->by_action[act_c]++;
        c->by_flags[dflags]++;
        pos += rlen;
        if (action == NONE_EV) continue;
        uint64_t oid = u64(r + 16);
        vx_mbo *e = &out[n++];
        if (__builtin_expect(action == VX_MBO_CLEAR, 0)) {
            *e = (vx_mbo){.ts = u64(r + ts_at), .instrument = u32(r + 4), .side = VX_SIDE_NONE,
                          .action = action,
                          .flags = (uint8_t)((dflags & VX_DBN_F_LAST) ? VX_MBO_F_LAST : 0)};
            continue;
        }
        *e = (vx_mbo){.ts = u64(r + ts_at), .order_id = oid, .price = q,
                      .qty = u32(r + 32),
                      .instrument = u32(r + 4), .side = (uint8_t)(side1 - 1), .action = action,
                      .flags = (uint8_t)((dflags & VX_DBN_F_LAST) ? VX_MBO_F_LAST : 0)};
    }
    p->offset += pos;
    p->events += n;
    *consumed = pos;
    *produced = n;
    return st;
}

const vx_dbn_counts *vx_dbn_counts_get(vx_dbn_parser *p) {
    /* the derived totals, from the per-record tables the loop keeps */
    vx_dbn_counts *c = &p->counts;
    c->records = c->skipped = c->none = c->snapshot = c->bad_ts_recv = c->maybe_bad_book = 0;
    for (int i = 0; i < 256; i++) { /* bounded: 256 */
        c->records += c->by_rtype[i];
        if (i != VX_DBN_RTYPE_MBO) c->skipped += c->by_rtype[i];
        if (i & VX_DBN_F_SNAPSHOT) c->snapshot += c->by_flags[i];
        if (i & VX_DBN_F_BAD_TS_RECV) c->bad_ts_recv += c->by_flags[i];
        if (i & VX_DBN_F_MAYBE_BAD_BOOK) c->maybe_bad_book += c->by_flags[i];
    }
    c->none = c->by_action['N'];
    c->events = p->events;
    return c;
}
uint64_t vx_dbn_offset(const vx_dbn_parser *p) { return p->offset; }
void vx_dbn_set_offset(vx_dbn_parser *p, uint64_t offset) { p->offset = offset; }
uint64_t vx_dbn_error_offset(const vx_dbn_parser *p) { return p->error_offset; }
uint8_t vx_dbn_error_rtype(const vx_dbn_parser *p) { return p->error_rtype; }
const char *vx_dbn_error(const vx_dbn_parser *p) { return p->error ? p->error : ""; }
