"""The live view of a running pipeline's books (Pipeline.book)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from velox._mbo import MboOrder
from velox._pipeline import NativePipeline


class BookView:
    """Pipeline.book: reads the running pipeline's book (prices in fixed point): the L2 ladder
    (records="txn"), or the market-by-order book of `instrument` (records="mbo"; 0 ..
    instruments - 1), which also answers order lookups."""

    def __init__(self, native: NativePipeline) -> None:
        self._native = native

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
