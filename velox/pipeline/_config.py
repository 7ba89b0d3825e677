"""Command-line options and TOML configuration files: argparse with one-line
errors (exit 2), option types that check values before the run, --config
merging."""

from __future__ import annotations

import argparse
import math
import re
from typing import Any, Callable, Sequence

from velox.pipeline._journal import check_journal_dir
from velox.pipeline._specs import (
    DEFAULT_LEVELS, DEFAULT_TICK_SIZE, FILE_INPUTS, _check_events_file, _check_first_records, parse_cores, parse_input,
    parse_output, parse_topology, stage_mapping)


DEFAULTS: dict[str, Any] = {
    "rate": "100000", "duration": None, "cores": None, "seed": 1, "levels": DEFAULT_LEVELS,
    "tick_size": DEFAULT_TICK_SIZE, "base_price": 100.0, "bundle_timeout_us": 100.0, "on_full": None,
    "wait": None, "output": None, "json": None, "quiet": False, "count": 0,
    "cancel_share": 0.2, "timestamps": "tsc", "keep_shm": False, "input": "synthetic",
    "speed": None, "stage": None, "stage_args": None, "batch": 64, "topology": None, "records": None, "instruments": 1,
    "max_orders": 1 << 20, "follow_market": None, "snapshot": None, "seed_from_book": None,
    "journal": None, "venue": None,
    # --venue sim's knobs and the risk limits (velox.backtest's options, velox/backtest/_cli.py)
    "entry_latency_ns": None, "response_latency_ns": None, "maker_fee": None, "taker_fee": None,
    "maker_fee_bps": None, "taker_fee_bps": None, "queue_model": None, "queue_power": None,
    "max_position": None, "max_order_qty": None,
    "max_loss": None,
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
_journal_dir = _checked(check_journal_dir)
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


_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def stage_value(text: str) -> object:
    """A --stage-arg VALUE: an int ("3", "-2"), else a float ("0.25", "1e-3"), else a bool
    ("true"/"false", any case), else the text itself, without one pair of enclosing quotes
    ('"7"' is the text 7)."""
    if _INT_TEXT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than int() takes from text
            raise argparse.ArgumentTypeError(f"integer {text[:20]}... is too long") from None
    if _FLOAT_TEXT.fullmatch(text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _stage_key(text: str, key: str) -> str:
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: {key!r} is not a parameter name (a Python "
                                         "identifier)")
    return key


def _venue(text: str) -> str:
    """--venue live:ORDERS,EXECS or sim, checked here (the Pipeline makes the venue)."""
    from velox.pipeline._venue import LiveVenue
    if text == "sim":
        return text
    try:
        LiveVenue.parse(text)
    except (TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _stage_arg(text: str) -> tuple[int | None, str, object]:
    """--stage-arg [INDEX.]KEY=VALUE -> (INDEX or None, KEY, the parsed VALUE)."""
    left, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected [INDEX.]KEY=VALUE, got {text!r}")
    index: int | None = None
    if "." in left:
        index_text, _, left = left.partition(".")
        if not index_text.isdigit() or not index_text.isascii():
            raise argparse.ArgumentTypeError(f"{text!r}: the stage INDEX before '.' must be a "
                                             f"number (0 = the first --stage), got {index_text!r}")
        index = int(index_text)
    return index, _stage_key(text, left), stage_value(value)


def _stage_args_toml(value: object, parser: argparse.ArgumentParser
                     ) -> list[tuple[int | None, str, object]]:
    """TOML stage_args: a table (the one stage's arguments) or an array of tables (one per
    stage, in order) -> the --stage-arg form. Values keep their TOML types."""
    tables = [value] if isinstance(value, dict) else value
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        parser.error(f"--config: stage_args must be a table {{KEY = VALUE, ...}} or a list of "
                     f"tables (one per stage), got {value!r}")
    items: list[tuple[int | None, str, object]] = []
    for i, table in enumerate(tables):
        for key, v in table.items():
            if not key.isidentifier():
                parser.error(f"--config: stage_args: {key!r} is not a parameter name (a Python "
                             "identifier)")
            items.append((None if isinstance(value, dict) else i, key, v))
    return items


def _per_stage_args(stages: list[str] | None, items: list[tuple[int | None, str, object]],
                    parser: argparse.ArgumentParser) -> list[dict[str, Any]] | None:
    """The stage arguments by stage: one dict per --stage (None without any)."""
    if not items:
        return None
    if not stages:
        parser.error("--stage-arg: no --stage to pass it to")
    per: list[dict[str, Any]] = [{} for _ in stages]
    for index, key, value in items:
        if index is None:
            if len(stages) != 1:
                parser.error(f"--stage-arg {key}=...: {len(stages)} stages are given: name the "
                             f"stage, --stage-arg INDEX.{key}=VALUE (INDEX 0..{len(stages) - 1}, "
                             "in --stage order; TOML: stage_args = [{...}, {...}], one table "
                             "per stage)")
            index = 0
        if index >= len(stages):
            parser.error(f"--stage-arg {index}.{key}=...: no stage {index} (--stage given "
                         f"{len(stages)} time{'s' if len(stages) != 1 else ''}, from 0)")
        per[index][key] = value
    return per


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
    a("--input", metavar="synthetic|events:PATH|mbo:PATH|lobster:PATH|itch:PATH?symbols=A,B|dbn:PATH|journal:DIR[?start=SEQ&follow=1]|shm:NAME", type=_input, help="the source: the synthetic Poisson generator; a raw TXN_DTYPE file (numpy's arr.tofile(PATH)); a raw MBO_DTYPE file, a LOBSTER message file or a NASDAQ ITCH 5.0 file (plain or gzip; one book per named symbol) or a Databento DBN MBO file (plain or zstd; book = instrument_id) (market-by-order events into market-by-order books); a velox.Journal directory of MBO_DTYPE or TXN_DTYPE records (from sequence SEQ; follow=1 tails it until stopped); or a velox.SharedRing of TXN_DTYPE named NAME that another process creates and pushes into (waited for up to 10 s). A file ends the run by itself, a shared ring when its producer closes it or exits [default: synthetic]")
    a("--topology", metavar="STAGES@CPU,...", type=_topology, help="an explicit thread layout instead of --cores: threads separated by ',', the stages each runs joined by '+', '@CPU' pins it ('@*' or none: unpinned); stages ingress, book, bundler, output, each on one of 1-4 threads, e.g. 'ingress+book@1,bundler+output@1' [default: from --cores]")
    a("--stage", metavar="builtin:KIND|MODULE:ATTR", action="append", help="a user stage on the book's thread: velox's builtin:noop|imbalance|echo, or ATTR of an importable MODULE (a compiled strategy such as examples/strategy's velox_strategy:Imbalance; a class is instantiated with the --stage-arg values, none by default); repeat for several stages (up to 8), run in that order over the same events [default: none]")
    a("--stage-arg", metavar="[INDEX.]KEY=VALUE", dest="stage_args", type=_stage_arg, action="append", help="a keyword argument for the --stage class (builtin stages: ratio); VALUE is read as an int, else a float (decimal digits with an optional fraction or exponent), else true/false, else text ('...' or \"...\" quotes keep a number as text); with several --stage, INDEX (0-based, in --stage order) names the stage; repeatable; TOML: stage_args = {KEY = VALUE} or a list of such tables, one per stage [default: none]")
    a("--venue", metavar="live:ORDERS,EXECS|sim", type=_venue, help="the venue of a --stage that is a strategy of ABI v2 (e.g. builtin:quote): live:ORDERS,EXECS = the pipeline creates two shared-memory rings, ORDERS (the strategy's orders, ORDER_DTYPE) and EXECS (the gateway's execution reports, EXEC_DTYPE), which a gateway process attaches (examples/gateway); sim = velox's simulated venue, deterministically (the orders, reports and P&L of python -m velox.backtest with the same options; --seed seeds its latency draws; the options below set it); market-by-order inputs only [default: none]")
    from velox.backtest._cli import add_venue_options  # here: velox.backtest._cli imports this module
    add_venue_options(a)
    a("--batch", type=_int_range(1, 4096), help="items each native stage takes per turn (and the largest batch a user stage sees) [default: 64]")
    a("--speed", type=_speed, help="pace a file or shared-ring input by its records' tsc field read as ns timestamps: 1 = as recorded, 10 = ten times faster (in [0.001, 1e6]) [default: as fast as possible]")
    a("--duration", type=_positive_float, help="run time in seconds (the run also ends when --count transactions are through, or a file input is replayed) [default: 10 for synthetic input, unlimited for a file]")
    a("--count", type=_int_range(0, 2**63), help="stop ingress after this many transactions (0: no limit) [default: 0]")
    a("--cores", type=_cores, help="CPUs to pin the stage threads to, e.g. '0', '0,1', '0-3'; 1 CPU runs all stages on one thread, 2 group them in pairs, 4+ give each its own [default: every CPU this process may use but the first, left to Python and the OS]")
    a("--seed", type=_int_range(0, 2**64 - 1), help="seed of the order-flow generator; with --venue sim, of the simulated venue's latency draws [default: 1]")
    a("--levels", type=_int_range(2, 1 << 20, pow2=True), help="order-book price levels per side (a power of two) [default: 1024]")
    a("--records", choices=("txn", "mbo"), help="what a shm: input carries: transactions into the L2 book, or market-by-order events into market-by-order books (file inputs say it themselves) [default: txn, mbo for lobster:/itch:/mbo:/dbn: files; a journal: its dtype's]")
    a("--instruments", type=_int_range(1, 1 << 16), help="market-by-order books, instrument ids 0..N-1 (itch: one per named symbol) [default: 1]")
    a("--max-orders", type=_int_range(1, 1 << 30), help="live orders the market-by-order books hold together [default: 1048576]")
    a("--no-follow-market", dest="follow_market", action="store_false", default=None, help="keep each market-by-order book's window where its first ADD (or LEVEL) placed it (by default the book stage recenters a window on its market when the market nears an edge or leaves it; TOML: follow-market = false)")
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
    a("--journal", metavar="DIR", type=_journal_dir, help="journal the run: every record the book takes (transactions or market-by-order events, in its order) to DIR/input and every bundle emitted to DIR/output, as velox.Journal directories; --input journal:DIR/input replays the run (byte-identical output with --timestamps logical --bundle-timeout-us 0 --on-full block). DIR must be new or empty; a journal that lost or failed anything fails the run (exit 1) [default: none]")
    a("--json", metavar="FILE", type=str, help="write the final report as JSON to FILE ('-' for stdout) [default: none]")
    a("--quiet", action="store_true", default=None, help="no per-second lines, only the summary")
    return p


#: TOML keys whose value is text the option parses itself (a path, a spec): anything but a
#: TOML string is refused, never turned into text with str() (json = 7 would name fd 7).
_TOML_STRING_KEYS = frozenset({"input", "output", "topology", "json", "journal", "venue",
                               "queue_model"})


def load_toml_options(parser: argparse.ArgumentParser, path: str,
                      section: str) -> list[tuple[str, argparse.Action, Any]]:
    """The options a ``--config FILE.toml`` sets, for a command line built on ``parser``.

    Reads the TOML file ``path``; when it holds a table ``[section]``, only that table counts,
    else its top level. Returns ``(key, action, value)`` per key, in the file's order: the key
    as written, the parser's action it names (keys are long option names with ``-`` or ``_``;
    never ``help`` or ``config``) and the TOML value as read. The caller checks and converts
    each value (``action.type``, booleans, tables) and merges them under the command line's.
    An unreadable file, invalid TOML or an unknown key ends in ``parser.error``: one line
    starting ``--config:`` (exit 2 with velox's parsers)."""
    import tomllib
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        parser.error(f"--config: cannot read {path!r}: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        parser.error(f"--config: {path!r} is not valid TOML: {e}")
    if isinstance(data.get(section), dict):
        data = data[section]
    known = {act.dest: act for act in parser._actions if act.dest not in ("help", "config")}
    options: list[tuple[str, argparse.Action, Any]] = []
    for key, value in data.items():
        act = known.get(key.replace("-", "_"))
        if act is None:
            parser.error(f"--config: unknown option {key!r} in {path!r}")
        options.append((key, act, value))
    return options


def check_choice(parser: argparse.ArgumentParser, act: argparse.Action, value: Any) -> None:
    """A TOML value for an option with choices: one of them, else argparse's own error."""
    if act.choices is not None and value not in act.choices:
        parser.error(f"argument {act.option_strings[-1]}: invalid choice {value!r} "
                     f"(choose from {', '.join(act.choices)})")


def _load_config(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, act, value in load_toml_options(parser, path, "pipeline"):
        dest, option = act.dest, act.option_strings[-1]
        if dest == "stage_args":  # a table, or one table per stage
            values[dest] = _stage_args_toml(value, parser)
            continue
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
        check_choice(parser, act, value)
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
        if key == "stage_args" and value is not None and merged["stage_args"]:
            merged[key] = merged[key] + value  # the file's, then the command line's (which win)
        elif key != "config" and value is not None:
            merged[key] = value
    merged["stage_args"] = _per_stage_args(merged["stage"], merged["stage_args"] or [], parser)
    if merged["rate"] == "100000":
        merged["rate"] = 100000.0
    if merged["duration"] is None:  # a file input runs until it is replayed
        merged["duration"] = 10.0 if merged["input"] == "synthetic" else math.inf
    return argparse.Namespace(**merged)
