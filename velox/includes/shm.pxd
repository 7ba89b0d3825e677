# C declarations of csrc/velox/shm.h (SPSC ring in a POSIX shared-memory segment).
from libc.stdint cimport int32_t, uint32_t, uint64_t
from posix.types cimport pid_t

from velox.includes.ring cimport vx_ring
from velox.includes.types cimport vx_status

# Names, fault codes and unlink: every segment kind's (shm.h includes shm_segment.h).
cdef extern from "velox/shm_segment.h" nogil:
    enum:
        VX_SHM_DTYPE_MAX
        VX_SHM_NAME_MAX
        VX_SHM_INITIALISING
        VX_SHM_READY

    ctypedef enum vx_shm_fault:
        VX_SHM_FAULT_NONE
        VX_SHM_FAULT_NAME
        VX_SHM_FAULT_ARGUMENT
        VX_SHM_FAULT_SYSTEM
        VX_SHM_FAULT_NOT_READY
        VX_SHM_FAULT_TOO_SMALL
        VX_SHM_FAULT_MAGIC
        VX_SHM_FAULT_VERSION
        VX_SHM_FAULT_HEADER
        VX_SHM_FAULT_DTYPE
        VX_SHM_FAULT_RECORD_SIZE
        VX_SHM_FAULT_RING

    int vx_shm_name_valid(const char *name)
    vx_status vx_shm_unlink(const char *name)
    const char *vx_shm_fault_name(vx_shm_fault fault)

cdef extern from "velox/shm.h" nogil:
    unsigned long long VX_SHM_MAGIC
    unsigned int VX_SHM_LAYOUT_VERSION
    enum:
        VX_SHM_LINE
    unsigned long long VX_SHM_PEER_CHECK_NS

    ctypedef enum vx_shm_role:
        VX_SHM_PRODUCER
        VX_SHM_CONSUMER

    ctypedef enum vx_shm_peer:
        VX_SHM_PEER_NONE
        VX_SHM_PEER_ALIVE
        VX_SHM_PEER_DEAD
        VX_SHM_PEER_DEPARTED


    # Only the immutable line-0 fields are declared for reading; the atomics stay in C.
    ctypedef struct vx_shm_header:
        uint64_t magic
        uint32_t layout_version
        uint32_t header_size
        uint64_t segment_size
        uint64_t ring_offset
        uint64_t ring_size
        uint64_t capacity
        uint32_t record_size
        uint32_t dtype_len
        int32_t creator_pid
        uint64_t creator_identity
        char dtype[512]

    # ring (the private vx_ring handle) is reached through vx_shm_ring().
    ctypedef struct vx_shm:
        vx_shm_header *header
        size_t mapped_size
        uint64_t capacity
        uint32_t record_size
        uint32_t dtype_len
        char dtype[512]
        vx_shm_fault fault
        int sys_errno
        char name[202]

    vx_ring *vx_shm_ring(vx_shm *shm)
    size_t vx_shm_segment_size(uint32_t capacity, uint32_t record_size)
    vx_status vx_shm_create(vx_shm *shm, const char *name, uint32_t capacity,
                            uint32_t record_size, const char *dtype, size_t dtype_len)
    vx_shm_peer vx_shm_creator_state(const char *name, pid_t *pid)
    vx_status vx_shm_attach(vx_shm *shm, const char *name, uint32_t expected_record_size,
                            uint64_t wait_ns)
    vx_status vx_shm_detach(vx_shm *shm)
    uint64_t vx_shm_identity(pid_t pid)
    vx_status vx_shm_claim(vx_shm *shm, vx_shm_role role, uint64_t me, pid_t *holder_pid)
    vx_status vx_shm_release(vx_shm *shm, vx_shm_role role, uint64_t me)
    vx_shm_peer vx_shm_peer_state(const vx_shm *shm, vx_shm_role role, pid_t *pid)
    vx_status vx_shm_push_wait(vx_shm *shm, const void *record, uint64_t timeout_ns,
                               pid_t *peer_pid)
    vx_status vx_shm_pop_wait(vx_shm *shm, void *record, uint64_t timeout_ns, pid_t *peer_pid)
