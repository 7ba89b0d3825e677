/* velox/stage_builtin.c — see stage_builtin.h. */
#include "velox/stage_builtin.h"

#include <string.h>

static const char *const names[VX_BUILTIN_KINDS] = {"noop", "imbalance", "echo", "bad_count",
                                                    "bad_records", "fail_init"};

static int builtin_init(void *state_) {
    vx_builtin_state *st = state_;
    st->inits++;
    return st->kind == VX_BUILTIN_FAIL_INIT ? -1 : 0;
}

static void builtin_finish(void *state_) {
    vx_builtin_state *st = state_;
    st->finishes++;
}

static uint32_t imbalance(vx_builtin_state *st, const vx_stage_ctx *ctx, vx_txn *orders,
                          uint32_t capacity) {
    int64_t bid_px, ask_px;
    uint64_t bid_q, ask_q;
    if (capacity < 1 || vx_book_best_bid(ctx->book, &bid_px, &bid_q) != VX_OK ||
        vx_book_best_ask(ctx->book, &ask_px, &ask_q) != VX_OK)
        return 0;
    vx_txn *o = &orders[0];
    memset(o, 0, sizeof *o);
    if (bid_q >= (uint64_t)st->ratio * ask_q) { /* buyers lean on a thin ask: lift it */
        o->side = VX_BUY;
        o->price = ask_px;
    } else if (ask_q >= (uint64_t)st->ratio * bid_q) { /* sellers lean on a thin bid: hit it */
        o->side = VX_SELL;
        o->price = bid_px;
    } else {
        return 0;
    }
    o->kind = VX_NEW;
    o->qty = 1;
    o->seq = st->seq++;
    return 1;
}

static uint32_t builtin_on_batch(void *state_, const vx_stage_ctx *ctx, const vx_txn *events,
                                 uint32_t n, vx_txn *orders, uint32_t capacity) {
    vx_builtin_state *st = state_;
    st->batches++;
    st->events += n;
    uint32_t r = 0;
    switch (st->kind) {
    case VX_BUILTIN_IMBALANCE: r = imbalance(st, ctx, orders, capacity); break;
    case VX_BUILTIN_ECHO:
        r = n < capacity ? n : capacity;
        for (uint32_t i = 0; i < r; i++) {
            orders[i] = events[i];
            orders[i].kind = VX_NEW;
            orders[i].seq = st->seq++;
        }
        break;
    case VX_BUILTIN_BAD_COUNT: r = capacity + 1; break;
    case VX_BUILTIN_BAD_RECORDS:
        r = capacity < 3 ? capacity : 3;
        for (uint32_t i = 0; i < r; i++) {
            memset(&orders[i], 0xA5, sizeof orders[i]); /* side 0xA5: invalid */
        }
        if (r >= 2) { /* a valid side with qty 0: also refused */
            memset(&orders[1], 0, sizeof orders[1]);
            orders[1].side = VX_BUY;
        }
        if (r >= 3) { /* one good order among the bad */
            memset(&orders[2], 0, sizeof orders[2]);
            orders[2].side = VX_SELL;
            orders[2].qty = 5;
            orders[2].price = 1;
            orders[2].seq = st->seq++;
        }
        break;
    default: break;
    }
    if (r <= capacity) st->orders += r;
    return r;
}

vx_status vx_builtin_stage_init(vx_builtin_stage *b, vx_builtin_kind kind, uint32_t ratio) {
    if (!b || (unsigned)kind >= VX_BUILTIN_KINDS || ratio < 1) return VX_EINVAL;
    memset(b, 0, sizeof *b);
    b->state.kind = kind;
    b->state.ratio = ratio;
    b->state.seq = UINT64_C(1) << 62;
    b->table.abi_version = VX_STAGE_ABI_VERSION;
    b->table.struct_size = sizeof(vx_user_stage);
    b->table.name = names[kind];
    b->table.state = &b->state;
    b->table.init = builtin_init;
    b->table.on_batch = builtin_on_batch;
    b->table.finish = builtin_finish;
    return VX_OK;
}
