/* backtest_cost.c — what the deterministic backtest loop (velox/backtest.h) costs per market
 * event, load-independent under callgrind: a raw MBO_DTYPE file (e.g.
 * velox.feedgen.lobster_events(n).tofile(PATH)) through vx_backtest_feed with
 *   replay   builtin:script with no orders (books, host, venue hooks; nothing sent)
 *   quote    builtin:quote (size 1, max_position 10): the quoting case of bench_backtest.py
 * and velox.backtest's defaults otherwise (levels 4096 unless given, tick 0.01, max_orders
 * 2^20, venue max_orders 4096, max_in_flight 65536, 10 us entry and response latency, no
 * fees, pnl_interval 1 s, max_working 1024, log_capacity 65536; edges "flag" or "event").
 * The logs are drained whenever feed stops for them, as NativeBacktest.feed does.
 * Prints the best wall-clock ns/event of ROUNDS (default 5), the orders, reports, P&L points
 * and groups, and a digest of every record drained and of the final positions (equal runs
 * print equal digests). Under callgrind use ROUNDS 1 and --toggle-collect='feed_all*' (the file
 * read, create and finish stay out of the count; feed_all is vx_backtest_feed plus the
 * drains):
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S -flto=auto \
 *       benchmarks/native/backtest_cost.c $S/velox/backtest.c $S/velox/host.c \
 *       $S/velox/venue.c $S/velox/positions.c $S/velox/strategy_builtin.c $S/velox/orders.c \
 *       $S/velox/mbo.c $S/velox/types.c -o build/backtest_cost -lm
 *   python -c 'import velox.feedgen as g; g.lobster_events(100_000, seed=1).tofile("lob.mbo")'
 *   for k in replay quote; do
 *       valgrind --tool=callgrind --toggle-collect='feed_all*' build/backtest_cost lob.mbo $k 1
 *   done                      # instructions / events = per event; callgrind_annotate: self
 *   build/backtest_cost lob.mbo quote 5          # best wall-clock ns/event of 5 rounds
 *   (arguments: PATH replay|quote [ROUNDS] [flag|event] [LEVELS] [MAX_LOSS fixed point]
 *    [QUEUE_MODEL 0 fifo|1 risk_averse|2 prob] [QUEUE_POWER]; an L2 file for models 1 and 2:
 *    velox.feedgen.market_by_price(events))
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "velox/backtest.h"
#include "velox/strategy_builtin.h"
#include "mbo_file.h"

#define LOG_CAPACITY 65536u
#define DRAIN 4096u

static vx_order drained_orders[DRAIN];
static vx_exec drained_execs[DRAIN];
static vx_pnl_point drained_pnl[DRAIN];

typedef struct totals {
    uint64_t orders, execs, pnl;
    uint64_t digest; /* FNV-1a over every record drained: equal runs, equal digests */
} totals;

static uint64_t fnv(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static void drain(vx_backtest *bt, totals *t) {
    vx_host *h = vx_backtest_host(bt);
    size_t k;
    for (int pass = 0; pass < 64; pass++) { /* bounded: LOG_CAPACITY / DRAIN passes */
        size_t got = 0;
        got += k = vx_host_take_orders(h, drained_orders, DRAIN);
        t->orders += k;
        t->digest = fnv(t->digest, drained_orders, k * sizeof *drained_orders);
        got += k = vx_host_take_execs(h, drained_execs, DRAIN);
        t->execs += k;
        t->digest = fnv(t->digest, drained_execs, k * sizeof *drained_execs);
        got += k = vx_host_take_pnl(h, drained_pnl, DRAIN);
        t->pnl += k;
        t->digest = fnv(t->digest, drained_pnl, k * sizeof *drained_pnl);
        if (got == 0) return;
    }
}

/* The measured part: every event through vx_backtest_feed, draining when it stops early. */
__attribute__((noinline)) int feed_all(vx_backtest *bt, const vx_mbo *ev, size_t n,
                                              totals *t) {
    size_t done = 0;
    for (size_t stalls = 0; done < n && stalls < 1000000; stalls++) { /* bounded */
        size_t consumed = 0;
        if (vx_backtest_feed(bt, ev + done, n - done, &consumed) != VX_OK) return -1;
        done += consumed;
        if (done < n) drain(bt, t);
    }
    return done == n ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PATH replay|quote [ROUNDS] [flag|event] [LEVELS] [MAX_LOSS]\n",
                argv[0]);
        return 2;
    }
    int quote = strcmp(argv[2], "quote") == 0;
    if (!quote && strcmp(argv[2], "replay") != 0) {
        fprintf(stderr, "mode must be replay or quote, got %s\n", argv[2]);
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    int by_event = argc > 4 && strcmp(argv[4], "event") == 0;
    uint32_t levels = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 4096;
    int64_t max_loss = argc > 6 ? strtoll(argv[6], NULL, 10) : 0;
    /* the venue's queue model (venue.h): 0 fifo, 1 risk_averse, 2 prob; its power */
    uint32_t queue_model = argc > 7 ? (uint32_t)strtoul(argv[7], NULL, 10) : 0;
    uint32_t queue_power = argc > 8 ? (uint32_t)strtoul(argv[8], NULL, 10) : 2;
    size_t n = 0;
    uint32_t instruments = 1;
    vx_mbo *ev = read_mbo_file(argv[1], &n, &instruments);
    if (!ev) return 2;
    static const char *quote_args[] = {"size=1", "max_position=10", NULL};
    double best = 1e30;
    totals t = {0};
    vx_backtest_counters c = {0};
    for (int r = 0; r < rounds; r++) {
        vx_strategy *s = NULL;
        vx_status st = quote ? vx_quote_create(instruments, &s) : vx_script_create(NULL, 0, &s);
        if (st != VX_OK) return 1;
        vx_backtest_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.instruments = instruments;
        cfg.levels = levels;
        cfg.tick = 1000000; /* 0.01 */
        cfg.max_orders = 1u << 20;
        cfg.edges = by_event ? VX_BACKTEST_EDGE_EVENT : VX_BACKTEST_EDGE_FLAG;
        cfg.venue.max_orders = 4096;
        cfg.venue.max_in_flight = 65536;
        cfg.venue.entry_latency_ns = 10000;
        cfg.venue.response_latency_ns = 10000;
        cfg.venue.queue_model = queue_model;
        cfg.venue.queue_power = queue_power;
        cfg.host.log_capacity = LOG_CAPACITY;
        cfg.host.pnl_interval_ns = 1000000000;
        cfg.host.risk.max_working = 1024;
        cfg.host.risk.max_loss = max_loss;
        cfg.host.args = quote ? quote_args : NULL;
        vx_backtest *bt = NULL;
        const char *why = NULL;
        if (vx_backtest_create(&cfg, s, &bt, &why) != VX_OK) {
            fprintf(stderr, "vx_backtest_create: %s\n", why ? why : "refused");
            return 1;
        }
        memset(&t, 0, sizeof t);
        t.digest = UINT64_C(0xcbf29ce484222325);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int rc = feed_all(bt, ev, n, &t);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (rc != 0) {
            fprintf(stderr, "vx_backtest_feed failed\n");
            return 1;
        }
        for (int k = 0; k < 64; k++) { /* bounded: finish resumes after each drain */
            drain(bt, &t);
            st = vx_backtest_finish(bt, &why);
            if (st != VX_FULL) break;
        }
        drain(bt, &t);
        for (uint32_t k = 0; k < instruments; k++) {
            vx_position p;
            if (vx_host_position(vx_backtest_host(bt), k, &p) == VX_OK)
                t.digest = fnv(t.digest, &p, sizeof p);
        }
        if (st != VX_OK) {
            fprintf(stderr, "vx_backtest_finish: %s\n", why ? why : "refused");
            return 1;
        }
        vx_backtest_counters_read(bt, &c);
        double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
                    (double)n;
        if (ns < best) best = ns;
        vx_backtest_destroy(bt);
        vx_builtin_destroy(s);
    }
    printf("%s: %.2f ns/event (%.2f M events/s, best of %d, %zu events); groups %llu orders "
           "%llu reports %llu pnl points %llu book rejects %llu digest %016llx\n",
           argv[2], best, 1e3 / best, rounds, n, (unsigned long long)c.groups,
           (unsigned long long)t.orders, (unsigned long long)t.execs,
           (unsigned long long)t.pnl, (unsigned long long)c.book_rejects,
           (unsigned long long)t.digest);
    free(ev);
    return 0;
}
