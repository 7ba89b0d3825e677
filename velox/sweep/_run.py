"""velox.sweep(): resolves the inputs and the grid into tasks (input order x grid order),
runs them on a local pool of pinned processes or on the given executor, appends each row
to out=DIR as it finishes (and skips the rows already there), and returns the SweepResult."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Union

# `import velox` binds velox.sweep to the function below, so this module is imported with
# velox: what a sweep runs with (the backtest, the pool, the row log, hashing, JSON) is
# imported by the functions that use it, on the first sweep.
if TYPE_CHECKING:
    from velox.backtest._venue import RiskLimits, SimVenue
    from velox.sweep._grid import GridSpec
    from velox.sweep._result import SweepResult
    from velox.sweep._task import Task

InputsSpec = Union[str, "os.PathLike[str]", Iterable[Union[str, "os.PathLike[str]"]]]

#: velox.backtest keywords a sweep passes through unchanged to every task
BACKTEST_KEYWORDS = ("stage_args", "snapshot", "instruments", "tick", "levels", "max_orders",
                     "edges", "pnl_interval_ns")
_SPEC = re.compile(r"^(?:(lobster|itch|dbn|journal|mbo):)?(.*?)(\?[A-Za-z_]\w*=.*)?$", re.S)
_GLOB_CHARS = re.compile(r"[*?\[]")


def resolve_inputs(inputs: InputsSpec) -> list[str]:
    """The input specs of a sweep, in order: a list of specs / paths as given, or one string
    whose path part is a glob ('itch:data/*.itch.gz?symbols=AAPL', 'days/*.csv': the matches,
    sorted, each with the same kind prefix and ?query). Only files: each task opens its own.
    TypeError / ValueError naming the input (a glob that matches nothing, a missing path)."""
    if isinstance(inputs, (str, os.PathLike)):
        items: list[object] = [inputs]
    elif isinstance(inputs, Iterable) and not isinstance(inputs, (bytes, Mapping)):
        items = list(inputs)
    else:
        raise TypeError(f"inputs must be a spec, a path, a glob or a list of them, got {inputs!r}")
    out: list[str] = []
    for item in items:
        if isinstance(item, os.PathLike):
            item = os.fspath(item)
        if not isinstance(item, str):
            raise TypeError(f"a sweep's inputs are specs or paths (each task opens its own "
                            f"file), got {type(item).__name__} {item!r}")
        m = _SPEC.match(item)
        assert m is not None  # the pattern matches every string
        kind, path, query = m.group(1), m.group(2), m.group(3) or ""
        if not path:
            raise ValueError(f"input {item!r} names no file")
        if _GLOB_CHARS.search(path) and not os.path.exists(path):
            import glob
            matches = sorted(glob.glob(path))
            if not matches:
                raise ValueError(f"input {item!r}: the glob {path!r} matches no file")
            out.extend(f"{kind + ':' if kind else ''}{p}{query}" for p in matches)
        else:
            if not os.path.exists(path):
                raise ValueError(f"input {item!r}: {path!r} does not exist")
            out.append(item)
    if not out:
        raise ValueError("inputs is empty: no input to run")
    if len(set(out)) != len(out):
        dup = next(s for s in out if out.count(s) > 1)
        raise ValueError(f"input {dup!r} is given twice")
    return out


def _input_identity(spec: str) -> dict[str, Any]:
    """What names an input's content for the task id: its spec, real path, size, mtime."""
    m = _SPEC.match(spec)
    assert m is not None
    path = m.group(2)
    st = os.stat(path)
    return {"spec": spec, "path": os.path.realpath(path), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns}


def _stage_spec(stage: object) -> str:
    """The stage as a spec string workers can import: 'builtin:...' or 'MODULE:ATTR' (a class
    becomes its module:qualname). The module is imported here, so a typo fails before the run."""
    if isinstance(stage, type):
        stage = f"{stage.__module__}:{stage.__qualname__}"
    if not isinstance(stage, str):
        raise TypeError(f"a sweep's stage is 'builtin:quote' or 'MODULE:ATTR' (or a class "
                        f"importable by that name): workers import it; got {stage!r}")
    if stage.startswith("builtin:"):
        from velox._backtest import BUILTIN_STRATEGIES
        if stage[len("builtin:"):] not in BUILTIN_STRATEGIES:
            raise ValueError(f"stage {stage!r}: builtin strategies are "
                             f"{', '.join('builtin:' + k for k in BUILTIN_STRATEGIES)}")
        if stage == "builtin:script":
            raise ValueError("stage 'builtin:script' sends a fixed order array: sweep a "
                             "strategy that takes parameters ('builtin:quote', 'MODULE:ATTR')")
        return stage
    module, sep, attr = stage.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"stage {stage!r} must be 'builtin:NAME' or 'MODULE:ATTR'")
    import importlib
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"stage {stage!r}: cannot import {module!r}: {e}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"stage {stage!r}: {module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return stage


def _dataclass_fields(name: str, value: object, cls: type) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a velox.{cls.__name__}, got {value!r}")
    return {f: getattr(value, f) for f in cls.__dataclass_fields__}  # type: ignore[attr-defined]


def _jsonable(name: str, value: object) -> Any:
    import json
    try:
        json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be plain values (str, numbers, lists, dicts: workers get "
                        f"a copy and the task id hashes it), got {value!r}") from None
    return value


def task_id(identity: Mapping[str, Any], stage: str, params: Mapping[str, Any],
            stage_args: Mapping[str, Any], venue: Mapping[str, Any], risk: Mapping[str, Any],
            seed: int, backtest: Mapping[str, Any]) -> str:
    """The stable id of a task: 16 hex digits of the SHA-256 of its input (path, size,
    mtime), stage, parameters, venue, risk limits, seed and other backtest keywords."""
    import hashlib
    import json
    doc = json.dumps({"input": dict(identity), "stage": stage, "params": dict(params),
                      "stage_args": dict(stage_args), "venue": dict(venue), "risk": dict(risk),
                      "seed": seed, "backtest": dict(backtest)}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def make_tasks(inputs: list[str], stage: str, param_sets: list[dict[str, Any]],
               venue: Mapping[str, Any], risk: Mapping[str, Any], seed: int,
               backtest: Mapping[str, Any], details: bool) -> list[Task]:
    """One task per (input, parameter set): input order, then grid order."""
    from velox.backtest._venue import RiskLimits, SimVenue
    from velox.sweep._grid import split_params
    from velox.sweep._task import Task
    fixed_args = dict(backtest.get("stage_args") or {})
    rest = {k: v for k, v in backtest.items() if k != "stage_args" and v is not None}
    tasks = []
    for spec in inputs:
        identity = _input_identity(spec)
        for params in param_sets:
            stage_args, venue_fields, risk_fields = split_params(params)
            clash = set(stage_args) & set(fixed_args)
            if clash:
                raise ValueError(f"stage_args {sorted(clash)} are also grid names: give each "
                                 "parameter in one place")
            v = {**venue, **venue_fields}
            r = {**risk, **risk_fields}
            SimVenue(**v)   # a bad field fails here, naming it, before the run
            RiskLimits(**r)
            a = {**fixed_args, **stage_args}
            tasks.append(Task(task_id=task_id(identity, stage, params, a, v, r, seed, rest),
                              input=spec, stage=stage, params=dict(params), stage_args=a,
                              venue=v, risk=r, seed=seed, backtest=rest, details=details))
    return tasks


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (os.sched_getaffinity), sorted."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def _pin_worker(counter: Any, cpus: list[int]) -> None:
    """A pool process's initializer: the i-th process started pins itself to cpus[i % n] and
    has what a backtest imports (so the first task's wall_s is the backtest's own)."""
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpus[i % len(cpus)]})
        except OSError:  # a CPU taken away since: run unpinned rather than not at all
            pass
    import importlib
    for name in PRELOAD:  # already there when the forkserver preloaded them
        importlib.import_module(name)


#: what the forkserver imports once, so that each pool process forks with velox loaded
PRELOAD = ["velox.backtest._run", "velox.sweep._task", "velox._backtest",
           "velox.pipeline._driver", "velox.pipeline._sources", "velox.feeds"]


def local_pool(workers: int, cpus: Optional[list[int]] = None) -> Any:
    """A ProcessPoolExecutor of `workers` processes, each pinned to one of `cpus` (default:
    the usable CPUs), in order. Context "forkserver" (never fork this process: it may have
    threads): multiprocessing's server process starts once per Python process, imports
    velox once (PRELOAD), and forks each pool process from that clean state in
    milliseconds; a second sweep in the same process starts its pool at once."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    cpus = cpus or usable_cpus()
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pin_worker,
                               initargs=(ctx.Value("i", 0), cpus))


def _as_executor(executor: object) -> Any:
    from concurrent.futures import Executor
    if isinstance(executor, Executor):
        return executor
    get = getattr(executor, "get_executor", None)
    if callable(get):  # a dask.distributed Client
        return get()
    raise TypeError(f"executor must be a concurrent.futures.Executor (or a dask.distributed "
                    f"Client: its .get_executor()), got {executor!r}")


def sweep(inputs: InputsSpec, stage: object, grid: GridSpec = None, *,
          venue: Optional[SimVenue] = None, risk: Optional[RiskLimits] = None,
          executor: object = None, workers: Optional[int] = None,
          out: Union[str, "os.PathLike[str]", None] = None, details: bool = False,
          progress: Optional[bool] = None, seed: int = 0, **backtest_kwargs: Any) -> SweepResult:
    """Runs velox.backtest for every (input, parameter set) pair and returns a SweepResult
    with one row per pair, in input order then grid order, whatever order they finish in.

    inputs: input specs or paths (as velox.backtest takes them: 'lobster:PATH',
    'itch:PATH?symbols=A,B', 'dbn:PATH', '.mbo', ...) or one glob string whose path part
    matches the files ('itch:data/*.itch.gz?symbols=AAPL'; sorted). Each task opens and
    streams its own file. stage: 'builtin:quote' or 'MODULE:ATTR' (a class importable by
    that name), imported by every worker. grid: {name: [values]} (every combination), a list of
    parameter sets, or a TOML file's path (its [grid] table); names are the strategy's
    parameters (stage_args) or 'venue.FIELD' / 'risk.FIELD'. venue, risk: the fixed
    SimVenue / RiskLimits (grid names override fields). seed: every task's venue seed.
    backtest_kwargs: velox.backtest's stage_args (fixed parameters), snapshot, instruments,
    tick, levels, max_orders, edges, pnl_interval_ns, given to every task.

    executor: None = a local pool of `workers` processes (default: one per usable CPU), each
    pinned to its own CPU, started and shut down here; or any concurrent.futures.Executor
    (a dask.distributed Client's .get_executor(), or the Client itself), left running.
    out=DIR: each finished task's row is appended to DIR/rows.jsonl at once (fsync'd), keyed
    by its task id (a hash of the input file's path, size and mtime, the stage, the
    parameters, venue, risk, seed and keywords); a rerun with the same DIR runs only the tasks
    without an ok row there (a failed task runs again). details=True (needs out): each task's
    execs, pnl and orders arrays in DIR/<task id>/{execs,pnl,orders}.npy. progress: a bar on
    stderr (tqdm when installed); default: when stderr is a terminal.

    Bad arguments raise TypeError / ValueError naming them before any task runs. A task that
    fails (a bad file, a strategy error, a lost worker) is a row with ok False and its error;
    SweepResult.verdict counts them."""
    from velox.backtest._venue import RiskLimits, SimVenue, _count
    from velox.sweep._grid import expand_grid
    from velox.sweep._progress import Progress
    from velox.sweep._result import SweepResult
    from velox.sweep._rows import RowLog
    unknown = set(backtest_kwargs) - set(BACKTEST_KEYWORDS)
    if unknown:
        raise TypeError(f"sweep() got unexpected keyword arguments {sorted(unknown)} (velox."
                        f"backtest keywords it passes on: {', '.join(BACKTEST_KEYWORDS)})")
    for key, value in backtest_kwargs.items():
        _jsonable(key, value)
    seed = _count("seed", seed, 0, 2**64 - 1)
    venue_fields = _dataclass_fields("venue", venue, SimVenue)
    risk_fields = _dataclass_fields("risk", risk, RiskLimits)
    if not isinstance(details, bool):
        raise TypeError(f"details must be True or False, got {details!r}")
    if details and out is None:
        raise ValueError("details=True saves each task's arrays under out=DIR: give out")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    if executor is not None and workers is not None:
        raise ValueError("workers sizes the local pool; with executor= the executor decides")
    if workers is not None:
        workers = _count("workers", workers, 1, 4096)
    specs = resolve_inputs(inputs)
    stage_spec = _stage_spec(stage)
    param_sets = expand_grid(grid)
    tasks = make_tasks(specs, stage_spec, param_sets, venue_fields, risk_fields, seed,
                       backtest_kwargs, details)
    if executor is not None:
        executor = _as_executor(executor)
    log = RowLog(out) if out is not None else None
    rows: list[Optional[dict[str, Any]]] = [None] * len(tasks)
    pending = []
    for i, task in enumerate(tasks):
        done = log.done.get(task.task_id) if log else None
        if done is not None:
            rows[i] = done
        else:
            pending.append(i)
    show = sys.stderr.isatty() if progress is None else progress
    bar = Progress(len(tasks), len(tasks) - len(pending), enabled=show)

    def finished(i: int, row: dict[str, Any]) -> None:
        if log is not None:
            log.append(row)
        row.pop("details", None)
        rows[i] = row
        bar.update(ok=bool(row["ok"]))

    try:
        if pending:
            if executor is None:
                n = min(workers or len(usable_cpus()), len(pending))
                _run_local(tasks, pending, n, finished)
            else:
                _run_on(executor, tasks, pending, finished)
    finally:
        bar.close()
        if log is not None:
            log.close()
    assert all(r is not None for r in rows)  # every task has its row
    return SweepResult([r for r in rows if r is not None], list(param_sets[0]),
                       resumed=len(tasks) - len(pending))


def _run_on(executor: Any, tasks: list[Task], pending: list[int],
            finished: Callable[[int, dict[str, Any]], None]) -> None:
    """Submits every pending task and records each row as it completes; an executor's
    exception (a lost worker, a cancelled future) becomes the task's error row."""
    from concurrent.futures import as_completed

    from velox.sweep._task import describe_error, error_row, run_task
    futures = {executor.submit(run_task, tasks[i]): i for i in pending}
    try:
        for future in as_completed(futures):
            i = futures[future]
            try:
                row = future.result()
            except Exception as e:  # noqa: BLE001 - the executor's failure is the task's row
                row = error_row(tasks[i], describe_error(e))
            finished(i, row)
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def _run_local(tasks: list[Task], pending: list[int], workers: int,
               finished: Callable[[int, dict[str, Any]], None]) -> None:
    """The local pool. A process that dies (a crash in native code, the OOM killer) breaks
    the whole pool, and every task still in it with it: those tasks then run again one at a
    time, each in a fresh one-process pool, so only the task that kills its process gets the
    error row."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    from velox.sweep._task import describe_error, error_row, run_task
    orphans: list[int] = []
    with local_pool(workers) as pool:
        futures = {pool.submit(run_task, tasks[i]): i for i in pending}
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    row = future.result()
                except BrokenProcessPool:
                    orphans.append(i)
                    continue
                except Exception as e:  # noqa: BLE001
                    row = error_row(tasks[i], describe_error(e))
                finished(i, row)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    for i in sorted(orphans):  # bounded: one fresh process per orphaned task
        with local_pool(1) as alone:
            try:
                row = alone.submit(run_task, tasks[i]).result()
            except BrokenProcessPool as e:
                row = error_row(tasks[i], f"the worker process died running this task "
                                          f"({describe_error(e)})")
            except Exception as e:  # noqa: BLE001
                row = error_row(tasks[i], describe_error(e))
        finished(i, row)
