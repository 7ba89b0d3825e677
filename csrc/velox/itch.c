/*
 * itch.c — ITCH 5.0 parser and writer (contract in itch.h).
 *
 * The careful loop (vx_itch_parse's body) reads a 2-byte length, checks that the whole message
 * is in the buffer, looks up the type's fixed length (a 256-entry table; 0 = not an ITCH 5.0
 * type) and compares, and only then reads fields, each at a constant offset below that fixed
 * length. So no field read can leave the buffer whatever the bytes say.
 *
 * The fast loop (fast_run) takes the order messages (A F E C X D U P) while at least
 * FAST_WINDOW bytes (2 + P's length, the longest of them) are left from a message's length
 * prefix: then every read below FAST_WINDOW is inside the buffer, so one compare of the prefix
 * and type byte against the type's row validates a message, and fields are read at the row's
 * offsets without branching on the type (masks zero what the type lacks; the order types'
 * random sequence would mispredict a switch on most messages). Reads may go past a short
 * message's end, never past FAST_WINDOW, and only masked bytes come from there. Anything else
 * (an other type, a length that differs, an unknown type, an A/F side other than B/S) leaves
 * the fast loop before that message is consumed and the careful loop takes it, with its
 * errors, so both loops give the same events, counts and errors.
 */
#include "velox/itch.h"
#include "velox/bigendian.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct vx_itch_parser {
    vx_itch_counts counts;
    uint64_t offset;                 /* absolute bytes consumed */
    uint64_t error_offset;
    const char *error;
    uint8_t error_type;
    uint8_t filter_on;
    uint8_t route_on;                /* events carry the wanted index, not the locate */
    uint8_t known[VX_ITCH_LOCATES];  /* 1 = directory entry present */
    /* filter_on: 0 = events of this locate are filtered, else 1 + the index (in the caller's
     * list) of the wanted symbol the locate's latest R message named */
    uint32_t book[VX_ITCH_LOCATES];
    char symbols[VX_ITCH_LOCATES][VX_ITCH_SYMBOL_LEN];
    uint8_t named[VX_ITCH_MAX_WANTED]; /* by the caller's index: an R has named it */
    size_t n_wanted;
    struct wanted { uint64_t key; uint32_t index; } wanted[]; /* sorted by key (8-byte symbol
                                                                  as a big-endian integer) */
};

/* Fixed lengths, type byte included (NASDAQ TotalView-ITCH 5.0 specification). The order
 * messages' lengths are named: the fast loop's window is derived from them. */
enum { LEN_A = 36, LEN_F = 40, LEN_E = 31, LEN_C = 36, LEN_X = 23, LEN_D = 19, LEN_U = 35,
       LEN_P = 44 };
const uint8_t vx_itch_fixed_length[256] = {
    ['S'] = 12, ['R'] = 39, ['H'] = 25, ['Y'] = 20, ['L'] = 26, ['V'] = 35, ['W'] = 12,
    ['K'] = 28, ['J'] = 35, ['h'] = 21, ['A'] = LEN_A, ['F'] = LEN_F, ['E'] = LEN_E,
    ['C'] = LEN_C, ['X'] = LEN_X, ['D'] = LEN_D, ['U'] = LEN_U, ['P'] = LEN_P, ['Q'] = 40,
    ['B'] = 19, ['I'] = 50, ['N'] = 20, ['O'] = 48,
};
_Static_assert(sizeof(vx_mbo) == 48, "vx_mbo is 48 bytes");

#define LEN vx_itch_fixed_length
size_t vx_itch_message_length(uint8_t type) { return LEN[type]; }

static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v) { v = __builtin_bswap32(v); memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { v = __builtin_bswap64(v); memcpy(p, &v, 8); }
static inline void put48(uint8_t *p, uint64_t v) { put16(p, (uint16_t)(v >> 32)); put32(p + 2, (uint32_t)v); }

vx_status vx_itch_parser_create(vx_itch_parser **out) {
    if (!out) return VX_EINVAL;
    vx_itch_parser *p = calloc(1, sizeof *p + VX_ITCH_MAX_WANTED * sizeof(struct wanted));
    if (!p) return VX_ENOMEM;
    p->error = "";
    *out = p;
    return VX_OK;
}

void vx_itch_parser_destroy(vx_itch_parser *p) { free(p); }

void vx_itch_parser_reset(vx_itch_parser *p) {
    memset(p, 0, sizeof *p);
    p->error = "";
}

static int cmp_wanted(const void *a, const void *b) {
    const struct wanted *x = a, *y = b;
    if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
    return (x->index > y->index) - (x->index < y->index);
}

/* 1 + the wanted index of an 8-byte symbol, 0 when not wanted (binary search: bounded by
 * log2(n_wanted) + 1 steps). */
static uint32_t wanted_book(const vx_itch_parser *p, const uint8_t *symbol) {
    uint64_t key = vx_be64(symbol);
    size_t lo = 0, hi = p->n_wanted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->wanted[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < p->n_wanted && p->wanted[lo].key == key ? p->wanted[lo].index + 1 : 0;
}

static vx_status select_symbols(vx_itch_parser *p, const char *symbols, size_t n, int route) {
    if (!p || n > VX_ITCH_MAX_WANTED || (n && !symbols)) return VX_EINVAL;
    for (size_t i = 0; i < n; i++) {
        p->wanted[i].key = vx_be64((const uint8_t *)symbols + 8 * i);
        p->wanted[i].index = (uint32_t)i;
    }
    qsort(p->wanted, n, sizeof p->wanted[0], cmp_wanted);
    int dup = 0;
    for (size_t i = 1; i < n; i++) dup |= p->wanted[i].key == p->wanted[i - 1].key;
    if (route && dup) n = 0; /* which book would a repeated symbol's events go to? */
    p->n_wanted = n;
    p->filter_on = n > 0;
    p->route_on = route && n > 0;
    memset(p->book, 0, sizeof p->book);
    memset(p->named, 0, sizeof p->named);
    /* locates already in the directory */
    for (size_t loc = 0; loc < VX_ITCH_LOCATES && p->filter_on; loc++) {
        if (p->known[loc]) p->book[loc] = wanted_book(p, (const uint8_t *)p->symbols[loc]);
        if (p->book[loc]) p->named[p->book[loc] - 1] = 1;
    }
    return route && dup ? VX_EINVAL : VX_OK;
}

vx_status vx_itch_filter_symbols(vx_itch_parser *p, const char *symbols, size_t n) {
    return select_symbols(p, symbols, n, 0);
}

vx_status vx_itch_route_symbols(vx_itch_parser *p, const char *symbols, size_t n) {
    return select_symbols(p, symbols, n, 1);
}

static inline vx_status fail(vx_itch_parser *p, size_t pos, uint8_t type, const char *why) {
    p->error_offset = p->offset + pos;
    p->error_type = type;
    p->error = why;
    return VX_EINVAL;
}

static inline void base(vx_mbo *e, const uint8_t *m, uint8_t action) {
    memset(e, 0, sizeof *e);
    e->instrument = vx_be16(m + 1);
    e->ts = vx_be48(m + 5);
    e->action = action;
}

/* ---- fast loop (order messages; see the top comment) ------------------------------------ */

enum {
    FAST_WINDOW = 2 + LEN_P,  /* bytes readable from a length prefix on: 2 + the longest fast type */
    FAST_MIN_SIZE = 2 + LEN_D /* the fewest bytes a message the fast loop consumes takes */
};
_Static_assert(LEN_A <= LEN_P && LEN_F <= LEN_P && LEN_E <= LEN_P && LEN_C <= LEN_P &&
               LEN_X <= LEN_P && LEN_U <= LEN_P && LEN_D <= LEN_P, "FAST_WINDOW covers every fast type");
_Static_assert(LEN_A >= LEN_D && LEN_F >= LEN_D && LEN_E >= LEN_D && LEN_C >= LEN_D &&
               LEN_X >= LEN_D && LEN_U >= LEN_D && LEN_P >= LEN_D, "FAST_MIN_SIZE is the shortest");
/* Reads of every row, from the message's type byte: ts 8 bytes at 5 (2 of them masked off by the
 * shift), order_id 8 at 11, the side byte 19, the printable byte 31, a qty 4 at qty_at, a price
 * 4 at price_at, a ref 8 at ref_at; the largest of these ends at P's ref, 36 + 8 = LEN_P. */
_Static_assert(5 + 8 <= LEN_P && 11 + 8 <= LEN_P && 31 + 1 <= LEN_P && 36 + 8 <= LEN_P,
               "every fast read is inside FAST_WINDOW");

/* The first 3 bytes of a message (big-endian length prefix, type byte) as a host-order 32-bit
 * load of them reads, under KEY_MASK. A row's key can only match its own type byte; KEY_NEVER
 * matches nothing (row 0: an all-zero key would match a zero length before a 0 byte). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define KEY_MASK 0xFFFFFF00u
#define KEY(len, type) ((uint32_t)(len) << 16 | (uint32_t)(type) << 8)
#else
#define KEY_MASK 0x00FFFFFFu
#define KEY(len, type) ((uint32_t)(len) << 8 | (uint32_t)(type) << 16)
#endif
#define KEY_NEVER 0xFFFFFFFFu

/* The event is stored as 6 host-order words: ts, order_id, price, ref, then qty and instrument
 * (offsets 32, 36) in one word and side, action, flags, status, pad (offsets 40..47) in one.
 * AT32(i) / AT8(i): the shift of the i-th 4-byte / 1-byte piece of a word in host order. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define AT32(i) (32 - 32 * (i))
#define AT8(i) (56 - 8 * (i))
#else
#define AT32(i) (32 * (i))
#define AT8(i) (8 * (i))
#endif
_Static_assert(offsetof(vx_mbo, qty) == 32 && offsetof(vx_mbo, instrument) == 36 &&
               offsetof(vx_mbo, side) == 40 && offsetof(vx_mbo, action) == 41 &&
               offsetof(vx_mbo, flags) == 42 && offsetof(vx_mbo, status) == 43 &&
               offsetof(vx_mbo, pad) == 44, "the fast loop's word layout");

/* One row per type byte; zero rows (every type but the order messages) never match. A row
 * reads the message's fields at its offsets and masks off those its type does not carry. */
struct fast_type {
    uint64_t size;       /* 2 + fixed length: the bytes the message takes */
    uint64_t tail;       /* the side..pad word before the code's part: action, VX_SIDE_NONE for
                            types without a side */
    uint64_t code_keep;  /* the part of CODE[m[code_at]] the tail takes (side, or C's flags) */
    uint64_t code_check; /* A/F: a code with this bit (side byte not B/S) leaves the loop */
    uint64_t ref_mask;   /* all ones when the type carries a reference at ref_at, else 0 */
    uint32_t key;        /* KEY(fixed length, type) */
    uint32_t qty_mask;   /* as ref_mask, for the 4-byte shares at qty_at */
    uint32_t price_mask; /* as ref_mask, for the 4-byte price at price_at */
    uint8_t qty_at, price_at, ref_at, code_at; /* offsets from the type byte; 0 where masked */
    uint8_t unused[8];
};
_Static_assert(sizeof(struct fast_type) == 64, "fast rows are 64 bytes");

#define TAIL(action, side) ((uint64_t)(action) << AT8(1) | (uint64_t)(side) << AT8(0))
#define SIDE_BYTE(x) ((uint64_t)(x) << AT8(0))
#define FLAGS_BYTE(x) ((uint64_t)(x) << AT8(2))
#define ALL32 0xFFFFFFFFu
#define ALL64 0xFFFFFFFFFFFFFFFFull
#define ADD_ROW(len, t) { .key = KEY(len, t), .size = 2 + (len), .tail = TAIL(VX_MBO_ADD, 0), \
    .code_at = 19, .code_keep = SIDE_BYTE(0x7f), .code_check = SIDE_BYTE(0x80), \
    .qty_mask = ALL32, .qty_at = 20, .price_mask = ALL32, .price_at = 32 }
#define SIDELESS(len, t, action) .key = KEY(len, t), .size = 2 + (len), \
    .tail = TAIL(action, VX_SIDE_NONE)
static const struct fast_type FAST[256] = {
    [0] = { .key = KEY_NEVER },
    ['A'] = ADD_ROW(LEN_A, 'A'),
    ['F'] = ADD_ROW(LEN_F, 'F'),
    ['E'] = { SIDELESS(LEN_E, 'E', VX_MBO_EXECUTE), .qty_mask = ALL32, .qty_at = 19,
              .ref_mask = ALL64, .ref_at = 23 },
    ['C'] = { SIDELESS(LEN_C, 'C', VX_MBO_EXECUTE), .qty_mask = ALL32, .qty_at = 19,
              .price_mask = ALL32, .price_at = 32, .ref_mask = ALL64, .ref_at = 23,
              .code_at = 31, .code_keep = FLAGS_BYTE(0xff) },
    ['X'] = { SIDELESS(LEN_X, 'X', VX_MBO_CANCEL), .qty_mask = ALL32, .qty_at = 19 },
    ['D'] = { SIDELESS(LEN_D, 'D', VX_MBO_DELETE) },
    ['U'] = { SIDELESS(LEN_U, 'U', VX_MBO_REPLACE), .qty_mask = ALL32, .qty_at = 27,
              .price_mask = ALL32, .price_at = 31, .ref_mask = ALL64, .ref_at = 19 },
    ['P'] = { .key = KEY(LEN_P, 'P'), .size = 2 + LEN_P, .tail = TAIL(VX_MBO_TRADE, 0),
              .code_at = 19, .code_keep = SIDE_BYTE(0x7f), .qty_mask = ALL32, .qty_at = 20,
              .price_mask = ALL32, .price_at = 32, .ref_mask = ALL64, .ref_at = 36 },
};
#undef ADD_ROW
#undef SIDELESS

/* A side or printable byte -> its part of the side..pad word: B, S -> side VX_BUY, VX_SELL;
 * Y -> flags VX_MBO_F_PRINTABLE and side 0x80 | VX_SIDE_NONE; anything else -> side
 * 0x80 | VX_SIDE_NONE (A/F leave the loop on the 0x80 bit; P keeps VX_SIDE_NONE; C keeps only
 * the flags). */
#define NO SIDE_BYTE(0x80 | VX_SIDE_NONE)
#define R16 NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO
static const uint64_t CODE[256] = {
    R16, R16, R16, R16,                                                   /* 0x00 - 0x3f */
    NO, NO, SIDE_BYTE(VX_BUY), NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, /* 0x40 */
    NO, NO, NO, SIDE_BYTE(VX_SELL), NO, NO, NO, NO,                       /* 0x50 - 0x57 */
    NO, NO | FLAGS_BYTE(VX_MBO_F_PRINTABLE), NO, NO, NO, NO, NO, NO,      /* 0x58 - 0x5f */
    R16, R16,                                                             /* 0x60 - 0x7f */
    R16, R16, R16, R16, R16, R16, R16, R16,                               /* 0x80 - 0xff */
};
#undef R16
#undef NO
_Static_assert('B' == 0x42 && 'S' == 0x53 && 'Y' == 0x59, "CODE rows are ASCII");
_Static_assert(VX_BUY < 0x80 && VX_SELL < 0x80 && VX_SIDE_NONE < 0x80, "side codes fit 0x7f");

/* The i-th 8-byte word of an event. */
static inline void put_word(vx_mbo *e, size_t i, uint64_t v) { memcpy((char *)e + 8 * i, &v, 8); }

/* Whole messages of the fast types from buf[pos..) into out[*k..cap) while FAST_WINDOW bytes
 * are left and the events fit; returns the new pos (a message it does not take stays there for
 * the careful loop). *at_stop = 1 when it ran to that bound rather than to such a message.
 * filter/route are the parser's, passed as constants (one copy each). */
static inline __attribute__((always_inline)) size_t
fast_run(vx_itch_parser *p, const uint8_t *buf, size_t len, size_t pos, vx_mbo *out, size_t *k,
         size_t cap, int *at_stop, const int filter, const int route) {
    *at_stop = 0;
    if (len - pos < FAST_WINDOW) return pos;
    /* q < stop: FAST_WINDOW bytes from q on; and since each message moves q by
     * >= FAST_MIN_SIZE and writes <= 1 event, k < cap at every pass */
    size_t room = len - pos - FAST_WINDOW + 1;
    if (room / FAST_MIN_SIZE >= cap - *k) room = (cap - *k) * FAST_MIN_SIZE;
    const uint8_t *q = buf + pos, *const stop = buf + pos + room;
    vx_mbo *e = out + *k, *const e0 = e;
    uint64_t filtered = 0, *const by_type = p->counts.by_type;
    while (q < stop) { /* bounded: each pass moves q by >= FAST_MIN_SIZE or leaves */
        uint32_t head;
        memcpy(&head, q, 4);
        const uint8_t type = q[2];
        const struct fast_type *d = &FAST[type];
        if ((head & KEY_MASK) != d->key) break;      /* not a fast type, or a wrong length */
        const uint8_t *m = q + 2;
        const uint64_t code = CODE[m[d->code_at]];
        if (code & d->code_check) break;             /* A/F side not B/S: the careful loop says so */
        uint32_t instrument = vx_be16(m + 1);
        by_type[type]++;
        q += d->size;
        if (filter) {
            uint32_t book = p->book[instrument];
            if (book == 0) { filtered++; continue; }
            if (route) instrument = book - 1;
        }
        put_word(e, 0, vx_be64(m + 5) >> 16);                                 /* ts */
        put_word(e, 1, vx_be64(m + 11));                                      /* order_id */
        put_word(e, 2, (uint64_t)(vx_be32(m + d->price_at) & d->price_mask) * 10000); /* price */
        put_word(e, 3, vx_be64(m + d->ref_at) & d->ref_mask);                 /* ref */
        put_word(e, 4, (uint64_t)(vx_be32(m + d->qty_at) & d->qty_mask) << AT32(0) |
                           (uint64_t)instrument << AT32(1));                  /* qty, instrument */
        put_word(e, 5, d->tail | (code & d->code_keep));                      /* side .. pad */
        e++;
    }
    *at_stop = q >= stop; /* then q moved: stop > buf + pos */
    p->counts.messages += (uint64_t)(e - e0) + filtered;
    p->counts.filtered += filtered;
    *k = (size_t)(e - out);
    return (size_t)(q - buf);
}

vx_status vx_itch_parse(vx_itch_parser *p, const uint8_t *buf, size_t len, vx_mbo *out,
                        size_t cap, size_t *consumed, size_t *produced) {
    size_t pos = 0, k = 0;
    vx_status st = VX_OK;
    vx_itch_counts *c = &p->counts;
    const int filter = p->filter_on, route = p->route_on;
    /* bounded: each pass consumes >= 3 bytes (fast messages, or the careful one) or leaves */
    while (k < cap && len - pos >= 2) {
        int at_stop;
        if (!filter) pos = fast_run(p, buf, len, pos, out, &k, cap, &at_stop, 0, 0);
        else if (!route) pos = fast_run(p, buf, len, pos, out, &k, cap, &at_stop, 1, 0);
        else pos = fast_run(p, buf, len, pos, out, &k, cap, &at_stop, 1, 1);
        if (at_stop) continue; /* it ran to its bound (having consumed): again */
        if (len - pos < 2) break;
        /* the careful loop: one message (one the fast loop did not take, or near the end) */
        size_t mlen = vx_be16(buf + pos);
        if (mlen == 0) { st = fail(p, pos, 0, "zero message length"); break; }
        if (len - pos - 2 < mlen) break; /* incomplete: resume here with more bytes */
        const uint8_t *m = buf + pos + 2;
        uint8_t type = m[0];
        size_t want = LEN[type];
        if (want == 0) { /* not an ITCH 5.0 type: skip by its prefix */
            c->unknown++;
            c->by_type[type]++;
            c->messages++;
            pos += 2 + mlen;
            continue;
        }
        if (mlen != want) { st = fail(p, pos, type, "message length differs from its type's fixed length"); break; }
        vx_mbo *e = &out[k];
        int ev = 1;
        switch (type) {
        case 'A':
        case 'F': {
            uint8_t s = m[19];
            if (s != 'B' && s != 'S') { st = fail(p, pos, type, "add order side is not 'B' or 'S'"); goto done; }
            base(e, m, VX_MBO_ADD);
            e->order_id = vx_be64(m + 11);
            e->side = s == 'B' ? VX_BUY : VX_SELL;
            e->qty = vx_be32(m + 20);
            e->price = (int64_t)vx_be32(m + 32) * 10000;
            break;
        }
        case 'E':
            base(e, m, VX_MBO_EXECUTE);
            e->side = VX_SIDE_NONE;
            e->order_id = vx_be64(m + 11);
            e->qty = vx_be32(m + 19);
            e->ref = vx_be64(m + 23);
            break;
        case 'C':
            base(e, m, VX_MBO_EXECUTE);
            e->side = VX_SIDE_NONE;
            e->order_id = vx_be64(m + 11);
            e->qty = vx_be32(m + 19);
            e->ref = vx_be64(m + 23);
            e->flags = m[31] == 'Y' ? VX_MBO_F_PRINTABLE : 0;
            e->price = (int64_t)vx_be32(m + 32) * 10000;
            break;
        case 'X':
            base(e, m, VX_MBO_CANCEL);
            e->side = VX_SIDE_NONE;
            e->order_id = vx_be64(m + 11);
            e->qty = vx_be32(m + 19);
            break;
        case 'D':
            base(e, m, VX_MBO_DELETE);
            e->side = VX_SIDE_NONE;
            e->order_id = vx_be64(m + 11);
            break;
        case 'U':
            base(e, m, VX_MBO_REPLACE);
            e->side = VX_SIDE_NONE;
            e->order_id = vx_be64(m + 11);
            e->ref = vx_be64(m + 19);
            e->qty = vx_be32(m + 27);
            e->price = (int64_t)vx_be32(m + 31) * 10000;
            break;
        case 'P': {
            uint8_t s = m[19];
            base(e, m, VX_MBO_TRADE);
            e->order_id = vx_be64(m + 11);
            e->side = s == 'B' ? VX_BUY : s == 'S' ? VX_SELL : VX_SIDE_NONE;
            e->qty = vx_be32(m + 20);
            e->price = (int64_t)vx_be32(m + 32) * 10000;
            e->ref = vx_be64(m + 36);
            break;
        }
        case 'Q': {
            uint64_t shares = vx_be64(m + 11);
            if (shares > UINT32_MAX) { st = fail(p, pos, type, "cross shares exceed 2^32-1"); goto done; }
            base(e, m, VX_MBO_CROSS);
            e->side = VX_SIDE_NONE;
            e->qty = (uint32_t)shares;
            e->price = (int64_t)vx_be32(m + 27) * 10000;
            e->ref = vx_be64(m + 31);
            e->status = m[39];
            break;
        }
        case 'B':
            base(e, m, VX_MBO_BROKEN);
            e->side = VX_SIDE_NONE;
            e->ref = vx_be64(m + 11);
            break;
        case 'S':
            base(e, m, VX_MBO_STATUS);
            e->side = VX_SIDE_NONE;
            e->flags = VX_MBO_F_SYSTEM;
            e->status = m[11];
            break;
        case 'H':
            base(e, m, VX_MBO_STATUS);
            e->side = VX_SIDE_NONE;
            e->status = m[19];
            break;
        case 'R': {
            uint16_t loc = vx_be16(m + 1);
            if (loc == 0) { st = fail(p, pos, type, "stock directory (R) at locate 0 (stock locates start at 1)"); goto done; }
            memcpy(p->symbols[loc], m + 11, VX_ITCH_SYMBOL_LEN);
            p->known[loc] = 1;
            if (filter) { /* from here on (a rename too) */
                p->book[loc] = wanted_book(p, m + 11);
                if (p->book[loc]) p->named[p->book[loc] - 1] = 1;
            }
            ev = 0;
            break;
        }
        default:
            c->skipped++;
            ev = 0;
            break;
        }
        c->by_type[type]++;
        c->messages++;
        pos += 2 + mlen;
        if (ev) {
            if (!filter || type == 'S') {
                if (route) e->instrument = 0; /* S: a system event; book 0 (no book effect) */
                k++;
            } else if (p->book[e->instrument] == 0) {
                c->filtered++;
            } else {
                if (route) e->instrument = p->book[e->instrument] - 1;
                k++;
            }
        }
    }
done:
    c->events += k;
    p->offset += pos;
    *consumed = pos;
    *produced = k;
    return st;
}

const vx_itch_counts *vx_itch_counts_get(const vx_itch_parser *p) { return &p->counts; }
uint64_t vx_itch_offset(const vx_itch_parser *p) { return p->offset; }
uint64_t vx_itch_error_offset(const vx_itch_parser *p) { return p->error_offset; }
uint8_t vx_itch_error_type(const vx_itch_parser *p) { return p->error_type; }
const char *vx_itch_error(const vx_itch_parser *p) { return p->error; }

int vx_itch_wanted_named(const vx_itch_parser *p, size_t i) {
    return i < p->n_wanted && p->named[i];
}

int vx_itch_symbol(const vx_itch_parser *p, uint16_t locate, char out[VX_ITCH_SYMBOL_LEN]) {
    if (!p->known[locate]) return 0;
    memcpy(out, p->symbols[locate], VX_ITCH_SYMBOL_LEN);
    return 1;
}

/* ---- writer ----------------------------------------------------------------------------- */

static inline int price4(int64_t price, uint32_t *out) {
    if (price < 0 || price % 10000 != 0 || price / 10000 > UINT32_MAX) return 0;
    *out = (uint32_t)(price / 10000);
    return 1;
}

static inline void head(uint8_t *w, uint8_t type, const vx_mbo *e) {
    put16(w, LEN[type]);
    w[2] = type;
    put16(w + 3, (uint16_t)e->instrument);
    put16(w + 5, 0);
    put48(w + 7, e->ts);
}

vx_status vx_itch_write(const vx_mbo *events, size_t n, const char *symbols, size_t n_symbols,
                        uint8_t *out, size_t cap, size_t *done, size_t *written) {
    size_t pos = 0, i = 0;
    vx_status st = VX_OK;
    for (; i < n; i++) {
        const vx_mbo *e = &events[i];
        uint8_t type;
        switch (e->action) {
        case VX_MBO_ADD: type = 'A'; break;
        case VX_MBO_EXECUTE: type = e->price ? 'C' : 'E'; break;
        case VX_MBO_CANCEL: type = 'X'; break;
        case VX_MBO_DELETE: type = 'D'; break;
        case VX_MBO_REPLACE: type = 'U'; break;
        case VX_MBO_TRADE: type = 'P'; break;
        case VX_MBO_CROSS: type = 'Q'; break;
        case VX_MBO_BROKEN: type = 'B'; break;
        case VX_MBO_STATUS: type = (e->flags & VX_MBO_F_SYSTEM) ? 'S' : 'H'; break;
        default: st = VX_EINVAL; goto out;
        }
        if (e->ts >> 48 || e->instrument > 65535 || vx_mbo_validate(e) != VX_FIELD_NONE) { st = VX_EINVAL; goto out; }
        if ((type == 'A' || type == 'P' || type == 'Q' || type == 'H') && e->instrument >= n_symbols) {
            st = VX_EINVAL;
            goto out;
        }
        size_t need = 2 + (size_t)LEN[type];
        if (cap - pos < need) break;
        uint8_t *w = out + pos;
        uint32_t px = 0;
        const uint8_t *sym = (const uint8_t *)symbols + 8 * (size_t)e->instrument;
        head(w, type, e);
        uint8_t *m = w + 2;
        switch (type) {
        case 'A':
            if (!price4(e->price, &px)) { st = VX_EINVAL; goto out; }
            put64(m + 11, e->order_id);
            m[19] = e->side == VX_BUY ? 'B' : 'S';
            put32(m + 20, e->qty);
            memcpy(m + 24, sym, 8);
            put32(m + 32, px);
            break;
        case 'E':
        case 'C':
            put64(m + 11, e->order_id);
            put32(m + 19, e->qty);
            put64(m + 23, e->ref);
            if (type == 'C') {
                if (!price4(e->price, &px)) { st = VX_EINVAL; goto out; }
                m[31] = (e->flags & VX_MBO_F_PRINTABLE) ? 'Y' : 'N';
                put32(m + 32, px);
            }
            break;
        case 'X':
            put64(m + 11, e->order_id);
            put32(m + 19, e->qty);
            break;
        case 'D':
            put64(m + 11, e->order_id);
            break;
        case 'U':
            if (!price4(e->price, &px)) { st = VX_EINVAL; goto out; }
            put64(m + 11, e->order_id);
            put64(m + 19, e->ref);
            put32(m + 27, e->qty);
            put32(m + 31, px);
            break;
        case 'P':
            if (!price4(e->price, &px)) { st = VX_EINVAL; goto out; }
            put64(m + 11, e->order_id);
            m[19] = e->side == VX_BUY ? 'B' : e->side == VX_SELL ? 'S' : ' ';
            put32(m + 20, e->qty);
            memcpy(m + 24, sym, 8);
            put32(m + 32, px);
            put64(m + 36, e->ref);
            break;
        case 'Q':
            if (!price4(e->price, &px)) { st = VX_EINVAL; goto out; }
            put64(m + 11, e->qty);
            memcpy(m + 19, sym, 8);
            put32(m + 27, px);
            put64(m + 31, e->ref);
            m[39] = e->status ? e->status : 'O';
            break;
        case 'B':
            put64(m + 11, e->ref);
            break;
        case 'S':
            m[11] = e->status;
            break;
        case 'H':
            memcpy(m + 11, sym, 8);
            m[19] = e->status;
            m[20] = ' ';
            memcpy(m + 21, "    ", 4);
            break;
        }
        pos += need;
    }
out:
    *done = i;
    *written = pos;
    return st;
}

vx_status vx_itch_write_directory(uint16_t locate, uint64_t ts, const char *symbol,
                                  uint8_t *out, size_t cap, size_t *written) {
    if (cap < 41 || ts >> 48) return VX_EINVAL;
    uint8_t *w = out;
    memset(w, 0, 41);
    put16(w, 39);
    uint8_t *m = w + 2;
    m[0] = 'R';
    put16(m + 1, locate);
    put48(m + 5, ts);
    memcpy(m + 11, symbol, 8);
    m[19] = 'Q';        /* market category */
    m[20] = 'N';        /* financial status */
    put32(m + 21, 100); /* round lot size */
    m[25] = 'N';        /* round lots only */
    m[26] = 'C';        /* issue classification */
    m[27] = 'Z'; m[28] = ' '; /* issue sub-type */
    m[29] = 'P';        /* authenticity */
    m[30] = 'N';        /* short sale threshold */
    m[31] = 'N';        /* IPO flag */
    m[32] = '1';        /* LULD reference price tier */
    m[33] = 'N';        /* ETP flag */
    put32(m + 34, 0);   /* ETP leverage factor */
    m[38] = 'N';        /* inverse indicator */
    *written = 41;
    return VX_OK;
}
