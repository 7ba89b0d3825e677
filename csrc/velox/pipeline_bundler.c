/* velox/pipeline_bundler.c — the bundler stage (16 transactions or a timeout per bundle). See pipeline.h for the contract,
 * pipeline_internal.h for the shared state. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "velox/pipeline_internal.h"

/* ---- bundler ----------------------------------------------------------------------------- */

/* Opens a bundle at `now`: reserves the next slot of ring_out and fills it in place. Returns 0
 * (nothing opened) in block mode when ring_out is full; in drop mode it then opens `aside`.
 * The reserve stays open until bundler_close commits it (the bundler is ring_out's only
 * producer, so holding it across turns is allowed). */
static int bundler_open(vx_pipeline *p, uint64_t now) {
    bundler_state *s = &p->bundler;
    vx_ring_span sp;
    if (vx_ring_reserve(p->ring_out, 1, &sp) == VX_OK) s->open = sp.first;
    else if (p->cfg.on_full == VX_ON_FULL_BLOCK) return 0; /* retried next turn */
    else s->open = &s->aside;
    s->open->header.count = 0;
    s->open->header.pad = 0;
    s->open_since_tsc = now;
    return 1;
}

/* Closes the open bundle: id, zeroed unused slots, then commit (or, for `aside`, one more try
 * for a slot, else count it dropped). Always leaves no bundle open. */
static void bundler_close(vx_pipeline *p, uint64_t now, int timed_out) {
    bundler_state *s = &p->bundler;
    vx_bundle *b = s->open;
    uint32_t count = b->header.count;
    b->header.bundle_id = s->next_bundle_id++;
    /* a ring slot holds an older bundle: the contract says slots at and after count are zero */
    if (count < VX_BUNDLE_CAPACITY) memset(&b->txns[count], 0, (VX_BUNDLE_CAPACITY - count) * sizeof(vx_txn));
    s->open = NULL;
    counter_add(&s->bundles, 1);
    if (timed_out) counter_add(&s->timed_out, 1);
    if (b == &s->aside) {
        vx_ring_span sp;
        if (vx_ring_reserve(p->ring_out, 1, &sp) != VX_OK) { /* drop mode, still full */
            counter_add(&s->drops, 1);
            counter_add(&s->drops_txns, count);
            return;
        }
        memcpy(sp.first, b, sizeof(vx_bundle));
    }
    /* plain store published by the commit (release); see book_exit_tsc */
    p->bundle_close_tsc[s->pushed & (p->cfg.bundle_ring_capacity - 1)] = now;
    vx_ring_commit(p->ring_out, 1); /* release: publishes the bundle written in place */
    s->pushed++;
}

uint32_t vx_pipe_bundler_turn(vx_pipeline *p) {
    bundler_state *s = &p->bundler;
    if (s->done) return 0;
    /* acquire pairs with the release in stage_finish(book) */
    uint32_t upstream_done = atomic_load_explicit(&p->stage_done[VX_STAGE_BOOK], memory_order_acquire);
    vx_ring_span in;
    if (vx_ring_peek(p->ring_mid, p->cfg.batch, &in) != VX_OK) {
        if (s->open) {
            uint64_t now = vx_tsc_read();
            if (upstream_done) bundler_close(p, now, 0);
            else if (p->timeout_ticks && now - s->open_since_tsc >= p->timeout_ticks) bundler_close(p, now, 1);
        }
        if (upstream_done && !s->open) stage_finish(p, VX_STAGE_BUNDLER, &s->done);
        return 0;
    }
    uint32_t n = in.first_n + in.second_n, taken = 0;
    const uint64_t now = vx_tsc_read();
    const uint32_t mask = p->cfg.txn_ring_capacity - 1;
    const int timed = !p->cfg.logical_timestamps;
    vx_histogram *h_book = &p->hists[VX_HIST_BOOK_TO_BUNDLER];
    vx_histogram *h_ingress = &p->hists[VX_HIST_INGRESS_TO_BUNDLER];
    latency_run run_book = {0, 0}, run_ingress = {0, 0};
    span_walk w = walk_start(&in);
    while (taken < n) { /* bounded by batch: each round takes >= 1 or breaks */
        if (!s->open && !bundler_open(p, now)) break; /* block mode: ring_out full, retry later */
        vx_bundle *b = s->open;
        uint32_t count = b->header.count;
        uint32_t k = VX_BUNDLE_CAPACITY - count;
        if (k > n - taken) k = n - taken;
        for (uint32_t j = 0; j < k; j++) {
            const vx_txn *t = walk_next(&w, sizeof(vx_txn));
            /* plain load: written before the book's commit (release), read after our peek
             * (acquire) and before our release of the slot, so the book cannot rewrite it yet */
            run_add(p, h_book, now, &run_book, p->book_exit_tsc[(s->popped + taken + j) & mask]);
            if (timed) run_add(p, h_ingress, now, &run_ingress, t->tsc);
            b->txns[count + j] = *t;
        }
        b->header.count = count + k;
        taken += k;
        if (count + k == VX_BUNDLE_CAPACITY) bundler_close(p, now, 0);
    }
    vx_ring_release(p->ring_mid, taken);
    run_flush(p, h_book, now, &run_book);
    run_flush(p, h_ingress, now, &run_ingress);
    s->popped += taken;
    counter_add(&s->bundled, taken);
    if (s->open && p->timeout_ticks && now - s->open_since_tsc >= p->timeout_ticks)
        bundler_close(p, now, 1);
    return taken;
}

