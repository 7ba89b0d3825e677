"""velox.TxnRing: the typed per-item ring. Every valid Transaction round-trips; every invalid
record (pushed as raw bytes or a NumPy batch through SpscRing's generic path) is rejected
with InvalidRecordError, is consumed, and carries its bytes; never a crash, never an invalid
Transaction; the calling conventions the speed depends on; two threads moving single items."""

import inspect
import os
import struct
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from scale import scaled
from velox import TXN_DTYPE, InvalidRecordError, SpscRing, Transaction, TxnRing

U64 = st.integers(0, 2**64 - 1)
transactions = st.builds(
    Transaction,
    tsc=U64,
    seq=U64,
    price=st.integers(-(2**63), 2**63 - 1),
    qty=st.integers(0, 2**32 - 1),
    side=st.sampled_from([velox.BUY, velox.SELL, 0, 1]),
    kind=st.sampled_from([velox.NEW, velox.CANCEL, 0, 1]),
)
SIDE_OFFSET = TXN_DTYPE.fields["side"][1]
KIND_OFFSET = TXN_DTYPE.fields["kind"][1]


def valid(raw):
    return raw[SIDE_OFFSET] in (0, 1) and raw[KIND_OFFSET] in (0, 1)


def canonical(raw):
    """What a valid record pops as: the same fields, zero padding."""
    return raw[:30] + b"\0\0"


# ---- construction and API ---------------------------------------------------------------------


def test_is_an_spscring_of_transactions():
    ring = TxnRing(8)
    assert isinstance(ring, SpscRing)
    assert ring.dtype == TXN_DTYPE and ring.itemsize == 32 and ring.capacity == 8
    assert repr(ring) == "TxnRing(capacity=8, len=0)"
    assert TxnRing().capacity == 4096
    assert TxnRing(16, TXN_DTYPE).capacity == 16


@pytest.mark.parametrize("dtype", ["<u8", velox.BUNDLE_DTYPE, np.dtype("V32")])
def test_other_dtypes_are_refused(dtype):
    with pytest.raises(ValueError, match="TxnRing holds TXN_DTYPE records"):
        TxnRing(8, dtype)


@pytest.mark.parametrize("capacity, exc", [(3, ValueError), (0, ValueError), (2.0, TypeError)])
def test_bad_capacity_is_refused_like_spscring(capacity, exc):
    with pytest.raises(exc, match="capacity"):
        TxnRing(capacity)


def test_empty_and_full():
    ring = TxnRing(2)
    assert ring.try_pop() is None
    t = Transaction(seq=1)
    assert ring.try_push(t) and ring.try_push(t)
    assert ring.try_push(t) is False
    assert ring.rejected_full == 1
    assert ring.try_pop() == t and ring.try_pop() == t and ring.try_pop() is None
    assert (ring.pushed, ring.popped, len(ring)) == (2, 2, 0)


def test_pop_returns_new_transaction_objects():
    ring = TxnRing(4)
    t = Transaction(seq=7, price=-5, qty=3, side=velox.SELL, kind=velox.CANCEL)
    ring.try_push(t)
    ring.try_push(t)
    a, b = ring.try_pop(), ring.try_pop()
    assert type(a) is Transaction and a == t == b and a is not t and a is not b
    assert a.side is velox.SELL and a.kind is velox.CANCEL


def test_generic_items_are_still_accepted():
    ring = TxnRing(8)
    t = Transaction(seq=3, price=11, qty=2, side=velox.SELL)
    assert ring.try_push(t.to_numpy())
    assert ring.try_push(t.to_bytes())
    assert ring.try_push(np.frombuffer(t.to_bytes(), TXN_DTYPE))
    ring.push(t)
    assert [ring.try_pop() for _ in range(4)] == [t] * 4
    with pytest.raises(TypeError, match="cannot push"):
        ring.try_push(object())
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        ring.try_push(b"short")
    with pytest.raises(TypeError, match="does not match"):
        ring.try_push(np.zeros(1, "<u8"))


def test_batches_stay_numpy():
    ring = TxnRing(8)
    batch = np.zeros(3, TXN_DTYPE)
    batch["seq"] = [1, 2, 3]
    assert ring.push_many(batch) == 3
    assert ring.try_pop().seq == 1
    out = ring.pop_many(8)
    assert out.dtype == TXN_DTYPE and list(out["seq"]) == [2, 3]


def test_calling_conventions():
    """The speed of per-item calls rests on these: plain C methods (METH_O / METH_NOARGS),
    which CPython's interpreter specialises, not bound methods around cyfunctions."""
    ring = TxnRing(4)
    assert type(ring.try_push).__name__ == "builtin_function_or_method"
    assert type(ring.try_pop).__name__ == "builtin_function_or_method"
    assert list(inspect.signature(ring.try_push).parameters) == ["item"]
    assert list(inspect.signature(ring.try_pop).parameters) == []
    with pytest.raises(TypeError):
        ring.try_push(item=Transaction())  # METH_O: positional only
    with pytest.raises(TypeError):
        ring.try_pop(1)
    with pytest.raises(TypeError):
        ring.try_push()


def test_not_picklable():
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(TxnRing(4))


# ---- round trips and validation -----------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(transactions, max_size=40))
def test_every_valid_transaction_round_trips_in_order(txns):
    ring = TxnRing(64)
    for t in txns:
        assert ring.try_push(t)
    got = []
    while (t := ring.try_pop()) is not None:
        got.append(t)
    assert got == txns
    assert [g.to_bytes() for g in got] == [t.to_bytes() for t in txns]
    assert ring.pushed == ring.popped == len(txns)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("push"), transactions), st.just(("pop", None))),
                max_size=80))
def test_fifo_against_a_model(ops):
    ring, model = TxnRing(8), []
    for op, t in ops:
        if op == "push":
            ok = ring.try_push(t)
            assert ok == (len(model) < 8)
            if ok:
                model.append(t)
        else:
            got = ring.try_pop()
            assert got == (model.pop(0) if model else None)
        assert len(ring) == len(model)


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_raw_bytes_are_validated_on_pop(raw):
    ring = TxnRing(4)
    assert SpscRing.try_push(ring, raw)  # the generic path: no check on the way in
    if valid(raw):
        t = ring.try_pop()
        assert type(t) is Transaction
        assert t.to_bytes() == canonical(raw)
        assert t == Transaction.from_bytes(raw)
    else:
        with pytest.raises(InvalidRecordError) as info:
            ring.try_pop()
        assert isinstance(info.value, ValueError)
        assert info.value.record == raw
        field = "side" if raw[SIDE_OFFSET] not in (0, 1) else "kind"
        bad = raw[SIDE_OFFSET] if field == "side" else raw[KIND_OFFSET]
        assert f"{field} must be" in str(info.value) and f"got {bad}" in str(info.value)
    # consumed either way: the ring moves on and counts it
    assert ring.try_pop() is None
    assert ring.pushed == ring.popped == 1


def test_garbage_batches_through_the_generic_path_never_crash():
    """Fuzz: random NumPy batches pushed with push_many, popped one by one through the typed
    path; every record is either a correct Transaction or an InvalidRecordError with its
    bytes, in order, none lost."""
    rng = np.random.default_rng(1234)
    ring = TxnRing(256)
    seen = valid_n = 0
    for _ in range(200):
        raw = rng.integers(0, 256, size=(int(rng.integers(1, 200)), 32), dtype=np.uint8)
        # make about half of them valid so both outcomes are exercised
        fix = rng.random(len(raw)) < 0.5
        raw[fix, SIDE_OFFSET] &= 1
        raw[fix, KIND_OFFSET] &= 1
        batch = raw.view(TXN_DTYPE).reshape(-1)
        assert ring.push_many(batch) == len(batch)
        for row in raw:
            want = row.tobytes()
            try:
                t = ring.try_pop()
            except InvalidRecordError as exc:
                assert not valid(want) and exc.record == want
            else:
                assert valid(want) and t.to_bytes() == canonical(want)
                valid_n += 1
            seen += 1
        assert ring.try_pop() is None
    assert ring.pushed == ring.popped == seen
    assert 0 < valid_n < seen


def test_blocking_pop_validates_and_returns_transactions():
    ring = TxnRing(4)
    t = Transaction(seq=42, side=velox.SELL)
    bad = bytearray(t.to_bytes())
    bad[KIND_OFFSET] = 9

    def later():
        import time

        time.sleep(0.05)
        ring.try_push(t)
        time.sleep(0.05)
        SpscRing.try_push(ring, bytes(bad))

    th = threading.Thread(target=later)
    th.start()
    assert ring.pop(timeout=10) == t  # waits (the wait path converts through _scalar_from)
    with pytest.raises(InvalidRecordError, match="kind must be NEW") as info:
        ring.pop(timeout=10)
    th.join()
    assert info.value.record == bytes(bad)
    assert ring.pushed == ring.popped == 2
    with pytest.raises(TimeoutError):
        ring.pop(timeout=0.01)


def test_pop_without_waiting_validates_too():
    ring = TxnRing(4)
    SpscRing.try_push(ring, b"\x05" * 32)
    with pytest.raises(InvalidRecordError, match="side must be BUY"):
        ring.pop(timeout=1)
    assert len(ring) == 0


def test_padding_is_zero_on_output():
    t = Transaction(seq=5, qty=1)
    raw = t.to_bytes()[:30] + b"\xaa\xbb"
    ring = TxnRing(4)
    SpscRing.try_push(ring, raw)
    got = ring.try_pop()
    assert got == t and got.to_bytes() == t.to_bytes()
    assert hash(got) == hash(t)


# ---- two threads ----------------------------------------------------------------------------


def run_pair(producer, consumer):
    errors = []

    def guard(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guard(producer)), threading.Thread(target=guard(consumer))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert errors == []


@pytest.mark.parametrize("blocking", [False, True])
def test_two_threads_move_every_transaction_once_in_order(blocking):
    """The non-blocking side gives the CPU up (os.sched_yield, which also drops the GIL) after
    each refused try: a full or empty ring then hands over at once instead of spinning out the
    GIL's switch interval or, without a GIL, the spinner's time slice on a loaded machine;
    every try still races the other thread's."""
    n = scaled(200_000, 20_000)
    ring = TxnRing(256)
    yield_cpu = os.sched_yield
    items = [Transaction(seq=i, price=i * 3 - 1000, qty=i % 997, side=i & 1, kind=(i >> 1) & 1)
             for i in range(n)]
    received = []

    def producer():
        if blocking:
            push = ring.push
            for t in items:
                push(t, timeout=60)
        else:
            push = ring.try_push
            for t in items:
                while not push(t):
                    yield_cpu()

    def consumer():
        append = received.append
        if blocking:
            pop = ring.pop
            for _ in range(n):
                append(pop(timeout=60))
        else:
            pop = ring.try_pop
            while len(received) < n:
                t = pop()
                if t is not None:
                    append(t)
                else:
                    yield_cpu()

    run_pair(producer, consumer)
    assert len(received) == n
    for i, t in enumerate(received):  # every field of every item, not just the count
        assert type(t) is Transaction and t.to_bytes() == items[i].to_bytes(), i
    assert ring.pushed == ring.popped == n and len(ring) == 0


def test_two_threads_mixed_valid_and_invalid_records():
    """A producer interleaving valid Transactions with corrupt raw records: the consumer sees
    every valid one in order and an InvalidRecordError (with the exact bytes) for each bad one."""
    n = scaled(20_000, 5_000)
    ring = TxnRing(64)
    bad = [struct.pack("<QQqIBBxx", i, i, 0, 0, 2 + i % 200, 0) for i in range(n)]

    def producer():
        for i in range(n):
            item = bad[i] if i % 7 == 3 else Transaction(seq=i)
            while not (SpscRing.try_push(ring, item) if i % 7 == 3 else ring.try_push(item)):
                pass

    got = []

    def consumer():
        while len(got) < n:
            try:
                t = ring.try_pop()
            except InvalidRecordError as exc:
                got.append(exc.record)
            else:
                if t is not None:
                    got.append(t)

    run_pair(producer, consumer)
    for i, x in enumerate(got):
        if i % 7 == 3:
            assert x == bad[i]
        else:
            assert type(x) is Transaction and x.seq == i
