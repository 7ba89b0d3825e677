"""The live view of a running pipeline's books (Pipeline.book)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from typing import Any

from velox._mbo import MboOrder
from velox._pipeline import NativePipeline
from velox.pipeline._strategy import StrategyLogs


class BookView:
    """Pipeline.book: reads the running pipeline's book (prices in fixed point): the L2 ladder
    (records="txn"), or the market-by-order book of `instrument` (records="mbo"; 0 ..
    instruments - 1), which also answers order lookups. With a v2 strategy it also shows the
    strategy's working orders and positions, as the drained logs say (a recent view: the
    strategy's logs are drained about every millisecond)."""

    def __init__(self, native: NativePipeline, strategy: StrategyLogs | None = None) -> None:
        self._native = native
        self._strategy = strategy

    def working_orders(self) -> list[dict[str, Any]]:
        """The strategy's working orders (sent, not yet ended by a FILL, CANCELED, EXPIRED or
        a REJECT): dicts of order_id, instrument, side (0 buy, 1 sell), price (fixed point),
        qty, leaves_qty, state ("pending": no report yet; "live": acknowledged)."""
        return self._logs().working_orders()

    def positions(self) -> dict[int, dict[str, int]]:
        """{instrument: {"position": signed lots, "total_pnl": the strategy's total P&L after
        fees (all instruments, fixed point) at its last P&L point}} for the instruments the
        strategy traded."""
        return self._logs().positions()

    def _logs(self) -> StrategyLogs:
        if self._strategy is None:
            raise RuntimeError("this pipeline hosts no strategy of ABI v2: no working orders or "
                               "positions to show")
        return self._strategy

    def best_bid(self, instrument: int = 0) -> tuple[int, int] | None:
        return self._native.best(0, instrument)

    def best_ask(self, instrument: int = 0) -> tuple[int, int] | None:
        return self._native.best(1, instrument)

    def depth(self, n: int = 10, instrument: int = 0
              ) -> tuple[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]],
                         tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]]:
        """((bid prices, bid qtys), (ask prices, ask qtys)), best first, up to n levels each."""
        return self._native.depth(0, n, instrument), self._native.depth(1, n, instrument)

    def order(self, order_id: int, instrument: int = 0) -> MboOrder | None:
        """records="mbo": the live order as ``MboOrder(order_id, side, price, qty, ts,
        in_window)`` (what ``MboBook.order`` returns) or None."""
        return self._native.order(order_id, instrument)

    def queue_position(self, order_id: int, instrument: int = 0) -> int | None:
        """records="mbo": lots ahead of the order in its level's FIFO queue, or None."""
        return self._native.queue_position(order_id, instrument)
