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

static void fill_handle(vx_ring *h, vx_ring_block *b, uint32_t capacity, uint32_t elem_size) {
    h->block = b;
    h->slots = (char *)b + VX_RING_SLOTS_OFFSET;
    h->capacity = capacity;
    h->mask = capacity - 1;
    h->elem_size = elem_size;
    /* relaxed: the handle is handed to other threads by the caller's own synchronisation */
    atomic_store_explicit(&h->limit, capacity, memory_order_relaxed);
}

vx_status vx_ring_init_in(vx_ring *ring, void *mem, size_t mem_size, uint32_t capacity,
                          uint32_t elem_size) {
    size_t need = vx_ring_footprint(capacity, elem_size);
    if (ring == NULL || need == 0 || mem == NULL || ((uintptr_t)mem % VX_RING_ALIGN) != 0 ||
        mem_size < need)
        return VX_EINVAL;
    vx_ring_block *blk = (vx_ring_block *)mem;
    /* relaxed: nobody may use the block before the release store of magic below */
    atomic_store_explicit(&blk->config.magic, 0u, memory_order_relaxed);
    memset((char *)blk + sizeof blk->config.magic, 0, sizeof *blk - sizeof blk->config.magic);
    blk->config.version = VX_RING_LAYOUT_VERSION;
    blk->config.line_size = VX_RING_LINE;
    blk->config.capacity = capacity;
    blk->config.mask = capacity - 1;
    blk->config.elem_size = elem_size;
    blk->config.slots_offset = VX_RING_SLOTS_OFFSET;
    blk->config.footprint = need;
    /* relaxed: the stores below are published by the release store of magic */
    atomic_store_explicit(&blk->producer.head, 0, memory_order_relaxed);
    atomic_store_explicit(&blk->producer.rejected_full, 0, memory_order_relaxed);
    atomic_store_explicit(&blk->producer.busy, 0u, memory_order_relaxed);
    atomic_store_explicit(&blk->consumer.tail, 0, memory_order_relaxed);
    atomic_store_explicit(&blk->consumer.busy, 0u, memory_order_relaxed);
    /* release pairs with the acquire load of magic in vx_ring_attach: a thread or process
     * that sees the magic sees the whole control block */
    atomic_store_explicit(&blk->config.magic, VX_RING_MAGIC, memory_order_release);
    fill_handle(ring, blk, capacity, elem_size);
    return VX_OK;
}

vx_status vx_ring_attach(vx_ring *ring, void *mem, size_t mem_size) {
    if (ring == NULL || mem == NULL || ((uintptr_t)mem % VX_RING_ALIGN) != 0) return VX_EINVAL;
    if (mem_size < sizeof(vx_ring_block)) return VX_ESTATE;
    vx_ring_block *blk = (vx_ring_block *)mem;
    /* acquire pairs with the release store of magic at the end of vx_ring_init_in */
    if (atomic_load_explicit(&blk->config.magic, memory_order_acquire) != VX_RING_MAGIC) return VX_ESTATE;
    /* One read of the config line into a private copy: another process may rewrite the block
     * at any time, so what is validated must be what the handle keeps. */
    vx_ring_config c;
    memcpy(&c.version, &blk->config.version, sizeof c - offsetof(vx_ring_config, version));
    if (c.version != VX_RING_LAYOUT_VERSION || c.line_size != VX_RING_LINE ||
        c.slots_offset != VX_RING_SLOTS_OFFSET || !is_valid_shape(c.capacity, c.elem_size) ||
        c.mask != c.capacity - 1 || c.footprint != vx_ring_footprint(c.capacity, c.elem_size) ||
        c.footprint > mem_size)
        return VX_ESTATE;
    /* acquire pairs with the release stores of tail / head in the consumer / producer
     * functions (tail first: with a live producer head only grows past it) */
    uint64_t tail = atomic_load_explicit(&blk->consumer.tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&blk->producer.head, memory_order_acquire);
    if (head - tail > c.capacity) return VX_ESTATE;
    fill_handle(ring, blk, c.capacity, c.elem_size);
    return VX_OK;
}

vx_status vx_ring_create(uint32_t capacity, uint32_t elem_size, vx_ring **out) {
    if (out == NULL) return VX_EINVAL;
    *out = NULL;
    size_t need = vx_ring_footprint(capacity, elem_size);
    if (need == 0) return VX_EINVAL;
    /* the handle's line, then the block: need is a multiple of the alignment */
    char *mem = aligned_alloc(VX_RING_ALIGN, VX_RING_ALIGN + need);
    if (mem == NULL) return VX_ENOMEM;
    vx_ring *h = (vx_ring *)mem;
    vx_status st = vx_ring_init_in(h, mem + VX_RING_ALIGN, need, capacity, elem_size);
    if (st != VX_OK) {
        free(mem);
        return st;
    }
    *out = h;
    return VX_OK;
}

void vx_ring_destroy(vx_ring *ring) { free(ring); }

/* ---- debug misuse guard --------------------------------------------------- */

#ifdef VELOX_DEBUG
static inline int guard_enter(_Atomic uint32_t *busy) {
    /* acquire pairs with the release in guard_leave by the previous owner of this side, so
     * role hand-offs between threads are ordered; 1 means another thread is inside. */
    return atomic_exchange_explicit(busy, 1u, memory_order_acquire) == 0u;
}
static inline void guard_leave(_Atomic uint32_t *busy) {
    /* release pairs with the acquire exchange in guard_enter by the next caller */
    atomic_store_explicit(busy, 0u, memory_order_release);
}
#define VX_RING_ENTER(side)                                        \
    do {                                                           \
        if (!guard_enter(&r->block->side.busy)) return VX_EMISUSE; \
    } while (0)
#define VX_RING_LEAVE(side) guard_leave(&r->block->side.busy)
#else
#define VX_RING_ENTER(side) ((void)0)
#define VX_RING_LEAVE(side) ((void)0)
#endif

/* ---- corruption (see ring.h, HANDLE AND BLOCK) ---------------------------------------- */

static inline uint32_t ring_limit(const vx_ring *r) {
    /* relaxed: a flag (vx_ring.limit); the indices are synchronised by their own orders */
    return atomic_load_explicit(&r->limit, memory_order_relaxed);
}

/* The block broke 0 <= head - tail <= capacity: make the handle corrupt for good. */
static vx_status mark_corrupt(vx_ring *r) {
    /* relaxed: see ring_limit */
    atomic_store_explicit(&r->limit, 0u, memory_order_relaxed);
    return VX_ECORRUPT;
}

/* ---- single records ------------------------------------------------------------------ */

/* try_push without the debug guard (the caller holds it); counts a full ring in
 * rejected_full only when count_full is set. */
static vx_status push_one_unguarded(vx_ring *r, const void *elem, int count_full) {
    vx_ring_block *b = r->block;
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&b->producer.head, memory_order_relaxed);
    uint32_t lim = ring_limit(r);
    if (head - b->producer.cached_tail >= lim) { /* full, broken cache, or corrupt (lim 0) */
        if (lim == 0) return VX_ECORRUPT;
        /* acquire pairs with the release store of tail in the consumer functions: the
         * consumer has finished reading every slot below tail, so they may be overwritten */
        uint64_t tail = atomic_load_explicit(&b->consumer.tail, memory_order_acquire);
        b->producer.cached_tail = tail;
        if (head - tail > r->capacity) return mark_corrupt(r);
        if (head - tail == r->capacity) {
            if (count_full) {
                /* relaxed load + store, not an RMW: only the producer writes this counter;
                 * observers read it relaxed (vx_ring_rejected_full) */
                uint64_t rej = atomic_load_explicit(&b->producer.rejected_full, memory_order_relaxed);
                atomic_store_explicit(&b->producer.rejected_full, rej + 1, memory_order_relaxed);
            }
            return VX_FULL;
        }
    }
    memcpy(vx_ring_slot(r, head), elem, r->elem_size);
    /* release pairs with the acquire load of head in the consumer functions: the record
     * written above is visible before the consumer can see the new head */
    atomic_store_explicit(&b->producer.head, head + 1, memory_order_release);
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
    vx_ring_block *b = r->block;
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&b->consumer.tail, memory_order_relaxed);
    uint32_t lim = ring_limit(r);
    /* one compare: nothing cached (0 - 1 wraps), more than capacity, or corrupt (lim 0) */
    if (b->consumer.cached_head - tail - 1 >= lim) {
        if (lim == 0) return VX_ECORRUPT;
        /* acquire pairs with the release store of head in the producer functions: every
         * record below head is fully written and visible */
        uint64_t head = atomic_load_explicit(&b->producer.head, memory_order_acquire);
        b->consumer.cached_head = head;
        if (head - tail > r->capacity) return mark_corrupt(r);
        if (head == tail) return VX_EMPTY;
    }
    memcpy(out, vx_ring_slot(r, tail), r->elem_size);
    /* release pairs with the acquire load of tail in the producer functions: the read of
     * the slot above completes before the producer may reuse it */
    atomic_store_explicit(&b->consumer.tail, tail + 1, memory_order_release);
    return VX_OK;
}

vx_status vx_ring_try_pop(vx_ring *r, void *out) {
    VX_RING_ENTER(consumer);
    vx_status st = pop_one_unguarded(r, out);
    VX_RING_LEAVE(consumer);
    return st;
}

/* ---- spans -------------------------------------------------------------------------- */

/* Splits n <= capacity records starting at position index into the run up to the end of the
 * storage and the run that wraps to its start (handle's shape only). */
static void make_span(vx_ring *r, uint64_t index, uint32_t n, vx_ring_span *span) {
    uint32_t at = (uint32_t)(index & r->mask);
    uint32_t to_end = r->capacity - at;
    span->first = r->slots + (size_t)at * r->elem_size;
    span->first_n = n < to_end ? n : to_end;
    span->second_n = n - span->first_n;
    span->second = r->slots;
}

/* Producer: free slots (in [0, capacity]) in *free_n, refreshing cached_tail (acquire) only
 * if the cache says fewer than want are free or is out of range. VX_OK or VX_ECORRUPT. */
static vx_status producer_free(vx_ring *r, uint64_t head, uint32_t want, uint32_t *free_n) {
    vx_ring_block *b = r->block;
    uint32_t lim = ring_limit(r);
    uint64_t used = head - b->producer.cached_tail;
    if (used > lim || lim - used < want) {
        if (lim == 0) return VX_ECORRUPT;
        /* acquire pairs with the release store of tail in vx_ring_try_pop / pop_n / release:
         * slots below the new tail have been read and may be overwritten */
        uint64_t tail = atomic_load_explicit(&b->consumer.tail, memory_order_acquire);
        b->producer.cached_tail = tail;
        used = head - tail;
        if (used > r->capacity) return mark_corrupt(r);
    }
    *free_n = (uint32_t)(r->capacity - used);
    return VX_OK;
}

/* Consumer: readable records (in [0, capacity]) in *ready, refreshing cached_head (acquire)
 * only if the cache says fewer than want or is out of range. VX_OK or VX_ECORRUPT. */
static vx_status consumer_ready(vx_ring *r, uint64_t tail, uint32_t want, uint32_t *ready) {
    vx_ring_block *b = r->block;
    uint32_t lim = ring_limit(r);
    uint64_t n = b->consumer.cached_head - tail;
    if (n > lim || n < want) {
        if (lim == 0) return VX_ECORRUPT;
        /* acquire pairs with the release store of head in vx_ring_try_push / push_n /
         * commit: records below the new head are fully written */
        uint64_t head = atomic_load_explicit(&b->producer.head, memory_order_acquire);
        b->consumer.cached_head = head;
        n = head - tail;
        if (n > r->capacity) return mark_corrupt(r);
    }
    *ready = (uint32_t)n;
    return VX_OK;
}

static void add_rejected(vx_ring *r, uint64_t n) {
    if (n == 0) return;
    /* relaxed load + store: only the producer writes rejected_full (see push_one_unguarded) */
    uint64_t rej = atomic_load_explicit(&r->block->producer.rejected_full, memory_order_relaxed);
    atomic_store_explicit(&r->block->producer.rejected_full, rej + n, memory_order_relaxed);
}

/* ---- batches ------------------------------------------------------------------------ */

static vx_status push_n_unguarded(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed,
                                  int count_full) {
    vx_ring_block *b = r->block;
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&b->producer.head, memory_order_relaxed);
    uint32_t free_n = 0;
    vx_status st = producer_free(r, head, n, &free_n);
    if (st != VX_OK) return st;
    uint32_t k = n < free_n ? n : free_n;
    if (k == 0) {
        if (count_full) add_rejected(r, 1); /* one refused call, not n records */
        return VX_FULL;
    }
    vx_ring_span span;
    make_span(r, head, k, &span);
    size_t es = r->elem_size;
    memcpy(span.first, elems, span.first_n * es);
    if (span.second_n) memcpy(span.second, (const char *)elems + span.first_n * es, span.second_n * es);
    /* release pairs with the acquire load of head in the consumer: all k records are
     * visible before the consumer can see the new head */
    atomic_store_explicit(&b->producer.head, head + k, memory_order_release);
    *pushed = k;
    return VX_OK;
}

vx_status vx_ring_push_n(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed) {
    *pushed = 0;
    if (n == 0) return VX_OK;
    VX_RING_ENTER(producer);
    vx_status st = push_n_unguarded(r, elems, n, pushed, 1);
    VX_RING_LEAVE(producer);
    return st;
}

static vx_status pop_n_unguarded(vx_ring *r, void *out, uint32_t max_n, uint32_t *popped) {
    vx_ring_block *b = r->block;
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&b->consumer.tail, memory_order_relaxed);
    uint32_t ready = 0;
    vx_status st = consumer_ready(r, tail, max_n, &ready);
    if (st != VX_OK) return st;
    uint32_t k = max_n < ready ? max_n : ready;
    if (k == 0) return VX_EMPTY;
    vx_ring_span span;
    make_span(r, tail, k, &span);
    size_t es = r->elem_size;
    memcpy(out, span.first, span.first_n * es);
    if (span.second_n) memcpy((char *)out + span.first_n * es, span.second, span.second_n * es);
    /* release pairs with the acquire load of tail in the producer: the reads above complete
     * before the producer may overwrite these slots */
    atomic_store_explicit(&b->consumer.tail, tail + k, memory_order_release);
    *popped = k;
    return VX_OK;
}

vx_status vx_ring_pop_n(vx_ring *r, void *out, uint32_t max_n, uint32_t *popped) {
    *popped = 0;
    if (max_n == 0) return VX_OK;
    VX_RING_ENTER(consumer);
    vx_status st = pop_n_unguarded(r, out, max_n, popped);
    VX_RING_LEAVE(consumer);
    return st;
}

/* ---- zero-copy ---------------------------------------------------------------------- */

vx_status vx_ring_reserve(vx_ring *r, uint32_t max_n, vx_ring_span *span) {
    span->first = span->second = NULL;
    span->first_n = span->second_n = 0;
    if (max_n == 0) return VX_EINVAL;
    VX_RING_ENTER(producer);
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&r->block->producer.head, memory_order_relaxed);
    uint32_t free_n = 0;
    vx_status st = producer_free(r, head, max_n, &free_n);
    uint32_t k = max_n < free_n ? max_n : free_n;
    if (st != VX_OK || k == 0) {
        VX_RING_LEAVE(producer);
        return st != VX_OK ? st : VX_FULL;
    }
    make_span(r, head, k, span);
    r->block->producer.reserved_n = k; /* debug bookkeeping; the guard stays held until commit */
    return VX_OK;
}

vx_status vx_ring_commit(vx_ring *r, uint32_t n) {
    vx_ring_block *b = r->block;
#ifdef VELOX_DEBUG
    if (b->producer.reserved_n == 0) return n == 0 ? VX_OK : VX_EMISUSE;
    if (n > b->producer.reserved_n) return VX_EMISUSE;
#endif
    /* relaxed: head is written only by this (producer) thread */
    uint64_t head = atomic_load_explicit(&b->producer.head, memory_order_relaxed);
    uint64_t used = head - b->producer.cached_tail;
    if (n && used > r->capacity) { /* the block changed under the reservation */
        b->producer.reserved_n = 0;
#ifdef VELOX_DEBUG
        VX_RING_LEAVE(producer); /* taken by vx_ring_reserve */
#endif
        return mark_corrupt(r);
    }
    if (n > r->capacity - used) return VX_EINVAL;
    b->producer.reserved_n = 0;
    if (n) {
        /* release pairs with the acquire load of head in the consumer: the records written in
         * place are visible before the consumer can see the new head */
        atomic_store_explicit(&b->producer.head, head + n, memory_order_release);
    }
#ifdef VELOX_DEBUG
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
    uint64_t tail = atomic_load_explicit(&r->block->consumer.tail, memory_order_relaxed);
    uint32_t ready = 0;
    vx_status st = consumer_ready(r, tail, max_n, &ready);
    uint32_t k = max_n < ready ? max_n : ready;
    if (st != VX_OK || k == 0) {
        VX_RING_LEAVE(consumer);
        return st != VX_OK ? st : VX_EMPTY;
    }
    make_span(r, tail, k, span);
    r->block->consumer.peeked_n = k; /* debug bookkeeping; the guard stays held until release */
    return VX_OK;
}

vx_status vx_ring_release(vx_ring *r, uint32_t n) {
    vx_ring_block *b = r->block;
#ifdef VELOX_DEBUG
    if (b->consumer.peeked_n == 0) return n == 0 ? VX_OK : VX_EMISUSE;
    if (n > b->consumer.peeked_n) return VX_EMISUSE;
#endif
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&b->consumer.tail, memory_order_relaxed);
    uint64_t ready = b->consumer.cached_head - tail;
    if (n && ready > r->capacity) { /* the block changed under the peek */
        b->consumer.peeked_n = 0;
#ifdef VELOX_DEBUG
        VX_RING_LEAVE(consumer); /* taken by vx_ring_peek */
#endif
        return mark_corrupt(r);
    }
    if (n > ready) return VX_EINVAL;
    b->consumer.peeked_n = 0;
    if (n) {
        /* release pairs with the acquire load of tail in the producer: the in-place reads
         * complete before the producer may overwrite these slots */
        atomic_store_explicit(&b->consumer.tail, tail + n, memory_order_release);
    }
#ifdef VELOX_DEBUG
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
        if (st != VX_FULL) { /* VX_OK or VX_ECORRUPT */
            if (st == VX_OK) b->step = 0;
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
        if (st != VX_EMPTY) { /* VX_OK or VX_ECORRUPT */
            if (st == VX_OK) b->step = 0;
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

vx_status vx_ring_push_n_wait(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed,
                              uint64_t deadline_ns, vx_ring_backoff *b) {
    *pushed = 0;
    if (n == 0) return VX_OK;
    VX_RING_ENTER(producer); /* held for the whole wait (see vx_ring_push_wait) */
    vx_status st = VX_OK;
    const char *src = elems;
    /* Bounded: every pass either takes records (at most n in all) or checks the deadline. */
    while (*pushed < n) {
        uint32_t got = 0;
        st = push_n_unguarded(r, src + (size_t)*pushed * r->elem_size, n - *pushed, &got, 0);
        if (st == VX_OK) {
            *pushed += got;
            b->step = 0;
            continue;
        }
        if (st != VX_FULL) break; /* VX_ECORRUPT */
        if (vx_monotonic_ns() >= deadline_ns) {
            st = VX_TIMEOUT;
            break;
        }
        vx_ring_backoff_pause(b);
    }
    if (*pushed == n) st = VX_OK;
    VX_RING_LEAVE(producer);
    return st;
}

vx_status vx_ring_pop_n_wait(vx_ring *r, void *out, uint32_t max_n, uint32_t min_n,
                             uint32_t *popped, uint64_t deadline_ns, vx_ring_backoff *b) {
    *popped = 0;
    if (max_n == 0) return VX_OK;
    if (min_n == 0 || min_n > max_n || min_n > r->capacity) return VX_EINVAL;
    VX_RING_ENTER(consumer); /* held for the whole wait (see vx_ring_push_wait) */
    /* relaxed: tail is written only by this (consumer) thread */
    uint64_t tail = atomic_load_explicit(&r->block->consumer.tail, memory_order_relaxed);
    vx_status st;
    /* Bounded by the deadline: every pass that finds fewer than min_n checks it. */
    for (;;) {
        uint32_t ready = 0;
        st = consumer_ready(r, tail, min_n, &ready);
        if (st != VX_OK) break; /* VX_ECORRUPT */
        if (ready >= min_n) {
            st = pop_n_unguarded(r, out, max_n, popped);
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
