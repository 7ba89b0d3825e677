# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/broadcast.c csrc/velox/shm.c csrc/velox/shm_segment.c csrc/velox/ring.c csrc/velox/tsc.c csrc/velox/types.c
"""BroadcastRing: one writer, any number of readers, each with its own cursor, of fixed-size
NumPy records, in process or in POSIX shared memory. Thin wrapper over
``csrc/velox/broadcast.h`` (see docs/fanout.md).

A BroadcastReader is used by one thread at a time; the writer side (write / write_many) by
one thread at a time in the creating process. close() refuses while another thread is inside
a GIL-free section of the ring or of one of its readers."""

import ast
import os
import weakref

import numpy as np
from numpy.lib.format import descr_to_dtype, dtype_to_descr

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.number cimport PyNumber_Index
from libc.errno cimport EEXIST, ENOENT
from libc.math cimport isfinite
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport memcpy
from posix.types cimport pid_t
from posix.unistd cimport getpid

cimport numpy as cnp

from velox._checks cimport check_capacity, check_record_dtype
from velox._wait cimport WAIT_SLICE_NS, deadline_ns, slice_end_ns, wait_expired
from velox.includes.broadcast cimport *
from velox.includes.shm cimport (VX_SHM_DTYPE_MAX, VX_SHM_NAME_MAX, vx_shm_identity,
                                 vx_shm_name_valid, vx_shm_unlink)
from velox.includes.tsc cimport vx_monotonic_ns
from velox.includes.types cimport (VX_ECORRUPT, VX_EMPTY, VX_ESYS, VX_FULL, VX_OK, VX_TIMEOUT,
                                   vx_status, vx_status_name)

from velox._records import TXN_DTYPE
from velox._ring import RingCorrupted

cnp.import_array()

cdef extern from "<stdlib.h>" nogil:
    void *aligned_alloc(size_t alignment, size_t size)

cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define VX_BCAST_PY_FREE_THREADED 1
    #else
    #define VX_BCAST_PY_FREE_THREADED 0
    #endif
    """
    int VX_BCAST_PY_FREE_THREADED

MAX_READERS = VX_BCAST_MAX_READERS
"""Largest reader table of a gated ring."""
LAYOUT_VERSION = VX_BCAST_LAYOUT_VERSION
# Blocking calls re-take the GIL this often to run signal handlers and check the deadline.
SIGNAL_CHECK_NS = WAIT_SLICE_NS
ATTACH_WAIT_S = 1.0
# Copies at least this large release the GIL.
NOGIL_COPY_BYTES = 65536


cdef uint32_t _check_readers(object gated, object max_readers) except? 0:
    if not isinstance(gated, bool):
        raise TypeError(f"gated must be a bool, got {gated!r}")
    if isinstance(max_readers, bool) or not hasattr(type(max_readers), "__index__"):
        raise TypeError(f"max_readers must be an int, got {max_readers!r}")
    n = PyNumber_Index(max_readers)
    if n < 1 or n > VX_BCAST_MAX_READERS:
        raise ValueError(f"max_readers must be in [1, {VX_BCAST_MAX_READERS}], got "
                         f"{max_readers!r}")
    return <uint32_t>n if gated else 0


cdef object _check_dead_timeout(object value):
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"dead_reader_timeout must be seconds or None, got {value!r}") from None
    if not isfinite(seconds) or seconds <= 0:
        raise ValueError(f"dead_reader_timeout must be a finite number of seconds > 0, got "
                         f"{value!r}")
    return seconds


cdef bytes _encode_name(object name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    cdef bytes raw = name.encode("ascii", "replace")
    if b"\0" in raw or not vx_shm_name_valid(raw):
        raise ValueError(f"name must be 1..{VX_SHM_NAME_MAX} characters of [A-Za-z0-9._-] not "
                         f"starting with '.', got {name!r}")
    return raw


cdef bytes _describe(object dtype):
    text = repr(dtype_to_descr(dtype))
    if len(text) > VX_SHM_DTYPE_MAX - 1:
        raise ValueError(f"dtype description must be at most {VX_SHM_DTYPE_MAX - 1} characters, "
                         f"got {len(text)} for {dtype!r}")
    if descr_to_dtype(ast.literal_eval(text)) != dtype:
        raise ValueError(f"dtype {dtype!r} does not survive numpy's descr round trip; use a "
                         "structured dtype instead")
    return text.encode("ascii")


cdef class BroadcastRing:
    """BroadcastRing(capacity=4096, dtype=velox.TXN_DTYPE, *, gated=False, max_readers=16, dead_reader_timeout=5.0)

    One writer, any number of readers (``reader()``), each with its own cursor. ``capacity``
    is a power of two in [2, 2**30]; ``dtype`` any fixed-size NumPy dtype without Python
    objects. Not gated (default): the writer never waits; a reader more than ``capacity``
    records behind is lapped and counts what it lost (``BroadcastReader.lost``). Gated:
    readers register in a table of ``max_readers`` slots and hold the writer back; a reader
    whose process died, or that made no progress for ``dead_reader_timeout`` seconds while
    the writer waited (None: only dead processes), is evicted (``evicted``) and goes on as an
    ungated reader. ``BroadcastRing.create`` / ``attach`` put the ring in shared memory."""

    def __cinit__(self, *args, **kwargs):
        self.ring = NULL
        self.memory = NULL
        self._busy = 0
        self._writer_pid = 0
        self._creator = False
        self._readers = weakref.WeakSet()

    def __init__(self, capacity=4096, dtype=TXN_DTYPE, *, gated=False, max_readers=16,
                 dead_reader_timeout=5.0):
        if self.ring != NULL:
            raise TypeError("BroadcastRing is already initialised")
        cdef uint32_t cap = check_capacity(capacity, VX_BCAST_MIN_CAPACITY, VX_BCAST_MAX_CAPACITY)
        dt = check_record_dtype(dtype, VX_BCAST_MAX_RECORD_SIZE)
        cdef uint32_t readers = _check_readers(gated, max_readers)
        self.dead_reader_timeout = _check_dead_timeout(dead_reader_timeout)
        cdef size_t size = vx_bcast_footprint(cap, <uint32_t>dt.itemsize, readers)
        if size == 0:
            raise ValueError(f"a ring of {capacity} x {dt.itemsize} bytes is too large")
        size = (size + VX_BCAST_LINE - 1) // VX_BCAST_LINE * VX_BCAST_LINE
        self.memory = aligned_alloc(VX_BCAST_LINE, size)
        if self.memory == NULL:
            raise MemoryError(f"cannot allocate a broadcast ring of {size} bytes")
        if vx_bcast_init_in(&self.heap_ring, self.memory, size, cap, <uint32_t>dt.itemsize,
                            readers) != VX_OK:
            raise ValueError("cannot initialise the broadcast ring")
        self.dtype = dt
        self.itemsize = dt.itemsize
        self.ring = &self.heap_ring
        self._writer_pid = getpid()
        self._creator = True

    def __dealloc__(self):
        if self.name is not None and self.shm.header != NULL:
            vx_bcast_shm_detach(&self.shm)
        if self.memory != NULL:
            free(self.memory)
            self.memory = NULL
        self.ring = NULL

    # ---- shared memory ---------------------------------------------------------------------

    @staticmethod
    def create(name=None, capacity=4096, dtype=TXN_DTYPE, *, gated=False, max_readers=16,
               dead_reader_timeout=5.0):
        """create(name=None, capacity=4096, dtype=velox.TXN_DTYPE, *, gated=False, max_readers=16, dead_reader_timeout=5.0) -> BroadcastRing

        Create the POSIX shared-memory segment ``name`` (None: a fresh ``velox-bc-<pid>-<hex>``)
        holding an empty broadcast ring; this process is its writer. FileExistsError if the
        name exists. Other processes read it with ``BroadcastRing.attach(name)`` (or receive
        this object pickled: it attaches by name)."""
        if name is None:
            name = f"velox-bc-{os.getpid()}-{os.urandom(6).hex()}"
        cdef bytes raw = _encode_name(name)
        cdef uint32_t cap = check_capacity(capacity, VX_BCAST_MIN_CAPACITY, VX_BCAST_MAX_CAPACITY)
        dt = check_record_dtype(dtype, VX_BCAST_MAX_RECORD_SIZE)
        cdef uint32_t readers = _check_readers(gated, max_readers)
        timeout = _check_dead_timeout(dead_reader_timeout)
        cdef bytes text = _describe(dt)
        cdef BroadcastRing self = BroadcastRing.__new__(BroadcastRing)
        cdef vx_status st = vx_bcast_shm_create(&self.shm, raw, cap, <uint32_t>dt.itemsize,
                                                readers, text, len(text))
        if st == VX_ESYS and self.shm.sys_errno == EEXIST:
            raise FileExistsError(EEXIST, f"cannot create broadcast ring {name!r}: it exists "
                                  f"(remove it with BroadcastRing.unlink_name({name!r}) once "
                                  "no process uses it)", name)
        if st == VX_ESYS:
            raise OSError(self.shm.sys_errno, f"cannot create broadcast ring {name!r}: "
                          f"{os.strerror(self.shm.sys_errno)}", name)
        if st != VX_OK:
            raise ValueError(f"cannot create broadcast ring {name!r}: "
                             f"{self.shm.fault.decode()}")
        self.dtype = dt
        self.itemsize = dt.itemsize
        self.name = name
        self.dead_reader_timeout = timeout
        self.ring = &self.shm.ring
        self._writer_pid = getpid()
        self._creator = True
        return self

    @staticmethod
    def attach(name, dtype=None, timeout=ATTACH_WAIT_S):
        """attach(name, dtype=None, timeout=1.0) -> BroadcastRing

        Map the segment ``name`` for reading (``reader()``; writes raise), waiting up to
        ``timeout`` seconds for it to appear and be initialised. The dtype is rebuilt from
        the segment; a given ``dtype`` must equal it. FileNotFoundError if there is no such
        segment at the deadline; ValueError if the segment is not a valid broadcast ring
        (every size in its header is checked against the segment's real size)."""
        cdef bytes raw = _encode_name(name)
        want = None if dtype is None else check_record_dtype(dtype, VX_BCAST_MAX_RECORD_SIZE)
        cdef uint64_t deadline = deadline_ns(timeout, "BroadcastRing.attach")
        cdef uint64_t wait = deadline - vx_monotonic_ns() if deadline != <uint64_t>-1 else deadline
        if deadline != <uint64_t>-1 and deadline < vx_monotonic_ns():
            wait = 0
        cdef BroadcastRing self = BroadcastRing.__new__(BroadcastRing)
        cdef uint32_t rs = 0 if want is None else <uint32_t>want.itemsize
        cdef vx_status st
        cdef const char *craw = raw
        with nogil:
            st = vx_bcast_shm_attach(&self.shm, craw, rs, wait)
        if st == VX_ESYS:
            if self.shm.sys_errno == ENOENT:
                raise FileNotFoundError(ENOENT, f"no broadcast ring {name!r}", name)
            raise OSError(self.shm.sys_errno, f"cannot attach broadcast ring {name!r}: "
                          f"{os.strerror(self.shm.sys_errno)}", name)
        if st == VX_TIMEOUT:
            raise TimeoutError(f"broadcast ring {name!r}: {self.shm.fault.decode()}")
        if st != VX_OK:
            raise ValueError(f"cannot attach broadcast ring {name!r}: "
                             f"{self.shm.fault.decode()}")
        self.name = name  # from here on __dealloc__ unmaps
        text = self.shm.dtype[:self.shm.dtype_len].decode("ascii", "replace")
        try:
            # literal_eval, never eval: another process wrote the text
            dt = descr_to_dtype(ast.literal_eval(text))
        except Exception as exc:
            raise ValueError(f"broadcast ring {name!r}: unreadable dtype description "
                             f"{text!r:.80} ({exc})") from None
        if dt.itemsize != self.shm.ring.record_size:
            raise ValueError(f"broadcast ring {name!r}: dtype {dt!r} disagrees with the record "
                             f"size {self.shm.ring.record_size}")
        if want is not None and want != dt:
            raise ValueError(f"broadcast ring {name!r} holds {dt!r}, not {want!r}")
        self.dtype = dt
        self.itemsize = dt.itemsize
        self.dead_reader_timeout = None
        self.ring = &self.shm.ring
        return self

    @staticmethod
    def unlink_name(name):
        """Remove the segment ``name`` (mapped processes keep working). FileNotFoundError if
        it does not exist."""
        cdef bytes raw = _encode_name(name)
        if vx_shm_unlink(raw) != VX_OK:
            raise FileNotFoundError(ENOENT, f"no broadcast ring {name!r}", name)

    def unlink(self):
        """Remove this ring's segment name (shared-memory rings only)."""
        if self.name is None:
            raise ValueError("an in-process BroadcastRing has no segment to unlink")
        BroadcastRing.unlink_name(self.name)

    def __reduce__(self):
        if self.name is None:
            raise TypeError("an in-process BroadcastRing cannot be pickled; use "
                            "BroadcastRing.create(name, ...) to share it between processes")
        return (BroadcastRing.attach, (self.name, None))

    # ---- lifecycle -------------------------------------------------------------------------

    cdef int _live(self, str where) except -1:
        if self.ring == NULL:
            raise ValueError(f"BroadcastRing.{where}: the ring is closed")
        return 0

    @property
    def closed(self):
        return self.ring == NULL

    def close(self):
        """Close the ring and its readers (unmap a shared segment; the name stays). Refuses
        (RuntimeError) while another thread is inside a blocking call of it. Idempotent."""
        if self.ring == NULL:
            return
        if self._busy:
            raise RuntimeError("BroadcastRing.close: another thread is inside a blocking call "
                               "of this ring or one of its readers")
        for r in list(self._readers):
            (<BroadcastReader>r)._detach()
        self.ring = NULL
        if VX_BCAST_PY_FREE_THREADED:
            return  # another thread may be between its closed check and its read: unmap
                    # and free in __dealloc__, when no reader holds this object any more
        if self.name is not None:
            vx_bcast_shm_detach(&self.shm)
        if self.memory != NULL:
            free(self.memory)
            self.memory = NULL

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        name = self.name if self._creator and self._writer_pid == getpid() else None
        self.close()
        if name is not None:
            try:
                BroadcastRing.unlink_name(name)
            except FileNotFoundError:
                pass
        return False

    # ---- observers -------------------------------------------------------------------------

    @property
    def capacity(self):
        self._live("capacity")
        return self.ring.capacity

    @property
    def gated(self):
        self._live("gated")
        return self.ring.max_readers != 0

    @property
    def max_readers(self):
        self._live("max_readers")
        return self.ring.max_readers

    @property
    def written(self):
        """Records written so far (the writer's published head)."""
        self._live("written")
        return vx_bcast_head(self.ring)

    @property
    def evicted(self):
        """Gated: reader slots freed because their reader was dead or stuck."""
        self._live("evicted")
        return vx_bcast_evicted(self.ring)

    @property
    def gate_waits(self):
        """Gated: write calls that found no room because of a registered reader."""
        self._live("gate_waits")
        return vx_bcast_gate_waits(self.ring)

    @property
    def registered(self):
        """Gated: reader slots taken now (all processes)."""
        self._live("registered")
        return vx_bcast_registered(self.ring)

    @property
    def is_writer(self):
        return self.ring != NULL and self._writer_pid == getpid()

    def __repr__(self):
        if self.ring == NULL:
            return f"<BroadcastRing closed name={self.name!r}>"
        return (f"<BroadcastRing capacity={self.ring.capacity} dtype={self.dtype!r} "
                f"written={vx_bcast_head(self.ring)} gated={self.ring.max_readers != 0} "
                f"name={self.name!r}>")

    # ---- writer ----------------------------------------------------------------------------

    cdef int _check_writer(self, str where) except -1:
        self._live(where)
        if self._writer_pid == 0:
            raise RuntimeError(f"BroadcastRing.{where}: this ring was attached for reading; "
                               "only the process that created it writes")
        if self._writer_pid != getpid():
            raise RuntimeError(f"BroadcastRing.{where}: this process (pid {getpid()}) inherited "
                               f"the ring from its writer (pid {self._writer_pid}) by fork; "
                               "only the writer writes")
        return 0

    cdef object _batch(self, object array, str where, bint writable):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"BroadcastRing.{where}: needs a NumPy array of the ring's dtype, "
                            f"got {type(array).__name__}")
        cdef cnp.ndarray arr = <cnp.ndarray>array
        if arr.dtype != self.dtype:
            raise TypeError(f"BroadcastRing.{where}: array dtype {arr.dtype!r} does not match "
                            f"the ring's dtype {self.dtype!r}")
        if arr.ndim != 1:
            raise ValueError(f"BroadcastRing.{where}: needs a 1-D array, got shape "
                             f"{array.shape!r}")
        if not arr.flags.c_contiguous:
            raise ValueError(f"BroadcastRing.{where}: needs a C-contiguous array, got strides "
                             f"{array.strides!r}")
        if writable and not arr.flags.writeable:
            raise ValueError(f"BroadcastRing.{where}: out array is read-only")
        return arr

    def try_write_many(self, array):
        """try_write_many(array) -> int

        Write records from a 1-D C-contiguous array of the ring's dtype, oldest first, without
        waiting. Not gated: all of them (returns len(array)). Gated: as many as the registered
        readers leave room for (0 when none)."""
        self._check_writer("try_write_many")
        cdef cnp.ndarray arr = self._batch(array, "try_write_many", False)
        cdef size_t n = <size_t>arr.shape[0], done = 0
        cdef const char *src = <const char *>cnp.PyArray_DATA(arr)
        if n * <size_t>self.itemsize >= NOGIL_COPY_BYTES:
            self._busy += 1
            with nogil:
                vx_bcast_try_write(self.ring, src, n, &done)
            self._busy -= 1
        else:
            vx_bcast_try_write(self.ring, src, n, &done)
        return done

    def write_many(self, array, timeout=None):
        """write_many(array, timeout=None) -> int

        Write every record of a 1-D C-contiguous array of the ring's dtype. Not gated: never
        waits. Gated: waits (GIL released, signal handlers run) while registered readers hold
        the writer back, evicting dead or stuck ones (``dead_reader_timeout``); if
        ``timeout`` seconds pass first (None: no limit), raises TimeoutError whose
        ``written`` attribute says how many records went. Returns len(array)."""
        self._check_writer("write_many")
        cdef cnp.ndarray arr = self._batch(array, "write_many", False)
        cdef uint64_t deadline = deadline_ns(timeout, "BroadcastRing.write_many")
        cdef size_t n = <size_t>arr.shape[0], total = 0, got = 0
        cdef const char *src = <const char *>cnp.PyArray_DATA(arr)
        cdef uint64_t dead_ns = 0 if self.dead_reader_timeout is None else \
            <uint64_t>(self.dead_reader_timeout * 1e9)
        cdef uint64_t slice_end
        cdef vx_status st
        if self.ring.max_readers == 0:
            return self.try_write_many(array)
        self._busy += 1
        try:
            while True:  # bounded: each slice writes or ends at the deadline or raises
                slice_end = slice_end_ns(deadline)
                with nogil:
                    st = vx_bcast_write_wait(self.ring, src + total * self.itemsize, n - total,
                                             slice_end, dead_ns, &got)
                total += got
                if st == VX_OK:
                    return total
                if wait_expired(deadline):
                    exc = TimeoutError(f"BroadcastRing.write_many: wrote {total} of {n} "
                                       f"records; registered readers still held the writer "
                                       f"after timeout={timeout!r} s")
                    exc.written = total
                    raise exc
        finally:
            self._busy -= 1

    def write(self, item, timeout=None):
        """Write one record: a NumPy scalar (or 1-element array) of the ring's dtype, or
        bytes of exactly itemsize bytes. Same waiting rules as write_many."""
        self._check_writer("write")
        if isinstance(item, (bytes, bytearray, memoryview)):
            if len(memoryview(item).cast("B")) != self.itemsize:
                raise ValueError(f"BroadcastRing.write: needs exactly {self.itemsize} bytes, got "
                                 f"{len(memoryview(item).cast('B'))}")
            arr = np.frombuffer(bytes(item), dtype=self.dtype)
        elif isinstance(item, (np.generic, np.ndarray)):
            if item.dtype != self.dtype:
                raise TypeError(f"BroadcastRing.write: record dtype {item.dtype!r} does not "
                                f"match the ring's dtype {self.dtype!r}")
            arr = np.ascontiguousarray(item).reshape(-1)
            if arr.shape[0] != 1:
                raise ValueError(f"BroadcastRing.write: needs one record, got {arr.shape[0]}; "
                                 "use write_many")
        else:
            raise TypeError(f"BroadcastRing.write: cannot write {type(item).__name__}; pass a "
                            "NumPy record of the ring's dtype or bytes of itemsize")
        return self.write_many(arr, timeout)

    # ---- readers ---------------------------------------------------------------------------

    def reader(self, start="newest", register=None):
        """reader(start="newest", register=None) -> BroadcastReader

        A new reader with its own cursor: ``start="newest"`` reads records written from now
        on, ``"oldest"`` starts at the oldest record still in the ring. ``register`` (default:
        whether the ring is gated) takes a reader slot so the reader holds the writer back;
        RuntimeError when every slot is taken."""
        self._live("reader")
        if start not in ("newest", "oldest"):
            raise ValueError(f"start must be 'newest' or 'oldest', got {start!r}")
        if register is None:
            register = self.ring.max_readers != 0
        if not isinstance(register, bool):
            raise TypeError(f"register must be a bool or None, got {register!r}")
        if register and self.ring.max_readers == 0:
            raise ValueError("register=True needs a gated ring (gated=True)")
        cdef BroadcastReader r = BroadcastReader.__new__(BroadcastReader)
        r._scratch = <char *>PyMem_Malloc(self.itemsize)
        if r._scratch == NULL:
            raise MemoryError()
        r.ring = self
        vx_bcast_reader_init(&r.rd, self.ring, start == "oldest")
        cdef uint64_t me
        if register:
            me = vx_shm_identity(getpid())
            if me == 0:
                raise OSError(f"cannot read this process's identity (pid {getpid()})")
            if vx_bcast_reader_register(&r.rd, me) != VX_OK:
                raise RuntimeError(f"BroadcastRing.reader: all {self.ring.max_readers} reader "
                                   "slots are taken")
        r.closed = False
        self._readers.add(r)
        return r


cdef class BroadcastReader:
    """One reader of a BroadcastRing (``ring.reader()``), with its own cursor and counters:
    ``read`` records returned, ``lost`` records skipped because the writer lapped this
    reader, ``lapped`` lap events. At any quiescent point ``read + lost`` equals the records
    written since the reader started. One thread at a time."""

    def __cinit__(self):
        self._scratch = NULL
        self.closed = True

    def __init__(self):
        raise TypeError("use BroadcastRing.reader()")

    def __dealloc__(self):
        if not self.closed and self.ring is not None and self.ring.ring != NULL:
            vx_bcast_reader_unregister(&self.rd)
        if self._scratch != NULL:
            PyMem_Free(self._scratch)
            self._scratch = NULL

    cdef int _detach(self) except -1:
        if not self.closed:
            vx_bcast_reader_unregister(&self.rd)
            self.closed = True
        return 0

    cdef int _live(self, str where) except -1:
        if self.closed or self.ring.ring == NULL:
            raise ValueError(f"BroadcastReader.{where}: the reader (or its ring) is closed")
        return 0

    def close(self):
        """Give back the reader slot (gated) and stop reading. Idempotent."""
        if not self.closed:
            self.ring._readers.discard(self)
            self._detach()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def read(self):
        return self.rd.read

    @property
    def lost(self):
        return self.rd.lost

    @property
    def lapped(self):
        return self.rd.lapped

    @property
    def position(self):
        """Sequence number of the next record this reader will read."""
        return self.rd.cursor

    @property
    def start(self):
        """Sequence number at which this reader started."""
        return self.rd.start

    @property
    def registered(self):
        """Whether the reader holds a slot of a gated ring (False once evicted)."""
        if self.closed or self.ring.ring == NULL:
            return False
        return bool(vx_bcast_reader_registered(&self.rd))

    def available(self):
        """Records written that this reader has not yet read or lost (may exceed capacity:
        those beyond it will be lost)."""
        self._live("available")
        return vx_bcast_head(self.ring.ring) - self.rd.cursor

    def __repr__(self):
        return (f"<BroadcastReader position={self.rd.cursor} read={self.rd.read} "
                f"lost={self.rd.lost} lapped={self.rd.lapped} closed={bool(self.closed)}>")

    def read_many(self, out, timeout=0):
        """read_many(out, timeout=0) -> int

        Copy the next records into ``out`` (a writable 1-D C-contiguous array of the ring's
        dtype), oldest first, skipping (and counting in ``lost``) records the writer
        overwrote before they could be copied; returns how many were copied. ``timeout=0``:
        never waits (0 when nothing is new); otherwise waits up to ``timeout`` seconds (None:
        forever; GIL released, signal handlers run) for at least one record, returning 0 at
        the deadline. RingCorrupted if another process broke the segment's sequence words."""
        self._live("read_many")
        cdef cnp.ndarray arr = self.ring._batch(out, "read_many", True)
        cdef size_t n = <size_t>arr.shape[0]
        return self._read_into(<char *>cnp.PyArray_DATA(arr), n, timeout, "read_many")

    cdef size_t _read_into(self, char *dst, size_t n, object timeout, str where) except? <size_t>-1:
        cdef size_t got = 0
        cdef vx_status st
        cdef uint64_t deadline, slice_end
        if n == 0:
            return 0
        if timeout is not None and deadline_ns(timeout, f"BroadcastReader.{where}") and \
                float(timeout) == 0:
            if n * <size_t>self.ring.itemsize >= NOGIL_COPY_BYTES:
                self.ring._busy += 1
                with nogil:
                    st = vx_bcast_read(&self.rd, dst, n, &got)
                self.ring._busy -= 1
            else:
                st = vx_bcast_read(&self.rd, dst, n, &got)
        else:
            deadline = deadline_ns(timeout, f"BroadcastReader.{where}")
            self.ring._busy += 1
            try:
                while True:  # bounded: each slice reads or ends at the deadline or raises
                    self._live(where)
                    slice_end = slice_end_ns(deadline)
                    with nogil:
                        st = vx_bcast_read_wait(&self.rd, dst, n, slice_end, &got)
                    if st != VX_TIMEOUT or wait_expired(deadline):
                        break
            finally:
                self.ring._busy -= 1
        if st == VX_ECORRUPT:
            raise RingCorrupted(
                f"BroadcastReader.{where}: the ring's shared sequence words are corrupt (the "
                "head went backwards or a slot holds a sequence no writer wrote; another "
                "process wrote the segment); this reader refuses every further read")
        return got

    def read_one(self, timeout=0):
        """Next record as a NumPy scalar of the ring's dtype, or None (nothing new within
        ``timeout`` seconds; 0: do not wait)."""
        self._live("read_one")
        if self._read_into(self._scratch, 1, timeout, "read_one") == 0:
            return None
        return np.frombuffer(self._scratch[:self.ring.itemsize], dtype=self.ring.dtype)[0].copy()
