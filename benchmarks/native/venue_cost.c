/* venue_cost.c — what the simulated venue (velox/venue.h) adds per market event: a seeded
 * synthetic market-by-order stream (one instrument, ADD / CANCEL / EXECUTE / DELETE around a
 * drifting mid, books never crossed) applied to a vx_mbo_set
 *   none     apply only (the floor)
 *   idle     apply + before/after_event + run_until, no order of ours resting
 *   quote    apply + the hooks + 4 resting orders of ours (two per side, at and behind the
 *            touch), re-sent when filled (the quoting case: the event's instrument has ours)
 * Prints the best wall-clock ns/event of ROUNDS (default 5), the fills and queue events.
 * Under callgrind use ROUNDS 1 and --toggle-collect=run_events.
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S benchmarks/native/venue_cost.c \
 *       $S/velox/venue.c $S/velox/mbo.c $S/velox/orders.c $S/velox/types.c -o build/venue_cost -lm
 *   for k in none idle quote; do build/venue_cost 2000000 $k; done
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "velox/prng.h"
#include "velox/venue.h"

#define TICK 1000000 /* 0.01 */
#define LIVE 4096

static vx_mbo *make_stream(size_t n) {
    vx_mbo *ev = calloc(n, sizeof *ev);
    uint64_t ids[LIVE];
    int64_t prices[LIVE];
    uint32_t qtys[LIVE];
    uint8_t sides[LIVE];
    size_t live = 0;
    uint64_t next_id = 1;
    const int64_t mid = (int64_t)10000 * TICK; /* fixed: the book never crosses */
    vx_prng rng;
    vx_prng_seed(&rng, 1);
    for (size_t i = 0; i < n; i++) {
        vx_mbo *e = &ev[i];
        e->ts = 1000 + i * 10;
        e->flags = VX_MBO_F_LAST;
        uint32_t r = vx_prng_below(&rng, 100);
        if (live < 64 || (r < 45 && live < LIVE)) {
            int side = (int)vx_prng_below(&rng, 2);
            int64_t off = 1 + vx_prng_below(&rng, 20);
            int64_t p = side == VX_BUY ? mid - off * TICK : mid + off * TICK;
            e->action = VX_MBO_ADD;
            e->order_id = next_id++;
            e->side = (uint8_t)side;
            e->price = p;
            e->qty = 1 + vx_prng_below(&rng, 100);
            ids[live] = e->order_id;
            prices[live] = p;
            qtys[live] = e->qty;
            sides[live] = (uint8_t)side;
            live++;
            continue;
        }
        size_t k = vx_prng_below(&rng, (uint32_t)live);
        e->order_id = ids[k];
        e->side = VX_SIDE_NONE;
        if (r < 75 && qtys[k] > 1) {
            e->action = r < 60 ? VX_MBO_CANCEL : VX_MBO_EXECUTE;
            e->qty = 1 + vx_prng_below(&rng, qtys[k] - 1);
            qtys[k] -= e->qty;
        } else {
            e->action = VX_MBO_DELETE;
            e->price = prices[k];
            ids[k] = ids[live - 1];
            prices[k] = prices[live - 1];
            qtys[k] = qtys[live - 1];
            sides[k] = sides[live - 1];
            live--;
        }
    }
    return ev;
}

static uint64_t fills, next_order_id = 1u << 30;

static void quote(vx_venue *seam, const vx_mbo_book *book, uint64_t now) {
    for (int side = 0; side < 2; side++) {
        int64_t best;
        uint64_t q;
        if (vx_mbo_best(book, side, &best, &q) != VX_OK) continue;
        vx_order o;
        memset(&o, 0, sizeof o);
        o.order_id = next_order_id++;
        o.side = (uint8_t)side;
        o.type = VX_ORDER_LIMIT;
        o.tif = VX_TIF_GTC;
        o.action = VX_ORDER_NEW;
        o.price = best;
        o.qty = 5;
        o.ts = now;
        seam->submit(seam->self, &o, now);
    }
}

__attribute__((noinline)) static void run_events(vx_mbo_set *set, vx_sim_venue *v,
                                                  const vx_mbo *ev, size_t n, int mode) {
    vx_venue seam = vx_sim_venue_seam(v);
    const vx_mbo_book *book = vx_mbo_set_reader(set, 0);
    vx_exec out[64];
    uint32_t working = 0;
    for (size_t i = 0; i < n; i++) {
        const vx_mbo *e = &ev[i];
        if (mode == 0) {
            vx_mbo_set_apply(set, e, NULL);
            continue;
        }
        if (seam.next_due(seam.self) < e->ts) vx_sim_venue_run_until(v, e->ts - 1);
        vx_sim_venue_before_event(v, e);
        vx_status st = vx_mbo_set_apply(set, e, NULL);
        vx_sim_venue_after_event(v, e, st == VX_OK);
        if (mode == 2) {
            size_t k = seam.poll(seam.self, out, 64, e->ts);
            for (size_t j = 0; j < k; j++) {
                if (out[j].kind == VX_EXEC_ACK) working++;
                if (out[j].kind == VX_EXEC_FILL || out[j].kind == VX_EXEC_CANCELED) working--;
                if (out[j].kind == VX_EXEC_FILL || out[j].kind == VX_EXEC_PARTIAL_FILL) fills++;
            }
            if (working < 2 && seam.next_due(seam.self) == UINT64_MAX) quote(&seam, book, e->ts);
        }
    }
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    const char *mode_s = argc > 2 ? argv[2] : "idle";
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    int mode = strcmp(mode_s, "none") == 0 ? 0 : strcmp(mode_s, "idle") == 0 ? 1 : 2;
    vx_mbo *ev = make_stream(n);
    double best = 1e30;
    vx_sim_venue_counters c = {0};
    for (int r = 0; r < rounds; r++) {
        vx_mbo_set *set;
        vx_sim_venue *v;
        vx_sim_venue_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.instruments = 1;
        cfg.max_orders = 64;
        cfg.max_in_flight = 1024;
        cfg.entry_latency_ns = 50;
        cfg.response_latency_ns = 50;
        if (vx_mbo_set_create(1, 4096, TICK, 1u << 20, &set) != VX_OK) return 1;
        if (vx_sim_venue_create(&cfg, set, &v) != VX_OK) return 1;
        fills = 0;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        run_events(set, v, ev, n, mode);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
        if (ns < best) best = ns;
        vx_sim_venue_counters_read(v, &c);
        vx_sim_venue_destroy(v);
        vx_mbo_set_destroy(set);
    }
    printf("%s: %.2f ns/event (best of %d, %zu events); orders %llu fills %llu queue_events %llu\n",
           mode_s, best, rounds, n, (unsigned long long)c.orders, (unsigned long long)fills,
           (unsigned long long)c.queue_events);
    free(ev);
    return 0;
}
