/* test_pipeline.c — the native pipeline end to end: conservation in drop and block modes,
 * byte-identical output for the same seed whatever the thread mapping, the python ring, a
 * paced run without drops, the external ring, and config validation. Every bundle written is checked. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "velox/mbo.h"
#include "velox/pipeline.h"
#include "velox/prng.h"
#include "velox/ring.h"
#include "velox/stage_builtin.h"
#include "velox/tsc.h"
#include "velox/types.h"

static double ticks_per_ns;

static void base_config(vx_pipeline_config *c) {
    vx_pipeline_config_default(c);
    c->ticks_per_ns = ticks_per_ns;
    c->levels = 64; /* debug builds verify the book after every apply: O(levels) */
    c->rate_per_s = 0;
    c->wait = VX_WAIT_YIELD;
}

static void map_threads(vx_pipeline_config *c, uint32_t threads) {
    static const uint32_t maps[5][VX_STAGES] = {{0}, {0, 0, 0, 0}, {0, 0, 1, 1}, {0, 1, 2, 2}, {0, 1, 2, 3}};
    c->thread_count = threads;
    memcpy(c->stage_thread, maps[threads], sizeof c->stage_thread);
}

/* Runs to completion (max_txns set) and returns the final counters. */
static void run_to_end(vx_pipeline *p, vx_pipeline_counters *c) {
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    for (int i = 0; i < 200000 && !vx_pipeline_finished(p); i++) { /* <= ~20 s */
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    REQUIRE(vx_pipeline_finished(p));
    REQUIRE(vx_pipeline_join(p) == VX_OK);
    vx_pipeline_read_counters(p, c);
}

static void check_file(FILE *f, uint64_t want_bundles, uint64_t want_txns) {
    rewind(f);
    vx_bundle b;
    uint64_t bundles = 0, txns = 0, last_seq = 0;
    int have_seq = 0;
    while (fread(&b, sizeof b, 1, f) == 1) {
        int bad = 0;
        REQUIRE(vx_bundle_validate(&b, &bad) == VX_FIELD_NONE);
        REQUIRE(b.header.bundle_id == bundles); /* block mode: nothing dropped, ids consecutive */
        REQUIRE(b.header.count >= 1);
        for (uint32_t k = 0; k < b.header.count; k++) {
            REQUIRE(!have_seq || b.txns[k].seq > last_seq); /* FIFO through every stage */
            last_seq = b.txns[k].seq;
            have_seq = 1;
        }
        bundles++;
        txns += b.header.count;
    }
    CHECK(bundles == want_bundles);
    CHECK(txns == want_txns);
}

static void test_block_mode_conserves_and_is_deterministic_across_mappings(void) {
    const uint64_t n = vx_test_count(200000, 3000);
    uint64_t digest0 = 0;
    long size0 = -1;
    char *bytes0 = NULL;
    for (uint32_t threads = 1; threads <= 4; threads++) {
        vx_pipeline_config c;
        base_config(&c);
        map_threads(&c, threads);
        c.on_full = VX_ON_FULL_BLOCK;
        c.max_txns = n;
        c.seed = 99;
        c.bundle_timeout_ns = 0;
        c.txn_ring_capacity = 256; /* small rings: lots of backpressure */
        c.bundle_ring_capacity = 16;
        FILE *f = tmpfile();
        REQUIRE(f);
        c.output_fd = fileno(f);
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        vx_pipeline_counters k;
        run_to_end(p, &k);
        CHECK(k.finished == 1);
        CHECK(k.generated == n);
        CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
        CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_FILE) == 0);
        CHECK(k.drops_ingress + k.drops_book + k.drops_bundler == 0);
        CHECK(k.applied > n / 2 && k.rejected > 0); /* realistic flow: some cancels miss */
        CHECK(k.write_errors == 0);
        CHECK(k.bytes_written == k.output_bundles * sizeof(vx_bundle));
        CHECK(k.bundles == (k.bundled + 15) / 16); /* no timeout: all full but the last */
        check_file(f, k.output_bundles, k.bundled);
        uint64_t digest = vx_pipeline_book_digest(p);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        CHECK(size == (long)(k.output_bundles * sizeof(vx_bundle)));
        char *bytes = malloc((size_t)size + 1);
        REQUIRE(bytes);
        rewind(f);
        REQUIRE(fread(bytes, 1, (size_t)size, f) == (size_t)size);
        /* every byte but the creation timestamps (wall-clock TSC) must match across runs */
        for (long off = 0; off + (long)sizeof(vx_bundle) <= size; off += (long)sizeof(vx_bundle))
            for (int t = 0; t < VX_BUNDLE_CAPACITY; t++)
                memset(bytes + off + VX_BUNDLE_OFFSET_TXNS + t * sizeof(vx_txn) + VX_TXN_OFFSET_TSC, 0, 8);
        if (threads == 1) {
            digest0 = digest;
            size0 = size;
            bytes0 = bytes;
        } else {
            CHECK(digest == digest0);
            CHECK(size == size0 && memcmp(bytes, bytes0, (size_t)size) == 0);
            free(bytes);
        }
        fclose(f);
        vx_pipeline_destroy(p);
    }
    free(bytes0);
}

static void test_drop_mode_conserves(void) {
    for (uint32_t threads = 1; threads <= 2; threads++) {
        vx_pipeline_config c;
        base_config(&c);
        map_threads(&c, threads);
        c.on_full = VX_ON_FULL_DROP;
        c.max_txns = vx_test_count(200000, 5000);
        c.txn_ring_capacity = 64; /* tiny rings: drops happen */
        c.bundle_ring_capacity = 4;
        c.python_ring_capacity = 4; /* nobody drains it: every bundle after 4 drops there */
        c.bundle_timeout_ns = 1000;
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        vx_pipeline_counters k;
        run_to_end(p, &k);
        CHECK(k.generated == c.max_txns);
        CHECK(vx_pipeline_check_conservation(&k, 1) == 0);
        CHECK(k.python_bundles == 4 || k.output_bundles < 4);
        CHECK(k.drops_python == k.output_bundles - k.python_bundles);
        vx_pipeline_destroy(p);
    }
}

/* Bundles are filled in place in ring_out's slots (reused: they hold older bundles) and, in
 * drop mode when ring_out is full, built aside and dropped or pushed at close. Every bundle
 * that reaches the file must still be exact: ids increasing, FIFO, header padding and every
 * slot at and after count zero; and dropped bundles keep conservation. */
static void test_drop_mode_bundles_filled_in_place_are_clean(void) {
    for (uint32_t threads = 1; threads <= 2; threads++) {
        vx_pipeline_config c;
        base_config(&c);
        map_threads(&c, threads);
        c.on_full = VX_ON_FULL_DROP;
        c.max_txns = vx_test_count(100000, 4000);
        c.bundle_ring_capacity = 2; /* a bundler turn closes up to 4 bundles: some drop */
        c.bundle_timeout_ns = 500;  /* partial bundles too, in recycled slots */
        c.output_buffer_bundles = 1;
        FILE *f = tmpfile();
        REQUIRE(f);
        c.output_fd = fileno(f);
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        vx_pipeline_counters k;
        run_to_end(p, &k);
        CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
        if (threads == 1) CHECK(k.drops_bundler > 0); /* one thread: the aside path ran */
        rewind(f);
        vx_bundle b;
        static const vx_txn zero_txn;
        uint64_t bundles = 0, txns = 0, last_id = 0, last_seq = 0;
        while (fread(&b, sizeof b, 1, f) == 1) {
            REQUIRE(vx_bundle_validate(&b, NULL) == VX_FIELD_NONE);
            REQUIRE(b.header.count >= 1 && b.header.pad == 0);
            REQUIRE(bundles == 0 || b.header.bundle_id > last_id);
            for (uint32_t t = 0; t < VX_BUNDLE_CAPACITY; t++) {
                if (t >= b.header.count) {
                    REQUIRE(memcmp(&b.txns[t], &zero_txn, sizeof zero_txn) == 0);
                    continue;
                }
                REQUIRE((bundles == 0 && t == 0) || b.txns[t].seq > last_seq);
                REQUIRE(b.txns[t].pad[0] == 0 && b.txns[t].pad[1] == 0);
                last_seq = b.txns[t].seq;
            }
            last_id = b.header.bundle_id;
            bundles++;
            txns += b.header.count;
        }
        CHECK(bundles == k.output_bundles && txns == k.output_txns);
        CHECK(k.bundles == k.output_bundles + k.drops_bundler);
        CHECK(last_id == k.bundles - 1 || k.drops_bundler > 0);
        fclose(f);
        vx_pipeline_destroy(p);
    }
}

static void test_python_ring_drained_by_another_thread_sees_every_bundle(void) {
    vx_pipeline_config c;
    base_config(&c);
    c.on_full = VX_ON_FULL_BLOCK;
    c.max_txns = vx_test_count(100000, 2000);
    c.python_ring_capacity = 8;
    c.bundle_timeout_ns = 0;
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    vx_ring *py = vx_pipeline_python_ring(p);
    REQUIRE(py);
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    static vx_bundle got[8];
    uint64_t bundles = 0, txns = 0, next_id = 0;
    for (long i = 0; i < 100000000L; i++) { /* bounded; ends when finished and empty */
        int finished = vx_pipeline_finished(p);
        uint32_t k = 0;
        vx_ring_pop_n(py, got, 8, &k);
        for (uint32_t j = 0; j < k; j++) {
            REQUIRE(got[j].header.bundle_id == next_id++);
            txns += got[j].header.count;
        }
        bundles += k;
        if (finished && k == 0) break;
        if (k == 0) sched_yield();
    }
    vx_pipeline_join(p);
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    CHECK(vx_pipeline_check_conservation(&k, 1) == 0);
    CHECK(bundles == k.output_bundles && bundles == k.python_bundles);
    CHECK(txns == k.bundled);
    CHECK(k.drops_python == 0);
    vx_pipeline_destroy(p);
}

/* Pops what is waiting in ring (up to 8) and checks bundle ids continue from *next_id. */
static uint32_t drain_checked(vx_ring *ring, uint64_t *next_id, uint64_t *txns) {
    static vx_bundle got[8];
    uint32_t k = 0;
    vx_ring_pop_n(ring, got, 8, &k);
    for (uint32_t j = 0; j < k; j++) {
        REQUIRE(got[j].header.bundle_id == (*next_id)++);
        *txns += got[j].header.count;
    }
    return k;
}

/* cfg.input_tap: a thread drains the tap while the pipeline runs; block mode gives it every
 * record the book took, in order (logical timestamps: tsc = seq, so 0, 1, 2, ...), across the
 * wrap points of the tap (capacity 16 or 256) and of the ingress ring it copies from (128),
 * with batches of 5 and 64; drop mode counts what did not fit. */
static void test_input_tap_drained_by_another_thread(void) {
    for (int drop = 0; drop <= 1; drop++) {
        for (int b = 0; b < 2; b++) {
            vx_pipeline_config c;
            base_config(&c);
            c.on_full = drop ? VX_ON_FULL_DROP : VX_ON_FULL_BLOCK;
            c.max_txns = vx_test_count(50000, 20000); /* many wraps at every scale */
            c.logical_timestamps = 1;
            c.bundle_timeout_ns = 0;
            c.batch = b ? 64 : 5;
            c.txn_ring_capacity = 128; /* the ingress ring wraps too (batches of 5 straddle it) */
            vx_ring *tap = NULL;
            /* 16: the tap limits the book's takes; 256: the book takes whole batches of 5,
             * which straddle the 128-slot ingress ring's wrap point */
            REQUIRE(vx_ring_create(b == 0 ? 256 : 16, sizeof(vx_txn), &tap) == VX_OK);
            c.input_tap = tap;
            vx_pipeline *p = NULL;
            REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
            REQUIRE(vx_pipeline_start(p) == VX_OK);
            static vx_txn got[256];
            uint64_t popped = 0, last = 0;
            int ordered = 1;
            for (long i = 0; i < 100000000L; i++) { /* bounded; ends when finished and empty */
                int finished = vx_pipeline_finished(p);
                uint32_t k = 0;
                vx_ring_pop_n(tap, got, 256, &k);
                for (uint32_t j = 0; j < k; j++) {
                    if (!drop && got[j].tsc != popped + j) ordered = 0;
                    if (popped + j && got[j].tsc <= last) ordered = 0;
                    last = got[j].tsc;
                }
                popped += k;
                if (finished && k == 0) break;
                if (k == 0) sched_yield();
            }
            vx_pipeline_join(p);
            vx_pipeline_counters k;
            vx_pipeline_read_counters(p, &k);
            CHECK(ordered);
            CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_TAP) == 0);
            CHECK(k.tapped == popped);
            CHECK(k.applied + k.rejected == popped + k.drops_tap);
            if (!drop) CHECK(popped == c.max_txns && k.drops_tap == 0);
            k.tapped++; /* the tap equation is checked */
            CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_TAP) == VX_CONSERVE_TAP);
            vx_pipeline_destroy(p);
            vx_ring_destroy(tap);
        }
    }
}

static void test_external_ring_and_python_ring_each_see_every_bundle(void) {
    vx_ring *ext = NULL;
    REQUIRE(vx_ring_create(8, sizeof(vx_bundle), &ext) == VX_OK); /* caller-owned */
    vx_pipeline_config c;
    base_config(&c);
    c.on_full = VX_ON_FULL_BLOCK;
    c.max_txns = vx_test_count(100000, 2000);
    c.python_ring_capacity = 4; /* different sizes: the smaller room limits each turn */
    c.external_ring = ext;
    c.bundle_timeout_ns = 0;
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    vx_ring *py = vx_pipeline_python_ring(p);
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    uint64_t ids[2] = {0, 0}, txns[2] = {0, 0};
    for (long i = 0; i < 100000000L; i++) { /* bounded; ends when finished and both empty */
        int finished = vx_pipeline_finished(p);
        uint32_t k = drain_checked(py, &ids[0], &txns[0]) + drain_checked(ext, &ids[1], &txns[1]);
        if (finished && k == 0) break;
        if (k == 0) sched_yield();
    }
    REQUIRE(vx_pipeline_join(p) == VX_OK);
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_PYTHON | VX_PIPELINE_SINK_EXTERNAL) == 0);
    CHECK(ids[0] == k.output_bundles && ids[1] == k.output_bundles);
    CHECK(k.external_bundles == k.output_bundles && k.python_bundles == k.output_bundles);
    CHECK(txns[0] == k.bundled && txns[1] == k.bundled);
    CHECK(k.drops_external == 0 && k.drops_python == 0);
    vx_pipeline_destroy(p);
    CHECK(vx_ring_size(ext) == 0); /* the pipeline did not free the caller's ring */
    vx_ring_destroy(ext);
}

static void test_external_ring_drop_mode_counts_drops(void) {
    vx_ring *ext = NULL;
    REQUIRE(vx_ring_create(4, sizeof(vx_bundle), &ext) == VX_OK);
    vx_pipeline_config c;
    base_config(&c);
    c.on_full = VX_ON_FULL_DROP;
    c.max_txns = vx_test_count(50000, 2000);
    c.external_ring = ext; /* nobody drains it: every bundle after 4 drops there */
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    vx_pipeline_counters k;
    run_to_end(p, &k);
    CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_EXTERNAL) == 0);
    CHECK(k.output_bundles > 4);
    CHECK(k.external_bundles == 4 && vx_ring_size(ext) == 4);
    CHECK(k.drops_external == k.output_bundles - 4);
    CHECK(k.python_bundles == 0 && k.drops_python == 0);
    k.drops_external++; /* the equation really is checked */
    CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_EXTERNAL) == VX_CONSERVE_EXTERNAL);
    CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
    vx_pipeline_destroy(p);
    vx_ring_destroy(ext);
}

static void test_failed_writes_break_file_conservation(void) {
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) return; /* no /dev/full on this system */
    vx_pipeline_config c;
    base_config(&c);
    c.on_full = VX_ON_FULL_BLOCK;
    c.max_txns = vx_test_count(20000, 2000);
    c.output_fd = fd;
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    vx_pipeline_counters k;
    run_to_end(p, &k);
    CHECK(k.write_errors > 0 && k.bytes_written == 0 && k.output_bundles > 0);
    CHECK(vx_pipeline_check_conservation(&k, 0) == 0); /* the in-memory stages conserve */
    CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_FILE) == VX_CONSERVE_FILE);
    vx_pipeline_destroy(p);
    close(fd);
}

/* The user-stage host: every builtin kind, block and drop mode, 1 and 4 threads. Checks
 * conservation with the emitted orders, the hostile stages' counters, init/finish once. */
static void test_user_stage_host(void) {
    for (int kind = 0; kind < VX_BUILTIN_KINDS; kind++) {
        for (int mode = 0; mode < 2; mode++) {
            vx_builtin_stage st;
            REQUIRE(vx_builtin_stage_init(&st, (vx_builtin_kind)kind, 2) == VX_OK);
            vx_pipeline_config c;
            base_config(&c);
            map_threads(&c, mode ? 4 : 1);
            c.on_full = mode ? VX_ON_FULL_DROP : VX_ON_FULL_BLOCK;
            c.max_txns = vx_test_count(40000, 2000);
            c.user_stages[0] = &st.table;
    c.user_stage_count = 1;
            c.user_emit_capacity = 16;
            c.txn_ring_capacity = 64; /* backpressure with the emit room reserved */
            vx_pipeline *p = NULL;
            REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
            vx_pipeline_counters k;
            run_to_end(p, &k);
            CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
            CHECK(st.state.inits == 1 && st.state.finishes == (kind == VX_BUILTIN_FAIL_INIT ? 0u : 1u));
            CHECK(k.user_init_failed == (kind == VX_BUILTIN_FAIL_INIT));
            if (kind == VX_BUILTIN_FAIL_INIT) CHECK(k.user_batches == 0 && st.state.batches == 0);
            else CHECK(k.user_batches == st.state.batches && st.state.events == k.applied);
            if (kind == VX_BUILTIN_BAD_COUNT) CHECK(k.user_bad_returns == k.user_batches && k.user_emitted == 0);
            else CHECK(k.user_bad_returns == 0);
            if (kind == VX_BUILTIN_BAD_RECORDS) {
                CHECK(k.user_rejected == 2 * k.user_batches && k.user_emitted == k.user_batches);
            }
            if (kind == VX_BUILTIN_ECHO) CHECK(k.user_emitted == st.state.orders && k.user_emitted > 0);
            if (kind == VX_BUILTIN_IMBALANCE) CHECK(k.user_emitted == st.state.orders);
            if (mode == 0) CHECK(k.bundled == k.applied + k.user_emitted); /* block: no drops */
            vx_pipeline_destroy(p);
        }
    }
    vx_builtin_stage bad;
    REQUIRE(vx_builtin_stage_init(&bad, VX_BUILTIN_NOOP, 1) == VX_OK);
    bad.table.abi_version = 99;
    vx_pipeline_config c;
    base_config(&c);
    c.user_stages[0] = &bad.table;
    c.user_stage_count = 1;
    const char *field = NULL;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && field && strcmp(field, "user_stages") == 0);
    bad.table.abi_version = VX_STAGE_ABI_VERSION;
    c.user_emit_capacity = c.txn_ring_capacity;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "user_emit_capacity") == 0);
}

/* Several user stages on the book thread: each runs once per batch in cfg order over the
 * same events, a refusing init or a hostile stage affects only its own counters, the per-stage
 * counters sum to the totals, and every valid order reaches the bundler (block mode). */
static void test_user_stage_chain(void) {
    static const vx_builtin_kind kinds[] = {VX_BUILTIN_ECHO, VX_BUILTIN_FAIL_INIT, VX_BUILTIN_BAD_COUNT,
                                            VX_BUILTIN_IMBALANCE, VX_BUILTIN_BAD_RECORDS, VX_BUILTIN_NOOP,
                                            VX_BUILTIN_ECHO, VX_BUILTIN_IMBALANCE};
    enum { N = sizeof kinds / sizeof kinds[0] };
    _Static_assert((int)N == (int)VX_PIPELINE_MAX_USER_STAGES, "the test fills every slot");
    for (int mode = 0; mode < 2; mode++) {
        vx_builtin_stage st[N];
        vx_pipeline_config c;
        base_config(&c);
        map_threads(&c, mode ? 4 : 1);
        c.on_full = mode ? VX_ON_FULL_DROP : VX_ON_FULL_BLOCK;
        c.max_txns = vx_test_count(40000, 2000);
        for (uint32_t k = 0; k < N; k++) {
            REQUIRE(vx_builtin_stage_init(&st[k], kinds[k], 2) == VX_OK);
            c.user_stages[k] = &st[k].table;
        }
        c.user_stage_count = N;
        c.user_emit_capacity = 8;
        c.txn_ring_capacity = 128; /* 8 stages x 8 orders reserved + a batch: backpressure */
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        vx_pipeline_counters k;
        run_to_end(p, &k);
        CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
        uint64_t batches = 0, emitted = 0, rejected = 0, bad = 0, init_failed = 0;
        uint64_t live_batches = k.user[0].batches;
        CHECK(live_batches > 0);
        for (uint32_t i = 0; i < N; i++) {
            const vx_pipeline_stage_counters *u = &k.user[i];
            batches += u->batches;
            emitted += u->emitted;
            rejected += u->rejected;
            bad += u->bad_returns;
            init_failed += u->init_failed;
            CHECK(st[i].state.inits == 1);
            if (kinds[i] == VX_BUILTIN_FAIL_INIT) {
                CHECK(u->init_failed == 1 && u->batches == 0 && st[i].state.batches == 0);
                CHECK(st[i].state.finishes == 0);
                continue;
            }
            CHECK(u->init_failed == 0 && st[i].state.finishes == 1);
            CHECK(u->batches == live_batches && st[i].state.batches == live_batches);
            CHECK(st[i].state.events == k.applied); /* every stage saw every accepted txn */
            CHECK(u->bad_returns == (kinds[i] == VX_BUILTIN_BAD_COUNT ? u->batches : 0));
            if (kinds[i] == VX_BUILTIN_BAD_RECORDS) CHECK(u->rejected == 2 * u->batches);
            else CHECK(u->rejected == 0);
            if (kinds[i] == VX_BUILTIN_ECHO || kinds[i] == VX_BUILTIN_IMBALANCE)
                CHECK(u->emitted == st[i].state.orders);
        }
        CHECK(k.user[0].emitted > 0 && k.user[3].emitted > 0);
        CHECK(batches == k.user_batches && emitted == k.user_emitted && rejected == k.user_rejected);
        CHECK(bad == k.user_bad_returns && init_failed == k.user_init_failed && init_failed == 1);
        if (mode == 0) CHECK(k.bundled == k.applied + k.user_emitted && k.drops_book == 0);
        for (uint32_t i = N; i < VX_PIPELINE_MAX_USER_STAGES; i++) CHECK(k.user[i].batches == 0);
        vx_pipeline_destroy(p);
    }
    /* limits: the count, and room for every stage's buffer beside a batch */
    vx_builtin_stage one;
    REQUIRE(vx_builtin_stage_init(&one, VX_BUILTIN_NOOP, 1) == VX_OK);
    vx_pipeline_config c;
    base_config(&c);
    for (uint32_t k = 0; k < VX_PIPELINE_MAX_USER_STAGES; k++) c.user_stages[k] = &one.table;
    const char *field = NULL;
    c.user_stage_count = VX_PIPELINE_MAX_USER_STAGES + 1;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "user_stage_count") == 0);
    c.user_stage_count = 4;
    c.txn_ring_capacity = 256;
    c.user_emit_capacity = 64; /* 4 x 64 = 256: no room left for a batch */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "user_emit_capacity") == 0);
    c.user_emit_capacity = 63;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
    c.user_stages[2] = NULL; /* a hole in the first count tables */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "user_stages") == 0);
}

/* A ring source fed by another thread: every record counted, hostile ones rejected by the
 * book, the run ends by itself once the source is closed and drained. */
typedef struct feeder_arg {
    vx_ring *ring;
    vx_pipeline *p;
    uint64_t n;
} feeder_arg;

static void *feeder_main(void *a_) {
    feeder_arg *a = a_;
    vx_prng rng;
    vx_prng_seed(&rng, 5);
    for (uint64_t i = 0; i < a->n;) { /* bounded: each round pushes one or sleeps */
        vx_txn t;
        memset(&t, 0, sizeof t);
        uint64_t r = vx_prng_next(&rng);
        t.seq = i;
        t.side = (uint8_t)(r & 1);
        t.kind = (uint8_t)((r >> 1) % 5 == 0);
        t.qty = (uint32_t)(1 + (r >> 8) % 50);
        t.price = 10000 + (int64_t)((r >> 20) % 64) * 100;
        if (i % 97 == 0) memset(&t, 0xEE, sizeof t); /* hostile bytes */
        if (vx_ring_try_push(a->ring, &t) == VX_OK) i++;
        else sched_yield();
    }
    vx_pipeline_close_source(a->p);
    return NULL;
}

static void test_ring_source_fed_by_another_thread(void) {
    for (int mode = 0; mode < 2; mode++) {
        vx_ring *src = NULL;
        REQUIRE(vx_ring_create(256, sizeof(vx_txn), &src) == VX_OK);
        vx_pipeline_config c;
        base_config(&c);
        c.tick_size = 100;
        c.base_price = 10000;
        map_threads(&c, mode ? 4 : 1);
        c.on_full = mode ? VX_ON_FULL_DROP : VX_ON_FULL_BLOCK;
        c.source_ring = src;
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        feeder_arg a = {src, p, vx_test_count(60000, 3000)};
        pthread_t th;
        REQUIRE(vx_pipeline_start(p) == VX_OK);
        REQUIRE(pthread_create(&th, NULL, feeder_main, &a) == 0);
        pthread_join(th, NULL);
        vx_pipeline_counters k;
        for (int i = 0; i < 200000 && !vx_pipeline_finished(p); i++) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        REQUIRE(vx_pipeline_join(p) == VX_OK);
        vx_pipeline_read_counters(p, &k);
        CHECK(k.finished == 1);
        CHECK(k.generated == a.n);
        CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
        CHECK(k.rejected >= a.n / 97); /* at least the hostile ones */
        if (mode == 0) CHECK(k.drops_ingress == 0 && k.bundled == k.applied);
        vx_pipeline_destroy(p);
        vx_ring_destroy(src);
    }
    vx_ring *wrong = NULL;
    REQUIRE(vx_ring_create(8, 16, &wrong) == VX_OK);
    vx_pipeline_config c;
    base_config(&c);
    c.source_ring = wrong;
    const char *field = NULL;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "source_ring") == 0);
    vx_ring_destroy(wrong);
}

/* An unlinked temporary file for a run's output (read back with fdopen + rewind). */
static int scratch_fd(void) {
    char path[] = "/tmp/velox-test-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    return fd;
}

/* A source ring already filled and closed: n records stamped tsc = first_ns + i * gap_ns. */
static vx_ring *filled_source(uint32_t cap, uint32_t n, uint64_t first_ns, uint64_t gap_ns) {
    vx_ring *src = NULL;
    REQUIRE(vx_ring_create(cap, sizeof(vx_txn), &src) == VX_OK);
    for (uint32_t i = 0; i < n; i++) {
        vx_txn t;
        memset(&t, 0, sizeof t);
        t.seq = i;
        t.side = (uint8_t)(i & 1);
        t.kind = VX_NEW;
        t.qty = 1;
        t.price = i & 1 ? 10000 + 40 * 100 : 10000 + 10 * 100; /* never crosses */
        t.tsc = first_ns + i * gap_ns;
        REQUIRE(vx_ring_try_push(src, &t) == VX_OK);
    }
    return src;
}

static void replay_config(vx_pipeline_config *c, vx_ring *src, double speed) {
    base_config(c);
    c->tick_size = 100;
    c->base_price = 10000;
    c->on_full = VX_ON_FULL_BLOCK;
    c->logical_timestamps = 1; /* the bundles keep the recorded timestamps */
    c->source_ring = src;
    c->replay_speed = speed;
    c->wait = VX_WAIT_BACKOFF;
}

/* Paced replay: records are released no earlier than their recorded time / speed after the
 * first (a lower bound only: a loaded machine may be late, never early), in order, each
 * lateness recorded; unpaced, the same records all go through. */
static void test_paced_replay_waits_for_recorded_time(void) {
    enum { N = 50 };
    const uint64_t gap_ns = 200000; /* 0.2 ms recorded: 9.8 ms from first to last */
    const double speeds[] = {1.0, 4.0};
    for (int k = 0; k < 2; k++) {
        vx_ring *src = filled_source(64, N, 1000000000, gap_ns);
        vx_pipeline_config c;
        replay_config(&c, src, speeds[k]);
        map_threads(&c, 2);
        int fd = scratch_fd();
        c.output_fd = fd;
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        vx_pipeline_close_source(p);
        const uint64_t t0 = vx_monotonic_ns();
        vx_pipeline_counters m;
        run_to_end(p, &m);
        const uint64_t took = vx_monotonic_ns() - t0;
        const uint64_t span_ns = (uint64_t)((double)((N - 1) * gap_ns) / speeds[k]);
        CHECK(took >= span_ns); /* never early */
        CHECK(m.generated == N && m.applied == N && vx_pipeline_check_conservation(&m, VX_PIPELINE_SINK_FILE) == 0);
        CHECK(vx_histogram_count(vx_pipeline_histogram(p, VX_HIST_INGRESS_LATENESS)) == N);
        FILE *f = fdopen(fd, "rb");
        REQUIRE(f != NULL);
        rewind(f);
        vx_bundle b;
        uint64_t seen = 0;
        while (fread(&b, sizeof b, 1, f) == 1)
            for (uint32_t i = 0; i < b.header.count; i++, seen++)
                CHECK(b.txns[i].seq == seen && b.txns[i].tsc == 1000000000 + seen * gap_ns);
        CHECK(seen == N);
        fclose(f);
        vx_pipeline_destroy(p);
        vx_ring_destroy(src);
    }
}

/* A record stamped far in the future holds a paced replay; stop() ends the replay at once and
 * leaves that record in the source ring (never pushed through unpaced): generated + what the
 * ring holds = what was pushed. A record stamped before the first is due at once. */
static void test_paced_replay_stop_leaves_the_rest(void) {
    vx_ring *src = filled_source(8, 2, 1000, 0);
    vx_txn t;
    memset(&t, 0, sizeof t);
    t.side = VX_BUY;
    t.kind = VX_NEW;
    t.qty = 1;
    t.price = 10000 + 100;
    t.seq = 2;
    t.tsc = 10; /* before the first: due at once */
    REQUIRE(vx_ring_try_push(src, &t) == VX_OK);
    t.seq = 3;
    t.tsc = UINT64_C(1) << 62; /* ~146 years after the first */
    REQUIRE(vx_ring_try_push(src, &t) == VX_OK);
    vx_pipeline_config c;
    replay_config(&c, src, 1.0);
    map_threads(&c, 1);
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    vx_pipeline_close_source(p);
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    vx_pipeline_counters m;
    for (int i = 0; i < 200000; i++) { /* <= ~20 s: until the first three are through */
        vx_pipeline_read_counters(p, &m);
        if (m.generated >= 3) break;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    CHECK(m.generated == 3 && !m.finished); /* the fourth waits for its time */
    vx_pipeline_stop(p);
    REQUIRE(vx_pipeline_join(p) == VX_OK);
    vx_pipeline_read_counters(p, &m);
    CHECK(m.finished && m.generated == 3 && vx_pipeline_check_conservation(&m, 0) == 0);
    CHECK(vx_ring_size(src) == 1); /* the held record: not replayed, still there to count */
    vx_pipeline_destroy(p);
    vx_ring_destroy(src);
}

/* A source ring whose indices were broken by its other side (a hostile process): the source
 * ends by itself, says why, and nothing outside the ring's slots is read. */
static void test_corrupt_source_ring_ends_the_source(void) {
    vx_ring *src = filled_source(8, 3, 0, 0);
    atomic_store(&src->block->producer.head, (uint64_t)1 << 40); /* the "peer" */
    vx_pipeline_config c;
    base_config(&c);
    c.tick_size = 100;
    c.base_price = 10000;
    c.source_ring = src;
    map_threads(&c, 2);
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    vx_pipeline_counters m;
    run_to_end(p, &m); /* no close_source: the corrupt ring ends the run */
    CHECK(m.source_errors == 1 && m.source_status == VX_ECORRUPT);
    CHECK(m.generated == 0 && vx_pipeline_check_conservation(&m, 0) == 0);
    vx_pipeline_destroy(p);
    vx_ring_destroy(src);
}

/* ---- market-by-order pipelines ------------------------------------------------------------ */

/* Event i of a deterministic two-instrument MBO flow: mostly ADDs, some partial cancels,
 * executions and deletes of earlier ids (known or not), a duplicate ADD now and then, and
 * hostile bytes (refused by the book). */
static vx_mbo mbo_event(uint64_t i) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    uint64_t r = i * UINT64_C(0x9E3779B97F4A7C15);
    e.ts = 1000 + i * 10;
    e.instrument = (uint32_t)(i & 1);
    e.side = (uint8_t)((r >> 7) & 1);
    e.price = 10000 + (int64_t)((r >> 20) % 20) * 100 + (e.side == VX_SELL ? 2500 : 0);
    e.qty = (uint32_t)(1 + (r >> 40) % 50);
    switch (i % 8) {
    case 3: e.action = VX_MBO_CANCEL; e.order_id = i - 2; e.qty = 1; break;
    case 5: e.action = VX_MBO_EXECUTE; e.order_id = i - 4; e.qty = 1; break;
    case 6: e.action = VX_MBO_DELETE; e.order_id = i - 5; break;
    case 7: e.action = VX_MBO_ADD; e.order_id = i - 5; break; /* event i - 6 added it: duplicate */
    default: e.action = VX_MBO_ADD; e.order_id = i + 1; break;
    }
    if (i % 101 == 100) memset(&e, 0xEE, sizeof e); /* hostile bytes */
    return e;
}

typedef struct mbo_feeder_arg {
    vx_ring *ring;
    vx_pipeline *p;
    uint64_t n;
    _Atomic int reading; /* the live-view reader thread runs while this is 1 */
    vx_mbo (*gen)(uint64_t i); /* the events (NULL: mbo_event) */
    uint64_t view_reads, view_timeouts; /* the gated reader's (mbo_view_reader_main) */
    _Atomic int view_started;           /* vx_test_started after its first read */
} mbo_feeder_arg;

static void *mbo_feeder_main(void *a_) {
    mbo_feeder_arg *a = a_;
    for (uint64_t i = 0; i < a->n;) { /* bounded: each round pushes one or yields */
        vx_mbo e = a->gen ? a->gen(i) : mbo_event(i);
        if (vx_ring_try_push(a->ring, &e) == VX_OK) i++;
        else sched_yield();
    }
    vx_pipeline_close_source(a->p);
    return NULL;
}

/* The live view from another thread while the book thread writes (TSan: no race; the answers
 * are whatever the book published). */
static void *mbo_reader_main(void *a_) {
    mbo_feeder_arg *a = a_;
    const vx_mbo_set *set = vx_pipeline_mbo(a->p);
    uint64_t spins = 0;
    while (atomic_load(&a->reading) && spins < 50000000) { /* bounded */
        for (uint32_t k = 0; k < 2; k++) {
            const vx_mbo_book *b = vx_mbo_set_reader(set, k);
            int64_t px;
            uint64_t q;
            vx_mbo_order_info info;
            (void)vx_mbo_best(b, VX_BUY, &px, &q);
            (void)vx_mbo_order(b, 1 + (spins % 1000) * 8, &info);
        }
        spins++;
    }
    return NULL;
}

/* A market that drifts: the mid walks up 1 tick every 16 events for 2,000 ticks, then down.
 * Even events ADD a bid or an ask 1-3 ticks off the mid (order id i + 1); odd events delete
 * the order added 24 events before; one ADD in 97 is hostile bytes instead (its DELETE then
 * names an unknown order). A dozen live orders, all near the mid: the market is the book. */
static int64_t drift_mid(uint64_t i) {
    uint64_t t = (i / 16) % 4000;
    return 100000 + (int64_t)(t < 2000 ? t : 4000 - t);
}

static vx_mbo drift_event(uint64_t i) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    uint64_t r = i * UINT64_C(0x9E3779B97F4A7C15) >> 33;
    e.ts = 1000 + i;
    e.instrument = 0;
    if (i % 2 == 0) {
        e.action = VX_MBO_ADD;
        e.order_id = i + 1;
        e.side = (uint8_t)((i / 2) & 1);
        e.price = drift_mid(i) + (e.side == VX_BUY ? -1 : 1) * (int64_t)(1 + r % 3);
        e.qty = (uint32_t)(1 + r % 9);
    } else if (i >= 25) {
        e.order_id = i - 24; /* event i - 25 added it */
        e.action = VX_MBO_DELETE;
        e.side = (uint8_t)(((i - 25) / 2) & 1);
    } else {
        e.action = VX_MBO_TRADE;
        e.side = VX_SIDE_NONE;
    }
    if (i % 194 == 96) memset(&e, 0xEE, sizeof e); /* hostile bytes (always an ADD's place) */
    return e;
}

/* A user stage that checks the pipeline's book after every batch against an oracle: a book
 * whose window holds the whole drift, fed the same applied events. */
typedef struct follow_checker {
    vx_mbo_set *oracle;
    uint64_t batches, compared, mismatches, events;
} follow_checker;

static uint32_t follow_checker_batch(void *state, const vx_stage_ctx *ctx, const vx_mbo *events,
                                     uint32_t n, vx_txn *orders, uint32_t capacity) {
    (void)orders;
    (void)capacity;
    follow_checker *fc = state;
    fc->batches++;
    fc->events += n;
    for (uint32_t i = 0; i < n; i++) CHECK(vx_mbo_set_apply(fc->oracle, &events[i], NULL) == VX_OK);
    const vx_mbo_book *mine = vx_mbo_set_reader(ctx->mbo, 0), *truth = vx_mbo_set_reader(fc->oracle, 0);
    for (int side = 0; side < 2; side++) {
        int64_t p1 = 0, p2 = 0;
        uint64_t q1 = 0, q2 = 0;
        vx_status s1 = vx_mbo_best(mine, side, &p1, &q1), s2 = vx_mbo_best(truth, side, &p2, &q2);
        fc->compared++;
        if (s1 != s2 || p1 != p2 || q1 != q2) fc->mismatches++;
    }
    return 0;
}

/* The live view through the gate, as velox's Python view reads it. */
static void *mbo_view_reader_main(void *a_) {
    mbo_feeder_arg *a = a_;
    const vx_mbo_set *set = vx_pipeline_mbo(a->p);
    for (uint64_t spins = 0; atomic_load(&a->reading) && spins < 5000000; spins++) { /* bounded */
        if (vx_pipeline_view_enter(a->p) != VX_OK) {
            a->view_timeouts++;
            continue;
        }
        const vx_mbo_book *b = vx_mbo_set_reader(set, 0);
        int64_t px[8];
        uint64_t q[8];
        size_t got = vx_mbo_depth(b, VX_BUY, 8, px, q, NULL);
        for (size_t k = 0; k < got; k++) CHECK(px[k] >= 99000 && px[k] <= 103000 && q[k] > 0);
        vx_pipeline_view_exit(a->p);
        if (a->view_reads++ == 0) vx_test_started(&a->view_started);
    }
    return NULL;
}

/* mbo_follow: after every batch the pipeline's 64-level window holds the market of a price
 * that drifts 2,000 ticks (each best bid and ask equals the oracle's), it recenters many
 * times, and conservation holds; with a live-view reader polling through the gate on another
 * thread (TSan: the recenters never overlap a read). Without mbo_follow the window loses the
 * market (the check can fail). */
static void test_mbo_pipeline_follows_the_market(void) {
    const uint64_t n = vx_test_count(80000, 8000);
    for (int variant = 0; variant < 3; variant++) { /* 0 follow, 1 follow + reader, 2 no follow */
        follow_checker fc = {0};
        REQUIRE(vx_mbo_set_create(1, 1u << 13, 1, 1u << 12, &fc.oracle) == VX_OK);
        vx_user_stage checker = {VX_STAGE_ABI_VERSION, sizeof(vx_user_stage), "follow_checker",
                                 &fc, NULL, NULL, NULL, follow_checker_batch};
        vx_ring *src = NULL;
        REQUIRE(vx_ring_create(1024, sizeof(vx_mbo), &src) == VX_OK);
        vx_pipeline_config c;
        base_config(&c);
        c.records = VX_RECORDS_MBO;
        c.mbo_max_orders = 1u << 12;
        c.tick_size = 1;
        c.source_ring = src;
        c.on_full = VX_ON_FULL_BLOCK;
        c.mbo_follow = variant != 2;
        c.user_stages[0] = &checker;
        c.user_stage_count = 1;
        map_threads(&c, variant == 1 ? 4 : 1);
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        mbo_feeder_arg a = {src, p, n, 1, drift_event, 0, 0, 0};
        pthread_t feeder, reader;
        REQUIRE(vx_pipeline_start(p) == VX_OK);
        REQUIRE(pthread_create(&feeder, NULL, mbo_feeder_main, &a) == 0);
        if (variant == 1) REQUIRE(pthread_create(&reader, NULL, mbo_view_reader_main, &a) == 0);
        pthread_join(feeder, NULL);
        for (int i = 0; i < 200000 && !vx_pipeline_finished(p); i++) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        /* the view stays readable after the run: a late-scheduled reader still reads once */
        if (variant == 1) REQUIRE(vx_test_wait_started(&a.view_started, 60));
        atomic_store(&a.reading, 0);
        if (variant == 1) pthread_join(reader, NULL);
        REQUIRE(vx_pipeline_join(p) == VX_OK);
        vx_pipeline_counters k;
        vx_pipeline_read_counters(p, &k);
        CHECK(k.finished && k.generated == n && k.drops_ingress == 0);
        CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
        const uint64_t hostile = (n + 97) / 194; /* i < n with i % 194 == 96 */
        CHECK(k.rejected == hostile && k.applied == n - hostile && fc.events == k.applied);
        vx_mbo_counters mc;
        vx_mbo_counters_read(vx_mbo_set_reader(vx_pipeline_mbo(p), 0), &mc);
        CHECK(mc.recenters == k.recenters);
        const char *why = NULL;
        CHECK(vx_mbo_verify_invariants(vx_mbo_set_reader(vx_pipeline_mbo(p), 0), &why) == VX_OK);
        if (variant == 0) { /* the drift crosses the window ~30 times one way: it followed */
            CHECK(fc.mismatches == 0 && fc.compared == 2 * fc.batches);
            CHECK(k.recenters >= n / 16 / 64 && k.recenters_deferred == 0);
        } else if (variant == 1) {
            /* the reader may hold the gate at every try (TSan, 2 CPUs): then each follow
             * pass is put off, counted, never made under a read */
            CHECK(k.recenters + k.recenters_deferred > 0 && a.view_reads > 0);
            /* a put-off recenter may leave the market outside for the batches until the next */
            CHECK(fc.mismatches <= 2 * (k.recenters_deferred + 1) * fc.batches);
        } else {
            CHECK(k.recenters == 0 && fc.mismatches > fc.compared / 2);
        }
        vx_pipeline_destroy(p);
        vx_ring_destroy(src);
        vx_mbo_set_destroy(fc.oracle);
    }
}

/* An MBO pipeline applies every event to its set of books exactly as a direct replay does
 * (same digest per instrument, same applied / rejected), the stage sees every applied event
 * (echo: one order per applied ADD, all in the output), and conservation holds in block and
 * drop mode on 1 and 4 threads. */
static void test_mbo_pipeline_matches_a_direct_replay(void) {
    const uint64_t n = vx_test_count(40000, 3000);
    vx_mbo_set *ref = NULL;
    REQUIRE(vx_mbo_set_create(2, 64, 100, 1u << 16, &ref) == VX_OK);
    uint64_t ref_applied = 0, ref_rejected = 0, ref_adds = 0;
    for (uint64_t i = 0; i < n; i++) {
        vx_mbo e = mbo_event(i);
        if (vx_mbo_set_apply(ref, &e, NULL) == VX_OK) {
            ref_applied++;
            ref_adds += e.action == VX_MBO_ADD;
        } else {
            ref_rejected++;
        }
    }
    CHECK(ref_rejected > n / 101 && ref_adds > n / 3); /* the flow does exercise both */
    for (int mode = 0; mode < 2; mode++) {
        vx_ring *src = NULL;
        REQUIRE(vx_ring_create(256, sizeof(vx_mbo), &src) == VX_OK);
        vx_builtin_stage echo;
        REQUIRE(vx_builtin_stage_init(&echo, VX_BUILTIN_ECHO, 1) == VX_OK);
        vx_pipeline_config c;
        base_config(&c);
        c.records = VX_RECORDS_MBO;
        c.mbo_instruments = 2;
        c.mbo_max_orders = 1u << 16;
        c.tick_size = 100;
        c.source_ring = src;
        c.user_stages[0] = &echo.table;
        c.user_stage_count = 1;
        c.mbo_follow = 0; /* the windows stay where the direct replay's are */
        c.on_full = mode ? VX_ON_FULL_DROP : VX_ON_FULL_BLOCK;
        map_threads(&c, mode ? 4 : 1);
        int fd = scratch_fd();
        c.output_fd = fd;
        vx_pipeline *p = NULL;
        REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
        CHECK(vx_pipeline_book(p) == NULL && vx_pipeline_mbo(p) != NULL);
        mbo_feeder_arg a = {src, p, n, 1, NULL, 0, 0, 0};
        pthread_t feeder, reader;
        REQUIRE(vx_pipeline_start(p) == VX_OK);
        REQUIRE(pthread_create(&feeder, NULL, mbo_feeder_main, &a) == 0);
        REQUIRE(pthread_create(&reader, NULL, mbo_reader_main, &a) == 0);
        pthread_join(feeder, NULL);
        for (int i = 0; i < 200000 && !vx_pipeline_finished(p); i++) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        atomic_store(&a.reading, 0);
        pthread_join(reader, NULL);
        REQUIRE(vx_pipeline_join(p) == VX_OK);
        vx_pipeline_counters k;
        vx_pipeline_read_counters(p, &k);
        CHECK(k.finished && k.records == VX_RECORDS_MBO);
        CHECK(k.generated == n);
        CHECK(vx_pipeline_check_conservation(&k, VX_PIPELINE_SINK_FILE) == 0);
        CHECK(k.applied + k.rejected + k.drops_ingress == n);
        if (mode == 0) { /* block: nothing dropped, the books equal the direct replay's */
            CHECK(k.drops_ingress == 0 && k.applied == ref_applied && k.rejected == ref_rejected);
            CHECK(k.user_emitted == ref_adds && k.bundled == ref_adds && echo.state.orders == ref_adds);
            for (uint32_t i = 0; i < 2; i++)
                CHECK(vx_mbo_digest(vx_mbo_set_reader(vx_pipeline_mbo(p), i)) ==
                      vx_mbo_digest(vx_mbo_set_reader(ref, i)));
            const vx_histogram *e2e = vx_pipeline_histogram(p, VX_HIST_INGRESS_TO_BOOK);
            CHECK(vx_histogram_count(e2e) == 0); /* an event's ts is the exchange's: not timed */
            /* the book stage times its own turns on the events instead: one per batch */
            const vx_histogram *hb = vx_pipeline_histogram(p, VX_HIST_BOOK_BATCH);
            CHECK(vx_histogram_count(hb) > 0 && vx_histogram_count(hb) <= n);
            FILE *f = fdopen(fd, "rb");
            REQUIRE(f != NULL);
            rewind(f);
            vx_bundle b;
            uint64_t orders = 0;
            while (fread(&b, sizeof b, 1, f) == 1) orders += b.header.count;
            CHECK(orders == ref_adds);
            fclose(f);
        } else {
            close(fd);
        }
        vx_pipeline_destroy(p);
        vx_ring_destroy(src);
    }
    vx_mbo_set_destroy(ref);
}

/* 100,000 ADDs (ids 1.., both instruments), then each ADD of a new id is followed by a DELETE
 * of an early one: about 100,000 live orders (4.8 MB of slots, past the prefetch threshold of
 * mbo.h's vx_mbo_set_prefetch), and every 101st event hostile. */
static vx_mbo big_event(uint64_t i) {
    enum { LIVE = 100000 };
    uint64_t id = i < LIVE ? i + 1 : i % 2 == 0 ? i + 1 : (i - LIVE) / 2 + 1;
    vx_mbo e = mbo_event(id);
    e.order_id = id;
    e.instrument = (uint32_t)(id & 1);
    e.action = i < LIVE || i % 2 == 0 ? VX_MBO_ADD : VX_MBO_DELETE;
    if (i % 101 == 100) memset(&e, 0xEE, sizeof e); /* hostile bytes */
    return e;
}

/* The book stage's prefetch over a table past the caches (vx_mbo_set_prefetch on each run of
 * a wrapping ring span): the books and counts equal a direct per-event replay's. ASan checks
 * that the stages read no event outside the span's runs. */
static void test_mbo_pipeline_prefetches_a_large_table(void) {
    const uint64_t n = 160000;
    vx_mbo_set *ref = NULL;
    REQUIRE(vx_mbo_set_create(2, 64, 100, 1u << 18, &ref) == VX_OK);
    uint64_t ref_applied = 0;
    for (uint64_t i = 0; i < n; i++) {
        vx_mbo e = big_event(i);
        ref_applied += vx_mbo_set_apply(ref, &e, NULL) == VX_OK;
    }
    CHECK(vx_mbo_live_orders(vx_mbo_set_reader(ref, 0)) > 87382 && ref_applied < n);
    vx_ring *src = NULL;
    REQUIRE(vx_ring_create(256, sizeof(vx_mbo), &src) == VX_OK);
    vx_pipeline_config c;
    base_config(&c);
    c.records = VX_RECORDS_MBO;
    c.mbo_instruments = 2;
    c.mbo_max_orders = 1u << 18;
    c.tick_size = 100;
    c.source_ring = src;
    c.mbo_follow = 0;
    c.on_full = VX_ON_FULL_BLOCK;
    map_threads(&c, 1);
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    mbo_feeder_arg a = {src, p, n, 0, big_event, 0, 0, 0};
    pthread_t feeder;
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    REQUIRE(pthread_create(&feeder, NULL, mbo_feeder_main, &a) == 0);
    pthread_join(feeder, NULL);
    for (int i = 0; i < 600000 && !vx_pipeline_finished(p); i++) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    REQUIRE(vx_pipeline_join(p) == VX_OK);
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    CHECK(k.finished && k.generated == n && k.drops_ingress == 0);
    CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
    CHECK(k.applied == ref_applied && k.rejected == n - ref_applied);
    for (uint32_t i = 0; i < 2; i++)
        CHECK(vx_mbo_digest(vx_mbo_set_reader(vx_pipeline_mbo(p), i)) == vx_mbo_digest(vx_mbo_set_reader(ref, i)));
    vx_pipeline_destroy(p);
    vx_ring_destroy(src);
    vx_mbo_set_destroy(ref);
}

static vx_mbo ref_event(uint8_t action, uint64_t id, uint8_t side, int64_t price, uint32_t qty) {
    vx_mbo e;
    memset(&e, 0, sizeof e);
    e.ts = 1000 + id;
    e.action = action;
    e.order_id = id;
    e.side = side;
    e.price = price;
    e.qty = qty;
    return e;
}

/* Runs `n` events through a one-thread MBO pipeline that starts from a snapshot (bid 10000 x
 * 400, ask 10100 x 300, seeded before start) and checks each event against `ref`. */
static void run_reference(const vx_mbo *events, uint32_t n, const vx_pipeline_reference *ref,
                          vx_pipeline_counters *k, int64_t *best_bid, uint64_t *best_bid_qty) {
    vx_ring *src = NULL;
    REQUIRE(vx_ring_create(16, sizeof(vx_mbo), &src) == VX_OK);
    vx_pipeline_config c;
    base_config(&c);
    map_threads(&c, 1);
    c.records = VX_RECORDS_MBO;
    c.mbo_max_orders = 64;
    c.tick_size = 100;
    c.source_ring = src;
    c.on_full = VX_ON_FULL_BLOCK;
    c.mbo_reference = ref;
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    CHECK(vx_pipeline_seed_level(p, 0, VX_BUY, 10000, 400) == VX_OK);
    CHECK(vx_pipeline_seed_level(p, 0, VX_SELL, 10100, 300) == VX_OK);
    CHECK(vx_pipeline_seed_level(p, 1, VX_SELL, 10100, 300) == VX_EINVAL); /* no instrument 1 */
    uint32_t pushed = 0;
    REQUIRE(vx_ring_push_n(src, events, n, &pushed) == VX_OK && pushed == n);
    vx_pipeline_close_source(p);
    run_to_end(p, k);
    vx_mbo_reject why;
    vx_mbo late = ref_event(VX_MBO_ADD, 99, VX_BUY, 10000, 1);
    CHECK(vx_pipeline_seed_level(p, 0, VX_BUY, 10000, 1) == VX_ESTATE); /* the book thread's */
    CHECK(vx_pipeline_apply_before_start(p, &late, &why) == VX_ESTATE);
    *best_bid = 0;
    *best_bid_qty = 0;
    vx_mbo_best(vx_mbo_set_reader(vx_pipeline_mbo(p), 0), VX_BUY, best_bid, best_bid_qty);
    vx_pipeline_destroy(p);
    vx_ring_destroy(src);
}

/* cfg.mbo_reference: a 1-level file whose best bid empties, so a level the snapshot never
 * held (9900 x 500) comes into view with no ADD: the book stage seeds it from the row; later
 * events about orders the replay never saw take lots off the seeded levels. A row the book
 * cannot equal is counted; events past the last row are not checked. */
static void test_mbo_reference_seeds_levels_that_come_into_view(void) {
    const vx_mbo events[4] = {
        ref_event(VX_MBO_DELETE, 7, VX_BUY, 10000, 400),  /* unknown: the seeded bid empties */
        ref_event(VX_MBO_EXECUTE, 8, VX_SELL, 10100, 100), /* unknown: 100 off the seeded ask */
        ref_event(VX_MBO_ADD, 2, VX_BUY, 9900, 50),
        ref_event(VX_MBO_ADD, 3, VX_BUY, 9800, 10),         /* past the rows: not checked */
    };
    int64_t bid_px[3] = {9900, 9900, 9900}, ask_px[3] = {10100, 10100, 10100};
    uint64_t bid_qty[3] = {500, 500, 550}, ask_qty[3] = {300, 200, 200};
    vx_pipeline_reference ref = {bid_px, ask_px, bid_qty, ask_qty, 3, 1, 0};
    vx_pipeline_counters k;
    int64_t bb;
    uint64_t bq;
    run_reference(events, 4, &ref, &k, &bb, &bq);
    CHECK(k.applied == 4 && k.rejected == 0);
    CHECK(k.reference_seeded == 1 && k.reference_rows_checked == 3);
    CHECK(k.reference_rows_differing == 0);
    CHECK(bb == 9900 && bq == 550);
    /* a row the book cannot equal (a level it holds with another quantity) is counted */
    bid_qty[2] = 560;
    run_reference(events, 3, &ref, &k, &bb, &bq);
    CHECK(k.reference_seeded == 1 && k.reference_rows_checked == 3 && k.reference_rows_differing == 1);
    /* starting at row 1 with the snapshot's book (whose bid 10000 x 400 row 0's delete never
     * took away): event 0 is row 1, event 1 row 2; 9900 is seeded, both rows differ */
    bid_qty[2] = 550;
    ref.first_row = 1;
    const vx_mbo later[2] = {events[1], events[2]};
    run_reference(later, 2, &ref, &k, &bb, &bq);
    CHECK(k.reference_rows_checked == 2 && k.reference_seeded == 1);
    CHECK(k.reference_rows_differing == 2 && bb == 10000 && bq == 400);
    /* no reference: nothing seeded, the best bid is the one ADD at 9900 */
    run_reference(events, 4, NULL, &k, &bb, &bq);
    CHECK(k.reference_seeded == 0 && k.reference_rows_checked == 0 && bb == 9900 && bq == 50);
    /* the configuration check names the field */
    vx_ring *src = NULL;
    REQUIRE(vx_ring_create(16, sizeof(vx_mbo), &src) == VX_OK);
    vx_pipeline_config c;
    base_config(&c);
    c.records = VX_RECORDS_MBO;
    c.source_ring = src;
    c.mbo_reference = &ref;
    const char *field = NULL;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
    ref.first_row = 3; /* == rows */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "mbo_reference") == 0);
    ref.first_row = 0;
    ref.levels = VX_PIPELINE_MAX_REFERENCE_LEVELS + 1;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "mbo_reference") == 0);
    ref.levels = 1;
    ref.bid_qty = NULL;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "mbo_reference") == 0);
    ref.bid_qty = bid_qty;
    base_config(&c); /* an L2 pipeline has no market-by-order book to check */
    c.mbo_reference = &ref;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "mbo_reference") == 0);
    vx_ring_destroy(src);
}

/* Which records a pipeline carries decides which source ring and which stage callback it
 * needs; the config check names the field. */
static void test_mbo_config_validation(void) {
    vx_ring *mbo_ring = NULL, *txn_ring = NULL;
    REQUIRE(vx_ring_create(8, sizeof(vx_mbo), &mbo_ring) == VX_OK);
    REQUIRE(vx_ring_create(8, sizeof(vx_txn), &txn_ring) == VX_OK);
    vx_builtin_stage st;
    REQUIRE(vx_builtin_stage_init(&st, VX_BUILTIN_NOOP, 1) == VX_OK);
    const char *field = NULL;
    vx_pipeline_config c;
    base_config(&c);
    c.records = VX_RECORDS_MBO; /* no source: there is no MBO generator */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "source_ring") == 0);
    c.source_ring = txn_ring;   /* records of the wrong size */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "source_ring") == 0);
    c.source_ring = mbo_ring;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
    c.mbo_instruments = 0;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "mbo_instruments") == 0);
    c.mbo_instruments = 1;
    c.mbo_max_orders = 0;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "mbo_max_orders") == 0);
    c.mbo_max_orders = 16;
    c.records = (vx_pipeline_records)7;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "records") == 0);
    /* a stage compiled before on_mbo_batch existed runs in transaction pipelines only */
    c.records = VX_RECORDS_MBO;
    st.table.struct_size = VX_USER_STAGE_V1_SIZE;
    c.user_stages[0] = &st.table;
    c.user_stage_count = 1;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "user_stages") == 0);
    base_config(&c);
    c.user_stages[0] = &st.table;
    c.user_stage_count = 1;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
    /* an MBO-only stage (no on_batch) cannot run on transactions */
    st.table.struct_size = sizeof(vx_user_stage);
    st.table.on_batch = NULL;
    CHECK(vx_user_stage_check(&st.table) == VX_OK);
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "user_stages") == 0);
    st.table.on_mbo_batch = NULL; /* no callback at all */
    CHECK(vx_user_stage_check(&st.table) == VX_EINVAL);
    vx_ring_destroy(mbo_ring);
    vx_ring_destroy(txn_ring);
}

static void test_paced_run_stops_and_drains_without_drops(void) {
    vx_pipeline_config c;
    base_config(&c);
    c.rate_per_s = 50000;
    c.wait = VX_WAIT_BACKOFF;
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    struct timespec ts = {0, 100 * 1000 * 1000}; /* 100 ms: ~5000 txns */
    nanosleep(&ts, NULL);
    vx_pipeline_stop(p);
    REQUIRE(vx_pipeline_join(p) == VX_OK);
    vx_pipeline_counters k;
    vx_pipeline_read_counters(p, &k);
    CHECK(k.finished);
    CHECK(k.generated > 100);
    CHECK(k.drops_ingress + k.drops_book + k.drops_bundler == 0);
    CHECK(vx_pipeline_check_conservation(&k, 0) == 0);
    const vx_histogram *e2e = vx_pipeline_histogram(p, VX_HIST_END_TO_END);
    CHECK(vx_histogram_count(e2e) == k.output_txns);
    CHECK(vx_histogram_count(vx_pipeline_histogram(p, VX_HIST_INGRESS_TO_BOOK)) == k.applied + k.rejected);
    CHECK(vx_histogram_count(vx_pipeline_histogram(p, VX_HIST_INGRESS_LATENESS)) == k.generated);
    CHECK(vx_pipeline_histogram(p, VX_PIPELINE_HISTS) == NULL);
    vx_pipeline_destroy(p);
}

static void test_abandon_and_destroy_while_running(void) {
    vx_pipeline_config c;
    base_config(&c);
    c.on_full = VX_ON_FULL_BLOCK;
    c.python_ring_capacity = 2; /* never drained: output blocks forever */
    vx_pipeline *p = NULL;
    REQUIRE(vx_pipeline_create(&c, &p) == VX_OK);
    REQUIRE(vx_pipeline_start(p) == VX_OK);
    CHECK(vx_pipeline_start(p) == VX_ESTATE);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    vx_pipeline_destroy(p); /* abandons and joins */
}

static void test_config_validation_names_the_field(void) {
    vx_pipeline_config c;
    const char *field = NULL;
    base_config(&c);
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK && field == NULL);
    c.levels = 100;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "levels") == 0);
    base_config(&c);
    c.stage_thread[VX_STAGE_OUTPUT] = 2;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "stage_thread") == 0);
    base_config(&c);
    c.thread_count = 3; /* thread 2 has no stage */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "stage_thread") == 0);
    {
        vx_ring *txn_ring = NULL;
        REQUIRE(vx_ring_create(8, sizeof(vx_txn), &txn_ring) == VX_OK);
        base_config(&c);
        c.external_ring = txn_ring; /* records of the wrong size */
        CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "external_ring") == 0);
        base_config(&c);
        c.input_tap = txn_ring; /* the source's records: accepted */
        CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
        vx_ring_destroy(txn_ring);
        vx_ring *bundle_ring = NULL;
        REQUIRE(vx_ring_create(8, sizeof(vx_bundle), &bundle_ring) == VX_OK);
        c.input_tap = bundle_ring; /* records of the wrong size */
        CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "input_tap") == 0);
        vx_ring_destroy(bundle_ring);
    }
    base_config(&c);
    c.ticks_per_ns = 0;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "ticks_per_ns") == 0);
    base_config(&c);
    c.replay_speed = 1.0; /* pacing needs a source ring */
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "replay_speed") == 0);
    {
        vx_ring *src = NULL;
        REQUIRE(vx_ring_create(8, sizeof(vx_txn), &src) == VX_OK);
        const double bad[] = {-1.0, 1e-4, 2e6, NAN};
        for (int i = 0; i < 4; i++) {
            base_config(&c);
            c.source_ring = src;
            c.replay_speed = bad[i];
            CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "replay_speed") == 0);
        }
        c.replay_speed = 1e-3;
        CHECK(vx_pipeline_config_validate(&c, &field) == VX_OK);
        vx_ring_destroy(src);
    }
    base_config(&c);
    c.rate_per_s = 0.5;
    CHECK(vx_pipeline_config_validate(&c, &field) == VX_EINVAL && strcmp(field, "rate_per_s") == 0);
    vx_pipeline *p = NULL;
    CHECK(vx_pipeline_create(&c, &p) == VX_EINVAL && p == NULL);
    vx_pipeline_destroy(NULL);
}

int main(void) {
    ticks_per_ns = vx_tsc_calibrate(20 * 1000 * 1000);
    REQUIRE(ticks_per_ns > 0);
    RUN(test_config_validation_names_the_field);
    RUN(test_block_mode_conserves_and_is_deterministic_across_mappings);
    RUN(test_drop_mode_conserves);
    RUN(test_drop_mode_bundles_filled_in_place_are_clean);
    RUN(test_python_ring_drained_by_another_thread_sees_every_bundle);
    RUN(test_external_ring_and_python_ring_each_see_every_bundle);
    RUN(test_input_tap_drained_by_another_thread);
    RUN(test_external_ring_drop_mode_counts_drops);
    RUN(test_failed_writes_break_file_conservation);
    RUN(test_user_stage_host);
    RUN(test_user_stage_chain);
    RUN(test_ring_source_fed_by_another_thread);
    RUN(test_paced_run_stops_and_drains_without_drops);
    RUN(test_paced_replay_waits_for_recorded_time);
    RUN(test_paced_replay_stop_leaves_the_rest);
    RUN(test_corrupt_source_ring_ends_the_source);
    RUN(test_mbo_pipeline_matches_a_direct_replay);
    RUN(test_mbo_pipeline_prefetches_a_large_table);
    RUN(test_mbo_pipeline_follows_the_market);
    RUN(test_mbo_config_validation);
    RUN(test_mbo_reference_seeds_levels_that_come_into_view);
    RUN(test_abandon_and_destroy_while_running);
    return CHECK_SUMMARY("test_pipeline");
}
