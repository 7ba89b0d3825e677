# Cython interface of velox._ring. Downstream Cython can cimport SpscRing and drive the C ring
# without the GIL:
#
#     from velox._ring cimport SpscRing
#     from velox.includes.ring cimport vx_ring_try_push, vx_ring_try_pop
#     from velox.includes.types cimport vx_txn, VX_OK
#     cdef SpscRing ring = velox.SpscRing(4096, velox.TXN_DTYPE)
#     cdef vx_txn t
#     with nogil:
#         if vx_ring_try_push(ring.ring, &t) == VX_OK: ...
#
# Keep a Python reference to the SpscRing for as long as the C pointer is used.
from libc.stdint cimport uint32_t, uint64_t

from velox.includes.ring cimport vx_ring

cdef class SpscRing:
    cdef vx_ring *ring            # the C ring (owned; freed with the object)
    cdef readonly object dtype    # numpy.dtype of one record
    cdef readonly Py_ssize_t itemsize
    cdef uint32_t _capacity
    cdef int _record_kind         # 1: TXN_DTYPE, 2: BUNDLE_DTYPE, 0: other
    cdef char *_push_scratch      # producer-owned, itemsize bytes
    cdef char *_pop_scratch       # consumer-owned, itemsize bytes

    cdef const char *_item_data(self, object item, str where) except NULL
    cdef object _batch_array(self, object array, str where, bint writable)
    cdef object _scalar_from(self, const void *data)
    cdef int _wait(self, bint producer, const char *src, char *dst, uint64_t deadline,
                   object timeout, str where) except -1
