/* velox/venue_live.c — the live venue: the venue seam over an orders ring and an execs ring
 * (see venue_live.h for the contract). */
#include "velox/venue_live.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(vx_order) == 40 && sizeof(vx_exec) == 56, "the rings' record sizes");

struct vx_live_venue {
    vx_ring *orders; /* producer: this venue */
    vx_ring *execs;  /* consumer: this venue */
    /* single writer (the strategy's thread): relaxed load + relaxed store; pairs with the
     * relaxed loads in vx_live_venue_counters_read (statistics, nothing published) */
    _Atomic uint64_t submitted, refused_full, polled, ring_errors;
};

static void bump(_Atomic uint64_t *c, uint64_t n) {
    /* relaxed: single writer; pairs with the relaxed loads in vx_live_venue_counters_read */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

vx_status vx_live_venue_create(vx_ring *orders, vx_ring *execs, vx_live_venue **out) {
    if (!out) return VX_EINVAL;
    *out = NULL;
    if (!orders || !execs || orders == execs) return VX_EINVAL;
    if (vx_ring_elem_size(orders) != sizeof(vx_order) || vx_ring_elem_size(execs) != sizeof(vx_exec))
        return VX_EINVAL;
    vx_live_venue *v = calloc(1, sizeof *v);
    if (!v) return VX_ENOMEM;
    v->orders = orders;
    v->execs = execs;
    *out = v;
    return VX_OK;
}

void vx_live_venue_destroy(vx_live_venue *v) { free(v); }

static vx_status live_submit(void *self, const vx_order *order, uint64_t now) {
    (void)now; /* the host stamped order->ts; the gateway reads it there */
    vx_live_venue *v = self;
    vx_order o = *order;
    memset(o.pad, 0, sizeof o.pad); /* velox writes padding as zero (orders.h) */
    vx_status st = vx_ring_try_push(v->orders, &o);
    if (st == VX_OK) {
        bump(&v->submitted, 1);
        return VX_OK;
    }
    bump(st == VX_FULL ? &v->refused_full : &v->ring_errors, 1);
    return VX_FULL; /* it never left: the host refuses it (REJECT, reason LIMIT) */
}

static size_t live_poll(void *self, vx_exec *out, size_t cap, uint64_t now) {
    vx_live_venue *v = self;
    uint32_t n = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap, popped = 0;
    if (n == 0) return 0;
    vx_status st = vx_ring_pop_n(v->execs, out, n, &popped);
    if (st != VX_OK) {
        if (st != VX_EMPTY) bump(&v->ring_errors, 1);
        return 0;
    }
    for (uint32_t i = 0; i < popped; i++) out[i].ts_local = now; /* bounded by cap */
    bump(&v->polled, popped);
    return popped;
}

static uint64_t live_next_due(const void *self) {
    (void)self;
    return UINT64_MAX;
}

vx_venue vx_live_venue_seam(vx_live_venue *v) {
    vx_venue seam = {v, live_submit, live_poll, live_next_due, NULL};
    return seam;
}

void vx_live_venue_counters_read(const vx_live_venue *v, vx_live_venue_counters *out) {
    /* relaxed: pairs with the relaxed stores in bump (statistics) */
    out->submitted = atomic_load_explicit(&v->submitted, memory_order_relaxed);
    out->refused_full = atomic_load_explicit(&v->refused_full, memory_order_relaxed);
    out->polled = atomic_load_explicit(&v->polled, memory_order_relaxed);
    out->ring_errors = atomic_load_explicit(&v->ring_errors, memory_order_relaxed);
}
