/* test_broadcast.c — the broadcast ring: laps counted, never torn (litmus under a flat-out
 * writer on a tiny ring), gating holds the writer back, dead readers evicted, hostile heads. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "velox/broadcast.h"
#include "velox/shm.h"
#include "velox/tsc.h"

enum { WORDS = 4 }; /* 32-byte records: every word equals the record's sequence */

static void *block_for(uint32_t cap, uint32_t rs, uint32_t readers, size_t *size) {
    *size = vx_bcast_footprint(cap, rs, readers);
    REQUIRE(*size != 0);
    size_t rounded = (*size + VX_BCAST_LINE - 1) / VX_BCAST_LINE * VX_BCAST_LINE;
    void *mem = aligned_alloc(VX_BCAST_LINE, rounded);
    REQUIRE(mem != NULL);
    return mem;
}

static void fill(uint64_t *rec, uint64_t s) {
    for (int w = 0; w < WORDS; w++) rec[w] = s;
}

static void test_shape(void) {
    CHECK(vx_bcast_footprint(3, 8, 0) == 0);
    CHECK(vx_bcast_footprint(4, 0, 0) == 0);
    CHECK(vx_bcast_footprint(4, 8, VX_BCAST_MAX_READERS + 1) == 0);
    CHECK(vx_bcast_footprint(4, 5, 0) == 2 * VX_BCAST_LINE + 4 * 16);
    size_t size;
    void *mem = block_for(4, 5, 0, &size);
    vx_bcast w, r;
    CHECK(vx_bcast_init_in(&w, mem, size, 4, 5, 0) == VX_OK);
    CHECK(vx_bcast_attach(&r, mem, size, 5) == VX_OK);
    CHECK(vx_bcast_attach(&r, mem, size, 6) == VX_ESTATE);
    CHECK(vx_bcast_attach(&r, mem, size - 1, 5) == VX_ESTATE);
    free(mem);
}

static void test_laps_single_thread(void) {
    size_t size, got;
    void *mem = block_for(8, 3, 0, &size);
    vx_bcast w;
    REQUIRE(vx_bcast_init_in(&w, mem, size, 8, 3, 0) == VX_OK);
    vx_bcast_reader a, b;
    vx_bcast_reader_init(&a, &w, 0);
    char src[3 * 20], out[3 * 20];
    for (int i = 0; i < 60; i++) src[i] = (char)i;
    CHECK(vx_bcast_read(&a, out, 20, &got) == VX_EMPTY && got == 0);
    CHECK(vx_bcast_try_write(&w, src, 5, &got) == VX_OK && got == 5);
    CHECK(vx_bcast_read(&a, out, 20, &got) == VX_OK && got == 5);
    CHECK(memcmp(out, src, 15) == 0);
    vx_bcast_reader_init(&b, &w, 1);
    CHECK(b.cursor == 0);
    CHECK(vx_bcast_try_write(&w, src, 20, &got) == VX_OK && got == 20); /* head 25 */
    CHECK(vx_bcast_read(&a, out, 20, &got) == VX_OK && got == 8);
    CHECK(a.lost == 12 && a.lapped == 1 && a.cursor == 25);
    CHECK(memcmp(out, src + 12 * 3, 8 * 3) == 0);
    CHECK(vx_bcast_read(&b, out, 3, &got) == VX_OK && got == 3 && b.lost == 17);
    CHECK(b.read + b.lost == 20 && b.cursor == 20);
    free(mem);
}

/* The writer's head going backwards, or a slot sequence below what head promises, is
 * corruption: reported, sticky, nothing read. */
static void test_hostile_head(void) {
    size_t size, got;
    void *mem = block_for(4, 8, 0, &size);
    vx_bcast w;
    REQUIRE(vx_bcast_init_in(&w, mem, size, 4, 8, 0) == VX_OK);
    uint64_t src[3] = {1, 2, 3}, out[4];
    vx_bcast_reader a, b;
    vx_bcast_reader_init(&a, &w, 0);
    vx_bcast_reader_init(&b, &w, 0);
    REQUIRE(vx_bcast_try_write(&w, src, 3, &got) == VX_OK);
    CHECK(vx_bcast_read(&a, out, 4, &got) == VX_OK && got == 3);
    atomic_store(&w.block->writer.head, 1); /* backwards */
    CHECK(vx_bcast_read(&a, out, 4, &got) == VX_ECORRUPT && got == 0);
    atomic_store(&w.block->writer.head, 3);
    CHECK(vx_bcast_read(&a, out, 4, &got) == VX_ECORRUPT); /* sticky */
    atomic_store(&w.block->writer.head, 1000003); /* far ahead: slots cannot hold it */
    CHECK(vx_bcast_read(&b, out, 4, &got) == VX_ECORRUPT && got == 0);
    free(mem);
}

typedef struct litmus {
    vx_bcast *w;
    uint64_t records;
    uint64_t batch;
    _Atomic int done;
    _Atomic int started;
    uint64_t read, lost, lapped, torn, order;
    int gated;
} litmus;

static void *litmus_writer(void *arg) {
    litmus *l = arg;
    vx_test_pin(0);
    vx_test_wait_started(&l->started, 10.0);
    uint64_t buf[64 * WORDS];
    uint64_t s = 0;
    while (s < l->records) { /* bounded by records */
        uint64_t n = l->records - s < l->batch ? l->records - s : l->batch;
        for (uint64_t i = 0; i < n; i++) fill(buf + i * WORDS, s + i);
        size_t done = 0;
        vx_status st = vx_bcast_write_wait(l->w, buf, n, vx_monotonic_ns() + 20000000000ull, 0,
                                           &done);
        REQUIRE(st == VX_OK && done == n);
        s += n;
    }
    /* release: pairs with the reader's acquire load; a flag, the data went through head */
    atomic_store_explicit(&l->done, 1, memory_order_release);
    return NULL;
}

static void *litmus_reader(void *arg) {
    litmus *l = arg;
    vx_test_pin(1);
    vx_bcast_reader rd;
    vx_bcast_reader_init(&rd, l->w, 1);
    if (l->gated) REQUIRE(vx_bcast_reader_register(&rd, 7) == VX_OK);
    vx_test_started(&l->started);
    uint64_t out[16 * WORDS];
    uint64_t next = 0;
    for (uint64_t spins = 0; spins < 4000000000ull; spins++) { /* bounded */
        /* acquire: pairs with the writer's release store of done */
        int finished = atomic_load_explicit(&l->done, memory_order_acquire);
        size_t got = 0;
        vx_status st = vx_bcast_read(&rd, out, 16, &got);
        REQUIRE(st == VX_OK || st == VX_EMPTY);
        for (size_t i = 0; i < got; i++) {
            uint64_t s = out[i * WORDS];
            for (int w = 1; w < WORDS; w++) l->torn += out[i * WORDS + w] != s;
            l->order += s < next;
            next = s + 1;
        }
        if (finished && st == VX_EMPTY) break;
    }
    l->read = rd.read;
    l->lost = rd.lost;
    l->lapped = rd.lapped;
    vx_bcast_reader_unregister(&rd);
    return NULL;
}

static void run_litmus(litmus *l, uint32_t cap, uint32_t readers) {
    size_t size;
    void *mem = block_for(cap, WORDS * 8, readers, &size);
    vx_bcast w;
    REQUIRE(vx_bcast_init_in(&w, mem, size, cap, WORDS * 8, readers) == VX_OK);
    l->w = &w;
    pthread_t tw, tr;
    REQUIRE(pthread_create(&tr, NULL, litmus_reader, l) == 0);
    REQUIRE(pthread_create(&tw, NULL, litmus_writer, l) == 0);
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    free(mem);
}

/* A reader must never accept a record the writer was overwriting: capacity 4, writer flat
 * out, every record's four words equal its sequence. */
static void test_litmus_laps(void) {
    litmus l = {.records = vx_test_count(3000000, 20000), .batch = 3};
    run_litmus(&l, 4, 0);
    CHECK(l.torn == 0);
    CHECK(l.order == 0);
    CHECK(l.read + l.lost == l.records);
    CHECK(l.read > 0);
    printf("     litmus: %llu read, %llu lost in %llu laps\n", (unsigned long long)l.read,
           (unsigned long long)l.lost, (unsigned long long)l.lapped);
}

/* Gated: a registered reader loses nothing. */
static void test_gated_no_loss(void) {
    litmus l = {.records = vx_test_count(1000000, 20000), .batch = 7, .gated = 1};
    run_litmus(&l, 8, 2);
    CHECK(l.torn == 0 && l.order == 0);
    CHECK(l.lost == 0 && l.lapped == 0);
    CHECK(l.read == l.records);
}

/* Gated: a stuck reader holds the writer until dead_timeout, then is evicted (counted). */
static void test_gated_eviction(void) {
    size_t size, got;
    void *mem = block_for(4, 8, 2, &size);
    vx_bcast w;
    REQUIRE(vx_bcast_init_in(&w, mem, size, 4, 8, 2) == VX_OK);
    vx_bcast_reader rd, dead;
    vx_bcast_reader_init(&rd, &w, 0);
    vx_bcast_reader_init(&dead, &w, 0);
    uint64_t me = vx_shm_identity(getpid());
    REQUIRE(me != 0);
    CHECK(vx_bcast_reader_register(&rd, me) == VX_OK);
    CHECK(vx_bcast_registered(&w) == 1);
    uint64_t src[6] = {0, 1, 2, 3, 4, 5}, out[8];
    CHECK(vx_bcast_try_write(&w, src, 6, &got) == VX_OK && got == 4);
    CHECK(vx_bcast_try_write(&w, src, 1, &got) == VX_FULL && got == 0);
    CHECK(vx_bcast_gate_waits(&w) == 1);
    CHECK(vx_bcast_read(&rd, out, 2, &got) == VX_OK && got == 2);
    CHECK(vx_bcast_try_write(&w, src + 4, 2, &got) == VX_OK && got == 2);
    /* stuck but alive: a timeout evicts it */
    uint64_t t0 = vx_monotonic_ns();
    CHECK(vx_bcast_write_wait(&w, src, 1, t0 + 5000000000ull, 20000000ull, &got) == VX_OK);
    CHECK(vx_bcast_evicted(&w) == 1);
    CHECK(!vx_bcast_reader_registered(&rd));
    /* a dead owner (pid 1 with a wrong start time is not that process) goes without timeout */
    CHECK(vx_bcast_reader_register(&dead, 1ull | (12345ull << 32)) == VX_OK);
    CHECK(vx_bcast_write_wait(&w, src, 5, vx_monotonic_ns() + 5000000000ull, 0, &got) == VX_OK);
    CHECK(vx_bcast_evicted(&w) == 2);
    CHECK(vx_bcast_registered(&w) == 0);
    /* the evicted reader goes on ungated: lapped and counted, never torn */
    CHECK(vx_bcast_read(&rd, out, 8, &got) == VX_OK);
    CHECK(rd.read + rd.lost == vx_bcast_head(&w));
    free(mem);
}

static void test_shm_roundtrip(void) {
    char name[64];
    snprintf(name, sizeof name, "velox-test-bcast-%d", (int)getpid());
    vx_bcast_shm a, b;
    REQUIRE(vx_bcast_shm_create(&a, name, 16, 8, 1, "'<u8'", 5) == VX_OK);
    CHECK(vx_bcast_shm_create(&b, name, 16, 8, 1, "'<u8'", 5) == VX_ESYS);
    CHECK(vx_bcast_shm_attach(&b, name, 8, 0) == VX_OK);
    CHECK(vx_bcast_shm_attach(&b, name, 4, 0) == VX_ESTATE);
    REQUIRE(vx_bcast_shm_attach(&b, name, 0, 0) == VX_OK);
    CHECK(strcmp(b.dtype, "'<u8'") == 0 && b.ring.capacity == 16 && b.ring.max_readers == 1);
    vx_bcast_reader rd;
    vx_bcast_reader_init(&rd, &b.ring, 0);
    uint64_t src[3] = {7, 8, 9}, out[3];
    size_t got;
    CHECK(vx_bcast_try_write(&a.ring, src, 3, &got) == VX_OK);
    CHECK(vx_bcast_read(&rd, out, 3, &got) == VX_OK && got == 3 && out[2] == 9);
    a.header->capacity = 1u << 20; /* a corrupted header: attach refuses it */
    vx_bcast_shm c;
    CHECK(vx_bcast_shm_attach(&c, name, 0, 0) == VX_ESTATE);
    vx_bcast_shm_detach(&b);
    vx_bcast_shm_detach(&a);
    vx_shm_unlink(name);
}

int main(void) {
    RUN(test_shape);
    RUN(test_laps_single_thread);
    RUN(test_hostile_head);
    RUN(test_litmus_laps);
    RUN(test_gated_no_loss);
    RUN(test_gated_eviction);
    RUN(test_shm_roundtrip);
    return CHECK_SUMMARY("test_broadcast");
}
