/*
 * velox/guard.h — a use guard for one object shared by threads that call into it without a
 * lock: ONE writer at a time, any number of readers beside the writer, and EXCLUSIVE calls
 * (reserve, recenter, follow, destruction) only while nobody else is inside. Entering never
 * waits: a refused enter is the caller's misuse, which it reports (MboBook raises
 * RuntimeError). Header-only (static inline, no globals).
 *
 * One atomic word: bit 0 writer, bit 1 exclusive, readers counted from bit 2. Every enter is a
 * read-modify-write of that word (acq_rel), every exit one with release, so the enters and
 * exits of all threads are totally ordered on the word: an exclusive enter (a CAS from 0)
 * succeeds only if it comes after every earlier enter's exit, and an enter that comes after
 * it sees the exclusive bit. The exits' release pairs with the next enter's acquire, so what
 * an exclusive call did (a table freed and replaced) happens before the next reader's loads.
 */
#ifndef VELOX_GUARD_H
#define VELOX_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
    VX_GUARD_WRITER = 1u,
    VX_GUARD_EXCLUSIVE = 2u,
    VX_GUARD_READER = 4u /* one reader */
};

typedef struct vx_guard {
    _Atomic uint32_t word;
} vx_guard;
_Static_assert(sizeof(vx_guard) == 4, "a guard is one 32-bit word");

static inline void vx_guard_init(vx_guard *g) { atomic_init(&g->word, 0); }

/* What is inside now (relaxed: a hint for messages and for callers that cannot race). */
static inline uint32_t vx_guard_state(const vx_guard *g) {
    return atomic_load_explicit((_Atomic uint32_t *)&g->word, memory_order_relaxed);
}

/* A reader enters: false while an exclusive call is inside (nothing changed then). */
static inline bool vx_guard_enter_reader(vx_guard *g) {
    /* acq_rel: pairs with the release of vx_guard_exit_exclusive (and orders this enter
     * against an exclusive CAS on the same word) */
    uint32_t old = atomic_fetch_add_explicit(&g->word, VX_GUARD_READER, memory_order_acq_rel);
    if (old & VX_GUARD_EXCLUSIVE) {
        /* release: pairs with the exclusive CAS's acquire */
        atomic_fetch_sub_explicit(&g->word, VX_GUARD_READER, memory_order_release);
        return false;
    }
    return true;
}

static inline void vx_guard_exit_reader(vx_guard *g) {
    /* release: pairs with the acquire of the next exclusive enter */
    atomic_fetch_sub_explicit(&g->word, VX_GUARD_READER, memory_order_release);
}

/* The writer enters: 0, or the bits that refused it (VX_GUARD_WRITER: another writer is
 * inside; VX_GUARD_EXCLUSIVE: an exclusive call is). */
static inline uint32_t vx_guard_enter_writer(vx_guard *g) {
    /* acq_rel: pairs with the release of the previous writer's or exclusive call's exit */
    uint32_t old = atomic_fetch_or_explicit(&g->word, VX_GUARD_WRITER, memory_order_acq_rel);
    if (old & VX_GUARD_WRITER) return VX_GUARD_WRITER; /* the bit is the other writer's */
    if (old & VX_GUARD_EXCLUSIVE) {
        /* release: pairs with the exclusive CAS's acquire */
        atomic_fetch_and_explicit(&g->word, ~(uint32_t)VX_GUARD_WRITER, memory_order_release);
        return VX_GUARD_EXCLUSIVE;
    }
    return 0;
}

static inline void vx_guard_exit_writer(vx_guard *g) {
    /* release: pairs with the acquire of the next writer's or exclusive call's enter */
    atomic_fetch_and_explicit(&g->word, ~(uint32_t)VX_GUARD_WRITER, memory_order_release);
}

/* An exclusive call enters: 0, or what is inside (writer bit, exclusive bit, readers). */
static inline uint32_t vx_guard_enter_exclusive(vx_guard *g) {
    uint32_t expected = 0;
    /* acq_rel: pairs with the release of every earlier exit; relaxed on failure (nothing
     * entered) */
    if (atomic_compare_exchange_strong_explicit(&g->word, &expected, VX_GUARD_EXCLUSIVE,
                                                memory_order_acq_rel, memory_order_relaxed))
        return 0;
    return expected ? expected : VX_GUARD_EXCLUSIVE;
}

static inline void vx_guard_exit_exclusive(vx_guard *g) {
    /* release: pairs with the acquire of the next enter */
    atomic_fetch_and_explicit(&g->word, ~(uint32_t)VX_GUARD_EXCLUSIVE, memory_order_release);
}

#endif /* VELOX_GUARD_H */
