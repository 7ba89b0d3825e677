# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/shm.c csrc/velox/shm_segment.c csrc/velox/ring.c csrc/velox/tsc.c csrc/velox/types.c
"""SharedRing: the SPSC ring of velox._ring placed in a named POSIX shared-memory segment, so
two processes move fixed-size records with no syscall on the hot path. Thin wrapper over
``csrc/velox/shm.h`` (see docs/ipc.md).

SharedRing subclasses SpscRing and overrides none of its public operations: every SpscRing
method runs on the ring that lives in the segment, after SpscRing's closed check (_live, which
raises ValueError here once close() has set the ring pointer to NULL). What SharedRing adds is
confined to hooks and its own methods: the segment's lifecycle (create / attach / close /
unlink), role claiming (the _side hook: the first push makes this process the producer, the
first pop the consumer), blocking waits that notice a dead or departed peer (the _wait hook:
BrokenPipeError), and pickling by name.

Not free-threading compatible (close() and the role claims mutate the object); under the GIL,
close() refuses to unmap while another thread is inside a GIL-free section of this object."""

import ast
import os

import numpy as np
from numpy.lib.format import descr_to_dtype, dtype_to_descr

from libc.stdint cimport uint32_t, uint64_t
from libc.errno cimport EEXIST, ENOENT, errno
from posix.types cimport pid_t
from posix.unistd cimport getpid

cimport cython

from velox._checks cimport check_capacity
from velox._ring cimport SpscRing, _mark_busy
from velox._wait cimport WAIT_SLICE_NS, slice_ns, wait_expired
from velox._ring import RingCorrupted
from velox._ring import SpscRing as _SpscRing
from velox.includes.ring cimport (VX_RING_MAX_CAPACITY, VX_RING_MAX_ELEM_SIZE,
                                  VX_RING_MIN_CAPACITY, vx_ring_destroy, vx_ring_size)
from velox.includes.shm cimport *
from velox.includes.types cimport (VX_ECORRUPT, VX_EMISUSE, VX_ESTATE, VX_OK, VX_TIMEOUT,
                                   vx_status, vx_status_name)

DTYPE_MAX = VX_SHM_DTYPE_MAX - 1
"""Longest dtype description (characters of ``repr(dtype_to_descr(dtype))``) a segment holds."""
NAME_MAX = VX_SHM_NAME_MAX
LAYOUT_VERSION = VX_SHM_LAYOUT_VERSION
PEER_CHECK_NS = VX_SHM_PEER_CHECK_NS
# Blocking waits re-take the GIL this often to run signal handlers and check the deadline.
SIGNAL_CHECK_NS = WAIT_SLICE_NS
# How long attach waits for a creator that is still initialising the segment.
ATTACH_WAIT_S = 1.0

# ---- process identity ----------------------------------------------------------------------
# A role claimed by this process stays valid until it forks: the child gets a new generation,
# so a SharedRing object inherited across fork re-claims (and is refused while the parent
# lives) instead of silently acting as a second producer or consumer.
cdef long _generation = 0
cdef uint64_t _identity = 0


def _after_fork_in_child():
    global _generation, _identity
    _generation += 1
    _identity = 0


os.register_at_fork(after_in_child=_after_fork_in_child)


cdef uint64_t _my_identity() except 0:
    global _identity
    if _identity == 0:
        _identity = vx_shm_identity(getpid())
        if _identity == 0:
            raise OSError(f"cannot read this process's identity (pid {getpid()})")
    return _identity


# ---- helpers -------------------------------------------------------------------------------

cdef bytes _encode_name(object name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    cdef bytes raw = name.encode("ascii", "replace")
    if b"\0" in raw or not vx_shm_name_valid(raw):  # a NUL would end the C string early
        raise ValueError(
            f"name must be 1..{VX_SHM_NAME_MAX} characters of [A-Za-z0-9._-] not starting with "
            f"'.', got {name!r}")
    return raw


cdef str _describe(object dtype):
    """The dtype as the text stored in the segment; checks it round-trips."""
    text = repr(dtype_to_descr(dtype))
    if len(text) > VX_SHM_DTYPE_MAX - 1:
        raise ValueError(f"dtype description must be at most {VX_SHM_DTYPE_MAX - 1} characters, "
                         f"got {len(text)} for {dtype!r}")
    if _parse_dtype(text) != dtype:
        raise ValueError(f"dtype {dtype!r} does not survive numpy's descr round trip; use a "
                         f"structured dtype instead")
    return text


cdef object _parse_dtype(str text):
    # literal_eval, never eval: the text comes from a segment another process wrote.
    return descr_to_dtype(ast.literal_eval(text))


cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define VX_SHM_PY_FREE_THREADED 1
    #else
    #define VX_SHM_PY_FREE_THREADED 0
    #endif
    """
    int VX_SHM_PY_FREE_THREADED


cdef _raise_sys(int err, str what, str name):
    raise OSError(err, f"{what} {name!r}: {os.strerror(err)}", name)


cdef _raise_exists(str name, vx_shm_peer state, pid_t pid, bint replace_stale):
    """FileExistsError for create() of a name that exists, saying what is known of its creator
    and how to reclaim a stale segment."""
    what = f"cannot create shared ring {name!r}: it exists"
    remove = (f"remove it with velox._shm.unlink({name!r}) (or rm /dev/shm/{name}) once no "
              "process uses it")
    if state == VX_SHM_PEER_DEAD:
        text = (f"{what} and its creator (pid {pid}) is dead: reclaim it with "
                f"SharedRing.create({name!r}, ..., replace_stale=True), or {remove}")
    elif state == VX_SHM_PEER_ALIVE:
        text = f"{what} and its creator (pid {pid}) is alive"
        if replace_stale:
            text += "; replace_stale=True replaces only a segment whose creator is dead"
    else:
        text = (f"{what}, and whether its creator lives cannot be told (not a velox segment "
                "of this layout, or one made by an older velox)")
        if replace_stale:
            text += "; replace_stale=True replaces only a segment whose creator is provably dead"
        text += f"; {remove}"
    raise FileExistsError(EEXIST, text, name)


cdef class SharedRing(SpscRing):
    """A lock-free SPSC ring of fixed-size NumPy records in POSIX shared memory.

    Make one with ``SharedRing.create(name, capacity, dtype)`` and open it in other processes
    with ``SharedRing.attach(name)`` (or pass the object to ``multiprocessing.Process``: it
    pickles by name). Same API as SpscRing. The first push (try_push / push / push_many) in a
    process makes it the producer, the first pop the consumer; another live process claiming
    a taken role gets RuntimeError. Blocking push/pop raise BrokenPipeError when the peer
    process died or closed the ring (pop first returns every record still in the ring).
    ``close()`` unmaps (and marks this process's roles departed); ``unlink()`` removes the
    name; ``with SharedRing.create(...) as ring:`` closes, and unlinks if this process is the
    creator.
    """

    def __cinit__(self, *args, **kwargs):
        # SpscRing.__cinit__ has already run (with the same arguments) and allocated a small
        # heap ring with the dtype checks done; create/attach swap in the segment's ring.
        self._producer_gen = -1
        self._consumer_gen = -1
        self._creator_pid = 0

    def __init__(self, *args, **kwargs):
        raise TypeError("use SharedRing.create(name, capacity, dtype) or SharedRing.attach(name)")

    def __dealloc__(self):
        # Runs before SpscRing.__dealloc__, which must not free the segment's ring. Not a cdef
        # method call: when SpscRing.__cinit__ raised, the vtable is not set up yet.
        _unmap(self)

    cdef int _adopt(self, unsigned int capacity) except -1:
        """Replace the heap ring from SpscRing.__cinit__ by the mapped one."""
        vx_ring_destroy(self.ring)
        self.ring = vx_shm_ring(&self.shm)  # the private handle inside this object
        self._capacity = capacity
        return 0

    # ---- construction ---------------------------------------------------------------------

    @staticmethod
    def create(name=None, capacity=4096, dtype=None, *, replace_stale=False):
        """create(name=None, capacity=4096, dtype=velox.TXN_DTYPE, *, replace_stale=False) -> SharedRing

        Create the segment ``name`` (on Linux /dev/shm/NAME; None: a fresh
        ``velox-<pid>-<hex>``) holding an empty ring of ``capacity`` records (a power of two
        in [2, 2**30]) of ``dtype`` (any fixed-size NumPy dtype without Python objects whose
        description fits DTYPE_MAX characters).

        FileExistsError if the name exists; its message says whether the segment's creator
        (pid) is alive or dead. ``replace_stale=True`` replaces a segment whose creator is
        provably dead (its pid gone, a zombie, or reused by a process with another start
        time): the old name is unlinked and a new segment created. Processes still mapping
        the old segment keep it (their blocking calls see the dead peer as BrokenPipeError)
        and reach the new one by attaching again. A live or unknown creator is never
        replaced."""
        if not isinstance(replace_stale, bool):
            raise TypeError(f"replace_stale must be a bool, got {replace_stale!r}")
        if dtype is None:
            from velox._records import TXN_DTYPE
            dtype = TXN_DTYPE
        if name is None:
            name = f"velox-{os.getpid()}-{os.urandom(6).hex()}"
        cdef bytes raw = _encode_name(name)
        cdef uint32_t cap = check_capacity(capacity, VX_RING_MIN_CAPACITY, VX_RING_MAX_CAPACITY)
        cdef SharedRing self = SharedRing.__new__(SharedRing, 2, dtype)  # checks the dtype
        cdef bytes text = _describe(self.dtype).encode("ascii")
        cdef vx_status st = vx_shm_create(&self.shm, raw, cap, <uint32_t>self.itemsize,
                                          text, len(text))
        cdef pid_t creator = 0
        cdef vx_shm_peer creator_state
        if st != VX_OK and self.shm.fault == VX_SHM_FAULT_SYSTEM and self.shm.sys_errno == EEXIST:
            creator_state = vx_shm_creator_state(raw, &creator)
            if replace_stale and creator_state == VX_SHM_PEER_DEAD:
                if vx_shm_unlink(raw) != VX_OK and errno != ENOENT:
                    _raise_sys(errno, "cannot remove the stale shared ring", name)
                st = vx_shm_create(&self.shm, raw, cap, <uint32_t>self.itemsize,
                                   text, len(text))
                if st != VX_OK and self.shm.fault == VX_SHM_FAULT_SYSTEM and self.shm.sys_errno == EEXIST:
                    creator_state = vx_shm_creator_state(raw, &creator)  # made again meanwhile
            if st != VX_OK and self.shm.fault == VX_SHM_FAULT_SYSTEM and self.shm.sys_errno == EEXIST:
                _raise_exists(name, creator_state, creator, replace_stale)
        if st != VX_OK:
            if self.shm.fault == VX_SHM_FAULT_SYSTEM:
                _raise_sys(self.shm.sys_errno, "cannot create shared ring", name)
            raise ValueError(f"cannot create shared ring {name!r}: "
                             f"{vx_shm_fault_name(self.shm.fault).decode()}")
        self._adopt(cap)
        self.name = name
        self._creator_pid = getpid()
        return self

    @staticmethod
    def attach(name, dtype=None, timeout=ATTACH_WAIT_S):
        """attach(name, dtype=None, timeout=1.0) -> SharedRing

        Map the segment ``name`` and rebuild its dtype from the stored description, waiting
        up to ``timeout`` seconds for the segment to appear and for its creator to finish
        initialising it. If ``dtype`` is given it must equal the stored one.
        FileNotFoundError if there is still no such segment at the deadline; ValueError if it
        is not a compatible velox ring (bad magic, other layout version, other record size,
        inconsistent sizes, indices out of range); TimeoutError if it exists but its creator
        did not finish initialising it within ``timeout`` seconds."""
        cdef bytes raw = _encode_name(name)
        expected = None
        cdef uint32_t expected_size = 0
        if dtype is not None:
            expected = np.dtype(dtype)
            if expected.itemsize < 1 or expected.itemsize > VX_RING_MAX_ELEM_SIZE:
                raise ValueError(f"dtype itemsize must be in [1, {VX_RING_MAX_ELEM_SIZE}], got "
                                 f"{expected!r}")
            expected_size = <uint32_t>expected.itemsize
        try:
            wait_s = float(timeout)
        except (TypeError, ValueError):
            raise TypeError(f"timeout must be a number of seconds, got {timeout!r}") from None
        if not (0 <= wait_s <= 3600):
            raise ValueError(f"timeout must be in [0, 3600] seconds, got {timeout!r}")
        cdef vx_shm shm
        cdef vx_status st
        cdef uint64_t wait_ns = <uint64_t>(wait_s * 1e9)
        cdef const char *c_name = raw
        with nogil:
            st = vx_shm_attach(&shm, c_name, expected_size, wait_ns)
        if st != VX_OK:
            if shm.fault == VX_SHM_FAULT_SYSTEM:
                if shm.sys_errno == ENOENT:
                    raise FileNotFoundError(2, f"no shared ring named {name!r} (waited "
                                            f"timeout={timeout!r} s for it)", name)
                _raise_sys(shm.sys_errno, "cannot attach to shared ring", name)
            if shm.fault == VX_SHM_FAULT_NOT_READY:
                raise TimeoutError(f"shared ring {name!r} was not initialised by its creator "
                                   f"within timeout={timeout!r} s")
            raise ValueError(f"cannot attach to shared ring {name!r}: "
                             f"{vx_shm_fault_name(shm.fault).decode()}")
        cdef SharedRing self
        try:
            # the private copies validated by vx_shm_attach, never the live header
            text = shm.dtype[:shm.dtype_len].decode("ascii")
            try:
                stored = _parse_dtype(text)
            except (ValueError, SyntaxError, TypeError) as exc:
                raise ValueError(f"cannot attach to shared ring {name!r}: stored dtype "
                                 f"description {text!r} is not valid ({exc})") from None
            if stored.itemsize != shm.record_size:
                raise ValueError(f"cannot attach to shared ring {name!r}: stored dtype "
                                 f"{stored!r} has itemsize {stored.itemsize}, the segment "
                                 f"says {shm.record_size}")
            if expected is not None and expected != stored:
                raise ValueError(f"shared ring {name!r} holds dtype {stored!r}, not the "
                                 f"expected {expected!r}")
            self = SharedRing.__new__(SharedRing, 2, stored)
        except BaseException:
            vx_shm_detach(&shm)
            raise
        self.shm = shm
        self._adopt(<uint32_t>shm.capacity)
        self.name = name
        return self

    def __reduce__(self):
        """Pickles by name: unpickling attaches to the same segment (so it must still exist;
        the unpickled ring holds no role until it pushes or pops)."""
        return (_attach_by_name, (self.name,))

    # ---- lifecycle ------------------------------------------------------------------------

    @property
    def closed(self):
        """True after close()."""
        return self.ring == NULL

    @property
    def is_creator(self):
        """True in the process that created the segment (not in its forked children)."""
        return self._creator_pid != 0 and self._creator_pid == getpid()

    def close(self):
        """Unmap the segment and mark this process's roles departed (a peer blocked on us gets
        BrokenPipeError). The name stays (see unlink). Idempotent.

        On a free-threaded CPython another thread may be inside any method of this object
        right now, so close() marks it closed (every later call raises ValueError) and
        releases the roles at once, but unmaps only when the object is freed: a call already
        under way never touches unmapped memory."""
        with cython.critical_section(self):
            if self._producer_busy or self._consumer_busy:
                raise RuntimeError(f"SharedRing.close: ring {self.name!r} is in use by a "
                                   "blocking call, a batch copy or a native loop (e.g. a "
                                   "running Pipeline's output stage) in another thread")
            if VX_SHM_PY_FREE_THREADED:
                _release_roles(self)
            else:
                _unmap(self)

    def unlink(self):
        """Remove the segment's name (the creator's job): new attaches fail, mapped processes
        keep working, the memory is freed when the last one closes. FileNotFoundError if the
        name is already gone."""
        _unlink_name(self.name)

    def __enter__(self):
        self._live("__enter__")
        return self

    def __exit__(self, *exc_info):
        creator = self.is_creator
        self.close()
        if creator:
            try:
                _unlink_name(self.name)
            except FileNotFoundError:
                pass
        return False

    # ---- roles ----------------------------------------------------------------------------

    cdef int _claim(self, vx_shm_role role, str where) except -1:
        self._live(where)
        cdef pid_t holder = 0
        cdef vx_status st = vx_shm_claim(&self.shm, role, _my_identity(), &holder)
        what = "producer" if role == VX_SHM_PRODUCER else "consumer"
        if st == VX_EMISUSE:
            raise RuntimeError(
                f"SharedRing.{where}: ring {self.name!r} already has a live {what}, pid "
                f"{holder}; a SharedRing allows one producer process and one consumer process")
        if st != VX_OK:
            raise RuntimeError(f"SharedRing.{where}: cannot claim the {what} role "
                               f"({vx_status_name(st).decode()})")
        if role == VX_SHM_PRODUCER:
            self._producer_gen = _generation
        else:
            self._consumer_gen = _generation
        return 0

    cdef object _peer(self, vx_shm_role role):
        self._live("peer")
        cdef pid_t pid = 0
        cdef vx_shm_peer state = vx_shm_peer_state(&self.shm, role, &pid)
        return state, pid

    @property
    def producer_pid(self):
        """Pid of the process holding the producer role (0 if none yet); it may be dead."""
        return self._peer(VX_SHM_PRODUCER)[1]

    @property
    def consumer_pid(self):
        """Pid of the process holding the consumer role (0 if none yet); it may be dead."""
        return self._peer(VX_SHM_CONSUMER)[1]

    @property
    def producer_alive(self):
        """True if a producer claimed the ring and its process is still running and has not
        closed the ring (a syscall: not for the hot path)."""
        return self._peer(VX_SHM_PRODUCER)[0] == VX_SHM_PEER_ALIVE

    @property
    def consumer_alive(self):
        """True if a consumer claimed the ring and its process is still running and has not
        closed the ring."""
        return self._peer(VX_SHM_CONSUMER)[0] == VX_SHM_PEER_ALIVE

    @property
    def creator_pid(self):
        """Pid of the process that created the segment."""
        self._live("creator_pid")
        return self.shm.header.creator_pid

    # ---- what differs from SpscRing ---------------------------------------------------------
    # Everything else (counters, len, try/batch/blocking push and pop, conversions) is
    # SpscRing's code on the mapped ring: each of its methods calls _live (closed check) and
    # _side (role claim) first, and its blocking methods call _wait (overridden below).

    def __repr__(self):
        if self.ring == NULL:
            return f"SharedRing(name={self.name!r}, closed)"
        return (f"SharedRing(name={self.name!r}, capacity={self._capacity}, "
                f"dtype={self.dtype!r}, len={vx_ring_size(self.ring)})")

    cdef int _raise_closed(self, str where) except -1:
        raise ValueError(f"SharedRing.{where}: ring {self.name!r} is closed")

    cdef int _side(self, bint producer, str where) except -1:
        """The first producer (consumer) operation in this process claims the role."""
        if producer:
            if self._producer_gen != _generation:
                self._claim(VX_SHM_PRODUCER, where)
        elif self._consumer_gen != _generation:
            self._claim(VX_SHM_CONSUMER, where)
        return 0

    cdef int _wait(self, bint producer, const char *src, char *dst, uint64_t deadline,
                   object timeout, str where) except -1:
        """SpscRing._wait, but through vx_shm_push_wait / vx_shm_pop_wait, which also watch
        the peer process: BrokenPipeError when it died or closed the ring."""
        cdef vx_status st
        cdef uint64_t chunk
        cdef pid_t peer = 0
        # Busy for the whole wait, not just the GIL-free slices: a signal handler running
        # between slices cannot close (unmap) the ring under the next slice; close() raises.
        _mark_busy(self, producer, 1)
        try:
            while True:  # bounded: each pass ends by the deadline or raises
                self._live(where)  # re-checked every slice (signal handlers ran)
                chunk = slice_ns(deadline)
                if producer:
                    with nogil:
                        st = vx_shm_push_wait(&self.shm, src, chunk, &peer)
                else:
                    with nogil:
                        st = vx_shm_pop_wait(&self.shm, dst, chunk, &peer)
                if st == VX_OK:
                    return 0
                if st == VX_ESTATE:
                    what = "consumer" if producer else "producer"
                    state = self._peer(VX_SHM_CONSUMER if producer else VX_SHM_PRODUCER)[0]
                    how = "closed the ring" if state == VX_SHM_PEER_DEPARTED else "died"
                    raise BrokenPipeError(
                        f"SharedRing.{where}: the {what} (pid {peer}) {how}; ring "
                        f"{self.name!r} is {'full' if producer else 'empty'}")
                if st != VX_TIMEOUT:
                    _raise_misuse(st, where)
                if wait_expired(deadline):
                    raise TimeoutError(f"SharedRing.{where}: ring {self.name!r} still "
                                       f"{'full' if producer else 'empty'} after "
                                       f"timeout={timeout!r} s")
        finally:
            _mark_busy(self, producer, -1)

    cdef int _peer_gone(self, bint producer) except -1:
        """1 if the other side's process died or closed the ring (a syscall or two)."""
        state = self._peer(VX_SHM_CONSUMER if producer else VX_SHM_PRODUCER)[0]
        return 1 if state == VX_SHM_PEER_DEAD or state == VX_SHM_PEER_DEPARTED else 0


cdef void _unmap(SharedRing self) noexcept:
    """Release this process's roles (marks them departed), unmap, forget the ring pointer."""
    if self.shm.header == NULL:
        return
    _release_roles(self)
    vx_shm_detach(&self.shm)


cdef void _release_roles(SharedRing self) noexcept:
    """Release this process's roles (marks them departed) and forget the ring pointer (the
    object is closed: _live raises); the mapping stays until _unmap."""
    cdef uint64_t me
    if self.shm.header == NULL or self.ring == NULL:
        self.ring = NULL
        return
    if self._producer_gen == _generation or self._consumer_gen == _generation:
        me = vx_shm_identity(getpid())
        if self._producer_gen == _generation:
            vx_shm_release(&self.shm, VX_SHM_PRODUCER, me)
        if self._consumer_gen == _generation:
            vx_shm_release(&self.shm, VX_SHM_CONSUMER, me)
    self._producer_gen = -1
    self._consumer_gen = -1
    self.ring = NULL


cdef _raise_misuse(vx_status st, str where):
    if st == VX_ECORRUPT:
        raise RingCorrupted(
            f"SharedRing.{where}: the ring's shared indices are corrupt (head - tail outside "
            "[0, capacity]; another process wrote the segment); the ring refuses every further "
            "push and pop")
    if st == VX_EMISUSE:
        raise RuntimeError(f"SharedRing.{where}: another thread is using the same side of the "
                           "ring at the same time (the ring's misuse guard, compiled into debug and "
                           "free-threaded builds)")
    raise RuntimeError(f"SharedRing.{where}: unexpected status {vx_status_name(st).decode()}")


def _unlink_name(name):
    cdef bytes raw = _encode_name(name)
    if vx_shm_unlink(raw) != VX_OK:
        err = errno  # set by shm_unlink
        if err == ENOENT:
            raise FileNotFoundError(err, f"no shared ring named {name!r}", name)
        _raise_sys(err, "cannot unlink shared ring", name)


def is_valid_name(name):
    """True if ``name`` can name a shared ring: a str of 1..NAME_MAX characters of
    [A-Za-z0-9._-] not starting with '.' (used as /dev/shm/NAME on Linux)."""
    if not isinstance(name, str):
        return False
    raw = name.encode("ascii", "replace")
    return b"\0" not in raw and bool(vx_shm_name_valid(raw))


def _attach_by_name(name):
    return SharedRing.attach(name)


def unlink(name):
    """Remove the shared ring segment ``name`` (FileNotFoundError if there is none)."""
    _unlink_name(name)
