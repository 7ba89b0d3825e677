/*
 * velox/venue_live.h — the live venue: the venue seam (venue.h) over two SPSC rings that
 * connect the strategy's thread to a gateway process (usually rings placed in POSIX shared
 * memory by shm.h; any vx_ring of the right record size works). The gateway is the exchange
 * side: it pops vx_order records from the orders ring, speaks to the real venue, and pushes
 * vx_exec records into the execs ring.
 *
 *   strategy thread (host.h) ──orders ring (vx_order, 40 B)──▶ gateway process
 *                           ◀──execs ring  (vx_exec, 56 B)───
 *
 * The seam:
 *   submit(order, now)   pushes the order (as the host made it: validated, ts = now; its
 *                        padding written as zero) into the orders ring. VX_OK; VX_FULL when the ring has no free slot (the host
 *                        turns it into a REJECT, reason VX_REJECT_LIMIT) and also when the
 *                        ring is corrupt (its peer broke the indices: counted in ring_errors,
 *                        sticky) — the order never left either way.
 *   poll(out, cap, now)  pops up to cap reports from the execs ring, in ring order, and sets
 *                        each one's ts_local = now: the strategy's clock (the event time of
 *                        the data the host is at), not the gateway's, so every time a
 *                        strategy sees comes from one clock. ts_exchange is the gateway's and
 *                        is passed through untouched. The reports are foreign bytes: this
 *                        venue does not look inside them; the host validates every one
 *                        (vx_exec_validate, known order, fill <= leaves) before use. A corrupt
 *                        ring returns 0 reports from then on (ring_errors).
 *   next_due             UINT64_MAX: nothing is scheduled inside a live venue (reports are
 *                        delivered whenever the host polls: at each delivery point).
 *   queue_ahead          NULL: a live venue does not know the queue (the api answers
 *                        VX_ESTATE).
 *
 * Roles: this venue is the orders ring's only producer and the execs ring's only consumer
 * (ring.h's SPSC contract), on the strategy's thread. The caller owns both rings and keeps
 * them valid until the venue is destroyed. Memory: the venue is allocated at create, nothing
 * after. Counters may be read from any thread (single writer, relaxed: statistics).
 */
#ifndef VELOX_VENUE_LIVE_H
#define VELOX_VENUE_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "velox/orders.h"
#include "velox/ring.h"
#include "velox/types.h"
#include "velox/venue.h"

typedef struct vx_live_venue vx_live_venue;

typedef struct vx_live_venue_counters {
    uint64_t submitted;    /* orders pushed into the orders ring */
    uint64_t refused_full; /* submits refused: the orders ring was full */
    uint64_t polled;       /* reports popped from the execs ring */
    uint64_t ring_errors;  /* calls that found a ring unusable (corrupt: sticky, or a
                              debug-build SPSC misuse): the order was refused (submit)
                              or no report was taken (poll) */
} vx_live_venue_counters;

/* `orders`: a ring of sizeof(vx_order) records, `execs`: of sizeof(vx_exec) records.
 * VX_EINVAL (NULL, the same ring twice, a wrong record size), VX_ENOMEM. */
vx_status vx_live_venue_create(vx_ring *orders, vx_ring *execs, vx_live_venue **out);
void vx_live_venue_destroy(vx_live_venue *v);

/* The seam for this venue (valid while the venue lives). */
vx_venue vx_live_venue_seam(vx_live_venue *v);

void vx_live_venue_counters_read(const vx_live_venue *v, vx_live_venue_counters *out);

#endif /* VELOX_VENUE_LIVE_H */
