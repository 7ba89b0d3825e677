"""velox.backtest: a deterministic backtest of a compiled strategy (ABI v2,
csrc/velox/strategy.h) against market-by-order data through the simulated venue
(csrc/velox/venue.h), from Python (``velox.backtest(...)``) or the command line
(``python -m velox.backtest``). Modules: _venue (SimVenue, RiskLimits), _inputs (input specs ->
chunk streams), _stages (strategy specs), _run (backtest), _result (BacktestResult), _cli."""

from typing import TYPE_CHECKING, Any

from velox._lazy import lazy_attr
from velox.backtest._run import backtest

if TYPE_CHECKING:
    from velox.backtest._result import BacktestResult
    from velox.backtest._venue import RiskLimits, SimVenue

__all__ = ["BacktestResult", "RiskLimits", "SimVenue", "backtest"]


# `import velox` imports this package (velox.backtest is the function, bound there eagerly):
# the classes are imported when first asked for
_LAZY = {"BacktestResult": "velox.backtest._result", "RiskLimits": "velox.backtest._venue",
         "SimVenue": "velox.backtest._venue"}


def __getattr__(name: str) -> Any:
    return lazy_attr("velox.backtest", _LAZY, name)
