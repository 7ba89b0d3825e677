/* test_rankmap.c — the writer's three-tier bitmap of non-empty ranks (velox/rankmap.h) against a
 * plain array of flags: random sets and unsets on maps of every shape (one word, word and
 * tier-1 boundaries, the largest ladder), each followed by searches from the top, from the
 * ranks next to each tier boundary and from random ranks, compared with a walk of the flags;
 * and the hand-made edges (rank 1 = bit 0, rank `ranks` = the last bit, a gap of a whole tier).
 */
#include "check.h"
#include "velox/prng.h"
#include "velox/rankmap.h"

#include <stdlib.h>
#include <string.h>

/* The model's answer: the highest flagged rank <= start, 0 when none (flags are 0 or 1). */
static uint32_t walk(const unsigned char *flag, uint32_t start) {
    const unsigned char *at = start ? memrchr(flag + 1, 1, start) : NULL;
    return at ? (uint32_t)(at - flag) : 0;
}

typedef struct fixture {
    vx_rankmap m;
    uint64_t *words;
    unsigned char *flag; /* [0 .. ranks], index = rank */
    uint32_t ranks;
} fixture;

static void open_map(fixture *f, uint32_t ranks) {
    f->ranks = ranks;
    f->words = malloc((size_t)vx_rankmap_words(ranks) * sizeof *f->words);
    f->flag = calloc((size_t)ranks + 1, 1);
    REQUIRE(f->words && f->flag);
    memset(f->words, 0xA5, (size_t)vx_rankmap_words(ranks) * sizeof *f->words); /* init must clear */
    vx_rankmap_init(&f->m, f->words, ranks);
}

static void close_map(fixture *f) {
    free(f->words);
    free(f->flag);
}

static void flip(fixture *f, uint32_t rank, bool on) {
    if (on) vx_rankmap_set(&f->m, rank);
    else vx_rankmap_unset(&f->m, rank);
    f->flag[rank] = on;
}

/* One search against the model; counts a mismatch once per map (the first is printed). */
static bool agrees(const fixture *f, uint32_t start) {
    uint32_t got = vx_rankmap_highest_at_or_below(&f->m, start), want = walk(f->flag, start);
    if (got != want) fprintf(stderr, "ranks %u, start %u: rankmap %u, walk %u\n", f->ranks, start, got, want);
    return got == want;
}

/* Starts on either side of tier boundaries (a word of 64 ranks, of 64^2, of 64^3): the first
 * and last 16 of each tier, and the top and 0. */
static bool agrees_at_edges(const fixture *f) {
    bool ok = agrees(f, 0) && agrees(f, f->ranks) && agrees(f, 1);
    for (uint32_t edge = 64; edge <= f->ranks && ok; edge *= 64) { /* bounded: 3 tiers */
        uint32_t n = f->ranks / edge;
        for (uint32_t j = 1; j <= n && ok; j++) { /* bounded: ranks / edge */
            if (j == 17 && n > 32) j = n - 15;
            uint32_t k = j * edge;
            ok = agrees(f, k) && agrees(f, k - 1) && (k + 1 > f->ranks || agrees(f, k + 1));
        }
    }
    return ok;
}

static void test_random_against_flags(void) {
    static const uint32_t shapes[] = {1, 2, 3, 63, 64, 65, 128, 4095, 4096, 4097, 64 * 64 * 64,
                                      64 * 64 * 64 + 1, VX_RANKMAP_MAX_RANKS - 1, VX_RANKMAP_MAX_RANKS};
    vx_prng rng;
    vx_prng_seed(&rng, 20);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) { /* bounded */
        fixture f;
        open_map(&f, shapes[s]);
        CHECK(vx_rankmap_check(&f.m));
        bool big = f.ranks > 65536;
        uint32_t ops = big ? 300 : 3000, bad = 0;
        for (uint32_t i = 0; i < ops && bad == 0; i++) { /* bounded */
            /* ranks clustered near the top, near the bottom and anywhere: sparse maps with long
             * gaps (the writer's case) as well as dense words */
            uint32_t kind = vx_prng_below(&rng, 3), span = f.ranks < 200 ? f.ranks : 200;
            uint32_t rank = kind == 0   ? f.ranks - vx_prng_below(&rng, span)
                            : kind == 1 ? 1 + vx_prng_below(&rng, span)
                                        : 1 + vx_prng_below(&rng, f.ranks);
            flip(&f, rank, vx_prng_below(&rng, 3) != 0 ? !f.flag[rank] : true);
            uint32_t probes = big ? 2 : 8;
            for (uint32_t q = 0; q < probes; q++) /* bounded */
                bad += !agrees(&f, vx_prng_below(&rng, f.ranks + 1));
            bad += !agrees(&f, rank) + !agrees(&f, rank - 1) + !agrees(&f, f.ranks);
            if (i % 64 == 0) bad += !vx_rankmap_check(&f.m) + !agrees_at_edges(&f);
        }
        CHECK(bad == 0);
        CHECK(vx_rankmap_check(&f.m));
        vx_rankmap_clear(&f.m);
        memset(f.flag, 0, (size_t)f.ranks + 1);
        CHECK(vx_rankmap_check(&f.m) && agrees_at_edges(&f));
        close_map(&f);
    }
}

static void test_edges_by_hand(void) {
    fixture f;
    open_map(&f, VX_RANKMAP_MAX_RANKS);
    uint32_t top = VX_RANKMAP_MAX_RANKS;
    CHECK(vx_rankmap_highest_at_or_below(&f.m, top) == 0);
    flip(&f, 1, true); /* bit 0 of everything */
    CHECK(vx_rankmap_has(&f.m, 1) && !vx_rankmap_has(&f.m, 2));
    CHECK(vx_rankmap_highest_at_or_below(&f.m, top) == 1); /* the whole map is a gap */
    CHECK(vx_rankmap_highest_at_or_below(&f.m, 1) == 1);
    CHECK(vx_rankmap_highest_at_or_below(&f.m, 0) == 0);
    flip(&f, top, true); /* the last bit of every tier */
    CHECK(vx_rankmap_highest_at_or_below(&f.m, top) == top);
    CHECK(vx_rankmap_highest_at_or_below(&f.m, top - 1) == 1);
    flip(&f, 4096, true); /* the last rank of tier-1 word 0 */
    flip(&f, 4097, true); /* the first of tier-1 word 1 */
    CHECK(vx_rankmap_highest_at_or_below(&f.m, top - 1) == 4097);
    CHECK(vx_rankmap_highest_at_or_below(&f.m, 4096) == 4096);
    flip(&f, 4096, false);
    CHECK(vx_rankmap_highest_at_or_below(&f.m, 4096) == 1);
    flip(&f, 64 * 64 * 64, true); /* the last rank of tier-2 word 0 */
    CHECK(vx_rankmap_highest_at_or_below(&f.m, top - 1) == 64 * 64 * 64);
    flip(&f, top, false);
    flip(&f, 1, false);
    CHECK(vx_rankmap_highest_at_or_below(&f.m, top) == 64 * 64 * 64);
    CHECK(vx_rankmap_highest_at_or_below(&f.m, 4096) == 0);
    CHECK(vx_rankmap_check(&f.m));
    /* a tier the checker must see disagree: a tier-1 bit over an empty tier-0 word */
    f.m.tier[1][3] |= 1;
    CHECK(!vx_rankmap_check(&f.m));
    f.m.tier[1][3] &= ~(uint64_t)1;
    CHECK(vx_rankmap_check(&f.m));
    close_map(&f);
    open_map(&f, 2); /* the smallest ladder */
    flip(&f, 2, true);
    CHECK(vx_rankmap_highest_at_or_below(&f.m, 2) == 2 && vx_rankmap_highest_at_or_below(&f.m, 1) == 0);
    f.m.tier[0][0] |= 4; /* a bit beyond the last rank */
    CHECK(!vx_rankmap_check(&f.m));
    close_map(&f);
    CHECK(vx_rankmap_words(2) == 3 && vx_rankmap_words(4096) == 64 + 1 + 1 &&
          vx_rankmap_words(VX_RANKMAP_MAX_RANKS) == 16384 + 256 + VX_RANKMAP_TOP_WORDS);
}

int main(void) {
    RUN(test_random_against_flags);
    RUN(test_edges_by_hand);
    return CHECK_SUMMARY("test_rankmap");
}
