/*
 * malloc_count.c — an LD_PRELOAD shim that counts heap calls per thread.
 *
 * Built by tests/test_alloc*.py at test time (`cc -shared -fPIC -O2 malloc_count.c -o
 * libvx_malloc_count.so`) and preloaded into a child Python. It interposes malloc, calloc,
 * realloc, free, posix_memalign, aligned_alloc, memalign, valloc and pvalloc, forwards each to
 * glibc's __libc_* entry point (no dlsym, so no bootstrap recursion), and counts the call
 * against the calling thread's kernel tid in a fixed table (no allocation, no locks: a slot
 * is claimed with one CAS on its tid). Python reads the table through ctypes:
 *
 *   int vx_mc_threads(int32_t *tids, uint64_t *calls, int max)   per-thread totals
 *   uint64_t vx_mc_thread_calls(int32_t tid)       one thread's heap calls (below)
 *   uint64_t vx_mc_thread_null_frees(int32_t tid)  one thread's free(NULL) calls
 *   void vx_mc_reset(void)                         zero every count
 *
 * "calls" counts every interposed entry point except free(NULL), which is counted apart:
 * glibc's own thread-exit path (__libc_thread_freeres -> __glibc_tls_internal_free) calls
 * free(NULL) twice in every exiting thread, after the thread function has returned. The claim
 * under test is that a thread makes no heap call at all, not merely that it leaks nothing, so
 * the tests check both counts and allow exactly those two exit-path free(NULL)s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

#define MC_SLOTS 1024 /* threads tracked; more than a test process ever has */

typedef struct mc_slot {
    _Atomic int32_t tid;    /* 0: free */
    _Atomic uint64_t calls;
    _Atomic uint64_t null_frees;
} mc_slot;

static mc_slot mc_table[MC_SLOTS];
static _Atomic uint64_t mc_overflow; /* calls from threads that found no free slot */

static void mc_count_in(int null_free) {
    int32_t tid = (int32_t)syscall(SYS_gettid);
    uint32_t start = ((uint32_t)tid * 2654435761u) % MC_SLOTS;
    for (uint32_t k = 0; k < MC_SLOTS; k++) { /* bounded probe */
        mc_slot *s = &mc_table[(start + k) % MC_SLOTS];
        /* relaxed: the slot's tid is only an identity; no data is published with it */
        int32_t seen = atomic_load_explicit(&s->tid, memory_order_relaxed);
        if (seen == 0) {
            int32_t expected = 0;
            /* relaxed: claiming an identity, as above; a lost race re-reads the winner */
            if (atomic_compare_exchange_strong_explicit(&s->tid, &expected, tid,
                                                        memory_order_relaxed, memory_order_relaxed))
                seen = tid;
            else
                seen = expected;
        }
        if (seen == tid) {
            /* relaxed: a counter read after the threads of interest are quiescent or joined */
            atomic_fetch_add_explicit(null_free ? &s->null_frees : &s->calls, 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&mc_overflow, 1, memory_order_relaxed); /* relaxed: counter */
}

static void mc_count(void) { mc_count_in(0); }

void *malloc(size_t n) { mc_count(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { mc_count(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { mc_count(); return __libc_realloc(p, n); }
void free(void *p) { mc_count_in(p == NULL); __libc_free(p); }
void *memalign(size_t a, size_t n) { mc_count(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { mc_count(); return __libc_memalign(a, n); }
void *valloc(size_t n) { mc_count(); return __libc_valloc(n); }
void *pvalloc(size_t n) { mc_count(); return __libc_pvalloc(n); }
int posix_memalign(void **out, size_t a, size_t n) {
    mc_count();
    if (a < sizeof(void *) || (a & (a - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(a, n);
    if (p == NULL && n != 0) return ENOMEM;
    *out = p;
    return 0;
}

int vx_mc_threads(int32_t *tids, uint64_t *calls, int max) {
    int n = 0;
    for (int i = 0; i < MC_SLOTS && n < max; i++) {
        int32_t tid = atomic_load_explicit(&mc_table[i].tid, memory_order_relaxed);
        if (tid == 0) continue;
        tids[n] = tid;
        calls[n] = atomic_load_explicit(&mc_table[i].calls, memory_order_relaxed);
        n++;
    }
    return n;
}

uint64_t vx_mc_thread_calls(int32_t tid) {
    for (int i = 0; i < MC_SLOTS; i++)
        if (atomic_load_explicit(&mc_table[i].tid, memory_order_relaxed) == tid)
            return atomic_load_explicit(&mc_table[i].calls, memory_order_relaxed);
    return 0;
}

uint64_t vx_mc_thread_null_frees(int32_t tid) {
    for (int i = 0; i < MC_SLOTS; i++)
        if (atomic_load_explicit(&mc_table[i].tid, memory_order_relaxed) == tid)
            return atomic_load_explicit(&mc_table[i].null_frees, memory_order_relaxed);
    return 0;
}

uint64_t vx_mc_overflow(void) { return atomic_load_explicit(&mc_overflow, memory_order_relaxed); }

void vx_mc_reset(void) {
    for (int i = 0; i < MC_SLOTS; i++) {
        atomic_store_explicit(&mc_table[i].calls, 0, memory_order_relaxed);
        atomic_store_explicit(&mc_table[i].null_frees, 0, memory_order_relaxed);
    }
}
