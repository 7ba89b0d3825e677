/* velox/stage_builtin.h — user stages shipped with velox (velox/stage.h ABI), for tests,
 * benchmarks and as a reference implementation: "noop" (emits nothing), "imbalance" (the toy
 * signal of examples/strategy: one order against a lopsided top of book), "echo" (one order
 * per event, up to the capacity), and hostile ones that the host must survive:
 * "bad_count" (returns capacity + 1), "bad_records" (invalid side / zero qty), "fail_init".
 * Each offers on_batch (transactions) and on_mbo_batch (market-by-order events: "imbalance"
 * on the events' instrument's book, "echo" one order per ADD). Each instance owns its state (no
 * globals): several pipelines can run one each. */
#ifndef VELOX_STAGE_BUILTIN_H
#define VELOX_STAGE_BUILTIN_H

#include <stdint.h>

#include "velox/stage.h"

typedef enum vx_builtin_kind {
    VX_BUILTIN_NOOP = 0,
    VX_BUILTIN_IMBALANCE,
    VX_BUILTIN_ECHO,
    VX_BUILTIN_BAD_COUNT,
    VX_BUILTIN_BAD_RECORDS,
    VX_BUILTIN_FAIL_INIT,
    VX_BUILTIN_KINDS
} vx_builtin_kind;

typedef struct vx_builtin_state {
    vx_builtin_kind kind;
    uint32_t ratio;        /* imbalance: act when one side's top qty >= ratio x the other's */
    uint64_t seq;          /* next order's seq (starts at 1 << 62: apart from ingress seqs) */
    uint64_t inits, finishes, batches, events, orders; /* what the host did (tests read them) */
} vx_builtin_state;

typedef struct vx_builtin_stage {
    vx_user_stage table; /* hand &table to the pipeline */
    vx_builtin_state state;
} vx_builtin_stage;

/* Fills *b for `kind`. VX_EINVAL for an unknown kind. */
vx_status vx_builtin_stage_init(vx_builtin_stage *b, vx_builtin_kind kind, uint32_t ratio);

#endif
