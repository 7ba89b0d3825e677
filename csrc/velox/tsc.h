/*
 * velox/tsc.h — the cycle counter: read it inline, calibrate it, convert, spin-sleep.
 *
 * Contract:
 *   - vx_tsc_read() is a static inline read of the cheapest monotonic per-CPU counter:
 *       x86_64:  lfence; rdtsc            (VX_TSC_SOURCE "rdtsc"; the lfence keeps earlier
 *                                          loads from drifting after the read)
 *       aarch64: isb; mrs cntvct_el0      (VX_TSC_SOURCE "cntvct")
 *       other:   clock_gettime(CLOCK_MONOTONIC_RAW) in ns  (VX_TSC_SOURCE "clock_gettime")
 *   - Calibration returns ticks per nanosecond; the caller stores it (no globals in csrc/).
 *   - Every wait is bounded by its deadline.
 */
#ifndef VELOX_TSC_H
#define VELOX_TSC_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(_M_X64)
#define VX_TSC_SOURCE "rdtsc"
#define VX_TSC_HW 1
#elif defined(__aarch64__)
#define VX_TSC_SOURCE "cntvct"
#define VX_TSC_HW 1
#else
#define VX_TSC_SOURCE "clock_gettime"
#define VX_TSC_HW 0
#endif

/* CLOCK_MONOTONIC_RAW in nanoseconds (the calibration reference). */
static inline uint64_t vx_monotonic_ns(void) {
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_RAW
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t vx_tsc_read(void) {
#if defined(__x86_64__) || defined(_M_X64)
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
    return v;
#else
    return vx_monotonic_ns();
#endif
}

/* A CPU hint for spin loops: pause on x86, yield on aarch64, nothing elsewhere. */
static inline void vx_cpu_relax(void) {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
    __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* Measures the counter against CLOCK_MONOTONIC_RAW for duration_ns (busy-waiting, bounded by
 * that duration) and returns ticks per nanosecond. Returns 1.0 for the clock_gettime source.
 * Returns a value <= 0 only if the clocks did not advance (never seen on a working system). */
double vx_tsc_calibrate(uint64_t duration_ns);

/* Frequency the hardware reports, if it does (aarch64 CNTFRQ_EL0), in Hz; 0 when unknown. */
uint64_t vx_tsc_reported_hz(void);

/* 1 if the CPU advertises an invariant TSC (x86_64 Linux: constant_tsc and nonstop_tsc in
 * /proc/cpuinfo), 0 if it does not, -1 if this cannot be known (other platforms). */
int vx_tsc_invariant(void);

/* Busy-waits until ns nanoseconds have passed, reading the counter (pause between reads).
 * ticks_per_ns must come from vx_tsc_calibrate. Bounded by the deadline it computes. */
void vx_tsc_spin_sleep_ns(uint64_t ns, double ticks_per_ns);

static inline uint64_t vx_ticks_to_ns(uint64_t ticks, double ticks_per_ns) {
    return (uint64_t)((double)ticks / ticks_per_ns);
}

static inline uint64_t vx_ns_to_ticks(uint64_t ns, double ticks_per_ns) {
    return (uint64_t)((double)ns * ticks_per_ns);
}

#endif /* VELOX_TSC_H */
