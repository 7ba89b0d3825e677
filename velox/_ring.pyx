# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/ring.c csrc/velox/tsc.c csrc/velox/types.c
"""SpscRing: a lock-free single-producer single-consumer ring of fixed-size NumPy records.
Thin wrapper over ``csrc/velox/ring.h`` (see docs/ring.md).

Free-threading compatible: the C ring is built for one producer thread and one consumer
thread running truly in parallel; the Python object's own state is fixed at construction
except two scratch buffers, one owned by each side."""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset

cimport numpy as cnp
import numpy as np

from velox._checks cimport check_capacity, check_record_dtype
from velox._records cimport Bundle, Transaction
from velox._wait cimport WAIT_SLICE_NS, deadline_ns, slice_end_ns, wait_expired
from velox.includes.ring cimport *
from velox.includes.tsc cimport vx_cpu_relax, vx_monotonic_ns
from velox.includes.types cimport vx_bundle, vx_status, vx_status_name, vx_txn
from velox.includes.types cimport VX_ECORRUPT, VX_EMISUSE, VX_EMPTY, VX_FULL, VX_OK, VX_TIMEOUT

from velox._records import BUNDLE_DTYPE, TXN_DTYPE

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    ctypedef struct PyVoidScalarObject:
        char *obval
        cnp.PyArray_Descr *descr
    # base must be NULL (not None) so the scalar owns a copy rather than viewing our memory.
    object PyArray_Scalar(void *data, cnp.dtype descr, PyObject *base)
    void PyArray_ScalarAsCtype(object scalar, void *ctypeptr)

cdef extern from *:
    """
    #ifdef VELOX_DEBUG
    #define VX_RING_PY_DEBUG_CHECKS 1
    #else
    #define VX_RING_PY_DEBUG_CHECKS 0
    #endif
    #if defined(VELOX_DEBUG) || defined(VELOX_RING_GUARD)
    #define VX_RING_PY_GUARDED 1
    #else
    #define VX_RING_PY_GUARDED 0
    #endif
    """
    int VX_RING_PY_DEBUG_CHECKS
    int VX_RING_PY_GUARDED

#: True in VELOX_DEBUG builds (setup.py compiles ring.c with the same macros; every sanitizer
#: build is one): the debug-only checks (tests/test_debug_guard.py) apply.
DEBUG_CHECKS = bool(VX_RING_PY_DEBUG_CHECKS)
#: True when the SPSC misuse guard is compiled in: VELOX_DEBUG builds and free-threaded builds
#: (VELOX_RING_GUARD). A second producer (consumer) that overlaps the first on one ring then
#: raises RuntimeError instead of corrupting it.
GUARDED = bool(VX_RING_PY_GUARDED)

MIN_CAPACITY = VX_RING_MIN_CAPACITY
MAX_CAPACITY = VX_RING_MAX_CAPACITY
MAX_ITEMSIZE = VX_RING_MAX_ELEM_SIZE

# Batch copies at least this large run with the GIL released (a 4096-transaction batch is
# 128 KiB). Smaller ones are cheaper than a GIL hand-off.
NOGIL_COPY_BYTES = 64 * 1024
# Blocking waits re-take the GIL this often to run signal handlers (Ctrl-C) and to check the
# deadline (velox/_wait.pxd).
SIGNAL_CHECK_NS = WAIT_SLICE_NS

cdef enum RecordKind:
    KIND_OTHER = 0
    KIND_TXN = 1
    KIND_BUNDLE = 2

cdef type _void_type = np.void
cdef type _generic_type = np.generic
cdef type _ndarray_type = np.ndarray
cdef uint64_t _nogil_copy_bytes = NOGIL_COPY_BYTES


class RingCorrupted(RuntimeError):
    """The ring's shared indices broke its invariant (0 <= head - tail <= capacity): another
    process wrote the shared segment. The ring then refuses every producer and consumer call
    (sticky) instead of reading or writing outside its slots; close it and start over."""


class _NoWait:
    """Default ``timeout`` of push_many / pop_many: do not wait (return what fitted)."""

    def __repr__(self):
        return "NO_WAIT"


#: Default ``timeout`` of push_many / pop_many: non-blocking.
NO_WAIT = _NoWait()


cdef int _raise_corrupt(str where) except -1:
    raise RingCorrupted(
        f"{where}: the ring's shared indices are corrupt (head - tail outside [0, capacity]; "
        "another process wrote the segment); the ring refuses every further push and pop")


cdef int _raise_status(vx_status st, str where) except -1:
    if st == VX_ECORRUPT:
        return _raise_corrupt(f"SpscRing.{where}")
    if st == VX_EMISUSE:
        raise RuntimeError(
            f"SpscRing.{where}: another thread is using the same side of the ring at the same "
            "time; an SpscRing allows one producer thread and one consumer thread "
            "(detected by the ring's misuse guard, compiled into debug and free-threaded builds)")
    raise RuntimeError(f"SpscRing.{where}: unexpected status {vx_status_name(st).decode()}")


cdef inline bint _same_dtype(cnp.PyArray_Descr *descr, object dtype):
    return <object>descr is dtype or <object>descr == dtype


cdef class SpscRing:
    """SpscRing(capacity=4096, dtype=velox.TXN_DTYPE)

    A bounded lock-free FIFO of fixed-size records for exactly one producer thread and one
    consumer thread (the SPSC contract; a debug build detects two threads using the same side
    at once and raises RuntimeError). ``capacity`` must be a power of two in [2, 2**30];
    ``dtype`` is any fixed-size NumPy dtype without Python objects (``TXN_DTYPE``,
    ``BUNDLE_DTYPE``, ``'<u8'``, a structured dtype...).

    Items pushed: a ``Transaction`` (TXN_DTYPE rings) or ``Bundle`` (BUNDLE_DTYPE rings), a
    NumPy scalar or 0-d / 1-element C-contiguous array of exactly the ring's dtype, or a
    bytes-like object of exactly ``itemsize`` bytes. Items popped: a NumPy scalar of the ring's
    dtype (``numpy.void`` for structured dtypes; ``Transaction.from_numpy(row)`` converts).
    """

    def __cinit__(self, capacity=4096, dtype=TXN_DTYPE):
        self.ring = NULL
        self._push_scratch = NULL
        self._pop_scratch = NULL
        self._wait_scratch = NULL
        self._producer_busy = 0
        self._consumer_busy = 0
        cdef uint32_t cap = check_capacity(capacity, VX_RING_MIN_CAPACITY, VX_RING_MAX_CAPACITY)
        dt = check_record_dtype(dtype, VX_RING_MAX_ELEM_SIZE)
        self.dtype = dt
        self.itemsize = dt.itemsize
        self._capacity = cap
        if dt == TXN_DTYPE:
            self._record_kind = KIND_TXN
        elif dt == BUNDLE_DTYPE:
            self._record_kind = KIND_BUNDLE
        else:
            self._record_kind = KIND_OTHER
        self._push_scratch = <char *>PyMem_Malloc(self.itemsize)
        self._pop_scratch = <char *>PyMem_Malloc(self.itemsize)
        self._wait_scratch = <char *>PyMem_Malloc(self.itemsize)
        if self._push_scratch == NULL or self._pop_scratch == NULL or self._wait_scratch == NULL:
            raise MemoryError()
        cdef vx_status st = vx_ring_create(self._capacity, <uint32_t>self.itemsize, &self.ring)
        if st != VX_OK:
            self.ring = NULL
            raise MemoryError(
                f"cannot allocate a ring of {capacity} x {self.itemsize} bytes "
                f"({vx_status_name(st).decode()})")

    def __dealloc__(self):
        vx_ring_destroy(self.ring)
        PyMem_Free(self._push_scratch)
        PyMem_Free(self._pop_scratch)
        PyMem_Free(self._wait_scratch)

    # ---- liveness and roles -------------------------------------------------------------

    cdef int _raise_closed(self, str where) except -1:
        raise ValueError(f"{type(self).__name__}.{where}: the ring is closed")

    cdef int _side(self, bint producer, str where) except -1:
        return 0

    # ---- shape and counters -------------------------------------------------------------

    @property
    def capacity(self):
        """Number of slots (a power of two)."""
        self._live("capacity")
        return self._capacity

    @property
    def free(self):
        """Free slots (capacity - len): exact for the producer, a snapshot for others."""
        self._live("free")
        return vx_ring_free_slots(self.ring)

    @property
    def pushed(self):
        """Records ever pushed."""
        self._live("pushed")
        return vx_ring_pushed(self.ring)

    @property
    def popped(self):
        """Records ever popped."""
        self._live("popped")
        return vx_ring_popped(self.ring)

    @property
    def rejected_full(self):
        """Calls refused because the ring was full: a try_push that returned False, a
        non-blocking push_many that took nothing. A push_many that took some of its records
        is not a refusal; blocking push / push_many do not count their retries."""
        self._live("rejected_full")
        return vx_ring_rejected_full(self.ring)

    def __len__(self):
        """Records held: exact for the producer or consumer, a snapshot for others."""
        self._live("__len__")
        return vx_ring_size(self.ring)

    def __repr__(self):
        if self.ring == NULL:
            return f"{type(self).__name__}(closed)"
        return (f"SpscRing(capacity={self._capacity}, dtype={self.dtype!r}, "
                f"len={vx_ring_size(self.ring)})")

    def __reduce__(self):
        raise TypeError("an SpscRing cannot be pickled (it is shared by reference between threads)")

    # ---- conversion ---------------------------------------------------------------------

    cdef const char *_item_data(self, object item, str where) except NULL:
        """Pointer to the item's itemsize bytes, valid while item is alive and the GIL held
        (a buffer-protocol object is copied into the producer scratch buffer)."""
        cdef type t = type(item)
        cdef cnp.ndarray arr
        cdef Py_buffer view
        if t is Transaction:
            if self._record_kind != KIND_TXN:
                raise TypeError(f"SpscRing.{where}: a Transaction needs a TXN_DTYPE ring, this "
                                f"ring's dtype is {self.dtype!r}")
            return <const char *>&(<Transaction>item).c
        if t is Bundle:
            if self._record_kind != KIND_BUNDLE:
                raise TypeError(f"SpscRing.{where}: a Bundle needs a BUNDLE_DTYPE ring, this "
                                f"ring's dtype is {self.dtype!r}")
            return <const char *>&(<Bundle>item).c
        if t is _void_type or isinstance(item, _void_type):
            if not _same_dtype((<PyVoidScalarObject *>item).descr, self.dtype):
                raise TypeError(f"SpscRing.{where}: record dtype {item.dtype!r} does not match "
                                f"the ring's dtype {self.dtype!r}")
            return (<PyVoidScalarObject *>item).obval
        if isinstance(item, _ndarray_type):
            arr = <cnp.ndarray>item
            if not _same_dtype(cnp.PyArray_DESCR(arr), self.dtype):
                raise TypeError(f"SpscRing.{where}: array dtype {item.dtype!r} does not match "
                                f"the ring's dtype {self.dtype!r}")
            if cnp.PyArray_SIZE(arr) != 1:
                raise ValueError(f"SpscRing.{where}: needs one record, got an array of shape "
                                 f"{item.shape!r}; use push_many for batches")
            return <const char *>cnp.PyArray_DATA(arr)
        if isinstance(item, _generic_type):
            kind = item.dtype.kind
            if kind in "SU":
                # np.bytes_ / np.str_: PyArray_ScalarAsCtype would store a pointer, not the
                # data, and the scalar's dtype is its own (NUL-stripped) length. Like NumPy's
                # assignment into an array, a shorter value is NUL-padded; unlike it, a longer
                # one is refused, never truncated.
                if self.dtype.kind != kind or self.dtype.names is not None:
                    raise TypeError(f"SpscRing.{where}: scalar dtype {item.dtype!r} does not "
                                    f"match the ring's dtype {self.dtype!r}")
                if item.dtype.itemsize > self.itemsize:
                    raise TypeError(f"SpscRing.{where}: scalar dtype {item.dtype!r} is longer "
                                    f"than the ring's dtype {self.dtype!r}")
                arr = <cnp.ndarray>np.array(item, dtype=self.dtype)
                memcpy(self._push_scratch, cnp.PyArray_DATA(arr), self.itemsize)
                return self._push_scratch
            if item.dtype != self.dtype:
                raise TypeError(f"SpscRing.{where}: scalar dtype {item.dtype!r} does not match "
                                f"the ring's dtype {self.dtype!r}")
            if kind == "V" or self.dtype.hasobject or self.dtype.names is not None:
                arr = <cnp.ndarray>np.asarray(item)  # (np.void took the branch above)
                memcpy(self._push_scratch, cnp.PyArray_DATA(arr), self.itemsize)
                return self._push_scratch
            PyArray_ScalarAsCtype(item, self._push_scratch)
            return self._push_scratch
        if PyBytes_CheckExact(item):
            if PyBytes_GET_SIZE(item) != self.itemsize:
                raise ValueError(f"SpscRing.{where}: needs exactly {self.itemsize} bytes, got "
                                 f"{PyBytes_GET_SIZE(item)}")
            return PyBytes_AS_STRING(item)
        if isinstance(item, str):
            raise TypeError(f"SpscRing.{where}: cannot push a str ({item!r}); pass bytes")
        try:
            PyObject_GetBuffer(item, &view, PyBUF_SIMPLE)
        except (TypeError, BufferError):
            raise TypeError(
                f"SpscRing.{where}: cannot push {type(item).__name__} {item!r:.80}; pass a "
                "Transaction/Bundle, a NumPy record of the ring's dtype or bytes of itemsize"
            ) from None
        try:
            if view.len != self.itemsize:
                raise ValueError(f"SpscRing.{where}: needs exactly {self.itemsize} bytes, got "
                                 f"{view.len}")
            memcpy(self._push_scratch, view.buf, self.itemsize)
        finally:
            PyBuffer_Release(&view)
        return self._push_scratch

    cdef object _batch_array(self, object array, str where, bint writable):
        if not isinstance(array, _ndarray_type):
            raise TypeError(f"SpscRing.{where}: needs a NumPy array of the ring's dtype, got "
                            f"{type(array).__name__}")
        cdef cnp.ndarray arr = <cnp.ndarray>array
        if not _same_dtype(cnp.PyArray_DESCR(arr), self.dtype):
            raise TypeError(f"SpscRing.{where}: array dtype {array.dtype!r} does not match the "
                            f"ring's dtype {self.dtype!r}")
        if cnp.PyArray_NDIM(arr) != 1:
            raise ValueError(f"SpscRing.{where}: needs a 1-D array, got shape {array.shape!r}")
        if not cnp.PyArray_IS_C_CONTIGUOUS(arr):
            raise ValueError(f"SpscRing.{where}: needs a C-contiguous array, got strides "
                             f"{array.strides!r} (use np.ascontiguousarray)")
        if writable and not cnp.PyArray_ISWRITEABLE(arr):
            raise ValueError(f"SpscRing.{where}: out array is read-only")
        return arr

    cdef object _scalar_from(self, const void *data):
        return PyArray_Scalar(<void *>data, <cnp.dtype>self.dtype, NULL)

    # ---- producer -----------------------------------------------------------------------

    def try_push(self, item):
        """Copy one record in. Returns True, or False when the ring is full (counted in
        rejected_full). Never blocks."""
        self._live("try_push")
        self._side(True, "try_push")
        return _try_push_data(self, self._item_data(item, "try_push"))

    def push(self, item, timeout=None):
        """Copy one record in, waiting (GIL released; spin, then yield, then sleep) while the
        ring is full. Raises TimeoutError if still full after timeout seconds (None: forever).
        Ctrl-C and other signal handlers run while waiting."""
        self._live("push")
        self._side(True, "push")
        cdef const char *data = self._item_data(item, "push")
        cdef vx_ring_backoff backoff
        backoff.step = 0
        # One attempt that, unlike try_push, does not count a full ring as a rejection.
        cdef vx_status st = vx_ring_push_wait(self.ring, data, 0, &backoff)
        if st == VX_OK:
            return None
        if st != VX_TIMEOUT:
            _raise_status(st, "push")
        cdef uint64_t deadline = deadline_ns(timeout, f"{type(self).__name__}.push")
        # The wait reads its own copy: the item may change without the GIL, and a misusing
        # second producer thread converting its item into _push_scratch meanwhile (which the
        # debug guard then rejects) must not change the record this wait pushes.
        memcpy(self._wait_scratch, data, self.itemsize)
        self._wait(True, self._wait_scratch, NULL, deadline, timeout, "push")
        return None

    def push_many(self, array, timeout=NO_WAIT):
        """push_many(array, timeout=NO_WAIT) -> int

        Copy records from a 1-D C-contiguous array of the ring's dtype, oldest first. Reads
        the array in place; the GIL is released for large copies and for waits.

        Without ``timeout``: as many as fit now; returns how many were taken (0 if the ring
        was full, which counts one refusal in rejected_full; a partial push is no refusal).
        With ``timeout`` (seconds, or None for forever): pushes all of them, waiting while
        the ring is full (GIL released, signal handlers run), and returns len(array); if the
        deadline passes first, raises TimeoutError after pushing a prefix, whose length is the
        exception's ``pushed`` attribute (those records are in the ring). A SharedRing raises
        BrokenPipeError (with ``pushed``) when the consumer died or closed the ring."""
        self._live("push_many")
        self._side(True, "push_many")
        cdef cnp.ndarray arr = self._batch_array(array, "push_many", False)
        cdef Py_ssize_t length = cnp.PyArray_DIM(arr, 0)
        cdef uint32_t n = <uint32_t>length if length < <Py_ssize_t>0xFFFFFFFF else 0xFFFFFFFF
        cdef uint32_t pushed = 0
        cdef vx_status st
        cdef const char *src = <const char *>cnp.PyArray_DATA(arr)
        if timeout is not NO_WAIT:
            return self._push_many_wait(arr, src, length,
                                        deadline_ns(timeout, f"{type(self).__name__}.push_many"),
                                        timeout)
        if n == 0:
            return 0
        if <uint64_t>(n if n < self._capacity else self._capacity) * <uint64_t>self.itemsize >= _nogil_copy_bytes:
            self._producer_busy += 1
            with nogil:
                st = vx_ring_push_n(self.ring, src, n, &pushed)
            self._producer_busy -= 1
        else:
            st = vx_ring_push_n(self.ring, src, n, &pushed)
        if st != VX_OK and st != VX_FULL:
            _raise_status(st, "push_many")
        return pushed

    cdef object _push_many_wait(self, cnp.ndarray arr, const char *src, Py_ssize_t length,
                                uint64_t deadline, object timeout):
        """push_many with a deadline: slices of <= SIGNAL_CHECK_NS without the GIL; the
        producer side stays busy for the whole wait (close() refuses meanwhile)."""
        cdef vx_ring_backoff backoff
        backoff.step = 0
        cdef vx_status st
        cdef uint32_t n, got
        cdef Py_ssize_t total = 0
        cdef uint64_t chunk_end
        self._producer_busy += 1
        try:
            while True:  # bounded: each pass takes records or ends at the deadline or raises
                self._live("push_many")  # re-checked every slice (signal handlers ran)
                if total == length:
                    return total
                n = <uint32_t>(length - total) if length - total < (1 << 30) else (1 << 30)
                chunk_end = slice_end_ns(deadline)
                got = 0
                with nogil:
                    st = vx_ring_push_n_wait(self.ring, src + total * self.itemsize, n, &got,
                                             chunk_end, &backoff)
                total += got
                if st == VX_OK:
                    continue
                if st != VX_TIMEOUT:
                    _raise_status(st, "push_many")
                if self._peer_gone(True):
                    exc = BrokenPipeError(f"{type(self).__name__}.push_many: the consumer died "
                                          f"or closed the ring after {total} of {length} "
                                          "records were pushed")
                    exc.pushed = total
                    raise exc
                if wait_expired(deadline):
                    exc = TimeoutError(f"{type(self).__name__}.push_many: pushed {total} of "
                                       f"{length} records; the ring was still full after "
                                       f"timeout={timeout!r} s")
                    exc.pushed = total
                    raise exc
        finally:
            self._producer_busy -= 1

    cdef int _peer_gone(self, bint producer) except -1:
        """1 if the other side can never move again (SharedRing: its process died or closed
        the ring). In-process rings: never."""
        return 0

    # ---- consumer -----------------------------------------------------------------------

    def try_pop(self):
        """Take the oldest record as a NumPy scalar of the ring's dtype, or None if the ring
        is empty. Never blocks."""
        self._live("try_pop")
        self._side(False, "try_pop")
        cdef vx_ring_span span
        cdef vx_status st = vx_ring_peek(self.ring, 1, &span)
        if st == VX_EMPTY:
            return None
        if st != VX_OK:
            _raise_status(st, "try_pop")
        try:
            item = self._scalar_from(span.first)
        except BaseException:
            vx_ring_release(self.ring, 0)  # keep the record; drop the debug guard
            raise
        vx_ring_release(self.ring, 1)
        return item

    def pop(self, timeout=None):
        """Take the oldest record, waiting (GIL released; spin, then yield, then sleep) while
        the ring is empty. Raises TimeoutError if still empty after timeout seconds (None:
        forever). Ctrl-C and other signal handlers run while waiting."""
        self._live("pop")
        self._side(False, "pop")
        item = self.try_pop()
        if item is not None:
            return item
        cdef uint64_t deadline = deadline_ns(timeout, f"{type(self).__name__}.pop")
        self._wait(False, NULL, self._pop_scratch, deadline, timeout, "pop")
        return self._scalar_from(self._pop_scratch)

    def pop_many(self, out_or_max_n, timeout=NO_WAIT, min_n=1):
        """pop_many(out, timeout=NO_WAIT, min_n=1) -> int: fill a caller's 1-D C-contiguous
        writable array of the ring's dtype from its start with up to len(out) records;
        returns how many.
        pop_many(max_n, timeout=NO_WAIT, min_n=1) -> ndarray: a new array of up to max_n
        records.

        Without ``timeout``: what is there now (possibly nothing). With ``timeout`` (seconds,
        or None for forever): waits (GIL released, signal handlers run) until at least
        ``min_n`` records are readable (1 <= min_n <= min(len(out), capacity)), then takes as
        many as are there, up to len(out) / max_n: returns as soon as min_n are in, never
        waits to fill the rest. TimeoutError if fewer than min_n arrived in time (nothing is
        taken then). A SharedRing whose producer died or closed the ring returns what is left
        (even fewer than min_n), then raises BrokenPipeError once it is empty.
        The GIL is released for large copies."""
        cdef cnp.ndarray arr
        cdef uint32_t n, popped = 0
        cdef Py_ssize_t length
        cdef vx_status st
        cdef void *dst
        self._live("pop_many")
        self._side(False, "pop_many")
        cdef bint wait = timeout is not NO_WAIT
        is_int = not isinstance(out_or_max_n, (_ndarray_type, bool)) and hasattr(
            type(out_or_max_n), "__index__")
        if is_int:
            max_n = PyNumber_Index(out_or_max_n)
            if max_n < 0:
                raise ValueError(f"SpscRing.pop_many: max_n must be >= 0, got {out_or_max_n!r}")
            size = self._capacity if wait else vx_ring_size(self.ring)
            arr = np.empty(min(max_n, size), dtype=self.dtype)
        else:
            if isinstance(out_or_max_n, bool):
                raise TypeError(f"SpscRing.pop_many: needs an int or an array, got {out_or_max_n!r}")
            arr = self._batch_array(out_or_max_n, "pop_many", True)
        length = cnp.PyArray_DIM(arr, 0)
        n = <uint32_t>length if length < <Py_ssize_t>0xFFFFFFFF else 0xFFFFFFFF
        dst = cnp.PyArray_DATA(arr)
        if wait:
            popped = self._pop_many_wait(
                dst, n, min_n, deadline_ns(timeout, f"{type(self).__name__}.pop_many"), timeout)
        elif isinstance(min_n, bool) or not hasattr(type(min_n), "__index__") or min_n != 1:
            raise ValueError(f"SpscRing.pop_many: min_n={min_n!r} needs a timeout (without "
                             "one pop_many takes what is there)")
        elif n:
            if <uint64_t>(n if n < self._capacity else self._capacity) * <uint64_t>self.itemsize >= _nogil_copy_bytes:
                self._consumer_busy += 1
                with nogil:
                    st = vx_ring_pop_n(self.ring, dst, n, &popped)
                self._consumer_busy -= 1
            else:
                st = vx_ring_pop_n(self.ring, dst, n, &popped)
            if st != VX_OK and st != VX_EMPTY:
                _raise_status(st, "pop_many")
        if not is_int:
            return popped
        return arr if popped == length else arr[:popped]

    cdef uint32_t _pop_many_wait(self, void *dst, uint32_t n, object min_n, uint64_t deadline,
                                 object timeout) except? 0xFFFFFFFF:
        """pop_many with a deadline (see pop_many); the consumer side stays busy for the whole
        wait (close() refuses meanwhile)."""
        if isinstance(min_n, bool) or not hasattr(type(min_n), "__index__"):
            raise TypeError(f"SpscRing.pop_many: min_n must be an int, got {min_n!r}")
        want = PyNumber_Index(min_n)
        if n == 0:
            if want < 0:
                raise ValueError(f"SpscRing.pop_many: min_n must be >= 1, got {min_n!r}")
            return 0
        if want < 1 or want > n or want > self._capacity:
            raise ValueError(f"SpscRing.pop_many: min_n must be in [1, {min(n, self._capacity)}] "
                             f"(the out length and the capacity), got {min_n!r}")
        cdef uint32_t c_min = <uint32_t>want
        cdef vx_ring_backoff backoff
        backoff.step = 0
        cdef vx_status st
        cdef uint32_t got = 0
        cdef uint64_t chunk_end
        self._consumer_busy += 1
        try:
            while True:  # bounded: each pass ends at the deadline or returns or raises
                self._live("pop_many")  # re-checked every slice (signal handlers ran)
                chunk_end = slice_end_ns(deadline)
                with nogil:
                    st = vx_ring_pop_n_wait(self.ring, dst, n, c_min, &got, chunk_end, &backoff)
                if st == VX_OK:
                    return got
                if st != VX_TIMEOUT:
                    _raise_status(st, "pop_many")
                if self._peer_gone(False):
                    st = vx_ring_pop_n(self.ring, dst, n, &got)  # what the producer left
                    if st == VX_OK:
                        return got
                    if st != VX_EMPTY:
                        _raise_status(st, "pop_many")
                    raise BrokenPipeError(f"{type(self).__name__}.pop_many: the producer died "
                                          "or closed the ring, and the ring is empty")
                if wait_expired(deadline):
                    raise TimeoutError(f"{type(self).__name__}.pop_many: fewer than "
                                       f"min_n={c_min} records after timeout={timeout!r} s")
        finally:
            self._consumer_busy -= 1

    # ---- waiting ------------------------------------------------------------------------

    cdef int _wait(self, bint producer, const char *src, char *dst, uint64_t deadline,
                   object timeout, str where) except -1:
        """Bounded-chunk wait with the GIL released; re-takes the GIL every SIGNAL_CHECK_NS
        to run signal handlers and check the deadline."""
        cdef vx_ring_backoff backoff
        backoff.step = 0
        cdef vx_status st
        cdef uint64_t chunk_end
        # The side stays busy for the whole wait, not just the GIL-free slices: signal
        # handlers run between slices and must not be able to close (unmap) the ring.
        _mark_busy(self, producer, 1)
        try:
            while True:  # bounded: each pass ends at the deadline or raises
                self._live(where)  # re-checked every slice (signal handlers ran)
                chunk_end = slice_end_ns(deadline)
                if producer:
                    with nogil:
                        st = vx_ring_push_wait(self.ring, src, chunk_end, &backoff)
                else:
                    with nogil:
                        st = vx_ring_pop_wait(self.ring, dst, chunk_end, &backoff)
                if st == VX_OK:
                    return 0
                if st != VX_TIMEOUT:
                    _raise_status(st, where)
                if wait_expired(deadline):
                    raise TimeoutError(f"SpscRing.{where}: ring still "
                                       f"{'full' if producer else 'empty'} after timeout={timeout!r} s")
        finally:
            _mark_busy(self, producer, -1)


# ---- native benchmark loops (private; used by benchmarks/bench_ring.py) ----------------------
# Each runs entirely in C with the GIL released, so two Python threads calling them (each
# pinned with os.sched_setaffinity) measure the ring itself, not the interpreter.
# Like the methods, each refuses a closed ring (_live) and marks the sides it drives busy for
# the GIL-free loop, so a SharedRing cannot be closed (unmapped) under it.

def _native_produce(SpscRing ring not None, uint64_t count, uint32_t batch):
    """Push count numbered vx_txn records (seq = 0..count-1), batch at a time (1: try_push).
    Returns elapsed ns. TXN_DTYPE rings only."""
    ring._live("_native_produce")
    ring._side(True, "_native_produce")
    if ring._record_kind != KIND_TXN or batch < 1 or batch > 4096:
        raise ValueError("_native_produce needs a TXN_DTYPE ring and 1 <= batch <= 4096")
    cdef vx_txn *buf = <vx_txn *>PyMem_Malloc(batch * sizeof(vx_txn))
    if buf == NULL:
        raise MemoryError()
    cdef uint64_t seq = 0, t0, t1
    cdef uint32_t i, n, got
    cdef vx_status st
    memset(buf, 0, batch * sizeof(vx_txn))
    ring._producer_busy += 1
    with nogil:
        t0 = vx_monotonic_ns()
        if batch == 1:
            while seq < count:
                buf[0].seq = seq
                if vx_ring_try_push(ring.ring, buf) == VX_OK:
                    seq += 1
                else:
                    vx_cpu_relax()
        else:
            while seq < count:
                n = batch if count - seq > batch else <uint32_t>(count - seq)
                for i in range(n):
                    buf[i].seq = seq + i
                st = vx_ring_push_n(ring.ring, buf, n, &got)
                seq += got
                if got == 0:
                    vx_cpu_relax()
        t1 = vx_monotonic_ns()
    ring._producer_busy -= 1
    PyMem_Free(buf)
    return t1 - t0


def _native_consume(SpscRing ring not None, uint64_t count, uint32_t batch):
    """Pop count records, batch at a time, checking every seq is the next one. Returns
    elapsed ns; raises AssertionError on a gap, duplicate or reorder."""
    ring._live("_native_consume")
    ring._side(False, "_native_consume")
    if ring._record_kind != KIND_TXN or batch < 1 or batch > 4096:
        raise ValueError("_native_consume needs a TXN_DTYPE ring and 1 <= batch <= 4096")
    cdef vx_txn *buf = <vx_txn *>PyMem_Malloc(batch * sizeof(vx_txn))
    if buf == NULL:
        raise MemoryError()
    cdef uint64_t seq = 0, t0, t1, bad = <uint64_t>-1
    cdef uint32_t i, got
    cdef vx_status st
    ring._consumer_busy += 1
    with nogil:
        t0 = vx_monotonic_ns()
        while seq < count and bad == <uint64_t>-1:
            if batch == 1:
                got = 1 if vx_ring_try_pop(ring.ring, buf) == VX_OK else 0
            else:
                st = vx_ring_pop_n(ring.ring, buf, batch, &got)
            for i in range(got):
                if buf[i].seq != seq + i:
                    bad = seq + i
            seq += got
            if got == 0:
                vx_cpu_relax()
        t1 = vx_monotonic_ns()
    ring._consumer_busy -= 1
    PyMem_Free(buf)
    if bad != <uint64_t>-1:
        raise AssertionError(f"record {bad} out of sequence")
    return t1 - t0


def _native_ping(SpscRing to_echo not None, SpscRing from_echo not None, uint64_t count):
    """Send count records one at a time and wait for each to come back (round trip over two
    rings). Returns elapsed ns for all round trips. Records must fit: itemsize >= 32 bytes."""
    _check_record_room(to_echo, "_native_ping")
    _check_record_room(from_echo, "_native_ping")
    to_echo._side(True, "_native_ping")
    from_echo._side(False, "_native_ping")
    cdef vx_txn t
    cdef uint64_t i, t0, t1
    memset(&t, 0, sizeof(t))
    to_echo._producer_busy += 1
    from_echo._consumer_busy += 1
    with nogil:
        t0 = vx_monotonic_ns()
        for i in range(count):
            t.seq = i
            while vx_ring_try_push(to_echo.ring, &t) != VX_OK:
                vx_cpu_relax()
            while vx_ring_try_pop(from_echo.ring, &t) != VX_OK:
                vx_cpu_relax()
        t1 = vx_monotonic_ns()
    to_echo._producer_busy -= 1
    from_echo._consumer_busy -= 1
    return t1 - t0


def _native_echo(SpscRing from_ping not None, SpscRing to_ping not None, uint64_t count):
    """Return each of count records to the pinger."""
    _check_record_room(from_ping, "_native_echo")
    _check_record_room(to_ping, "_native_echo")
    from_ping._side(False, "_native_echo")
    to_ping._side(True, "_native_echo")
    cdef vx_txn t
    cdef uint64_t i
    from_ping._consumer_busy += 1
    to_ping._producer_busy += 1
    with nogil:
        for i in range(count):
            while vx_ring_try_pop(from_ping.ring, &t) != VX_OK:
                vx_cpu_relax()
            while vx_ring_try_push(to_ping.ring, &t) != VX_OK:
                vx_cpu_relax()
    from_ping._consumer_busy -= 1
    to_ping._producer_busy -= 1


cdef int _check_record_room(SpscRing ring, str where) except -1:
    ring._live(where)
    if ring._record_kind != KIND_TXN:
        raise ValueError(f"{where} needs TXN_DTYPE rings, got dtype {ring.dtype!r}")
    return 0


def _busy_counts(SpscRing ring not None):
    """(producer, consumer) GIL-free sections in progress; for tests."""
    return ring._producer_busy, ring._consumer_busy
