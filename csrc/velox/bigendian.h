/* Big-endian field access for wire formats (NASDAQ ITCH 5.0): loads through memcpy (any
 * alignment), byte swaps by builtin. Header-only: each feed loop inlines them. */
#ifndef VELOX_BIGENDIAN_H
#define VELOX_BIGENDIAN_H

#include <stdint.h>
#include <string.h>

static inline uint16_t vx_be16(const uint8_t *p) { return (uint16_t)((uint16_t)p[0] << 8 | p[1]); }
static inline uint32_t vx_be32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t vx_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline uint64_t vx_be48(const uint8_t *p) {
    return (uint64_t)vx_be16(p) << 32 | vx_be32(p + 2);
}

#endif
