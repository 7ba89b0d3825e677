# The blocking waits of velox's rings (SpscRing, SharedRing, BroadcastRing and its readers,
# MpscRing): each waits with the GIL released in slices of at most WAIT_SLICE_NS, then takes
# the GIL back to run signal handlers (Ctrl-C) and check its deadline. These are the pieces
# every such loop shares; inline, so each module compiles its own copy (there is no
# velox._wait module to import). Deadlines are absolute vx_monotonic_ns; UINT64_MAX: none.
from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport isfinite
from libc.stdint cimport uint64_t

from velox.includes.tsc cimport vx_monotonic_ns

cdef enum:
    WAIT_SLICE_NS = 5000000   # each module's SIGNAL_CHECK_NS


cdef inline uint64_t deadline_ns(object timeout, str where) except? 0:
    """The deadline `timeout` seconds from now; none for None or more than 1e9 s (~31 years:
    forever rather than an overflow of the ns clock). TypeError / ValueError naming `where`
    unless `timeout` is None or a finite number of seconds >= 0."""
    if timeout is None:
        return <uint64_t>-1
    cdef double seconds
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: timeout must be a number of seconds or None, got "
                        f"{timeout!r}") from None
    if not isfinite(seconds) or seconds < 0:
        raise ValueError(f"{where}: timeout must be a finite number of seconds >= 0, got "
                         f"{timeout!r}")
    if seconds > 1e9:
        return <uint64_t>-1
    return vx_monotonic_ns() + <uint64_t>(seconds * 1e9)


cdef inline uint64_t slice_end_ns(uint64_t deadline) noexcept nogil:
    """The end of the next GIL-free slice: WAIT_SLICE_NS from now, or the deadline when that
    comes first (also when now + WAIT_SLICE_NS wraps)."""
    cdef uint64_t now = vx_monotonic_ns()
    cdef uint64_t end = now + WAIT_SLICE_NS
    return deadline if end > deadline or end < now else end


cdef inline uint64_t slice_ns(uint64_t deadline) noexcept nogil:
    """The length of the next GIL-free slice for waits that take a duration: WAIT_SLICE_NS,
    or what is left until the deadline when less; 0 once it passed."""
    cdef uint64_t now = vx_monotonic_ns()
    if now >= deadline:
        return 0
    return WAIT_SLICE_NS if deadline - now > WAIT_SLICE_NS else deadline - now


cdef inline bint wait_expired(uint64_t deadline) except -1:
    """Between two slices, with the GIL: True once the deadline passed; else runs pending
    signal handlers (an exception they raise propagates) and returns False."""
    if vx_monotonic_ns() >= deadline:
        return True
    PyErr_CheckSignals()
    return False
