"""The trading loop's records: ORDER_DTYPE / EXEC_DTYPE mirror csrc/velox/orders.h byte for
byte, their enums match the C ones, validate_orders / validate_execs agree with a pure-Python
model of the documented rules on hypothesis-drawn records (valid and hostile), reject each bad
field, refuse wrong inputs, and orders and reports cross processes through shared rings with
every record checked."""

import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from child_env import IMPORT_ROOT, child_env
from scale import scaled
from shm_names import fresh_name
from velox import (EXEC_DTYPE, ORDER_DTYPE, PRICE_SCALE, ExecField, ExecKind, Liquidity,
                   OrderAction, OrderType, RejectReason, TimeInForce, validate_execs,
                   validate_orders)
from velox._records import _c_layout

# The documented layouts (docs/records.md), independent of the dtype definitions.
ORDER_STRUCT = struct.Struct("=QQqIIBBBB4x")
ORDER_FIELDS = ("ts", "order_id", "price", "qty", "instrument", "side", "type", "tif", "action")
EXEC_STRUCT = struct.Struct("=QQQqqIIIBBBB")
EXEC_FIELDS = ("ts_exchange", "ts_local", "order_id", "fill_price", "fee", "fill_qty",
               "leaves_qty", "instrument", "kind", "side", "liquidity", "reason")

U8 = st.integers(0, 255)
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)


def test_dtypes_match_the_c_layout():
    c = _c_layout()
    assert ORDER_DTYPE.itemsize == c["order_size"] == ORDER_STRUCT.size == 40
    assert EXEC_DTYPE.itemsize == c["exec_size"] == EXEC_STRUCT.size == 56
    assert ORDER_DTYPE.alignment == EXEC_DTYPE.alignment == 8
    assert tuple(ORDER_DTYPE.names) == ORDER_FIELDS and tuple(EXEC_DTYPE.names) == EXEC_FIELDS
    for name, offset in c["order_offsets"].items():
        assert ORDER_DTYPE.fields[name][1] == offset, name
    for name, offset in c["exec_offsets"].items():
        assert EXEC_DTYPE.fields[name][1] == offset, name
    assert set(c["order_offsets"]) == set(ORDER_FIELDS)
    assert set(c["exec_offsets"]) == set(EXEC_FIELDS)


def test_enums_have_the_documented_values():
    assert {e.name: int(e) for e in OrderType} == {"LIMIT": 1, "MARKET": 2}
    assert {e.name: int(e) for e in TimeInForce} == {"GTC": 1, "IOC": 2, "POST_ONLY": 3}
    assert {e.name: int(e) for e in OrderAction} == {"NEW": 1, "CANCEL": 2, "MODIFY": 3}
    assert {e.name: int(e) for e in ExecKind} == {
        "ACK": 1, "REJECT": 2, "FILL": 3, "PARTIAL_FILL": 4, "CANCELED": 5, "MODIFIED": 6,
        "EXPIRED": 7}
    assert {e.name: int(e) for e in Liquidity} == {"NONE": 0, "MAKER": 1, "TAKER": 2}
    assert {e.name: int(e) for e in RejectReason} == {
        "NONE": 0, "ORDER_ID": 1, "SIDE": 2, "TYPE": 3, "TIF": 4, "ACTION": 5, "PRICE": 6,
        "QTY": 7, "UNKNOWN_INSTRUMENT": 10, "UNKNOWN_ORDER": 11, "DUPLICATE_ID": 12,
        "WOULD_CROSS": 13, "RISK": 14, "VENUE": 15, "LIMIT": 16}
    assert [e.name for e in ExecField] == ["NONE", "KIND", "SIDE", "ORDER_ID", "REASON",
                                           "FILL_QTY", "FILL_PRICE", "LEAVES_QTY", "LIQUIDITY"]


# -- the model: the documented rules, written independently of the C ---------------------

def model_order(o):
    """RejectReason of one order (a dict), per docs/records.md."""
    if o["action"] not in (1, 2, 3):
        return RejectReason.ACTION
    if o["order_id"] == 0:
        return RejectReason.ORDER_ID
    if o["action"] == OrderAction.CANCEL:
        return RejectReason.NONE
    if o["action"] == OrderAction.MODIFY:
        if o["price"] <= 0:
            return RejectReason.PRICE
        return RejectReason.QTY if o["qty"] == 0 else RejectReason.NONE
    if o["side"] not in (0, 1):
        return RejectReason.SIDE
    if o["type"] not in (1, 2):
        return RejectReason.TYPE
    if o["tif"] not in (1, 2, 3):
        return RejectReason.TIF
    if o["type"] == OrderType.MARKET:
        if o["tif"] != TimeInForce.IOC:
            return RejectReason.TIF
        if o["price"] != 0:
            return RejectReason.PRICE
    elif o["price"] <= 0:
        return RejectReason.PRICE
    return RejectReason.QTY if o["qty"] == 0 else RejectReason.NONE


def model_exec(e):
    """ExecField of one report (a dict), per docs/records.md."""
    kind = e["kind"]
    if kind not in range(1, 8):
        return ExecField.KIND
    reject = kind == ExecKind.REJECT
    fill = kind in (ExecKind.FILL, ExecKind.PARTIAL_FILL)
    if e["side"] not in ((0, 1, 2) if reject else (0, 1)):
        return ExecField.SIDE
    if e["order_id"] == 0 and not reject:
        return ExecField.ORDER_ID
    if (not 1 <= e["reason"] <= 16) if reject else e["reason"] != 0:
        return ExecField.REASON
    if (e["fill_qty"] == 0) if fill else e["fill_qty"] != 0:
        return ExecField.FILL_QTY
    if (e["fill_price"] <= 0) if fill else e["fill_price"] != 0:
        return ExecField.FILL_PRICE
    if kind in (ExecKind.FILL, ExecKind.CANCELED, ExecKind.EXPIRED) and e["leaves_qty"]:
        return ExecField.LEAVES_QTY
    if kind in (ExecKind.ACK, ExecKind.PARTIAL_FILL, ExecKind.MODIFIED) and not e["leaves_qty"]:
        return ExecField.LEAVES_QTY
    if (e["liquidity"] not in (1, 2)) if fill else e["liquidity"] != 0:
        return ExecField.LIQUIDITY
    return ExecField.NONE


def near_valid(valid, hostile):
    """Records that are valid but for 0 to 2 fields set to hostile values (each field's
    edges or anything): random bytes alone rarely reach the rules that need every other
    field right (a MARKET IOC NEW with a price)."""
    names = sorted(hostile)
    overrides = st.lists(st.sampled_from(names), max_size=2, unique=True).flatmap(
        lambda ns: st.fixed_dictionaries({n: hostile[n] for n in ns}))
    return st.builds(lambda base, bad: {**base, **bad}, valid, overrides)


def _market_tif(o):
    if o["type"] == OrderType.MARKET:
        o["tif"], o["price"] = TimeInForce.IOC, 0
    return o


valid_orders = st.fixed_dictionaries({
    "ts": U64, "order_id": st.integers(1, 2**64 - 1), "price": st.integers(1, 2**63 - 1),
    "qty": st.integers(1, 2**32 - 1), "instrument": U32, "side": st.sampled_from([0, 1]),
    "type": st.sampled_from([1, 2]), "tif": st.sampled_from([1, 2, 3]),
    "action": st.sampled_from([1, 2, 3])}).map(_market_tif)
orders = near_valid(valid_orders, {
    "order_id": st.sampled_from([0, 1]), "price": st.one_of(st.sampled_from([0, 1, -1]), I64),
    "qty": st.sampled_from([0, 1]), "side": st.one_of(st.sampled_from([0, 1, 2]), U8),
    "type": st.one_of(st.sampled_from([0, 1, 2, 3]), U8),
    "tif": st.one_of(st.sampled_from([0, 1, 2, 3, 4]), U8),
    "action": st.one_of(st.sampled_from([0, 1, 2, 3, 4]), U8)})


def _exec_fields(e):
    k = e["kind"]
    fill = k in (ExecKind.FILL, ExecKind.PARTIAL_FILL)
    if not fill:
        e["fill_qty"] = e["fill_price"] = e["liquidity"] = 0
    if k in (ExecKind.FILL, ExecKind.CANCELED, ExecKind.EXPIRED):
        e["leaves_qty"] = 0
    if k != ExecKind.REJECT:
        e["reason"] = 0
    return e


valid_execs = st.fixed_dictionaries({
    "ts_exchange": U64, "ts_local": U64, "order_id": st.integers(1, 2**64 - 1),
    "fill_price": st.integers(1, 2**63 - 1), "fee": I64, "fill_qty": st.integers(1, 2**32 - 1),
    "leaves_qty": st.integers(1, 2**32 - 1), "instrument": U32, "kind": st.integers(1, 7),
    "side": st.sampled_from([0, 1]), "liquidity": st.sampled_from([1, 2]),
    "reason": st.integers(1, 16)}).map(_exec_fields)
execs = near_valid(valid_execs, {
    "order_id": st.sampled_from([0, 1]), "fill_price": st.one_of(st.sampled_from([0, 1, -1]), I64),
    "fill_qty": st.sampled_from([0, 1]), "leaves_qty": st.sampled_from([0, 1]),
    "kind": st.one_of(st.sampled_from([0, 8]), U8), "side": st.one_of(st.sampled_from([2, 3]), U8),
    "liquidity": st.one_of(st.sampled_from([0, 1, 2, 3]), U8),
    "reason": st.one_of(st.sampled_from([0, 1, 16, 17]), U8)})


def as_array(records, dtype):
    arr = np.zeros(len(records), dtype)  # padding zero
    for i, r in enumerate(records):
        for k, v in r.items():
            arr[i][k] = v
    return arr


@settings(max_examples=scaled(300, 50), deadline=None)
@given(st.lists(orders, min_size=1, max_size=40))
def test_order_validation_matches_the_model(recs):
    arr = as_array(recs, ORDER_DTYPE)
    got = validate_orders(arr)
    assert got.dtype == np.uint8 and got.shape == (len(recs),)
    assert [RejectReason(x) for x in got] == [model_order(r) for r in recs]


@settings(max_examples=scaled(300, 50), deadline=None)
@given(st.lists(execs, min_size=1, max_size=40))
def test_exec_validation_matches_the_model(recs):
    arr = as_array(recs, EXEC_DTYPE)
    assert [ExecField(x) for x in validate_execs(arr)] == [model_exec(r) for r in recs]


@settings(max_examples=scaled(200, 40), deadline=None)
@given(orders, execs)
def test_records_are_the_documented_bytes(o, e):
    """Packed by the documented layout, read as the dtype (and back): the same fields."""
    ob = ORDER_STRUCT.pack(*(o[k] for k in ORDER_FIELDS))
    row = np.frombuffer(ob, ORDER_DTYPE)[0]
    assert {k: int(row[k]) for k in ORDER_FIELDS} == o
    assert as_array([o], ORDER_DTYPE).tobytes() == ob
    eb = EXEC_STRUCT.pack(*(e[k] for k in EXEC_FIELDS))
    row = np.frombuffer(eb, EXEC_DTYPE)[0]
    assert {k: int(row[k]) for k in EXEC_FIELDS} == e
    assert as_array([e], EXEC_DTYPE).tobytes() == eb


def good_order(**kw):
    o = dict(ts=5, order_id=7, price=100 * PRICE_SCALE, qty=3, instrument=2, side=1,
             type=OrderType.LIMIT, tif=TimeInForce.GTC, action=OrderAction.NEW)
    o.update(kw)
    return o


def good_exec(kind, **kw):
    fill = kind in (ExecKind.FILL, ExecKind.PARTIAL_FILL)
    e = dict(ts_exchange=1, ts_local=2, order_id=7, fill_price=99 * PRICE_SCALE if fill else 0,
             fee=-4, fill_qty=2 if fill else 0,
             leaves_qty=3 if kind in (ExecKind.ACK, ExecKind.PARTIAL_FILL, ExecKind.MODIFIED) else 0,
             instrument=2, kind=kind, side=0, liquidity=Liquidity.MAKER if fill else 0,
             reason=RejectReason.RISK if kind == ExecKind.REJECT else 0)
    e.update(kw)
    return e


@pytest.mark.parametrize("fields, reason", [
    ({}, RejectReason.NONE),
    ({"tif": TimeInForce.IOC}, RejectReason.NONE),
    ({"tif": TimeInForce.POST_ONLY}, RejectReason.NONE),
    ({"type": OrderType.MARKET, "tif": TimeInForce.IOC, "price": 0}, RejectReason.NONE),
    ({"action": 0}, RejectReason.ACTION),
    ({"action": 4}, RejectReason.ACTION),
    ({"order_id": 0}, RejectReason.ORDER_ID),
    ({"side": 2}, RejectReason.SIDE),
    ({"type": 0}, RejectReason.TYPE),
    ({"type": 3}, RejectReason.TYPE),
    ({"tif": 0}, RejectReason.TIF),
    ({"tif": 4}, RejectReason.TIF),
    ({"type": OrderType.MARKET, "tif": TimeInForce.GTC, "price": 0}, RejectReason.TIF),
    ({"type": OrderType.MARKET, "tif": TimeInForce.POST_ONLY, "price": 0}, RejectReason.TIF),
    ({"type": OrderType.MARKET, "tif": TimeInForce.IOC, "price": 1}, RejectReason.PRICE),
    ({"price": 0}, RejectReason.PRICE),
    ({"price": -1}, RejectReason.PRICE),
    ({"qty": 0}, RejectReason.QTY),
    ({"action": OrderAction.CANCEL, "side": 9, "type": 9, "tif": 9, "price": -1, "qty": 0},
     RejectReason.NONE),
    ({"action": OrderAction.CANCEL, "order_id": 0}, RejectReason.ORDER_ID),
    ({"action": OrderAction.MODIFY, "side": 9, "type": 9, "tif": 9}, RejectReason.NONE),
    ({"action": OrderAction.MODIFY, "price": 0}, RejectReason.PRICE),
    ({"action": OrderAction.MODIFY, "qty": 0}, RejectReason.QTY),
])
def test_each_bad_order_field_is_rejected(fields, reason):
    assert RejectReason(validate_orders(as_array([good_order(**fields)], ORDER_DTYPE))[0]) == reason


def test_an_unwritten_order_or_report_is_invalid():
    assert validate_orders(np.zeros(3, ORDER_DTYPE)).tolist() == [RejectReason.ACTION] * 3
    assert validate_execs(np.zeros(3, EXEC_DTYPE)).tolist() == [ExecField.KIND] * 3


@pytest.mark.parametrize("kind", list(ExecKind))
def test_each_bad_exec_field_is_rejected(kind):
    fill = kind in (ExecKind.FILL, ExecKind.PARTIAL_FILL)
    reject = kind == ExecKind.REJECT
    cases = [
        ({}, ExecField.NONE),
        ({"fee": 12}, ExecField.NONE),
        ({"side": 2}, ExecField.NONE if reject else ExecField.SIDE),
        ({"side": 3}, ExecField.SIDE),
        ({"order_id": 0}, ExecField.NONE if reject else ExecField.ORDER_ID),
        ({"reason": 0 if reject else 1}, ExecField.REASON),
        ({"reason": 17}, ExecField.REASON),
        ({"fill_qty": 0 if fill else 1}, ExecField.FILL_QTY),
        ({"fill_price": 0 if fill else 1}, ExecField.FILL_PRICE),
        ({"fill_price": -1}, ExecField.FILL_PRICE),
        ({"liquidity": 0 if fill else 1}, ExecField.LIQUIDITY),
        ({"liquidity": 3}, ExecField.LIQUIDITY),
        ({"leaves_qty": 0 if good_exec(kind)["leaves_qty"] else 1},
         ExecField.NONE if reject else ExecField.LEAVES_QTY),
    ]
    recs = [good_exec(kind, **f) for f, _ in cases]
    got = [ExecField(x) for x in validate_execs(as_array(recs, EXEC_DTYPE))]
    assert got == [want for _, want in cases]
    bad_kind = good_exec(kind)
    bad_kind["kind"] = 8
    assert ExecField(validate_execs(as_array([bad_kind], EXEC_DTYPE))[0]) == ExecField.KIND


@pytest.mark.parametrize("offset", range(1, 8))
def test_misaligned_views_are_validated_right(offset):
    """A view at an odd address (C reads 8-byte fields): validated from an aligned copy."""
    recs = [good_order(), good_order(qty=0), good_order(side=5)]
    raw = np.zeros(len(recs) * 40 + 8, np.uint8)
    view = raw[offset:offset + len(recs) * 40].view(ORDER_DTYPE)
    view[...] = as_array(recs, ORDER_DTYPE)
    assert validate_orders(view).tolist() == [0, RejectReason.QTY, RejectReason.SIDE]
    ex = [good_exec(ExecKind.FILL), good_exec(ExecKind.ACK, leaves_qty=0)]
    raw = np.zeros(len(ex) * 56 + 8, np.uint8)
    eview = raw[offset:offset + len(ex) * 56].view(EXEC_DTYPE)
    eview[...] = as_array(ex, EXEC_DTYPE)
    assert validate_execs(eview).tolist() == [0, ExecField.LEAVES_QTY]


def test_large_arrays_and_empty_ones():
    n = 10_000  # past the GIL-free threshold
    arr = as_array([good_order()], ORDER_DTYPE).repeat(n)
    arr["qty"][::2] = 0
    got = validate_orders(arr)
    assert (got[::2] == RejectReason.QTY).all() and (got[1::2] == 0).all()
    e = as_array([good_exec(ExecKind.FILL)], EXEC_DTYPE).repeat(n)
    e["liquidity"][1::3] = 0
    got = validate_execs(e)
    assert (got[1::3] == ExecField.LIQUIDITY).all() and got.sum() == ExecField.LIQUIDITY * len(got[1::3])
    assert validate_orders(np.zeros(0, ORDER_DTYPE)).shape == (0,)
    # a strided view is read as its own records, not its base's bytes
    assert validate_orders(arr[::2]).tolist() == [RejectReason.QTY] * (n // 2)


@pytest.mark.parametrize("bad, error", [
    (b"\x00" * 40, TypeError),
    ([1, 2], TypeError),
    (None, TypeError),
    (np.zeros(2, velox.TXN_DTYPE), TypeError),
    (np.zeros(2, np.uint8), TypeError),
    (np.zeros((2, 2), ORDER_DTYPE), ValueError),
    (np.zeros((), ORDER_DTYPE), ValueError),
])
def test_wrong_inputs_are_refused(bad, error):
    with pytest.raises(error, match="orders"):
        validate_orders(bad)
    if isinstance(bad, np.ndarray) and bad.dtype == ORDER_DTYPE:
        bad = np.zeros(bad.shape, EXEC_DTYPE)  # the same wrong shape, of reports
    with pytest.raises(error, match="execs"):
        validate_execs(bad)


def nth_orders(n):
    """n orders that differ in every field a gateway echoes."""
    i = np.arange(n, dtype=np.uint64)
    o = np.zeros(n, ORDER_DTYPE)
    o["ts"] = i * 3
    o["order_id"] = i + 1
    o["price"] = (1 + (i % 5000).astype(np.int64)) * (PRICE_SCALE // 100)
    o["qty"] = 1 + i % 1000
    o["instrument"] = i % 7
    o["side"] = i % 2
    o["type"] = OrderType.LIMIT
    o["tif"] = 1 + i % 3
    o["action"] = OrderAction.NEW
    o[::97]["qty"] = 0  # some invalid ones: the gateway rejects them
    return o


GATEWAY = """
import numpy as np, velox
from velox import EXEC_DTYPE, ORDER_DTYPE, ExecKind, Liquidity, SharedRing
orders = SharedRing.attach({orders!r}, ORDER_DTYPE, timeout=60)
execs = SharedRing.attach({execs!r}, EXEC_DTYPE, timeout=60)
done = 0
while done < {n}:
    batch = orders.pop_many(256, timeout=120)
    reasons = velox.validate_orders(batch)
    out = np.zeros(len(batch), EXEC_DTYPE)
    for f in ("order_id", "instrument", "side"):
        out[f] = batch[f]
    out["ts_exchange"] = batch["ts"] + 1
    ok = reasons == 0
    out["kind"] = np.where(ok, ExecKind.FILL, ExecKind.REJECT)
    out["reason"] = reasons
    out["fill_qty"] = np.where(ok, batch["qty"], 0)
    out["fill_price"] = np.where(ok, batch["price"], 0)
    out["liquidity"] = np.where(ok, Liquidity.TAKER, 0)
    out["fee"] = np.where(ok, batch["qty"].astype(np.int64), 0)
    assert execs.push_many(out, timeout=120) == len(out)
    done += len(batch)
orders.close()
execs.close()
"""


def test_orders_and_reports_cross_processes_every_one_checked(tmp_path):
    """A gateway process takes ORDER_DTYPE records from one shared ring and answers each in an
    EXEC_DTYPE ring: every report is valid and matches its order (a torn, lost or reordered
    record fails)."""
    n = scaled(100_000, 5_000)
    sent = nth_orders(n)
    names = fresh_name(), fresh_name()
    with velox.SharedRing.create(names[0], 1024, ORDER_DTYPE) as oring, \
            velox.SharedRing.create(names[1], 1024, EXEC_DTYPE) as ering:
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(GATEWAY.format(orders=names[0], execs=names[1], n=n))],
            cwd=IMPORT_ROOT, env=child_env(), stderr=subprocess.PIPE, text=True)
        try:
            got = np.zeros(n, EXEC_DTYPE)
            pushed = popped = 0
            deadline = time.monotonic() + 300  # a hang guard, never a timing check
            while (pushed < n or popped < n) and time.monotonic() < deadline:
                moved = oring.push_many(sent[pushed:pushed + 512]) if pushed < n else 0
                pushed += moved
                took = ering.pop_many(got[popped:]) if popped < n else 0
                popped += took
                if not moved and not took:
                    time.sleep(0.0005)
            assert child.wait(timeout=120) == 0, child.stderr.read()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
            child.stderr.close()
            oring.unlink()
            ering.unlink()
    assert pushed == popped == n
    assert (validate_execs(got) == 0).all()
    reasons = validate_orders(sent)
    assert (got["order_id"] == sent["order_id"]).all()
    assert (got["instrument"] == sent["instrument"]).all() and (got["side"] == sent["side"]).all()
    ok = reasons == 0
    assert (got["kind"][ok] == ExecKind.FILL).all() and (got["kind"][~ok] == ExecKind.REJECT).all()
    assert (got["reason"][~ok] == RejectReason.QTY).all() and (~ok).sum() == len(sent[::97])
    assert (got["fill_qty"][ok] == sent["qty"][ok]).all()
    assert (got["fill_price"][ok] == sent["price"][ok]).all()
    assert got["fee"].sum() == sent["qty"][ok].astype(np.int64).sum()
