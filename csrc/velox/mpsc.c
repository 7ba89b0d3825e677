/* velox/mpsc.c — bounded MPSC ring, in process or in shared memory. See mpsc.h. */
#include "velox/mpsc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "velox/backoff.h"
#include "velox/tsc.h"

#define MPSC_PID_MASK 0xFFFFFFFFull

static inline vx_mpsc_slot *mpsc_slot(const vx_mpsc *q, uint64_t pos) {
    return (vx_mpsc_slot *)(q->slots + (size_t)(pos & q->mask) * q->slot_size);
}

static inline uint32_t mpsc_slot_size(uint32_t record_size) {
    return (uint32_t)sizeof(vx_mpsc_slot) + ((record_size + 7u) & ~7u);
}

size_t vx_mpsc_footprint(uint32_t capacity, uint32_t record_size) {
    if (capacity < 2 || capacity > VX_MPSC_MAX_CAPACITY || (capacity & (capacity - 1)) != 0)
        return 0;
    if (record_size < 1 || record_size > VX_MPSC_MAX_RECORD_SIZE) return 0;
    uint64_t bytes = (uint64_t)capacity * mpsc_slot_size(record_size);
    if (bytes > (uint64_t)SIZE_MAX - sizeof(vx_mpsc_header)) return 0;
    return sizeof(vx_mpsc_header) + (size_t)bytes;
}

/* Writes line 0 and the slots' sequences (seq == position for the first lap). The caller
 * publishes READY. */
static void mpsc_init_block(vx_mpsc_header *h, size_t total, uint32_t capacity,
                            uint32_t record_size, const char *dtype, size_t dtype_len) {
    h->creator_identity = vx_shm_identity(getpid());
    h->magic = VX_MPSC_MAGIC;
    h->layout_version = VX_MPSC_LAYOUT_VERSION;
    h->header_size = (uint32_t)sizeof(vx_mpsc_header);
    h->segment_size = total;
    h->slots_offset = sizeof(vx_mpsc_header);
    h->capacity = capacity;
    h->record_size = record_size;
    h->slot_size = mpsc_slot_size(record_size);
    h->dtype_len = (uint32_t)dtype_len;
    h->creator_pid = (int32_t)getpid();
    if (dtype_len) memcpy(h->dtype, dtype, dtype_len);
    h->dtype[dtype_len] = '\0';
    char *slots = (char *)h + sizeof(vx_mpsc_header);
    for (uint64_t i = 0; i < capacity; i++) { /* bounded: capacity */
        vx_mpsc_slot *s = (vx_mpsc_slot *)(slots + i * h->slot_size);
        /* relaxed: published by the release store of READY (or, in process, by the
         * construction happening before any thread is handed the handle) */
        atomic_store_explicit(&s->seq, i, memory_order_relaxed);
        atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
    }
}

static void mpsc_fill_handle(vx_mpsc *q, vx_mpsc_header *h, uint64_t capacity,
                             uint32_t record_size, int consumer, uint64_t stall_timeout_ns) {
    q->header = h;
    q->slots = (char *)h + sizeof(vx_mpsc_header);
    q->capacity = capacity;
    q->mask = capacity - 1;
    q->record_size = record_size;
    q->slot_size = mpsc_slot_size(record_size);
    q->is_consumer = consumer;
    q->identity = vx_shm_identity(getpid());
    q->consumer_identity = consumer ? q->identity : 0;
    q->stall_timeout_ns = stall_timeout_ns;
    q->stall_pos = UINT64_MAX;
    q->reclaim_pos = UINT64_MAX;
    q->stalled_owner = 0;
    q->corrupt = 0;
    atomic_store_explicit(&q->consumer_busy, 0, memory_order_relaxed);
}

static vx_status mpsc_fail(vx_mpsc *q, vx_status st, vx_shm_fault fault, int err) {
    q->fault = fault;
    q->sys_errno = err;
    return st;
}

vx_status vx_mpsc_create(vx_mpsc *q, uint32_t capacity, uint32_t record_size,
                         uint64_t stall_timeout_ns) {
    memset(q, 0, sizeof *q);
    size_t total = vx_mpsc_footprint(capacity, record_size);
    if (total == 0) return mpsc_fail(q, VX_EINVAL, VX_SHM_FAULT_ARGUMENT, 0);
    void *mem = aligned_alloc(VX_MPSC_LINE, (total + VX_MPSC_LINE - 1) / VX_MPSC_LINE * VX_MPSC_LINE);
    if (mem == NULL) return mpsc_fail(q, VX_ENOMEM, VX_SHM_FAULT_SYSTEM, ENOMEM);
    memset(mem, 0, total);
    mpsc_init_block(mem, total, capacity, record_size, "", 0);
    /* release: pairs with nothing across processes; the handle is handed to other threads by
     * the caller (a happens-before edge of its own) */
    atomic_store_explicit(&((vx_mpsc_header *)mem)->state, VX_SHM_READY, memory_order_release);
    mpsc_fill_handle(q, mem, capacity, record_size, 1, stall_timeout_ns);
    return VX_OK;
}

void vx_mpsc_destroy(vx_mpsc *q) {
    if (q->header != NULL && q->mapped_size == 0) free(q->header);
    q->header = NULL;
}

VX_SHM_SEGMENT_HEADER_ASSERT(vx_mpsc_header);

/* The MPSC segment for shm_segment.c: line 0 and the dtype text are the private copy. */
static const vx_shm_segment_kind mpsc_kind = {
    VX_MPSC_MAGIC, VX_MPSC_LAYOUT_VERSION, (uint32_t)sizeof(vx_mpsc_header),
    (uint32_t)offsetof(vx_mpsc_header, state), (uint32_t)offsetof(vx_mpsc_header, head)};

vx_status vx_mpsc_shm_create(vx_mpsc *q, const char *name, uint32_t capacity,
                             uint32_t record_size, const char *dtype, size_t dtype_len,
                             uint64_t stall_timeout_ns) {
    memset(q, 0, sizeof *q);
    if (!vx_shm_name_valid(name)) return mpsc_fail(q, VX_EINVAL, VX_SHM_FAULT_NAME, 0);
    size_t total = vx_mpsc_footprint(capacity, record_size);
    if (total == 0 || dtype == NULL || dtype_len >= VX_SHM_DTYPE_MAX ||
        memchr(dtype, '\0', dtype_len) != NULL)
        return mpsc_fail(q, VX_EINVAL, VX_SHM_FAULT_ARGUMENT, 0);
    vx_shm_segment seg;
    vx_status st = vx_shm_segment_create(&seg, name, total, &q->fault, &q->sys_errno);
    if (st != VX_OK) return st;
    vx_mpsc_header *h = seg.base;
    mpsc_init_block(h, total, capacity, record_size, dtype, dtype_len);
    vx_shm_segment_publish(&seg, &mpsc_kind); /* READY, last */
    mpsc_fill_handle(q, h, capacity, record_size, 1, stall_timeout_ns);
    q->mapped_size = total;
    q->dtype_len = (uint32_t)dtype_len;
    memcpy(q->dtype, dtype, dtype_len);
    q->dtype[dtype_len] = '\0';
    return VX_OK;
}

/* The MPSC ring's own checks of a private copy whose common words shm_segment.c validated. */
static vx_shm_fault mpsc_validate(const vx_mpsc_header *h, uint32_t expected_record_size) {
    if (h->slots_offset != sizeof(vx_mpsc_header)) return VX_SHM_FAULT_HEADER;
    size_t expect = h->capacity > VX_MPSC_MAX_CAPACITY || h->record_size > VX_MPSC_MAX_RECORD_SIZE
                        ? 0
                        : vx_mpsc_footprint((uint32_t)h->capacity, h->record_size);
    if (expect == 0 || h->segment_size != expect ||
        h->slot_size != mpsc_slot_size(h->record_size))
        return VX_SHM_FAULT_HEADER;
    if (!vx_shm_segment_dtype_valid(h->dtype, sizeof h->dtype, h->dtype_len))
        return VX_SHM_FAULT_DTYPE;
    if (expected_record_size != 0 && h->record_size != expected_record_size)
        return VX_SHM_FAULT_RECORD_SIZE;
    return VX_SHM_FAULT_NONE;
}

vx_status vx_mpsc_shm_attach(vx_mpsc *q, const char *name, uint32_t expected_record_size,
                             uint64_t wait_ns) {
    memset(q, 0, sizeof *q);
    vx_mpsc_header snap; /* line 0 and the dtype text: validated and kept privately */
    vx_shm_segment seg;
    vx_status st =
        vx_shm_segment_attach(&seg, name, &mpsc_kind, wait_ns, &snap, &q->fault, &q->sys_errno);
    if (st != VX_OK) return st;
    vx_shm_fault fault = mpsc_validate(&snap, expected_record_size);
    if (fault != VX_SHM_FAULT_NONE) {
        vx_shm_segment_unmap(&seg);
        return mpsc_fail(q, VX_ESTATE, fault, 0);
    }
    mpsc_fill_handle(q, seg.base, snap.capacity, snap.record_size, 0, 0);
    q->mapped_size = seg.size;
    q->dtype_len = snap.dtype_len;
    memcpy(q->dtype, snap.dtype, sizeof q->dtype);
    q->consumer_identity = snap.creator_identity;
    return VX_OK;
}

vx_status vx_mpsc_shm_detach(vx_mpsc *q) {
    if (q->header == NULL || q->mapped_size == 0) return VX_OK;
    vx_shm_segment seg = {q->header, q->mapped_size};
    vx_status st = vx_shm_segment_unmap(&seg);
    q->header = NULL;
    q->mapped_size = 0;
    return st == VX_OK ? VX_OK : mpsc_fail(q, VX_ESYS, VX_SHM_FAULT_SYSTEM, errno);
}

int vx_mpsc_consumer_gone(const vx_mpsc *q) {
    uint64_t creator = q->consumer_identity;
    if (creator == 0) return 0;
    return vx_shm_identity((pid_t)(creator & MPSC_PID_MASK)) != creator;
}

/* ---- producer ---------------------------------------------------------------------------- */

vx_status vx_mpsc_claim_n(vx_mpsc *q, uint32_t n, vx_mpsc_claim *claim) {
    claim->pos = 0;
    claim->n = 0;
    if (n == 0 || n > q->capacity) return VX_EINVAL;
    vx_mpsc_header *h = q->header;
    vx_backoff backoff;
    vx_backoff_init(&backoff);
    /* relaxed: only a guess; the CAS below decides */
    uint64_t pos = atomic_load_explicit(&h->head, memory_order_relaxed);
    for (int attempt = 0; attempt < VX_MPSC_CLAIM_ATTEMPTS; attempt++) { /* bounded */
        uint32_t k = 0;
        int raced = 0;
        for (; k < n; k++) { /* bounded: n <= capacity */
            /* acquire: pairs with the consumer's release store freeing the slot, so its read
             * of the old record happens before our overwrite */
            uint64_t seq = atomic_load_explicit(&mpsc_slot(q, pos + k)->seq, memory_order_acquire);
            if (seq == pos + k) continue;
            if (k == 0 && !(seq & VX_MPSC_SKIPPED) && (int64_t)(seq - pos) > 0) raced = 1;
            break; /* k == 0 and not raced: full; k > 0: claim the free prefix */
        }
        if (k == 0 && !raced) return VX_FULL;
        if (k > 0) {
            /* relaxed success: the slots were acquired through their seq above; the CAS only
             * decides ownership. Failure reloads the current head. */
            if (atomic_compare_exchange_weak_explicit(&h->head, &pos, pos + k,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                for (uint32_t i = 0; i < k; i++) /* bounded: k */
                    /* relaxed: published by the seq CAS in vx_mpsc_publish; read by the
                     * consumer only as a liveness hint */
                {
                    vx_mpsc_slot *s = mpsc_slot(q, pos + i);
                    atomic_store_explicit(&s->owner, q->identity, memory_order_relaxed);
                    /* relaxed: a hint like owner; a stale value (a previous lap's claim start)
                     * is always below the current claim's start, so never matches it */
                    atomic_store_explicit(&s->claim, pos, memory_order_relaxed);
                }
                claim->pos = pos;
                claim->n = k;
                return VX_OK;
            }
        } else {
            pos = atomic_load_explicit(&h->head, memory_order_relaxed); /* relaxed: a guess */
        }
        vx_backoff_spin(&backoff);
    }
    return VX_FULL; /* lost VX_MPSC_CLAIM_ATTEMPTS races: report no room this time */
}

vx_status vx_mpsc_publish(vx_mpsc *q, const vx_mpsc_claim *claim, const void *elems,
                          uint32_t *delivered) {
    uint32_t ok = 0;
    const char *src = elems;
    for (uint32_t i = 0; i < claim->n; i++) { /* bounded: claim->n <= capacity */
        uint64_t p = claim->pos + i;
        vx_mpsc_slot *s = mpsc_slot(q, p);
        memcpy((char *)s + sizeof(vx_mpsc_slot), src + (size_t)i * q->record_size, q->record_size);
        uint64_t expected = p;
        /* release: pairs with the consumer's acquire load of seq (the record is visible) */
        if (atomic_compare_exchange_strong_explicit(&s->seq, &expected, p + 1,
                                                    memory_order_release, memory_order_relaxed)) {
            ok++;
            continue;
        }
        /* the consumer skipped p (expected == SKIPPED | p): a late publish. Drop the record,
         * give the slot back to the next lap, count it. */
        if (expected == (VX_MPSC_SKIPPED | p)) {
            atomic_store_explicit(&s->owner, 0, memory_order_relaxed); /* ordered by the release below */
            /* release: pairs with the acquire seq load of the producer that claims p + cap */
            atomic_store_explicit(&s->seq, p + q->capacity, memory_order_release);
        }
        /* relaxed: a statistic */
        atomic_fetch_add_explicit(&q->header->late, 1, memory_order_relaxed);
    }
    *delivered = ok;
    return ok == claim->n ? VX_OK : VX_ESTATE;
}

vx_status vx_mpsc_push_n(vx_mpsc *q, const void *elems, uint32_t n, uint32_t *pushed) {
    *pushed = 0;
    if (q->header == NULL) return VX_EINVAL;
    vx_mpsc_claim claim;
    vx_status st = vx_mpsc_claim_n(q, n, &claim);
    if (st != VX_OK) return st;
    return vx_mpsc_publish(q, &claim, elems, pushed);
}

/* ---- consumer ---------------------------------------------------------------------------- */

static int mpsc_owner_dead(uint64_t owner) {
    if (owner == 0) return 0; /* unknown: the claimer has not written its identity yet */
    return vx_shm_identity((pid_t)(owner & MPSC_PID_MASK)) != owner;
}

static void mpsc_count_skip(vx_mpsc *q, uint64_t owner) {
    vx_mpsc_header *h = q->header;
    /* relaxed: statistics, written only by the consumer */
    atomic_store_explicit(&h->skipped, atomic_load_explicit(&h->skipped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&h->last_skipped_pid, owner & MPSC_PID_MASK, memory_order_relaxed);
}

/* Position p is claimed (head > p) but not published. Returns 1 if it was skipped (or turned
 * out published: the caller re-reads), 0 to wait. */
static int mpsc_try_skip(vx_mpsc *q, uint64_t p, vx_mpsc_slot *s) {
    /* relaxed: a hint (0 or the claimer's identity) */
    uint64_t owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
    int stalled = 0, dead = 0;
    /* relaxed: a hint (see vx_mpsc_slot.claim) */
    uint64_t claim = atomic_load_explicit(&s->claim, memory_order_relaxed);
    if (owner != 0 && owner == q->stalled_owner && claim == q->stalled_claim) {
        stalled = 1; /* the rest of a stalled claim: no second wait */
    } else {
        uint64_t now = vx_monotonic_ns();
        if (q->stall_pos != p) {
            q->stall_pos = p;
            q->stall_since_ns = now;
            q->stall_checked_ns = now;
            return 0;
        }
        if (now - q->stall_checked_ns >= VX_MPSC_OWNER_CHECK_NS) {
            q->stall_checked_ns = now;
            dead = mpsc_owner_dead(owner);
        }
        if (!dead && now - q->stall_since_ns >= q->stall_timeout_ns) stalled = 1;
    }
    if (!dead && !stalled) return 0;
    uint64_t expected = p;
    /* dead owner: it will never write again, so the slot goes straight to the next lap.
     * stalled owner: the slot stays out of use (SKIPPED | p) until its late publish. */
    uint64_t mark = dead ? p + q->capacity : (VX_MPSC_SKIPPED | p);
    if (dead) atomic_store_explicit(&s->owner, 0, memory_order_relaxed); /* ordered by the CAS */
    /* release: pairs with the acquire seq load of a producer claiming p + cap (dead case);
     * acquire on failure: the producer published, its record is visible (pairs with its
     * release CAS) */
    if (!atomic_compare_exchange_strong_explicit(&s->seq, &expected, mark, memory_order_release,
                                                 memory_order_acquire))
        return 1; /* published meanwhile: the caller reads it */
    mpsc_count_skip(q, owner);
    q->stalled_owner = dead ? 0 : owner;
    q->stalled_claim = claim;
    q->stall_pos = UINT64_MAX;
    return 1;
}

/* A slot still marked SKIPPED from the previous lap (p - cap) blocks position p. If its owner
 * is proven dead, give it to position p. */
static void mpsc_try_reclaim(vx_mpsc *q, uint64_t p, vx_mpsc_slot *s, uint64_t seq) {
    uint64_t now = vx_monotonic_ns();
    if (q->reclaim_pos == p && now - q->reclaim_checked_ns < VX_MPSC_OWNER_CHECK_NS) return;
    q->reclaim_pos = p;
    q->reclaim_checked_ns = now; /* not the stall timer: p is not claimed yet */
    uint64_t owner = atomic_load_explicit(&s->owner, memory_order_relaxed); /* relaxed: hint */
    if (!mpsc_owner_dead(owner)) return;
    atomic_store_explicit(&s->owner, 0, memory_order_relaxed); /* ordered by the CAS */
    /* release: pairs with the acquire seq load of the producer claiming p */
    atomic_compare_exchange_strong_explicit(&s->seq, &seq, p, memory_order_release,
                                            memory_order_relaxed);
}

vx_status vx_mpsc_pop_n(vx_mpsc *q, void *out, uint32_t max_n, uint32_t *popped) {
    *popped = 0;
    if (q->header == NULL || !q->is_consumer) return VX_EMISUSE;
    if (q->corrupt) return VX_ECORRUPT;
    /* acquire/release: a misuse guard, pairs with the release store at the end */
    if (atomic_exchange_explicit(&q->consumer_busy, 1, memory_order_acquire)) return VX_EMISUSE;
    vx_mpsc_header *h = q->header;
    uint64_t p = q->tail;
    uint32_t got = 0;
    char *dst = out;
    vx_status st = VX_OK;
    /* bounded: each pass consumes or skips one position, or leaves; at most max_n + capacity
     * passes (skips are bounded by the claimed positions, at most capacity) */
    for (uint64_t pass = 0; got < max_n && pass < (uint64_t)max_n + q->capacity; pass++) {
        vx_mpsc_slot *s = mpsc_slot(q, p);
        /* acquire: pairs with the producer's release CAS publishing the record */
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq == p + 1) {
            memcpy(dst + (size_t)got * q->record_size, (char *)s + sizeof(vx_mpsc_slot),
                   q->record_size);
            atomic_store_explicit(&s->owner, 0, memory_order_relaxed); /* ordered by the release below */
            /* release: pairs with the acquire seq load of the producer claiming p + cap */
            atomic_store_explicit(&s->seq, p + q->capacity, memory_order_release);
            got++;
            p++;
            q->stalled_owner = 0;
            continue;
        }
        if (seq == p) {
            /* acquire: pairs with nothing in particular; head is only compared */
            uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
            if (head - p > q->capacity) { st = VX_ECORRUPT; break; } /* also head < p */
            if (head == p) break; /* empty */
            if (mpsc_try_skip(q, p, s)) {
                /* relaxed reload: either skipped (advance) or published (read it next pass) */
                uint64_t now_seq = atomic_load_explicit(&s->seq, memory_order_acquire);
                if (now_seq != p + 1) p++;
                continue;
            }
            break; /* claimed, not published yet: wait */
        }
        if (seq == (VX_MPSC_SKIPPED | (p - q->capacity)) && p >= q->capacity) {
            mpsc_try_reclaim(q, p, s, seq);
            break; /* the previous lap's skipped slot still blocks p */
        }
        st = VX_ECORRUPT; /* a value the protocol never writes: a hostile or broken peer */
        break;
    }
    if (p != q->tail) {
        q->tail = p;
        /* release: for observers (size); pairs with their acquire load */
        atomic_store_explicit(&h->tail, p, memory_order_release);
    }
    if (st == VX_ECORRUPT) q->corrupt = 1;
    *popped = got;
    atomic_store_explicit(&q->consumer_busy, 0, memory_order_release);
    if (st != VX_OK) return st;
    return got ? VX_OK : VX_EMPTY;
}

/* ---- observers --------------------------------------------------------------------------- */

uint64_t vx_mpsc_head(const vx_mpsc *q) {
    /* relaxed: a snapshot */
    return q->header ? atomic_load_explicit(&q->header->head, memory_order_relaxed) : 0;
}
uint64_t vx_mpsc_tail(const vx_mpsc *q) {
    /* acquire: pairs with the consumer's release store of tail */
    return q->header ? atomic_load_explicit(&q->header->tail, memory_order_acquire) : 0;
}
uint64_t vx_mpsc_skipped(const vx_mpsc *q) {
    /* relaxed: a statistic */
    return q->header ? atomic_load_explicit(&q->header->skipped, memory_order_relaxed) : 0;
}
uint64_t vx_mpsc_late(const vx_mpsc *q) {
    /* relaxed: a statistic */
    return q->header ? atomic_load_explicit(&q->header->late, memory_order_relaxed) : 0;
}
uint64_t vx_mpsc_last_skipped_pid(const vx_mpsc *q) {
    /* relaxed: a statistic */
    return q->header ? atomic_load_explicit(&q->header->last_skipped_pid, memory_order_relaxed) : 0;
}
