/*
 * velox/broadcast.h — a broadcast ring: one writer, any number of readers, each with its own
 * cursor, of fixed-size records. The writer never waits for readers (unless the ring is
 * gated, below); a reader that falls more than a capacity behind is lapped: it never returns
 * a torn or overwritten record, it counts what it lost and jumps to the oldest record still
 * in the ring. After Agrona's broadcast buffer (lapping) and the LMAX Disruptor (gating).
 *
 * HANDLE AND BLOCK
 *   As ring.h: a shared, position-independent block (in heap memory or a POSIX shared-memory
 *   segment, see the vx_bcast_shm_* functions) and process-private handles. vx_bcast is the
 *   shape of the block (capacity, mask, record size, stride, reader-table size), taken once at
 *   init/attach and never re-read from the block; every slot address is computed from a
 *   private cursor masked with the private mask, so whatever another process writes into the
 *   block, a call touches only the block's validated footprint and the caller's buffer.
 *   A vx_bcast_reader is one reader's private cursor and counters; any number may read one
 *   block, each from one thread at a time.
 *
 * LAYOUT of the block (all offsets fixed by the _Static_asserts below)
 *   offset 0                   line 0: configuration, written once (magic stored last, release)
 *   offset VX_BCAST_LINE       line 1: writer line: head (records published), counters
 *   offset 2*VX_BCAST_LINE     max_readers reader slots (gated mode), one line each:
 *                              owner identity, cursor
 *   then                       capacity slots of `stride` bytes: an 8-byte sequence word,
 *                              then the record padded to a multiple of 8 bytes
 *   Slot of record s: s & mask. Its sequence word is 2s+1 while the writer writes record s and
 *   2s+2 once record s is complete (0: never written).
 *
 * LAPPING (non-gated and gated alike)
 *   A reader checks a slot's sequence before copying the record and again after (seqlock; the
 *   argument is in broadcast.c). A record is returned only if both checks say the slot held
 *   exactly that record and the writer did not start overwriting it during the copy. On a lap
 *   the reader adds the skipped records to `lost`, bumps `lapped`, and continues from the
 *   oldest record still in the ring (head - capacity). For each reader, at any quiescent point:
 *   read + lost == head - start (start: the head when the reader began).
 *
 * GATED MODE (max_readers > 0)
 *   A reader may register in one of the block's reader slots (owner = its process identity,
 *   see shm.h). The writer then never overwrites a record a registered reader has not read:
 *   vx_bcast_try_write writes only up to (min registered cursor) + capacity; vx_bcast_write_wait
 *   waits (bounded) for readers, and frees the slot of a reader whose process is provably dead
 *   (gone, a zombie, or its pid recycled: vx_shm_identity_state) or whose cursor did not move
 *   for dead_timeout_ns while the writer waited for it (counted: evicted). An evicted reader
 *   keeps reading as an ungated reader (it learns it was evicted from
 *   vx_bcast_reader_registered). A registered reader's
 *   cursor read from the block is validated: one outside [head - capacity, head] holds nobody.
 *
 * ERRORS: VX_OK; VX_EMPTY (nothing new); VX_FULL (gated: no room); VX_TIMEOUT; VX_EINVAL;
 *   VX_ESTATE (attach: not a broadcast block of this layout, or no free reader slot);
 *   VX_ECORRUPT (the block's head went backwards or a slot's sequence cannot be explained by
 *   any writer: another process wrote them; sticky for that reader).
 *
 * No allocation anywhere (the caller provides memory); every loop is bounded by a count or
 * a deadline.
 */
#ifndef VELOX_BROADCAST_H
#define VELOX_BROADCAST_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "velox/types.h"

#define VX_BCAST_LINE 128
#define VX_BCAST_MAGIC 0x54534342584F4C56ull /* "VLOXBCST" */
#define VX_BCAST_LAYOUT_VERSION 1u
#define VX_BCAST_MIN_CAPACITY 2u
#define VX_BCAST_MAX_CAPACITY (1u << 30)
#define VX_BCAST_MAX_RECORD_SIZE (1u << 20)
#define VX_BCAST_MAX_READERS 64u
#define VX_BCAST_LAP_RETRIES 64u /* bound on re-jumps within one read call */

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free (shared memory)");

typedef struct vx_bcast_config {
    _Atomic uint64_t magic; /* stored last with release by vx_bcast_init_in */
    uint32_t version;
    uint32_t capacity;      /* power of two */
    uint32_t record_size;
    uint32_t stride;        /* 8 + record_size rounded up to 8 */
    uint32_t max_readers;   /* 0: not gated */
    uint32_t pad0;
    uint64_t slots_offset;
    uint64_t footprint;
} vx_bcast_config;

typedef struct vx_bcast_writer_line {
    _Atomic uint64_t head;      /* records published; written only by the writer (release) */
    _Atomic uint64_t evicted;   /* gated: reader slots freed by the writer (relaxed counter) */
    _Atomic uint64_t gate_waits; /* gated: write calls that found no room (relaxed counter) */
} vx_bcast_writer_line;

typedef struct vx_bcast_reader_slot {
    _Atomic uint64_t owner;  /* 0 free, else the registered reader's identity (shm.h) */
    _Atomic uint64_t cursor; /* next record the registered reader will read */
} vx_bcast_reader_slot;

typedef struct vx_bcast_block {
    alignas(VX_BCAST_LINE) vx_bcast_config config;
    alignas(VX_BCAST_LINE) vx_bcast_writer_line writer;
} vx_bcast_block;

_Static_assert(sizeof(vx_bcast_config) <= VX_BCAST_LINE, "config fits line 0");
_Static_assert(sizeof(vx_bcast_writer_line) <= VX_BCAST_LINE, "writer fits line 1");
_Static_assert(offsetof(vx_bcast_block, writer) == VX_BCAST_LINE, "writer on line 1");
_Static_assert(sizeof(vx_bcast_block) == 2 * VX_BCAST_LINE, "reader slots follow line 1");
_Static_assert(sizeof(vx_bcast_reader_slot) <= VX_BCAST_LINE, "a reader slot fits a line");

/* The private shape (see HANDLE AND BLOCK), plus the writer's private gating state. */
typedef struct vx_bcast {
    vx_bcast_block *block;
    char *slots;
    char *readers;          /* reader slots, VX_BCAST_LINE apart */
    uint64_t capacity;
    uint64_t mask;
    uint32_t record_size;
    uint32_t stride;
    uint32_t max_readers;
    uint32_t pad0;
    size_t footprint;
    /* writer-private (only the writer's handle uses them) */
    uint64_t head;          /* the writer's own copy of head */
    uint64_t limit;         /* gated: head may grow to this without rescanning */
    uint64_t seen_cursor[VX_BCAST_MAX_READERS]; /* gated: cursor last seen per slot */
    uint64_t seen_since[VX_BCAST_MAX_READERS];  /* gated: monotonic ns it was first seen */
} vx_bcast;

typedef struct vx_bcast_reader {
    const vx_bcast *ring;
    uint64_t cursor;        /* next record to read */
    uint64_t start;         /* cursor when the reader began */
    uint64_t read;          /* records returned */
    uint64_t lost;          /* records skipped because the writer lapped this reader */
    uint64_t lapped;        /* lap events */
    uint64_t identity;      /* gated: the owner word it registered with (0: not registered) */
    int32_t slot;           /* gated: its reader slot, -1 if none */
    int32_t corrupt;        /* sticky VX_ECORRUPT */
} vx_bcast_reader;

/* Bytes a block of this shape needs, or 0 if out of range (capacity a power of two in
 * [2, 2^30], record_size in [1, 2^20], max_readers <= VX_BCAST_MAX_READERS). */
size_t vx_bcast_footprint(uint32_t capacity, uint32_t record_size, uint32_t max_readers);

/* Builds an empty block in mem (VX_BCAST_LINE-aligned, >= footprint bytes; zeroes it) and
 * fills the writer's handle. VX_EINVAL on a bad argument. */
vx_status vx_bcast_init_in(vx_bcast *ring, void *mem, size_t mem_size, uint32_t capacity,
                           uint32_t record_size, uint32_t max_readers);

/* Fills a handle from a block initialised elsewhere, validating its config against mem_size
 * (and record_size if nonzero). VX_ESTATE if it is not a complete block of this layout. */
vx_status vx_bcast_attach(vx_bcast *ring, void *mem, size_t mem_size, uint32_t record_size);

/* Records published so far (acquire). */
uint64_t vx_bcast_head(const vx_bcast *ring);

/* Writes up to n records from src (n * record_size bytes). Not gated: writes all n, VX_OK.
 * Gated: writes as many as the registered readers leave room for (*written), VX_FULL if 0.
 * One writer thread at a time, in one process. */
vx_status vx_bcast_try_write(vx_bcast *ring, const void *src, size_t n, size_t *written);

/* Gated: writes all n records, waiting for registered readers until deadline_ns (monotonic);
 * evicts readers that are dead or made no progress for dead_timeout_ns (0: only dead ones).
 * VX_OK or VX_TIMEOUT (*written says how many went). Not gated: as vx_bcast_try_write. */
vx_status vx_bcast_write_wait(vx_bcast *ring, const void *src, size_t n, uint64_t deadline_ns,
                              uint64_t dead_timeout_ns, size_t *written);

/* A reader starting at the newest record (from_oldest = 0: it sees records written from now
 * on) or at the oldest record still in the ring. */
void vx_bcast_reader_init(vx_bcast_reader *rd, const vx_bcast *ring, int from_oldest);

/* Copies up to max records into dst, in sequence order, skipping (and counting) lapped ones.
 * VX_OK with *got >= 1, VX_EMPTY with *got == 0, or VX_ECORRUPT (sticky). */
vx_status vx_bcast_read(vx_bcast_reader *rd, void *dst, size_t max, size_t *got);

/* As vx_bcast_read, waiting (spin, yield, short sleeps) until a record is there or
 * deadline_ns passes (VX_TIMEOUT). */
vx_status vx_bcast_read_wait(vx_bcast_reader *rd, void *dst, size_t max, uint64_t deadline_ns,
                             size_t *got);

/* Gated: takes a free reader slot for identity (nonzero) and holds the writer back from now
 * on (the cursor jumps to the head). VX_OK, VX_ESTATE (no free slot or not gated). */
vx_status vx_bcast_reader_register(vx_bcast_reader *rd, uint64_t identity);

/* Gives the slot back (if still ours). Idempotent. */
void vx_bcast_reader_unregister(vx_bcast_reader *rd);

/* 1 while the reader holds its slot, 0 if never registered or evicted by the writer. */
int vx_bcast_reader_registered(const vx_bcast_reader *rd);

/* Counters of the block (relaxed snapshots). */
uint64_t vx_bcast_evicted(const vx_bcast *ring);
uint64_t vx_bcast_gate_waits(const vx_bcast *ring);
/* Registered reader slots now (gated). */
uint32_t vx_bcast_registered(const vx_bcast *ring);

/* ---- POSIX shared memory ------------------------------------------------------------------
 * Segment: line 0 (magic "VELOXBCS", layout version, sizes, creator pid, READY state, creator
 * identity), the dtype text (VX_SHM_DTYPE_MAX bytes), then the block at VX_BCAST_SHM_BLOCK.
 * Conventions as shm.h: O_EXCL create, READY published last, attach validates every field
 * against the real segment size, nothing re-read afterwards. */
#define VX_BCAST_SHM_MAGIC 0x534342584F4C4556ull /* "VELOXBCS" */
#define VX_BCAST_SHM_BLOCK 640u

typedef struct vx_bcast_shm_header {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_size;    /* VX_BCAST_SHM_BLOCK */
    uint64_t segment_size;   /* VX_BCAST_SHM_BLOCK + block footprint */
    uint64_t block_size;
    uint32_t capacity;
    uint32_t record_size;
    uint32_t max_readers;
    uint32_t dtype_len;
    int32_t creator_pid;
    _Atomic uint32_t state;  /* 0 → 1 (READY), release, by the creator */
    uint64_t creator_identity;
    uint8_t pad[VX_BCAST_LINE - 64];
    char dtype[512];
} vx_bcast_shm_header;

_Static_assert(offsetof(vx_bcast_shm_header, creator_identity) == 56, "line 0 layout");
_Static_assert(offsetof(vx_bcast_shm_header, dtype) == VX_BCAST_LINE, "dtype on line 1");
_Static_assert(sizeof(vx_bcast_shm_header) == VX_BCAST_SHM_BLOCK, "block after the dtype");
_Static_assert(VX_BCAST_SHM_BLOCK % VX_BCAST_LINE == 0, "block aligned");

typedef struct vx_bcast_shm {
    vx_bcast_shm_header *header; /* mapping (NULL when not mapped) */
    size_t mapped_size;
    vx_bcast ring;               /* private handle on the block */
    uint32_t dtype_len;
    char dtype[512];             /* validated private copy */
    int sys_errno;
    const char *fault;           /* static text: why create/attach failed */
} vx_bcast_shm;

/* Creates the named segment exclusively (VX_ESYS + EEXIST if it exists). */
vx_status vx_bcast_shm_create(vx_bcast_shm *shm, const char *name, uint32_t capacity,
                              uint32_t record_size, uint32_t max_readers, const char *dtype,
                              size_t dtype_len);
/* Maps and validates an existing segment, waiting up to wait_ns for it to appear and be READY.
 * VX_ESYS (sys_errno), VX_TIMEOUT, VX_ESTATE (fault says which field). */
vx_status vx_bcast_shm_attach(vx_bcast_shm *shm, const char *name, uint32_t record_size,
                              uint64_t wait_ns);
vx_status vx_bcast_shm_detach(vx_bcast_shm *shm);

#endif /* VELOX_BROADCAST_H */
