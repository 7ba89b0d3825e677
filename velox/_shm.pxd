# Cython interface of velox._shm. SharedRing is an SpscRing whose ring lives in a POSIX
# shared-memory segment, so downstream Cython can drive it without the GIL exactly like an
# SpscRing (``ring.ring`` is the vx_ring in the mapping):
#
#     from velox._shm cimport SharedRing
#     from velox.includes.ring cimport vx_ring_try_push
#     cdef SharedRing ring = velox.SharedRing.attach("velox-feed")
#     with nogil:
#         st = vx_ring_try_push(ring.ring, &txn)
#
# Link csrc/velox/shm.c, ring.c, tsc.c and types.c into the downstream extension for the
# non-inline C functions (no globals in csrc, so separate copies are safe).
# The nogil path skips role claiming and peer checks: the calling process must be the only
# producer (or consumer) of the segment, and must keep the SharedRing open while it uses the
# pointer (bump ring._producer_busy / _consumer_busy around the GIL-free section so close()
# refuses meanwhile). ``ring.shm`` gives the segment handle for vx_shm_push_wait / vx_shm_pop_wait.
from posix.types cimport pid_t

from velox._ring cimport SpscRing
from velox.includes.shm cimport vx_shm, vx_shm_role

cdef class SharedRing(SpscRing):
    cdef vx_shm shm                 # the mapping (shm.header NULL once closed)
    cdef readonly object name       # segment name, without the leading '/'
    cdef long _producer_gen         # fork generation in which we claimed the producer role
    cdef long _consumer_gen         # likewise for the consumer role (-1: not claimed)
    cdef pid_t _creator_pid         # getpid() of the creator, 0 for attached handles

    cdef int _adopt(self, unsigned int capacity) except -1
    cdef int _claim(self, vx_shm_role role, str where) except -1
    cdef object _peer(self, vx_shm_role role)
