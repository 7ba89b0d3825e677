/* test_shm_segment.c — the common shared-memory segment (shm_segment.h) under a test kind of
 * its own: create/publish/attach, each attach fault with its status in the documented order
 * (name, missing, zero size, too small, foreign magic without waiting, never READY, version,
 * header size, a file grown under the header), the dtype text check, unmap and unlink. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "velox/shm_segment.h"
#include "velox/tsc.h"

#define TK_MAGIC 0x474553544B534554ull /* "TESTSEG" */
#define TK_VERSION 3u

typedef struct tk_header {
    uint64_t magic;
    uint32_t layout_version;
    uint32_t header_size;
    uint64_t segment_size;
    uint32_t payload;
    _Atomic uint32_t state;
    char pad[96];
} tk_header;

_Static_assert(sizeof(tk_header) == 128, "one line");
VX_SHM_SEGMENT_HEADER_ASSERT(tk_header);

static const vx_shm_segment_kind tk_kind = {TK_MAGIC, TK_VERSION, (uint32_t)sizeof(tk_header),
                                            (uint32_t)offsetof(tk_header, state),
                                            (uint32_t)sizeof(tk_header)};

static const char *tk_name(const char *what) {
    static char name[64]; /* test-local buffer (the harness is single-threaded) */
    snprintf(name, sizeof name, "velox-ctest-seg-%d-%s", (int)getpid(), what);
    return name;
}

/* A READY segment of the test kind, 4096 bytes, payload 42; left mapped in *seg. */
static void tk_create(vx_shm_segment *seg, const char *name) {
    vx_shm_fault fault;
    int err;
    REQUIRE(vx_shm_segment_create(seg, name, 4096, &fault, &err) == VX_OK);
    REQUIRE(fault == VX_SHM_FAULT_NONE && seg->base != NULL && seg->size == 4096);
    tk_header *h = seg->base;
    CHECK(h->magic == 0 && atomic_load(&h->state) == VX_SHM_INITIALISING); /* zero-filled */
    h->magic = TK_MAGIC;
    h->layout_version = TK_VERSION;
    h->header_size = sizeof(tk_header);
    h->segment_size = 4096;
    h->payload = 42;
    vx_shm_segment_publish(seg, &tk_kind);
}

/* Attach with no wait; the status, the fault in *fault. */
static vx_status tk_attach(const char *name, uint64_t wait_ns, vx_shm_fault *fault, int *err) {
    vx_shm_segment seg;
    tk_header snap;
    vx_status st = vx_shm_segment_attach(&seg, name, &tk_kind, wait_ns, &snap, fault, err);
    if (st == VX_OK) {
        CHECK(snap.payload == 42 && seg.size == 4096 && seg.base != NULL);
        CHECK(vx_shm_segment_unmap(&seg) == VX_OK && seg.base == NULL);
    } else {
        CHECK(seg.base == NULL); /* nothing stays mapped */
    }
    return st;
}

static void test_create_attach_unlink(void) {
    const char *name = tk_name("ok");
    vx_shm_segment seg, again;
    vx_shm_fault fault;
    int err = 0;
    tk_create(&seg, name);
    CHECK(tk_attach(name, 0, &fault, &err) == VX_OK && fault == VX_SHM_FAULT_NONE);
    CHECK(vx_shm_segment_create(&again, name, 4096, &fault, &err) == VX_ESYS &&
          fault == VX_SHM_FAULT_SYSTEM && err == EEXIST && again.base == NULL);
    CHECK(vx_shm_segment_create(&again, "bad/name", 4096, &fault, &err) == VX_EINVAL &&
          fault == VX_SHM_FAULT_NAME);
    CHECK(tk_attach("", 0, &fault, &err) == VX_EINVAL && fault == VX_SHM_FAULT_NAME);
    CHECK(vx_shm_segment_unmap(&seg) == VX_OK && seg.base == NULL);
    CHECK(vx_shm_segment_unmap(&seg) == VX_OK); /* idempotent */
    CHECK(vx_shm_unlink(name) == VX_OK);
    CHECK(vx_shm_unlink(name) == VX_ESYS && errno == ENOENT);
    CHECK(vx_shm_unlink("../x") == VX_EINVAL);
    /* missing: ENOENT at once with no wait, and after a bounded wait */
    CHECK(tk_attach(name, 0, &fault, &err) == VX_ESYS && fault == VX_SHM_FAULT_SYSTEM &&
          err == ENOENT);
    CHECK(tk_attach(name, 3000000, &fault, &err) == VX_ESYS && err == ENOENT);
}

/* A file made by hand (as a hostile or unfinished creator leaves it). */
static void tk_raw(const char *name, const void *bytes, size_t n, size_t size) {
    char path[VX_SHM_NAME_MAX + 2];
    REQUIRE(vx_shm_segment_path(path, name));
    int fd = shm_open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, (off_t)size) == 0);
    if (n) REQUIRE(pwrite(fd, bytes, n, 0) == (ssize_t)n);
    close(fd);
}

static void test_attach_faults(void) {
    const char *name = tk_name("faults");
    vx_shm_fault fault;
    int err;
    tk_header h;
    memset(&h, 0, sizeof h);
    tk_raw(name, NULL, 0, 0); /* between shm_open and ftruncate */
    CHECK(tk_attach(name, 2000000, &fault, &err) == VX_TIMEOUT && fault == VX_SHM_FAULT_NOT_READY);
    tk_raw(name, NULL, 0, 64);
    CHECK(tk_attach(name, 0, &fault, &err) == VX_ESTATE && fault == VX_SHM_FAULT_TOO_SMALL);
    tk_raw(name, &h, sizeof h, 4096); /* magic 0, never READY */
    CHECK(tk_attach(name, 2000000, &fault, &err) == VX_TIMEOUT && fault == VX_SHM_FAULT_NOT_READY);
    h.magic = 0x4F4C4C4548ull; /* someone else's file: refused without waiting for READY */
    tk_raw(name, &h, sizeof h, 4096);
    uint64_t t0 = vx_monotonic_ns();
    CHECK(tk_attach(name, 30000000000ull, &fault, &err) == VX_ESTATE &&
          fault == VX_SHM_FAULT_MAGIC);
    CHECK(vx_monotonic_ns() - t0 < 20000000000ull); /* hang guard: far below the 30 s wait */
    CHECK(vx_shm_unlink(name) == VX_OK);

    struct {
        const char *what;
        size_t offset;
        uint64_t value;
        unsigned width;
        vx_shm_fault want;
    } cases[] = {
        {"magic", offsetof(tk_header, magic), TK_MAGIC + 1, 8, VX_SHM_FAULT_MAGIC},
        {"version", offsetof(tk_header, layout_version), TK_VERSION + 1, 4, VX_SHM_FAULT_VERSION},
        {"header_size", offsetof(tk_header, header_size), 64, 4, VX_SHM_FAULT_HEADER},
        {"segment_size", offsetof(tk_header, segment_size), 8192, 8, VX_SHM_FAULT_HEADER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *cname = tk_name(cases[i].what);
        vx_shm_segment seg;
        tk_create(&seg, cname);
        memcpy((char *)seg.base + cases[i].offset, &cases[i].value, cases[i].width);
        vx_status st = tk_attach(cname, 0, &fault, &err);
        if (st != VX_ESTATE || fault != cases[i].want)
            fprintf(stderr, "  %s: status %d fault %s\n", cases[i].what, st,
                    vx_shm_fault_name(fault));
        CHECK(st == VX_ESTATE && fault == cases[i].want);
        vx_shm_segment_unmap(&seg);
        vx_shm_unlink(cname);
    }
    /* the file grown under a valid header: segment_size no longer matches the real size */
    const char *gname = tk_name("grown");
    vx_shm_segment seg;
    tk_create(&seg, gname);
    char path[VX_SHM_NAME_MAX + 2];
    REQUIRE(vx_shm_segment_path(path, gname));
    int fd = shm_open(path, O_RDWR, 0);
    REQUIRE(fd >= 0 && ftruncate(fd, 8192) == 0);
    close(fd);
    CHECK(tk_attach(gname, 0, &fault, &err) == VX_ESTATE && fault == VX_SHM_FAULT_HEADER);
    vx_shm_segment_unmap(&seg);
    vx_shm_unlink(gname);
}

static void test_dtype_text(void) {
    char d[8] = "abc";
    CHECK(vx_shm_segment_dtype_valid(d, sizeof d, 3));
    CHECK(!vx_shm_segment_dtype_valid(d, sizeof d, 2));  /* no NUL at dtype_len */
    CHECK(!vx_shm_segment_dtype_valid(d, sizeof d, 4));  /* a NUL inside */
    CHECK(!vx_shm_segment_dtype_valid(d, sizeof d, 8));  /* dtype_len must be < capacity */
    CHECK(!vx_shm_segment_dtype_valid(d, sizeof d, UINT64_MAX));
    CHECK(vx_shm_segment_dtype_valid("", 1, 0));
}

static void test_names(void) {
    char path[VX_SHM_NAME_MAX + 2];
    char longest[VX_SHM_NAME_MAX + 2];
    memset(longest, 'a', VX_SHM_NAME_MAX);
    longest[VX_SHM_NAME_MAX] = '\0';
    CHECK(vx_shm_segment_path(path, longest) && path[0] == '/' && strcmp(path + 1, longest) == 0);
    longest[VX_SHM_NAME_MAX] = 'a';
    longest[VX_SHM_NAME_MAX + 1] = '\0';
    CHECK(!vx_shm_segment_path(path, longest));
    CHECK(!vx_shm_name_valid(NULL) && !vx_shm_name_valid("") && !vx_shm_name_valid(".x"));
    CHECK(!vx_shm_name_valid("a/b") && vx_shm_name_valid("a.b_c-D9"));
    CHECK(strcmp(vx_shm_fault_name(VX_SHM_FAULT_MAGIC),
                 "bad magic: not a velox segment, or corrupted") == 0);
}

int main(void) {
    RUN(test_names);
    RUN(test_dtype_text);
    RUN(test_create_attach_unlink);
    RUN(test_attach_faults);
    return CHECK_SUMMARY("test_shm_segment");
}
