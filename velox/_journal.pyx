# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/journal.c csrc/velox/crc32c.c csrc/velox/types.c
"""Journal: an append-only, memory-mapped journal of fixed-size records (any NumPy dtype) in a
directory of segment files; one writer, any number of readers in any process that tail it live
or replay it from any sequence number or time. Thin wrapper over ``csrc/velox/journal.h``
(see docs/journal.md).

Each object is used by one thread at a time: a second thread entering the same object while a
call is running gets RuntimeError (a guard word in the C handle), so free-threaded builds are
safe; close() refuses while a call is running."""

import ast
import os

import numpy as np
from numpy.lib.format import descr_to_dtype, dtype_to_descr

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport ENOENT
from libc.stdint cimport int64_t, uint32_t, uint64_t

cimport numpy as cnp

from velox._wait cimport WAIT_SLICE_NS
from velox.includes.crc32c cimport vx_crc32c, vx_crc32c_impl, vx_crc32c_impl_name
from velox.includes.journal cimport *
from velox.includes.types cimport (VX_EINVAL, VX_ERANGE, VX_ESTATE, VX_ESYS, VX_OK, VX_TIMEOUT,
                                   vx_status)

cnp.import_array()

HEADER_SIZE = VX_JOURNAL_HEADER_SIZE
DTYPE_MAX = VX_JOURNAL_DTYPE_MAX - 1
MAX_RECORD = VX_JOURNAL_MAX_RECORD
DEFAULT_SEGMENT_BYTES = 64 << 20
# Blocking waits re-take the GIL this often to run signal handlers.
SIGNAL_CHECK_NS = WAIT_SLICE_NS
# Copies of at least this many bytes release the GIL.
NOGIL_COPY_BYTES = 64 * 1024


class JournalCorrupted(ValueError):
    """A journal file failed validation (bad header, checksum, shape or sequence)."""


LAYOUT_VERSION = VX_JOURNAL_VERSION


def checksum(data) -> int:
    """The CRC32C (Castagnoli, the standard CRC-32C: ``checksum(b"123456789") == 0xE3069283``)
    of the bytes of ``data``, as the journal computes it: a record's commit word holds it in its
    high 32 bits, a segment's ``header_check`` is it of the header with that field zero. For
    tests and tools that craft segment files (docs/journal.md, "Checksums")."""
    cdef Py_buffer view
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return vx_crc32c(0, view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)


def checksum_implementation() -> str:
    """Which CRC32C code this process runs: ``"sse4.2"`` or ``"armv8-crc"`` (the CPU's
    instructions) or ``"portable"`` (tables; also when the environment variable
    ``VELOX_NO_HW_CRC`` is set, e.g. to 1, before the first checksum). All give the same
    values."""
    return vx_crc32c_impl_name(vx_crc32c_impl()).decode()


cdef object _fault_error(vx_status st, vx_journal_fault fault, int err, str where, object path,
                         uint32_t version=0):
    msg = f"{where}: {path!s}: {vx_journal_fault_name(fault).decode()}"
    if fault == VX_JOURNAL_FAULT_VERSION:
        msg += (f": a segment has layout version {version}; this velox reads and writes version "
                f"{VX_JOURNAL_VERSION} only (docs/journal.md, \"Versions\")")
    if st == VX_ESYS:
        return OSError(err, f"{msg}: {os.strerror(err)}", os.fspath(path))
    if fault == VX_JOURNAL_FAULT_LOCKED or fault == VX_JOURNAL_FAULT_EXISTS or fault == VX_JOURNAL_FAULT_EMPTY:
        return FileExistsError(msg) if fault != VX_JOURNAL_FAULT_EMPTY else FileNotFoundError(msg)
    if fault == VX_JOURNAL_FAULT_ARGUMENT:
        return ValueError(msg)
    return JournalCorrupted(msg)


cdef object _dtype_from_text(const char *text, uint32_t n, object path):
    try:
        return descr_to_dtype(ast.literal_eval(text[:n].decode("ascii")))
    except Exception as exc:
        raise JournalCorrupted(f"{path!s}: the journal's dtype text is not a NumPy dtype: "
                               f"{text[:n]!r}") from exc


cdef object _ts_name(object dtype, uint32_t kind, uint32_t offset):
    if kind == VX_JOURNAL_TS_NONE or dtype.names is None:
        return None
    for name in dtype.names:
        f = dtype.fields[name]
        if f[1] == offset and f[0] in (np.dtype(np.int64), np.dtype(np.uint64)):
            return name
    return None


cdef object _check_dir(object path, str where):
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{where}: path must be str or os.PathLike, got {path!r}")
    p = os.fspath(path)
    if not isinstance(p, str) or not p or "\0" in p:
        raise ValueError(f"{where}: bad path {path!r}")
    return p


cdef inline int _wenter(vx_journal_writer *w, str where) except -1:
    if not vx_journal_writer_enter(w):
        raise RuntimeError(f"{where}: another thread is using this object")
    return 0


cdef inline int _renter(vx_journal_reader *r, str where) except -1:
    if not vx_journal_reader_enter(r):
        raise RuntimeError(f"{where}: another thread is using this object")
    return 0


cdef class Journal:
    """The writer of a journal. ``Journal.create(dir, dtype, ...)`` starts one,
    ``Journal.open(dir)`` appends to an existing one (recovering a crash: a torn or corrupt
    last record is cut, counted in ``cut``). One writer per journal (an flock on
    ``dir/.lock``: a second writer gets FileExistsError)."""

    def __cinit__(self):
        self._open = False

    def __init__(self):
        raise TypeError("use Journal.create(dir, dtype, ...) or Journal.open(dir)")

    @staticmethod
    def create(path, dtype, segment_bytes=DEFAULT_SEGMENT_BYTES, ts_field=None):
        """create(path, dtype, segment_bytes=64 MiB, ts_field=None) -> Journal

        Makes the directory if needed (it must hold no journal) and the first segment.
        ``dtype``: any NumPy dtype without Python objects, at most MAX_RECORD bytes.
        ``segment_bytes``: size of each segment file (header + slots of 8 + itemsize rounded
        up to 8 bytes). ``ts_field``: name of an int64 or uint64 field holding the record's
        time; appends then refuse a time below the previous one, and readers can
        ``seek_time``."""
        p = _check_dir(path, "Journal.create")
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"Journal.create: not a NumPy dtype: {dtype!r}") from exc
        if dt.hasobject or dt.itemsize == 0 or dt.itemsize > MAX_RECORD:
            raise ValueError(f"Journal.create: dtype {dt!r} must hold no objects and be 1.."
                             f"{MAX_RECORD} bytes")
        if isinstance(segment_bytes, bool) or not hasattr(type(segment_bytes), "__index__"):
            raise TypeError(f"Journal.create: segment_bytes must be an int, got {segment_bytes!r}")
        segment_bytes = segment_bytes.__index__()
        slot = 8 + ((dt.itemsize + 7) & ~7)
        if segment_bytes < HEADER_SIZE + slot or segment_bytes > VX_JOURNAL_MAX_FILE:
            raise ValueError(f"Journal.create: segment_bytes={segment_bytes} must be "
                             f"{HEADER_SIZE + slot}..{VX_JOURNAL_MAX_FILE} for dtype {dt}")
        text = repr(dtype_to_descr(dt)).encode("ascii")
        if len(text) > DTYPE_MAX:
            raise ValueError(f"Journal.create: dtype description is {len(text)} characters, "
                             f"more than {DTYPE_MAX}: {dt!r}")
        cdef uint32_t ts_offset = 0, ts_kind = VX_JOURNAL_TS_NONE
        if ts_field is not None:
            if not isinstance(ts_field, str):
                raise TypeError(f"Journal.create: ts_field must be a str, got {ts_field!r}")
            if dt.names is None or ts_field not in dt.names:
                raise ValueError(f"Journal.create: ts_field {ts_field!r} is not a field of {dt}")
            fdt, off = dt.fields[ts_field][:2]
            if fdt == np.dtype(np.int64):
                ts_kind = VX_JOURNAL_TS_I64
            elif fdt == np.dtype(np.uint64):
                ts_kind = VX_JOURNAL_TS_U64
            else:
                raise ValueError(f"Journal.create: ts_field {ts_field!r} has dtype {fdt}; "
                                 "it must be native int64 or uint64")
            ts_offset = off
        os.makedirs(p, exist_ok=True)
        cdef Journal j = Journal.__new__(Journal)
        bp = os.fsencode(p)
        cdef vx_status st = vx_journal_create(&j.w, bp, <uint32_t>dt.itemsize, segment_bytes,
                                              text, len(text), ts_offset, ts_kind)
        if st != VX_OK:
            raise _fault_error(st, j.w.fault, j.w.sys_errno, "Journal.create", p,
                               j.w.fault_version)
        j._open = True
        j.path = p
        j.dtype = dt
        j.ts_field = ts_field
        return j

    @staticmethod
    def open(path):
        """open(path) -> Journal: append to an existing journal. Validates every segment header
        and recovers the end (``cut`` = records cut from a torn or corrupt tail)."""
        p = _check_dir(path, "Journal.open")
        cdef Journal j = Journal.__new__(Journal)
        bp = os.fsencode(p)
        cdef vx_status st = vx_journal_open(&j.w, bp)
        if st != VX_OK:
            raise _fault_error(st, j.w.fault, j.w.sys_errno, "Journal.open", p,
                               j.w.fault_version)
        j._open = True
        j.path = p
        try:
            j.dtype = _dtype_from_text(j.w.shape.dtype, j.w.shape.dtype_len, p)
            if j.dtype.itemsize != j.w.shape.record_size:
                raise JournalCorrupted(f"{p}: dtype {j.dtype} is not {j.w.shape.record_size} bytes")
        except BaseException:
            j.close()
            raise
        j.ts_field = _ts_name(j.dtype, j.w.shape.ts_kind, j.w.shape.ts_offset)
        return j

    @staticmethod
    def reader(path, start="start"):
        """reader(path, start="start") -> JournalReader positioned at ``start``: "start" (the
        first record), "end" (after the last committed one: only new records), or a sequence
        number (int)."""
        return JournalReader(path, start)

    cdef int _live(self, str where) except -1:
        if not self._open:
            raise ValueError(f"Journal.{where}: the journal is closed")
        return 0

    def append(self, record):
        """append(record) -> int: appends one record (a NumPy scalar or 0-d/1-element array of
        the journal's dtype, a tuple for a structured dtype, or exactly itemsize bytes) and
        returns its sequence number."""
        self._live("append")
        cdef Py_buffer view
        cdef cnp.ndarray arr
        if isinstance(record, (bytes, bytearray, memoryview)):
            PyObject_GetBuffer(record, &view, PyBUF_SIMPLE)
            try:
                if view.len != self.w.shape.record_size:
                    raise ValueError(f"Journal.append: {view.len} bytes, a record is "
                                     f"{self.w.shape.record_size}")
                return self._append(view.buf, 1, "append", None)
            finally:
                PyBuffer_Release(&view)
        if isinstance(record, tuple) and self.dtype.names is not None:
            arr = np.array([record], dtype=self.dtype)
        elif isinstance(record, (np.generic, np.ndarray)) and record.dtype == self.dtype and record.size == 1:
            arr = np.ascontiguousarray(record)
        else:
            raise TypeError(f"Journal.append: needs a record of dtype {self.dtype} (NumPy scalar, "
                            f"1-element array, tuple or {self.w.shape.record_size} bytes), got "
                            f"{record!r}")
        return self._append(cnp.PyArray_DATA(arr), 1, "append", arr)

    def append_many(self, array):
        """append_many(array) -> int: appends every record of a 1-D C-contiguous array of the
        journal's dtype (all or none: a time below its predecessor's rejects the whole batch
        with ValueError naming the index) and returns the first one's sequence number. The GIL
        is released for large batches."""
        self._live("append_many")
        if not isinstance(array, np.ndarray):
            raise TypeError(f"Journal.append_many: needs a NumPy array, got {type(array).__name__}")
        if array.dtype != self.dtype:
            raise TypeError(f"Journal.append_many: array dtype {array.dtype} is not the journal's "
                            f"{self.dtype}")
        if array.ndim != 1 or not array.flags.c_contiguous:
            raise ValueError(f"Journal.append_many: needs a 1-D C-contiguous array, got shape "
                             f"{array.shape}")
        cdef cnp.ndarray arr = array
        return self._append(cnp.PyArray_DATA(arr), cnp.PyArray_DIM(arr, 0), "append_many", arr)

    cdef object _append(self, const void *src, uint64_t n, str where, object keep):
        cdef uint64_t bad = 0, first
        cdef vx_status st
        _wenter(&self.w, f"Journal.{where}")
        try:
            first = self.w.next_seq
            if n * self.w.shape.record_size >= NOGIL_COPY_BYTES:
                with nogil:
                    st = vx_journal_append(&self.w, src, n, &bad)
            else:
                st = vx_journal_append(&self.w, src, n, &bad)
        finally:
            vx_journal_writer_leave(&self.w)
        if st == VX_ERANGE:
            rec = np.frombuffer((<const char *>src)[bad * self.w.shape.record_size:
                                                   (bad + 1) * self.w.shape.record_size],
                                dtype=self.dtype)[0]
            raise ValueError(f"Journal.{where}: record {bad} of the batch has {self.ts_field}="
                             f"{rec[self.ts_field]!r}, below the previous record's time "
                             "(times must not decrease); nothing was appended")
        if st != VX_OK:
            raise _fault_error(st, self.w.fault, self.w.sys_errno, f"Journal.{where}", self.path,
                               self.w.fault_version)
        return first

    def sync(self):
        """sync(): msync the current segment (survives a machine crash; readers never need it)."""
        self._live("sync")
        _wenter(&self.w, "Journal.sync")
        try:
            with nogil:
                st = vx_journal_sync(&self.w)
        finally:
            vx_journal_writer_leave(&self.w)
        if st != VX_OK:
            raise _fault_error(st, self.w.fault, self.w.sys_errno, "Journal.sync", self.path,
                               self.w.fault_version)

    def close(self):
        """close(): unmaps and releases the writer lock. Idempotent."""
        if not self._open:
            return
        _wenter(&self.w, "Journal.close")
        vx_journal_close(&self.w)
        self._open = False
        vx_journal_writer_leave(&self.w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        if self._open:
            vx_journal_close(&self.w)

    @property
    def next_seq(self):
        """Sequence number the next append gets (= records in the journal, from 0)."""
        return self.w.next_seq

    @property
    def cut(self):
        """Committed records cut from the tail by open() (a corrupt tail); a torn, uncommitted
        last record is cut too but never counted (it was never a record)."""
        return self.w.cut

    @property
    def segment_capacity(self):
        """Records per segment file."""
        return self.w.shape.capacity

    @property
    def closed(self):
        return not self._open

    def __repr__(self):
        state = "closed" if not self._open else f"next_seq={self.w.next_seq}"
        return f"<Journal {self.path!r} dtype={self.dtype} {state}>"


cdef class JournalReader:
    """A cursor over a journal (any process, any number of them). ``read_many(out)`` copies
    committed records in sequence order into a preallocated array; ``wait``/``timeout`` follow
    a journal that is being written. Corrupt records are skipped and counted (``skipped``),
    never returned."""

    def __cinit__(self):
        self._open = False

    def __init__(self, path, start="start"):
        p = _check_dir(path, "JournalReader")
        bp = os.fsencode(p)
        cdef vx_status st = vx_journal_reader_open(&self.r, bp)
        if st != VX_OK:
            raise _fault_error(st, self.r.fault, self.r.sys_errno, "JournalReader", p,
                               self.r.fault_version)
        self._open = True
        self.path = p
        self.dtype = _dtype_from_text(self.r.shape.dtype, self.r.shape.dtype_len, p)
        if self.dtype.itemsize != self.r.shape.record_size:
            self.close()
            raise JournalCorrupted(f"{p}: dtype {self.dtype} is not {self.r.shape.record_size} bytes")
        self.ts_field = _ts_name(self.dtype, self.r.shape.ts_kind, self.r.shape.ts_offset)
        if isinstance(start, str) and start == "start":
            pass
        elif isinstance(start, str) and start == "end":
            self.to_end()
        elif not isinstance(start, bool) and hasattr(type(start), "__index__"):
            self.seek(start)
        else:
            self.close()
            raise ValueError(f"JournalReader: start must be 'start', 'end' or a sequence number, "
                             f"got {start!r}")

    cdef int _live(self, str where) except -1:
        if not self._open:
            raise ValueError(f"JournalReader.{where}: the reader is closed")
        return 0

    cdef int _check(self, vx_status st, str where) except -1:
        if st != VX_OK:
            raise _fault_error(st, self.r.fault, self.r.sys_errno, f"JournalReader.{where}",
                               self.path, self.r.fault_version)
        return 0

    def to_start(self):
        """to_start(): position at the first record of the journal."""
        self._live("to_start")
        _renter(&self.r, "JournalReader.to_start")
        try:
            st = vx_journal_reader_to_start(&self.r)
        finally:
            vx_journal_reader_leave(&self.r)
        self._check(st, "to_start")

    def to_end(self):
        """to_end(): position after the last committed record (only new records follow)."""
        self._live("to_end")
        _renter(&self.r, "JournalReader.to_end")
        try:
            st = vx_journal_reader_to_end(&self.r)
        finally:
            vx_journal_reader_leave(&self.r)
        self._check(st, "to_end")

    def seek(self, seq):
        """seek(seq): position at sequence number seq (O(1): its segment is seq // capacity).
        A sequence not yet written is allowed (reads wait there); one before the journal's
        first record is ValueError."""
        self._live("seek")
        if isinstance(seq, bool) or not hasattr(type(seq), "__index__"):
            raise TypeError(f"JournalReader.seek: seq must be an int, got {seq!r}")
        s = seq.__index__()
        if s < self.r.first_seq or s >= 2**63:
            raise ValueError(f"JournalReader.seek: seq {s} is outside {self.r.first_seq}..2**63-1")
        _renter(&self.r, "JournalReader.seek")
        try:
            st = vx_journal_reader_seek(&self.r, s)
        finally:
            vx_journal_reader_leave(&self.r)
        self._check(st, "seek")

    def seek_time(self, ts):
        """seek_time(ts): position at the first record whose time field is >= ts (binary search;
        after the last record if none). ValueError if the journal has no time field."""
        self._live("seek_time")
        if self.ts_field is None:
            raise ValueError(f"JournalReader.seek_time: the journal {self.path!r} has no time field")
        if isinstance(ts, bool) or not hasattr(type(ts), "__index__"):
            raise TypeError(f"JournalReader.seek_time: ts must be an int, got {ts!r}")
        t = ts.__index__()
        kind = self.r.shape.ts_kind
        lo, hi = (-(2**63), 2**63 - 1) if kind == VX_JOURNAL_TS_I64 else (0, 2**64 - 1)
        if t < lo or t > hi:
            raise ValueError(f"JournalReader.seek_time: ts {t} is outside the field's range")
        cdef int64_t raw = <int64_t>(t if t < 2**63 else t - 2**64)
        _renter(&self.r, "JournalReader.seek_time")
        try:
            st = vx_journal_reader_seek_time(&self.r, raw)
        finally:
            vx_journal_reader_leave(&self.r)
        self._check(st, "seek_time")

    def wait(self, timeout=None):
        """wait(timeout=None) -> bool: True once a record is readable at the position, False
        at the timeout (seconds; None waits forever). The GIL is released; signal handlers run
        every few milliseconds."""
        self._live("wait")
        cdef uint64_t deadline = _deadline(timeout, "wait")
        return self._wait(deadline)

    cdef bint _wait(self, uint64_t deadline) except -1:
        cdef vx_status st
        cdef uint64_t now, slice_ns
        import time
        while True:  # bounded by the deadline
            now = time.monotonic_ns()
            if now >= deadline and deadline != 0:
                slice_ns = 0
            else:
                slice_ns = WAIT_SLICE_NS if deadline == <uint64_t>-1 or deadline - now > WAIT_SLICE_NS \
                    else deadline - now
            _renter(&self.r, "JournalReader.wait")
            try:
                with nogil:
                    st = vx_journal_reader_wait(&self.r, slice_ns)
            finally:
                vx_journal_reader_leave(&self.r)
            if st == VX_OK:
                return True
            if st != VX_TIMEOUT:
                self._check(st, "wait")
            if slice_ns == 0 or time.monotonic_ns() >= deadline:
                return False
            PyErr_CheckSignals()
            self._live("wait")

    def read_many(self, out, timeout=0.0):
        """read_many(out, timeout=0.0) -> int: copies up to len(out) committed records from the
        position into ``out`` (1-D C-contiguous writable array of the journal's dtype) from its
        start and returns how many. With ``timeout`` > 0 (seconds; None = forever) it first
        waits until at least one record is readable (0 returned at the timeout). The copy runs
        without the GIL, so a source thread can drive it."""
        self._live("read_many")
        if not isinstance(out, np.ndarray):
            raise TypeError(f"JournalReader.read_many: out must be a NumPy array, got "
                            f"{type(out).__name__}")
        if out.dtype != self.dtype:
            raise TypeError(f"JournalReader.read_many: out dtype {out.dtype} is not the journal's "
                            f"{self.dtype}")
        if out.ndim != 1 or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError(f"JournalReader.read_many: out must be 1-D, C-contiguous and "
                             f"writable, got shape {out.shape}")
        cdef uint64_t deadline = 0
        if timeout is None or timeout != 0:
            deadline = _deadline(timeout, "read_many")
        cdef cnp.ndarray arr = out
        cdef void *dst = cnp.PyArray_DATA(arr)
        cdef uint64_t n = cnp.PyArray_DIM(arr, 0), got = 0
        cdef vx_status st
        if n == 0:
            return 0
        while True:  # at most twice: read, and after a successful wait read again
            _renter(&self.r, "JournalReader.read_many")
            try:
                with nogil:
                    st = vx_journal_reader_read(&self.r, dst, n, &got)
            finally:
                vx_journal_reader_leave(&self.r)
            self._check(st, "read_many")
            if got or deadline == 0:
                return got
            if not self._wait(deadline):
                return 0
            deadline = 0

    def read(self, n, timeout=0.0):
        """read(n, timeout=0.0) -> ndarray: up to n records (a new array; see read_many)."""
        if isinstance(n, bool) or not hasattr(type(n), "__index__") or n.__index__() < 0:
            raise ValueError(f"JournalReader.read: n must be an int >= 0, got {n!r}")
        out = np.zeros(n.__index__(), dtype=self.dtype)
        got = self.read_many(out, timeout)
        return out[:got]

    def close(self):
        """close(): unmaps. Idempotent."""
        if not self._open:
            return
        _renter(&self.r, "JournalReader.close")
        vx_journal_reader_close(&self.r)
        self._open = False
        vx_journal_reader_leave(&self.r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        if self._open:
            vx_journal_reader_close(&self.r)

    def __iter__(self):
        """Iterates over the records committed now (in chunks), then stops."""
        while True:
            out = np.zeros(4096, dtype=self.dtype)  # fresh: yielded records are views of it
            got = self.read_many(out)
            if got == 0:
                return
            yield from out[:got]

    @property
    def position(self):
        """Sequence number of the next record to read."""
        return self.r.pos

    @property
    def skipped(self):
        """Corrupt or lost records stepped over (never returned as data)."""
        return self.r.skipped

    @property
    def segment_capacity(self):
        """Records per segment file."""
        return self.r.shape.capacity

    @property
    def closed(self):
        return not self._open

    def __repr__(self):
        state = "closed" if not self._open else f"position={self.r.pos}"
        return f"<JournalReader {self.path!r} dtype={self.dtype} {state}>"


cdef uint64_t _deadline(object timeout, str where) except? 0:
    """Absolute time.monotonic_ns() deadline; 2**64-1 for None."""
    import time
    if timeout is None:
        return <uint64_t>-1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout != timeout \
            or timeout < 0:
        raise ValueError(f"JournalReader.{where}: timeout must be seconds >= 0 or None, got "
                         f"{timeout!r}")
    if timeout > 1e9:
        return <uint64_t>-1
    return <uint64_t>(time.monotonic_ns() + int(timeout * 1e9)) | 1
