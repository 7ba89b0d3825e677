from typing import Any, NamedTuple, SupportsIndex

import numpy as np
import numpy.typing as npt

from velox._records import Action

DEFAULT_LEVELS: int
MAX_LEVELS: int
MAX_ORDERS: int
MAX_SEED: int
SLOT_BYTES: int
MIN_ID_WINDOW: int
MAX_ID_WINDOW: int
DEFAULT_MAX_ORDERS: int
NOGIL_BATCH: int
REJECT_REASONS: tuple[str, ...]

class MboOrder(NamedTuple):
    order_id: int
    side: int
    price: int
    qty: int
    ts: int
    in_window: bool

class MboBatchResult(NamedTuple):
    applied: int
    rejected: int
    by_action: dict[Action, int]
    rejected_by_reason: dict[str, int]
    unknown_orders: int

class MboCounters(NamedTuple):
    applied: int
    rejected: int
    by_action: dict[Action, int]
    rejected_by_reason: dict[str, int]
    unknown_orders: int
    out_of_window_orders: int
    recenters: int
    traded_qty: int
    dropped_seeded_qty: int
    read_retries: int
    index_rehashes: int
    id_window_hits: int
    id_hash_lookups: int
    id_window_slides: int

_Side = SupportsIndex
_Depth2 = tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]

class MboBook:
    levels: int
    tick_size: int
    def __init__(
        self,
        levels: int = ...,
        tick_size: SupportsIndex = ...,
        base_price: SupportsIndex = ...,
        max_orders: SupportsIndex = ...,
        instrument: SupportsIndex | None = ...,
        *,
        id_window: SupportsIndex | None = ...,
    ) -> None: ...
    @classmethod
    def from_prices(
        cls,
        levels: int = ...,
        tick: Any = ...,
        base: Any = ...,
        max_orders: SupportsIndex = ...,
        instrument: SupportsIndex | None = ...,
    ) -> MboBook: ...
    @property
    def base_price(self) -> int: ...
    @property
    def max_price(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def live_orders(self) -> int: ...
    @property
    def instrument(self) -> int | None: ...
    @property
    def id_window(self) -> int: ...
    @property
    def memory_bytes(self) -> int: ...
    def apply(self, event: np.void) -> None: ...
    def apply_fields(
        self,
        action: SupportsIndex,
        side: SupportsIndex,
        order_id: SupportsIndex,
        price: SupportsIndex = ...,
        qty: SupportsIndex = ...,
        ref: SupportsIndex = ...,
        ts: SupportsIndex = ...,
        instrument: SupportsIndex = ...,
    ) -> None: ...
    def apply_many(self, events: npt.NDArray[np.void]) -> MboBatchResult: ...
    def seed_level(self, side: _Side, price: SupportsIndex, qty: SupportsIndex) -> None: ...
    def clear(self) -> None: ...
    def reserve(self, max_orders: SupportsIndex) -> None: ...
    def recenter(self, new_base: SupportsIndex) -> None: ...
    def follow(self) -> bool: ...
    def best_bid(self) -> tuple[int, int] | None: ...
    def best_ask(self) -> tuple[int, int] | None: ...
    def qty(self, side: _Side, price: SupportsIndex) -> int: ...
    def depth(self, n: int = ..., orders: bool = ...) -> tuple[Any, Any]: ...
    def order(self, order_id: SupportsIndex) -> MboOrder | None: ...
    def queue_position(self, order_id: SupportsIndex) -> int | None: ...
    @property
    def counters(self) -> MboCounters: ...
    def digest(self) -> int: ...
    def verify_invariants(self) -> None: ...
    def _index_max_distance(self) -> int: ...

def _bench_native_chunks(book: MboBook, events: npt.NDArray[np.void], chunk: int = ...) -> npt.NDArray[np.uint64]: ...
