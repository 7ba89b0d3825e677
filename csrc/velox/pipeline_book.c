/* velox/pipeline_book.c — the book stage (applies transactions to the L2 ladder). See pipeline.h for the contract,
 * pipeline_internal.h for the shared state. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "velox/pipeline_internal.h"

/* ---- book ------------------------------------------------------------------------------ */

/* The user stages' start (each init once, on this thread, in order) and finish. */
static void user_stages_start(vx_pipeline *p, book_state *s) {
    s->user_inited = 1;
    for (uint32_t k = 0; k < p->cfg.user_stage_count; k++) { /* bounded by MAX_USER_STAGES */
        const vx_user_stage *us = p->cfg.user_stages[k];
        if (us->init && us->init(us->state) != 0) {
            counter_add(&s->user[k].init_failed, 1);
            continue;
        }
        s->user[k].live = 1;
        s->user_live++;
    }
}

void vx_pipe_user_stages_finish(vx_pipeline *p) {
    book_state *s = &p->bookst;
    for (uint32_t k = 0; k < p->cfg.user_stage_count; k++) {
        if (s->user[k].live && !s->user[k].finished) {
            s->user[k].finished = 1;
            if (p->cfg.user_stages[k]->finish) p->cfg.user_stages[k]->finish(p->cfg.user_stages[k]->state);
        }
    }
}

/* Runs user stage k on the `accepted` records of this turn (`events`: p->user_events, or in
 * an MBO pipeline p->user_mbo_events or the input span itself) and moves its valid orders
 * into the ring_mid span behind the `pushed` records already there. Returns how many it
 * pushed; counts the rest. */
static uint32_t user_stage_batch(vx_pipeline *p, book_state *s, uint32_t k, uint64_t now,
                                 const void *events, uint32_t accepted, span_walk *wout, uint32_t pushed,
                                 uint32_t room, uint32_t *dropped) {
    const vx_user_stage *us = p->cfg.user_stages[k];
    user_slot *u = &s->user[k];
    const uint32_t cap = p->cfg.user_emit_capacity;
    const uint32_t mask = p->cfg.txn_ring_capacity - 1;
    vx_stage_ctx ctx = {p->book, now, u->batch_index++, cap, 0, p->mbo};
    /* which callback exists for this pipeline's records was checked by config_validate */
    uint32_t r = p->mbo ? vx_user_stage_mbo_batch(us)(us->state, &ctx, (const vx_mbo *)events,
                                                      accepted, p->user_orders, cap)
                        : us->on_batch(us->state, &ctx, (const vx_txn *)events, accepted,
                                       p->user_orders, cap);
    counter_add(&u->batches, 1);
    if (r > cap) { /* never trusted: a count past the buffer discards the batch's orders */
        counter_add(&u->bad_returns, 1);
        return 0;
    }
    uint32_t emitted = 0, bad = 0, put = 0;
    const int timed = !p->cfg.logical_timestamps;
    for (uint32_t i = 0; i < r; i++) { /* bounded by cap */
        vx_txn o = p->user_orders[i];
        if (vx_txn_validate(&o) != VX_FIELD_NONE || o.qty == 0) {
            bad++;
            continue;
        }
        o.pad[0] = o.pad[1] = 0; /* velox writes padding as zero */
        if (timed) o.tsc = now;
        emitted++;
        if (pushed + put < room) {
            *(vx_txn *)walk_next(wout, sizeof(vx_txn)) = o;
            p->book_exit_tsc[(s->pushed + pushed + put) & mask] = now; /* see book_turn */
            put++;
        } else {
            (*dropped)++;
        }
    }
    if (emitted) counter_add(&u->emitted, emitted);
    if (bad) counter_add(&u->rejected, bad);
    return put;
}

/* Runs every live user stage, in order, on this turn's accepted records; returns the orders
 * pushed behind the `pushed` records already in the span. */
static uint32_t user_stages_batch(vx_pipeline *p, book_state *s, uint64_t now, const void *events,
                                  uint32_t accepted, span_walk *wout, uint32_t pushed,
                                  uint32_t room, uint32_t *dropped) {
    uint32_t put = 0;
    for (uint32_t k = 0; k < p->cfg.user_stage_count; k++) /* bounded by MAX_USER_STAGES */
        if (s->user[k].live)
            put += user_stage_batch(p, s, k, now, events, accepted, wout, pushed + put, room,
                                    dropped);
    return put;
}

/* Most events of follow credit a quiet stretch banks: a burst of recenters after it costs at
 * most this much work before the credit runs out. */
#define FOLLOW_CREDIT_MAX ((int64_t)1 << 16)

/* cfg.mbo_follow: recenters the books whose market nears an edge of its window or left it,
 * while no live-view reader is inside the gate. Amortised: the work done runs at most one
 * recenter ahead of the events applied (credit), so hostile input cannot make the stage
 * spend more than O(1) per event on it. */
void vx_pipe_follow_market(vx_pipeline *p, uint32_t events) {
    book_state *s = &p->bookst;
    s->follow_credit += events;
    if (s->follow_credit > FOLLOW_CREDIT_MAX) s->follow_credit = FOLLOW_CREDIT_MAX;
    if (s->follow_credit <= 0 || !vx_mbo_set_follow_pending(p->mbo)) return;
    if (!vx_pipe_view_close(p)) { /* a reader is inside: next batch */
        counter_add(&s->recenters_deferred, 1);
        return;
    }
    uint64_t work = 0;
    uint32_t moved = vx_mbo_set_follow(p->mbo, (uint64_t)s->follow_credit, &work);
    vx_pipe_view_open(p);
    s->follow_credit -= (int64_t)work; /* work <= credit + one recenter's (< 2^31 + 2^21) */
    if (moved) counter_add(&s->recenters, moved);
}

/* ---- snapshot and L2 reference (MBO) ----------------------------------------------------- */

vx_status vx_pipeline_seed_level(vx_pipeline *p, uint32_t instrument, int side, int64_t price,
                                 uint64_t qty) {
    if (!p || p->started || !p->mbo) return VX_ESTATE; /* the book thread is its writer now */
    vx_mbo_book *b = vx_mbo_set_book(p->mbo, instrument);
    return b ? vx_mbo_seed_level(b, side, price, qty) : VX_EINVAL;
}

vx_status vx_pipeline_apply_before_start(vx_pipeline *p, const vx_mbo *event,
                                         vx_mbo_reject *reason) {
    if (!p || p->started || !p->mbo) return VX_ESTATE;
    return vx_mbo_set_apply(p->mbo, event, reason);
}

/* One side of the reference row against the book: seeds each of the row's levels the book
 * does not hold at all, then returns 1 when the book's top `levels` levels equal the row's. */
static int reference_side(vx_mbo_book *b, int side, const int64_t *px, const uint64_t *qty,
                          uint32_t levels, uint64_t *seeded) {
    uint32_t m = 0; /* the row's non-empty levels (best first; an empty one ends them) */
    for (; m < levels && qty[m]; m++) { /* bounded by levels (<= 256) */
        uint64_t held = 0;
        if (vx_mbo_qty(b, side, px[m], &held) == VX_OK && held) continue;
        if (vx_mbo_seed_level(b, side, px[m], qty[m]) == VX_OK) (*seeded)++;
    }
    int64_t bp[VX_PIPELINE_MAX_REFERENCE_LEVELS];
    uint64_t bq[VX_PIPELINE_MAX_REFERENCE_LEVELS];
    size_t k = vx_mbo_depth(b, side, levels, bp, bq, NULL);
    if (k != m) return 0;
    for (uint32_t i = 0; i < m; i++) /* bounded by levels */
        if (bp[i] != px[i] || bq[i] != qty[i]) return 0;
    return 1;
}

/* cfg.mbo_reference, after one event the book stage took (applied or not): see pipeline.h. */
void vx_pipe_reference_event(vx_pipeline *p, uint64_t *seeded, uint32_t *differing,
                             uint32_t *checked) {
    book_state *s = &p->bookst;
    const vx_pipeline_reference *r = p->cfg.mbo_reference;
    uint64_t row = s->reference_row++;
    if (row >= r->rows) return;
    vx_mbo_book *b = vx_mbo_set_book(p->mbo, 0);
    const uint64_t at = row * r->levels; /* rows * levels fits 64 bits (config_validate) */
    int same = reference_side(b, VX_BUY, r->bid_px + at, r->bid_qty + at, r->levels, seeded);
    same &= reference_side(b, VX_SELL, r->ask_px + at, r->ask_qty + at, r->levels, seeded);
    *differing += !same;
    (*checked)++;
}

/* ---- input tap (cfg.input_tap) ----------------------------------------------------------- */

void vx_pipe_tap_reserve(vx_pipeline *p, vx_ring_span *in, vx_pipe_tap *t) {
    const uint32_t n = in->first_n + in->second_n;
    t->reserved = vx_ring_reserve(p->cfg.input_tap, n, &t->span) == VX_OK;
    t->room = t->reserved ? t->span.first_n + t->span.second_n : 0;
    if (p->cfg.on_full == VX_ON_FULL_BLOCK && t->room < n) {
        if (t->room <= in->first_n) {
            in->first_n = t->room;
            in->second_n = 0;
        } else {
            in->second_n = t->room - in->first_n;
        }
    }
}

/* At most four memcpy runs: the two spans' wrap points split the copy. */
void vx_pipe_tap_finish(vx_pipeline *p, const vx_ring_span *in, uint32_t n, vx_pipe_tap *t) {
    book_state *s = &p->bookst;
    if (!p->cfg.input_tap) return;
    const size_t size = p->mbo ? sizeof(vx_mbo) : sizeof(vx_txn);
    const uint32_t put = n < t->room ? n : t->room;
    uint32_t done = 0;
    for (int run = 0; done < put && run < 4; run++) { /* bounded: <= 3 runs are needed */
        const int src_first = done < in->first_n, dst_first = done < t->span.first_n;
        const char *src = src_first ? (const char *)in->first + (size_t)done * size
                                    : (const char *)in->second + (size_t)(done - in->first_n) * size;
        char *dst = dst_first ? (char *)t->span.first + (size_t)done * size
                              : (char *)t->span.second + (size_t)(done - t->span.first_n) * size;
        uint32_t k = put - done;
        if (src_first && in->first_n - done < k) k = in->first_n - done;
        if (dst_first && t->span.first_n - done < k) k = t->span.first_n - done;
        memcpy(dst, src, (size_t)k * size);
        done += k;
    }
    if (t->reserved) vx_ring_commit(p->cfg.input_tap, put); /* release: publishes the copies */
    if (put) counter_add(&s->tapped, put);
    if (n > put) counter_add(&s->drops_tap, n - put);
}

/* An MBO pipeline's turn: applies the peeked events to the set of books; the user stage sees
 * the applied ones and only its orders go on to the bundler (events are not bundled). */
static uint32_t mbo_turn(vx_pipeline *p, book_state *s, const vx_ring_span *in, vx_pipe_tap *tap) {
    const uint32_t n = in->first_n + in->second_n;
    const uint32_t need = s->user_live * p->cfg.user_emit_capacity; /* every live stage's buffer */
    vx_ring_span out = {0};
    uint32_t room = 0;
    int reserved = 0;
    if (need) {
        reserved = vx_ring_reserve(p->ring_mid, need, &out) == VX_OK;
        if (reserved) room = out.first_n + out.second_n;
        if (p->cfg.on_full == VX_ON_FULL_BLOCK && room < need) {
            /* applying is not undoable, nor is a stage's decision to emit: only go on with
             * room for every stage's whole emit buffer */
            if (reserved) vx_ring_commit(p->ring_mid, 0);
            vx_pipe_tap_finish(p, in, 0, tap);
            vx_ring_release(p->ring_in, 0);
            return 0;
        }
    }
    const uint64_t now = vx_tsc_read();
    uint32_t applied = 0, rejected = 0, traded = 0, pushed = 0, dropped = 0;
    /* The stages see the applied events as one array. Zero-copy while it is the input span
     * itself (one run, nothing rejected so far); a wrapped span copies from the start, and the
     * first reject copies the events applied before it (all of [0, i): contiguous) and then
     * every applied one into p->user_mbo_events. */
    vx_mbo *events = s->user_live ? p->user_mbo_events : NULL;
    int copying = events && in->second_n != 0;
    span_walk win = walk_start(in);
    const int referenced = p->cfg.mbo_reference != NULL;
    uint64_t ref_seeded = 0;
    uint32_t ref_differing = 0, ref_checked = 0;
    /* a table past the caches: the set's prefetch stages run ahead in each run of the span */
    vx_mbo_prefetch pf;
    const int prefetch = vx_mbo_set_prefetch_wanted(p->mbo);
    for (uint32_t i = 0; i < n; i++) { /* bounded by batch */
        const vx_mbo *e = walk_next(&win, sizeof(vx_mbo));
        if (prefetch) {
            uint32_t at = i < in->first_n ? i : i - in->first_n;
            if (at % VX_MBO_PREFETCH_BLOCK == 0)
                vx_mbo_set_prefetch(p->mbo, &pf, e - at, at, i < in->first_n ? in->first_n : in->second_n);
        }
        vx_status st = vx_mbo_set_apply(p->mbo, e, NULL);
        if (referenced) vx_pipe_reference_event(p, &ref_seeded, &ref_differing, &ref_checked);
        if (st != VX_OK) { /* untrusted input: refused, counted */
            if (events && !copying) {
                memcpy(events, in->first, (size_t)i * sizeof(vx_mbo)); /* i == applied */
                copying = 1;
            }
            rejected++;
            continue;
        }
        if (copying) events[applied] = *e; /* applied < n <= batch */
        applied++;
        traded += e->action == VX_MBO_EXECUTE;
    }
    if (p->cfg.mbo_follow) vx_pipe_follow_market(p, n); /* before the stages: they see it moved */
    if (events && applied) {
        span_walk wout = walk_start(&out);
        const vx_mbo *seen = copying ? events : (const vx_mbo *)in->first; /* see above */
        pushed = user_stages_batch(p, s, now, seen, applied, &wout, 0, room, &dropped);
    }
    if (reserved) vx_ring_commit(p->ring_mid, pushed);
    vx_pipe_tap_finish(p, in, n, tap);
    vx_ring_release(p->ring_in, n);
    s->pushed += pushed;
    counter_add(&s->applied, applied);
    if (rejected) counter_add(&s->rejected, rejected);
    if (traded) counter_add(&s->traded, traded);
    if (dropped) counter_add(&s->drops, dropped);
    if (ref_seeded) counter_add(&s->reference_seeded, ref_seeded);
    if (ref_differing) counter_add(&s->reference_rows_differing, ref_differing);
    if (ref_checked) counter_add(&s->reference_rows_checked, ref_checked);
    /* the turn's cost on the user's data: apply, follow and the user stages */
    vx_histogram_record(&p->hists[VX_HIST_BOOK_BATCH], elapsed_ns(p, vx_tsc_read(), now));
    return n;
}

uint32_t vx_pipe_book_turn(vx_pipeline *p) {
    book_state *s = &p->bookst;
    if (s->done) return 0;
    if (p->cfg.strategy) /* pipeline_sim.c, pipeline_strategy.c */
        return p->strat.bt ? vx_pipe_sim_turn(p) : vx_pipe_strategy_turn(p);
    if (p->cfg.user_stage_count && !s->user_inited) user_stages_start(p, s);
    /* acquire pairs with the release in stage_finish(ingress); read before the ring so that
     * "finished and empty" cannot miss a last record */
    uint32_t upstream_done = atomic_load_explicit(&p->stage_done[VX_STAGE_INGRESS], memory_order_acquire);
    vx_ring_span in;
    if (vx_ring_peek(p->ring_in, p->cfg.batch, &in) != VX_OK) {
        if (upstream_done) {
            vx_pipe_user_stages_finish(p);
            stage_finish(p, VX_STAGE_BOOK, &s->done);
        }
        return 0;
    }
    vx_pipe_tap tap = {{0}, 0, 0};
    if (p->cfg.input_tap) {
        vx_pipe_tap_reserve(p, &in, &tap);
        if (in.first_n + in.second_n == 0) { /* block mode, the tap is full: next turn */
            vx_ring_release(p->ring_in, 0);
            return 0;
        }
    }
    if (p->mbo) return mbo_turn(p, s, &in, &tap);
    uint32_t n = in.first_n + in.second_n;
    /* with live user stages, room for their emit buffers too */
    const uint32_t extra = s->user_live * p->cfg.user_emit_capacity;
    vx_ring_span out = {0};
    uint32_t room = 0;
    int reserved = vx_ring_reserve(p->ring_mid, n + extra, &out) == VX_OK;
    if (reserved) room = out.first_n + out.second_n;
    if (p->cfg.on_full == VX_ON_FULL_BLOCK) {
        /* only take what can surely go on: applying is not undoable (nor is a stage's
         * decision to emit: keep room for every stage's whole emit buffer) */
        if (room <= extra) {
            if (reserved) vx_ring_commit(p->ring_mid, 0);
            vx_pipe_tap_finish(p, &in, 0, &tap);
            vx_ring_release(p->ring_in, 0);
            return 0;
        }
        if (n > room - extra) n = room - extra;
    }
    const uint64_t now = vx_tsc_read();
    const uint32_t mask = p->cfg.txn_ring_capacity - 1;
    const int timed = !p->cfg.logical_timestamps;
    uint32_t pushed = 0, applied = 0, rejected = 0, traded = 0, timeouts = 0, dropped = 0;
    vx_histogram *h = &p->hists[VX_HIST_INGRESS_TO_BOOK];
    latency_run run = {0, 0};
    span_walk win = walk_start(&in), wout = walk_start(&out);
    vx_txn *events = s->user_live ? p->user_events : NULL;
    for (uint32_t i = 0; i < n; i++) { /* bounded by batch */
        const vx_txn *t = walk_next(&win, sizeof(vx_txn));
        vx_apply_result res;
        if (timed) run_add(p, h, now, &run, t->tsc);
        if (vx_book_apply(p->book, t, &res) != VX_OK) {
            rejected++;
            timeouts += res.status == VX_TIMEOUT;
            continue;
        }
        if (events) events[applied] = *t; /* applied < n <= batch */
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
    if (events && applied)
        pushed += user_stages_batch(p, s, now, events, applied, &wout, pushed, room, &dropped);
    if (reserved) vx_ring_commit(p->ring_mid, pushed);
    vx_pipe_tap_finish(p, &in, n, &tap);
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
