# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/dbn.c csrc/velox/types.c
"""Native Databento DBN MBO record decoder. Thin wrapper over ``csrc/velox/dbn.h``; the
user-facing API is ``velox.feeds.read_dbn`` (docs/feeds.md, "Databento DBN").

No per-record Python objects: ``DbnParser.parse`` writes ``MBO_DTYPE`` events straight from
the record bytes (any buffer) with the GIL released. A parser is one stream's state: use it
from one thread at a time (a lock guards it).
"""

from libc.stdint cimport uint8_t, uint64_t, uintptr_t

cimport numpy as cnp
import numpy as np

from velox.includes.dbn cimport *
from velox.includes.types cimport VX_OK, vx_mbo, vx_status

from velox._records import MBO_DTYPE

_MBO_DESCR = np.dtype(MBO_DTYPE)  # the descr numpy gives arrays of MBO_DTYPE (identity fast path)

cnp.import_array()

import threading

MBO_RTYPE = VX_DBN_RTYPE_MBO
MBO_RECORD_LEN = VX_DBN_MBO_LEN


cdef class DbnParser:
    """One DBN record stream's decoder state (counts, byte offset).

    ``parse(buf, out)`` decodes whole records of ``buf`` into ``out`` (an MBO_DTYPE array) and
    returns ``(consumed, produced)``: it stops at an incomplete final record or when ``out`` is
    full, so feed it the rest (from ``consumed``) next time. A malformed record raises
    ValueError naming its absolute byte offset (its ``consumed`` and ``produced`` attributes
    describe the records before it, whose events are in ``out``). ``ts_event=True``: events carry ts_event
    instead of ts_recv. ``offset`` (settable once, before parsing): the stream offset of the
    first record, so errors name file offsets.
    """
    def __cinit__(self, bint ts_event=False):
        self.p = NULL
        if vx_dbn_parser_create(ts_event, &self.p) != VX_OK:
            raise MemoryError("DbnParser: out of memory")
        self.ts_event = ts_event
        self._lock = threading.Lock()

    def __dealloc__(self):
        if self.p != NULL:
            vx_dbn_parser_destroy(self.p)
            self.p = NULL

    def parse(self, const uint8_t[::1] buf, out):
        """Decode whole records of ``buf`` into ``out``; returns ``(consumed, produced)``."""
        # C-level checks (this runs once per chunk: Python attribute lookups here cost as much
        # as decoding a few dozen records)
        if not cnp.PyArray_Check(out):
            raise TypeError(f"out must be a numpy array of MBO_DTYPE, got {type(out).__name__}")
        cdef cnp.ndarray arr = <cnp.ndarray>out
        if <object>cnp.PyArray_DESCR(arr) is not _MBO_DESCR and out.dtype != MBO_DTYPE:
            raise TypeError(f"out must have dtype MBO_DTYPE, got {out.dtype}")
        if (cnp.PyArray_NDIM(arr) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(arr)
                or not cnp.PyArray_ISWRITEABLE(arr)):
            raise ValueError("out must be a writeable 1-d C-contiguous array")
        cdef size_t cap = <size_t>cnp.PyArray_DIM(arr, 0)
        cdef vx_mbo *ev = <vx_mbo *>cnp.PyArray_DATA(arr)
        if cap and (<uintptr_t>ev) & 7:
            raise ValueError("out must be 8-byte aligned (write into an MBO_DTYPE array numpy "
                             "allocated)")
        cdef size_t n = buf.shape[0]
        cdef size_t consumed = 0, produced = 0
        cdef vx_status st
        cdef const uint8_t *data = &buf[0] if n else <const uint8_t *>b""
        with self._lock:
            with nogil:
                st = vx_dbn_parse(self.p, data, n, ev, cap, &consumed, &produced)
            if st != VX_OK:
                exc = ValueError(
                    f"DBN: {vx_dbn_error(self.p).decode()} at byte offset "
                    f"{vx_dbn_error_offset(self.p)} (rtype {vx_dbn_error_rtype(self.p):#04x}, "
                    f"{produced} events written before it)")
                exc.consumed = consumed  # the records before the bad one, decoded into out
                exc.produced = produced
                raise exc
        return consumed, produced

    @property
    def offset(self):
        """Absolute stream offset of the next record."""
        return vx_dbn_offset(self.p)

    @offset.setter
    def offset(self, value):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 64:
            raise ValueError(f"offset must be an int in [0, 2**64), got {value!r}")
        with self._lock:
            if vx_dbn_counts_get(self.p).records or vx_dbn_offset(self.p):
                raise ValueError("offset can be set only before the first record")
            vx_dbn_set_offset(self.p, value)

    @property
    def counts(self):
        """Dict: records, events, skipped (other rtypes), none (N records), snapshot,
        bad_ts_recv, maybe_bad_book, by_action ({action char: count}), by_rtype
        ({rtype: count})."""
        cdef const vx_dbn_counts *c = vx_dbn_counts_get(self.p)
        return {"records": c.records, "events": c.events, "skipped": c.skipped,
                "none": c.none, "snapshot": c.snapshot, "bad_ts_recv": c.bad_ts_recv,
                "maybe_bad_book": c.maybe_bad_book,
                "by_action": {chr(a): c.by_action[a] for a in range(256) if c.by_action[a]},
                "by_rtype": {t: c.by_rtype[t] for t in range(256) if c.by_rtype[t]}}
