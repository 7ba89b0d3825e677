/* velox/stage.h — the user-stage C ABI: a strategy compiled by a downstream package, run by
 * velox's pipeline on its book thread, right after the book.
 *
 * A downstream extension (Cython or C) fills a vx_user_stage and hands its address to Python
 * as a PyCapsule named VX_STAGE_CAPSULE_NAME ("velox.stage.v1"); `velox.Pipeline(stage=cap)`
 * passes it to the native pipeline. The struct (and everything its `state` points to) must
 * stay valid while that capsule lives: keep it in static storage, or free it in the capsule's
 * destructor. velox keeps the capsule itself: for a stage object, the capsule its
 * `__velox_stage__()` returned (called once, when the Pipeline is constructed), beside the
 * object; for a capsule passed as the stage, that capsule. It holds both from construction
 * until the native pipeline is destroyed (after `finish` ran), and reads the table only
 * while it holds them.
 *
 * A pipeline hosts up to VX_PIPELINE_MAX_USER_STAGES (8) tables (cfg.user_stages), each
 * called in cfg order after every book batch over the same events; their orders enter the
 * bundler in that order. Each table's calls and counters are its own.
 *
 * Calls, all on the pipeline thread that runs the book stage (pinned when the pipeline is):
 *   init(state)                once, on that thread, before the first batch. Non-zero = the
 *                              stage refuses to run: it is then never called again
 *                              (counters: user_init_failed = 1) and the pipeline runs on
 *                              without it.
 *   on_batch(state, ctx, events, n, orders, capacity)
 *                              once per book turn that applied >= 1 transaction: `events` are
 *                              the n (1 <= n <= cfg.batch) transactions the book just
 *                              accepted, in order, contiguous, read-only, valid until return;
 *                              `ctx->book` is the book after them (read it with the
 *                              vx_book_* readers: vx_book_best, vx_book_depth, vx_book_qty).
 *                              The stage writes up to `capacity` orders (vx_txn) into
 *                              `orders` and returns how many it wrote. No allocation, no
 *                              blocking, no locks: this is the hot path of the book thread.
 *   on_mbo_batch(state, ctx, events, n, orders, capacity)
 *                              the same, in a market-by-order pipeline (cfg.records =
 *                              VX_RECORDS_MBO): `events` are the vx_mbo events the MBO book
 *                              just applied (often the input ring's own slots: never keep
 *                              the pointer past the return); `ctx->mbo` is the set of books after them (read
 *                              with vx_mbo_set_reader + mbo.h's readers: best, depth, order,
 *                              queue_position). A stage may offer both callbacks.
 *   finish(state)              once, when the book stage finishes (after its last batch), or
 *                              from vx_pipeline_destroy if the run was abandoned. May be NULL.
 *
 * What velox does not trust (the stage is foreign code): a return value > capacity is counted
 * (user_bad_returns) and the whole batch's orders are discarded; each returned order is
 * validated with vx_txn_validate (side, kind, qty > 0, ...) and an invalid one is counted
 * (user_rejected) and discarded. Valid orders get tsc = the book turn's TSC (in logical-
 * timestamp mode they keep the stage's tsc) and go into the bundler behind the batch's
 * transactions, bundled under the same 16-or-timeout rule. A crash or an endless loop in the
 * stage cannot be contained (it runs in-process): that is the price of native speed.
 *
 * Conservation with a stage: applied + user_emitted = bundled + drops.book_to_bundler
 * (user_emitted: valid orders, forwarded or dropped by a full ring in drop mode).
 */
#ifndef VELOX_STAGE_H
#define VELOX_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "velox/mbo.h"
#include "velox/orderbook.h"
#include "velox/types.h"

#define VX_STAGE_ABI_VERSION 1u
#define VX_STAGE_CAPSULE_NAME "velox.stage.v1"
#define VX_STAGE_MAX_EMIT 4096u /* largest emit capacity a pipeline offers per batch */

/* What a batch call sees besides its events. Read-only for the stage. */
typedef struct vx_stage_ctx {
    const vx_book *book; /* transaction pipelines: the L2 book after this batch (single writer:
                            this thread); market-by-order pipelines: NULL */
    uint64_t now_tsc;    /* TSC of the book turn */
    uint64_t batch_index;/* 0, 1, 2, ... per on_batch call */
    uint32_t capacity;   /* = the capacity argument */
    uint32_t reserved;
    /* appended after the first release (a stage compiled before reads only the fields above) */
    const vx_mbo_set *mbo; /* market-by-order pipelines: the books after this batch (read them
                              with vx_mbo_set_reader(mbo, instrument) and mbo.h's readers);
                              transaction pipelines: NULL */
} vx_stage_ctx;

/* The batch callback of market-by-order pipelines (see on_mbo_batch below). */
typedef uint32_t (*vx_stage_mbo_batch_fn)(void *state, const vx_stage_ctx *ctx,
                                          const vx_mbo *events, uint32_t n, vx_txn *orders,
                                          uint32_t capacity);

typedef struct vx_user_stage {
    uint32_t abi_version; /* VX_STAGE_ABI_VERSION */
    uint32_t struct_size; /* sizeof(vx_user_stage) as the stage was compiled */
    const char *name;     /* for reports; may be NULL */
    void *state;          /* the stage's own state, passed to every call */
    int (*init)(void *state);                 /* may be NULL */
    uint32_t (*on_batch)(void *state, const vx_stage_ctx *ctx, const vx_txn *events,
                         uint32_t n, vx_txn *orders, uint32_t capacity); /* transaction
                                                       pipelines: required; may be NULL in a
                                                       stage for MBO pipelines only */
    void (*finish)(void *state);              /* may be NULL */
    /* appended after the first release: read only when struct_size covers it */
    vx_stage_mbo_batch_fn on_mbo_batch; /* market-by-order pipelines: required; the n events
                                           the book just applied, in order; same rules as
                                           on_batch (ctx->mbo is set, ctx->book NULL) */
} vx_user_stage;

/* The size of a table compiled before on_mbo_batch existed: still accepted (it runs in
 * transaction pipelines only). */
#define VX_USER_STAGE_V1_SIZE offsetof(vx_user_stage, on_mbo_batch)

_Static_assert(offsetof(vx_stage_ctx, mbo) == 32 && sizeof(vx_stage_ctx) == 40,
               "vx_stage_ctx is part of the ABI: fields are only ever appended");
_Static_assert(offsetof(vx_user_stage, on_mbo_batch) == 48, "vx_user_stage: appended only");

/* The table's on_mbo_batch, or NULL when it has none (or was compiled before it existed). */
static inline vx_stage_mbo_batch_fn vx_user_stage_mbo_batch(const vx_user_stage *s) {
    return s->struct_size >= offsetof(vx_user_stage, on_mbo_batch) + sizeof s->on_mbo_batch
               ? s->on_mbo_batch : NULL;
}

/* VX_OK if the table can be run (version, size, a batch callback set), else VX_EINVAL.
 * Which callback a pipeline needs is checked by vx_pipeline_config_validate. */
static inline vx_status vx_user_stage_check(const vx_user_stage *s) {
    if (!s || s->abi_version != VX_STAGE_ABI_VERSION || s->struct_size < VX_USER_STAGE_V1_SIZE ||
        (!s->on_batch && !vx_user_stage_mbo_batch(s)))
        return VX_EINVAL;
    return VX_OK;
}

#endif
