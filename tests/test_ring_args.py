"""The rings' constructors (SpscRing, BroadcastRing, MpscRing, in process and in shared
memory) check their record dtype and capacity alike (velox/_checks.pxd): TypeError or
ValueError naming the value, before anything is made; the bounds are each ring's own."""

import numpy as np
import pytest

from shm_names import fresh_name
from velox import BroadcastRing, MpscRing, SharedRing, SpscRing


def _created(create):
    """A segment maker that removes the name at once (the mapping stays)."""
    def make(capacity, dtype):
        ring = create(fresh_name(), capacity, dtype)
        ring.unlink()
        return ring
    return make


MIB = 1 << 20
# name: (constructor of (capacity, dtype), the ring's largest record in bytes)
MAKERS = {
    "SpscRing": (SpscRing, 16 * MIB),
    "SharedRing.create": (_created(SharedRing.create), 16 * MIB),
    "BroadcastRing": (BroadcastRing, MIB),
    "BroadcastRing.create": (_created(BroadcastRing.create), MIB),
    "MpscRing": (MpscRing, MIB),
    "MpscRing.create": (_created(MpscRing.create), MIB),
}


@pytest.fixture(params=sorted(MAKERS))
def maker(request):
    return MAKERS[request.param]


@pytest.fixture(params=["SpscRing", "BroadcastRing", "MpscRing"])
def private_maker(request):
    return MAKERS[request.param]


@pytest.mark.parametrize("dtype, exc, text", [
    ("not a dtype", TypeError, r"dtype must be a NumPy dtype, got 'not a dtype'"),
    (",", TypeError, "dtype must be a NumPy dtype"),  # np.dtype(",") raises SyntaxError
    (object, ValueError, "dtype must not contain Python objects"),
    (np.dtype([("a", "<u8"), ("b", object)]), ValueError, "must not contain Python objects"),
    ("V0", ValueError, r"dtype itemsize must be in \[1, "),
])
def test_bad_record_dtypes_are_refused_naming_them(maker, dtype, exc, text):
    make, _ = maker
    with pytest.raises(exc, match=text):
        make(8, dtype)


def test_the_record_size_bound_is_each_rings_own(maker):
    make, largest = maker
    with pytest.raises(ValueError, match=rf"itemsize must be in \[1, {largest}\] bytes, got "
                                         rf".* with itemsize {largest + 1}"):
        make(2, f"V{largest + 1}")


def test_the_bound_itself_is_a_record_size_the_ring_takes(private_maker):
    make, largest = private_maker  # in process: no segment of 2 x 16 MiB in /dev/shm
    assert make(2, f"V{largest}").dtype.itemsize == largest


@pytest.mark.parametrize("capacity, exc, text", [
    (True, TypeError, "capacity must be an int, got True"),
    (8.0, TypeError, "capacity must be an int, got 8.0"),
    ("8", TypeError, "capacity must be an int"),
    (1, ValueError, r"capacity must be a power of two in \[2, 2\*\*30\], got 1"),
    (12, ValueError, "power of two"),
    (2**31, ValueError, "power of two"),
    (-8, ValueError, "power of two"),
])
def test_bad_capacities_are_refused_naming_them(maker, capacity, exc, text):
    make, _ = maker
    with pytest.raises(exc, match=text):
        make(capacity, "<u8")


def test_index_types_are_capacities(maker):
    make, _ = maker
    assert make(np.int64(16), "<u8").capacity == 16
