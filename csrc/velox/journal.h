/*
 * velox/journal.h — an append-only journal of fixed-size records: a directory of memory-mapped
 * segment files, one writer process, any number of reader processes that tail it live or
 * replay it later from any sequence number or timestamp.
 *
 * Directory: segment files named "%020llu.vxj" by the sequence number of their first record,
 * plus ".lock" (the writer's flock). Every segment of a journal holds the same number of
 * record slots (`capacity`), so the segment of sequence s starts at s - s % capacity: finding
 * a sequence costs one division and one open (O(1)). A new segment is written under a
 * temporary name, fully sized and with its header, then renamed into place: a reader never
 * sees a segment file without its complete header.
 *
 * Segment layout (host byte order; every offset fixed by the _Static_asserts below):
 *
 *   offset    0  vx_journal_header (VX_JOURNAL_HEADER_SIZE bytes), immutable once renamed:
 *                magic "VELOXJNL", version, header_size, file_size, first_seq, capacity,
 *                record_size, slot_size, ts_offset, ts_kind, dtype_len, header_check, and at
 *                byte 128 the dtype text (byte offsets in vx_journal_header below).
 *                header_check = vx_crc32c(0, header with header_check zero, 1024), zero-extended
 *                to 64 bits (the high 32 bits are 0).
 *   offset 1024  capacity slots of slot_size = 8 + record_size rounded up to 8 bytes:
 *                  [commit word, 8 bytes][record bytes][zero padding]
 *
 * Commit word: 0 = not written. The writer copies the record into the slot, then stores
 *   commit = crc32c(record) << 32 | 0x80000000 | (seq & 0x7fffffff)
 * with release, where crc32c(record) = vx_crc32c(0, record, record_size) (crc32c.h: the
 * standard CRC-32C of the record's bytes, padding excluded): bits 63..32 the CRC, bit 31 set,
 * bits 30..0 the low 31 bits of the sequence. A reader loads it with acquire; if it is 0 the
 * record is not there yet (live tail) or was torn by a crash. A nonzero word whose sequence
 * bits differ from the slot's sequence, or whose CRC differs from the copied record's, marks a
 * corrupt record: readers skip it and count it (vx_journal_reader.skipped), never return it as
 * data. The writer computes the CRC of the bytes it stored in the slot and the reader that of
 * the bytes it copied out (each word loaded once), so a source changing during the copy cannot
 * make the two disagree silently.
 *
 * Versions: version 2 = this layout with CRC32C; version 1 (a multiply-xor hash in the same
 * places) is refused by readers and writers alike (fault VERSION, *.fault_version = 1).
 *
 * Crash recovery (vx_journal_open): the last segment is scanned from its first slot; the first
 * slot whose commit word is 0, names another sequence, or whose CRC does not match ends the
 * journal; that slot and every later slot of the segment are zeroed ("cut", counted in
 * vx_journal_writer.cut), so neither a torn record nor any byte after it is read as data.
 *
 * Timestamps: optionally one int64 or uint64 field of the record (ts_offset, ts_kind) is the
 * record's time. The writer refuses a record whose time is below the previous record's
 * (VX_ERANGE), so times are non-decreasing along the sequence and seeking by time is a binary
 * search: over segments by their first record's time, then over the slots of one segment
 * (no separate index file). In a corrupted file whose times are not monotone the search still
 * ends (bounded steps) at some position; it never reads outside the mapping.
 *
 * Distrust: every header field is validated against the file's real size (fstat) and against
 * the journal's first segment before a byte past the header is touched; slot offsets come only
 * from validated capacity and slot_size. Truncating a segment file while it is mapped makes
 * the mapper's next touch of the lost pages raise SIGBUS (the files are never truncated by
 * velox; docs/journal.md).
 *
 * Page faults: after each append (and at create/open) the writer prefaults the slots ahead of
 * its position, VX_JOURNAL_PREFAULT_BYTES at a time once less than half of that is left
 * (madvise MADV_POPULATE_WRITE, best effort: older kernels refuse it and the pages fault on
 * first write as before). The fault cost then falls after a record's commit, not between a
 * record's append and its commit, so a live tailer rarely waits on the writer's page fault.
 *
 * Threads: a writer or reader handle is used by one thread at a time (vx_journal_enter guards
 * the Python entry points). The writer's slot stores are plain; only the commit word is
 * atomic (release, paired with the acquire loads in the reader). No allocation after
 * open; every loop is bounded by a capacity, a count or a deadline; errors are vx_status codes
 * with the reason in .fault and the OS errno in .sys_errno.
 */
#ifndef VELOX_JOURNAL_H
#define VELOX_JOURNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "velox/types.h"

#define VX_JOURNAL_MAGIC 0x4C4E4A584F4C4556ull /* "VELOXJNL" read as a little-endian uint64 */
#define VX_JOURNAL_VERSION 2u
#define VX_JOURNAL_HEADER_SIZE 1024u
#define VX_JOURNAL_DTYPE_MAX 512u /* bytes of dtype text, NUL included */
#define VX_JOURNAL_MAX_RECORD (1u << 20)
#define VX_JOURNAL_MAX_CAPACITY 0x7fffffffull /* sequence bits in a commit word */
#define VX_JOURNAL_MAX_FILE (1ull << 40)
#define VX_JOURNAL_MAX_SEGMENTS 1000000u /* directory entries looked at, at most */
#define VX_JOURNAL_GAP_CHECK_NS 1000000ull /* a waiting reader checks for a gap this often */
#define VX_JOURNAL_PREFAULT_BYTES (64u << 10) /* slots made writable ahead of the writer */

enum { VX_JOURNAL_TS_NONE = 0, VX_JOURNAL_TS_I64 = 1, VX_JOURNAL_TS_U64 = 2 };

typedef enum vx_journal_fault {
    VX_JOURNAL_FAULT_NONE = 0,
    VX_JOURNAL_FAULT_ARGUMENT = 1,  /* record size, segment size, dtype or ts field out of range */
    VX_JOURNAL_FAULT_SYSTEM = 2,    /* an OS call failed: see sys_errno */
    VX_JOURNAL_FAULT_EMPTY = 3,     /* no segment in the directory */
    VX_JOURNAL_FAULT_EXISTS = 4,    /* create: the directory already holds segments */
    VX_JOURNAL_FAULT_LOCKED = 5,    /* another writer holds the journal */
    VX_JOURNAL_FAULT_SIZE = 6,      /* a segment file is smaller than its header says */
    VX_JOURNAL_FAULT_MAGIC = 7,     /* not a velox journal segment */
    VX_JOURNAL_FAULT_VERSION = 8,   /* another layout version (found: fault_version) */
    VX_JOURNAL_FAULT_CHECK = 9,     /* header_check does not match the header */
    VX_JOURNAL_FAULT_HEADER = 10,   /* header fields inconsistent (sizes, dtype text, ts field) */
    VX_JOURNAL_FAULT_MISMATCH = 11, /* a segment's shape differs from the journal's first */
    VX_JOURNAL_FAULT_SEQUENCE = 12, /* first_seq does not match the file name / position */
    VX_JOURNAL_FAULT_MISSING = 13,  /* a segment between the first and the last is missing */
    VX_JOURNAL_FAULT_RANGE = 14,    /* a sequence before the journal's first record */
    VX_JOURNAL_FAULT_TIME = 15      /* a record's time is below the previous record's */
} vx_journal_fault;

typedef struct vx_journal_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;  /* VX_JOURNAL_HEADER_SIZE */
    uint64_t file_size;    /* header_size + capacity * slot_size */
    uint64_t first_seq;    /* a multiple of capacity, equal to the file name */
    uint64_t capacity;     /* record slots, 1 .. VX_JOURNAL_MAX_CAPACITY */
    uint32_t record_size;  /* 1 .. VX_JOURNAL_MAX_RECORD */
    uint32_t slot_size;    /* 8 + record_size rounded up to 8 */
    uint32_t ts_offset;    /* offset of the time field inside the record */
    uint32_t ts_kind;      /* VX_JOURNAL_TS_* */
    uint32_t dtype_len;    /* strlen(dtype), < VX_JOURNAL_DTYPE_MAX */
    uint32_t reserved;     /* 0 */
    uint64_t header_check; /* vx_crc32c of the header with this field 0, zero-extended */
    uint8_t pad0[128 - 72];
    char dtype[VX_JOURNAL_DTYPE_MAX];
    uint8_t pad1[VX_JOURNAL_HEADER_SIZE - 128 - VX_JOURNAL_DTYPE_MAX];
} vx_journal_header;

_Static_assert(offsetof(vx_journal_header, header_check) == 64, "header_check at byte 64");
_Static_assert(offsetof(vx_journal_header, dtype) == 128, "dtype text at byte 128");
_Static_assert(sizeof(vx_journal_header) == VX_JOURNAL_HEADER_SIZE, "header is 1024 bytes");
_Static_assert(VX_JOURNAL_HEADER_SIZE % 8 == 0, "slots (and commit words) are 8-byte aligned");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "a commit word is a plain 8-byte word in the file");

/* A one-thread-at-a-time guard word (0 free, 1 busy) for the Python entry points. */
static inline int vx_journal_enter(_Atomic int *busy) {
    /* acquire: pairs with the release in vx_journal_leave (the previous user's writes) */
    return atomic_exchange_explicit(busy, 1, memory_order_acquire) == 0;
}
static inline void vx_journal_leave(_Atomic int *busy) {
    /* release: pairs with the acquire exchange in vx_journal_enter */
    atomic_store_explicit(busy, 0, memory_order_release);
}

typedef struct vx_journal_shape {
    uint64_t capacity;
    uint32_t record_size, slot_size, ts_offset, ts_kind, dtype_len;
    char dtype[VX_JOURNAL_DTYPE_MAX]; /* NUL-terminated copy */
} vx_journal_shape;

/* A mapped segment (private to one handle). */
typedef struct vx_journal_seg {
    uint8_t *base;     /* NULL when nothing is mapped */
    size_t size;
    uint64_t first;    /* first sequence number in this segment */
} vx_journal_seg;

typedef struct vx_journal_writer {
    int dirfd, lockfd;
    vx_journal_shape shape;
    vx_journal_seg seg;     /* the segment holding next_seq (or the full last one) */
    uint64_t next_seq;      /* sequence of the next append */
    uint64_t first_seq;     /* sequence of the journal's first segment */
    uint64_t cut;           /* records cut at open (a torn or corrupt tail) */
    uint64_t prefault_seq;  /* slots below this sequence were prefaulted (see Page faults) */
    int64_t last_ts;        /* time of the last record (raw bits; compared per ts_kind) */
    int has_ts;
    vx_journal_fault fault;
    int sys_errno;
    uint32_t fault_version; /* the segment's version when fault is VERSION */
    _Atomic int busy;
} vx_journal_writer;

typedef struct vx_journal_reader {
    int dirfd;
    vx_journal_shape shape;
    vx_journal_seg seg;
    uint64_t pos;           /* sequence of the next record to read */
    uint64_t first_seq;     /* the journal's first sequence when the reader opened */
    uint64_t skipped;       /* corrupt or lost records stepped over */
    uint64_t last_gap_check;
    vx_journal_fault fault;
    int sys_errno;
    uint32_t fault_version; /* the segment's version when fault is VERSION */
    _Atomic int busy;
} vx_journal_reader;

/* The guard word of a handle, for the Python entry points (one thread at a time). */
static inline int vx_journal_writer_enter(vx_journal_writer *w) { return vx_journal_enter(&w->busy); }
static inline void vx_journal_writer_leave(vx_journal_writer *w) { vx_journal_leave(&w->busy); }
static inline int vx_journal_reader_enter(vx_journal_reader *r) { return vx_journal_enter(&r->busy); }
static inline void vx_journal_reader_leave(vx_journal_reader *r) { vx_journal_leave(&r->busy); }

/* Creates a journal in the existing directory `dir` (which must hold no segment) and opens it
 * for appending: record_size bytes per record, segment files of at most segment_bytes (at
 * least one record), dtype text (< VX_JOURNAL_DTYPE_MAX bytes, no NUL), time field at
 * ts_offset of kind ts_kind (VX_JOURNAL_TS_NONE for none; the 8 bytes must lie inside the
 * record). VX_EINVAL (ARGUMENT, EXISTS), VX_ESTATE (LOCKED), VX_ESYS (SYSTEM). */
vx_status vx_journal_create(vx_journal_writer *w, const char *dir, uint32_t record_size,
                            uint64_t segment_bytes, const char *dtype, size_t dtype_len,
                            uint32_t ts_offset, uint32_t ts_kind);

/* Opens an existing journal for appending: takes the lock, validates every segment header,
 * checks that the segments are contiguous, recovers the end of the last segment and cuts a torn
 * or corrupt tail (w->cut). VX_ESTATE with the fault for a damaged journal. */
vx_status vx_journal_open(vx_journal_writer *w, const char *dir);

/* Appends n records (n * record_size bytes). All times are checked first: a batch with a time
 * below its predecessor's appends nothing (VX_ERANGE, fault TIME, *bad = index in the batch).
 * Rolls to a new segment when one fills (VX_ESYS if the file cannot be made). */
vx_status vx_journal_append(vx_journal_writer *w, const void *records, uint64_t n, uint64_t *bad);

/* msync of the current segment (durability against a machine crash; not needed for readers). */
vx_status vx_journal_sync(vx_journal_writer *w);

/* Unmaps, unlocks, closes. Idempotent. */
void vx_journal_close(vx_journal_writer *w);

/* Opens a reader at the journal's first record. Validates the first segment. */
vx_status vx_journal_reader_open(vx_journal_reader *r, const char *dir);

/* Positions: the first record, one past the last committed record, sequence seq (VX_ERANGE if
 * below the first segment; a sequence not yet written is allowed: the reader waits there), or
 * the first record whose time is >= ts (VX_ESTATE if the journal has no time field). */
vx_status vx_journal_reader_to_start(vx_journal_reader *r);
vx_status vx_journal_reader_to_end(vx_journal_reader *r);
vx_status vx_journal_reader_seek(vx_journal_reader *r, uint64_t seq);
vx_status vx_journal_reader_seek_time(vx_journal_reader *r, int64_t ts);

/* Copies up to n committed records from the position into out, advancing it; *got = records
 * copied (0: nothing committed yet). Corrupt records are skipped and counted. VX_OK, or
 * VX_ESTATE/VX_ESYS if the next segment exists but fails validation (r->fault says why; the
 * records already copied are in out and counted in *got). */
vx_status vx_journal_reader_read(vx_journal_reader *r, void *out, uint64_t n, uint64_t *got);

/* Waits up to timeout_ns for a record at the position to be committed: VX_OK (one is
 * readable, or a gap was skipped), VX_TIMEOUT, or the errors of read. Spins, then yields,
 * then sleeps 50 us steps; every VX_JOURNAL_GAP_CHECK_NS checks whether a later segment
 * exists while this one has an uncommitted slot (a crash cut: counted in skipped, moved on). */
vx_status vx_journal_reader_wait(vx_journal_reader *r, uint64_t timeout_ns);

void vx_journal_reader_close(vx_journal_reader *r);

const char *vx_journal_fault_name(vx_journal_fault fault);

#endif
