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
};

_Static_assert(sizeof(vx_mbo) == 48, "vx_mbo is 48 bytes");
_Static_assert(VX_DBN_MBO_LEN == 14 * 4, "MboMsg is 14 words");

/* DBN action character -> velox action; NONE_EV = no event (N); 0 = not a DBN action. */
enum { NONE_EV = 0xFF };
static const uint8_t ACTION[256] = {
    ['A'] = VX_MBO_ADD, ['C'] = VX_MBO_CANCEL, ['M'] = VX_MBO_REPLACE, ['R'] = VX_MBO_CLEAR,
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

vx_status vx_dbn_parse(vx_dbn_parser *p, const uint8_t *buf, size_t len, vx_mbo *out,
                       size_t cap, size_t *consumed, size_t *produced) {
    size_t pos = 0, n = 0;
    vx_status st = VX_OK;
    vx_dbn_counts *c = &p->counts;
    const size_t ts_at = p->ts_event ? 8 : 40;
    while (n < cap && len - pos >= 1) { /* bounded: each pass consumes >= 16 bytes or leaves */
        const uint8_t *r = buf + pos;
        size_t rlen = (size_t)r[0] * 4;
        if (rlen < VX_DBN_HEADER_LEN) {
            st = fail(p, p->offset + pos, len - pos >= 2 ? r[1] : 0,
                      "record length below the 16-byte record header");
            break;
        }
        if (rlen > len - pos) break; /* incomplete: the caller gives more */
        uint8_t rtype = r[1];
        c->by_rtype[rtype]++;
        if (rtype != VX_DBN_RTYPE_MBO) {
            c->skipped++;
            c->records++;
            pos += rlen;
            continue;
        }
        if (rlen < VX_DBN_MBO_LEN) {
            c->by_rtype[rtype]--;
            st = fail(p, p->offset + pos, rtype, "MBO record shorter than 56 bytes");
            break;
        }
        uint8_t dflags = r[36], act_c = r[38];
        uint8_t action = ACTION[act_c], side1 = SIDE[r[39]];
        int64_t price = (int64_t)u64(r + 24);
        const char *why = NULL;
        if (!action) why = "MBO action is not one of A C M R T F N";
        else if (!side1) why = "MBO side is not one of B A N";
        else if ((action == VX_MBO_ADD || action == VX_MBO_REPLACE) && side1 == VX_SIDE_NONE + 1)
            why = "MBO add/modify with side N (the book needs a side)";
        else if (price == VX_DBN_UNDEF_PRICE) {
            if (action == VX_MBO_ADD || action == VX_MBO_REPLACE)
                why = "MBO add/modify with an undefined price (UNDEF_PRICE)";
            price = 0;
        } else if (price % 10 != 0) {
            why = "MBO price is not a whole 1e-8 (velox fixed point)";
        }
        if (why) {
            c->by_rtype[rtype]--;
            st = fail(p, p->offset + pos, rtype, why);
            break;
        }
        c->records++;
        c->by_action[act_c]++;
        c->snapshot += (dflags & VX_DBN_F_SNAPSHOT) != 0;
        c->bad_ts_recv += (dflags & VX_DBN_F_BAD_TS_RECV) != 0;
        c->maybe_bad_book += (dflags & VX_DBN_F_MAYBE_BAD_BOOK) != 0;
        pos += rlen;
        if (action == NONE_EV) {
            c->none++;
            continue;
        }
        vx_mbo *e = &out[n++];
        memset(e, 0, sizeof *e);
        e->ts = u64(r + ts_at);
        e->instrument = u32(r + 4);
        e->flags = (dflags & VX_DBN_F_LAST) ? VX_MBO_F_LAST : 0;
        e->action = action;
        if (action == VX_MBO_CLEAR) {
            e->side = VX_SIDE_NONE;
            continue;
        }
        e->order_id = u64(r + 16);
        e->price = price / 10;
        e->qty = u32(r + 32);
        e->side = (uint8_t)(side1 - 1);
        if (action == VX_MBO_REPLACE) e->ref = e->order_id;
    }
    p->offset += pos;
    c->events += n;
    *consumed = pos;
    *produced = n;
    return st;
}

const vx_dbn_counts *vx_dbn_counts_get(const vx_dbn_parser *p) { return &p->counts; }
uint64_t vx_dbn_offset(const vx_dbn_parser *p) { return p->offset; }
void vx_dbn_set_offset(vx_dbn_parser *p, uint64_t offset) { p->offset = offset; }
uint64_t vx_dbn_error_offset(const vx_dbn_parser *p) { return p->error_offset; }
uint8_t vx_dbn_error_rtype(const vx_dbn_parser *p) { return p->error_rtype; }
const char *vx_dbn_error(const vx_dbn_parser *p) { return p->error ? p->error : ""; }
