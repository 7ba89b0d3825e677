/* velox/shm.c — SPSC ring in a POSIX shared-memory segment. See shm.h for the contract. */
#include "velox/shm.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "velox/tsc.h"

#define VX_SHM_DEPARTED (1ull << 63)
#define VX_SHM_PID_MASK 0xFFFFFFFFull
#define VX_SHM_START_MASK 0x7FFFFFFFull /* 31 bits of start time, below the departed bit */

/* ---- names and sizes --------------------------------------------------------------------- */

VX_SHM_SEGMENT_HEADER_ASSERT(vx_shm_header);

/* The SPSC ring's segment for shm_segment.c: line 0 and the dtype text are the private copy. */
static const vx_shm_segment_kind shm_kind = {
    VX_SHM_MAGIC, VX_SHM_LAYOUT_VERSION, (uint32_t)sizeof(vx_shm_header),
    (uint32_t)offsetof(vx_shm_header, state), (uint32_t)offsetof(vx_shm_header, producer)};

size_t vx_shm_segment_size(uint32_t capacity, uint32_t record_size) {
    size_t ring = vx_ring_footprint(capacity, record_size);
    if (ring == 0 || ring > SIZE_MAX - sizeof(vx_shm_header)) return 0;
    return sizeof(vx_shm_header) + ring;
}

static vx_status shm_fail(vx_shm *shm, vx_status status, vx_shm_fault fault, int err) {
    shm->fault = fault;
    shm->sys_errno = err;
    return status;
}

/* ---- create / attach / detach ------------------------------------------------------------ */

vx_status vx_shm_create(vx_shm *shm, const char *name, uint32_t capacity, uint32_t record_size,
                        const char *dtype, size_t dtype_len) {
    memset(shm, 0, sizeof *shm);
    if (!vx_shm_segment_path(shm->name, name)) return shm_fail(shm, VX_EINVAL, VX_SHM_FAULT_NAME, 0);
    size_t total = vx_shm_segment_size(capacity, record_size);
    if (total == 0 || dtype == NULL || dtype_len >= VX_SHM_DTYPE_MAX ||
        memchr(dtype, '\0', dtype_len) != NULL)
        return shm_fail(shm, VX_EINVAL, VX_SHM_FAULT_ARGUMENT, 0);

    vx_shm_segment seg;
    vx_status st = vx_shm_segment_create(&seg, name, total, &shm->fault, &shm->sys_errno);
    if (st != VX_OK) return st;

    /* ftruncate zero-filled the segment: state is INITIALISING, role words are free. */
    vx_shm_header *h = seg.base;
    /* first, so that a creator killed during the rest is still known (vx_shm_creator_state) */
    h->creator_identity = vx_shm_identity(getpid());
    h->magic = VX_SHM_MAGIC;
    h->layout_version = VX_SHM_LAYOUT_VERSION;
    h->header_size = (uint32_t)sizeof(vx_shm_header);
    h->segment_size = total;
    h->ring_offset = sizeof(vx_shm_header);
    h->ring_size = total - sizeof(vx_shm_header);
    h->capacity = capacity;
    h->record_size = record_size;
    h->dtype_len = (uint32_t)dtype_len;
    h->creator_pid = (int32_t)getpid();
    memcpy(h->dtype, dtype, dtype_len);
    h->dtype[dtype_len] = '\0';

    st = vx_ring_init_in(&shm->ring, (char *)seg.base + h->ring_offset, (size_t)h->ring_size,
                         capacity, record_size);
    if (st != VX_OK) {
        vx_shm_segment_unmap(&seg);
        vx_shm_unlink(name);
        return shm_fail(shm, st, VX_SHM_FAULT_ARGUMENT, 0);
    }
    vx_shm_segment_publish(&seg, &shm_kind); /* READY, last */

    shm->header = h;
    shm->mapped_size = total;
    shm->capacity = capacity;
    shm->record_size = record_size;
    shm->dtype_len = (uint32_t)dtype_len;
    memcpy(shm->dtype, h->dtype, dtype_len + 1);
    return VX_OK;
}

/* The ring's own checks of a private copy whose common words shm_segment.c validated. */
static vx_shm_fault shm_validate(const vx_shm_header *h, uint32_t expected_record_size) {
    if (h->ring_offset != sizeof(vx_shm_header)) return VX_SHM_FAULT_HEADER;
    size_t expect = h->capacity > VX_RING_MAX_CAPACITY
                        ? 0
                        : vx_shm_segment_size((uint32_t)h->capacity, h->record_size);
    if (expect == 0 || h->segment_size != expect ||
        h->ring_size != expect - sizeof(vx_shm_header))
        return VX_SHM_FAULT_HEADER;
    if (!vx_shm_segment_dtype_valid(h->dtype, sizeof h->dtype, h->dtype_len))
        return VX_SHM_FAULT_DTYPE;
    if (expected_record_size != 0 && h->record_size != expected_record_size)
        return VX_SHM_FAULT_RECORD_SIZE;
    return VX_SHM_FAULT_NONE;
}

vx_status vx_shm_attach(vx_shm *shm, const char *name, uint32_t expected_record_size,
                        uint64_t wait_ns) {
    memset(shm, 0, sizeof *shm);
    if (!vx_shm_segment_path(shm->name, name)) return shm_fail(shm, VX_EINVAL, VX_SHM_FAULT_NAME, 0);
    /* line 0 and the dtype text, copied once: validated and kept privately (the peer may
     * rewrite the mapping at any time) */
    vx_shm_header snap;
    vx_shm_segment seg;
    vx_status st = vx_shm_segment_attach(&seg, name, &shm_kind, wait_ns, &snap, &shm->fault,
                                         &shm->sys_errno);
    if (st != VX_OK) return st;
    vx_shm_fault fault = shm_validate(&snap, expected_record_size);
    if (fault == VX_SHM_FAULT_NONE &&
        (vx_ring_attach(&shm->ring, (char *)seg.base + snap.ring_offset, (size_t)snap.ring_size) != VX_OK ||
         vx_ring_capacity(&shm->ring) != snap.capacity ||
         vx_ring_elem_size(&shm->ring) != snap.record_size))
        fault = VX_SHM_FAULT_RING;
    if (fault != VX_SHM_FAULT_NONE) {
        vx_shm_segment_unmap(&seg);
        memset(&shm->ring, 0, sizeof shm->ring);
        return shm_fail(shm, VX_ESTATE, fault, 0);
    }
    shm->header = seg.base;
    shm->mapped_size = seg.size;
    shm->capacity = snap.capacity;
    shm->record_size = snap.record_size;
    shm->dtype_len = snap.dtype_len;
    memcpy(shm->dtype, snap.dtype, sizeof shm->dtype); /* NUL at dtype_len: validated */
    return VX_OK;
}

vx_status vx_shm_detach(vx_shm *shm) {
    if (shm->header == NULL) return VX_OK;
    vx_shm_segment seg = {shm->header, shm->mapped_size};
    vx_status st = vx_shm_segment_unmap(&seg);
    shm->header = NULL;
    memset(&shm->ring, 0, sizeof shm->ring);
    shm->mapped_size = 0;
    if (st != VX_OK) return shm_fail(shm, VX_ESYS, VX_SHM_FAULT_SYSTEM, errno);
    return VX_OK;
}

/* ---- roles and liveness ------------------------------------------------------------------ */

/* Reads state and start time (field 22) of /proc/<pid>/stat. Returns 1 if read, 0 if the
 * process does not exist, -1 if /proc cannot tell (not Linux, not mounted). */
static int shm_proc_stat(pid_t pid, char *state, uint64_t *start_time) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return n == 0 ? 0 : -1;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may contain spaces and ')', so parse after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0') return -1;
    *state = p[2];
    p += 3;
    /* fields 4..21 are 18 fields to skip; start time is field 22. Bounded: 18 iterations. */
    for (int field = 4; field <= 21; field++) {
        p = strchr(p, ' ');
        if (p == NULL) return -1;
        p++;
    }
    char *end = NULL;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p) return -1;
    *start_time = v;
    return 1;
}

uint64_t vx_shm_identity(pid_t pid) {
    if (pid <= 0) return 0;
    char state = 0;
    uint64_t start = 0;
    int rc = shm_proc_stat(pid, &state, &start);
    if (rc == 0) return 0;
    if (rc < 0 && kill(pid, 0) != 0 && errno == ESRCH) return 0;
    if (rc < 0) start = 0;
    return ((start & VX_SHM_START_MASK) << 32) | ((uint64_t)(uint32_t)pid & VX_SHM_PID_MASK);
}

static _Atomic uint64_t *shm_role_word(const vx_shm *shm, vx_shm_role role) {
    vx_shm_header *h = shm->header;
    return role == VX_SHM_PRODUCER ? &h->producer : &h->consumer;
}

/* Liveness of the identity in a role word (departed bit already cleared). */
static vx_shm_peer shm_identity_state(uint64_t identity) {
    pid_t pid = (pid_t)(identity & VX_SHM_PID_MASK);
    char state = 0;
    uint64_t start = 0;
    int rc = shm_proc_stat(pid, &state, &start);
    if (rc == 0) return VX_SHM_PEER_DEAD;
    if (rc > 0) {
        /* A zombie still answers kill(pid, 0): it is dead for us. A different start time
         * means the pid was recycled by another process. */
        if (state == 'Z' || state == 'X' || state == 'x') return VX_SHM_PEER_DEAD;
        if ((identity >> 32) != 0 && ((identity >> 32) & VX_SHM_START_MASK) !=
                                         (start & VX_SHM_START_MASK))
            return VX_SHM_PEER_DEAD;
        return VX_SHM_PEER_ALIVE;
    }
    if (kill(pid, 0) != 0 && errno == ESRCH) return VX_SHM_PEER_DEAD;
    return VX_SHM_PEER_ALIVE; /* exists (EPERM counts: another user's live process) */
}

vx_shm_peer vx_shm_identity_state(uint64_t identity) {
    return shm_identity_state(identity & ~VX_SHM_DEPARTED);
}

vx_shm_peer vx_shm_creator_state(const char *name, pid_t *pid) {
    if (pid) *pid = 0;
    char path[VX_SHM_NAME_MAX + 2];
    if (!vx_shm_segment_path(path, name)) return VX_SHM_PEER_NONE;
    int fd = shm_open(path, O_RDONLY, 0);
    if (fd < 0) return VX_SHM_PEER_NONE;
    vx_shm_header line0; /* only the first line is read (a dead creator's stores are all in
                            the segment; a live one's may be partial: then NONE or ALIVE) */
    ssize_t n = pread(fd, &line0, VX_SHM_LINE, 0);
    close(fd);
    if (n != VX_SHM_LINE || line0.magic != VX_SHM_MAGIC ||
        line0.layout_version != VX_SHM_LAYOUT_VERSION || line0.creator_identity == 0 ||
        (line0.creator_identity & VX_SHM_DEPARTED))
        return VX_SHM_PEER_NONE;
    if (pid) *pid = (pid_t)(line0.creator_identity & VX_SHM_PID_MASK);
    return shm_identity_state(line0.creator_identity);
}

vx_shm_peer vx_shm_peer_state(const vx_shm *shm, vx_shm_role role, pid_t *pid) {
    /* pairs with the release CAS in vx_shm_claim / vx_shm_release: a departed mark is seen
     * after every record the leaver pushed or popped before leaving */
    uint64_t word = atomic_load_explicit(shm_role_word(shm, role), memory_order_acquire);
    if (pid) *pid = (pid_t)(word & VX_SHM_PID_MASK);
    if (word == 0) return VX_SHM_PEER_NONE;
    if (word & VX_SHM_DEPARTED) return VX_SHM_PEER_DEPARTED;
    return shm_identity_state(word);
}

vx_status vx_shm_claim(vx_shm *shm, vx_shm_role role, uint64_t me, pid_t *holder_pid) {
    if (holder_pid) *holder_pid = 0;
    if (shm->header == NULL || me == 0 || (me & VX_SHM_DEPARTED)) return VX_EINVAL;
    _Atomic uint64_t *word = shm_role_word(shm, role);
    /* pairs with the release CAS of a previous holder's vx_shm_release / vx_shm_claim */
    uint64_t seen = atomic_load_explicit(word, memory_order_acquire);
    /* Bounded: each failed CAS means another process changed the word; give up after a few. */
    for (int attempt = 0; attempt < 16; attempt++) {
        if (seen == me) return VX_OK;
        if (seen != 0 && !(seen & VX_SHM_DEPARTED) &&
            shm_identity_state(seen) == VX_SHM_PEER_ALIVE) {
            if (holder_pid) *holder_pid = (pid_t)(seen & VX_SHM_PID_MASK);
            return VX_EMISUSE;
        }
        /* acq_rel: acquire the previous holder's ring accesses, release ours to the next */
        if (atomic_compare_exchange_strong_explicit(word, &seen, me, memory_order_acq_rel,
                                                    memory_order_acquire))
            return VX_OK;
    }
    if (holder_pid) *holder_pid = (pid_t)(seen & VX_SHM_PID_MASK);
    return VX_EMISUSE;
}

vx_status vx_shm_release(vx_shm *shm, vx_shm_role role, uint64_t me) {
    if (shm->header == NULL || me == 0) return VX_EINVAL;
    uint64_t expected = me;
    /* release: a peer that acquires the departed mark sees every record we moved before it
     * (pairs with the acquire load in vx_shm_peer_state) */
    if (atomic_compare_exchange_strong_explicit(shm_role_word(shm, role), &expected,
                                                me | VX_SHM_DEPARTED, memory_order_release,
                                                memory_order_relaxed))
        return VX_OK;
    return VX_ESTATE;
}

/* ---- blocking push / pop ----------------------------------------------------------------- */

/* The shared wait loop: the ring's own bounded wait (spin, yield, sleep) in slices of
 * VX_SHM_PEER_CHECK_NS, checking the peer between slices. wait_fn is vx_ring_push_wait or
 * vx_ring_pop_wait. Bounded by the deadline. */
typedef vx_status (*shm_wait_fn)(vx_ring *, void *, uint64_t, vx_ring_backoff *);

static vx_status shm_wait(vx_shm *shm, vx_shm_role peer_role, uint64_t timeout_ns,
                          pid_t *peer_pid, shm_wait_fn wait_fn, void *record) {
    if (peer_pid) *peer_pid = 0;
    vx_ring_backoff backoff = {0};
    uint64_t start = vx_monotonic_ns();
    uint64_t deadline = timeout_ns > UINT64_MAX - start ? UINT64_MAX : start + timeout_ns;
    uint64_t slice_end = timeout_ns > VX_SHM_PEER_CHECK_NS ? start + VX_SHM_PEER_CHECK_NS : deadline;
    vx_status st = wait_fn(&shm->ring, record, slice_end, &backoff); /* tries at least once */
    for (;;) { /* bounded by the deadline: every slice ends by it */
        if (st != VX_TIMEOUT) return st; /* VX_OK, VX_EMISUSE or VX_ECORRUPT */
        pid_t pid = 0;
        vx_shm_peer peer = vx_shm_peer_state(shm, peer_role, &pid);
        if (peer == VX_SHM_PEER_DEAD || peer == VX_SHM_PEER_DEPARTED) {
            /* the peer may have moved records just before leaving: one last try */
            st = wait_fn(&shm->ring, record, 0, &backoff);
            if (st != VX_TIMEOUT) return st;
            if (peer_pid) *peer_pid = pid;
            return VX_ESTATE;
        }
        uint64_t now = vx_monotonic_ns();
        if (now >= deadline) return VX_TIMEOUT;
        slice_end = deadline - now > VX_SHM_PEER_CHECK_NS ? now + VX_SHM_PEER_CHECK_NS : deadline;
        st = wait_fn(&shm->ring, record, slice_end, &backoff);
    }
}

static vx_status shm_push_wait(vx_ring *ring, void *record, uint64_t deadline_ns,
                               vx_ring_backoff *backoff) {
    return vx_ring_push_wait(ring, record, deadline_ns, backoff);
}

vx_status vx_shm_push_wait(vx_shm *shm, const void *record, uint64_t timeout_ns,
                           pid_t *peer_pid) {
    return shm_wait(shm, VX_SHM_CONSUMER, timeout_ns, peer_pid, shm_push_wait, (void *)record);
}

vx_status vx_shm_pop_wait(vx_shm *shm, void *record, uint64_t timeout_ns, pid_t *peer_pid) {
    return shm_wait(shm, VX_SHM_PRODUCER, timeout_ns, peer_pid, vx_ring_pop_wait, record);
}
