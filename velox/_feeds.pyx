# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/itch.c csrc/velox/itch_levels.c csrc/velox/lobster.c csrc/velox/mbo.c csrc/velox/types.c csrc/velox/tsc.c
"""Native feed parsers and writers: NASDAQ TotalView-ITCH 5.0 and LOBSTER. Thin wrapper over
``csrc/velox/itch.h`` and ``csrc/velox/lobster.h``; the user-facing API is ``velox.feeds``
(see docs/feeds.md).

No per-message Python objects: parsers write ``MBO_DTYPE`` arrays directly from the input
bytes (any buffer: bytes, bytearray, mmap, memoryview), and release the GIL while they run.
``ItchBooks`` parses ITCH and applies it to a ``vx_mbo_set`` (a book per stock locate, or per
routed symbol) in one
GIL-free loop. An ``ItchParser`` is one stream's state: use it from one thread at a time (a lock guards it).
"""

cimport cython
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memcpy

cimport numpy as cnp
import numpy as np

from velox.includes.feeds cimport *
from velox.includes.mbo cimport *
from velox.includes.types cimport VX_EINVAL, VX_ENOMEM, VX_ERANGE, VX_OK, vx_mbo, vx_status

from velox._records import MBO_DTYPE

cnp.import_array()

import threading

_ITCH_TYPES = b"SRHYLVWKJhAFECXDUPQBINO"


def itch_message_length(type):
    """Fixed length (type byte included, length prefix excluded) of an ITCH 5.0 message type
    (a 1-character str or bytes, or an int byte); 0 if the type is not in ITCH 5.0."""
    cdef int t
    if isinstance(type, (bytes, str)):
        if len(type) != 1:
            raise ValueError(f"type must be one character, got {type!r}")
        t = ord(type)
    else:
        t = type
    if t < 0 or t > 255:
        raise ValueError(f"type must be a byte, got {type!r}")
    return vx_itch_message_length(<uint8_t>t)


cdef vx_mbo *_events_ptr(object out, str name) except NULL:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of MBO_DTYPE, got {type(out).__name__}")
    if out.dtype != MBO_DTYPE:
        raise TypeError(f"{name} must have dtype MBO_DTYPE, got {out.dtype}")
    if out.ndim != 1 or not out.flags.c_contiguous:
        raise ValueError(f"{name} must be a 1-d C-contiguous array")
    if out.shape[0] == 0:
        return <vx_mbo *>1  # never dereferenced: capacity 0
    if (<uintptr_t>cnp.PyArray_DATA(<cnp.ndarray>out)) & 7:
        raise ValueError(f"{name} must be 8-byte aligned (this view starts at a byte offset "
                         f"that is not a multiple of 8); "
                         f"write into an MBO_DTYPE array numpy allocated")
    return <vx_mbo *>cnp.PyArray_DATA(<cnp.ndarray>out)


cdef object _aligned_events(object events):
    """Input events as C may read them: a contiguous MBO_DTYPE array whose pointer is 8-byte
    aligned (a misaligned view is copied); anything else is returned for _events_ptr to judge."""
    if (isinstance(events, np.ndarray) and events.dtype == MBO_DTYPE and events.ndim == 1
            and events.flags.c_contiguous and events.shape[0]
            and (<uintptr_t>cnp.PyArray_DATA(<cnp.ndarray>events)) & 7):
        copy = np.zeros(events.shape[0], MBO_DTYPE)
        copy[...] = events
        return copy
    return events


def _symbol8(sym):
    if isinstance(sym, str):
        b = sym.encode("ascii")
    elif isinstance(sym, bytes):
        b = sym
    else:
        raise TypeError(f"a symbol must be str or bytes, got {type(sym).__name__}")
    if len(b) == 0 or len(b) > 8 or not all(32 < c < 127 for c in b):
        raise ValueError(f"a symbol must be 1-8 printable ASCII characters, got {sym!r}")
    return b.ljust(8, b" ")


cdef class ItchParser:
    """One ITCH 5.0 stream's parser state (counts, stock directory, byte offset).

    ``parse(buf, out)`` converts whole messages of ``buf`` into ``out`` (an MBO_DTYPE array)
    and returns ``(consumed, produced)``: it stops at an incomplete final message or when
    ``out`` is full, so feed it the rest (starting at ``consumed``) next time. A malformed
    message raises ValueError naming its absolute byte offset.
    """
    def __cinit__(self):
        self.p = NULL
        if vx_itch_parser_create(&self.p) != VX_OK:
            raise MemoryError("ItchParser: out of memory")
        self._lock = threading.Lock()

    def __dealloc__(self):
        if self.p != NULL:
            vx_itch_parser_destroy(self.p)
            self.p = NULL

    def filter_symbols(self, symbols):
        """Only events of instruments whose stock directory (R) symbol is in ``symbols``
        (iterable of str/bytes, 1-8 characters) are written; ``None`` or empty = all. The
        filter follows each R message at its place in the stream (a renamed locate too)."""
        self._select(symbols, False)

    def route_symbols(self, symbols):
        """As ``filter_symbols``, and each event's ``instrument`` is the index ``i`` of its
        stock's symbol in ``symbols`` (by the R message in force at the event), not the stock
        locate: book ``i`` = ``symbols[i]``. System events (S) get instrument 0. Each symbol
        once (ValueError naming the repeated one)."""
        if symbols is None or isinstance(symbols, (str, bytes)):
            raise TypeError(f"symbols must be a sequence of str/bytes, got {symbols!r}")
        self._select(symbols, True)

    def _select(self, symbols, bint route):
        syms = [] if symbols is None else [_symbol8(s) for s in symbols]
        if len(syms) > VX_ITCH_MAX_WANTED:
            raise ValueError(f"at most {VX_ITCH_MAX_WANTED} symbols, got {len(syms)}")
        if route:
            if not syms:
                raise ValueError("route_symbols needs at least one symbol")
            seen = set()
            for s in syms:
                if s in seen:
                    raise ValueError(f"symbol {s.decode().rstrip()!r} given twice")
                seen.add(s)
        blob = b"".join(syms) or b"\0"
        cdef const char *ptr = blob
        cdef vx_status st
        with self._lock:
            if route:
                st = vx_itch_route_symbols(self.p, ptr, len(syms))
            else:
                st = vx_itch_filter_symbols(self.p, ptr, len(syms))
            if st != VX_OK:
                self._n_wanted = 0
                raise ValueError("bad symbol filter")
            self._n_wanted = len(syms)

    def reset(self):
        """Forget counts, directory, filter and offset."""
        with self._lock:
            vx_itch_parser_reset(self.p)
            self._n_wanted = 0

    def parse(self, const uint8_t[::1] buf, out):
        """Parse whole messages of ``buf`` into ``out``; returns ``(consumed, produced)``."""
        cdef vx_mbo *ev = _events_ptr(out, "out")
        cdef size_t cap = out.shape[0]
        cdef size_t n = buf.shape[0]
        cdef size_t consumed = 0, produced = 0
        cdef vx_status st
        cdef const uint8_t *data = &buf[0] if n else <const uint8_t *>b""
        if not out.flags.writeable:
            raise ValueError("out must be writeable")
        with self._lock:
            with nogil:
                st = vx_itch_parse(self.p, data, n, ev, cap, &consumed, &produced)
            if st != VX_OK:
                t = vx_itch_error_type(self.p)
                raise ValueError(
                    f"ITCH: {vx_itch_error(self.p).decode()} at byte offset "
                    f"{vx_itch_error_offset(self.p)} (type {bytes([t])!r}, "
                    f"{produced} events written before it)")
        return consumed, produced

    @property
    def offset(self):
        """Absolute bytes consumed so far (the next message's offset)."""
        return vx_itch_offset(self.p)

    @property
    def counts(self):
        """Dict: messages, events, skipped, unknown, filtered, by_type ({type char: count})."""
        cdef const vx_itch_counts *c = vx_itch_counts_get(self.p)
        by_type = {chr(t): c.by_type[t] for t in range(256) if c.by_type[t]}
        return {"messages": c.messages, "events": c.events, "skipped": c.skipped,
                "unknown": c.unknown, "filtered": c.filtered, "by_type": by_type}

    @property
    def wanted_named(self):
        """One bool per symbol given to the last ``filter_symbols``/``route_symbols`` call, in
        its order: has a stock directory (R) message named it so far (even if renamed since)."""
        cdef size_t i
        return [bool(vx_itch_wanted_named(self.p, i)) for i in range(self._n_wanted)]

    @property
    def symbols(self):
        """Dict locate -> symbol (str, trailing spaces stripped) from the R messages seen (the
        latest name of each locate)."""
        cdef char sym[8]
        cdef int loc
        res = {}
        for loc in range(VX_ITCH_LOCATES):
            if vx_itch_symbol(self.p, <uint16_t>loc, sym):
                res[loc] = sym[:8].decode("ascii", "replace").rstrip(" ")
        return res


def _symbols_blob(symbols):
    """symbols: sequence indexed by instrument (None entries allowed) -> 8-byte blob."""
    parts = []
    for s in symbols:
        parts.append(b"        " if s is None else _symbol8(s))
    return b"".join(parts)


def itch_write(events, symbols=()):
    """``events`` (MBO_DTYPE array) as ITCH 5.0 messages with length prefixes (bytes).
    ``symbols[instrument]`` gives the stock field of A/P/Q/H messages. Raises ValueError
    naming the first event ITCH cannot carry."""
    events = _aligned_events(events)
    cdef vx_mbo *ev = _events_ptr(events, "events")
    cdef size_t n = events.shape[0]
    blob = _symbols_blob(symbols)
    cdef const char *sp = blob if blob else b""
    cdef size_t ns = len(blob) // 8
    cdef size_t done = 0, written = 0
    cdef vx_status st
    buf = bytearray(n * 46)  # 46 = the longest written message (P) with its prefix
    cdef uint8_t[::1] view = buf if n else bytearray(1)
    with nogil:
        st = vx_itch_write(ev, n, sp, ns, &view[0], n * 46, &done, &written)
    if st != VX_OK:
        raise ValueError(f"event {done} cannot be written as ITCH 5.0 "
                         f"(action {events[done]['action']}, price {events[done]['price']}, "
                         f"instrument {events[done]['instrument']}, ts {events[done]['ts']})")
    if done != n:
        raise RuntimeError("itch_write: buffer estimate too small")  # cannot happen
    del view
    del buf[written:]
    return bytes(buf)


def itch_directory(int locate, uint64_t ts, symbol):
    """One R (stock directory) message (41 bytes with prefix) naming ``locate``."""
    if locate < 0 or locate > 65535:
        raise ValueError(f"locate must be in [0, 65535], got {locate}")
    if ts >> 48:
        raise ValueError(f"ts must be < 2**48 ns, got {ts}")
    s = _symbol8(symbol)
    cdef uint8_t out[41]
    cdef size_t w = 0
    vx_itch_write_directory(<uint16_t>locate, ts, s, out, 41, &w)
    return bytes(out[:41])


def lobster_parse_messages(const uint8_t[::1] data, uint32_t instrument=0, uint64_t first_line=1):
    """A whole LOBSTER message file (bytes-like) -> MBO_DTYPE array. ValueError with line and
    column on the first malformed field; ``first_line`` numbers data's first line (a block of
    a file that starts at a line boundary)."""
    cdef size_t n = data.shape[0]
    if first_line < 1:
        raise ValueError(f"first_line must be >= 1, got {first_line}")
    if n == 0:
        return np.zeros(0, MBO_DTYPE)
    cdef size_t lines = np.count_nonzero(np.frombuffer(data, np.uint8) == 10) + 1
    out = np.zeros(lines, MBO_DTYPE)
    cdef vx_mbo *ev = <vx_mbo *>cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef size_t got = 0
    cdef vx_lobster_error err
    cdef vx_status st
    with nogil:
        st = vx_lobster_parse_messages(<const char *>&data[0], n, instrument, ev, lines, &got, &err)
    if st != VX_OK:
        raise ValueError(f"LOBSTER message file: line {err.line + first_line - 1}, column {err.column}: "
                         f"{err.what.decode()}")
    return out[:got] if got != lines else out  # a view: ndarray.copy() drops zero padding


def lobster_parse_book(const uint8_t[::1] data, levels=None, uint64_t first_line=1):
    """A whole LOBSTER orderbook file -> (ask_px, ask_qty, bid_px, bid_qty), each of shape
    (rows, levels); prices in velox fixed point, empty levels price 0 and qty 0.
    ``first_line`` numbers data's first line in errors (as in lobster_parse_messages)."""
    cdef size_t n = data.shape[0]
    cdef size_t fields
    if first_line < 1:
        raise ValueError(f"first_line must be >= 1, got {first_line}")
    if n == 0:
        return tuple(np.zeros((0, 1 if levels is None else levels), t) for t in (np.int64, np.uint64, np.int64, np.uint64))
    fields = vx_lobster_first_line_fields(<const char *>&data[0], n)
    if levels is None:
        if fields == 0 or fields % 4:
            raise ValueError(f"LOBSTER orderbook file: line {first_line} has {fields} fields, "
                             "not a multiple of 4")
        levels = fields // 4
    if levels < 1 or levels > 10000:
        raise ValueError(f"levels must be in [1, 10000], got {levels}")
    cdef size_t lv = levels
    cdef size_t lines = np.count_nonzero(np.frombuffer(data, np.uint8) == 10) + 1
    ask_px = np.zeros((lines, lv), np.int64)
    ask_q = np.zeros((lines, lv), np.uint64)
    bid_px = np.zeros((lines, lv), np.int64)
    bid_q = np.zeros((lines, lv), np.uint64)
    cdef int64_t *ap = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>ask_px)
    cdef uint64_t *aq = <uint64_t *>cnp.PyArray_DATA(<cnp.ndarray>ask_q)
    cdef int64_t *bp = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>bid_px)
    cdef uint64_t *bq = <uint64_t *>cnp.PyArray_DATA(<cnp.ndarray>bid_q)
    cdef size_t rows = 0
    cdef vx_lobster_error err
    cdef vx_status st
    with nogil:
        st = vx_lobster_parse_book(<const char *>&data[0], n, lv, ap, aq, bp, bq, lines, &rows, &err)
    if st != VX_OK:
        raise ValueError(f"LOBSTER orderbook file: line {err.line + first_line - 1}, column {err.column}: "
                         f"{err.what.decode()}")
    return tuple(a[:rows].copy() if rows != lines else a for a in (ask_px, ask_q, bid_px, bid_q))


def lobster_write_messages(events):
    """``events`` (MBO_DTYPE array) as LOBSTER message-file text (bytes)."""
    events = _aligned_events(events)
    cdef vx_mbo *ev = _events_ptr(events, "events")
    cdef size_t n = events.shape[0]
    cdef size_t cap = n * VX_LOBSTER_MAX_LINE
    cdef size_t done = 0, written = 0
    cdef vx_status st
    buf = bytearray(cap)
    cdef uint8_t[::1] view = buf if n else bytearray(1)
    with nogil:
        st = vx_lobster_write_messages(ev, n, <char *>&view[0], cap, &done, &written)
    if st != VX_OK:
        why = ("; LOBSTER needs a direction, and ITCH E/C/X/D messages carry none"
               if events[done]['side'] == 2 else "")
        raise ValueError(f"event {done} cannot be written as LOBSTER "
                         f"(action {events[done]['action']}, price {events[done]['price']}, "
                         f"side {events[done]['side']}, status {events[done]['status']}){why}")
    del view
    del buf[written:]
    return bytes(buf)


cdef class ItchBooks:
    """``instruments`` books (instrument = ITCH stock locate, 0 .. instruments-1) of ``levels``
    price levels of ``tick`` (velox fixed point) sharing one table of ``max_orders`` orders.
    Each event goes to the book of the instrument its parser wrote: the locate, or with
    ``parser.route_symbols(symbols)`` book ``i`` = ``symbols[i]`` by the stock directory (R)
    in force at that event (a locate renamed later does not move earlier orders).
    Single writer: ``feed`` and ``apply_many`` hold a lock."""
    def __cinit__(self, uint32_t instruments=65536, uint32_t levels=4096,
                  int64_t tick=1000000, uint32_t max_orders=1 << 20):
        self.set = NULL
        cdef vx_status st = vx_mbo_set_create(instruments, levels, tick, max_orders, &self.set)
        if st == VX_ENOMEM:
            raise MemoryError(f"ItchBooks: cannot allocate {instruments} books x {levels} levels"
                              f" and {max_orders} orders")
        if st != VX_OK:
            raise ValueError(f"ItchBooks: bad arguments instruments={instruments}, "
                             f"levels={levels}, tick={tick}, max_orders={max_orders}")
        self.instruments = instruments
        self._lock = threading.Lock()

    def __dealloc__(self):
        if self.set != NULL:
            vx_mbo_set_destroy(self.set)
            self.set = NULL

    def feed(self, ItchParser parser not None, const uint8_t[::1] buf, out=None):
        """Parse whole messages of ``buf`` and apply them, repeatedly until the input ends or
        its last message is incomplete. ``out``: MBO_DTYPE scratch (its size = the batch), or
        None for an internal batch of 256 events that stays in the L1 cache.
        Returns ``(consumed, events, applied, rejected)``."""
        cdef vx_mbo small[256]
        cdef vx_mbo *ev = small
        cdef size_t cap = 256
        if out is not None:
            if not isinstance(out, np.ndarray) or out.dtype != MBO_DTYPE or out.ndim != 1 \
                    or not out.flags.c_contiguous or not out.flags.writeable or len(out) == 0:
                raise TypeError("out must be a non-empty writeable 1-d MBO_DTYPE array or None")
            ev = _events_ptr(out, "out")  # refuses a misaligned view
            cap = out.shape[0]
        cdef size_t n = buf.shape[0], pos = 0, consumed, produced
        cdef uint64_t events = 0, applied = 0, rejected = 0, a, r
        cdef vx_status st = VX_OK
        cdef const uint8_t *data = &buf[0] if n else <const uint8_t *>b""
        with self._lock, parser._lock:
            with nogil:
                while True:  # each pass consumes a full batch, or is the last
                    st = vx_itch_parse(parser.p, data + pos, n - pos, ev, cap, &consumed, &produced)
                    pos += consumed
                    a = 0
                    r = 0
                    vx_mbo_set_apply_many(self.set, ev, produced, &a, &r)
                    events += produced
                    applied += a
                    rejected += r
                    if st != VX_OK or produced < cap:
                        break
            if st != VX_OK:
                t = vx_itch_error_type(parser.p)
                raise ValueError(f"ITCH: {vx_itch_error(parser.p).decode()} at byte offset "
                                 f"{vx_itch_error_offset(parser.p)} (type {bytes([t])!r})")
        return pos, events, applied, rejected

    def apply_many(self, events):
        """Apply an MBO_DTYPE array; returns (applied, rejected)."""
        if not isinstance(events, np.ndarray) or events.dtype != MBO_DTYPE or events.ndim != 1:
            raise TypeError("events must be a 1-d MBO_DTYPE array")
        arr = _aligned_events(np.ascontiguousarray(events))
        cdef const vx_mbo *e = <const vx_mbo *>cnp.PyArray_DATA(<cnp.ndarray>arr)
        cdef size_t n = arr.shape[0]
        cdef uint64_t a = 0, r = 0
        with self._lock:
            with nogil:
                vx_mbo_set_apply_many(self.set, e, n, &a, &r)
        return a, r

    def best(self, uint32_t instrument):
        """((bid_price, bid_qty) or None, (ask_price, ask_qty) or None) of one instrument."""
        cdef vx_mbo_book *b = vx_mbo_set_book(self.set, instrument)
        if b == NULL:
            raise ValueError(f"instrument must be in [0, {self.instruments}), got {instrument}")
        cdef int64_t p
        cdef uint64_t q
        res = []
        for side in (0, 1):
            res.append((p, q) if vx_mbo_best(b, side, &p, &q) == VX_OK else None)
        return tuple(res)

    def depth(self, uint32_t instrument, size_t n=5):
        """Top ``n`` levels per side: ((bid prices, qtys), (ask prices, qtys))."""
        cdef vx_mbo_book *b = vx_mbo_set_book(self.set, instrument)
        if b == NULL:
            raise ValueError(f"instrument must be in [0, {self.instruments}), got {instrument}")
        if n < 1 or n > 1 << 20:
            raise ValueError(f"n must be in [1, 2**20], got {n}")
        out = []
        cdef int64_t[::1] pv
        cdef uint64_t[::1] qv
        cdef size_t got
        for side in (0, 1):
            px = np.zeros(n, np.int64)
            qt = np.zeros(n, np.uint64)
            pv = px
            qv = qt
            got = vx_mbo_depth(b, side, n, &pv[0], &qv[0], NULL)
            out.append((px[:got], qt[:got]))
        return tuple(out)

    @property
    def live_orders(self):
        return vx_mbo_live_orders(vx_mbo_set_book(self.set, 0))

    @property
    def memory_bytes(self):
        return vx_mbo_set_memory_bytes(self.set)

    def counters(self):
        """The set's counters (dict)."""
        cdef vx_mbo_counters c
        vx_mbo_counters_read(vx_mbo_set_book(self.set, 0), &c)
        return {"applied": c.applied, "rejected": c.rejected,
                "by_action": list(c.by_action), "rejected_by_reason": list(c.rejected_by_reason),
                "unknown_orders": c.unknown_orders, "out_of_window_orders": c.out_of_window_orders,
                "traded_qty": c.traded_qty}


cdef class ItchLevels:
    """Aggregate books (L2 from L3) of ``instruments`` stock locates built straight from ITCH
    bytes in one native loop (csrc/velox/itch_levels.h): no event array, no per-order queues.
    ``levels`` price levels of ``tick`` (velox fixed point, a multiple of 10^4) per side, each
    book's window placed by its first ADD (price at level levels/2), orders outside it kept and
    counted. Orders live in a direct window of 2**window_bits records indexed by order reference
    (ITCH references are dense) with a spill table of ``spill_capacity`` entries for the rest.
    Prices are velox fixed point. One thread at a time (a lock guards it)."""
    cdef vx_itch_levels *b
    cdef readonly unsigned int instruments
    cdef readonly unsigned int levels
    cdef readonly long long tick
    cdef object _lock

    def __cinit__(self, uint32_t instruments=65536, uint32_t levels=1024,
                  int64_t tick=1000000, uint32_t window_bits=22, uint32_t spill_capacity=1 << 20):
        self.b = NULL
        if tick <= 0 or tick % 10000 or tick // 10000 >= 1 << 31:
            raise ValueError(f"tick must be a positive multiple of 10**4 (one ITCH price unit) "
                             f"below 2**31 units, got {tick}")
        cdef vx_status st = vx_itch_levels_create(instruments, levels, <uint32_t>(tick // 10000),
                                                  window_bits, spill_capacity, &self.b)
        if st == VX_ENOMEM:
            raise MemoryError(f"ItchLevels: cannot allocate {instruments} books x {levels} levels")
        if st != VX_OK:
            raise ValueError(f"ItchLevels: bad arguments instruments={instruments} (1..65536), "
                             f"levels={levels} (power of two, 2..2**20, instruments*2*levels <= 2**31), "
                             f"window_bits={window_bits} (4..{VX_ITCH_LEVELS_MAX_WINDOW_BITS}), "
                             f"spill_capacity={spill_capacity} (power of two, 16..2**28)")
        self.instruments = instruments
        self.levels = levels
        self.tick = tick
        self._lock = threading.Lock()

    def __dealloc__(self):
        if self.b != NULL:
            vx_itch_levels_destroy(self.b)
            self.b = NULL

    def feed(self, const uint8_t[::1] buf, until=None):
        """Apply the whole messages of ``buf``; returns the bytes consumed (less than len(buf)
        when its last message is incomplete: pass the rest again with more bytes). ``until``
        (ns since midnight): stop before the first message stamped at or after it (a
        snapshot point; pass the rest again to go on). A malformed message is a ValueError
        naming its absolute offset (the messages before it applied)."""
        cdef size_t n = buf.shape[0], consumed = 0
        cdef const uint8_t *data = &buf[0] if n else <const uint8_t *>b""
        cdef vx_status st
        cdef uint64_t stop = 0xFFFFFFFFFFFFFFFF
        if until is not None:
            if not isinstance(until, int) or isinstance(until, bool) or until < 0 \
                    or until >= 0xFFFFFFFFFFFFFFFF:
                raise ValueError(f"until must be an int of ns since midnight in [0, 2**64 - 1), "
                                 f"got {until!r}")
            stop = until
        with self._lock:
            with nogil:
                st = vx_itch_levels_feed_until(self.b, data, n, stop, &consumed)
            if st != VX_OK:
                t = vx_itch_levels_error_type(self.b)
                raise ValueError(f"ITCH: {vx_itch_levels_error(self.b).decode()} at byte offset "
                                 f"{vx_itch_levels_error_offset(self.b)} (type {bytes([t])!r})")
        return consumed

    def reset(self):
        """Back to the state after construction (every book unplaced and empty, no orders,
        counters zero) in the same memory: the next day on one object touches no new page for
        what the last day used."""
        with self._lock:
            vx_itch_levels_reset(self.b)

    def _check(self, uint32_t instrument):
        if instrument >= self.instruments:
            raise ValueError(f"instrument must be in [0, {self.instruments}), got {instrument}")

    def best(self, uint32_t instrument):
        """((bid_price, bid_qty) or None, (ask_price, ask_qty) or None) of one book. O(levels)."""
        self._check(instrument)
        cdef int64_t p
        cdef uint64_t q
        res = []
        with self._lock:
            for side in (0, 1):
                res.append((p * 10000, q) if vx_itch_levels_best(self.b, instrument, side, &p, &q) == VX_OK
                           else None)
        return tuple(res)

    def depth(self, uint32_t instrument, size_t n=5):
        """Top ``n`` non-empty levels per side: ((bid prices, qtys), (ask prices, qtys))."""
        self._check(instrument)
        if n < 1 or n > 1 << 20:
            raise ValueError(f"n must be in [1, 2**20], got {n}")
        out = []
        cdef int64_t[::1] pv
        cdef uint64_t[::1] qv
        cdef size_t got
        with self._lock:
            for side in (0, 1):
                px = np.zeros(n, np.int64)
                qt = np.zeros(n, np.uint64)
                pv = px
                qv = qt
                got = vx_itch_levels_depth(self.b, instrument, side, n, &pv[0], &qv[0])
                out.append((px[:got] * 10000, qt[:got]))
        return tuple(out)

    def base(self, uint32_t instrument):
        """Level 0's price of a book (velox fixed point), or None while unplaced."""
        self._check(instrument)
        cdef int64_t b
        with self._lock:
            return b * 10000 if vx_itch_levels_base(self.b, instrument, &b) else None

    @property
    def memory_bytes(self):
        return vx_itch_levels_memory_bytes(self.b)

    @property
    def live_orders(self):
        return self.counters()["live"]

    def counters(self):
        """Counts (dict): messages, applied, rejected, rejected_by_reason (index = MBO reject
        reason), unknown_orders, other_messages, unknown_types, traded_qty, live, outside,
        spilled, slides, slides_refused (a slide the spill table had no room for: raise
        window_bits or spill_capacity)."""
        cdef vx_itch_levels_counts c
        with self._lock:
            vx_itch_levels_counts_read(self.b, &c)
        return {"messages": c.messages, "applied": c.applied, "rejected": c.rejected,
                "rejected_by_reason": [c.rejected_by_reason[i] for i in range(8)],
                "unknown_orders": c.unknown_orders, "other_messages": c.other_messages,
                "unknown_types": c.unknown_types, "traded_qty": c.traded_qty, "live": c.live,
                "outside": c.outside, "spilled": c.spilled, "slides": c.slides,
                "slides_refused": c.slides_refused}
