# cython: language_level=3, embedsignature=True
"""Imbalance: a user stage (velox/stage.h) written in Cython. After every book batch it reads
the top of the book; when the best bid's quantity is >= ratio x the best ask's it buys one lot
at the ask, in the mirror case it sells one lot at the bid. The callbacks are `noexcept nogil`
C functions: they run on velox's pipeline thread, never touch Python, never allocate."""
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memset
from cpython.pycapsule cimport PyCapsule_New

from velox.includes.orderbook cimport vx_book_best_ask, vx_book_best_bid
from velox.includes.stage cimport (VX_STAGE_ABI_VERSION, VX_STAGE_CAPSULE_NAME, vx_stage_ctx,
                                   vx_user_stage)
from velox.includes.types cimport VX_OK, vx_txn

cdef struct imbalance_state:
    uint32_t ratio
    uint64_t next_seq
    uint64_t batches
    uint64_t orders
    uint64_t inits
    uint64_t finishes

cdef int on_init(void *state) noexcept nogil:
    (<imbalance_state *>state).inits += 1
    return 0

cdef void on_finish(void *state) noexcept nogil:
    (<imbalance_state *>state).finishes += 1

cdef uint32_t on_batch(void *state, const vx_stage_ctx *ctx, const vx_txn *events, uint32_t n,
                       vx_txn *orders, uint32_t capacity) noexcept nogil:
    cdef imbalance_state *st = <imbalance_state *>state
    cdef int64_t bid_px, ask_px
    cdef uint64_t bid_q, ask_q
    st.batches += 1
    if capacity < 1 or vx_book_best_bid(ctx.book, &bid_px, &bid_q) != VX_OK \
            or vx_book_best_ask(ctx.book, &ask_px, &ask_q) != VX_OK:
        return 0
    memset(&orders[0], 0, sizeof(vx_txn))
    if bid_q >= <uint64_t>st.ratio * ask_q:      # buyers lean on a thin ask: lift it
        orders[0].side = 0
        orders[0].price = ask_px
    elif ask_q >= <uint64_t>st.ratio * bid_q:    # sellers lean on a thin bid: hit it
        orders[0].side = 1
        orders[0].price = bid_px
    else:
        return 0
    orders[0].kind = 0   # NEW
    orders[0].qty = 1
    orders[0].seq = st.next_seq
    st.next_seq += 1
    st.orders += 1
    return 1

cdef class Imbalance:
    """Pass to ``velox.Pipeline(stage=Imbalance(ratio=2))``; the Pipeline keeps it alive."""
    cdef vx_user_stage table
    cdef imbalance_state state

    def __cinit__(self, ratio=2):
        if not isinstance(ratio, int) or not 1 <= ratio <= 1000:
            raise ValueError(f"ratio must be an int in [1, 1000], got {ratio!r}")
        memset(&self.state, 0, sizeof(self.state))
        self.state.ratio = ratio
        self.state.next_seq = (<uint64_t>1) << 62
        self.table.abi_version = VX_STAGE_ABI_VERSION
        self.table.struct_size = sizeof(vx_user_stage)
        self.table.name = b"imbalance (Cython example)"
        self.table.state = &self.state
        self.table.init = on_init
        self.table.on_batch = on_batch
        self.table.finish = on_finish

    def __velox_stage__(self):
        return PyCapsule_New(&self.table, VX_STAGE_CAPSULE_NAME, NULL)

    @property
    def counts(self):
        """What the stage did (read after Pipeline.stop(): plain fields of the pipeline thread)."""
        return {"batches": self.state.batches, "orders": self.state.orders,
                "inits": self.state.inits, "finishes": self.state.finishes}
