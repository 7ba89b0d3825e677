"""velox.Pipeline and the ``python -m velox.pipeline`` / ``velox-pipeline`` command.

The pipeline runs natively (csrc/velox/pipeline.c): ingress -> order book -> bundler ->
output on pinned pthreads connected by SPSC rings. This module chooses the stage -> CPU
mapping, converts friendly options to the native configuration, drives the run from the
Python thread (periodic stats, draining bundles to a Python callback, stop/drain/join), and
reports: counters, rates, latency percentiles, memory, mapping and the conservation check.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import select
import signal
import stat
import sys
import threading
import time
from typing import IO, Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from velox import tsc
from velox._histogram import Histogram
from velox._mbo import MboOrder
from velox._pipeline import HISTOGRAMS, LATE_NS, STAGES, NativePipeline
from velox._records import BUNDLE_DTYPE, MBO_DTYPE, PRICE_SCALE, TXN_DTYPE
from velox._ring import SpscRing
from velox._shm import NAME_MAX, SharedRing, is_valid_name
from velox._shm import unlink as _unlink_shm

#: what ``callback`` receives: a BUNDLE_DTYPE array of bundles
Callback = Callable[[npt.NDArray[np.void]], object]
#: a cores value: CPU numbers, or a string like "0,2-3"
Cores = Union[Sequence[int], str, None]
#: a topology: "ingress+book@1,bundler+output@2", or [(("ingress", "book"), 1), ...]
#: (CPU None or "@*": that thread is not pinned)
Topology = Union[str, Sequence[tuple[Sequence[str], Optional[int]]], None]

__all__ = ["Pipeline", "InputError", "stage_mapping", "parse_topology", "default_cores",
           "parse_cores", "parse_output", "load_stage", "main"]

#: Inputs that are files, replayed by the reader thread; those carrying market-by-order events.
FILE_INPUTS = ("events", "mbo", "lobster", "itch")
MBO_FILE_INPUTS = ("mbo", "lobster", "itch")
#: Finite sources: they never drop (the pipeline runs them with on_full="block" whatever is
#: asked). Live sources (synthetic, shm:) follow on_full.
FINITE_INPUTS = FILE_INPUTS + ("feed",)

#: How long stop() waits for the file reader thread before it leaves it behind (a parser
#: blocked in open() or read() of a FIFO whose writer is silent) and reports the input as
#: abandoned.
READER_JOIN_S = 2.0
#: How often the raw file reader (mbo:, events:) looks at the stop flag while a FIFO is silent.
READER_POLL_MS = 50
#: Bytes of a regular file input parsed before the run to refuse a wrong file at once.
FIRST_CHUNK_BYTES = 1 << 16


class InputError(ValueError):
    """A file input failed during the run (a bad record past the first chunk, a truncated
    file, a read error). Raised by Pipeline.wait() and Pipeline.stop(); ``report`` is the
    final report (stop(); None from wait()), whose ``input_error`` says what failed."""

    def __init__(self, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report

#: Slots of the shared ring that ``output="shm:NAME"`` creates (528-byte bundles: 528 KiB).
SHM_DEFAULT_CAPACITY = 1024
SHM_MAX_CAPACITY = 1 << 20

#: Stage groups per thread count: thread t runs the stages in GROUPS[n][t], in that order.
GROUPS = {
    1: (("ingress", "book", "bundler", "output"),),
    2: (("ingress", "book"), ("bundler", "output")),
    3: (("ingress",), ("book",), ("bundler", "output")),
    4: (("ingress",), ("book",), ("bundler",), ("output",)),
}

REPORT_HISTOGRAMS = ("ingress_to_book", "book_to_bundler", "ingress_to_bundler",
                     "bundle_to_output", "end_to_end")


def available_cpus() -> list[int]:
    """Sorted CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return list(range(os.cpu_count() or 1))


def parse_cores(text: object) -> list[int]:
    """'0,2-3' -> [0, 2, 3]. Raises ValueError naming the bad part."""
    cpus: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty CPU in {text!r}")
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if lo > hi:
                    raise ValueError
                cpus.extend(range(lo, hi + 1))
            else:
                cpus.append(int(part))
        except ValueError:
            raise ValueError(f"bad CPU list {text!r} (expected e.g. '0', '0,1' or '0-3')") from None
    if any(c < 0 for c in cpus):
        raise ValueError(f"CPU numbers must be >= 0, got {text!r}")
    if len(set(cpus)) != len(cpus):
        raise ValueError(f"CPU list {text!r} repeats a CPU")
    return cpus


def default_cores(allowed: Sequence[int] | None = None) -> list[int]:
    """The CPUs a Pipeline uses when none are given: every CPU this process may use except the
    first, which is left to Python (the driver thread, callbacks), the OS and interrupts; all
    of them when there is only one. So 2 CPUs -> one pipeline thread on the second CPU,
    5 or more -> four threads. Why: a pinned pipeline thread that shares its CPU with anything
    runnable gets preempted or yields for a scheduler slice (milliseconds of p99); and on two
    CPUs one thread running all four stages is faster than two (no cross-core hand-offs; the
    ingress+book half does ~85 % of the work anyway)."""
    if allowed is None:
        allowed = available_cpus()
    return list(allowed[1:]) if len(allowed) >= 2 else list(allowed)


def stage_mapping(cores: Iterable[int] | None = None
                  ) -> tuple[list[int], list[int], dict[str, int]]:
    """Chooses threads for the four stages. cores: CPUs to use (default: default_cores(),
    every available CPU but the first). Returns (stage_thread, thread_cpu, mapping) where
    mapping is {stage: cpu}. With >= 4 CPUs one stage per thread; with fewer, stages are
    grouped (2 CPUs: ingress+book | bundler+output; 1 CPU: all four on one thread)."""
    allowed = available_cpus()
    if cores is None:
        cores = default_cores(allowed)
    cores = list(cores)
    if not cores:
        raise ValueError("cores must name at least one CPU")
    missing = [c for c in cores if c not in allowed]
    if missing:
        raise ValueError(f"CPU {missing[0]} is not available to this process (available: {allowed})")
    threads = min(len(cores), len(STAGES))
    groups = GROUPS[threads]
    stage_thread = [0] * len(STAGES)
    for t, group in enumerate(groups):
        for stage in group:
            stage_thread[STAGES.index(stage)] = t
    thread_cpu = [cores[t] for t in range(threads)]
    mapping = {stage: thread_cpu[stage_thread[i]] for i, stage in enumerate(STAGES)}
    return stage_thread, thread_cpu, mapping


def load_stage(spec: object) -> object:
    """The user stage a ``--stage`` / TOML ``stage`` spec names:

    - ``"builtin:KIND"``: velox's own C stage (``velox._pipeline.BuiltinStage(KIND)``; KIND one
      of noop, imbalance, echo and the hostile bad_count, bad_records, fail_init);
    - ``"MODULE:ATTR"``: ``ATTR`` of the imported ``MODULE`` (e.g. ``velox_strategy:Imbalance``):
      a stage object (with ``__velox_stage__()``) or a "velox.stage.v1" capsule is used as it
      is; a class or other callable is called with no arguments to make one.

    Raises ValueError naming the spec (bad form, unknown builtin, missing attribute, or an
    import that fails, with its reason). The ABI checks happen when the Pipeline takes it."""
    from velox._pipeline import BUILTIN_STAGES, BuiltinStage
    if not isinstance(spec, str):
        raise TypeError(f"stage spec must be a str like 'builtin:imbalance' or 'MODULE:ATTR', got {spec!r}")
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"stage {spec!r}: expected 'builtin:KIND' or 'MODULE:ATTR' "
                         "(e.g. 'velox_strategy:Imbalance')")
    if module == "builtin":
        if attr not in BUILTIN_STAGES:
            raise ValueError(f"stage {spec!r}: builtin stages are {', '.join(BUILTIN_STAGES)}")
        return BuiltinStage(attr)
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # ImportError, or whatever the module raised at import
        raise ValueError(f"stage {spec!r}: cannot import {module!r}: {type(e).__name__}: {e}") from None
    try:
        obj = getattr(mod, attr)
    except AttributeError:
        raise ValueError(f"stage {spec!r}: module {module!r} has no attribute {attr!r}") from None
    if isinstance(obj, type) or (not hasattr(obj, "__velox_stage__") and callable(obj)):
        # a class (its __velox_stage__ is unbound), or a factory function
        try:
            obj = obj()
        except Exception as e:
            raise ValueError(f"stage {spec!r}: {attr}() failed: {type(e).__name__}: {e}") from None
    return obj


def parse_topology(spec: Topology) -> tuple[list[int], list[int], dict[str, int]]:
    """An explicit thread layout: which stages each native thread runs and the CPU it is
    pinned to. ``"ingress+book@1,bundler+output@2"`` (threads separated by ',', stages by '+',
    '@CPU' pins the thread; no '@' or '@*' leaves it unpinned), or the same as a sequence of
    (stages, cpu-or-None) pairs. Every stage (ingress, book, bundler, output) on exactly one of
    1 to 4 threads, in any grouping: a thread runs its stages round-robin and no stage waits
    inside its turn, so no grouping can deadlock. The user stage always runs on the book's
    thread. Returns (stage_thread, thread_cpu, mapping) like stage_mapping (-1: unpinned).
    Raises ValueError naming the bad part."""
    groups: list[tuple[list[str], int | None]] = []
    if isinstance(spec, str):
        for part in spec.split(","):
            stages_text, sep, cpu_text = part.strip().partition("@")
            cpu: int | None = None
            if sep and cpu_text.strip() not in ("", "*"):
                try:
                    cpu = int(cpu_text)
                except ValueError:
                    raise ValueError(f"topology {spec!r}: {cpu_text!r} is not a CPU number "
                                     "(write '@3', or '@*' for unpinned)") from None
            groups.append(([x.strip() for x in stages_text.split("+") if x.strip()], cpu))
    elif isinstance(spec, Sequence):
        for item in spec:
            if (not isinstance(item, (tuple, list)) or len(item) != 2 or isinstance(item[0], str)
                    or not isinstance(item[0], Sequence)
                    or not (item[1] is None or (isinstance(item[1], int) and not isinstance(item[1], bool)))):
                raise TypeError(f"topology entries must be (stages, cpu-or-None) pairs such as "
                                f"(('ingress', 'book'), 1), got {item!r}")
            groups.append((list(item[0]), item[1]))
    else:
        raise TypeError(f"topology must be a str like 'ingress+book@1,bundler+output@2' or a "
                        f"sequence of (stages, cpu) pairs, got {spec!r}")
    if not 1 <= len(groups) <= len(STAGES):
        raise ValueError(f"topology {spec!r}: 1 to {len(STAGES)} threads, got {len(groups)}")
    thread_of: dict[str, int] = {}
    for t, (stages, _) in enumerate(groups):
        if not stages:
            raise ValueError(f"topology {spec!r}: thread {t} has no stage")
        for name in stages:
            if name not in STAGES:
                raise ValueError(f"topology {spec!r}: unknown stage {name!r} (stages: "
                                 f"{', '.join(STAGES)})")
            if name in thread_of:
                raise ValueError(f"topology {spec!r}: stage {name!r} is on two threads")
            thread_of[name] = t
    missing = [name for name in STAGES if name not in thread_of]
    if missing:
        raise ValueError(f"topology {spec!r}: no thread runs {', '.join(missing)}")
    allowed = available_cpus()
    thread_cpu = []
    for _, cpu in groups:
        if cpu is not None and cpu not in allowed:
            raise ValueError(f"topology {spec!r}: CPU {cpu} is not available to this process "
                             f"(available: {allowed})")
        thread_cpu.append(-1 if cpu is None else cpu)
    stage_thread = [thread_of[name] for name in STAGES]
    mapping = {name: thread_cpu[thread_of[name]] for name in STAGES}
    return stage_thread, thread_cpu, mapping


def _check_shm_name(what: str, spec: str, name: str) -> None:
    """ValueError naming the spec unless name can name a shared ring."""
    if not name:
        raise ValueError(f"{what} {spec!r}: 'shm:NAME' needs a segment name after 'shm:'")
    if not is_valid_name(name):
        raise ValueError(
            f"{what} {spec!r}: shared ring name {name!r} must be 1..{NAME_MAX} characters "
            "of [A-Za-z0-9._-] not starting with '.' (no '/': it is a name, not a path)")


def parse_output(spec: object) -> tuple[str, str] | tuple[str, str, int] | None:
    """Classifies an ``output`` value. Returns None (no output), ("file", path) or
    ("shm", name, capacity) for "shm:NAME" / "shm:NAME:CAPACITY" (capacity a power of two in
    [2, 2**20], default SHM_DEFAULT_CAPACITY). Anything else is a file path (write
    "./shm:x" for a file literally named like that). Raises ValueError naming the bad part."""
    if spec is None:
        return None
    if isinstance(spec, str) and spec.startswith("shm:"):
        name, sep, cap_text = spec[4:].partition(":")
        _check_shm_name("output", spec, name)
        capacity = SHM_DEFAULT_CAPACITY
        if sep:
            try:
                capacity = int(cap_text)
            except ValueError:
                raise ValueError(f"output {spec!r}: capacity {cap_text!r} is not an integer") from None
            if not 2 <= capacity <= SHM_MAX_CAPACITY or capacity & (capacity - 1):
                raise ValueError(f"output {spec!r}: capacity must be a power of two in "
                                 f"[2, 2**20], got {cap_text!r}")
        return ("shm", name, capacity)
    try:
        return ("file", os.fsdecode(os.fspath(spec)))  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"output must be a file path or 'shm:NAME[:CAPACITY]', got {spec!r}") from None


def parse_input(spec: object) -> tuple[str, str]:
    """Classifies an ``input`` value: "synthetic" (the Poisson generator), "feed"
    (Pipeline.feed() from Python), "events:PATH" (a raw TXN_DTYPE file) or "shm:NAME" (a
    velox.SharedRing of TXN_DTYPE that another process creates and pushes into).
    Returns (kind, path-or-name-or-""). Raises ValueError naming the bad value."""
    if not isinstance(spec, str):
        raise TypeError(f"input must be 'synthetic', 'feed', 'events:PATH' or 'shm:NAME', got {spec!r}")
    if spec in ("synthetic", "feed"):
        return (spec, "")
    if spec.startswith("events:"):
        path = spec[len("events:"):]
        if not path:
            raise ValueError(f"input {spec!r}: 'events:PATH' needs a file path")
        return ("events", path)
    if spec.startswith("shm:"):
        name = spec[len("shm:"):]
        _check_shm_name("input", spec, name)
        return ("shm", name)
    if spec.startswith("itch:"):
        return ("itch", _itch_spec(spec)[0])  # the file; the symbols: _itch_spec(spec)[1]
    for kind in ("lobster", "mbo"):
        if spec.startswith(kind + ":"):
            path = spec[len(kind) + 1:]
            if not path:
                raise ValueError(f"input {spec!r}: '{kind}:PATH' needs a file path")
            return (kind, path)
    raise ValueError(f"input must be 'synthetic', 'feed', 'events:PATH', 'mbo:PATH', "
                     f"'lobster:PATH', 'itch:PATH?symbols=A,B' or 'shm:NAME', got {spec!r} "
                     "(other formats: read them into MBO_DTYPE arrays, e.g. with "
                     "velox.feeds)")


def _itch_spec(spec: str) -> tuple[str, list[str]]:
    """"itch:PATH?symbols=A,B" -> (PATH, ["A", "B"]). ValueError naming what is missing."""
    path, sep, names = spec[len("itch:"):].rpartition("?symbols=")
    symbols = [n.strip() for n in names.split(",") if n.strip()] if sep else []
    if not sep or not path:
        raise ValueError(f"input {spec!r}: write 'itch:PATH?symbols=AAPL,MSFT' (one book per "
                         "symbol; an unfiltered ITCH day has thousands of instruments)")
    if not symbols or len(set(symbols)) != len(symbols):
        raise ValueError(f"input {spec!r}: name each symbol once after '?symbols='")
    if any(len(n) > 8 for n in symbols):
        raise ValueError(f"input {spec!r}: ITCH symbols are at most 8 characters")
    return path, symbols


def _check_events_file(path: str, kind: str = "events") -> None:
    """ValueError unless path is readable and (events:, mbo:) a whole number of records."""
    try:
        size = os.stat(path).st_size
    except OSError as e:
        raise ValueError(f"input '{kind}:{path}': cannot read it: {e.strerror}") from None
    dtype, name = (MBO_DTYPE, "MBO_DTYPE") if kind == "mbo" else (TXN_DTYPE, "TXN_DTYPE")
    if kind in ("events", "mbo") and size % dtype.itemsize:
        raise ValueError(f"input '{kind}:{path}': {size} bytes is not a whole number of "
                         f"{dtype.itemsize}-byte {name} records")


# ITCH 5.0 message types (the byte after the 2-byte length of each message)
_ITCH_TYPES = frozenset(b"SRHYLVWKJhAFECXDUPQBINO")


def _check_first_records(kind: str, path: str) -> None:
    """ValueError naming the file, line (or byte) and what was expected unless the first
    FIRST_CHUNK_BYTES of a regular file input parse as its kind says (a LOBSTER file with a
    header line, a CSV given as itch:, a directory). A FIFO or device is checked as it streams
    (an error then ends the run: InputError from wait()/stop())."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise ValueError(f"input '{kind}:{path}': cannot read it: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"input '{kind}:{path}': is a directory, not a file")
    if kind not in ("lobster", "itch") or not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return
    try:
        with open(path, "rb") as f:
            head = f.read(FIRST_CHUNK_BYTES)
            last = len(head) < FIRST_CHUNK_BYTES or not f.read(1)
    except OSError as e:
        raise ValueError(f"input '{kind}:{path}': cannot read it: {e.strerror}") from None
    if head[:2] == b"\x1f\x8b":  # gzip: check the first decompressed bytes
        import zlib
        try:
            d = zlib.decompressobj(wbits=31)
            head = d.decompress(head, FIRST_CHUNK_BYTES)
            # the whole text only if one member held all of it (a bgzip/pigz member may end
            # inside a line)
            last = last and d.eof and not d.unconsumed_tail and not d.unused_data
        except zlib.error as e:
            raise ValueError(f"input '{kind}:{path}': not a valid gzip file ({e})") from None
    if kind == "lobster":
        from velox._feeds import lobster_parse_messages
        if not last:  # whole lines only: the last one may be cut by the chunk
            cut = head.rfind(b"\n")
            head = head[:cut + 1] if cut >= 0 else b""
        try:
            lobster_parse_messages(head, 0)
        except ValueError as e:
            hint = (" (LOBSTER message files have no header line: remove it, e.g. "
                    "tail -n +2)") if "line 1," in str(e) else ""
            msg = str(e).replace("LOBSTER message file: ", "")
            raise ValueError(f"input 'lobster:{path}': {msg}{hint}") from None
        return
    # itch: the parser itself over the first chunk (framing, sides, a directory entry at
    # locate 0, ...), so what the run would fail on there fails now; it stops at a message cut
    # by the chunk
    from velox._feeds import ItchParser
    parser, out, pos = ItchParser(), np.zeros(4096, MBO_DTYPE), 0
    view = memoryview(head)
    for _ in range(len(head) // 3 + 1):  # bounded: each round consumes bytes or ends
        if pos + 3 <= len(head) and head[pos + 2] not in _ITCH_TYPES:
            length = int.from_bytes(head[pos:pos + 2], "big")
            raise ValueError(
                f"input 'itch:{path}': byte {pos}: expected an ITCH 5.0 message (2-byte length, "
                f"then a type letter such as 'S' or 'A'), got length {length} and type "
                f"{bytes([head[pos + 2]])!r}: is it a NASDAQ ITCH 5.0 file (plain or gzip)?")
        try:
            consumed, _produced = parser.parse(view[pos:], out)
        except ValueError as e:
            raise ValueError(f"input 'itch:{path}': {e}") from None
        if consumed == 0:
            break
        pos += consumed


def _fixed(name: str, value: object) -> int:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not v > 0 or v != v or v > 9e10:
        raise ValueError(f"{name} must be a positive price, got {value!r}")
    return int(round(v * PRICE_SCALE))


class Pipeline:
    """The native pipeline, configured and driven from Python.

    Pipeline(rate=100_000, *, cores=None, seed=1, levels=1024, tick_size=0.01,
             base_price=100.0, bundle_timeout_us=100.0, on_full=None, wait=None,
             output=None, callback=None, max_txns=0, cancel_share=0.2, max_qty=100,
             batch=64, timestamps="tsc")

    rate: transactions/s (Poisson), or "max"/0/None for unpaced. cores: CPUs to use
    (list, or a string like "0,1"); default every available CPU but the first (see
    default_cores). wait: "spin", "yield" or
    "backoff"; default spin when a CPU is left over for Python, else backoff. output: path
    of a file to write raw 528-byte bundles to, or "shm:NAME[:CAPACITY]" to push every
    bundle into a new SharedRing of BUNDLE_DTYPE named NAME (CAPACITY slots, default 1024)
    that other processes read with ``velox.SharedRing.attach(NAME)``: the pipeline creates the
    segment at construction (FileExistsError if the name is taken), is its producer, pushes
    per on_full (drops counted as drops.output_to_external), and at stop() closes it (a
    consumer's blocking pop then raises BrokenPipeError once it has every bundle) and unlinks
    the name unless keep_shm=True (a consumer that attached keeps its mapping either way).
    callback: called with BUNDLE_DTYPE arrays of bundles. By default (callback_thread=True)
    start() starts a drain thread in this process that pops the python ring and calls the
    callback, so ``with Pipeline(callback=f): time.sleep(2)`` loses nothing in block mode
    (in drop mode only what the callback is too slow for is dropped, counted as
    drops.output_to_python). Its cost: the thread holds the GIL while it copies a batch and
    runs the callback, and sleeps 0.2 ms when the ring is empty (about 5,000 wake-ups/s when
    idle). An exception raised by the callback stops the drain thread and is re-raised by the
    next poll()/stats()/wait()/stop(). With callback_thread=False the callback runs on the
    calling thread, only from poll(), stats(), wait() and stop(): call poll() often, or
    bundles are dropped once the python ring (python_ring_capacity bundles) is full.
    max_txns: stop ingress after this many (0: no limit).
    timestamps: "tsc" (each transaction carries the TSC tick it was made at) or "logical"
    (it carries its sequence number instead, so a seeded, unpaced, block-mode run with
    max_txns and no bundle timeout writes byte-identical output; the latency histograms
    timed from the record -- ingress_to_book, ingress_to_bundler, end_to_end -- stay empty).

    stage: a native user stage (csrc/velox/stage.h ABI): an object with __velox_stage__()
    returning a PyCapsule named "velox.stage.v1" (e.g. velox._pipeline.BuiltinStage("imbalance")
    or a downstream Cython extension's), or such a capsule; or a list of up to 8 of them. Each
    runs on the book's pipeline thread after every book batch, in list order, over the same
    events, reads the book, and may emit up to emit_capacity orders (Transaction records) per
    batch into the bundler (stage 0's first); counts and records they return are validated
    (counters["user_stages"][i] per stage, counters["user_stage"] summed). The Pipeline keeps
    the objects alive.

    input: "synthetic", "feed" (Pipeline.feed), "events:PATH" (a TXN_DTYPE file) or
    "shm:NAME" (a SharedRing of TXN_DTYPE fed by another process; attached as its consumer,
    waiting up to attach_timeout s for it to appear; the run ends when its producer closes
    it or dies). replay_speed: pace a non-synthetic input by its records' tsc read as ns
    timestamps (1 = as recorded; None = as fast as possible). topology: an explicit layout
    instead of cores, "ingress+book@1,bundler+output@2" (see parse_topology).
    follow_market (records="mbo"): after every batch, before the stages run, the book stage
    recenters a book whose market (best bid / ask) nears an edge of its `levels`-tick window
    or left it, so the market stays on the ladder however far the price drifts (amortised to
    O(1) per event; never while the live view reads: counters "recenters" and
    "recenters_deferred"). False keeps each window where the book's first ADD placed it.

    snapshot (records="mbo"): the state the books start from, put in before start():
    "lobster-book:PATH#ROW" (row ROW of a LOBSTER orderbook file as seeded lots; a lobster:
    input then replays from message ROW + 1, as row ROW is the book after message ROW),
    "lobster-book:PATH" (a lobster: input's start: the book before its first message, derived
    from row 0 and message 0), a velox.feeds.LEVEL_DTYPE array (side, price, qty: seeded lots
    with no order identity), an MBO_DTYPE array of ADD events (applied in order), or
    {instrument: one of these} (see velox.feeds.load_snapshot). Checked before the run.
    seed_from_book (a lobster: or feed input, one instrument): the LOBSTER orderbook file of
    a level-limited message file; after each event the book stage seeds every level of that
    event's row that the book does not hold (a level deeper than the file's levels came into
    view with no ADD) and compares the top levels with the row (report "seed_from_book":
    levels_seeded, rows_checked, rows_differing).
    on_full: "drop" or "block" for a live source (synthetic, shm:); None = "drop", but a drop
    then fails the run (report "ok" False): drops count as asked for only when "drop" is
    given explicitly. A finite source (a file input, "feed") always blocks: it never drops.

    Use as a context manager, or start() / stop(). stop() drains every ring,
    joins the threads and returns the final report (a dict; see report(); its "verdict" is
    the summary's first line). A stop ends a paced replay at once (the rest is counted in
    "left_unreplayed"); a file reader blocked outside velox (a parser in open() of a silent
    FIFO) is waited for READER_JOIN_S and then reported as abandoned. When a file input
    fails during the run, wait() and the first stop() raise InputError (with the report).
    """

    mapping: dict[str, int]
    rate_per_s: float
    wait_strategy: str
    on_full: str
    output: object
    callback: Callback | None
    thread_cpu: list[int]
    #: records="mbo": the book stage recenters a book's window on its market (see docs)
    follow_market: bool
    #: the SharedRing of output="shm:NAME" (None otherwise); closed by stop()
    output_ring: SharedRing | None

    def __init__(self, rate: float | str | None = 100_000, *, cores: Cores = None,
                 seed: int = 1, levels: int = 1024, tick_size: float = 0.01,
                 base_price: float = 100.0, bundle_timeout_us: float = 100.0,
                 on_full: str | None = None, wait: str | None = None,
                 output: str | os.PathLike[str] | None = None,
                 callback: Callback | None = None, max_txns: int = 0,
                 cancel_share: float = 0.2, max_qty: int = 100, batch: int = 64,
                 python_ring_capacity: int = 1024, ticks_per_ns: float | None = None,
                 timestamps: str = "tsc", keep_shm: bool = False,
                 callback_thread: bool = True, stage: object = None,
                 emit_capacity: int = 64, input: str = "synthetic",
                 feed_capacity: int = 1 << 16, replay_speed: float | None = None,
                 attach_timeout: float = 10.0, topology: Topology = None,
                 records: str | None = None, instruments: int = 1,
                 max_orders: int = 1 << 20, follow_market: bool = True,
                 snapshot: object = None,
                 seed_from_book: str | os.PathLike[str] | None = None) -> None:
        if timestamps not in ("tsc", "logical"):
            raise ValueError(f"timestamps must be 'tsc' or 'logical', got {timestamps!r}")
        if rate in (None, "max", 0):
            rate_per_s = 0.0
        else:
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise TypeError(f"rate must be a number of transactions/s or 'max', got {rate!r}")
            if not 1 <= rate <= 1e9:
                raise ValueError(f"rate must be in [1, 1e9] transactions/s or 'max', got {rate!r}")
            rate_per_s = float(rate)
        if topology is not None:
            if cores is not None:
                raise ValueError("give cores or topology, not both (a topology names each "
                                 "thread's CPU)")
            stage_thread, thread_cpu, self.mapping = parse_topology(topology)
        else:
            if isinstance(cores, str):
                cores = parse_cores(cores)
            stage_thread, thread_cpu, self.mapping = stage_mapping(cores)
        if wait is None:
            # spin only when every thread has a CPU of its own and one is left over
            own_cpus = -1 not in thread_cpu and len(set(thread_cpu)) == len(thread_cpu)
            wait = "spin" if own_cpus and len(available_cpus()) > len(thread_cpu) else "backoff"
        if isinstance(bundle_timeout_us, bool) or not isinstance(bundle_timeout_us, (int, float)):
            raise TypeError(f"bundle_timeout_us must be a number, got {bundle_timeout_us!r}")
        if not 0 <= bundle_timeout_us <= 3.6e9:
            raise ValueError(f"bundle_timeout_us must be in [0, 3.6e9], got {bundle_timeout_us!r}")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if not isinstance(keep_shm, bool):
            raise TypeError(f"keep_shm must be a bool, got {keep_shm!r}")
        if not isinstance(follow_market, bool):
            raise TypeError(f"follow_market must be a bool, got {follow_market!r}")
        self.follow_market = follow_market
        if not isinstance(callback_thread, bool):
            raise TypeError(f"callback_thread must be a bool, got {callback_thread!r}")
        source = parse_input(input)
        target = parse_output(output)
        if on_full not in (None, "drop", "block"):
            raise ValueError(f"on_full must be 'drop' or 'block', got {on_full!r}")
        #: drops of market data are what the user asked for: on_full="drop" given explicitly
        #: on a live source (the synthetic generator, shm:); a finite source never drops
        self.drops_allowed = on_full == "drop" and source[0] not in FINITE_INPUTS
        if source[0] in FINITE_INPUTS:
            on_full = "block"  # a file or feed() waits for the pipeline: nothing is lost
        elif on_full is None:
            on_full = "drop"
        if replay_speed is not None and replay_speed != 0:
            if isinstance(replay_speed, bool) or not isinstance(replay_speed, (int, float)):
                raise TypeError(f"replay_speed must be a number, got {replay_speed!r}")
            if source[0] == "synthetic":
                raise ValueError("replay_speed paces a replayed input by its recorded timestamps: "
                                 "it needs a file, 'shm:NAME' or 'feed' input (the synthetic "
                                 "source is paced by rate)")
            if not 1e-3 <= replay_speed <= 1e6:
                raise ValueError(f"replay_speed must be in [0.001, 1e6] (1 = recorded speed), "
                                 f"got {replay_speed!r}")
        if isinstance(attach_timeout, bool) or not isinstance(attach_timeout, (int, float)):
            raise TypeError(f"attach_timeout must be a number of seconds, got {attach_timeout!r}")
        if not 0 <= attach_timeout <= 3600:
            raise ValueError(f"attach_timeout must be in [0, 3600] seconds, got {attach_timeout!r}")
        if ticks_per_ns is None:
            ticks_per_ns = tsc.ticks_per_ns()  # calibrates once per process
        self.rate_per_s = rate_per_s
        self._bundle_timeout_us = float(bundle_timeout_us)
        self.wait_strategy = wait
        self.on_full = on_full
        self.output = output
        self.callback = callback
        self.thread_cpu = thread_cpu
        self.input = input
        self._source = source
        #: fed(): records handed to the source ring by feed() or the file reader
        self.fed = 0
        self._feed_lock = threading.Lock()  # the source ring has one producer at a time
        self.replay_speed = float(replay_speed) if replay_speed else None
        self._feed_ring: SpscRing | None = None
        #: input="shm:NAME": the attached SharedRing (this process is its consumer); None else
        self.input_ring: SharedRing | None = None
        self._reader: threading.Thread | None = None
        self._reader_error: list[BaseException] = []
        self._feed_closed = False     # close_feed() was called
        self._input_closed = False    # stop() refuses further pushes into the source ring
        self._input_abandoned = False  # stop() left a blocked file reader behind
        # which records flow: files say it themselves; feed/shm default to transactions
        if records is None:
            records = "mbo" if source[0] in MBO_FILE_INPUTS else "txn"
        if records not in ("txn", "mbo"):
            raise ValueError(f"records must be 'txn' (transactions, L2 book) or 'mbo' "
                             f"(market-by-order events, MBO books), got {records!r}")
        if source[0] in MBO_FILE_INPUTS and records != "mbo":
            raise ValueError(f"input {input!r} carries market-by-order events: records must be 'mbo'")
        if source[0] in ("events", "synthetic") and records != "txn":
            raise ValueError(f"input {input!r} carries transactions: records must be 'txn'")
        #: "txn" (transactions through the L2 ladder) or "mbo" (events through MBO books)
        self.records = records
        self._dtype = MBO_DTYPE if records == "mbo" else TXN_DTYPE
        #: input="itch:...": the symbols, book i = symbols[i] (the reader routes by symbol)
        self.symbols: list[str] | None = None
        self._itch_counts: dict[str, Any] | None = None  # the ITCH reader's, for the report
        self._itch_directory: dict[int, str] | None = None  # its stock directory, at the end
        self._itch_missing: list[str] = []  # symbols no stock directory message named
        if source[0] == "itch":
            self.symbols = _itch_spec(input)[1]
            instruments = len(self.symbols)
        self._instruments = instruments
        if source[0] in FILE_INPUTS:
            _check_events_file(source[1], source[0])
            _check_first_records(source[0], source[1])
        #: input="lobster:..." with a snapshot or seed_from_book: the message file, read
        #: (and checked) before the run; the reader replays it from _first_message on
        self._lobster_events: npt.NDArray[np.void] | None = None
        self._first_message = 0
        snap, reference = self._prepare_snapshot(snapshot, seed_from_book, source, records,
                                                 instruments)
        if source[0] == "shm":
            # waits up to attach_timeout for the producer process to create it
            try:
                self.input_ring = SharedRing.attach(source[1], self._dtype, timeout=attach_timeout)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"input {input!r}: no shared ring named {source[1]!r} appeared within "
                    f"attach_timeout={attach_timeout!r} s (the producer process creates it with "
                    f"velox.SharedRing.create(NAME, capacity, velox.{'MBO' if records == 'mbo' else 'TXN'}"
                    "_DTYPE))") from None
            except TimeoutError as e:
                raise TimeoutError(f"input {input!r}: {e}") from None
            self._feed_ring = self.input_ring
        elif source[0] != "synthetic":
            self._feed_ring = SpscRing(feed_capacity, self._dtype)
        #: the user stage (an object with __velox_stage__() or a "velox.stage.v1" capsule)
        self.stage = stage
        self._fd = -1
        self._native: NativePipeline | None = None
        self.output_ring = None
        self._keep_shm = keep_shm
        self._t_start: float | None = None
        self._t_stop: float | None = None
        self._final: dict[str, Any] | None = None
        self._callback_thread = callback_thread
        self._drain_lock = threading.Lock()  # one consumer of the python ring at a time
        self._drain_stop = threading.Event()
        self._drainer: threading.Thread | None = None
        self._drain_error: list[BaseException] = []
        self._stopping = False
        if target is not None and target[0] == "file":
            self._fd = os.open(target[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        elif target is not None and len(target) == 3:
            self.output_ring = SharedRing.create(target[1], target[2], BUNDLE_DTYPE)
        try:
            self._native = NativePipeline(
                ticks_per_ns=ticks_per_ns, rate_per_s=rate_per_s, max_txns=max_txns, seed=seed,
                levels=levels, tick_size=_fixed("tick_size", tick_size),
                base_price=_fixed("base_price", base_price), cancel_share=cancel_share,
                max_qty=max_qty, bundle_timeout_ns=int(round(bundle_timeout_us * 1000)),
                on_full=on_full, wait=wait, batch=batch,
                python_ring_capacity=python_ring_capacity if callback is not None else 0,
                output_fd=self._fd, stage_thread=stage_thread, thread_cpu=thread_cpu,
                logical_timestamps=timestamps == "logical", external_ring=self.output_ring,
                user_stage=stage, user_emit_capacity=emit_capacity,
                source_ring=self._feed_ring, replay_speed=self.replay_speed or 0.0,
                records=records, mbo_instruments=instruments, mbo_max_orders=max_orders,
                mbo_follow=follow_market, mbo_reference=reference)
            if snap is not None:
                self._seed_snapshot(snap, instruments)
        except BaseException:
            self._close_fd()
            self._close_shm(unlink=True)
            self._close_input_ring()
            raise

    def _prepare_snapshot(self, snapshot: object, seed_from_book: object,
                          source: tuple[str, str], records: str, instruments: int
                          ) -> tuple[Any, tuple[Any, ...] | None]:
        """Reads and checks snapshot= and seed_from_book= before anything is created: the
        normalised velox.feeds.Snapshot (or None) and the native mbo_reference (or None)."""
        self.snapshot: dict[str, Any] | None = None
        self.seed_from_book: str | None = None
        if snapshot is None and seed_from_book is None:
            return None, None
        from velox import feeds
        what = "snapshot" if snapshot is not None else "seed_from_book"
        if records != "mbo":
            raise ValueError(f"{what} starts market-by-order books: it needs records='mbo' "
                             f"(input {self.input!r} carries transactions)")
        if source[0] == "lobster":
            try:
                self._lobster_events = feeds.read_lobster(source[1])
            except (OSError, ValueError) as e:
                raise ValueError(f"input {self.input!r}: {e}") from None
        snap = None
        if snapshot is not None:
            snap = feeds.load_snapshot(snapshot, messages=self._lobster_events)
            if source[0] == "lobster":
                self._first_message = snap.first_message
            self.snapshot = {"source": snap.source, "first_message": snap.first_message,
                             "instruments": sorted(snap.books)}
        if seed_from_book is None:
            return snap, None
        try:
            path = os.fsdecode(os.fspath(seed_from_book))  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(f"seed_from_book must be the path of a LOBSTER orderbook file, got "
                            f"{seed_from_book!r}") from None
        if source[0] not in ("lobster", "feed"):
            raise ValueError(f"seed_from_book aligns orderbook rows with LOBSTER messages: it "
                             f"needs a 'lobster:PATH' (or 'feed') input, got {self.input!r}")
        if instruments != 1:
            raise ValueError(f"seed_from_book: a LOBSTER file is one instrument, the pipeline "
                             f"has instruments={instruments}")
        if not os.path.exists(path):
            raise ValueError(f"seed_from_book: no such file {path!r}")
        try:
            book = feeds.read_lobster_book(path)
        except OSError as e:
            raise ValueError(f"seed_from_book: cannot read {path!r}: {e.strerror}") from None
        except ValueError as e:
            raise ValueError(f"seed_from_book {path!r}: {e}") from None
        if not 1 <= book.levels <= 256:
            raise ValueError(f"seed_from_book {path!r}: 1 to 256 levels, the file has {book.levels}")
        n_msg = None if self._lobster_events is None else len(self._lobster_events)
        if n_msg is not None and n_msg != len(book):
            raise ValueError(f"seed_from_book {path!r}: {len(book)} rows, but the message file "
                             f"{source[1]!r} has {n_msg} messages (row i is the book after "
                             "message i: the two files must be a pair)")
        first = snap.first_message if snap is not None else 0
        if first >= len(book):
            raise ValueError(f"seed_from_book {path!r}: the snapshot is its last row: no message "
                             "is left to replay")
        self.seed_from_book = path
        return snap, (book.bid_px, book.bid_qty, book.ask_px, book.ask_qty, first)

    def _seed_snapshot(self, snap: Any, instruments: int) -> None:
        """Puts the snapshot into the native books (before start: this thread is their only
        writer until then)."""
        native = self._nat
        levels = orders = 0
        for inst, arr in sorted(snap.books.items()):
            if inst >= instruments:
                raise ValueError(f"snapshot names instrument {inst}, but the pipeline has "
                                 f"instruments={instruments} (ids 0 .. {instruments - 1})")
            if arr.dtype == MBO_DTYPE:
                native.apply_before_start(arr)
                orders += len(arr)
                continue
            for side, price, qty in zip(arr["side"].tolist(), arr["price"].tolist(),
                                        arr["qty"].tolist()):
                if qty:
                    try:
                        native.seed_level(inst, side, price, qty)
                    except ValueError:
                        raise ValueError(
                            f"snapshot level {'bid' if side == 0 else 'ask'} "
                            f"{price / PRICE_SCALE:.8g} x {qty} (instrument {inst}) was refused: "
                            "off the tick grid or outside the book's window (raise levels, or "
                            "check tick_size)") from None
                    levels += 1
        assert self.snapshot is not None
        self.snapshot.update(levels=levels, orders=orders)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def _nat(self) -> NativePipeline:
        if self._native is None:
            raise RuntimeError("the pipeline's native part is gone")
        return self._native

    def start(self) -> Pipeline:
        """Starts the native threads (and, with a callback and callback_thread=True, the
        drain thread); returns self."""
        self._nat.start()
        self._t_start = time.perf_counter()
        if self._source[0] in FILE_INPUTS:
            self._reader = threading.Thread(
                target=self._read_events, args=(self._source[1],), name="velox-pipeline-reader",
                daemon=True)
            self._reader.start()
        elif self._source[0] == "shm":
            self._reader = threading.Thread(
                target=self._watch_input_ring, name="velox-pipeline-shm-watch", daemon=True)
            self._reader.start()
        if self.callback is not None and self._callback_thread:
            self._drainer = threading.Thread(
                target=_drain_loop, name="velox-pipeline-drain", daemon=True,
                args=(self._nat, self.callback, self._drain_lock, self._drain_stop,
                      self._drain_error))
            self._drainer.start()
        return self

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._t_start is not None and self._final is None

    @property
    def finished(self) -> bool:
        """True once every stage has finished (after stop(), or max_txns reached)."""
        return self._nat.finished

    @property
    def book(self) -> BookView:
        """The live view of the pipeline's L2 book (best bid/ask, depth), readable while it
        runs: atomic level reads under the book's reader contract, no lock, nothing the book
        stage waits for. A multi-level answer is a recent view, not a snapshot."""
        return BookView(self._nat)

    def feed(self, events: npt.NDArray[np.void], timeout: float | None = None) -> int:
        """Pushes a 1-D TXN_DTYPE array into the pipeline (input="feed"), waiting while the
        source ring is full (GIL released for large copies; sleeps 50 us between tries) up to
        timeout seconds (None: until all are in). Returns how many went in (all of them unless
        the timeout expired); counted in `fed`. Records are not trusted: the book rejects
        invalid ones (counters.rejected)."""
        if self._source[0] != "feed":
            raise RuntimeError(f"feed() needs Pipeline(input='feed'), this one has input={self.input!r}")
        if self._t_start is None or self._final is not None:
            raise RuntimeError("feed() needs a started, not yet stopped pipeline")
        if self._feed_closed:
            raise RuntimeError("feed() after close_feed(): the input is closed, nothing would "
                               "take these records")
        if self._stopping or self._nat.finished:
            raise RuntimeError("the pipeline finished: it takes no more input")
        return self._push(events, timeout)

    def _push(self, events: npt.NDArray[np.void], timeout: float | None) -> int:
        arr = np.ascontiguousarray(events)
        if arr.dtype != self._dtype or arr.ndim != 1:
            want = "MBO_DTYPE" if self.records == "mbo" else "TXN_DTYPE"
            raise TypeError(f"events must be a 1-D {want} array (records={self.records!r}), "
                            f"got {arr.dtype} with shape {arr.shape}")
        ring = self._feed_ring
        assert ring is not None
        deadline = None if timeout is None else time.perf_counter() + timeout
        done = 0
        with self._feed_lock:
            while done < len(arr) and not self._input_closed:  # closed: stop() counted the ring
                n = ring.push_many(arr[done:])
                done += n
                self.fed += n
                if done < len(arr):
                    if deadline is not None and time.perf_counter() >= deadline:
                        break
                    if self._nat.finished:
                        raise RuntimeError("the pipeline finished: it takes no more input")
                    time.sleep(0.00005)
        return done

    def close_feed(self) -> None:
        """input="feed": no more feed() calls (a later one raises RuntimeError); the run ends
        by itself once everything fed is through (finished, wait() returns)."""
        self._feed_closed = True
        self._nat.close_source()

    def _read_events(self, path: str) -> None:
        """The file reader thread (input="events:PATH", "mbo:PATH", "lobster:PATH",
        "itch:..."): streams the records into the source ring (raw files as they arrive, see
        _read_raw; a LOBSTER message file parsed by velox.feeds.read_lobster), then closes it.
        An error is kept for wait()/stop() to raise (InputError)."""
        try:
            if self._source[0] == "lobster":
                from velox.feeds import read_lobster
                events = self._lobster_events if self._lobster_events is not None else read_lobster(path)
                self._push_all(events[self._first_message:])  # after the snapshot's row
                return
            if self._source[0] == "itch":
                assert self.symbols is not None
                self._read_itch(path, self.symbols)
                return
            self._read_raw(path)
        except BaseException as e:  # raised by wait()/stop() as InputError
            self._reader_error.append(e)
        finally:
            self._nat.close_source()

    def _read_raw(self, path: str) -> None:
        """Streams a raw MBO_DTYPE / TXN_DTYPE file, FIFO or device: opened non-blocking (a
        FIFO with no writer yet does not block the open), then read as data arrives (poll
        with a READER_POLL_MS timeout, so a silent FIFO never hides the stop flag), pushing
        every whole record at once (a live writer's 100 records reach the book without
        waiting for a full buffer). EOF is a read of 0 bytes after poll said readable."""
        itemsize = self._dtype.itemsize
        chunk = ((1 << 20) // itemsize) * itemsize
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)  # POLLHUP / POLLERR are always reported
            pending = b""
            while not self._stopping:  # each round waits <= READER_POLL_MS
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
                    self._push_all(np.frombuffer(data, self._dtype, count=whole // itemsize))
            if pending and not self._stopping:
                raise ValueError(f"input '{self._source[0]}:{path}' ends with {len(pending)} "
                                 f"bytes of a partial {itemsize}-byte record (truncated?)")
        finally:
            os.close(fd)

    def _read_itch(self, path: str, symbols: list[str]) -> None:
        """Streams the file's events for `symbols` (velox.feeds.ItchReader routing natively:
        each event's instrument is its book, symbols.index(symbol), by the stock directory in
        force at that event; system events go to book 0, no book effect). Keeps the reader's
        counts for the report after each chunk, and its directory at the end."""
        from velox.feeds import ItchReader
        reader = ItchReader(path, symbols=symbols, by_symbol=True)
        try:
            for chunk in reader:
                self._itch_counts = reader.counts  # the parser is idle between chunks
                if self._final is not None or self._stopping:
                    break
                self._push_all(chunk)
        finally:
            self._itch_counts = reader.counts
            self._itch_missing = reader.missing_symbols
            self._itch_directory = reader.symbols

    def _push_all(self, arr: npt.NDArray[np.void]) -> None:
        while len(arr) and not self._stopping:  # bounded: each round pushes or times out
            n = self._push(arr, 0.05)
            arr = arr[n:]

    def _watch_input_ring(self) -> None:
        """input="shm:NAME": ends the source once the producer process closed the ring or died
        (the native source then takes what is left in the ring and finishes). Polls the
        producer's role word every 2 ms (a syscall or two), never the hot path."""
        ring = self.input_ring
        assert ring is not None
        try:
            while self._final is None and not self._stopping and not self._nat.finished:
                if ring.producer_pid != 0 and not ring.producer_alive:
                    break
                time.sleep(0.002)
        except BaseException as e:  # re-raised by stop()
            self._reader_error.append(e)
        finally:
            self._nat.close_source()

    def _close_input_ring(self) -> None:
        """Closes the attached input SharedRing (its producer sees the consumer depart); the
        name stays: it is the creator's to remove. Call only once the threads are joined."""
        ring, self.input_ring = self.input_ring, None
        if ring is not None:
            ring.close()

    def _raise_drain_error(self) -> None:
        if self._drain_error:
            err = self._drain_error.pop()
            raise err

    def poll(self, max_bundles: int = 1024) -> int:
        """Hands waiting bundles to the callback (on this thread). Returns how many. With the
        drain thread running this only re-raises a callback exception it caught."""
        self._raise_drain_error()
        if self.callback is None:
            return 0
        if self._drainer is not None and self._drainer.is_alive():
            return 0
        with self._drain_lock:
            return _drain_batches(self._nat, self.callback, max_bundles)

    def wait(self, timeout: float | None = None, poll_interval: float = 0.001) -> bool:
        """Waits (draining to the callback) until the pipeline finishes by itself (max_txns,
        the end of a file or a closed feed) or timeout seconds pass. Returns finished.
        Raises InputError once the file input failed (a bad record, a truncated file)."""
        done = self._wait_finished(timeout, poll_interval)
        self._raise_input_error(None)
        return done

    def _wait_finished(self, timeout: float | None, poll_interval: float = 0.001) -> bool:
        """wait() without raising (a failed reader closes the source: the run then ends)."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        while not self._nat.finished:
            if deadline is not None and time.perf_counter() >= deadline:
                return False
            if not self.poll():
                time.sleep(poll_interval)
        return True

    def _raise_input_error(self, report: dict[str, Any] | None) -> None:
        if self._reader_error:
            err = self._reader_error[0]
            raise InputError(f"input {self.input!r} failed: {type(err).__name__}: {err}",
                             report) from err

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """Stops ingress, drains every ring (handing bundles to the callback), joins the
        threads and returns the final report. Idempotent. If the drain takes longer than
        timeout seconds (e.g. a callback that never returns), the stages are abandoned and
        the report says so (conservation then fails)."""
        if self._final is not None:
            return self._final
        if self._t_start is None:
            raise RuntimeError("the pipeline was never started")
        self._t_stop = time.perf_counter()
        native = self._nat
        self._stopping = True
        if self._reader is not None:
            self._reader.join(READER_JOIN_S)
            # still alive: a parser blocked in open() or read() of a silent FIFO; it is left
            # behind (a daemon thread) and the input reported as abandoned
            self._input_abandoned = self._reader.is_alive() and self._source[0] in FILE_INPUTS
            self._reader = None
        if self._feed_lock.acquire(timeout=5.0):  # a push holds it for <= 50 ms
            self._input_closed = True  # from here on nothing enters the source ring
            self._feed_lock.release()
        native.stop()
        abandoned = True
        try:
            abandoned = not self._wait_finished(timeout)
            self.poll()  # with callback_thread=False: what the last wait() turn left
        finally:  # also when the callback raised: never leave threads writing
            if not native.finished:
                native.abandon()
            native.join()
            self._stop_drainer()  # its last drain runs after the join: sees every bundle
            try:
                self.poll()  # re-raises what the callback raised on the drain thread
            finally:
                self._close_fd()
                self._close_shm(unlink=not self._keep_shm)
                self._final = self.report(final=True)
                self._close_input_ring()
                self._final["abandoned"] = abandoned
                c = self._final["counters"]
                if c["source_errors"]:  # the source ring broke: what was lost is unknown
                    self._final["input_error"] = (
                        f"the source ring{' ' + repr(self._source[1]) if self._source[0] == 'shm' else ''} "
                        f"broke its invariant ({c['source_status']}: its other side wrote "
                        "indices out of range); the source ended there")
                    self._final["conservation_ok"] = False
                    self._final["conservation_failures"].append(self._final["input_error"])
                missing = (self._final.get("itch") or {}).get("missing")
                if missing:  # the user asked for data that the file does not have
                    self._final.setdefault("warnings", []).append(
                        _missing_symbols_warning(missing, self._final["itch"],
                                                 self._itch_directory or {}))
                if self._reader_error:  # the file reader failed: the run did not see it all
                    err = self._reader_error[0]
                    self._final["input_error"] = f"{type(err).__name__}: {err}"
                    self._final["conservation_ok"] = False
                    self._final["conservation_failures"].append(
                        f"input reader failed: {self._final['input_error']}")
                self._final["input_abandoned"] = self._input_abandoned
                _judge(self._final)
        self._raise_input_error(self._final)
        return self._final

    def _itch_report(self) -> dict[str, Any]:
        """input="itch:...": the reader's counts and, once it ended, the symbols found (the
        locates naming each requested symbol at the end, directory size) and the requested
        symbols no stock directory message of the file named."""
        counts = dict(self._itch_counts or {})
        by_type = counts.pop("by_type", {})
        out: dict[str, Any] = {k: counts.get(k, 0) for k in
                               ("messages", "events", "filtered", "skipped", "unknown")}
        out["by_type"] = by_type
        directory = self._itch_directory
        if directory is None:  # the reader has not ended: the directory may still grow
            out.update(directory_entries=None, found=None, missing=None)
            return out
        assert self.symbols is not None
        found: dict[str, list[int]] = {}
        for locate, name in sorted(directory.items()):
            if name in self.symbols:
                found.setdefault(name, []).append(locate)
        out["directory_entries"] = len(directory)
        out["found"] = found
        out["missing"] = list(self._itch_missing)
        return out

    def _stop_drainer(self) -> None:
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            self._drain_stop.set()
            drainer.join()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _close_shm(self, unlink: bool) -> None:
        """Closes the output SharedRing (its consumer sees the producer depart) and, if
        unlink, removes its name. Call only once the output thread is joined."""
        ring, self.output_ring = self.output_ring, None
        if ring is None:
            return
        name = ring.name
        ring.close()
        if unlink:
            try:
                _unlink_shm(name)
            except FileNotFoundError:  # someone else removed it already
                pass

    def __del__(self) -> None:
        native = getattr(self, "_native", None)
        if (native is not None and getattr(self, "_t_start", None) is not None
                and getattr(self, "_final", None) is None):
            # started, never stopped: the native threads may still write to the output fd
            # (and a file opened meanwhile would get that fd number): quit, join, then close
            native.abandon()
            native.join()
            self._stop_drainer()
        if getattr(self, "_fd", -1) >= 0:
            self._close_fd()
        if getattr(self, "input_ring", None) is not None:
            try:
                self._close_input_ring()
            except RuntimeError:  # still in use (the native pipeline is referenced elsewhere)
                pass
        if getattr(self, "output_ring", None) is not None:
            # never stopped: dropping the native pipeline abandons and joins its threads
            # (when nothing else references it), after which the ring can be closed
            self._native = None
            try:
                self._close_shm(unlink=not self._keep_shm)
            except RuntimeError:  # still in use (the native pipeline is referenced elsewhere)
                pass

    # -- measurement ----------------------------------------------------------------------

    def histogram(self, name: str) -> Histogram:
        """Snapshot of a latency histogram (velox.Histogram, ns): one of
        ingress_to_book, book_to_bundler, ingress_to_bundler, bundle_to_output,
        end_to_end, ingress_lateness."""
        return self._nat.histogram(name)

    def counters(self) -> dict[str, Any]:
        return self._nat.counters()

    def stats(self) -> dict[str, Any]:
        """Live report (counters are a recent snapshot while running)."""
        self.poll()
        return self.report(final=False)

    def report(self, final: bool = False) -> dict[str, Any]:
        """The machine-readable report (what --json writes)."""
        native = self._nat
        c = native.counters()
        now = time.perf_counter()
        if self._t_start is None:
            elapsed = 0.0
        else:
            elapsed = (self._t_stop if final and self._t_stop else now) - self._t_start
        # a run that ended by itself (max_txns) ends when ingress stopped making; use the
        # elapsed time up to stop() either way
        achieved = c["generated"] / elapsed if elapsed > 0 else 0.0
        d = c["drops"]
        if self.records == "mbo":  # events stop at the book; the rest carry stage orders
            market_dropped = d["ingress_to_book"]
            other_dropped = d["book_to_bundler"] + d["bundler_to_output_txns"]
        else:
            market_dropped = d["ingress_to_book"] + d["book_to_bundler"] + d["bundler_to_output_txns"]
            other_dropped = 0
        drops_total = market_dropped + other_dropped
        latency: dict[str, dict[str, float]] = {}
        for name in HISTOGRAMS:
            latency[name] = native.histogram(name).summary()  # zeros when count is 0
        out = {
            "rate": {"target": self.rate_per_s or None, "achieved": achieved},
            "duration_s": elapsed,
            "counters": c,
            "drop_rate": drops_total / c["generated"] if c["generated"] else 0.0,
            "latency_ns": latency,
            "mapping": dict(self.mapping),
            "threads": len(self.thread_cpu),
            "wait": self.wait_strategy,
            "on_full": self.on_full,
            "memory_bytes": native.memory_bytes,
            "bundle_timeout_us": self._bundle_timeout_us,
            "stage": None if self.stage is None else ", ".join(
                _stage_name(x) for x in (self.stage if isinstance(self.stage, (list, tuple))
                                         else [self.stage])),
            "stages": [_stage_name(x) for x in native.user_stages],
            "dropped_market_events": market_dropped,
            "dropped_orders": other_dropped,
            "dropped_output_bundles": d["output_to_python"] + d["output_to_external"],
            "drops_allowed": self.drops_allowed,
            "input": self.input,
            "fed": self.fed if self._source[0] not in ("synthetic", "shm") else None,
            "replay_speed": self.replay_speed,
            "records": self.records,
            "symbols": self.symbols,
            "follow_market": self.follow_market if self.records == "mbo" else None,
            "snapshot": self.snapshot,
        }
        if self.seed_from_book is not None:
            out["seed_from_book"] = {
                "path": self.seed_from_book, "levels_seeded": c["reference_seeded"],
                "rows_checked": c["reference_rows_checked"],
                "rows_differing": c["reference_rows_differing"]}
        if self.input_ring is not None and not self.input_ring.closed:
            # records the producer pushed that the run has not taken (yet, or at stop)
            out["input_left"] = len(self.input_ring)
        if self.records == "mbo":
            out["mbo"] = self._mbo_report(native)
        if self._source[0] == "itch":
            out["itch"] = self._itch_report()
        if final:
            failures = native.conservation_failures()
            # records fed that a stopped paced replay left in the source ring (never pushed
            # through the book): counted, not lost
            left = (len(self._feed_ring) if self._feed_ring is not None
                    and self._source[0] in FINITE_INPUTS and c["finished"] else 0)
            out["left_unreplayed"] = left
            if self._source[0] in FINITE_INPUTS and c["generated"] + left != self.fed:
                failures.append(f"fed ({self.fed}) == generated ({c['generated']}) + left "
                                f"unreplayed ({left})")
            out["conservation_ok"] = not failures and c["finished"]
            out["conservation_failures"] = failures
            out["book_digest"] = f"{native.book_digest():016x}"
        return out


    def _mbo_report(self, native: NativePipeline) -> dict[str, Any]:
        """The market-by-order part of the report: per book (those that saw an event) its
        counters and top of book; totals over the books."""
        books = []
        totals: dict[str, Any] = {"applied": 0, "rejected": 0, "by_action": {},
                                  "rejected_by_reason": {}, "unknown_orders": 0,
                                  "out_of_window_orders": 0}
        for i in range(self._instruments):  # bounded: <= 65536 books
            m = native.mbo_counters(i)
            if not m["applied"] and not m["rejected"]:
                continue
            for key in ("applied", "rejected", "unknown_orders", "out_of_window_orders"):
                totals[key] += m[key]
            for key in ("by_action", "rejected_by_reason"):
                for name, n in m[key].items():
                    totals[key][name] = totals[key].get(name, 0) + n
            try:
                bid, ask = native.best(0, i), native.best(1, i)
            except TimeoutError:  # the book stage kept recentering (a live report only)
                bid = ask = None
            m.update(instrument=i, best_bid=bid, best_ask=ask,
                     symbol=self.symbols[i] if self.symbols and i < len(self.symbols) else None)
            books.append(m)
        return {"totals": totals, "books": books}


def _stage_name(stage: object) -> str:
    """What a user stage is called in reports: its `name` attribute (a str), builtin:KIND for
    velox's own, else its type's name (never a repr with an address)."""
    name = getattr(stage, "name", None)
    if isinstance(name, str) and name:
        return name
    kind = getattr(stage, "kind", None)
    if type(stage).__name__ == "BuiltinStage" and isinstance(kind, str):
        return f"builtin:{kind}"
    return type(stage).__name__


def _judge(r: dict[str, Any]) -> None:
    """Sets r["ok"] and r["verdict"], the summary's first line: what was lost or refused, or
    OK. Not ok: a failed input, dropped market events (or stage orders, output bundles) that
    the user did not allow with an explicit on_full="drop" on a live source, or failed
    conservation. A stop before the end of the input (signal, --duration) is ok when nothing
    was lost: the records not replayed are counted."""
    c = r["counters"]
    unit = "market events" if r.get("records") == "mbo" else "transactions"
    market, orders, out_b = (r["dropped_market_events"], r["dropped_orders"],
                             r["dropped_output_bundles"])
    gen = c["generated"]
    lost = []
    if market:
        d = c["drops"]
        where = ", ".join(f"{k.replace('_to_', '->')} {d[k]:,}" for k in
                          ("ingress_to_book", "book_to_bundler", "bundler_to_output_txns")
                          if d[k] and (k == "ingress_to_book" or r.get("records") != "mbo"))
        lost.append(f"DROPPED {market:,} {unit} ({100 * market / gen if gen else 0:.1f} %): "
                    + where.replace("bundler->output_txns", "bundler->output"))
    if orders:
        lost.append(f"dropped {orders:,} user-stage orders")
    if out_b:
        lost.append(f"dropped {out_b:,} bundles at the output")
    stopped = ""
    if r.get("interrupted_by") or r.get("left_unreplayed") or r.get("input_abandoned"):
        parts = [f"stopped{' by ' + r['interrupted_by'] if r.get('interrupted_by') else ''}"
                 f" after {r['duration_s']:.2f} s"]
        if r.get("left_unreplayed"):
            parts.append(f"{r['left_unreplayed']:,} fed records left unreplayed (counted, never"
                         " applied)")
        if r.get("input_abandoned"):
            parts.append(f"the input reader did not stop within {READER_JOIN_S:g} s (blocked in"
                         " open() or read() of a silent FIFO, or still parsing) and was abandoned")
        stopped = "; ".join(parts)
    if r.get("input_error"):
        ok, line = False, f"INPUT FAILED: {r['input_error']}"
    elif lost and not r.get("drops_allowed"):
        ok, line = False, "; ".join(lost) + (
            " (on_full=drop by default on a live source: pass --on-full drop to accept drops,"
            " --on-full block to prevent them)")
    elif not r.get("conservation_ok"):
        ok, line = False, "CONSERVATION FAILED: " + "; ".join(
            r.get("conservation_failures") or ["not finished"])
    else:
        ok = True
        line = f"OK: {gen:,} {unit} through the book, none lost"
        if lost:
            line = f"OK with drops (on_full=drop was asked for): " + "; ".join(lost)
        if stopped:
            line += f" ({stopped})"
        if r.get("warnings"):  # the run worked, but not on what was asked for (exit 3)
            line = "; ".join(f"WARNING: {w}" for w in r["warnings"]) + "; " + line
    r["ok"], r["verdict"] = ok, line


class BookView:
    """Pipeline.book: reads the running pipeline's book (prices in fixed point): the L2 ladder
    (records="txn"), or the market-by-order book of `instrument` (records="mbo"; 0 ..
    instruments - 1), which also answers order lookups."""

    def __init__(self, native: NativePipeline) -> None:
        self._native = native

    def best_bid(self, instrument: int = 0) -> tuple[int, int] | None:
        return self._native.best(0, instrument)

    def best_ask(self, instrument: int = 0) -> tuple[int, int] | None:
        return self._native.best(1, instrument)

    def depth(self, n: int = 10, instrument: int = 0
              ) -> tuple[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]],
                         tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]]:
        """((bid prices, bid qtys), (ask prices, ask qtys)), best first, up to n levels each."""
        return self._native.depth(0, n, instrument), self._native.depth(1, n, instrument)

    def order(self, order_id: int, instrument: int = 0) -> MboOrder | None:
        """records="mbo": the live order as ``MboOrder(order_id, side, price, qty, ts,
        in_window)`` (what ``MboBook.order`` returns) or None."""
        return self._native.order(order_id, instrument)

    def queue_position(self, order_id: int, instrument: int = 0) -> int | None:
        """records="mbo": lots ahead of the order in its level's FIFO queue, or None."""
        return self._native.queue_position(order_id, instrument)


def _drain_batches(native: NativePipeline, callback: Callback, max_bundles: int) -> int:
    total = 0
    for _ in range(64):  # bounded: at most 64 batches per call
        batch = native.drain(max_bundles)
        if not len(batch):
            break
        total += len(batch)
        callback(batch)
    return total


def _drain_loop(native: NativePipeline, callback: Callback, lock: threading.Lock,
                stop: threading.Event, errors: list[BaseException]) -> None:
    """The drain thread: pops the python ring into the callback until stop is set (after
    the native threads are joined, so the final drain sees every bundle). Holds no reference
    to the Pipeline (so dropping it still runs __del__)."""
    while True:
        stopping = stop.is_set()  # read before the drain: a set flag means joined threads
        try:
            with lock:
                n = _drain_batches(native, callback, 1024)
        except BaseException as e:  # re-raised on the driver by poll()/stop()
            errors.append(e)
            return
        if stopping and not n:
            return
        if not n:
            stop.wait(0.0002)


# -- command line ------------------------------------------------------------------------

DEFAULTS: dict[str, Any] = {
    "rate": "100000", "duration": None, "cores": None, "seed": 1, "levels": 1024,
    "tick_size": 0.01, "base_price": 100.0, "bundle_timeout_us": 100.0, "on_full": None,
    "wait": None, "output": None, "json": None, "quiet": False, "count": 0,
    "cancel_share": 0.2, "timestamps": "tsc", "keep_shm": False, "input": "synthetic",
    "speed": None, "stage": None, "topology": None, "records": None, "instruments": 1,
    "max_orders": 1 << 20, "follow_market": True, "snapshot": None, "seed_from_book": None,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (never returns)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _float_option(accept: Callable[[float], bool], requirement: str) -> Callable[[str], float]:
    """An argparse type: a float for which accept(value) holds, else "must be <requirement>"."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not accept(v):  # NaN fails every comparison, so it is refused too
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text!r}")
        return v
    return parse


_positive_float = _float_option(lambda v: 0 < v < math.inf, "> 0")
_nonneg_float = _float_option(lambda v: 0 <= v < math.inf, ">= 0")
_share = _float_option(lambda v: 0 <= v < 1, "in [0, 1)")
_speed = _float_option(lambda v: 1e-3 <= v <= 1e6, "in [0.001, 1e6]")


def _rate(text: str) -> float | str:
    if str(text).lower() == "max":
        return "max"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected transactions/s or 'max', got {text!r}") from None
    if not 1 <= v <= 1e9:
        raise argparse.ArgumentTypeError(f"must be in [1, 1e9] or 'max', got {text!r}")
    return v


def _int_range(lo: int, hi: int, pow2: bool = False) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= v <= hi or (pow2 and v & (v - 1)):
            what = "a power of two " if pow2 else ""
            raise argparse.ArgumentTypeError(f"must be {what}in [{lo}, {hi}], got {text!r}")
        return v
    return parse


def _cores(text: str) -> list[int]:
    try:
        cpus = parse_cores(text)
        stage_mapping(cpus)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return cpus


def _checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type that keeps the text once check(text) accepts it (no ValueError)."""
    def parse(text: str) -> str:
        try:
            check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    return parse


_topology = _checked(parse_topology)
_output = _checked(parse_output)


def _input(text: str) -> str:
    try:
        kind, path = parse_input(text)
        if kind == "feed":
            raise ValueError("'feed' is for Pipeline.feed() from Python, not the command line")
        if kind in FILE_INPUTS:
            _check_events_file(path, kind)
            _check_first_records(kind, path)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="velox-pipeline",
        description="Run velox's native transaction pipeline (ingress -> order book -> bundler "
                    "-> output on pinned threads) and report rates, drops, latency and the "
                    "conservation check. Every option can also be set in --config FILE.toml "
                    "(keys as the long option names, '-' or '_'); the command line wins.",
        # each help text states its default itself ("[default: X]"); the
        # ArgumentDefaultsHelpFormatter would add a second "(default: None)"
    )
    a = p.add_argument
    a("--config", metavar="FILE.toml", type=str, help="read options from a TOML file (top-level keys, or a [pipeline] table)")
    a("--rate", type=_rate, help="target ingress rate in transactions/s (Poisson arrivals), or 'max' for unpaced [default: 100000]")
    a("--input", metavar="synthetic|events:PATH|mbo:PATH|lobster:PATH|itch:PATH?symbols=A,B|shm:NAME", type=_input, help="the source: the synthetic Poisson generator; a raw TXN_DTYPE file (numpy's arr.tofile(PATH)); a raw MBO_DTYPE file, a LOBSTER message file or a NASDAQ ITCH 5.0 file (plain or gzip; one book per named symbol) (market-by-order events into market-by-order books); or a velox.SharedRing of TXN_DTYPE named NAME that another process creates and pushes into (waited for up to 10 s). A file ends the run by itself, a shared ring when its producer closes it or exits [default: synthetic]")
    a("--topology", metavar="STAGES@CPU,...", type=_topology, help="an explicit thread layout instead of --cores: threads separated by ',', the stages each runs joined by '+', '@CPU' pins it ('@*' or none: unpinned); stages ingress, book, bundler, output, each on one of 1-4 threads, e.g. 'ingress+book@1,bundler+output@1' [default: from --cores]")
    a("--stage", metavar="builtin:KIND|MODULE:ATTR", action="append", help="a user stage on the book's thread: velox's builtin:noop|imbalance|echo, or ATTR of an importable MODULE (a compiled strategy such as examples/strategy's velox_strategy:Imbalance; a class is instantiated with no arguments); repeat for several stages (up to 8), run in that order over the same events [default: none]")
    a("--speed", type=_speed, help="pace a file or shared-ring input by its records' tsc field read as ns timestamps: 1 = as recorded, 10 = ten times faster (in [0.001, 1e6]) [default: as fast as possible]")
    a("--duration", type=_positive_float, help="run time in seconds (the run also ends when --count transactions are through, or a file input is replayed) [default: 10 for synthetic input, unlimited for a file]")
    a("--count", type=_int_range(0, 2**63), help="stop ingress after this many transactions (0: no limit) [default: 0]")
    a("--cores", type=_cores, help="CPUs to pin the stage threads to, e.g. '0', '0,1', '0-3'; 1 CPU runs all stages on one thread, 2 group them in pairs, 4+ give each its own [default: every CPU this process may use but the first, left to Python and the OS]")
    a("--seed", type=_int_range(0, 2**64 - 1), help="seed of the order-flow generator [default: 1]")
    a("--levels", type=_int_range(2, 1 << 20, pow2=True), help="order-book price levels per side (a power of two) [default: 1024]")
    a("--records", choices=("txn", "mbo"), help="what a shm: input carries: transactions into the L2 book, or market-by-order events into market-by-order books (file inputs say it themselves) [default: txn, mbo for lobster:/itch:/mbo: files]")
    a("--instruments", type=_int_range(1, 1 << 16), help="market-by-order books, instrument ids 0..N-1 (itch: one per named symbol) [default: 1]")
    a("--max-orders", type=_int_range(1, 1 << 30), help="live orders the market-by-order books hold together [default: 1048576]")
    a("--no-follow-market", dest="follow_market", action="store_false", default=None, help="keep each market-by-order book's window where its first ADD placed it (by default the book stage recenters a window on its market when the market nears an edge or leaves it; TOML: follow-market = false)")
    a("--snapshot", metavar="lobster-book:PATH[#ROW]", help="start the market-by-order book from row ROW of a LOBSTER orderbook file (seeded lots with no order identity); a lobster: input then replays from message ROW+1 (row ROW is the book after message ROW). Without #ROW: the book before the lobster: input's first message, derived from row 0 and message 0 [default: empty books]")
    a("--seed-from-book", metavar="PATH", help="the LOBSTER orderbook file of a level-limited lobster: message file: during the replay, seed each level that comes into view in the file's top levels while the book does not hold it (the file omits events beyond its levels), and count the levels seeded and the rows the book still differs from [default: none]")
    a("--tick-size", type=_positive_float, help="price step between levels, in price units [default: 0.01]")
    a("--base-price", type=_positive_float, help="price of the lowest level, in price units [default: 100.0]")
    a("--cancel-share", type=_share, help="share of generated transactions that are cancels, in [0, 1) [default: 0.2]")
    a("--bundle-timeout-us", type=_nonneg_float, help="close a bundle when its oldest transaction has waited this many microseconds (0: only when full, or at shutdown) [default: 100]")
    a("--on-full", choices=("drop", "block"), help="full ring policy of a live source (synthetic, shm:): drop (count and continue; given explicitly, drops do not fail the run) or block (backpressure); a file input always blocks (it never drops) [default: drop for a live source, and any drop fails the run (exit 1)]")
    a("--wait", choices=("spin", "yield", "backoff"), help="how idle threads wait: spin, yield, or backoff (spin, then yield, then short sleeps) [default: spin if a CPU is left for Python, else backoff]")
    a("--output", metavar="FILE|shm:NAME[:CAPACITY]", type=_output, help="write every bundle as a raw 528-byte record to FILE (read with numpy.fromfile(FILE, velox.BUNDLE_DTYPE)), or push it into a new shared-memory ring NAME of CAPACITY bundles (a power of two, default 1024) that another process reads with velox.SharedRing.attach(NAME); the ring is closed at the end (the reader's pop then raises BrokenPipeError after the last bundle) and its name removed unless --keep-shm [default: none]")
    a("--keep-shm", action="store_true", default=None, help="with --output shm:NAME, leave the segment's name in place at exit (remove it later with velox.SharedRing.attach(NAME).unlink() or rm /dev/shm/NAME)")
    a("--timestamps", choices=("tsc", "logical"), help="what each transaction's tsc field holds: the TSC tick it was made at, or (logical) its sequence number, which makes seeded --rate max --on-full block --count N --bundle-timeout-us 0 runs write byte-identical --output files (record-timed latency histograms are then empty) [default: tsc]")
    a("--json", metavar="FILE", type=str, help="write the final report as JSON to FILE ('-' for stdout) [default: none]")
    a("--quiet", action="store_true", default=None, help="no per-second lines, only the summary")
    return p


#: TOML keys whose value is text the option parses itself (a path, a spec): anything but a
#: TOML string is refused, never turned into text with str() (json = 7 would name fd 7).
_TOML_STRING_KEYS = frozenset({"input", "output", "topology", "json"})


def _load_config(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python < 3.11
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            parser.error("--config: reading TOML needs Python 3.11+ or the 'tomli' package (pip install tomli)")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        parser.error(f"--config: cannot read {path!r}: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        parser.error(f"--config: {path!r} is not valid TOML: {e}")
    if isinstance(data.get("pipeline"), dict):
        data = data["pipeline"]
    known = {act.dest: act for act in parser._actions if act.dest not in ("help", "config")}
    values: dict[str, Any] = {}
    for key, value in data.items():
        dest = key.replace("-", "_")
        act = known.get(dest)
        if act is None:
            parser.error(f"--config: unknown option {key!r} in {path!r}")
        option = act.option_strings[-1]
        if dest == "stage":  # one spec, or a list of them (stages run in that order)
            specs = [value] if isinstance(value, str) else value
            if not isinstance(specs, list) or not specs or not all(isinstance(x, str) for x in specs):
                parser.error(f"--config: stage must be a spec string or a list of them, got {value!r}")
            values[dest] = list(specs)
            continue
        if dest in ("quiet", "keep_shm", "follow_market"):
            if not isinstance(value, bool):
                parser.error(f"--config: {key} must be true or false, got {value!r}")
            values[dest] = value
            continue
        if dest in _TOML_STRING_KEYS and not isinstance(value, str):
            parser.error(f"--config: {key} must be a string, got {value!r} "
                         f"({type(value).__name__}) in {path!r}")
        if act.choices is not None and value not in act.choices:
            parser.error(f"argument {option}: invalid choice {value!r} (choose from {', '.join(act.choices)})")
        convert = act.type
        if callable(convert):
            try:
                value = convert(str(value))
            except argparse.ArgumentTypeError as e:
                parser.error(f"argument {option}: {e}")
        values[dest] = value
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    merged = dict(DEFAULTS)
    if args.config:
        merged.update(_load_config(args.config, parser))
    for key, value in vars(args).items():
        if key != "config" and value is not None:
            merged[key] = value
    if merged["rate"] == "100000":
        merged["rate"] = 100000.0
    if merged["duration"] is None:  # a file input runs until it is replayed
        merged["duration"] = 10.0 if merged["input"] == "synthetic" else math.inf
    return argparse.Namespace(**merged)


def _fmt_rate(v: float) -> str:
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"


def _fmt_ns(v: float) -> str:
    """A duration in ns with a readable unit: 850ns, 12.3us, 4.56ms, 1.23s."""
    if v < 1e3:
        return f"{v:.0f}ns"
    if v < 1e6:
        return f"{v / 1e3:.1f}us"
    if v < 1e9:
        return f"{v / 1e6:.2f}ms"
    return f"{v / 1e9:.2f}s"


def _progress_line(r: dict[str, Any], prev: dict[str, Any] | None, dt: float) -> str:
    c, pc = r["counters"], prev["counters"] if prev else None

    def rate(key: str) -> float:
        return (c[key] - (pc[key] if pc else 0)) / dt if dt > 0 else 0.0

    d = c["drops"]
    e2e = r["latency_ns"]["end_to_end"]
    unit = "events/s" if r.get("records") == "mbo" else "txn/s"
    return (f"{r['duration_s']:6.1f}s  {'read' if r.get('records') == 'mbo' else 'generated'}"
            f" {c['generated']:>11,} total"
            f" ({_fmt_rate(rate('generated'))} {unit} this second)"
            f"  book {c['applied'] + c['rejected']:>11,}"
            f" ({_fmt_rate(rate('applied') + rate('rejected'))} {unit})"
            f"  bundled {c['bundled']:>11,}  out {c['output_bundles']:>9,} bundles"
            f"  drops {d['ingress_to_book']}/{d['book_to_bundler']}/{d['bundler_to_output']}"
            f"  e2e p50 {_fmt_ns(e2e['p50'])} p99 {_fmt_ns(e2e['p99'])}")


def _cpu_name(cpu: int) -> str:
    return f"cpu{cpu}" if cpu >= 0 else "unpinned"


def _fmt_price(px: int) -> str:
    """A fixed-point price as a decimal (585.12, not 58512000000)."""
    whole, frac = divmod(abs(px), PRICE_SCALE)
    text = f"{whole}.{frac:08d}".rstrip("0").rstrip(".")
    return ("-" if px < 0 else "") + text


def _fmt_level(level: Any) -> str:
    return "none" if not level else f"{_fmt_price(level[0])} x {level[1]:,}"


def _missing_symbols_warning(missing: list[str], itch: dict[str, Any],
                             directory: dict[int, str]) -> str:
    """One line: the requested symbols an itch: file never named, with close names it has."""
    import difflib

    names = sorted(set(directory.values()))
    parts = []
    for s in missing:
        near = [n for n in names if n.upper() == s.upper()] or difflib.get_close_matches(s, names, 2)
        parts.append(f"{s} (did you mean {' or '.join(near)}?)" if near else s)
    n = itch["directory_entries"]
    return (f"symbol{'s' if len(missing) > 1 else ''} not in the file's stock directory "
            f"({n:,} entr{'y' if n == 1 else 'ies'}): {', '.join(parts)}; no events for "
            f"{'them' if len(missing) > 1 else 'it'}")


def format_summary(r: dict[str, Any]) -> str:
    """The human summary of a final report (what the CLI prints at the end): the first line
    is the verdict (OK, or what was lost or refused); then a market-by-order replay's own
    summary, or the transaction pipeline's."""
    if "verdict" not in r:
        _judge(r)
    if r.get("records") == "mbo":
        return _format_mbo_summary(r)
    c, d = r["counters"], r["counters"]["drops"]
    target = r["rate"]["target"]
    lines = [r["verdict"], "== velox pipeline summary =="]
    tgt = f"{target:,.0f} txn/s" if target else "max (unpaced)"
    pct = f" ({100 * r['rate']['achieved'] / target:.2f}% of target)" if target else ""
    if r.get("interrupted_by"):
        lines.append(f"interrupted by {r['interrupted_by']} after {r['duration_s']:.2f} s:"
                     " ingress stopped early, every ring drained (the counts below are complete)")
    lines.append(f"rate: target {tgt}, achieved {r['rate']['achieved']:,.0f} txn/s (mean over the run)"
                 f"{pct} over {r['duration_s']:.2f} s")
    lines.append(f"generated {c['generated']:,}  applied {c['applied']:,}"
                 f"  rejected {c['rejected']:,} (cancels whose order was no longer in the book)"
                 f"  traded {c['traded']:,}  cas timeouts {c['cas_timeouts']:,}")
    if r["rate"]["target"]:
        lines.append(f"late {c['late']:,}: transactions made >= {LATE_NS // 1000} us after their"
                     " scheduled Poisson time (ingress could not keep up, or was preempted)")
    timeout_us = r.get("bundle_timeout_us")
    lines.append(f"bundled {c['bundled']:,} txns into {c['bundles']:,} bundles"
                 f" ({c['bundles_timed_out']:,} closed by the {timeout_us:g} us timeout, the rest"
                 f" full at 16 or at shutdown); output {c['output_bundles']:,} bundles"
                 if timeout_us is not None else
                 f"bundled {c['bundled']:,} txns into {c['bundles']:,} bundles"
                 f" ({c['bundles_timed_out']:,} closed by timeout); output {c['output_bundles']:,} bundles")
    if c["bundles"] and c["bundles_timed_out"] * 2 >= c["bundles"] and timeout_us:
        lines.append(f"note: most bundles closed by the timeout, so end-to-end p50 is dominated by"
                     f" the wait in an open bundle (up to {timeout_us:g} us), not by the stages;"
                     " see bundle_to_output and book_to_bundler for the stages themselves")
    lines.append(_drops_line(r))
    lines.extend(_stage_lines(r))
    lines.append("latency                count        p50        p90        p99      p99.9        max")
    for name in REPORT_HISTOGRAMS + ("ingress_lateness",):
        lines.append(_latency_row(name, r["latency_ns"][name]))
    lines.extend(_run_lines(r))
    ok = r.get("conservation_ok")
    lines.append("conservation: " + ("OK (generated = applied + rejected + drops; applied = bundled + drops;"
                                     " bundle counts = bundled; bundles out = bundles - drops;"
                                     " bytes written = bundles out x 528)"
                                     if ok else "FAILED: " + "; ".join(r.get("conservation_failures") or ["not finished"])))
    return "\n".join(lines)


def _drops_line(r: dict[str, Any]) -> str:
    d = r["counters"]["drops"]
    what = "orders" if r.get("records") == "mbo" else "txns"
    return (f"drops: ingress->book {d['ingress_to_book']:,}, book->bundler {d['book_to_bundler']:,},"
            f" bundler->output {d['bundler_to_output']:,} bundles ({d['bundler_to_output_txns']:,} {what}),"
            f" output->python {d['output_to_python']:,}, output->shm {d['output_to_external']:,};"
            f" drop rate {100 * r['drop_rate']:.4f}%")


def _stage_lines(r: dict[str, Any]) -> list[str]:
    return [f"user stage {name}: {u['batches']:,} batches, {u['emitted']:,} orders"
            f" emitted into the bundler, {u['rejected']:,} invalid orders refused,"
            f" {u['bad_returns']:,} returns over capacity refused"
            + ("; init refused: the stage never ran" if u["init_failed"] else "")
            for name, u in zip(r.get("stages") or (), r["counters"]["user_stages"])]


def _latency_row(name: str, h: dict[str, float]) -> str:
    cells = " ".join(f"{_fmt_ns(h[k]):>10}" for k in ("p50", "p90", "p99", "p999", "max"))
    return f"  {name:<18} {h['count']:>9,} {cells}"


def _run_lines(r: dict[str, Any]) -> list[str]:
    c = r["counters"]
    lines = [f"working set: {r['memory_bytes'] / 1024:,.0f} KiB allocated at start"]
    itch = r.get("itch")
    if itch is not None:
        found = itch.get("found")
        where = ("" if found is None else "; " + ", ".join(
            [f"{s} at locate {'/'.join(map(str, locs))}" for s, locs in found.items()]
            + [f"{s} not found" for s in itch["missing"]])
            + f" ({itch['directory_entries']:,} stock{'' if itch['directory_entries'] == 1 else 's'}"
            " in the directory)")
        lines.append(f"itch: {itch['messages']:,} messages, {itch['events']:,} events for the"
                     f" symbols, {itch['filtered']:,} of other stocks filtered out,"
                     f" {itch['skipped']:,} of types without a book event skipped,"
                     f" {itch['unknown']:,} of unknown types{where}")
    mapping = ", ".join(f"{s}->{_cpu_name(cpu)}" for s, cpu in r["mapping"].items())
    lines.append(f"mapping ({r['threads']} thread(s), wait={r['wait']}, on_full={r['on_full']}): {mapping}")
    if c["pin_failures"]:
        lines.append(f"warning: {c['pin_failures']} thread(s) could not be pinned")
    if c["write_errors"]:
        err = c["last_write_errno"]
        lines.append(f"error: {c['write_errors']} output write(s) failed"
                     f" (errno {err}: {os.strerror(err) if err else '?'}); {c['bytes_written']:,} of"
                     f" {c['output_bundles'] * BUNDLE_DTYPE.itemsize:,} bytes written")
    return lines


def _snapshot_lines(r: dict[str, Any]) -> list[str]:
    """What a snapshot and seed-from-book put into the books (market-by-order runs)."""
    lines: list[str] = []
    snap = r.get("snapshot")
    if snap:
        lines.append(f"snapshot ({snap['source']}): {snap.get('levels', 0):,} levels seeded,"
                     f" {snap.get('orders', 0):,} orders added before the replay"
                     + (f"; the replay starts at message {snap['first_message']:,}"
                        if snap["first_message"] else ""))
    ref = r.get("seed_from_book")
    if ref:
        lines.append(f"seed from book {ref['path']}: {ref['levels_seeded']:,} levels came into"
                     f" view with no ADD and were seeded; {ref['rows_differing']:,} of"
                     f" {ref['rows_checked']:,} rows differ from the book's top levels")
    return lines


def _format_mbo_summary(r: dict[str, Any]) -> str:
    """The summary of a market-by-order replay: events per action, unknown and out-of-window
    orders, rejects by reason, the book stage's time per batch, the final top of book."""
    c = r["counters"]
    m = r.get("mbo") or {"totals": {}, "books": []}
    t = m["totals"]
    lines = [r["verdict"], "== velox pipeline summary: market-by-order replay =="]
    if r.get("interrupted_by"):
        lines.append(f"interrupted by {r['interrupted_by']} after {r['duration_s']:.2f} s")
    speed = f", paced at {r['replay_speed']:g}x recorded time" if r.get("replay_speed") else ""
    lines.append(f"input {r['input']}: {c['generated']:,} events read in {r['duration_s']:.2f} s"
                 f" ({_fmt_rate(r['rate']['achieved'])} events/s mean{speed})"
                 + (f"; {r['left_unreplayed']:,} fed events left unreplayed by the stop"
                    if r.get("left_unreplayed") else ""))
    actions = ", ".join(f"{k} {v:,}" for k, v in (t.get("by_action") or {}).items() if v)
    lines.append(f"events applied {c['applied']:,}" + (f" ({actions})" if actions else ""))
    reasons = ", ".join(f"{k} {v:,}" for k, v in (t.get("rejected_by_reason") or {}).items() if v)
    lines.append(f"events rejected {c['rejected']:,}" + (f" ({reasons})" if reasons else "")
                 + " (refused by the book: the book is unchanged by them)")
    lines.append(f"unknown orders: {t.get('unknown_orders', 0):,} events named an order the book"
                 " did not hold (applied, no book effect)")
    lines.append(f"out-of-window orders at the end: {t.get('out_of_window_orders', 0):,} (kept in"
                 " the order table, priced outside the books' price windows)")
    lines.append(f"price windows: {c['recenters']:,} recenters on the market"
                 f" ({c['recenters_deferred']:,} put off while the live view read)"
                 if r.get("follow_market") else
                 "price windows: fixed where each book's first ADD placed them (--no-follow-market)")
    late = ""
    if r.get("replay_speed"):
        late = (f"; {c['late']:,} events released >= {LATE_NS // 1000} us after their recorded"
                " time")
    lines.append(f"executions: {c['traded']:,} EXECUTE events" + late)
    lines.extend(_snapshot_lines(r))
    books = m["books"]
    lines.append(f"top of book at the end ({len(books):,} book(s) saw events"
                 + (", first 16 shown" if len(books) > 16 else "") + "):")
    for b in books[:16]:
        name = f" {b['symbol']}" if b.get("symbol") else ""
        lines.append(f"  instrument {b['instrument']}{name}: bid {_fmt_level(b['best_bid'])}"
                     f" | ask {_fmt_level(b['best_ask'])}  ({b['applied']:,} applied,"
                     f" {b['rejected']:,} rejected)")
    lines.extend(_stage_lines(r))
    if c["bundled"] or c["user_stage"]["emitted"]:
        lines.append(f"bundled {c['bundled']:,} stage orders into {c['bundles']:,} bundles;"
                     f" output {c['output_bundles']:,} bundles")
    lines.append(_drops_line(r))
    lines.append("latency                count        p50        p90        p99      p99.9        max")
    lines.append(_latency_row("book_batch", r["latency_ns"]["book_batch"])
                 + "  (the book stage's time per batch of events)")
    if r.get("replay_speed"):
        lines.append(_latency_row("ingress_lateness", r["latency_ns"]["ingress_lateness"]))
    lines.extend(_run_lines(r))
    ok = r.get("conservation_ok")
    lines.append("conservation: " + ("OK (events read = applied + rejected + drops; fed ="
                                     " read + left unreplayed; stage orders = bundled + drops)"
                                     if ok else "FAILED: " + "; ".join(r.get("conservation_failures") or ["not finished"])))
    return "\n".join(lines)


EXIT_MISSING_SYMBOLS = 3
"""CLI exit status of a run whose itch: symbols the file's stock directory never named."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m velox.pipeline`` and ``velox-pipeline``. Returns 0, 1 when
    conservation failed (a lost item, a failed output write), 3 when an ``itch:`` symbol was
    not in the file (EXIT_MISSING_SYMBOLS; the summary's first line says which), or exits 2
    on invalid options (including a --json file that cannot be written, found before the run
    starts)."""
    args = parse_args(argv)
    json_file: IO[str] | None = None
    if args.json and args.json != "-":
        try:  # found now, not after a long run
            json_file = open(args.json, "w")
        except OSError as e:
            print(f"velox-pipeline: error: --json: cannot write {args.json!r}: {e.strerror}",
                  file=sys.stderr)
            return 2
        except (TypeError, ValueError) as e:  # not a path (main(argv) from Python), a NUL in it
            print(f"velox-pipeline: error: --json: not a file name: {args.json!r} ({e})",
                  file=sys.stderr)
            return 2
    try:
        return _run(args, json_file)
    finally:
        if json_file is not None:
            json_file.close()


def _run(args: argparse.Namespace, json_file: IO[str] | None) -> int:
    try:
        pipe = Pipeline(
            rate=args.rate, cores=args.cores, topology=args.topology, seed=args.seed,
            levels=args.levels,
            tick_size=args.tick_size, base_price=args.base_price,
            bundle_timeout_us=args.bundle_timeout_us, on_full=args.on_full, wait=args.wait,
            output=args.output, max_txns=args.count, cancel_share=args.cancel_share,
            timestamps=args.timestamps, keep_shm=args.keep_shm, input=args.input,
            replay_speed=args.speed, records=args.records, instruments=args.instruments,
            max_orders=args.max_orders, follow_market=args.follow_market,
            snapshot=args.snapshot, seed_from_book=args.seed_from_book,
            stage=None if not args.stage else [load_stage(x) for x in args.stage])
    except (ValueError, TypeError) as e:
        print(f"velox-pipeline: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if str(e).startswith("input "):  # --input shm:NAME did not appear / initialise
            print(f"velox-pipeline: error: --input: {e}", file=sys.stderr)
            return 2
        what = "create the shared ring for" if str(args.output).startswith("shm:") else "open"
        print(f"velox-pipeline: error: --output: cannot {what} {args.output!r}: {e.strerror}", file=sys.stderr)
        return 2

    interrupted: list[int] = []
    # with --json - stdout carries the JSON alone; the human text goes to stderr
    out = sys.stderr if args.json == "-" else sys.stdout

    def on_signal(signum: int, frame: object) -> None:
        interrupted.append(signum)
        if len(interrupted) > 1:  # the second signal: exit now, without draining
            _forced_exit(pipe, signum, out)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        mapping = ", ".join(f"{s}->{_cpu_name(cpu)}" for s, cpu in pipe.mapping.items())
        if not args.quiet:
            print(f"velox pipeline: rate {args.rate}, duration {args.duration} s, "
                  f"{len(pipe.thread_cpu)} thread(s): {mapping}", file=out, flush=True)
        pipe.start()
        t0 = time.perf_counter()
        next_tick = t0 + 1.0
        prev, prev_t = None, t0
        while not interrupted:
            now = time.perf_counter()
            if now - t0 >= args.duration or pipe.finished:
                break
            if now >= next_tick:
                r = pipe.stats()
                if not args.quiet:
                    print(_progress_line(r, prev, now - prev_t), file=out, flush=True)
                prev, prev_t = r, now
                next_tick += 1.0
            time.sleep(min(0.02, max(0.0, next_tick - now)))
        try:
            report = pipe.stop()
        except InputError as e:  # the input failed during the run: the report says how
            assert e.report is not None
            report = e.report
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if interrupted:
        report["interrupted_by"] = signal.Signals(interrupted[0]).name
    _judge(report)
    print(format_summary(report), file=out, flush=True)
    if args.json:
        text = json.dumps(report, indent=2, sort_keys=True)
        if json_file is None:
            print(text, file=sys.stdout, flush=True)
        else:
            json_file.write(text + "\n")
    if not report["ok"]:
        return 1
    return EXIT_MISSING_SYMBOLS if (report.get("itch") or {}).get("missing") else 0



def _forced_exit(pipe: Pipeline, signum: int, out: IO[str]) -> None:
    """A second SIGINT/SIGTERM: print what is known (the counters so far) and exit at once
    with 128 + the signal number, without draining or joining (a stage or reader that does
    not stop is not waited for)."""
    try:
        c = pipe.counters()
        unit = "events" if pipe.records == "mbo" else "transactions"
        print(f"INTERRUPTED TWICE ({signal.Signals(signum).name}): exited without draining;"
              f" {c['generated']:,} {unit} read, {c['applied']:,} applied,"
              f" {c['rejected']:,} rejected so far (the counts are not final)",
              file=out, flush=True)
    except BaseException:  # the summary is best effort: the exit is not
        pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
