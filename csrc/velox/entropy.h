/*
 * velox/entropy.h — a 64-bit seed no input can know, for the hash tables that must not be
 * steerable by crafted ids (the MBO order index, the ITCH level spill table).
 *
 * Contract:
 *   - vx_entropy64(salt): 64 bits from the kernel's random source (getrandom(2), never
 *     blocking), else, where the kernel has no getrandom (Linux < 3.17) or it returns short,
 *     the monotonic clock; either way XORed with `salt` (an address of the caller's object).
 *   - Calls the system call itself, not glibc's getrandom() wrapper: that wrapper is a
 *     GLIBC_2.25 symbol, which would make the wheel manylinux_2_26 instead of manylinux_2_17
 *     (scripts/build-wheel.sh refuses a wheel newer than its promise).
 *   - Needs _GNU_SOURCE before the first system header (for syscall()); csrc's Makefile and
 *     setup.py define it. Header-only (static inline), no state.
 */
#ifndef VELOX_ENTROPY_H
#define VELOX_ENTROPY_H

#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* GRND_NONBLOCK's value in the Linux ABI (include/uapi/linux/random.h). */
#define VX_GRND_NONBLOCK 0x0001

static inline uint64_t vx_entropy64(const void *salt) {
    uint64_t s = 0;
    if (syscall(SYS_getrandom, &s, sizeof s, VX_GRND_NONBLOCK) != (long)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    return s ^ (uint64_t)(uintptr_t)salt;
}

#endif /* VELOX_ENTROPY_H */
