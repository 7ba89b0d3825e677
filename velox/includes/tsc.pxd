# C declarations of csrc/velox/tsc.h (cycle counter).
from libc.stdint cimport uint64_t

cdef extern from "velox/tsc.h" nogil:
    const char *VX_TSC_SOURCE
    int VX_TSC_HW
    uint64_t vx_monotonic_ns()
    uint64_t vx_tsc_read()
    void vx_cpu_relax()
    double vx_tsc_calibrate(uint64_t duration_ns)
    uint64_t vx_tsc_reported_hz()
    int vx_tsc_invariant()
    void vx_tsc_spin_sleep_ns(uint64_t ns, double ticks_per_ns)
    uint64_t vx_ticks_to_ns(uint64_t ticks, double ticks_per_ns)
    uint64_t vx_ns_to_ticks(uint64_t ns, double ticks_per_ns)
