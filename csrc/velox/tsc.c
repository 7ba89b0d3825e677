/* velox/tsc.c — calibration and spin-sleep. See tsc.h for the contract. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "velox/tsc.h"

#include <stdio.h>
#include <string.h>

/* One paired reading: the counter bracketed by two reference reads, keeping the pair whose
 * bracket is narrowest (least disturbed by preemption). Bounded: 16 tries. */
static void paired_read(uint64_t *tsc, uint64_t *ns) {
    uint64_t best_gap = UINT64_MAX;
    *tsc = 0;
    *ns = 0;
    for (int i = 0; i < 16; i++) {
        uint64_t before = vx_monotonic_ns();
        uint64_t t = vx_tsc_read();
        uint64_t after = vx_monotonic_ns();
        if (after - before < best_gap) {
            best_gap = after - before;
            *tsc = t;
            *ns = before + (after - before) / 2;
        }
    }
}

double vx_tsc_calibrate(uint64_t duration_ns) {
#if !VX_TSC_HW
    (void)duration_ns;
    return 1.0;
#else
    uint64_t t0, n0, t1, n1;
    paired_read(&t0, &n0);
    uint64_t deadline = n0 + duration_ns;
    /* Bounded by the deadline on a clock that advances. */
    while (vx_monotonic_ns() < deadline) {
        vx_cpu_relax();
    }
    paired_read(&t1, &n1);
    if (n1 <= n0 || t1 <= t0) return 0.0;
    return (double)(t1 - t0) / (double)(n1 - n0);
#endif
}

uint64_t vx_tsc_reported_hz(void) {
#if defined(__aarch64__)
    uint64_t f;
    __asm__ __volatile__("mrs %0, cntfrq_el0" : "=r"(f));
    return f;
#else
    return 0;
#endif
}

int vx_tsc_invariant(void) {
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__linux__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    char line[4096];
    int result = -1;
    /* Bounded by the file's length: read until the first "flags" line. */
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) == 0) {
            result = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc") ? 1 : 0;
            break;
        }
    }
    fclose(f);
    return result;
#elif defined(__aarch64__)
    return 1; /* the architected generic timer is constant-rate by specification */
#else
    return -1;
#endif
}

void vx_tsc_spin_sleep_ns(uint64_t ns, double ticks_per_ns) {
    uint64_t start = vx_tsc_read();
    uint64_t ticks = vx_ns_to_ticks(ns, ticks_per_ns);
    /* Bounded by the deadline: the counter is monotonic. A second, wall-clock bound guards a
     * bad calibration: never wait more than twice ns by CLOCK_MONOTONIC_RAW. */
    uint64_t wall_deadline = vx_monotonic_ns() + 2 * ns + 1000;
    unsigned n = 0;
    while (vx_tsc_read() - start < ticks) {
        vx_cpu_relax();
        if ((++n & 1023u) == 0 && vx_monotonic_ns() > wall_deadline) break;
    }
}
