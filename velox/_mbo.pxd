# Cython interface of velox._mbo. Downstream Cython can cimport MboBook and call the C hot
# path on ``book.book`` without the GIL, e.g.
#
#     from velox._mbo cimport MboBook
#     from velox.includes.mbo cimport vx_mbo_apply_many
#     with nogil:
#         vx_mbo_apply_many(book.book, events, n, &applied, &rejected)
#
# (the calling extension must link csrc/velox/mbo.c and types.c: no globals, so a second copy
# of the code is safe). The pointer is valid for the MboBook's lifetime; the single-writer
# contract of mbo.h applies.
from libc.stdint cimport int64_t, uint32_t

from velox.includes.guard cimport vx_guard
from velox.includes.mbo cimport vx_mbo_book
from velox.includes.types cimport vx_mbo, vx_status

cdef class MboBook:
    cdef vx_mbo_book *book
    # The threading contract (velox/guard.h): writer flag, GIL-free readers, exclusive calls.
    # Downstream Cython calling the C API on ``book`` itself keeps to mbo.h's contract.
    cdef vx_guard guard
    cdef readonly int levels
    cdef readonly long long tick_size
    # The last dtype object equal to MBO_DTYPE that apply() saw (arrays from np.load carry an
    # equal but distinct dtype): apply() accepts it with a pointer compare.
    cdef object _descr_ok

    cdef int _raise_reject(self, vx_status st, int reason, const vx_mbo *e) except -1
    cdef int _raise_price(self, vx_status st, object price) except -1
    cdef object _best(self, int side)
    cdef int _enter_writer(self, str what) except -1
    cdef int _enter_reader(self, str what) except -1
    cdef int _enter_exclusive(self, str what) except -1
    cdef int _refuse(self, str what, uint32_t inside) except -1
