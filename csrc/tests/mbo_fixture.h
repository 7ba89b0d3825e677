/*
 * mbo_fixture.h — the C tests' market-by-order fixtures: a set of books, one event built with
 * every unnamed field zero, the event applied to the books alone or through the simulated
 * venue's queue hooks (as the backtest applies it: before_event, apply, after_event), and the
 * two rings of a live venue. Static inline: a test that never calls a helper does not link the
 * module behind it (test_host has no venue.c, test_venue no ring.c). Set-up failures abort
 * (REQUIRE): a test never runs on a half-made fixture.
 */
#ifndef VELOX_TESTS_MBO_FIXTURE_H
#define VELOX_TESTS_MBO_FIXTURE_H

#include <string.h>

#include "check.h"
#include "velox/mbo.h"
#include "velox/ring.h"
#include "velox/venue.h"
#include "velox/venue_live.h"

/* ---- books and events -------------------------------------------------------------------- */

static inline vx_mbo_set *mbo_fx_books(uint32_t instruments, uint32_t levels, int64_t tick,
                                       uint32_t max_orders) {
    vx_mbo_set *books = NULL;
    REQUIRE(vx_mbo_set_create(instruments, levels, tick, max_orders, &books) == VX_OK);
    return books;
}

/* One event of instrument 0; ref, flags, status and padding zero (set them after). */
static inline vx_mbo mbo_fx_event(uint8_t action, uint64_t order_id, int side, int64_t price,
                                  uint32_t qty, uint64_t ts) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    e.ts = ts;
    e.order_id = order_id;
    e.price = price;
    e.qty = qty;
    e.side = (uint8_t)side;
    e.action = action;
    return e;
}

/* The books alone (no venue): the book's status. */
static inline vx_status mbo_fx_apply(vx_mbo_set *books, const vx_mbo *e) {
    vx_mbo_reject reason;
    return vx_mbo_set_apply(books, e, &reason);
}

/* ---- the simulated venue's queue hooks ---------------------------------------------------- */

/* One market event through the venue's hooks around the books' apply (venue.h: after_event
 * acts only when the book applied it). Matching due before e->ts is the caller's (run_until). */
static inline vx_status mbo_fx_venue_apply(vx_sim_venue *venue, vx_mbo_set *books,
                                           const vx_mbo *e) {
    vx_sim_venue_before_event(venue, e);
    vx_status st = vx_mbo_set_apply(books, e, NULL);
    vx_sim_venue_after_event(venue, e, st == VX_OK);
    return st;
}

/* ---- the live venue's two rings ----------------------------------------------------------- */

typedef struct mbo_fx_live {
    vx_ring *orders; /* vx_order records, strategy -> gateway */
    vx_ring *execs;  /* vx_exec records, gateway -> strategy */
    vx_live_venue *venue;
    vx_venue seam;
} mbo_fx_live;

/* The ring pair alone (the venue's own refusals are the caller's to test). */
static inline void mbo_fx_live_rings(uint32_t capacity, vx_ring **orders, vx_ring **execs) {
    REQUIRE(vx_ring_create(capacity, sizeof(vx_order), orders) == VX_OK);
    REQUIRE(vx_ring_create(capacity, sizeof(vx_exec), execs) == VX_OK);
}

/* Rings of `capacity` each and a live venue over them. */
static inline void mbo_fx_live_open(mbo_fx_live *f, uint32_t capacity) {
    memset(f, 0, sizeof *f);
    mbo_fx_live_rings(capacity, &f->orders, &f->execs);
    REQUIRE(vx_live_venue_create(f->orders, f->execs, &f->venue) == VX_OK);
    f->seam = vx_live_venue_seam(f->venue);
}

static inline void mbo_fx_live_close(mbo_fx_live *f) {
    vx_live_venue_destroy(f->venue);
    vx_ring_destroy(f->orders);
    vx_ring_destroy(f->execs);
}

#endif
