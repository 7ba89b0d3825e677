/*
 * fake_positions.h — positions.h's contract in a few lines with a switch that miscounts
 * (fake_positions_skew), so a test can watch the host's conservation check catch a wrong
 * count (include it once in the test; do not list positions in the test's deps).
 * Average-cost accounting as positions.h states it (marks > 0 only).
 */
#ifndef VELOX_TESTS_FAKE_POSITIONS_H
#define VELOX_TESTS_FAKE_POSITIONS_H

#include <stdlib.h>

#include "velox/positions.h"

/* Tests set it to make every fill count one lot too many (a corrupt count). */
static int fake_positions_skew;

struct fake_position {
    int64_t position, cash, open_cost, fees, mark, last_fill;
    uint64_t volume, fills;
    int traded;
};
struct vx_positions {
    uint32_t n;
    struct fake_position p[];
};

vx_status vx_positions_create(uint32_t instruments, vx_positions **out) {
    if (instruments == 0) return VX_EINVAL;
    vx_positions *p = calloc(1, sizeof *p + instruments * sizeof(struct fake_position));
    if (!p) return VX_ENOMEM;
    p->n = instruments;
    *out = p;
    return VX_OK;
}
void vx_positions_destroy(vx_positions *p) { free(p); }

vx_status vx_positions_fill(vx_positions *ps, uint32_t instrument, int side, int64_t price,
                            uint32_t lots, int64_t fee) {
    if (instrument >= ps->n || (side != VX_BUY && side != VX_SELL)) return VX_EINVAL;
    struct fake_position *p = &ps->p[instrument];
    int64_t sign = side == VX_BUY ? 1 : -1;
    int64_t rest = lots;
    if (p->position != 0 && (p->position > 0) != (sign > 0)) {
        int64_t held = p->position < 0 ? -p->position : p->position;
        int64_t closing = rest < held ? rest : held;
        p->open_cost -= (int64_t)((__int128)p->open_cost * closing / held);
        p->position += sign * closing;
        rest -= closing;
    }
    p->open_cost += sign * price * rest;
    p->position += sign * rest;
    p->position += fake_positions_skew;
    p->cash -= sign * price * (int64_t)lots;
    p->fees += fee;
    p->volume += lots;
    p->fills++;
    p->traded = 1;
    return VX_OK;
}
vx_status vx_positions_fee(vx_positions *ps, uint32_t instrument, int64_t fee) {
    if (instrument >= ps->n) return VX_EINVAL;
    ps->p[instrument].fees += fee;
    return VX_OK;
}
vx_status vx_positions_mark(vx_positions *ps, uint32_t instrument, int64_t mark) {
    if (instrument >= ps->n || mark <= 0) return VX_EINVAL;
    ps->p[instrument].mark = mark;
    return VX_OK;
}
vx_status vx_positions_get(const vx_positions *ps, uint32_t instrument, vx_position *out) {
    if (instrument >= ps->n) return VX_EINVAL;
    const struct fake_position *p = &ps->p[instrument];
    memset(out, 0, sizeof *out);
    out->position = p->position;
    out->avg_price = p->position ? p->open_cost / p->position : 0;
    out->realized = p->cash + p->open_cost;
    out->unrealized = p->position * p->mark - p->open_cost;
    out->fees = p->fees;
    out->mark = p->mark;
    out->volume = p->volume;
    out->fills = p->fills;
    return VX_OK;
}
vx_status vx_positions_get_marked(const vx_positions *ps, uint32_t instrument, int64_t mark,
                                  vx_position *out) {
    vx_status s = vx_positions_get(ps, instrument, out);
    if (s != VX_OK || mark <= 0) return s;
    out->unrealized += out->position * (mark - out->mark);
    out->mark = mark;
    return VX_OK;
}
int64_t vx_positions_total(const vx_positions *ps) {
    int64_t t = 0;
    for (uint32_t i = 0; i < ps->n; i++)
        t += ps->p[i].cash + ps->p[i].position * ps->p[i].mark - ps->p[i].fees;
    return t;
}
int vx_positions_traded(const vx_positions *ps, uint32_t instrument) {
    return instrument < ps->n && ps->p[instrument].traded;
}

#endif
