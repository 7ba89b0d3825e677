# Cython interface of velox._txnring. TxnRing is an SpscRing (velox/_ring.pxd) fixed to
# TXN_DTYPE; downstream Cython can cimport it and use SpscRing's C-level members.
from velox._ring cimport SpscRing

cdef class TxnRing(SpscRing):
    # The oldest record as a validated Transaction (InvalidRecordError otherwise), or None if
    # the ring is empty; `where` names the public method in messages. Consumer side.
    cdef object _take(self, str where)
