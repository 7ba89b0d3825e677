# Cython interface of velox._backtest shared with velox._pipeline (which hosts the same ABI v2
# strategies live).
from velox.includes.strategy cimport vx_strategy

# The checked vx_strategy* inside the "velox.strategy.v2" capsule `cap` (held by the caller):
# the ABI version, the struct size, the vx_api version and on_market; each refusal is a
# ValueError starting "<noun> <stage!r>:" (noun: "stage" in backtests, "strategy" in
# pipelines) and naming both versions (strategy.h, "Loading").
cdef const vx_strategy *_strategy_table(object stage, object cap, str noun) except NULL
