"""Type stub for velox._orderbook (see docs/orderbook.md)."""

from typing import NamedTuple, Optional, Tuple

import numpy as np
import numpy.typing as npt
from velox._records import Transaction

DEFAULT_LEVELS: int
MIN_LEVELS: int
MAX_LEVELS: int
MAX_QTY: int
CAS_ATTEMPTS: int
NOGIL_BATCH: int

class ApplyResult(NamedTuple):
    traded_qty: int
    rested_qty: int
    cancelled_qty: int
    levels_matched: int

class BatchResult(NamedTuple):
    applied: int
    traded: int
    rejected: int
    cas_timeouts: int

class SetBatchResult(NamedTuple):
    applied: int
    rejected: int
    first_rejected: int  # -1 when nothing was rejected

class BookCounters(NamedTuple):
    applied: int
    rejected: int
    traded_qty: int
    out_of_window: int
    cas_retries: int
    cas_timeouts: int
    recenters: int

class RecenterResult(NamedTuple):
    dropped_bid_levels: int
    dropped_bid_qty: int
    dropped_ask_levels: int
    dropped_ask_qty: int

_Side = Tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]

class OrderBook:
    levels: int
    tick_size: int
    def __init__(self, levels: int = 1024, tick_size: int = 1_000_000, base_price: int = 0) -> None: ...
    @classmethod
    def from_prices(cls, levels: int = 1024, tick: float = 0.01, base: float = 0.0) -> "OrderBook": ...
    @property
    def base_price(self) -> int: ...
    @property
    def max_price(self) -> int: ...
    def add(self, side: int, price: int, qty: int) -> None: ...
    def reduce(self, side: int, price: int, qty: int) -> None: ...
    def set(self, side: int, price: int, qty: int) -> None: ...
    def set_many(
        self,
        sides: npt.NDArray[np.uint8],
        prices: npt.NDArray[np.int64],
        qtys: npt.NDArray[np.uint64],
    ) -> SetBatchResult: ...
    def qty(self, side: int, price: int) -> int: ...
    def best_bid(self) -> Optional[Tuple[int, int]]: ...
    def best_ask(self) -> Optional[Tuple[int, int]]: ...
    def spread(self) -> Optional[int]: ...
    def mid(self) -> Optional[float]: ...
    def depth(self, n: int = 10) -> Tuple[_Side, _Side]: ...
    @property
    def counters(self) -> BookCounters: ...
    def apply(self, txn: Transaction) -> ApplyResult: ...
    def apply_many(self, txns: npt.NDArray[np.void]) -> BatchResult: ...
    def recenter(self, new_base: int) -> RecenterResult: ...
    def verify_invariants(self) -> None: ...
