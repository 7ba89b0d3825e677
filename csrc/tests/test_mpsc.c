/* test_mpsc.c — MPSC ring: FIFO and batches, producer threads with every record checked (run
 * under TSan), a stalled producer skipped and its late publish counted, a dead producer
 * skipped at once, hostile head/sequence values, and producer processes over shared memory. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "velox/mpsc.h"
#include "velox/tsc.h"

typedef struct rec {
    uint64_t producer;
    uint64_t seq;
} rec;

static char *test_name(const char *what) {
    static char buf[96];
    snprintf(buf, sizeof buf, "velox-ctest-mpsc-%d-%s", (int)getpid(), what);
    return buf;
}

static void test_fifo_and_batches(void) {
    vx_mpsc q;
    REQUIRE(vx_mpsc_create(&q, 8, sizeof(rec), 1000000000ull) == VX_OK);
    CHECK(vx_mpsc_create(&(vx_mpsc){0}, 6, 16, 0) == VX_EINVAL);
    rec in[10], out[10];
    for (int i = 0; i < 10; i++) in[i] = (rec){1, (uint64_t)i};
    uint32_t n = 0;
    CHECK(vx_mpsc_pop_n(&q, out, 10, &n) == VX_EMPTY && n == 0);
    CHECK(vx_mpsc_push_n(&q, in, 3, &n) == VX_OK && n == 3);
    CHECK(vx_mpsc_push_n(&q, in + 3, 7, &n) == VX_OK && n == 5); /* partial: 8 slots */
    CHECK(vx_mpsc_push_n(&q, in, 1, &n) == VX_FULL && n == 0);
    CHECK(vx_mpsc_pop_n(&q, out, 2, &n) == VX_OK && n == 2);
    CHECK(out[0].seq == 0 && out[1].seq == 1);
    CHECK(vx_mpsc_push_n(&q, in + 8, 2, &n) == VX_OK && n == 2);
    CHECK(vx_mpsc_pop_n(&q, out, 10, &n) == VX_OK && n == 8);
    for (int i = 0; i < 8; i++) CHECK(out[i].seq == (uint64_t)i + 2);
    CHECK(vx_mpsc_head(&q) == 10 && vx_mpsc_tail(&q) == 10 && vx_mpsc_skipped(&q) == 0);
    vx_mpsc_destroy(&q);
}

typedef struct stress_arg {
    vx_mpsc *q;
    uint64_t id, count;
    _Atomic int *started;
} stress_arg;

static void *producer_main(void *p) {
    stress_arg *a = p;
    vx_test_started(a->started);
    rec batch[7];
    uint64_t next = 0;
    uint64_t spins = 0;
    while (next < a->count && spins < 2000000000ull) { /* bounded: spins */
        uint32_t want = (uint32_t)(1 + next % 7);
        if (want > a->count - next) want = (uint32_t)(a->count - next);
        for (uint32_t i = 0; i < want; i++) batch[i] = (rec){a->id, next + i};
        uint32_t pushed = 0;
        vx_status st = vx_mpsc_push_n(a->q, batch, want, &pushed);
        if (st == VX_OK) next += pushed;
        else if (st != VX_FULL) break;
        spins++;
    }
    return NULL;
}

/* Checks every record: per-producer order, none lost, none duplicated. */
static void consume_and_check(vx_mpsc *q, uint64_t producers, uint64_t per) {
    uint64_t expect[4] = {0};
    rec out[64];
    uint64_t total = 0, bad = 0;
    uint64_t start = vx_monotonic_ns();
    while (total < producers * per && vx_monotonic_ns() - start < 120000000000ull) { /* bounded */
        uint32_t n = 0;
        vx_status st = vx_mpsc_pop_n(q, out, 64, &n);
        if (st != VX_OK && st != VX_EMPTY) break;
        for (uint32_t i = 0; i < n; i++) {
            if (out[i].producer >= producers || out[i].seq != expect[out[i].producer]) bad++;
            else expect[out[i].producer]++;
        }
        total += n;
    }
    CHECK(bad == 0);
    CHECK(total == producers * per);
    for (uint64_t p = 0; p < producers; p++) CHECK(expect[p] == per);
    CHECK(vx_mpsc_skipped(q) == 0 && vx_mpsc_late(q) == 0);
}

static void test_threads_stress(void) {
    vx_mpsc q;
    REQUIRE(vx_mpsc_create(&q, 64, sizeof(rec), 60000000000ull) == VX_OK);
    enum { P = 3 };
    uint64_t per = vx_test_count(300000, 2000);
    pthread_t t[P];
    stress_arg args[P];
    _Atomic int started[P];
    for (int i = 0; i < P; i++) {
        atomic_init(&started[i], 0);
        args[i] = (stress_arg){&q, (uint64_t)i, per, &started[i]};
        REQUIRE(pthread_create(&t[i], NULL, producer_main, &args[i]) == 0);
    }
    consume_and_check(&q, P, per);
    for (int i = 0; i < P; i++) pthread_join(t[i], NULL);
    vx_mpsc_destroy(&q);
}

static void test_stalled_producer(void) {
    vx_mpsc q;
    REQUIRE(vx_mpsc_create(&q, 4, sizeof(rec), 2000000ull) == VX_OK); /* 2 ms */
    rec r = {0, 100}, out[8];
    uint32_t n = 0;
    vx_mpsc_claim claim;
    /* laps: the skipped slot must come back into use after the late publish */
    for (uint64_t lap = 0; lap < 3; lap++) {
        REQUIRE(vx_mpsc_claim_n(&q, 2, &claim) == VX_OK && claim.n == 2);
        r.seq = lap;
        CHECK(vx_mpsc_push_n(&q, &r, 1, &n) == VX_OK && n == 1); /* behind the claim */
        CHECK(vx_mpsc_pop_n(&q, out, 8, &n) == VX_EMPTY && n == 0); /* waits for the claim */
        uint64_t start = vx_monotonic_ns();
        while (n == 0 && vx_monotonic_ns() - start < 5000000000ull) /* bounded */
            vx_mpsc_pop_n(&q, out, 8, &n);
        CHECK(n == 1 && out[0].seq == lap); /* both claimed positions skipped, record after */
        CHECK(vx_mpsc_skipped(&q) == 2 * (lap + 1));
        CHECK(vx_mpsc_last_skipped_pid(&q) == (uint64_t)getpid());
        rec late[2] = {{0, 7}, {0, 8}};
        uint32_t delivered = 9;
        CHECK(vx_mpsc_publish(&q, &claim, late, &delivered) == VX_ESTATE && delivered == 0);
        CHECK(vx_mpsc_late(&q) == 2 * (lap + 1));
        CHECK(vx_mpsc_pop_n(&q, out, 8, &n) == VX_EMPTY); /* the late records never appear */
    }
    /* a publish that beats the skip is delivered */
    REQUIRE(vx_mpsc_claim_n(&q, 1, &claim) == VX_OK);
    CHECK(vx_mpsc_pop_n(&q, out, 8, &n) == VX_EMPTY);
    r.seq = 42;
    uint32_t delivered = 0;
    CHECK(vx_mpsc_publish(&q, &claim, &r, &delivered) == VX_OK && delivered == 1);
    CHECK(vx_mpsc_pop_n(&q, out, 8, &n) == VX_OK && n == 1 && out[0].seq == 42);
    vx_mpsc_destroy(&q);
}

static void test_dead_producer(void) {
    const char *name = test_name("dead");
    vx_mpsc_shm_detach(&(vx_mpsc){0});
    vx_mpsc q;
    REQUIRE(vx_mpsc_shm_create(&q, name, 8, sizeof(rec), "x", 1, 600000000000ull) == VX_OK);
    pid_t child = fork();
    if (child == 0) {
        vx_mpsc p;
        if (vx_mpsc_shm_attach(&p, name, sizeof(rec), 1000000000ull) != VX_OK) _exit(3);
        vx_mpsc_claim claim;
        if (vx_mpsc_claim_n(&p, 3, &claim) != VX_OK) _exit(4);
        rec r = {1, 5};
        uint32_t n;
        /* a second claim published behind the dead one */
        if (vx_mpsc_push_n(&p, &r, 1, &n) != VX_OK) _exit(5);
        kill(getpid(), SIGKILL); /* dies between claim and publish */
        _exit(6);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    rec out[8];
    uint32_t n = 0;
    uint64_t start = vx_monotonic_ns();
    while (n == 0 && vx_monotonic_ns() - start < 5000000000ull) /* bounded: far below 600 s */
        vx_mpsc_pop_n(&q, out, 8, &n);
    CHECK(n == 1 && out[0].seq == 5);
    CHECK(vx_mpsc_skipped(&q) == 3);
    CHECK(vx_mpsc_last_skipped_pid(&q) == (uint64_t)child);
    /* the dead claim's slots went straight back into use: fill the ring completely */
    rec fill[8] = {{0}};
    CHECK(vx_mpsc_push_n(&q, fill, 8, &n) == VX_OK && n == 8);
    CHECK(vx_mpsc_shm_detach(&q) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_OK);
}

static void test_hostile_values(void) {
    vx_mpsc q;
    rec r = {0, 1}, out[4];
    uint32_t n;
    REQUIRE(vx_mpsc_create(&q, 4, sizeof(rec), 1000000000ull) == VX_OK);
    atomic_store(&q.header->head, 1000); /* far beyond tail + capacity */
    CHECK(vx_mpsc_pop_n(&q, out, 4, &n) == VX_ECORRUPT);
    CHECK(vx_mpsc_pop_n(&q, out, 4, &n) == VX_ECORRUPT); /* sticky */
    vx_mpsc_destroy(&q);
    REQUIRE(vx_mpsc_create(&q, 4, sizeof(rec), 1000000000ull) == VX_OK);
    CHECK(vx_mpsc_push_n(&q, &r, 1, &n) == VX_OK);
    atomic_store(&((vx_mpsc_slot *)q.slots)->seq, 77); /* a value the protocol never writes */
    CHECK(vx_mpsc_pop_n(&q, out, 4, &n) == VX_ECORRUPT && n == 0);
    vx_mpsc_destroy(&q);
}

static void test_attach_validation(void) {
    const char *name = test_name("attach");
    vx_mpsc q, p;
    REQUIRE(vx_mpsc_shm_create(&q, name, 8, sizeof(rec), "abc", 3, 1000000000ull) == VX_OK);
    CHECK(vx_mpsc_shm_create(&p, name, 8, sizeof(rec), "abc", 3, 0) == VX_ESYS);
    CHECK(vx_mpsc_shm_attach(&p, name, sizeof(rec) + 1, 0) == VX_ESTATE &&
          p.fault == VX_SHM_FAULT_RECORD_SIZE);
    q.header->capacity = 1u << 20; /* a lie about the size */
    CHECK(vx_mpsc_shm_attach(&p, name, 0, 0) == VX_ESTATE && p.fault == VX_SHM_FAULT_HEADER);
    q.header->capacity = 8;
    q.header->dtype[3] = 'x';
    CHECK(vx_mpsc_shm_attach(&p, name, 0, 0) == VX_ESTATE && p.fault == VX_SHM_FAULT_DTYPE);
    q.header->dtype[3] = '\0';
    REQUIRE(vx_mpsc_shm_attach(&p, name, 0, 0) == VX_OK);
    CHECK(p.capacity == 8 && p.record_size == sizeof(rec) && strcmp(p.dtype, "abc") == 0);
    uint32_t n;
    rec out[1];
    CHECK(vx_mpsc_pop_n(&p, out, 1, &n) == VX_EMISUSE); /* attachers produce only */
    CHECK(!vx_mpsc_consumer_gone(&p));
    vx_mpsc_shm_detach(&p);
    vx_mpsc_shm_detach(&q);
    vx_shm_unlink(name);
}

static void test_processes_stress(void) {
    const char *name = test_name("procs");
    vx_mpsc q;
    REQUIRE(vx_mpsc_shm_create(&q, name, 256, sizeof(rec), "r", 1, 60000000000ull) == VX_OK);
    enum { P = 2 };
    uint64_t per = vx_test_count(500000, 2000);
    pid_t kids[P];
    for (int i = 0; i < P; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            vx_mpsc p;
            if (vx_mpsc_shm_attach(&p, name, sizeof(rec), 1000000000ull) != VX_OK) _exit(3);
            _Atomic int started = 0;
            stress_arg a = {&p, (uint64_t)i, per, &started};
            producer_main(&a);
            _exit(0);
        }
    }
    consume_and_check(&q, P, per);
    for (int i = 0; i < P; i++) {
        int status = 0;
        CHECK(waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0);
    }
    vx_mpsc_shm_detach(&q);
    vx_shm_unlink(name);
}

int main(void) {
    RUN(test_fifo_and_batches);
    RUN(test_threads_stress);
    RUN(test_stalled_producer);
    RUN(test_dead_producer);
    RUN(test_hostile_values);
    RUN(test_attach_validation);
    RUN(test_processes_stress);
    return CHECK_SUMMARY("test_mpsc");
}
