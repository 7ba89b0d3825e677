# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# cython: binding=False, embedsignature.format=clinic
# distutils: sources = csrc/velox/ring.c csrc/velox/tsc.c csrc/velox/types.c
"""TxnRing: an SpscRing of TXN_DTYPE records whose pops return ``velox.Transaction`` objects,
with per-item calls built for Python-level speed (see docs/ring.md, "TxnRing").

Calling conventions (why this module is ``binding=False``): ``try_push`` is a METH_O and
``try_pop`` a METH_NOARGS C method in the type's method table, so ``ring.try_push`` is a
``builtin_function_or_method`` that CPython's specialising interpreter calls directly, like
``collections.deque.append``; with Cython's default ``binding=True`` each call would go
through a bound method wrapping a cyfunction (tested in tests/test_txnring.py).
``embedsignature.format=clinic`` keeps ``inspect.signature`` working for such methods.

A popped record is validated in C (side and kind) on a private copy before any Transaction
exists: a ring accepts any 32 bytes (``SpscRing.try_push(ring, b"...")``, ``push_many`` of a
NumPy array, another process writing a shared segment), and an invalid Transaction must never
be built (CLAUDE.md, Lessons)."""

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF
from libc.string cimport memcpy

from velox._records cimport Transaction
from velox._ring cimport SpscRing, _raise_status, _try_push_data
from velox.includes.ring cimport (vx_ring_backoff, vx_ring_peek, vx_ring_push_wait, vx_ring_release,
                                  vx_ring_span, vx_ring_try_push)
from velox.includes.types cimport VX_EMPTY, VX_FIELD_NONE, VX_FULL, VX_OK, VX_TIMEOUT
from velox.includes.types cimport vx_status, vx_txn, vx_txn_validate

from velox._records import TXN_DTYPE


class InvalidRecordError(ValueError):
    """A record popped from a TxnRing is not a valid Transaction (side or kind out of range).

    The record has been taken off the ring (it counts in ``popped``) so the consumer can go
    on; its raw 32 bytes are in ``record`` (``Transaction.from_bytes`` explains them again,
    ``numpy.frombuffer(exc.record, velox.TXN_DTYPE)`` shows the fields)."""

    def __init__(self, message, record):
        super().__init__(message)
        self.record = record


cdef extern from *:
    """
    /* A fresh, zeroed object of `type` from its tp_new (Transaction's comes from its freelist
     * when one is there), or NULL with an exception set: no argument parsing, no exception
     * bookkeeping on the hot path. */
    static inline PyObject *vx_py_new_plain(PyObject *type, PyObject *empty_tuple) {
        return ((PyTypeObject *)type)->tp_new((PyTypeObject *)type, empty_tuple, NULL);
    }
    """
    PyObject *vx_py_new_plain(PyObject *type, PyObject *empty_tuple)

cdef object _txn_type = Transaction
cdef object _empty_tuple = ()


cdef object _invalid(const vx_txn *copy, str where, bint consumed=True):
    """The InvalidRecordError for a record that failed vx_txn_validate (its message is
    Transaction.from_bytes's, which names the field and the value)."""
    raw = (<const char *>copy)[:sizeof(vx_txn)]
    try:
        Transaction.from_bytes(raw)
    except ValueError as exc:
        why = str(exc)
    else:  # pragma: no cover - vx_txn_validate and from_bytes apply the same check
        why = "invalid transaction"
    taken = "it was taken off the ring; " if consumed else ""
    return InvalidRecordError(
        f"TxnRing.{where}: the popped record is not a valid Transaction: {why} ({taken}its 32 "
        "bytes are in this exception's .record)", raw)


@cython.final
cdef class TxnRing(SpscRing):
    """TxnRing(capacity=4096)

    An SpscRing of ``TXN_DTYPE`` records for per-item Python code: ``try_pop()`` and
    ``pop()`` return a ``velox.Transaction`` (or None when empty), ``try_push(txn)`` takes a
    Transaction with one type check. Everything else is SpscRing's: ``push``, the batch
    methods ``push_many``/``pop_many`` (NumPy arrays, the fast way to move many records),
    the counters, the same SPSC contract (one producer thread, one consumer thread).

    try_push also accepts what SpscRing.try_push accepts (a TXN_DTYPE NumPy record, 32
    bytes): those bytes are not checked on the way in, so every pop validates side and kind
    before building the Transaction and raises ``InvalidRecordError`` (a ValueError; the
    record is consumed and its bytes attached) instead of returning an invalid one.
    """

    def __cinit__(self, *args, **kwargs):
        # SpscRing.__cinit__ has already run with the same arguments (and checked them).
        if self._record_kind != 1:  # KIND_TXN in _ring.pyx
            raise ValueError(f"TxnRing holds TXN_DTYPE records, got dtype {self.dtype!r}; use "
                             "SpscRing for other dtypes")

    def __repr__(self):
        if self.ring == NULL:
            return "TxnRing(closed)"
        return f"TxnRing(capacity={self._capacity}, len={len(self)})"

    @cython.always_allow_keywords(False)
    def try_push(self, item):
        """try_push(item) -> bool

        Copy one Transaction in. Returns True, or False when the ring is full (counted in
        rejected_full). Never blocks. Other items (a TXN_DTYPE NumPy record, 32 bytes) take
        SpscRing's generic path."""
        if type(item) is not _txn_type:
            return SpscRing.try_push(self, item)
        self._live("try_push")
        self._side(True, "try_push")
        return _try_push_data(self, &(<Transaction>item).c)

    def push(self, item, timeout=None):
        """push(item, timeout=None) -> None

        Copy one record in, waiting (GIL released) while the ring is full: SpscRing.push,
        with one attempt on the fast path first when item is a Transaction."""
        cdef vx_ring_backoff backoff
        cdef vx_status st
        if type(item) is _txn_type:
            self._live("push")
            self._side(True, "push")
            backoff.step = 0
            # deadline 0: one attempt that, unlike try_push, does not count a full ring as a
            # rejection (as SpscRing.push)
            st = vx_ring_push_wait(self.ring, &(<Transaction>item).c, 0, &backoff)
            if st == VX_OK:
                return None
            if st != VX_TIMEOUT:
                _raise_status(st, "push")
        return SpscRing.push(self, item, timeout)

    @cython.always_allow_keywords(False)
    def try_pop(self):
        """try_pop() -> Transaction | None

        Take the oldest record as a Transaction, or None if the ring is empty. Never blocks.
        An invalid record (side or kind out of range) is taken off the ring and raises
        InvalidRecordError (a ValueError) carrying its bytes."""
        return self._take("try_pop")

    def pop(self, timeout=None):
        """pop(timeout=None) -> Transaction

        Take the oldest record as a Transaction, waiting (GIL released; spin, then yield,
        then sleep) while the ring is empty: SpscRing.pop's contract (TimeoutError after
        timeout seconds, None: forever; signal handlers run). Invalid records raise
        InvalidRecordError as in try_pop."""
        item = self._take("pop")
        if item is not None:
            return item
        return SpscRing.pop(self, timeout)  # waits; converts through _scalar_from

    cdef inline object _take(self, str where):
        """The oldest record as a validated Transaction, or None if the ring is empty."""
        self._live(where)
        self._side(False, where)
        cdef vx_ring_span span
        cdef vx_status st = vx_ring_peek(self.ring, 1, &span)
        if st != VX_OK:
            if st == VX_EMPTY:
                return None
            _raise_status(st, where)
        cdef PyObject *obj = vx_py_new_plain(<PyObject *>_txn_type, <PyObject *>_empty_tuple)
        if obj == NULL:
            vx_ring_release(self.ring, 0)  # keep the record; drop the debug guard
            raise MemoryError()
        cdef Transaction t = <Transaction>obj
        Py_DECREF(t)  # t holds the reference tp_new returned
        # Validate the private copy, not the slot: in a shared segment another process could
        # change the slot between a check and a copy.
        memcpy(&t.c, span.first, sizeof(vx_txn))
        vx_ring_release(self.ring, 1)
        if vx_txn_validate(&t.c) != VX_FIELD_NONE:
            raise _invalid(&t.c, where)
        t.c.pad[0] = 0  # padding is zero on output (records compare bytewise)
        t.c.pad[1] = 0
        return t

    cdef object _scalar_from(self, const void *data):
        # SpscRing.pop's waiting path copies the record to the consumer scratch buffer (the
        # record is consumed) and converts it here. SpscRing.try_pop(ring), called unbound,
        # converts here too but keeps a record whose conversion raised: the message does not
        # claim either.
        cdef vx_txn copy
        memcpy(&copy, data, sizeof(vx_txn))
        if vx_txn_validate(&copy) != VX_FIELD_NONE:
            raise _invalid(&copy, "pop", False)
        cdef Transaction t = Transaction.__new__(Transaction)
        memcpy(&t.c, &copy, sizeof(vx_txn))
        t.c.pad[0] = 0
        t.c.pad[1] = 0
        return t
