# Cython interface of velox._backtest shared with velox._pipeline (which hosts the same ABI v2
# strategies live).
cimport numpy as cnp

from velox.includes.mbo cimport vx_mbo_reject
from velox.includes.strategy cimport vx_strategy
from velox.includes.types cimport vx_mbo, vx_status

# The checked vx_strategy* inside the "velox.strategy.v2" capsule `cap` (held by the caller):
# the ABI version, the struct size, the vx_api version and on_market; each refusal is a
# ValueError starting "<noun> <stage!r>:" (noun: "stage" in backtests, "strategy" in
# pipelines) and naming both versions (strategy.h, "Loading").
cdef const vx_strategy *_strategy_table(object stage, object cap, str noun) except NULL

# Snapshots applied to books before a run (NativeBacktest and NativePipeline's
# apply_before_start): _snapshot_events is the 1-D MBO_DTYPE array `events` as a fresh aligned
# copy (TypeError naming the dtype otherwise); _apply_snapshot applies its events in order
# through `apply(books, event, &reason)` and raises ValueError naming the first event refused
# and its reason (nothing after it applied).
ctypedef vx_status (*snapshot_apply_fn)(void *books, const vx_mbo *event,
                                        vx_mbo_reject *reason) noexcept
cdef cnp.ndarray _snapshot_events(object events)
cdef int _apply_snapshot(cnp.ndarray arr, snapshot_apply_fn apply, void *books) except -1
