/* test_shm.c — shared-memory ring: lifecycle, attach validation, roles, peer death, and a
 * two-process stress run passing numbered records with every one checked. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "velox/shm.h"

static const char DTYPE[] = "[('tsc', '<u8'), ('seq', '<u8'), ('price', '<i8'), ('qty', '<u4'), "
                            "('side', 'u1'), ('kind', 'u1'), ('pad', 'u1', (2,))]";

static char *test_name(const char *what) {
    static char buf[96];
    snprintf(buf, sizeof buf, "velox-ctest-%d-%s", (int)getpid(), what);
    return buf;
}

static vx_status create_txn_ring(vx_shm *shm, const char *name, uint32_t capacity) {
    return vx_shm_create(shm, name, capacity, sizeof(vx_txn), DTYPE, strlen(DTYPE));
}

/* Opens the named segment's file directly (to corrupt or resize it behind velox's back). */
static int open_raw(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/%s", name);
    return shm_open(path, O_RDWR, 0);
}

static void test_names(void) {
    CHECK(vx_shm_name_valid("velox-abc_1.2"));
    CHECK(!vx_shm_name_valid(""));
    CHECK(!vx_shm_name_valid(NULL));
    CHECK(!vx_shm_name_valid("/velox"));
    CHECK(!vx_shm_name_valid("a/b"));
    CHECK(!vx_shm_name_valid(".hidden"));
    CHECK(!vx_shm_name_valid("sp ace"));
    char long_name[VX_SHM_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name);
    long_name[VX_SHM_NAME_MAX] = '\0';
    CHECK(vx_shm_name_valid(long_name));
    long_name[VX_SHM_NAME_MAX] = 'a';
    long_name[VX_SHM_NAME_MAX + 1] = '\0';
    CHECK(!vx_shm_name_valid(long_name));
    vx_shm shm;
    CHECK(create_txn_ring(&shm, "bad/name", 8) == VX_EINVAL && shm.fault == VX_SHM_FAULT_NAME);
    CHECK(vx_shm_attach(&shm, "", 0, 0) == VX_EINVAL && shm.fault == VX_SHM_FAULT_NAME);
}

static void test_create_arguments(void) {
    vx_shm shm;
    const char *name = test_name("args");
    CHECK(create_txn_ring(&shm, name, 3) == VX_EINVAL && shm.fault == VX_SHM_FAULT_ARGUMENT);
    CHECK(create_txn_ring(&shm, name, 1) == VX_EINVAL);
    CHECK(vx_shm_create(&shm, name, 8, 0, DTYPE, strlen(DTYPE)) == VX_EINVAL);
    char big[VX_SHM_DTYPE_MAX + 1];
    memset(big, 'x', sizeof big);
    CHECK(vx_shm_create(&shm, name, 8, 32, big, VX_SHM_DTYPE_MAX) == VX_EINVAL);
    CHECK(vx_shm_create(&shm, name, 8, 32, big, VX_SHM_DTYPE_MAX - 1) == VX_OK);
    CHECK(shm.header->dtype_len == VX_SHM_DTYPE_MAX - 1);
    CHECK(vx_shm_detach(&shm) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);
    CHECK(vx_shm_create(&shm, name, 8, 32, "a\0b", 3) == VX_EINVAL); /* NUL inside */
    /* nothing left behind by the failures */
    CHECK(vx_shm_attach(&shm, name, 0, 0) == VX_ESYS && shm.sys_errno == ENOENT);
    CHECK(vx_shm_segment_size(8, 32) == sizeof(vx_shm_header) + vx_ring_footprint(8, 32));
    CHECK(vx_shm_segment_size(6, 32) == 0);
}

static void test_lifecycle(void) {
    const char *name = test_name("life");
    vx_shm a, b;
    REQUIRE(create_txn_ring(&a, name, 16) == VX_OK);
    CHECK(a.header->magic == VX_SHM_MAGIC);
    CHECK(a.header->capacity == 16 && a.header->record_size == 32);
    CHECK(a.header->creator_pid == (int32_t)getpid());
    CHECK(strcmp(a.header->dtype, DTYPE) == 0 && a.header->dtype_len == strlen(DTYPE));
    CHECK((uintptr_t)a.ring.block % VX_RING_ALIGN == 0);

    vx_shm dup;
    CHECK(create_txn_ring(&dup, name, 16) == VX_ESYS && dup.sys_errno == EEXIST);

    REQUIRE(vx_shm_attach(&b, name, sizeof(vx_txn), 0) == VX_OK);
    CHECK(b.header != a.header); /* a second mapping, at another address */
    CHECK(b.mapped_size == a.mapped_size);
    vx_txn in = {.tsc = 1, .seq = 42, .price = -5, .qty = 7, .side = VX_SELL}, out;
    memset(&out, 0, sizeof out);
    CHECK(vx_ring_try_push(&a.ring, &in) == VX_OK);
    CHECK(vx_ring_size(&b.ring) == 1);
    CHECK(vx_ring_try_pop(&b.ring, &out) == VX_OK);
    CHECK(memcmp(&in, &out, sizeof in) == 0);
    CHECK(vx_ring_try_pop(&b.ring, &out) == VX_EMPTY);

    CHECK(vx_shm_unlink(name) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_ESYS && errno == ENOENT);
    /* unlinked: the name is gone, the mappings still work */
    CHECK(vx_ring_try_push(&b.ring, &in) == VX_OK && vx_ring_try_pop(&a.ring, &out) == VX_OK);
    vx_shm c;
    CHECK(vx_shm_attach(&c, name, 0, 0) == VX_ESYS && c.sys_errno == ENOENT &&
          c.fault == VX_SHM_FAULT_SYSTEM);
    CHECK(vx_shm_detach(&a) == VX_OK && a.header == NULL && vx_shm_ring(&a) == NULL);
    CHECK(vx_shm_detach(&a) == VX_OK); /* idempotent */
    CHECK(vx_shm_detach(&b) == VX_OK);
}

/* Creates a segment, applies corrupt() to its header through a second raw mapping, and
 * checks that attach reports `want`. */
static void expect_attach_fault(const char *what, void (*corrupt)(vx_shm_header *),
                                uint32_t expected_record_size, vx_status want_status,
                                vx_shm_fault want) {
    const char *name = test_name(what);
    vx_shm a, b;
    REQUIRE(create_txn_ring(&a, name, 8) == VX_OK);
    corrupt(a.header);
    vx_status st = vx_shm_attach(&b, name, expected_record_size, 1000000);
    if (st != want_status || b.fault != want)
        fprintf(stderr, "  %s: got status %d fault %d (%s)\n", what, st, b.fault,
                vx_shm_fault_name(b.fault));
    CHECK(st == want_status && b.fault == want);
    if (st == VX_OK) {
        CHECK(vx_shm_ring(&b) != NULL && vx_ring_capacity(&b.ring) == 8);
        CHECK(vx_shm_detach(&b) == VX_OK);
    }
    CHECK(b.header == NULL && vx_shm_ring(&b) == NULL);
    CHECK(vx_shm_detach(&a) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

static void corrupt_nothing(vx_shm_header *h) { (void)h; }
static void corrupt_magic(vx_shm_header *h) { h->magic ^= 1; }
static void corrupt_version(vx_shm_header *h) { h->layout_version = 99; }
static void corrupt_header_size(vx_shm_header *h) { h->header_size = 64; }
static void corrupt_capacity(vx_shm_header *h) { h->capacity = 16; }
static void corrupt_capacity_huge(vx_shm_header *h) { h->capacity = 1ull << 40; }
static void corrupt_dtype(vx_shm_header *h) { memset(h->dtype, 'x', VX_SHM_DTYPE_MAX); }
static void corrupt_dtype_len(vx_shm_header *h) { h->dtype_len = 3; }
static void corrupt_ring(vx_shm_header *h) {
    vx_ring_block *r = (vx_ring_block *)((char *)h + h->ring_offset);
    atomic_store_explicit(&r->config.magic, 0, memory_order_relaxed); /* test only: no peer */
}
static void corrupt_state(vx_shm_header *h) {
    atomic_store_explicit(&h->state, VX_SHM_INITIALISING, memory_order_relaxed); /* test only */
}

static void test_attach_validation(void) {
    expect_attach_fault("ok", corrupt_nothing, 32, VX_OK, VX_SHM_FAULT_NONE);
    expect_attach_fault("recsize", corrupt_nothing, 528, VX_ESTATE, VX_SHM_FAULT_RECORD_SIZE);
    expect_attach_fault("magic", corrupt_magic, 0, VX_ESTATE, VX_SHM_FAULT_MAGIC);
    expect_attach_fault("version", corrupt_version, 0, VX_ESTATE, VX_SHM_FAULT_VERSION);
    expect_attach_fault("hdrsize", corrupt_header_size, 0, VX_ESTATE, VX_SHM_FAULT_HEADER);
    expect_attach_fault("capacity", corrupt_capacity, 0, VX_ESTATE, VX_SHM_FAULT_HEADER);
    expect_attach_fault("caphuge", corrupt_capacity_huge, 0, VX_ESTATE, VX_SHM_FAULT_HEADER);
    expect_attach_fault("dtype", corrupt_dtype, 0, VX_ESTATE, VX_SHM_FAULT_DTYPE);
    expect_attach_fault("dtypelen", corrupt_dtype_len, 0, VX_ESTATE, VX_SHM_FAULT_DTYPE);
    expect_attach_fault("ring", corrupt_ring, 0, VX_ESTATE, VX_SHM_FAULT_RING);
    expect_attach_fault("state", corrupt_state, 0, VX_TIMEOUT, VX_SHM_FAULT_NOT_READY);
}

static void test_attach_wrong_size(void) {
    const char *name = test_name("size");
    vx_shm a, b;
    REQUIRE(create_txn_ring(&a, name, 8) == VX_OK);
    int fd = open_raw(name);
    REQUIRE(fd >= 0);
    /* grown behind our back: segment_size no longer matches the file */
    CHECK(ftruncate(fd, (off_t)(a.mapped_size + 4096)) == 0);
    CHECK(vx_shm_attach(&b, name, 0, 0) == VX_ESTATE && b.fault == VX_SHM_FAULT_HEADER);
    CHECK(vx_shm_detach(&a) == VX_OK);
    /* shrunk below the header */
    CHECK(ftruncate(fd, 100) == 0);
    CHECK(vx_shm_attach(&b, name, 0, 0) == VX_ESTATE && b.fault == VX_SHM_FAULT_TOO_SMALL);
    /* empty (a creator that never finished): NOT_READY once the wait runs out */
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(vx_shm_attach(&b, name, 0, 2000000) == VX_TIMEOUT && b.fault == VX_SHM_FAULT_NOT_READY);
    /* not a velox segment at all */
    char junk[sizeof(vx_shm_header)];
    memset(junk, 0x5a, sizeof junk);
    CHECK(ftruncate(fd, (off_t)sizeof junk) == 0);
    CHECK(pwrite(fd, junk, sizeof junk, 0) == (ssize_t)sizeof junk);
    CHECK(vx_shm_attach(&b, name, 0, 1000000000) == VX_ESTATE && b.fault == VX_SHM_FAULT_MAGIC);
    close(fd);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

static void test_roles(void) {
    const char *name = test_name("roles");
    vx_shm a;
    REQUIRE(create_txn_ring(&a, name, 8) == VX_OK);
    uint64_t me = vx_shm_identity(getpid());
    uint64_t parent = vx_shm_identity(getppid());
    CHECK(me != 0 && (me & 0xFFFFFFFFull) == (uint64_t)getpid());
    CHECK(parent != 0 && parent != me);
    pid_t pid = -1;
    CHECK(vx_shm_peer_state(&a, VX_SHM_PRODUCER, &pid) == VX_SHM_PEER_NONE && pid == 0);

    CHECK(vx_shm_claim(&a, VX_SHM_PRODUCER, me, &pid) == VX_OK);
    CHECK(vx_shm_claim(&a, VX_SHM_PRODUCER, me, &pid) == VX_OK); /* ours already */
    CHECK(vx_shm_peer_state(&a, VX_SHM_PRODUCER, &pid) == VX_SHM_PEER_ALIVE && pid == getpid());
    /* a live other process cannot take the role */
    CHECK(vx_shm_claim(&a, VX_SHM_PRODUCER, parent, &pid) == VX_EMISUSE && pid == getpid());
    CHECK(vx_shm_claim(&a, VX_SHM_CONSUMER, parent, &pid) == VX_OK); /* the other role is free */
    CHECK(vx_shm_release(&a, VX_SHM_CONSUMER, me) == VX_ESTATE);     /* not ours */
    CHECK(vx_shm_release(&a, VX_SHM_PRODUCER, me) == VX_OK);
    CHECK(vx_shm_peer_state(&a, VX_SHM_PRODUCER, &pid) == VX_SHM_PEER_DEPARTED && pid == getpid());
    /* a departed role can be taken over */
    CHECK(vx_shm_claim(&a, VX_SHM_PRODUCER, parent, &pid) == VX_OK);
    CHECK(vx_shm_claim(&a, VX_SHM_PRODUCER, 0, &pid) == VX_EINVAL);
    /* a recycled pid (same pid, other start time) is not the holder */
    uint64_t recycled = me ^ (1ull << 40);
    vx_shm_header *h = a.header;
    atomic_store_explicit(&h->consumer, recycled, memory_order_relaxed); /* test only */
    CHECK(vx_shm_peer_state(&a, VX_SHM_CONSUMER, &pid) == VX_SHM_PEER_DEAD);
    CHECK(vx_shm_claim(&a, VX_SHM_CONSUMER, me, &pid) == VX_OK);
    CHECK(vx_shm_detach(&a) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

/* A child that claims the consumer role and dies without releasing it: the parent sees it dead
 * while it is still an unreaped zombie, and a blocked push gets VX_ESTATE with its pid. */
static void test_peer_death(void) {
    const char *name = test_name("death");
    vx_shm a;
    REQUIRE(create_txn_ring(&a, name, 2) == VX_OK);
    uint64_t me = vx_shm_identity(getpid());
    REQUIRE(vx_shm_claim(&a, VX_SHM_PRODUCER, me, NULL) == VX_OK);
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        vx_shm b;
        if (vx_shm_attach(&b, name, 32, 1000000000) != VX_OK) _exit(2);
        if (vx_shm_claim(&b, VX_SHM_CONSUMER, vx_shm_identity(getpid()), NULL) != VX_OK) _exit(3);
        char byte = 1;
        if (write(ready[1], &byte, 1) != 1) _exit(4);
        pause(); /* until killed */
        _exit(5);
    }
    char byte = 0;
    CHECK(read(ready[0], &byte, 1) == 1);
    pid_t pid = 0;
    CHECK(vx_shm_peer_state(&a, VX_SHM_CONSUMER, &pid) == VX_SHM_PEER_ALIVE && pid == child);
    vx_txn t = {.seq = 1};
    CHECK(vx_ring_try_push(&a.ring, &t) == VX_OK && vx_ring_try_push(&a.ring, &t) == VX_OK);
    CHECK(vx_shm_push_wait(&a, &t, 1000000, &pid) == VX_TIMEOUT); /* full, consumer alive */
    CHECK(kill(child, SIGKILL) == 0);
    /* not reaped yet: a zombie still answers kill(pid, 0) but is dead */
    int dead = 0;
    for (int i = 0; i < 2000 && !dead; i++) { /* bounded: up to 2 s */
        dead = vx_shm_peer_state(&a, VX_SHM_CONSUMER, &pid) == VX_SHM_PEER_DEAD;
        if (!dead) usleep(1000);
    }
    CHECK(dead && pid == child);
    pid = 0;
    CHECK(vx_shm_push_wait(&a, &t, 10000000000ull, &pid) == VX_ESTATE && pid == child);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status));
    CHECK(vx_shm_peer_state(&a, VX_SHM_CONSUMER, &pid) == VX_SHM_PEER_DEAD);
    /* a new consumer takes over the dead one's role and finds the records */
    CHECK(vx_shm_claim(&a, VX_SHM_CONSUMER, me, &pid) == VX_OK);
    CHECK(vx_shm_pop_wait(&a, &t, 0, &pid) == VX_OK && t.seq == 1);
    close(ready[0]);
    close(ready[1]);
    CHECK(vx_shm_detach(&a) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

/* A segment whose creator was SIGKILLed is known stale; a live creator's is not; a segment
 * without a readable identity (missing, foreign, a creator killed before writing it) says
 * nothing. */
static void test_creator_state(void) {
    const char *name = test_name("creator");
    pid_t pid = 1;
    CHECK(vx_shm_creator_state(name, &pid) == VX_SHM_PEER_NONE && pid == 0); /* no segment */
    CHECK(vx_shm_creator_state("bad/name", &pid) == VX_SHM_PEER_NONE);
    vx_shm a;
    REQUIRE(create_txn_ring(&a, name, 2) == VX_OK);
    CHECK(vx_shm_creator_state(name, &pid) == VX_SHM_PEER_ALIVE && pid == getpid());
    CHECK(vx_shm_detach(&a) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);

    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        vx_shm c;
        if (create_txn_ring(&c, name, 2) != VX_OK) _exit(2);
        char byte = 1;
        if (write(ready[1], &byte, 1) != 1) _exit(4);
        pause(); /* until killed */
        _exit(5);
    }
    char byte = 0;
    CHECK(read(ready[0], &byte, 1) == 1);
    CHECK(vx_shm_creator_state(name, &pid) == VX_SHM_PEER_ALIVE && pid == child);
    CHECK(kill(child, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status));
    CHECK(vx_shm_creator_state(name, &pid) == VX_SHM_PEER_DEAD && pid == child);
    /* the identity's start time, not the pid alone: our own pid with another start time is
     * a recycled pid, so dead */
    int fd = open_raw(name);
    REQUIRE(fd >= 0);
    uint64_t recycled = vx_shm_identity(getpid()) ^ (1ull << 32);
    CHECK(pwrite(fd, &recycled, sizeof recycled, offsetof(vx_shm_header, creator_identity)) == 8);
    CHECK(vx_shm_creator_state(name, &pid) == VX_SHM_PEER_DEAD && pid == getpid());
    uint64_t zero = 0; /* no identity (an older build's segment): cannot tell */
    CHECK(pwrite(fd, &zero, sizeof zero, offsetof(vx_shm_header, creator_identity)) == 8);
    CHECK(vx_shm_creator_state(name, &pid) == VX_SHM_PEER_NONE);
    uint64_t magic = 0; /* not a velox segment */
    CHECK(pwrite(fd, &magic, sizeof magic, 0) == 8);
    CHECK(vx_shm_creator_state(name, &pid) == VX_SHM_PEER_NONE);
    close(fd);
    close(ready[0]);
    close(ready[1]);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

/* The producer departs after pushing: the consumer gets every record, then VX_ESTATE. */
static void test_departed_producer_drains(void) {
    const char *name = test_name("depart");
    vx_shm a;
    REQUIRE(create_txn_ring(&a, name, 8) == VX_OK);
    uint64_t me = vx_shm_identity(getpid());
    REQUIRE(vx_shm_claim(&a, VX_SHM_PRODUCER, me, NULL) == VX_OK);
    REQUIRE(vx_shm_claim(&a, VX_SHM_CONSUMER, me, NULL) == VX_OK);
    vx_txn t;
    memset(&t, 0, sizeof t);
    pid_t pid = 0;
    CHECK(vx_shm_pop_wait(&a, &t, 1000000, &pid) == VX_TIMEOUT); /* empty, producer alive */
    for (uint64_t i = 0; i < 3; i++) {
        t.seq = i;
        CHECK(vx_shm_push_wait(&a, &t, 0, &pid) == VX_OK);
    }
    CHECK(vx_shm_release(&a, VX_SHM_PRODUCER, me) == VX_OK);
    for (uint64_t i = 0; i < 3; i++) CHECK(vx_shm_pop_wait(&a, &t, 1000000000, &pid) == VX_OK && t.seq == i);
    CHECK(vx_shm_pop_wait(&a, &t, 1000000000, &pid) == VX_ESTATE && pid == getpid());
    CHECK(vx_shm_detach(&a) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

/* Parent produces, a forked child consumes; every record's sequence is checked. */
static void test_two_process_stress(void) {
    const char *name = test_name("stress");
    const uint64_t n = vx_test_count(1000000, 20000);
    vx_shm a;
    REQUIRE(create_txn_ring(&a, name, 1024) == VX_OK);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        vx_shm b;
        if (vx_shm_attach(&b, name, 32, 1000000000) != VX_OK) _exit(2);
        if (vx_shm_claim(&b, VX_SHM_CONSUMER, vx_shm_identity(getpid()), NULL) != VX_OK) _exit(3);
        vx_txn batch[64];
        uint64_t expect = 0;
        while (expect < n) { /* bounded: each round pops >= 1 record or fails out */
            uint32_t got = 0;
            if ((expect & 1) == 0) {
                pid_t pid;
                if (vx_shm_pop_wait(&b, &batch[0], 10000000000ull, &pid) != VX_OK) _exit(4);
                got = 1;
            } else {
                vx_status st = vx_ring_pop_n(&b.ring, batch, 64, &got);
                if (st == VX_EMPTY) continue;
                if (st != VX_OK) _exit(5);
            }
            for (uint32_t i = 0; i < got; i++, expect++)
                if (batch[i].seq != expect || batch[i].price != (int64_t)expect * 3 ||
                    batch[i].tsc != ~expect)
                    _exit(6);
        }
        vx_shm_release(&b, VX_SHM_CONSUMER, vx_shm_identity(getpid()));
        vx_shm_detach(&b);
        _exit(0);
    }
    uint64_t me = vx_shm_identity(getpid());
    REQUIRE(vx_shm_claim(&a, VX_SHM_PRODUCER, me, NULL) == VX_OK);
    vx_txn batch[48];
    memset(batch, 0, sizeof batch);
    uint64_t next = 0;
    int failed = 0;
    while (next < n && !failed) { /* bounded: each round pushes >= 1 record or fails out */
        uint32_t want = (uint32_t)((n - next) < 48 ? (n - next) : 48);
        for (uint32_t i = 0; i < want; i++) {
            batch[i].seq = next + i;
            batch[i].price = (int64_t)(next + i) * 3;
            batch[i].tsc = ~(next + i);
        }
        if ((next & 3) == 0) {
            pid_t pid;
            failed = vx_shm_push_wait(&a, &batch[0], 10000000000ull, &pid) != VX_OK;
            next += 1;
        } else {
            uint32_t pushed = 0;
            vx_status st = vx_ring_push_n(&a.ring, batch, want, &pushed);
            if (st == VX_FULL) continue;
            failed = st != VX_OK;
            next += pushed;
        }
    }
    CHECK(!failed);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fprintf(stderr, "  child status %d\n", status);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(vx_ring_pushed(&a.ring) == n && vx_ring_popped(&a.ring) == n);
    pid_t pid = 0;
    CHECK(vx_shm_peer_state(&a, VX_SHM_CONSUMER, &pid) == VX_SHM_PEER_DEPARTED && pid == child);
    CHECK(vx_shm_detach(&a) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

int main(void) {
    RUN(test_names);
    RUN(test_create_arguments);
    RUN(test_lifecycle);
    RUN(test_attach_validation);
    RUN(test_attach_wrong_size);
    RUN(test_roles);
    RUN(test_peer_death);
    RUN(test_creator_state);
    RUN(test_departed_producer_drains);
    RUN(test_two_process_stress);
    return CHECK_SUMMARY("test_shm");
}
