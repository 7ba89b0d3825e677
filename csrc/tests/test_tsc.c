/* test_tsc.c — the counter is monotonic, calibrates against CLOCK_MONOTONIC_RAW, spin-sleeps. */
#include "check.h"
#include "velox/tsc.h"

#include <math.h>

static void test_monotonic(void) {
    uint64_t prev = vx_tsc_read();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = vx_tsc_read();
        CHECK(now >= prev);
        if (now < prev) break;
        prev = now;
    }
}

static void test_calibrate(void) {
    double a = vx_tsc_calibrate(20 * 1000 * 1000);
    double b = vx_tsc_calibrate(20 * 1000 * 1000);
    CHECK(a > 0 && b > 0);
    /* Two calibrations agree within 2% (loose: sanitizers and loaded CI machines). */
    CHECK(fabs(a - b) / a < 0.02);
    if (vx_tsc_reported_hz()) CHECK(fabs(a * 1e9 - (double)vx_tsc_reported_hz()) / (a * 1e9) < 0.02);
}

static void test_conversions(void) {
    double tpns = 2.5;
    CHECK(vx_ns_to_ticks(1000, tpns) == 2500);
    CHECK(vx_ticks_to_ns(2500, tpns) == 1000);
}

static void test_spin_sleep(void) {
    double tpns = vx_tsc_calibrate(10 * 1000 * 1000);
    uint64_t t0 = vx_monotonic_ns();
    vx_tsc_spin_sleep_ns(2 * 1000 * 1000, tpns);
    uint64_t waited = vx_monotonic_ns() - t0;
    CHECK(waited >= 1900 * 1000); /* never short; long is possible under load */
}

static void test_invariant_answer(void) {
    int inv = vx_tsc_invariant();
    CHECK(inv == -1 || inv == 0 || inv == 1);
    printf("     source=%s invariant=%d\n", VX_TSC_SOURCE, inv);
}

int main(void) {
    RUN(test_monotonic);
    RUN(test_calibrate);
    RUN(test_conversions);
    RUN(test_spin_sleep);
    RUN(test_invariant_answer);
    return CHECK_SUMMARY("test_tsc");
}
