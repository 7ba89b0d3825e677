/* velox/stage.h — the user-stage C ABI: a strategy compiled by a downstream package, run by
 * velox's pipeline on its book thread, right after the book.
 *
 * A downstream extension (Cython or C) fills a vx_user_stage and hands its address to Python
 * as a PyCapsule named VX_STAGE_CAPSULE_NAME ("velox.stage.v1"); `velox.Pipeline(stage=cap)`
 * passes it to the native pipeline. The struct (and everything its `state` points to) must
 * stay valid until the pipeline is destroyed: keep it in static storage or in memory the
 * capsule's owner frees only when the capsule dies (the Pipeline holds the capsule).
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

#include <stdint.h>

#include "velox/orderbook.h"
#include "velox/types.h"

#define VX_STAGE_ABI_VERSION 1u
#define VX_STAGE_CAPSULE_NAME "velox.stage.v1"
#define VX_STAGE_MAX_EMIT 4096u /* largest emit capacity a pipeline offers per batch */

/* What a batch call sees besides its events. Read-only for the stage. */
typedef struct vx_stage_ctx {
    const vx_book *book; /* the pipeline's book, after this batch (single writer: this thread) */
    uint64_t now_tsc;    /* TSC of the book turn */
    uint64_t batch_index;/* 0, 1, 2, ... per on_batch call */
    uint32_t capacity;   /* = the capacity argument */
    uint32_t reserved;
} vx_stage_ctx;

typedef struct vx_user_stage {
    uint32_t abi_version; /* VX_STAGE_ABI_VERSION */
    uint32_t struct_size; /* sizeof(vx_user_stage) as the stage was compiled */
    const char *name;     /* for reports; may be NULL */
    void *state;          /* the stage's own state, passed to every call */
    int (*init)(void *state);                 /* may be NULL */
    uint32_t (*on_batch)(void *state, const vx_stage_ctx *ctx, const vx_txn *events,
                         uint32_t n, vx_txn *orders, uint32_t capacity); /* required */
    void (*finish)(void *state);              /* may be NULL */
} vx_user_stage;

_Static_assert(sizeof(vx_stage_ctx) == 32, "vx_stage_ctx is part of the ABI");

/* VX_OK if the table can be run (version, size, on_batch set), else VX_EINVAL. */
static inline vx_status vx_user_stage_check(const vx_user_stage *s) {
    if (!s || s->abi_version != VX_STAGE_ABI_VERSION || s->struct_size < sizeof(vx_user_stage) ||
        !s->on_batch)
        return VX_EINVAL;
    return VX_OK;
}

#endif
