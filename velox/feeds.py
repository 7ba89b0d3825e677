"""Market-data feed readers and writers: LOBSTER and NASDAQ TotalView-ITCH 5.0 (docs/feeds.md).

Parsing is native (``velox._feeds``): no per-message Python objects; events come out as
``velox.MBO_DTYPE`` arrays (one event per converted message).

- ``read_lobster(message_path)`` -> MBO_DTYPE array (``iter_lobster``: block by block); ``read_lobster_book(orderbook_path)`` ->
  ``LobsterBook`` arrays; ``seed(book, lobster_book, row)`` seeds an ``MboBook`` from one row;
  ``write_lobster_book`` writes one back; ``lobster_book_before`` derives the book before the
  first message; ``load_snapshot`` normalises a ``snapshot=`` value (``LEVEL_DTYPE`` levels,
  ADD events, ``"lobster-book:PATH[#ROW]"``).
- ``read_itch(path, symbols=None, chunk=..., reuse=False, mmap=True)`` -> ``ItchReader``:
  iterate it for MBO_DTYPE arrays chunk by chunk (a file larger than RAM streams: a regular
  file is memory-mapped and parsed in place; pipes and FIFOs are read through a bounded
  buffer), or ``.read()`` for one array; ``.symbols`` and ``.counts`` after (or during)
  iteration. gzip input (detected by its magic bytes; every member of a multi-member file) is
  stream-decompressed in bounded steps, for ITCH and LOBSTER alike.
- ``read_dbn(path, chunk=..., reuse=False, mmap=True, ts="recv")`` -> ``DbnReader``: Databento
  DBN (versions 1-3, plain or zstd) MBO records as MBO_DTYPE chunks; ``.metadata`` (dataset,
  schema, start/end, symbols, instrument mappings) is read at the call; zstd needs the
  ``zstandard`` package (``pip install 'velox[dbn]'``) or Python 3.14's ``compression.zstd``.
- ``write_itch(path, events, symbols)`` and ``write_lobster(path, events)`` write files velox
  (and other readers) read back exactly.
"""

from __future__ import annotations

import errno
import mmap as _mmap
import os
import stat
import zlib
from typing import Any, BinaryIO, Generator, Iterator, NamedTuple, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from velox._feeds import (
    ItchBooks,
    ItchLevels,
    ItchParser,
    itch_directory,
    itch_message_length,
    itch_write,
    lobster_parse_book,
    lobster_parse_messages,
    lobster_write_messages,
)
from velox._dbn import DbnParser
from velox._records import MBO_DTYPE, PRICE_SCALE

__all__ = [
    "DbnParser",
    "DbnReader",
    "read_dbn",
    "ItchBooks",
    "ItchLevels",
    "build_itch_books",
    "itch_levels_at",
    "ItchParser",
    "ItchReader",
    "as_itch",
    "LobsterBook",
    "itch_message_length",
    "read_itch",
    "read_lobster",
    "read_lobster_book",
    "LEVEL_DTYPE",
    "Snapshot",
    "lobster_book_before",
    "load_snapshot",
    "seed",
    "write_itch",
    "write_lobster",
    "write_lobster_book",
]

DEFAULT_CHUNK = 1 << 20
"""Events per chunk read_itch yields by default (48 MiB of MBO_DTYPE)."""

_GZIP_MAGIC = b"\x1f\x8b"
_GZ_IN = 1 << 18       # compressed bytes read per step (each member boundary copies the rest)
_GZ_OUT = 16 << 20     # decompressed bytes produced per step (bounded memory)
_READ_BLOCK = 1 << 20  # plain bytes read per step (pipes, FIFOs, mmap=False)
_LOBSTER_BLOCK = 16 << 20  # LOBSTER text parsed per step
_LOBSTER_MAX_LINE = 4 << 20  # longer lines are refused (10,000 orderbook levels need < 1 MiB)
_MAX_CHUNK = 1 << 28

Events = npt.NDArray[np.void]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
# ITCH chunks out, nothing in, bytes consumed back (from _parse_buffer)
_Chunks = Generator[Events, None, int]


def _copy(events: Events) -> Events:
    """A copy with zero padding (NumPy's ndarray.copy() of a padded structured dtype copies
    the fields only and leaves the padding bytes uninitialised)."""
    out = np.zeros(len(events), MBO_DTYPE)
    out[:] = events
    return out


def _join(parts: list[Events], own: bool = False) -> Events:
    """Contiguous MBO_DTYPE parts in one array, copied as bytes (not np.concatenate: it drops
    the padded layout; not field assignment: 2-3x slower). The native parsers zero every event
    they write, padding included, so the bytes are deterministic. ``own``: a new array even
    for one part (not a view of a larger parse buffer)."""
    if len(parts) == 1 and not own:
        return parts[0]
    out = np.zeros(sum(len(p) for p in parts), MBO_DTYPE)
    raw = out.view(np.uint8)
    size = MBO_DTYPE.itemsize
    pos = 0
    for p in parts:
        raw[pos:pos + len(p) * size] = np.ascontiguousarray(p).view(np.uint8)
        pos += len(p) * size
    return out


class _Input:
    """One input path, checked at once (a missing file, a directory or an unreadable file raise
    at the call, not at the first read) and opened by ``open()``. Regular files remember their
    size, so a file that shrinks while it is read raises ValueError instead of ending early."""

    def __init__(self, path: PathLike) -> None:
        self.path: str = os.fsdecode(os.fspath(path))
        st = os.stat(self.path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), self.path)
        if not os.access(self.path, os.R_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), self.path)
        self.regular = stat.S_ISREG(st.st_mode)
        self.size = 0      # a regular file's size when opened
        self.done = 0      # bytes read so far

    def open(self) -> BinaryIO:
        f = open(self.path, "rb", buffering=0)
        st = os.fstat(f.fileno())
        self.regular = stat.S_ISREG(st.st_mode)
        self.size = st.st_size if self.regular else 0
        return f

    def read(self, f: BinaryIO, n: int) -> bytes:
        data = f.read(n)
        if not data:
            self.check_complete()
            return b""
        self.done += len(data)
        return data

    def readinto(self, f: BinaryIO, view: memoryview) -> int:
        got: Optional[int] = f.readinto(view)  # type: ignore[attr-defined]
        if not got:
            self.check_complete()
            return 0
        self.done += got
        return int(got)

    def head(self, f: BinaryIO) -> bytes:
        """The first 2 bytes (fewer only at the end of the input); a pipe may return one."""
        data = b""
        while len(data) < 2:  # bounded: each pass reads a byte or ends
            more = self.read(f, 2 - len(data))
            if not more:
                break
            data += more
        return data

    def check_complete(self) -> None:
        if self.regular and self.done < self.size:
            raise ValueError(f"{self.path}: the file shrank while it was read (ended after "
                             f"{self.done} of {self.size} bytes; truncated or rewritten?)")


def _gunzip(src: _Input, f: BinaryIO, head: bytes) -> Iterator[bytes]:
    """The decompressed bytes of every gzip member of ``f`` (RFC 1952 allows several: ``cat
    a.gz b.gz``, ``gzip -c >>``, pigz, bgzip), in pieces of at most _GZ_OUT bytes, reading
    _GZ_IN compressed bytes at a time. ``head``: bytes already read from f. NUL padding after a
    member is skipped (as gzip does); any other bytes that do not start a member, corrupt data
    and a truncated member raise ValueError naming the file and the byte offset."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    raw = head           # input not yet given to d
    at = 0               # compressed offset of raw[0]
    member = 0           # compressed offset where the current member starts
    in_member = True     # False between members (the input may end there)
    while True:  # bounded by the input: each pass consumes input, drains output or ends
        if not in_member:
            skip = len(raw) - len(raw.lstrip(b"\0"))
            raw = raw[skip:]
            at += skip
            if len(raw) < 2:
                more = src.read(f, _GZ_IN)
                if not more:
                    if raw:
                        raise ValueError(f"{src.path}: trailing byte after the last gzip member"
                                         f" at byte offset {at} (not a gzip member)")
                    return
                raw += more
                continue
            if raw[:2] != _GZIP_MAGIC:
                raise ValueError(f"{src.path}: bytes at byte offset {at}, after a complete gzip "
                                 f"member, are not a gzip member (trailing garbage: "
                                 f"{bytes(raw[:8])!r}...)")
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            member = at
            in_member = True
        if not raw:
            raw = src.read(f, _GZ_IN)
            if not raw:  # end of input inside a member: whatever zlib still holds, then check
                try:
                    out = d.flush()
                except (zlib.error, EOFError) as exc:
                    raise ValueError(f"{src.path}: corrupt gzip member at byte offset {member} "
                                     f"(found at its end, byte offset {at}): {exc}") from None
                if out:
                    yield out
                if not d.eof:
                    raise ValueError(f"{src.path}: gzip member at byte offset {member} ends "
                                     f"early at byte offset {at} (truncated file)")
                raw = d.unused_data
                in_member = False
                continue
        try:
            out = d.decompress(raw, _GZ_OUT)
        except (zlib.error, EOFError) as exc:
            raise ValueError(f"{src.path}: corrupt gzip member at byte offset {member} (found "
                             f"between byte offsets {at} and {at + len(raw)}): {exc}") from None
        if d.eof:
            at += len(raw) - len(d.unused_data)
            raw = d.unused_data
            in_member = False
        else:
            at += len(raw) - len(d.unconsumed_tail)
            raw = d.unconsumed_tail
        if out:
            yield out


def _blocks(src: _Input, block: int) -> Iterator[bytes]:
    """The input's bytes (decompressed if it starts with the gzip magic) in pieces of at most
    ``block`` bytes (gzip: at most _GZ_OUT), read from a regular file, pipe or FIFO alike."""
    with src.open() as f:
        head = src.head(f)
        if head == _GZIP_MAGIC:
            yield from _gunzip(src, f, head)
            return
        if head:
            yield head
        while True:  # bounded by the input
            data = src.read(f, block)
            if not data:
                return
            yield data


# ---- LOBSTER --------------------------------------------------------------------------------

_MESSAGE_FIELDS = "time,type,order id,size,price,direction"


def _lines(src: _Input) -> Iterator[tuple[memoryview, int]]:
    """The input in blocks of whole lines (the last one may lack its newline), each with the
    number of its first line: bounded memory (a block is at most _LOBSTER_BLOCK plus one line)."""
    carry = b""
    line = 1
    for piece in _blocks(src, _LOBSTER_BLOCK):
        data = carry + piece if carry else piece
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > _LOBSTER_MAX_LINE:
                raise ValueError(f"{src.path}: line {line} is longer than {_LOBSTER_MAX_LINE} "
                                 "bytes (not a LOBSTER file?)")
            carry = data
            continue
        carry = data[cut:]
        with memoryview(data) as view:
            yield view[:cut], line
        line += int(np.count_nonzero(np.frombuffer(data, np.uint8, cut) == 10))
    if carry:
        with memoryview(carry) as view:
            yield view, line


def _first_line(block: memoryview) -> bytes:
    return bytes(block[:_LOBSTER_MAX_LINE]).split(b"\n", 1)[0].rstrip(b"\r")


def _lobster_error(src: _Input, exc: ValueError, block: memoryview, line: int,
                   book: bool) -> ValueError:
    """The parser's error with the file named, and for a bad first line what it looks like."""
    msg = f"{src.path}: {exc}"
    if line != 1 or not ("line 1," in str(exc) or "line 1 " in str(exc)):
        return ValueError(msg)
    first = _first_line(block)
    fields = first.count(b",") + 1
    shown = first[:80].decode("ascii", "replace")
    if first[:1].isalpha() or first[:1] in (b'"', b"#"):
        kind = "orderbook" if book else "message"
        want = ("ask price,ask size,bid price,bid size per level" if book
                else _MESSAGE_FIELDS)
        return ValueError(f"{src.path}: line 1 is not a LOBSTER {kind} line: expected {want} as "
                          f"numbers, got {shown!r} (LOBSTER files have no header line: remove it)")
    if not book and fields != 6 and fields % 4 == 0:
        return ValueError(f"{msg} (line 1 has {fields} fields: this looks like a LOBSTER "
                          f"orderbook file (use read_lobster_book))")
    if book and fields == 6:
        return ValueError(f"{msg} (line 1 has 6 fields: this looks like a LOBSTER message file "
                          f"(use read_lobster))")
    return ValueError(msg)


def read_lobster(message_path: PathLike, *, instrument: int = 0) -> Events:
    """A LOBSTER message file -> MBO_DTYPE array (prices x 10^4 into velox fixed point).

    Types: 1 ADD, 2 CANCEL (partial), 3 DELETE, 4 EXECUTE (visible, at the given price),
    5 TRADE (hidden execution), 6 CROSS (side kept), 7 STATUS ('H' halt, 'Q' quoting,
    'T' trading, from price -1/0/1). Direction 1 = BUY, -1 = SELL. ``instrument`` is written
    into every event.

    The path may be a regular file, a pipe or FIFO; gzip (every member of a multi-member file)
    is detected by its magic bytes. The text is read, decompressed and parsed in bounded blocks
    (16 MiB), so memory is the result (48 bytes per event; twice that while the blocks are
    joined) plus one block, never the whole text, and a file that is not LOBSTER fails at its
    first bad line without being decompressed whole. Malformed input
    raises ValueError naming the file, line and column (a header line, or an orderbook file
    given here, is named as such).
    """
    parts = list(iter_lobster(message_path, instrument=instrument))
    if not parts:
        return np.zeros(0, MBO_DTYPE)
    return _join(parts)


def iter_lobster(message_path: PathLike, *, instrument: int = 0) -> Iterator[Events]:
    """``read_lobster`` one block at a time: yields an MBO_DTYPE array per block of whole lines
    (16 MiB of text), so a replay holds one block's events, never the whole file. The file is
    checked at the call (missing, a directory, unreadable: OSError); a bad line raises
    ValueError naming the file, line and column when its block is reached."""
    if not isinstance(instrument, int) or isinstance(instrument, bool) \
            or not 0 <= instrument <= 0xFFFFFFFF:
        raise ValueError(f"instrument must be an int in [0, 2**32), got {instrument!r}")
    src = _Input(message_path)
    return _iter_lobster(src, instrument)


def _iter_lobster(src: _Input, instrument: int) -> Iterator[Events]:
    for block, line in _lines(src):
        try:
            events = lobster_parse_messages(block, instrument, line)
        except ValueError as exc:
            raise _lobster_error(src, exc, block, line, book=False) from None
        if len(events):
            yield events


class LobsterBook(NamedTuple):
    """A LOBSTER orderbook file: four (rows, levels) arrays; level 0 is the best. Prices are
    velox fixed point (int64), sizes uint64; empty levels have price 0 and size 0."""
    ask_px: np.ndarray[Any, Any]
    ask_qty: np.ndarray[Any, Any]
    bid_px: np.ndarray[Any, Any]
    bid_qty: np.ndarray[Any, Any]

    @property
    def levels(self) -> int:
        return int(self.ask_px.shape[1])

    def __len__(self) -> int:  # rows
        return int(self.ask_px.shape[0])


def read_lobster_book(orderbook_path: PathLike, *, levels: Optional[int] = None) -> LobsterBook:
    """A LOBSTER orderbook file -> ``LobsterBook``. ``levels`` defaults to the first line's
    field count / 4; every line must have exactly 4 x levels fields. Read like
    ``read_lobster``: regular file, pipe or FIFO, plain or gzip, in bounded blocks; malformed
    input raises ValueError naming the file, line and column."""
    if levels is not None and (not isinstance(levels, int) or isinstance(levels, bool)
                               or levels < 1):
        raise ValueError(f"levels must be a positive int, got {levels!r}")
    src = _Input(orderbook_path)
    parts: list[tuple[Any, Any, Any, Any]] = []
    for block, line in _lines(src):
        try:
            part = lobster_parse_book(block, levels, line)
        except ValueError as exc:
            raise _lobster_error(src, exc, block, line, book=True) from None
        levels = part[0].shape[1]  # the first block decides; later blocks must agree
        parts.append(part)
    if not parts:
        return LobsterBook(*lobster_parse_book(b"", levels))
    if len(parts) == 1:
        return LobsterBook(*parts[0])
    return LobsterBook(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def seed(book: Any, lobster_book: LobsterBook, row: int) -> int:
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




#: One price level of a snapshot: side (velox.BUY / velox.SELL), price (fixed point), qty
#: (lots with no order identity, seeded as ``MboBook.seed_level`` does).
LEVEL_DTYPE = np.dtype([("side", "u1"), ("price", "<i8"), ("qty", "<u8")])


def _book_levels(book: LobsterBook, row: int) -> np.ndarray[Any, Any]:
    """The non-empty levels of one orderbook row as a LEVEL_DTYPE array, best ask first, then
    the bids best first (the first level a book sees places its window: the touch)."""
    from velox._records import BUY, SELL

    out = []
    for side, px, qty in ((SELL, book.ask_px[row], book.ask_qty[row]),
                          (BUY, book.bid_px[row], book.bid_qty[row])):
        out += [(side, p, q) for p, q in zip(px.tolist(), qty.tolist()) if q]
    return np.array(out, LEVEL_DTYPE)


def lobster_book_before(book: LobsterBook, first: np.ndarray[Any, Any] | np.void) -> np.ndarray[Any, Any]:
    """The book before a LOBSTER message file's first message (LEVEL_DTYPE): orderbook row 0 is
    the book *after* message 0, so message 0 is undone on row 0's levels: an ADD's size leaves
    its level, a CANCEL's, DELETE's or EXECUTE's size returns to its level (which is inserted
    when the message removed it; a level that only then came into view is dropped again, so at
    most ``book.levels`` per side); hidden executions, crosses and halts change nothing.
    ``first`` is message 0 as ``read_lobster`` returns it (one MBO_DTYPE record, or an array
    whose element 0 is used). ValueError when message 0 does not agree with row 0."""
    from velox._records import BUY, SELL, Action

    if len(book) == 0:
        raise ValueError("lobster_book_before: the orderbook file has no rows")
    ev = first[0] if isinstance(first, np.ndarray) and first.ndim == 1 else first
    action, side, price, qty = int(ev["action"]), int(ev["side"]), int(ev["price"]), int(ev["qty"])
    sides: dict[int, dict[int, int]] = {}
    for sd, px, q in ((SELL, book.ask_px[0], book.ask_qty[0]), (BUY, book.bid_px[0], book.bid_qty[0])):
        sides[int(sd)] = {p: v for p, v in zip(px.tolist(), q.tolist()) if v}
    if action in (Action.ADD, Action.CANCEL, Action.DELETE, Action.EXECUTE):
        if side not in sides:
            raise ValueError(f"lobster_book_before: message 0 has side {side}, not BUY or SELL")
        levels = sides[side]
        if action == Action.ADD:
            have = levels.get(price, 0)
            if have < qty:
                raise ValueError(
                    f"lobster_book_before: message 0 adds {qty} at {price / PRICE_SCALE:.4f} but "
                    f"orderbook row 0 holds {have} there: the files are not a pair")
            if have == qty:
                del levels[price]
            else:
                levels[price] = have - qty
        else:
            levels[price] = levels.get(price, 0) + qty
            best_first = sorted(levels, reverse=(side == BUY))
            for p in best_first[book.levels:]:  # beyond the file's view again
                del levels[p]
    out = []
    for key in (int(SELL), int(BUY)):
        for p in sorted(sides[key], reverse=(key == BUY)):
            out.append((key, p, sides[key][p]))
    return np.array(out, LEVEL_DTYPE)


class Snapshot(NamedTuple):
    """A normalised ``snapshot=`` value (``load_snapshot``): ``books[instrument]`` is a
    LEVEL_DTYPE array (seeded lots) or an MBO_DTYPE array of ADD events; ``first_message`` is
    the index of the first LOBSTER message the replay must apply after it (0 unless the
    snapshot is an orderbook row: row i is the book after message i, so i + 1)."""
    books: dict[int, np.ndarray[Any, Any]]
    first_message: int
    source: str


def _check_levels(levels: np.ndarray[Any, Any], what: str) -> np.ndarray[Any, Any]:
    names = levels.dtype.names or ()
    if levels.ndim != 1 or set(names) != {"side", "price", "qty"} or any(
            levels.dtype[n].kind not in "iu" for n in names):
        raise ValueError(f"{what}: a levels array needs integer fields side, price, qty "
                         f"(velox.feeds.LEVEL_DTYPE), got {levels.dtype}")
    out = np.zeros(len(levels), LEVEL_DTYPE)
    for n in ("side", "price", "qty"):
        v = levels[n]
        if n == "side" and np.any((v != 0) & (v != 1)):
            raise ValueError(f"{what}: side must be velox.BUY (0) or velox.SELL (1)")
        if n == "qty" and np.any(v < 0):
            raise ValueError(f"{what}: qty must be >= 0")
        out[n] = v
    return out


def _check_events(events: np.ndarray[Any, Any], what: str) -> np.ndarray[Any, Any]:
    from velox._records import Action

    if events.ndim != 1:
        raise ValueError(f"{what}: a 1-D MBO_DTYPE array of ADD events, got shape {events.shape}")
    bad = np.nonzero(events["action"] != Action.ADD)[0]
    if len(bad):
        raise ValueError(f"{what}: event {int(bad[0])} is not an ADD (action "
                         f"{int(events['action'][bad[0]])}): a snapshot of orders is ADDs only")
    return _copy(events)


def _parse_lobster_book_spec(spec: str, messages: Optional[np.ndarray[Any, Any]]) -> tuple[np.ndarray[Any, Any], int]:
    """"lobster-book:PATH[#ROW]" -> (levels, first_message)."""
    body = spec[len("lobster-book:"):]
    path, sep, row_text = body.rpartition("#") if "#" in body else (body, "", "")
    if not path:
        raise ValueError(f"snapshot {spec!r}: 'lobster-book:PATH[#ROW]' needs a file path")
    if not os.path.exists(path):
        raise ValueError(f"snapshot {spec!r}: no such file {path!r}")
    try:
        book = read_lobster_book(path)
    except OSError as e:
        raise ValueError(f"snapshot {spec!r}: cannot read {path!r}: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"snapshot {spec!r}: {e}") from None
    if len(book) == 0:
        raise ValueError(f"snapshot {spec!r}: the orderbook file has no rows")
    if sep:
        try:
            row = int(row_text)
        except ValueError:
            raise ValueError(f"snapshot {spec!r}: row {row_text!r} is not an integer") from None
        if not 0 <= row < len(book):
            raise ValueError(f"snapshot {spec!r}: row {row} is out of range (the file has "
                             f"{len(book)} rows: 0 .. {len(book) - 1})")
        return _book_levels(book, row), row + 1
    if messages is None:
        raise ValueError(f"snapshot {spec!r}: without '#ROW' the snapshot is the book before the "
                         "first message of a LOBSTER message file: give the lobster: input, or "
                         "name the row ('#ROW')")
    if len(messages) == 0:
        raise ValueError(f"snapshot {spec!r}: the message file is empty")
    return lobster_book_before(book, messages[:1]), 0


def load_snapshot(snapshot: object, *, messages: Optional[np.ndarray[Any, Any]] = None) -> Snapshot:
    """Normalise a ``snapshot=`` value (``velox.Pipeline``; the same value works wherever velox
    starts books from a snapshot). Accepted:

    - ``"lobster-book:PATH#ROW"``: row ROW of a LOBSTER orderbook file, seeded as lots with no
      order identity; a LOBSTER replay then starts at message ROW + 1 (row ROW is the book
      after message ROW). ``"lobster-book:PATH"``: the book before the first message of
      ``messages`` (the replayed LOBSTER message file; see ``lobster_book_before``).
    - a LEVEL_DTYPE array (any structured array with integer side, price, qty): seeded lots.
    - an MBO_DTYPE array of ADD events: orders applied, in order, before the replay.
    - ``{instrument: one of the above}``: several books. A bare value is instrument 0's, except
      an MBO array, whose events keep their own ``instrument`` field; under a key, an MBO
      array's events must name that instrument.

    Raises ValueError naming the problem (missing file, row out of range, wrong dtype)."""
    items: list[tuple[object, object]]
    if isinstance(snapshot, dict):
        items = list(snapshot.items())
        if not items:
            raise ValueError("snapshot: an empty mapping (give {instrument: snapshot})")
    else:
        items = [(None, snapshot)]
    books: dict[int, np.ndarray[Any, Any]] = {}
    first = 0
    lobster = False
    for key, value in items:
        inst = 0 if key is None else key
        if isinstance(inst, bool) or not isinstance(inst, (int, np.integer)) or not 0 <= inst < 1 << 32:
            raise ValueError(f"snapshot: instrument keys must be ints in [0, 2**32), got {key!r}")
        inst = int(inst)
        what = "snapshot" if key is None else f"snapshot[{inst}]"
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str):
            if not value.startswith("lobster-book:"):
                raise ValueError(f"{what}: {value!r} is not 'lobster-book:PATH[#ROW]' (other "
                                 "snapshots: a LEVEL_DTYPE or MBO_DTYPE array)")
            if lobster:
                raise ValueError(f"{what}: one lobster-book snapshot per replay (a LOBSTER file "
                                 "is one instrument)")
            lobster = True
            levels, first = _parse_lobster_book_spec(value, messages)
            books[inst] = levels
        elif isinstance(value, np.ndarray):
            if value.dtype == MBO_DTYPE:
                ev = _check_events(value, what)
                if key is None:
                    for i in np.unique(ev["instrument"]).tolist():
                        books[int(i)] = ev[ev["instrument"] == i]
                    continue
                if np.any(ev["instrument"] != inst):
                    raise ValueError(f"{what}: every event must have instrument {inst}")
                books[inst] = ev
            elif value.dtype.names:
                books[inst] = _check_levels(value, what)
            else:
                raise ValueError(f"{what}: an array of dtype {value.dtype} is neither "
                                 "LEVEL_DTYPE levels nor MBO_DTYPE events")
        else:
            raise TypeError(f"{what}: expected 'lobster-book:PATH[#ROW]', a LEVEL_DTYPE or "
                            f"MBO_DTYPE array, or a mapping {{instrument: snapshot}}, got "
                            f"{type(value).__name__}")
    for k, v in list(books.items()):
        if v.dtype == MBO_DTYPE:
            books[k] = _copy(v)  # boolean selection leaves padding uninitialised
    source = "lobster-book" if lobster else "array"
    return Snapshot(books, first, source)


def write_lobster(path: PathLike, events: Events) -> int:
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
    ``missing_symbols``: the requested symbols no R message has named so far.
    ``bytes_read``: input bytes consumed (decompressed bytes for gzip).
    """

    def __init__(self, path: PathLike, symbols: Union[str, bytes, Sequence[Union[str, bytes]], None] = None,
                 chunk: int = DEFAULT_CHUNK, reuse: bool = False, mmap: bool = True,
                 by_symbol: bool = False) -> None:
        if not isinstance(chunk, int) or isinstance(chunk, bool) or not 1 <= chunk <= _MAX_CHUNK:
            raise ValueError(f"chunk must be an int in [1, {_MAX_CHUNK}], got {chunk!r}")
        if not isinstance(mmap, bool):
            raise TypeError(f"mmap must be True or False, got {mmap!r}")
        if not isinstance(by_symbol, bool):
            raise TypeError(f"by_symbol must be a bool, got {by_symbol!r}")
        self._input = _Input(path)
        self.path = self._input.path
        self.chunk = chunk
        self.reuse = reuse
        self.mmap = mmap
        self.parser = ItchParser()
        self.requested: list[str] = []
        if isinstance(symbols, (str, bytes)):
            symbols = [symbols]
        if by_symbol and not symbols:
            raise ValueError("by_symbol=True needs symbols (book i = symbols[i])")
        if symbols is not None:
            symbols = list(symbols)
            if by_symbol:
                self.parser.route_symbols(symbols)
            else:
                self.parser.filter_symbols(symbols)
            self.requested = [s.decode("ascii") if isinstance(s, bytes) else s for s in symbols]
        self._started = False
        self._buf: Optional[Events] = None

    @property
    def counts(self) -> dict[str, Any]:
        return self.parser.counts

    @property
    def symbols(self) -> dict[int, str]:
        return self.parser.symbols

    @property
    def missing_symbols(self) -> list[str]:
        """The requested symbols (``symbols=``) that no stock directory (R) message read so far
        has named (a locate renamed later still counts as named), in the order requested:
        after a whole file, the symbols the file does not have."""
        named = {s for s, n in zip(self.requested, self.parser.wanted_named) if n}
        return [s for s in self.requested if s not in named]

    @property
    def bytes_read(self) -> int:
        return self.parser.offset

    def __iter__(self) -> Iterator[Events]:
        if self._started:
            raise RuntimeError("an ItchReader can be iterated once; call read_itch again")
        self._started = True
        src = self._input
        with src.open() as f:
            head = src.head(f)
            if head == _GZIP_MAGIC:
                yield from self._gzip(f, head)
                return
            if not (self.mmap and src.regular):
                yield from self._stream(f, head)
                return
            size = src.size
            if size == 0:
                return
            mm = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
        try:
            if hasattr(mm, "madvise"):
                mm.madvise(_mmap.MADV_SEQUENTIAL)
            yield from self._parse_buffer(mm, len(mm), final=True)
        finally:
            mm.close()

    def _parse_buffer(self, buf: Any, size: int, final: bool) -> _Chunks:
        """Parse buf[0..size) from its start; yields chunks; returns bytes consumed."""
        view = memoryview(buf)
        pos = 0
        try:
            while pos < size:  # each pass fills a whole chunk or is the last
                if self.reuse:
                    if self._buf is None:
                        self._buf = np.empty(self.chunk, MBO_DTYPE)
                    out: Events = self._buf
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

    def _stream(self, f: BinaryIO, head: bytes) -> _Chunks:
        """A pipe, FIFO, character device or (mmap=False) regular file: bounded reads into one
        buffer; the parser resumes across reads (a message is at most 65,537 bytes)."""
        src = self._input
        buf = bytearray(_READ_BLOCK)
        view = memoryview(buf)
        try:
            have = len(head)
            buf[:have] = head
            while True:  # bounded by the input: each pass reads bytes or ends
                got = src.readinto(f, view[have:])
                if not got:
                    break
                have += got
                used = yield from self._parse_buffer(buf, have, final=False)
                buf[:have - used] = buf[used:have]
                have -= used
            return (yield from self._parse_buffer(buf, have, final=True))
        finally:
            view.release()

    def _gzip(self, f: BinaryIO, head: bytes) -> _Chunks:
        pending = bytearray()
        for data in _gunzip(self._input, f, head):
            pending += data
            used = yield from self._parse_buffer(pending, len(pending), final=False)
            del pending[:used]
        used = yield from self._parse_buffer(pending, len(pending), final=True)
        del pending[:used]
        return used

    def read(self) -> Events:
        """Every remaining event in one array."""
        if not self.reuse:
            return _join(list(self), own=True)
        parts = [_join([c], own=True) for c in self]  # the reused buffer changes each chunk
        return _join(parts)


def read_itch(path: PathLike, *, symbols: Optional[Sequence[str]] = None,
              chunk: int = DEFAULT_CHUNK, reuse: bool = False, mmap: bool = True,
              by_symbol: bool = False) -> ItchReader:
    """Read a NASDAQ TotalView-ITCH 5.0 file (length-prefixed, as published; gzip detected by
    its magic bytes, every member of a multi-member file) -> ``ItchReader``; iterate it for
    MBO_DTYPE arrays of at most ``chunk`` events, or call ``.read()`` for one array. A missing
    or unreadable path raises here, not when iterated.

    Plain regular files are memory-mapped and parsed in place (zero copy; a file larger than
    RAM streams through the page cache). A mapped file that another process truncates while it
    is read kills the process with SIGBUS: pass ``mmap=False`` for a file that may shrink (it
    is then read through a bounded buffer, somewhat slower, and a shrinking file raises
    ValueError). Pipes, FIFOs and ``/dev/stdin`` (plain or gzip) are always read through the
    bounded buffer. ``symbols``: only events of these stocks (matched against the R
    stock-directory messages, which must come before the stock's orders, as in NASDAQ's
    files; a locate renamed by a later R message follows its new name from there on); system
    events (S) always pass. ``by_symbol=True`` (needs ``symbols``) writes into each event's
    ``instrument`` the index ``i`` of its stock's symbol in ``symbols`` instead of the stock
    locate (book ``i`` = ``symbols[i]``; S events get 0). ``missing_symbols`` lists the
    requested symbols the file's directory did not name. ``reuse=True`` yields the same array
    every time (no allocation per chunk; copy what you keep).

    Malformed input (a length that disagrees with its type's fixed length, a zero length, a bad
    side, a stock directory message at locate 0, a truncated final message, corrupt or
    truncated gzip, bytes after a gzip member that are not a member) raises ValueError naming
    the byte offset. Types velox does not convert are skipped and counted
    (``counts['skipped']``, ``counts['unknown']``).
    """
    return ItchReader(path, symbols=symbols, chunk=chunk, reuse=reuse, mmap=mmap,
                      by_symbol=by_symbol)


def build_itch_books(path: PathLike, *, levels_only: bool = False, instruments: int = 65536,
                     levels: int = 1024, tick: int = 1_000_000, max_orders: int = 1 << 22,
                     window_bits: int = 22, spill_capacity: int = 1 << 20
                     ) -> Union[ItchBooks, ItchLevels]:
    """Books for every stock locate of a plain ITCH 5.0 file, built in one GIL-free native
    pass over the memory-mapped file (no event array reaches Python).

    ``levels_only=False``: an ``ItchBooks`` (market-by-order books with FIFO queues and queue
    positions; ``max_orders`` live orders). ``levels_only=True``: an ``ItchLevels`` (aggregate
    levels only, orders in a direct window of 2**window_bits records indexed by order reference
    plus a spill table; the fastest path). ``levels`` price levels of ``tick`` (velox fixed
    point) per side and book, each window placed at its book's first order. A file that ends
    inside a message, or a malformed message, is a ValueError naming the byte offset."""
    with open(os.fspath(path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        books: Union[ItchBooks, ItchLevels]
        if levels_only:
            books = ItchLevels(instruments, levels, tick, window_bits, spill_capacity)
        else:
            books = ItchBooks(instruments, levels, tick, max_orders)
        if size == 0:
            return books
        with _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                if isinstance(books, ItchLevels):
                    consumed = books.feed(view)
                else:
                    consumed = books.feed(ItchParser(), view)[0]
            finally:
                view.release()
    if consumed != size:
        raise ValueError(f"{os.fsdecode(path)}: the file ends inside a message at byte offset "
                         f"{consumed} ({size - consumed} bytes left)")
    return books


def itch_levels_at(path: PathLike, times: Sequence[int], *, instruments: int = 65536,
                   levels: int = 1024, tick: int = 1_000_000, window_bits: int = 22,
                   spill_capacity: int = 1 << 20) -> Iterator[tuple[int, ItchLevels]]:
    """Levels-only books of a plain ITCH 5.0 file at given times: yields ``(t, books)`` for
    each ``t`` of ``times`` (ns since midnight, non-decreasing), ``books`` (one
    ``ItchLevels``, the same object every time) holding every message stamped before ``t``.
    Read what you need from it before the next step (``depth``, ``best``, ``counters``).
    One native pass over the memory-mapped file; a file that ends inside a message, or a
    malformed message, is a ValueError naming the byte offset."""
    ts = [int(t) for t in times]
    for a, b in zip(ts, ts[1:]):
        if b < a:
            raise ValueError(f"times must be non-decreasing, got {a} then {b}")
    if ts and ts[0] < 0:
        raise ValueError(f"times must be >= 0, got {ts[0]}")
    books = ItchLevels(instruments, levels, tick, window_bits, spill_capacity)
    with open(os.fspath(path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            for t in ts:
                yield t, books
            return
        with _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                pos = 0
                for t in ts:
                    pos += books.feed(view[pos:], until=t)
                    yield t, books
                pos += books.feed(view[pos:])
            finally:
                view.release()
    if pos != size:
        raise ValueError(f"{os.fsdecode(path)}: the file ends inside a message at byte offset "
                         f"{pos} ({size - pos} bytes left)")


def as_itch(events: Events) -> Events:
    """A copy of ``events`` as an ITCH round trip returns them: ITCH E/C/X/D/U messages carry
    no side, so the reader writes ``SIDE_NONE`` there (the book uses the resting order's own
    side; an unknown order's replace is not added)."""
    from velox._records import SIDE_NONE

    out = _copy(events)
    a = out["action"]
    out["side"][(a == 2) | (a == 3) | (a == 4) | (a == 5)] = SIDE_NONE
    return out


def write_itch(path: PathLike, events: Events, symbols: Sequence[Optional[str]] = (), *,
               directory: bool = True, compress: bool = False) -> int:
    """Write ``events`` as an ITCH 5.0 file; ``symbols[instrument]`` names each instrument
    (None for unnamed; instrument 0 cannot be named: ITCH stock locates start at 1, and the
    reader refuses a directory entry at 0). With ``directory`` an R message per named
    instrument comes first (ts 0). ``compress`` writes gzip. Returns bytes written (before
    compression)."""
    head = b""
    if directory and len(symbols) and symbols[0] is not None:
        raise ValueError(f"symbols[0] must be None (stock locate 0 is not a stock; locates "
                         f"start at 1), got {symbols[0]!r}")
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


# ---- Databento DBN --------------------------------------------------------------------------

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_IN = 1 << 16         # compressed bytes given to the decompressor per step
_DBN_PRELUDE = 8           # b"DBN", version, u32 metadata length
_DBN_FIXED = 100           # fixed part of the metadata (every version)
_DBN_MAX_METADATA = 1 << 30
_DBN_SCHEMAS = ("mbo", "mbp-1", "mbp-10", "tbbo", "trades", "ohlcv-1s", "ohlcv-1m", "ohlcv-1h",
                "ohlcv-1d", "definition", "statistics", "status", "imbalance", "ohlcv-eod",
                "cmbp-1", "cbbo-1s", "cbbo-1m", "tcbbo", "bbo-1s", "bbo-1m")
_DBN_STYPES = ("instrument_id", "raw_symbol", "smart", "continuous", "parent", "nasdaq_symbol",
               "cms_symbol", "isin", "us_code", "bbg_comp_id", "bbg_comp_ticker", "figi",
               "figi_ticker", "listing_id", "issuer_id", "security_id")
_DBN_NULL_SCHEMA = 0xFFFF
_DBN_NULL_STYPE = 0xFF
_DBN_UNDEF_TIMESTAMP = (1 << 64) - 1


def _zstd_decompressor(path: str) -> Any:
    """A fresh one-frame decompressor: Python 3.14's compression.zstd, else `zstandard`."""
    try:
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]

        return zstd.ZstdDecompressor()
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ImportError(f"{path} is zstd-compressed: reading it needs the 'zstandard' package "
                          "(pip install 'velox[dbn]') or Python 3.14's compression.zstd") from None
    return zstandard.ZstdDecompressor().decompressobj()


def _unzstd(src: _Input, f: BinaryIO, head: bytes) -> Iterator[bytes]:
    """The decompressed bytes of every zstd frame of ``f``, reading _ZSTD_IN compressed bytes
    per step. Corrupt data, a truncated frame and bytes after a frame that do not start one
    raise ValueError naming the file and the compressed byte offset."""
    raw = head
    at = 0               # compressed offset of raw[0]
    d: Any = None        # None between frames
    frame = 0
    while True:  # bounded by the input: each pass consumes input or ends
        if not raw:
            raw = src.read(f, _ZSTD_IN)
            if not raw:
                if d is not None:
                    raise ValueError(f"{src.path}: zstd frame at byte offset {frame} ends early "
                                     f"at byte offset {at} (truncated file)")
                return
        if d is None:
            if len(raw) < 4:
                more = src.read(f, _ZSTD_IN)
                if more:
                    raw += more
                    continue
                raise ValueError(f"{src.path}: {len(raw)} trailing bytes after the last zstd "
                                 f"frame at byte offset {at}")
            if raw[:4] != _ZSTD_MAGIC:
                raise ValueError(f"{src.path}: bytes at byte offset {at}, after a complete zstd "
                                 f"frame, are not a zstd frame ({bytes(raw[:8])!r}...)")
            d = _zstd_decompressor(src.path)
            frame = at
        piece, raw = raw[:_ZSTD_IN], raw[_ZSTD_IN:]
        try:
            out = d.decompress(piece)
        except Exception as exc:  # zstandard.ZstdError / compression.zstd.ZstdError
            raise ValueError(f"{src.path}: corrupt zstd frame at byte offset {frame} (found "
                             f"between byte offsets {at} and {at + len(piece)}): {exc}") from None
        if d.eof:
            rest = d.unused_data
            at += len(piece) - len(rest)
            raw = rest + raw
            d = None
        else:
            at += len(piece)
        if out:
            yield out


def _dbn_symbols(buf: bytes, pos: int, n_len: int, what: str, path: str) -> tuple[list[str], int]:
    if pos + 4 > len(buf):
        raise ValueError(f"{path}: DBN metadata ends inside the {what} count at byte offset "
                         f"{pos + _DBN_PRELUDE}")
    count = int.from_bytes(buf[pos:pos + 4], "little")
    pos += 4
    if count * n_len > len(buf) - pos:
        raise ValueError(f"{path}: DBN metadata {what} count {count} at byte offset "
                         f"{pos - 4 + _DBN_PRELUDE} needs {count * n_len} bytes, "
                         f"{len(buf) - pos} are left")
    out = [_cstr(buf, pos + i * n_len, n_len, what, path) for i in range(count)]
    return out, pos + count * n_len


def _cstr(buf: bytes, pos: int, n: int, what: str, path: str) -> str:
    raw = bytes(buf[pos:pos + n]).split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: DBN metadata {what} at byte offset {pos + _DBN_PRELUDE} is "
                         f"not UTF-8: {raw[:40]!r}") from None


def _dbn_date(raw: int, what: str, path: str) -> Optional[str]:
    if raw == 0 or raw == 0xFFFFFFFF:
        return None
    import datetime

    try:
        return datetime.date(raw // 10000, raw // 100 % 100, raw % 100).isoformat()
    except ValueError:
        raise ValueError(f"{path}: DBN metadata {what} {raw} is not a YYYYMMDD date") from None


def _dbn_metadata(version: int, buf: bytes, path: str) -> dict[str, Any]:
    """The metadata after the 8-byte prelude (layout per version: the DBN spec)."""
    def u(pos: int, n: int) -> int:
        return int.from_bytes(buf[pos:pos + n], "little")

    dataset = _cstr(buf, 0, 16, "dataset", path)
    raw_schema = u(16, 2)
    if raw_schema != _DBN_NULL_SCHEMA and raw_schema >= len(_DBN_SCHEMAS):
        raise ValueError(f"{path}: DBN metadata schema {raw_schema} is not a DBN schema")
    schema = None if raw_schema == _DBN_NULL_SCHEMA else _DBN_SCHEMAS[raw_schema]
    start, end, limit = u(18, 8), u(26, 8), u(34, 8)
    pos = 42 + (8 if version == 1 else 0)  # DBN 1: a deprecated record count
    stypes: list[Optional[str]] = []
    for i, what in ((0, "stype_in"), (1, "stype_out")):
        v = buf[pos + i]
        if v == _DBN_NULL_STYPE and i == 0:
            stypes.append(None)
        elif v < len(_DBN_STYPES):
            stypes.append(_DBN_STYPES[v])
        else:
            raise ValueError(f"{path}: DBN metadata {what} {v} is not a DBN symbology type")
    ts_out = buf[pos + 2] != 0
    pos += 3
    if version == 1:
        sym_len = 22
        pos += 47
    else:
        sym_len = u(pos, 2)
        pos += 2 + 53
        if not 1 <= sym_len <= 1024:
            raise ValueError(f"{path}: DBN metadata symbol length {sym_len} is not in [1, 1024]")
    if u(pos, 4) != 0:
        raise ValueError(f"{path}: DBN metadata has a schema definition ({u(pos, 4)} bytes), "
                         "which DBN readers do not support")
    pos += 4
    symbols, pos = _dbn_symbols(buf, pos, sym_len, "symbols", path)
    partial, pos = _dbn_symbols(buf, pos, sym_len, "partial", path)
    not_found, pos = _dbn_symbols(buf, pos, sym_len, "not_found", path)
    if pos + 4 > len(buf):
        raise ValueError(f"{path}: DBN metadata ends inside the mappings count")
    count = u(pos, 4)
    pos += 4
    mappings: dict[str, list[dict[str, Any]]] = {}
    for i in range(count):  # bounded: each mapping is checked to fit before it is read
        if pos + sym_len + 4 > len(buf):
            raise ValueError(f"{path}: DBN metadata ends inside symbol mapping {i} of {count}")
        raw_symbol = _cstr(buf, pos, sym_len, "mapping symbol", path)
        n = u(pos + sym_len, 4)
        pos += sym_len + 4
        each = 8 + sym_len
        if n * each > len(buf) - pos:
            raise ValueError(f"{path}: DBN symbol mapping {i} ({raw_symbol!r}) has {n} "
                             f"intervals, the metadata has room for {(len(buf) - pos) // each}")
        intervals = []
        for _ in range(n):
            intervals.append({"start_date": _dbn_date(u(pos, 4), "start_date", path),
                              "end_date": _dbn_date(u(pos + 4, 4), "end_date", path),
                              "symbol": _cstr(buf, pos + 8, sym_len, "mapping symbol", path)})
            pos += each
        mappings.setdefault(raw_symbol, []).extend(intervals)
    return {"version": version, "dataset": dataset, "schema": schema, "start": start,
            "end": None if end == _DBN_UNDEF_TIMESTAMP else end, "limit": limit or None,
            "stype_in": stypes[0], "stype_out": stypes[1], "ts_out": ts_out,
            "symbol_cstr_len": sym_len, "symbols": symbols, "partial": partial,
            "not_found": not_found, "mappings": mappings}


class DbnReader:
    """Iterator over the MBO_DTYPE chunks of one Databento DBN file (see ``read_dbn``).

    ``metadata``: dict version, dataset, schema, start, end, limit, stype_in, stype_out,
    ts_out, symbol_cstr_len, symbols, partial, not_found, mappings ({raw symbol: [{start_date,
    end_date, symbol}]}; with stype_out 'instrument_id' each interval's symbol is the
    instrument id, as text). ``instruments(date=None)``: {instrument_id: raw symbol}.
    ``counts``: dict records, events, skipped, none, snapshot, bad_ts_recv, maybe_bad_book,
    by_action, by_rtype. ``bytes_read``: stream bytes consumed (decompressed for zstd).
    """

    def __init__(self, path: PathLike, chunk: int = DEFAULT_CHUNK, reuse: bool = False,
                 mmap: bool = True, ts: str = "recv") -> None:
        if not isinstance(chunk, int) or isinstance(chunk, bool) or not 1 <= chunk <= _MAX_CHUNK:
            raise ValueError(f"chunk must be an int in [1, {_MAX_CHUNK}], got {chunk!r}")
        if not isinstance(mmap, bool):
            raise TypeError(f"mmap must be True or False, got {mmap!r}")
        if ts not in ("recv", "event"):
            raise ValueError(f"ts must be 'recv' or 'event', got {ts!r}")
        self._input = _Input(path)
        self.path = self._input.path
        self.chunk = chunk
        self.reuse = reuse
        self.parser = DbnParser(ts_event=ts == "event")
        self._buf: Optional[Events] = None
        self._started = False
        self._f: Optional[BinaryIO] = self._input.open()
        self._pending = bytearray()   # stream bytes read past the metadata
        self._stream: Optional[Iterator[bytes]] = None
        self._mm: Optional[_mmap.mmap] = None
        try:
            head = self._input.head(self._f)
            if head == _ZSTD_MAGIC[:2]:
                more = self._input.read(self._f, 2)
                head += more
                if head != _ZSTD_MAGIC:
                    raise ValueError(f"{self.path}: starts with {head!r}: not DBN (b'DBN') nor "
                                     "zstd-compressed DBN")
                self._stream = _unzstd(self._input, self._f, head)
                self.compressed = True
            else:
                self.compressed = False
                self._pending += head
                if mmap and self._input.regular and self._input.size:
                    self._mm = _mmap.mmap(self._f.fileno(), 0, access=_mmap.ACCESS_READ)
                    self._pending = bytearray()
                else:
                    self._stream = _plain(self._input, self._f)
            self.metadata = self._read_metadata()
        except BaseException:
            self.close()
            raise

    def _take(self, n: int, what: str) -> bytes:
        """Exactly n stream bytes (metadata), or ValueError naming what was cut short."""
        while len(self._pending) < n:  # bounded by the input
            more = next(self._stream, b"") if self._stream is not None else b""
            if not more:
                raise ValueError(f"{self.path}: truncated DBN {what}: {len(self._pending)} of "
                                 f"{n} bytes")
            self._pending += more
        out = bytes(self._pending[:n])
        del self._pending[:n]
        return out

    def _read_metadata(self) -> dict[str, Any]:
        if self._mm is not None:
            mm = self._mm
            prelude = mm[:_DBN_PRELUDE]
            if len(prelude) < _DBN_PRELUDE:
                raise ValueError(f"{self.path}: truncated DBN prelude: {len(prelude)} of 8 bytes")
        else:
            prelude = self._take(_DBN_PRELUDE, "prelude")
        if prelude[:3] != b"DBN":
            raise ValueError(f"{self.path}: not a DBN file (starts with {prelude[:4]!r}, "
                             "expected b'DBN' and a version byte)")
        version = prelude[3]
        if not 1 <= version <= 3:
            raise ValueError(f"{self.path}: DBN version {version} is not supported (1-3)")
        length = int.from_bytes(prelude[4:8], "little")
        if not _DBN_FIXED <= length <= _DBN_MAX_METADATA:
            raise ValueError(f"{self.path}: DBN metadata length {length} at byte offset 4 is not "
                             f"in [{_DBN_FIXED}, {_DBN_MAX_METADATA}]")
        if self._mm is not None:
            body = self._mm[_DBN_PRELUDE:_DBN_PRELUDE + length]
            if len(body) < length:
                raise ValueError(f"{self.path}: truncated DBN metadata: {len(body)} of {length}"
                                 " bytes")
        else:
            body = self._take(length, "metadata")
        md = _dbn_metadata(version, body, self.path)
        if md["schema"] not in ("mbo", None):
            raise ValueError(f"{self.path}: DBN schema is {md['schema']!r}; read_dbn reads the "
                             "'mbo' schema")
        self._start = _DBN_PRELUDE + length
        self.parser.offset = self._start
        return md

    def instruments(self, date: Optional[str] = None) -> dict[int, str]:
        """{instrument_id: raw symbol} from the metadata's mappings (stype_out instrument_id);
        ``date`` ('YYYY-MM-DD'): only intervals with start_date <= date < end_date."""
        out: dict[int, str] = {}
        for raw, intervals in self.metadata["mappings"].items():
            for iv in intervals:
                if date is not None and not (
                        (iv["start_date"] or "") <= date < (iv["end_date"] or "9999")):
                    continue
                if iv["symbol"].isdigit():
                    out[int(iv["symbol"])] = raw
        return out

    @property
    def counts(self) -> dict[str, Any]:
        return self.parser.counts

    @property
    def bytes_read(self) -> int:
        return self.parser.offset

    def __enter__(self) -> "DbnReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (iteration closes it at its end; a reader never iterated keeps it
        open until closed or collected)."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._f is not None:
            self._f.close()
            self._f = None

    def __iter__(self) -> Iterator[Events]:
        if self._started:
            raise RuntimeError("a DbnReader can be iterated once; call read_dbn again")
        self._started = True
        try:
            if self._mm is not None:
                yield from self._parse(self._mm, self._start, final=True)
                return
            pending = self._pending
            while True:  # bounded by the input
                more = next(self._stream, b"") if self._stream is not None else b""
                if more:
                    pending += more
                used = yield from self._parse(pending, 0, final=not more)
                del pending[:used]
                if not more:
                    return
        finally:
            self.close()

    def _parse(self, buf: Any, pos: int, final: bool) -> _Chunks:
        """Decode buf[pos:]; yields chunks; returns the bytes consumed from pos."""
        size = len(buf)
        start = pos
        error = ""
        view = memoryview(buf)
        try:
            while pos < size:  # each pass fills a whole chunk or is the last
                if self.reuse:
                    if self._buf is None:
                        self._buf = np.empty(self.chunk, MBO_DTYPE)
                    out: Events = self._buf
                else:
                    out = np.empty(self.chunk, MBO_DTYPE)
                piece = view[pos:size]
                try:
                    consumed, produced = self.parser.parse(piece, out)
                except ValueError as exc:
                    error = f"{self.path}: {exc}"
                    produced = getattr(exc, "produced", 0)
                    if produced:  # the events before the bad record, then the error
                        yield out[:produced]
                    break
                finally:
                    piece.release()
                pos += consumed
                if produced:
                    yield out[:produced]
                if produced < len(out):
                    break
        finally:
            view.release()
        if error:
            raise ValueError(error)
        if final and pos < size:
            raise ValueError(f"{self.path}: DBN: truncated final record at byte offset "
                             f"{self.parser.offset} ({size - pos} bytes left of a record of "
                             f"{buf[pos] * 4} bytes)")
        return pos - start

    def read(self) -> Events:
        """Every remaining event in one array."""
        if not self.reuse:
            return _join(list(self), own=True)
        return _join([_join([c], own=True) for c in self])


def _plain(src: _Input, f: BinaryIO) -> Iterator[bytes]:
    while True:  # bounded by the input
        data = src.read(f, _READ_BLOCK)
        if not data:
            return
        yield data


def read_dbn(path: PathLike, *, chunk: int = DEFAULT_CHUNK, reuse: bool = False,
             mmap: bool = True, ts: str = "recv") -> DbnReader:
    """Read a Databento DBN file of the MBO schema (DBN versions 1-3; zstd-compressed
    ``.dbn.zst`` detected by its magic bytes, every frame) -> ``DbnReader``; iterate it for
    MBO_DTYPE arrays of at most ``chunk`` events, or call ``.read()``. The metadata header is
    read here (``.metadata``; a missing file or a bad header raises at the call).

    Mapping (docs/feeds.md, "Databento DBN"): A -> ADD, C -> CANCEL (size = lots cancelled),
    M -> MODIFY (the book keeps the order's queue place when only its size drops), R -> CLEAR,
    T and F -> TRADE (no book effect), N -> no event (counted); F_LAST -> F_LAST; prices 1e-9 -> velox 1e-8 (a price that
    is not a whole 1e-8 is a ValueError naming the record's byte offset); ``ts='recv'``
    (default) or ``'event'`` picks ts_recv or ts_event. Records of other rtypes are skipped and
    counted. Plain regular files are memory-mapped (``mmap=False`` reads them through a bounded
    buffer); pipes, FIFOs and zstd input are read in bounded steps. ``reuse=True`` yields the
    same array every time.
    """
    return DbnReader(path, chunk=chunk, reuse=reuse, mmap=mmap, ts=ts)
