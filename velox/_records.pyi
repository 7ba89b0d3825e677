import enum
from decimal import Decimal
from typing import Any, Iterable, Iterator, overload

import numpy as np

PRICE_SCALE: int
BUNDLE_CAPACITY: int
TXN_DTYPE: np.dtype[Any]
BUNDLE_DTYPE: np.dtype[Any]
MBO_DTYPE: np.dtype[Any]
ORDER_DTYPE: np.dtype[Any]
EXEC_DTYPE: np.dtype[Any]
PNL_DTYPE: np.dtype[Any]
POSITION_DTYPE: np.dtype[Any]
SIDE_NONE: int

class Side(enum.IntEnum):
    BUY = 0
    SELL = 1

class Kind(enum.IntEnum):
    NEW = 0
    CANCEL = 1

BUY: Side
SELL: Side
NEW: Kind
CANCEL: Kind

def to_fixed(price: int | float | Decimal | str) -> int: ...
def from_fixed(fixed: int) -> float: ...
def _c_layout() -> dict[str, Any]: ...

class Transaction:
    def __init__(
        self, *, tsc: int = 0, seq: int = 0, price: int = 0, qty: int = 0, side: int = 0, kind: int = 0
    ) -> None: ...
    @property
    def tsc(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def price(self) -> int: ...
    @property
    def qty(self) -> int: ...
    @property
    def side(self) -> Side: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def price_float(self) -> float: ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Transaction: ...
    def to_numpy(self) -> np.void: ...
    @classmethod
    def from_numpy(cls, row: np.void | np.ndarray[Any, Any]) -> Transaction: ...
    def replace(self, **fields: int) -> Transaction: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Bundle:
    def __init__(self, *, bundle_id: int = 0, transactions: Iterable[Transaction] = ()) -> None: ...
    @property
    def bundle_id(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def transactions(self) -> tuple[Transaction, ...]: ...
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> Transaction: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Transaction, ...]: ...
    def __iter__(self) -> Iterator[Transaction]: ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Bundle: ...
    def to_numpy(self) -> np.void: ...
    @classmethod
    def from_numpy(cls, row: np.void | np.ndarray[Any, Any]) -> Bundle: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...


class Action(enum.IntEnum):
    ADD = 1
    CANCEL = 2
    DELETE = 3
    EXECUTE = 4
    REPLACE = 5
    TRADE = 6
    CROSS = 7
    BROKEN = 8
    CLEAR = 9
    STATUS = 10
    MODIFY = 11
    LEVEL = 12

class MboFlag(enum.IntFlag):
    SYSTEM = 1
    PRINTABLE = 2
    LAST = 4


class OrderType(enum.IntEnum):
    LIMIT = 1
    MARKET = 2

class TimeInForce(enum.IntEnum):
    GTC = 1
    IOC = 2
    POST_ONLY = 3

class OrderAction(enum.IntEnum):
    NEW = 1
    CANCEL = 2
    MODIFY = 3

class ExecKind(enum.IntEnum):
    ACK = 1
    REJECT = 2
    FILL = 3
    PARTIAL_FILL = 4
    CANCELED = 5
    MODIFIED = 6
    EXPIRED = 7

class Liquidity(enum.IntEnum):
    NONE = 0
    MAKER = 1
    TAKER = 2

class RejectReason(enum.IntEnum):
    NONE = 0
    ORDER_ID = 1
    SIDE = 2
    TYPE = 3
    TIF = 4
    ACTION = 5
    PRICE = 6
    QTY = 7
    UNKNOWN_INSTRUMENT = 10
    UNKNOWN_ORDER = 11
    DUPLICATE_ID = 12
    WOULD_CROSS = 13
    RISK = 14
    VENUE = 15
    LIMIT = 16

class ExecField(enum.IntEnum):
    NONE = 0
    KIND = 1
    SIDE = 2
    ORDER_ID = 3
    REASON = 4
    FILL_QTY = 5
    FILL_PRICE = 6
    LEAVES_QTY = 7
    LIQUIDITY = 8

def validate_orders(orders: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]: ...
def validate_execs(execs: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]: ...
