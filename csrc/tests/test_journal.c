/* test_journal.c — the journal's contract: append/reopen/seek/read, roll, a torn tail cut on
 * reopen, corrupt records skipped and counted, and a writer thread with a live tailer thread
 * that sees every record exactly once, in order (run under ThreadSanitizer by make check). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "velox/crc32c.h"
#include "velox/journal.h"

typedef struct rec {
    int64_t ts;
    uint64_t seq;
    uint64_t check;
} rec;

static rec make(uint64_t i) {
    rec r = {(int64_t)(i / 3), i, i * 0x9E3779B97F4A7C15ull};
    return r;
}

static void tmpdir(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/vx-journal-test-XXXXXX");
    REQUIRE(mkdtemp(buf) != NULL);
}

static void rmdir_all(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    REQUIRE(system(cmd) == 0);
}

static const char DT[] = "[('ts', '<i8'), ('seq', '<u8'), ('check', '<u8')]";
/* 1024-byte header + 10 slots of 32 bytes */
#define SEG_BYTES (1024 + 10 * 32)

static void test_append_reopen_seek(void) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    vx_journal_writer w;
    CHECK(vx_journal_create(&w, dir, sizeof(rec), SEG_BYTES, DT, strlen(DT), 0, VX_JOURNAL_TS_I64) == VX_OK);
    CHECK(w.shape.capacity == 10 && w.shape.slot_size == 32);
    rec batch[25];
    for (int i = 0; i < 25; i++) batch[i] = make((uint64_t)i);
    CHECK(vx_journal_append(&w, batch, 25, NULL) == VX_OK);
    rec back = make(1); /* time 0 < 8: refused, nothing appended */
    uint64_t bad = 99;
    CHECK(vx_journal_append(&w, &back, 1, &bad) == VX_ERANGE && bad == 0 && w.next_seq == 25);
    vx_journal_close(&w);
    vx_journal_writer w2;
    CHECK(vx_journal_create(&w2, dir, sizeof(rec), SEG_BYTES, DT, strlen(DT), 0, 0) == VX_EINVAL);
    CHECK(w2.fault == VX_JOURNAL_FAULT_EXISTS);
    CHECK(vx_journal_open(&w, dir) == VX_OK && w.next_seq == 25 && w.cut == 0);
    CHECK(vx_journal_open(&w2, dir) == VX_ESTATE && w2.fault == VX_JOURNAL_FAULT_LOCKED);
    rec more = make(25);
    CHECK(vx_journal_append(&w, &more, 1, NULL) == VX_OK);

    vx_journal_reader r;
    CHECK(vx_journal_reader_open(&r, dir) == VX_OK);
    rec out[40];
    uint64_t got = 0;
    CHECK(vx_journal_reader_read(&r, out, 40, &got) == VX_OK && got == 26);
    for (uint64_t i = 0; i < got; i++) CHECK(out[i].seq == i && out[i].check == make(i).check);
    CHECK(vx_journal_reader_seek(&r, 17) == VX_OK);
    CHECK(vx_journal_reader_read(&r, out, 1, &got) == VX_OK && got == 1 && out[0].seq == 17);
    CHECK(vx_journal_reader_seek_time(&r, 5) == VX_OK && r.pos == 15); /* ts = i / 3 */
    CHECK(vx_journal_reader_seek_time(&r, 1000) == VX_OK && r.pos == 26);
    CHECK(vx_journal_reader_seek_time(&r, -5) == VX_OK && r.pos == 0);
    CHECK(vx_journal_reader_to_end(&r) == VX_OK && r.pos == 26);
    CHECK(vx_journal_reader_read(&r, out, 1, &got) == VX_OK && got == 0);
    CHECK(vx_journal_reader_wait(&r, 1000000) == VX_TIMEOUT);
    vx_journal_reader_close(&r);
    vx_journal_close(&w);
    rmdir_all(dir);
}

/* Damage made by hand: a torn last record (bytes, no commit) and a corrupt committed one. */
static void test_torn_and_corrupt(void) {
    char dir[64], path[128];
    tmpdir(dir, sizeof dir);
    vx_journal_writer w;
    CHECK(vx_journal_create(&w, dir, sizeof(rec), SEG_BYTES, DT, strlen(DT), 0, 0) == VX_OK);
    rec batch[15];
    for (int i = 0; i < 15; i++) batch[i] = make((uint64_t)i);
    CHECK(vx_journal_append(&w, batch, 15, NULL) == VX_OK);
    vx_journal_close(&w);
    /* segment 10: slot 4 (seq 14) loses its record bytes' last word: a CRC mismatch */
    snprintf(path, sizeof path, "%s/%020d.vxj", dir, 10);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    uint64_t junk = 0xdeadbeef;
    REQUIRE(pwrite(fd, &junk, 8, 1024 + 4 * 32 + 8 + 16) == 8);
    /* segment 0: slot 3 (seq 3) corrupt in a sealed segment: readers skip and count it */
    close(fd);
    snprintf(path, sizeof path, "%s/%020d.vxj", dir, 0);
    fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, &junk, 8, 1024 + 3 * 32 + 8) == 8);
    close(fd);
    vx_journal_reader r;
    CHECK(vx_journal_reader_open(&r, dir) == VX_OK);
    rec out[20];
    uint64_t got = 0;
    CHECK(vx_journal_reader_read(&r, out, 20, &got) == VX_OK && got == 13 && r.skipped == 2);
    CHECK(out[2].seq == 2 && out[3].seq == 4 && out[12].seq == 13);
    vx_journal_reader_close(&r);
    CHECK(vx_journal_open(&w, dir) == VX_OK && w.next_seq == 14 && w.cut == 1);
    rec again = make(14);
    CHECK(vx_journal_append(&w, &again, 1, NULL) == VX_OK);
    vx_journal_close(&w);
    CHECK(vx_journal_reader_open(&r, dir) == VX_OK);
    CHECK(vx_journal_reader_seek(&r, 14) == VX_OK);
    CHECK(vx_journal_reader_read(&r, out, 20, &got) == VX_OK && got == 1 && out[0].seq == 14);
    vx_journal_reader_close(&r);
    rmdir_all(dir);
}

/* The record bytes of sequence i for a record of `size` bytes (varied per record and byte). */
static void fill(uint8_t *p, uint32_t size, uint64_t i) {
    for (uint32_t b = 0; b < size; b++) p[b] = (uint8_t)(i * 131 + b * 7 + (b >> 3));
}

/* The format (journal.h): header_check = CRC32C of the header with the field zero, zero-extended;
 * commit word = crc32c(record) << 32 | 1 << 31 | seq. A journal written with each CRC32C
 * implementation this CPU runs reads back under each (reader and the writer's recovery at
 * open), for a size-specialised record (32 bytes), one with tail bytes (20) and a large one
 * (256); a flipped byte is caught under each. */
static void test_checksum_implementations_interchange(void) {
    const int impls[] = {VX_CRC32C_PORTABLE, VX_CRC32C_SSE42, VX_CRC32C_ARMV8};
    const uint32_t sizes[] = {32, 20, 256};
    int orig = vx_crc32c_impl(), pairs = 0;
    static uint8_t src[25 * 256], out[30 * 256];
    for (int wi = 0; wi < 3; wi++) {
        for (int ri = 0; ri < 3; ri++) {
            if (!vx_crc32c_supported(impls[wi]) || !vx_crc32c_supported(impls[ri])) continue;
            pairs++;
            for (int z = 0; z < 3; z++) {
                uint32_t size = sizes[z], slot = 8 + ((size + 7u) & ~7u);
                char dir[64], path[128];
                tmpdir(dir, sizeof dir);
                for (uint64_t i = 0; i < 25; i++) fill(src + i * size, size, i);
                REQUIRE(vx_crc32c_use(impls[wi]) == 0);
                vx_journal_writer w;
                REQUIRE(vx_journal_create(&w, dir, size, 1024 + 10 * slot, "'|V'", 4, 0, 0) == VX_OK);
                CHECK(vx_journal_append(&w, src, 25, NULL) == VX_OK);
                vx_journal_close(&w);
                /* the bytes of segment 10, checked against the portable CRC */
                snprintf(path, sizeof path, "%s/%020d.vxj", dir, 10);
                int fd = open(path, O_RDWR);
                REQUIRE(fd >= 0);
                static uint8_t file[1024 + 10 * 264];
                REQUIRE(pread(fd, file, 1024 + 10 * slot, 0) == (ssize_t)(1024 + 10 * slot));
                uint64_t check;
                memcpy(&check, file + 64, 8);
                memset(file + 64, 0, 8);
                CHECK(check == vx_crc32c_with(VX_CRC32C_PORTABLE, 0, file, 1024));
                for (uint64_t j = 0; j < 10; j++) {
                    uint64_t c, seq = 10 + j;
                    memcpy(&c, file + 1024 + j * slot, 8);
                    uint64_t want = (uint64_t)vx_crc32c_with(VX_CRC32C_PORTABLE, 0,
                                                             src + seq * size, size) << 32 |
                                    0x80000000u | seq;
                    CHECK(c == want);
                    CHECK(memcmp(file + 1024 + j * slot + 8, src + seq * size, size) == 0);
                }
                /* seq 13: one record byte flipped */
                uint8_t flip = file[1024 + 3 * slot + 8 + size - 1] ^ 0x10;
                REQUIRE(pwrite(fd, &flip, 1, 1024 + 3 * slot + 8 + size - 1) == 1);
                close(fd);
                REQUIRE(vx_crc32c_use(impls[ri]) == 0);
                vx_journal_reader r;
                uint64_t got = 0;
                CHECK(vx_journal_reader_open(&r, dir) == VX_OK);
                CHECK(vx_journal_reader_read(&r, out, 30, &got) == VX_OK && got == 24 &&
                      r.skipped == 1);
                CHECK(memcmp(out, src, 13 * size) == 0);
                CHECK(memcmp(out + 13 * size, src + 14 * size, 11 * size) == 0);
                vx_journal_reader_close(&r);
                CHECK(vx_journal_open(&w, dir) == VX_OK && w.next_seq == 25 && w.cut == 0);
                vx_journal_close(&w);
                rmdir_all(dir);
            }
        }
    }
    CHECK(pairs >= 1);
    REQUIRE(vx_crc32c_use(orig) == 0);
}

/* A segment of another layout version (a version-1 journal: the hash before CRC32C, or a
 * later one) is refused by the reader and the writer, naming the version found. */
static void test_other_version_refused(void) {
    const uint32_t versions[] = {1, 3};
    for (int v = 0; v < 2; v++) {
        char dir[64], path[128];
        tmpdir(dir, sizeof dir);
        vx_journal_writer w;
        REQUIRE(vx_journal_create(&w, dir, sizeof(rec), SEG_BYTES, DT, strlen(DT), 0, 0) == VX_OK);
        rec x = make(0);
        CHECK(vx_journal_append(&w, &x, 1, NULL) == VX_OK);
        vx_journal_close(&w);
        snprintf(path, sizeof path, "%s/%020d.vxj", dir, 0);
        int fd = open(path, O_RDWR);
        REQUIRE(fd >= 0);
        REQUIRE(pwrite(fd, &versions[v], 4, 8) == 4);
        close(fd);
        vx_journal_reader r;
        CHECK(vx_journal_reader_open(&r, dir) == VX_ESTATE && r.fault == VX_JOURNAL_FAULT_VERSION &&
              r.fault_version == versions[v]);
        CHECK(vx_journal_open(&w, dir) == VX_ESTATE && w.fault == VX_JOURNAL_FAULT_VERSION &&
              w.fault_version == versions[v]);
        rmdir_all(dir);
    }
}

typedef struct tail_arg {
    const char *dir;
    uint64_t n;
    uint64_t seen;
    int ok;
    _Atomic int started;
} tail_arg;

static void *tailer(void *p) {
    tail_arg *a = p;
    vx_test_pin(1);
    vx_journal_reader r;
    REQUIRE(vx_journal_reader_open(&r, a->dir) == VX_OK);
    rec buf[64];
    a->ok = 1;
    vx_test_started(&a->started);
    /* bounded: every turn reads or waits <= 10 s; the writer ends in seconds */
    for (int idle = 0; a->seen < a->n && idle < 1000;) {
        uint64_t got = 0;
        REQUIRE(vx_journal_reader_read(&r, buf, 64, &got) == VX_OK);
        for (uint64_t i = 0; i < got; i++) {
            rec want = make(a->seen);
            if (memcmp(&buf[i], &want, sizeof want) != 0) {
                fprintf(stderr, "tailer: record %llu differs\n", (unsigned long long)a->seen);
                a->ok = 0;
            }
            a->seen++;
        }
        if (got == 0) idle += vx_journal_reader_wait(&r, 10000000) == VX_TIMEOUT;
        else idle = 0;
    }
    if (r.skipped != 0) a->ok = 0;
    vx_journal_reader_close(&r);
    return NULL;
}

static void test_live_tail(void) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    vx_journal_writer w;
    /* 100-record segments: many rolls while the tailer follows */
    CHECK(vx_journal_create(&w, dir, sizeof(rec), 1024 + 100 * 32, DT, strlen(DT), 0,
                            VX_JOURNAL_TS_I64) == VX_OK);
    tail_arg a = {.dir = dir, .n = vx_test_count(200000, 2000)};
    atomic_init(&a.started, 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, tailer, &a) == 0);
    vx_test_pin(0);
    CHECK(vx_test_wait_started(&a.started, 10.0));
    for (uint64_t i = 0; i < a.n;) {
        rec batch[7];
        uint64_t k = 0;
        for (; k < 7 && i + k < a.n; k++) batch[k] = make(i + k);
        REQUIRE(vx_journal_append(&w, batch, k, NULL) == VX_OK);
        i += k;
    }
    pthread_join(t, NULL);
    CHECK(a.ok);
    CHECK(a.seen == a.n);
    vx_journal_close(&w);
    rmdir_all(dir);
}

/* The same writer/tailer pair, but the tailer reads through the writer's own mapping of the
 * (single, large) segment: two processes' mappings are two addresses for one page, which
 * ThreadSanitizer cannot relate; one address lets it check the commit word's release/acquire
 * pairing against the record bytes (weakening the release store to relaxed is reported). */
typedef struct shared_arg {
    vx_journal_reader *r;
    uint64_t n, seen;
    int ok;
    _Atomic int started;
} shared_arg;

static void *shared_tailer(void *p) {
    shared_arg *a = p;
    vx_test_pin(1);
    rec buf[32];
    a->ok = 1;
    vx_test_started(&a->started);
    for (int idle = 0; a->seen < a->n && idle < 1000;) { /* bounded: <= 10 s idle */
        uint64_t got = 0;
        REQUIRE(vx_journal_reader_read(a->r, buf, 32, &got) == VX_OK);
        for (uint64_t i = 0; i < got; i++, a->seen++) {
            rec want = make(a->seen);
            if (memcmp(&buf[i], &want, sizeof want) != 0) a->ok = 0;
        }
        if (got == 0) idle += vx_journal_reader_wait(a->r, 10000000) == VX_TIMEOUT;
        else idle = 0;
    }
    return NULL;
}

static void test_live_tail_one_mapping(void) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    shared_arg a = {.n = vx_test_count(200000, 2000)};
    atomic_init(&a.started, 0);
    vx_journal_writer w;
    CHECK(vx_journal_create(&w, dir, sizeof(rec), 1024 + (a.n + 1) * 32, DT, strlen(DT), 0, 0) == VX_OK);
    vx_journal_reader r;
    CHECK(vx_journal_reader_open(&r, dir) == VX_OK);
    munmap(r.seg.base, r.seg.size); /* read through the writer's mapping instead */
    r.seg = w.seg;
    a.r = &r;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, shared_tailer, &a) == 0);
    vx_test_pin(0);
    CHECK(vx_test_wait_started(&a.started, 10.0));
    for (uint64_t i = 0; i < a.n; i++) {
        rec x = make(i);
        REQUIRE(vx_journal_append(&w, &x, 1, NULL) == VX_OK);
    }
    pthread_join(t, NULL);
    CHECK(a.ok && a.seen == a.n && r.skipped == 0);
    r.seg.base = NULL; /* the writer unmaps it */
    vx_journal_reader_close(&r);
    vx_journal_close(&w);
    rmdir_all(dir);
}

/* The writer keeps slots prefaulted ahead of its position (journal.h, Page faults): the mark
 * moves ahead of next_seq at create, stays ahead while records are appended, restarts in a new
 * segment, and the prefaulted slots still read as not yet written. */
static void test_prefault_ahead(void) {
    char dir[64];
    tmpdir(dir, sizeof dir);
    vx_journal_writer w;
    uint64_t cap = 10000, chunk = VX_JOURNAL_PREFAULT_BYTES / 32 + 1;
    CHECK(vx_journal_create(&w, dir, sizeof(rec), 1024 + cap * 32, DT, strlen(DT), 0, 0) == VX_OK);
    CHECK(w.prefault_seq == chunk);
    rec batch[100];
    for (uint64_t k = 0; k < 2 * cap / 100; k++) { /* two segments, 100 records at a time */
        for (uint64_t i = 0; i < 100; i++) batch[i] = make(k * 100 + i);
        REQUIRE(vx_journal_append(&w, batch, 100, NULL) == VX_OK);
        uint64_t end = w.seg.first + cap;
        CHECK(w.prefault_seq > w.next_seq || w.next_seq == end);
        CHECK(w.prefault_seq - w.next_seq <= chunk + chunk / 2);
        CHECK(w.prefault_seq - w.next_seq >= chunk / 2 || w.prefault_seq == end);
    }
    vx_journal_reader r;
    REQUIRE(vx_journal_reader_open(&r, dir) == VX_OK);
    rec out[64];
    uint64_t got = 0, total = 0;
    for (int i = 0; i < 1000; i++) { /* bounded: 2 * cap / 64 + 1 reads suffice */
        REQUIRE(vx_journal_reader_read(&r, out, 64, &got) == VX_OK);
        for (uint64_t j = 0; j < got; j++) CHECK(out[j].seq == total + j);
        total += got;
        if (got == 0) break;
    }
    CHECK(total == 2 * cap && r.skipped == 0);
    vx_journal_reader_close(&r);
    vx_journal_close(&w);
    rmdir_all(dir);
}

int main(void) {
    RUN(test_append_reopen_seek);
    RUN(test_torn_and_corrupt);
    RUN(test_checksum_implementations_interchange);
    RUN(test_other_version_refused);
    RUN(test_live_tail);
    RUN(test_live_tail_one_mapping);
    RUN(test_prefault_ahead);
    return CHECK_SUMMARY("test_journal");
}
