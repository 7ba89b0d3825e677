"""A small gateway: the exchange side of velox's live venue (velox.LiveVenue).

It attaches the pipeline's orders ring (ORDER_DTYPE) as its consumer and the reports ring
(EXEC_DTYPE) as its producer, and answers every order by simple rules:

- NEW, IOC (LIMIT): ACK, then FILL of the whole size at its price (liquidity TAKER);
- NEW, MARKET: REJECT (reason VENUE: this gateway has no price to fill it at);
- NEW, GTC / POST_ONLY: ACK, and it rests; with ``--fill-every N`` every N-th resting order
  is then filled whole at its price (liquidity MAKER), as if the market traded through it;
- NEW with the id of a working order: REJECT DUPLICATE_ID;
- CANCEL of a working order: CANCELED (leaves 0); of an order this gateway already ended
  (filled): no answer (its FILL is on its way, and velox's host counts a REJECT about an
  order it no longer works as a bad report); of anything else: REJECT UNKNOWN_ORDER;
- MODIFY of a working order: MODIFIED (leaves = the new size); of an order already ended: no
  answer; else REJECT UNKNOWN_ORDER.

ts_exchange is this process's clock (time.time_ns()). It runs until the pipeline closes the
orders ring (stop(): the producer departs), then prints a JSON line of its counts and, with
``--record PATH``, saves every order it received and every report it sent (an .npz of
ORDER_DTYPE ``orders`` and EXEC_DTYPE ``execs``).

    python gateway.py ORDERS_NAME EXECS_NAME [--fill-every N] [--record PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

import velox

NEW, CANCEL, MODIFY = 1, 2, 3
LIMIT, MARKET = 1, 2
IOC = 2
ACK, REJECT, FILL, CANCELED, MODIFIED = 1, 2, 3, 5, 6
MAKER, TAKER = 1, 2
R_UNKNOWN_ORDER, R_DUPLICATE_ID, R_VENUE = 11, 12, 15


class Gateway:
    """The rules above, over one orders ring and one reports ring."""

    def __init__(self, fill_every: int = 0) -> None:
        self.fill_every = fill_every
        self.working: dict[int, dict[str, int]] = {}  # order_id -> instrument, side, leaves
        self.ended: set[int] = set()  # ids of orders this gateway filled
        self.rested = 0
        self.received: list[np.ndarray] = []
        self.sent: list[np.ndarray] = []
        self.counts = {"orders": 0, "acks": 0, "fills": 0, "canceled": 0, "modified": 0,
                       "rejects": 0, "lots_filled": 0, "unanswered": 0}

    def report(self, out: list[tuple[Any, ...]], kind: int, oid: int, inst: int, side: int,
               leaves: int, *, price: int = 0, qty: int = 0, liquidity: int = 0,
               reason: int = 0) -> None:
        out.append((time.time_ns(), 0, oid, price, 0, qty, leaves, inst, kind, side,
                    liquidity, reason))

    def answer(self, orders: np.ndarray) -> np.ndarray:
        """The reports for a batch of orders, in order."""
        out: list[tuple[Any, ...]] = []
        for o in orders:
            self.counts["orders"] += 1
            oid, inst, action = int(o["order_id"]), int(o["instrument"]), int(o["action"])
            side, price, qty = int(o["side"]), int(o["price"]), int(o["qty"])
            w = self.working.get(oid)
            if action == NEW:
                if w is not None:
                    self.report(out, REJECT, oid, inst, side, w["leaves"], reason=R_DUPLICATE_ID)
                elif int(o["type"]) == MARKET:
                    self.report(out, REJECT, oid, inst, side, 0, reason=R_VENUE)
                elif int(o["tif"]) == IOC:
                    self.report(out, ACK, oid, inst, side, qty)
                    self.report(out, FILL, oid, inst, side, 0, price=price, qty=qty,
                                liquidity=TAKER)
                    self.ended.add(oid)
                    self.counts["acks"] += 1
                    self.counts["fills"] += 1
                    self.counts["lots_filled"] += qty
                else:
                    self.report(out, ACK, oid, inst, side, qty)
                    self.counts["acks"] += 1
                    self.rested += 1
                    if self.fill_every and self.rested % self.fill_every == 0:
                        self.report(out, FILL, oid, inst, side, 0, price=price, qty=qty,
                                    liquidity=MAKER)
                        self.ended.add(oid)
                        self.counts["fills"] += 1
                        self.counts["lots_filled"] += qty
                    else:
                        self.working[oid] = {"instrument": inst, "side": side, "leaves": qty}
            elif w is None and oid in self.ended:  # crossed its fill: the FILL says it all
                self.counts["unanswered"] += 1
            elif w is None:  # CANCEL / MODIFY of an order that is not working
                self.report(out, REJECT, oid, inst, 2, 0, reason=R_UNKNOWN_ORDER)
            elif action == CANCEL:
                del self.working[oid]
                self.report(out, CANCELED, oid, w["instrument"], w["side"], 0)
                self.counts["canceled"] += 1
            else:  # MODIFY
                w["leaves"] = qty
                self.report(out, MODIFIED, oid, w["instrument"], w["side"], qty)
                self.counts["modified"] += 1
        self.counts["rejects"] = sum(1 for r in out if r[8] == REJECT) + self.counts["rejects"]
        arr = np.zeros(len(out), velox.EXEC_DTYPE)
        for i, r in enumerate(out):
            arr[i] = r
        return arr

    def run(self, orders_name: str, execs_name: str, attach_timeout: float) -> None:
        orders = velox.SharedRing.attach(orders_name, velox.ORDER_DTYPE, timeout=attach_timeout)
        execs = velox.SharedRing.attach(execs_name, velox.EXEC_DTYPE, timeout=attach_timeout)
        try:
            while True:
                try:
                    batch = orders.pop_many(256, timeout=None)
                except BrokenPipeError:  # the pipeline stopped: every order is in
                    return
                self.received.append(batch.copy())
                reports = self.answer(batch)
                self.sent.append(reports)
                done = 0
                while done < len(reports):  # the pipeline drains it; a bounded wait each
                    done += execs.push_many(reports[done:], timeout=30.0)
        finally:
            orders.close()
            execs.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("orders", help="the orders ring's shared-memory name")
    ap.add_argument("execs", help="the execution reports ring's shared-memory name")
    ap.add_argument("--fill-every", type=int, default=0, metavar="N",
                    help="fill every N-th resting order whole at its price [default: never]")
    ap.add_argument("--record", metavar="PATH", help="save the orders and reports (.npz)")
    ap.add_argument("--attach-timeout", type=float, default=30.0, metavar="S",
                    help="wait this long for the pipeline to create the rings [default: 30]")
    args = ap.parse_args(argv)
    if args.fill_every < 0:
        ap.error(f"--fill-every must be >= 0, got {args.fill_every}")
    gw = Gateway(args.fill_every)
    gw.run(args.orders, args.execs, args.attach_timeout)
    if args.record:
        def cat(chunks: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
            out = np.zeros(sum(len(c) for c in chunks), dtype)
            at = 0
            for c in chunks:
                out[at:at + len(c)] = c
                at += len(c)
            return out
        np.savez(args.record, orders=cat(gw.received, velox.ORDER_DTYPE),
                 execs=cat(gw.sent, velox.EXEC_DTYPE))
    print(json.dumps({**gw.counts, "working_at_end": len(gw.working)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
