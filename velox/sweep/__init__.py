"""velox.sweep: backtests over many inputs x a grid of parameters, on a local pool of pinned
processes or on any concurrent.futures executor (a Dask cluster), from Python
(``velox.sweep(...)``) or the command line (``python -m velox.sweep``). docs/sweeps.md.
Modules: _grid (grid expansion), _task (one task, run in a worker), _run (sweep), _rows
(out=DIR), _progress, _result (SweepResult), _cli."""

from typing import TYPE_CHECKING, Any

from velox.sweep._run import sweep

if TYPE_CHECKING:
    from velox.sweep._grid import expand_grid
    from velox.sweep._result import SweepResult

__all__ = ["SweepResult", "expand_grid", "sweep"]


def __getattr__(name: str) -> Any:
    # `import velox` imports this package (velox.sweep is the function, bound there eagerly):
    # the rest is imported when first asked for
    if name == "SweepResult":
        from velox.sweep._result import SweepResult

        return SweepResult
    if name == "expand_grid":
        from velox.sweep._grid import expand_grid

        return expand_grid
    raise AttributeError(f"module 'velox.sweep' has no attribute {name!r}")
