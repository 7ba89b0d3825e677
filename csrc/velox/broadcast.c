/* velox/broadcast.c — one-writer, many-reader broadcast ring. See broadcast.h for the contract.
 *
 * MEMORY ORDERING (the lap-detection argument)
 *
 * Writer, for record s in slot q = s & mask (sequence word seq[q], payload words p[q][*]):
 *   W1  store(seq[q], 2s+1, relaxed)          "writing s"
 *   W2  atomic_thread_fence(release)
 *   W3  store(p[q][w], ..., relaxed)          for every payload word w
 *   W4  store(seq[q], 2s+2, release)          "s complete"
 *   after a batch: W5 store(head, s+1, release)
 *
 * Reader, for record r in slot q = r & mask:
 *   R0  h = load(head, acquire); r < h
 *   R1  s1 = load(seq[q], acquire); accept only s1 == 2r+2
 *   R2  x[w] = load(p[q][w], relaxed)         the copy
 *   R3  atomic_thread_fence(acquire)          (one per batch, after every copy of the batch)
 *   R4  s2 = load(seq[q], relaxed); accept only s2 == 2r+2 (once per batch, on its first
 *       record: (e))
 *
 * (a) The copy is not older than record r: R1 reads W4 of record r (the only store of 2r+2),
 *     a release/acquire pair, so every W3 of record r happens before R2; R2 reads those
 *     stores or later ones (coherence), never the payload of an earlier record.
 * (b) The copy is not newer than record r (not torn by record r' = r + k*capacity, k >= 1):
 *     suppose some R2 load read a value stored by a W3 of record r'. W2 (of r') is sequenced
 *     before that W3, R3 after that R2: fence-to-fence synchronisation, so W1 of r'
 *     happens before R4. Then R4 reads W1 of r' or a store after it in seq[q]'s modification
 *     order (write-read coherence); the writer stores increasing values, so s2 >= 2r'+1 >
 *     2r+2 and the record is refused. Hence a record accepted by R4 was copied entirely from
 *     record r's stores.
 * (c) R0/R1: W4 of r is sequenced before W5 publishing a head > r, so a reader that saw
 *     h > r by acquire sees seq[q] >= 2r+2 in R1. A value below 2r+2 means another process
 *     wrote the block: VX_ECORRUPT. A value above means the writer moved past r: lapped.
 * (d) Payload words are accessed as relaxed atomics (no data race in the C11 sense, so the
 *     argument holds and ThreadSanitizer agrees); on x86-64 and aarch64 these are plain
 *     loads and stores.
 * (e) One R4 per batch suffices, on the batch's first record c: if any R2 of the batch read a
 *     value stored by a W3 of a later record r' (overwriting record r, c <= r < c + capacity,
 *     so r' >= r + capacity >= c + capacity), then W1 of record c + capacity is sequenced
 *     before W2 of r' (the writer writes records in order), so by the fence synchronisation
 *     of (b) it happens before R4 on c's slot, which then reads 2(c+capacity)+1 or more and
 *     refuses the batch. So a batch whose first slot still says 2c+2 after R3 was copied
 *     entirely from the records it names. A refused batch returns nothing and the reader
 *     laps (as a per-record check would: its first record fails that check too).
 *
 * Gating (registered readers): a reader's cursor store (release, after its copies) pairs with
 * the writer's acquire load in bcast_scan, so the copies of records below that cursor happen
 * before the writer overwrites their slots. The lap checks stay on: a reader that registers
 * while the writer is mid-batch may still be lapped once, and is told so.
 */
#include "velox/broadcast.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "velox/shm.h"
#include "velox/tsc.h"

#define BCAST_CHECK_NS 2000000ull /* gated wait: liveness checks at most this often */

/* ---- shape ------------------------------------------------------------------------------- */

static uint32_t bcast_stride(uint32_t record_size) { return 8u + ((record_size + 7u) & ~7u); }

static uint64_t bcast_slots_offset(uint32_t max_readers) {
    return (uint64_t)(2u + max_readers) * VX_BCAST_LINE;
}

size_t vx_bcast_footprint(uint32_t capacity, uint32_t record_size, uint32_t max_readers) {
    if (capacity < VX_BCAST_MIN_CAPACITY || capacity > VX_BCAST_MAX_CAPACITY ||
        (capacity & (capacity - 1)) != 0 || record_size == 0 ||
        record_size > VX_BCAST_MAX_RECORD_SIZE || max_readers > VX_BCAST_MAX_READERS)
        return 0;
    /* at most 2^30 * (8 + 2^20) + 66 lines: fits 64 bits; refuse what does not fit size_t */
    uint64_t total =
        bcast_slots_offset(max_readers) + (uint64_t)capacity * bcast_stride(record_size);
    if (total > (uint64_t)SIZE_MAX) return 0;
    return (size_t)total;
}

static void bcast_fill(vx_bcast *ring, void *mem, uint32_t capacity, uint32_t record_size,
                       uint32_t max_readers, size_t footprint) {
    memset(ring, 0, sizeof *ring);
    ring->block = mem;
    ring->readers = (char *)mem + 2 * VX_BCAST_LINE;
    ring->slots = (char *)mem + bcast_slots_offset(max_readers);
    ring->capacity = capacity;
    ring->mask = capacity - 1u;
    ring->record_size = record_size;
    ring->stride = bcast_stride(record_size);
    ring->max_readers = max_readers;
    ring->footprint = footprint;
}

vx_status vx_bcast_init_in(vx_bcast *ring, void *mem, size_t mem_size, uint32_t capacity,
                           uint32_t record_size, uint32_t max_readers) {
    size_t need = vx_bcast_footprint(capacity, record_size, max_readers);
    if (ring == NULL || mem == NULL || need == 0 || mem_size < need ||
        ((uintptr_t)mem % VX_BCAST_LINE) != 0)
        return VX_EINVAL;
    memset(mem, 0, need);
    bcast_fill(ring, mem, capacity, record_size, max_readers, need);
    vx_bcast_config *c = &ring->block->config;
    c->version = VX_BCAST_LAYOUT_VERSION;
    c->capacity = capacity;
    c->record_size = record_size;
    c->stride = ring->stride;
    c->max_readers = max_readers;
    c->slots_offset = bcast_slots_offset(max_readers);
    c->footprint = need;
    ring->limit = capacity; /* no registered reader yet: rescan after a capacity */
    /* pairs with the acquire load of magic in vx_bcast_attach */
    atomic_store_explicit(&c->magic, VX_BCAST_MAGIC, memory_order_release);
    return VX_OK;
}

vx_status vx_bcast_attach(vx_bcast *ring, void *mem, size_t mem_size, uint32_t record_size) {
    if (ring == NULL || mem == NULL || ((uintptr_t)mem % VX_BCAST_LINE) != 0) return VX_EINVAL;
    if (mem_size < sizeof(vx_bcast_block)) return VX_ESTATE;
    vx_bcast_block *b = mem;
    /* pairs with the release store of magic in vx_bcast_init_in */
    if (atomic_load_explicit(&b->config.magic, memory_order_acquire) != VX_BCAST_MAGIC)
        return VX_ESTATE;
    vx_bcast_config c;
    memcpy(&c.version, &b->config.version, sizeof c - offsetof(vx_bcast_config, version));
    /* one private copy, validated field by field: nothing is re-read from the block */
    size_t need = vx_bcast_footprint(c.capacity, c.record_size, c.max_readers);
    if (c.version != VX_BCAST_LAYOUT_VERSION || need == 0 || need > mem_size ||
        c.footprint != need || c.stride != bcast_stride(c.record_size) ||
        c.slots_offset != bcast_slots_offset(c.max_readers) ||
        (record_size != 0 && c.record_size != record_size))
        return VX_ESTATE;
    bcast_fill(ring, mem, c.capacity, c.record_size, c.max_readers, need);
    ring->head = vx_bcast_head(ring);
    return VX_OK;
}

uint64_t vx_bcast_head(const vx_bcast *ring) {
    /* pairs with the release store of head in bcast_write (W5) */
    return atomic_load_explicit(&ring->block->writer.head, memory_order_acquire);
}

static inline _Atomic uint64_t *bcast_seq(const vx_bcast *ring, uint64_t s) {
    return (_Atomic uint64_t *)(ring->slots + (s & ring->mask) * ring->stride);
}

static inline vx_bcast_reader_slot *bcast_rslot(const vx_bcast *ring, uint32_t i) {
    return (vx_bcast_reader_slot *)(ring->readers + (size_t)i * VX_BCAST_LINE);
}

/* ---- writer ------------------------------------------------------------------------------ */

/* Record sizes whose copy loops are compiled with the size as a constant (the word loops
 * unroll): 8 to 64 bytes in steps of 8; other sizes take the same code with a variable size. */
#define BCAST_SIZE_CASES(X) X(8) X(16) X(24) X(32) X(40) X(48) X(56) X(64)

/* ThreadSanitizer builds keep the write run out of line: gcc refuses an inlined copy of a
 * function that holds atomic_thread_fence under -fsanitize=thread (-Wtsan). */
#if defined(__SANITIZE_THREAD__)
#define BCAST_WRITE_RUN static __attribute__((noinline))
#else
#define BCAST_WRITE_RUN static inline
#endif

/* W1-W4 for records s, s+1, ... in consecutive slots from `slot` (no wrap inside a run). */
BCAST_WRITE_RUN void
bcast_write_run(char *slot, const char *src, uint64_t s, size_t n, uint32_t rs) {
    const uint32_t full = rs / 8u, tail = rs % 8u, stride = 8u + ((rs + 7u) & ~7u);
    for (size_t i = 0; i < n; i++, s++, src += rs, slot += stride) { /* bounded by n */
        _Atomic uint64_t *seq = (_Atomic uint64_t *)(void *)slot;
        _Atomic uint64_t *p = seq + 1;
        /* W1: relaxed; ordered before the payload by the fence W2 (argument at the top) */
        atomic_store_explicit(seq, 2 * s + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release); /* W2: pairs with the reader's fence R3 */
#pragma GCC unroll 8
        for (uint32_t w = 0; w < full; w++) {      /* bounded by the record's words */
            uint64_t v;
            memcpy(&v, src + (size_t)w * 8u, 8);
            atomic_store_explicit(&p[w], v, memory_order_relaxed); /* W3: read by R2 */
        }
        if (tail) {
            uint64_t v = 0;
            memcpy(&v, src + (size_t)full * 8u, tail);
            atomic_store_explicit(&p[full], v, memory_order_relaxed); /* W3: read by R2 */
        }
        /* W4: pairs with the reader's acquire load R1 */
        atomic_store_explicit(seq, 2 * s + 2, memory_order_release);
    }
}

static void bcast_write_slots(char *slot, const char *src, uint64_t s, size_t n, uint32_t rs) {
#define BCAST_WRITE_CASE(N) \
    case N: bcast_write_run(slot, src, s, n, N); return;
    switch (rs) {
    BCAST_SIZE_CASES(BCAST_WRITE_CASE)
    default: bcast_write_run(slot, src, s, n, rs); return;
    }
#undef BCAST_WRITE_CASE
}

static void bcast_write(vx_bcast *ring, const char *src, size_t n) {
    uint64_t s = ring->head;
    /* bounded: each turn writes at least one record (a run ends at the ring's end) */
    while (n > 0) {
        uint64_t q = s & ring->mask;
        size_t run = ring->capacity - q < n ? (size_t)(ring->capacity - q) : n;
        bcast_write_slots(ring->slots + q * ring->stride, src, s, run, ring->record_size);
        s += run;
        src += run * ring->record_size;
        n -= run;
    }
    ring->head = s;
    /* W5: pairs with the acquire loads of head (R0, vx_bcast_head) */
    atomic_store_explicit(&ring->block->writer.head, s, memory_order_release);
}

/* Gated: the lowest valid registered cursor, or the head if none. */
static uint64_t bcast_scan(vx_bcast *ring) {
    uint64_t head = ring->head, low = head;
    uint64_t floor = head > ring->capacity ? head - ring->capacity : 0;
    for (uint32_t i = 0; i < ring->max_readers; i++) { /* bounded by the table */
        vx_bcast_reader_slot *rs = bcast_rslot(ring, i);
        /* pairs with the release CAS in vx_bcast_reader_register */
        if (atomic_load_explicit(&rs->owner, memory_order_acquire) == 0) continue;
        /* pairs with the reader's release store of its cursor (bcast_publish) */
        uint64_t c = atomic_load_explicit(&rs->cursor, memory_order_acquire);
        if (c > head || c < floor) continue; /* validated: outside the ring holds nobody */
        if (c < low) low = c;
    }
    return low;
}

vx_status vx_bcast_try_write(vx_bcast *ring, const void *src, size_t n, size_t *written) {
    *written = 0;
    if (n == 0) return VX_OK;
    if (ring->max_readers == 0) {
        bcast_write(ring, src, n);
        *written = n;
        return VX_OK;
    }
    if (ring->limit - ring->head < n) ring->limit = bcast_scan(ring) + ring->capacity;
    uint64_t room = ring->limit - ring->head;
    size_t k = room < n ? (size_t)room : n;
    if (k == 0) {
        atomic_fetch_add_explicit(&ring->block->writer.gate_waits, 1, memory_order_relaxed);
        return VX_FULL;
    }
    bcast_write(ring, src, k);
    *written = k;
    return VX_OK;
}

/* Gated wait: frees the slots of blocking readers that are dead or stuck. */
static void bcast_evict(vx_bcast *ring, uint64_t now, uint64_t dead_timeout_ns) {
    uint64_t head = ring->head;
    uint64_t floor = head > ring->capacity ? head - ring->capacity : 0;
    for (uint32_t i = 0; i < ring->max_readers; i++) { /* bounded by the table */
        vx_bcast_reader_slot *rs = bcast_rslot(ring, i);
        uint64_t owner = atomic_load_explicit(&rs->owner, memory_order_acquire); /* as scan */
        if (owner == 0) continue;
        uint64_t c = atomic_load_explicit(&rs->cursor, memory_order_acquire); /* as scan */
        if (c != floor) continue; /* not the one holding the writer */
        int evict = vx_shm_identity_state(owner) == VX_SHM_PEER_DEAD; /* gone, zombie, reused */
        if (!evict) {
            if (ring->seen_cursor[i] != c + 1) { /* +1: 0 means "not seen" */
                ring->seen_cursor[i] = c + 1;
                ring->seen_since[i] = now;
            } else if (dead_timeout_ns != 0 && now - ring->seen_since[i] >= dead_timeout_ns) {
                evict = 1;
            }
        }
        /* acq_rel: the reader's unregister/register CAS orders against this one */
        if (evict && atomic_compare_exchange_strong_explicit(&rs->owner, &owner, 0,
                                                             memory_order_acq_rel,
                                                             memory_order_relaxed)) {
            atomic_fetch_add_explicit(&ring->block->writer.evicted, 1, memory_order_relaxed);
            ring->seen_cursor[i] = 0;
        }
    }
}

static void bcast_nap(uint32_t *step) {
    if (*step < 8) {
        for (uint32_t i = 0; i < (1u << *step); i++) vx_cpu_relax(); /* bounded: <= 128 */
    } else if (*step < 24) {
        sched_yield();
    } else {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    if (*step < 24) (*step)++;
}

vx_status vx_bcast_write_wait(vx_bcast *ring, const void *src, size_t n, uint64_t deadline_ns,
                              uint64_t dead_timeout_ns, size_t *written) {
    const char *p = src;
    size_t done = 0, k = 0;
    uint32_t step = 0;
    uint64_t next_check = 0;
    *written = 0;
    for (;;) { /* bounded by the deadline */
        vx_bcast_try_write(ring, p + done * ring->record_size, n - done, &k);
        done += k;
        *written = done;
        if (done == n) return VX_OK;
        if (k) step = 0;
        uint64_t now = vx_monotonic_ns();
        if (now >= deadline_ns) return VX_TIMEOUT;
        if (now >= next_check) {
            bcast_evict(ring, now, dead_timeout_ns);
            ring->limit = ring->head; /* force a rescan */
            next_check = now + BCAST_CHECK_NS;
        }
        bcast_nap(&step);
    }
}

uint64_t vx_bcast_evicted(const vx_bcast *ring) {
    /* relaxed: a counter */
    return atomic_load_explicit(&ring->block->writer.evicted, memory_order_relaxed);
}

uint64_t vx_bcast_gate_waits(const vx_bcast *ring) {
    /* relaxed: a counter */
    return atomic_load_explicit(&ring->block->writer.gate_waits, memory_order_relaxed);
}

uint32_t vx_bcast_registered(const vx_bcast *ring) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < ring->max_readers; i++) /* bounded by the table */
        /* relaxed: a snapshot */
        k += atomic_load_explicit(&bcast_rslot(ring, i)->owner, memory_order_relaxed) != 0;
    return k;
}

/* ---- readers ----------------------------------------------------------------------------- */

void vx_bcast_reader_init(vx_bcast_reader *rd, const vx_bcast *ring, int from_oldest) {
    memset(rd, 0, sizeof *rd);
    rd->ring = ring;
    rd->slot = -1;
    uint64_t head = vx_bcast_head(ring);
    rd->cursor = from_oldest ? (head > ring->capacity ? head - ring->capacity : 0) : head;
    rd->start = rd->cursor;
}

static void bcast_publish(vx_bcast_reader *rd) {
    if (rd->slot < 0) return;
    vx_bcast_reader_slot *rs = bcast_rslot(rd->ring, (uint32_t)rd->slot);
    /* pairs with the writer's CAS in bcast_evict: an evicted reader stops publishing */
    if (atomic_load_explicit(&rs->owner, memory_order_acquire) != rd->identity) {
        rd->slot = -1;
        rd->identity = 0;
        return;
    }
    /* pairs with the writer's acquire load in bcast_scan: our copies happen before the
     * writer reuses these slots */
    atomic_store_explicit(&rs->cursor, rd->cursor, memory_order_release);
}

/* Skips to the oldest record still in the ring after a lap at rd->cursor. */
static void bcast_lap(vx_bcast_reader *rd, uint64_t head) {
    uint64_t oldest = head > rd->ring->capacity ? head - rd->ring->capacity : 0;
    uint64_t target = oldest > rd->cursor ? oldest : rd->cursor + 1; /* progress: r is gone */
    rd->lost += target - rd->cursor;
    rd->lapped++;
    rd->cursor = target;
}

/* R1 and R2 for records r, r+1, ... in consecutive slots from `slot` (no wrap inside a run):
 * copies each record whose slot says it is complete, stops at the first that does not (and
 * marks the reader corrupt if no writer can have stored what it says). Returns the number
 * copied. */
static inline size_t
bcast_copy_run(const char *slot, char *o, uint64_t r, size_t k, uint32_t rs, int32_t *corrupt) {
    const uint32_t full = rs / 8u, tail = rs % 8u, stride = 8u + ((rs + 7u) & ~7u);
    size_t i = 0;
    for (; i < k; i++, r++, slot += stride, o += rs) { /* bounded by k */
        const _Atomic uint64_t *seq = (const _Atomic uint64_t *)(const void *)slot;
        /* R1: pairs with the writer's release store W4 */
        uint64_t s1 = atomic_load_explicit(seq, memory_order_acquire);
        if (s1 != 2 * r + 2) {
            if (s1 < 2 * r + 2) *corrupt = 1; /* (c): no writer stores that */
            break;
        }
        const _Atomic uint64_t *p = seq + 1;
#pragma GCC unroll 8
        for (uint32_t w = 0; w < full; w++) { /* bounded by the record's words */
            uint64_t v = atomic_load_explicit(&p[w], memory_order_relaxed); /* R2 */
            memcpy(o + (size_t)w * 8u, &v, 8);
        }
        if (tail) {
            uint64_t v = atomic_load_explicit(&p[full], memory_order_relaxed); /* R2 */
            memcpy(o + (size_t)full * 8u, &v, tail);
        }
    }
    return i;
}

static size_t bcast_copy_slots(const char *slot, char *o, uint64_t r, size_t k, uint32_t rs,
                               int32_t *corrupt) {
#define BCAST_COPY_CASE(N) \
    case N: return bcast_copy_run(slot, o, r, k, N, corrupt);
    switch (rs) {
    BCAST_SIZE_CASES(BCAST_COPY_CASE)
    default: return bcast_copy_run(slot, o, r, k, rs, corrupt);
    }
#undef BCAST_COPY_CASE
}

/* R1 and R2 for records cursor .. cursor+k-1 (k <= capacity, so at most one wrap): the
 * number copied before the first record whose slot did not hold it. */
static size_t bcast_copy(const vx_bcast *ring, uint64_t cursor, char *o, size_t k,
                         int32_t *corrupt) {
    uint64_t q = cursor & ring->mask;
    size_t first = ring->capacity - q < k ? (size_t)(ring->capacity - q) : k;
    const char *slot = ring->slots + q * ring->stride;
    size_t copied = bcast_copy_slots(slot, o, cursor, first, ring->record_size, corrupt);
    if (copied < first || first == k) return copied;
    return copied + bcast_copy_slots(ring->slots, o + first * ring->record_size, cursor + first,
                                     k - first, ring->record_size, corrupt);
}

vx_status vx_bcast_read(vx_bcast_reader *rd, void *dst, size_t max, size_t *got) {
    const vx_bcast *ring = rd->ring;
    char *out = dst;
    size_t n_out = 0;
    uint32_t rs = ring->record_size;
    *got = 0;
    if (rd->corrupt) return VX_ECORRUPT;
    for (uint32_t attempt = 0; attempt < VX_BCAST_LAP_RETRIES && n_out < max; attempt++) {
        uint64_t head = vx_bcast_head(ring); /* R0 */
        if (head < rd->cursor) { /* the writer's head never goes back */
            rd->corrupt = 1;
            break;
        }
        if (head == rd->cursor) break;
        if (head - rd->cursor > ring->capacity) bcast_lap(rd, head);
        uint64_t avail = head - rd->cursor;
        size_t k = avail < (uint64_t)(max - n_out) ? (size_t)avail : max - n_out;
        size_t copied = bcast_copy(ring, rd->cursor, out + n_out * rs, k, &rd->corrupt);
        atomic_thread_fence(memory_order_acquire); /* R3: pairs with the writer's fence W2 */
        /* R4 for the whole batch, on its first record only (argument (e) at the top): relaxed,
         * ordered after every copy of the batch by R3 */
        size_t ok = copied > 0 && atomic_load_explicit(bcast_seq(ring, rd->cursor),
                                                       memory_order_relaxed) == 2 * rd->cursor + 2
                        ? copied
                        : 0;
        rd->cursor += ok;
        rd->read += ok;
        n_out += ok;
        if (rd->corrupt) break;
        if (ok < k) bcast_lap(rd, vx_bcast_head(ring)); /* overwritten before or during copy */
    }
    bcast_publish(rd);
    *got = n_out;
    if (rd->corrupt && n_out == 0) return VX_ECORRUPT;
    return n_out ? VX_OK : VX_EMPTY;
}

vx_status vx_bcast_read_wait(vx_bcast_reader *rd, void *dst, size_t max, uint64_t deadline_ns,
                             size_t *got) {
    uint32_t step = 0;
    for (;;) { /* bounded by the deadline */
        vx_status st = vx_bcast_read(rd, dst, max, got);
        if (st != VX_EMPTY || max == 0) return st;
        if (vx_monotonic_ns() >= deadline_ns) return VX_TIMEOUT;
        bcast_nap(&step);
    }
}

vx_status vx_bcast_reader_register(vx_bcast_reader *rd, uint64_t identity) {
    const vx_bcast *ring = rd->ring;
    if (identity == 0 || ring->max_readers == 0) return VX_ESTATE;
    if (rd->slot >= 0) return VX_OK;
    for (uint32_t i = 0; i < ring->max_readers; i++) { /* bounded by the table */
        vx_bcast_reader_slot *rs = bcast_rslot(ring, i);
        uint64_t expect = 0;
        /* acq_rel: pairs with the writer's acquire load of owner in bcast_scan / evict */
        if (!atomic_compare_exchange_strong_explicit(&rs->owner, &expect, identity,
                                                     memory_order_acq_rel, memory_order_relaxed))
            continue;
        uint64_t head = vx_bcast_head(ring);
        if (head - rd->cursor >= ring->capacity) { /* too far behind to be held: start anew */
            rd->lost += head - rd->cursor;
            if (head != rd->cursor) rd->lapped++;
            rd->cursor = head;
        }
        rd->slot = (int32_t)i;
        rd->identity = identity;
        /* pairs with the writer's acquire load of cursor in bcast_scan */
        atomic_store_explicit(&rs->cursor, rd->cursor, memory_order_release);
        return VX_OK;
    }
    return VX_ESTATE;
}

void vx_bcast_reader_unregister(vx_bcast_reader *rd) {
    if (rd->slot < 0) return;
    vx_bcast_reader_slot *rs = bcast_rslot(rd->ring, (uint32_t)rd->slot);
    uint64_t expect = rd->identity;
    /* release: our copies happen before the writer's next overwrite (pairs with its acquire) */
    atomic_compare_exchange_strong_explicit(&rs->owner, &expect, 0, memory_order_acq_rel,
                                            memory_order_relaxed);
    rd->slot = -1;
    rd->identity = 0;
}

int vx_bcast_reader_registered(const vx_bcast_reader *rd) {
    if (rd->slot < 0) return 0;
    /* relaxed: a snapshot for the caller */
    return atomic_load_explicit(&bcast_rslot(rd->ring, (uint32_t)rd->slot)->owner,
                                memory_order_relaxed) == rd->identity;
}

/* ---- shared memory ----------------------------------------------------------------------- */

VX_SHM_SEGMENT_HEADER_ASSERT(vx_bcast_shm_header);
_Static_assert(sizeof(((vx_bcast_shm_header *)0)->dtype) == VX_SHM_DTYPE_MAX, "dtype field");

/* The broadcast segment for shm_segment.c: the whole header is the private copy. */
static const vx_shm_segment_kind bcast_kind = {
    VX_BCAST_SHM_MAGIC, VX_BCAST_LAYOUT_VERSION, VX_BCAST_SHM_BLOCK,
    (uint32_t)offsetof(vx_bcast_shm_header, state), (uint32_t)sizeof(vx_bcast_shm_header)};

/* vx_bcast_shm.fault's text for each fault (static strings). */
static const char *bcast_fault_text(vx_shm_fault fault) {
    switch (fault) {
    case VX_SHM_FAULT_NONE: return NULL;
    case VX_SHM_FAULT_NAME: return "invalid segment name";
    case VX_SHM_FAULT_ARGUMENT: return "argument out of range";
    case VX_SHM_FAULT_SYSTEM: return "operating system call failed";
    case VX_SHM_FAULT_NOT_READY: return "creator did not finish initialising";
    case VX_SHM_FAULT_TOO_SMALL: return "segment smaller than the header";
    case VX_SHM_FAULT_MAGIC: return "bad magic: not a velox broadcast segment, or corrupted";
    case VX_SHM_FAULT_VERSION: return "segment written by another layout version";
    case VX_SHM_FAULT_HEADER: return "inconsistent header sizes (corrupt segment)";
    case VX_SHM_FAULT_DTYPE: return "dtype description not terminated (corrupt segment)";
    case VX_SHM_FAULT_RECORD_SIZE: return "record size differs from the expected one";
    case VX_SHM_FAULT_RING: return "broadcast block disagrees with the segment header";
    }
    return "unknown fault";
}

static vx_status bcast_fail(vx_bcast_shm *shm, vx_status st, vx_shm_fault fault, int err) {
    shm->fault = bcast_fault_text(fault);
    shm->sys_errno = err;
    return st;
}

vx_status vx_bcast_shm_create(vx_bcast_shm *shm, const char *name, uint32_t capacity,
                              uint32_t record_size, uint32_t max_readers, const char *dtype,
                              size_t dtype_len) {
    memset(shm, 0, sizeof *shm);
    if (!vx_shm_name_valid(name)) return bcast_fail(shm, VX_EINVAL, VX_SHM_FAULT_NAME, 0);
    size_t block = vx_bcast_footprint(capacity, record_size, max_readers);
    if (block == 0 || dtype == NULL || dtype_len >= sizeof shm->dtype ||
        memchr(dtype, '\0', dtype_len) != NULL || block > SIZE_MAX - VX_BCAST_SHM_BLOCK)
        return bcast_fail(shm, VX_EINVAL, VX_SHM_FAULT_ARGUMENT, 0);
    size_t total = VX_BCAST_SHM_BLOCK + block;
    vx_shm_segment seg;
    vx_shm_fault fault = VX_SHM_FAULT_NONE;
    int err = 0;
    vx_status st = vx_shm_segment_create(&seg, name, total, &fault, &err);
    if (st != VX_OK) return bcast_fail(shm, st, fault, err);
    vx_bcast_shm_header *h = seg.base;
    h->creator_identity = vx_shm_identity(getpid());
    h->magic = VX_BCAST_SHM_MAGIC;
    h->layout_version = VX_BCAST_LAYOUT_VERSION;
    h->header_size = VX_BCAST_SHM_BLOCK;
    h->segment_size = total;
    h->block_size = block;
    h->capacity = capacity;
    h->record_size = record_size;
    h->max_readers = max_readers;
    h->dtype_len = (uint32_t)dtype_len;
    h->creator_pid = (int32_t)getpid();
    memcpy(h->dtype, dtype, dtype_len);
    h->dtype[dtype_len] = '\0';
    vx_bcast_init_in(&shm->ring, (char *)seg.base + VX_BCAST_SHM_BLOCK, block, capacity,
                     record_size, max_readers);
    vx_shm_segment_publish(&seg, &bcast_kind); /* READY, last */
    shm->header = h;
    shm->mapped_size = total;
    shm->dtype_len = (uint32_t)dtype_len;
    memcpy(shm->dtype, h->dtype, dtype_len + 1);
    return VX_OK;
}

/* The broadcast ring's own checks of a private copy whose common words shm_segment.c
 * validated; the block's own header is checked by vx_bcast_attach. */
static vx_shm_fault bcast_validate(const vx_bcast_shm_header *h, uint32_t record_size) {
    size_t block = vx_bcast_footprint(h->capacity, h->record_size, h->max_readers);
    if (block == 0 || h->block_size != block || h->segment_size != VX_BCAST_SHM_BLOCK + block)
        return VX_SHM_FAULT_HEADER;
    if (!vx_shm_segment_dtype_valid(h->dtype, sizeof h->dtype, h->dtype_len))
        return VX_SHM_FAULT_DTYPE;
    if (record_size != 0 && h->record_size != record_size) return VX_SHM_FAULT_RECORD_SIZE;
    return VX_SHM_FAULT_NONE;
}

vx_status vx_bcast_shm_attach(vx_bcast_shm *shm, const char *name, uint32_t record_size,
                              uint64_t wait_ns) {
    memset(shm, 0, sizeof *shm);
    vx_bcast_shm_header snap; /* validated privately: the peer may rewrite the mapping */
    vx_shm_segment seg;
    vx_shm_fault fault = VX_SHM_FAULT_NONE;
    int err = 0;
    vx_status st = vx_shm_segment_attach(&seg, name, &bcast_kind, wait_ns, &snap, &fault, &err);
    if (st != VX_OK) return bcast_fail(shm, st, fault, err);
    fault = bcast_validate(&snap, record_size);
    if (fault == VX_SHM_FAULT_NONE &&
        (vx_bcast_attach(&shm->ring, (char *)seg.base + VX_BCAST_SHM_BLOCK,
                         (size_t)snap.block_size, snap.record_size) != VX_OK ||
         shm->ring.capacity != snap.capacity || shm->ring.max_readers != snap.max_readers))
        fault = VX_SHM_FAULT_RING;
    if (fault != VX_SHM_FAULT_NONE) {
        vx_shm_segment_unmap(&seg);
        memset(&shm->ring, 0, sizeof shm->ring);
        return bcast_fail(shm, VX_ESTATE, fault, 0);
    }
    shm->header = seg.base;
    shm->mapped_size = seg.size;
    shm->dtype_len = snap.dtype_len;
    memcpy(shm->dtype, snap.dtype, sizeof shm->dtype);
    return VX_OK;
}

vx_status vx_bcast_shm_detach(vx_bcast_shm *shm) {
    if (shm->header == NULL) return VX_OK;
    vx_shm_segment seg = {shm->header, shm->mapped_size};
    vx_status st = vx_shm_segment_unmap(&seg);
    shm->header = NULL;
    memset(&shm->ring, 0, sizeof shm->ring);
    shm->mapped_size = 0;
    if (st != VX_OK) return bcast_fail(shm, VX_ESYS, VX_SHM_FAULT_SYSTEM, errno);
    return VX_OK;
}
