/* velox/pipeline.c — see pipeline.h for the contract. */
#include "velox/pipeline.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "velox/orderbook.h"
#include "velox/prng.h"
#include "velox/tsc.h"

/* Stage state lives on its own lines: each block is written by one thread only. 128, not 64:
 * adjacent-line prefetch pairs lines (see ring.h). */
#define VX_PIPE_LINE 128
#define VX_PIPE_MAX_BATCH 4096u
#define VX_PIPE_SPIN_NS 50000u               /* backoff: spin this long idle before yielding */
#define VX_PIPE_IDLE_BEFORE_SLEEP_NS 200000u /* backoff: yield until this long idle, then sleep */
_Static_assert(VX_PIPE_SPIN_NS < VX_PIPE_IDLE_BEFORE_SLEEP_NS, "spin, then yield, then sleep");

_Static_assert(sizeof(vx_txn) == 32 && sizeof(vx_bundle) == 528, "record sizes the rings hold");
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
    vx_counter generated, drops, late;
} ingress_state;

typedef struct book_state {
    uint64_t pushed;           /* txns pushed into ring_mid: index into book_exit_tsc */
    int done;
    vx_counter applied, rejected, traded, cas_timeouts, drops;
} book_state;

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
    vx_book *book;
    uint64_t *book_exit_tsc;     /* [txn_ring_capacity], lockstep with ring_mid's slots */
    uint64_t *bundle_close_tsc;  /* [bundle_ring_capacity], lockstep with ring_out's slots */
    vx_bundle *out_buf;          /* [output_buffer_bundles] */
    int64_t *depth_prices;       /* [levels], for the digest */
    uint64_t *depth_qtys;
    vx_histogram *hists;         /* [VX_PIPELINE_HISTS] */
    uint64_t memory_bytes;
    pthread_t threads[VX_PIPELINE_MAX_THREADS];
    thread_arg args[VX_PIPELINE_MAX_THREADS];
    uint32_t threads_created;
    int started, joined;

    alignas(VX_PIPE_LINE) _Atomic uint32_t stop;   /* set by vx_pipeline_stop */
    _Atomic uint32_t abandon;                      /* set by vx_pipeline_abandon */
    alignas(VX_PIPE_LINE) _Atomic uint32_t stage_done[VX_STAGES];
    _Atomic uint32_t threads_running;
    vx_counter pin_failures;                       /* RMW: several threads add */
    alignas(VX_PIPE_LINE) ingress_state ingress;
    alignas(VX_PIPE_LINE) book_state bookst;
    alignas(VX_PIPE_LINE) bundler_state bundler;
    alignas(VX_PIPE_LINE) output_state output;
};

/* ---- configuration ------------------------------------------------------------------ */

void vx_pipeline_config_default(vx_pipeline_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->ticks_per_ns = 0.0;
    cfg->rate_per_s = 100000.0;
    cfg->max_txns = 0;
    cfg->seed = 1;
    cfg->logical_timestamps = 0;
    cfg->levels = 1024;
    cfg->tick_size = VX_PRICE_SCALE / 100;   /* 0.01 */
    cfg->base_price = 100 * VX_PRICE_SCALE;  /* 100.00 */
    cfg->cancel_share = 0.2;
    cfg->max_qty = 100;
    cfg->bundle_timeout_ns = 100000;
    cfg->on_full = VX_ON_FULL_DROP;
    cfg->wait = VX_WAIT_BACKOFF;
    cfg->batch = 64;
    cfg->txn_ring_capacity = 4096;
    cfg->bundle_ring_capacity = 1024;
    cfg->python_ring_capacity = 0;
    cfg->output_fd = -1;
    cfg->output_buffer_bundles = 64;
    cfg->thread_count = 2;
    cfg->stage_thread[VX_STAGE_INGRESS] = 0;
    cfg->stage_thread[VX_STAGE_BOOK] = 0;
    cfg->stage_thread[VX_STAGE_BUNDLER] = 1;
    cfg->stage_thread[VX_STAGE_OUTPUT] = 1;
    for (int t = 0; t < VX_PIPELINE_MAX_THREADS; t++) cfg->thread_cpu[t] = -1;
}

static int is_pow2_in(uint32_t v, uint32_t lo, uint32_t hi) {
    return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

vx_status vx_pipeline_config_validate(const vx_pipeline_config *c, const char **field) {
    const char *bad = NULL;
    if (!c) bad = "config";
    else if (!(c->ticks_per_ns > 0.0) || !isfinite(c->ticks_per_ns)) bad = "ticks_per_ns";
    else if (!(c->rate_per_s == 0.0 || (c->rate_per_s >= 1.0 && c->rate_per_s <= 1e9))) bad = "rate_per_s";
    else if (!is_pow2_in(c->levels, VX_BOOK_MIN_LEVELS, VX_BOOK_MAX_LEVELS)) bad = "levels";
    else if (c->tick_size <= 0) bad = "tick_size";
    else if (c->base_price <= 0 || c->base_price > INT64_MAX - (int64_t)c->levels * c->tick_size
             || c->tick_size > INT64_MAX / (int64_t)c->levels) bad = "base_price";
    else if (!(c->cancel_share >= 0.0 && c->cancel_share < 1.0)) bad = "cancel_share";
    else if (c->max_qty < 1) bad = "max_qty";
    else if (c->logical_timestamps > 1) bad = "logical_timestamps";
    else if (c->bundle_timeout_ns > UINT64_C(3600000000000)) bad = "bundle_timeout_ns";
    else if (c->on_full != VX_ON_FULL_DROP && c->on_full != VX_ON_FULL_BLOCK) bad = "on_full";
    else if (c->wait != VX_WAIT_SPIN && c->wait != VX_WAIT_YIELD && c->wait != VX_WAIT_BACKOFF) bad = "wait";
    else if (c->batch < 1 || c->batch > VX_PIPE_MAX_BATCH) bad = "batch";
    else if (!is_pow2_in(c->txn_ring_capacity, 2, 1u << 24)) bad = "txn_ring_capacity";
    else if (!is_pow2_in(c->bundle_ring_capacity, 2, 1u << 20)) bad = "bundle_ring_capacity";
    else if (c->python_ring_capacity != 0 && !is_pow2_in(c->python_ring_capacity, 2, 1u << 20))
        bad = "python_ring_capacity";
    else if (c->external_ring && vx_ring_elem_size(c->external_ring) != sizeof(vx_bundle))
        bad = "external_ring";
    else if (c->output_fd < -1) bad = "output_fd";
    else if (c->output_buffer_bundles < 1 || c->output_buffer_bundles > 65536) bad = "output_buffer_bundles";
    else if (c->thread_count < 1 || c->thread_count > VX_PIPELINE_MAX_THREADS) bad = "thread_count";
    if (!bad) {
        uint32_t used = 0;
        for (int s = 0; s < VX_STAGES; s++) {
            if (c->stage_thread[s] >= c->thread_count) { bad = "stage_thread"; break; }
            used |= 1u << c->stage_thread[s];
        }
        if (!bad && used != (1u << c->thread_count) - 1) bad = "stage_thread"; /* an idle thread */
        for (uint32_t t = 0; !bad && t < c->thread_count; t++)
            if (c->thread_cpu[t] < -1 || c->thread_cpu[t] >= CPU_SETSIZE) bad = "thread_cpu";
    }
    if (field) *field = bad;
    return bad ? VX_EINVAL : VX_OK;
}

/* ---- construction ------------------------------------------------------------------- */

static void *alloc_zero(vx_pipeline *p, size_t n) {
    void *m = calloc(1, n);
    if (m) p->memory_bytes += n;
    return m;
}

vx_status vx_pipeline_create(const vx_pipeline_config *cfg, vx_pipeline **out) {
    if (!out || vx_pipeline_config_validate(cfg, NULL) != VX_OK) return VX_EINVAL;
    vx_pipeline *p = aligned_alloc(VX_PIPE_LINE, (sizeof(vx_pipeline) + VX_PIPE_LINE - 1) / VX_PIPE_LINE * VX_PIPE_LINE);
    if (!p) return VX_ENOMEM;
    memset(p, 0, sizeof *p);
    p->cfg = *cfg;
    p->memory_bytes = sizeof *p;
    p->ns_per_tick = 1.0 / cfg->ticks_per_ns;
    /* 0 when it would not fit 64 bits (ticks_per_ns < ~2.3e-10): ticks_to_ns then uses doubles */
    p->ns_per_tick_q32 = p->ns_per_tick * 4294967296.0 < 9.2e18
                             ? (uint64_t)llround(p->ns_per_tick * 4294967296.0) : 0;
    p->timeout_ticks = vx_ns_to_ticks(cfg->bundle_timeout_ns, cfg->ticks_per_ns);
    if (cfg->bundle_timeout_ns && !p->timeout_ticks) p->timeout_ticks = 1;
    vx_status st = VX_OK;
    if ((st = vx_ring_create(cfg->txn_ring_capacity, sizeof(vx_txn), &p->ring_in)) != VX_OK) goto fail;
    if ((st = vx_ring_create(cfg->txn_ring_capacity, sizeof(vx_txn), &p->ring_mid)) != VX_OK) goto fail;
    if ((st = vx_ring_create(cfg->bundle_ring_capacity, sizeof(vx_bundle), &p->ring_out)) != VX_OK) goto fail;
    p->memory_bytes += 2 * vx_ring_footprint(cfg->txn_ring_capacity, sizeof(vx_txn))
                       + vx_ring_footprint(cfg->bundle_ring_capacity, sizeof(vx_bundle));
    if (cfg->python_ring_capacity) {
        if ((st = vx_ring_create(cfg->python_ring_capacity, sizeof(vx_bundle), &p->ring_py)) != VX_OK) goto fail;
        p->memory_bytes += vx_ring_footprint(cfg->python_ring_capacity, sizeof(vx_bundle));
    }
    if ((st = vx_book_create(cfg->levels, cfg->tick_size, cfg->base_price, &p->book)) != VX_OK) goto fail;
    p->memory_bytes += 2 * (uint64_t)cfg->levels * sizeof(uint64_t); /* the ladders (approx.) */
    st = VX_ENOMEM;
    if (!(p->book_exit_tsc = alloc_zero(p, cfg->txn_ring_capacity * sizeof(uint64_t)))) goto fail;
    if (!(p->bundle_close_tsc = alloc_zero(p, cfg->bundle_ring_capacity * sizeof(uint64_t)))) goto fail;
    if (!(p->out_buf = alloc_zero(p, (size_t)cfg->output_buffer_bundles * sizeof(vx_bundle)))) goto fail;
    if (!(p->depth_prices = alloc_zero(p, cfg->levels * sizeof(int64_t)))) goto fail;
    if (!(p->depth_qtys = alloc_zero(p, cfg->levels * sizeof(uint64_t)))) goto fail;
    if (!(p->hists = alloc_zero(p, VX_PIPELINE_HISTS * sizeof(vx_histogram)))) goto fail;
    for (int h = 0; h < VX_PIPELINE_HISTS; h++) vx_histogram_init(&p->hists[h]);

    /* ingress: seeded generator, mid in the middle of the window */
    vx_prng_seed(&p->ingress.rng, cfg->seed);
    p->ingress.mid_level = cfg->levels / 2;
    p->ingress.cancel_below = (uint64_t)ceil(cfg->cancel_share * 9007199254740992.0); /* 2^53 */
    p->ingress.mean_gap_ticks = cfg->rate_per_s > 0 ? 1e9 * cfg->ticks_per_ns / cfg->rate_per_s : 0.0;
    atomic_init(&p->output.last_errno, 0);
    *out = p;
    return VX_OK;
fail:
    vx_pipeline_destroy(p);
    return st;
}

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

static void stage_finish(vx_pipeline *p, int stage, int *done) {
    *done = 1;
    /* release pairs with the acquire load of stage_done in the next stage's turn: every
     * record this stage published happens-before the next stage sees it finished */
    atomic_store_explicit(&p->stage_done[stage], 1, memory_order_release);
}

/* Ticks until the next paced transaction is due (0 if due now or unpaced/finished). */
static uint64_t ingress_ticks_until_due(const vx_pipeline *p, uint64_t now) {
    const ingress_state *s = &p->ingress;
    if (s->done || p->cfg.rate_per_s == 0.0 || s->next_due_tsc <= now) return 0;
    return s->next_due_tsc - now;
}

static uint32_t ingress_turn(vx_pipeline *p) {
    ingress_state *s = &p->ingress;
    if (s->done) return 0;
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

/* ---- book ------------------------------------------------------------------------------ */

static uint32_t book_turn(vx_pipeline *p) {
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

static uint32_t bundler_turn(vx_pipeline *p) {
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

static uint32_t output_turn(vx_pipeline *p) {
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

/* ---- threads ------------------------------------------------------------------------------ */

typedef uint32_t (*stage_turn_fn)(vx_pipeline *);
static const stage_turn_fn stage_turns[VX_STAGES] = {ingress_turn, book_turn, bundler_turn, output_turn};

static int stage_is_done(const vx_pipeline *p, int stage) {
    switch (stage) {
    case VX_STAGE_INGRESS: return p->ingress.done;
    case VX_STAGE_BOOK: return p->bookst.done;
    case VX_STAGE_BUNDLER: return p->bundler.done;
    default: return p->output.done;
    }
}

/* One idle round of a thread none of whose stages had work. idle_since: TSC of the first
 * idle round in this idle streak.
 *
 * backoff, by how long the thread has been idle (not by how many rounds):
 *   < VX_PIPE_SPIN_NS      spin (pause): in a live stream the next record is microseconds away,
 *                          and sched_yield/nanosleep on a CPU shared with another runnable task
 *                          can hand it a whole scheduler slice (milliseconds) — the multi-ms p99
 *                          that a yield-early backoff caused at 1 M txn/s on a loaded 2-CPU VM;
 *   < VX_PIPE_IDLE_BEFORE_SLEEP_NS   sched_yield;
 *   then                   nanosleep VX_PIPELINE_BACKOFF_SLEEP_NS.
 * A thread running a paced ingress spins whenever its next transaction is due within
 * VX_PIPE_SPIN_NS (so at >= ~20 k txn/s it never yields or sleeps), and never sleeps past it. */
static void idle_wait(vx_pipeline *p, int runs_ingress, uint64_t idle_since) {
    switch (p->cfg.wait) {
    case VX_WAIT_SPIN:
        vx_cpu_relax();
        return;
    case VX_WAIT_YIELD:
        sched_yield();
        return;
    default: {
        const uint64_t now = vx_tsc_read();
        uint64_t due_ns = UINT64_MAX; /* ns until the next paced transaction, if any */
        if (runs_ingress && p->cfg.rate_per_s > 0.0 && !p->ingress.done)
            due_ns = ticks_to_ns(p, ingress_ticks_until_due(p, now));
        const uint64_t idle_ns = ticks_to_ns(p, now - idle_since);
        if (idle_ns < VX_PIPE_SPIN_NS || due_ns < VX_PIPE_SPIN_NS) {
            vx_cpu_relax();
            return;
        }
        if (idle_ns < VX_PIPE_IDLE_BEFORE_SLEEP_NS) {
            sched_yield();
            return;
        }
        uint64_t sleep_ns = VX_PIPELINE_BACKOFF_SLEEP_NS;
        if (due_ns - VX_PIPE_SPIN_NS / 2 < sleep_ns) sleep_ns = due_ns - VX_PIPE_SPIN_NS / 2; /* due_ns >= SPIN_NS */
        struct timespec ts = {0, (long)sleep_ns};
        nanosleep(&ts, NULL);
    }
    }
}

static void *thread_main(void *arg_) {
    thread_arg *arg = arg_;
    vx_pipeline *p = arg->p;
    const vx_pipeline_config *c = &p->cfg;
    int stages[VX_STAGES], n_stages = 0, runs_ingress = 0;
    for (int s = 0; s < VX_STAGES; s++)
        if (c->stage_thread[s] == arg->index) {
            stages[n_stages++] = s;
            runs_ingress |= s == VX_STAGE_INGRESS;
        }
    if (c->thread_cpu[arg->index] >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c->thread_cpu[arg->index], &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
            /* relaxed RMW: several threads may add; read as a statistic */
            atomic_fetch_add_explicit(&p->pin_failures, 1, memory_order_relaxed);
    }
#ifdef __linux__
    /* 1 ns timer slack: the backoff's short sleeps must not stretch to the default 50 us */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
    uint64_t idle_since = 0;
    /* bounded: ends when every stage of this thread has finished (ingress finishes at stop or
     * max_txns, each later stage once its upstream finished and its input drained), or at
     * abandon */
    for (;;) {
        /* relaxed: abandon is a "quit now" hint; nothing is published through it */
        if (atomic_load_explicit(&p->abandon, memory_order_relaxed)) break;
        uint32_t work = 0;
        int all_done = 1;
        for (int i = 0; i < n_stages; i++) {
            if (stage_is_done(p, stages[i])) continue;
            work += stage_turns[stages[i]](p);
            all_done &= stage_is_done(p, stages[i]);
        }
        if (all_done) break;
        if (work) {
            idle_since = 0;
        } else {
            if (!idle_since) idle_since = vx_tsc_read();
            idle_wait(p, runs_ingress, idle_since);
        }
    }
    /* release pairs with the acquire load in vx_pipeline_finished: this thread's last
     * counter updates and file writes happen-before "finished" is seen */
    atomic_fetch_sub_explicit(&p->threads_running, 1, memory_order_release);
    return NULL;
}

vx_status vx_pipeline_start(vx_pipeline *p) {
    if (!p || p->started) return VX_ESTATE;
    p->started = 1;
    uint64_t now = vx_tsc_read();
    p->ingress.next_due_tsc = now;
    /* relaxed: published to the threads by pthread_create */
    atomic_store_explicit(&p->threads_running, p->cfg.thread_count, memory_order_relaxed);
    for (uint32_t t = 0; t < p->cfg.thread_count; t++) {
        p->args[t].p = p;
        p->args[t].index = t;
        int err = pthread_create(&p->threads[t], NULL, thread_main, &p->args[t]);
        if (err) {
            /* the threads never created will not decrement threads_running: do it for them */
            atomic_fetch_sub_explicit(&p->threads_running, p->cfg.thread_count - t, memory_order_release);
            vx_pipeline_abandon(p);
            for (uint32_t k = 0; k < t; k++) pthread_join(p->threads[k], NULL);
            p->threads_created = 0;
            p->joined = 1;
            errno = err;
            return VX_ESYS;
        }
        p->threads_created = t + 1;
    }
    return VX_OK;
}

void vx_pipeline_stop(vx_pipeline *p) {
    /* release pairs with the acquire load in ingress_turn */
    atomic_store_explicit(&p->stop, 1, memory_order_release);
}

void vx_pipeline_abandon(vx_pipeline *p) {
    vx_pipeline_stop(p);
    /* relaxed: see the load in thread_main */
    atomic_store_explicit(&p->abandon, 1, memory_order_relaxed);
}

int vx_pipeline_finished(const vx_pipeline *p) {
    /* acquire pairs with the release fetch_sub at the end of thread_main */
    return p->started && atomic_load_explicit(&p->threads_running, memory_order_acquire) == 0;
}

vx_status vx_pipeline_join(vx_pipeline *p) {
    if (!p || !p->started) return VX_ESTATE;
    if (p->joined) return VX_OK;
    for (uint32_t t = 0; t < p->threads_created; t++) pthread_join(p->threads[t], NULL);
    p->joined = 1;
    return VX_OK;
}

void vx_pipeline_destroy(vx_pipeline *p) {
    if (!p) return;
    if (p->started && !p->joined) {
        vx_pipeline_abandon(p);
        vx_pipeline_join(p);
    }
    vx_ring_destroy(p->ring_in);
    vx_ring_destroy(p->ring_mid);
    vx_ring_destroy(p->ring_out);
    vx_ring_destroy(p->ring_py);
    vx_book_destroy(p->book);
    free(p->book_exit_tsc);
    free(p->bundle_close_tsc);
    free(p->out_buf);
    free(p->depth_prices);
    free(p->depth_qtys);
    free(p->hists);
    free(p);
}

/* ---- observers -------------------------------------------------------------------------------- */

void vx_pipeline_read_counters(const vx_pipeline *p, vx_pipeline_counters *c) {
    memset(c, 0, sizeof *c);
    /* finished first (acquire), so a reader that sees finished also sees the final counts */
    c->finished = (uint32_t)vx_pipeline_finished(p);
    c->generated = counter_get(&p->ingress.generated);
    c->drops_ingress = counter_get(&p->ingress.drops);
    c->late = counter_get(&p->ingress.late);
    c->applied = counter_get(&p->bookst.applied);
    c->rejected = counter_get(&p->bookst.rejected);
    c->traded = counter_get(&p->bookst.traded);
    c->cas_timeouts = counter_get(&p->bookst.cas_timeouts);
    c->drops_book = counter_get(&p->bookst.drops);
    c->bundled = counter_get(&p->bundler.bundled);
    c->bundles = counter_get(&p->bundler.bundles);
    c->bundles_timed_out = counter_get(&p->bundler.timed_out);
    c->drops_bundler = counter_get(&p->bundler.drops);
    c->drops_bundler_txns = counter_get(&p->bundler.drops_txns);
    c->output_bundles = counter_get(&p->output.bundles);
    c->output_txns = counter_get(&p->output.txns);
    c->python_bundles = counter_get(&p->output.python_bundles);
    c->bytes_written = counter_get(&p->output.bytes_written);
    c->write_errors = counter_get(&p->output.write_errors);
    c->drops_python = counter_get(&p->output.drops_python);
    c->external_bundles = counter_get(&p->output.external_bundles);
    c->drops_external = counter_get(&p->output.drops_external);
    c->pin_failures = counter_get(&p->pin_failures);
    /* relaxed: a diagnostic */
    c->last_write_errno = atomic_load_explicit(&p->output.last_errno, memory_order_relaxed);
}

const vx_histogram *vx_pipeline_histogram(const vx_pipeline *p, vx_pipeline_hist which) {
    if ((unsigned)which >= VX_PIPELINE_HISTS) return NULL;
    return &p->hists[which];
}

vx_ring *vx_pipeline_python_ring(vx_pipeline *p) { return p->ring_py; }

uint32_t vx_pipeline_check_conservation(const vx_pipeline_counters *c, uint32_t sinks) {
    uint32_t bad = 0;
    if (c->generated != c->applied + c->rejected + c->drops_ingress) bad |= VX_CONSERVE_BOOK;
    if (c->applied != c->bundled + c->drops_book) bad |= VX_CONSERVE_BUNDLER;
    if (c->bundled != c->output_txns + c->drops_bundler_txns) bad |= VX_CONSERVE_BUNDLES;
    if (c->bundles != c->output_bundles + c->drops_bundler) bad |= VX_CONSERVE_OUTPUT;
    if ((sinks & VX_PIPELINE_SINK_PYTHON) && c->output_bundles != c->python_bundles + c->drops_python)
        bad |= VX_CONSERVE_PYTHON;
    if ((sinks & VX_PIPELINE_SINK_EXTERNAL) && c->output_bundles != c->external_bundles + c->drops_external)
        bad |= VX_CONSERVE_EXTERNAL;
    if ((sinks & VX_PIPELINE_SINK_FILE) &&
        (c->write_errors != 0 || c->bytes_written != c->output_bundles * (uint64_t)sizeof(vx_bundle)))
        bad |= VX_CONSERVE_FILE;
    return bad;
}

uint64_t vx_pipeline_memory_bytes(const vx_pipeline *p) { return p->memory_bytes; }

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

uint64_t vx_pipeline_book_digest(const vx_pipeline *p) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (int side = VX_BUY; side <= VX_SELL; side++) {
        size_t n = vx_book_depth(p->book, side, p->cfg.levels, p->depth_prices, p->depth_qtys);
        h = fnv1a(h, &n, sizeof n);
        h = fnv1a(h, p->depth_prices, n * sizeof(int64_t));
        h = fnv1a(h, p->depth_qtys, n * sizeof(uint64_t));
    }
    return h;
}
