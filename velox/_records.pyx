# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/types.c csrc/velox/orders.c
"""Records: the 32-byte Transaction and the 528-byte Bundle, their NumPy dtypes, the
market-by-order event dtype, the trading loop's order and execution-report dtypes with their
validation, and the fixed-point price helpers. Thin wrappers over ``csrc/velox/types.h`` and
``csrc/velox/orders.h``."""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memcmp, memcpy, memset

from velox.includes.types cimport *
from velox.includes.orders cimport *
from velox.includes.positions cimport *
from velox.includes.strategy cimport *
cimport numpy as cnp

import enum
import math
from decimal import Context, Decimal, localcontext

import numpy as np

cnp.import_array()

PRICE_SCALE = VX_PRICE_SCALE
"""Fixed-point scale: a price ``p`` is stored as the integer ``round(p * PRICE_SCALE)``."""


class Side(enum.IntEnum):
    BUY = VX_BUY
    SELL = VX_SELL


class Kind(enum.IntEnum):
    NEW = VX_NEW
    CANCEL = VX_CANCEL


BUY = Side.BUY
SELL = Side.SELL
NEW = Kind.NEW
CANCEL = Kind.CANCEL
BUNDLE_CAPACITY = VX_BUNDLE_CAPACITY

# Host byte order ('=') because the C structs are host-ordered (little-endian on every
# platform velox supports). Padding is unnamed: NumPy may leave it uninitialised, and velox
# ignores it on input. align=True: the layout is the C one either way (explicit offsets, the
# struct is naturally aligned), but the dtype's alignment becomes the C struct's (8, not 1),
# so NumPy's flags.aligned is False for a view at an odd offset and np.require(..., "A")
# copies it. (A dtype built without align=True still compares equal, so every call that hands
# a pointer to C also checks the pointer itself.)
TXN_DTYPE = np.dtype({
    "names": ["tsc", "seq", "price", "qty", "side", "kind"],
    "formats": ["=u8", "=u8", "=i8", "=u4", "u1", "u1"],
    "offsets": [VX_TXN_OFFSET_TSC, VX_TXN_OFFSET_SEQ, VX_TXN_OFFSET_PRICE,
                VX_TXN_OFFSET_QTY, VX_TXN_OFFSET_SIDE, VX_TXN_OFFSET_KIND],
    "itemsize": sizeof(vx_txn),
}, align=True)
BUNDLE_DTYPE = np.dtype({
    "names": ["bundle_id", "count", "txns"],
    "formats": ["=u8", "=u4", (TXN_DTYPE, VX_BUNDLE_CAPACITY)],
    "offsets": [VX_BUNDLE_OFFSET_ID, VX_BUNDLE_OFFSET_COUNT, VX_BUNDLE_OFFSET_TXNS],
    "itemsize": sizeof(vx_bundle),
}, align=True)

# Market-by-order (L3) events: csrc/velox/types.h vx_mbo, 48 bytes, aligned like TXN_DTYPE
# (alignment 8). Field meanings per action are in types.h and docs/mbo.md.
MBO_DTYPE = np.dtype({
    "names": ["ts", "order_id", "price", "ref", "qty", "instrument", "side", "action",
              "flags", "status"],
    "formats": ["=u8", "=u8", "=i8", "=u8", "=u4", "=u4", "u1", "u1", "u1", "u1"],
    "offsets": [VX_MBO_OFFSET_TS, VX_MBO_OFFSET_ORDER_ID, VX_MBO_OFFSET_PRICE,
                VX_MBO_OFFSET_REF, VX_MBO_OFFSET_QTY, VX_MBO_OFFSET_INSTRUMENT,
                VX_MBO_OFFSET_SIDE, VX_MBO_OFFSET_ACTION, VX_MBO_OFFSET_FLAGS,
                VX_MBO_OFFSET_STATUS],
    "itemsize": sizeof(vx_mbo),
}, align=True)


class Action(enum.IntEnum):
    """What a market-by-order event (MBO_DTYPE ``action``) does; see docs/mbo.md."""
    ADD = VX_MBO_ADD
    CANCEL = VX_MBO_CANCEL
    DELETE = VX_MBO_DELETE
    EXECUTE = VX_MBO_EXECUTE
    REPLACE = VX_MBO_REPLACE
    TRADE = VX_MBO_TRADE
    CROSS = VX_MBO_CROSS
    BROKEN = VX_MBO_BROKEN
    CLEAR = VX_MBO_CLEAR
    STATUS = VX_MBO_STATUS
    MODIFY = VX_MBO_MODIFY
    LEVEL = VX_MBO_LEVEL


SIDE_NONE = VX_SIDE_NONE
"""MBO_DTYPE ``side`` for events without a side (status, clear, cross)."""


class MboFlag(enum.IntFlag):
    """MBO_DTYPE ``flags`` bits."""
    SYSTEM = VX_MBO_F_SYSTEM
    PRINTABLE = VX_MBO_F_PRINTABLE
    LAST = VX_MBO_F_LAST


# ---------------------------------------------------------------------------------------------
# The trading loop's records (csrc/velox/orders.h): an order a strategy sends and an execution
# report a venue sends back. Aligned like the others (alignment 8); meanings in orders.h and
# docs/records.md.

ORDER_DTYPE = np.dtype({
    "names": ["ts", "order_id", "price", "qty", "instrument", "side", "type", "tif", "action"],
    "formats": ["=u8", "=u8", "=i8", "=u4", "=u4", "u1", "u1", "u1", "u1"],
    "offsets": [VX_ORDER_OFFSET_TS, VX_ORDER_OFFSET_ORDER_ID, VX_ORDER_OFFSET_PRICE,
                VX_ORDER_OFFSET_QTY, VX_ORDER_OFFSET_INSTRUMENT, VX_ORDER_OFFSET_SIDE,
                VX_ORDER_OFFSET_TYPE, VX_ORDER_OFFSET_TIF, VX_ORDER_OFFSET_ACTION],
    "itemsize": sizeof(vx_order),
}, align=True)
EXEC_DTYPE = np.dtype({
    "names": ["ts_exchange", "ts_local", "order_id", "fill_price", "fee", "fill_qty",
              "leaves_qty", "instrument", "kind", "side", "liquidity", "reason"],
    "formats": ["=u8", "=u8", "=u8", "=i8", "=i8", "=u4", "=u4", "=u4", "u1", "u1", "u1", "u1"],
    "offsets": [VX_EXEC_OFFSET_TS_EXCHANGE, VX_EXEC_OFFSET_TS_LOCAL, VX_EXEC_OFFSET_ORDER_ID,
                VX_EXEC_OFFSET_FILL_PRICE, VX_EXEC_OFFSET_FEE, VX_EXEC_OFFSET_FILL_QTY,
                VX_EXEC_OFFSET_LEAVES_QTY, VX_EXEC_OFFSET_INSTRUMENT, VX_EXEC_OFFSET_KIND,
                VX_EXEC_OFFSET_SIDE, VX_EXEC_OFFSET_LIQUIDITY, VX_EXEC_OFFSET_REASON],
    "itemsize": sizeof(vx_exec),
}, align=True)

# The backtest's results (csrc/velox/positions.h vx_pnl_point, strategy.h vx_position): one
# point of the P&L series and one instrument's position. Money is fixed point (PRICE_SCALE).
PNL_DTYPE = np.dtype({
    "names": ["ts", "instrument", "reason", "position", "realized", "unrealized", "fees",
              "total"],
    "formats": ["=u8", "=u4", "=u4", "=i8", "=i8", "=i8", "=i8", "=i8"],
    "offsets": [VX_PNL_OFFSET_TS, VX_PNL_OFFSET_INSTRUMENT, VX_PNL_OFFSET_REASON,
                VX_PNL_OFFSET_POSITION, VX_PNL_OFFSET_REALIZED, VX_PNL_OFFSET_UNREALIZED,
                VX_PNL_OFFSET_FEES, VX_PNL_OFFSET_TOTAL],
    "itemsize": sizeof(vx_pnl_point),
}, align=True)
POSITION_DTYPE = np.dtype({
    "names": ["position", "avg_price", "realized", "unrealized", "fees", "mark", "volume",
              "fills", "working_buy", "working_sell"],
    "formats": ["=i8", "=i8", "=i8", "=i8", "=i8", "=i8", "=u8", "=u8", "=i8", "=i8"],
    "offsets": [VX_POSITION_OFFSET_POSITION, VX_POSITION_OFFSET_AVG_PRICE,
                VX_POSITION_OFFSET_REALIZED, VX_POSITION_OFFSET_UNREALIZED,
                VX_POSITION_OFFSET_FEES, VX_POSITION_OFFSET_MARK, VX_POSITION_OFFSET_VOLUME,
                VX_POSITION_OFFSET_FILLS, VX_POSITION_OFFSET_WORKING_BUY,
                VX_POSITION_OFFSET_WORKING_SELL],
    "itemsize": sizeof(vx_position),
}, align=True)


class OrderType(enum.IntEnum):
    """ORDER_DTYPE ``type``."""
    LIMIT = VX_ORDER_LIMIT
    MARKET = VX_ORDER_MARKET


class TimeInForce(enum.IntEnum):
    """ORDER_DTYPE ``tif``: GTC rests until canceled, IOC takes what it can at once and cancels
    the rest, POST_ONLY rests only (refused when it would take liquidity)."""
    GTC = VX_TIF_GTC
    IOC = VX_TIF_IOC
    POST_ONLY = VX_TIF_POST_ONLY


class OrderAction(enum.IntEnum):
    """ORDER_DTYPE ``action``."""
    NEW = VX_ORDER_NEW
    CANCEL = VX_ORDER_CANCEL
    MODIFY = VX_ORDER_MODIFY


class ExecKind(enum.IntEnum):
    """EXEC_DTYPE ``kind``."""
    ACK = VX_EXEC_ACK
    REJECT = VX_EXEC_REJECT
    FILL = VX_EXEC_FILL
    PARTIAL_FILL = VX_EXEC_PARTIAL_FILL
    CANCELED = VX_EXEC_CANCELED
    MODIFIED = VX_EXEC_MODIFIED
    EXPIRED = VX_EXEC_EXPIRED


class Liquidity(enum.IntEnum):
    """EXEC_DTYPE ``liquidity``: MAKER (the order rested), TAKER (it took); NONE off fills."""
    NONE = VX_LIQ_NONE
    MAKER = VX_LIQ_MAKER
    TAKER = VX_LIQ_TAKER


class RejectReason(enum.IntEnum):
    """Why an order is refused: what ``validate_orders`` returns per order (ORDER_ID .. QTY,
    the record's own fields) and a REJECT report's ``reason`` (also the venue's reasons)."""
    NONE = VX_REJECT_NONE
    ORDER_ID = VX_REJECT_ORDER_ID
    SIDE = VX_REJECT_SIDE
    TYPE = VX_REJECT_TYPE
    TIF = VX_REJECT_TIF
    ACTION = VX_REJECT_ACTION
    PRICE = VX_REJECT_PRICE
    QTY = VX_REJECT_QTY
    UNKNOWN_INSTRUMENT = VX_REJECT_UNKNOWN_INSTRUMENT
    UNKNOWN_ORDER = VX_REJECT_UNKNOWN_ORDER
    DUPLICATE_ID = VX_REJECT_DUPLICATE_ID
    WOULD_CROSS = VX_REJECT_WOULD_CROSS
    RISK = VX_REJECT_RISK
    VENUE = VX_REJECT_VENUE
    LIMIT = VX_REJECT_LIMIT


class ExecField(enum.IntEnum):
    """Which field of an execution report ``validate_execs`` found invalid (NONE: valid)."""
    NONE = VX_EXEC_FIELD_NONE
    KIND = VX_EXEC_FIELD_KIND
    SIDE = VX_EXEC_FIELD_SIDE
    ORDER_ID = VX_EXEC_FIELD_ORDER_ID
    REASON = VX_EXEC_FIELD_REASON
    FILL_QTY = VX_EXEC_FIELD_FILL_QTY
    FILL_PRICE = VX_EXEC_FIELD_FILL_PRICE
    LEAVES_QTY = VX_EXEC_FIELD_LEAVES_QTY
    LIQUIDITY = VX_EXEC_FIELD_LIQUIDITY


# Arrays at least this long are validated with the GIL released.
_NOGIL_RECORDS = 4096


cdef cnp.ndarray _records_array(object records, object dtype, str name, str dtype_name):
    """records as a C-contiguous array at an 8-byte-aligned address (a copy when the caller's
    is a view at an odd offset: C reads 8-byte fields). TypeError/ValueError naming them."""
    if not isinstance(records, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of {dtype_name}, got {type(records).__name__}")
    if records.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype_name}, got {records.dtype!r}")
    if records.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {records.shape!r}")
    cdef cnp.ndarray arr = np.ascontiguousarray(records)
    if (<uintptr_t>cnp.PyArray_DATA(arr)) & 7:
        arr = np.zeros(records.shape[0], dtype)
        arr[...] = records
    return arr


def validate_orders(orders):
    """The RejectReason code of each order of a 1-D ORDER_DTYPE array (``vx_order_validate``:
    0 = valid), as a uint8 array of the same length. Raises TypeError for another dtype or
    object, ValueError for another shape."""
    cdef cnp.ndarray arr = _records_array(orders, ORDER_DTYPE, "orders", "ORDER_DTYPE")
    cdef Py_ssize_t n = arr.shape[0], i
    out = np.zeros(n, dtype=np.uint8)
    cdef uint8_t[::1] res = out
    cdef const vx_order *data = <const vx_order *>cnp.PyArray_DATA(arr)
    if n >= _NOGIL_RECORDS:
        with nogil:
            for i in range(n):
                res[i] = <uint8_t>vx_order_validate(&data[i])
    else:
        for i in range(n):
            res[i] = <uint8_t>vx_order_validate(&data[i])
    return out


def validate_execs(execs):
    """The ExecField code of each report of a 1-D EXEC_DTYPE array (``vx_exec_validate``:
    0 = valid), as a uint8 array of the same length. Raises TypeError for another dtype or
    object, ValueError for another shape."""
    cdef cnp.ndarray arr = _records_array(execs, EXEC_DTYPE, "execs", "EXEC_DTYPE")
    cdef Py_ssize_t n = arr.shape[0], i
    out = np.zeros(n, dtype=np.uint8)
    cdef uint8_t[::1] res = out
    cdef const vx_exec *data = <const vx_exec *>cnp.PyArray_DATA(arr)
    if n >= _NOGIL_RECORDS:
        with nogil:
            for i in range(n):
                res[i] = <uint8_t>vx_exec_validate(&data[i])
    else:
        for i in range(n):
            res[i] = <uint8_t>vx_exec_validate(&data[i])
    return out


def _c_layout():
    """The C compiler's sizeof/offsetof for every record (what the dtypes must match)."""
    return {
        "order_size": sizeof(vx_order),
        "order_offsets": {"ts": VX_ORDER_OFFSET_TS, "order_id": VX_ORDER_OFFSET_ORDER_ID,
                          "price": VX_ORDER_OFFSET_PRICE, "qty": VX_ORDER_OFFSET_QTY,
                          "instrument": VX_ORDER_OFFSET_INSTRUMENT,
                          "side": VX_ORDER_OFFSET_SIDE, "type": VX_ORDER_OFFSET_TYPE,
                          "tif": VX_ORDER_OFFSET_TIF, "action": VX_ORDER_OFFSET_ACTION},
        "exec_size": sizeof(vx_exec),
        "exec_offsets": {"ts_exchange": VX_EXEC_OFFSET_TS_EXCHANGE,
                         "ts_local": VX_EXEC_OFFSET_TS_LOCAL,
                         "order_id": VX_EXEC_OFFSET_ORDER_ID,
                         "fill_price": VX_EXEC_OFFSET_FILL_PRICE, "fee": VX_EXEC_OFFSET_FEE,
                         "fill_qty": VX_EXEC_OFFSET_FILL_QTY,
                         "leaves_qty": VX_EXEC_OFFSET_LEAVES_QTY,
                         "instrument": VX_EXEC_OFFSET_INSTRUMENT, "kind": VX_EXEC_OFFSET_KIND,
                         "side": VX_EXEC_OFFSET_SIDE, "liquidity": VX_EXEC_OFFSET_LIQUIDITY,
                         "reason": VX_EXEC_OFFSET_REASON},
        "txn_size": sizeof(vx_txn),
        "txn_offsets": {"tsc": VX_TXN_OFFSET_TSC, "seq": VX_TXN_OFFSET_SEQ,
                        "price": VX_TXN_OFFSET_PRICE, "qty": VX_TXN_OFFSET_QTY,
                        "side": VX_TXN_OFFSET_SIDE, "kind": VX_TXN_OFFSET_KIND},
        "bundle_size": sizeof(vx_bundle),
        "bundle_offsets": {"bundle_id": VX_BUNDLE_OFFSET_ID, "count": VX_BUNDLE_OFFSET_COUNT,
                           "txns": VX_BUNDLE_OFFSET_TXNS},
        "mbo_size": sizeof(vx_mbo),
        "mbo_offsets": {"ts": VX_MBO_OFFSET_TS, "order_id": VX_MBO_OFFSET_ORDER_ID,
                        "price": VX_MBO_OFFSET_PRICE, "ref": VX_MBO_OFFSET_REF,
                        "qty": VX_MBO_OFFSET_QTY, "instrument": VX_MBO_OFFSET_INSTRUMENT,
                        "side": VX_MBO_OFFSET_SIDE, "action": VX_MBO_OFFSET_ACTION,
                        "flags": VX_MBO_OFFSET_FLAGS, "status": VX_MBO_OFFSET_STATUS},
    }


# ---------------------------------------------------------------------------------------------
# Fixed-point prices

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_SCALE_DIGITS = 8  # PRICE_SCALE == 10**_SCALE_DIGITS (checked at import)
if 10 ** _SCALE_DIGITS != VX_PRICE_SCALE:
    raise ImportError("velox: PRICE_SCALE is not 10**8; update _SCALE_DIGITS")


def _price_repr(price):
    """repr for error messages: bounded (a 5000-digit string) and safe (repr of an int above
    sys.get_int_max_str_digits() raises ValueError itself)."""
    try:
        text = repr(price)
    except ValueError:
        return f"<int of {price.bit_length()} bits>"
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"


def _decimal_to_fixed(d, price):
    """round(d * PRICE_SCALE), half to even, computed on the digits of ``d`` (sign, digit
    tuple, exponent): exact, one rounding, independent of the caller's decimal context, and
    linear in the number of digits (a huge exponent is rejected before any arithmetic)."""
    sign, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int):  # 'n' (NaN), 'N' (sNaN), 'F' (infinity)
        raise ValueError(f"price must be finite, got {_price_repr(price)}")
    if not any(digits):
        return 0
    # strip leading zeros (Decimal keeps none, but a tuple-built one may)
    first = 0
    while digits[first] == 0:
        first += 1
    digits = digits[first:]
    n = len(digits)
    # the scaled value has k digits before the decimal point (k <= 0: it is below 1)
    k = n + exponent + _SCALE_DIGITS
    if k > 19:  # >= 10**19 > int64 max: reject before building any big number
        raise ValueError(f"price {_price_repr(price)} is outside the int64 fixed-point range")
    if k >= n:  # no fractional part after scaling: exact
        result = int("".join(map(str, digits))) * 10 ** (k - n)
    elif k < 0:  # below 0.1 units after scaling: rounds to 0
        result = 0
    else:
        result = int("".join(map(str, digits[:k]))) if k else 0
        rounding_digit = digits[k]
        sticky = any(digits[k + 1:])
        if rounding_digit > 5 or (rounding_digit == 5 and (sticky or result & 1)):
            result += 1
    return -result if sign else result


def to_fixed(price):
    """Convert a price to velox's fixed point: ``round(price * PRICE_SCALE)`` (half to even).

    ``int``, ``Decimal`` and ``str`` convert exactly, with one rounding (half to even at the
    8th decimal), whatever the caller's ``decimal`` context says; a ``float`` is exact for
    prices with at most 8 decimals and magnitude below about 9e7 (float's 53-bit mantissa).
    NaN, infinity, sNaN, booleans and results outside int64 raise ``ValueError``/``TypeError``
    naming the value (a huge exponent such as ``"9e999990"`` is rejected at once).
    """
    if isinstance(price, bool):
        raise TypeError(f"price must be a number, got {_price_repr(price)}")
    if isinstance(price, int):
        if price.bit_length() > 64:  # certainly outside int64 once scaled: no huge multiply
            raise ValueError(f"price {_price_repr(price)} is outside the int64 fixed-point range")
        result = price * VX_PRICE_SCALE
    elif isinstance(price, float):
        if not math.isfinite(price):
            raise ValueError(f"price must be finite, got {_price_repr(price)}")
        result = round(price * VX_PRICE_SCALE)
    elif isinstance(price, (Decimal, str)):
        try:
            # Decimal(str) is exact (the context's precision does not apply); a local default
            # context makes the traps the same for every caller
            with localcontext(Context()):
                d = price if isinstance(price, Decimal) else Decimal(price)
        except (ArithmeticError, ValueError):  # InvalidOperation, Overflow, ...
            raise ValueError(f"price is not a number: {_price_repr(price)}") from None
        result = _decimal_to_fixed(d, price)
    else:
        raise TypeError(f"price must be int, float, Decimal or str, got {type(price).__name__}: {_price_repr(price)}")
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise ValueError(f"price {_price_repr(price)} is outside the int64 fixed-point range")
    return result


def from_fixed(fixed):
    """Convert a fixed-point integer back to a float price (``fixed / PRICE_SCALE``)."""
    if isinstance(fixed, bool) or not isinstance(fixed, (int, np.integer)):
        raise TypeError(f"fixed-point price must be an int, got {type(fixed).__name__}: {fixed!r}")
    return int(fixed) / VX_PRICE_SCALE


# ---------------------------------------------------------------------------------------------
# Field checks: every value is checked before it is cast to a C type (no silent wraparound).

cdef inline object _int_field(str name, object value, object lo, object hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if name == "price" and isinstance(value, (float, Decimal)):
            raise TypeError(f"price must be a fixed-point int (see velox.to_fixed), got {value!r}")
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


cdef inline uint64_t _u64(str name, object value) except? 0:
    return _int_field(name, value, 0, 0xFFFFFFFFFFFFFFFF)


cdef int _fill_txn(vx_txn *t, object tsc, object seq, object price, object qty,
                   object side, object kind) except -1:
    memset(t, 0, sizeof(vx_txn))
    t.tsc = _u64("tsc", tsc)
    t.seq = _u64("seq", seq)
    t.price = <int64_t>_int_field("price", price, _INT64_MIN, _INT64_MAX)
    t.qty = <uint32_t>_int_field("qty", qty, 0, 0xFFFFFFFF)
    t.side = <uint8_t>_int_field("side", side, VX_BUY, VX_SELL)
    t.kind = <uint8_t>_int_field("kind", kind, VX_NEW, VX_CANCEL)
    return 0


cdef const unsigned char *_exact_bytes(object data, Py_ssize_t size, str what, Py_buffer *view) except NULL:
    """Get a C-contiguous buffer of exactly size bytes (caller releases view)."""
    if isinstance(data, str):
        raise TypeError(f"{what}.from_bytes needs a bytes-like object, got str")
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    except TypeError:
        raise TypeError(f"{what}.from_bytes needs a bytes-like object, got {type(data).__name__}") from None
    if view.len != size:
        n = view.len
        PyBuffer_Release(view)
        raise ValueError(f"{what}.from_bytes needs exactly {size} bytes, got {n}")
    return <const unsigned char *>view.buf


cdef str _field_error(vx_txn_field f, const vx_txn *t):
    if f == VX_FIELD_SIDE:
        return f"side must be BUY (0) or SELL (1), got {t.side}"
    if f == VX_FIELD_KIND:
        return f"kind must be NEW (0) or CANCEL (1), got {t.kind}"
    return "invalid transaction"


cdef str _side_name(uint8_t side):
    return "BUY" if side == VX_BUY else "SELL"


cdef str _kind_name(uint8_t kind):
    return "NEW" if kind == VX_NEW else "CANCEL"


# ---------------------------------------------------------------------------------------------

@cython.final
@cython.freelist(64)
cdef class Transaction:
    """One order-flow event: the Python face of the 32-byte C ``vx_txn``.

    Immutable and hashable. ``price`` is fixed point (see ``to_fixed``), ``qty`` a u32,
    ``side`` ``BUY``/``SELL``, ``kind`` ``NEW``/``CANCEL``, ``tsc`` TSC ticks, ``seq`` a u64.
    """

    def __init__(self, *, tsc=0, seq=0, price=0, qty=0, side=VX_BUY, kind=VX_NEW):
        _fill_txn(&self.c, tsc, seq, price, qty, side, kind)

    @property
    def tsc(self):
        return self.c.tsc

    @property
    def seq(self):
        return self.c.seq

    @property
    def price(self):
        return self.c.price

    @property
    def qty(self):
        return self.c.qty

    @property
    def side(self):
        return Side(self.c.side)

    @property
    def kind(self):
        return Kind(self.c.kind)

    @property
    def price_float(self):
        """The price as a float (``price / PRICE_SCALE``)."""
        return self.c.price / <double>VX_PRICE_SCALE

    def to_bytes(self):
        """The 32 bytes of the C struct (host byte order, zero padding)."""
        return PyBytes_FromStringAndSize(<const char *>&self.c, sizeof(vx_txn))

    @classmethod
    def from_bytes(cls, data):
        """Build a Transaction from exactly 32 bytes (any bytes-like object)."""
        cdef Py_buffer view
        cdef const unsigned char *p = _exact_bytes(data, sizeof(vx_txn), "Transaction", &view)
        cdef Transaction t = Transaction.__new__(Transaction)
        memcpy(&t.c, p, sizeof(vx_txn))
        PyBuffer_Release(&view)
        t.c.pad[0] = 0
        t.c.pad[1] = 0
        cdef vx_txn_field f = vx_txn_validate(&t.c)
        if f != VX_FIELD_NONE:
            raise ValueError(_field_error(f, &t.c))
        return t

    def to_numpy(self):
        """This transaction as a NumPy structured scalar (``numpy.void`` of ``TXN_DTYPE``)."""
        return np.frombuffer(self.to_bytes(), dtype=TXN_DTYPE)[0]

    @classmethod
    def from_numpy(cls, row):
        """Build a Transaction from a ``TXN_DTYPE`` scalar (``numpy.void``) or 1-element array."""
        dt = getattr(row, "dtype", None)
        if dt != TXN_DTYPE:
            raise TypeError(f"from_numpy needs a TXN_DTYPE record, got dtype {dt!r}")
        if isinstance(row, np.ndarray) and row.size != 1:
            raise ValueError(f"from_numpy needs exactly one record, got an array of {row.size}")
        return Transaction.from_bytes(np.ascontiguousarray(row).tobytes())

    def replace(self, **fields):
        """A copy with the given fields changed (the record is immutable)."""
        d = dict(tsc=self.c.tsc, seq=self.c.seq, price=self.c.price, qty=self.c.qty,
                 side=self.c.side, kind=self.c.kind)
        unknown = set(fields) - d.keys()
        if unknown:
            raise TypeError(f"unknown Transaction field(s): {sorted(unknown)}")
        d.update(fields)
        return Transaction(**d)

    def __eq__(self, other):
        if not isinstance(other, Transaction):
            return NotImplemented
        return memcmp(&self.c, &(<Transaction>other).c, sizeof(vx_txn)) == 0

    def __hash__(self):
        return hash(self.to_bytes())

    def __repr__(self):
        return (f"Transaction(tsc={self.c.tsc}, seq={self.c.seq}, price={self.c.price}, "
                f"qty={self.c.qty}, side={_side_name(self.c.side)}, kind={_kind_name(self.c.kind)})")

    def __reduce__(self):
        return (Transaction.from_bytes, (self.to_bytes(),))


cdef Transaction transaction_from_c(const vx_txn *txn):
    cdef Transaction t = Transaction.__new__(Transaction)
    memcpy(&t.c, txn, sizeof(vx_txn))
    return t


@cython.final
cdef class Bundle:
    """Up to 16 transactions travelling together: the Python face of the 528-byte ``vx_bundle``.

    Immutable and hashable; a sequence of its transactions (``len``, indexing, iteration).
    """

    def __init__(self, *, bundle_id=0, transactions=()):
        memset(&self.c, 0, sizeof(vx_bundle))
        self.c.header.bundle_id = _u64("bundle_id", bundle_id)
        txns = tuple(transactions)
        if len(txns) > VX_BUNDLE_CAPACITY:
            raise ValueError(f"a Bundle holds at most {VX_BUNDLE_CAPACITY} transactions, got {len(txns)}")
        cdef Py_ssize_t i
        for i, t in enumerate(txns):
            if not isinstance(t, Transaction):
                raise TypeError(f"transactions[{i}] must be a Transaction, got {type(t).__name__}: {t!r}")
            memcpy(&self.c.txns[i], &(<Transaction>t).c, sizeof(vx_txn))
        self.c.header.count = <uint32_t>len(txns)

    @property
    def bundle_id(self):
        return self.c.header.bundle_id

    @property
    def count(self):
        return self.c.header.count

    @property
    def transactions(self):
        """The bundle's transactions, as a tuple of ``Transaction``."""
        return tuple(transaction_from_c(&self.c.txns[i]) for i in range(self.c.header.count))

    def __len__(self):
        return self.c.header.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.transactions[index]
        cdef Py_ssize_t n = self.c.header.count
        cdef Py_ssize_t i = index
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"bundle index {index!r} out of range for {n} transactions")
        return transaction_from_c(&self.c.txns[i])

    def __iter__(self):
        return iter(self.transactions)

    def to_bytes(self):
        """The 528 bytes of the C struct (host byte order, zero padding and unused slots)."""
        return PyBytes_FromStringAndSize(<const char *>&self.c, sizeof(vx_bundle))

    @classmethod
    def from_bytes(cls, data):
        """Build a Bundle from exactly 528 bytes (any bytes-like object)."""
        cdef Py_buffer view
        cdef const unsigned char *p = _exact_bytes(data, sizeof(vx_bundle), "Bundle", &view)
        cdef Bundle b = Bundle.__new__(Bundle)
        memcpy(&b.c, p, sizeof(vx_bundle))
        PyBuffer_Release(&view)
        cdef int bad = -1
        cdef vx_txn_field f = vx_bundle_validate(&b.c, &bad)
        if f == VX_FIELD_COUNT:
            raise ValueError(f"bundle count must be in [0, {VX_BUNDLE_CAPACITY}], got {b.c.header.count}")
        if f != VX_FIELD_NONE:
            raise ValueError(f"bundle transaction {bad}: " + _field_error(vx_txn_validate(&b.c.txns[bad]), &b.c.txns[bad]))
        _canonicalise(&b.c)
        return b

    def to_numpy(self):
        """This bundle as a NumPy structured scalar (``numpy.void`` of ``BUNDLE_DTYPE``)."""
        return np.frombuffer(self.to_bytes(), dtype=BUNDLE_DTYPE)[0]

    @classmethod
    def from_numpy(cls, row):
        """Build a Bundle from a ``BUNDLE_DTYPE`` scalar (``numpy.void``) or 1-element array."""
        dt = getattr(row, "dtype", None)
        if dt != BUNDLE_DTYPE:
            raise TypeError(f"from_numpy needs a BUNDLE_DTYPE record, got dtype {dt!r}")
        if isinstance(row, np.ndarray) and row.size != 1:
            raise ValueError(f"from_numpy needs exactly one record, got an array of {row.size}")
        return Bundle.from_bytes(np.ascontiguousarray(row).tobytes())

    def __eq__(self, other):
        if not isinstance(other, Bundle):
            return NotImplemented
        return memcmp(&self.c, &(<Bundle>other).c, sizeof(vx_bundle)) == 0

    def __hash__(self):
        return hash(self.to_bytes())

    def __repr__(self):
        return f"Bundle(bundle_id={self.c.header.bundle_id}, transactions={list(self.transactions)!r})"

    def __reduce__(self):
        return (Bundle.from_bytes, (self.to_bytes(),))


cdef void _canonicalise(vx_bundle *b) noexcept nogil:
    """Zero padding and unused slots so equal bundles are equal bytewise."""
    cdef int i
    b.header.pad = 0
    for i in range(VX_BUNDLE_CAPACITY):
        if <uint32_t>i < b.header.count:
            b.txns[i].pad[0] = 0
            b.txns[i].pad[1] = 0
        else:
            memset(&b.txns[i], 0, sizeof(vx_txn))


cdef Bundle bundle_from_c(const vx_bundle *bundle):
    cdef Bundle b = Bundle.__new__(Bundle)
    memcpy(&b.c, bundle, sizeof(vx_bundle))
    return b
