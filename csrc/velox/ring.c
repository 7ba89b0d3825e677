/* velox/ring.c — construction, batches, zero-copy spans and bounded waits of the SPSC ring.
 * See ring.h for the contract. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "velox/ring.h"

#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "velox/tsc.h"

static int is_valid_shape(uint32_t capacity, uint32_t elem_size) {
    return capacity >= VX_RING_MIN_CAPACITY && capacity <= VX_RING_MAX_CAPACITY &&
           (capacity & (capacity - 1)) == 0 && elem_size >= 1 && elem_size <= VX_RING_MAX_ELEM_SIZE;
}

size_t vx_ring_footprint(uint32_t capacity, uint32_t elem_size) {
    if (!is_valid_shape(capacity, elem_size)) return 0;
    uint64_t slots = (uint64_t)capacity * elem_size; /* <= 2^54: no 64-bit overflow */
    if (slots > (uint64_t)SIZE_MAX - VX_RING_SLOTS_OFFSET - VX_RING_ALIGN) return 0; /* 32-bit */
    /* Round up to the alignment so aligned_alloc's size rule holds and rings can be packed. */
    uint64_t total = VX_RING_SLOTS_OFFSET + slots;
    total = (total + VX_RING_ALIGN - 1) & ~(uint64_t)(VX_RING_ALIGN - 1);
    return (size_t)total;
}

vx_status vx_ring_init_in(void *mem, size_t mem_size, uint32_t capacity, uint32_t elem_size) {
    size_t need = vx_ring_footprint(capacity, elem_size);
    if (need == 0 || mem == NULL || ((uintptr_t)mem % VX_RING_ALIGN) != 0 || mem_size < need)
        return VX_EINVAL;
    vx_ring *r = (vx_ring *)mem;
    /* relaxed: nobody may use the block before the release store of magic below */
    atomic_store_explicit(&r->config.magic, 0u, memory_order_relaxed);
    memset((char *)r + sizeof r->config.magic, 0, sizeof *r - sizeof r->config.magic);
    r->config.version = VX_RING_LAYOUT_VERSION;
    r->config.line_size = VX_RING_LINE;
    r->config.capacity = capacity;
    r->config.mask = capacity - 1;
    r->config.elem_size = elem_size;
    r->config.slots_offset = VX_RING_SLOTS_OFFSET;
    r->config.footprint = need;
    /* relaxed: the stores below are published by the release store of magic */
    atomic_store_explicit(&r->producer.head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->producer.rejected_full, 0, memory_order_relaxed);
    atomic_store_explicit(&r->producer.busy, 0u, memory_order_relaxed);
    atomic_store_explicit(&r->consumer.tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->consumer.busy, 0u, memory_order_relaxed);
    /* release pairs with the acquire load of magic in vx_ring_attach: a thread or process
     * that sees the magic sees the whole control block */
    atomic_store_explicit(&r->config.magic, VX_RING_MAGIC, memory_order_release);
    return VX_OK;
}

vx_status vx_ring_attach(void *mem, size_t mem_size, vx_ring **out) {
    if (mem == NULL || out == NULL || ((uintptr_t)mem % VX_RING_ALIGN) != 0) return VX_EINVAL;
    if (mem_size < sizeof(vx_ring)) return VX_ESTATE;
    vx_ring *r = (vx_ring *)mem;
    /* acquire pairs with the release store of magic at the end of vx_ring_init_in */
    if (atomic_load_explicit(&r->config.magic, memory_order_acquire) != VX_RING_MAGIC) return VX_ESTATE;
    const vx_ring_config *c = &r->config;
    if (c->version != VX_RING_LAYOUT_VERSION || c->line_size != VX_RING_LINE ||
        c->slots_offset != VX_RING_SLOTS_OFFSET || !is_valid_shape(c->capacity, c->elem_size) ||
        c->mask != c->capacity - 1 || c->footprint != vx_ring_footprint(c->capacity, c->elem_size) ||
        c->footprint > mem_size)
        return VX_ESTATE;
    *out = r;
    return VX_OK;
}

vx_status vx_ring_create(uint32_t capacity, uint32_t elem_size, vx_ring **out) {
    if (out == NULL) return VX_EINVAL;
    *out = NULL;
    size_t need = vx_ring_footprint(capacity, elem_size);
    if (need == 0) return VX_EINVAL;
    void *mem = aligned_alloc(VX_RING_ALIGN, need); /* need is a multiple of the alignment */
    if (mem == NULL) return VX_ENOMEM;
    vx_status st = vx_ring_init_in(mem, need, capacity, elem_size);
    if (st != VX_OK) {
        free(mem);
        return st;
    }
    *out = (vx_ring *)mem;
    return VX_OK;
}

void vx_ring_destroy(vx_ring *ring) { free(ring); }

/* ---- debug misuse guard --------------------------------------------------- */

/* The guard is compiled in by VELOX_DEBUG, and by VELOX_RING_GUARD, which setup.py defines when
 * building for a free-threaded CPython (3.13t/3.14t): there, two Python threads really can
 * enter one side at once, and misuse must raise (VX_EMISUSE -> RuntimeError), not corrupt the
 * ring. Guarded builds also turn a NULL ring (a SharedRing closed by another thread between
 * the caller's closed-check and its call) into VX_ESTATE instead of a NULL dereference. */
#if defined(VELOX_DEBUG) || defined(VELOX_RING_GUARD)
#define VX_RING_GUARDED 1
#else
#define VX_RING_GUARDED 0
#endif

#if VX_RING_GUARDED
static inline int guard_enter(_Atomic uint32_t *busy) {
    /* acquire pairs with the release in guard_leave by the previous owner of this side, so
     * role hand-offs between threads are ordered; 1 means another thread is inside. */
    return atomic_exchange_explicit(busy, 1u, memory_order_acquire) == 0u;
}
static inline void guard_leave(_Atomic uint32_t *busy) {
    /* release pairs with the acquire exchange in guard_enter by the next caller */
    atomic_store_explicit(busy, 0u, memory_order_release);
}
#define VX_RING_ENTER(side)                                 \
    do {                                                    \
        if (r == NULL) return VX_ESTATE;                    \
        if (!guard_enter(&r->side.busy)) return VX_EMISUSE; \
    } while (0)
#define VX_RING_LEAVE(side) guard_leave(&r->side.busy)
#else
#define VX_RING_ENTER(side) ((void)0)
#define VX_RING_LEAVE(side) ((void)0)
#endif

/* ---- single records ------------------------------------------------------------------ */

/* try_push without the debug guard (the caller holds it); counts a full ring in
 * rejected_full only when count_full is set. */
static vx_status push_one_unguarded(vx_ring *r, const void *elem, int count_full) {
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&r->producer.head, memory_order_relaxed);
    if (head - r->producer.cached_tail >= r->config.capacity) {
        /* acquire pairs with the release store of tail in the consumer functions: the
         * consumer has finished reading every slot below tail, so they may be overwritten */
        r->producer.cached_tail = atomic_load_explicit(&r->consumer.tail, memory_order_acquire);
        if (head - r->producer.cached_tail >= r->config.capacity) {
            if (count_full) {
                /* relaxed load + store, not an RMW: only the producer writes this counter;
                 * observers read it relaxed (vx_ring_rejected_full) */
                uint64_t rej = atomic_load_explicit(&r->producer.rejected_full, memory_order_relaxed);
                atomic_store_explicit(&r->producer.rejected_full, rej + 1, memory_order_relaxed);
            }
            return VX_FULL;
        }
    }
    memcpy(vx_ring_slot(r, head), elem, r->config.elem_size);
    /* release pairs with the acquire load of head in the consumer functions: the record
     * written above is visible before the consumer can see the new head */
    atomic_store_explicit(&r->producer.head, head + 1, memory_order_release);
    return VX_OK;
}

vx_status vx_ring_try_push(vx_ring *r, const void *elem) {
    VX_RING_ENTER(producer);
    vx_status st = push_one_unguarded(r, elem, 1);
    VX_RING_LEAVE(producer);
    return st;
}

/* try_pop without the debug guard (the caller holds it). */
static vx_status pop_one_unguarded(vx_ring *r, void *out) {
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&r->consumer.tail, memory_order_relaxed);
    if (tail == r->consumer.cached_head) {
        /* acquire pairs with the release store of head in the producer functions: every
         * record below head is fully written and visible */
        r->consumer.cached_head = atomic_load_explicit(&r->producer.head, memory_order_acquire);
        if (tail == r->consumer.cached_head) return VX_EMPTY;
    }
    memcpy(out, vx_ring_slot(r, tail), r->config.elem_size);
    /* release pairs with the acquire load of tail in the producer functions: the read of
     * the slot above completes before the producer may reuse it */
    atomic_store_explicit(&r->consumer.tail, tail + 1, memory_order_release);
    return VX_OK;
}

vx_status vx_ring_try_pop(vx_ring *r, void *out) {
    VX_RING_ENTER(consumer);
    vx_status st = pop_one_unguarded(r, out);
    VX_RING_LEAVE(consumer);
    return st;
}

/* ---- spans -------------------------------------------------------------------------- */

/* Splits n records starting at position index into the run up to the end of the storage and
 * the run that wraps to its start. */
static void make_span(vx_ring *r, uint64_t index, uint32_t n, vx_ring_span *span) {
    uint32_t at = (uint32_t)(index & r->config.mask);
    uint32_t to_end = r->config.capacity - at;
    span->first = vx_ring_slot(r, index);
    span->first_n = n < to_end ? n : to_end;
    span->second_n = n - span->first_n;
    span->second = (char *)r + VX_RING_SLOTS_OFFSET;
}

/* Producer: free slots, refreshing cached_tail (acquire) only if fewer than want are free. */
static uint32_t producer_free(vx_ring *r, uint64_t head, uint32_t want) {
    uint32_t free_n = r->config.capacity - (uint32_t)(head - r->producer.cached_tail);
    if (free_n < want) {
        /* acquire pairs with the release store of tail in vx_ring_try_pop / pop_n / release:
         * slots below the new tail have been read and may be overwritten */
        r->producer.cached_tail = atomic_load_explicit(&r->consumer.tail, memory_order_acquire);
        free_n = r->config.capacity - (uint32_t)(head - r->producer.cached_tail);
    }
    return free_n;
}

/* Consumer: readable records, refreshing cached_head (acquire) only if fewer than want. */
static uint32_t consumer_ready(vx_ring *r, uint64_t tail, uint32_t want) {
    uint32_t ready = (uint32_t)(r->consumer.cached_head - tail);
    if (ready < want) {
        /* acquire pairs with the release store of head in vx_ring_try_push / push_n /
         * commit: records below the new head are fully written */
        r->consumer.cached_head = atomic_load_explicit(&r->producer.head, memory_order_acquire);
        ready = (uint32_t)(r->consumer.cached_head - tail);
    }
    return ready;
}

static void add_rejected(vx_ring *r, uint64_t n) {
    if (n == 0) return;
    /* relaxed load + store: only the producer writes rejected_full (see push_one_unguarded) */
    uint64_t rej = atomic_load_explicit(&r->producer.rejected_full, memory_order_relaxed);
    atomic_store_explicit(&r->producer.rejected_full, rej + n, memory_order_relaxed);
}

/* ---- batches ------------------------------------------------------------------------ */

vx_status vx_ring_push_n(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed) {
    *pushed = 0;
    if (n == 0) return VX_OK;
    VX_RING_ENTER(producer);
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&r->producer.head, memory_order_relaxed);
    uint32_t free_n = producer_free(r, head, n);
    uint32_t k = n < free_n ? n : free_n;
    add_rejected(r, n - k);
    if (k == 0) {
        VX_RING_LEAVE(producer);
        return VX_FULL;
    }
    vx_ring_span span;
    make_span(r, head, k, &span);
    size_t es = r->config.elem_size;
    memcpy(span.first, elems, span.first_n * es);
    if (span.second_n) memcpy(span.second, (const char *)elems + span.first_n * es, span.second_n * es);
    /* release pairs with the acquire load of head in the consumer: all k records are
     * visible before the consumer can see the new head */
    atomic_store_explicit(&r->producer.head, head + k, memory_order_release);
    VX_RING_LEAVE(producer);
    *pushed = k;
    return VX_OK;
}

vx_status vx_ring_pop_n(vx_ring *r, void *out, uint32_t max_n, uint32_t *popped) {
    *popped = 0;
    if (max_n == 0) return VX_OK;
    VX_RING_ENTER(consumer);
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&r->consumer.tail, memory_order_relaxed);
    uint32_t ready = consumer_ready(r, tail, max_n);
    uint32_t k = max_n < ready ? max_n : ready;
    if (k == 0) {
        VX_RING_LEAVE(consumer);
        return VX_EMPTY;
    }
    vx_ring_span span;
    make_span(r, tail, k, &span);
    size_t es = r->config.elem_size;
    memcpy(out, span.first, span.first_n * es);
    if (span.second_n) memcpy((char *)out + span.first_n * es, span.second, span.second_n * es);
    /* release pairs with the acquire load of tail in the producer: the reads above complete
     * before the producer may overwrite these slots */
    atomic_store_explicit(&r->consumer.tail, tail + k, memory_order_release);
    VX_RING_LEAVE(consumer);
    *popped = k;
    return VX_OK;
}

/* ---- zero-copy ---------------------------------------------------------------------- */

vx_status vx_ring_reserve(vx_ring *r, uint32_t max_n, vx_ring_span *span) {
    span->first = span->second = NULL;
    span->first_n = span->second_n = 0;
    if (max_n == 0) return VX_EINVAL;
    VX_RING_ENTER(producer);
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&r->producer.head, memory_order_relaxed);
    uint32_t free_n = producer_free(r, head, max_n);
    uint32_t k = max_n < free_n ? max_n : free_n;
    if (k == 0) {
        VX_RING_LEAVE(producer);
        return VX_FULL;
    }
    make_span(r, head, k, span);
    r->producer.reserved_n = k; /* debug bookkeeping; the guard stays held until commit */
    return VX_OK;
}

vx_status vx_ring_commit(vx_ring *r, uint32_t n) {
#if VX_RING_GUARDED
    if (r == NULL) return VX_ESTATE;
    if (r->producer.reserved_n == 0) return n == 0 ? VX_OK : VX_EMISUSE;
    if (n > r->producer.reserved_n) return VX_EMISUSE;
#endif
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&r->producer.head, memory_order_relaxed);
    if (n > r->config.capacity - (uint32_t)(head - r->producer.cached_tail)) return VX_EINVAL;
    r->producer.reserved_n = 0;
    if (n) {
        /* release pairs with the acquire load of head in the consumer: the records written in
         * place are visible before the consumer can see the new head */
        atomic_store_explicit(&r->producer.head, head + n, memory_order_release);
    }
#if VX_RING_GUARDED
    VX_RING_LEAVE(producer); /* taken by vx_ring_reserve */
#endif
    return VX_OK;
}

vx_status vx_ring_peek(vx_ring *r, uint32_t max_n, vx_ring_span *span) {
    span->first = span->second = NULL;
    span->first_n = span->second_n = 0;
    if (max_n == 0) return VX_EINVAL;
    VX_RING_ENTER(consumer);
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&r->consumer.tail, memory_order_relaxed);
    uint32_t ready = consumer_ready(r, tail, max_n);
    uint32_t k = max_n < ready ? max_n : ready;
    if (k == 0) {
        VX_RING_LEAVE(consumer);
        return VX_EMPTY;
    }
    make_span(r, tail, k, span);
    r->consumer.peeked_n = k; /* debug bookkeeping; the guard stays held until release */
    return VX_OK;
}

vx_status vx_ring_release(vx_ring *r, uint32_t n) {
#if VX_RING_GUARDED
    if (r == NULL) return VX_ESTATE;
    if (r->consumer.peeked_n == 0) return n == 0 ? VX_OK : VX_EMISUSE;
    if (n > r->consumer.peeked_n) return VX_EMISUSE;
#endif
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&r->consumer.tail, memory_order_relaxed);
    if (n > (uint32_t)(r->consumer.cached_head - tail)) return VX_EINVAL;
    r->consumer.peeked_n = 0;
    if (n) {
        /* release pairs with the acquire load of tail in the producer: the in-place reads
         * complete before the producer may overwrite these slots */
        atomic_store_explicit(&r->consumer.tail, tail + n, memory_order_release);
    }
#if VX_RING_GUARDED
    VX_RING_LEAVE(consumer); /* taken by vx_ring_peek */
#endif
    return VX_OK;
}

/* ---- waits -------------------------------------------------------------------------- */

void vx_ring_backoff_pause(vx_ring_backoff *b) {
    uint32_t step = b->step;
    if (step < VX_RING_BACKOFF_SPIN_STEPS) {
        for (uint32_t i = 0; i < (1u << step); i++) vx_cpu_relax(); /* <= 64 pauses */
    } else if (step < VX_RING_BACKOFF_SPIN_STEPS + VX_RING_BACKOFF_YIELD_STEPS) {
        sched_yield();
    } else {
        uint32_t k = step - (VX_RING_BACKOFF_SPIN_STEPS + VX_RING_BACKOFF_YIELD_STEPS);
        uint64_t ns = k >= 17 ? VX_RING_BACKOFF_MAX_SLEEP_NS : (uint64_t)1000u << k;
        if (ns > VX_RING_BACKOFF_MAX_SLEEP_NS) ns = VX_RING_BACKOFF_MAX_SLEEP_NS;
        struct timespec ts = {0, (long)ns};
        nanosleep(&ts, NULL); /* an interrupted sleep just ends early */
        if (k >= 17) return;  /* stay at the cap; do not let step grow without bound */
    }
    b->step = step + 1;
}

vx_status vx_ring_push_wait(vx_ring *r, const void *elem, uint64_t deadline_ns, vx_ring_backoff *b) {
    /* Debug builds hold the producer guard for the whole wait, so a second producer that
     * arrives while this one waits is reported deterministically, not only on a lucky race. */
    VX_RING_ENTER(producer);
    vx_status st;
    /* Bounded: every iteration after the first checks the deadline on a monotonic clock. */
    for (;;) {
        st = push_one_unguarded(r, elem, 0);
        if (st == VX_OK) {
            b->step = 0;
            break;
        }
        if (vx_monotonic_ns() >= deadline_ns) {
            st = VX_TIMEOUT;
            break;
        }
        vx_ring_backoff_pause(b);
    }
    VX_RING_LEAVE(producer);
    return st;
}

vx_status vx_ring_pop_wait(vx_ring *r, void *out, uint64_t deadline_ns, vx_ring_backoff *b) {
    /* Debug builds hold the consumer guard for the whole wait (see vx_ring_push_wait). */
    VX_RING_ENTER(consumer);
    vx_status st;
    /* Bounded: every iteration after the first checks the deadline on a monotonic clock. */
    for (;;) {
        st = pop_one_unguarded(r, out);
        if (st == VX_OK) {
            b->step = 0;
            break;
        }
        if (vx_monotonic_ns() >= deadline_ns) {
            st = VX_TIMEOUT;
            break;
        }
        vx_ring_backoff_pause(b);
    }
    VX_RING_LEAVE(consumer);
    return st;
}
