/*
 * velox/pipeline.h — the native transaction pipeline: four stages on pinned pthreads,
 * connected by SPSC rings, with no locks and no allocation after vx_pipeline_create.
 *
 *   ingress ──ring(txns)──▶ book ──ring(txns)──▶ bundler ──ring(bundles)──▶ output
 *                                                                  ├─▶ [python ring]
 *                                                                  └─▶ [external ring]
 *                  └─▶ [input tap] (a copy of every record the book takes, for a journal)
 *
 * Stages
 *   - ingress: deterministic order flow from a seeded xoshiro256** (vx_prng): a mid price that
 *     random-walks inside the book's price window, buys and sells, sizes, a share of cancels.
 *     Each transaction's tsc is the TSC read when it is made (or, with logical_timestamps,
 *     its seq, so that a seeded unpaced block-mode run writes byte-identical output). Paced as a Poisson process at
 *     rate_per_s (exponential gaps scheduled in TSC ticks; when behind it catches up, and the
 *     gap between schedule and creation goes into the ingress_lateness histogram) or unpaced
 *     (rate_per_s == 0). Stops at max_txns (if > 0) or at vx_pipeline_stop.
 *   - book: vx_book_apply on every transaction; accepted ones go downstream, rejected ones
 *     are counted and dropped from the flow (they are answered, not lost).
 *   - bundler: packs up to 16 transactions per bundle; a bundle closes when full, when its
 *     oldest transaction has waited bundle_timeout_ns in the bundler (0: no timeout), or at
 *     shutdown. bundle_id counts from 0.
 *   - output: consumes bundles; counts them; optionally writes them (raw 528-byte records,
 *     through a buffer allocated at create) to output_fd, and/or copies them into the
 *     "python ring" that the Python driver drains on its own thread, and/or into an
 *     "external ring": a caller-owned vx_ring of vx_bundle records (e.g. one placed in a
 *     shared-memory segment by velox/shm.h, drained by another process). The pipeline never
 *     allocates, frees or unmaps the external ring; the caller keeps it valid from
 *     vx_pipeline_create until vx_pipeline_join (or destroy) returns, and the output stage is
 *     its only producer for that time.
 *
 * Full rings: VX_ON_FULL_DROP counts and discards what does not fit; VX_ON_FULL_BLOCK holds
 * it and retries (backpressure all the way up to ingress; with both the python and the external
 * ring on, the output stage moves a bundle only when both have room, so in block mode each
 * gets every bundle). A stage never waits inside its own
 * turn, so stages grouped on one thread cannot deadlock each other.
 *
 * Threads: thread_count threads (1..4); stage_thread[s] says which thread runs stage s; a
 * thread runs its stages round-robin, each doing at most `batch` items per turn, and waits
 * with the wait strategy only when none of its stages had work. thread_cpu[t] pins thread t
 * (pthread_setaffinity_np) or, when -1, leaves it unpinned. Pinning failures are reported in
 * the counters (pin_failures), not fatal.
 *
 * Shutdown: vx_pipeline_stop sets a flag (release) that ingress reads (acquire); ingress then
 * finishes; each downstream stage finishes once its upstream stage has finished (acquire)
 * and its input ring is empty, after flushing what it holds. So every transaction made is
 * accounted for. vx_pipeline_abandon makes every stage quit at once (for teardown when
 * nobody will drain the python ring); conservation then does not hold.
 *
 * Conservation (exact once vx_pipeline_finished, checked by vx_pipeline_check_conservation):
 *     generated      = applied + rejected + drops[ingress->book]
 *     applied        = bundled + drops[book->bundler]
 *     bundled        = output_txns + dropped bundle txns      (sum of bundle counts)
 *     bundles        = output_bundles + drops[bundler->output]
 *     output_bundles = python_bundles + drops[output->python]  (when the python ring is on)
 *     output_bundles = external_bundles + drops[output->external] (when the external ring is on)
 *     bytes_written  = output_bundles * sizeof(vx_bundle), write_errors = 0 (when output_fd is on)
 *
 * Threading contract: create/start/join/destroy from one controlling thread; stop, abandon,
 * finished, counters, histogram reads and the python ring's consumer side from any one
 * thread at a time (the python ring is SPSC: its consumer is the driver). The external ring's
 * consumer is whoever the caller designates (one thread or process).
 */
#ifndef VELOX_PIPELINE_H
#define VELOX_PIPELINE_H

#include <stdint.h>

#include "velox/backtest.h"
#include "velox/histogram.h"
#include "velox/host.h"
#include "velox/mbo.h"
#include "velox/orderbook.h"
#include "velox/ring.h"
#include "velox/stage.h"
#include "velox/types.h"

enum { VX_STAGE_INGRESS = 0, VX_STAGE_BOOK = 1, VX_STAGE_BUNDLER = 2, VX_STAGE_OUTPUT = 3, VX_STAGES = 4 };
enum { VX_PIPELINE_MAX_THREADS = VX_STAGES };
/* User stages one pipeline hosts (cfg.user_stages): all on the book's thread, in order. */
enum { VX_PIPELINE_MAX_USER_STAGES = 8 };

typedef enum vx_on_full { VX_ON_FULL_DROP = 0, VX_ON_FULL_BLOCK = 1 } vx_on_full;

/* What the source carries, and so which book the book stage keeps (cfg.records):
 *   VX_RECORDS_TXN  transactions (vx_txn, 32 B) applied to the L2 ladder (vx_book); accepted
 *                   ones go on to the bundler (today's pipeline).
 *   VX_RECORDS_MBO  market-by-order events (vx_mbo, 48 B, e.g. from velox's LOBSTER / ITCH
 *                   readers) applied to a vx_mbo_set of mbo_instruments books (one shared
 *                   order table of mbo_max_orders; each book's window placed at its first
 *                   ADD). Needs a source_ring of vx_mbo. Events are not bundled: the bundler
 *                   carries the orders a user stage (on_mbo_batch) emits. An event's ts is
 *                   never overwritten (it is the exchange's), so the histograms timed from the
 *                   record (ingress_to_book, ingress_to_bundler, end_to_end) stay empty. */
typedef enum vx_pipeline_records { VX_RECORDS_TXN = 0, VX_RECORDS_MBO = 1 } vx_pipeline_records;

/* How an idle thread waits: spin (pause), yield (sched_yield), or backoff (by idle time: spin
 * for the first 50 us, then sched_yield until 200 us, then sleep VX_PIPELINE_BACKOFF_SLEEP_NS
 * per round; a thread running a paced ingress spins whenever its next transaction is due
 * within 50 us and never sleeps past it). Yielding early is what costs latency on a shared
 * CPU: sched_yield can hand the CPU to another runnable task for a whole scheduler slice. */
typedef enum vx_wait { VX_WAIT_SPIN = 0, VX_WAIT_YIELD = 1, VX_WAIT_BACKOFF = 2 } vx_wait;
#define VX_PIPELINE_BACKOFF_SLEEP_NS 20000u

/* Histograms (all in nanoseconds; each written by exactly one stage). */
typedef enum vx_pipeline_hist {
    VX_HIST_INGRESS_TO_BOOK = 0,     /* txn made -> book applies it          (book) */
    VX_HIST_BOOK_TO_BUNDLER = 1,     /* book published it -> bundler takes it (bundler) */
    VX_HIST_INGRESS_TO_BUNDLER = 2,  /* txn made -> bundler takes it          (bundler) */
    VX_HIST_BUNDLE_TO_OUTPUT = 3,    /* bundle closed -> output takes it      (output) */
    VX_HIST_END_TO_END = 4,          /* txn made -> output takes its bundle   (output) */
    VX_HIST_INGRESS_LATENESS = 5,    /* scheduled time -> creation (paced)    (ingress) */
    VX_HIST_BOOK_BATCH = 6,          /* MBO: one book turn (apply a batch, follow, user
                                        stages), from its start to its end      (book) */
    VX_PIPELINE_HISTS = 7
} vx_pipeline_hist;

/* An L2 reference for an MBO replay of one instrument (a LOBSTER orderbook file beside its
 * level-limited message file): row r is the top `levels` levels of each side after event r
 * of the replay; the book stage's k-th event (applied or rejected) is row first_row + k.
 * After each such event, every level of the row that instrument 0's book does not hold at
 * all (quantity 0 at that price) is seeded there (vx_mbo_seed_level: lots with no identity),
 * counted in reference_seeded: a level deeper than the file's levels comes into view with no
 * ADD. Then the book's top `levels` levels of each side are compared with the row; a row
 * they differ from counts in reference_rows_differing (a level the book holds with another
 * quantity is not corrected: its orders changed while it was out of the file's view).
 * Events past the last row are not checked. Arrays are rows x levels, row-major, best
 * first, empty levels price 0 and qty 0; caller-owned, alive and unchanged until the
 * pipeline is destroyed. Costs O(levels) per event. */
enum { VX_PIPELINE_MAX_REFERENCE_LEVELS = 256 };
typedef struct vx_pipeline_reference {
    const int64_t *bid_px, *ask_px;  /* [rows * levels] */
    const uint64_t *bid_qty, *ask_qty;
    uint64_t rows;                   /* >= 1 */
    uint32_t levels;                 /* [1, VX_PIPELINE_MAX_REFERENCE_LEVELS] */
    uint64_t first_row;              /* row of the book stage's first event, < rows */
} vx_pipeline_reference;

typedef struct vx_pipeline_config {
    double ticks_per_ns;            /* from vx_tsc_calibrate; > 0 */
    double rate_per_s;              /* Poisson rate; 0 = unpaced ("max"); else in [1, 1e9] */
    uint64_t max_txns;              /* stop ingress after this many (0: no limit) */
    uint64_t seed;                  /* PRNG seed */
    uint32_t logical_timestamps;    /* 1: txn.tsc = its seq (deterministic output; the
                                       histograms timed from txn.tsc — ingress_to_book,
                                       ingress_to_bundler, end_to_end — stay empty); 0: TSC */
    uint32_t levels;                /* book price levels, [2, 1<<20] (vx_book_create) */
    int64_t tick_size;              /* fixed-point price step, > 0 */
    int64_t base_price;             /* fixed-point price of level 0, > 0 */
    double cancel_share;            /* share of cancels in [0, 1) */
    uint32_t max_qty;               /* sizes uniform in [1, max_qty], max_qty >= 1 */
    uint64_t bundle_timeout_ns;     /* 0: bundles close only when full or at shutdown */
    vx_on_full on_full;
    vx_wait wait;
    uint32_t batch;                 /* items per stage turn, [1, 4096] (default 64) */
    uint32_t txn_ring_capacity;     /* power of two, [2, 2^24] (default 4096) */
    uint32_t bundle_ring_capacity;  /* power of two, [2, 2^20] (default 1024) */
    uint32_t python_ring_capacity;  /* 0: no python ring; else power of two [2, 2^20] */
    vx_ring *external_ring;         /* NULL: none; else a caller-owned ring whose elem_size is
                                       sizeof(vx_bundle) (see "output" above for its lifetime) */
    int output_fd;                  /* -1: no file output; else an fd open for writing */
    uint32_t output_buffer_bundles; /* file write buffer, in bundles, [1, 65536] (default 64) */
    uint32_t thread_count;          /* [1, 4] */
    uint32_t stage_thread[VX_STAGES]; /* thread of each stage; every thread gets >= 1 stage */
    int32_t thread_cpu[VX_PIPELINE_MAX_THREADS]; /* CPU to pin thread t to, or -1 */
    const vx_user_stage *user_stages[VX_PIPELINE_MAX_USER_STAGES]; /* the first
                                        user_stage_count are run, in this order, on the book
                                        thread after each book batch (velox/stage.h); each
                                        sees the same events and book, and its valid orders
                                        follow the previous stage's into the bundler; each
                                        must outlive the pipeline */
    uint32_t user_stage_count;       /* [0, VX_PIPELINE_MAX_USER_STAGES] (default 0) */
    uint32_t user_emit_capacity;     /* orders each stage may emit per batch, [1, 4096], and
                                        user_stage_count * it < txn_ring_capacity (default 64) */
    vx_ring *source_ring;            /* NULL: the synthetic generator; else the source is this
                                        caller-owned ring of vx_txn (elem_size 32) fed by one
                                        producer (Python's Pipeline.feed, a file reader, another
                                        process): ingress pops it (rate/seed/max_txns unused),
                                        stamps tsc (not in logical mode), and finishes once
                                        vx_pipeline_close_source (or stop) was called and the
                                        ring is empty. Records are not trusted: the book
                                        rejects invalid ones (counted in rejected). A ring
                                        whose indices break the ring's invariant (a hostile
                                        or broken peer process: VX_ECORRUPT), or any other
                                        failed peek, ends the source: it finishes at once,
                                        counted in source_errors (status in source_status). */
    double replay_speed;             /* source_ring only. 0: as fast as possible. Else paced
                                        replay: a record is released into the pipeline once
                                        (its tsc - the first record's tsc) / replay_speed ns
                                        have passed since the first record was taken (its tsc
                                        field read as a ns timestamp, e.g. a feed's); a
                                        record older than the first is due at once; the wait
                                        before each (lateness) goes into ingress_lateness and
                                        `late`. In [1e-3, 1e6]. vx_pipeline_stop ends a paced
                                        replay at once: the records still in the ring stay there
                                        (the caller counts them as not replayed: fed = generated
                                        + what the ring still holds); vx_pipeline_close_source
                                        instead replays the ring to its end. */
    vx_pipeline_records records;     /* VX_RECORDS_TXN (default) or VX_RECORDS_MBO (see above) */
    uint32_t mbo_instruments;        /* MBO: books, instrument ids 0 .. n-1, [1, 65536] (1) */
    uint32_t mbo_max_orders;         /* MBO: live orders the table holds, [1, 2^30] (2^20) */
    uint32_t mbo_follow;             /* MBO: 1 (default) = the book stage recenters a book whose
                                        market nears an edge of its window or leaves it
                                        (vx_mbo_set_follow after each batch, before the user
                                        stages run; amortised: its work never runs more than one
                                        recenter ahead of the events applied; never while a
                                        live-view reader is inside vx_pipeline_view_enter/_exit,
                                        then deferred, counted); 0 = windows stay put */
    vx_ring *input_tap;              /* NULL (default): none. Else a caller-owned ring of the
                                        source's records (elem_size 32: vx_txn; MBO: 48, vx_mbo)
                                        into which the book stage copies every record it takes
                                        from the ingress ring (applied or rejected), in the order
                                        it takes them (published at the end of its turn): a tap
                                        for a journal of the run's input, drained by the caller
                                        on its own thread. VX_ON_FULL_BLOCK: the book takes only as many
                                        records as the tap has room for (a full tap holds the
                                        book back); VX_ON_FULL_DROP: what does not fit is not
                                        copied, counted in drops_tap. The book stage is its only
                                        producer; lifetime as for external_ring. */
    const vx_pipeline_reference *mbo_reference; /* MBO: NULL (default), or the L2 book after
                                        every event of the replay (a LOBSTER orderbook file;
                                        see vx_pipeline_reference), checked against instrument
                                        0's book after each event the book stage takes */
    /* A strategy of ABI v2 (strategy.h) hosted on the book thread (host.h), trading through
     * the live venue (venue_live.h) over two caller-owned rings, or (strategy_venue
     * VX_STRATEGY_VENUE_SIM) through the simulated venue of a backtest (backtest.h) that the
     * book thread drives. MBO pipelines only, and no user_stages beside it (the v1 stages keep
     * their own path). See "Strategies" below. */
    const vx_strategy *strategy;     /* NULL: none (the rest of these fields are unused) */
    uint32_t strategy_venue;         /* VX_STRATEGY_VENUE_LIVE (default) or _SIM */
    vx_sim_venue_config strategy_sim;/* _SIM: the simulated venue (its instruments is set
                                        from mbo_instruments); venue_orders / venue_execs,
                                        mbo_follow, mbo_reference and input_tap must be unset */
    vx_host_config strategy_host;    /* log_capacity, pnl_interval_ns, risk, args; its
                                        instruments is set from mbo_instruments */
    vx_ring *venue_orders;           /* vx_order records to the gateway (this pipeline is the
                                        only producer, on the book thread) */
    vx_ring *venue_execs;            /* vx_exec records from the gateway (only consumer) */
    uint32_t strategy_edges;         /* VX_STRATEGY_EDGE_FLAG or VX_STRATEGY_EDGE_EVENT */
    uint32_t strategy_log_ring_capacity; /* the three log rings to the driver: power of two,
                                        [16, 2^20] (default 4096) */
    uint64_t strategy_close_timeout_ns; /* at the end: how long (wall clock) the book thread
                                        waits for the reports of the end-of-run cancels
                                        (default 2 s; 0: not at all) */
} vx_pipeline_config;

/* ---- Strategies (cfg.strategy) -----------------------------------------------------------
 * Groups. The book thread cuts the events it takes into groups as backtest.h does (edges:
 * VX_STRATEGY_EDGE_FLAG = an event with VX_MBO_F_LAST, or VX_STRATEGY_MAX_GROUP events
 * without one; VX_STRATEGY_EDGE_EVENT = every event; a group may span book turns, its
 * applied events are copied). Event time t = the event's ts made non-decreasing. Per group:
 *   before its first event: vx_host_deliver(t) (reports that reached the execs ring, the
 *   timer, local REJECTs); each event: apply (and follow / reference as without a strategy);
 *   at its edge: vx_host_market(applied events, last t) when >= 1 event applied.
 * A book turn that finds no event calls vx_host_deliver(last t): reports are delivered while
 * the market is quiet (the strategy's clock stands still: it is the data's).
 * Logs. After every host call the book thread moves the host's logs (orders sent, reports
 * received, P&L points) into three rings (vx_pipeline_strategy_log) that the driver drains.
 * When the host's log room is below vx_host_callback_room after that (the driver is behind),
 * the book stage takes no event until it has room (counted in strategy_log_waits): nothing
 * is lost that way; a record the host still finds no room for is its log_lost.
 * End. Once the input is finished and taken: the open group's on_market, then the kill
 * switch (vx_host_kill: a CANCEL for every working order, every later order refused), then
 * vx_host_deliver(last t) on every turn until no order is working or
 * strategy_close_timeout_ns (wall clock) passed, then vx_host_finish, the last logs, and
 * vx_host_check (vx_pipeline_strategy_check). vx_pipeline_abandon skips all of it.
 * The host and the live venue are made by vx_pipeline_create (their memory counted in
 * memory_bytes) and read only on the book thread; vx_pipeline_strategy_host gives the host
 * to the caller once joined. */
enum { VX_STRATEGY_EDGE_FLAG = 1, VX_STRATEGY_EDGE_EVENT = 2 };
/* Simulated venue (strategy_venue = VX_STRATEGY_VENUE_SIM): the book stage owns a vx_backtest
 * (backtest.h) made by vx_pipeline_create from the MBO fields (mbo_instruments, levels,
 * tick_size, mbo_max_orders), strategy_edges, strategy_sim and strategy_host; its books are
 * the pipeline's books (vx_pipeline_mbo, the live view, snapshots seeded before start). Each
 * book turn feeds the events it peeked to vx_backtest_feed, in ring order, and releases what
 * the backtest consumed (it stops at a group edge when the logs need draining: the rest stay
 * in the ring). The backtest, not the book thread, cuts groups and makes deliveries, so the
 * batch edges, pacing, topology and thread timing are invisible to the strategy: its orders,
 * reports and P&L are byte-identical to a vx_backtest fed the same events with the same
 * configuration. A turn with no event does nothing (the strategy's clock is the data's). Logs
 * move into the same three rings after every feed. End: vx_backtest_finish (again on later
 * turns while it says VX_FULL), the last logs, its conservation result as
 * vx_pipeline_strategy_check. applied / rejected count the backtest's applied and
 * book_rejects. */
enum { VX_STRATEGY_VENUE_LIVE = 0, VX_STRATEGY_VENUE_SIM = 1 };
enum { VX_PIPELINE_LOG_ORDERS = 0, VX_PIPELINE_LOG_EXECS = 1, VX_PIPELINE_LOG_PNL = 2,
       VX_PIPELINE_LOGS = 3 };

/* One user stage's counters (cfg.user_stages[i]). */
typedef struct vx_pipeline_stage_counters {
    uint64_t batches;     /* on_batch / on_mbo_batch calls */
    uint64_t emitted;     /* valid orders it emitted (forwarded or dropped by a full ring) */
    uint64_t rejected;    /* orders it returned that failed vx_txn_validate (or qty 0) */
    uint64_t bad_returns; /* calls that returned more than the capacity (orders discarded) */
    uint64_t init_failed; /* 1 if its init refused (it then never ran) */
} vx_pipeline_stage_counters;

/* A consistent-enough snapshot of the counters (relaxed loads; exact once finished). */
typedef struct vx_pipeline_counters {
    uint64_t generated;         /* ingress: transactions made */
    uint64_t applied;           /* book: accepted by vx_book_apply */
    uint64_t rejected;          /* book: refused by vx_book_apply */
    uint64_t traded;            /* book: accepted transactions that traded */
    uint64_t cas_timeouts;      /* book: VX_TIMEOUT results of vx_book_apply */
    uint64_t recenters;         /* book (MBO, mbo_follow): books recentered on their market */
    uint64_t recenters_deferred;/* book (MBO, mbo_follow): follow passes put off because a
                                   live-view reader was inside the gate */
    uint64_t reference_seeded;  /* book (MBO, mbo_reference): levels seeded from the
                                   reference as they came into view */
    uint64_t reference_rows_differing; /* book (MBO, mbo_reference): events after which the
                                   book's top levels differed from the reference row */
    uint64_t reference_rows_checked;   /* book (MBO, mbo_reference): events checked */
    uint64_t bundled;           /* bundler: transactions put into bundles */
    uint64_t bundles;           /* bundler: bundles closed */
    uint64_t bundles_timed_out; /* bundler: closed by the timeout (subset of bundles) */
    uint64_t output_bundles;    /* output: bundles consumed */
    uint64_t output_txns;       /* output: sum of their counts */
    uint64_t python_bundles;    /* output: bundles copied into the python ring */
    uint64_t external_bundles;  /* output: bundles copied into the external ring */
    uint64_t bytes_written;     /* output: bytes written to output_fd */
    uint64_t write_errors;      /* output: failed write() calls (errno in last_write_errno) */
    uint64_t drops_ingress;     /* txns dropped: ingress->book ring full */
    uint64_t drops_book;        /* txns dropped: book->bundler ring full */
    uint64_t drops_bundler;     /* bundles dropped: bundler->output ring full */
    uint64_t drops_bundler_txns;/* the transactions inside those bundles */
    uint64_t drops_python;      /* bundles dropped: python ring full */
    uint64_t drops_external;    /* bundles dropped: external ring full */
    uint64_t late;              /* ingress: txns made >= VX_PIPELINE_LATE_NS after schedule */
    uint64_t pin_failures;      /* threads that could not be pinned */
    uint64_t user_batches;      /* user stages, summed: on_batch calls */
    uint64_t user_emitted;      /* user stages, summed: valid orders (forwarded or dropped) */
    uint64_t user_rejected;     /* user stages, summed: orders that failed vx_txn_validate */
    uint64_t user_bad_returns;  /* user stages, summed: returns over the capacity */
    uint64_t user_init_failed;  /* user stages whose init refused (they never ran) */
    vx_pipeline_stage_counters user[VX_PIPELINE_MAX_USER_STAGES]; /* per stage, in cfg order */
    uint64_t tapped;            /* book (input_tap): records copied into the tap */
    uint64_t drops_tap;         /* book (input_tap): records taken but not copied (tap full) */
    uint64_t source_errors;     /* source ring: 1 if a peek failed (VX_ECORRUPT: the ring's
                                   indices were broken by its other side); the source ended */
    int32_t source_status;      /* the vx_status of that failed peek (0 = none) */
    uint32_t records;           /* cfg.records (which conservation equations apply) */
    int32_t last_write_errno;
    uint32_t finished;          /* 1 once every stage has finished */
    /* cfg.strategy (book thread): */
    uint64_t strategy_groups;   /* groups cut (on_market calls, plus groups with no event
                                   applied) */
    uint64_t strategy_idle_delivers; /* vx_host_deliver calls on turns with no event */
    uint64_t strategy_log_waits;/* turns that took no event: the host's logs had no room */
    uint64_t strategy_logged[VX_PIPELINE_LOGS]; /* records moved into each log ring */
    uint64_t strategy_closing;  /* 1 once the end-of-run cancels were sent */
    uint64_t strategy_close_timed_out; /* 1 when orders were still working at the timeout */
    uint64_t venue_submitted, venue_refused_full, venue_polled, venue_ring_errors;
                                /* the live venue's counters (venue_live.h) */
} vx_pipeline_counters;
#define VX_PIPELINE_LATE_NS 10000u

/* Which conservation equation failed (bit set), 0 when all hold. */
enum {
    VX_CONSERVE_BOOK = 1,    /* generated = applied + rejected + drops_ingress */
    VX_CONSERVE_BUNDLER = 2, /* applied + user_emitted = bundled + drops_book (MBO: user_emitted
                              * = bundled + drops_book: events are not bundled) */
    VX_CONSERVE_BUNDLES = 4, /* bundled = output_txns + drops_bundler_txns */
    VX_CONSERVE_OUTPUT = 8,  /* bundles = output_bundles + drops_bundler */
    VX_CONSERVE_PYTHON = 16,  /* output_bundles = python_bundles + drops_python (python ring on) */
    VX_CONSERVE_EXTERNAL = 32, /* output_bundles = external_bundles + drops_external (external on) */
    VX_CONSERVE_FILE = 64,     /* bytes_written = output_bundles * sizeof(vx_bundle) and
                                * write_errors = 0 (output_fd on): a run that failed to write
                                * what it counted does not conserve */
    VX_CONSERVE_TAP = 128      /* applied + rejected = tapped + drops_tap (input_tap on) */
};

/* Which optional sinks a run had, for vx_pipeline_check_conservation. */
enum { VX_PIPELINE_SINK_PYTHON = 1, VX_PIPELINE_SINK_EXTERNAL = 2, VX_PIPELINE_SINK_FILE = 4,
       VX_PIPELINE_SINK_TAP = 8 };

typedef struct vx_pipeline vx_pipeline;

/* Fills cfg with the defaults (documented per field above; 2-stage grouping onto two
 * unpinned threads, drop, backoff, rate 100000/s, 4096/1024 rings, no outputs, levels 1024,
 * tick 0.01, base price 100.00, cancel share 0.2, max_qty 100, timeout 100 us, batch 64).
 * ticks_per_ns is set to 0: the caller must calibrate. */
void vx_pipeline_config_default(vx_pipeline_config *cfg);

/* Checks cfg; on failure returns VX_EINVAL and, if field is not NULL, the name of the first
 * bad field (static string). */
vx_status vx_pipeline_config_validate(const vx_pipeline_config *cfg, const char **field);

/* Validates cfg and allocates everything the run needs (rings, book, buffers). VX_EINVAL
 * (bad cfg; *out untouched), VX_ENOMEM. */
vx_status vx_pipeline_create(const vx_pipeline_config *cfg, vx_pipeline **out);

/* Starts the threads. VX_ESTATE if already started; VX_ESYS if a thread could not be
 * created (the ones already started are abandoned and joined; errno set). */
vx_status vx_pipeline_start(vx_pipeline *p);

/* Asks ingress to stop; the rest drain. Returns at once (any thread; idempotent). */
void vx_pipeline_stop(vx_pipeline *p);
/* With a source_ring: no more records will come; ingress finishes once the ring is empty
 * (vx_pipeline_stop does the same). Any thread; idempotent. */
void vx_pipeline_close_source(vx_pipeline *p);

/* The pipeline's L2 book, for the live view: only its reader functions (vx_book_qty, _best,
 * _best_bid/_ask, _spread, _mid, _depth) may be called on it, from any thread, while the
 * pipeline runs (orderbook.h's reader contract: each level read is atomic, a multi-level
 * answer is a recent view). Valid until vx_pipeline_destroy. */
const vx_book *vx_pipeline_book(const vx_pipeline *p);

/* The pipeline's market-by-order books (cfg.records = VX_RECORDS_MBO; NULL otherwise), for
 * the live view: vx_mbo_set_reader and mbo.h's readers only, from any thread, while it runs
 * (mbo.h's reader contract). Valid until vx_pipeline_destroy. */
const vx_mbo_set *vx_pipeline_mbo(const vx_pipeline *p);

/* The live view's gate around the MBO books (cfg.mbo_follow moves their windows, which no
 * reader may overlap). A reader thread brackets its reads with enter / exit; the book stage
 * recenters only while no reader is inside, and a reader waits (bounded) while it does.
 * enter: VX_OK (inside: call exit), VX_TIMEOUT when a recenter held the gate for every one of
 * VX_PIPELINE_VIEW_ATTEMPTS tries (vx_ring_backoff_pause between them: spin, yield, then
 * sleeps up to 100 us, ~20 ms in all; not inside). One atomic word holds a "closed" bit and
 * the readers' count: a reader gets in with a fetch_add that finds the bit clear, the book
 * stage closes with a CAS from 0 (no reader inside), so the two exclude each other with
 * acquire / release RMWs alone. Any thread; nests. */
enum { VX_PIPELINE_VIEW_ATTEMPTS = 200 };
vx_status vx_pipeline_view_enter(vx_pipeline *p);
void vx_pipeline_view_exit(vx_pipeline *p);

/* Before vx_pipeline_start only (a snapshot the replay starts from): seeds lots with no
 * identity at (side, price) of instrument's book (vx_mbo_seed_level), or applies one event
 * (vx_mbo_set_apply; *reason may be NULL). MBO pipelines only. VX_ESTATE once started or for
 * an L2 pipeline, else what the book returns (the book's first seed or ADD places its
 * window). */
vx_status vx_pipeline_seed_level(vx_pipeline *p, uint32_t instrument, int side, int64_t price,
                                 uint64_t qty);
vx_status vx_pipeline_apply_before_start(vx_pipeline *p, const vx_mbo *event,
                                         vx_mbo_reject *reason);

/* Asks every stage to quit at once without draining (any thread; idempotent). */
void vx_pipeline_abandon(vx_pipeline *p);

/* 1 once every stage has finished (so join will not wait), 0 before. */
int vx_pipeline_finished(const vx_pipeline *p);

/* Joins the threads (blocks until they end: call after stop, or after finished). VX_ESTATE
 * if never started; a second join is a no-op returning VX_OK. */
vx_status vx_pipeline_join(vx_pipeline *p);

/* Abandons and joins if running, then frees. NULL is a no-op. */
void vx_pipeline_destroy(vx_pipeline *p);

void vx_pipeline_read_counters(const vx_pipeline *p, vx_pipeline_counters *out);

/* The live histogram `which` (read-only for the caller; single writer is the stage). NULL if
 * which is out of range. */
const vx_histogram *vx_pipeline_histogram(const vx_pipeline *p, vx_pipeline_hist which);

/* The python ring (vx_bundle records), or NULL when python_ring_capacity was 0. The caller
 * is its only consumer. */
vx_ring *vx_pipeline_python_ring(vx_pipeline *p);

/* Bitmask of failed VX_CONSERVE_* equations (0 = all hold). sinks: the VX_PIPELINE_SINK_*
 * bits of the rings that were configured (so 1 = "the python ring was on", as before the
 * external ring existed). Meaningful once finished. */
uint32_t vx_pipeline_check_conservation(const vx_pipeline_counters *c, uint32_t sinks);

/* Bytes allocated by create (rings, book, buffers, histograms): the working set. */
uint64_t vx_pipeline_memory_bytes(const vx_pipeline *p);

/* A 64-bit FNV-1a digest of the book's levels (both sides' depth; call after join), for
 * determinism checks; MBO: of every instrument's vx_mbo_digest. Uses buffers allocated at
 * create. */
uint64_t vx_pipeline_book_digest(const vx_pipeline *p);

/* cfg.strategy: log ring `which` (VX_PIPELINE_LOG_*: vx_order, vx_exec, vx_pnl_point
 * records), NULL without a strategy. The caller is its only consumer (any one thread). */
vx_ring *vx_pipeline_strategy_log(vx_pipeline *p, int which);

/* cfg.strategy: the host, for its readers (positions, working orders, counters) once the
 * pipeline is joined (before that the book thread owns it); NULL without a strategy or
 * before the join. */
vx_host *vx_pipeline_strategy_host(vx_pipeline *p);

/* cfg.strategy_venue == VX_STRATEGY_VENUE_SIM: the backtest, for its counters and its
 * venue's (vx_backtest_counters_read, vx_sim_venue_counters_read) once joined; NULL otherwise
 * (no simulated venue, or the book thread owns it). */
vx_backtest *vx_pipeline_strategy_backtest(vx_pipeline *p);

/* cfg.strategy, once joined: VX_OK when the run ended (finish ran) and vx_host_check held;
 * VX_ESTATE with *why (static text) otherwise ("abandoned" when the end never ran). */
vx_status vx_pipeline_strategy_check(const vx_pipeline *p, const char **why);

#endif /* VELOX_PIPELINE_H */
