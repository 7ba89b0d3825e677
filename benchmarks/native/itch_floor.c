/* itch_floor.c — the floor for ITCH → books: the simplest fast native loop that builds the
 * aggregate (levels-only) books of every stock of an ITCH 5.0 file. No validation beyond the
 * length prefix, no queues, no counters: mmap, a switch on the message type, an order array
 * indexed directly by order reference (12-byte records: price, shares, locate, side), per-stock
 * arrays of one-cent levels (a window of LEVELS placed at the stock's first order, as velox
 * places its books; orders outside it are kept but in no level), and a prefetch of the order
 * 16 messages ahead. Assumes dense order references below the file size / 36 (an ADD takes 38
 * bytes); it counts, and skips, any reference above that.
 *
 *   gcc -std=c11 -O3 -DNDEBUG -D_GNU_SOURCE benchmarks/native/itch_floor.c -o build/itch_floor
 *   build/itch_floor FILE [ROUNDS] [INSTRUMENTS]   # prints JSON: messages, best seconds, rate, live, shares
 *
 * benchmarks/bench_feeds.py builds and runs it beside velox in the same run.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { LOCATES = 65536, LEVELS = 1024, TICK = 100, AHEAD = 16 };
static uint32_t instruments = 1024; /* books for locates below this; others are skipped */

struct order {
    uint32_t price, qty;
    uint16_t loc;
    uint8_t side, live;
};

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static struct order *orders;
static uint64_t n_orders, out_of_range;
static uint64_t (*lv)[2][LEVELS];
static int64_t base[LOCATES];
static uint8_t placed[LOCATES];

static inline uint64_t *level(uint16_t loc, int side, uint32_t price) {
    if (!placed[loc]) {
        placed[loc] = 1;
        base[loc] = (int64_t)price - (LEVELS / 2) * TICK;
    }
    int64_t k = ((int64_t)price - base[loc]) / TICK;
    return k >= 0 && k < LEVELS ? &lv[loc][side][k] : NULL;
}

static inline void add(uint64_t ref, uint16_t loc, int side, uint32_t qty, uint32_t price) {
    if (ref >= n_orders) { out_of_range++; return; }
    if (loc >= instruments) return;
    struct order *o = &orders[ref];
    o->price = price; o->qty = qty; o->loc = loc; o->side = (uint8_t)side; o->live = 1;
    uint64_t *l = level(loc, side, price);
    if (l) *l += qty;
}

static inline void reduce(uint64_t ref, uint32_t qty) {
    if (ref >= n_orders) return;
    struct order *o = &orders[ref];
    if (!o->live) return;
    uint64_t *l = level(o->loc, o->side, o->price);
    if (qty > o->qty) qty = o->qty;
    if (l) *l -= qty;
    o->qty -= qty;
    if (!o->qty) o->live = 0;
}

__attribute__((noinline)) static void reset(void) {
    memset(orders, 0, n_orders * sizeof *orders);
    memset(lv, 0, sizeof(*lv) * instruments);
    memset(placed, 0, sizeof placed);
}

__attribute__((noinline)) static double run(const uint8_t *buf, size_t len, uint64_t *messages) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t pos = 0, ahead = 0;
    uint64_t n = 0;
    for (int i = 0; i < AHEAD && ahead + 2 <= len; i++) ahead += 2 + be16(buf + ahead);
    while (pos + 2 <= len) {
        size_t mlen = be16(buf + pos);
        if (pos + 2 + mlen > len) break;
        if (ahead + 2 + 19 <= len) { /* prefetch the order 16 messages ahead */
            uint64_t r = be64(buf + ahead + 2 + 11);
            if (r < n_orders) __builtin_prefetch(&orders[r], 1);
            ahead += 2 + be16(buf + ahead);
        }
        const uint8_t *m = buf + pos + 2;
        switch (m[0]) {
        case 'A': case 'F':
            add(be64(m + 11), be16(m + 1), m[19] == 'S', be32(m + 20), be32(m + 32));
            break;
        case 'E': case 'C': case 'X':
            reduce(be64(m + 11), be32(m + 19));
            break;
        case 'D': {
            uint64_t r = be64(m + 11);
            if (r < n_orders && orders[r].live) reduce(r, orders[r].qty);
            break;
        }
        case 'U': {
            uint64_t r = be64(m + 11);
            if (r < n_orders && orders[r].live) {
                struct order o = orders[r];
                reduce(r, o.qty);
                add(be64(m + 19), o.loc, o.side, be32(m + 27), be32(m + 31));
            }
            break;
        }
        default:
            break;
        }
        n++;
        pos += 2 + mlen;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *messages = n;
    return (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FILE [ROUNDS] [INSTRUMENTS]\n", argv[0]); return 2; }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (argc > 3) instruments = (uint32_t)atoi(argv[3]);
    if (instruments < 1 || instruments > LOCATES) { fprintf(stderr, "bad INSTRUMENTS\n"); return 2; }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[1]); return 1; }
    size_t len = (size_t)st.st_size;
    const uint8_t *buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (buf == MAP_FAILED) { perror("mmap"); return 1; }
    madvise((void *)buf, len, MADV_SEQUENTIAL);
    n_orders = len / 36 + 1024;
    orders = calloc(n_orders, sizeof *orders);
    lv = calloc(instruments, sizeof *lv);
    if (!orders || !lv) { fprintf(stderr, "out of memory\n"); return 1; }
    double best = 1e30;
    uint64_t messages = 0;
    for (int r = 0; r < (rounds ? rounds + 1 : 1); r++) { /* round 0 warms the page cache */
        reset();
        double s = run(buf, len, &messages); /* ROUNDS 0: one pass (callgrind) */
        if ((r || !rounds) && s < best) best = s;
    }
    uint64_t live = 0, shares = 0;
    for (uint64_t i = 0; i < n_orders; i++) live += orders[i].live;
    for (size_t l = 0; l < instruments; l++)
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < LEVELS; k++) shares += lv[l][s][k];
    printf("{\"messages\": %llu, \"seconds\": %.6f, \"rate\": %.1f, \"live\": %llu, "
           "\"level_shares\": %llu, \"out_of_range_refs\": %llu, \"order_bytes\": %zu}\n",
           (unsigned long long)messages, best, (double)messages / best, (unsigned long long)live,
           (unsigned long long)shares, (unsigned long long)out_of_range, sizeof(struct order));
    return 0;
}
