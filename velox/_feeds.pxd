# Cython interface of velox._feeds. Downstream Cython can cimport ItchParser and call
# vx_itch_parse on ``parser.p`` without the GIL (the extension must link csrc/velox/itch.c).
from velox.includes.feeds cimport vx_itch_parser

cdef class ItchParser:
    cdef vx_itch_parser *p
    cdef object _lock
