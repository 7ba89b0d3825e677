/* velox/pipeline.c — see pipeline.h for the contract. This file only wires the stages:
 * configuration, construction, the threads (which run their stages' turns round-robin) and
 * the observers. The stages themselves: pipeline_source.c (ingress), pipeline_book.c,
 * pipeline_bundler.c, pipeline_sink.c (output); shared state in pipeline_internal.h. */
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

#include "velox/pipeline_internal.h"

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
    for (int k = 0; k < VX_PIPELINE_MAX_USER_STAGES; k++) cfg->user_stages[k] = NULL;
    cfg->user_stage_count = 0;
    cfg->user_emit_capacity = 64;
    cfg->records = VX_RECORDS_TXN;
    cfg->mbo_instruments = 1;
    cfg->mbo_max_orders = 1u << 20;
    cfg->mbo_follow = 1;
    cfg->strategy = NULL;
    memset(&cfg->strategy_host, 0, sizeof cfg->strategy_host);
    cfg->strategy_host.log_capacity = 4 * VX_STRATEGY_MAX_SENDS;
    cfg->strategy_host.risk.max_working = 64;
    cfg->venue_orders = cfg->venue_execs = NULL;
    cfg->strategy_edges = VX_STRATEGY_EDGE_FLAG;
    cfg->strategy_log_ring_capacity = 4096;
    cfg->strategy_close_timeout_ns = UINT64_C(2000000000);
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

/* 1 when the first user_stage_count tables are runnable (vx_user_stage_check) and each has
 * the batch callback this pipeline's records need. */
static int user_stages_ok(const vx_pipeline_config *c) {
    for (uint32_t k = 0; k < c->user_stage_count; k++) { /* count checked <= MAX first */
        const vx_user_stage *us = c->user_stages[k];
        if (vx_user_stage_check(us) != VX_OK ||
            !(c->records == VX_RECORDS_MBO ? vx_user_stage_mbo_batch(us) != NULL : us->on_batch != NULL))
            return 0;
    }
    return 1;
}

/* 1 when cfg.mbo_reference can be used: an MBO pipeline, arrays given, 1 .. 256 levels, a
 * first row inside the rows, rows * levels without overflow. */
static int reference_ok(const vx_pipeline_config *c) {
    const vx_pipeline_reference *r = c->mbo_reference;
    return c->records == VX_RECORDS_MBO && r->bid_px && r->ask_px && r->bid_qty && r->ask_qty &&
           r->levels >= 1 && r->levels <= VX_PIPELINE_MAX_REFERENCE_LEVELS && r->rows >= 1 &&
           r->first_row < r->rows && r->rows <= UINT64_MAX / r->levels;
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
    else if (c->user_stage_count > VX_PIPELINE_MAX_USER_STAGES) bad = "user_stage_count";
    else if (c->records != VX_RECORDS_TXN && c->records != VX_RECORDS_MBO) bad = "records";
    else if (c->source_ring && vx_ring_elem_size(c->source_ring) !=
                                   (c->records == VX_RECORDS_MBO ? sizeof(vx_mbo) : sizeof(vx_txn)))
        bad = "source_ring";
    else if (c->records == VX_RECORDS_MBO && !c->source_ring) bad = "source_ring"; /* no MBO generator */
    else if (c->input_tap && vx_ring_elem_size(c->input_tap) !=
                                 (c->records == VX_RECORDS_MBO ? sizeof(vx_mbo) : sizeof(vx_txn)))
        bad = "input_tap";
    else if (c->records == VX_RECORDS_MBO &&
             (c->mbo_instruments < 1 || c->mbo_instruments > VX_MBO_MAX_INSTRUMENTS))
        bad = "mbo_instruments";
    else if (c->records == VX_RECORDS_MBO && (c->mbo_max_orders < 1 || c->mbo_max_orders > VX_MBO_MAX_ORDERS))
        bad = "mbo_max_orders";
    else if (c->mbo_follow > 1)
        bad = "mbo_follow";
    else if (c->mbo_reference && !reference_ok(c))
        bad = "mbo_reference";
    else if (!user_stages_ok(c))
        bad = "user_stages"; /* bad table, or no callback for this pipeline's records */
    else if (!(c->replay_speed == 0.0 || (c->replay_speed >= 1e-3 && c->replay_speed <= 1e6)))
        bad = "replay_speed"; /* also NaN */
    else if (c->replay_speed != 0.0 && !c->source_ring) bad = "replay_speed"; /* replay only */
    else if (c->user_stage_count && (c->user_emit_capacity < 1 || c->user_emit_capacity > VX_STAGE_MAX_EMIT ||
                                     (uint64_t)c->user_stage_count * c->user_emit_capacity >= c->txn_ring_capacity))
        bad = "user_emit_capacity"; /* block mode needs room for a batch plus every emit buffer */
    else if (c->strategy && (c->records != VX_RECORDS_MBO || c->user_stage_count))
        bad = "strategy"; /* market-by-order pipelines, alone on the book thread */
    else if (c->strategy && c->strategy_venue != VX_STRATEGY_VENUE_LIVE &&
             c->strategy_venue != VX_STRATEGY_VENUE_SIM)
        bad = "strategy_venue";
    else if (c->strategy && c->strategy_venue == VX_STRATEGY_VENUE_SIM &&
             (c->venue_orders || c->venue_execs))
        bad = "venue_orders"; /* the simulated venue needs no gateway rings */
    else if (c->strategy && c->strategy_venue == VX_STRATEGY_VENUE_SIM && c->mbo_follow)
        bad = "mbo_follow"; /* the backtest's books keep their windows (as vx_backtest) */
    else if (c->strategy && c->strategy_venue == VX_STRATEGY_VENUE_SIM && c->mbo_reference)
        bad = "mbo_reference"; /* seeding levels mid-run would change the backtest's books */
    else if (c->strategy && c->strategy_venue == VX_STRATEGY_VENUE_SIM && c->input_tap)
        bad = "input_tap";
    else if (c->strategy && c->strategy_venue == VX_STRATEGY_VENUE_LIVE &&
             (!c->venue_orders || vx_ring_elem_size(c->venue_orders) != sizeof(vx_order)))
        bad = "venue_orders";
    else if (c->strategy && c->strategy_venue == VX_STRATEGY_VENUE_LIVE &&
             (!c->venue_execs || c->venue_execs == c->venue_orders ||
              vx_ring_elem_size(c->venue_execs) != sizeof(vx_exec)))
        bad = "venue_execs";
    else if (c->strategy && c->strategy_edges != VX_STRATEGY_EDGE_FLAG &&
             c->strategy_edges != VX_STRATEGY_EDGE_EVENT)
        bad = "strategy_edges";
    else if (c->strategy && !is_pow2_in(c->strategy_log_ring_capacity, 16, 1u << 20))
        bad = "strategy_log_ring_capacity";
    else if (c->strategy && c->strategy_close_timeout_ns > UINT64_C(3600000000000))
        bad = "strategy_close_timeout_ns";
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
    p->in_elem = cfg->records == VX_RECORDS_MBO ? (uint32_t)sizeof(vx_mbo) : (uint32_t)sizeof(vx_txn);
    if ((st = vx_ring_create(cfg->txn_ring_capacity, p->in_elem, &p->ring_in)) != VX_OK) goto fail;
    if ((st = vx_ring_create(cfg->txn_ring_capacity, sizeof(vx_txn), &p->ring_mid)) != VX_OK) goto fail;
    if ((st = vx_ring_create(cfg->bundle_ring_capacity, sizeof(vx_bundle), &p->ring_out)) != VX_OK) goto fail;
    p->memory_bytes += vx_ring_footprint(cfg->txn_ring_capacity, p->in_elem)
                       + vx_ring_footprint(cfg->txn_ring_capacity, sizeof(vx_txn))
                       + vx_ring_footprint(cfg->bundle_ring_capacity, sizeof(vx_bundle));
    if (cfg->python_ring_capacity) {
        if ((st = vx_ring_create(cfg->python_ring_capacity, sizeof(vx_bundle), &p->ring_py)) != VX_OK) goto fail;
        p->memory_bytes += vx_ring_footprint(cfg->python_ring_capacity, sizeof(vx_bundle));
    }
    if (cfg->records == VX_RECORDS_MBO && cfg->strategy &&
        cfg->strategy_venue == VX_STRATEGY_VENUE_SIM) {
        /* the backtest's books are the pipeline's: made with it (vx_pipe_strategy_create) */
    } else if (cfg->records == VX_RECORDS_MBO) {
        if ((st = vx_mbo_set_create(cfg->mbo_instruments, cfg->levels, cfg->tick_size,
                                    cfg->mbo_max_orders, &p->mbo)) != VX_OK) goto fail;
        p->memory_bytes += vx_mbo_set_memory_bytes(p->mbo);
    } else {
        if ((st = vx_book_create(cfg->levels, cfg->tick_size, cfg->base_price, &p->book)) != VX_OK) goto fail;
        p->memory_bytes += 2 * (uint64_t)cfg->levels * sizeof(uint64_t); /* the ladders (approx.) */
    }
    st = VX_ENOMEM;
    if (!(p->book_exit_tsc = alloc_zero(p, cfg->txn_ring_capacity * sizeof(uint64_t)))) goto fail;
    if (!(p->bundle_close_tsc = alloc_zero(p, cfg->bundle_ring_capacity * sizeof(uint64_t)))) goto fail;
    if (!(p->out_buf = alloc_zero(p, (size_t)cfg->output_buffer_bundles * sizeof(vx_bundle)))) goto fail;
    if (!(p->depth_prices = alloc_zero(p, cfg->levels * sizeof(int64_t)))) goto fail;
    if (!(p->depth_qtys = alloc_zero(p, cfg->levels * sizeof(uint64_t)))) goto fail;
    if (!(p->hists = alloc_zero(p, VX_PIPELINE_HISTS * sizeof(vx_histogram)))) goto fail;
    if (cfg->user_stage_count) { /* the events the stages see, and their (shared) emit buffer */
        if (cfg->records == VX_RECORDS_MBO) {
            if (!(p->user_mbo_events = alloc_zero(p, (size_t)cfg->batch * sizeof(vx_mbo)))) goto fail;
        } else if (!(p->user_events = alloc_zero(p, (size_t)cfg->batch * sizeof(vx_txn)))) {
            goto fail;
        }
        if (!(p->user_orders = alloc_zero(p, (size_t)cfg->user_emit_capacity * sizeof(vx_txn)))) goto fail;
    }
    for (int h = 0; h < VX_PIPELINE_HISTS; h++) vx_histogram_init(&p->hists[h]);
    if (cfg->strategy && (st = vx_pipe_strategy_create(p)) != VX_OK) goto fail;

    /* ingress: seeded generator, mid in the middle of the window */
    vx_prng_seed(&p->ingress.rng, cfg->seed);
    p->ingress.mid_level = cfg->levels / 2;
    p->ingress.cancel_below = (uint64_t)ceil(cfg->cancel_share * 9007199254740992.0); /* 2^53 */
    p->ingress.mean_gap_ticks = cfg->rate_per_s > 0 ? 1e9 * cfg->ticks_per_ns / cfg->rate_per_s : 0.0;
    p->ingress.replay_ticks_per_ns = cfg->replay_speed > 0 ? cfg->ticks_per_ns / cfg->replay_speed : 0.0;
    if (cfg->mbo_reference) p->bookst.reference_row = cfg->mbo_reference->first_row;
    atomic_init(&p->ingress.source_status, 0);
    atomic_init(&p->output.last_errno, 0);
    *out = p;
    return VX_OK;
fail:
    vx_pipeline_destroy(p);
    return st;
}

/* ---- threads ------------------------------------------------------------------------------ */

typedef uint32_t (*stage_turn_fn)(vx_pipeline *);
static const stage_turn_fn stage_turns[VX_STAGES] = {vx_pipe_ingress_turn, vx_pipe_book_turn,
                                                      vx_pipe_bundler_turn, vx_pipe_output_turn};

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
        if (runs_ingress && ingress_scheduled(p))
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

void vx_pipeline_close_source(vx_pipeline *p) {
    /* release pairs with the acquire load in the source turn: every record pushed into the
     * source ring before this call is seen there before "closed" */
    atomic_store_explicit(&p->source_closed, 1, memory_order_release);
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
    /* an abandoned run's stages never saw their book stage finish: finish them here (joined) */
    vx_pipe_user_stages_finish(p);
    if (p->cfg.strategy) vx_pipe_strategy_destroy(p);
    vx_ring_destroy(p->ring_in);
    vx_ring_destroy(p->ring_mid);
    vx_ring_destroy(p->ring_out);
    vx_ring_destroy(p->ring_py);
    vx_book_destroy(p->book);
    vx_mbo_set_destroy(p->mbo);
    free(p->book_exit_tsc);
    free(p->bundle_close_tsc);
    free(p->out_buf);
    free(p->depth_prices);
    free(p->depth_qtys);
    free(p->hists);
    free(p->user_events);
    free(p->user_mbo_events);
    free(p->user_orders);
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
    c->recenters = counter_get(&p->bookst.recenters);
    c->recenters_deferred = counter_get(&p->bookst.recenters_deferred);
    c->reference_seeded = counter_get(&p->bookst.reference_seeded);
    c->reference_rows_differing = counter_get(&p->bookst.reference_rows_differing);
    c->reference_rows_checked = counter_get(&p->bookst.reference_rows_checked);
    c->cas_timeouts = counter_get(&p->bookst.cas_timeouts);
    c->drops_book = counter_get(&p->bookst.drops);
    c->tapped = counter_get(&p->bookst.tapped);
    c->drops_tap = counter_get(&p->bookst.drops_tap);
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
    for (uint32_t k = 0; k < p->cfg.user_stage_count; k++) {
        const user_slot *u = &p->bookst.user[k];
        vx_pipeline_stage_counters *o = &c->user[k];
        o->batches = counter_get(&u->batches);
        o->emitted = counter_get(&u->emitted);
        o->rejected = counter_get(&u->rejected);
        o->bad_returns = counter_get(&u->bad_returns);
        o->init_failed = counter_get(&u->init_failed);
        c->user_batches += o->batches;
        c->user_emitted += o->emitted;
        c->user_rejected += o->rejected;
        c->user_bad_returns += o->bad_returns;
        c->user_init_failed += o->init_failed;
    }
    c->source_errors = counter_get(&p->ingress.source_errors);
    /* relaxed: a diagnostic, written once before the source finishes */
    c->source_status = atomic_load_explicit(&p->ingress.source_status, memory_order_relaxed);
    c->records = (uint32_t)p->cfg.records;
    if (p->cfg.strategy) vx_pipe_strategy_counters(p, c);
    /* relaxed: a diagnostic */
    c->last_write_errno = atomic_load_explicit(&p->output.last_errno, memory_order_relaxed);
}

const vx_histogram *vx_pipeline_histogram(const vx_pipeline *p, vx_pipeline_hist which) {
    if ((unsigned)which >= VX_PIPELINE_HISTS) return NULL;
    return &p->hists[which];
}

vx_ring *vx_pipeline_python_ring(vx_pipeline *p) { return p->ring_py; }

const vx_book *vx_pipeline_book(const vx_pipeline *p) { return p->book; }

const vx_mbo_set *vx_pipeline_mbo(const vx_pipeline *p) { return p->mbo; }

/* view_gate: VIEW_CLOSED while the book stage recenters; the low bits count the readers
 * inside. One word, every access an RMW: the RMWs on it are totally ordered, so "a reader
 * got in" and "the book stage closed it" exclude each other without seq_cst. */
#define VIEW_CLOSED 0x80000000u

vx_status vx_pipeline_view_enter(vx_pipeline *p) {
    vx_ring_backoff b = {0};
    for (uint32_t attempt = 0; attempt < VX_PIPELINE_VIEW_ATTEMPTS; attempt++) { /* bounded */
        /* acquire: pairs with the release in vx_pipe_view_open (a recenter's writes happen
         * before the reads we then make) */
        if (!(atomic_fetch_add_explicit(&p->view_gate, 1, memory_order_acquire) & VIEW_CLOSED))
            return VX_OK;
        /* relaxed: we read nothing; the book stage does not wait for this count */
        atomic_fetch_sub_explicit(&p->view_gate, 1, memory_order_relaxed);
        vx_ring_backoff_pause(&b); /* spin, yield, then sleeps up to 100 us */
    }
    return VX_TIMEOUT;
}

void vx_pipeline_view_exit(vx_pipeline *p) {
    /* release: our reads happen before the book stage's acquire CAS that sees the count 0
     * (and so before the recenter it then makes) */
    atomic_fetch_sub_explicit(&p->view_gate, 1, memory_order_release);
}

int vx_pipe_view_close(vx_pipeline *p) {
    uint32_t open_and_empty = 0;
    /* acquire: pairs with the readers' release exits (the release sequence of RMWs ends in
     * the 0 we replace); relaxed on failure: nothing is read */
    return atomic_compare_exchange_strong_explicit(&p->view_gate, &open_and_empty, VIEW_CLOSED,
                                                   memory_order_acquire, memory_order_relaxed);
}

void vx_pipe_view_open(vx_pipeline *p) {
    /* release: pairs with the acquire fetch_add of a reader that then finds the gate open;
     * fetch_and keeps the count of readers backing out meanwhile */
    atomic_fetch_and_explicit(&p->view_gate, ~VIEW_CLOSED, memory_order_release);
}

uint32_t vx_pipeline_check_conservation(const vx_pipeline_counters *c, uint32_t sinks) {
    uint32_t bad = 0;
    if (c->generated != c->applied + c->rejected + c->drops_ingress) bad |= VX_CONSERVE_BOOK;
    /* MBO events are not bundled: only the stage's orders reach the bundler */
    const uint64_t into_bundler = (c->records == VX_RECORDS_MBO ? 0 : c->applied) + c->user_emitted;
    if (into_bundler != c->bundled + c->drops_book) bad |= VX_CONSERVE_BUNDLER;
    if (c->bundled != c->output_txns + c->drops_bundler_txns) bad |= VX_CONSERVE_BUNDLES;
    if (c->bundles != c->output_bundles + c->drops_bundler) bad |= VX_CONSERVE_OUTPUT;
    if ((sinks & VX_PIPELINE_SINK_PYTHON) && c->output_bundles != c->python_bundles + c->drops_python)
        bad |= VX_CONSERVE_PYTHON;
    if ((sinks & VX_PIPELINE_SINK_EXTERNAL) && c->output_bundles != c->external_bundles + c->drops_external)
        bad |= VX_CONSERVE_EXTERNAL;
    if ((sinks & VX_PIPELINE_SINK_FILE) &&
        (c->write_errors != 0 || c->bytes_written != c->output_bundles * (uint64_t)sizeof(vx_bundle)))
        bad |= VX_CONSERVE_FILE;
    if ((sinks & VX_PIPELINE_SINK_TAP) && c->applied + c->rejected != c->tapped + c->drops_tap)
        bad |= VX_CONSERVE_TAP;
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
    if (p->mbo) {
        for (uint32_t i = 0; i < p->cfg.mbo_instruments; i++) { /* bounded by instruments */
            uint64_t d = vx_mbo_digest(vx_mbo_set_reader(p->mbo, i));
            h = fnv1a(h, &d, sizeof d);
        }
        return h;
    }
    for (int side = VX_BUY; side <= VX_SELL; side++) {
        size_t n = vx_book_depth(p->book, side, p->cfg.levels, p->depth_prices, p->depth_qtys);
        h = fnv1a(h, &n, sizeof n);
        h = fnv1a(h, p->depth_prices, n * sizeof(int64_t));
        h = fnv1a(h, p->depth_qtys, n * sizeof(uint64_t));
    }
    return h;
}
