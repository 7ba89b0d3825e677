/* stage_cost.c — instruction cost of hosting a user stage (velox/stage.h), load-independent
 * under callgrind: the synthetic pipeline, unpaced, block mode, one thread, N transactions,
 * with no stage / the builtin noop / the builtin imbalance stage.
 *
 *   S=csrc; gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE -I$S -flto=auto benchmarks/native/stage_cost.c \
 *       $S/velox/pipeline*.c $S/velox/stage_builtin.c $S/velox/orderbook.c $S/velox/ring.c \
 *       $S/velox/histogram.c $S/velox/tsc.c $S/velox/types.c -o build/stage_cost -pthread -lm
 *   for k in none noop imbalance; do valgrind --tool=callgrind build/stage_cost 1000000 $k; done
 *   (instructions / N = per transaction; differences = the stage's cost)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "velox/pipeline.h"
#include "velox/stage_builtin.h"
#include "velox/tsc.h"

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    const char *kind = argc > 2 ? argv[2] : "none";
    vx_pipeline_config c;
    vx_pipeline_config_default(&c);
    c.ticks_per_ns = vx_tsc_calibrate(20 * 1000 * 1000);
    c.rate_per_s = 0;
    c.max_txns = n;
    c.on_full = VX_ON_FULL_BLOCK;
    c.bundle_timeout_ns = 0;
    c.logical_timestamps = 1;
    c.thread_count = 1;
    memset(c.stage_thread, 0, sizeof c.stage_thread);
    c.thread_cpu[0] = -1;
    c.wait = VX_WAIT_SPIN;
    vx_builtin_stage st;
    if (strcmp(kind, "none") != 0) {
        vx_builtin_kind k = strcmp(kind, "noop") == 0 ? VX_BUILTIN_NOOP : VX_BUILTIN_IMBALANCE;
        vx_builtin_stage_init(&st, k, 2);
        c.user_stage = &st.table;
    }
    vx_pipeline *p = NULL;
    if (vx_pipeline_create(&c, &p) != VX_OK) return 1;
    vx_pipeline_start(p);
    while (!vx_pipeline_finished(p)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    vx_pipeline_join(p);
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    printf("%s: generated %llu applied %llu emitted %llu bundled %llu conservation %s\n", kind,
           (unsigned long long)k.generated, (unsigned long long)k.applied,
           (unsigned long long)k.user_emitted, (unsigned long long)k.bundled,
           vx_pipeline_check_conservation(&k, 0) ? "FAILED" : "ok");
    vx_pipeline_destroy(p);
    return 0;
}
