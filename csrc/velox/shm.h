/*
 * velox/shm.h — an SPSC ring in a named POSIX shared-memory segment, for moving fixed-size
 * records between processes with no syscall on the hot path.
 *
 * Segment layout (every offset fixed by the _Static_asserts below; all fields host-endian):
 *
 *   offset    0  line 0: immutable description, written once by the creator before it
 *                publishes `state` = VX_SHM_READY (release); attachers read it after an
 *                acquire load of `state` sees READY:
 *                  magic "VELOXSHM", layout_version, header_size, segment_size, ring_offset,
 *                  ring_size, capacity, record_size, dtype_len, creator_pid, state,
 *                  and at byte 64 creator_identity (the creator's identity word, below)
 *   offset  128  dtype description: VX_SHM_DTYPE_MAX bytes of text (numpy's dtype.descr as a
 *                Python literal), NUL-terminated, dtype_len bytes long, opaque to C
 *   offset  640  producer role word, alone on its 128-byte line
 *   offset  768  consumer role word, alone on its 128-byte line
 *   offset  896  the ring (velox/ring.h placement API: vx_ring_init_in), ring_size bytes;
 *                the ring keeps its own head and tail on their own padded lines and holds
 *                offsets, not pointers, so every process may map it at a different address.
 *
 * Roles and peer liveness:
 *   - A process becomes the producer (or consumer) by claiming the role word: a CAS from
 *     "free" to its identity (pid in the low 32 bits, the low 32 bits of its start time from
 *     /proc/<pid>/stat in bits 32..62, so a recycled pid is not mistaken for the original).
 *     A role held by a live process cannot be claimed by another (VX_EMISUSE: that would make
 *     the ring multi-producer); a role whose holder died or departed can be taken over.
 *   - vx_shm_release marks the role word "departed" (bit 63) keeping the pid, so a blocked
 *     peer learns the other side left cleanly.
 *   - vx_shm_peer_state tells a waiting side whether the other side is alive: it never is on
 *     the hot path, only inside the bounded waits below (about every VX_SHM_PEER_CHECK_NS).
 *     Dead means: kill(pid, 0) fails with ESRCH, or /proc/<pid>/stat says zombie/dead, or the
 *     start time no longer matches. Both processes must share a pid namespace.
 *
 * Lifecycle: vx_shm_create (O_EXCL: never reuses an existing name) / vx_shm_attach (validates
 * everything in line 0 against the segment's real size) → use → vx_shm_detach (munmap; the
 * name stays) ; vx_shm_unlink removes the name (the creator's job). Names, the exclusive
 * create, the bounded attach and its common checks (magic, version, header and segment
 * size), the fault codes and unlink are velox/shm_segment.h's, shared with the MPSC and
 * broadcast segments; this file adds the ring's own checks. No allocation after
 * create/attach; every loop is bounded by a count or a deadline; errors are vx_status codes,
 * with the reason in vx_shm.fault and the OS errno in vx_shm.sys_errno.
 */
#ifndef VELOX_SHM_H
#define VELOX_SHM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "velox/ring.h"
#include "velox/shm_segment.h"
#include "velox/types.h"

#define VX_SHM_MAGIC 0x4D4853584F4C4556ull /* "VELOXSHM" read as a little-endian uint64 */
#define VX_SHM_LAYOUT_VERSION 1u
#define VX_SHM_LINE 128          /* padding unit: two 64-byte lines (adjacent-line prefetch) */
#define VX_SHM_PEER_CHECK_NS 2000000ull /* a blocked wait checks the peer this often (2 ms) */

typedef enum vx_shm_role { VX_SHM_PRODUCER = 0, VX_SHM_CONSUMER = 1 } vx_shm_role;

/* What a role word says about its holder (vx_shm_peer_state). */
typedef enum vx_shm_peer {
    VX_SHM_PEER_NONE = 0,     /* nobody has claimed the role yet */
    VX_SHM_PEER_ALIVE = 1,    /* the holder process exists */
    VX_SHM_PEER_DEAD = 2,     /* the holder process is gone (crashed or exited without release) */
    VX_SHM_PEER_DEPARTED = 3  /* the holder called vx_shm_release */
} vx_shm_peer;

/* The header at offset 0 of every segment. */
typedef struct vx_shm_header {
    /* line 0: immutable once state is READY */
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_size;     /* sizeof(vx_shm_header) */
    uint64_t segment_size;    /* ring_offset + ring_size */
    uint64_t ring_offset;     /* == sizeof(vx_shm_header) */
    uint64_t ring_size;       /* vx_ring_footprint(capacity, record_size) */
    uint64_t capacity;        /* ring slots, a power of two */
    uint32_t record_size;     /* bytes per record */
    uint32_t dtype_len;       /* strlen(dtype) */
    int32_t creator_pid;
    _Atomic uint32_t state;   /* VX_SHM_INITIALISING → VX_SHM_READY, once, by the creator */
    uint64_t creator_identity; /* vx_shm_identity of the creator (pid | start-time bits),
                                  written before anything else; 0 in segments of builds that
                                  predate it (attach ignores it: the layout is unchanged) */
    uint8_t line0_pad[VX_SHM_LINE - 72];
    char dtype[VX_SHM_DTYPE_MAX];
    _Atomic uint64_t producer; /* role word: 0 free, else identity | departed bit */
    uint8_t producer_pad[VX_SHM_LINE - 8];
    _Atomic uint64_t consumer;
    uint8_t consumer_pad[VX_SHM_LINE - 8];
} vx_shm_header;

_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4,
               "atomics have their plain sizes (the layout is shared between processes)");
_Static_assert(offsetof(vx_shm_header, state) == 60, "state is the last word of line 0's fields");
_Static_assert(offsetof(vx_shm_header, creator_identity) == 64,
               "creator_identity sits in what older builds left as line 0's zero padding");
_Static_assert(offsetof(vx_shm_header, dtype) == VX_SHM_LINE, "dtype starts on line 1");
_Static_assert(offsetof(vx_shm_header, producer) == VX_SHM_LINE + VX_SHM_DTYPE_MAX,
               "producer word on its own line");
_Static_assert(offsetof(vx_shm_header, producer) % VX_SHM_LINE == 0, "producer line aligned");
_Static_assert(offsetof(vx_shm_header, consumer) % VX_SHM_LINE == 0, "consumer line aligned");
_Static_assert(sizeof(vx_shm_header) == 7 * VX_SHM_LINE, "header is 896 bytes");
_Static_assert(sizeof(vx_shm_header) % VX_SHM_LINE == 0, "ring starts on a line boundary");

/* One process's handle on a mapped segment. Caller-owned; zero it or let create/attach fill it.
 * Everything here is process-private and taken once at create/attach; the peer process can
 * rewrite the mapping at any time, so nothing below is re-read from it (the ring's handle
 * keeps its own shape, see ring.h HANDLE AND BLOCK). The struct may be copied while no
 * thread uses it (the ring handle holds no pointer into the struct itself). */
typedef struct vx_shm {
    vx_shm_header *header;  /* start of the mapping (NULL when not mapped) */
    vx_ring ring;           /* private handle on the ring block at header->ring_offset */
    size_t mapped_size;
    uint64_t capacity;      /* validated copies of line 0, taken at create/attach */
    uint32_t record_size;
    uint32_t dtype_len;
    char dtype[VX_SHM_DTYPE_MAX]; /* validated copy of the dtype text, NUL-terminated */
    vx_shm_fault fault;     /* why the last create/attach failed */
    int sys_errno;          /* errno of the failed OS call, when fault == VX_SHM_FAULT_SYSTEM */
    char name[VX_SHM_NAME_MAX + 2]; /* "/" + name + NUL */
} vx_shm;

/* The ring handle of a mapped segment (NULL when not mapped). */
static inline vx_ring *vx_shm_ring(vx_shm *shm) { return shm->header ? &shm->ring : NULL; }

/* Bytes a segment for this ring needs (header + ring), or 0 if the arguments are out of the
 * ring's range. */
size_t vx_shm_segment_size(uint32_t capacity, uint32_t record_size);

/* Creates the segment exclusively (fails with VX_ESYS/EEXIST if the name exists), sizes it,
 * maps it, writes the header and the dtype text (dtype_len < VX_SHM_DTYPE_MAX, no NUL inside),
 * places the ring, then publishes READY. On failure nothing is left behind (the name is
 * unlinked) and shm->fault says why: VX_EINVAL (NAME/ARGUMENT) or VX_ESYS (SYSTEM). */
vx_status vx_shm_create(vx_shm *shm, const char *name, uint32_t capacity, uint32_t record_size,
                        const char *dtype, size_t dtype_len);

/* Whether the creator of the existing segment `name` still lives, read from the segment's
 * line 0 without attaching (pread: nothing is mapped). VX_SHM_PEER_ALIVE or VX_SHM_PEER_DEAD
 * (dead as for role words: no such process, a zombie, or the pid recycled by a process with
 * another start time), its pid in *pid; VX_SHM_PEER_NONE when it cannot be told: no such
 * segment, not a velox segment of this layout, or no creator identity (a creator killed
 * before writing it, or a segment made by an older build). Only DEAD proves the segment is
 * stale. Costs a few syscalls. */
vx_shm_peer vx_shm_creator_state(const char *name, pid_t *pid);

/* Maps an existing segment read-write and validates it: magic, version, header and ring sizes
 * against the real segment size (fstat), the dtype text, and (if expected_record_size != 0)
 * the record size; line 0 and the dtype text are validated in a private copy, which is what
 * shm keeps. Waits up to wait_ns for the segment to appear (shm_open ENOENT) and for a creator
 * still initialising (polling every 100 µs). Returns VX_OK, VX_EINVAL (NAME), VX_ESYS
 * (SYSTEM: ENOENT if still missing at the deadline), VX_TIMEOUT (NOT_READY), or VX_ESTATE for
 * every validation fault; shm->fault says which. Nothing stays mapped on error.
 * Residual risk: the mapping is only as large as the file was at attach; if another process
 * later shrinks the file (ftruncate), touching the lost pages raises SIGBUS (see docs/ipc.md). */
vx_status vx_shm_attach(vx_shm *shm, const char *name, uint32_t expected_record_size,
                        uint64_t wait_ns);

/* Unmaps the segment (the name and the data stay). Idempotent: VX_OK if not mapped. */
vx_status vx_shm_detach(vx_shm *shm);

/* The identity word of process pid (pid | start-time bits), or 0 if pid does not exist. */
uint64_t vx_shm_identity(pid_t pid);

/* Whether the process of an identity word (vx_shm_identity) lives: VX_SHM_PEER_ALIVE, or
 * VX_SHM_PEER_DEAD when it is gone, a zombie, or its pid was recycled by another process.
 * Costs a syscall or two. */
vx_shm_peer vx_shm_identity_state(uint64_t identity);

/* Claims role for the identity `me` (from vx_shm_identity(getpid())). VX_OK if the role was
 * free, already ours, or held by a dead/departed process (taken over). VX_EMISUSE if another
 * live process holds it; its pid goes to *holder_pid (if not NULL). */
vx_status vx_shm_claim(vx_shm *shm, vx_shm_role role, uint64_t me, pid_t *holder_pid);

/* Marks role departed if `me` holds it (a peer blocked on us then gets VX_SHM_PEER_DEPARTED).
 * VX_OK if released, VX_ESTATE if `me` did not hold it. */
vx_status vx_shm_release(vx_shm *shm, vx_shm_role role, uint64_t me);

/* The state of role's holder; its pid goes to *pid (0 if none). Costs a syscall or two. */
vx_shm_peer vx_shm_peer_state(const vx_shm *shm, vx_shm_role role, pid_t *pid);

/* Blocking push of one record: spins, then yields, until a slot frees or timeout_ns passes,
 * checking the consumer about every VX_SHM_PEER_CHECK_NS. VX_OK, VX_TIMEOUT, or VX_ESTATE if
 * the consumer is dead or departed (its pid in *peer_pid; the record was not pushed).
 * The caller must hold the producer role. */
vx_status vx_shm_push_wait(vx_shm *shm, const void *record, uint64_t timeout_ns,
                           pid_t *peer_pid);

/* Blocking pop of one record, the mirror image: VX_OK, VX_TIMEOUT, or VX_ESTATE when the ring
 * is empty and the producer is dead or departed (records it pushed before leaving are still
 * delivered first). The caller must hold the consumer role. */
vx_status vx_shm_pop_wait(vx_shm *shm, void *record, uint64_t timeout_ns, pid_t *peer_pid);

#endif /* VELOX_SHM_H */
