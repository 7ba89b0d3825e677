# C declarations of csrc/velox/ring.h (lock-free SPSC ring of fixed-size records).
# Every function is nogil; the single-record hot path (try_push / try_pop) is static inline in
# the header, so Cython code calling it compiles it in place.
from libc.stdint cimport uint32_t, uint64_t

from velox.includes.types cimport vx_status

cdef extern from "velox/ring.h" nogil:
    enum:
        VX_RING_LINE
        VX_RING_ALIGN
        VX_RING_SLOTS_OFFSET
        VX_RING_LAYOUT_VERSION
    unsigned int VX_RING_MIN_CAPACITY
    unsigned int VX_RING_MAX_CAPACITY
    unsigned int VX_RING_MAX_ELEM_SIZE
    unsigned int VX_RING_MAGIC

    # The process-private handle; opaque to Cython: use the functions below.
    ctypedef struct vx_ring:
        pass

    ctypedef struct vx_ring_span:
        void *first
        uint32_t first_n
        uint32_t second_n
        void *second

    ctypedef struct vx_ring_backoff:
        uint32_t step

    size_t vx_ring_footprint(uint32_t capacity, uint32_t elem_size)
    vx_status vx_ring_init_in(vx_ring *ring, void *mem, size_t mem_size, uint32_t capacity,
                              uint32_t elem_size)
    vx_status vx_ring_attach(vx_ring *ring, void *mem, size_t mem_size)
    vx_status vx_ring_create(uint32_t capacity, uint32_t elem_size, vx_ring **out)
    void vx_ring_destroy(vx_ring *ring)

    uint32_t vx_ring_capacity(const vx_ring *r)
    uint32_t vx_ring_elem_size(const vx_ring *r)
    bint vx_ring_corrupt(const vx_ring *r)
    void *vx_ring_slot(vx_ring *r, uint64_t index)
    uint64_t vx_ring_pushed(const vx_ring *r)
    uint64_t vx_ring_popped(const vx_ring *r)
    uint64_t vx_ring_rejected_full(const vx_ring *r)
    uint32_t vx_ring_size(const vx_ring *r)
    uint32_t vx_ring_free_slots(const vx_ring *r)

    vx_status vx_ring_try_push(vx_ring *r, const void *elem)
    vx_status vx_ring_push_n(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed)
    vx_status vx_ring_reserve(vx_ring *r, uint32_t max_n, vx_ring_span *span)
    vx_status vx_ring_commit(vx_ring *r, uint32_t n)

    vx_status vx_ring_try_pop(vx_ring *r, void *out)
    vx_status vx_ring_pop_n(vx_ring *r, void *out, uint32_t max_n, uint32_t *popped)
    vx_status vx_ring_peek(vx_ring *r, uint32_t max_n, vx_ring_span *span)
    vx_status vx_ring_release(vx_ring *r, uint32_t n)

    void vx_ring_backoff_pause(vx_ring_backoff *backoff)
    vx_status vx_ring_push_wait(vx_ring *r, const void *elem, uint64_t deadline_ns,
                                vx_ring_backoff *backoff)
    vx_status vx_ring_pop_wait(vx_ring *r, void *out, uint64_t deadline_ns,
                               vx_ring_backoff *backoff)
    vx_status vx_ring_push_n_wait(vx_ring *r, const void *elems, uint32_t n, uint32_t *pushed,
                                  uint64_t deadline_ns, vx_ring_backoff *backoff)
    vx_status vx_ring_pop_n_wait(vx_ring *r, void *out, uint32_t max_n, uint32_t min_n,
                                 uint32_t *popped, uint64_t deadline_ns, vx_ring_backoff *backoff)
