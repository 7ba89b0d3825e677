/* velox/pipeline_sink.c — the output stage and its sinks (file, python ring, external ring). See pipeline.h for the contract,
 * pipeline_internal.h for the shared state. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "velox/pipeline_internal.h"

/* ---- output -------------------------------------------------------------------------------- */

static void output_flush(vx_pipeline *p) {
    output_state *s = &p->output;
    if (!s->buffered) return;
    const char *buf = (const char *)p->out_buf;
    size_t left = (size_t)s->buffered * sizeof(vx_bundle);
    for (int attempts = 0; left && attempts < 1000; attempts++) { /* bounded retries */
        ssize_t w = write(p->cfg.output_fd, buf, left);
        if (w > 0) {
            buf += w;
            left -= (size_t)w;
            counter_add(&s->bytes_written, (uint64_t)w);
        } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
            /* relaxed: a diagnostic read after join */
            atomic_store_explicit(&s->last_errno, errno, memory_order_relaxed);
            break;
        }
    }
    if (left) counter_add(&s->write_errors, 1);
    s->buffered = 0;
}

uint32_t vx_pipe_output_turn(vx_pipeline *p) {
    output_state *s = &p->output;
    if (s->done) return 0;
    /* acquire pairs with the release in stage_finish(bundler) */
    uint32_t upstream_done = atomic_load_explicit(&p->stage_done[VX_STAGE_BUNDLER], memory_order_acquire);
    vx_ring_span in;
    if (vx_ring_peek(p->ring_out, p->cfg.batch, &in) != VX_OK) {
        if (upstream_done) {
            if (p->cfg.output_fd >= 0) output_flush(p);
            stage_finish(p, VX_STAGE_OUTPUT, &s->done);
        }
        return 0;
    }
    uint32_t n = in.first_n + in.second_n;
    /* The optional sinks: 0 the python ring, 1 the external ring. Each is reserved for up to
     * n bundles; in block mode only as many bundles leave ring_out as every sink has room for
     * (none if one is full: retry next turn); in drop mode a sink's overflow is dropped. */
    vx_ring *sink[2] = {p->ring_py, p->cfg.external_ring};
    vx_ring_span sink_span[2] = {{0}, {0}};
    uint32_t room[2] = {0, 0}, put[2] = {0, 0};
    int reserved[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        if (!sink[k]) continue;
        if (vx_ring_reserve(sink[k], n, &sink_span[k]) == VX_OK) {
            reserved[k] = 1;
            room[k] = sink_span[k].first_n + sink_span[k].second_n;
        }
        if (p->cfg.on_full == VX_ON_FULL_BLOCK && n > room[k]) n = room[k];
    }
    if (n == 0) { /* block mode and a sink is full: take nothing, close the open reserves */
        for (int k = 0; k < 2; k++)
            if (reserved[k]) vx_ring_commit(sink[k], 0);
        vx_ring_release(p->ring_out, 0);
        return 0;
    }
    const uint64_t now = vx_tsc_read();
    const uint32_t mask = p->cfg.bundle_ring_capacity - 1;
    uint64_t txns = 0;
    vx_histogram *h_close = &p->hists[VX_HIST_BUNDLE_TO_OUTPUT];
    vx_histogram *h_e2e = &p->hists[VX_HIST_END_TO_END];
    const int timed = !p->cfg.logical_timestamps;
    latency_run run_close = {0, 0}, run_e2e = {0, 0};
    span_walk w = walk_start(&in), wsink[2] = {walk_start(&sink_span[0]), walk_start(&sink_span[1])};
    for (uint32_t i = 0; i < n; i++) { /* bounded by batch */
        const vx_bundle *b = walk_next(&w, sizeof(vx_bundle));
        /* plain load, see bundle_close_tsc in bundler_close */
        run_add(p, h_close, now, &run_close, p->bundle_close_tsc[(s->popped + i) & mask]);
        uint32_t count = b->header.count <= VX_BUNDLE_CAPACITY ? b->header.count : VX_BUNDLE_CAPACITY;
        if (timed) {
            for (uint32_t k = 0; k < count; k++) run_add(p, h_e2e, now, &run_e2e, b->txns[k].tsc);
        }
        txns += count;
        if (p->cfg.output_fd >= 0) {
            p->out_buf[s->buffered++] = *b;
            if (s->buffered == p->cfg.output_buffer_bundles) output_flush(p);
        }
        for (int k = 0; k < 2; k++)
            if (put[k] < room[k]) {
                *(vx_bundle *)walk_next(&wsink[k], sizeof(vx_bundle)) = *b;
                put[k]++;
            }
    }
    run_flush(p, h_close, now, &run_close);
    run_flush(p, h_e2e, now, &run_e2e);
    for (int k = 0; k < 2; k++)
        if (reserved[k]) vx_ring_commit(sink[k], put[k]); /* release: publishes the copies */
    vx_ring_release(p->ring_out, n);
    s->popped += n;
    counter_add(&s->bundles, n);
    counter_add(&s->txns, txns);
    if (p->ring_py) {
        counter_add(&s->python_bundles, put[0]);
        if (n > put[0]) counter_add(&s->drops_python, n - put[0]);
    }
    if (p->cfg.external_ring) {
        counter_add(&s->external_bundles, put[1]);
        if (n > put[1]) counter_add(&s->drops_external, n - put[1]);
    }
    return n;
}

