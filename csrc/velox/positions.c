/*
 * velox/positions.c — positions and P&L per instrument (see positions.h for the contract).
 * Every update is computed in 128 bits and stored only when every money figure of the
 * instrument (cash, open cost, fees, realized, position * mark, unrealized, total) fits in
 * int64: an overflow is VX_ERANGE and changes nothing. Single-threaded, no atomics.
 */
#include "velox/positions.h"

#include <stdlib.h>

__extension__ typedef __int128 wide; /* GCC and Clang on every 64-bit target velox builds for */

typedef struct instrument_account {
    int64_t position;
    int64_t cash;
    int64_t open_cost;
    int64_t fees;
    int64_t mark;        /* set by vx_positions_mark (0 = none: the last fill price) */
    int64_t last_fill;   /* price of the last fill (0 before any) */
    uint64_t volume;
    uint64_t fills;
    int traded;
} instrument_account;

struct vx_positions {
    uint32_t instruments;
    instrument_account *accounts;
};

static inline int fits(wide x) {
    return x >= INT64_MIN && x <= INT64_MAX;
}

static inline int64_t mark_of(const instrument_account *a) {
    return a->mark != 0 ? a->mark : a->last_fill;
}

/* Whether an account with these figures has every derived money figure in int64. */
static int figures_fit(wide position, wide cash, wide open_cost, wide fees, wide mark) {
    if (!fits(position) || !fits(cash) || !fits(open_cost) || !fits(fees)) return 0;
    wide value = position * mark; /* |.| < 2^126 */
    wide realized = cash + open_cost;
    wide unrealized = value - open_cost;
    wide total = cash + value - fees;
    return fits(value) && fits(realized) && fits(unrealized) && fits(total);
}

vx_status vx_positions_create(uint32_t instruments, vx_positions **out) {
    if (instruments < 1 || out == NULL) return VX_EINVAL;
    vx_positions *p = calloc(1, sizeof *p);
    if (p == NULL) return VX_ENOMEM;
    p->accounts = calloc(instruments, sizeof *p->accounts);
    if (p->accounts == NULL) {
        free(p);
        return VX_ENOMEM;
    }
    p->instruments = instruments;
    *out = p;
    return VX_OK;
}

void vx_positions_destroy(vx_positions *p) {
    if (p == NULL) return;
    free(p->accounts);
    free(p);
}

vx_status vx_positions_fill(vx_positions *p, uint32_t instrument, int side, int64_t price,
                            uint32_t lots, int64_t fee) {
    if (instrument >= p->instruments || (side != VX_BUY && side != VX_SELL)) return VX_EINVAL;
    if (price <= 0 || lots == 0) return VX_EINVAL;
    instrument_account *a = &p->accounts[instrument];
    wide d = side == VX_BUY ? (wide)lots : -(wide)lots;
    wide pos = a->position;
    wide new_pos = pos + d;
    wide cash = (wide)a->cash - d * price;
    wide open_cost = a->open_cost;
    if (pos == 0 || (pos > 0) == (d > 0)) {
        open_cost += d * price;                        /* grows the position */
    } else if (new_pos == 0) {
        open_cost = 0;                                 /* closes it exactly */
    } else if ((new_pos > 0) == (pos > 0)) {
        wide abs_pos = pos < 0 ? -pos : pos;           /* reduces it: average cost */
        wide abs_d = d < 0 ? -d : d;
        open_cost -= open_cost * abs_d / abs_pos;      /* truncated toward zero */
    } else {
        open_cost = new_pos * price;                   /* flips: the rest opens at price */
    }
    wide fees = (wide)a->fees + fee;
    if (!figures_fit(new_pos, cash, open_cost, fees, a->mark != 0 ? a->mark : price))
        return VX_ERANGE;
    a->position = (int64_t)new_pos;
    a->cash = (int64_t)cash;
    a->open_cost = (int64_t)open_cost;
    a->fees = (int64_t)fees;
    a->last_fill = price;
    a->volume += lots;
    a->fills++;
    a->traded = 1;
    return VX_OK;
}

vx_status vx_positions_fee(vx_positions *p, uint32_t instrument, int64_t fee) {
    if (instrument >= p->instruments) return VX_EINVAL;
    instrument_account *a = &p->accounts[instrument];
    wide fees = (wide)a->fees + fee;
    if (!figures_fit(a->position, a->cash, a->open_cost, fees, mark_of(a))) return VX_ERANGE;
    a->fees = (int64_t)fees;
    return VX_OK;
}

vx_status vx_positions_mark(vx_positions *p, uint32_t instrument, int64_t mark) {
    if (instrument >= p->instruments || mark < 0) return VX_EINVAL;
    instrument_account *a = &p->accounts[instrument];
    int64_t effective = mark != 0 ? mark : a->last_fill;
    if (!figures_fit(a->position, a->cash, a->open_cost, a->fees, effective)) return VX_ERANGE;
    a->mark = mark;
    return VX_OK;
}

static void get_account(const instrument_account *a, vx_position *out) {
    int64_t mark = mark_of(a);
    vx_position r = {0};
    r.position = a->position;
    r.avg_price = a->position != 0 ? a->open_cost / a->position : 0;
    r.realized = a->cash + a->open_cost;
    r.unrealized = a->position * mark - a->open_cost; /* fits: checked at every update */
    r.fees = a->fees;
    r.mark = mark;
    r.volume = a->volume;
    r.fills = a->fills;
    *out = r;
}

vx_status vx_positions_get(const vx_positions *p, uint32_t instrument, vx_position *out) {
    if (instrument >= p->instruments) return VX_EINVAL;
    get_account(&p->accounts[instrument], out);
    return VX_OK;
}

vx_status vx_positions_get_marked(const vx_positions *p, uint32_t instrument, int64_t mark,
                                  vx_position *out) {
    if (instrument >= p->instruments || mark < 0) return VX_EINVAL;
    instrument_account a = p->accounts[instrument];
    int64_t effective = mark != 0 ? mark : a.last_fill;
    if (figures_fit(a.position, a.cash, a.open_cost, a.fees, effective)) a.mark = mark;
    get_account(&a, out);
    return VX_OK;
}

int64_t vx_positions_total(const vx_positions *p) {
    wide total = 0;
    for (uint32_t i = 0; i < p->instruments; i++) { /* bounded: instruments */
        const instrument_account *a = &p->accounts[i];
        total += (wide)a->cash + (wide)a->position * mark_of(a) - a->fees;
    }
    if (total > INT64_MAX) return INT64_MAX;
    if (total < INT64_MIN) return INT64_MIN;
    return (int64_t)total;
}

int vx_positions_traded(const vx_positions *p, uint32_t instrument) {
    return instrument < p->instruments && p->accounts[instrument].traded;
}
