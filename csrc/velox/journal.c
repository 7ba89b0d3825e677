/* velox/journal.c — append-only journal of fixed-size records (contract: journal.h). */
#include "velox/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "velox/crc32c.h"
#include "velox/tsc.h"

#define SEQ_BITS 0x7fffffffull
#define COMMIT_FLAG 0x80000000ull

/* ---- checksum ---------------------------------------------------------------------------- */

/* CRC32C (crc32c.h) of every record and of each header: detects flipped bits and torn words
 * (every burst of up to 32 bits, every odd number of flipped bits); not cryptographic (a writer
 * of the files can forge it, and can then only make a reader return bytes that are a
 * well-formed record of the right size). */
static inline uint64_t commit_word(uint32_t crc, uint64_t seq) {
    return (uint64_t)crc << 32 | COMMIT_FLAG | (seq & SEQ_BITS);
}

static uint64_t header_crc(const vx_journal_header *h) {
    vx_journal_header copy;
    memcpy(&copy, h, sizeof copy);
    copy.header_check = 0;
    return vx_crc32c(0, &copy, sizeof copy);
}

/* ---- slots ----------------------------------------------------------------------------- */

static inline uint8_t *slot_at(const vx_journal_seg *s, const vx_journal_shape *sh, uint64_t i) {
    return s->base + VX_JOURNAL_HEADER_SIZE + i * sh->slot_size;
}

static inline uint64_t load_commit(const uint8_t *slot) {
    /* acquire: pairs with the release store in write_run (the record bytes before it) */
    return atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)slot, memory_order_acquire);
}

/* 1 if the committed slot holds sequence seq with a matching checksum. */
static int slot_valid(const uint8_t *slot, uint64_t commit, const vx_journal_shape *sh,
                      uint64_t seq) {
    if ((commit & (COMMIT_FLAG | SEQ_BITS)) != (COMMIT_FLAG | (seq & SEQ_BITS))) return 0;
    return vx_crc32c(0, slot + 8, sh->record_size) == (uint32_t)(commit >> 32);
}

/* read_slots_<impl>, write_slots_<impl>: one pair per CRC32C implementation (journal_slots.h),
 * picked per batch call with VX_CRC32C_PICK */
#define VX_SLOTS_IMPL portable
#include "velox/journal_slots.h"
#undef VX_SLOTS_IMPL
#ifdef VX_CRC32C_HAVE_SSE42
#define VX_SLOTS_IMPL sse42
#include "velox/journal_slots.h"
#undef VX_SLOTS_IMPL
#endif
#ifdef VX_CRC32C_HAVE_ARMV8
#define VX_SLOTS_IMPL armv8
#include "velox/journal_slots.h"
#undef VX_SLOTS_IMPL
#endif

static inline int ts_less(const vx_journal_shape *sh, int64_t a, int64_t b) {
    if (sh->ts_kind == VX_JOURNAL_TS_U64) return (uint64_t)a < (uint64_t)b;
    return a < b;
}

static inline int64_t rec_ts(const vx_journal_shape *sh, const uint8_t *rec) {
    int64_t t;
    memcpy(&t, rec + sh->ts_offset, 8);
    return t;
}

/* ---- segment files --------------------------------------------------------------------- */

static void seg_name(char *buf, size_t n, uint64_t first) {
    snprintf(buf, n, "%020" PRIu64 ".vxj", first);
}

/* Parses "%020llu.vxj"; 1 on success. */
static int parse_name(const char *name, uint64_t *first) {
    if (strlen(name) != 24 || strcmp(name + 20, ".vxj") != 0) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) { /* bounded: 20 digits */
        if (name[i] < '0' || name[i] > '9') return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *first = v;
    return 1;
}

static void seg_unmap(vx_journal_seg *s) {
    if (s->base) munmap(s->base, s->size);
    s->base = NULL;
    s->size = 0;
}

static vx_status sys_fail(vx_journal_fault *fault, int *err) {
    *err = errno;
    *fault = VX_JOURNAL_FAULT_SYSTEM;
    return VX_ESYS;
}

/* Validates a header copy on its own and against the file size. */
static vx_journal_fault header_fault(const vx_journal_header *h, uint64_t file_size) {
    if (file_size < VX_JOURNAL_HEADER_SIZE) return VX_JOURNAL_FAULT_SIZE;
    if (h->magic != VX_JOURNAL_MAGIC) return VX_JOURNAL_FAULT_MAGIC;
    if (h->version != VX_JOURNAL_VERSION) return VX_JOURNAL_FAULT_VERSION;
    if (h->header_check != header_crc(h)) return VX_JOURNAL_FAULT_CHECK;
    if (h->header_size != VX_JOURNAL_HEADER_SIZE) return VX_JOURNAL_FAULT_HEADER;
    if (h->record_size == 0 || h->record_size > VX_JOURNAL_MAX_RECORD) return VX_JOURNAL_FAULT_HEADER;
    if (h->slot_size != 8 + ((h->record_size + 7u) & ~7u)) return VX_JOURNAL_FAULT_HEADER;
    if (h->capacity == 0 || h->capacity > VX_JOURNAL_MAX_CAPACITY) return VX_JOURNAL_FAULT_HEADER;
    if (h->capacity > (VX_JOURNAL_MAX_FILE - VX_JOURNAL_HEADER_SIZE) / h->slot_size)
        return VX_JOURNAL_FAULT_HEADER;
    if (h->file_size != VX_JOURNAL_HEADER_SIZE + h->capacity * h->slot_size)
        return VX_JOURNAL_FAULT_HEADER;
    if (h->first_seq % h->capacity != 0 || h->first_seq > UINT64_MAX - 2 * h->capacity)
        return VX_JOURNAL_FAULT_HEADER;
    if (h->ts_kind > VX_JOURNAL_TS_U64) return VX_JOURNAL_FAULT_HEADER;
    if (h->ts_kind != VX_JOURNAL_TS_NONE &&
        (h->record_size < 8 || h->ts_offset > h->record_size - 8))
        return VX_JOURNAL_FAULT_HEADER;
    if (h->dtype_len >= VX_JOURNAL_DTYPE_MAX || h->dtype[h->dtype_len] != '\0' ||
        memchr(h->dtype, '\0', h->dtype_len) != NULL)
        return VX_JOURNAL_FAULT_HEADER;
    if (file_size < h->file_size) return VX_JOURNAL_FAULT_SIZE;
    return VX_JOURNAL_FAULT_NONE;
}

static void shape_from(vx_journal_shape *sh, const vx_journal_header *h) {
    sh->capacity = h->capacity;
    sh->record_size = h->record_size;
    sh->slot_size = h->slot_size;
    sh->ts_offset = h->ts_offset;
    sh->ts_kind = h->ts_kind;
    sh->dtype_len = h->dtype_len;
    memcpy(sh->dtype, h->dtype, VX_JOURNAL_DTYPE_MAX);
}

static int shape_equal(const vx_journal_shape *sh, const vx_journal_header *h) {
    return sh->capacity == h->capacity && sh->record_size == h->record_size &&
           sh->ts_offset == h->ts_offset && sh->ts_kind == h->ts_kind &&
           sh->dtype_len == h->dtype_len && memcmp(sh->dtype, h->dtype, h->dtype_len) == 0;
}

/* Maps segment `first` (read-write if writable), validating its header (a private copy read
 * with pread) and, when shape != NULL and adopt == 0, its shape against *shape; adopt == 1
 * fills *shape from it. VX_ESYS with ENOENT when the file does not exist; fault VERSION sets
 * *version to the segment's. */
static vx_status seg_map(vx_journal_seg *s, int dirfd, uint64_t first, int writable,
                         vx_journal_shape *shape, int adopt, vx_journal_fault *fault, int *err,
                         uint32_t *version) {
    char name[32];
    seg_name(name, sizeof name, first);
    int fd = openat(dirfd, name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return sys_fail(fault, err);
    struct stat st;
    vx_journal_header h;
    if (fstat(fd, &st) != 0) {
        vx_status rc = sys_fail(fault, err);
        close(fd);
        return rc;
    }
    memset(&h, 0, sizeof h);
    ssize_t got = st.st_size >= (off_t)sizeof h ? pread(fd, &h, sizeof h, 0) : 0;
    vx_journal_fault f = got == (ssize_t)sizeof h ? header_fault(&h, (uint64_t)st.st_size)
                                                  : VX_JOURNAL_FAULT_SIZE;
    if (f == VX_JOURNAL_FAULT_NONE && h.first_seq != first) f = VX_JOURNAL_FAULT_SEQUENCE;
    if (f == VX_JOURNAL_FAULT_NONE && !adopt && !shape_equal(shape, &h)) f = VX_JOURNAL_FAULT_MISMATCH;
    if (f != VX_JOURNAL_FAULT_NONE) {
        close(fd);
        if (f == VX_JOURNAL_FAULT_VERSION) *version = h.version;
        *fault = f;
        return VX_ESTATE;
    }
    void *p = mmap(NULL, (size_t)h.file_size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
                   fd, 0);
    if (p == MAP_FAILED) {
        vx_status rc = sys_fail(fault, err);
        close(fd);
        return rc;
    }
    close(fd);
    if (adopt) shape_from(shape, &h);
    seg_unmap(s);
    s->base = p;
    s->size = (size_t)h.file_size;
    s->first = first;
    return VX_OK;
}

/* Lowest and highest segment numbers in the directory; VX_ESTATE/EMPTY if none. */
static vx_status seg_range(int dirfd, uint64_t *lo, uint64_t *hi, uint64_t *count,
                           vx_journal_fault *fault, int *err) {
    int fd = dup(dirfd);
    if (fd < 0) return sys_fail(fault, err);
    DIR *d = fdopendir(fd);
    if (!d) {
        vx_status rc = sys_fail(fault, err);
        close(fd);
        return rc;
    }
    rewinddir(d);
    uint64_t n = 0, a = UINT64_MAX, b = 0;
    struct dirent *e;
    for (uint32_t i = 0; i < VX_JOURNAL_MAX_SEGMENTS && (e = readdir(d)) != NULL; i++) {
        uint64_t v;
        if (!parse_name(e->d_name, &v)) continue;
        n++;
        if (v < a) a = v;
        if (v > b) b = v;
    }
    closedir(d);
    if (n == 0) {
        *fault = VX_JOURNAL_FAULT_EMPTY;
        return VX_ESTATE;
    }
    *lo = a;
    *hi = b;
    *count = n;
    return VX_OK;
}

/* Writes a new segment under a temporary name, then renames it into place. */
static vx_status seg_create(vx_journal_writer *w, uint64_t first) {
    vx_journal_header h;
    memset(&h, 0, sizeof h);
    h.magic = VX_JOURNAL_MAGIC;
    h.version = VX_JOURNAL_VERSION;
    h.header_size = VX_JOURNAL_HEADER_SIZE;
    h.capacity = w->shape.capacity;
    h.record_size = w->shape.record_size;
    h.slot_size = w->shape.slot_size;
    h.file_size = VX_JOURNAL_HEADER_SIZE + h.capacity * h.slot_size;
    h.first_seq = first;
    h.ts_offset = w->shape.ts_offset;
    h.ts_kind = w->shape.ts_kind;
    h.dtype_len = w->shape.dtype_len;
    memcpy(h.dtype, w->shape.dtype, w->shape.dtype_len);
    h.header_check = header_crc(&h);
    char name[32], tmp[48];
    seg_name(name, sizeof name, first);
    snprintf(tmp, sizeof tmp, ".tmp-%s", name);
    unlinkat(w->dirfd, tmp, 0); /* a leftover of a crash during a roll */
    int fd = openat(w->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return sys_fail(&w->fault, &w->sys_errno);
    /* fallocate: the blocks are reserved now, so the writer's page faults need no block
     * allocation (ext4 sparse-file faults cost ~3x); a file system without it gets a sparse
     * file (ftruncate) */
    if (fallocate(fd, 0, 0, (off_t)h.file_size) != 0 && ftruncate(fd, (off_t)h.file_size) != 0) {
        vx_status rc = sys_fail(&w->fault, &w->sys_errno);
        close(fd);
        unlinkat(w->dirfd, tmp, 0);
        return rc;
    }
    if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        vx_status rc = sys_fail(&w->fault, &w->sys_errno);
        close(fd);
        unlinkat(w->dirfd, tmp, 0);
        return rc;
    }
    close(fd);
    /* linkat fails with EEXIST rather than replacing an existing segment */
    if (linkat(w->dirfd, tmp, w->dirfd, name, 0) != 0) {
        vx_status rc = sys_fail(&w->fault, &w->sys_errno);
        unlinkat(w->dirfd, tmp, 0);
        return rc;
    }
    unlinkat(w->dirfd, tmp, 0);
    return seg_map(&w->seg, w->dirfd, first, 1, &w->shape, 0,
                   &w->fault, &w->sys_errno, &w->fault_version);
}

/* ---- writer ---------------------------------------------------------------------------- */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; the same number on every architecture */
#endif

/* Prefaults the next VX_JOURNAL_PREFAULT_BYTES of slots once fewer than half of them are left
 * ahead of next_seq (journal.h, Page faults). Best effort: a refusal changes nothing else. */
static void writer_prefault(vx_journal_writer *w) {
    const vx_journal_shape *sh = &w->shape;
    uint64_t first = w->seg.first, end = first + sh->capacity;
    uint64_t chunk = VX_JOURNAL_PREFAULT_BYTES / sh->slot_size + 1;
    uint64_t from = w->prefault_seq > w->next_seq ? w->prefault_seq : w->next_seq;
    if (!w->seg.base || w->next_seq < first || from >= end || from - w->next_seq >= chunk / 2)
        return;
    uint64_t to = end - from > chunk ? from + chunk : end;
    uintptr_t page = (uintptr_t)getpagesize();
    uintptr_t a = (uintptr_t)slot_at(&w->seg, sh, from - first) & ~(page - 1);
    uintptr_t b = (uintptr_t)slot_at(&w->seg, sh, to - first);
    (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
    w->prefault_seq = to;
}

static void writer_zero(vx_journal_writer *w) {
    memset(w, 0, sizeof *w);
    w->dirfd = -1;
    w->lockfd = -1;
    atomic_init(&w->busy, 0);
}

static vx_status writer_lock(vx_journal_writer *w, const char *dir) {
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) return sys_fail(&w->fault, &w->sys_errno);
    w->lockfd = openat(w->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lockfd < 0) return sys_fail(&w->fault, &w->sys_errno);
    if (flock(w->lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            w->fault = VX_JOURNAL_FAULT_LOCKED;
            return VX_ESTATE;
        }
        return sys_fail(&w->fault, &w->sys_errno);
    }
    return VX_OK;
}

vx_status vx_journal_create(vx_journal_writer *w, const char *dir, uint32_t record_size,
                            uint64_t segment_bytes, const char *dtype, size_t dtype_len,
                            uint32_t ts_offset, uint32_t ts_kind) {
    writer_zero(w);
    uint32_t slot = 8 + ((record_size + 7u) & ~7u);
    if (record_size == 0 || record_size > VX_JOURNAL_MAX_RECORD || dtype_len >= VX_JOURNAL_DTYPE_MAX ||
        memchr(dtype, '\0', dtype_len) != NULL || ts_kind > VX_JOURNAL_TS_U64 ||
        (ts_kind != VX_JOURNAL_TS_NONE && (record_size < 8 || ts_offset > record_size - 8)) ||
        segment_bytes > VX_JOURNAL_MAX_FILE || segment_bytes < VX_JOURNAL_HEADER_SIZE + slot) {
        w->fault = VX_JOURNAL_FAULT_ARGUMENT;
        return VX_EINVAL;
    }
    uint64_t cap = (segment_bytes - VX_JOURNAL_HEADER_SIZE) / slot;
    if (cap > VX_JOURNAL_MAX_CAPACITY) cap = VX_JOURNAL_MAX_CAPACITY;
    vx_status rc = writer_lock(w, dir);
    if (rc != VX_OK) goto fail;
    uint64_t lo, hi, n;
    if (seg_range(w->dirfd, &lo, &hi, &n, &w->fault, &w->sys_errno) == VX_OK) {
        w->fault = VX_JOURNAL_FAULT_EXISTS;
        rc = VX_EINVAL;
        goto fail;
    }
    if (w->fault == VX_JOURNAL_FAULT_SYSTEM) {
        rc = VX_ESYS;
        goto fail;
    }
    w->fault = VX_JOURNAL_FAULT_NONE;
    w->shape.capacity = cap;
    w->shape.record_size = record_size;
    w->shape.slot_size = slot;
    w->shape.ts_offset = ts_kind ? ts_offset : 0;
    w->shape.ts_kind = ts_kind;
    w->shape.dtype_len = (uint32_t)dtype_len;
    memcpy(w->shape.dtype, dtype, dtype_len);
    rc = seg_create(w, 0);
    if (rc != VX_OK) goto fail;
    writer_prefault(w);
    return VX_OK;
fail:;
    vx_journal_fault f = w->fault;
    int e = w->sys_errno;
    vx_journal_close(w);
    w->fault = f;
    w->sys_errno = e;
    return rc;
}

vx_status vx_journal_open(vx_journal_writer *w, const char *dir) {
    writer_zero(w);
    vx_status rc = writer_lock(w, dir);
    uint64_t lo = 0, hi = 0, n = 0;
    if (rc == VX_OK) rc = seg_range(w->dirfd, &lo, &hi, &n, &w->fault, &w->sys_errno);
    if (rc == VX_OK)
        rc = seg_map(&w->seg, w->dirfd, lo, 1, &w->shape, 1,
                     &w->fault, &w->sys_errno, &w->fault_version);
    if (rc != VX_OK) goto fail;
    uint64_t cap = w->shape.capacity;
    if (lo % cap || hi % cap || (hi - lo) / cap + 1 != n) {
        w->fault = (lo % cap || hi % cap) ? VX_JOURNAL_FAULT_SEQUENCE : VX_JOURNAL_FAULT_MISSING;
        rc = VX_ESTATE;
        goto fail;
    }
    w->first_seq = lo;
    /* every segment's header, in order (bounded by n <= VX_JOURNAL_MAX_SEGMENTS) */
    for (uint64_t s = lo + cap; s <= hi && s > lo; s += cap) {
        rc = seg_map(&w->seg, w->dirfd, s, 1, &w->shape, 0,
                     &w->fault, &w->sys_errno, &w->fault_version);
        if (rc != VX_OK) {
            if (rc == VX_ESYS && w->sys_errno == ENOENT) w->fault = VX_JOURNAL_FAULT_MISSING, rc = VX_ESTATE;
            goto fail;
        }
    }
    /* recover the end of the last segment: the committed, valid prefix */
    const vx_journal_shape *sh = &w->shape;
    uint64_t i = 0;
    for (; i < cap; i++) { /* bounded by capacity */
        const uint8_t *slot = slot_at(&w->seg, sh, i);
        uint64_t c = load_commit(slot);
        if (c == 0 || !slot_valid(slot, c, sh, hi + i)) break;
        if (sh->ts_kind) {
            int64_t t = rec_ts(sh, slot + 8);
            if (w->has_ts && ts_less(sh, t, w->last_ts)) break;
            w->last_ts = t;
            w->has_ts = 1;
        }
    }
    /* Cut the tail: every committed slot from i on, and the slot after each of them and slot
     * i itself (where a torn, uncommitted record's bytes may lie). */
    int zero_next = 1;
    for (uint64_t j = i; j < cap; j++) { /* bounded by capacity */
        uint8_t *slot = slot_at(&w->seg, sh, j);
        int committed = load_commit(slot) != 0;
        w->cut += (uint64_t)committed;
        int zero = committed || zero_next;
        zero_next = committed;
        if (zero) {
            /* release: pairs with the acquire in load_commit (a reader then sees "not yet") */
            atomic_store_explicit((_Atomic uint64_t *)(uintptr_t)slot, 0, memory_order_release);
            memset(slot + 8, 0, sh->slot_size - 8);
        }
    }
    w->next_seq = hi + i;
    if (sh->ts_kind && !w->has_ts && hi > lo) {
        /* the last segment is empty: the time floor is the previous segment's last record */
        vx_journal_seg prev = {0};
        if (seg_map(&prev, w->dirfd, hi - cap, 0, &w->shape, 0,
                    &w->fault, &w->sys_errno, &w->fault_version) == VX_OK) {
            const uint8_t *slot = slot_at(&prev, sh, cap - 1);
            if (load_commit(slot) != 0) {
                w->last_ts = rec_ts(sh, slot + 8);
                w->has_ts = 1;
            }
            seg_unmap(&prev);
        }
        w->fault = VX_JOURNAL_FAULT_NONE;
    }
    writer_prefault(w);
    return VX_OK;
fail:;
    vx_journal_fault f = w->fault;
    int e = w->sys_errno;
    vx_journal_close(w);
    w->fault = f;
    w->sys_errno = e;
    return rc;
}

vx_status vx_journal_append(vx_journal_writer *w, const void *records, uint64_t n, uint64_t *bad) {
    if (!w->seg.base) {
        w->fault = VX_JOURNAL_FAULT_ARGUMENT;
        return VX_ESTATE;
    }
    const vx_journal_shape *sh = &w->shape;
    const uint8_t *src = records;
    if (sh->ts_kind) {
        int64_t prev = w->last_ts;
        int have = w->has_ts;
        for (uint64_t k = 0; k < n; k++) { /* bounded by n */
            int64_t t = rec_ts(sh, src + k * sh->record_size);
            if (have && ts_less(sh, t, prev)) {
                if (bad) *bad = k;
                w->fault = VX_JOURNAL_FAULT_TIME;
                return VX_ERANGE;
            }
            prev = t;
            have = 1;
        }
    }
    uint64_t cap = sh->capacity;
    /* the slot loops of the CRC32C implementation in use, picked once per call */
    void (*write_slots)(uint8_t *, const uint8_t *, uint64_t, uint64_t, uint32_t) =
        VX_CRC32C_PICK(vx_crc32c_impl(), write_slots);
    /* bounded: each turn appends at least one record (a full segment rolls first) */
    for (uint64_t k = 0; k < n;) {
        if (w->next_seq - w->seg.first == cap) {
            vx_status rc = seg_create(w, w->seg.first + cap);
            if (rc != VX_OK) return rc;
        }
        uint64_t i = w->next_seq - w->seg.first;
        uint64_t run = n - k < cap - i ? n - k : cap - i;
        write_slots(slot_at(&w->seg, sh, i), src + k * sh->record_size, w->next_seq, run,
                    sh->record_size);
        w->next_seq += run;
        k += run;
        if (sh->ts_kind) {
            w->last_ts = rec_ts(sh, src + (k - 1) * sh->record_size);
            w->has_ts = 1;
        }
    }
    writer_prefault(w); /* after the commits: the fault cost is not between append and commit */
    return VX_OK;
}

vx_status vx_journal_sync(vx_journal_writer *w) {
    if (w->seg.base && msync(w->seg.base, w->seg.size, MS_SYNC) != 0)
        return sys_fail(&w->fault, &w->sys_errno);
    return VX_OK;
}

void vx_journal_close(vx_journal_writer *w) {
    seg_unmap(&w->seg);
    if (w->lockfd >= 0) close(w->lockfd); /* releases the flock */
    if (w->dirfd >= 0) close(w->dirfd);
    w->lockfd = -1;
    w->dirfd = -1;
}

/* ---- reader ---------------------------------------------------------------------------- */

vx_status vx_journal_reader_open(vx_journal_reader *r, const char *dir) {
    memset(r, 0, sizeof *r);
    atomic_init(&r->busy, 0);
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dirfd < 0) return sys_fail(&r->fault, &r->sys_errno);
    uint64_t lo, hi, n;
    vx_status rc = seg_range(r->dirfd, &lo, &hi, &n, &r->fault, &r->sys_errno);
    if (rc == VX_OK) rc = seg_map(&r->seg, r->dirfd, lo, 0, &r->shape, 1,
                                  &r->fault, &r->sys_errno, &r->fault_version);
    if (rc != VX_OK) {
        vx_journal_reader_close(r);
        return rc;
    }
    r->first_seq = lo;
    r->pos = lo;
    return VX_OK;
}

/* Maps the segment holding sequence seq (no-op if mapped). */
static vx_status reader_map_for(vx_journal_reader *r, uint64_t seq) {
    uint64_t first = seq - seq % r->shape.capacity;
    if (r->seg.base && r->seg.first == first) return VX_OK;
    return seg_map(&r->seg, r->dirfd, first, 0, &r->shape, 0,
                   &r->fault, &r->sys_errno, &r->fault_version);
}

vx_status vx_journal_reader_to_start(vx_journal_reader *r) {
    uint64_t lo, hi, n;
    vx_status rc = seg_range(r->dirfd, &lo, &hi, &n, &r->fault, &r->sys_errno);
    if (rc != VX_OK) return rc;
    if (lo % r->shape.capacity) {
        r->fault = VX_JOURNAL_FAULT_SEQUENCE;
        return VX_ESTATE;
    }
    r->first_seq = lo;
    r->pos = lo;
    return reader_map_for(r, lo);
}

/* Committed slots at the start of the mapped segment (a binary search would trust that
 * commits form a prefix; a linear scan bounded by capacity does not). */
static uint64_t committed_prefix(const vx_journal_reader *r) {
    uint64_t i = 0;
    for (; i < r->shape.capacity; i++) /* bounded by capacity */
        if (load_commit(slot_at(&r->seg, &r->shape, i)) == 0) break;
    return i;
}

vx_status vx_journal_reader_to_end(vx_journal_reader *r) {
    uint64_t lo, hi, n;
    vx_status rc = seg_range(r->dirfd, &lo, &hi, &n, &r->fault, &r->sys_errno);
    if (rc != VX_OK) return rc;
    if (hi % r->shape.capacity) {
        r->fault = VX_JOURNAL_FAULT_SEQUENCE;
        return VX_ESTATE;
    }
    rc = reader_map_for(r, hi);
    if (rc != VX_OK) return rc;
    r->pos = hi + committed_prefix(r);
    return VX_OK;
}

vx_status vx_journal_reader_seek(vx_journal_reader *r, uint64_t seq) {
    if (seq < r->first_seq || seq > UINT64_MAX - 2 * r->shape.capacity) {
        r->fault = VX_JOURNAL_FAULT_RANGE;
        return VX_ERANGE;
    }
    r->pos = seq;
    vx_status rc = reader_map_for(r, seq);
    if (rc == VX_ESYS && r->sys_errno == ENOENT) rc = VX_OK; /* not written yet: wait there */
    return rc;
}

vx_status vx_journal_reader_seek_time(vx_journal_reader *r, int64_t ts) {
    const vx_journal_shape *sh = &r->shape;
    if (!sh->ts_kind) {
        r->fault = VX_JOURNAL_FAULT_ARGUMENT;
        return VX_ESTATE;
    }
    uint64_t lo, hi, n;
    vx_status rc = seg_range(r->dirfd, &lo, &hi, &n, &r->fault, &r->sys_errno);
    if (rc != VX_OK) return rc;
    uint64_t cap = sh->capacity;
    if (lo % cap || hi % cap || lo < r->first_seq) {
        r->fault = VX_JOURNAL_FAULT_SEQUENCE;
        return VX_ESTATE;
    }
    /* segments: the last one whose first record's time is < ts (64 halvings at most) */
    uint64_t a = 0, b = (hi - lo) / cap; /* segment indices; answer in [a, b] */
    for (int step = 0; step < 64 && a < b; step++) {
        uint64_t mid = a + (b - a + 1) / 2;
        rc = reader_map_for(r, lo + mid * cap);
        if (rc != VX_OK) return rc;
        const uint8_t *slot = slot_at(&r->seg, sh, 0);
        if (load_commit(slot) != 0 && ts_less(sh, rec_ts(sh, slot + 8), ts))
            a = mid;
        else
            b = mid - 1;
    }
    rc = reader_map_for(r, lo + a * cap);
    if (rc != VX_OK) return rc;
    /* slots: the first committed slot whose time is >= ts */
    uint64_t x = 0, y = committed_prefix(r);
    for (int step = 0; step < 64 && x < y; step++) {
        uint64_t mid = x + (y - x) / 2;
        if (ts_less(sh, rec_ts(sh, slot_at(&r->seg, sh, mid) + 8), ts))
            x = mid + 1;
        else
            y = mid;
    }
    r->pos = lo + a * cap + x;
    return VX_OK;
}

vx_status vx_journal_reader_read(vx_journal_reader *r, void *out, uint64_t n, uint64_t *got) {
    const vx_journal_shape *sh = &r->shape;
    uint8_t *dst = out;
    uint64_t k = 0;
    vx_status rc = VX_OK;
    /* bounded: at most n + capacity slots are stepped over per call (copies, and skips of a
     * corrupt segment); each turn steps over at least one slot or stops */
    uint64_t budget = n + sh->capacity;
    /* the slot loops of the CRC32C implementation in use, picked once per call */
    uint64_t (*read_slots)(const uint8_t *, uint64_t, uint64_t, uint8_t *, uint64_t, uint32_t,
                           uint64_t *, uint64_t *) = VX_CRC32C_PICK(vx_crc32c_impl(), read_slots);
    while (k < n && budget > 0) {
        uint64_t i = r->pos - r->seg.first;
        if (!r->seg.base || r->pos < r->seg.first || i >= sh->capacity) {
            rc = reader_map_for(r, r->pos);
            if (rc != VX_OK) {
                if (rc == VX_ESYS && r->sys_errno == ENOENT) rc = VX_OK; /* not there yet */
                break;
            }
            i = r->pos - r->seg.first;
        }
        uint64_t slots = sh->capacity - i < budget ? sh->capacity - i : budget;
        uint64_t want = n - k, copied = 0, skipped = 0;
        uint64_t stepped = read_slots(slot_at(&r->seg, sh, i), r->pos, slots,
                                      dst + k * sh->record_size, want, sh->record_size,
                                      &copied, &skipped);
        k += copied;
        r->skipped += skipped;
        r->pos += stepped;
        budget -= stepped;
        if (stepped < slots && copied < want) break; /* stopped at an uncommitted slot */
    }
    *got = k;
    return rc;
}

/* The writer rolls to a new segment only when the current one is full, so an uncommitted slot
 * at pos while the next segment exists is damage (a cut tail, a lost record): count the rest of
 * this segment as skipped and move to the next one. 1 if the position moved or is readable. */
static int reader_skip_gap(vx_journal_reader *r) {
    if (!r->seg.base) return 0;
    uint64_t next = r->seg.first + r->shape.capacity;
    char name[32];
    seg_name(name, sizeof name, next);
    struct stat st;
    if (fstatat(r->dirfd, name, &st, 0) != 0) return 0;
    uint64_t i = r->pos - r->seg.first;
    if (i >= r->shape.capacity) return 0;
    if (load_commit(slot_at(&r->seg, &r->shape, i)) != 0) return 1;
    r->skipped += next - r->pos;
    r->pos = next;
    return 1;
}

vx_status vx_journal_reader_wait(vx_journal_reader *r, uint64_t timeout_ns) {
    uint64_t start = vx_monotonic_ns();
    uint64_t deadline = timeout_ns > UINT64_MAX - start ? UINT64_MAX : start + timeout_ns;
    uint64_t last_gap = start;
    /* bounded by the deadline (each turn reads the clock) */
    for (uint64_t turn = 0;; turn++) {
        uint64_t i = r->pos - r->seg.first;
        if (!r->seg.base || r->pos < r->seg.first || i >= r->shape.capacity) {
            vx_status rc = reader_map_for(r, r->pos);
            if (rc != VX_OK && !(rc == VX_ESYS && r->sys_errno == ENOENT)) return rc;
            if (rc == VX_OK) continue;
        } else if (load_commit(slot_at(&r->seg, &r->shape, i)) != 0) {
            return VX_OK;
        }
        uint64_t now = vx_monotonic_ns();
        if (now >= deadline) return VX_TIMEOUT;
        if (now - last_gap >= VX_JOURNAL_GAP_CHECK_NS) {
            last_gap = now;
            if (reader_skip_gap(r)) return VX_OK;
        }
        if (turn < 2000) {
            vx_cpu_relax();
        } else if (turn < 2100) {
            sched_yield();
        } else {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
    }
}

void vx_journal_reader_close(vx_journal_reader *r) {
    seg_unmap(&r->seg);
    if (r->dirfd >= 0) close(r->dirfd);
    r->dirfd = -1;
}

const char *vx_journal_fault_name(vx_journal_fault fault) {
    switch (fault) {
    case VX_JOURNAL_FAULT_NONE: return "no fault";
    case VX_JOURNAL_FAULT_ARGUMENT: return "argument out of range";
    case VX_JOURNAL_FAULT_SYSTEM: return "system call failed";
    case VX_JOURNAL_FAULT_EMPTY: return "no journal segment in the directory";
    case VX_JOURNAL_FAULT_EXISTS: return "the directory already holds a journal";
    case VX_JOURNAL_FAULT_LOCKED: return "another writer holds the journal";
    case VX_JOURNAL_FAULT_SIZE: return "segment file smaller than its header says";
    case VX_JOURNAL_FAULT_MAGIC: return "not a velox journal segment (bad magic)";
    case VX_JOURNAL_FAULT_VERSION: return "unsupported journal layout version";
    case VX_JOURNAL_FAULT_CHECK: return "segment header checksum mismatch";
    case VX_JOURNAL_FAULT_HEADER: return "segment header fields inconsistent";
    case VX_JOURNAL_FAULT_MISMATCH: return "segment shape differs from the journal's";
    case VX_JOURNAL_FAULT_SEQUENCE: return "segment sequence does not match its name";
    case VX_JOURNAL_FAULT_MISSING: return "a segment is missing";
    case VX_JOURNAL_FAULT_RANGE: return "sequence before the journal's first record";
    case VX_JOURNAL_FAULT_TIME: return "time below the previous record's";
    }
    return "unknown fault";
}
