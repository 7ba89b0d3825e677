"""velox.SpscRing: construction, items in and out, edges, batches, blocking waits, errors."""

import threading
import time

import numpy as np
import pytest

import velox
from velox import BUNDLE_DTYPE, TXN_DTYPE, Bundle, SpscRing, Transaction


def txn(seq):
    return Transaction(tsc=seq * 3 + 1, seq=seq, price=seq * 100, qty=seq % 1000, side=seq % 2)


def txn_array(start, n):
    a = np.zeros(n, TXN_DTYPE)
    a["seq"] = np.arange(start, start + n)
    a["price"] = a["seq"] * 7
    return a


# ---- construction -------------------------------------------------------------------------


def test_defaults():
    r = SpscRing()
    assert r.capacity == 4096
    assert r.dtype == TXN_DTYPE
    assert r.itemsize == 32
    assert len(r) == 0 and r.free == 4096
    assert (r.pushed, r.popped, r.rejected_full) == (0, 0, 0)
    assert "capacity=4096" in repr(r)
    assert velox.SpscRing is SpscRing


@pytest.mark.parametrize("capacity", [0, 1, 3, 6, 100, 2**31, -2, 2**30 + 1, 2**64])
def test_bad_capacity_value(capacity):
    with pytest.raises(ValueError, match=rf"power of two in \[2, 2\*\*30\], got {capacity}"):
        SpscRing(capacity)


@pytest.mark.parametrize("capacity", [4096.0, "8", None, True])
def test_bad_capacity_type(capacity):
    with pytest.raises(TypeError, match="capacity must be an int"):
        SpscRing(capacity)


def test_capacity_bounds_and_index_types():
    assert SpscRing(2, "u1").capacity == 2
    assert SpscRing(np.int64(16), "u1").capacity == 16


def test_bad_dtype():
    with pytest.raises(TypeError, match="dtype must be a NumPy dtype"):
        SpscRing(8, "not-a-dtype")
    with pytest.raises(ValueError, match="must not contain Python objects"):
        SpscRing(8, object)
    with pytest.raises(ValueError, match="itemsize must be in"):
        SpscRing(8, "V0")


def test_not_picklable():
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(SpscRing(8))


# ---- items in and out ---------------------------------------------------------------------


def test_transaction_round_trip():
    r = SpscRing(8)
    t = txn(42)
    assert r.try_push(t) is True
    row = r.try_pop()
    assert isinstance(row, np.void) and row.dtype == TXN_DTYPE
    assert Transaction.from_numpy(row) == t
    assert r.try_pop() is None


def test_every_accepted_item_form():
    r = SpscRing(16)
    t = txn(7)
    arr = txn_array(100, 3)
    forms = [
        t,
        t.to_bytes(),
        bytearray(t.to_bytes()),
        memoryview(t.to_bytes()),
        t.to_numpy(),
        arr[1],  # void scalar viewing an array
        arr[2:3],  # 1-element array
        np.array(arr[0]),  # 0-d array
        arr.view(np.recarray)[0],  # np.record, a np.void subclass
    ]
    for f in forms:
        assert r.try_push(f) is True
    out = r.pop_many(len(forms))
    assert list(out["seq"]) == [7, 7, 7, 7, 7, 101, 102, 100, 100]


def test_bundle_ring():
    r = SpscRing(4, BUNDLE_DTYPE)
    assert r.itemsize == 528
    b = Bundle(bundle_id=9, transactions=[txn(1), txn(2)])
    assert r.try_push(b)
    assert r.try_push(b.to_numpy())
    for _ in range(2):
        row = r.try_pop()
        assert row.dtype == BUNDLE_DTYPE
        assert Bundle.from_numpy(row) == b
    with pytest.raises(TypeError, match="a Transaction needs a TXN_DTYPE ring"):
        r.try_push(txn(1))


def test_generic_dtype_ring():
    r = SpscRing(8, "<u8")
    assert r.try_push(np.uint64(5))
    assert r.try_push(np.array(6, "<u8"))
    assert r.try_push((7).to_bytes(8, "little"))
    assert [int(r.try_pop()) for _ in range(3)] == [5, 6, 7]
    with pytest.raises(TypeError, match="a Bundle needs a BUNDLE_DTYPE ring"):
        r.try_push(Bundle())
    with pytest.raises(TypeError, match="scalar dtype"):
        r.try_push(np.int64(5))


def test_rejected_items():
    r = SpscRing(8)
    with pytest.raises(ValueError, match="needs exactly 32 bytes, got 31"):
        r.try_push(b"x" * 31)
    with pytest.raises(ValueError, match="needs exactly 32 bytes, got 33"):
        r.try_push(bytearray(33))
    with pytest.raises(TypeError, match=r"record dtype .* does not match"):
        r.try_push(np.zeros(1, [("a", "<u8")] * 1)[0])
    with pytest.raises(TypeError, match=r"array dtype .* does not match"):
        r.try_push(np.zeros(1, "<u8"))
    with pytest.raises(ValueError, match=r"needs one record, got an array of shape \(2,\)"):
        r.try_push(txn_array(0, 2))
    with pytest.raises(TypeError, match="cannot push a str"):
        r.try_push("x" * 32)
    with pytest.raises(TypeError, match="cannot push int"):
        r.try_push(5)
    with pytest.raises(TypeError, match="cannot push NoneType"):
        r.push(None, timeout=0)
    assert len(r) == 0 and r.rejected_full == 0


# ---- edges --------------------------------------------------------------------------------


def test_full_empty_capacity_two_wraps():
    r = SpscRing(2, "<u4")
    nxt_in = nxt_out = 0
    for round_ in range(500):
        n = 1 + round_ % 2
        for _ in range(n):
            assert r.try_push(np.uint32(nxt_in))
            nxt_in += 1
        if n == 2:
            assert r.try_push(np.uint32(0)) is False
            assert r.free == 0 and len(r) == 2
        for _ in range(n):
            assert int(r.try_pop()) == nxt_out
            nxt_out += 1
        assert r.try_pop() is None
    assert r.pushed == nxt_in == r.popped
    assert r.rejected_full == 250


def test_push_many_larger_than_free_space_and_wrap():
    r = SpscRing(8)
    assert r.push_many(txn_array(0, 5)) == 5
    assert list(r.pop_many(3)["seq"]) == [0, 1, 2]
    assert r.push_many(txn_array(5, 20)) == 6  # 2 held, 6 free; wraps at slot 8
    assert r.rejected_full == 0  # a partial push is not a refusal
    assert r.push_many(txn_array(99, 1)) == 0
    assert r.rejected_full == 1  # one refused call (nothing fitted)
    out = np.zeros(5, TXN_DTYPE)
    assert r.pop_many(out) == 5
    assert list(out["seq"]) == [3, 4, 5, 6, 7]
    rest = r.pop_many(100)
    assert list(rest["seq"]) == [8, 9, 10]
    assert r.pop_many(100).shape == (0,)
    assert r.pop_many(out) == 0
    assert r.push_many(txn_array(0, 0)) == 0
    assert r.pop_many(0).shape == (0,)


def test_pop_many_argument_checks():
    r = SpscRing(8)
    r.push_many(txn_array(0, 4))
    with pytest.raises(TypeError, match=r"array dtype .* does not match"):
        r.pop_many(np.zeros(4, "<u8"))
    with pytest.raises(ValueError, match=r"needs a 1-D array, got shape \(2, 2\)"):
        r.pop_many(np.zeros((2, 2), TXN_DTYPE))
    with pytest.raises(ValueError, match="needs a C-contiguous array"):
        r.pop_many(np.zeros(8, TXN_DTYPE)[::2])
    ro = np.zeros(4, TXN_DTYPE)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out array is read-only"):
        r.pop_many(ro)
    with pytest.raises(ValueError, match="max_n must be >= 0, got -1"):
        r.pop_many(-1)
    with pytest.raises(TypeError, match="needs an int or an array"):
        r.pop_many(True)
    with pytest.raises(TypeError, match="needs a NumPy array"):
        r.pop_many([1, 2])
    assert len(r) == 4  # nothing consumed by the failed calls


def test_push_many_argument_checks():
    r = SpscRing(8)
    with pytest.raises(TypeError, match="needs a NumPy array of the ring's dtype, got list"):
        r.push_many([txn(1)])
    with pytest.raises(ValueError, match="needs a C-contiguous array"):
        r.push_many(txn_array(0, 8)[::2])
    with pytest.raises(ValueError, match="needs a 1-D array"):
        r.push_many(txn_array(0, 4).reshape(2, 2))
    ro = txn_array(0, 3)
    ro.flags.writeable = False
    assert r.push_many(ro) == 3  # read-only input is fine
    assert len(r) == 3


def test_large_batch_releases_gil_path():
    # 64 Ki records of 32 bytes crosses NOGIL_COPY_BYTES: the nogil branch must copy correctly.
    n = 1 << 16
    r = SpscRing(n)
    a = txn_array(0, n)
    assert r.push_many(a) == n
    out = np.empty(n, TXN_DTYPE)
    assert r.pop_many(out) == n
    assert np.array_equal(out, a)


# ---- blocking waits -----------------------------------------------------------------------


def test_blocking_timeouts():
    r = SpscRing(2, "<u8")
    with pytest.raises(TimeoutError, match="still empty after timeout=0.01"):
        r.pop(timeout=0.01)
    with pytest.raises(TimeoutError, match="still empty after timeout=0"):
        r.pop(timeout=0)
    r.push(np.uint64(1), timeout=0)
    r.push(np.uint64(2))
    with pytest.raises(TimeoutError, match="still full after timeout=0.02"):
        r.push(np.uint64(3), timeout=0.02)
    assert r.rejected_full == 0  # blocking push retries are not rejections
    assert int(r.pop()) == 1 and int(r.pop(timeout=5)) == 2


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("inf"), -0.5])
def test_bad_timeout_value(timeout):
    r = SpscRing(2, "<u8")
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds >= 0"):
        r.pop(timeout=timeout)


def test_bad_timeout_type():
    r = SpscRing(2, "<u8")
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None, got 'soon'"):
        r.pop(timeout="soon")


def test_blocking_push_item_copied_before_wait():
    # The producer's bytearray changes while push waits: the pushed record is the value at
    # the time of the call.
    r = SpscRing(2, "<u8")
    r.push_many(np.array([0, 0], "<u8"))
    item = bytearray((5).to_bytes(8, "little"))
    t = threading.Thread(target=r.push, args=(item,), kwargs={"timeout": 10})
    t.start()
    # Let the push call start (and copy the item) first: on a free-threaded CPython the two
    # threads really run at once, and a change before the call is just a different item.
    time.sleep(0.2)
    item[:] = (9).to_bytes(8, "little")
    assert int(r.pop(timeout=10)) == 0
    t.join(10)
    assert not t.is_alive()
    assert [int(r.pop(timeout=10)) for _ in range(2)] == [0, 5]


def test_signal_interrupts_blocking_pop():
    """A signal handler runs inside a blocking pop, and what it raises ends the pop.

    The interrupt is repeated every 50 ms until it lands: one simulated SIGINT was lost about
    one run in twenty on a loaded machine (pop then timed out after 30 s) -- a pending signal is
    run by whatever Python code the main thread executes first, e.g. a finalizer of an earlier
    test's garbage that the GC runs inside the wait, and an exception raised there is
    swallowed. The handler is the test's own, so a last interrupt still pending afterwards is
    absorbed (signal.signal runs pending handlers before it installs the next)."""
    import _thread
    import signal

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    r = SpscRing(2, "<u8")
    done = threading.Event()

    def interrupter():
        while not done.wait(0.05):  # bounded: the main thread sets done
            _thread.interrupt_main()

    old = signal.signal(signal.SIGINT, handler)
    t = threading.Thread(target=interrupter, daemon=True)
    try:
        t.start()
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            r.pop(timeout=60)
        # ended by a handler that ran inside the wait (interrupts come every 50 ms), not by
        # one that ran only once pop gave up at its timeout (that is what a wait that never
        # runs handlers looks like: the handler then runs while the TimeoutError is made)
        assert time.monotonic() - t0 < 30
    finally:
        done.set()
        t.join()
        signal.signal(signal.SIGINT, lambda signum, frame: None)  # absorbs a pending one
        signal.signal(signal.SIGINT, old)


def test_popped_record_owns_its_bytes():
    # A popped record is a copy: reusing its slot (or the blocking-pop scratch) must not change it.
    r = SpscRing(2)
    r.try_push(txn(1))
    first = r.try_pop()
    for i in range(2, 6):
        r.try_push(txn(i))
        r.try_pop()
    r.push(txn(10))
    blocking = r.pop(timeout=1)
    r.push(txn(11))
    r.pop(timeout=1)
    assert Transaction.from_numpy(first) == txn(1)
    assert Transaction.from_numpy(blocking) == txn(10)
