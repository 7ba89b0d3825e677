# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/tsc.c
"""The cycle counter (``velox.tsc``): read it, calibrate it to nanoseconds, convert, spin-sleep.

``read()`` returns raw ticks from ``rdtsc`` (x86_64, after an ``lfence``), ``CNTVCT_EL0``
(aarch64, after an ``isb``) or ``clock_gettime(CLOCK_MONOTONIC_RAW)`` elsewhere; ``source``
says which. ``calibrate()`` measures ticks per nanosecond against CLOCK_MONOTONIC_RAW once;
the conversions calibrate on first use (50 ms) if you have not.
"""

import _thread
import warnings

from libc.stdint cimport uint64_t

from velox.includes.tsc cimport *

source = VX_TSC_SOURCE.decode("ascii")
"""Which counter ``read()`` uses: ``"rdtsc"``, ``"cntvct"`` or ``"clock_gettime"``."""

_lock = _thread.allocate_lock()
_ticks_per_ns = None  # float once calibrated; guarded by _lock for writers
_U64_MAX = 0xFFFFFFFFFFFFFFFF


def read():
    """Raw counter ticks (an int). About 10 ns of native work plus Python's call overhead."""
    return vx_tsc_read()


def monotonic_ns():
    """CLOCK_MONOTONIC_RAW in nanoseconds (the clock calibration is measured against)."""
    return vx_monotonic_ns()


def invariant():
    """True if the CPU advertises an invariant TSC, False if not, None if unknown."""
    cdef int inv = vx_tsc_invariant()
    return None if inv < 0 else bool(inv)


def calibrate(duration_s=0.1):
    """Measure ticks per nanosecond over ``duration_s`` seconds (busy-waiting with the GIL
    released), store it for the conversions, and return it. On x86_64 Linux, warns
    (RuntimeWarning) if the CPU lacks an invariant TSC."""
    global _ticks_per_ns
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)):
        raise TypeError(f"duration_s must be a number of seconds, got {duration_s!r}")
    if not 0.001 <= duration_s <= 10.0:
        raise ValueError(f"duration_s must be in [0.001, 10] seconds, got {duration_s!r}")
    cdef uint64_t ns = <uint64_t>(duration_s * 1e9)
    cdef double tpns
    with nogil:
        tpns = vx_tsc_calibrate(ns)
    if not tpns > 0:
        raise RuntimeError(f"TSC calibration failed: the counter did not advance ({source})")
    if vx_tsc_invariant() == 0:
        warnings.warn("this CPU does not advertise an invariant TSC (constant_tsc and nonstop_tsc); "
                      "tick-to-time conversions may drift with frequency changes or sleep states",
                      RuntimeWarning, stacklevel=2)
    with _lock:
        _ticks_per_ns = tpns
    return tpns


def is_calibrated():
    """True once ``calibrate()`` has run (explicitly or on first conversion)."""
    return _ticks_per_ns is not None


def ticks_per_ns():
    """Ticks per nanosecond (calibrating for 50 ms first if needed)."""
    tpns = _ticks_per_ns
    if tpns is None:
        with _lock:
            tpns = _ticks_per_ns
        if tpns is None:
            tpns = calibrate(0.05)
    return tpns


def frequency_hz():
    """Counter frequency in Hz (calibrated)."""
    return ticks_per_ns() * 1e9


cdef uint64_t _u64_arg(str name, object value) except? 0:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__}: {value!r}")
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"{name} must be in [0, 2**64), got {value!r}")
    return value


def ticks_to_ns(ticks):
    """Convert a tick count (e.g. a difference of two ``read()`` values) to nanoseconds (int)."""
    cdef uint64_t t = _u64_arg("ticks", ticks)
    return round(t / ticks_per_ns())


def ns_to_ticks(ns):
    """Convert nanoseconds to ticks (int)."""
    cdef uint64_t n = _u64_arg("ns", ns)
    result = round(n * ticks_per_ns())
    if result > _U64_MAX:
        raise ValueError(f"ns={ns!r} is more ticks than fit in 64 bits")
    return result


def spin_sleep_ns(ns):
    """Busy-wait ``ns`` nanoseconds on the counter with the GIL released (precise to tens of
    ns on an idle core; for waits above a millisecond prefer ``time.sleep``). At most 60 s."""
    cdef uint64_t n = _u64_arg("ns", ns)
    if n > 60_000_000_000:
        raise ValueError(f"ns must be at most 60 s (60_000_000_000), got {ns!r}")
    cdef double tpns = ticks_per_ns()
    with nogil:
        vx_tsc_spin_sleep_ns(n, tpns)
