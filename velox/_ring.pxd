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
# Keep a Python reference to the SpscRing for as long as the C pointer is used, and check
# ``ring.ring != NULL`` first (or call ``ring._live("where")``): a closed SharedRing (a
# subclass) has ring == NULL. Bump ``_producer_busy`` / ``_consumer_busy`` around a GIL-free
# section so that a SharedRing refuses close() meanwhile.
from libc.stdint cimport uint32_t, uint64_t

cimport numpy as cnp

from velox.includes.ring cimport vx_ring, vx_ring_try_push
from velox.includes.types cimport VX_FULL, VX_OK, vx_status

cdef class SpscRing:
    cdef vx_ring *ring            # the C ring (owned; freed with the object)
    cdef readonly object dtype    # numpy.dtype of one record
    cdef readonly Py_ssize_t itemsize
    cdef uint32_t _capacity
    cdef int _record_kind         # 1: TXN_DTYPE, 2: BUNDLE_DTYPE, 0: other
    cdef char *_push_scratch      # producer-owned, itemsize bytes
    cdef char *_pop_scratch       # consumer-owned, itemsize bytes
    cdef char *_wait_scratch      # producer-owned: the record a blocking push waits with
    cdef int _producer_busy       # producer-side GIL-free sections in progress (producer-owned)
    cdef int _consumer_busy       # consumer-side GIL-free sections in progress (consumer-owned)

    # Every public method and every module-level function taking a ring calls _live first:
    # a subclass (SharedRing) sets ring = NULL when closed, and this turns that into a
    # ValueError instead of a NULL dereference. Inline: one compare on the hot path.
    cdef inline int _live(self, str where) except -1:
        if self.ring == NULL:
            return self._raise_closed(where)
        return 0

    cdef int _raise_closed(self, str where) except -1
    # Hook run by every producer (producer=True) or consumer method after _live, before it
    # touches the ring: a no-op here; SharedRing claims the process-wide role.
    cdef int _side(self, bint producer, str where) except -1

    cdef const char *_item_data(self, object item, str where) except NULL
    cdef object _batch_array(self, object array, str where, bint writable)
    cdef object _scalar_from(self, const void *data)
    cdef int _wait(self, bint producer, const char *src, char *dst, uint64_t deadline,
                   object timeout, str where) except -1
    # Hook for the batch waits: 1 if the other side can never move again (a SharedRing's
    # peer process died or closed the ring); 0 here.
    cdef int _peer_gone(self, bint producer) except -1
    cdef object _push_many_wait(self, cnp.ndarray arr, const char *src, Py_ssize_t length,
                                uint64_t deadline, object timeout)
    cdef uint32_t _pop_many_wait(self, void *dst, uint32_t n, object min_n, uint64_t deadline,
                                 object timeout) except? 0xFFFFFFFF

# Raise the Python exception for an unexpected C status of the SpscRing method `where` (always
# raises). Shared with velox._txnring so both map every status the same way.
cdef int _raise_status(vx_status st, str where) except -1

# try_push's end, after the caller's _live and _side: one record from `data` into the ring;
# True, or False when full (counted in rejected_full); another status raises. Shared by
# SpscRing.try_push and TxnRing.try_push's Transaction path.
cdef inline object _try_push_data(SpscRing ring, const void *data):
    cdef vx_status st = vx_ring_try_push(ring.ring, data)
    if st == VX_OK:
        return True
    if st == VX_FULL:
        return False
    _raise_status(st, "try_push")

# Marks the producer (producer=True) or consumer side of `ring` busy (delta 1) or done again
# (delta -1) around a blocking wait: a SharedRing's close() refuses while a side is busy.
# A function rather than a method, so that SpscRing's method table stays as it was.
cdef inline void _mark_busy(SpscRing ring, bint producer, int delta) noexcept:
    if producer:
        ring._producer_busy += delta
    else:
        ring._consumer_busy += delta
