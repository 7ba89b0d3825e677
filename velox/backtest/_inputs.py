"""What a backtest replays: an MBO_DTYPE array, an iterable of them, or a spec string as the
pipeline takes it ('lobster:MSG.csv', 'itch:PATH?symbols=A,B', 'dbn:PATH', 'journal:DIR',
'mbo:PATH', or a bare path by its extension), opened as a stream of MBO_DTYPE chunks (the
velox.feeds readers: a file is never loaded whole). Specs are parsed and checked by the
pipeline's own code (velox.pipeline._specs)."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np
import numpy.typing as npt

from velox._records import MBO_DTYPE

Events = npt.NDArray[np.void]

#: events per chunk read from a raw mbo: file or a journal
CHUNK_EVENTS = 1 << 16

#: a bare path's kind by its ending (checked in this order)
_EXTENSIONS = ((".dbn.zst", "dbn"), (".dbn", "dbn"), (".csv.gz", "lobster"), (".csv", "lobster"),
               (".mbo", "mbo"))


@dataclass
class Source:
    """An opened input: ``chunks`` yields MBO_DTYPE arrays in replay order (the first one was
    read to check the input; ``first`` holds it); ``kind`` names the format; ``names`` the
    instruments' symbols when the input has them (book i = names[i]); ``instruments`` what the
    input says (None: unknown); ``edges`` the data edges it carries ('flag': F_LAST, DBN)."""

    kind: str
    spec: str
    chunks: Iterator[Events]
    instruments: Optional[int] = None
    names: Optional[list[str]] = None
    edges: str = "event"
    first: Optional[Events] = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()
        self.closers.clear()

    def skip(self, n: int) -> None:
        """Drops the first n events of the stream (a snapshot's row already holds them)."""
        if n > 0:
            self.chunks = _skip(self.chunks, n)


def _skip(chunks: Iterator[Events], n: int) -> Iterator[Events]:
    for chunk in chunks:
        if n >= len(chunk):
            n -= len(chunk)
            continue
        yield chunk[n:]
        n = 0


def _checked_array(arr: object, what: str) -> Events:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{what} must be a numpy array of MBO_DTYPE, got {type(arr).__name__}")
    if arr.dtype != MBO_DTYPE:
        raise TypeError(f"{what} must have dtype MBO_DTYPE, got {arr.dtype!r}")
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape!r}")
    return arr


def _checked_chunks(chunks: Iterable[object]) -> Iterator[Events]:
    for i, chunk in enumerate(chunks):
        yield _checked_array(chunk, f"input chunk {i}")


def _kind_by_extension(path: str) -> str:
    if os.path.isdir(path):
        return "journal"
    low = path.lower()
    for ending, kind in _EXTENSIONS:
        if low.endswith(ending):
            return kind
    if low.endswith((".itch", ".itch.gz", ".itch50", ".itch50.gz")) or "itch" in os.path.basename(low):
        raise ValueError(f"input {path!r}: an ITCH file needs its symbols: write "
                         f"'itch:{path}?symbols=AAPL,MSFT' (one book per symbol)")
    raise ValueError(f"input {path!r}: cannot tell the format by its name: write "
                     "'lobster:PATH' (LOBSTER message CSV), 'itch:PATH?symbols=A,B', "
                     "'dbn:PATH', 'mbo:PATH' (raw MBO_DTYPE records) or 'journal:DIR'")


def open_input(input: object) -> Source:
    """Opens ``input`` (see the module docstring), reading its first chunk so a wrong file
    fails here. TypeError / ValueError naming the input."""
    if isinstance(input, np.ndarray):
        arr = _checked_array(input, "input")
        ids = arr["instrument"]
        return Source("array", "array", iter([arr]) if len(arr) else iter(()),
                      instruments=int(ids.max()) + 1 if len(arr) else None, first=arr)
    if isinstance(input, os.PathLike):
        input = os.fspath(input)
    if isinstance(input, bytes):
        input = os.fsdecode(input)
    if isinstance(input, str):
        return _open_spec(input)
    if isinstance(input, Iterable):
        it = _checked_chunks(input)
        first = next(it, None)
        if first is None:
            return Source("arrays", "arrays", iter(()))
        return Source("arrays", "arrays", itertools.chain([first], it), first=first)
    raise TypeError(f"input must be an MBO_DTYPE array, an iterable of them, or a spec string "
                    f"('lobster:PATH', 'itch:PATH?symbols=A,B', 'dbn:PATH', 'journal:DIR', "
                    f"'mbo:PATH', a path), got {type(input).__name__}")


def _open_spec(spec: str) -> Source:
    from velox.pipeline._specs import (_check_events_file, _check_first_records, _itch_spec,
                                       journal_spec, parse_input)
    try:
        kind, path = parse_input(spec)
    except ValueError:
        if ":" in spec.split("/", 1)[0] and not os.path.exists(spec):
            raise
        kind, path = _kind_by_extension(spec), spec
    if kind not in ("lobster", "itch", "dbn", "journal", "mbo"):
        raise ValueError(f"input {spec!r}: a backtest replays market-by-order events "
                         "('lobster:', 'itch:', 'dbn:', 'journal:', 'mbo:' or an MBO_DTYPE "
                         f"array); {kind!r} input carries none")
    if kind == "journal":
        path, start, follow = journal_spec(spec if spec.startswith("journal:") else "journal:" + spec)
        if follow:
            raise ValueError(f"input {spec!r}: a backtest replays to the end of the journal; "
                             "follow=1 (tailing) is for pipelines")
    _check_events_file(path, kind)
    _check_first_records(kind, path)
    if kind == "lobster":
        from velox.feeds import iter_lobster
        try:
            chunks = iter_lobster(path)
        except OSError as e:
            raise ValueError(f"input {spec!r}: cannot read it: {e.strerror}") from None
        src = Source(kind, spec, chunks, instruments=1)
    elif kind == "itch":
        from velox.feeds import ItchReader
        symbols = _itch_spec(spec)[1]
        reader = ItchReader(path, symbols=symbols, by_symbol=True)
        src = Source(kind, spec, iter(reader), instruments=len(symbols), names=list(symbols))
    elif kind == "dbn":
        src = _open_dbn(spec, path)
    elif kind == "journal":
        src = _open_journal(spec, path, start)
    else:
        src = _open_raw(spec, path)
    return _peek(src)


def _peek(src: Source) -> Source:
    """Reads the first chunk now (errors surface before the run) and puts it back."""
    try:
        first = next(src.chunks, None)
    except (OSError, ValueError) as e:
        src.close()
        raise ValueError(f"input {src.spec!r}: {e}") from None
    if first is not None:
        src.first = first
        src.chunks = itertools.chain([first], src.chunks)
    return src


def _open_dbn(spec: str, path: str) -> Source:
    from velox.feeds import read_dbn
    from velox.pipeline._driver import _open_dbn as open_checked
    try:
        probe = read_dbn(path)
        ids = probe.instruments()
        probe.close()
    except (OSError, ValueError) as e:
        raise ValueError(f"input {spec!r}: {e}") from None
    instruments = max(ids) + 1 if ids else 1
    reader: Any = open_checked(path, instruments)  # the pipeline's checks, reuse=True
    names: list[Optional[str]] = [None] * instruments
    for i, name in ids.items():
        names[i] = name
    return Source("dbn", spec, iter(reader), instruments=instruments,
                  names=[n or "" for n in names] if ids else None, edges="flag",
                  closers=[reader.close])


def _open_journal(spec: str, path: str, start: int) -> Source:
    from velox._journal import JournalReader
    try:
        reader = JournalReader(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"input {spec!r}: cannot open the journal: {e}") from None
    if reader.dtype != MBO_DTYPE:
        reader.close()
        raise ValueError(f"input {spec!r}: the journal's records are {reader.dtype}, not "
                         "velox.MBO_DTYPE")
    if start:
        try:
            reader.seek(start)
        except (ValueError, TypeError) as e:
            reader.close()
            raise ValueError(f"input {spec!r}: {e}") from None

    def chunks() -> Iterator[Events]:
        out = np.zeros(CHUNK_EVENTS, MBO_DTYPE)
        while True:  # bounded by the journal's committed records
            n = reader.read_many(out, 0.0)
            if n == 0:
                return
            yield out[:n]
    return Source("journal", spec, chunks(), closers=[reader.close])


def _open_raw(spec: str, path: str) -> Source:
    f = open(path, "rb")

    def chunks() -> Iterator[Events]:
        size = MBO_DTYPE.itemsize
        while True:  # bounded by the file
            out = np.zeros(CHUNK_EVENTS, MBO_DTYPE)
            got = f.readinto(out.view(np.uint8).data)
            if not got:
                return
            if got % size:
                raise ValueError(f"input {spec!r} ends with {got % size} bytes of a partial "
                                 f"{size}-byte record (truncated?)")
            yield out[:got // size]
    return Source("mbo", spec, chunks(), closers=[f.close])
