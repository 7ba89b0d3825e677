"""Market-data feed readers and writers: LOBSTER and NASDAQ TotalView-ITCH 5.0 (docs/feeds.md).

Parsing is native (``velox._feeds``): no per-message Python objects; events come out as
``velox.MBO_DTYPE`` arrays (one event per converted message).

- ``read_lobster(message_path)`` -> MBO_DTYPE array; ``read_lobster_book(orderbook_path)`` ->
  ``LobsterBook`` arrays; ``seed(book, lobster_book, row)`` seeds an ``MboBook`` from one row.
- ``read_itch(path, symbols=None, chunk=...)`` -> ``ItchReader``: iterate it for MBO_DTYPE
  arrays chunk by chunk (a file larger than RAM streams: the file is memory-mapped and parsed
  in place), or ``.read()`` for one array; ``.symbols`` and ``.counts`` after (or during)
  iteration. gzip files (``.gz`` or the gzip magic) are stream-decompressed in bounded chunks.
- ``write_itch(path, events, symbols)``, ``write_lobster(path, events)`` and
  ``write_lobster_book(path, lobster_book)`` write files velox (and other readers) read back
  exactly.
"""

from __future__ import annotations

import mmap
import os
import zlib
from typing import Iterator, NamedTuple, Optional, Sequence

import numpy as np

from velox._feeds import (
    ItchBooks,
    ItchParser,
    itch_directory,
    itch_message_length,
    itch_write,
    lobster_parse_book,
    lobster_parse_messages,
    lobster_write_messages,
)
from velox._records import MBO_DTYPE

__all__ = [
    "ItchBooks",
    "ItchParser",
    "ItchReader",
    "as_itch",
    "LobsterBook",
    "itch_message_length",
    "read_itch",
    "read_lobster",
    "read_lobster_book",
    "seed",
    "write_itch",
    "write_lobster",
    "write_lobster_book",
]

DEFAULT_CHUNK = 1 << 20
"""Events per chunk read_itch yields by default (48 MiB of MBO_DTYPE)."""

_GZIP_MAGIC = b"\x1f\x8b"
_GZ_IN = 1 << 20       # compressed bytes read per step
_GZ_OUT = 16 << 20     # decompressed bytes produced per step (bounded memory)
_MAX_CHUNK = 1 << 28


def _copy(events: np.ndarray) -> np.ndarray:
    """A copy with zero padding (NumPy's ndarray.copy() of a padded structured dtype copies
    the fields only and leaves the padding bytes uninitialised)."""
    out = np.zeros(len(events), MBO_DTYPE)
    out[:] = events
    return out


def _read_bytes(path) -> bytes:
    with open(os.fspath(path), "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
    return data


# ---- LOBSTER --------------------------------------------------------------------------------

def read_lobster(message_path, *, instrument: int = 0) -> np.ndarray:
    """A LOBSTER message file -> MBO_DTYPE array (prices x 10^4 into velox fixed point).

    Types: 1 ADD, 2 CANCEL (partial), 3 DELETE, 4 EXECUTE (visible, at the given price),
    5 TRADE (hidden execution), 6 CROSS (side kept), 7 STATUS ('H' halt, 'Q' quoting,
    'T' trading, from price -1/0/1). Direction 1 = BUY, -1 = SELL. ``instrument`` is written
    into every event. Malformed input raises ValueError naming line and column.
    """
    if not isinstance(instrument, int) or not 0 <= instrument <= 0xFFFFFFFF:
        raise ValueError(f"instrument must be an int in [0, 2**32), got {instrument!r}")
    return lobster_parse_messages(_read_bytes(message_path), instrument)


class LobsterBook(NamedTuple):
    """A LOBSTER orderbook file: four (rows, levels) arrays; level 0 is the best. Prices are
    velox fixed point (int64), sizes uint64; empty levels have price 0 and size 0."""
    ask_px: np.ndarray
    ask_qty: np.ndarray
    bid_px: np.ndarray
    bid_qty: np.ndarray

    @property
    def levels(self) -> int:
        return self.ask_px.shape[1]

    def __len__(self) -> int:  # rows
        return self.ask_px.shape[0]


def read_lobster_book(orderbook_path, *, levels: Optional[int] = None) -> LobsterBook:
    """A LOBSTER orderbook file -> ``LobsterBook``. ``levels`` defaults to the first line's
    field count / 4; every line must have exactly 4 x levels fields."""
    if levels is not None and (not isinstance(levels, int) or levels < 1):
        raise ValueError(f"levels must be a positive int, got {levels!r}")
    return LobsterBook(*lobster_parse_book(_read_bytes(orderbook_path), levels))


def seed(book, lobster_book: LobsterBook, row: int) -> int:
    """Seed ``book`` (an ``MboBook``) with the levels of one orderbook-file row: each non-empty
    level becomes seeded quantity (``book.seed_level(side, price, qty)``) — lots with no order
    identity, ahead of every identified order. Returns the number of levels seeded.

    LOBSTER's orderbook row i is the book *after* message i, so to replay messages
    ``m[i+1:]`` seed from row i."""
    n = len(lobster_book)
    if not isinstance(row, (int, np.integer)) or not -n <= row < n:
        raise ValueError(f"row must be an int in [{-n}, {n}), got {row!r}")
    from velox._records import BUY, SELL

    seeded = 0
    for side, px, qty in ((SELL, lobster_book.ask_px[row], lobster_book.ask_qty[row]),
                          (BUY, lobster_book.bid_px[row], lobster_book.bid_qty[row])):
        for p, q in zip(px.tolist(), qty.tolist()):
            if q:
                book.seed_level(side, p, q)
                seeded += 1
    return seeded


def write_lobster(path, events: np.ndarray) -> int:
    """Write ``events`` as a LOBSTER message file; returns bytes written. ValueError names the
    first event LOBSTER cannot carry (REPLACE, BROKEN, CLEAR, sub-10^-4 prices, ...)."""
    data = lobster_write_messages(events)
    with open(os.fspath(path), "wb") as f:
        f.write(data)
    return len(data)


def write_lobster_book(path: str | os.PathLike[str], lobster_book: LobsterBook) -> int:
    """Write ``lobster_book`` as a LOBSTER orderbook file (per row: ask price, ask size, bid
    price, bid size for each level; prices in 10^-4 dollars; an empty level as LOBSTER writes
    it: 9999999999 / -9999999999, size 0); ``read_lobster_book`` reads it back exactly.
    Returns bytes written. ValueError names the first row whose price is not a whole 10^-4
    dollar or is negative."""
    arrays = [np.asarray(a) for a in lobster_book]
    shape = arrays[0].shape
    if len(shape) != 2 or any(a.shape != shape for a in arrays):
        raise ValueError(f"lobster_book needs four arrays of one (rows, levels) shape, got "
                         f"{[a.shape for a in arrays]}")
    ask_px, ask_qty, bid_px, bid_qty = (a.astype(np.int64) for a in arrays)
    for name, px in (("ask", ask_px), ("bid", bid_px)):
        bad = np.nonzero(((px % 10**4) != 0) | (px < 0))[0]
        if len(bad):
            raise ValueError(f"write_lobster_book: row {int(bad[0])} has a {name} price that "
                             f"is not a whole, non-negative 10^-4 dollar")
    table = np.empty((shape[0], 4 * shape[1]), np.int64)
    table[:, 0::4] = np.where(ask_qty == 0, 9999999999, ask_px // 10**4)
    table[:, 1::4] = ask_qty
    table[:, 2::4] = np.where(bid_qty == 0, -9999999999, bid_px // 10**4)
    table[:, 3::4] = bid_qty
    lines = ",".join(["%d"] * table.shape[1]) + "\n"
    data = "".join(lines % tuple(row) for row in table.tolist()).encode()
    with open(os.fspath(path), "wb") as f:
        f.write(data)
    return len(data)


# ---- ITCH -----------------------------------------------------------------------------------

class ItchReader:
    """Iterator over the MBO_DTYPE chunks of one ITCH 5.0 file (see ``read_itch``).

    ``counts``: dict messages, events, skipped, unknown, filtered, by_type.
    ``symbols``: dict locate -> symbol from the R (stock directory) messages read so far.
    ``bytes_read``: input bytes consumed (decompressed bytes for gzip).
    """

    def __init__(self, path, symbols=None, chunk: int = DEFAULT_CHUNK, reuse: bool = False):
        if not isinstance(chunk, int) or not 1 <= chunk <= _MAX_CHUNK:
            raise ValueError(f"chunk must be an int in [1, {_MAX_CHUNK}], got {chunk!r}")
        self.path = os.fspath(path)
        self.chunk = chunk
        self.reuse = reuse
        self.parser = ItchParser()
        if symbols is not None:
            if isinstance(symbols, (str, bytes)):
                symbols = [symbols]
            self.parser.filter_symbols(list(symbols))
        self._started = False
        self._buf = None

    @property
    def counts(self) -> dict:
        return self.parser.counts

    @property
    def symbols(self) -> dict:
        return self.parser.symbols

    @property
    def bytes_read(self) -> int:
        return self.parser.offset

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._started:
            raise RuntimeError("an ItchReader can be iterated once; call read_itch again")
        self._started = True
        with open(self.path, "rb") as f:
            magic = f.read(2)
            if magic == _GZIP_MAGIC:
                yield from self._gzip(f)
                return
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            if hasattr(mm, "madvise"):
                mm.madvise(mmap.MADV_SEQUENTIAL)
            yield from self._parse_buffer(mm, size, final=True)
        finally:
            mm.close()

    def _parse_buffer(self, buf, size, final):
        """Parse buf[0..size) from its start; yields chunks; returns bytes consumed."""
        view = memoryview(buf)
        pos = 0
        try:
            while pos < size:  # each pass fills a whole chunk or is the last
                if self.reuse:
                    if self._buf is None:
                        self._buf = np.empty(self.chunk, MBO_DTYPE)
                    out = self._buf
                else:
                    out = np.empty(self.chunk, MBO_DTYPE)
                consumed, produced = self.parser.parse(view[pos:size], out)
                pos += consumed
                if produced:
                    yield out[:produced]
                if produced < len(out):  # input ended (or its last message is incomplete)
                    break
        finally:
            view.release()
        if final and pos < size:
            raise ValueError(f"ITCH: truncated final message at byte offset {self.parser.offset}"
                             f" ({size - pos} bytes left of an incomplete message)")
        return pos

    def _gzip(self, f):
        f.seek(0)
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = bytearray()
        while True:  # bounded by the file: each pass reads input or drains output
            if d.unconsumed_tail:
                data = d.decompress(d.unconsumed_tail, _GZ_OUT)
            else:
                raw = f.read(_GZ_IN)
                if not raw:
                    data = d.flush()
                    pending += data
                    break
                try:
                    data = d.decompress(raw, _GZ_OUT)
                except zlib.error as exc:
                    raise ValueError(f"ITCH: corrupt gzip stream in {self.path}: {exc}") from None
            pending += data
            used = yield from self._parse_buffer(pending, len(pending), final=False)
            del pending[:used]
            if d.eof and not d.unconsumed_tail:
                break
        if not d.eof:
            raise ValueError(f"ITCH: gzip stream of {self.path} ends early (truncated file)")
        used = yield from self._parse_buffer(pending, len(pending), final=True)
        del pending[:used]

    def read(self) -> np.ndarray:
        """Every remaining event in one array."""
        parts = [_copy(c) for c in self] if self.reuse else list(self)
        out = np.zeros(sum(len(p) for p in parts), MBO_DTYPE)
        pos = 0
        for p in parts:  # not np.concatenate: it would drop MBO_DTYPE's padded layout
            out[pos:pos + len(p)] = p
            pos += len(p)
        return out


def read_itch(path, *, symbols: Optional[Sequence[str]] = None, chunk: int = DEFAULT_CHUNK,
              reuse: bool = False) -> ItchReader:
    """Read a NASDAQ TotalView-ITCH 5.0 file (length-prefixed, as published; gzip detected by
    its magic bytes) -> ``ItchReader``; iterate it for MBO_DTYPE arrays of at most ``chunk``
    events, or call ``.read()`` for one array.

    Plain files are memory-mapped and parsed in place (zero copy; a file larger than RAM
    streams through the page cache). ``symbols``: only events of these stocks (matched against
    the R stock-directory messages, which must come before the stock's orders, as in NASDAQ's
    files); system events (S) always pass. ``reuse=True`` yields the same array every time
    (no allocation per chunk; copy what you keep).

    Malformed input (a length that disagrees with its type's fixed length, a zero length, a bad
    side, a truncated final message) raises ValueError naming the byte offset. Types velox does
    not convert are skipped and counted (``counts['skipped']``, ``counts['unknown']``).
    """
    return ItchReader(path, symbols=symbols, chunk=chunk, reuse=reuse)


def as_itch(events: np.ndarray) -> np.ndarray:
    """A copy of ``events`` as an ITCH round trip returns them: ITCH E/C/X/D/U messages carry
    no side, so the reader writes ``BUY`` there as a placeholder (the book uses the resting
    order's own side)."""
    out = _copy(events)
    a = out["action"]
    out["side"][(a == 2) | (a == 3) | (a == 4) | (a == 5)] = 0
    return out


def write_itch(path, events: np.ndarray, symbols: Sequence[Optional[str]] = (), *,
               directory: bool = True, compress: bool = False) -> int:
    """Write ``events`` as an ITCH 5.0 file; ``symbols[instrument]`` names each instrument
    (None for unnamed). With ``directory`` an R message per named instrument comes first (ts
    0). ``compress`` writes gzip. Returns bytes written (before compression)."""
    head = b""
    if directory:
        head = b"".join(itch_directory(i, 0, s) for i, s in enumerate(symbols) if s is not None)
    body = itch_write(events, list(symbols))
    path = os.fspath(path)
    if compress:
        import gzip

        with gzip.open(path, "wb", compresslevel=1) as g:
            g.write(head)
            g.write(body)
    else:
        with open(path, "wb") as f:
            f.write(head)
            f.write(body)
    return len(head) + len(body)
