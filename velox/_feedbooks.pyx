# cython: language_level=3, embedsignature=True, freethreading_compatible=True
# distutils: sources = csrc/velox/itch.c csrc/velox/mbo.c csrc/velox/types.c csrc/velox/tsc.c
"""ITCH -> a book for every symbol, without Python per message: ``ItchBooks`` owns a
``vx_mbo_set`` (one market-by-order book per stock locate, one shared order table) and
``feed(parser, buf, out)`` parses a chunk with an ``ItchParser`` and applies it, GIL released.
Used by ``velox.feeds.replay_itch`` and benchmarks/bench_feeds.py (docs/feeds.md).
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

cimport numpy as cnp
import numpy as np

from velox._feeds cimport ItchParser
from velox.includes.feeds cimport vx_itch_parse, vx_itch_error, vx_itch_error_offset, vx_itch_error_type
from velox.includes.mbo cimport *
from velox.includes.types cimport VX_OK, VX_ENOMEM, vx_mbo, vx_status

from velox._records import MBO_DTYPE

cnp.import_array()

import threading


cdef class ItchBooks:
    """``instruments`` books (instrument = ITCH stock locate, 0 .. instruments-1) of ``levels``
    price levels of ``tick`` (velox fixed point) sharing one table of ``max_orders`` orders.
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

    def feed(self, ItchParser parser not None, const uint8_t[::1] buf, out):
        """Parse whole messages of ``buf`` into ``out`` (MBO_DTYPE scratch, its size = the batch)
        and apply them, repeatedly until the input ends or its last message is incomplete.
        Returns ``(consumed, events, applied, rejected)``."""
        if not isinstance(out, np.ndarray) or out.dtype != MBO_DTYPE or out.ndim != 1 \
                or not out.flags.c_contiguous or not out.flags.writeable or len(out) == 0:
            raise TypeError("out must be a non-empty writeable 1-d MBO_DTYPE array")
        cdef vx_mbo *ev = <vx_mbo *>cnp.PyArray_DATA(<cnp.ndarray>out)
        cdef size_t cap = out.shape[0], n = buf.shape[0], pos = 0, consumed, produced
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
        arr = np.ascontiguousarray(events)
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
        return vx_mbo_memory_bytes(vx_mbo_set_book(self.set, 0))

    def counters(self):
        """The set's counters (dict)."""
        cdef vx_mbo_counters c
        vx_mbo_counters_read(vx_mbo_set_book(self.set, 0), &c)
        return {"applied": c.applied, "rejected": c.rejected,
                "by_action": list(c.by_action), "rejected_by_reason": list(c.rejected_by_reason),
                "unknown_orders": c.unknown_orders, "out_of_window_orders": c.out_of_window_orders,
                "traded_qty": c.traded_qty}
