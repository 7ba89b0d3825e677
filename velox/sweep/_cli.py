"""``python -m velox.sweep``: a sweep from the command line. The verdict line first (how many
tasks failed), then a row per task (or one JSON object with --json). Exit 0 every task ok,
1 any task failed, 2 bad arguments or input, found before the run (one line)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any, Sequence

from velox.pipeline._config import _int_range, _Parser, _stage_arg

PROG = "python -m velox.sweep"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: the tables a --grid file may hold
GRID_TABLES = ("grid", "stage_args", "venue", "risk")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Backtest a compiled strategy (ABI v2) over many inputs x a grid of "
                    "parameters: every (input, parameter set) pair once, on a local pool of "
                    "pinned processes (one per usable CPU) or on a Dask cluster (--dask).")
    a = p.add_argument
    a("--input", metavar="SPEC", action="append", required=True, help="the market data: a spec or path as velox.backtest takes it, or a glob of them ('itch:data/*.itch.gz?symbols=AAPL', 'days/*.csv'); repeatable; quote globs")
    a("--stage", metavar="SPEC", required=True, help="the strategy: builtin:quote, or MODULE:ATTR of an ABI v2 strategy importable by every worker")
    a("--grid", metavar="FILE.toml", help="the grid: a [grid] table {NAME = [values]} (every combination) or a [[grid]] array of parameter sets; NAME: a strategy parameter or venue.FIELD / risk.FIELD; fixed values in [stage_args], [venue], [risk] tables [default: one run per input]")
    a("--stage-arg", metavar="KEY=VALUE", dest="stage_args", type=_stage_arg, action="append", help="a fixed strategy parameter (every task); repeatable")
    a("--seed", type=_int_range(0, 2**64 - 1), default=0, help="seed of the venue's latency draws, every task [default: 0]")
    a("--workers", type=_int_range(1, 4096), help="local pool size [default: one per usable CPU]")
    a("--dask", metavar="ADDRESS", help="run on the Dask scheduler at ADDRESS (tcp://HOST:PORT) instead of the local pool (pip install 'velox[dask]')")
    a("--out", metavar="DIR", help="append each task's row to DIR/rows.jsonl as it finishes; a rerun with the same DIR skips the tasks done there")
    a("--details", action="store_true", help="save each task's execs, pnl and orders arrays in DIR/<task id>/ (needs --out)")
    a("--parquet", metavar="FILE", help="also write the rows to a Parquet file (pyarrow)")
    a("--json", action="store_true", help="print one JSON object (verdict, summary, rows) instead of the text table")
    a("--progress", action=argparse.BooleanOptionalAction, default=None, help="a progress bar on stderr [default: when stderr is a terminal]")
    return p


def _load_grid(path: str) -> dict[str, Any]:
    from velox.sweep._grid import read_toml
    data = read_toml(path, "--grid")
    unknown = set(data) - set(GRID_TABLES)
    if unknown:
        raise ValueError(f"--grid: {path!r} holds {sorted(unknown)}; it may hold the tables "
                         f"{', '.join(GRID_TABLES)}")
    for key in ("stage_args", "venue", "risk"):
        if not isinstance(data.get(key, {}), dict):
            raise ValueError(f"--grid: [{key}] in {path!r} must be a table")
    return data


def _text_table(result: Any) -> list[str]:
    rows = result.rows
    cols = ["input"] + result.params + ["orders", "fills", "pnl", "max_drawdown", "events",
                                        "events_per_s", "peak_rss_kb", "ok"]

    def cell(row: Any, col: str) -> str:
        v = row[col].item()
        if col == "input":
            return os.path.basename(str(v))
        if isinstance(v, float):
            return f"{v:,.0f}" if col == "events_per_s" else f"{v:,.2f}"
        return str(v)
    table = [cols] + [[cell(row, c) for c in cols] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in table]
    for row in rows[~rows["ok"]]:
        lines.append(f"failed: {row['input']} {row['task']}: {row['error']}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m velox.sweep``; returns the exit status."""
    from velox.backtest._venue import RiskLimits, SimVenue
    from velox.sweep._run import sweep
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.details and not args.out:
        parser.error("--details saves arrays under --out DIR: give --out")
    client: Any = None
    try:
        spec: dict[str, Any] = _load_grid(args.grid) if args.grid else {}
        items = args.stage_args or []
        if any(index is not None for index, _, _ in items):
            raise ValueError("--stage-arg: a sweep runs one strategy: write KEY=VALUE (no INDEX.)")
        stage_args = {**spec.get("stage_args", {}), **{k: v for _, k, v in items}}
        venue = SimVenue(**spec.get("venue", {}))
        risk = RiskLimits(**spec.get("risk", {}))
        executor = None
        if args.dask:
            try:  # typed as Any: where the extra is absent, there is no module to check
                distributed: Any = importlib.import_module("distributed")
            except ImportError:
                raise ValueError("--dask needs dask.distributed: pip install 'velox[dask]'") from None
            try:
                client = distributed.Client(args.dask, timeout=30)
            except (OSError, TimeoutError) as e:
                raise ValueError(f"--dask: cannot reach the scheduler at {args.dask!r}: {e}") from None
            executor = client.get_executor()
        result = sweep(args.input, args.stage, spec.get("grid"), venue=venue, risk=risk,
                       executor=executor, workers=args.workers, out=args.out,
                       details=args.details, progress=args.progress, seed=args.seed,
                       stage_args=stage_args or None)
        if args.parquet:
            result.to_parquet(args.parquet)
    except (TypeError, ValueError, OSError, ImportError) as e:
        print(f"{PROG}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return EXIT_USAGE
    finally:
        if client is not None:
            client.close()
    if args.json:
        print(json.dumps({"verdict": result.verdict, "summary": result.summary(),
                          "rows": result.to_dicts()}))
    else:
        print("\n".join([result.verdict] + _text_table(result)))
    return EXIT_OK if result.ok else EXIT_FAILED
