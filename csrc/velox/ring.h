/*
 * velox/ring.h — a lock-free single-producer single-consumer ring of fixed-size records.
 *
 * This header is the whole contract. The pipeline and the shared-memory ring (shm.h) code
 * against it; velox/_ring.pyx wraps it for Python.
 *
 * try_push / try_pop live in ring.c, not static inline here: measured on the reference
 * machine (gcc 12 -O3), inlining changed neither the single-thread push+pop pair (7.6 ns
 * both ways) nor cross-core throughput (~100 M records/s both ways); the variable-size
 * memcpy and the cache-line transfers dominate.
 *
 * SPSC CONTRACT
 *   - Exactly one producer thread calls the producer functions (vx_ring_try_push,
 *     vx_ring_push_n, vx_ring_reserve/vx_ring_commit, vx_ring_push_wait) and exactly one
 *     consumer thread calls the consumer functions (vx_ring_try_pop, vx_ring_pop_n,
 *     vx_ring_peek/vx_ring_release, vx_ring_pop_wait) at any one time. The roles may move to
 *     another thread only through a synchronizing hand-off (a join, a mutex, the GIL).
 *   - Observers (vx_ring_size, vx_ring_free_slots, vx_ring_pushed, vx_ring_popped,
 *     vx_ring_rejected_full) may be called from any thread; they return a snapshot.
 *   - Debug builds (ring.c compiled with VELOX_DEBUG) set a per-side "busy" flag around
 *     every producer / consumer operation (for reserve/commit and peek/release: from reserve until commit;
 *     for push_wait / pop_wait: for the whole wait);
 *     a second thread entering the same side while it is busy gets VX_EMISUSE and the ring is
 *     left untouched. Detection needs actual overlap: it catches racing producers (or
 *     consumers), not two threads that take turns without overlapping. Release builds keep the
 *     flag in the layout (so debug and release processes can share one ring) but never touch it.
 *
 * HANDLE AND BLOCK
 *   A vx_ring is a small process-private handle (shape taken once at init/attach, a pointer to
 *   the slots, a sticky "corrupt" state); the shared block it points to holds the indices and
 *   the slots. Every function reads capacity, mask and elem_size from the handle, never from
 *   the block, so a peer process that rewrites the block's config line cannot move this
 *   process's accesses. Every reload of the other side's index is validated
 *   (0 <= head - tail <= capacity); a violation makes the handle corrupt for good: every
 *   producer / consumer call then returns VX_ECORRUPT without touching the slots. Whatever
 *   the block holds, a call reads and writes only the handle's capacity * elem_size bytes of
 *   slots and the caller's buffer (n * elem_size bytes): a hostile peer can feed wrong
 *   records, stall, or make the ring corrupt, never make this process access other memory.
 *
 * LAYOUT of the block (position-independent: no stored pointers, everything is an offset)
 *   offset 0                      line 0: immutable configuration (magic, sizes, offsets)
 *   offset VX_RING_LINE           line 1: producer side  — head, cached_tail, rejected_full, busy
 *   offset 2*VX_RING_LINE         line 2: consumer side  — tail, cached_head, busy
 *   offset VX_RING_SLOTS_OFFSET   capacity slots of elem_size bytes each, packed (stride =
 *                                 elem_size), so a contiguous run of slots is a plain array
 *   The block must start on a VX_RING_ALIGN boundary. Slot i is at
 *   (char *)block + VX_RING_SLOTS_OFFSET + (i & mask) * elem_size, so it is aligned to the
 *   largest power of two dividing elem_size, up to VX_RING_ALIGN (a 32-byte vx_txn slot is
 *   32-byte aligned, a 528-byte vx_bundle slot 16-byte aligned).
 *   head and tail are 64-bit counts of records ever pushed / popped: they never wrap in
 *   practice (2^64 records), so size = head - tail with no ambiguity between full and empty.
 *   Each side keeps a private cached copy of the other side's index on its own line and
 *   reloads the real one (acquire) only when the cache says full / empty; every publish is a
 *   release store. The cached copies live in the block, so the ring also works when the
 *   producer and consumer are different processes mapping the same memory.
 *
 * MEMORY
 *   vx_ring_create allocates once (aligned_alloc: handle, then block); nothing allocates
 *   afterwards. Placement via vx_ring_init_in / vx_ring_attach puts the block in caller memory
 *   (heap, mmap, POSIX shared memory) and fills a caller-owned handle; it allocates nothing.
 *
 * ERRORS
 *   VX_OK; VX_FULL / VX_EMPTY (normal backpressure results); VX_EINVAL (argument out of its
 *   documented range); VX_ENOMEM (create); VX_TIMEOUT (a wait reached its deadline);
 *   VX_ESTATE (vx_ring_attach: the memory does not hold an initialised ring of this layout);
 *   VX_EMISUSE (debug builds: two producers or two consumers overlapped; or a commit/release
 *   without a matching reserve/peek); VX_ECORRUPT (the block's indices broke the ring's
 *   invariant: another process wrote them; sticky, see HANDLE AND BLOCK).
 */
#ifndef VELOX_RING_H
#define VELOX_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "velox/types.h"

/* Padding unit for the producer and consumer lines. 128, not 64: x86_64 adjacent-line
 * prefetch and aarch64 (Apple, Neoverse) pull cache lines in pairs, so 64-byte padding still
 * lets the two sides' lines interfere. Override with -DVX_RING_LINE=64 to measure; the value
 * is recorded in the block and vx_ring_attach rejects a block built with another one. */
#ifndef VX_RING_LINE
#define VX_RING_LINE 128
#endif
#define VX_RING_ALIGN VX_RING_LINE                  /* required alignment of the block */
#define VX_RING_SLOTS_OFFSET (3 * VX_RING_LINE)     /* config, producer, consumer lines */
#define VX_RING_MIN_CAPACITY 2u
#define VX_RING_MAX_CAPACITY (1u << 30)
#define VX_RING_MAX_ELEM_SIZE (1u << 24)           /* 16 MiB per record */
#define VX_RING_MAGIC 0x52585856u                  /* "VXXR" */
#define VX_RING_LAYOUT_VERSION 1u

_Static_assert((VX_RING_LINE & (VX_RING_LINE - 1)) == 0 && VX_RING_LINE >= 64,
               "VX_RING_LINE must be a power of two >= 64");
_Static_assert(sizeof(uint64_t) == 8, "64-bit indices");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free (shared memory)");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free (shared memory)");

/* Line 0: written once by vx_ring_init_in, read-only afterwards. */
typedef struct vx_ring_config {
    _Atomic uint32_t magic;  /* VX_RING_MAGIC, stored last with release by init_in */
    uint32_t version;        /* VX_RING_LAYOUT_VERSION */
    uint32_t line_size;      /* VX_RING_LINE of the build that initialised it */
    uint32_t capacity;       /* power of two in [2, 2^30] */
    uint32_t mask;           /* capacity - 1 */
    uint32_t elem_size;      /* bytes per record, in [1, VX_RING_MAX_ELEM_SIZE] */
    uint64_t slots_offset;   /* VX_RING_SLOTS_OFFSET */
    uint64_t footprint;      /* vx_ring_footprint(capacity, elem_size) */
} vx_ring_config;

/* Line 1: written only by the producer (observers may read head and rejected_full). */
typedef struct vx_ring_producer {
    _Atomic uint64_t head;          /* records ever pushed; next slot to write is head & mask */
    uint64_t cached_tail;           /* producer's private copy of consumer.tail (plain) */
    _Atomic uint64_t rejected_full; /* calls refused because the ring was full (relaxed) */
    uint64_t reserved_n;            /* debug: slots handed out by vx_ring_reserve */
    _Atomic uint32_t busy;          /* debug misuse guard; unused in release builds */
} vx_ring_producer;

/* Line 2: written only by the consumer (observers may read tail). */
typedef struct vx_ring_consumer {
    _Atomic uint64_t tail;          /* records ever popped; next slot to read is tail & mask */
    uint64_t cached_head;           /* consumer's private copy of producer.head (plain) */
    uint64_t peeked_n;              /* debug: slots handed out by vx_ring_peek */
    _Atomic uint32_t busy;          /* debug misuse guard; unused in release builds */
} vx_ring_consumer;

/* The shared control block. Slots follow it at VX_RING_SLOTS_OFFSET. Do not touch fields
 * directly; the layout is public so the observers can be static inline, and so shm.h and the
 * _Static_asserts can see it. */
typedef struct vx_ring_block {
    alignas(VX_RING_LINE) vx_ring_config config;
    alignas(VX_RING_LINE) vx_ring_producer producer;
    alignas(VX_RING_LINE) vx_ring_consumer consumer;
} vx_ring_block;

/* The process-private handle (see HANDLE AND BLOCK). Filled by vx_ring_init_in /
 * vx_ring_attach / vx_ring_create and read-only afterwards except `limit`. */
typedef struct vx_ring {
    vx_ring_block *block;    /* the shared block (indices, caches, statistics) */
    char *slots;             /* (char *)block + VX_RING_SLOTS_OFFSET */
    uint32_t capacity;       /* taken once at init/attach; never re-read from the block */
    uint32_t mask;           /* capacity - 1 */
    uint32_t elem_size;
    /* capacity, or 0 once the ring is corrupt (sticky). The fast paths compare against it,
     * so a corrupt ring always falls to the slow path, which reports VX_ECORRUPT. Relaxed
     * loads/stores: a flag, no data is published through it. */
    _Atomic uint32_t limit;
} vx_ring;

_Static_assert(sizeof(vx_ring) <= VX_RING_LINE, "handle fits one line (vx_ring_create puts it before the block)");
_Static_assert(sizeof(vx_ring_config) <= VX_RING_LINE, "config fits one line");
_Static_assert(sizeof(vx_ring_producer) <= VX_RING_LINE, "producer fits one line");
_Static_assert(sizeof(vx_ring_consumer) <= VX_RING_LINE, "consumer fits one line");
_Static_assert(offsetof(vx_ring_block, producer) == VX_RING_LINE, "producer on line 1");
_Static_assert(offsetof(vx_ring_block, consumer) == 2 * VX_RING_LINE, "consumer on line 2");
_Static_assert(sizeof(vx_ring_block) == VX_RING_SLOTS_OFFSET, "slots follow the three lines");
_Static_assert(alignof(vx_ring_block) == VX_RING_ALIGN, "block alignment");
_Static_assert(VX_RING_SLOTS_OFFSET % 64 == 0, "slots start on a cache line");

/* Two runs of contiguous slots (the second wraps to the start of the storage; second_n may
 * be 0). Used by the zero-copy reserve/commit and peek/release APIs. */
typedef struct vx_ring_span {
    void *first;
    uint32_t first_n;
    uint32_t second_n;
    void *second;
} vx_ring_span;

/* Backoff state for the bounded waits: spin (pause) 2^step times for the first steps, then
 * sched_yield, then nanosleep with a doubling period capped at VX_RING_BACKOFF_MAX_SLEEP_NS.
 * Zero-initialise it before a wait; keep it across consecutive calls of one logical wait. */
typedef struct vx_ring_backoff {
    uint32_t step;
} vx_ring_backoff;
#define VX_RING_BACKOFF_SPIN_STEPS 7u      /* 1+2+...+64 pauses */
#define VX_RING_BACKOFF_YIELD_STEPS 16u    /* then 16 sched_yield calls */
#define VX_RING_BACKOFF_MAX_SLEEP_NS 100000u /* then sleeps 1 us, 2 us, ... up to 100 us */

/* ---- construction ------------------------------------------------------------------- */

/* Bytes a ring of this shape needs (control block + slots), or 0 if capacity is not a power
 * of two in [2, 2^30] or elem_size is not in [1, VX_RING_MAX_ELEM_SIZE]. */
size_t vx_ring_footprint(uint32_t capacity, uint32_t elem_size);

/* Builds an empty ring block in caller memory (placement) and fills the caller-owned handle
 * *ring for it. mem must be VX_RING_ALIGN-aligned and mem_size >=
 * vx_ring_footprint(capacity, elem_size). Writes the whole control block (slots are left as
 * they are), storing the magic last with release so vx_ring_attach in another thread or
 * process sees a complete block.
 * VX_EINVAL: bad capacity/elem_size, NULL ring, NULL or misaligned mem, or mem_size too small. */
vx_status vx_ring_init_in(vx_ring *ring, void *mem, size_t mem_size, uint32_t capacity,
                          uint32_t elem_size);

/* Checks that mem (mapped by another thread or process) holds a ring block initialised by
 * vx_ring_init_in with this build's layout that fits in mem_size, and fills the caller-owned
 * handle *ring from one read of its config line. VX_EINVAL: NULL ring, NULL/misaligned mem.
 * VX_ESTATE: no magic yet, another layout version or line size, inconsistent sizes,
 * footprint > mem_size, or indices outside 0 <= head - tail <= capacity. */
vx_status vx_ring_attach(vx_ring *ring, void *mem, size_t mem_size);

/* Heap ring: one aligned allocation (the handle's line, then vx_ring_footprint bytes of
 * block), then vx_ring_init_in.
 * VX_EINVAL (bad shape, out NULL) or VX_ENOMEM. Free with vx_ring_destroy. */
vx_status vx_ring_create(uint32_t capacity, uint32_t elem_size, vx_ring **out);

/* Frees a ring from vx_ring_create (NULL is a no-op). Never call it on a placed ring. */
void vx_ring_destroy(vx_ring *ring);

/* ---- shape and observers (any thread) ------------------------------------------------ */

static inline uint32_t vx_ring_capacity(const vx_ring *r) { return r->capacity; }
static inline uint32_t vx_ring_elem_size(const vx_ring *r) { return r->elem_size; }

/* 1 once a call found the block's indices broken (VX_ECORRUPT); sticky. */
static inline int vx_ring_corrupt(const vx_ring *r) {
    /* relaxed: a flag (see vx_ring.limit) */
    return atomic_load_explicit(&r->limit, memory_order_relaxed) == 0u;
}

/* Address of slot index (any 64-bit position; masked with the handle's mask). */
static inline void *vx_ring_slot(vx_ring *r, uint64_t index) {
    return r->slots + (size_t)(index & r->mask) * r->elem_size;
}

/* Records ever pushed / popped, and calls refused because full (a try_push that found the
 * ring full, a push_n that could take none of its records; a partial push_n is not one). */
static inline uint64_t vx_ring_pushed(const vx_ring *r) {
    /* relaxed: a statistic; pairs with nothing (the consumer's acquire load does the sync) */
    return atomic_load_explicit(&r->block->producer.head, memory_order_relaxed);
}
static inline uint64_t vx_ring_popped(const vx_ring *r) {
    /* relaxed: a statistic; pairs with nothing (the producer's acquire load does the sync) */
    return atomic_load_explicit(&r->block->consumer.tail, memory_order_relaxed);
}
static inline uint64_t vx_ring_rejected_full(const vx_ring *r) {
    /* relaxed: a statistic written only by the producer with a relaxed store */
    return atomic_load_explicit(&r->block->producer.rejected_full, memory_order_relaxed);
}

/* Records currently held, in [0, capacity]. Exact when called by the producer or the
 * consumer; a snapshot (clamped to capacity) from any other thread while both sides run. */
static inline uint32_t vx_ring_size(const vx_ring *r) {
    /* Read tail before head so head >= tail: head only grows and never passes tail+capacity
     * as of the moment it is read. acquire pairs with the release stores in pop / push. */
    uint64_t tail = atomic_load_explicit(&r->block->consumer.tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&r->block->producer.head, memory_order_acquire);
    uint64_t n = head - tail;
    return n > r->capacity ? r->capacity : (uint32_t)n; /* clamped: also for a corrupt block */
}

/* Free slots, capacity - size (same exactness as vx_ring_size). */
static inline uint32_t vx_ring_free_slots(const vx_ring *r) {
    return r->capacity - vx_ring_size(r);
}

/* ---- producer ----------------------------------------------------------------------- */

/* Copies one record (elem_size bytes from elem) into the ring.
 * VX_OK, VX_FULL (rejected_full counts it), VX_EMISUSE (debug: concurrent producer). */
vx_status vx_ring_try_push(vx_ring *r, const void *elem);

/* Copies up to n records from elems (n * elem_size contiguous bytes) into the ring, as at
 * most two memcpy runs around the wrap point, and publishes them with one release store.
 * *pushed receives how many were taken (the first *pushed records of elems).
 * VX_OK if *pushed > 0 or n == 0; VX_FULL if n > 0 and nothing fitted (rejected_full grows
 * by one: it counts refused calls; records left over by a partial push are not counted).
 * VX_ECORRUPT (see HANDLE AND BLOCK), VX_EMISUSE (debug, *pushed = 0). */
vx_status vx_ring_push_n(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed);

/* Zero-copy write: hands out up to max_n free slots (fewer if fewer are free) as at most two
 * runs in *span, without publishing them. Write the records in place, then call
 * vx_ring_commit(r, k) with k <= span->first_n + span->second_n to publish the first k.
 * Returns VX_OK with at least one slot, VX_FULL with an empty span (call commit(r, 0) or not
 * at all), VX_EINVAL if max_n == 0. Debug builds hold the producer guard from reserve to
 * commit, so every successful reserve must be followed by a commit (k may be 0). */
vx_status vx_ring_reserve(vx_ring *r, uint32_t max_n, vx_ring_span *span);

/* Publishes the first n slots handed out by the last vx_ring_reserve (release store).
 * VX_EINVAL if n exceeds the free space; VX_EMISUSE (debug) if n exceeds what was reserved
 * or no reserve is open. commit(r, 0) after a VX_FULL reserve is allowed and does nothing. */
vx_status vx_ring_commit(vx_ring *r, uint32_t n);

/* ---- consumer ----------------------------------------------------------------------- */

/* Copies the oldest record into out (elem_size bytes) and frees its slot.
 * VX_OK, VX_EMPTY, VX_EMISUSE (debug: concurrent consumer). */
vx_status vx_ring_try_pop(vx_ring *r, void *out);

/* Copies up to max_n of the oldest records into out (max_n * elem_size bytes), as at most
 * two memcpy runs, and frees their slots with one release store. *popped receives how many.
 * VX_OK if *popped > 0 or max_n == 0; VX_EMPTY if max_n > 0 and the ring was empty;
 * VX_EMISUSE (debug, *popped = 0). */
vx_status vx_ring_pop_n(vx_ring *r, void *out, uint32_t max_n, uint32_t *popped);

/* Zero-copy read: hands out up to max_n of the oldest records as at most two runs in *span,
 * without freeing them. Read them in place, then vx_ring_release(r, k) frees the first k
 * (k <= first_n + second_n). VX_OK with at least one record, VX_EMPTY with an empty span,
 * VX_EINVAL if max_n == 0. Debug builds hold the consumer guard from peek to release. */
vx_status vx_ring_peek(vx_ring *r, uint32_t max_n, vx_ring_span *span);

/* Frees the first n records handed out by the last vx_ring_peek (release store).
 * VX_EINVAL if n exceeds what is readable; VX_EMISUSE (debug) if n exceeds what was peeked
 * or no peek is open. release(r, 0) after a VX_EMPTY peek is allowed and does nothing. */
vx_status vx_ring_release(vx_ring *r, uint32_t n);

/* ---- bounded waits ------------------------------------------------------------------ */

/* One backoff step (spin, then yield, then sleep; see vx_ring_backoff). */
void vx_ring_backoff_pause(vx_ring_backoff *backoff);

/* try_push until it succeeds or vx_monotonic_ns() >= deadline_ns, backing off between tries
 * (state kept in *backoff across calls). VX_OK, VX_TIMEOUT (not pushed), VX_EMISUSE.
 * Full attempts made while waiting do not count in rejected_full. Bounded by the deadline. */
vx_status vx_ring_push_wait(vx_ring *r, const void *elem, uint64_t deadline_ns,
                            vx_ring_backoff *backoff);

/* try_pop until it succeeds or vx_monotonic_ns() >= deadline_ns. VX_OK, VX_TIMEOUT,
 * VX_EMISUSE. Bounded by the deadline. */
vx_status vx_ring_pop_wait(vx_ring *r, void *out, uint64_t deadline_ns, vx_ring_backoff *backoff);

/* push_n until all n records are in or vx_monotonic_ns() >= deadline_ns. *pushed says how
 * many (the first *pushed of elems), also on failure. VX_OK (all n), VX_TIMEOUT (a prefix,
 * possibly empty), VX_ECORRUPT, VX_EMISUSE. Does not count in rejected_full. Bounded. */
vx_status vx_ring_push_n_wait(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed,
                              uint64_t deadline_ns, vx_ring_backoff *backoff);

/* Waits until at least min_n records are readable (1 <= min_n <= min(max_n, capacity)), then
 * pops up to max_n of them into out. VX_OK (*popped >= min_n), VX_TIMEOUT (nothing popped),
 * VX_EINVAL (min_n out of range), VX_ECORRUPT, VX_EMISUSE. max_n == 0: VX_OK at once. */
vx_status vx_ring_pop_n_wait(vx_ring *r, void *out, uint32_t max_n, uint32_t min_n,
                             uint32_t *popped, uint64_t deadline_ns, vx_ring_backoff *backoff);

#endif /* VELOX_RING_H */
