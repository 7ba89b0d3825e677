# Cython interface of velox._journal. Downstream Cython (a source thread) may drive a reader
# without the GIL through ``reader.r`` and vx_journal_reader_read / _wait (velox.includes.journal),
# holding a reference to the JournalReader and bracketing the GIL-free section with
# vx_journal_reader_enter / _leave on ``&reader.r`` so close() refuses meanwhile.
from libc.stdint cimport uint64_t

from velox.includes.types cimport vx_status
from velox.includes.journal cimport vx_journal_reader, vx_journal_writer

cdef class Journal:
    cdef vx_journal_writer w
    cdef bint _open
    cdef readonly object path
    cdef readonly object dtype
    cdef readonly object ts_field

    cdef int _live(self, str where) except -1
    cdef object _append(self, const void *src, uint64_t n, str where, object keep)

cdef class JournalReader:
    cdef vx_journal_reader r
    cdef bint _open
    cdef readonly object path
    cdef readonly object dtype
    cdef readonly object ts_field

    cdef int _live(self, str where) except -1
    cdef int _check(self, vx_status st, str where) except -1
    cdef bint _wait(self, uint64_t deadline) except -1
