"""One sweep task: one backtest of one input with one parameter set, run in a worker
(a local pool process, a Dask worker, any executor's). ``run_task`` is top level and its
argument and result are plain picklable values, so any executor can ship them; it never
raises for a failed backtest: the error is the row's."""

from __future__ import annotations

import os
import resource
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from velox.sweep._grid import Value

#: the numeric result columns of a row, in order (after the input and parameter columns)
RESULT_KEYS = ("orders", "fills", "volume", "fees", "pnl", "max_drawdown", "events", "wall_s",
               "events_per_s", "peak_rss_kb")
#: the per-task detail arrays saved with details=True (DIR/<task id>/<name>.npy)
DETAIL_NAMES = ("execs", "pnl", "orders")


@dataclass(frozen=True)
class Task:
    """What a worker needs for one backtest. input: the spec string; stage: 'builtin:...' or
    'MODULE:ATTR'; params: the grid's parameter set (names as in the grid); stage_args, venue,
    risk: the backtest's strategy parameters and SimVenue / RiskLimits fields (fixed ones and
    this set's); backtest: the other velox.backtest keywords; details: return the execs, P&L
    and orders arrays too."""

    task_id: str
    input: str
    stage: str
    params: dict[str, Value]
    stage_args: dict[str, Any] = field(default_factory=dict)
    venue: dict[str, Any] = field(default_factory=dict)
    risk: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    backtest: dict[str, Any] = field(default_factory=dict)
    details: bool = False


def reset_peak_rss() -> bool:
    """Resets this process's peak resident set (Linux: "5" to /proc/self/clear_refs sets
    VmHWM, which ru_maxrss reads, to the current RSS). False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_kb() -> int:
    """This process's peak resident set in KiB (ru_maxrss; Linux counts it in KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def error_row(task: Task, error: str) -> dict[str, Any]:
    """The row of a task that produced no result (ok False, zero figures)."""
    row: dict[str, Any] = {"task": task.task_id, "input": task.input, "params": dict(task.params)}
    row.update({key: 0 for key in RESULT_KEYS})
    row.update({"fees": 0.0, "pnl": 0.0, "max_drawdown": 0.0, "wall_s": 0.0,
                "events_per_s": 0.0, "ok": False, "error": error})
    return row


def run_task(task: Task) -> dict[str, Any]:
    """Runs one backtest and returns its row: {task, input, params, orders, fills, volume,
    fees, pnl, max_drawdown (currency), events, wall_s (the whole task: opening the input,
    the run, the summary), events_per_s (events / wall_s), peak_rss_kb, ok, error} and, when
    task.details, "details": {execs, pnl, orders} (the BacktestResult's arrays).

    peak_rss_kb is the task's own peak where Linux lets the process reset its peak
    (/proc/self/clear_refs) before the task, which needs one task at a time per process (a
    pool process, a Dask worker with --nthreads 1); elsewhere the process's peak so far (an
    upper bound). Every exception becomes the row's error ("Type: message"), ok False: a
    task is never lost."""
    from velox.backtest._run import backtest
    from velox.backtest._venue import RiskLimits, SimVenue

    reset_peak_rss()
    t0 = time.perf_counter()
    try:
        result = backtest(task.input, task.stage, stage_args=task.stage_args or None,
                          venue=SimVenue(**task.venue), risk=RiskLimits(**task.risk),
                          seed=task.seed, **task.backtest)
        summary = result.summary()
    except Exception as e:  # noqa: BLE001 - every failure is the row's, never a lost task
        row = error_row(task, f"{type(e).__name__}: {e}" if str(e) else
                        "".join(traceback.format_exception_only(type(e), e)).strip())
        row["wall_s"] = time.perf_counter() - t0
        row["peak_rss_kb"] = peak_rss_kb()
        return row
    wall_s = time.perf_counter() - t0
    row = {"task": task.task_id, "input": task.input, "params": dict(task.params)}
    for key in ("orders", "fills", "volume", "events"):
        row[key] = int(summary[key])
    for key in ("fees", "pnl", "max_drawdown"):
        row[key] = float(summary[key])
    row["wall_s"] = wall_s
    row["events_per_s"] = row["events"] / wall_s if wall_s > 0 else 0.0
    row["peak_rss_kb"] = peak_rss_kb()
    row["ok"] = result.ok
    row["error"] = "; ".join(result.failures)
    if task.details:
        row["details"] = {"execs": result.execs, "pnl": result.pnl, "orders": result.orders}
    return row


def describe_error(e: BaseException) -> str:
    """An executor's exception (a dead worker, a cancelled future) as a row's error text."""
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__

