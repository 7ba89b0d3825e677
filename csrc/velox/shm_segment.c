/* velox/shm_segment.c — a named POSIX shared-memory segment. See shm_segment.h. */
#include "velox/shm_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "velox/tsc.h"

int vx_shm_name_valid(const char *name) {
    if (name == NULL || name[0] == '\0' || name[0] == '.') return 0;
    size_t i = 0;
    for (; name[i] != '\0'; i++) { /* bounded: stops at VX_SHM_NAME_MAX + 1 */
        if (i >= VX_SHM_NAME_MAX) return 0;
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

int vx_shm_segment_path(char *path, const char *name) {
    if (!vx_shm_name_valid(name)) return 0;
    path[0] = '/';
    memcpy(path + 1, name, strlen(name) + 1);
    return 1;
}

static vx_status segment_fail(vx_shm_fault *fault, int *sys_errno, vx_status status,
                              vx_shm_fault why, int err) {
    *fault = why;
    *sys_errno = err;
    return status;
}

static void segment_sleep_100us(void) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
}

static _Atomic uint32_t *segment_state(void *base, const vx_shm_segment_kind *kind) {
    return (_Atomic uint32_t *)((char *)base + kind->state_offset);
}

vx_status vx_shm_segment_create(vx_shm_segment *seg, const char *name, size_t size,
                                vx_shm_fault *fault, int *sys_errno) {
    char path[VX_SHM_NAME_MAX + 2];
    seg->base = NULL;
    seg->size = 0;
    if (!vx_shm_segment_path(path, name))
        return segment_fail(fault, sys_errno, VX_EINVAL, VX_SHM_FAULT_NAME, 0);
    int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) return segment_fail(fault, sys_errno, VX_ESYS, VX_SHM_FAULT_SYSTEM, errno);
    if (ftruncate(fd, (off_t)size) != 0) {
        int err = errno;
        close(fd);
        shm_unlink(path);
        return segment_fail(fault, sys_errno, VX_ESYS, VX_SHM_FAULT_SYSTEM, err);
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the segment referenced */
    if (base == MAP_FAILED) {
        shm_unlink(path);
        return segment_fail(fault, sys_errno, VX_ESYS, VX_SHM_FAULT_SYSTEM, map_errno);
    }
    seg->base = base;
    seg->size = size;
    return segment_fail(fault, sys_errno, VX_OK, VX_SHM_FAULT_NONE, 0);
}

void vx_shm_segment_publish(const vx_shm_segment *seg, const vx_shm_segment_kind *kind) {
    /* release: pairs with the acquire load of state in vx_shm_segment_attach; everything the
     * creator wrote before is visible to an attacher that sees READY */
    atomic_store_explicit(segment_state(seg->base, kind), VX_SHM_READY, memory_order_release);
}

/* Steps 1-3 of attach: the name, the size, the mapping. */
static vx_status segment_map(vx_shm_segment *seg, const char *path, size_t min_size,
                             uint64_t deadline, vx_shm_fault *fault, int *sys_errno) {
    int fd;
    for (;;) { /* bounded by the deadline: wait for the name */
        fd = shm_open(path, O_RDWR, 0);
        if (fd >= 0) break;
        int err = errno;
        if (err != ENOENT || vx_monotonic_ns() >= deadline)
            return segment_fail(fault, sys_errno, VX_ESYS, VX_SHM_FAULT_SYSTEM, err);
        segment_sleep_100us();
    }
    struct stat sb;
    for (;;) { /* bounded by the deadline: wait for the creator's ftruncate */
        if (fstat(fd, &sb) != 0) {
            int err = errno;
            close(fd);
            return segment_fail(fault, sys_errno, VX_ESYS, VX_SHM_FAULT_SYSTEM, err);
        }
        if ((size_t)sb.st_size >= min_size) break;
        if (sb.st_size != 0 || vx_monotonic_ns() >= deadline) {
            close(fd);
            return sb.st_size == 0
                       ? segment_fail(fault, sys_errno, VX_TIMEOUT, VX_SHM_FAULT_NOT_READY, 0)
                       : segment_fail(fault, sys_errno, VX_ESTATE, VX_SHM_FAULT_TOO_SMALL, 0);
        }
        segment_sleep_100us();
    }
    size_t size = (size_t)sb.st_size;
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int map_errno = errno;
    close(fd);
    if (base == MAP_FAILED)
        return segment_fail(fault, sys_errno, VX_ESYS, VX_SHM_FAULT_SYSTEM, map_errno);
    seg->base = base;
    seg->size = size;
    return VX_OK;
}

/* Step 6: the common words of the private copy. */
static vx_shm_fault segment_validate(const vx_shm_segment_prefix *p,
                                     const vx_shm_segment_kind *kind, size_t real_size) {
    if (p->magic != kind->magic) return VX_SHM_FAULT_MAGIC;
    if (p->layout_version != kind->layout_version) return VX_SHM_FAULT_VERSION;
    if (p->header_size != kind->header_size || p->segment_size != real_size)
        return VX_SHM_FAULT_HEADER;
    return VX_SHM_FAULT_NONE;
}

vx_status vx_shm_segment_attach(vx_shm_segment *seg, const char *name,
                                const vx_shm_segment_kind *kind, uint64_t wait_ns,
                                void *snapshot, vx_shm_fault *fault, int *sys_errno) {
    char path[VX_SHM_NAME_MAX + 2];
    seg->base = NULL;
    seg->size = 0;
    memset(snapshot, 0, kind->snapshot_size);
    if (!vx_shm_segment_path(path, name))
        return segment_fail(fault, sys_errno, VX_EINVAL, VX_SHM_FAULT_NAME, 0);
    uint64_t now = vx_monotonic_ns();
    uint64_t deadline = wait_ns > UINT64_MAX - now ? UINT64_MAX : now + wait_ns;
    vx_status st = segment_map(seg, path, kind->header_size, deadline, fault, sys_errno);
    if (st != VX_OK) return st;

    const vx_shm_segment_prefix *live = seg->base;
    vx_shm_fault why = VX_SHM_FAULT_NONE;
    if (live->magic != kind->magic && live->magic != 0) {
        why = VX_SHM_FAULT_MAGIC; /* not ours: do not wait for a READY that will never come */
    } else {
        /* acquire: pairs with the release store in vx_shm_segment_publish */
        while (atomic_load_explicit(segment_state(seg->base, kind), memory_order_acquire) !=
               VX_SHM_READY) {
            if (vx_monotonic_ns() >= deadline) { /* bounded by the deadline */
                why = VX_SHM_FAULT_NOT_READY;
                break;
            }
            segment_sleep_100us();
        }
    }
    if (why == VX_SHM_FAULT_NONE) {
        memcpy(snapshot, seg->base, kind->snapshot_size); /* validated privately from here */
        why = segment_validate(snapshot, kind, seg->size);
    }
    if (why != VX_SHM_FAULT_NONE) {
        munmap(seg->base, seg->size);
        seg->base = NULL;
        seg->size = 0;
        return segment_fail(fault, sys_errno, why == VX_SHM_FAULT_NOT_READY ? VX_TIMEOUT : VX_ESTATE,
                            why, 0);
    }
    return segment_fail(fault, sys_errno, VX_OK, VX_SHM_FAULT_NONE, 0);
}

int vx_shm_segment_dtype_valid(const char *dtype, size_t capacity, uint64_t dtype_len) {
    return dtype_len < capacity && dtype[dtype_len] == '\0' &&
           memchr(dtype, '\0', (size_t)dtype_len) == NULL;
}

vx_status vx_shm_segment_unmap(vx_shm_segment *seg) {
    if (seg->base == NULL) return VX_OK;
    int rc = munmap(seg->base, seg->size);
    seg->base = NULL;
    seg->size = 0;
    return rc == 0 ? VX_OK : VX_ESYS;
}

vx_status vx_shm_unlink(const char *name) {
    char path[VX_SHM_NAME_MAX + 2];
    if (!vx_shm_segment_path(path, name)) {
        errno = EINVAL;
        return VX_EINVAL;
    }
    return shm_unlink(path) == 0 ? VX_OK : VX_ESYS;
}

const char *vx_shm_fault_name(vx_shm_fault fault) {
    switch (fault) {
    case VX_SHM_FAULT_NONE: return "no fault";
    case VX_SHM_FAULT_NAME: return "invalid segment name";
    case VX_SHM_FAULT_ARGUMENT: return "argument out of range";
    case VX_SHM_FAULT_SYSTEM: return "operating system call failed";
    case VX_SHM_FAULT_NOT_READY: return "creator did not finish initialising the segment";
    case VX_SHM_FAULT_TOO_SMALL: return "segment smaller than the velox header";
    case VX_SHM_FAULT_MAGIC: return "bad magic: not a velox segment, or corrupted";
    case VX_SHM_FAULT_VERSION: return "segment written by another layout version";
    case VX_SHM_FAULT_HEADER: return "inconsistent header sizes or offsets (corrupt segment)";
    case VX_SHM_FAULT_DTYPE: return "dtype description not terminated (corrupt segment)";
    case VX_SHM_FAULT_RECORD_SIZE: return "record size differs from the expected one";
    case VX_SHM_FAULT_RING: return "ring header disagrees with the segment header";
    }
    return "unknown fault";
}
