"""The Python side of the pipeline's sources: the file reader thread (events:,
mbo:, lobster:, itch:) that streams records into the source ring, and the
watcher that ends a shm: input when its producer leaves."""

from __future__ import annotations

import os
import select
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt


if TYPE_CHECKING:
    from velox.pipeline._driver import Pipeline


#: How long stop() waits for the file reader thread before it leaves it behind (a parser
#: blocked in open() or read() of a FIFO whose writer is silent) and reports the input as
#: abandoned.
READER_JOIN_S = 2.0
#: How often the raw file reader (mbo:, events:) looks at the stop flag while a FIFO is silent.
READER_POLL_MS = 50


class InputError(ValueError):
    """A file input failed during the run (a bad record past the first chunk, a truncated
    file, a read error). Raised by Pipeline.wait() and Pipeline.stop(); ``report`` is the
    final report (stop(); None from wait()), whose ``input_error`` says what failed."""

    def __init__(self, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report


def read_file(pipe: Pipeline, path: str) -> None:
    """The file reader thread (input="events:PATH", "mbo:PATH", "lobster:PATH",
    "itch:..."): streams the records into the source ring (raw files as they arrive, see
    _read_raw; a LOBSTER message file parsed by velox.feeds.read_lobster), then closes it.
    An error is kept for wait()/stop() to raise (InputError)."""
    try:
        if pipe._source[0] == "lobster":
            from velox.feeds import read_lobster
            events = pipe._lobster_events if pipe._lobster_events is not None else read_lobster(path)
            _push_all(pipe, events[pipe._first_message:])  # after the snapshot's row
            return
        if pipe._source[0] == "itch":
            assert pipe.symbols is not None
            _read_itch(pipe, path, pipe.symbols)
            return
        if pipe._source[0] == "dbn":
            _read_dbn(pipe)
            return
        if pipe._source[0] == "journal":
            _read_journal(pipe)
            return
        _read_raw(pipe, path)
    except BaseException as e:  # raised by wait()/stop() as InputError
        pipe._reader_error.append(e)
    finally:
        pipe._nat.close_source()


def _read_raw(pipe: Pipeline, path: str) -> None:
    """Streams a raw MBO_DTYPE / TXN_DTYPE file, FIFO or device: opened non-blocking (a
    FIFO with no writer yet does not block the open), then read as data arrives (poll
    with a READER_POLL_MS timeout, so a silent FIFO never hides the stop flag), pushing
    every whole record at once (a live writer's 100 records reach the book without
    waiting for a full buffer). EOF is a read of 0 bytes after poll said readable."""
    itemsize = pipe._dtype.itemsize
    chunk = ((1 << 20) // itemsize) * itemsize
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)  # POLLHUP / POLLERR are always reported
        pending = b""
        while not pipe._stopping:  # each round waits <= READER_POLL_MS
            if not poller.poll(READER_POLL_MS):
                continue
            try:
                data = os.read(fd, chunk)
            except BlockingIOError:  # readable, then taken (nothing to read after all)
                continue
            if not data:
                break
            if pending:
                data = pending + data
            whole = len(data) - len(data) % itemsize
            pending = data[whole:]
            if whole:
                _push_all(pipe, np.frombuffer(data, pipe._dtype, count=whole // itemsize))
        if pending and not pipe._stopping:
            raise ValueError(f"input '{pipe._source[0]}:{path}' ends with {len(pending)} "
                             f"bytes of a partial {itemsize}-byte record (truncated?)")
    finally:
        os.close(fd)


def _read_itch(pipe: Pipeline, path: str, symbols: list[str]) -> None:
    """Streams the file's events for `symbols` (velox.feeds.ItchReader routing natively:
    each event's instrument is its book, symbols.index(symbol), by the stock directory in
    force at that event; system events go to book 0, no book effect). Keeps the reader's
    counts for the report after each chunk, and its directory at the end."""
    from velox.feeds import ItchReader
    reader = ItchReader(path, symbols=symbols, by_symbol=True)
    try:
        for chunk in reader:
            pipe._itch_counts = reader.counts  # the parser is idle between chunks
            if pipe._final is not None or pipe._stopping:
                break
            _push_all(pipe, chunk)
    finally:
        pipe._itch_counts = reader.counts
        pipe._itch_missing = reader.missing_symbols
        pipe._itch_directory = reader.symbols


def _read_dbn(pipe: Pipeline) -> None:
    """Streams the DbnReader opened by the Pipeline (its header already checked): each chunk
    (one reused array) is copied into the source ring; the reader's counts are kept after
    each chunk. A ValueError mid-file (a record that lies, a truncated file) ends the input
    after the events before it; the end of the iteration is the end of the input."""
    reader = pipe._dbn
    try:
        for chunk in reader:
            pipe._dbn_counts = dict(reader.counts)  # the parser is idle between chunks
            if pipe._final is not None or pipe._stopping:
                break
            _push_all(pipe, chunk)
    finally:
        pipe._dbn_counts = dict(reader.counts)
        reader.close()


#: Records per JournalReader.read_many call of the journal: source (48 or 32 bytes each).
JOURNAL_BATCH = 4096


def _read_journal(pipe: Pipeline) -> None:
    """Replays the JournalReader opened by the Pipeline (at the start, or ?start=SEQ) from
    its position to the last committed record, then ends the input; with ?follow=1 it
    tails the journal instead (read_many waits up to READER_POLL_MS for a new record, so
    the stop flag is seen within that) until stop(). read_many copies into one
    preallocated array (the GIL released for the copy). Corrupt records the reader steps
    over are counted (pipe._journal_skipped), never pushed."""
    reader = pipe._journal
    out = np.empty(JOURNAL_BATCH, reader.dtype)
    try:
        while not pipe._stopping and pipe._final is None:  # bounded by the journal's records
            n = reader.read_many(out, READER_POLL_MS / 1000 if pipe._journal_follow else 0.0)
            pipe._journal_skipped = reader.skipped
            if n == 0:
                if pipe._journal_follow:
                    continue
                break
            pipe._journal_read += n
            _push_all(pipe, out[:n])
    finally:
        pipe._journal_skipped = reader.skipped
        reader.close()


def _push_all(pipe: Pipeline, arr: npt.NDArray[np.void]) -> None:
    while len(arr) and not pipe._stopping:  # bounded: each round pushes or times out
        n = pipe._push(arr, 0.05)
        arr = arr[n:]


def watch_input_ring(pipe: Pipeline) -> None:
    """input="shm:NAME": ends the source once the producer process closed the ring or died
    (the native source then takes what is left in the ring and finishes). Polls the
    producer's role word every 2 ms (a syscall or two), never the hot path."""
    ring = pipe.input_ring
    assert ring is not None
    try:
        while pipe._final is None and not pipe._stopping and not pipe._nat.finished:
            if ring.producer_pid != 0 and not ring.producer_alive:
                break
            time.sleep(0.002)
    except BaseException as e:  # re-raised by stop()
        pipe._reader_error.append(e)
    finally:
        pipe._nat.close_source()
