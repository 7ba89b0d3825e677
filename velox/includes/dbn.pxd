# C declarations of csrc/velox/dbn.h.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from velox.includes.types cimport vx_mbo, vx_status

cdef extern from "velox/dbn.h" nogil:
    enum:
        VX_DBN_RTYPE_MBO
        VX_DBN_MBO_LEN
        VX_DBN_HEADER_LEN
        VX_DBN_MAX_RECORD

    ctypedef struct vx_dbn_counts:
        uint64_t records
        uint64_t events
        uint64_t skipped
        uint64_t none
        uint64_t snapshot
        uint64_t bad_ts_recv
        uint64_t maybe_bad_book
        uint64_t by_action[256]
        uint64_t by_rtype[256]
        uint64_t by_flags[256]

    ctypedef struct vx_dbn_parser:
        pass

    vx_status vx_dbn_parser_create(int ts_event, vx_dbn_parser **out)
    void vx_dbn_parser_destroy(vx_dbn_parser *p)
    vx_status vx_dbn_parse(vx_dbn_parser *p, const uint8_t *buf, size_t len, vx_mbo *out,
                           size_t cap, size_t *consumed, size_t *produced)
    const vx_dbn_counts *vx_dbn_counts_get(vx_dbn_parser *p)
    uint64_t vx_dbn_offset(const vx_dbn_parser *p)
    void vx_dbn_set_offset(vx_dbn_parser *p, uint64_t offset)
    uint64_t vx_dbn_error_offset(const vx_dbn_parser *p)
    uint8_t vx_dbn_error_rtype(const vx_dbn_parser *p)
    const char *vx_dbn_error(const vx_dbn_parser *p)
