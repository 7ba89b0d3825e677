cimport numpy as cnp
from libc.stdint cimport uint32_t, uint64_t

from velox.includes.mpsc cimport vx_mpsc


cdef class MpscRing:
    cdef vx_mpsc q
    cdef readonly object dtype
    cdef readonly Py_ssize_t itemsize
    cdef readonly object name
    cdef int _busy
    cdef long _pid
    cdef bint _closed
    cdef bint _creator
    cdef void _enter(self) noexcept nogil
    cdef void _leave(self) noexcept nogil
    cdef int _live(self, str what) except -1
    cdef cnp.ndarray _records(self, object records, str what)
    cdef cnp.ndarray _one(self, object record, str what)
    cdef uint64_t _push_one(self, object record, object timeout, str what) except? 0xFFFFFFFFFFFFFFFF
    cdef uint64_t _push(self, const char *src, uint64_t total, object timeout,
                        str what) except? 0xFFFFFFFFFFFFFFFF
    cdef object _try_pop_small(self, str what)
    cdef uint32_t _pop(self, void *dst, uint32_t n, uint32_t min_n, object timeout,
                       str what) except? 0xFFFFFFFF
