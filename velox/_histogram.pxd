# Cython interface of velox._histogram: downstream Cython can cimport Histogram and record
# into the C histogram without the GIL:
#     from velox._histogram cimport Histogram
#     from velox.includes.histogram cimport vx_histogram_record
#     with nogil: vx_histogram_record(hist.h, latency_ns)     # single writer!
cimport cython

from velox.includes.histogram cimport vx_histogram

cdef class Histogram:
    cdef vx_histogram *h
    cdef cython.pymutex _lock     # held by every Python method that touches *h

# A new Histogram holding a copy (merge) of a C histogram, e.g. a live pipeline histogram.
cdef Histogram histogram_snapshot(const vx_histogram *src)
