"""The two strategies' decisions, shared by strategy.py (live) and replay.py (the check).

A strategy sees every market-by-order event; on each EXECUTE (a resting order traded) it
sends one immediate-or-cancel limit order at the trade's price: strategy 0 follows the
aggressor (it buys when a resting sell was hit), strategy 1 fades it. Order ids carry the
strategy's id in the top byte, so the gateway's merged stream splits back per strategy."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import velox

#: orders a strategy sends per trade, at most this many lots each
MAX_LOTS = 100


def order_id_base(strategy: int) -> int:
    return (strategy + 1) << 56


def decide(events: npt.NDArray[Any], strategy: int, next_id: int) -> npt.NDArray[Any]:
    """The orders strategy `strategy` sends for this batch of events (ORDER_DTYPE), ids from
    next_id on. Pure: the same events give the same orders, live or replayed."""
    trades = events[events["action"] == int(velox.Action.EXECUTE)]
    orders = np.zeros(len(trades), velox.ORDER_DTYPE)  # zeros: padding bytes are 0
    if not len(trades):
        return orders
    hit_side = trades["side"].astype(np.uint8)  # the resting order's side
    aggressor = 1 - hit_side                    # BUY (0) hit a SELL (1) and back
    orders["ts"] = trades["ts"]
    orders["order_id"] = next_id + np.arange(len(trades), dtype=np.uint64)
    orders["price"] = trades["price"]
    orders["qty"] = np.minimum(trades["qty"], MAX_LOTS)
    orders["instrument"] = trades["instrument"]
    orders["side"] = aggressor if strategy == 0 else hit_side
    orders["type"] = int(velox.OrderType.LIMIT)
    orders["tif"] = int(velox.TimeInForce.IOC)
    orders["action"] = int(velox.OrderAction.NEW)
    return orders
