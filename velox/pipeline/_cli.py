"""The ``python -m velox.pipeline`` / ``velox-pipeline`` command: a run with per-second
progress, signal handling and the summary."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import IO, Sequence

from velox.pipeline._specs import load_stage
from velox.pipeline._sources import InputError
from velox.pipeline._report import _cpu_name, _judge, _progress_line, format_summary
from velox.pipeline._config import parse_args
from velox.pipeline._driver import Pipeline
from velox.pipeline._venue import LiveVenue
from velox.backtest._venue import RiskLimits, SimVenue


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


def _venue_and_risk(args: argparse.Namespace) -> tuple[LiveVenue | SimVenue | str | None,
                                                      RiskLimits | None]:
    """--venue (sim: a velox.SimVenue made from velox.backtest's options) and the risk limits
    (None when no limit is given). ValueError when a simulated venue's option comes without
    --venue sim."""
    from velox.backtest._cli import RISK_OPTIONS, VENUE_OPTIONS, risk_from_args, venue_from_args
    knobs = [k for k in VENUE_OPTIONS if getattr(args, k) is not None]
    venue: LiveVenue | SimVenue | str | None = args.venue
    if args.venue == "sim":
        venue = venue_from_args(args)
    elif knobs:
        raise ValueError(f"--{knobs[0].replace('_', '-')} sets the simulated venue: it needs "
                         "--venue sim")
    given = any(getattr(args, k) is not None for k in RISK_OPTIONS)
    return venue, risk_from_args(args) if given else None


def _run(args: argparse.Namespace, json_file: IO[str] | None) -> int:
    try:
        venue, risk = _venue_and_risk(args)
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
            batch=args.batch, journal=args.journal, venue=venue, risk=risk,
            stage=None if not args.stage else [
                load_stage(spec, None if args.stage_args is None else args.stage_args[i])
                for i, spec in enumerate(args.stage)])
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
        try:
            pipe.start()
        except TimeoutError as e:  # --venue: no gateway attached the rings
            print(f"velox-pipeline: error: --venue: {e}", file=sys.stderr)
            pipe.stop_unstarted()
            return 2
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
