# Cython interface of velox._feedbooks (the set pointer is valid for the object's lifetime).
from velox.includes.mbo cimport vx_mbo_set

cdef class ItchBooks:
    cdef vx_mbo_set *set
    cdef readonly unsigned int instruments
    cdef object _lock
