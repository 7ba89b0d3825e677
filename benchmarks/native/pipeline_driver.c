/*
 * pipeline_driver.c — runs the native pipeline from C, without Python, for load-independent
 * measurements: the synthetic L2 flow (transactions, vx_txn) through its four stages
 * (ingress, book, bundler, output), no MBO records and no strategy. It prints throughput,
 * instruction counts per transaction under callgrind, context switches, the conservation
 * check and the book's digest, and can write the output file for a determinism check against
 * another build. pipeline.c wires every stage kind, so the link needs the MBO and strategy
 * modules too (the pipeline's dependencies in csrc/tests/deps.mk, less stage_builtin):
 *
 *   S=csrc/velox; gcc -std=c11 -O3 -g -DNDEBUG -D_GNU_SOURCE -Icsrc \
 *       benchmarks/native/pipeline_driver.c $S/pipeline.c $S/pipeline_source.c \
 *       $S/pipeline_book.c $S/pipeline_bundler.c $S/pipeline_sink.c $S/pipeline_strategy.c \
 *       $S/pipeline_sim.c $S/backtest.c $S/venue.c $S/venue_live.c $S/host.c $S/positions.c \
 *       $S/orders.c $S/orderbook.c $S/mbo.c $S/ring.c $S/histogram.c $S/tsc.c $S/types.c \
 *       -o build/pipeline_driver -pthread -lm   [-flto]
 *   valgrind --tool=callgrind build/pipeline_driver 1000000 1 64 2.5   # Ir / 1e6 = per txn
 *   build/pipeline_driver 20000000 1                                   # unpaced throughput
 *   build/pipeline_driver 2000000 1 64 0 1000000 2                     # paced 1 M/s, backoff
 *   build/pipeline_driver 2000000 1 64 0 0 0 out.bin                   # logical-timestamp file
 *
 * Arguments (positional, all optional): count [1000000], threads 1|2 [1] (2: ingress+book on
 * CPU 0, bundler+output on CPU 1), batch [64], ticks_per_ns [0: calibrate; pass a constant
 * under valgrind], rate_per_s [0: unpaced block mode, no bundle timeout; else paced drop mode,
 * 100 us timeout], wait 0 spin | 1 yield | 2 backoff [0], output file [none; logical
 * timestamps, so two builds' files compare byte for byte].
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "velox/pipeline.h"
#include "velox/tsc.h"

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    vx_pipeline_config c;
    vx_pipeline_config_default(&c);
    c.batch = argc > 3 ? (uint32_t)atoi(argv[3]) : 64;
    c.ticks_per_ns = argc > 4 && atof(argv[4]) > 0 ? atof(argv[4]) : vx_tsc_calibrate(20000000);
    c.rate_per_s = 0;
    c.max_txns = n;
    c.on_full = VX_ON_FULL_BLOCK;
    c.bundle_timeout_ns = 0;
    c.wait = argc > 6 ? (vx_wait)atoi(argv[6]) : VX_WAIT_SPIN;
    if (argc > 5 && atof(argv[5]) > 0) {
        c.rate_per_s = atof(argv[5]);
        c.on_full = VX_ON_FULL_DROP;
        c.bundle_timeout_ns = 100000;
    }
    if (argc > 7) {
        c.output_fd = open(argv[7], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        c.logical_timestamps = 1;
    }
    c.thread_count = threads == 2 ? 2 : 1;
    for (int s = 0; s < VX_STAGES; s++) c.stage_thread[s] = threads == 2 && s >= VX_STAGE_BUNDLER;
    if (threads == 2) {
        c.thread_cpu[0] = 0;
        c.thread_cpu[1] = 1;
    }
    vx_pipeline *p;
    if (vx_pipeline_create(&c, &p) != VX_OK) {
        fprintf(stderr, "pipeline_driver: bad configuration\n");
        return 2;
    }
    uint64_t t0 = vx_monotonic_ns();
    if (vx_pipeline_start(p) != VX_OK) return 1;
    if (c.rate_per_s > 0) { /* paced runs have no natural end: stop after count / rate */
        uint64_t ns = (uint64_t)((double)n / c.rate_per_s * 1e9);
        struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
        nanosleep(&ts, NULL);
        vx_pipeline_stop(p);
    }
    vx_pipeline_join(p);
    uint64_t t1 = vx_monotonic_ns();
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const vx_histogram *i2b = vx_pipeline_histogram(p, VX_HIST_INGRESS_TO_BUNDLER);
    printf("generated %llu bundled %llu in %.3f s: %.2f M txn/s; drops %llu late %llu; "
           "ingress->bundler p99 %llu ns; context switches voluntary %ld involuntary %ld; "
           "conservation %s; book digest %016llx\n",
           (unsigned long long)k.generated, (unsigned long long)k.bundled, (t1 - t0) / 1e9,
           (double)k.generated / ((t1 - t0) / 1e3),
           (unsigned long long)(k.drops_ingress + k.drops_book + k.drops_bundler), (unsigned long long)k.late,
           (unsigned long long)vx_histogram_percentile(i2b, 99, NULL), ru.ru_nvcsw, ru.ru_nivcsw,
           vx_pipeline_check_conservation(&k, 0) ? "FAILED" : "ok",
           (unsigned long long)vx_pipeline_book_digest(p));
    if (c.output_fd >= 0) close(c.output_fd);
    vx_pipeline_destroy(p);
    return 0;
}
