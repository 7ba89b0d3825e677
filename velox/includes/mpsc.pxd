# C declarations of csrc/velox/mpsc.h (bounded MPSC ring, in process or in shared memory).
from libc.stdint cimport int32_t, uint32_t, uint64_t

from velox.includes.shm cimport vx_shm_fault
from velox.includes.types cimport vx_status

cdef extern from "velox/mpsc.h" nogil:
    unsigned long long VX_MPSC_MAGIC
    unsigned int VX_MPSC_LAYOUT_VERSION
    unsigned int VX_MPSC_MAX_CAPACITY
    unsigned int VX_MPSC_MAX_RECORD_SIZE
    unsigned long long VX_MPSC_OWNER_CHECK_NS

    ctypedef struct vx_mpsc_header:
        pass

    ctypedef struct vx_mpsc:
        vx_mpsc_header *header
        uint64_t capacity
        uint32_t record_size
        uint32_t dtype_len
        int is_consumer
        uint64_t identity
        uint64_t stall_timeout_ns
        int corrupt
        vx_shm_fault fault
        int sys_errno
        char dtype[512]

    ctypedef struct vx_mpsc_claim:
        uint64_t pos
        uint32_t n

    size_t vx_mpsc_footprint(uint32_t capacity, uint32_t record_size)
    vx_status vx_mpsc_create(vx_mpsc *q, uint32_t capacity, uint32_t record_size,
                             uint64_t stall_timeout_ns)
    void vx_mpsc_destroy(vx_mpsc *q)
    vx_status vx_mpsc_shm_create(vx_mpsc *q, const char *name, uint32_t capacity,
                                 uint32_t record_size, const char *dtype, size_t dtype_len,
                                 uint64_t stall_timeout_ns)
    vx_status vx_mpsc_shm_attach(vx_mpsc *q, const char *name, uint32_t expected_record_size,
                                 uint64_t wait_ns)
    vx_status vx_mpsc_shm_detach(vx_mpsc *q)
    vx_status vx_mpsc_push_n(vx_mpsc *q, const void *elems, uint32_t n, uint32_t *pushed)
    vx_status vx_mpsc_claim_n(vx_mpsc *q, uint32_t n, vx_mpsc_claim *claim)
    vx_status vx_mpsc_publish(vx_mpsc *q, const vx_mpsc_claim *claim, const void *elems,
                              uint32_t *delivered)
    vx_status vx_mpsc_pop_n(vx_mpsc *q, void *out, uint32_t max_n, uint32_t *popped)
    uint64_t vx_mpsc_head(const vx_mpsc *q)
    uint64_t vx_mpsc_tail(const vx_mpsc *q)
    uint64_t vx_mpsc_skipped(const vx_mpsc *q)
    uint64_t vx_mpsc_late(const vx_mpsc *q)
    uint64_t vx_mpsc_last_skipped_pid(const vx_mpsc *q)
    int vx_mpsc_consumer_gone(const vx_mpsc *q)
