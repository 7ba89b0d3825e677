/*
 * velox/crc32c.h — CRC32C (Castagnoli: polynomial 0x1EDC6F41, bit-reversed 0x82F63B78), the
 * checksum of journal records and segment headers.
 *
 * Convention (the standard CRC-32C of iSCSI, ext4 and SSE4.2): the register starts at
 * 0xFFFFFFFF, bytes are fed in memory order, least significant bit first (reflected), and the
 * result is the register xor 0xFFFFFFFF. vx_crc32c(0, p, n) is the CRC32C of p[0..n);
 * vx_crc32c(vx_crc32c(0, a, na), b, nb) is the CRC32C of a followed by b. Check value:
 * vx_crc32c(0, "123456789", 9) == 0xE3069283; the CRC32C of no bytes is 0.
 *
 * Implementations, bit-identical (csrc/tests/test_crc32c.c checks them against each other and
 * against a bit-at-a-time reference):
 *   VX_CRC32C_SSE42     x86-64 SSE4.2 `crc32` (8 bytes per instruction), when cpuid says so
 *   VX_CRC32C_ARMV8     AArch64 ARMv8 CRC32 `crc32cx`, when getauxval(AT_HWCAP) has HWCAP_CRC32
 *   VX_CRC32C_PORTABLE  slicing-by-8 over vx_crc32c_table (8 lookups per 8 bytes), anywhere
 * The build targets baseline x86-64 / armv8-a: only the functions that use the instructions
 * are compiled for them (VX_CRC32C_TARGET_*), and they run only where the CPU has them.
 *
 * Choice: the first call of vx_crc32c_impl (or of any function below that dispatches) picks the
 * hardware implementation when the CPU has one, unless the environment variable
 * VELOX_NO_HW_CRC is set to a non-empty value other than "0" (then the portable one); the
 * choice is cached in one atomic int per copy of crc32c.c (every copy computes the same value)
 * and can be changed by vx_crc32c_use (tests). Because every implementation gives the same
 * values, the choice changes speed only, never a result, whenever it changes.
 *
 * Hot loops (journal.c): the word steps below are inline, so a loop compiled once per
 * implementation (the caller's function carrying VX_CRC32C_TARGET_<impl>) keeps the
 * instruction inline; the caller picks the loop once per batch (VX_CRC32C_PICK of
 * vx_crc32c_impl()), never an indirect call per record. vx_crc32c_copy_<impl> loads every 8-byte word once, stores it to
 * dst and folds the register value into the CRC, so the CRC is that of the bytes stored in dst
 * even if src changes meanwhile.
 *
 * Byte order: words are folded in memory order on either byte order (vx_crc32c_le64).
 * No allocation; every loop bounded by n; no state beyond the cached choice.
 */
#ifndef VELOX_CRC32C_H
#define VELOX_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { VX_CRC32C_PORTABLE = 1, VX_CRC32C_SSE42 = 2, VX_CRC32C_ARMV8 = 3 };

/* The slicing-by-8 tables (scripts/gen_crc32c_tables.py): table[0][b] is byte b fed into a
 * zero register, table[k][b] = table[k-1][b] advanced by one more zero byte. */
extern const uint32_t vx_crc32c_table[8][256];

/* The implementation in use (see Choice). */
int vx_crc32c_impl(void);
/* 1 if this CPU can run implementation impl. */
int vx_crc32c_supported(int impl);
/* Makes impl the one in use: 0, or -1 (nothing changed) if this CPU cannot run it. For tests
 * that run the hardware and portable loops in one process. */
int vx_crc32c_use(int impl);
/* "sse4.2", "armv8-crc", "portable" ("unknown" for another value). */
const char *vx_crc32c_impl_name(int impl);

/* CRC32C of n bytes at p, continuing from crc (0 to start): see Convention. */
uint32_t vx_crc32c(uint32_t crc, const void *p, size_t n);
/* Copies n bytes from src to dst (not overlapping) and returns vx_crc32c(crc, dst, n): each
 * word loaded once, stored and folded from the register. */
uint32_t vx_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t n);
/* vx_crc32c / vx_crc32c_copy with a named implementation (the caller checked
 * vx_crc32c_supported(impl); an unsupported hardware one is the portable one here). */
uint32_t vx_crc32c_with(int impl, uint32_t crc, const void *p, size_t n);
uint32_t vx_crc32c_copy_with(int impl, uint32_t crc, void *dst, const void *src, size_t n);

/* ---- inline word steps (the register is the inverted CRC: ~crc in, ~result out) ---------- */

/* x as loaded from memory, made little-endian, so its low byte is the first byte in memory. */
static inline uint64_t vx_crc32c_le64(uint64_t x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(x);
#else
    return x;
#endif
}

static inline uint32_t vx_crc32c_step8_portable(uint32_t c, uint8_t b) {
    return (c >> 8) ^ vx_crc32c_table[0][(c ^ b) & 0xff];
}

static inline uint32_t vx_crc32c_step64_portable(uint32_t c, uint64_t word) {
    uint64_t x = vx_crc32c_le64(word) ^ c;
    return vx_crc32c_table[7][x & 0xff] ^ vx_crc32c_table[6][(x >> 8) & 0xff] ^
           vx_crc32c_table[5][(x >> 16) & 0xff] ^ vx_crc32c_table[4][(x >> 24) & 0xff] ^
           vx_crc32c_table[3][(x >> 32) & 0xff] ^ vx_crc32c_table[2][(x >> 40) & 0xff] ^
           vx_crc32c_table[1][(x >> 48) & 0xff] ^ vx_crc32c_table[0][x >> 56];
}

#define VX_CRC32C_TARGET_portable

#if defined(__x86_64__)
#include <nmmintrin.h>
#define VX_CRC32C_HAVE_SSE42 1
#if defined(__clang__) /* clang >= 14 gates the crc32 intrinsics on a feature of their own */
#define VX_CRC32C_TARGET_sse42 __attribute__((target("sse4.2,crc32")))
#else
#define VX_CRC32C_TARGET_sse42 __attribute__((target("sse4.2")))
#endif
VX_CRC32C_TARGET_sse42 static inline uint32_t vx_crc32c_step8_sse42(uint32_t c, uint8_t b) {
    return _mm_crc32_u8(c, b);
}
VX_CRC32C_TARGET_sse42 static inline uint32_t vx_crc32c_step64_sse42(uint32_t c, uint64_t word) {
    return (uint32_t)_mm_crc32_u64(c, vx_crc32c_le64(word));
}
#endif

#if defined(__aarch64__)
#include <arm_acle.h>
#define VX_CRC32C_HAVE_ARMV8 1
#if defined(__clang__)
#define VX_CRC32C_TARGET_armv8 __attribute__((target("crc")))
#else
#define VX_CRC32C_TARGET_armv8 __attribute__((target("+crc")))
#endif
VX_CRC32C_TARGET_armv8 static inline uint32_t vx_crc32c_step8_armv8(uint32_t c, uint8_t b) {
    return __crc32cb(c, b);
}
VX_CRC32C_TARGET_armv8 static inline uint32_t vx_crc32c_step64_armv8(uint32_t c, uint64_t word) {
    return __crc32cd(c, vx_crc32c_le64(word));
}
#endif

/* vx_crc32c_copy_<impl>(crc, dst, src, n) and vx_crc32c_sum_<impl>(crc, p, n): vx_crc32c_copy
 * and vx_crc32c with one implementation, inline (a constant n unrolls them). Both are
 * vx_crc32c_run_<impl> with `store` a constant, so the test of it folds away. */
#define VX_CRC32C_DEFINE_COPY(IMPL)                                                             \
    VX_CRC32C_TARGET_##IMPL static inline __attribute__((always_inline)) uint32_t              \
    vx_crc32c_run_##IMPL(uint32_t crc, uint8_t *dst, const uint8_t *src, size_t n, int store) { \
        uint32_t c = ~crc;                                                                       \
        size_t i = 0;                                                                            \
        for (; i + 32 <= n; i += 32) { /* bounded by n; 4 words a turn (loop cost) */            \
            uint64_t x[4];                                                                       \
            memcpy(x, src + i, 32);                                                              \
            if (store) memcpy(dst + i, x, 32);                                                   \
            c = vx_crc32c_step64_##IMPL(c, x[0]);                                                \
            c = vx_crc32c_step64_##IMPL(c, x[1]);                                                \
            c = vx_crc32c_step64_##IMPL(c, x[2]);                                                \
            c = vx_crc32c_step64_##IMPL(c, x[3]);                                                \
        }                                                                                        \
        for (; i + 8 <= n; i += 8) { /* bounded by n: at most 3 words */                         \
            uint64_t x;                                                                          \
            memcpy(&x, src + i, 8);                                                              \
            if (store) memcpy(dst + i, &x, 8);                                                   \
            c = vx_crc32c_step64_##IMPL(c, x);                                                   \
        }                                                                                        \
        for (; i < n; i++) { /* bounded by n: at most 7 bytes */                                 \
            uint8_t b = src[i];                                                                  \
            if (store) dst[i] = b;                                                               \
            c = vx_crc32c_step8_##IMPL(c, b);                                                    \
        }                                                                                        \
        return ~c;                                                                               \
    }                                                                                            \
    VX_CRC32C_TARGET_##IMPL static inline __attribute__((always_inline)) uint32_t              \
    vx_crc32c_copy_##IMPL(uint32_t crc, uint8_t *dst, const uint8_t *src, size_t n) {          \
        return vx_crc32c_run_##IMPL(crc, dst, src, n, 1);                                        \
    }                                                                                            \
    VX_CRC32C_TARGET_##IMPL static inline __attribute__((always_inline)) uint32_t              \
    vx_crc32c_sum_##IMPL(uint32_t crc, const uint8_t *p, size_t n) {                           \
        return vx_crc32c_run_##IMPL(crc, NULL, p, n, 0);                                         \
    }

VX_CRC32C_DEFINE_COPY(portable)
#ifdef VX_CRC32C_HAVE_SSE42
VX_CRC32C_DEFINE_COPY(sse42)
#endif
#ifdef VX_CRC32C_HAVE_ARMV8
VX_CRC32C_DEFINE_COPY(armv8)
#endif

/* VX_CRC32C_PICK(impl, fn): fn_sse42, fn_armv8 or fn_portable, whichever of them is
 * implementation impl's in this build (fn_portable for any other value): for a caller that
 * compiles one function per implementation (same type) and picks one per batch. */
#ifdef VX_CRC32C_HAVE_SSE42
#define VX_CRC32C_IF_SSE42_(impl, fn, other) ((impl) == VX_CRC32C_SSE42 ? fn##_sse42 : (other))
#else
#define VX_CRC32C_IF_SSE42_(impl, fn, other) (other)
#endif
#ifdef VX_CRC32C_HAVE_ARMV8
#define VX_CRC32C_IF_ARMV8_(impl, fn, other) ((impl) == VX_CRC32C_ARMV8 ? fn##_armv8 : (other))
#else
#define VX_CRC32C_IF_ARMV8_(impl, fn, other) (other)
#endif
#define VX_CRC32C_PICK(impl, fn) \
    VX_CRC32C_IF_SSE42_(impl, fn, VX_CRC32C_IF_ARMV8_(impl, fn, fn##_portable))

#endif
