"""Misaligned and offset views never reach C as a typed pointer (issue 10, item 8; issue 21,
defect 8 for MBO_DTYPE).

TXN_DTYPE/BUNDLE_DTYPE/MBO_DTYPE are aligned struct dtypes (alignment 8, the C structs'), and
every call that hands an array's data pointer to C code reading typed fields
(OrderBook.apply_many, Histogram.record_many, MboBook.apply/apply_many, ItchBooks.apply_many,
itch_write, lobster_write_messages) copies a view whose pointer is not aligned for the C type;
outputs C writes into (ItchParser.parse, ItchBooks.feed) refuse one with ValueError; calls that
only memcpy (SpscRing.push_many/pop_many, from_numpy) take any contiguous view; set_many
refuses a misaligned column with ValueError. On a normal x86 build a misaligned load works, so
the functional checks here pass either way; the ASan+UBSan CI step (.ci/steps/20-python-asan.sh)
is what turns a misaligned C access into a failure (UBSan: "load of misaligned address").
"""

import numpy as np
import pytest

import velox
from velox import BUNDLE_DTYPE, TXN_DTYPE, Bundle, Histogram, OrderBook, SpscRing, Transaction
from velox._records import _c_layout

TICK = 1_000_000
BASE = 100 * TICK


def offset_view(arr, offset):
    """The same records at `offset` bytes into a fresh buffer (misaligned for offset % 8)."""
    raw = arr.tobytes()
    buf = bytearray(len(raw) + offset)
    buf[offset:] = raw
    return np.frombuffer(buf, arr.dtype, count=len(arr), offset=offset)


def txns(n=64):
    a = np.zeros(n, TXN_DTYPE)
    a["seq"] = np.arange(n)
    a["side"] = np.arange(n) % 2
    a["price"] = BASE + TICK * (4 + (np.arange(n) % 8))
    a["qty"] = 1 + np.arange(n) % 5
    a["kind"] = (np.arange(n) % 7 == 6).astype(np.uint8)
    return a


def test_dtypes_are_aligned_like_the_c_structs():
    assert TXN_DTYPE.alignment == 8 and TXN_DTYPE.isalignedstruct
    assert BUNDLE_DTYPE.alignment == 8 and BUNDLE_DTYPE.isalignedstruct
    lay = _c_layout()
    assert TXN_DTYPE.itemsize == lay["txn_size"] and BUNDLE_DTYPE.itemsize == lay["bundle_size"]
    # a misaligned view is flagged as such by NumPy (it was "aligned" with alignment 1)
    assert not offset_view(txns(4), 1).flags.aligned
    # a dtype built without align=True still compares equal (so calls check the pointer too)
    plain = np.dtype({"names": list(TXN_DTYPE.names),
                      "formats": [TXN_DTYPE.fields[k][0] for k in TXN_DTYPE.names],
                      "offsets": [TXN_DTYPE.fields[k][1] for k in TXN_DTYPE.names],
                      "itemsize": TXN_DTYPE.itemsize})
    assert plain == TXN_DTYPE and plain.alignment == 1


def _book_state(book):
    depth = [np.asarray(x).tolist() for x in book.depth(8)]
    return (book.best_bid(), book.best_ask(), depth, tuple(book.counters))


@pytest.mark.parametrize("offset", range(1, 8))
def test_apply_many_misaligned_view_equals_aligned(offset):
    a = txns()
    ref = OrderBook(16, TICK, BASE)
    want = ref.apply_many(a)
    book = OrderBook(16, TICK, BASE)
    view = offset_view(a, offset)
    assert view.ctypes.data % 8 == offset % 8
    assert book.apply_many(view) == want
    assert _book_state(book) == _book_state(ref)
    book.verify_invariants()


def test_apply_many_strided_and_swapped():
    a = txns()
    ref = OrderBook(16, TICK, BASE)
    want = ref.apply_many(np.ascontiguousarray(a[::3]))
    book = OrderBook(16, TICK, BASE)
    assert book.apply_many(offset_view(a, 3)[::3]) == want
    assert _book_state(book) == _book_state(ref)
    with pytest.raises(TypeError, match="TXN_DTYPE"):
        book.apply_many(a.astype(TXN_DTYPE.newbyteorder()))


@pytest.mark.parametrize("offset", range(1, 8))
def test_record_many_misaligned_equals_aligned(offset):
    values = np.arange(100, 5000, 7, dtype=np.uint64)
    ref = Histogram()
    ref.record_many(values)
    raw = values.tobytes()
    buf = bytearray(len(raw) + offset)
    buf[offset:] = raw
    view = np.frombuffer(buf, np.uint64, offset=offset)
    assert view.ctypes.data % 8 == offset % 8
    for arr in (view, view.astype(">u8"), offset_view(values.astype(np.int64), offset)):
        h = Histogram()
        h.record_many(arr)
        assert (h.count, h.min, h.max, h.mean) == (ref.count, ref.min, ref.max, ref.mean)
        assert np.array_equal(h.to_numpy(), ref.to_numpy())
    h = Histogram()
    h.record_many(view[::2])
    ref2 = Histogram()
    ref2.record_many(values[::2].copy())
    assert np.array_equal(h.to_numpy(), ref2.to_numpy())


def test_set_many_refuses_misaligned_columns():
    book = OrderBook(16, TICK, BASE)
    sides = np.zeros(4, np.uint8)
    prices = np.full(4, BASE + 3 * TICK, np.int64)
    qtys = np.full(4, 5, np.uint64)
    with pytest.raises(ValueError, match="prices"):
        book.set_many(sides, offset_view(prices, 1), qtys)
    with pytest.raises(ValueError, match="qtys"):
        book.set_many(sides, prices, offset_view(qtys, 4))
    with pytest.raises(ValueError, match="prices"):
        book.set_many(sides, prices.astype(">i8"), qtys)
    assert book.set_many(offset_view(sides, 1), prices, qtys).applied == 4  # u8: any address


@pytest.mark.parametrize("offset", [1, 3, 4, 7])
def test_ring_copies_misaligned_views(offset):
    a = txns(10)
    ring = SpscRing(16, TXN_DTYPE)
    assert ring.push_many(offset_view(a, offset)) == 10
    out = offset_view(np.zeros(10, TXN_DTYPE), offset)
    assert ring.pop_many(out) == 10
    assert out.tobytes() == a.tobytes()
    assert ring.try_push(offset_view(a[:1], offset))
    assert ring.pop().tobytes() == a[:1].tobytes()


@pytest.mark.parametrize("offset", [1, 5])
def test_from_numpy_misaligned(offset):
    a = txns(2)
    assert Transaction.from_numpy(offset_view(a, offset)[1]) == Transaction.from_numpy(a[1])
    b = np.zeros(2, BUNDLE_DTYPE)
    b[1] = Bundle(bundle_id=4, transactions=[Transaction(seq=1, qty=2)]).to_numpy()
    assert Bundle.from_numpy(offset_view(b, offset)[1]) == Bundle.from_numpy(b[1])


# ---- MBO_DTYPE (issue 21, defect 8) ----------------------------------------------------------

def mbo_events(n=64):
    from velox import MBO_DTYPE, Action
    ev = np.zeros(n, MBO_DTYPE)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    half = 3 * n // 4  # ADDs, then DELETEs of the first ones
    ev["order_id"] = ids
    ev["action"][:half] = int(Action.ADD)
    ev["action"][half:] = int(Action.DELETE)
    ev["order_id"][half:] = ids[: n - half]
    ev["side"] = ids % 2
    ev["price"] = BASE + TICK * (4 + (ids % 8).astype(np.int64))
    ev["qty"] = 1 + ids % 5
    ev["ts"] = ids
    return ev


def test_mbo_dtype_is_aligned_like_the_c_struct():
    from velox import MBO_DTYPE
    lay = _c_layout()
    assert MBO_DTYPE.alignment == 8 and MBO_DTYPE.isalignedstruct
    assert MBO_DTYPE.itemsize == 48 == lay["mbo_size"]
    assert {k: MBO_DTYPE.fields[k][1] for k in MBO_DTYPE.names} == lay["mbo_offsets"]
    assert not offset_view(mbo_events(4), 1).flags.aligned


def _mbo_state(book):
    return (book.best_bid(), book.best_ask(), [np.asarray(x).tolist() for x in book.depth(8)],
            tuple(book.counters), book.digest())


@pytest.mark.parametrize("offset", [1, 3, 4, 7])
def test_mbo_book_copies_misaligned_views(offset):
    from velox import MboBook
    a = mbo_events()
    ref = MboBook(16, TICK, BASE)
    want = ref.apply_many(a)
    book = MboBook(16, TICK, BASE)
    view = offset_view(a, offset)
    assert view.ctypes.data % 8 == offset % 8
    assert book.apply_many(view) == want
    assert _mbo_state(book) == _mbo_state(ref)
    one = MboBook(16, TICK, BASE)
    for rec in view:  # numpy.void records viewing the misaligned buffer
        try:
            one.apply(rec)
        except ValueError:
            pass
    assert _mbo_state(one)[:3] == _mbo_state(ref)[:3] and one.digest() == ref.digest()
    book.verify_invariants()


@pytest.mark.parametrize("offset", [1, 5])
def test_feeds_copy_misaligned_inputs_and_refuse_misaligned_outputs(offset):
    from velox import MBO_DTYPE
    from velox._feeds import ItchBooks, ItchParser, itch_write, lobster_write_messages
    from velox.feeds import as_itch
    a = as_itch(mbo_events(32))
    a["instrument"] = 1  # a stock locate (ITCH has no locate 0)
    view = offset_view(a, offset)
    syms = [None, "AB"]
    assert itch_write(view, syms) == itch_write(a, syms)
    assert lobster_write_messages(offset_view(mbo_events(32), offset)) == lobster_write_messages(mbo_events(32))
    ref, books = ItchBooks(4, 64, TICK, 64), ItchBooks(4, 64, TICK, 64)
    assert books.apply_many(view) == ref.apply_many(a)
    assert books.best(1) == ref.best(1) and ref.best(1) != (None, None)
    raw = itch_write(a, syms)
    bad_out = offset_view(np.zeros(8, MBO_DTYPE), offset)
    with pytest.raises(ValueError, match="aligned"):
        ItchParser().parse(raw, bad_out)
    with pytest.raises(ValueError, match="aligned"):
        ItchBooks(4, 64, TICK, 64).feed(ItchParser(), raw, bad_out)
