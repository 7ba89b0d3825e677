"""journal="DIR" (--journal DIR): the pipeline journals its input and its output as two
velox.Journal directories, DIR/input (the records the book stage took, in its order: TXN_DTYPE
or MBO_DTYPE) and DIR/output (the bundles the output stage emitted: BUNDLE_DTYPE).

Where the journal is written from: the book stage copies each batch it takes into a private
SPSC ring, the input tap (a memcpy per batch; csrc/velox/pipeline_book.c), and the output
stage copies each bundle into the python ring, as for a callback. One journal thread in this
process drains both rings into the journals and hands the bundles on to the callback. The
pipeline's own threads never touch a journal file: a segment roll (create, fallocate, map)
and the per-record hash stay off the hot path, and a slow disk shows up as a full tap (block
mode: backpressure; drop mode: counted journal losses), never as a stalled book turn.

The journal thread appends straight from the rings' slots (NativePipeline.journal_tap /
journal_output: one copy-and-hash per record into the journal, no array between); only with a
callback are the bundles first popped into an array, which the callback then receives. Both
rings are sized for journaled runs (INPUT_TAP_CAPACITY, JOURNAL_PYTHON_RING_CAPACITY: tens of
milliseconds of the pipeline's full rate), so a journal thread that waits for a CPU, or for a
segment roll, does not stop the book at once."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from velox._journal import Journal
from velox._pipeline import NativePipeline
from velox._records import BUNDLE_DTYPE
from velox._ring import SpscRing
from velox.pipeline._drain import Callback


#: Records the input tap holds (the book stage waits, or drops, when it is full): 8 MiB of
#: TXN_DTYPE, ~26 ms of a pipeline running at 10 M transactions/s.
INPUT_TAP_CAPACITY = 1 << 18
#: Bundles the python ring holds in a journaled run (Pipeline's python_ring_capacity default):
#: 8.25 MiB, as long as the input tap at 16 transactions a bundle.
JOURNAL_PYTHON_RING_CAPACITY = 1 << 14
#: Bytes per journal segment file (each fallocated when it is started; a roll maps a new file
#: and unmaps the full one).
SEGMENT_BYTES = 64 << 20
#: Records or bundles the journal thread takes from a ring per append.
DRAIN_BATCH = 4096


def check_journal_dir(path: object) -> str:
    """Checks journal=DIR before anything is made: DIR must be a new directory (its parent
    exists and is writable) or an existing empty, writable one. A directory holding anything
    (a journal of another run, other files) is refused: a run's journal starts at sequence 0,
    so its input replays the run alone. ValueError / TypeError naming DIR."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"journal must be a directory path, got {path!r}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text or "\0" in text:
        raise ValueError(f"journal must be a directory path, got {path!r}")
    if os.path.lexists(text):
        if not os.path.isdir(text):
            raise ValueError(f"journal {text!r} exists and is not a directory")
        try:
            entries = sorted(os.listdir(text))
        except OSError as e:
            raise ValueError(f"journal {text!r}: cannot list it: {e.strerror}") from None
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise ValueError(
                f"journal {text!r} is not empty ({shown}): a pipeline journal is written into a "
                f"new or empty directory (replay a journaled run with input='journal:{text}/input')")
        if not os.access(text, os.W_OK | os.X_OK):
            raise ValueError(f"journal {text!r} is not writable")
        return text
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise ValueError(f"journal {text!r}: its parent directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"journal {text!r}: cannot create it, {parent!r} is not writable")
    return text


class PipelineJournal:
    """The journals of one run and the input tap that feeds DIR/input. Made (tap only) before
    the NativePipeline, which takes the tap; create() then makes the directories."""

    def __init__(self, path: str, record_dtype: np.dtype[Any]) -> None:
        self.path = path
        self.record_dtype = record_dtype
        self.tap = SpscRing(INPUT_TAP_CAPACITY, record_dtype)
        self.input: Journal | None = None
        self.output: Journal | None = None
        #: records (input) and bundles (output) appended, and those the journal thread took
        #: from its ring but could not append (after an append failed)
        self.input_records = 0
        self.output_records = 0
        self.input_lost = 0
        self.output_lost = 0
        self.errors: list[str] = []
        self._buf = np.empty(DRAIN_BATCH, record_dtype)

    def create(self) -> None:
        """Makes DIR (if new), DIR/input and DIR/output (ValueError naming DIR)."""
        try:
            os.makedirs(self.path, exist_ok=True)
            self.input = Journal.create(os.path.join(self.path, "input"), self.record_dtype,
                                        segment_bytes=SEGMENT_BYTES)
            self.output = Journal.create(os.path.join(self.path, "output"), BUNDLE_DTYPE,
                                         segment_bytes=SEGMENT_BYTES)
        except OSError as e:
            self.close()
            raise ValueError(f"journal {self.path!r}: cannot create it: "
                             f"{e.strerror or e}") from None
        except ValueError as e:
            self.close()
            raise ValueError(f"journal {self.path!r}: {e}") from None

    def _append(self, journal: Journal | None, arr: npt.NDArray[np.void], output: bool) -> None:
        """Appends arr; after a failure (disk full, I/O error) counts what is not appended."""
        written = 0
        if journal is not None and not self.errors:
            before = journal.next_seq
            try:
                journal.append_many(arr)
            except (OSError, ValueError, RuntimeError) as e:
                self.errors.append(f"{'output' if output else 'input'} journal: "
                                   f"{type(e).__name__}: {e}")
            written = journal.next_seq - before
        if output:
            self.output_records += written
            self.output_lost += len(arr) - written
        else:
            self.input_records += written
            self.input_lost += len(arr) - written

    def _append_ring(self, native: NativePipeline, output: bool) -> int:
        """Appends what waits in the input tap (output=False) or the python ring straight
        from the ring's slots; after a failure records the error (the records not appended
        stay in the ring: the next turns pop them and count them lost). Returns how many it
        appended."""
        journal = self.output if output else self.input
        assert isinstance(journal, Journal)
        before = journal.next_seq
        try:
            if output:
                return native.journal_output(journal, DRAIN_BATCH)
            return native.journal_tap(journal, DRAIN_BATCH)
        except (OSError, ValueError, RuntimeError) as e:
            self.errors.append(f"{'output' if output else 'input'} journal: "
                               f"{type(e).__name__}: {e}")
            return journal.next_seq - before
        finally:
            if output:
                self.output_records += journal.next_seq - before
            else:
                self.input_records += journal.next_seq - before

    def drain(self, native: NativePipeline, callback: Callback | None) -> int:
        """One round of the journal thread: what the input tap and the python ring hold now
        (bounded: at most 16 batches of each) into the journals; bundles then to the
        callback. Returns how many records and bundles it took."""
        total = 0
        for _ in range(16):
            if isinstance(self.input, Journal) and not self.errors:
                n = self._append_ring(native, output=False)
                if not n and not self.errors:  # empty; after a failure the pop path takes over
                    break
            else:
                n = self.tap.pop_many(self._buf)
                if not n:
                    break
                self._append(self.input, self._buf[:n], output=False)
            total += n
        for _ in range(16):
            if callback is None and isinstance(self.output, Journal) and not self.errors:
                n = self._append_ring(native, output=True)
                if not n and not self.errors:  # empty; after a failure the pop path takes over
                    break
                total += n
                continue
            batch = native.drain(DRAIN_BATCH)
            if not len(batch):
                break
            self._append(self.output, batch, output=True)
            total += len(batch)
            if callback is not None:
                callback(batch)
        return total

    def close(self) -> None:
        for j in (self.input, self.output):
            if j is not None and not j.closed:
                try:
                    j.close()
                except (OSError, ValueError) as e:
                    self.errors.append(f"closing the journal: {e}")

    def report(self, counters: dict[str, Any], final: bool) -> dict[str, Any]:
        """The report's "journaled" section. lost counts every record the run took or emitted
        that is not in the journal: not copied into a full ring (drop mode) or not appended."""
        d = counters["drops"]
        return {
            "path": self.path, "input_records": self.input_records,
            "output_records": self.output_records,
            "input_lost": self.input_lost + d["book_to_tap"],
            "output_lost": self.output_lost + d["output_to_python"],
            "errors": list(self.errors),
        }

    def conservation_failures(self, counters: dict[str, Any]) -> list[str]:
        """After the journal thread's last drain: every record the tap took was appended or
        counted lost, and every bundle the python ring took too."""
        out = []
        if self.input_records + self.input_lost != counters["tapped"]:
            out.append(f"journaled input ({self.input_records}) + lost ({self.input_lost}) == "
                       f"tapped ({counters['tapped']})")
        if self.output_records + self.output_lost != counters["python_bundles"]:
            out.append(f"journaled output ({self.output_records}) + lost ({self.output_lost}) "
                       f"== bundles to the journal thread ({counters['python_bundles']})")
        return out


def journal_loop(native: NativePipeline, journal: PipelineJournal, callback: Callback | None,
                 lock: threading.Lock, stop: threading.Event,
                 errors: list[BaseException]) -> None:
    """The journal thread (the drain thread of a journaled pipeline): drains the input tap and
    the python ring into the journals (and the callback) until stop is set, which happens
    after the native threads are joined, so its last round sees every record."""
    while True:
        stopping = stop.is_set()  # read before the drain: a set flag means joined threads
        try:
            with lock:
                n = journal.drain(native, callback)
        except BaseException as e:  # the callback raised: re-raised on the driver
            errors.append(e)
            return
        if stopping and not n:
            return
        if not n:
            stop.wait(0.0002)
