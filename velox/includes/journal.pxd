# C declarations of csrc/velox/journal.h (append-only journal of fixed-size records).
from libc.stdint cimport int64_t, uint32_t, uint64_t

from velox.includes.types cimport vx_status

cdef extern from "velox/journal.h" nogil:
    unsigned long long VX_JOURNAL_MAGIC
    unsigned int VX_JOURNAL_VERSION
    unsigned int VX_JOURNAL_HEADER_SIZE
    unsigned int VX_JOURNAL_DTYPE_MAX
    unsigned int VX_JOURNAL_MAX_RECORD
    unsigned long long VX_JOURNAL_MAX_FILE
    enum:
        VX_JOURNAL_TS_NONE
        VX_JOURNAL_TS_I64
        VX_JOURNAL_TS_U64

    ctypedef enum vx_journal_fault:
        VX_JOURNAL_FAULT_NONE
        VX_JOURNAL_FAULT_ARGUMENT
        VX_JOURNAL_FAULT_SYSTEM
        VX_JOURNAL_FAULT_EMPTY
        VX_JOURNAL_FAULT_EXISTS
        VX_JOURNAL_FAULT_LOCKED
        VX_JOURNAL_FAULT_VERSION
        VX_JOURNAL_FAULT_TIME

    ctypedef struct vx_journal_shape:
        uint64_t capacity
        uint32_t record_size
        uint32_t slot_size
        uint32_t ts_offset
        uint32_t ts_kind
        uint32_t dtype_len
        char dtype[512]

    ctypedef struct vx_journal_seg:
        unsigned char *base
        size_t size
        uint64_t first

    # the busy guard word is touched only through vx_journal_*_enter / _leave
    ctypedef struct vx_journal_writer:
        vx_journal_shape shape
        vx_journal_seg seg
        uint64_t next_seq
        uint64_t first_seq
        uint64_t cut
        vx_journal_fault fault
        int sys_errno
        uint32_t fault_version

    ctypedef struct vx_journal_reader:
        vx_journal_shape shape
        vx_journal_seg seg
        uint64_t pos
        uint64_t first_seq
        uint64_t skipped
        vx_journal_fault fault
        int sys_errno
        uint32_t fault_version

    bint vx_journal_writer_enter(vx_journal_writer *w)
    void vx_journal_writer_leave(vx_journal_writer *w)
    bint vx_journal_reader_enter(vx_journal_reader *r)
    void vx_journal_reader_leave(vx_journal_reader *r)
    vx_status vx_journal_create(vx_journal_writer *w, const char *dir, uint32_t record_size,
                                uint64_t segment_bytes, const char *dtype, size_t dtype_len,
                                uint32_t ts_offset, uint32_t ts_kind)
    vx_status vx_journal_open(vx_journal_writer *w, const char *dir)
    vx_status vx_journal_append(vx_journal_writer *w, const void *records, uint64_t n,
                                uint64_t *bad)
    vx_status vx_journal_sync(vx_journal_writer *w)
    void vx_journal_close(vx_journal_writer *w)
    vx_status vx_journal_reader_open(vx_journal_reader *r, const char *dir)
    vx_status vx_journal_reader_to_start(vx_journal_reader *r)
    vx_status vx_journal_reader_to_end(vx_journal_reader *r)
    vx_status vx_journal_reader_seek(vx_journal_reader *r, uint64_t seq)
    vx_status vx_journal_reader_seek_time(vx_journal_reader *r, int64_t ts)
    vx_status vx_journal_reader_read(vx_journal_reader *r, void *out, uint64_t n, uint64_t *got)
    vx_status vx_journal_reader_wait(vx_journal_reader *r, uint64_t timeout_ns)
    void vx_journal_reader_close(vx_journal_reader *r)
    const char *vx_journal_fault_name(vx_journal_fault fault)
