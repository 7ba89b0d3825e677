"""What a pipeline is asked to run, checked before anything starts: the input and
output specs, the stage -> CPU mapping and topologies, user-stage specs, and the
first records of a file input."""

from __future__ import annotations

import importlib
import os
import stat
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from velox._pipeline import STAGES
from velox._records import MBO_DTYPE, PRICE_SCALE, TXN_DTYPE
from velox._shm import NAME_MAX, is_valid_name


#: a cores value: CPU numbers, or a string like "0,2-3"
Cores = Union[Sequence[int], str, None]
#: keyword arguments for a class stage: a dict (one stage), or one dict (or None) per stage
StageArgs = Union[Mapping[str, Any], Sequence[Optional[Mapping[str, Any]]], None]
#: a topology: "ingress+book@1,bundler+output@2", or [(("ingress", "book"), 1), ...]
#: (CPU None or "@*": that thread is not pinned)
Topology = Union[str, Sequence[tuple[Sequence[str], Optional[int]]], None]

#: Inputs that are files, replayed by the reader thread; those carrying market-by-order events.
#: (journal: a velox.Journal directory, whose dtype says MBO or transactions)
FILE_INPUTS = ("events", "mbo", "lobster", "itch", "dbn", "journal")
MBO_FILE_INPUTS = ("mbo", "lobster", "itch", "dbn")
#: Finite sources: they never drop (the pipeline runs them with on_full="block" whatever is
#: asked). Live sources (synthetic, shm:) follow on_full.
FINITE_INPUTS = FILE_INPUTS + ("feed",)
#: Book geometry when none is given (Pipeline, velox.backtest): levels per side (a power of
#: two) and the price grid (currency).
DEFAULT_LEVELS = 1024
DEFAULT_TICK_SIZE = 0.01
#: Bytes of a regular file input parsed before the run to refuse a wrong file at once.
FIRST_CHUNK_BYTES = 1 << 16

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


def _call_text(name: str, args: Sequence[object], kwargs: Mapping[str, Any]) -> str:
    """How a call reads in an error message: name(args..., key=value, ...)."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _kwargs(what: str, args: object) -> dict[str, Any]:
    """args as keyword arguments (a mapping with identifier keys, or None for none)."""
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise TypeError(f"{what}: stage arguments must be a dict of keyword arguments, got {args!r}")
    bad = [k for k in args if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise TypeError(f"{what}: stage argument names must be Python identifiers, got {bad[0]!r}")
    return dict(args)


def load_stage(spec: object, args: Mapping[str, Any] | None = None) -> object:
    """The user stage a ``--stage`` / TOML ``stage`` spec names, made with the keyword
    arguments ``args`` (``--stage-arg`` / TOML ``stage_args``; None: none):

    - ``"builtin:KIND"``: velox's own C stage (``velox._pipeline.BuiltinStage(KIND, **args)``;
      KIND one of noop, imbalance, echo and the hostile bad_count, bad_records, fail_init;
      its one parameter is ``ratio``, the imbalance stage's threshold);
    - ``"MODULE:ATTR"``: ``ATTR`` of the imported ``MODULE`` (e.g. ``velox_strategy:Imbalance``):
      a class or other callable is called with ``**args`` to make the stage; a stage object
      (with ``__velox_stage__()``) or a "velox.stage.v1" capsule is used as it is (and takes
      no arguments).

    Raises ValueError naming the spec (bad form, unknown builtin, missing attribute, an
    import that fails, or a call that fails, e.g. an unknown parameter: the class's
    TypeError), TypeError for args that are not a dict of identifiers. The ABI checks happen
    when the Pipeline takes the stage."""
    from velox._pipeline import BUILTIN_STAGES, BuiltinStage
    if not isinstance(spec, str):
        raise TypeError(f"stage spec must be a str like 'builtin:imbalance' or 'MODULE:ATTR', got {spec!r}")
    kwargs = _kwargs(f"stage {spec!r}", args)
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"stage {spec!r}: expected 'builtin:KIND' or 'MODULE:ATTR' "
                         "(e.g. 'velox_strategy:Imbalance')")
    if module == "builtin":
        if attr not in BUILTIN_STAGES:
            raise ValueError(f"stage {spec!r}: builtin stages are {', '.join(BUILTIN_STAGES)}")
        try:
            return BuiltinStage(attr, **kwargs)
        except Exception as e:
            raise ValueError(f"stage {spec!r}: {_call_text('BuiltinStage', [attr], kwargs)} "
                             f"failed: {type(e).__name__}: {e}") from None
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
            obj = obj(**kwargs)
        except Exception as e:
            raise ValueError(f"stage {spec!r}: {_call_text(attr, [], kwargs)} failed: "
                             f"{type(e).__name__}: {e}") from None
    elif kwargs:
        raise ValueError(f"stage {spec!r}: {attr} is a stage object, not a class: it takes no "
                         f"stage arguments (got {', '.join(kwargs)})")
    return obj


def make_stages(stage: object, stage_args: StageArgs) -> object:
    """Pipeline(stage=, stage_args=): a class in ``stage`` (or in its list) is instantiated
    with its keyword arguments; objects and capsules are used as they are. One stage takes a
    dict (``stage_args={"ratio": 3}``); a list of stages takes a list of one dict (or None)
    per stage, in order. Returns ``stage`` with each class replaced by its instance.
    TypeError/ValueError naming the stage for arguments that do not fit; a class's own
    TypeError (an unknown parameter) is re-raised naming the stage."""
    several = isinstance(stage, (list, tuple))
    stages = list(stage) if isinstance(stage, (list, tuple)) else [stage]
    if stage_args is None:
        per: list[object] = [None] * len(stages)
    elif stage is None:
        raise ValueError(f"stage_args {stage_args!r} given without a stage")
    elif isinstance(stage_args, Mapping):
        if several:
            raise TypeError("stage_args: with a list of stages, give a list of one dict (or "
                            f"None) per stage, in order; got a dict {stage_args!r}")
        per = [stage_args]
    elif isinstance(stage_args, (list, tuple)):
        if not several:
            raise TypeError("stage_args: one stage takes a dict of keyword arguments, got a "
                            f"{type(stage_args).__name__} {stage_args!r}")
        if len(stage_args) != len(stages):
            raise ValueError(f"stage_args: {len(stage_args)} entries for {len(stages)} stages "
                             "(one dict, or None, per stage)")
        per = list(stage_args)
    else:
        raise TypeError(f"stage_args must be a dict (one stage) or a list of dicts (several), "
                        f"got {stage_args!r}")
    made = []
    for i, (obj, args) in enumerate(zip(stages, per)):
        label = f"stage {i}" if several else "stage"
        kwargs = _kwargs(f"stage_args of {label}", args)
        if isinstance(obj, type):
            try:
                obj = obj(**kwargs)
            except TypeError as e:  # an unknown or missing parameter: the class's message
                raise TypeError(f"{label}: {_call_text(obj.__name__, [], kwargs)}: {e}") from e
        elif kwargs:
            raise TypeError(f"stage_args of {label}: keyword arguments make an instance of a "
                            f"class stage; {obj!r} is already an object (pass its class)")
        made.append(obj)
    return made if several else made[0]


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
    if spec.startswith("journal:"):
        return ("journal", journal_spec(spec)[0])  # the directory; the start: journal_spec()[1]
    for kind in ("lobster", "mbo", "dbn"):
        if spec.startswith(kind + ":"):
            path = spec[len(kind) + 1:]
            if not path:
                raise ValueError(f"input {spec!r}: '{kind}:PATH' needs a file path")
            return (kind, path)
    raise ValueError(f"input must be 'synthetic', 'feed', 'events:PATH', 'mbo:PATH', "
                     f"'lobster:PATH', 'itch:PATH?symbols=A,B', 'dbn:PATH', 'journal:DIR[?start=SEQ]' or "
                     f"'shm:NAME', got {spec!r} "
                     "(other formats: read them into MBO_DTYPE arrays, e.g. with "
                     "velox.feeds)")


def journal_spec(spec: str) -> tuple[str, int, bool]:
    """"journal:DIR[?start=SEQ][&follow=1]" -> (DIR, SEQ, follow): the replay starts at
    sequence SEQ (default 0, the start) and, with follow=1, tails the journal for records
    appended during the run until stop() (else it ends at the last committed record).
    ValueError naming the bad part."""
    path, sep, query = spec[len("journal:"):].partition("?")
    if not path:
        raise ValueError(f"input {spec!r}: 'journal:DIR' needs a journal directory")
    start, follow = 0, False
    for part in query.split("&") if sep else []:
        key, eq, value = part.partition("=")
        if key == "start" and eq:
            try:
                start = int(value)
            except ValueError:
                start = -1
            if not 0 <= start < 2**63:
                raise ValueError(f"input {spec!r}: 'start=' takes a sequence number >= 0, "
                                 f"got {value!r}")
        elif key == "follow" and value in ("0", "1"):
            follow = value == "1"
        else:
            raise ValueError(f"input {spec!r}: unknown option {part!r} (write "
                             "'journal:DIR?start=SEQ&follow=1')")
    return path, start, follow


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
    if kind == "journal":
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"input 'journal:{path}': is not a directory (a velox.Journal "
                             "is a directory of segment files)")
        return
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
