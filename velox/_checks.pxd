# The argument checks the rings' constructors share (SpscRing, BroadcastRing, MpscRing and
# their shared-memory forms): a ring's record dtype and its capacity. Each raises TypeError /
# ValueError naming the value. Inline, so each module compiles its own copy
# (there is no velox._checks module to import).
cimport numpy as cnp
from cpython.number cimport PyNumber_Index
from libc.stdint cimport uint32_t


cdef inline object check_record_dtype(object dtype, size_t max_itemsize):
    """np.dtype(dtype) for a ring's records: TypeError unless NumPy makes a dtype of it;
    ValueError if it holds Python objects or its itemsize is outside [1, max_itemsize]."""
    cdef object dt
    try:
        dt = cnp.dtype(dtype)
    except (TypeError, SyntaxError) as exc:  # np.dtype(",") raises SyntaxError
        raise TypeError(f"dtype must be a NumPy dtype, got {dtype!r} ({exc})") from None
    if dt.hasobject:
        raise ValueError(f"dtype must not contain Python objects, got {dt!r}")
    if dt.itemsize < 1 or dt.itemsize > max_itemsize:
        raise ValueError(f"dtype itemsize must be in [1, {max_itemsize}] bytes, got {dt!r} "
                         f"with itemsize {dt.itemsize}")
    return dt


cdef inline uint32_t check_capacity(object capacity, uint32_t min_capacity,
                                    uint32_t max_capacity) except 0:
    """A ring's capacity: TypeError unless an int (bools refused); ValueError unless a power of
    two in [min_capacity, max_capacity] (every ring: [2, 2**30])."""
    if isinstance(capacity, bool) or not hasattr(type(capacity), "__index__"):
        raise TypeError(f"capacity must be an int, got {capacity!r}")
    cap = PyNumber_Index(capacity)
    if cap < min_capacity or cap > max_capacity or (cap & (cap - 1)) != 0:
        raise ValueError(f"capacity must be a power of two in [2, 2**30], got {capacity!r}")
    return <uint32_t>cap

