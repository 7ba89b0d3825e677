"""Shared-ring attach fed hostile segments: random bytes, and valid segments with random bytes
changed in the header, the dtype text and the ring's control block. Attach must either refuse
(ValueError / TimeoutError / OSError naming the segment) or give a ring whose every operation
stays inside the mapping: the interpreter never crashes. A segment's dtype text must never
yield Python objects (a pointer read from another process's memory).

Segments are named velox-fuzz-<pid>-<n> and unlinked after each example."""

import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from velox import TXN_DTYPE, BroadcastRing, MpscRing, SharedRing
from velox._shm import unlink

FUZZ = settings(max_examples=int(os.environ.get("VELOX_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SHM_DIR = "/dev/shm"
HEADER = 896          # shm.h: sizeof(vx_shm_header)
RING_CONTROL = 3 * 128  # ring.h: config, producer and consumer lines
_counter = itertools.count()

# What attach (and a ring made from a corrupt segment) may raise.
REFUSED = (ValueError, TypeError, TimeoutError, OSError, RuntimeError, MemoryError)

def fresh_name():
    return f"velox-fuzz-{os.getpid()}-{next(_counter)}"


def write_segment(name, data):
    with open(os.path.join(SHM_DIR, name), "wb") as f:
        f.write(data)


def drop(name):
    try:
        unlink(name)
    except (FileNotFoundError, OSError):
        pass


def exercise(ring):
    """Every data-path operation on a ring that attach accepted; each may refuse, none may
    crash. Returns how many records came out."""
    got = 0
    for op in (lambda: len(ring), lambda: ring.free, lambda: ring.pushed, lambda: ring.popped):
        try:
            op()
        except REFUSED:
            pass
    for _ in range(4):
        try:
            if ring.try_pop() is not None:
                got += 1
        except REFUSED:
            break
    try:
        got += len(ring.pop_many(8))
    except REFUSED:
        pass
    try:
        ring.try_push(np.zeros((), ring.dtype))
        ring.push_many(np.zeros(3, ring.dtype))
    except REFUSED:
        pass
    return got


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048),
                      st.binary(min_size=HEADER, max_size=HEADER + RING_CONTROL + 512)))
def test_attach_random_bytes(data):
    name = fresh_name()
    write_segment(name, data)
    try:
        ring = None
        try:
            ring = SharedRing.attach(name, timeout=0)
        except REFUSED:
            pass
        if ring is not None:
            exercise(ring)
            ring.close()
    finally:
        drop(name)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, HEADER + RING_CONTROL - 1), st.integers(0, 255)),
                      min_size=1, max_size=6),
       kind=st.sampled_from(["header", "anywhere", "ring"]))
def test_attach_corrupted_valid_segment(edits, kind):
    name = fresh_name()
    creator = SharedRing.create(name, capacity=8, dtype=TXN_DTYPE)
    try:
        records = np.zeros(3, TXN_DTYPE)
        records["seq"] = [1, 2, 3]
        records["qty"] = 1
        creator.push_many(records)
        path = os.path.join(SHM_DIR, name)
        with open(path, "r+b") as f:
            for offset, value in edits:
                if kind == "header":
                    offset %= HEADER
                elif kind == "ring":
                    offset = HEADER + offset % RING_CONTROL
                f.seek(offset)
                f.write(bytes([value]))
        other = None
        try:
            other = SharedRing.attach(name, timeout=0)
        except REFUSED:
            pass
        if other is not None:
            exercise(other)
            other.close()
    finally:
        creator.close()
        drop(name)


def _retext(name, text):
    """Rewrites the stored dtype text (and its length) of segment name."""
    raw = text.encode("ascii")
    with open(os.path.join(SHM_DIR, name), "r+b") as f:
        f.seek(52)                                   # dtype_len (shm.h line 0)
        f.write(len(raw).to_bytes(4, "little"))
        f.seek(128)                                  # dtype text
        f.write(raw + b"\0")


@pytest.mark.parametrize("text", [
    "[('', '|O')]",                                  # an object pointer per record
    "[('a', '|O'), ('b', '<u8'), ('c', '<u8'), ('d', '<u8')]",
    "[('', '<u8')]" + " " * 400,                     # valid but padded text
    "__import__('os').system('true')",               # code, not a literal
    "(" * 300 + ")" * 300,                          # nesting bomb
    "[('', '<V8')]",
])
def test_attach_refuses_hostile_dtype_text(text):
    name = fresh_name()
    creator = SharedRing.create(name, capacity=4, dtype="<u8")
    try:
        _retext(name, text)
        try:
            ring = SharedRing.attach(name, timeout=0)
        except REFUSED:
            return
        try:
            assert not ring.dtype.hasobject, ring.dtype
            assert ring.dtype.itemsize == 8
            exercise(ring)
        finally:
            ring.close()
    finally:
        creator.close()
        drop(name)


# Every kind of segment (shm_segment.h + the kind's header): the bytes of line 0 that attach
# validates (magic, layout version, header and segment sizes, the kind's own sizes, dtype_len)
# and the state word. A final value there that differs from the creator's must be refused;
# identical bytes must attach. Offsets from shm.h, mpsc.h and broadcast.h.
KINDS = {
    "spsc": (lambda name: SharedRing.create(name, capacity=8, dtype=TXN_DTYPE),
             lambda name: SharedRing.attach(name, timeout=0), range(0, 56), range(60, 64)),
    "mpsc": (lambda name: MpscRing.create(name, 8, TXN_DTYPE),
             lambda name: MpscRing.attach(name, timeout=0), range(0, 52), range(56, 60)),
    "broadcast": (lambda name: BroadcastRing.create(name, 8, TXN_DTYPE),
                  lambda name: BroadcastRing.attach(name, timeout=0), range(0, 48),
                  range(52, 56)),
}


@FUZZ
@given(kind=st.sampled_from(sorted(KINDS)), data=st.data())
def test_attach_refuses_every_changed_validated_word(kind, data):
    create, attach, words, state = KINDS[kind]
    offsets = list(words) + list(state)
    edits = data.draw(st.lists(st.tuples(st.sampled_from(offsets), st.integers(0, 255)),
                               min_size=1, max_size=4))
    name = fresh_name()
    creator = create(name)
    try:
        path = os.path.join(SHM_DIR, name)
        with open(path, "r+b") as f:
            before = f.read(64)
            for offset, value in edits:
                f.seek(offset)
                f.write(bytes([value]))
            f.seek(0)
            after = f.read(64)
        changed = [i for i in offsets if before[i] != after[i]]
        other = None
        try:
            other = attach(name)
        except REFUSED:
            pass
        if other is not None:
            other.close()
        assert (other is None) == bool(changed), (kind, changed, edits)
    finally:
        creator.close()
        drop(name)
