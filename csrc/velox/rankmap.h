/*
 * velox/rankmap.h — which ranks of one ladder side are non-empty, as a three-tier bitmap, so
 * the book's writer finds the best non-empty rank at or below any rank in O(1) instead of
 * walking the levels (mbo.c set_level: the best level empties and the next one may lie
 * thousands of ranks down).
 *
 * Ranks as in ladder.h: 1 .. levels, higher is better on both sides, 0 means "none". Rank r
 * is bit r - 1 of tier 0. A bit of tier 1 says "this tier-0 word is not zero", a bit of tier
 * 2 says "this tier-1 word is not zero":
 *     tier 0: n0 = ceil(levels / 64) words     (levels <= 2^20: at most 16,384)
 *     tier 1: n1 = ceil(n0 / 64) words         (at most 256)
 *     tier 2: n2 = ceil(n1 / 64) words         (at most VX_RANKMAP_TOP_WORDS = 4)
 * vx_rankmap_words(levels) = n0 + n1 + n2 words (8 B each) per side: about levels / 8 bytes,
 * 3 words for the smallest ladder, 16,644 words (130 KiB) for 2^20 levels.
 *
 * Search bound: vx_rankmap_highest_at_or_below reads one word of tier 0, one of tier 1, at
 * most VX_RANKMAP_TOP_WORDS of tier 2 and then one word of each tier below: at most
 * 4 + VX_RANKMAP_TOP_WORDS = 8 loads and no loop longer than VX_RANKMAP_TOP_WORDS, whatever
 * the ladder size and however far the next non-empty rank is.
 *
 * CONTRACT: WRITER-ONLY state. Plain words, no atomics: only the thread that writes the
 * ladder (or an exclusive call) may touch a rankmap. Readers on other threads keep reading
 * the level quantities themselves. The caller keeps it equal to its ladder (bit set exactly
 * where the level is non-empty); the tiers above tier 0 are this header's to keep
 * (vx_rankmap_set / vx_rankmap_unset), and vx_rankmap_check tells whether they agree.
 * The storage is the caller's (allocated at construction; nothing here allocates).
 */
#ifndef VELOX_RANKMAP_H
#define VELOX_RANKMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    VX_RANKMAP_MAX_RANKS = 1 << 20, /* 64^3 x VX_RANKMAP_TOP_WORDS */
    VX_RANKMAP_TOP_WORDS = 4        /* tier-2 words at most: the only loop of the search */
};
_Static_assert((uint64_t)VX_RANKMAP_MAX_RANKS == (uint64_t)64 * 64 * 64 * VX_RANKMAP_TOP_WORDS,
               "three tiers of 64-bit words with at most VX_RANKMAP_TOP_WORDS on top cover every rank");
_Static_assert(sizeof(unsigned long long) == sizeof(uint64_t), "__builtin_clzll takes a tier word");

typedef struct vx_rankmap {
    uint64_t *tier[3]; /* into the caller's storage: tier 0, then 1, then 2 */
    uint32_t words;    /* n0 + n1 + n2 */
    uint32_t ranks;    /* levels */
} vx_rankmap;

/* Words of each tier for a side of `ranks` levels: n[0] = ceil(ranks / 64), and each tier
 * above one bit per word of the tier below. */
static inline void vx_rankmap_tiers(uint32_t ranks, uint32_t n[3]) {
    n[0] = (ranks + 63) / 64;
    n[1] = (n[0] + 63) / 64;
    n[2] = (n[1] + 63) / 64;
}

/* Words of storage for a side of `ranks` levels (1 <= ranks <= VX_RANKMAP_MAX_RANKS). */
static inline uint32_t vx_rankmap_words(uint32_t ranks) {
    uint32_t n[3];
    vx_rankmap_tiers(ranks, n);
    return n[0] + n[1] + n[2];
}

/* Lays m over storage[0 .. vx_rankmap_words(ranks)) and empties it. */
static inline void vx_rankmap_init(vx_rankmap *m, uint64_t *storage, uint32_t ranks) {
    uint32_t n[3];
    vx_rankmap_tiers(ranks, n);
    m->tier[0] = storage;
    m->tier[1] = storage + n[0];
    m->tier[2] = storage + n[0] + n[1];
    m->words = n[0] + n[1] + n[2];
    m->ranks = ranks;
    memset(storage, 0, (size_t)m->words * sizeof *storage);
}

/* Every rank empty: O(levels / 64). */
static inline void vx_rankmap_clear(vx_rankmap *m) {
    memset(m->tier[0], 0, (size_t)m->words * sizeof *m->tier[0]);
}

static inline bool vx_rankmap_has(const vx_rankmap *m, uint32_t rank) {
    uint32_t p = rank - 1;
    return (m->tier[0][p >> 6] >> (p & 63)) & 1;
}

/* Rank (1 .. ranks) becomes non-empty. */
static inline void vx_rankmap_set(vx_rankmap *m, uint32_t rank) {
    uint32_t p = rank - 1, w = p >> 6, w1 = w >> 6;
    uint64_t old = m->tier[0][w];
    m->tier[0][w] = old | (uint64_t)1 << (p & 63);
    if (old) return;
    uint64_t old1 = m->tier[1][w1];
    m->tier[1][w1] = old1 | (uint64_t)1 << (w & 63);
    if (old1) return;
    m->tier[2][w1 >> 6] |= (uint64_t)1 << (w1 & 63);
}

/* Rank (1 .. ranks) becomes empty. */
static inline void vx_rankmap_unset(vx_rankmap *m, uint32_t rank) {
    uint32_t p = rank - 1, w = p >> 6, w1 = w >> 6;
    uint64_t now = m->tier[0][w] & ~((uint64_t)1 << (p & 63));
    m->tier[0][w] = now;
    if (now) return;
    uint64_t now1 = m->tier[1][w1] & ~((uint64_t)1 << (w & 63));
    m->tier[1][w1] = now1;
    if (now1) return;
    m->tier[2][w1 >> 6] &= ~((uint64_t)1 << (w1 & 63));
}

/* Bits 0 .. b of a word (b in 0 .. 63). */
static inline uint64_t vx_rankmap_upto(uint32_t b) { return ~(uint64_t)0 >> (63 - b); }

/* The highest set bit of a word that is not zero (the tiers guarantee it: a set bit above
 * names a word that is not zero below). */
static inline uint32_t vx_rankmap_top(uint64_t word) { return 63u - (uint32_t)__builtin_clzll(word); }

/* The highest non-empty rank <= start (start in 0 .. ranks), 0 when there is none. */
static inline uint32_t vx_rankmap_highest_at_or_below(const vx_rankmap *m, uint32_t start) {
    if (start == 0) return 0;
    uint32_t p = start - 1, w = p >> 6;
    uint64_t word = m->tier[0][w] & vx_rankmap_upto(p & 63);
    if (word) return (w << 6 | vx_rankmap_top(word)) + 1;
    if (w == 0) return 0;
    /* tier 1: the non-empty tier-0 words below w */
    uint32_t p1 = w - 1, w1 = p1 >> 6;
    uint64_t word1 = m->tier[1][w1] & vx_rankmap_upto(p1 & 63);
    if (word1 == 0) {
        if (w1 == 0) return 0;
        /* tier 2: the non-empty tier-1 words below w1 */
        uint32_t p2 = w1 - 1, w2 = p2 >> 6;
        uint64_t word2 = m->tier[2][w2] & vx_rankmap_upto(p2 & 63);
        for (uint32_t k = 0; word2 == 0 && w2 > 0 && k < VX_RANKMAP_TOP_WORDS; k++) /* bounded */
            word2 = m->tier[2][--w2];
        if (word2 == 0) return 0;
        w1 = w2 << 6 | vx_rankmap_top(word2);
        word1 = m->tier[1][w1];
    }
    w = w1 << 6 | vx_rankmap_top(word1);
    return (w << 6 | vx_rankmap_top(m->tier[0][w])) + 1;
}

/* The tiers agree with each other and no bit lies beyond the last rank (O(levels / 64)); the
 * caller checks tier 0 against its ladder. */
static inline bool vx_rankmap_check(const vx_rankmap *m) {
    uint32_t n[3];
    vx_rankmap_tiers(m->ranks, n);
    if (m->ranks % 64 && m->tier[0][n[0] - 1] >> (m->ranks % 64)) return false;
    for (int t = 0; t < 2; t++) {
        for (uint32_t w = 0; w < n[t + 1] * 64; w++) { /* bounded: every bit of the tier above */
            bool above = (m->tier[t + 1][w >> 6] >> (w & 63)) & 1;
            bool below = w < n[t] && m->tier[t][w] != 0;
            if (above != below) return false;
        }
    }
    return true;
}

#endif /* VELOX_RANKMAP_H */
