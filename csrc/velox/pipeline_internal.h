/* velox/pipeline_internal.h — private to the pipeline's C files (pipeline.c wires the
 * stages; pipeline_source.c, pipeline_book.c, pipeline_bundler.c, pipeline_sink.c each hold one
 * stage kind's turn function). Not a public contract: the public one is pipeline.h. Shared
 * here: the pipeline struct (each stage's state block on its own lines, written by that
 * stage's thread only), the single-writer counters, the span walker, tick->ns conversion and
 * the latency-run helpers the stages use on their hot paths (static inline: no call cost,
 * with or without LTO). */
#ifndef VELOX_PIPELINE_INTERNAL_H
#define VELOX_PIPELINE_INTERNAL_H

#include "velox/pipeline.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "velox/histogram.h"
#include "velox/mbo.h"
#include "velox/orderbook.h"
#include "velox/prng.h"
#include "velox/ring.h"
#include "velox/tsc.h"
#include "velox/venue_live.h"

/* Stage state lives on its own lines: each block is written by one thread only. 128, not 64:
 * adjacent-line prefetch pairs lines (see ring.h). */
#define VX_PIPE_LINE 128
#define VX_PIPE_MAX_BATCH 4096u
#define VX_PIPE_SPIN_NS 50000u               /* backoff: spin this long idle before yielding */
#define VX_PIPE_IDLE_BEFORE_SLEEP_NS 200000u /* backoff: yield until this long idle, then sleep */
_Static_assert(VX_PIPE_SPIN_NS < VX_PIPE_IDLE_BEFORE_SLEEP_NS, "spin, then yield, then sleep");

_Static_assert(sizeof(vx_txn) == 32 && sizeof(vx_bundle) == 528 && sizeof(vx_mbo) == 48,
               "record sizes the rings hold");
/* the source turn reads either record's timestamp at offset 0 (paced replay, entry stamp) */
_Static_assert(offsetof(vx_txn, tsc) == 0 && offsetof(vx_mbo, ts) == 0, "timestamps first");
_Static_assert(VX_STAGES == 4 && VX_PIPELINE_MAX_THREADS == 4, "four stages, at most one thread each");

/* A counter with one writer: relaxed load + relaxed store (no lost update is possible with a
 * single writer, and it avoids a locked RMW). Readers load it relaxed (a statistic). */
typedef _Atomic uint64_t vx_counter;
static inline void counter_add(vx_counter *c, uint64_t n) {
    /* relaxed: single writer; pairs with the relaxed loads in vx_pipeline_read_counters */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline uint64_t counter_get(const vx_counter *c) {
    /* relaxed: pairs with the relaxed store in counter_add (a statistic) */
    return atomic_load_explicit(c, memory_order_relaxed);
}

typedef struct ingress_state {
    vx_prng rng;
    uint64_t seq;
    uint64_t next_due_tsc;     /* paced: TSC tick the next transaction is scheduled for */
    double mean_gap_ticks;     /* paced: 1 / rate in ticks */
    int64_t mid_level;         /* the random-walking mid, as a level index */
    uint64_t cancel_below;     /* ceil(cancel_share * 2^53): the cancel test on 53 random bits */
    int done;
    /* paced replay of a source ring (cfg.replay_speed > 0) */
    int replay_started;        /* the first record fixed the time origin */
    int replay_waiting;        /* the oldest record is not due yet: next_due_tsc is its time */
    uint64_t replay_base_rec;  /* the first record's tsc (a ns timestamp) */
    uint64_t replay_base_tsc;  /* when it was taken */
    double replay_ticks_per_ns;/* ticks_per_ns / replay_speed: TSC ticks per recorded ns */
    vx_counter generated, drops, late, source_errors;
    _Atomic int32_t source_status;
} ingress_state;

/* One hosted user stage's state (written by the book thread only). */
typedef struct user_slot {
    int live, finished;        /* init accepted; finish called */
    uint64_t batch_index;
    vx_counter batches, emitted, rejected, bad_returns, init_failed;
} user_slot;

typedef struct book_state {
    uint64_t pushed;           /* txns pushed into ring_mid: index into book_exit_tsc */
    int done;
    vx_counter applied, rejected, traded, cas_timeouts, drops;
    vx_counter recenters, recenters_deferred;
    int64_t follow_credit;     /* events applied minus follow work done (mbo_follow) */
    uint64_t reference_row;    /* mbo_reference: the row of the next event taken */
    vx_counter reference_seeded, reference_rows_differing, reference_rows_checked;
    vx_counter tapped, drops_tap; /* cfg.input_tap: records copied into it / not (drop mode) */
    /* the user stages (cfg.user_stages), hosted by the book stage's thread */
    int user_inited;           /* every stage's init has run */
    uint32_t user_live;        /* stages whose init accepted: the book reserves room for
                                  user_live * user_emit_capacity orders per turn */
    user_slot user[VX_PIPELINE_MAX_USER_STAGES];
} book_state;

/* cfg.strategy's driver on the book thread (pipeline_strategy.c; pipeline.h "Strategies"). */
typedef struct strategy_state {
    vx_host *host;             /* live: owned; sim: the backtest's (vx_backtest_host) */
    vx_live_venue *venue;      /* live only */
    vx_backtest *bt;           /* sim only (pipeline_sim.c): owns the host, venue and books */
    vx_ring *logs[VX_PIPELINE_LOGS]; /* producer: the book thread; consumer: the driver */
    vx_mbo *group;             /* [VX_STRATEGY_MAX_GROUP]: the open group's applied events */
    uint32_t group_n;          /* applied events in the open group */
    uint32_t group_len;        /* events taken in it (applied or not) */
    int group_open;            /* its delivery point ran (vx_host_deliver before its first) */
    int inited;                /* vx_host_init ran */
    int closing;               /* the input ended: the open group closed; live: vx_host_close
                                  ran; sim: the backtest is finishing */
    int ended;                 /* vx_host_finish (sim: vx_backtest_finish) ran; the logs may
                                  still be on their way out (vx_pipe_strategy_logs_out) */
    uint64_t last_ts;          /* event time: the last event's ts, made non-decreasing */
    uint64_t close_deadline_ns;/* closing: vx_monotonic_ns() after which it stops waiting */
    vx_status check;           /* ended: vx_host_check's result (why in check_why) */
    const char *check_why;
    vx_counter groups, idle_delivers, log_waits, logged[VX_PIPELINE_LOGS];
    vx_counter closing_flag, close_timed_out;
    uint64_t sim_applied, sim_rejected, sim_groups; /* sim: the backtest's counters already
                                                       added to the pipeline's */
} strategy_state;

typedef struct bundler_state {
    vx_bundle *open;           /* the bundle being filled, NULL when none: normally a slot of
                                  ring_out reserved when the bundle opened (filled in place, no
                                  528-byte copy); in drop mode with ring_out full, &aside */
    uint64_t open_since_tsc;   /* when its first transaction arrived */
    uint64_t next_bundle_id;
    uint64_t popped;           /* txns taken from ring_mid: index into book_exit_tsc */
    uint64_t pushed;           /* bundles pushed into ring_out: index into bundle_close_tsc */
    int done;
    vx_counter bundled, bundles, timed_out, drops, drops_txns;
    vx_bundle aside;           /* drop mode: built here when ring_out had no free slot at open;
                                  at close it gets one more try, else it is dropped */
} bundler_state;

typedef struct output_state {
    uint64_t popped;           /* bundles taken from ring_out: index into bundle_close_tsc */
    uint32_t buffered;         /* bundles waiting in out_buf */
    int done;
    vx_counter bundles, txns, python_bundles, bytes_written, write_errors, drops_python;
    vx_counter external_bundles, drops_external;
    _Atomic int32_t last_errno;
} output_state;

typedef struct thread_arg {
    vx_pipeline *p;
    uint32_t index;
} thread_arg;

struct vx_pipeline {
    vx_pipeline_config cfg;
    double ns_per_tick;
    uint64_t ns_per_tick_q32;    /* ns_per_tick in 32.32 fixed point (see ticks_to_ns) */
    uint64_t timeout_ticks;
    vx_ring *ring_in, *ring_mid, *ring_out, *ring_py;
    vx_book *book;               /* TXN records: the L2 ladder */
    vx_mbo_set *mbo;             /* MBO records: the market-by-order books */
    uint32_t in_elem;            /* bytes per source / ring_in record: 32 (txn) or 48 (mbo) */
    uint64_t *book_exit_tsc;     /* [txn_ring_capacity], lockstep with ring_mid's slots */
    uint64_t *bundle_close_tsc;  /* [bundle_ring_capacity], lockstep with ring_out's slots */
    vx_bundle *out_buf;          /* [output_buffer_bundles] */
    int64_t *depth_prices;       /* [levels], for the digest */
    uint64_t *depth_qtys;
    vx_histogram *hists;         /* [VX_PIPELINE_HISTS] */
    vx_txn *user_events;         /* [batch]: the accepted txns of a book turn, contiguous */
    vx_mbo *user_mbo_events;     /* [batch]: the applied events of an MBO book turn */
    vx_txn *user_orders;         /* [user_emit_capacity]: the emit buffer, reused by each stage
                                    (its orders are moved into ring_mid before the next runs) */
    uint64_t memory_bytes;
    pthread_t threads[VX_PIPELINE_MAX_THREADS];
    thread_arg args[VX_PIPELINE_MAX_THREADS];
    uint32_t threads_created;
    int started, joined;

    alignas(VX_PIPE_LINE) _Atomic uint32_t stop;   /* set by vx_pipeline_stop */
    _Atomic uint32_t source_closed;                /* set by vx_pipeline_close_source */
    _Atomic uint32_t abandon;                      /* set by vx_pipeline_abandon */
    /* the live view's gate (vx_pipeline_view_enter): the book stage's "recentering" bit and
     * the count of readers inside, one word changed only by RMWs (pipeline.c) */
    alignas(VX_PIPE_LINE) _Atomic uint32_t view_gate;
    alignas(VX_PIPE_LINE) _Atomic uint32_t stage_done[VX_STAGES];
    _Atomic uint32_t threads_running;
    vx_counter pin_failures;                       /* RMW: several threads add */
    alignas(VX_PIPE_LINE) ingress_state ingress;
    alignas(VX_PIPE_LINE) book_state bookst;
    alignas(VX_PIPE_LINE) strategy_state strat;
    alignas(VX_PIPE_LINE) bundler_state bundler;
    alignas(VX_PIPE_LINE) output_state output;
};

/* Walks a span's records in order: a pointer and a count in registers, switching to the
 * second run when the first is used up (no index arithmetic per record). */
typedef struct span_walk {
    char *at, *second;
    uint32_t left;
} span_walk;

static inline span_walk walk_start(const vx_ring_span *sp) {
    span_walk w = {(char *)sp->first, (char *)sp->second, sp->first_n};
    return w;
}

/* The next record (the caller never asks for more than the span holds). */
static inline void *walk_next(span_walk *w, size_t elem_size) {
    if (w->left == 0) { /* first run used up: continue in the second */
        w->at = w->second;
        w->left = UINT32_MAX;
    }
    void *r = w->at;
    w->at += elem_size;
    w->left--;
    return r;
}

/* Copies the first n records of span `from` into the first n slots of span `to` (each two
 * runs; n <= both spans' lengths): at most three memcpy, none per record. */
static inline void span_copy(const vx_ring_span *from, const vx_ring_span *to, uint32_t n,
                             size_t elem_size) {
    const char *src[2] = {(const char *)from->first, (const char *)from->second};
    char *dst[2] = {(char *)to->first, (char *)to->second};
    uint32_t src_n[2] = {from->first_n, from->second_n}, dst_n[2] = {to->first_n, to->second_n};
    uint32_t si = 0, di = 0;
    for (int piece = 0; piece < 4 && n > 0; piece++) { /* bounded: each piece ends a run or n */
        if (src_n[si] == 0) si = 1;
        if (dst_n[di] == 0) di = 1;
        uint32_t k = n < src_n[si] ? n : src_n[si];
        if (dst_n[di] < k) k = dst_n[di];
        memcpy(dst[di], src[si], (size_t)k * elem_size);
        src[si] += (size_t)k * elem_size;
        dst[di] += (size_t)k * elem_size;
        src_n[si] -= k;
        dst_n[di] -= k;
        n -= k;
    }
}

/* TSC ticks -> ns as one 64x64->128 multiply and a shift (ns_per_tick in 32.32 fixed point,
 * computed once at create): no int<->double conversions on the per-record path. Relative
 * error <= 2^-32 against the double formula. */
static inline uint64_t ticks_to_ns(const vx_pipeline *p, uint64_t ticks) {
#ifdef __SIZEOF_INT128__
    if (p->ns_per_tick_q32) return (uint64_t)(((unsigned __int128)ticks * p->ns_per_tick_q32) >> 32);
#endif
    return (uint64_t)((double)ticks * p->ns_per_tick);
}

static inline uint64_t elapsed_ns(const vx_pipeline *p, uint64_t now, uint64_t then) {
    return now > then ? ticks_to_ns(p, now - then) : 0;
}

/* A run of records sharing one start timestamp, recorded into a histogram as one
 * vx_histogram_record_count: every record of an upstream batch carries the same timestamp
 * and a stage takes a whole batch at one `now`, so runs are long (up to the batch size) and
 * the histogram is touched once per run instead of once per record, with identical content. */
typedef struct latency_run {
    uint64_t then;  /* start TSC of the run */
    uint64_t n;     /* records in it (0: none yet) */
} latency_run;

static inline void run_flush(const vx_pipeline *p, vx_histogram *h, uint64_t now, latency_run *r) {
    if (r->n) vx_histogram_record_count(h, elapsed_ns(p, now, r->then), r->n);
    r->n = 0;
}

static inline void run_add(const vx_pipeline *p, vx_histogram *h, uint64_t now, latency_run *r,
                           uint64_t then) {
    if (then != r->then || r->n == 0) {
        run_flush(p, h, now, r);
        r->then = then;
    }
    r->n++;
}

static inline void stage_finish(vx_pipeline *p, int stage, int *done) {
    *done = 1;
    /* release pairs with the acquire load of stage_done in the next stage's turn: every
     * record this stage published happens-before the next stage sees it finished */
    atomic_store_explicit(&p->stage_done[stage], 1, memory_order_release);
}

/* 1 when ingress has a next record scheduled at next_due_tsc: a paced synthetic generator,
 * or a paced replay holding a record that is not due yet. Read by ingress's thread only. */
static inline int ingress_scheduled(const vx_pipeline *p) {
    const ingress_state *s = &p->ingress;
    if (s->done) return 0;
    if (p->cfg.source_ring) return s->replay_waiting;
    return p->cfg.rate_per_s > 0.0;
}

/* Ticks until the next scheduled record is due (0 if due now or nothing is scheduled). Read
 * by the ingress stage and by its thread's idle wait. */
static inline uint64_t ingress_ticks_until_due(const vx_pipeline *p, uint64_t now) {
    const ingress_state *s = &p->ingress;
    if (!ingress_scheduled(p) || s->next_due_tsc <= now) return 0;
    return s->next_due_tsc - now;
}

/* The stage turns: each runs one bounded turn (<= cfg.batch items) of its stage and returns
 * how many items it moved (0: idle this turn). One writer each: the thread the stage is
 * mapped to. */
uint32_t vx_pipe_ingress_turn(vx_pipeline *p); /* pipeline_source.c */
uint32_t vx_pipe_book_turn(vx_pipeline *p);    /* pipeline_book.c */
/* Calls finish of every live user stage not finished yet (the book thread at its end, or
 * vx_pipeline_destroy after an abandoned run's join). pipeline_book.c */
void vx_pipe_user_stages_finish(vx_pipeline *p);
uint32_t vx_pipe_bundler_turn(vx_pipeline *p); /* pipeline_bundler.c */
/* The input tap (cfg.input_tap; pipeline_book.c), shared by the book turns: reserve room for
 * the records of `in` (in block mode shortening `in` to the records that fit, possibly none:
 * the caller then takes nothing this turn); after the turn took the first n records of `in`,
 * and BEFORE it releases them, copy them into the tap and publish them, counting in `tapped`
 * and, for what did not fit (drop mode), `drops_tap`. No-ops without a tap. */
typedef struct vx_pipe_tap {
    vx_ring_span span;
    uint32_t room;
    int reserved;
} vx_pipe_tap;
void vx_pipe_tap_reserve(vx_pipeline *p, vx_ring_span *in, vx_pipe_tap *t);
void vx_pipe_tap_finish(vx_pipeline *p, const vx_ring_span *in, uint32_t n, vx_pipe_tap *t);
/* cfg.strategy (pipeline_strategy.c): the book turn of a pipeline hosting a v2 strategy
 * (groups, deliveries, logs, the end), and its construction / teardown / counters. */
uint32_t vx_pipe_strategy_turn(vx_pipeline *p);
vx_status vx_pipe_strategy_create(vx_pipeline *p);
void vx_pipe_strategy_destroy(vx_pipeline *p);
void vx_pipe_strategy_counters(const vx_pipeline *p, vx_pipeline_counters *c);
/* Moves the host's logs into the log rings; 1 when the host has room for one more callback
 * afterwards (pipeline_strategy.c; the simulated venue's turn shares it). */
int vx_pipe_strategy_move_logs(vx_pipeline *p);
/* The end of the run, after finish: moves the host's logs into the log rings; 1 once the
 * host's logs are empty (their room is their whole capacity), so the book stage may finish
 * (the driver drains the rings after the join); 0: the driver first, again next turn. Both
 * closing turns end with it. */
int vx_pipe_strategy_logs_out(vx_pipeline *p);
/* cfg.strategy_venue == VX_STRATEGY_VENUE_SIM (pipeline_sim.c): the backtest the book turn
 * drives (it sets p->mbo and p->strat.host to the backtest's), its turn and teardown. */
vx_status vx_pipe_sim_create(vx_pipeline *p);
void vx_pipe_sim_destroy(vx_pipeline *p);
uint32_t vx_pipe_sim_turn(vx_pipeline *p);
/* The book stage's per-event and per-batch helpers the strategy turn shares
 * (pipeline_book.c): the L2 reference check after each event taken, and following the
 * market after `events` applied. */
void vx_pipe_reference_event(vx_pipeline *p, uint64_t *seeded, uint32_t *differing,
                             uint32_t *checked);
void vx_pipe_follow_market(vx_pipeline *p, uint32_t events);
uint32_t vx_pipe_output_turn(vx_pipeline *p);  /* pipeline_sink.c */
/* The book stage's side of the live view's gate (pipeline.c): close returns 1 when no reader
 * is inside (the gate is then closed: recenter, then open), 0 when one is (left open). */
int vx_pipe_view_close(vx_pipeline *p);
void vx_pipe_view_open(vx_pipeline *p);

#endif
