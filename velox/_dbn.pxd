# Cython interface of velox._dbn. Downstream Cython can cimport DbnParser and call
# vx_dbn_parse on ``parser.p`` without the GIL (the extension must link csrc/velox/dbn.c).
from velox.includes.dbn cimport vx_dbn_parser

cdef class DbnParser:
    cdef vx_dbn_parser *p
    cdef object _lock
    cdef readonly bint ts_event
