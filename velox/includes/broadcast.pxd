# C declarations of csrc/velox/broadcast.h (one-writer, many-reader broadcast ring).
from libc.stdint cimport int32_t, uint32_t, uint64_t

from velox.includes.types cimport vx_status

cdef extern from "velox/broadcast.h" nogil:
    enum:
        VX_BCAST_LINE
        VX_BCAST_MIN_CAPACITY
        VX_BCAST_MAX_READERS
        VX_BCAST_LAYOUT_VERSION
    unsigned int VX_BCAST_MAX_CAPACITY
    unsigned int VX_BCAST_MAX_RECORD_SIZE

    ctypedef struct vx_bcast_block:
        pass

    ctypedef struct vx_bcast:
        vx_bcast_block *block
        uint64_t capacity
        uint32_t record_size
        uint32_t max_readers
        uint64_t head

    ctypedef struct vx_bcast_reader:
        uint64_t cursor
        uint64_t start
        uint64_t read
        uint64_t lost
        uint64_t lapped
        int32_t slot
        int32_t corrupt

    ctypedef struct vx_bcast_shm_header:
        int32_t creator_pid

    ctypedef struct vx_bcast_shm:
        vx_bcast_shm_header *header
        vx_bcast ring
        uint32_t dtype_len
        char dtype[512]
        int sys_errno
        const char *fault

    size_t vx_bcast_footprint(uint32_t capacity, uint32_t record_size, uint32_t max_readers)
    vx_status vx_bcast_init_in(vx_bcast *ring, void *mem, size_t mem_size, uint32_t capacity,
                               uint32_t record_size, uint32_t max_readers)
    uint64_t vx_bcast_head(const vx_bcast *ring)
    vx_status vx_bcast_try_write(vx_bcast *ring, const void *src, size_t n, size_t *written)
    vx_status vx_bcast_write_wait(vx_bcast *ring, const void *src, size_t n, uint64_t deadline_ns,
                                  uint64_t dead_timeout_ns, size_t *written)
    void vx_bcast_reader_init(vx_bcast_reader *rd, const vx_bcast *ring, int from_oldest)
    vx_status vx_bcast_read(vx_bcast_reader *rd, void *dst, size_t max, size_t *got)
    vx_status vx_bcast_read_wait(vx_bcast_reader *rd, void *dst, size_t max, uint64_t deadline_ns,
                                 size_t *got)
    vx_status vx_bcast_reader_register(vx_bcast_reader *rd, uint64_t identity)
    void vx_bcast_reader_unregister(vx_bcast_reader *rd)
    int vx_bcast_reader_registered(const vx_bcast_reader *rd)
    uint64_t vx_bcast_evicted(const vx_bcast *ring)
    uint64_t vx_bcast_gate_waits(const vx_bcast *ring)
    uint32_t vx_bcast_registered(const vx_bcast *ring)

    vx_status vx_bcast_shm_create(vx_bcast_shm *shm, const char *name, uint32_t capacity,
                                  uint32_t record_size, uint32_t max_readers, const char *dtype,
                                  size_t dtype_len)
    vx_status vx_bcast_shm_attach(vx_bcast_shm *shm, const char *name, uint32_t record_size,
                                  uint64_t wait_ns)
    vx_status vx_bcast_shm_detach(vx_bcast_shm *shm)
