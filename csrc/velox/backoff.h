/*
 * velox/backoff.h — bounded exponential backoff for retry and wait loops (header-only).
 *
 * After crossbeam-utils' Backoff. One small value per loop, owned by the looping thread:
 *
 *     vx_backoff b;
 *     vx_backoff_init(&b);
 *     for (attempt = 0; attempt < LIMIT; attempt++) {     // the caller bounds the loop
 *         if (try_something()) break;
 *         vx_backoff_spin(&b);                            // lock-free retry: CAS lost a race
 *     }
 *
 *     while (!ready()) {                                  // waiting on another thread
 *         if (vx_backoff_is_completed(&b)) { block or give up; }
 *         vx_backoff_snooze(&b);
 *     }
 *
 * Contract:
 *   - vx_backoff_spin: 1 << min(step, VX_BACKOFF_SPIN_LIMIT) pause instructions (1, 2, 4 … 64),
 *     then step++ (saturating). Never yields: use it after a failed CAS, where another thread
 *     just made progress and the line will be free again in a few cycles.
 *   - vx_backoff_snooze: while step <= VX_BACKOFF_SPIN_LIMIT, 1 << step pauses; afterwards one
 *     sched_yield() per call. step++ up to VX_BACKOFF_YIELD_LIMIT + 1. Use it when waiting for
 *     another thread to do something (it may be descheduled: yield lets it run).
 *   - vx_backoff_is_completed: true once step > VX_BACKOFF_YIELD_LIMIT, i.e. after
 *     7 spinning + 4 yielding snoozes; the caller should stop spinning and block, sleep, or
 *     report a timeout. Backoff never bounds a loop by itself: the caller counts attempts.
 *   - No state besides the step; no globals; no allocation; safe in any thread.
 */
#ifndef VELOX_BACKOFF_H
#define VELOX_BACKOFF_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "velox/tsc.h" /* vx_cpu_relax */

enum {
    VX_BACKOFF_SPIN_LIMIT = 6,  /* longest spin: 1 << 6 = 64 pauses */
    VX_BACKOFF_YIELD_LIMIT = 10 /* snoozes after this report "completed" */
};

typedef struct vx_backoff {
    uint32_t step;
} vx_backoff;

_Static_assert(VX_BACKOFF_SPIN_LIMIT < VX_BACKOFF_YIELD_LIMIT, "spin phase precedes yield phase");
_Static_assert(VX_BACKOFF_SPIN_LIMIT < 31, "1 << step must fit in uint32_t");

static inline void vx_backoff_init(vx_backoff *b) { b->step = 0; }

static inline void vx_backoff_reset(vx_backoff *b) { b->step = 0; }

/* Pause 1 << min(step, SPIN_LIMIT) times; for retrying a lost compare-and-swap. */
static inline void vx_backoff_spin(vx_backoff *b) {
    uint32_t s = b->step < VX_BACKOFF_SPIN_LIMIT ? b->step : VX_BACKOFF_SPIN_LIMIT;
    for (uint32_t i = 0; i < (1u << s); i++) vx_cpu_relax(); /* bounded: <= 64 */
    if (b->step <= VX_BACKOFF_SPIN_LIMIT) b->step++;
}

/* Pause 1 << step times while step <= SPIN_LIMIT, then yield the CPU; for waiting on others. */
static inline void vx_backoff_snooze(vx_backoff *b) {
    if (b->step <= VX_BACKOFF_SPIN_LIMIT) {
        for (uint32_t i = 0; i < (1u << b->step); i++) vx_cpu_relax(); /* bounded: <= 64 */
    } else {
        sched_yield();
    }
    if (b->step <= VX_BACKOFF_YIELD_LIMIT) b->step++;
}

/* True when snoozing has run its course: time to block or give up. */
static inline bool vx_backoff_is_completed(const vx_backoff *b) {
    return b->step > VX_BACKOFF_YIELD_LIMIT;
}

#endif /* VELOX_BACKOFF_H */
