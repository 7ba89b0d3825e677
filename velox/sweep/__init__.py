"""velox.sweep: backtests over many inputs x a grid of parameters, on a local pool of pinned
processes or on any concurrent.futures executor (a Dask cluster), from Python
(``velox.sweep(...)``) or the command line (``python -m velox.sweep``). docs/sweeps.md.
Modules: _grid (grid expansion), _task (one task, run in a worker), _run (sweep), _rows
(out=DIR), _progress, _result (SweepResult), _cli."""

from typing import TYPE_CHECKING, Any

from velox._lazy import lazy_attr
from velox.sweep._run import sweep

if TYPE_CHECKING:
    from velox.sweep._grid import expand_grid
    from velox.sweep._result import SweepResult

__all__ = ["SweepResult", "expand_grid", "sweep"]


# `import velox` imports this package (velox.sweep is the function, bound there eagerly): the
# rest is imported when first asked for
_LAZY = {"SweepResult": "velox.sweep._result", "expand_grid": "velox.sweep._grid"}


def __getattr__(name: str) -> Any:
    return lazy_attr("velox.sweep", _LAZY, name)
