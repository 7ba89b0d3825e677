# C declarations of csrc/velox/strategy_builtin.h (velox's own ABI v2 strategies).
from libc.stdint cimport uint32_t

from velox.includes.orders cimport vx_order
from velox.includes.strategy cimport vx_strategy
from velox.includes.types cimport vx_status

cdef extern from "velox/strategy_builtin.h" nogil:
    vx_status vx_quote_create(uint32_t instruments, vx_strategy **out)
    vx_status vx_script_create(const vx_order *orders, size_t n, vx_strategy **out)
    void vx_builtin_destroy(vx_strategy *s)
