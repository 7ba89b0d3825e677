"""`import velox` loads the native core and binds velox.backtest and velox.sweep (the
functions), and leaves what those run with (the process pool, JSON and hashing, the backtest's
inputs and result, the sweep's tasks and rows, the pipeline package) to their first use; the
names imported on first use are the modules' own objects."""

import subprocess
import sys
import textwrap

import pytest

import velox
from child_env import IMPORT_ROOT, child_env

#: imported on first use, never by `import velox` (stdlib modules count only when NumPy
#: has not already imported them)
LAZY = [
    "multiprocessing", "concurrent.futures", "json", "hashlib", "glob", "shutil", "dataclasses",
    "tomllib", "uuid", "threading",
    "velox.pipeline", "velox._pipeline", "velox._backtest",
    "velox.backtest._inputs", "velox.backtest._result", "velox.backtest._stages",
    "velox.backtest._venue",
    "velox.sweep._grid", "velox.sweep._progress", "velox.sweep._result", "velox.sweep._rows",
    "velox.sweep._task",
]


def test_import_velox_leaves_the_backtest_sweep_and_pipeline_modules_to_their_first_use():
    code = textwrap.dedent(f"""
        import sys
        import numpy  # what NumPy imports is not velox's doing
        before = set(sys.modules)
        import velox
        loaded = set(sys.modules) - before
        assert callable(velox.sweep) and callable(velox.backtest)
        print(sorted(loaded & set({LAZY!r})))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=IMPORT_ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"import velox imported {proc.stdout.strip()}"


def test_lazy_names_are_the_modules_own_and_listed():
    from velox.backtest._result import BacktestResult
    from velox.backtest._venue import RiskLimits, SimVenue
    from velox.pipeline import LiveVenue, Pipeline
    from velox.sweep._grid import expand_grid
    from velox.sweep._result import SweepResult

    assert velox.BacktestResult is BacktestResult and velox.SweepResult is SweepResult
    assert velox.RiskLimits is RiskLimits and velox.SimVenue is SimVenue
    assert velox.Pipeline is Pipeline and velox.LiveVenue is LiveVenue
    assert velox.backtest.__module__ == "velox.backtest._run"
    assert velox.sweep.__module__ == "velox.sweep._run"
    backtest_package = sys.modules["velox.backtest"]  # velox.backtest is the function
    sweep_package = sys.modules["velox.sweep"]
    assert backtest_package.SimVenue is SimVenue and backtest_package.RiskLimits is RiskLimits
    assert backtest_package.BacktestResult is BacktestResult
    assert sweep_package.SweepResult is SweepResult and sweep_package.expand_grid is expand_grid
    for name in ("BacktestResult", "RiskLimits", "SimVenue", "SweepResult", "Pipeline",
                 "LiveVenue", "backtest", "sweep"):
        assert name in dir(velox) and name in velox.__all__, name
    for module in (velox, backtest_package, sweep_package):
        with pytest.raises(AttributeError, match="'no_such_name'"):
            getattr(module, "no_such_name")
