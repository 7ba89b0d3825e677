/* velox/pipeline_book.c — the book stage (applies transactions to the L2 ladder). See pipeline.h for the contract,
 * pipeline_internal.h for the shared state. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "velox/pipeline_internal.h"

/* ---- book ------------------------------------------------------------------------------ */

uint32_t vx_pipe_book_turn(vx_pipeline *p) {
    book_state *s = &p->bookst;
    if (s->done) return 0;
    /* acquire pairs with the release in stage_finish(ingress); read before the ring so that
     * "finished and empty" cannot miss a last record */
    uint32_t upstream_done = atomic_load_explicit(&p->stage_done[VX_STAGE_INGRESS], memory_order_acquire);
    vx_ring_span in;
    if (vx_ring_peek(p->ring_in, p->cfg.batch, &in) != VX_OK) {
        if (upstream_done) stage_finish(p, VX_STAGE_BOOK, &s->done);
        return 0;
    }
    uint32_t n = in.first_n + in.second_n;
    vx_ring_span out = {0};
    uint32_t room = 0;
    if (vx_ring_reserve(p->ring_mid, n, &out) == VX_OK) room = out.first_n + out.second_n;
    if (p->cfg.on_full == VX_ON_FULL_BLOCK) {
        /* only take what can surely go on: applying is not undoable */
        if (room == 0) {
            vx_ring_release(p->ring_in, 0);
            return 0;
        }
        if (n > room) n = room;
    }
    const uint64_t now = vx_tsc_read();
    const uint32_t mask = p->cfg.txn_ring_capacity - 1;
    const int timed = !p->cfg.logical_timestamps;
    uint32_t pushed = 0, applied = 0, rejected = 0, traded = 0, timeouts = 0, dropped = 0;
    vx_histogram *h = &p->hists[VX_HIST_INGRESS_TO_BOOK];
    latency_run run = {0, 0};
    span_walk win = walk_start(&in), wout = walk_start(&out);
    for (uint32_t i = 0; i < n; i++) { /* bounded by batch */
        const vx_txn *t = walk_next(&win, sizeof(vx_txn));
        vx_apply_result res;
        if (timed) run_add(p, h, now, &run, t->tsc);
        if (vx_book_apply(p->book, t, &res) != VX_OK) {
            rejected++;
            timeouts += res.status == VX_TIMEOUT;
            continue;
        }
        applied++;
        traded += res.traded_qty > 0;
        if (pushed < room) {
            *(vx_txn *)walk_next(&wout, sizeof(vx_txn)) = *t;
            /* plain store: the commit below (release) publishes it with the record, and the
             * slot is not reused before the bundler releases the ring slot (see header) */
            p->book_exit_tsc[(s->pushed + pushed) & mask] = now;
            pushed++;
        } else {
            dropped++;
        }
    }
    if (room) vx_ring_commit(p->ring_mid, pushed);
    vx_ring_release(p->ring_in, n);
    run_flush(p, h, now, &run);
    s->pushed += pushed;
    counter_add(&s->applied, applied);
    if (rejected) counter_add(&s->rejected, rejected);
    if (traded) counter_add(&s->traded, traded);
    if (timeouts) counter_add(&s->cas_timeouts, timeouts);
    if (dropped) counter_add(&s->drops, dropped);
    return n;
}

