/* test_litmus_ring.c — litmus-style tests of the ring's publish/consume pattern.
 *
 * A stress test lets the two threads drift apart; a litmus test makes them meet at the
 * racy instant over and over. Every round here starts with both threads leaving a two-thread
 * barrier together, so the producer's publish (the release store of head) and the consumer's
 * first look at head (acquire) race in every round, on a ring small enough (2 slots) that the
 * slot being written was read one round ago (the write-after-read hazard of slot reuse).
 *
 *   MP  (message passing): the payload written before the release store of head must be
 *       visible to a consumer whose acquire load saw the new head. A missing release/acquire
 *       shows up as a record whose words do not all belong to the same sequence number.
 *   MP, zero-copy: the same through reserve/commit and peek/release, with the producer
 *       writing the payload word by word directly in the slot.
 *   WAR (slot reuse): the consumer holds a peeked slot, reads it twice with a pause between,
 *       and only then releases; a producer that overwrote the slot before the release (a
 *       missing acquire of tail, or a release of tail before the reads) changes the record
 *       under the consumer.
 *   Calibration: the same MP shape on two bare atomics, once with release/acquire (checked:
 *       zero weak outcomes) and once all-relaxed (only counted and printed: the C model
 *       allows the weak outcome, x86 never shows it, real ARM hardware may, qemu on an x86
 *       host does not). The printed count tells the reader what this platform can reveal;
 *       see docs/reliability.md.
 *
 * Runs in all three variants (plain, TSan, ASan+UBSan) and cross-compiled under qemu-aarch64.
 * Under TSan the harness' barrier orders rounds, so within a round the only ordering between
 * the two threads' payload accesses is the ring's own release/acquire: TSan reports a data
 * race if it is missing, whatever the hardware does.
 */
#include "tests/check.h"

#include <stdatomic.h>
#include <string.h>

#include "velox/ring.h"
#include "velox/tsc.h"
#include "velox/types.h"

/* A round must not hang: each wait gives up after this long (then REQUIRE aborts). */
#define LITMUS_WAIT_NS (20ull * 1000 * 1000 * 1000)

/* ---- a two-thread sense-reversing barrier ------------------------------------------ */

typedef struct barrier2 {
    alignas(128) _Atomic uint32_t arrived;
    alignas(128) _Atomic uint32_t sense;
} barrier2;

static void barrier2_wait(barrier2 *b, uint32_t *local_sense) {
    uint32_t s = *local_sense ^ 1u;
    *local_sense = s;
    /* acq_rel: the last arriver acquires the other's arrival and releases both to the next
     * round; pairs with itself in the other thread and with the acquire spin below. */
    if (atomic_fetch_add_explicit(&b->arrived, 1u, memory_order_acq_rel) == 1u) {
        /* relaxed: reset before the release below publishes it */
        atomic_store_explicit(&b->arrived, 0u, memory_order_relaxed);
        /* release: pairs with the acquire spin of the waiting thread */
        atomic_store_explicit(&b->sense, s, memory_order_release);
        return;
    }
    uint64_t give_up = vx_monotonic_ns() + LITMUS_WAIT_NS;
    for (uint64_t spins = 0;; spins++) {
        /* acquire: pairs with the release store of sense by the last arriver */
        if (atomic_load_explicit(&b->sense, memory_order_acquire) == s) return;
        vx_cpu_relax();
        if ((spins & 1023u) == 1023u) REQUIRE(vx_monotonic_ns() < give_up);
    }
}

/* ---- records whose every word names its sequence number --------------------------- */

static vx_txn txn_for(uint64_t seq) {
    vx_txn t;
    memset(&t, 0, sizeof t);
    t.tsc = ~seq;
    t.seq = seq;
    t.price = (int64_t)(seq * 7u + 3u);
    t.qty = (uint32_t)(seq ^ 0x5a5a5a5au);
    t.side = (uint8_t)(seq & 1u);
    t.kind = (uint8_t)((seq >> 1) & 1u);
    return t;
}

static int txn_is(const vx_txn *t, uint64_t seq) {
    vx_txn want = txn_for(seq);
    return memcmp(t, &want, sizeof want) == 0;
}

/* Reads a record in place field by field. Not memcpy: gcc inlines a fixed 32-byte memcpy
 * into 16-byte vector loads, which ThreadSanitizer does not check as reliably as plain
 * scalar loads (a mutation test showed a dropped release going unreported that way). */
static vx_txn read_fields(const vx_txn *slot) {
    vx_txn t;
    memset(&t, 0, sizeof t);
    t.tsc = slot->tsc;
    t.seq = slot->seq;
    t.price = slot->price;
    t.qty = slot->qty;
    t.side = slot->side;
    t.kind = slot->kind;
    return t;
}

typedef struct litmus_ctx {
    vx_ring *ring;
    barrier2 barrier;
    uint64_t rounds;
    uint64_t bad;          /* consumer-side mismatches (read after join) */
    uint64_t mode;         /* 0: try_push/try_pop, 1: reserve/commit + peek/release */
} litmus_ctx;

/* Producer of one round: publish record `round`. The ring has room: the consumer took the
 * previous record in the previous round. */
static void produce_round(litmus_ctx *c, uint64_t round) {
    if (c->mode == 0) {
        vx_txn t = txn_for(round);
        REQUIRE(vx_ring_try_push(c->ring, &t) == VX_OK);
        return;
    }
    vx_ring_span span;
    REQUIRE(vx_ring_reserve(c->ring, 1, &span) == VX_OK && span.first_n >= 1);
    /* word by word, in the slot: a consumer seeing head before these stores sees a mix */
    vx_txn want = txn_for(round);
    vx_txn *slot = span.first;
    slot->tsc = want.tsc;
    slot->seq = want.seq;
    slot->price = want.price;
    slot->qty = want.qty;
    slot->side = want.side;
    slot->kind = want.kind;
    memset(slot->pad, 0, sizeof slot->pad);
    REQUIRE(vx_ring_commit(c->ring, 1) == VX_OK);
}

static void *litmus_producer(void *p) {
    litmus_ctx *c = p;
    uint32_t sense = 0;
    vx_test_pin(0);
    for (uint64_t round = 0; round < c->rounds; round++) {
        barrier2_wait(&c->barrier, &sense);
        produce_round(c, round);
    }
    return NULL;
}

/* Consumer of one round: poll until record `round` arrives (the poll races the publish),
 * check every word, and for peek/release re-read it after a pause before releasing. */
static void *litmus_consumer(void *p) {
    litmus_ctx *c = p;
    uint32_t sense = 0;
    vx_test_pin(1);
    for (uint64_t round = 0; round < c->rounds; round++) {
        barrier2_wait(&c->barrier, &sense);
        uint64_t give_up = vx_monotonic_ns() + LITMUS_WAIT_NS;
        for (uint64_t spins = 0;; spins++) {
            if (c->mode == 0) {
                vx_txn got;
                vx_status st = vx_ring_try_pop(c->ring, &got);
                if (st == VX_OK) {
                    if (!txn_is(&got, round)) c->bad++;
                    break;
                }
                REQUIRE(st == VX_EMPTY);
            } else {
                vx_ring_span span;
                vx_status st = vx_ring_peek(c->ring, 1, &span);
                if (st == VX_OK) {
                    const vx_txn *slot = span.first;
                    vx_txn first = read_fields(slot);
                    for (int k = 0; k < 16; k++) vx_cpu_relax(); /* give an early overwrite time */
                    vx_txn again = read_fields(slot);
                    if (!txn_is(&first, round) || !txn_is(&again, round)) c->bad++;
                    REQUIRE(vx_ring_release(c->ring, 1) == VX_OK);
                    break;
                }
                REQUIRE(st == VX_EMPTY);
                REQUIRE(vx_ring_release(c->ring, 0) == VX_OK); /* close the empty peek */
            }
            vx_cpu_relax();
            if ((spins & 1023u) == 1023u) REQUIRE(vx_monotonic_ns() < give_up);
        }
    }
    return NULL;
}

static void run_ring_litmus(uint64_t mode, uint64_t rounds) {
    litmus_ctx c;
    memset(&c, 0, sizeof c);
    c.rounds = rounds;
    c.mode = mode;
    REQUIRE(vx_ring_create(2, sizeof(vx_txn), &c.ring) == VX_OK);
    pthread_t tp, tc;
    REQUIRE(pthread_create(&tc, NULL, litmus_consumer, &c) == 0);
    REQUIRE(pthread_create(&tp, NULL, litmus_producer, &c) == 0);
    REQUIRE(pthread_join(tp, NULL) == 0);
    REQUIRE(pthread_join(tc, NULL) == 0);
    CHECK(c.bad == 0);
    CHECK(vx_ring_pushed(c.ring) == rounds && vx_ring_popped(c.ring) == rounds);
    CHECK(vx_ring_size(c.ring) == 0);
    if (c.bad) fprintf(stderr, "  %llu of %llu rounds saw a torn/stale record\n",
                       (unsigned long long)c.bad, (unsigned long long)rounds);
    vx_ring_destroy(c.ring);
}

static void test_litmus_mp_copy(void) { run_ring_litmus(0, vx_test_count(200000, 2000)); }
static void test_litmus_mp_zero_copy(void) { run_ring_litmus(1, vx_test_count(200000, 2000)); }

/* WAR, free-running: capacity 2, the producer pushes as fast as it can while the consumer
 * holds each peeked record across a pause; every record must read the same before and after
 * the pause, and arrive in order. */
typedef struct war_ctx {
    vx_ring *ring;
    uint64_t count;
    uint64_t bad;
} war_ctx;

static void *war_producer(void *p) {
    war_ctx *c = p;
    vx_test_pin(0);
    uint64_t give_up = vx_monotonic_ns() + LITMUS_WAIT_NS * 3;
    for (uint64_t seq = 0, spins = 0; seq < c->count; spins++) {
        vx_txn t = txn_for(seq);
        if (vx_ring_try_push(c->ring, &t) == VX_OK) seq++;
        if ((spins & 1023u) == 1023u) REQUIRE(vx_monotonic_ns() < give_up);
    }
    return NULL;
}

static void *war_consumer(void *p) {
    war_ctx *c = p;
    vx_test_pin(1);
    uint64_t give_up = vx_monotonic_ns() + LITMUS_WAIT_NS * 3;
    for (uint64_t seq = 0, spins = 0; seq < c->count; spins++) {
        vx_ring_span span;
        if (vx_ring_peek(c->ring, 2, &span) == VX_OK) {
            uint32_t n = span.first_n + span.second_n;
            for (uint32_t k = 0; k < n; k++) {
                const vx_txn *slot = k < span.first_n ? (const vx_txn *)span.first + k
                                                      : (const vx_txn *)span.second + (k - span.first_n);
                vx_txn a = read_fields(slot);
                for (int w = 0; w < 8; w++) vx_cpu_relax();
                vx_txn b = read_fields(slot);
                if (!txn_is(&a, seq + k) || !txn_is(&b, seq + k)) c->bad++;
            }
            REQUIRE(vx_ring_release(c->ring, n) == VX_OK);
            seq += n;
        } else {
            REQUIRE(vx_ring_release(c->ring, 0) == VX_OK);
        }
        if ((spins & 1023u) == 1023u) REQUIRE(vx_monotonic_ns() < give_up);
    }
    return NULL;
}

static void test_litmus_war_slot_reuse(void) {
    war_ctx c = {NULL, vx_test_count(1000000, 5000), 0};
    REQUIRE(vx_ring_create(2, sizeof(vx_txn), &c.ring) == VX_OK);
    pthread_t tp, tc;
    REQUIRE(pthread_create(&tc, NULL, war_consumer, &c) == 0);
    REQUIRE(pthread_create(&tp, NULL, war_producer, &c) == 0);
    REQUIRE(pthread_join(tp, NULL) == 0);
    REQUIRE(pthread_join(tc, NULL) == 0);
    CHECK(c.bad == 0);
    CHECK(vx_ring_popped(c.ring) == c.count);
    vx_ring_destroy(c.ring);
}

/* Free-running, the other pairing: zero-copy producer (reserve, write in place, commit)
 * against a copying consumer (try_pop). Covers the acquire of tail in reserve and the release
 * of tail in try_pop, which the lockstep rounds above cannot: their barrier already orders
 * each round's read before the next round's overwrite. */
static void *mixed_producer(void *p) {
    war_ctx *c = p;
    vx_test_pin(0);
    uint64_t give_up = vx_monotonic_ns() + LITMUS_WAIT_NS * 3;
    for (uint64_t seq = 0, spins = 0; seq < c->count; spins++) {
        vx_ring_span span;
        if (vx_ring_reserve(c->ring, 1, &span) == VX_OK) {
            vx_txn want = txn_for(seq);
            vx_txn *slot = span.first;
            slot->tsc = want.tsc;
            slot->seq = want.seq;
            slot->price = want.price;
            slot->qty = want.qty;
            slot->side = want.side;
            slot->kind = want.kind;
            memset(slot->pad, 0, sizeof slot->pad);
            REQUIRE(vx_ring_commit(c->ring, 1) == VX_OK);
            seq++;
        } else {
            REQUIRE(vx_ring_commit(c->ring, 0) == VX_OK);
        }
        if ((spins & 1023u) == 1023u) REQUIRE(vx_monotonic_ns() < give_up);
    }
    return NULL;
}

static void *mixed_consumer(void *p) {
    war_ctx *c = p;
    vx_test_pin(1);
    uint64_t give_up = vx_monotonic_ns() + LITMUS_WAIT_NS * 3;
    for (uint64_t seq = 0, spins = 0; seq < c->count; spins++) {
        vx_txn got;
        vx_status st = vx_ring_try_pop(c->ring, &got);
        if (st == VX_OK) {
            if (!txn_is(&got, seq)) c->bad++;
            seq++;
        } else {
            REQUIRE(st == VX_EMPTY);
        }
        if ((spins & 1023u) == 1023u) REQUIRE(vx_monotonic_ns() < give_up);
    }
    return NULL;
}

static void test_litmus_mixed_free_running(void) {
    war_ctx c = {NULL, vx_test_count(1000000, 5000), 0};
    REQUIRE(vx_ring_create(2, sizeof(vx_txn), &c.ring) == VX_OK);
    pthread_t tp, tc;
    REQUIRE(pthread_create(&tc, NULL, mixed_consumer, &c) == 0);
    REQUIRE(pthread_create(&tp, NULL, mixed_producer, &c) == 0);
    REQUIRE(pthread_join(tp, NULL) == 0);
    REQUIRE(pthread_join(tc, NULL) == 0);
    CHECK(c.bad == 0);
    CHECK(vx_ring_popped(c.ring) == c.count && vx_ring_size(c.ring) == 0);
    vx_ring_destroy(c.ring);
}

/* ---- calibration: bare message passing ----------------------------------------------- */

typedef struct mp_ctx {
    barrier2 barrier;
    alignas(128) _Atomic uint64_t data;
    alignas(128) _Atomic uint64_t flag;
    uint64_t rounds;
    int ordered;      /* 1: release/acquire, 0: relaxed */
    uint64_t weak;    /* rounds where the reader saw flag == round but stale data */
} mp_ctx;

static void *mp_writer(void *p) {
    mp_ctx *c = p;
    uint32_t sense = 0;
    vx_test_pin(0);
    for (uint64_t round = 1; round <= c->rounds; round++) {
        barrier2_wait(&c->barrier, &sense);
        /* relaxed: the payload; ordered (or not) by the flag store below */
        atomic_store_explicit(&c->data, round, memory_order_relaxed);
        /* release (ordered mode): pairs with the reader's acquire load of flag.
         * relaxed (calibration mode): deliberately unordered. */
        atomic_store_explicit(&c->flag, round,
                              c->ordered ? memory_order_release : memory_order_relaxed);
    }
    return NULL;
}

static void *mp_reader(void *p) {
    mp_ctx *c = p;
    uint32_t sense = 0;
    vx_test_pin(1);
    for (uint64_t round = 1; round <= c->rounds; round++) {
        barrier2_wait(&c->barrier, &sense);
        uint64_t give_up = vx_monotonic_ns() + LITMUS_WAIT_NS;
        for (uint64_t spins = 0;; spins++) {
            /* acquire (ordered mode): pairs with the writer's release store of flag */
            uint64_t f = atomic_load_explicit(
                &c->flag, c->ordered ? memory_order_acquire : memory_order_relaxed);
            if (f == round) break;
            if ((spins & 1023u) == 1023u) REQUIRE(vx_monotonic_ns() < give_up);
        }
        /* relaxed: the payload; must be `round` in ordered mode */
        if (atomic_load_explicit(&c->data, memory_order_relaxed) != round) c->weak++;
    }
    return NULL;
}

static uint64_t run_mp(int ordered, uint64_t rounds) {
    mp_ctx c;
    memset(&c, 0, sizeof c);
    c.rounds = rounds;
    c.ordered = ordered;
    pthread_t tw, tr;
    REQUIRE(pthread_create(&tr, NULL, mp_reader, &c) == 0);
    REQUIRE(pthread_create(&tw, NULL, mp_writer, &c) == 0);
    REQUIRE(pthread_join(tw, NULL) == 0);
    REQUIRE(pthread_join(tr, NULL) == 0);
    return c.weak;
}

static void test_litmus_mp_release_acquire(void) {
    uint64_t rounds = vx_test_count(200000, 2000);
    uint64_t weak = run_mp(1, rounds);
    CHECK(weak == 0);
    /* Calibration only (never a failure): how often this platform shows the weak outcome the
     * C model allows for relaxed message passing. 0 on x86 and under qemu on an x86 host;
     * often > 0 on real aarch64 hardware. */
    uint64_t relaxed_weak = run_mp(0, rounds);
    printf("     calibration: relaxed message passing showed the weak outcome in %llu of %llu "
           "rounds on this platform\n", (unsigned long long)relaxed_weak, (unsigned long long)rounds);
}

int main(void) {
#if defined(__aarch64__)
    printf("litmus: aarch64\n");
#elif defined(__x86_64__)
    printf("litmus: x86_64\n");
#endif
    RUN(test_litmus_mp_copy);
    RUN(test_litmus_mp_zero_copy);
    RUN(test_litmus_war_slot_reuse);
    RUN(test_litmus_mixed_free_running);
    RUN(test_litmus_mp_release_acquire);
    return CHECK_SUMMARY("test_litmus_ring");
}
