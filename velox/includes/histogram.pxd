# C declarations of csrc/velox/histogram.h (log-linear latency histogram).
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "velox/histogram.h" nogil:
    enum:
        VX_HISTOGRAM_SUB_BITS
        VX_HISTOGRAM_SUB_COUNT
        VX_HISTOGRAM_SUB_HALF
        VX_HISTOGRAM_VALUE_BITS
        VX_HISTOGRAM_BUCKETS
    uint64_t VX_HISTOGRAM_MAX_VALUE

    ctypedef struct vx_histogram:
        pass

    uint32_t vx_histogram_bucket_index(uint64_t value)
    uint64_t vx_histogram_bucket_lowest(uint32_t index)
    uint64_t vx_histogram_bucket_highest(uint32_t index)
    void vx_histogram_init(vx_histogram *h)
    void vx_histogram_reset(vx_histogram *h)
    void vx_histogram_record(vx_histogram *h, uint64_t value)
    void vx_histogram_record_n(vx_histogram *h, const uint64_t *values, size_t n)
    uint64_t vx_histogram_count(const vx_histogram *h)
    uint64_t vx_histogram_min(const vx_histogram *h)
    uint64_t vx_histogram_max(const vx_histogram *h)
    double vx_histogram_mean(const vx_histogram *h)
    uint64_t vx_histogram_percentile(const vx_histogram *h, double p, int *status)
    size_t vx_histogram_copy_counts(const vx_histogram *h, uint64_t *out, size_t n)
    void vx_histogram_merge(vx_histogram *dst, const vx_histogram *src)
