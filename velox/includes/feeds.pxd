# C declarations of csrc/velox/itch.h and csrc/velox/lobster.h.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from velox.includes.types cimport vx_mbo, vx_status

cdef extern from "velox/itch.h" nogil:
    enum:
        VX_ITCH_LOCATES
        VX_ITCH_SYMBOL_LEN
        VX_ITCH_MAX_WANTED

    ctypedef struct vx_itch_counts:
        uint64_t messages
        uint64_t events
        uint64_t skipped
        uint64_t unknown
        uint64_t filtered
        uint64_t by_type[256]

    ctypedef struct vx_itch_parser:
        pass

    vx_status vx_itch_parser_create(vx_itch_parser **out)
    void vx_itch_parser_destroy(vx_itch_parser *p)
    void vx_itch_parser_reset(vx_itch_parser *p)
    vx_status vx_itch_filter_symbols(vx_itch_parser *p, const char *symbols, size_t n)
    vx_status vx_itch_route_symbols(vx_itch_parser *p, const char *symbols, size_t n)
    vx_status vx_itch_parse(vx_itch_parser *p, const uint8_t *buf, size_t len, vx_mbo *out,
                            size_t cap, size_t *consumed, size_t *produced)
    const vx_itch_counts *vx_itch_counts_get(const vx_itch_parser *p)
    uint64_t vx_itch_offset(const vx_itch_parser *p)
    int vx_itch_symbol(const vx_itch_parser *p, uint16_t locate, char *out)
    int vx_itch_wanted_named(const vx_itch_parser *p, size_t i)
    uint64_t vx_itch_error_offset(const vx_itch_parser *p)
    uint8_t vx_itch_error_type(const vx_itch_parser *p)
    const char *vx_itch_error(const vx_itch_parser *p)
    size_t vx_itch_message_length(uint8_t type)
    vx_status vx_itch_write(const vx_mbo *events, size_t n, const char *symbols, size_t n_symbols,
                            uint8_t *out, size_t cap, size_t *done, size_t *written)
    vx_status vx_itch_write_directory(uint16_t locate, uint64_t ts, const char *symbol,
                                      uint8_t *out, size_t cap, size_t *written)

cdef extern from "velox/lobster.h" nogil:
    enum:
        VX_LOBSTER_MAX_LINE

    ctypedef struct vx_lobster_error:
        uint64_t line
        uint64_t column
        const char *what

    vx_status vx_lobster_parse_messages(const char *buf, size_t len, uint32_t instrument,
                                        vx_mbo *out, size_t cap, size_t *n, vx_lobster_error *err)
    vx_status vx_lobster_parse_book(const char *buf, size_t len, size_t levels, int64_t *ask_px,
                                    uint64_t *ask_qty, int64_t *bid_px, uint64_t *bid_qty,
                                    size_t cap_rows, size_t *rows, vx_lobster_error *err)
    size_t vx_lobster_first_line_fields(const char *buf, size_t len)
    vx_status vx_lobster_write_messages(const vx_mbo *events, size_t n, char *out, size_t cap,
                                        size_t *done, size_t *written)


cdef extern from "velox/itch_levels.h" nogil:
    enum:
        VX_ITCH_LEVELS_MAX_WINDOW_BITS
        VX_ITCH_LEVELS_MAX_SPILL
        VX_ITCH_LEVELS_RECORD_BYTES
        VX_ITCH_LEVELS_SPILL_BYTES

    ctypedef struct vx_itch_levels:
        pass

    ctypedef struct vx_itch_levels_counts:
        uint64_t messages
        uint64_t applied
        uint64_t rejected
        uint64_t rejected_by_reason[8]
        uint64_t unknown_orders
        uint64_t other_messages
        uint64_t unknown_types
        uint64_t traded_qty
        uint64_t live
        uint64_t outside
        uint64_t spilled
        uint64_t slides
        uint64_t slides_refused

    vx_status vx_itch_levels_create(uint32_t instruments, uint32_t levels, uint32_t tick,
                                    uint32_t window_bits, uint32_t spill_capacity,
                                    vx_itch_levels **out)
    void vx_itch_levels_destroy(vx_itch_levels *b)
    void vx_itch_levels_reset(vx_itch_levels *b)
    vx_status vx_itch_levels_feed(vx_itch_levels *b, const uint8_t *buf, size_t len,
                                  size_t *consumed)
    vx_status vx_itch_levels_feed_until(vx_itch_levels *b, const uint8_t *buf, size_t len,
                                        uint64_t until_ns, size_t *consumed)
    void vx_itch_levels_counts_read(const vx_itch_levels *b, vx_itch_levels_counts *out)
    uint64_t vx_itch_levels_error_offset(const vx_itch_levels *b)
    uint8_t vx_itch_levels_error_type(const vx_itch_levels *b)
    const char *vx_itch_levels_error(const vx_itch_levels *b)
    vx_status vx_itch_levels_best(const vx_itch_levels *b, uint32_t instrument, int side,
                                  int64_t *price, uint64_t *qty)
    size_t vx_itch_levels_depth(const vx_itch_levels *b, uint32_t instrument, int side, size_t n,
                                int64_t *prices, uint64_t *qtys)
    int vx_itch_levels_base(const vx_itch_levels *b, uint32_t instrument, int64_t *base)
    size_t vx_itch_levels_memory_bytes(const vx_itch_levels *b)
