"""velox.backtest: a deterministic backtest of a compiled strategy (ABI v2,
csrc/velox/strategy.h) against market-by-order data through the simulated venue
(csrc/velox/venue.h), from Python (``velox.backtest(...)``) or the command line
(``python -m velox.backtest``). Modules: _venue (SimVenue, RiskLimits), _inputs (input specs ->
chunk streams), _stages (strategy specs), _run (backtest), _result (BacktestResult), _cli."""

from velox.backtest._result import BacktestResult
from velox.backtest._run import backtest
from velox.backtest._venue import RiskLimits, SimVenue

__all__ = ["BacktestResult", "RiskLimits", "SimVenue", "backtest"]
