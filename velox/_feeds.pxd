# Cython interface of velox._feeds. Downstream Cython can cimport ItchParser and call
# vx_itch_parse on ``parser.p`` without the GIL (the extension must link csrc/velox/itch.c).
from velox.includes.feeds cimport vx_itch_parser
from velox.includes.mbo cimport vx_mbo_set

cdef class ItchParser:
    cdef vx_itch_parser *p
    cdef object _lock
    cdef size_t _n_wanted

cdef class ItchBooks:
    cdef vx_mbo_set *set
    cdef readonly unsigned int instruments
    cdef object _lock
