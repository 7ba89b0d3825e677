/* test_venue_live.c — the live venue (venue_live.h): argument checks, the seam's four
 * entries, a full orders ring refused and counted, ts_local set to the caller's clock, a
 * corrupt ring refused and counted, and a gateway thread answering every order across the
 * two rings with every order and report checked in sequence. */
#include "check.h"
#include "mbo_fixture.h"
#include "velox/orders.h"
#include "velox/ring.h"
#include "velox/tsc.h"
#include "velox/venue_live.h"

#include <pthread.h>
#include <string.h>

static vx_order order_n(uint64_t id) {
    vx_order o;
    memset(&o, 0, sizeof o);
    o.ts = 1000 + id;
    o.order_id = id;
    o.price = (int64_t)(100 + id % 7) * VX_PRICE_SCALE;
    o.qty = (uint32_t)(1 + id % 5);
    o.instrument = (uint32_t)(id % 3);
    o.side = id % 2 ? VX_BUY : VX_SELL;
    o.type = VX_ORDER_LIMIT;
    o.tif = VX_TIF_GTC;
    o.action = VX_ORDER_NEW;
    return o;
}

/* The gateway's answer to an order: an ACK for its whole size, stamped by "the exchange". */
static vx_exec ack_of(const vx_order *o) {
    vx_exec e;
    memset(&e, 0, sizeof e);
    e.ts_exchange = o->ts + 5;
    e.ts_local = 12345; /* the gateway's guess: the venue overwrites it */
    e.order_id = o->order_id;
    e.leaves_qty = o->qty;
    e.instrument = o->instrument;
    e.kind = VX_EXEC_ACK;
    e.side = o->side;
    return e;
}

static void test_create_checks(void) {
    vx_ring *o = NULL, *e = NULL, *t = NULL;
    mbo_fx_live_rings(8, &o, &e);
    CHECK(vx_ring_create(8, sizeof(vx_txn), &t) == VX_OK);
    vx_live_venue *v = (vx_live_venue *)1;
    CHECK(vx_live_venue_create(NULL, e, &v) == VX_EINVAL && v == NULL);
    CHECK(vx_live_venue_create(o, NULL, &v) == VX_EINVAL);
    CHECK(vx_live_venue_create(o, o, &v) == VX_EINVAL);
    CHECK(vx_live_venue_create(e, o, &v) == VX_EINVAL);  /* swapped: record sizes differ */
    CHECK(vx_live_venue_create(o, t, &v) == VX_EINVAL);
    CHECK(vx_live_venue_create(o, e, NULL) == VX_EINVAL);
    CHECK(vx_live_venue_create(o, e, &v) == VX_OK && v != NULL);
    vx_venue seam = vx_live_venue_seam(v);
    CHECK(seam.self == v && seam.submit && seam.poll && seam.next_due);
    CHECK(seam.queue_ahead == NULL);                     /* a live venue does not know */
    CHECK(seam.next_due(seam.self) == UINT64_MAX);
    vx_live_venue_destroy(v);
    vx_ring_destroy(o);
    vx_ring_destroy(e);
    vx_ring_destroy(t);
}

static void test_full_and_poll(void) {
    mbo_fx_live L;
    mbo_fx_live_open(&L, 4);
    vx_ring *o = L.orders, *e = L.execs;
    vx_live_venue *v = L.venue;
    vx_venue seam = L.seam;
    for (uint64_t id = 1; id <= 4; id++) {
        vx_order x = order_n(id);
        memset(x.pad, 0xAB, sizeof x.pad); /* a strategy's stack garbage: never leaves */
        CHECK(seam.submit(seam.self, &x, x.ts) == VX_OK);
    }
    vx_order x = order_n(5);
    CHECK(seam.submit(seam.self, &x, x.ts) == VX_FULL); /* the host makes it REJECT LIMIT */
    vx_live_venue_counters c;
    vx_live_venue_counters_read(v, &c);
    CHECK(c.submitted == 4 && c.refused_full == 1 && c.polled == 0 && c.ring_errors == 0);
    vx_exec out[8];
    CHECK(seam.poll(seam.self, out, 8, 77) == 0); /* nothing yet */
    for (uint64_t id = 1; id <= 3; id++) { /* the gateway: pop each order, push its ACK */
        vx_order got;
        CHECK(vx_ring_try_pop(o, &got) == VX_OK);
        vx_order want = order_n(id);
        CHECK(memcmp(&got, &want, sizeof got) == 0);
        vx_exec a = ack_of(&got);
        CHECK(vx_ring_try_push(e, &a) == VX_OK);
    }
    CHECK(seam.poll(seam.self, out, 2, 500) == 2); /* cap respected */
    CHECK(seam.poll(seam.self, out + 2, 8, 600) == 1);
    for (int i = 0; i < 3; i++) {
        vx_order want = order_n((uint64_t)i + 1);
        vx_exec a = ack_of(&want);
        a.ts_local = i < 2 ? 500 : 600;            /* the strategy's clock, not the gateway's */
        CHECK(memcmp(&out[i], &a, sizeof a) == 0); /* everything else passed through */
    }
    CHECK(seam.poll(seam.self, out, 0, 700) == 0);
    vx_live_venue_counters_read(v, &c);
    CHECK(c.polled == 3 && c.ring_errors == 0);
    mbo_fx_live_close(&L);
}

/* A peer that breaks a ring's indices: submit refuses (VX_FULL: the order never left), poll
 * returns nothing, both counted, never a read outside the rings. */
static void test_corrupt_rings(void) {
    mbo_fx_live L;
    mbo_fx_live_open(&L, 4);
    vx_ring *o = L.orders, *e = L.execs;
    vx_live_venue *v = L.venue;
    vx_venue seam = L.seam;
    atomic_store(&e->block->producer.head, 1000); /* execs: head - tail > capacity */
    vx_exec out[4];
    CHECK(seam.poll(seam.self, out, 4, 1) == 0);
    CHECK(seam.poll(seam.self, out, 4, 2) == 0);
    for (uint64_t id = 1; id <= 4; id++) { /* fill the orders ring: the next push reloads */
        vx_order x = order_n(id);
        CHECK(seam.submit(seam.self, &x, 1) == VX_OK);
    }
    atomic_store(&o->block->consumer.tail, 1000); /* orders: tail ahead of head */
    vx_order x = order_n(5);
    CHECK(seam.submit(seam.self, &x, 1) == VX_FULL);
    CHECK(vx_ring_corrupt(o));
    vx_live_venue_counters c;
    vx_live_venue_counters_read(v, &c);
    CHECK(c.submitted == 4 && c.polled == 0 && c.refused_full == 0 && c.ring_errors == 3);
    mbo_fx_live_close(&L);
}

/* ---- a gateway thread ------------------------------------------------------------------- */

typedef struct gateway {
    vx_ring *orders, *execs;
    uint64_t n;
    _Atomic int started;
    int bad;
} gateway;

static void *gateway_main(void *arg) {
    gateway *g = arg;
    vx_test_started(&g->started);
    uint64_t next = 1;
    vx_ring_backoff b = {0};
    for (uint64_t i = 0; i < g->n; i++) { /* bounded: n orders, each wait bounded */
        vx_order got;
        if (vx_ring_pop_wait(g->orders, &got, vx_monotonic_ns() + 20000000000ull, &b) != VX_OK) {
            g->bad = 1;
            return NULL;
        }
        vx_order want = order_n(next++);
        if (memcmp(&got, &want, sizeof got) != 0) g->bad = 1;
        vx_exec a = ack_of(&got);
        if (vx_ring_push_wait(g->execs, &a, vx_monotonic_ns() + 20000000000ull, &b) != VX_OK) {
            g->bad = 1;
            return NULL;
        }
    }
    return NULL;
}

static void test_gateway_thread(void) {
    mbo_fx_live L;
    mbo_fx_live_open(&L, 16);
    vx_ring *o = L.orders, *e = L.execs;
    vx_live_venue *v = L.venue;
    vx_venue seam = L.seam;
    gateway g = {o, e, vx_test_count(200000, 2000), 0, 0};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, gateway_main, &g) == 0);
    REQUIRE(vx_test_wait_started(&g.started, 20.0));
    uint64_t sent = 0, got = 0, full = 0, now = 0;
    vx_exec out[8];
    const uint64_t deadline = vx_monotonic_ns() + 60000000000ull;
    while (got < g.n && vx_monotonic_ns() < deadline) { /* bounded by the deadline */
        now++;
        if (sent < g.n) {
            vx_order x = order_n(sent + 1);
            vx_status st = seam.submit(seam.self, &x, now);
            if (st == VX_OK) sent++;
            else {
                REQUIRE(st == VX_FULL);
                full++;
            }
        }
        size_t k = seam.poll(seam.self, out, 8, now);
        for (size_t i = 0; i < k; i++) {
            vx_order want = order_n(got + 1);
            REQUIRE(out[i].order_id == want.order_id && out[i].kind == VX_EXEC_ACK);
            REQUIRE(out[i].ts_local == now && out[i].ts_exchange == want.ts + 5);
            REQUIRE(vx_exec_validate(&out[i]) == VX_EXEC_FIELD_NONE);
            got++;
        }
    }
    pthread_join(th, NULL);
    CHECK(g.bad == 0 && sent == g.n && got == g.n);
    vx_live_venue_counters c;
    vx_live_venue_counters_read(v, &c);
    CHECK(c.submitted == g.n && c.polled == g.n && c.refused_full == full && c.ring_errors == 0);
    mbo_fx_live_close(&L);
}

int main(void) {
    RUN(test_create_checks);
    RUN(test_full_and_poll);
    RUN(test_corrupt_rings);
    RUN(test_gateway_thread);
    return CHECK_SUMMARY("test_venue_live");
}
