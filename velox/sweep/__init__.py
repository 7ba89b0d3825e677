"""velox.sweep: backtests over many inputs x a grid of parameters, on a local pool of pinned
processes or on any concurrent.futures executor (a Dask cluster), from Python
(``velox.sweep(...)``) or the command line (``python -m velox.sweep``). docs/sweeps.md.
Modules: _grid (grid expansion), _task (one task, run in a worker), _run (sweep), _rows
(out=DIR), _progress, _result (SweepResult), _cli."""

from velox.sweep._grid import expand_grid
from velox.sweep._result import SweepResult
from velox.sweep._run import sweep

__all__ = ["SweepResult", "expand_grid", "sweep"]
