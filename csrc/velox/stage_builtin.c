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

/* One order against a lopsided top of book (bid_q >= ratio x ask_q: lift the ask; the mirror
 * case: hit the bid), or none. */
static uint32_t lean(vx_builtin_state *st, int64_t bid_px, uint64_t bid_q, int64_t ask_px,
                     uint64_t ask_q, vx_txn *orders, uint32_t capacity) {
    if (capacity < 1) return 0;
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

static uint32_t imbalance(vx_builtin_state *st, const vx_stage_ctx *ctx, vx_txn *orders,
                          uint32_t capacity) {
    int64_t bid_px, ask_px;
    uint64_t bid_q, ask_q;
    if (vx_book_best_bid(ctx->book, &bid_px, &bid_q) != VX_OK ||
        vx_book_best_ask(ctx->book, &ask_px, &ask_q) != VX_OK)
        return 0;
    return lean(st, bid_px, bid_q, ask_px, ask_q, orders, capacity);
}

/* The hostile "bad_records" output: invalid side, then qty 0, then one good order. */
static uint32_t bad_records(vx_builtin_state *st, vx_txn *orders, uint32_t capacity) {
    uint32_t r = capacity < 3 ? capacity : 3;
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
    return r;
}

/* The kinds whose answer ignores the events: the hostile "bad_count" and "bad_records"
 * (noop and fail_init emit nothing). */
static uint32_t input_free(vx_builtin_state *st, vx_txn *orders, uint32_t capacity) {
    switch (st->kind) {
    case VX_BUILTIN_BAD_COUNT: return capacity + 1;
    case VX_BUILTIN_BAD_RECORDS: return bad_records(st, orders, capacity);
    default: return 0;
    }
}

/* What the host did, for the tests: one batch of n events that returned r orders. */
static uint32_t counted(vx_builtin_state *st, uint32_t n, uint32_t r, uint32_t capacity) {
    st->batches++;
    st->events += n;
    if (r <= capacity) st->orders += r;
    return r;
}

static uint32_t builtin_on_batch(void *state_, const vx_stage_ctx *ctx, const vx_txn *events,
                                 uint32_t n, vx_txn *orders, uint32_t capacity) {
    vx_builtin_state *st = state_;
    uint32_t r = 0;
    if (st->kind == VX_BUILTIN_IMBALANCE) {
        r = imbalance(st, ctx, orders, capacity);
    } else if (st->kind == VX_BUILTIN_ECHO) {
        r = n < capacity ? n : capacity;
        for (uint32_t i = 0; i < r; i++) {
            orders[i] = events[i];
            orders[i].kind = VX_NEW;
            orders[i].seq = st->seq++;
        }
    } else {
        r = input_free(st, orders, capacity);
    }
    return counted(st, n, r, capacity);
}

/* The same stages over market-by-order events: "imbalance" reads the top of the book of the
 * batch's last event's instrument, "echo" sends one NEW order per ADD (its side, price, qty). */
static uint32_t builtin_on_mbo_batch(void *state_, const vx_stage_ctx *ctx, const vx_mbo *events,
                                     uint32_t n, vx_txn *orders, uint32_t capacity) {
    vx_builtin_state *st = state_;
    uint32_t r = 0;
    if (st->kind == VX_BUILTIN_IMBALANCE) {
        const vx_mbo_book *b = vx_mbo_set_reader(ctx->mbo, events[n - 1].instrument);
        int64_t bid_px, ask_px;
        uint64_t bid_q, ask_q;
        if (b && vx_mbo_best(b, VX_BUY, &bid_px, &bid_q) == VX_OK &&
            vx_mbo_best(b, VX_SELL, &ask_px, &ask_q) == VX_OK)
            r = lean(st, bid_px, bid_q, ask_px, ask_q, orders, capacity);
    } else if (st->kind == VX_BUILTIN_ECHO) {
        for (uint32_t i = 0; i < n && r < capacity; i++) { /* bounded by n */
            if (events[i].action != VX_MBO_ADD) continue;
            memset(&orders[r], 0, sizeof orders[r]);
            orders[r].side = events[i].side;
            orders[r].price = events[i].price;
            orders[r].qty = events[i].qty;
            orders[r].kind = VX_NEW;
            orders[r].seq = st->seq++;
            r++;
        }
    } else {
        r = input_free(st, orders, capacity);
    }
    return counted(st, n, r, capacity);
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
    b->table.on_mbo_batch = builtin_on_mbo_batch;
    return VX_OK;
}
