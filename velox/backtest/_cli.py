"""``python -m velox.backtest``: one backtest from the command line (or a TOML file), the
verdict line first, then the summary (or one JSON object). Exit 0 ok, 1 lost or failed,
2 bad arguments or input, found before the run (one line)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from velox.backtest._venue import MAX_QUEUE_POWER, QUEUE_MODELS, RiskLimits, SimVenue
from velox.pipeline._config import (_float_option, _int_range, _Parser, _stage_arg, _stage_args_toml,
                                    check_choice, load_toml_options)

PROG = "python -m velox.backtest"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_latency = _int_range(0, 2**63 - 1)
_lots = _int_range(0, 2**32 - 1)
_fee = _float_option(lambda v: -1e9 <= v <= 1e9, "a number in [-1e9, 1e9]")
_bps = _float_option(lambda v: -1e4 <= v <= 1e4, "a number in [-1e4, 1e4]")
_loss = _float_option(lambda v: 0 <= v <= 9e10, "a number in [0, 9e10]")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Backtest a compiled strategy (ABI v2) against market-by-order data through "
                    "velox's simulated venue, deterministically, on one thread. Every option can "
                    "also be set in --config FILE.toml (keys as the long option names, '-' or "
                    "'_'; top level or a [backtest] table); the command line wins.")
    a = p.add_argument
    a("--config", metavar="FILE.toml", help="read options from a TOML file")
    a("--input", metavar="SPEC", help="the market data: lobster:MSG.csv, itch:PATH?symbols=A,B, dbn:PATH, journal:DIR, mbo:PATH, or a path (.csv LOBSTER, .dbn, .mbo, a journal directory) [required]")
    a("--stage", metavar="SPEC", help="the strategy: builtin:quote, or MODULE:ATTR of an importable ABI v2 strategy (a class is made with the --stage-arg values) [required]")
    a("--stage-arg", metavar="KEY=VALUE", dest="stage_args", type=_stage_arg, action="append", help="a strategy parameter (builtin:quote: size, max_position); it reaches the strategy's api->arg as text, and a class's constructor as a keyword argument (VALUE read as an int, else a float, else true/false, else text); repeatable; TOML: stage_args = {KEY = VALUE}")
    a("--seed", type=_int_range(0, 2**64 - 1), help="seed of the venue's latency draws [default: 0]")
    add_venue_options(a)
    a("--json", action="store_true", default=None, help="print one JSON object (verdict, summary, counters) instead of the text summary")
    return p


#: the simulated venue's knobs and the risk limits as options (dest names): the backtest's
#: CLI and the pipeline's (--venue sim) share them
VENUE_OPTIONS = ("entry_latency_ns", "response_latency_ns", "maker_fee", "taker_fee",
                 "maker_fee_bps", "taker_fee_bps", "queue_model", "queue_power")
RISK_OPTIONS = ("max_position", "max_order_qty", "max_loss")


def add_venue_options(a: Any) -> None:
    """Adds the simulated venue's and the risk limits' options (VENUE_OPTIONS, RISK_OPTIONS)
    with ``a`` = a parser's add_argument."""
    a("--entry-latency-ns", type=_latency, help="ns from sending an order to its arrival at the venue [default: 0]")
    a("--response-latency-ns", type=_latency, help="ns from the venue's report to its arrival at the strategy [default: 0]")
    a("--maker-fee", type=_fee, help="fee per lot of a resting (maker) fill, currency; negative: a rebate [default: 0]")
    a("--taker-fee", type=_fee, help="fee per lot of a taking fill, currency [default: 0]")
    a("--maker-fee-bps", type=_bps, help="maker fee in basis points of the notional [default: 0]")
    a("--taker-fee-bps", type=_bps, help="taker fee in basis points of the notional [default: 0]")
    a("--queue-model", choices=QUEUE_MODELS, help="how a resting order advances in its queue: fifo (every lot that leaves ahead of it; exact with market-by-order data), risk_averse (only trades; L2 data), prob (trades and a power-law share of each level decrease; L2 data) [default: fifo]")
    a("--queue-power", type=_int_range(0, MAX_QUEUE_POWER), help=f"the prob model's exponent, an integer in [0, {MAX_QUEUE_POWER}] [default: 2]")
    a("--max-position", type=_int_range(0, 2**63 - 1), help="risk limit: largest |position| in lots, working orders included (0: none) [default: 0]")
    a("--max-order-qty", type=_lots, help="risk limit: largest order in lots (0: none) [default: 0]")
    a("--max-loss", type=_loss, help="risk limit: the kill switch engages when the total P&L after fees reaches -MAX_LOSS (currency; 0: none) [default: 0]")


def venue_from_args(args: argparse.Namespace) -> SimVenue:
    """velox.SimVenue from the VENUE_OPTIONS of ``args`` (None: the default)."""
    return SimVenue(**{k: getattr(args, k) for k in VENUE_OPTIONS
                       if getattr(args, k, None) is not None})


def risk_from_args(args: argparse.Namespace) -> RiskLimits:
    """velox.RiskLimits from the RISK_OPTIONS of ``args`` (None: the default)."""
    return RiskLimits(**{k: getattr(args, k) for k in RISK_OPTIONS
                         if getattr(args, k, None) is not None})


_TOML_STRING_KEYS = frozenset({"input", "stage", "queue_model"})


def _load_config(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, act, value in load_toml_options(parser, path, "backtest"):
        dest = act.dest
        if dest == "stage_args":
            items = _stage_args_toml(value, parser)
            if any(index is not None for index, _, _ in items):
                parser.error("--config: stage_args: a backtest runs one strategy: give one table")
            values[dest] = items
        elif dest == "json":
            if not isinstance(value, bool):
                parser.error(f"--config: json must be true or false, got {value!r}")
            values[dest] = value
        elif dest in _TOML_STRING_KEYS:
            if not isinstance(value, str):
                parser.error(f"--config: {key} must be a string, got {value!r}")
            check_choice(parser, act, value)
            values[dest] = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                parser.error(f"--config: {key} must be a number, got {value!r}")
            try:
                values[dest] = act.type(str(value))  # type: ignore[misc, operator]
            except argparse.ArgumentTypeError as e:
                parser.error(f"argument {act.option_strings[-1]}: {e}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    merged: dict[str, Any] = {act.dest: None for act in parser._actions if act.dest != "help"}
    if args.config:
        merged.update(_load_config(args.config, parser))
    for key, value in vars(args).items():
        if key == "stage_args" and value is not None and merged.get("stage_args"):
            merged[key] = merged[key] + value  # the file's, then the command line's (which win)
        elif value is not None:
            merged[key] = value
    for required in ("input", "stage"):
        if not merged.get(required):
            parser.error(f"--{required} is required (on the command line or in --config)")
    items = merged.get("stage_args") or []
    if any(index is not None for index, _, _ in items):
        parser.error("--stage-arg: a backtest runs one strategy: write KEY=VALUE (no INDEX.)")
    merged["stage_args"] = {key: value for _, key, value in items} or None
    return argparse.Namespace(**merged)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m velox.backtest``; returns the exit status."""
    from velox.backtest._run import backtest
    from velox.pipeline._sources import InputError
    args = parse_args(argv)

    def given(name: str, default: Any) -> Any:
        value = getattr(args, name)
        return default if value is None else value
    try:
        venue = venue_from_args(args)
        risk = risk_from_args(args)
        result = backtest(args.input, args.stage, stage_args=args.stage_args, venue=venue,
                          risk=risk, seed=given("seed", 0))
    except InputError as e:  # the input failed part way: the run did not see all of it
        print(f"{PROG}: failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except (TypeError, ValueError, OSError) as e:
        print(f"{PROG}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"verdict": result.verdict, "summary": result.summary(),
                          "instruments": result.instruments, "counters": result.counters}))
    else:
        print(result.format_summary())
    return EXIT_OK if result.ok else EXIT_FAILED
