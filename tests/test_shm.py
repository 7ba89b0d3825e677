"""SharedRing: lifecycle, attach validation, roles, pickling, and an in-process model test.
Cross-process transfer and peer death are in test_shm_processes.py."""

import collections
import inspect
import os
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from shm_names import fresh_name
from velox import BUNDLE_DTYPE, TXN_DTYPE, SharedRing


@pytest.fixture
def ring():
    with SharedRing.create(fresh_name(), 8, TXN_DTYPE) as r:
        yield r


def txns(start, n):
    a = np.zeros(n, TXN_DTYPE)
    a["seq"] = np.arange(start, start + n)
    a["price"] = a["seq"] * 7
    return a


def raw_patch(name, offset, data):
    with open(os.path.join("/dev/shm", name), "r+b") as f:
        f.seek(offset)
        f.write(data)


# ---- lifecycle -------------------------------------------------------------------------------


def test_create_attach_roundtrip(ring):
    other = SharedRing.attach(ring.name)
    try:
        assert isinstance(other, velox.SpscRing)
        assert other.capacity == 8 and other.dtype == TXN_DTYPE and other.itemsize == 32
        assert ring.is_creator and not other.is_creator
        assert other.creator_pid == os.getpid()
        assert ring.try_push(velox.Transaction(seq=5, price=150, qty=3, side=velox.SELL))
        assert ring.push_many(txns(6, 3)) == 3
        assert len(other) == 4 and other.free == 4 and other.pushed == 4
        first = other.try_pop()
        assert first["seq"] == 5 and first["qty"] == 3
        assert list(other.pop_many(10)["seq"]) == [6, 7, 8]
        assert other.try_pop() is None
        assert ring.popped == 4
    finally:
        other.close()


@pytest.mark.parametrize(
    "dtype",
    [TXN_DTYPE, BUNDLE_DTYPE, np.dtype("<u8"), np.dtype([("a", "<f8"), ("b", "S5")]), "V7"],
)
def test_attach_rebuilds_dtype(dtype):
    with SharedRing.create(fresh_name(), 4, dtype) as r, SharedRing.attach(r.name) as a:
        assert a.dtype == np.dtype(dtype) and a.itemsize == np.dtype(dtype).itemsize
        record = np.zeros(1, r.dtype)
        record.view(np.uint8)[:] = np.arange(r.itemsize, dtype=np.uint64) % 251
        assert r.try_push(record)
        popped = np.array(a.try_pop(), dtype=r.dtype).reshape(1)
        assert np.array_equal(popped, record) if r.dtype.names else popped.tobytes() == record.tobytes()


def test_create_defaults_and_generated_name():
    with SharedRing.create() as r:
        assert r.name.startswith(f"velox-{os.getpid()}-")
        assert r.capacity == 4096 and r.dtype == TXN_DTYPE
        assert os.path.exists(f"/dev/shm/{r.name}")
    assert not os.path.exists(f"/dev/shm/{r.name}")  # the creator's exit unlinked it


def test_close_then_use_raises(ring):
    other = SharedRing.attach(ring.name)
    other.close()
    other.close()  # idempotent
    assert other.closed
    for op in (len, lambda r: r.try_push(txns(0, 1)), lambda r: r.try_pop(),
               lambda r: r.pop_many(1), lambda r: r.push(txns(0, 1), 0), lambda r: r.pushed,
               lambda r: r.capacity, lambda r: r.producer_pid):
        with pytest.raises(ValueError, match="closed"):
            op(other)
    assert "closed" in repr(other)
    assert not ring.closed and len(ring) == 0  # the other handle is unaffected


# Public members that stay meaningful on a closed ring: identity and lifecycle. Everything
# else -- including any method added to SpscRing later -- must raise ValueError.
USABLE_AFTER_CLOSE = {"attach", "create", "close", "unlink", "closed", "is_creator", "name",
                      "dtype", "itemsize"}


def test_every_public_member_of_a_closed_ring_raises(ring):
    other = SharedRing.attach(ring.name)
    other.close()
    checked = []
    for name in dir(SharedRing):
        if name.startswith("_") or name in USABLE_AFTER_CLOSE:
            continue
        attr = inspect.getattr_static(SharedRing, name)
        with pytest.raises(ValueError, match=rf"SharedRing\.\w+: ring '{other.name}' is closed"):
            if callable(attr) and not hasattr(attr, "__set__"):
                params = inspect.signature(getattr(other, name)).parameters.values()
                required = [p for p in params if p.default is inspect.Parameter.empty
                            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                getattr(other, name)(*[txns(0, 1)] * len(required))
            else:
                getattr(other, name)  # a property
        checked.append(name)
    for dunder in (len, lambda r: r.__enter__()):
        with pytest.raises(ValueError, match="is closed"):
            dunder(other)
    # the introspection really saw the SpscRing API and SharedRing's own members
    assert {"try_push", "push", "push_many", "try_pop", "pop", "pop_many", "capacity", "free",
            "pushed", "popped", "rejected_full", "producer_pid", "consumer_alive",
            "creator_pid"} <= set(checked)
    assert not ring.closed and len(ring) == 0


def test_names_with_nul_are_refused():
    from velox._shm import is_valid_name

    # the C side sees a NUL as the end of the string: "a\0b" must not create segment "a"
    with pytest.raises(ValueError, match="name must be"):
        SharedRing.create("a\x00b")
    assert not is_valid_name("a\x00b") and not is_valid_name("a/b") and not is_valid_name("")
    assert not is_valid_name(".x") and not is_valid_name(b"x") and not is_valid_name("x" * 201)
    assert is_valid_name("feed-1.a_b") and is_valid_name("x" * 200)


def test_native_helpers_refuse_a_closed_ring(ring):
    from velox import _ring

    other = SharedRing.attach(ring.name)
    other.close()
    live = velox.SpscRing(8)
    calls = {
        "_native_produce": lambda: _ring._native_produce(other, 1, 1),
        "_native_consume": lambda: _ring._native_consume(other, 1, 1),
        "_native_ping to_echo": lambda: _ring._native_ping(other, live, 1),
        "_native_ping from_echo": lambda: _ring._native_ping(live, other, 1),
        "_native_echo from_ping": lambda: _ring._native_echo(other, live, 1),
        "_native_echo to_ping": lambda: _ring._native_echo(live, other, 1),
    }
    for what, call in calls.items():
        with pytest.raises(ValueError, match=f"_native_\\w+: ring '{other.name}' is closed"):
            call()
    with pytest.raises(TypeError):
        _ring._native_produce(None, 1, 1)
    with pytest.raises(ValueError, match="TXN_DTYPE"):
        _ring._native_ping(velox.SpscRing(8, "<u8"), live, 1)
    assert (live.pushed, live.popped) == (0, 0)  # nothing ran


def test_unlink_keeps_mappings_working():
    r = SharedRing.create(fresh_name(), 4, TXN_DTYPE)
    a = SharedRing.attach(r.name)
    r.unlink()
    with pytest.raises(FileNotFoundError):
        r.unlink()
    with pytest.raises(FileNotFoundError):
        SharedRing.attach(r.name)
    assert r.try_push(txns(1, 1)) and a.try_pop()["seq"] == 1
    r.close()
    a.close()


def test_attached_handle_exit_does_not_unlink(ring):
    with SharedRing.attach(ring.name):
        pass
    assert os.path.exists(f"/dev/shm/{ring.name}")


def test_module_unlink_function():
    r = SharedRing.create(fresh_name(), 4, TXN_DTYPE)
    r.close()
    velox._shm.unlink(r.name)
    with pytest.raises(FileNotFoundError):
        velox._shm.unlink(r.name)


def test_pickle_attaches_by_name(ring):
    ring.try_push(txns(3, 1))
    clone = pickle.loads(pickle.dumps(ring))
    try:
        assert clone.name == ring.name and clone.dtype == ring.dtype
        assert not clone.is_creator
        assert clone.try_pop()["seq"] == 3
    finally:
        clone.close()


def test_direct_construction_refused():
    with pytest.raises(TypeError, match="SharedRing.create"):
        SharedRing(8, TXN_DTYPE)


# ---- argument and attach validation --------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "a/b", "/velox", ".hidden", "sp ace", "x" * 201, "é"])
def test_bad_names(bad):
    with pytest.raises(ValueError, match="name must be"):
        SharedRing.create(bad, 8, TXN_DTYPE)
    with pytest.raises(ValueError, match="name must be"):
        SharedRing.attach(bad)


def test_bad_name_type():
    with pytest.raises(TypeError, match="name must be a str"):
        SharedRing.create(b"velox-x", 8, TXN_DTYPE)


@pytest.mark.parametrize("capacity", [0, 1, 3, 6, 2**31, -4])
def test_bad_capacity(capacity):
    with pytest.raises(ValueError, match=f"got {capacity!r}"):
        SharedRing.create(fresh_name(), capacity, TXN_DTYPE)


def test_bad_capacity_type():
    with pytest.raises(TypeError, match="capacity must be an int"):
        SharedRing.create(fresh_name(), 8.0, TXN_DTYPE)
    with pytest.raises(TypeError, match="capacity must be an int"):
        SharedRing.create(fresh_name(), True, TXN_DTYPE)


def test_bad_dtypes():
    with pytest.raises(ValueError, match="Python objects"):
        SharedRing.create(fresh_name(), 8, object)
    many = np.dtype([(f"field_{i}", "<u8") for i in range(40)])
    with pytest.raises(ValueError, match="at most 511 characters"):
        SharedRing.create(fresh_name(), 8, many)
    with pytest.raises(ValueError, match="round trip"):
        SharedRing.create(fresh_name(), 8, np.dtype(("<u4", (3,))))


def test_create_existing_name(ring):
    with pytest.raises(FileExistsError):
        SharedRing.create(ring.name, 8, TXN_DTYPE)


def test_attach_missing():
    name = fresh_name()
    with pytest.raises(FileNotFoundError, match=name):
        SharedRing.attach(name)


def test_attach_expected_dtype(ring):
    with pytest.raises(ValueError, match="record size differs"):
        SharedRing.attach(ring.name, dtype=BUNDLE_DTYPE)
    with pytest.raises(ValueError, match="holds dtype"):
        SharedRing.attach(ring.name, dtype="V32")
    SharedRing.attach(ring.name, dtype=TXN_DTYPE).close()


@pytest.mark.parametrize(
    "offset, data, match",
    [
        (0, b"NOTVELOX", "bad magic"),
        (8, (99).to_bytes(4, "little"), "layout version"),
        (12, (64).to_bytes(4, "little"), "inconsistent header"),
        (40, (16).to_bytes(8, "little"), "inconsistent header"),  # capacity
        (48, (64).to_bytes(4, "little"), "inconsistent header"),  # record size
        (52, (600).to_bytes(4, "little"), "dtype description not terminated"),
        (128, b"[('a', ", "stored dtype description"),
        (128, b"__import__('os').system('false')", "stored dtype description"),
        (896, b"\0\0\0\0", "ring header"),
    ],
)
def test_attach_corrupt_segment(offset, data, match):
    with SharedRing.create(fresh_name(), 8, TXN_DTYPE) as r:
        raw_patch(r.name, offset, data)
        with pytest.raises(ValueError, match=match):
            SharedRing.attach(r.name)


def test_attach_wrong_file_size():
    with SharedRing.create(fresh_name(), 8, TXN_DTYPE) as r:
        path = f"/dev/shm/{r.name}"
        size = os.path.getsize(path)
        os.truncate(path, size + 4096)
        with pytest.raises(ValueError, match="inconsistent header"):
            SharedRing.attach(r.name)
        os.truncate(path, 100)
        with pytest.raises(ValueError, match="smaller than the velox header"):
            SharedRing.attach(r.name)
        os.truncate(path, 0)  # a creator that never finished
        with pytest.raises(TimeoutError, match="not initialised"):
            SharedRing.attach(r.name, timeout=0.01)
        r.close()


def test_attach_bad_timeout(ring):
    with pytest.raises(TypeError, match="timeout"):
        SharedRing.attach(ring.name, timeout="soon")
    with pytest.raises(ValueError, match="timeout"):
        SharedRing.attach(ring.name, timeout=-1)


# ---- roles, waits, departure -----------------------------------------------------------------


def test_roles_claimed_on_first_use(ring):
    assert ring.producer_pid == 0 and ring.consumer_pid == 0
    assert not ring.producer_alive and not ring.consumer_alive
    ring.try_push(txns(0, 1))
    assert ring.producer_pid == os.getpid() and ring.producer_alive
    assert ring.consumer_pid == 0
    ring.try_pop()
    assert ring.consumer_pid == os.getpid() and ring.consumer_alive


def test_blocking_timeouts(ring):
    with pytest.raises(TimeoutError, match="still empty"):
        ring.pop(timeout=0.01)
    with pytest.raises(TypeError, match="timeout"):
        ring.pop(timeout="x")
    assert ring.push_many(txns(0, 8)) == 8
    with pytest.raises(TimeoutError, match="still full"):
        ring.push(txns(8, 1), timeout=0.01)
    with pytest.raises(ValueError, match="timeout"):
        ring.push(txns(8, 1), timeout=-1)
    assert [int(ring.pop(timeout=0)["seq"]) for _ in range(8)] == list(range(8))


def test_departed_producer_drains_then_broken_pipe(ring):
    producer = SharedRing.attach(ring.name)
    producer.push_many(txns(0, 3))
    producer.close()
    assert not ring.producer_alive and ring.producer_pid == os.getpid()
    assert [int(ring.pop(timeout=1)["seq"]) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(BrokenPipeError, match=rf"producer \(pid {os.getpid()}\) closed"):
        ring.pop(timeout=5)
    # the role can be taken over after a departure
    assert ring.try_push(txns(9, 1)) and ring.producer_alive


def test_departed_consumer_breaks_blocked_push(ring):
    consumer = SharedRing.attach(ring.name)
    consumer.try_pop()
    consumer.close()
    ring.push_many(txns(0, 8))
    with pytest.raises(BrokenPipeError, match="consumer .* closed the ring; .* is full"):
        ring.push(txns(8, 1), timeout=5)


# ---- model test ------------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("push_many"), st.integers(0, 12)),
        st.tuples(st.just("pop_many"), st.integers(0, 12)),
        st.tuples(st.just("try_push"), st.just(1)),
        st.tuples(st.just("try_pop"), st.just(1)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_matches_deque_model(operations):
    """Two handles on one segment (producer, consumer) behave like a bounded deque."""
    with SharedRing.create(fresh_name(), 8, TXN_DTYPE) as producer, \
            SharedRing.attach(producer.name) as consumer:
        model = collections.deque()
        seq = 0
        for op, n in operations:
            if op == "push_many":
                taken = producer.push_many(txns(seq, n))
                assert taken == min(n, 8 - len(model))
                model.extend(range(seq, seq + taken))
                seq += n
            elif op == "try_push":
                ok = producer.try_push(txns(seq, 1))
                assert ok == (len(model) < 8)
                if ok:
                    model.append(seq)
                seq += 1
            elif op == "pop_many":
                got = consumer.pop_many(n)
                assert list(got["seq"]) == [model.popleft() for _ in range(min(n, len(model)))]
            else:
                item = consumer.try_pop()
                if model:
                    assert item["seq"] == model.popleft()
                else:
                    assert item is None
            assert len(consumer) == len(model) == len(producer)
