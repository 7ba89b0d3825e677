"""velox.backtest(): opens the input, makes the strategy and the native backtest
(velox._backtest.NativeBacktest), seeds a snapshot, feeds every chunk, finishes, and returns
the BacktestResult."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping, Optional

# `import velox` binds velox.backtest to the function below, so this module is imported with
# velox: what a backtest runs with is imported by backtest() on the first call.
if TYPE_CHECKING:
    from velox.backtest._result import BacktestResult
    from velox.backtest._venue import RiskLimits, SimVenue

#: log records per log between drains (the native minimum is 2 * MAX_SENDS)
LOG_CAPACITY = 1 << 16
#: pnl_interval_ns's default: a P&L point per traded instrument every second of event time
PNL_INTERVAL_NS = 1_000_000_000


def log_capacity(max_working: int, instruments: int) -> int:
    """The host's log capacity for a backtest (velox.backtest, and a Pipeline with a
    SimVenue): room for what one callback may log (csrc/velox/host.h
    vx_host_callback_room), never below LOG_CAPACITY."""
    from velox._backtest import MAX_SENDS
    return max(LOG_CAPACITY, 2 * (MAX_SENDS + 2 + max_working + instruments))
_U32 = 2**32 - 1


def backtest(input: object, stage: object, *, stage_args: Optional[Mapping[str, Any]] = None,
             snapshot: object = None, venue: Optional[SimVenue] = None,
             risk: Optional[RiskLimits] = None, seed: int = 0,
             instruments: Optional[int] = None, tick: Optional[float] = None,
             levels: Optional[int] = None, max_orders: Optional[int] = None,
             edges: Optional[str] = None,
             pnl_interval_ns: int = PNL_INTERVAL_NS) -> BacktestResult:
    """Replays market-by-order events through books, a compiled strategy (ABI v2,
    csrc/velox/strategy.h) and the simulated venue, on this thread, deterministically: the
    result depends only on the events and these arguments (seed included), never on chunking
    or the machine. See docs/backtest.md.

    input: an MBO_DTYPE array, an iterable of them, or a spec as the pipeline takes it
    ('lobster:MSG.csv', 'itch:PATH?symbols=A,B', 'dbn:PATH', 'journal:DIR[?start=SEQ]',
    'mbo:PATH', or a bare path by its extension: .csv LOBSTER, .dbn / .dbn.zst, .mbo, a
    directory = a journal), read in chunks (never whole).
    stage: 'builtin:quote' (one quote of `size` lots at each instrument's best bid and ask,
    re-priced when the top changes, within `max_position`), 'builtin:script'
    (stage_args={'orders': ORDER_DTYPE array}, sent at their ts), 'MODULE:ATTR', a class
    (made with **stage_args), an object with __velox_stage__(), or a "velox.strategy.v2"
    capsule. stage_args also reach the strategy's api->arg as "key=str(value)" texts (all but
    script's 'orders').
    snapshot: the books at the start, as the pipeline's snapshot= (velox.feeds.load_snapshot;
    'lobster-book:PATH#ROW' also skips the messages that row already holds).
    venue: velox.SimVenue (default: no latency, no fees). risk: velox.RiskLimits. seed: the
    venue's latency draws. instruments, tick (currency), levels (per book side, a power of
    two), max_orders (replayed orders live at once): the books; by default as the MBO
    pipeline takes them (instruments from the input: ITCH symbols, DBN metadata, else the
    largest instrument id of the first chunk + 1; the pipeline's tick and levels).
    edges: 'flag' (on_market after each event with F_LAST, DBN's default) or 'event' (after
    every event, the default otherwise). pnl_interval_ns: a P&L point per traded instrument
    every this many ns of event time (0: at fills only).

    Bad arguments or input raise TypeError / ValueError naming them before the run; the
    strategy table's refusals (a v1 stage, another ABI or api version) are ValueError. An
    input that fails part way (a bad record past the first chunk) raises
    velox.pipeline.InputError (a ValueError)."""
    from velox._backtest import NativeBacktest
    from velox.backtest._inputs import open_input
    from velox.backtest._result import BacktestResult
    from velox.backtest._stages import make_strategy
    from velox.backtest._venue import RiskLimits, SimVenue, _count, check_queue_model
    from velox.pipeline._driver import seed_books
    from velox.pipeline._sources import InputError
    from velox.pipeline._specs import DEFAULT_LEVELS, DEFAULT_TICK_SIZE, _fixed

    if venue is None:
        venue = SimVenue()
    if not isinstance(venue, SimVenue):
        raise TypeError(f"venue must be a velox.SimVenue, got {venue!r}")
    if risk is None:
        risk = RiskLimits()
    if not isinstance(risk, RiskLimits):
        raise TypeError(f"risk must be a velox.RiskLimits, got {risk!r}")
    seed = _count("seed", seed, 0, 2**64 - 1)
    pnl_interval_ns = _count("pnl_interval_ns", pnl_interval_ns, 0, 2**63 - 1)
    if edges is not None and edges not in ("flag", "event"):
        raise ValueError(f"edges must be 'flag' or 'event', got {edges!r}")
    if instruments is not None:
        instruments = _count("instruments", instruments, 1, 1 << 20)
    levels = DEFAULT_LEVELS if levels is None else _count("levels", levels, 2, 1 << 20)
    if levels & (levels - 1):
        raise ValueError(f"levels must be a power of two in [2, 2**20], got {levels!r}")
    tick_fixed = _fixed("tick", DEFAULT_TICK_SIZE if tick is None else tick)
    max_orders = 1 << 20 if max_orders is None else _count("max_orders", max_orders, 1, _U32)

    src = open_input(input)
    try:
        if instruments is None:
            instruments = src.instruments
        if instruments is None:
            first = src.first
            instruments = int(first["instrument"].max()) + 1 if first is not None and len(first) else 1
        elif src.instruments is not None and src.instruments > instruments:
            raise ValueError(f"input {src.spec!r} has {src.instruments} instruments, more than "
                             f"instruments={instruments}")
        check_queue_model(venue, src.first, f"input {src.spec!r} (its first chunk)")
        strategy, texts = make_strategy(stage, stage_args, instruments)
        snap = None
        if snapshot is not None:
            from velox import feeds
            snap = feeds.load_snapshot(
                snapshot, messages=src.first if src.kind == "lobster" else None)
            if snap.first_message and src.kind == "lobster":
                src.skip(snap.first_message)
        native = NativeBacktest(
            strategy, instruments=instruments, levels=levels, tick=tick_fixed,
            max_orders=max_orders, edges=edges or src.edges, seed=seed,
            pnl_interval_ns=pnl_interval_ns, args=texts,
            log_capacity=log_capacity(risk.max_working, instruments),
            **venue.native(), **risk.native())
        if snap is not None:
            seed_books(native, snap, instruments, "the backtest")
        t0 = time.perf_counter()
        try:
            for chunk in src.chunks:
                native.feed(chunk)
        except (OSError, ValueError) as e:  # a bad record past the first chunk, a truncation
            raise InputError(f"input {src.spec!r} failed during the run: {e}") from e
        native.finish()
        wall_s = time.perf_counter() - t0
    finally:
        src.close()
    return BacktestResult(
        orders=native.orders(), execs=native.execs(), pnl=native.pnl(),
        positions=native.positions(), instruments=src.names, counters=native.counters(),
        wall_s=wall_s, check_failure=native.check_failure)

