/* velox/pipeline_source.c — the source stage (today: the synthetic Poisson order-flow generator, "ingress"). See pipeline.h for the contract,
 * pipeline_internal.h for the shared state. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "velox/pipeline_internal.h"

/* ---- ingress ------------------------------------------------------------------------- */

/* The generator's per-turn working copy: ingress_turn loads it into locals and stores it back
 * once per turn. Why: the PRNG state and the parameters are uint64/int64 words, and so are the
 * vx_txn fields written in between, so read through `p` the compiler must reload and re-store
 * them around every record written (they may alias); as locals they stay in registers. */
typedef struct ingress_gen {
    vx_prng rng;
    uint64_t seq;
    int64_t mid_level;
    int64_t levels, base_price, tick_size;
    uint64_t cancel_below;     /* ceil(cancel_share * 2^53), see ingress_make */
    uint32_t max_qty;
} ingress_gen;

/* Makes the next transaction of the order flow into *t (tsc set by the caller). */
static inline void ingress_make(ingress_gen *g, vx_txn *t) {
    const int64_t levels = g->levels;
    uint64_t r = vx_prng_next(&g->rng);
    /* mid: with probability 1/8 a step of one tick, reflected inside the middle half */
    if ((r & 7) == 0) {
        g->mid_level += (r & 8) ? 1 : -1;
        if (g->mid_level < levels / 4) g->mid_level = levels / 4 + 1;
        if (g->mid_level > levels - levels / 4 - 1) g->mid_level = levels - levels / 4 - 2;
        if (g->mid_level < 1) g->mid_level = 1;
        if (g->mid_level > levels - 2) g->mid_level = levels - 2;
    }
    memset(t, 0, sizeof *t);
    t->seq = g->seq++;
    t->side = (r >> 4) & 1 ? VX_SELL : VX_BUY;
    int64_t level;
    /* vx_prng_unit(rng) < cancel_share, exactly, without the double: with y = next >> 11 <
     * 2^53, y * 2^-53 < c  <=>  y < c * 2^53 (scaling by 2^53 is exact)  <=>  y < ceil(c * 2^53) */
    if ((vx_prng_next(&g->rng) >> 11) < g->cancel_below) {
        /* cancel a little passive size a few ticks behind the mid, where orders rest */
        t->kind = VX_CANCEL;
        int64_t away = 1 + (int64_t)vx_prng_below(&g->rng, 8);
        level = t->side == VX_BUY ? g->mid_level - away : g->mid_level + away;
        t->qty = 1 + vx_prng_below(&g->rng, g->max_qty / 4 + 1);
    } else {
        /* a new order: mostly passive (1..8 ticks behind the mid), sometimes marketable */
        t->kind = VX_NEW;
        int64_t away = (int64_t)vx_prng_below(&g->rng, 11) - 2; /* -2..8 */
        level = t->side == VX_BUY ? g->mid_level - away : g->mid_level + away;
        t->qty = 1 + vx_prng_below(&g->rng, g->max_qty);
    }
    if (level < 0) level = 0;
    if (level >= levels) level = levels - 1;
    t->price = g->base_price + level * g->tick_size;
}

/* Paced replay: the TSC tick at which a record stamped rec_ns (a ns timestamp) is due. The
 * first record taken fixes the origin (due at once); a record stamped before it is due at
 * once; a due time past the TSC's range is UINT64_MAX (never, until stop: see the caller). */
static uint64_t replay_due_tsc(ingress_state *s, uint64_t rec_ns, uint64_t now) {
    if (!s->replay_started) {
        s->replay_started = 1;
        s->replay_base_rec = rec_ns;
        s->replay_base_tsc = now;
        return now;
    }
    if (rec_ns <= s->replay_base_rec) return s->replay_base_tsc;
    const double ticks = (double)(rec_ns - s->replay_base_rec) * s->replay_ticks_per_ns;
    if (!(ticks < 1.8e19 - (double)s->replay_base_tsc)) return UINT64_MAX; /* 2^64 ~ 1.84e19 */
    return s->replay_base_tsc + (uint64_t)ticks;
}

/* The ring source: moves up to a batch of records from cfg.source_ring into ring_in (paced by
 * their timestamps when cfg.replay_speed > 0). */
static uint32_t ring_source_turn(vx_pipeline *p, ingress_state *s) {
    /* acquire pairs with the release stores in vx_pipeline_close_source / vx_pipeline_stop;
     * loaded before the peek so that "closed and empty" cannot miss a last record */
    const int stopping = atomic_load_explicit(&p->stop, memory_order_acquire);
    const int closed = stopping || atomic_load_explicit(&p->source_closed, memory_order_acquire);
    if (stopping && p->cfg.replay_speed > 0.0) {
        /* a stopped paced replay feeds nothing more: the rest stays in the source ring, for
         * the caller to count as not replayed (never pushed through the book unpaced) */
        stage_finish(p, VX_STAGE_INGRESS, &s->done);
        return 0;
    }
    vx_ring_span in;
    s->replay_waiting = 0;
    const vx_status st = vx_ring_peek(p->cfg.source_ring, p->cfg.batch, &in);
    if (st != VX_OK) {
        if (st != VX_EMPTY) {
            /* VX_ECORRUPT (the other side broke the ring's indices; sticky) or a misuse: no
             * record can be trusted to come any more. End the source; the report says why. */
            counter_add(&s->source_errors, 1);
            /* relaxed: a diagnostic; the stage_finish release below publishes it anyway */
            atomic_store_explicit(&s->source_status, (int32_t)st, memory_order_relaxed);
            stage_finish(p, VX_STAGE_INGRESS, &s->done);
        } else if (closed) {
            stage_finish(p, VX_STAGE_INGRESS, &s->done);
        }
        return 0;
    }
    uint32_t n = in.first_n + in.second_n;
    vx_ring_span out = {0};
    uint32_t room = 0;
    int reserved = vx_ring_reserve(p->ring_in, n, &out) == VX_OK;
    if (reserved) room = out.first_n + out.second_n;
    if (p->cfg.on_full == VX_ON_FULL_BLOCK) {
        if (room == 0) {
            vx_ring_release(p->cfg.source_ring, 0);
            return 0;
        }
        if (n > room) n = room;
    }
    const uint64_t now = vx_tsc_read();
    const int paced = p->cfg.replay_speed > 0.0; /* never after a stop (above) */
    const uint64_t late_ticks = vx_ns_to_ticks(VX_PIPELINE_LATE_NS, p->cfg.ticks_per_ns);
    vx_histogram *h_late = &p->hists[VX_HIST_INGRESS_LATENESS];
    uint32_t taken = n, late = 0;
    if (paced) { /* how many are due: the first not yet due stays, first in line */
        span_walk win = walk_start(&in);
        for (uint32_t i = 0; i < n; i++) { /* bounded by batch */
            uint64_t rec_ts; /* vx_txn.tsc or vx_mbo.ts: both at offset 0 (internal header) */
            memcpy(&rec_ts, walk_next(&win, p->in_elem), sizeof rec_ts);
            const uint64_t due = replay_due_tsc(s, rec_ts, now);
            if (due > now) {
                s->next_due_tsc = due;
                s->replay_waiting = 1;
                taken = i;
                break;
            }
            const uint64_t lateness = now - due;
            vx_histogram_record(h_late, ticks_to_ns(p, lateness));
            late += lateness >= late_ticks;
        }
    }
    /* the taken records in at most three memcpy; a TXN's tsc is then stamped (latency is timed
     * from entry; an MBO event's ts is the exchange's, kept) */
    const uint32_t put = taken < room ? taken : room;
    span_copy(&in, &out, put, p->in_elem);
    if (p->cfg.records != VX_RECORDS_MBO && !p->cfg.logical_timestamps) {
        span_walk w = walk_start(&out);
        for (uint32_t i = 0; i < put; i++) /* bounded by batch */
            ((vx_txn *)walk_next(&w, sizeof(vx_txn)))->tsc = now;
    }
    if (reserved) vx_ring_commit(p->ring_in, put);
    vx_ring_release(p->cfg.source_ring, taken);
    if (taken) counter_add(&s->generated, taken);
    if (taken > put) counter_add(&s->drops, taken - put);
    if (late) counter_add(&s->late, late);
    return taken;
}

uint32_t vx_pipe_ingress_turn(vx_pipeline *p) {
    ingress_state *s = &p->ingress;
    if (s->done) return 0;
    if (p->cfg.source_ring) return ring_source_turn(p, s);
    uint64_t generated = counter_get(&s->generated);
    /* acquire pairs with the release store in vx_pipeline_stop */
    if (atomic_load_explicit(&p->stop, memory_order_acquire)
        || (p->cfg.max_txns && generated >= p->cfg.max_txns)) {
        stage_finish(p, VX_STAGE_INGRESS, &s->done);
        return 0;
    }
    uint32_t want = p->cfg.batch;
    if (p->cfg.max_txns && p->cfg.max_txns - generated < want) want = (uint32_t)(p->cfg.max_txns - generated);
    uint64_t now = vx_tsc_read();
    const int paced = p->cfg.rate_per_s > 0.0;
    if (paced && s->next_due_tsc > now) return 0;
    vx_ring_span span = {0};
    uint32_t room = 0;
    if (vx_ring_reserve(p->ring_in, want, &span) == VX_OK) room = span.first_n + span.second_n;
    if (p->cfg.on_full == VX_ON_FULL_BLOCK) {
        if (room == 0) return 0; /* blocked: make nothing; pacing falls behind and catches up */
        want = room;
    }
    const uint64_t late_ticks = vx_ns_to_ticks(VX_PIPELINE_LATE_NS, p->cfg.ticks_per_ns);
    uint32_t made = 0, dropped = 0, late = 0;
    vx_txn scratch;
    span_walk w = walk_start(&span);
    ingress_gen g = {s->rng, s->seq, s->mid_level, p->cfg.levels, p->cfg.base_price, p->cfg.tick_size,
                     s->cancel_below, p->cfg.max_qty};
    const int logical = p->cfg.logical_timestamps;
    vx_histogram *h_late = &p->hists[VX_HIST_INGRESS_LATENESS];
    uint64_t next_due = s->next_due_tsc;
    for (uint32_t i = 0; i < want; i++) { /* bounded by batch */
        if (paced) {
            if (next_due > now) break;
            uint64_t lateness = now - next_due;
            vx_histogram_record(h_late, ticks_to_ns(p, lateness));
            late += lateness >= late_ticks;
            uint64_t gap = (uint64_t)vx_prng_exponential(&g.rng, s->mean_gap_ticks);
            next_due += gap ? gap : 1;
        }
        vx_txn *t = i < room ? walk_next(&w, sizeof(vx_txn)) : &scratch;
        ingress_make(&g, t);
        t->tsc = logical ? t->seq : now;
        if (i < room) made++;
        else dropped++;
    }
    s->rng = g.rng;
    s->seq = g.seq;
    s->next_due_tsc = next_due;
    s->mid_level = g.mid_level;
    if (room) vx_ring_commit(p->ring_in, made);
    counter_add(&s->generated, made + dropped);
    if (dropped) counter_add(&s->drops, dropped);
    if (late) counter_add(&s->late, late);
    return made + dropped;
}

