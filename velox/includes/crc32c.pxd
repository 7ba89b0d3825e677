# C declarations of csrc/velox/crc32c.h (CRC32C: hardware or portable, chosen at run time).
from libc.stdint cimport uint32_t

cdef extern from "velox/crc32c.h" nogil:
    enum:
        VX_CRC32C_PORTABLE
        VX_CRC32C_SSE42
        VX_CRC32C_ARMV8

    int vx_crc32c_impl()
    const char *vx_crc32c_impl_name(int impl)
    uint32_t vx_crc32c(uint32_t crc, const void *p, size_t n)
