/*
 * velox/mpsc.h — a bounded multi-producer, single-consumer ring of fixed-size records, in
 * process memory or in a named POSIX shared-memory segment (Vyukov's bounded queue with
 * per-slot sequence numbers, specialised to one consumer).
 *
 * Protocol (positions are 64-bit counts that never wrap in practice; slot = position & mask):
 *   - slot s holds `seq`, `owner` and one record. seq == p: free for position p;
 *     seq == p + 1: the record of position p is published; seq == p + capacity: freed by the
 *     consumer for the next lap; seq == VX_MPSC_SKIPPED | p: the consumer skipped position p
 *     while its producer was stalled (the slot stays out of use until that producer
 *     publishes late or is proven dead).
 *   - A producer reads head, checks the slots of positions head .. head+k-1 are free (seq ==
 *     their position), claims them with ONE compare-and-swap head → head + k, stores its
 *     identity in each slot's owner, copies the records, and publishes each slot with a CAS
 *     seq p → p + 1 (release). A CAS that finds VX_MPSC_SKIPPED | p is a late publish: the
 *     record is dropped, the producer frees the slot (seq = p + capacity) and counts it in
 *     `late`; the call reports VX_ESTATE.
 *   - The consumer (one thread of one process) reads its slot's seq (acquire): p + 1 → copies
 *     the record, clears owner, frees the slot (seq = p + capacity, release). seq == p with
 *     head > p means claimed but not published: after the handle's stall timeout, or at once
 *     (checked about every VX_MPSC_OWNER_CHECK_NS) if the owner process is provably dead, the
 *     consumer skips the position: a dead owner's slot is freed at once (CAS p → p + capacity),
 *     a stalled owner's slot is marked VX_MPSC_SKIPPED | p (CAS, so a publish that wins the
 *     race is delivered instead). Skips are counted in `skipped`, the owner's pid kept in
 *     `last_skipped_pid`. The rest of a stalled claim (same owner, same claim start) is skipped
 *     without waiting again; other claims of the same process (other threads) get their own wait.
 *   - Records come out in claim order (head order), each exactly once, or counted as skipped.
 *
 * Hostile peers (shared memory): every process may write anything anywhere in the segment.
 * The handle keeps capacity, record size and slot size privately (validated at attach); slot
 * addresses are always `position & mask` of the private mask. The consumer keeps its position
 * privately and treats any head outside [tail, tail + capacity] or any slot sequence other
 * than p, p + 1, SKIPPED | p (or, for a slot whose head claim is not yet visible, an older lap)
 * as corruption: VX_ECORRUPT, sticky. Producers bound every retry loop.
 *
 * Segment layout (shared memory; the in-process ring uses the same block on the heap):
 *   0    line 0: magic "VELOXMPS", layout_version, header_size, segment_size, slots_offset,
 *        capacity, record_size, slot_size, dtype_len, creator_pid, state (READY last,
 *        release), creator_identity at byte 64 (shm.h's identity: pid | start time)
 *   128  dtype text, VX_SHM_DTYPE_MAX bytes, NUL-terminated (as shm.h)
 *   640  head (claims) alone on its line
 *   768  consumer line: tail (for observers), skipped, last_skipped_pid, late
 *   896  slots: capacity × slot_size (slot_size = 24 + record size rounded up to 8)
 *
 * Roles: the creator of a segment is the consumer (vx_mpsc_create/vx_mpsc_shm_create);
 * attachers are producers. No allocation after construction; every loop bounded.
 */
#ifndef VELOX_MPSC_H
#define VELOX_MPSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "velox/shm.h"
#include "velox/types.h"

#define VX_MPSC_MAGIC 0x53504D584F4C4556ull /* "VELOXMPS" read as a little-endian uint64 */
#define VX_MPSC_LAYOUT_VERSION 1u
#define VX_MPSC_LINE 128
#define VX_MPSC_SKIPPED (1ull << 63)          /* seq flag: position skipped by the consumer */
#define VX_MPSC_MAX_CAPACITY (1u << 30)
#define VX_MPSC_MAX_RECORD_SIZE (1u << 20)
#define VX_MPSC_OWNER_CHECK_NS 2000000ull    /* a stalled slot's owner is checked this often */
#define VX_MPSC_CLAIM_ATTEMPTS 64            /* CAS attempts on head before reporting FULL */

typedef struct vx_mpsc_slot {
    _Atomic uint64_t seq;   /* see Protocol */
    _Atomic uint64_t owner; /* identity of the producer that claimed it; 0 when free */
    _Atomic uint64_t claim; /* first position of the claim this slot belongs to (a hint: the
                               consumer skips the rest of a stalled claim without waiting) */
    /* record bytes follow */
} vx_mpsc_slot;

typedef struct vx_mpsc_header {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_size;     /* sizeof(vx_mpsc_header) */
    uint64_t segment_size;    /* slots_offset + capacity * slot_size */
    uint64_t slots_offset;    /* == sizeof(vx_mpsc_header) */
    uint64_t capacity;        /* power of two in [2, VX_MPSC_MAX_CAPACITY] */
    uint32_t record_size;     /* [1, VX_MPSC_MAX_RECORD_SIZE] */
    uint32_t slot_size;       /* 24 + record_size rounded up to 8 */
    uint32_t dtype_len;
    int32_t creator_pid;
    _Atomic uint32_t state;   /* VX_SHM_INITIALISING → VX_SHM_READY once, by the creator */
    uint32_t pad0;
    uint64_t creator_identity; /* vx_shm_identity of the creator (the consumer) */
    uint8_t line0_pad[VX_MPSC_LINE - 72];
    char dtype[VX_SHM_DTYPE_MAX];
    _Atomic uint64_t head;    /* positions ever claimed (CAS by producers) */
    uint8_t head_pad[VX_MPSC_LINE - 8];
    _Atomic uint64_t tail;    /* positions ever consumed or skipped (consumer; observers) */
    _Atomic uint64_t skipped; /* positions skipped (consumer) */
    _Atomic uint64_t last_skipped_pid; /* pid of the last skipped slot's owner (0: unknown) */
    _Atomic uint64_t late;    /* publishes that found their position skipped (producers) */
    uint8_t consumer_pad[VX_MPSC_LINE - 32];
} vx_mpsc_header;

_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomics have their plain sizes (shared layout)");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free (shared memory)");
_Static_assert(sizeof(vx_mpsc_slot) == 24, "slot header is 24 bytes (records 8-aligned)");
_Static_assert(offsetof(vx_mpsc_header, state) == 56, "state in line 0");
_Static_assert(offsetof(vx_mpsc_header, creator_identity) == 64, "identity at byte 64");
_Static_assert(offsetof(vx_mpsc_header, dtype) == VX_MPSC_LINE, "dtype on line 1");
_Static_assert(offsetof(vx_mpsc_header, head) == VX_MPSC_LINE + VX_SHM_DTYPE_MAX, "head line");
_Static_assert(offsetof(vx_mpsc_header, head) % VX_MPSC_LINE == 0, "head line aligned");
_Static_assert(offsetof(vx_mpsc_header, tail) % VX_MPSC_LINE == 0, "consumer line aligned");
_Static_assert(sizeof(vx_mpsc_header) == 7 * VX_MPSC_LINE, "header is 896 bytes");

/* A process's handle. Everything but the stall bookkeeping is taken once at construction. */
typedef struct vx_mpsc {
    vx_mpsc_header *header;   /* the block (heap or mapping); NULL when closed */
    char *slots;
    size_t mapped_size;       /* shared memory: bytes mapped; 0 for a heap block */
    uint64_t capacity;        /* private validated copies */
    uint64_t mask;
    uint32_t record_size;
    uint32_t slot_size;
    uint32_t dtype_len;
    int is_consumer;          /* 1 for the creator */
    uint64_t identity;        /* this process's identity (owner word of its claims) */
    uint64_t consumer_identity; /* the creator's identity (line 0 copy) */
    uint64_t stall_timeout_ns; /* consumer: how long a claimed slot may stay unpublished */
    /* consumer-private state */
    uint64_t tail;            /* next position to consume */
    uint64_t stall_pos;       /* position whose stall is being timed (UINT64_MAX: none) */
    uint64_t stall_since_ns;
    uint64_t stall_checked_ns; /* last owner liveness check */
    uint64_t stalled_owner;   /* owner of the last position skipped as stalled (0: none) */
    uint64_t stalled_claim;   /* and the first position of its claim */
    uint64_t reclaim_pos;     /* position blocked by a skipped slot of the previous lap */
    uint64_t reclaim_checked_ns; /* last liveness check of that slot's owner */
    int corrupt;              /* sticky VX_ECORRUPT */
    _Atomic int consumer_busy; /* misuse guard: one consumer call at a time (exchange) */
    vx_shm_fault fault;       /* why create/attach failed */
    int sys_errno;
    char dtype[VX_SHM_DTYPE_MAX];
} vx_mpsc;

/* A claim that has not been published yet (vx_mpsc_claim / vx_mpsc_publish). */
typedef struct vx_mpsc_claim {
    uint64_t pos;
    uint32_t n;
} vx_mpsc_claim;

/* Bytes of a block for this shape, or 0 if out of range. */
size_t vx_mpsc_footprint(uint32_t capacity, uint32_t record_size);

/* In-process ring on the heap; the caller is the consumer and may also produce from any
 * thread. VX_EINVAL (shape), VX_ENOMEM. Free with vx_mpsc_destroy. */
vx_status vx_mpsc_create(vx_mpsc *q, uint32_t capacity, uint32_t record_size,
                         uint64_t stall_timeout_ns);
void vx_mpsc_destroy(vx_mpsc *q);

/* Shared memory: create (O_EXCL, creator = consumer) / attach (producer; validates line 0
 * against the real size, waits up to wait_ns for the name and READY) / detach / unlink.
 * Faults as vx_shm (q->fault, q->sys_errno). */
vx_status vx_mpsc_shm_create(vx_mpsc *q, const char *name, uint32_t capacity,
                             uint32_t record_size, const char *dtype, size_t dtype_len,
                             uint64_t stall_timeout_ns);
vx_status vx_mpsc_shm_attach(vx_mpsc *q, const char *name, uint32_t expected_record_size,
                             uint64_t wait_ns);
vx_status vx_mpsc_shm_detach(vx_mpsc *q);

/* Producer: claims up to n (1..capacity) consecutive free positions with one CAS, copies the
 * first *pushed records of elems and publishes them. VX_OK (*pushed >= 1), VX_FULL (nothing
 * free), VX_ESTATE (some of the claimed positions had been skipped: those records were
 * dropped and counted in `late`; *pushed counts only the delivered ones), VX_EINVAL. */
vx_status vx_mpsc_push_n(vx_mpsc *q, const void *elems, uint32_t n, uint32_t *pushed);

/* The two halves of push_n, for tests of a producer stopped between them: claim takes up to
 * n positions (VX_OK / VX_FULL), publish copies elems into them and publishes (VX_OK, or
 * VX_ESTATE for late positions; *delivered counts the published ones). */
vx_status vx_mpsc_claim_n(vx_mpsc *q, uint32_t n, vx_mpsc_claim *claim);
vx_status vx_mpsc_publish(vx_mpsc *q, const vx_mpsc_claim *claim, const void *elems,
                          uint32_t *delivered);

/* Consumer: copies up to max_n records in claim order into out, skipping stalled positions
 * (see Protocol; now_ns is the caller's monotonic clock, 0 to read it when needed).
 * VX_OK (*popped >= 1), VX_EMPTY (nothing ready; may still have skipped), VX_ECORRUPT,
 * VX_EMISUSE (not the consumer). */
vx_status vx_mpsc_pop_n(vx_mpsc *q, void *out, uint32_t max_n, uint32_t *popped);

/* Observers (any thread; snapshots). */
uint64_t vx_mpsc_head(const vx_mpsc *q);
uint64_t vx_mpsc_tail(const vx_mpsc *q);
uint64_t vx_mpsc_skipped(const vx_mpsc *q);
uint64_t vx_mpsc_late(const vx_mpsc *q);
uint64_t vx_mpsc_last_skipped_pid(const vx_mpsc *q);

/* 1 if the creator (consumer) of a shared ring is gone (pid gone or reused); 0 otherwise. */
int vx_mpsc_consumer_gone(const vx_mpsc *q);

#endif /* VELOX_MPSC_H */
