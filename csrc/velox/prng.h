/*
 * velox/prng.h — a small, fast, seedable PRNG: xoshiro256** (Blackman & Vigna), seeded
 * through splitmix64 so any 64-bit seed (0 included) gives a good state.
 *
 * Contract:
 *   - Deterministic: the same seed gives the same sequence on every platform.
 *   - The state is a plain struct owned by one thread (no atomics, no globals).
 *   - Header-only (static inline): the generator sits on the ingress hot path.
 */
#ifndef VELOX_PRNG_H
#define VELOX_PRNG_H

#include <math.h>
#include <stdint.h>

typedef struct vx_prng {
    uint64_t s[4];
} vx_prng;

_Static_assert(sizeof(vx_prng) == 32, "xoshiro256 state is four 64-bit words");

/* splitmix64: advances *state and returns the next output (used for seeding). */
static inline uint64_t vx_splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline void vx_prng_seed(vx_prng *rng, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = vx_splitmix64(&sm);
}

static inline uint64_t vx_rotl64(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: the next 64 random bits. */
static inline uint64_t vx_prng_next(vx_prng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = vx_rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = vx_rotl64(s[3], 45);
    return result;
}

/* A uniform integer in [0, bound) (bound >= 1), by Lemire's multiply-shift (the tiny bias,
 * below bound / 2^32, does not matter for order-flow simulation). */
static inline uint32_t vx_prng_below(vx_prng *rng, uint32_t bound) {
    return (uint32_t)(((vx_prng_next(rng) >> 32) * (uint64_t)bound) >> 32);
}

/* A uniform double in [0, 1) with 53 random bits. */
static inline double vx_prng_unit(vx_prng *rng) {
    return (double)(vx_prng_next(rng) >> 11) * 0x1.0p-53;
}

/* An exponential variate with mean `mean` (inverse CDF; 1 - u is in (0, 1], so log is finite). */
static inline double vx_prng_exponential(vx_prng *rng, double mean) {
    return -log(1.0 - vx_prng_unit(rng)) * mean;
}

#endif /* VELOX_PRNG_H */
