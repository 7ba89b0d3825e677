/*
 * velox/shm_segment.h — a named POSIX shared-memory segment: what every kind of velox segment
 * shares (the SPSC ring, shm.h; the MPSC ring, mpsc.h; the broadcast ring, broadcast.h). Each
 * kind keeps its own header layout and validates its own fields; this file owns the name, the
 * exclusive create, the bounded attach, the words every header starts with, unmap and unlink.
 *
 * The common words. Every kind's header begins with vx_shm_segment_prefix (magic, layout
 * version, header_size, segment_size: offsets 0, 8, 12, 16) and holds a 32-bit `state` word
 * in its first line, at an offset of its own (the kind's `state_offset`). The creator writes
 * everything else first, then publishes state = VX_SHM_READY with a release store
 * (vx_shm_segment_publish); an attacher reads the header only after an acquire load sees
 * READY, and then only a private copy of it (the peer may rewrite the mapping at any time).
 *
 * Create: shm_open(O_CREAT | O_EXCL) (an existing name is never reused: VX_ESYS, EEXIST),
 * ftruncate to `size` (zero-filled: state INITIALISING), mmap read-write. On any failure the
 * name is unlinked and nothing stays mapped.
 *
 * Attach, in this order (each wait polls every 100 µs and is bounded by the deadline
 * now + wait_ns):
 *   1. the name: shm_open ENOENT is waited for; any other error, or ENOENT at the deadline,
 *      is SYSTEM (VX_ESYS, the errno in *sys_errno);
 *   2. the size: 0 (a creator between shm_open and ftruncate) is waited for and is NOT_READY
 *      (VX_TIMEOUT) at the deadline; 0 < size < kind->header_size is TOO_SMALL (VX_ESTATE);
 *   3. the whole file is mapped (mmap failure: SYSTEM);
 *   4. a magic that is neither the kind's nor 0 (not yet written) is MAGIC at once: a READY
 *      that will never come is not waited for;
 *   5. state READY is waited for (acquire), NOT_READY (VX_TIMEOUT) at the deadline;
 *   6. kind->snapshot_size bytes are copied into the caller's `snapshot` and checked there:
 *      magic (MAGIC), layout_version (VERSION), header_size == kind->header_size and
 *      segment_size == the file's size (HEADER); all VX_ESTATE.
 * On VX_OK the segment stays mapped (seg->base, seg->size = the file's size at attach) and
 * the kind validates the rest of its snapshot (its own sizes from its own fields, the dtype
 * text with vx_shm_segment_dtype_valid, the record size, its ring's block), calling
 * vx_shm_segment_unmap on a fault of its own. On any other status nothing stays mapped.
 * Residual risk (every kind): the mapping is as large as the file was at attach; a process
 * that later shrinks the file makes the lost pages raise SIGBUS (docs/ipc.md).
 *
 * No allocation; every loop bounded by a count or the deadline; errors are vx_status codes
 * with the reason in *fault (vx_shm_fault) and the OS errno in *sys_errno.
 */
#ifndef VELOX_SHM_SEGMENT_H
#define VELOX_SHM_SEGMENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

#define VX_SHM_NAME_MAX 200      /* characters in a segment name, without the leading '/' */
#define VX_SHM_DTYPE_MAX 512     /* bytes in a dtype description field, NUL included */

enum { VX_SHM_INITIALISING = 0, VX_SHM_READY = 1 };

/* Why create or attach failed; VX_SHM_FAULT_NONE on success. */
typedef enum vx_shm_fault {
    VX_SHM_FAULT_NONE = 0,
    VX_SHM_FAULT_NAME = 1,         /* name empty, too long, or not [A-Za-z0-9._-] */
    VX_SHM_FAULT_ARGUMENT = 2,     /* capacity/record size/dtype text out of range */
    VX_SHM_FAULT_SYSTEM = 3,       /* an OS call failed: see sys_errno (ENOENT: no such segment) */
    VX_SHM_FAULT_NOT_READY = 4,    /* the creator did not finish initialising within the wait */
    VX_SHM_FAULT_TOO_SMALL = 5,    /* the segment is smaller than the header */
    VX_SHM_FAULT_MAGIC = 6,        /* not a velox segment (or corrupted) */
    VX_SHM_FAULT_VERSION = 7,      /* written by another layout version */
    VX_SHM_FAULT_HEADER = 8,       /* header_size, offsets or sizes inconsistent (corrupt) */
    VX_SHM_FAULT_DTYPE = 9,        /* dtype description not NUL-terminated at dtype_len */
    VX_SHM_FAULT_RECORD_SIZE = 10, /* record size differs from the one the attacher expects */
    VX_SHM_FAULT_RING = 11         /* the ring's own header disagrees with line 0 */
} vx_shm_fault;

/* The first 24 bytes of every kind's header. */
typedef struct vx_shm_segment_prefix {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_size;   /* sizeof the kind's header */
    uint64_t segment_size;  /* bytes of the whole segment (header + the kind's block) */
} vx_shm_segment_prefix;

_Static_assert(sizeof(vx_shm_segment_prefix) == 24, "prefix: magic, version, sizes");
_Static_assert(offsetof(vx_shm_segment_prefix, segment_size) == 16, "segment_size at byte 16");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "the state word has its plain size (shared)");

/* A kind's header type starts with the prefix's words at the prefix's offsets. */
#define VX_SHM_SEGMENT_HEADER_ASSERT(type)                                                     \
    _Static_assert(offsetof(type, magic) == offsetof(vx_shm_segment_prefix, magic) &&          \
                       offsetof(type, layout_version) ==                                       \
                           offsetof(vx_shm_segment_prefix, layout_version) &&                  \
                       offsetof(type, header_size) ==                                          \
                           offsetof(vx_shm_segment_prefix, header_size) &&                     \
                       offsetof(type, segment_size) ==                                         \
                           offsetof(vx_shm_segment_prefix, segment_size),                      \
                   #type " starts with the common segment words (shm_segment.h)")

/* What a kind's header looks like to the common attach. */
typedef struct vx_shm_segment_kind {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_size;    /* sizeof the kind's header: smaller files are TOO_SMALL */
    uint32_t state_offset;   /* offset of its _Atomic uint32_t state (4-aligned, in line 0) */
    uint32_t snapshot_size;  /* bytes copied privately at attach ([24, header_size]) */
} vx_shm_segment_kind;

/* One process's mapping of a segment. */
typedef struct vx_shm_segment {
    void *base;   /* NULL when not mapped */
    size_t size;
} vx_shm_segment;

/* 1 if name is a valid segment name: 1..VX_SHM_NAME_MAX characters of [A-Za-z0-9._-], not
 * starting with '.'; it is used as "/name" (on Linux the file /dev/shm/name). */
int vx_shm_name_valid(const char *name);

/* "/" + name + NUL into path (VX_SHM_NAME_MAX + 2 bytes); 0 (path untouched) if the name is
 * not valid. */
int vx_shm_segment_path(char *path, const char *name);

/* Creates, sizes (zero-filled) and maps a segment of `size` bytes (see Create above):
 * VX_OK, VX_EINVAL (NAME), VX_ESYS (SYSTEM). */
vx_status vx_shm_segment_create(vx_shm_segment *seg, const char *name, size_t size,
                                vx_shm_fault *fault, int *sys_errno);

/* The creator's last store: state = READY (release), after every other write of the segment. */
void vx_shm_segment_publish(const vx_shm_segment *seg, const vx_shm_segment_kind *kind);

/* Attaches (see Attach above): VX_OK, VX_EINVAL (NAME), VX_ESYS (SYSTEM), VX_TIMEOUT
 * (NOT_READY), VX_ESTATE (TOO_SMALL, MAGIC, VERSION, HEADER). `snapshot` holds at least
 * kind->snapshot_size bytes; it is zeroed first. */
vx_status vx_shm_segment_attach(vx_shm_segment *seg, const char *name,
                                const vx_shm_segment_kind *kind, uint64_t wait_ns,
                                void *snapshot, vx_shm_fault *fault, int *sys_errno);

/* 1 if a dtype field of `capacity` bytes holds text of dtype_len bytes: dtype_len < capacity,
 * NUL at dtype_len, none before. */
int vx_shm_segment_dtype_valid(const char *dtype, size_t capacity, uint64_t dtype_len);

/* Unmaps (the name and the data stay); seg->base becomes NULL. VX_OK (also when not mapped),
 * VX_ESYS with errno set. */
vx_status vx_shm_segment_unmap(vx_shm_segment *seg);

/* Removes the name of a segment of any kind: new attaches fail, mapped processes keep
 * working, the memory is freed when the last mapping goes. VX_EINVAL (errno EINVAL) for an
 * invalid name, VX_ESYS with errno ENOENT if there is no such segment. */
vx_status vx_shm_unlink(const char *name);

/* Static description of a fault (never NULL). */
const char *vx_shm_fault_name(vx_shm_fault fault);

#endif /* VELOX_SHM_SEGMENT_H */
