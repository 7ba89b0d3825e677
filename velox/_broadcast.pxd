# Cython interface of velox._broadcast. Downstream Cython may read a BroadcastReader's C reader
# without the GIL (vx_bcast_read on ``reader.rd``) while it holds a reference to the reader and
# keeps the ring open (bump ring._busy around the GIL-free section so close() refuses).
from libc.stdint cimport uint64_t
from posix.types cimport pid_t

from velox.includes.broadcast cimport vx_bcast, vx_bcast_reader, vx_bcast_shm

cdef class BroadcastRing:
    cdef vx_bcast heap_ring          # the in-process ring's handle (unused for shm rings)
    cdef vx_bcast_shm shm            # the mapping of a shared-memory ring
    cdef vx_bcast *ring              # &heap_ring or &shm.ring; NULL once closed
    cdef void *memory                # heap block of an in-process ring
    cdef readonly object dtype
    cdef readonly Py_ssize_t itemsize
    cdef readonly object name        # segment name, None in-process
    cdef readonly object dead_reader_timeout
    cdef pid_t _writer_pid           # the process that may write (0: attached, read-only)
    cdef bint _creator
    cdef public long _busy           # GIL-free sections in progress (close() refuses)
    cdef object _readers             # weakref.WeakSet of open readers

    cdef int _live(self, str where) except -1
    cdef int _check_writer(self, str where) except -1
    cdef object _batch(self, object array, str where, bint writable)

cdef class BroadcastReader:
    cdef vx_bcast_reader rd
    cdef readonly BroadcastRing ring
    cdef bint closed
    cdef char *_scratch
    cdef object __weakref__

    cdef int _detach(self) except -1
    cdef int _live(self, str where) except -1
    cdef size_t _read_into(self, char *dst, size_t n, object timeout, str where) except? <size_t>-1
