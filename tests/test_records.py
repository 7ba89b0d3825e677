"""Records: layout matches C, round trips bytes <-> objects <-> NumPy rows, bad input raises."""

import pickle
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import velox
from velox import BUNDLE_DTYPE, BUY, CANCEL, NEW, SELL, TXN_DTYPE, Bundle, Transaction
from velox._records import _c_layout

U64 = st.integers(0, 2**64 - 1)
transactions = st.builds(
    Transaction,
    tsc=U64,
    seq=U64,
    price=st.integers(-(2**63), 2**63 - 1),
    qty=st.integers(0, 2**32 - 1),
    side=st.sampled_from([BUY, SELL]),
    kind=st.sampled_from([NEW, CANCEL]),
)
bundles = st.builds(Bundle, bundle_id=U64, transactions=st.lists(transactions, max_size=16))


def test_dtype_layout_matches_c():
    c = _c_layout()
    assert TXN_DTYPE.itemsize == c["txn_size"] == 32
    assert BUNDLE_DTYPE.itemsize == c["bundle_size"] == 528
    for name, offset in c["txn_offsets"].items():
        assert TXN_DTYPE.fields[name][1] == offset, name
    for name, offset in c["bundle_offsets"].items():
        assert BUNDLE_DTYPE.fields[name][1] == offset, name
    assert c["txn_offsets"] == {"tsc": 0, "seq": 8, "price": 16, "qty": 24, "side": 28, "kind": 29}
    assert BUNDLE_DTYPE.fields["txns"][0].shape == (16,)
    assert BUNDLE_DTYPE.fields["txns"][0].base == TXN_DTYPE


def test_mbo_dtype_layout_matches_c():
    from velox import MBO_DTYPE, Action

    c = _c_layout()
    assert MBO_DTYPE.itemsize == c["mbo_size"] == 48
    for name, offset in c["mbo_offsets"].items():
        assert MBO_DTYPE.fields[name][1] == offset, name
    assert [a.name for a in Action] == ["ADD", "CANCEL", "DELETE", "EXECUTE", "REPLACE",
                                        "TRADE", "CROSS", "BROKEN", "CLEAR", "STATUS",
                                        "MODIFY", "LEVEL"]
    assert [int(a) for a in Action] == list(range(1, 13))


@given(transactions)
def test_transaction_round_trips(t):
    raw = t.to_bytes()
    assert len(raw) == 32
    assert Transaction.from_bytes(raw) == t
    assert Transaction.from_bytes(bytearray(raw)) == t
    assert Transaction.from_bytes(memoryview(raw)) == t
    row = t.to_numpy()
    assert row.dtype == TXN_DTYPE
    assert int(row["price"]) == t.price and int(row["qty"]) == t.qty and int(row["seq"]) == t.seq
    assert Transaction.from_numpy(row) == t
    assert np.frombuffer(raw, TXN_DTYPE)[0].tobytes() == raw
    assert pickle.loads(pickle.dumps(t)) == t
    assert eval(repr(t), vars(velox)) == t
    assert hash(Transaction.from_bytes(raw)) == hash(t)


@given(bundles)
def test_bundle_round_trips(b):
    raw = b.to_bytes()
    assert len(raw) == 528
    assert Bundle.from_bytes(raw) == b
    row = b.to_numpy()
    assert row.dtype == BUNDLE_DTYPE
    assert int(row["count"]) == len(b) == b.count
    assert Bundle.from_numpy(row) == b
    assert [Transaction.from_numpy(r) for r in row["txns"][: len(b)]] == list(b)
    assert pickle.loads(pickle.dumps(b)) == b
    assert eval(repr(b), vars(velox)) == b


def test_numpy_array_of_records_round_trips():
    arr = np.zeros(3, TXN_DTYPE)
    arr["price"] = [1, 2, 3]
    arr["side"] = [0, 1, 0]
    txns = [Transaction.from_numpy(arr[i]) for i in range(3)]
    assert [t.price for t in txns] == [1, 2, 3]
    assert txns[1].side == SELL
    assert b"".join(t.to_bytes() for t in txns) == arr.tobytes()


def test_fields_and_defaults():
    t = Transaction(price=velox.to_fixed(100.5), qty=7, side=SELL)
    assert (t.tsc, t.seq, t.price, t.qty, t.side, t.kind) == (0, 0, 10_050_000_000, 7, SELL, NEW)
    assert t.price_float == 100.5
    assert t.replace(qty=8).qty == 8 and t.qty == 7
    assert t != t.replace(seq=1)


@pytest.mark.parametrize(
    "kwargs, exc, needle",
    [
        (dict(qty=-1), ValueError, "qty"),
        (dict(qty=2**32), ValueError, "qty"),
        (dict(side=2), ValueError, "side"),
        (dict(kind=5), ValueError, "kind"),
        (dict(seq=-1), ValueError, "seq"),
        (dict(tsc=2**64), ValueError, "tsc"),
        (dict(price=2**63), ValueError, "price"),
        (dict(price=1.5), TypeError, "velox.to_fixed"),
        (dict(qty="3"), TypeError, "qty"),
        (dict(side=True), TypeError, "side"),
    ],
)
def test_bad_fields_raise_naming_the_field(kwargs, exc, needle):
    with pytest.raises(exc, match=needle):
        Transaction(**kwargs)


def test_positional_arguments_rejected():
    with pytest.raises(TypeError):
        Transaction(1, 2)


def test_from_bytes_rejects_bad_input():
    with pytest.raises(ValueError, match="exactly 32 bytes, got 31"):
        Transaction.from_bytes(b"\0" * 31)
    with pytest.raises(TypeError, match="bytes-like"):
        Transaction.from_bytes("x" * 32)
    with pytest.raises(TypeError, match="bytes-like"):
        Transaction.from_bytes(12)
    bad_side = bytearray(32)
    bad_side[28] = 3
    with pytest.raises(ValueError, match="side .* got 3"):
        Transaction.from_bytes(bad_side)
    with pytest.raises(ValueError, match="exactly 528 bytes"):
        Bundle.from_bytes(b"\0" * 32)
    bad_count = bytearray(528)
    bad_count[8] = 17
    with pytest.raises(ValueError, match="count .* got 17"):
        Bundle.from_bytes(bad_count)
    bad_txn = bytearray(528)
    bad_txn[8] = 2
    bad_txn[16 + 32 + 29] = 9  # kind of transaction 1
    with pytest.raises(ValueError, match="transaction 1: kind"):
        Bundle.from_bytes(bad_txn)


def test_padding_is_ignored_on_input_and_zero_on_output():
    raw = bytearray(Transaction(qty=1).to_bytes())
    raw[30] = 0xFF
    assert Transaction.from_bytes(raw).to_bytes()[30] == 0
    b = bytearray(Bundle(transactions=[Transaction(qty=1)]).to_bytes())
    b[16 + 32 * 5] = 1  # garbage in an unused slot
    assert Bundle.from_bytes(b) == Bundle(transactions=[Transaction(qty=1)])


def test_bundle_bad_input():
    with pytest.raises(ValueError, match="at most 16"):
        Bundle(transactions=[Transaction()] * 17)
    with pytest.raises(TypeError, match=r"transactions\[1\]"):
        Bundle(transactions=[Transaction(), "nope"])
    b = Bundle(transactions=[Transaction(seq=1), Transaction(seq=2)])
    assert b[-1].seq == 2 and b[0:1] == (Transaction(seq=1),)
    with pytest.raises(IndexError):
        b[2]
    with pytest.raises(TypeError, match="TXN_DTYPE"):
        Transaction.from_numpy(np.zeros(1, BUNDLE_DTYPE)[0])
    with pytest.raises(ValueError, match="exactly one"):
        Transaction.from_numpy(np.zeros(2, TXN_DTYPE))


def test_fixed_point_helpers():
    assert velox.PRICE_SCALE == 10**8
    assert velox.to_fixed(1) == 10**8
    assert velox.to_fixed(0.29) == 29_000_000
    assert velox.to_fixed("123.45678901") == 12_345_678_901 // 1  # rounds half even at 1e-8
    assert velox.to_fixed(Decimal("-0.00000001")) == -1
    assert velox.from_fixed(150_000_000) == 1.5
    for bad, exc in [(float("nan"), ValueError), (float("inf"), ValueError), ("abc", ValueError),
                     (True, TypeError), (None, TypeError), (1e12, ValueError)]:
        with pytest.raises(exc):
            velox.to_fixed(bad)
    with pytest.raises(TypeError):
        velox.from_fixed(1.5)


@given(st.integers(-(10**15), 10**15))
def test_fixed_point_round_trip_for_8_decimal_prices(units):
    price = Decimal(units) / velox.PRICE_SCALE
    assert velox.to_fixed(price) == units
    assert velox.to_fixed(str(price)) == units
