# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/mpsc.c csrc/velox/shm.c csrc/velox/shm_segment.c csrc/velox/ring.c csrc/velox/tsc.c csrc/velox/types.c
"""MpscRing: a bounded multi-producer, single-consumer ring of fixed-size NumPy records, in
process or in a named POSIX shared-memory segment. Thin wrapper over ``csrc/velox/mpsc.h``
(see docs/mpsc.md)."""

import ast
import os

import numpy as np
from numpy.lib.format import descr_to_dtype, dtype_to_descr

cimport numpy as cnp
from cpython.object cimport PyObject

cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void *data, cnp.dtype descr, PyObject *base)
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport EEXIST, ENOENT
from libc.stdint cimport uint32_t, uint64_t
from posix.unistd cimport getpid

from velox._checks cimport check_capacity, check_record_dtype
from velox._wait cimport WAIT_SLICE_NS, deadline_ns
from velox.includes.mpsc cimport *
from velox.includes.shm cimport (VX_SHM_DTYPE_MAX, VX_SHM_FAULT_NOT_READY, VX_SHM_FAULT_SYSTEM,
                                 vx_shm_fault_name, vx_shm_name_valid, vx_shm_unlink)
from velox.includes.tsc cimport vx_monotonic_ns
from velox.includes.types cimport (VX_ECORRUPT, VX_EINVAL, VX_EMISUSE, VX_EMPTY, VX_ESTATE,
                                   VX_FULL, VX_OK, vx_status, vx_status_name)

cnp.import_array()

LAYOUT_VERSION = VX_MPSC_LAYOUT_VERSION
MAX_CAPACITY = VX_MPSC_MAX_CAPACITY
# Blocking waits re-take the GIL this often to run signal handlers and check the deadline.
SIGNAL_CHECK_NS = WAIT_SLICE_NS
ATTACH_WAIT_S = 1.0

cdef extern from *:
    """
    static inline void vx_mpsc_py_add(int *c, int d) { __atomic_fetch_add(c, d, __ATOMIC_ACQ_REL); }
    static inline int vx_mpsc_py_get(int *c) { return __atomic_load_n(c, __ATOMIC_ACQUIRE); }
    #include <sched.h>
    #include <time.h>
    static inline void vx_mpsc_py_pause(unsigned round) {
        if (round < 64) { sched_yield(); return; }
        struct timespec ts = {0, 50000}; nanosleep(&ts, NULL);
    }
    """
    void vx_mpsc_py_add(int *c, int d) nogil
    int vx_mpsc_py_get(int *c) nogil
    void vx_mpsc_py_pause(unsigned round) nogil

cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define VX_MPSC_PY_FREE_THREADED 1
    #else
    #define VX_MPSC_PY_FREE_THREADED 0
    #endif
    """
    int VX_MPSC_PY_FREE_THREADED


# the same exception as SpscRing / SharedRing: one `except velox.RingCorrupted` for every ring
from velox._ring import RingCorrupted


cdef object _seconds(object value, str what, bint allow_none):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}") from None
    if not (0 <= v <= 365 * 86400):
        raise ValueError(f"{what} must be in [0, 31536000] seconds, got {value!r}")
    return v


cdef bytes _encode_name(object name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    cdef bytes raw = name.encode("ascii", "replace")
    if b"\0" in raw or not vx_shm_name_valid(raw):
        raise ValueError(f"name must be 1..200 characters of [A-Za-z0-9._-] not starting with "
                         f"'.', got {name!r}")
    return raw


cdef class MpscRing:
    """A lock-free bounded ring: many producers (threads, or processes attached to the same
    shared-memory segment), one consumer. Records come out in claim order; a producer that
    claimed a slot and then stalled longer than ``stall_timeout`` seconds (or died) is skipped
    and counted (``skipped``, ``last_skipped_pid``); its late publish is dropped and counted
    (``late``).

    ``MpscRing(capacity=4096, dtype=TXN_DTYPE, *, stall_timeout=1.0)`` makes an in-process ring;
    ``MpscRing.create(name, ...)`` a shared one (the creator is the consumer) and
    ``MpscRing.attach(name)`` opens it in a producer process (or pickle the object: it pickles
    by name)."""

    def __cinit__(self, capacity=4096, dtype=None, *, stall_timeout=1.0, _shared=False):
        self._closed = True
        self._pid = getpid()
        if _shared:
            return
        if dtype is None:
            from velox._records import TXN_DTYPE
            dtype = TXN_DTYPE
        cdef uint32_t cap = check_capacity(capacity, 2, VX_MPSC_MAX_CAPACITY)
        dt = check_record_dtype(dtype, VX_MPSC_MAX_RECORD_SIZE)
        stall = _seconds(stall_timeout, "stall_timeout", False)
        if vx_mpsc_create(&self.q, cap, <uint32_t>dt.itemsize, <uint64_t>(stall * 1e9)) != VX_OK:
            raise MemoryError(f"cannot allocate an MpscRing of {capacity} x {dt.itemsize} bytes")
        self.dtype = dt
        self.itemsize = dt.itemsize
        self._closed = False
        self._creator = True

    def __dealloc__(self):
        if self.q.header != NULL:
            if self.name is None:
                vx_mpsc_destroy(&self.q)
            else:
                vx_mpsc_shm_detach(&self.q)

    # ---- construction ---------------------------------------------------------------------

    @staticmethod
    def create(name=None, capacity=4096, dtype=None, *, stall_timeout=1.0):
        """create(name=None, capacity=4096, dtype=TXN_DTYPE, *, stall_timeout=1.0) -> MpscRing

        Create the shared-memory segment ``name`` (None: a fresh ``velox-mpsc-<pid>-<hex>``);
        this process is its consumer. FileExistsError if the name exists."""
        if dtype is None:
            from velox._records import TXN_DTYPE
            dtype = TXN_DTYPE
        if name is None:
            name = f"velox-mpsc-{os.getpid()}-{os.urandom(6).hex()}"
        cdef bytes raw = _encode_name(name)
        cdef uint32_t cap = check_capacity(capacity, 2, VX_MPSC_MAX_CAPACITY)
        dt = check_record_dtype(dtype, VX_MPSC_MAX_RECORD_SIZE)
        stall = _seconds(stall_timeout, "stall_timeout", False)
        text = repr(dtype_to_descr(dt))
        if len(text) > VX_SHM_DTYPE_MAX - 1 or descr_to_dtype(ast.literal_eval(text)) != dt:
            raise ValueError(f"dtype {dt!r} has no stored description that round-trips within "
                             f"{VX_SHM_DTYPE_MAX - 1} characters")
        cdef bytes btext = text.encode("ascii")
        cdef MpscRing self = MpscRing.__new__(MpscRing, _shared=True)
        cdef vx_status st = vx_mpsc_shm_create(&self.q, raw, cap, <uint32_t>dt.itemsize, btext,
                                               len(btext), <uint64_t>(stall * 1e9))
        if st != VX_OK:
            if self.q.fault == VX_SHM_FAULT_SYSTEM:
                err = self.q.sys_errno
                if err == EEXIST:
                    raise FileExistsError(err, f"cannot create MPSC ring {name!r}: it exists", name)
                raise OSError(err, f"cannot create MPSC ring {name!r}: {os.strerror(err)}", name)
            raise ValueError(f"cannot create MPSC ring {name!r}: "
                             f"{vx_shm_fault_name(self.q.fault).decode()}")
        self.dtype = dt
        self.itemsize = dt.itemsize
        self.name = name
        self._closed = False
        self._creator = True
        return self

    @staticmethod
    def attach(name, dtype=None, timeout=ATTACH_WAIT_S):
        """attach(name, dtype=None, timeout=1.0) -> MpscRing

        Map the segment ``name`` as a producer, rebuilding its dtype from the stored text
        (which must equal ``dtype`` if given), waiting up to ``timeout`` seconds for it to
        appear. FileNotFoundError, TimeoutError (creator never finished), ValueError (not a
        compatible velox MPSC segment)."""
        cdef bytes raw = _encode_name(name)
        expected = None if dtype is None else check_record_dtype(dtype, VX_MPSC_MAX_RECORD_SIZE)
        wait = _seconds(timeout, "timeout", False)
        cdef MpscRing self = MpscRing.__new__(MpscRing, _shared=True)
        cdef uint32_t size = 0 if expected is None else <uint32_t>expected.itemsize
        cdef uint64_t wait_ns = <uint64_t>(wait * 1e9)
        cdef const char *c_name = raw
        cdef vx_status st
        with nogil:
            st = vx_mpsc_shm_attach(&self.q, c_name, size, wait_ns)
        if st != VX_OK:
            if self.q.fault == VX_SHM_FAULT_SYSTEM:
                err = self.q.sys_errno
                if err == ENOENT:
                    raise FileNotFoundError(err, f"no MPSC ring named {name!r} (waited "
                                            f"timeout={timeout!r} s)", name)
                raise OSError(err, f"cannot attach to MPSC ring {name!r}: {os.strerror(err)}", name)
            if self.q.fault == VX_SHM_FAULT_NOT_READY:
                raise TimeoutError(f"MPSC ring {name!r} was not initialised within "
                                   f"timeout={timeout!r} s")
            raise ValueError(f"cannot attach to MPSC ring {name!r}: "
                             f"{vx_shm_fault_name(self.q.fault).decode()}")
        self.name = name
        self._closed = False
        text = self.q.dtype[:self.q.dtype_len].decode("ascii", "replace")
        try:
            # literal_eval, never eval: the text comes from a segment another process wrote
            stored = descr_to_dtype(ast.literal_eval(text))
        except (ValueError, SyntaxError, TypeError) as exc:
            self.close()
            raise ValueError(f"cannot attach to MPSC ring {name!r}: stored dtype {text!r} is "
                             f"not valid ({exc})") from None
        if stored.itemsize != self.q.record_size or (expected is not None and expected != stored):
            self.close()
            raise ValueError(f"MPSC ring {name!r} holds dtype {stored!r} "
                             f"(record size {self.q.record_size}), not {expected or stored!r}")
        self.dtype = stored
        self.itemsize = stored.itemsize
        return self

    def __reduce__(self):
        """Pickles by name (shared rings only): unpickling attaches as a producer."""
        if self.name is None:
            raise TypeError("an in-process MpscRing cannot be pickled; use MpscRing.create(name)")
        return (_attach_by_name, (self.name,))

    # ---- guards ---------------------------------------------------------------------------

    cdef void _enter(self) noexcept nogil:
        vx_mpsc_py_add(&self._busy, 1)

    cdef void _leave(self) noexcept nogil:
        vx_mpsc_py_add(&self._busy, -1)

    cdef int _live(self, str what) except -1:
        if self._closed or self.q.header == NULL:
            raise ValueError(f"MpscRing.{what}: the ring is closed")
        if self._pid != getpid():
            raise RuntimeError(f"MpscRing.{what}: this object was inherited across fork; "
                               "attach again in the child (MpscRing.attach(name))")
        return 0

    # ---- producer -------------------------------------------------------------------------

    cdef cnp.ndarray _records(self, object records, str what):
        if isinstance(records, cnp.ndarray):
            arr = records
            if arr.dtype != self.dtype:
                raise TypeError(f"MpscRing.{what}: records must have the ring's dtype "
                                f"{self.dtype!r}, got {arr.dtype!r}")
            if arr.ndim != 1:
                raise ValueError(f"MpscRing.{what}: records must be 1-D, got shape {arr.shape}")
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)
            return arr
        raise TypeError(f"MpscRing.{what}: records must be a NumPy array of {self.dtype!r}, "
                        f"got {type(records).__name__}")

    cdef cnp.ndarray _one(self, object record, str what):
        try:
            arr = np.asarray(record, dtype=self.dtype) if not (
                isinstance(record, np.void) and record.dtype == self.dtype) else np.array(
                    [record], dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"MpscRing.{what}: cannot convert {record!r} to {self.dtype!r} "
                            f"({exc})") from None
        if arr.size != 1:
            raise ValueError(f"MpscRing.{what}: expected one record, got {arr.size}")
        return np.ascontiguousarray(arr.reshape(1))

    cdef uint64_t _push_one(self, object record, object timeout, str what) except? 0xFFFFFFFFFFFFFFFF:
        """One record: a NumPy scalar of the ring's dtype is read through its buffer (no
        conversion); anything else is converted with np.asarray."""
        cdef Py_buffer view
        cdef uint64_t done
        if type(record) is np.void and (record.dtype is self.dtype or record.dtype == self.dtype):
            PyObject_GetBuffer(record, &view, PyBUF_SIMPLE)
            try:
                if view.len != self.itemsize:
                    raise ValueError(f"MpscRing.{what}: record has {view.len} bytes, the ring's "
                                     f"dtype {self.itemsize}")
                done = self._push(<const char *>view.buf, 1, timeout, what)
            finally:
                PyBuffer_Release(&view)
            return done
        arr = self._one(record, what)
        return self._push(<const char *>cnp.PyArray_DATA(arr), 1, timeout, what)

    cdef uint64_t _push(self, const char *src, uint64_t total, object timeout,
                        str what) except? 0xFFFFFFFFFFFFFFFF:
        """Pushes total records from src (waiting up to timeout); returns how many were
        delivered (claimed records that the consumer skipped meanwhile are dropped and counted
        in late)."""
        cdef uint64_t claimed = 0, delivered = 0
        cdef uint32_t chunk, got
        cdef vx_status st
        cdef uint64_t deadline = 0
        cdef bint forever = timeout is None
        cdef bint wait = timeout is None or timeout > 0
        cdef uint64_t slice_end, now, last_check = 0
        cdef unsigned rounds = 0
        cdef vx_mpsc_claim claim
        if not forever:
            deadline = deadline_ns(timeout, f"MpscRing.{what}")
        self._enter()
        try:
            while claimed < total:
                chunk = <uint32_t>min(total - claimed, self.q.capacity)
                st = vx_mpsc_claim_n(&self.q, chunk, &claim)
                if st == VX_OK:
                    st = vx_mpsc_publish(&self.q, &claim, src + claimed * self.itemsize, &got)
                    claimed += claim.n
                    delivered += got
                    rounds = 0
                    continue
                if st != VX_FULL:
                    raise ValueError(f"MpscRing.{what}: {vx_status_name(st).decode()}")
                if not wait:
                    break
                # full: wait GIL-free in slices, checking signals and the consumer
                now = vx_monotonic_ns()
                if not forever and now >= deadline:
                    raise TimeoutError(f"MpscRing.{what}: ring full for timeout={timeout!r} s "
                                       f"({claimed} of {total} records pushed)")
                slice_end = now + WAIT_SLICE_NS
                with nogil:
                    while True:
                        vx_mpsc_py_pause(rounds)
                        rounds += 1
                        if vx_mpsc_head(&self.q) - vx_mpsc_tail(&self.q) < self.q.capacity:
                            break
                        if vx_monotonic_ns() >= slice_end:
                            break
                PyErr_CheckSignals()
                if self.name is not None and now - last_check >= VX_MPSC_OWNER_CHECK_NS:
                    last_check = now
                    if vx_mpsc_consumer_gone(&self.q):
                        raise BrokenPipeError(f"MpscRing.{what}: the consumer of {self.name!r} "
                                              f"is gone ({claimed} of {total} records pushed)")
        finally:
            self._leave()
        return delivered

    def try_push(self, record):
        """try_push(record) -> bool: push one record if there is room now; False if the ring
        is full (or the record's claim was skipped by the consumer: counted in ``late``)."""
        self._live("try_push")
        return self._push_one(record, 0, "try_push") == 1

    def push(self, record, timeout=None):
        """push(record, timeout=None): push one record, waiting while the ring is full (GIL
        released, signal handlers run). TimeoutError after ``timeout`` seconds;
        BrokenPipeError if the consumer process is gone."""
        self._live("push")
        t = _seconds(timeout, "timeout", True)
        self._push_one(record, t, "push")

    def push_many(self, records, timeout=None):
        """push_many(records, timeout=None) -> int: push a 1-D array of the ring's dtype,
        claiming up to ``capacity`` slots with one CAS at a time; returns how many records
        were delivered (claims the consumer skipped meanwhile are dropped and counted in
        ``late``). ``timeout=0``: only what fits now. Otherwise waits for room (TimeoutError
        after ``timeout`` seconds, BrokenPipeError if the consumer is gone)."""
        self._live("push_many")
        t = _seconds(timeout, "timeout", True)
        arr = self._records(records, "push_many")
        return self._push(<const char *>cnp.PyArray_DATA(arr), <uint64_t>arr.shape[0], t,
                          "push_many")

    # ---- consumer -------------------------------------------------------------------------

    cdef uint32_t _pop(self, void *dst, uint32_t n, uint32_t min_n, object timeout,
                       str what) except? 0xFFFFFFFF:
        cdef uint32_t got = 0, more
        cdef vx_status st = VX_OK
        cdef bint wait = timeout is None or timeout > 0
        cdef bint forever = timeout is None
        cdef uint64_t deadline = 0, slice_end
        cdef unsigned rounds = 0
        cdef char *out = <char *>dst
        if not self.q.is_consumer:
            raise RuntimeError(f"MpscRing.{what}: only the creating process consumes "
                               f"(this one attached as a producer)")
        if not forever and wait:
            deadline = deadline_ns(timeout, f"MpscRing.{what}")
        self._enter()
        try:
            while True:
                with nogil:
                    slice_end = vx_monotonic_ns() + WAIT_SLICE_NS
                    while True:
                        more = 0
                        st = vx_mpsc_pop_n(&self.q, out + <size_t>got * self.itemsize, n - got, &more)
                        got += more
                        if (st != VX_OK and st != VX_EMPTY) or got >= min_n or not wait:
                            break
                        if vx_monotonic_ns() >= slice_end:
                            break
                        vx_mpsc_py_pause(rounds)
                        rounds += 1
                if st == VX_ECORRUPT:
                    raise RingCorrupted(f"MpscRing.{what}: the ring's shared state broke the "
                                        f"protocol (hostile or broken peer); {got} records were "
                                        "taken before")
                if st == VX_EMISUSE:
                    raise RuntimeError(f"MpscRing.{what}: another thread is consuming "
                                       "(one consumer at a time)")
                if got >= min_n or not wait:
                    return got
                PyErr_CheckSignals()
                if not forever and vx_monotonic_ns() >= deadline:
                    if got:
                        return got
                    raise TimeoutError(f"MpscRing.{what}: nothing arrived within "
                                       f"timeout={timeout!r} s")
        finally:
            self._leave()

    cdef object _try_pop_small(self, str what):
        """The oldest record as an owning NumPy scalar, None if there is none, or NotImplemented
        for records too large for the stack buffer (the caller takes the array path)."""
        cdef char buf[256]
        cdef uint32_t got = 0
        cdef vx_status st
        if self.itemsize > 256 or not self.q.is_consumer:
            return NotImplemented
        st = vx_mpsc_pop_n(&self.q, buf, 1, &got)  # GIL held: buf is ours alone
        if got == 1:
            return PyArray_Scalar(buf, <cnp.dtype>self.dtype, NULL)
        if st == VX_EMPTY:
            return None
        return NotImplemented  # an error: the array path raises it

    def try_pop(self):
        """try_pop() -> record or None: the oldest record (an owning NumPy scalar), or None."""
        self._live("try_pop")
        item = self._try_pop_small("try_pop")
        if item is not NotImplemented:
            return item
        out = np.zeros(1, dtype=self.dtype)
        if self._pop(cnp.PyArray_DATA(out), 1, 1, 0, "try_pop") == 0:
            return None
        return out[0]

    def pop(self, timeout=None):
        """pop(timeout=None) -> record: wait (GIL released, signals run) for the next record.
        TimeoutError after ``timeout`` seconds."""
        self._live("pop")
        t = _seconds(timeout, "timeout", True)
        item = self._try_pop_small("pop")
        if item is not NotImplemented and item is not None:
            return item
        out = np.zeros(1, dtype=self.dtype)
        self._pop(cnp.PyArray_DATA(out), 1, 1, t, "pop")
        return out[0]

    def pop_many(self, out, timeout=0, min_n=1):
        """pop_many(out, timeout=0, min_n=1) -> int: fill a 1-D C-contiguous writable array of
        the ring's dtype from its start with up to len(out) records, in claim order; returns
        how many. ``timeout=0``: what is there now. Otherwise waits until at least ``min_n``
        (1 <= min_n <= len(out)) arrived; TimeoutError if none did (returns fewer than min_n
        if some did)."""
        self._live("pop_many")
        if not isinstance(out, cnp.ndarray):
            raise TypeError(f"MpscRing.pop_many: out must be a NumPy array, got "
                            f"{type(out).__name__}")
        arr = out
        if arr.dtype != self.dtype or arr.ndim != 1 or not arr.flags.c_contiguous or \
                not arr.flags.writeable:
            raise ValueError(f"MpscRing.pop_many: out must be a writable 1-D C-contiguous array "
                             f"of {self.dtype!r}, got {arr.dtype!r} shape {arr.shape}")
        t = _seconds(timeout, "timeout", True)
        if isinstance(min_n, bool) or not hasattr(type(min_n), "__index__"):
            raise TypeError(f"MpscRing.pop_many: min_n must be an int, got {min_n!r}")
        length = min(arr.shape[0], 0xFFFFFFFF)
        if length == 0:
            return 0
        if not (1 <= min_n <= length):
            raise ValueError(f"MpscRing.pop_many: min_n must be in [1, {length}], got {min_n!r}")
        return self._pop(cnp.PyArray_DATA(<cnp.ndarray>arr), <uint32_t>length, <uint32_t>min_n, t, "pop_many")

    # ---- test hooks -----------------------------------------------------------------------

    def _claim_unpublished(self, n=1):
        """Test hook: claim n slots and never publish them (a producer stopped between claim
        and publish). Returns (position, count) for _publish_claim."""
        self._live("_claim_unpublished")
        cdef vx_mpsc_claim claim
        if vx_mpsc_claim_n(&self.q, <uint32_t>n, &claim) != VX_OK:
            raise RuntimeError("no room to claim")
        return (claim.pos, claim.n)

    def _publish_claim(self, claim, records):
        """Test hook: publish a claim from _claim_unpublished late; returns how many records
        were delivered (the rest were skipped by the consumer and count in ``late``)."""
        self._live("_publish_claim")
        arr = self._records(records, "_publish_claim")
        cdef vx_mpsc_claim c
        c.pos = claim[0]
        c.n = claim[1]
        if arr.shape[0] != c.n:
            raise ValueError("records must match the claim")
        cdef uint32_t got = 0
        vx_mpsc_publish(&self.q, &c, cnp.PyArray_DATA(arr), &got)
        return got

    # ---- observers and lifecycle ----------------------------------------------------------

    @property
    def capacity(self):
        return self.q.capacity

    @property
    def stall_timeout(self):
        """Seconds a claimed slot may stay unpublished before the consumer skips it."""
        return self.q.stall_timeout_ns / 1e9

    @property
    def is_consumer(self):
        return bool(self.q.is_consumer)

    @property
    def claimed(self):
        """Positions ever claimed by producers."""
        return vx_mpsc_head(&self.q)

    @property
    def consumed(self):
        """Positions ever consumed or skipped."""
        return vx_mpsc_tail(&self.q)

    @property
    def skipped(self):
        """Claimed positions the consumer skipped (producer stalled past stall_timeout, or
        dead)."""
        return vx_mpsc_skipped(&self.q)

    @property
    def late(self):
        """Records whose producer published after the consumer had skipped them (dropped)."""
        return vx_mpsc_late(&self.q)

    @property
    def last_skipped_pid(self):
        """Pid of the producer owning the last skipped position (0 if unknown)."""
        return vx_mpsc_last_skipped_pid(&self.q)

    def __len__(self):
        if self.q.header == NULL:
            return 0
        cdef uint64_t tail = vx_mpsc_tail(&self.q)
        cdef uint64_t head = vx_mpsc_head(&self.q)
        return <Py_ssize_t>min(head - tail if head >= tail else 0, self.q.capacity)

    @property
    def closed(self):
        return self._closed

    def close(self):
        """Release the ring (unmap a shared one; the name stays, see unlink). Idempotent;
        RuntimeError while another thread is inside a blocking call of this object."""
        if self._closed:
            return
        if vx_mpsc_py_get(&self._busy):
            raise RuntimeError("MpscRing.close: another thread is inside a call of this ring")
        self._closed = True
        # free-threaded: another thread may be between its closed check and its C call, so
        # the mapping goes in __dealloc__ (no thread holds the object any more)
        if self.name is not None and self._pid == getpid() and not VX_MPSC_PY_FREE_THREADED:
            vx_mpsc_shm_detach(&self.q)

    def unlink(self):
        """Remove the shared segment's name (the creator's job)."""
        if self.name is None:
            raise ValueError("MpscRing.unlink: an in-process ring has no name")
        unlink(self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        creator = self._creator and self._pid == getpid()
        self.close()
        if self.name is not None and creator:
            try:
                unlink(self.name)
            except FileNotFoundError:
                pass
        return False

    def __repr__(self):
        where = "in-process" if self.name is None else f"shared {self.name!r}"
        return (f"<MpscRing {where} capacity={self.q.capacity} dtype={self.dtype!r} "
                f"closed={self._closed}>")


def unlink(name):
    """Remove the MPSC ring segment ``name``. FileNotFoundError if there is none."""
    cdef bytes raw = _encode_name(name)
    if vx_shm_unlink(raw) != VX_OK:
        raise FileNotFoundError(2, f"no MPSC ring named {name!r}", name)


def _attach_by_name(name):
    return MpscRing.attach(name)
