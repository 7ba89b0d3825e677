/* test_crc32c.c — CRC32C (crc32c.h): the standard check values, the tables against a
 * bit-at-a-time reference, every implementation this CPU runs against that reference over
 * random lengths 0..300 and alignments (checksum and copy variant), the copy variant copying
 * exactly, and the run-time choice (hardware when the CPU has it, VELOX_NO_HW_CRC, the hook). */
#include <string.h>

#include "check.h"
#include "velox/crc32c.h"
#include "velox/prng.h"

/* The definition: reflected CRC, polynomial 0x82F63B78, register ~0 in, ~ out; bit by bit. */
static uint32_t reference(uint32_t crc, const uint8_t *p, size_t n) {
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++) { /* bounded by n */
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static const int IMPLS[] = {VX_CRC32C_PORTABLE, VX_CRC32C_SSE42, VX_CRC32C_ARMV8};
#define N_IMPLS (int)(sizeof IMPLS / sizeof IMPLS[0])

/* Standard check values: "123456789" and the iSCSI vectors of RFC 3720 B.4, with every
 * implementation this CPU runs, through vx_crc32c_with and vx_crc32c_copy_with. */
static void test_check_values(void) {
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) ones[i] = 0xff, inc[i] = (uint8_t)i, dec[i] = (uint8_t)(31 - i);
    struct { const void *p; size_t n; uint32_t want; } v[] = {
        {"123456789", 9, 0xE3069283u}, {"", 0, 0u}, {zeros, 32, 0x8A9136AAu},
        {ones, 32, 0x62A8AB43u}, {inc, 32, 0x46DD794Eu}, {dec, 32, 0x113FDB5Cu},
    };
    int ran = 0;
    for (int m = 0; m < N_IMPLS; m++) {
        if (!vx_crc32c_supported(IMPLS[m])) continue;
        ran++;
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            uint8_t out[32];
            CHECK(vx_crc32c_with(IMPLS[m], 0, v[i].p, v[i].n) == v[i].want);
            CHECK(vx_crc32c_copy_with(IMPLS[m], 0, out, v[i].p, v[i].n) == v[i].want);
            CHECK(memcmp(out, v[i].p, v[i].n) == 0);
            CHECK(reference(0, v[i].p, v[i].n) == v[i].want);
        }
        /* continuing: the CRC of a then b is the CRC of a followed by b */
        CHECK(vx_crc32c_with(IMPLS[m], vx_crc32c_with(IMPLS[m], 0, "1234", 4), "56789", 5) ==
              0xE3069283u);
    }
    CHECK(ran >= 1);
    CHECK(vx_crc32c(0, "123456789", 9) == 0xE3069283u);
}

/* Each table entry is what its definition says (crc32c.h): table[0][b] = byte b fed into a zero
 * register, table[k][b] = table[k-1][b] advanced by one zero byte. */
static void test_tables(void) {
    for (int b = 0; b < 256; b++) {
        uint32_t c = (uint32_t)b;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        CHECK(vx_crc32c_table[0][b] == c);
        for (int t = 1; t < 8; t++) {
            c = (c >> 8) ^ vx_crc32c_table[0][c & 0xff];
            CHECK(vx_crc32c_table[t][b] == c);
        }
    }
}

/* Every implementation against the reference on inputs that reach every table entry and
 * every byte lane: one nonzero byte at each position of a 16-byte buffer (all 256 values),
 * then random lengths 0..300 at random source and destination alignments (0..7), random
 * starting CRCs, checksum and copy (the copy exact, the bytes around it untouched). */
static void test_implementations_agree(void) {
    uint8_t src[16];
    for (int m = 0; m < N_IMPLS; m++) {
        int impl = IMPLS[m];
        if (!vx_crc32c_supported(impl)) continue;
        int bad = 0;
        for (int pos = 0; pos < 16; pos++) {
            for (int b = 0; b < 256; b++) {
                memset(src, 0, sizeof src);
                src[pos] = (uint8_t)b;
                size_t n = (size_t)pos + 1; /* the byte last, then inside 16 bytes */
                bad += vx_crc32c_with(impl, 0, src, n) != reference(0, src, n);
                bad += vx_crc32c_with(impl, 0, src, 16) != reference(0, src, 16);
            }
        }
        CHECK(bad == 0);
        vx_prng rng;
        vx_prng_seed(&rng, 0xC5C32Cu + (uint64_t)impl);
        uint8_t in[320], out[320], want[320];
        int rounds = (int)(20000 * vx_test_scale()) + 200;
        for (int i = 0; i < rounds; i++) { /* bounded by rounds */
            size_t n = (size_t)(vx_prng_next(&rng) % 301);
            size_t a = (size_t)(vx_prng_next(&rng) % 8), d = (size_t)(vx_prng_next(&rng) % 8);
            uint32_t crc = (uint32_t)vx_prng_next(&rng);
            if (i % 4 == 0) crc = 0;
            for (size_t k = 0; k < n + 8; k++) in[k] = (uint8_t)vx_prng_next(&rng);
            memset(out, 0xA5, sizeof out);
            memcpy(want, out, sizeof out);
            memcpy(want + d, in + a, n);
            uint32_t r = reference(crc, in + a, n);
            REQUIRE(vx_crc32c_with(impl, crc, in + a, n) == r);
            REQUIRE(vx_crc32c_copy_with(impl, crc, out + d, in + a, n) == r);
            REQUIRE(memcmp(out, want, sizeof out) == 0);
        }
    }
}

/* The choice: hardware where the CPU has it unless VELOX_NO_HW_CRC says otherwise; the hook
 * switches and refuses what the CPU cannot run; the name says which (the aarch64 CI step greps
 * "crc32c: armv8-crc" from qemu's run). */
static void test_choice(void) {
    const char *off = getenv("VELOX_NO_HW_CRC");
    int no_hw = off && off[0] && strcmp(off, "0") != 0;
    int hw = vx_crc32c_supported(VX_CRC32C_SSE42)   ? VX_CRC32C_SSE42
             : vx_crc32c_supported(VX_CRC32C_ARMV8) ? VX_CRC32C_ARMV8
                                                    : 0;
    int impl = vx_crc32c_impl();
    printf("crc32c: %s\n", vx_crc32c_impl_name(impl));
    CHECK(impl == (no_hw || !hw ? VX_CRC32C_PORTABLE : hw));
#if defined(__x86_64__)
    CHECK(!vx_crc32c_supported(VX_CRC32C_ARMV8));
#elif defined(__aarch64__)
    CHECK(!vx_crc32c_supported(VX_CRC32C_SSE42));
#endif
    CHECK(vx_crc32c_use(VX_CRC32C_PORTABLE) == 0 && vx_crc32c_impl() == VX_CRC32C_PORTABLE);
    CHECK(vx_crc32c(0, "123456789", 9) == 0xE3069283u);
    if (hw) CHECK(vx_crc32c_use(hw) == 0 && vx_crc32c_impl() == hw);
    CHECK(vx_crc32c_use(0) == -1 && vx_crc32c_use(99) == -1);
    CHECK(vx_crc32c_impl() == (hw ? hw : VX_CRC32C_PORTABLE));
    CHECK(strcmp(vx_crc32c_impl_name(99), "unknown") == 0);
}

int main(void) {
    RUN(test_choice);
    RUN(test_check_values);
    RUN(test_tables);
    RUN(test_implementations_agree);
    return CHECK_SUMMARY("test_crc32c");
}
