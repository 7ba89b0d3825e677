/*
 * dbn.c — DBN MBO record decoder (contract in dbn.h).
 *
 * The loop reads the length byte, checks that the record is whole in the buffer, and only then
 * reads its rtype; an MBO record is further checked to be at least 56 bytes before any field
 * is read, each at a constant offset below 56. So no read can leave the buffer whatever the
 * bytes say.
 *
 * Then the fast path (fast_run) takes the run of records that follows: k of them, as many as
 * fit whole in the buffer at this record's length and in out. Each must have the same two
 * header bytes (length, rtype), an action/side/F_LAST combination found in the parser's
 * table and a whole 1e-8 price; it reads only offsets below 56 of a slot that lies inside the
 * buffer, so a record that fails these checks is left, unread past its slot, to the
 * record-by-record code below, which decides it exactly as before (event, skip or error).
 */
#include "velox/dbn.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dbn.c reads DBN's little-endian fields with plain loads"
#endif

/* The fast path (a run of MBO records that share one header): the 4 bytes at record offset 36
 * (flags, channel_id, action, side) with every bit it ignores set (the channel, the flags
 * other than F_LAST) are a key; a 256-slot table, hashed by multiplication, holds the key of
 * every common combination (action A C M T F, a side the action allows, F_LAST or not) and
 * the event's bytes 40..43 for it (side, action, flags, status 0). A key not in its slot (R,
 * N, anything invalid, or a collision) takes the record-by-record path, which decides. */
typedef struct fast_slot {
    uint32_t key; /* 0: empty (a real key has 0xFF in byte 1) */
    uint32_t ev;  /* vx_mbo bytes 40..43 */
} fast_slot;

struct vx_dbn_parser {
    vx_dbn_counts counts;           /* by_rtype and by_flags kept by the loop; by_action and the
                                       totals derived in vx_dbn_counts_get */
    uint64_t by_action_one[256];    /* MBO records decoded one by one, by action character */
    uint64_t by_slot[256];          /* MBO records decoded through fast[h] */
    fast_slot fast[256];
    uint64_t offset;       /* absolute bytes consumed */
    uint64_t error_offset;
    const char *error;
    uint8_t error_rtype;
    uint8_t ts_event;      /* events carry ts_event, not ts_recv */
    uint64_t events;       /* events written */
};

_Static_assert(sizeof(vx_mbo) == 48, "vx_mbo is 48 bytes");
_Static_assert(VX_DBN_MBO_LEN == 14 * 4, "MboMsg is 14 words");
_Static_assert(offsetof(vx_mbo, side) == 40 && offsetof(vx_mbo, action) == 41 &&
               offsetof(vx_mbo, flags) == 42 && offsetof(vx_mbo, status) == 43 &&
               offsetof(vx_mbo, pad) == 44, "fast_slot.ev and the zero pad are bytes 40..47");

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
static inline uint16_t u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

enum { PREFETCH_AHEAD = 2048 };

static inline uint32_t fast_key(uint32_t at36) { return at36 | 0xFF7Fu; }
/* Fibonacci hashing; this multiplier puts the 26 keys in distinct slots (a collision would
 * only send one combination down the record-by-record path). */
static inline uint32_t fast_hash(uint32_t key) { return (key * 0x9E3779B1u) >> 24; }

/* Whole 1e-8 test and quotient in one multiply: y = price * 5^-1 (mod 2^64) is price / 5 when
 * 5 divides price, and then lies in [-A, A], A = (2^63 - 1) / 5; price / 10 needs y even too.
 * So with K = A - 1 (even): price % 10 == 0 iff rotr(y + K, 1) <= K, and then price / 10 is
 * y / 2 (exact: an arithmetic shift). */
#define INV5 UINT64_C(0xCCCCCCCCCCCCCCCD)
#define WHOLE_K UINT64_C(0x1999999999999998)
_Static_assert(INV5 * 5 == 1, "INV5 is 5's inverse mod 2^64");
_Static_assert(WHOLE_K == (uint64_t)INT64_MAX / 5 - 1, "K = A - 1");
_Static_assert((-2 >> 1) == -1 && (INT64_C(-20) >> 1) == -10, "arithmetic right shift");

static inline int whole_1e8(int64_t price, int64_t *q) {
    uint64_t y = (uint64_t)price * INV5, t = y + WHOLE_K;
    *q = (int64_t)y >> 1;
    return ((t >> 1) | (t << 63)) <= WHOLE_K;
}

vx_status vx_dbn_parser_create(int ts_event, vx_dbn_parser **out) {
    vx_dbn_parser *p = calloc(1, sizeof *p);
    if (!p) return VX_ENOMEM;
    p->ts_event = ts_event != 0;
    static const char acts[] = "ACMTF", sides[] = "BAN";
    for (int a = 0; a < 5; a++)         /* bounded: 5 actions */
        for (int s = 0; s < 3; s++)     /* bounded: 3 sides */
            for (int last = 0; last < 2; last++) { /* bounded: 2 */
                uint8_t action = ACTION[(uint8_t)acts[a]], side1 = SIDE[(uint8_t)sides[s]];
                if ((action == VX_MBO_ADD || action == VX_MBO_MODIFY) &&
                    side1 == VX_SIDE_NONE + 1)
                    continue; /* an error: the record-by-record path says which */
                uint32_t key = fast_key((last ? VX_DBN_F_LAST : 0u) |
                                        (uint32_t)(uint8_t)acts[a] << 16 |
                                        (uint32_t)(uint8_t)sides[s] << 24);
                fast_slot *f = &p->fast[fast_hash(key)];
                if (f->key) continue; /* collision (none with this multiplier) */
                f->key = key;
                f->ev = (uint32_t)(side1 - 1) | (uint32_t)action << 8 |
                        (uint32_t)(last ? VX_MBO_F_LAST : 0) << 16;
            }
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

/* Decode records r[0], r[rlen], ... (k of them, all whole in the buffer, the first an MBO
 * record of rlen >= 56 bytes) into e[0..k) while each has the first one's header and takes
 * the fast path; returns how many did. */
static size_t fast_run(vx_dbn_parser *p, const uint8_t *r, size_t rlen, size_t k, vx_mbo *e,
                       size_t ts_at) {
    const uint16_t hdr = u16(r);
    const fast_slot *fast = p->fast;
    uint64_t *by_slot = p->by_slot, *by_flags = p->counts.by_flags;
    const uint8_t *end = r + k * rlen;
    const vx_mbo *e0 = e;
    for (; r != end; r += rlen, e++) { /* bounded: k records */
        uint32_t key = fast_key(u32(r + 36)), h = fast_hash(key);
        int64_t q;
        if (u16(r) != hdr || fast[h].key != key || !whole_1e8((int64_t)u64(r + 24), &q)) break;
        /* 2 KiB ahead (about 36 records): the hardware prefetcher alone left this loop
         * waiting on DRAM (benchmarks/native/dbn_decode.c: 5.1-5.9 -> 3.9-4.3 ns/record).
         * A prefetch never faults, so past the end of the buffer it is only wasted. */
        __builtin_prefetch((const void *)((uintptr_t)r + PREFETCH_AHEAD));
        by_slot[h]++;
        by_flags[r[36]]++;
        e->ts = u64(r + ts_at);
        e->order_id = u64(r + 16);
        e->price = q;
        e->ref = 0;
        e->qty = u32(r + 32);
        e->instrument = u32(r + 4);
        uint64_t tail = fast[h].ev; /* side, action, flags, status; pad 0 */
        memcpy(&e->side, &tail, 8);
    }
    return (size_t)(e - e0);
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
        /* the run of records with this header that are whole and fit in out */
        size_t k = cap - n, fit = rlen == VX_DBN_MBO_LEN ? (len - pos) / VX_DBN_MBO_LEN
                                                         : (len - pos) / rlen;
        if (k > fit) k = fit;
        size_t done = fast_run(p, r, rlen, k, out + n, ts_at);
        if (done) {
            c->by_rtype[rtype] += done;
            pos += done * rlen;
            n += done;
            continue;
        }
        /* record by record: any action, and each check's own error */
        uint8_t dflags = r[36], act_c = r[38];
        uint8_t action = ACTION[act_c], side1 = SIDE[r[39]];
        int64_t price = (int64_t)u64(r + 24), q = price / 10;
        if (!action || !side1 || q * 10 != price ||
            (side1 == VX_SIDE_NONE + 1 && (action == VX_MBO_ADD || action == VX_MBO_MODIFY))) {
            const char *why = check_mbo(action, side1, price);
            if (why) {
                st = fail(p, p->offset + pos, rtype, why);
                break;
            }
            q = 0; /* UNDEF_PRICE where no price is needed: "not given" */
        }
        c->by_rtype[rtype]++;
        p->by_action_one[act_c]++;
        c->by_flags[dflags]++;
        pos += rlen;
        if (action == NONE_EV) continue;
        vx_mbo *e = &out[n++];
        uint8_t flags = (uint8_t)((dflags & VX_DBN_F_LAST) ? VX_MBO_F_LAST : 0);
        if (action == VX_MBO_CLEAR) {
            *e = (vx_mbo){.ts = u64(r + ts_at), .instrument = u32(r + 4), .side = VX_SIDE_NONE,
                          .action = action, .flags = flags};
            continue;
        }
        *e = (vx_mbo){.ts = u64(r + ts_at), .order_id = u64(r + 16), .price = q,
                      .qty = u32(r + 32), .instrument = u32(r + 4),
                      .side = (uint8_t)(side1 - 1), .action = action, .flags = flags};
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
    for (int a = 0; a < 256; a++) c->by_action[a] = p->by_action_one[a]; /* bounded: 256 */
    for (int h = 0; h < 256; h++) /* bounded: 256 */
        if (p->fast[h].key) c->by_action[(p->fast[h].key >> 16) & 0xFF] += p->by_slot[h];
    c->none = c->by_action['N'];
    c->events = p->events;
    return c;
}
uint64_t vx_dbn_offset(const vx_dbn_parser *p) { return p->offset; }
void vx_dbn_set_offset(vx_dbn_parser *p, uint64_t offset) { p->offset = offset; }
uint64_t vx_dbn_error_offset(const vx_dbn_parser *p) { return p->error_offset; }
uint8_t vx_dbn_error_rtype(const vx_dbn_parser *p) { return p->error_rtype; }
const char *vx_dbn_error(const vx_dbn_parser *p) { return p->error ? p->error : ""; }
