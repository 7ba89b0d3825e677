"""A pipeline's v2 strategy from Python: its parameters (WithArgs), and the drain of its logs
(orders sent, execution reports, P&L points) that the book thread moves into three rings
(csrc/velox/pipeline.h, "Strategies"), with a running tally of working orders and positions
for the live view."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from velox._pipeline import (
    STRATEGY_LOGS, NativePipeline, fetch_stage_capsule, is_strategy_capsule, strategy_capsule)
from velox._records import EXEC_DTYPE, ORDER_DTYPE, PNL_DTYPE

#: the drain thread's pause when every log ring was empty (s)
DRAIN_IDLE_S = 0.001
_DTYPES = {"orders": ORDER_DTYPE, "execs": EXEC_DTYPE, "pnl": PNL_DTYPE}
_ACTION_NEW, _KIND_ACK, _KIND_REJECT = 1, 1, 2
_KIND_FILL, _KIND_PARTIAL = 3, 4
_ENDING = {2, 3, 5, 7}  # REJECT, FILL, CANCELED, EXPIRED with leaves 0


class WithArgs:
    """A v2 strategy and its parameters (``stage_args`` / ``--stage-arg``), which reach it as
    text through ``api->arg(env, "key")`` (csrc/velox/strategy.h)."""

    def __init__(self, strategy: object, args: dict[str, Any] | None,
                 capsule: object = None) -> None:
        self.strategy = strategy
        self.args = dict(args or {})
        self.capsule = capsule  # its capsule when already fetched (asked once)

    def __velox_stage__(self) -> object:
        return self.capsule if self.capsule is not None else strategy_capsule(self.strategy)

    def __repr__(self) -> str:
        name = getattr(self.strategy, "name", None) or repr(self.strategy)
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"


#: velox's own v2 strategies (csrc/velox/strategy_builtin.h), by --stage builtin:KIND
BUILTIN_STRATEGIES = ("quote", "script")


class BuiltinStrategy:
    """``builtin:quote``: velox's quoting strategy (one order of ``size`` lots at the best bid
    and the best ask of every instrument, re-priced when the top changes, within
    ``max_position``), made for the pipeline's number of instruments when the Pipeline is
    built (``velox._backtest.builtin_strategy``). ``builtin:script``: sends the ORDER_DTYPE
    array ``args["orders"]``, each at the first market event with ts >= its ts (from Python:
    the CLI's text cannot carry an array)."""

    def __init__(self, kind: str, args: dict[str, Any] | None = None) -> None:
        if kind not in BUILTIN_STRATEGIES:
            raise ValueError(f"builtin strategies are {', '.join(BUILTIN_STRATEGIES)}, got {kind!r}")
        self.kind = kind
        self.args = dict(args or {})

    def make(self, instruments: int) -> WithArgs:
        from velox._backtest import builtin_strategy
        if self.kind == "script":
            args = dict(self.args)
            if "orders" not in args:
                raise ValueError("builtin:script needs stage_args={'orders': an ORDER_DTYPE "
                                 "array} (the orders it sends)")
            orders = args.pop("orders")
            return WithArgs(builtin_strategy("script", orders=orders), args)
        if "orders" in self.args:
            raise ValueError("builtin:quote takes no 'orders' (that is builtin:script)")
        return WithArgs(builtin_strategy(self.kind, instruments=instruments), self.args)

    def __repr__(self) -> str:
        return f"builtin:{self.kind}"


def is_strategy(stage: object) -> bool:
    """True when ``stage`` is known to be a strategy of ABI v2 without asking it (a
    "velox.strategy.v2" capsule, WithArgs, builtin:quote); an object's own
    ``__velox_stage__()`` is asked once, by split_stages."""
    return isinstance(stage, (WithArgs, BuiltinStrategy)) or is_strategy_capsule(stage)


def split_stages(stage: object, args: dict[str, Any] | None
                 ) -> tuple[object, list[object] | None]:
    """(the stage, each stage object's fetched capsule) with a v2 strategy wrapped as
    WithArgs(strategy, args, its capsule); every __velox_stage__() is called once, here.
    ``args``: the stage_args of a single stage given as an object (for a v2 strategy they
    reach api->arg; for a v1 object they are refused, as before)."""
    several = isinstance(stage, (list, tuple))
    stages: list[object] = list(stage) if isinstance(stage, (list, tuple)) else [stage]
    if stage is None:
        return None, None
    caps: list[object] = []
    for i, s in enumerate(stages):
        if isinstance(s, (WithArgs, BuiltinStrategy)):
            caps.append(None)
            continue
        caps.append(fetch_stage_capsule(s, i if several else -1))
    if not several and is_strategy_capsule(caps[0]):
        return WithArgs(stage, args, caps[0]), None
    if several and any(is_strategy(s) or is_strategy_capsule(c) for s, c in zip(stages, caps)):
        raise ValueError("a strategy of ABI v2 runs alone on the book thread: pass it as the "
                         "only stage (v1 stages cannot run beside it)")
    if not several and isinstance(stage, (WithArgs, BuiltinStrategy)):
        return stage, None
    return stage, caps


class StrategyLogs:
    """The strategy's logs as the driver drained them: ``orders`` (ORDER_DTYPE), ``execs``
    (EXEC_DTYPE), ``pnl`` (PNL_DTYPE) arrays, and a tally of working orders and positions
    kept from them (the live view: as recent as the last drain)."""

    def __init__(self) -> None:
        self._chunks: dict[str, list[npt.NDArray[np.void]]] = {k: [] for k in STRATEGY_LOGS}
        self.counts = {k: 0 for k in STRATEGY_LOGS}
        self._lock = threading.Lock()  # the tally: drain thread writes, view reads
        self._working: dict[int, dict[str, Any]] = {}
        self._position: dict[int, int] = {}
        self._pnl: dict[int, int] = {}

    def take(self, native: NativePipeline, max_records: int = 4096) -> int:
        """Drains each log ring once; returns how many records it took."""
        # Reports first, orders last: the book thread moves a NEW into the orders ring before
        # any report about it reaches the execs ring, so every report popped here has its NEW
        # popped now or before; the tally then takes the orders first.
        got = {which: native.drain_log(which, max_records) for which in ("execs", "pnl", "orders")}
        total = 0
        for which in STRATEGY_LOGS:  # orders, execs, pnl
            arr = got[which]
            if not len(arr):
                continue
            total += len(arr)
            self._chunks[which].append(arr)
            self.counts[which] += len(arr)
            with self._lock:
                self._tally(which, arr)
        return total

    def _tally(self, which: str, arr: npt.NDArray[np.void]) -> None:
        if which == "orders":
            for o in arr[arr["action"] == _ACTION_NEW].tolist():
                ts, oid, price, qty, inst, side = o[0], o[1], o[2], o[3], o[4], o[5]
                self._working[oid] = {"order_id": oid, "instrument": inst, "side": side,
                                      "price": price, "qty": qty, "leaves_qty": qty,
                                      "state": "pending"}
        elif which == "execs":
            for e in arr.tolist():
                oid, fill_qty, leaves, inst, kind, side = e[2], e[5], e[6], e[7], e[8], e[9]
                if kind in (_KIND_FILL, _KIND_PARTIAL):
                    sign = 1 if side == 0 else -1
                    self._position[inst] = self._position.get(inst, 0) + sign * fill_qty
                w = self._working.get(oid)
                if w is None:
                    continue
                if kind in _ENDING and leaves == 0:
                    del self._working[oid]
                else:
                    w["leaves_qty"] = leaves
                    if kind != _KIND_REJECT:
                        w["state"] = "live"
        else:
            for p in arr.tolist():
                self._pnl[p[1]] = p[7]

    def working_orders(self) -> list[dict[str, Any]]:
        """The strategy's working orders as the drained logs say (sent, not ended)."""
        with self._lock:
            return [dict(w) for w in self._working.values()]

    def positions(self) -> dict[int, dict[str, int]]:
        """{instrument: {"position": signed lots, "total_pnl": fixed point}} from the drained
        fills and P&L points."""
        with self._lock:
            keys = set(self._position) | set(self._pnl)
            return {i: {"position": self._position.get(i, 0), "total_pnl": self._pnl.get(i, 0)}
                    for i in sorted(keys)}

    def array(self, which: str) -> npt.NDArray[np.void]:
        """Every record of log ``which`` drained so far, in order (a fresh zeroed copy)."""
        chunks = self._chunks[which]
        out = np.zeros(sum(len(c) for c in chunks), _DTYPES[which])
        at = 0
        for c in chunks:
            out[at:at + len(c)] = c
            at += len(c)
        return out


def drain_logs_loop(native: NativePipeline, logs: StrategyLogs, stop: threading.Event,
                    errors: list[BaseException]) -> None:
    """The strategy drain thread: moves the log rings into ``logs`` until ``stop`` is set
    (after the native threads are joined, so its last pass sees every record). Draining while
    the run goes on keeps the book thread from waiting for log room (strategy_log_waits)."""
    while True:
        stopping = stop.is_set()  # read before the pass: set means the threads are joined
        try:
            n = logs.take(native)
        except BaseException as e:  # re-raised by stop()
            errors.append(e)
            return
        if stopping and not n:
            return
        if not n:
            stop.wait(DRAIN_IDLE_S)
