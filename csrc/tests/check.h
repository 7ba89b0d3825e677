/*
 * check.h — the C tests' tiny harness. Each test is a function; RUN() calls it and counts it
 * as failed if any CHECK inside failed. vx_test_scale() scales stress counts: 1.0 normally,
 * smaller under sanitizers (the Makefile sets VELOX_TEST_SCALE). main() ends with
 * CHECK_SUMMARY(), which prints "name: N passed, N failed" and returns the exit code.
 */
#ifndef VELOX_TESTS_CHECK_H
#define VELOX_TESTS_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int check_failures_in_test;
static int check_tests_passed;
static int check_tests_failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            check_failures_in_test++;                                                 \
        }                                                                             \
    } while (0)

/* For stress loops: stop at the first mismatch instead of printing a million lines. */
#define REQUIRE(cond)                                                                 \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#define RUN(fn)                                                                       \
    do {                                                                              \
        check_failures_in_test = 0;                                                   \
        fn();                                                                         \
        if (check_failures_in_test) {                                                 \
            check_tests_failed++;                                                     \
            fprintf(stderr, "FAIL %s\n", #fn);                                        \
        } else {                                                                      \
            check_tests_passed++;                                                     \
            printf("ok   %s\n", #fn);                                                 \
        }                                                                             \
        fflush(stdout);                                                               \
    } while (0)

#define CHECK_SUMMARY(name)                                                           \
    (printf("%s: %d passed, %d failed\n", name, check_tests_passed, check_tests_failed), \
     check_tests_failed ? 1 : 0)

static inline double vx_test_scale(void) {
    const char *s = getenv("VELOX_TEST_SCALE");
    double v = s ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

/* A reader thread's "I have run" handshake. On a loaded 2-CPU machine a reader thread may not
 * be scheduled before its writer is done (run 6 of the 2026-12-06 20-run loop: a 2M-event
 * writer finished before the reader's first poll, and "the reader polled" failed). The
 * reader calls vx_test_started after its first poll; the writer calls vx_test_wait_started
 * before it starts (or before it stops the reader), bounded by `seconds`. */
static inline void vx_test_started(_Atomic int *flag) {
    /* release: pairs with the acquire load in vx_test_wait_started (a flag, nothing more) */
    atomic_store_explicit(flag, 1, memory_order_release);
}
static inline int vx_test_wait_started(_Atomic int *flag, double seconds) {
    for (long i = 0; i < (long)(seconds * 10000); i++) { /* bounded: 100 us steps */
        /* acquire: pairs with the release store in vx_test_started */
        if (atomic_load_explicit(flag, memory_order_acquire)) return 1;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return atomic_load_explicit(flag, memory_order_acquire);
}

/* n scaled, never below min_n. */
static inline uint64_t vx_test_count(uint64_t n, uint64_t min_n) {
    double v = (double)n * vx_test_scale();
    return v < (double)min_n ? min_n : (uint64_t)v;
}

/* Pins the calling thread to cpu % (CPUs available); ignores failure (tests still run). */
static inline void vx_test_pin(int cpu) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
    int n = CPU_COUNT(&allowed);
    if (n <= 0) return;
    int want = cpu % n, seen = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &allowed)) continue;
        if (seen++ == want) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(c, &one);
            pthread_setaffinity_np(pthread_self(), sizeof one, &one);
            return;
        }
    }
}

#endif
