# C declarations of csrc/velox/strategy.h (the strategy ABI, version 2).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from velox.includes.orders cimport vx_exec, vx_order, vx_reject
from velox.includes.types cimport vx_mbo, vx_status

cdef extern from "velox/strategy.h" nogil:
    enum:
        VX_STRATEGY_ABI_VERSION
        VX_API_VERSION
        VX_STRATEGY_MAX_GROUP
        VX_STRATEGY_MAX_SENDS
        VX_WORKING_PENDING
        VX_WORKING_LIVE
        VX_WORKING_PENDING_CANCEL
    const char *VX_STRATEGY_CAPSULE_NAME
    size_t VX_STRATEGY_MIN_SIZE

    ctypedef struct vx_strategy_env:
        pass

    ctypedef struct vx_position:
        int64_t position
        int64_t avg_price
        int64_t realized
        int64_t unrealized
        int64_t fees
        int64_t mark
        uint64_t volume
        uint64_t fills
        int64_t working_buy
        int64_t working_sell

    ctypedef struct vx_working:
        uint64_t order_id
        int64_t price
        uint32_t instrument
        uint32_t qty
        uint32_t leaves_qty
        uint8_t side
        uint8_t state

    ctypedef struct vx_api:
        uint32_t version
        uint32_t size
        uint64_t (*now)(const vx_strategy_env *env)
        uint32_t (*instruments)(const vx_strategy_env *env)
        vx_status (*best)(const vx_strategy_env *env, uint32_t instrument, int side,
                          int64_t *price, uint64_t *qty)
        size_t (*depth)(const vx_strategy_env *env, uint32_t instrument, int side, size_t n,
                        int64_t *prices, uint64_t *qtys)
        vx_status (*qty_at)(const vx_strategy_env *env, uint32_t instrument, int side,
                            int64_t price, uint64_t *qty)
        vx_status (*market_order)(const vx_strategy_env *env, uint32_t instrument,
                                  uint64_t order_id, int64_t *price, uint32_t *qty, int *side)
        vx_status (*queue_ahead)(const vx_strategy_env *env, uint64_t order_id, uint64_t *ahead)
        vx_reject (*send)(vx_strategy_env *env, const vx_order *order)
        vx_status (*working)(const vx_strategy_env *env, uint64_t order_id, vx_working *out)
        size_t (*working_list)(const vx_strategy_env *env, vx_working *out, size_t n)
        vx_status (*position)(const vx_strategy_env *env, uint32_t instrument, vx_position *out)
        vx_status (*set_timer)(vx_strategy_env *env, uint64_t at)
        void (*kill)(vx_strategy_env *env)
        const char *(*arg)(const vx_strategy_env *env, const char *key)

    ctypedef struct vx_strategy:
        uint32_t abi_version
        uint32_t struct_size
        uint32_t api_version
        uint32_t reserved
        const char *name
        void *state
        int (*init)(void *state, const vx_api *api, vx_strategy_env *env)
        void (*on_market)(void *state, vx_strategy_env *env, const vx_mbo *events, uint32_t n)
        void (*on_exec)(void *state, vx_strategy_env *env, const vx_exec *exec)
        void (*on_timer)(void *state, vx_strategy_env *env, uint64_t now)
        void (*finish)(void *state, vx_strategy_env *env)

# Byte offsets of the records the Python side mirrors (dtypes built from them, as ORDER_DTYPE is
# from orders.h's VX_ORDER_OFFSET_* macros).
cdef extern from *:
    """
    #include <stddef.h>
    #include "velox/strategy.h"
    #define VX_POSITION_OFFSET_POSITION offsetof(vx_position, position)
    #define VX_POSITION_OFFSET_AVG_PRICE offsetof(vx_position, avg_price)
    #define VX_POSITION_OFFSET_REALIZED offsetof(vx_position, realized)
    #define VX_POSITION_OFFSET_UNREALIZED offsetof(vx_position, unrealized)
    #define VX_POSITION_OFFSET_FEES offsetof(vx_position, fees)
    #define VX_POSITION_OFFSET_MARK offsetof(vx_position, mark)
    #define VX_POSITION_OFFSET_VOLUME offsetof(vx_position, volume)
    #define VX_POSITION_OFFSET_FILLS offsetof(vx_position, fills)
    #define VX_POSITION_OFFSET_WORKING_BUY offsetof(vx_position, working_buy)
    #define VX_POSITION_OFFSET_WORKING_SELL offsetof(vx_position, working_sell)
    #define VX_WORKING_OFFSET_ORDER_ID offsetof(vx_working, order_id)
    #define VX_WORKING_OFFSET_PRICE offsetof(vx_working, price)
    #define VX_WORKING_OFFSET_INSTRUMENT offsetof(vx_working, instrument)
    #define VX_WORKING_OFFSET_QTY offsetof(vx_working, qty)
    #define VX_WORKING_OFFSET_LEAVES_QTY offsetof(vx_working, leaves_qty)
    #define VX_WORKING_OFFSET_SIDE offsetof(vx_working, side)
    #define VX_WORKING_OFFSET_STATE offsetof(vx_working, state)
    #define VX_STRATEGY_OFFSET_API_VERSION offsetof(vx_strategy, api_version)
    """
    size_t VX_POSITION_OFFSET_POSITION
    size_t VX_POSITION_OFFSET_AVG_PRICE
    size_t VX_POSITION_OFFSET_REALIZED
    size_t VX_POSITION_OFFSET_UNREALIZED
    size_t VX_POSITION_OFFSET_FEES
    size_t VX_POSITION_OFFSET_MARK
    size_t VX_POSITION_OFFSET_VOLUME
    size_t VX_POSITION_OFFSET_FILLS
    size_t VX_POSITION_OFFSET_WORKING_BUY
    size_t VX_POSITION_OFFSET_WORKING_SELL
    size_t VX_WORKING_OFFSET_ORDER_ID
    size_t VX_WORKING_OFFSET_PRICE
    size_t VX_WORKING_OFFSET_INSTRUMENT
    size_t VX_WORKING_OFFSET_QTY
    size_t VX_WORKING_OFFSET_LEAVES_QTY
    size_t VX_WORKING_OFFSET_SIDE
    size_t VX_WORKING_OFFSET_STATE
    size_t VX_STRATEGY_OFFSET_API_VERSION
