from velox import tsc as tsc
from velox._records import (
    BUNDLE_CAPACITY as BUNDLE_CAPACITY,
    BUNDLE_DTYPE as BUNDLE_DTYPE,
    BUY as BUY,
    CANCEL as CANCEL,
    NEW as NEW,
    PRICE_SCALE as PRICE_SCALE,
    SELL as SELL,
    TXN_DTYPE as TXN_DTYPE,
    MBO_DTYPE as MBO_DTYPE,
    SIDE_NONE as SIDE_NONE,
    Action as Action,
    MboFlag as MboFlag,
    Bundle as Bundle,
    Kind as Kind,
    Side as Side,
    Transaction as Transaction,
    from_fixed as from_fixed,
    to_fixed as to_fixed,
)

__version__: str
# --- modules added by each component (one block each) ---

# orders and execution reports (the trading loop's records)
from velox._records import (
    EXEC_DTYPE as EXEC_DTYPE,
    ORDER_DTYPE as ORDER_DTYPE,
    PNL_DTYPE as PNL_DTYPE,
    POSITION_DTYPE as POSITION_DTYPE,
    ExecField as ExecField,
    ExecKind as ExecKind,
    Liquidity as Liquidity,
    OrderAction as OrderAction,
    OrderType as OrderType,
    RejectReason as RejectReason,
    TimeInForce as TimeInForce,
    validate_execs as validate_execs,
    validate_orders as validate_orders,
)

# ring (SPSC ring)
from velox._ring import RingCorrupted as RingCorrupted
from velox._ring import SpscRing as SpscRing

# txnring (typed per-item ring: pops return Transaction)
from velox._txnring import InvalidRecordError as InvalidRecordError
from velox._txnring import TxnRing as TxnRing

# histogram + pipeline (native pipeline)
from velox._histogram import Histogram as Histogram
from velox.pipeline import Pipeline as Pipeline
from velox.pipeline import LiveVenue as LiveVenue

# orderbook (price-ladder order book)
from velox._orderbook import OrderBook as OrderBook

# shm (cross-process shared-memory rings)
from velox._shm import SharedRing as SharedRing
from velox._journal import Journal as Journal, JournalCorrupted as JournalCorrupted, JournalReader as JournalReader

# mpsc (many producers, one consumer; in process or in shared memory)
from velox._mpsc import MpscRing as MpscRing

# broadcast (one writer, many readers; in process or in shared memory)
from velox._broadcast import BroadcastReader as BroadcastReader
from velox._broadcast import BroadcastRing as BroadcastRing

# mbo (market-by-order L3 book)
from velox._mbo import MboBook as MboBook

# backtest (a compiled strategy against market-by-order data through the simulated venue)
from velox.backtest import BacktestResult as BacktestResult
from velox.backtest import RiskLimits as RiskLimits
from velox.backtest import SimVenue as SimVenue
from velox.backtest import backtest as backtest

# sweep (backtests over many inputs x a parameter grid)
from velox.sweep import SweepResult as SweepResult
from velox.sweep import sweep as sweep

# C API for downstream Cython (get_include / get_sources)
def get_include() -> str: ...
def get_sources(*modules: str) -> list[str]: ...
