# Cython declarations of csrc/velox/guard.h (header-only use guard: one writer, readers beside
# it, exclusive calls alone; enters never wait).
from libc.stdint cimport uint32_t

cdef extern from "velox/guard.h" nogil:
    enum:
        VX_GUARD_WRITER
        VX_GUARD_EXCLUSIVE
        VX_GUARD_READER

    ctypedef struct vx_guard:
        pass

    void vx_guard_init(vx_guard *g)
    uint32_t vx_guard_state(const vx_guard *g)
    bint vx_guard_enter_reader(vx_guard *g)
    void vx_guard_exit_reader(vx_guard *g)
    uint32_t vx_guard_enter_writer(vx_guard *g)
    void vx_guard_exit_writer(vx_guard *g)
    uint32_t vx_guard_enter_exclusive(vx_guard *g)
    void vx_guard_exit_exclusive(vx_guard *g)
