import numpy as np
import numpy.typing as npt

from velox._records import Transaction
from velox._ring import SpscRing, _Item

class InvalidRecordError(ValueError):
    """A popped record is not a valid Transaction; it was consumed, its bytes are `record`."""

    record: bytes
    def __init__(self, message: str, record: bytes) -> None: ...

class TxnRing(SpscRing):
    """SpscRing of TXN_DTYPE records whose pops return Transaction objects."""

    def __init__(self, capacity: int = 4096, dtype: npt.DTypeLike = ...) -> None: ...
    def try_push(self, item: _Item, /) -> bool: ...
    def push(self, item: _Item, timeout: float | None = None) -> None: ...
    def try_pop(self) -> Transaction | None: ...
    def pop(self, timeout: float | None = None) -> Transaction: ...
