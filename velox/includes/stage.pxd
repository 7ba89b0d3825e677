# C declarations of csrc/velox/stage.h (the user-stage ABI) and stage_builtin.h.
from libc.stdint cimport int64_t, uint32_t, uint64_t

from velox.includes.mbo cimport vx_mbo_set
from velox.includes.orderbook cimport vx_book
from velox.includes.types cimport vx_mbo, vx_status, vx_txn

cdef extern from "velox/stage.h" nogil:
    enum:
        VX_STAGE_ABI_VERSION
        VX_STAGE_MAX_EMIT
        VX_USER_STAGE_V1_SIZE   # struct_size of a table compiled before on_mbo_batch existed
    const char *VX_STAGE_CAPSULE_NAME

    ctypedef struct vx_stage_ctx:
        const vx_book *book
        uint64_t now_tsc
        uint64_t batch_index
        uint32_t capacity
        const vx_mbo_set *mbo   # market-by-order pipelines (book is then NULL)

    ctypedef uint32_t (*vx_stage_mbo_batch_fn)(void *state, const vx_stage_ctx *ctx,
                                               const vx_mbo *events, uint32_t n, vx_txn *orders,
                                               uint32_t capacity) noexcept nogil

    ctypedef struct vx_user_stage:
        uint32_t abi_version
        uint32_t struct_size
        const char *name
        void *state
        int (*init)(void *state) noexcept nogil
        uint32_t (*on_batch)(void *state, const vx_stage_ctx *ctx, const vx_txn *events,
                             uint32_t n, vx_txn *orders, uint32_t capacity) noexcept nogil
        void (*finish)(void *state) noexcept nogil
        vx_stage_mbo_batch_fn on_mbo_batch

    vx_status vx_user_stage_check(const vx_user_stage *s)
    vx_stage_mbo_batch_fn vx_user_stage_mbo_batch(const vx_user_stage *s)

cdef extern from "velox/stage_builtin.h" nogil:
    ctypedef enum vx_builtin_kind:
        VX_BUILTIN_NOOP
        VX_BUILTIN_IMBALANCE
        VX_BUILTIN_ECHO
        VX_BUILTIN_BAD_COUNT
        VX_BUILTIN_BAD_RECORDS
        VX_BUILTIN_FAIL_INIT
        VX_BUILTIN_KINDS

    ctypedef struct vx_builtin_state:
        vx_builtin_kind kind
        uint32_t ratio
        uint64_t seq
        uint64_t inits, finishes, batches, events, orders

    ctypedef struct vx_builtin_stage:
        vx_user_stage table
        vx_builtin_state state

    vx_status vx_builtin_stage_init(vx_builtin_stage *b, vx_builtin_kind kind, uint32_t ratio)
