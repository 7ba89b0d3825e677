# C declarations of csrc/velox/positions.h (positions, P&L, risk limits).
from libc.stdint cimport int64_t, uint32_t, uint64_t

from velox.includes.strategy cimport vx_position
from velox.includes.types cimport vx_status

cdef extern from "velox/positions.h" nogil:
    ctypedef struct vx_risk_limits:
        int64_t max_loss
        uint64_t max_position
        uint32_t max_order_qty
        uint32_t max_working

    ctypedef struct vx_pnl_point:
        uint64_t ts
        uint32_t instrument
        uint32_t reason
        int64_t position
        int64_t realized
        int64_t unrealized
        int64_t fees
        int64_t total

    ctypedef struct vx_positions:
        pass

    vx_status vx_positions_create(uint32_t instruments, vx_positions **out)
    void vx_positions_destroy(vx_positions *p)
    vx_status vx_positions_fill(vx_positions *p, uint32_t instrument, int side, int64_t price,
                                uint32_t lots, int64_t fee)
    vx_status vx_positions_fee(vx_positions *p, uint32_t instrument, int64_t fee)
    vx_status vx_positions_mark(vx_positions *p, uint32_t instrument, int64_t mark)
    vx_status vx_positions_get(const vx_positions *p, uint32_t instrument, vx_position *out)
    int64_t vx_positions_total(const vx_positions *p)
    int vx_positions_traded(const vx_positions *p, uint32_t instrument)

cdef extern from *:
    """
    #include <stddef.h>
    #include "velox/positions.h"
    #define VX_PNL_OFFSET_TS offsetof(vx_pnl_point, ts)
    #define VX_PNL_OFFSET_INSTRUMENT offsetof(vx_pnl_point, instrument)
    #define VX_PNL_OFFSET_REASON offsetof(vx_pnl_point, reason)
    #define VX_PNL_OFFSET_POSITION offsetof(vx_pnl_point, position)
    #define VX_PNL_OFFSET_REALIZED offsetof(vx_pnl_point, realized)
    #define VX_PNL_OFFSET_UNREALIZED offsetof(vx_pnl_point, unrealized)
    #define VX_PNL_OFFSET_FEES offsetof(vx_pnl_point, fees)
    #define VX_PNL_OFFSET_TOTAL offsetof(vx_pnl_point, total)
    """
    size_t VX_PNL_OFFSET_TS
    size_t VX_PNL_OFFSET_INSTRUMENT
    size_t VX_PNL_OFFSET_REASON
    size_t VX_PNL_OFFSET_POSITION
    size_t VX_PNL_OFFSET_REALIZED
    size_t VX_PNL_OFFSET_UNREALIZED
    size_t VX_PNL_OFFSET_FEES
    size_t VX_PNL_OFFSET_TOTAL
