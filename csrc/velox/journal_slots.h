/*
 * velox/journal_slots.h — journal.c's slot loops (copy and checksum records into or out of
 * slots), not a contract of its own: journal.c includes it once per CRC32C implementation with
 * VX_SLOTS_IMPL defined to portable, sse42 or armv8. Each inclusion defines read_slots_<impl>
 * and write_slots_<impl>, compiled for that implementation's instructions
 * (VX_CRC32C_TARGET_<impl>), so vx_crc32c_copy_<impl> inlines into them and a record size
 * that is a constant (16..64 bytes in steps of 8) unrolls into straight-line code. journal.c
 * picks one pair per batch call (crc32c.h, Hot loops).
 */
#ifndef VX_SLOTS_IMPL
#error "journal_slots.h is included by journal.c with VX_SLOTS_IMPL defined"
#endif

#define VX_SLOTS_CAT_(a, b) a##_##b
#define VX_SLOTS_CAT(a, b) VX_SLOTS_CAT_(a, b)
#define VX_SLOTS_FN(name) VX_SLOTS_CAT(name, VX_SLOTS_IMPL)
#define VX_SLOTS_TARGET VX_SLOTS_CAT(VX_CRC32C_TARGET, VX_SLOTS_IMPL)

/* Reads the slots of one mapped run: slot j (0 <= j < slots) holds sequence seq + j. Copies
 * committed, valid records to dst one after another (at most want), steps over corrupt ones
 * (counted in *skipped), stops at the first uncommitted slot. Returns the slots stepped over
 * (copied + skipped). `size` is a constant where read_slots inlines it. */
VX_SLOTS_TARGET static inline __attribute__((always_inline)) uint64_t
VX_SLOTS_FN(read_run)(const uint8_t *slot, uint64_t seq, uint64_t slots, uint8_t *dst,
                      uint64_t want, uint32_t size, uint64_t *copied, uint64_t *skipped) {
    const uint32_t slot_size = 8 + ((size + 7u) & ~7u);
    uint64_t j = 0, k = 0, bad = 0;
    /* the low half of slot j's commit word: the flag and sequence seq + j's bits */
    uint32_t low = (uint32_t)(COMMIT_FLAG | (seq & SEQ_BITS));
    for (; j < slots && k < want;
         j++, slot += slot_size, low = (uint32_t)(COMMIT_FLAG | ((low + 1u) & SEQ_BITS))) {
        /* bounded by slots */
        uint64_t c = load_commit(slot);
        if (c == 0) break;
        /* the sequence bits first: a slot of another sequence is not copied at all */
        if ((uint32_t)c == low &&
            VX_SLOTS_FN(vx_crc32c_copy)(0, dst + k * size, slot + 8, size) ==
                (uint32_t)(c >> 32))
            k++;
        else
            bad++;
    }
    *copied = k;
    *skipped = bad;
    return j;
}

/* read_run with the record size made a constant for the common sizes. */
VX_SLOTS_TARGET static uint64_t VX_SLOTS_FN(read_slots)(const uint8_t *slot, uint64_t seq,
                                                        uint64_t slots, uint8_t *dst,
                                                        uint64_t want, uint32_t size,
                                                        uint64_t *copied, uint64_t *skipped) {
#define VX_READ_CASE(N) \
    case N: return VX_SLOTS_FN(read_run)(slot, seq, slots, dst, want, N, copied, skipped);
    switch (size) {
    VX_READ_CASE(16) VX_READ_CASE(24) VX_READ_CASE(32) VX_READ_CASE(40)
    VX_READ_CASE(48) VX_READ_CASE(56) VX_READ_CASE(64)
    default: return VX_SLOTS_FN(read_run)(slot, seq, slots, dst, want, size, copied, skipped);
    }
#undef VX_READ_CASE
}

/* Writes `count` records from src into consecutive slots from `slot` on, sequences seq..:
 * each record's bytes, then its commit word with release. */
VX_SLOTS_TARGET static inline __attribute__((always_inline)) void
VX_SLOTS_FN(write_run)(uint8_t *slot, const uint8_t *src, uint64_t seq, uint64_t count,
                       uint32_t size) {
    const uint32_t slot_size = 8 + ((size + 7u) & ~7u);
    for (uint64_t j = 0; j < count; j++, slot += slot_size, src += size) { /* bounded by count */
        uint32_t crc = VX_SLOTS_FN(vx_crc32c_copy)(0, slot + 8, src, size);
        /* release: pairs with the acquire in load_commit (the record bytes above) */
        atomic_store_explicit((_Atomic uint64_t *)(uintptr_t)slot, commit_word(crc, seq + j),
                              memory_order_release);
    }
}

VX_SLOTS_TARGET static void VX_SLOTS_FN(write_slots)(uint8_t *slot, const uint8_t *src,
                                                     uint64_t seq, uint64_t count,
                                                     uint32_t size) {
#define VX_WRITE_CASE(N) \
    case N: VX_SLOTS_FN(write_run)(slot, src, seq, count, N); return;
    switch (size) {
    VX_WRITE_CASE(16) VX_WRITE_CASE(24) VX_WRITE_CASE(32) VX_WRITE_CASE(40)
    VX_WRITE_CASE(48) VX_WRITE_CASE(56) VX_WRITE_CASE(64)
    default: VX_SLOTS_FN(write_run)(slot, src, seq, count, size); return;
    }
#undef VX_WRITE_CASE
}

#undef VX_SLOTS_TARGET
#undef VX_SLOTS_FN
#undef VX_SLOTS_CAT
#undef VX_SLOTS_CAT_
