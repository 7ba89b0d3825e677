"""velox.Pipeline: configures the native pipeline (csrc/velox/pipeline.c) and drives a
run from Python (start, feed, poll, wait, stop, the final report)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from velox import tsc
from velox._histogram import Histogram
from velox._pipeline import NativePipeline
from velox._records import BUNDLE_DTYPE, MBO_DTYPE, PRICE_SCALE, TXN_DTYPE
from velox._ring import SpscRing
from velox._shm import SharedRing
from velox._shm import unlink as _unlink_shm
from velox.pipeline._specs import (
    Cores, DEFAULT_LEVELS, DEFAULT_TICK_SIZE, FILE_INPUTS, FINITE_INPUTS, MBO_FILE_INPUTS, StageArgs, Topology, _check_events_file,
    _check_first_records, _fixed, _itch_spec, journal_spec, available_cpus, make_stages, parse_cores,
    parse_input, parse_output, parse_topology, stage_mapping)
from velox.pipeline._sources import InputError, READER_JOIN_S, read_file, watch_input_ring
from velox.pipeline._drain import Callback, _drain_batches, _drain_loop
from velox.pipeline._strategy import (
    BuiltinStrategy, StrategyLogs, WithArgs, drain_logs_loop, is_strategy, split_stages)
from velox.pipeline._venue import LiveVenue
from velox.backtest._venue import RiskLimits, SimVenue, check_queue_model
from velox.backtest._run import PNL_INTERVAL_NS as SIM_PNL_INTERVAL_NS
from velox.backtest._run import log_capacity as sim_log_capacity
from velox.pipeline._journal import (
    JOURNAL_PYTHON_RING_CAPACITY, PipelineJournal, check_journal_dir, journal_loop)
from velox.pipeline._view import BookView
from velox.pipeline._report import _judge, _missing_symbols_warning, build_report


def _refuse_unchosen_queue_model(venue: SimVenue, source: Any) -> None:
    """velox.backtest's refusal to guess a queue model for market-by-price input, for the
    inputs whose first records can be read before the run without consuming them: a
    regular mbo: file (a pipe or FIFO is not peeked)."""
    if venue.queue_model is not None or source[0] != "mbo" or not os.path.isfile(source[1]):
        return
    first = np.fromfile(source[1], dtype=MBO_DTYPE, count=1 << 16)
    check_queue_model(venue, first, f"input 'mbo:{source[1]}' (its first 65,536 records)")


class Pipeline:
    """The native pipeline, configured and driven from Python.

    Pipeline(rate=100_000, *, cores=None, seed=1, levels=1024, tick_size=0.01,
             base_price=100.0, bundle_timeout_us=100.0, on_full=None, wait=None,
             output=None, callback=None, max_txns=0, cancel_share=0.2, max_qty=100,
             batch=64, timestamps="tsc")

    rate: transactions/s (Poisson), or "max"/0/None for unpaced. cores: CPUs to use
    (list, or a string like "0,1"); default every available CPU but the first (see
    default_cores). wait: "spin", "yield" or
    "backoff"; default spin when a CPU is left over for Python, else backoff. output: path
    of a file to write raw 528-byte bundles to, or "shm:NAME[:CAPACITY]" to push every
    bundle into a new SharedRing of BUNDLE_DTYPE named NAME (CAPACITY slots, default 1024)
    that other processes read with ``velox.SharedRing.attach(NAME)``: the pipeline creates the
    segment at construction (FileExistsError if the name is taken), is its producer, pushes
    per on_full (drops counted as drops.output_to_external), and at stop() closes it (a
    consumer's blocking pop then raises BrokenPipeError once it has every bundle) and unlinks
    the name unless keep_shm=True (a consumer that attached keeps its mapping either way).
    callback: called with BUNDLE_DTYPE arrays of bundles. By default (callback_thread=True)
    start() starts a drain thread in this process that pops the python ring and calls the
    callback, so ``with Pipeline(callback=f): time.sleep(2)`` loses nothing in block mode
    (in drop mode only what the callback is too slow for is dropped, counted as
    drops.output_to_python). Its cost: the thread holds the GIL while it copies a batch and
    runs the callback, and sleeps 0.2 ms when the ring is empty (about 5,000 wake-ups/s when
    idle). An exception raised by the callback stops the drain thread and is re-raised by the
    next poll()/stats()/wait()/stop(). With callback_thread=False the callback runs on the
    calling thread, only from poll(), stats(), wait() and stop(): call poll() often, or
    bundles are dropped once the python ring (python_ring_capacity bundles: None = 1024, or
    16,384 with journal=DIR) is full.
    max_txns: stop ingress after this many (0: no limit).
    timestamps: "tsc" (each transaction carries the TSC tick it was made at) or "logical"
    (it carries its sequence number instead, so a seeded, unpaced, block-mode run with
    max_txns and no bundle timeout writes byte-identical output; the latency histograms
    timed from the record -- ingress_to_book, ingress_to_bundler, end_to_end -- stay empty).

    stage: a native user stage (csrc/velox/stage.h ABI): an object with __velox_stage__()
    returning a PyCapsule named "velox.stage.v1" (e.g. velox._pipeline.BuiltinStage("imbalance")
    or a downstream Cython extension's), or such a capsule; or a list of up to 8 of them. Each
    runs on the book's pipeline thread after every book batch, in list order, over the same
    events, reads the book, and may emit up to emit_capacity orders (Transaction records) per
    batch into the bundler (stage 0's first); counts and records they return are validated
    (counters["user_stages"][i] per stage, counters["user_stage"] summed). The Pipeline keeps
    the objects alive. A class (in stage or in its list) is instantiated here with
    stage_args: a dict of keyword arguments for one stage (stage=Cls, stage_args={"k": v}),
    or a list of one dict (or None) per stage for a list; objects take none (TypeError).
    An unknown parameter is the class's TypeError, re-raised naming the stage.

    input: "synthetic", "feed" (Pipeline.feed), "events:PATH" (a TXN_DTYPE file) or
    "shm:NAME" (a SharedRing of TXN_DTYPE fed by another process; attached as its consumer,
    waiting up to attach_timeout s for it to appear; the run ends when its producer closes
    it or dies). replay_speed: pace a non-synthetic input by its records' tsc read as ns
    timestamps (1 = as recorded; None = as fast as possible). topology: an explicit layout
    instead of cores, "ingress+book@1,bundler+output@2" (see parse_topology).
    follow_market (records="mbo"): after every batch, before the stages run, the book stage
    recenters a book whose market (best bid / ask) nears an edge of its `levels`-tick window
    or left it, so the market stays on the ladder however far the price drifts (amortised to
    O(1) per event; never while the live view reads: counters "recenters" and
    "recenters_deferred"). False keeps each window where the book's first ADD (or LEVEL) placed it.

    snapshot (records="mbo"): the state the books start from, put in before start():
    "lobster-book:PATH#ROW" (row ROW of a LOBSTER orderbook file as seeded lots; a lobster:
    input then replays from message ROW + 1, as row ROW is the book after message ROW),
    "lobster-book:PATH" (a lobster: input's start: the book before its first message, derived
    from row 0 and message 0), a velox.feeds.LEVEL_DTYPE array (side, price, qty: seeded lots
    with no order identity), an MBO_DTYPE array of ADD events (applied in order), or
    {instrument: one of these} (see velox.feeds.load_snapshot). Checked before the run.
    seed_from_book (a lobster: or feed input, one instrument): the LOBSTER orderbook file of
    a level-limited message file; after each event the book stage seeds every level of that
    event's row that the book does not hold (a level deeper than the file's levels came into
    view with no ADD) and compares the top levels with the row (report "seed_from_book":
    levels_seeded, rows_checked, rows_differing).
    on_full: "drop" or "block" for a live source (synthetic, shm:); None = "drop", but a drop
    then fails the run (report "ok" False): drops count as asked for only when "drop" is
    given explicitly. A finite source (a file input, "feed") always blocks: it never drops.

    journal: a directory (new, or existing and empty) to journal the run into: every record
    the book stage takes goes to the velox.Journal DIR/input (TXN_DTYPE or MBO_DTYPE, in the
    order the book took them) and every bundle emitted to DIR/output (BUNDLE_DTYPE), written
    by a journal thread in this process (it replaces the drain thread and calls the callback;
    needs callback_thread=True). input="journal:DIR/input" replays the run (byte-identical
    output with timestamps="logical", bundle_timeout_us=0, on_full="block"). The report's
    "journaled" section counts what was journaled and lost; a journal that lost or failed
    anything makes the run not ok (verdict "JOURNAL INCOMPLETE: ..."). Bad DIR: ValueError.

    Use as a context manager, or start() / stop(). stop() drains every ring,
    joins the threads and returns the final report (a dict; see report(); its "verdict" is
    the summary's first line). A stop ends a paced replay at once (the rest is counted in
    "left_unreplayed"); a file reader blocked outside velox (a parser in open() of a silent
    FIFO) is waited for READER_JOIN_S and then reported as abandoned. When a file input
    fails during the run, wait() and the first stop() raise InputError (with the report).
    """

    mapping: dict[str, int]
    rate_per_s: float
    wait_strategy: str
    on_full: str
    output: object
    callback: Callback | None
    thread_cpu: list[int]
    #: records="mbo": the book stage recenters a book's window on its market (see docs)
    follow_market: bool
    #: the SharedRing of output="shm:NAME" (None otherwise); closed by stop()
    output_ring: SharedRing | None

    def __init__(self, rate: float | str | None = 100_000, *, cores: Cores = None,
                 seed: int = 1, levels: int = DEFAULT_LEVELS,
                 tick_size: float = DEFAULT_TICK_SIZE,
                 base_price: float = 100.0, bundle_timeout_us: float = 100.0,
                 on_full: str | None = None, wait: str | None = None,
                 output: str | os.PathLike[str] | None = None,
                 callback: Callback | None = None, max_txns: int = 0,
                 cancel_share: float = 0.2, max_qty: int = 100, batch: int = 64,
                 python_ring_capacity: int | None = None, ticks_per_ns: float | None = None,
                 timestamps: str = "tsc", keep_shm: bool = False,
                 callback_thread: bool = True, stage: object = None,
                 stage_args: StageArgs = None, emit_capacity: int = 64, input: str = "synthetic",
                 feed_capacity: int = 1 << 16, replay_speed: float | None = None,
                 attach_timeout: float = 10.0, topology: Topology = None,
                 records: str | None = None, instruments: int = 1,
                 max_orders: int = 1 << 20, follow_market: bool | None = None,
                 snapshot: object = None,
                 seed_from_book: str | os.PathLike[str] | None = None,
                 journal: str | os.PathLike[str] | None = None,
                 venue: LiveVenue | SimVenue | str | None = None,
                 risk: Any = None) -> None:
        if timestamps not in ("tsc", "logical"):
            raise ValueError(f"timestamps must be 'tsc' or 'logical', got {timestamps!r}")
        stage = make_stages(stage, stage_args)  # classes instantiated before anything is made
        if isinstance(stage, (list, tuple)) and len(stage) == 1 and is_strategy(stage[0]):
            stage = stage[0]  # the CLI's --stage list of one
        # each stage object's __velox_stage__() is asked once, here; a v2 strategy becomes
        # WithArgs (its capsule, its api->arg values)
        stage, stage_capsules = split_stages(stage, None)
        if isinstance(venue, str):
            venue = SimVenue() if venue == "sim" else LiveVenue.parse(venue)
        if venue is not None and not isinstance(venue, (LiveVenue, SimVenue)):
            raise TypeError(f"venue must be a velox.LiveVenue, a velox.SimVenue, "
                            f"'live:ORDERS,EXECS' or 'sim', got {venue!r}")
        sim = isinstance(venue, SimVenue)
        #: the strategy of ABI v2 this pipeline hosts (stage=<v2 strategy>), or None
        self.strategy: object = stage if is_strategy(stage) else None
        if self.strategy is not None and venue is None:
            raise ValueError(f"stage {stage!r} is a strategy of ABI v2: its orders need a venue "
                             "(venue=velox.LiveVenue(orders='SHM_NAME', execs='SHM_NAME'), CLI "
                             "--venue live:ORDERS,EXECS; or venue=velox.SimVenue(...), CLI "
                             "--venue sim: the simulated venue)")
        if venue is not None and self.strategy is None:
            raise ValueError(f"venue={venue!r} needs a strategy of ABI v2 as the stage (a "
                             f"'velox.strategy.v2' capsule or an object returning one), got "
                             f"stage={stage!r}")
        if risk is not None and self.strategy is None:
            raise ValueError("risk limits need a strategy of ABI v2 as the stage")
        if isinstance(risk, RiskLimits):  # as a backtest's
            risk = risk.native()
        if risk is not None and not isinstance(risk, dict):
            raise TypeError(f"risk must be a velox.RiskLimits or a dict of limits, got {risk!r}")
        # the simulated venue: velox.backtest's defaults (max_working 1024), then what is given
        risk = dict(RiskLimits().native() if sim else {}, **(risk or {}))
        unknown = set(risk) - {"max_loss", "max_position", "max_order_qty", "max_working"}
        if unknown:
            raise ValueError(f"risk: unknown limit(s) {sorted(unknown)} (max_loss, max_position, "
                             "max_order_qty, max_working)")
        #: the strategy's venue: live (a gateway) or simulated (None without a strategy)
        self.venue: LiveVenue | SimVenue | None = venue
        if rate in (None, "max", 0):
            rate_per_s = 0.0
        else:
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise TypeError(f"rate must be a number of transactions/s or 'max', got {rate!r}")
            if not 1 <= rate <= 1e9:
                raise ValueError(f"rate must be in [1, 1e9] transactions/s or 'max', got {rate!r}")
            rate_per_s = float(rate)
        if topology is not None:
            if cores is not None:
                raise ValueError("give cores or topology, not both (a topology names each "
                                 "thread's CPU)")
            stage_thread, thread_cpu, self.mapping = parse_topology(topology)
        else:
            if isinstance(cores, str):
                cores = parse_cores(cores)
            stage_thread, thread_cpu, self.mapping = stage_mapping(cores)
        if wait is None:
            # spin only when every thread has a CPU of its own and one is left over
            own_cpus = -1 not in thread_cpu and len(set(thread_cpu)) == len(thread_cpu)
            wait = "spin" if own_cpus and len(available_cpus()) > len(thread_cpu) else "backoff"
        if isinstance(bundle_timeout_us, bool) or not isinstance(bundle_timeout_us, (int, float)):
            raise TypeError(f"bundle_timeout_us must be a number, got {bundle_timeout_us!r}")
        if not 0 <= bundle_timeout_us <= 3.6e9:
            raise ValueError(f"bundle_timeout_us must be in [0, 3.6e9], got {bundle_timeout_us!r}")
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if not isinstance(keep_shm, bool):
            raise TypeError(f"keep_shm must be a bool, got {keep_shm!r}")
        if follow_market is None:
            follow_market = not sim  # the simulated venue's books keep their windows
        if not isinstance(follow_market, bool):
            raise TypeError(f"follow_market must be a bool, got {follow_market!r}")
        if sim and follow_market:
            raise ValueError("follow_market=True: with venue=SimVenue the books keep their "
                             "windows where the first ADD or LEVEL placed them, as velox.backtest's do "
                             "(recentering would change which events the books accept)")
        if sim and journal is not None:
            raise ValueError("journal: not available with venue=SimVenue (journal the input "
                             "without a strategy, then replay it)")
        if sim and seed_from_book is not None:
            raise ValueError("seed_from_book: not available with venue=SimVenue (seeding levels "
                             "during the run would change the simulated venue's market)")
        self.follow_market = follow_market
        if not isinstance(callback_thread, bool):
            raise TypeError(f"callback_thread must be a bool, got {callback_thread!r}")
        journal_dir = None if journal is None else check_journal_dir(journal)
        if journal_dir is not None and not callback_thread:
            raise ValueError("journal needs callback_thread=True: the journal thread drains "
                             "the bundles (and hands them to the callback)")
        source = parse_input(input)
        target = parse_output(output)
        if on_full not in (None, "drop", "block"):
            raise ValueError(f"on_full must be 'drop' or 'block', got {on_full!r}")
        #: drops of market data are what the user asked for: on_full="drop" given explicitly
        #: on a live source (the synthetic generator, shm:); a finite source never drops
        self.drops_allowed = on_full == "drop" and source[0] not in FINITE_INPUTS
        if source[0] in FINITE_INPUTS:
            on_full = "block"  # a file or feed() waits for the pipeline: nothing is lost
        elif on_full is None:
            on_full = "drop"
        if replay_speed is not None and replay_speed != 0:
            if isinstance(replay_speed, bool) or not isinstance(replay_speed, (int, float)):
                raise TypeError(f"replay_speed must be a number, got {replay_speed!r}")
            if source[0] == "synthetic":
                raise ValueError("replay_speed paces a replayed input by its recorded timestamps: "
                                 "it needs a file, 'shm:NAME' or 'feed' input (the synthetic "
                                 "source is paced by rate)")
            if not 1e-3 <= replay_speed <= 1e6:
                raise ValueError(f"replay_speed must be in [0.001, 1e6] (1 = recorded speed), "
                                 f"got {replay_speed!r}")
        if isinstance(attach_timeout, bool) or not isinstance(attach_timeout, (int, float)):
            raise TypeError(f"attach_timeout must be a number of seconds, got {attach_timeout!r}")
        if not 0 <= attach_timeout <= 3600:
            raise ValueError(f"attach_timeout must be in [0, 3600] seconds, got {attach_timeout!r}")
        if ticks_per_ns is None:
            ticks_per_ns = tsc.ticks_per_ns()  # calibrates once per process
        self.rate_per_s = rate_per_s
        self._bundle_timeout_us = float(bundle_timeout_us)
        self.wait_strategy = wait
        self.on_full = on_full
        self.output = output
        self.callback = callback
        self.thread_cpu = thread_cpu
        self.input = input
        self._source = source
        #: fed(): records handed to the source ring by feed() or the file reader
        self.fed = 0
        self._feed_lock = threading.Lock()  # the source ring has one producer at a time
        self.replay_speed = float(replay_speed) if replay_speed else None
        self._feed_ring: SpscRing | None = None
        #: input="shm:NAME": the attached SharedRing (this process is its consumer); None else
        self.input_ring: SharedRing | None = None
        self._reader: threading.Thread | None = None
        self._reader_error: list[BaseException] = []
        self._feed_closed = False     # close_feed() was called
        self._input_closed = False    # stop() refuses further pushes into the source ring
        self._input_abandoned = False  # stop() left a blocked file reader behind
        #: input="dbn:PATH": the DbnReader (header read here), iterated by the reader thread
        self._dbn: Any = None
        self._dbn_counts: dict[str, Any] | None = None  # its counts, for the report
        #: input="journal:DIR": the JournalReader (opened here), read by the reader thread
        self._journal: Any = None
        self._journal_start = 0
        self._journal_follow = False  # ?follow=1: tail the journal until stop()
        self._journal_read = 0  # records the reader thread took from the journal
        self._journal_skipped = 0  # corrupt records it stepped over (JournalReader.skipped)
        if source[0] == "journal":
            records = self._open_journal(input, source[1], records)
        # which records flow: files say it themselves; feed/shm default to transactions
        if records is None:
            records = "mbo" if source[0] in MBO_FILE_INPUTS else "txn"
        if records not in ("txn", "mbo"):
            raise ValueError(f"records must be 'txn' (transactions, L2 book) or 'mbo' "
                             f"(market-by-order events, MBO books), got {records!r}")
        if source[0] in MBO_FILE_INPUTS and records != "mbo":
            raise ValueError(f"input {input!r} carries market-by-order events: records must be 'mbo'")
        if source[0] in ("events", "synthetic") and records != "txn":
            raise ValueError(f"input {input!r} carries transactions: records must be 'txn'")
        #: "txn" (transactions through the L2 ladder) or "mbo" (events through MBO books)
        self.records = records
        self._dtype = MBO_DTYPE if records == "mbo" else TXN_DTYPE
        #: input="itch:...": the symbols, book i = symbols[i] (the reader routes by symbol)
        self.symbols: list[str] | None = None
        self._itch_counts: dict[str, Any] | None = None  # the ITCH reader's, for the report
        self._itch_directory: dict[int, str] | None = None  # its stock directory, at the end
        self._itch_missing: list[str] = []  # symbols no stock directory message named
        if source[0] == "itch":
            self.symbols = _itch_spec(input)[1]
            instruments = len(self.symbols)
        self._instruments = instruments
        if source[0] in FILE_INPUTS:
            _check_events_file(source[1], source[0])
            _check_first_records(source[0], source[1])
        if source[0] == "dbn":
            self._dbn = _open_dbn(source[1], instruments)
        #: input="lobster:..." with a snapshot or seed_from_book: the message file, read
        #: (and checked) before the run; the reader replays it from _first_message on
        self._lobster_events: npt.NDArray[np.void] | None = None
        self._first_message = 0
        snap, reference = self._prepare_snapshot(snapshot, seed_from_book, source, records,
                                                 instruments)
        if source[0] == "shm":
            # waits up to attach_timeout for the producer process to create it
            try:
                self.input_ring = SharedRing.attach(source[1], self._dtype, timeout=attach_timeout)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"input {input!r}: no shared ring named {source[1]!r} appeared within "
                    f"attach_timeout={attach_timeout!r} s (the producer process creates it with "
                    f"velox.SharedRing.create(NAME, capacity, velox.{'MBO' if records == 'mbo' else 'TXN'}"
                    "_DTYPE))") from None
            except TimeoutError as e:
                raise TimeoutError(f"input {input!r}: {e}") from None
            self._feed_ring = self.input_ring
        elif source[0] != "synthetic":
            self._feed_ring = SpscRing(feed_capacity, self._dtype)
        #: the user stage (an object with __velox_stage__() or a "velox.stage.v1" capsule)
        self.stage = stage
        self._fd = -1
        self._native: NativePipeline | None = None
        self.output_ring = None
        self._keep_shm = keep_shm
        self._t_start: float | None = None
        self._t_stop: float | None = None
        self._final: dict[str, Any] | None = None
        self._callback_thread = callback_thread
        self._drain_lock = threading.Lock()  # one consumer of the python ring at a time
        self._drain_stop = threading.Event()
        self._drainer: threading.Thread | None = None
        self._drain_error: list[BaseException] = []
        self._stopping = False
        self.strategy_logs: StrategyLogs | None = None
        self._log_stop = threading.Event()
        self._log_drainer: threading.Thread | None = None
        self._strategy_final: dict[str, Any] | None = None
        strategy_kw: dict[str, Any] = {}
        if self.strategy is not None:
            assert venue is not None
            if records != "mbo":
                raise ValueError(f"stage {stage!r} is a strategy of ABI v2: it needs a "
                                 f"market-by-order input (lobster:, itch:, dbn:, journal: or an "
                                 f"MBO feed), got input={input!r} (records={records!r})")
            if isinstance(stage, BuiltinStrategy):
                stage = stage.make(instruments)
                self.strategy = stage
            args = stage.args if isinstance(stage, WithArgs) else None
            edges = "flag" if source[0] == "dbn" else "event"  # as velox.backtest chooses
            if isinstance(venue, SimVenue):
                _refuse_unchosen_queue_model(venue, source)
                strategy_kw = dict(
                    strategy=stage, strategy_args=args, strategy_edges=edges,
                    sim_venue=dict(venue.native(), seed=seed), pnl_interval_ns=SIM_PNL_INTERVAL_NS,
                    log_capacity=sim_log_capacity(risk["max_working"], instruments), **risk)
            else:
                strategy_kw = dict(strategy=stage, strategy_args=args, strategy_edges=edges,
                                   strategy_close_timeout_ns=int(venue.close_timeout * 1e9),
                                   **risk)
            self.strategy_logs = StrategyLogs()
            #: how the book thread cuts the events into groups for the strategy: "flag" (an
            #: event with F_LAST) or "event" (every event), chosen by the input
            self.strategy_edges = edges
        #: journal="DIR": the run's input and output journals (None without)
        self.journal: PipelineJournal | None = (
            None if journal_dir is None else PipelineJournal(journal_dir, self._dtype))
        if target is not None and target[0] == "file":
            self._fd = os.open(target[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        elif target is not None and len(target) == 3:
            self.output_ring = SharedRing.create(target[1], target[2], BUNDLE_DTYPE)
        try:
            if isinstance(venue, LiveVenue):
                strategy_kw["venue_orders"], strategy_kw["venue_execs"] = venue.open()
            self._native = NativePipeline(
                ticks_per_ns=ticks_per_ns, rate_per_s=rate_per_s, max_txns=max_txns, seed=seed,
                levels=levels, tick_size=_fixed("tick_size", tick_size),
                base_price=_fixed("base_price", base_price), cancel_share=cancel_share,
                max_qty=max_qty, bundle_timeout_ns=int(round(bundle_timeout_us * 1000)),
                on_full=on_full, wait=wait, batch=batch,
                python_ring_capacity=(
                    0 if callback is None and self.journal is None
                    else python_ring_capacity if python_ring_capacity is not None
                    else JOURNAL_PYTHON_RING_CAPACITY if self.journal is not None else 1024),
                output_fd=self._fd, stage_thread=stage_thread, thread_cpu=thread_cpu,
                logical_timestamps=timestamps == "logical", external_ring=self.output_ring,
                user_stage=None if self.strategy is not None else stage,
                stage_capsules=None if self.strategy is not None else stage_capsules,
                user_emit_capacity=emit_capacity,
                source_ring=self._feed_ring, replay_speed=self.replay_speed or 0.0,
                records=records, mbo_instruments=instruments, mbo_max_orders=max_orders,
                mbo_follow=follow_market, mbo_reference=reference,
                input_tap=None if self.journal is None else self.journal.tap, **strategy_kw)
            if snap is not None:
                self._seed_snapshot(snap, instruments)
            if self.journal is not None:
                self.journal.create()  # last: a refused configuration leaves no directory
        except BaseException:
            self._native = None  # its rings' busy marks go with it before the venue closes
            if isinstance(venue, LiveVenue):
                venue.close(unlink=True)
            self._close_fd()
            self._close_shm(unlink=True)
            self._close_input_ring()
            raise

    def _prepare_snapshot(self, snapshot: object, seed_from_book: object,
                          source: tuple[str, str], records: str, instruments: int
                          ) -> tuple[Any, tuple[Any, ...] | None]:
        """Reads and checks snapshot= and seed_from_book= before anything is created: the
        normalised velox.feeds.Snapshot (or None) and the native mbo_reference (or None)."""
        self.snapshot: dict[str, Any] | None = None
        self.seed_from_book: str | None = None
        if snapshot is None and seed_from_book is None:
            return None, None
        from velox import feeds
        what = "snapshot" if snapshot is not None else "seed_from_book"
        if records != "mbo":
            raise ValueError(f"{what} starts market-by-order books: it needs records='mbo' "
                             f"(input {self.input!r} carries transactions)")
        if source[0] == "lobster":
            try:
                self._lobster_events = feeds.read_lobster(source[1])
            except (OSError, ValueError) as e:
                raise ValueError(f"input {self.input!r}: {e}") from None
        snap = None
        if snapshot is not None:
            snap = feeds.load_snapshot(snapshot, messages=self._lobster_events)
            if source[0] == "lobster":
                self._first_message = snap.first_message
            self.snapshot = {"source": snap.source, "first_message": snap.first_message,
                             "instruments": sorted(snap.books)}
        if seed_from_book is None:
            return snap, None
        try:
            path = os.fsdecode(os.fspath(seed_from_book))  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(f"seed_from_book must be the path of a LOBSTER orderbook file, got "
                            f"{seed_from_book!r}") from None
        if source[0] not in ("lobster", "feed"):
            raise ValueError(f"seed_from_book aligns orderbook rows with LOBSTER messages: it "
                             f"needs a 'lobster:PATH' (or 'feed') input, got {self.input!r}")
        if instruments != 1:
            raise ValueError(f"seed_from_book: a LOBSTER file is one instrument, the pipeline "
                             f"has instruments={instruments}")
        if not os.path.exists(path):
            raise ValueError(f"seed_from_book: no such file {path!r}")
        try:
            book = feeds.read_lobster_book(path)
        except OSError as e:
            raise ValueError(f"seed_from_book: cannot read {path!r}: {e.strerror}") from None
        except ValueError as e:
            raise ValueError(f"seed_from_book {path!r}: {e}") from None
        if not 1 <= book.levels <= 256:
            raise ValueError(f"seed_from_book {path!r}: 1 to 256 levels, the file has {book.levels}")
        n_msg = None if self._lobster_events is None else len(self._lobster_events)
        if n_msg is not None and n_msg != len(book):
            raise ValueError(f"seed_from_book {path!r}: {len(book)} rows, but the message file "
                             f"{source[1]!r} has {n_msg} messages (row i is the book after "
                             "message i: the two files must be a pair)")
        first = snap.first_message if snap is not None else 0
        if first >= len(book):
            raise ValueError(f"seed_from_book {path!r}: the snapshot is its last row: no message "
                             "is left to replay")
        self.seed_from_book = path
        return snap, (book.bid_px, book.bid_qty, book.ask_px, book.ask_qty, first)

    def _seed_snapshot(self, snap: Any, instruments: int) -> None:
        """Puts the snapshot into the native books (before start: this thread is their only
        writer until then)."""
        levels, orders = seed_books(self._nat, snap, instruments, "the pipeline")
        assert self.snapshot is not None
        self.snapshot.update(levels=levels, orders=orders)

    # -- lifecycle ------------------------------------------------------------------------

    def _open_journal(self, spec: str, path: str, records: str | None) -> str:
        """input="journal:DIR[?start=SEQ][&follow=1]": opens the JournalReader at SEQ before the run; the
        journal's dtype says what flows (MBO_DTYPE -> "mbo", TXN_DTYPE -> "txn"). ValueError
        naming the input for anything else (another dtype, a records= that disagrees, a
        start before the journal's first record, a damaged header)."""
        from velox._journal import JournalReader
        _, self._journal_start, self._journal_follow = journal_spec(spec)
        _check_first_records("journal", path)
        try:
            reader = JournalReader(path)
        except (OSError, ValueError) as e:
            raise ValueError(f"input {spec!r}: cannot open the journal: {e}") from None
        try:
            if reader.dtype == MBO_DTYPE:
                kind = "mbo"
            elif reader.dtype == TXN_DTYPE:
                kind = "txn"
            else:
                raise ValueError(f"input {spec!r}: the journal's records are {reader.dtype}, "
                                 "neither velox.MBO_DTYPE nor velox.TXN_DTYPE")
            if records is not None and records != kind:
                raise ValueError(f"input {spec!r} carries {kind} records "
                                 f"({'MBO_DTYPE' if kind == 'mbo' else 'TXN_DTYPE'}): records "
                                 f"must be {kind!r}, got {records!r}")
            if self._journal_start:
                reader.seek(self._journal_start)
        except (ValueError, TypeError) as e:
            reader.close()
            msg = str(e)
            raise ValueError(msg if msg.startswith("input ") else f"input {spec!r}: {msg}") from None
        self._journal = reader
        return kind

    @property
    def _nat(self) -> NativePipeline:
        if self._native is None:
            raise RuntimeError("the pipeline's native part is gone")
        return self._native

    def start(self) -> Pipeline:
        """Starts the native threads (and, with a callback and callback_thread=True, the
        drain thread); returns self. With a LiveVenue it first waits for the gateway to attach
        (LiveVenue.attach_timeout; when it does not: TimeoutError, nothing started, and what
        the pipeline holds released as by stop_unstarted(): the venue's rings closed and their
        names removed, so a failed start leaks no segment; make a new Pipeline to retry)."""
        if isinstance(self.venue, LiveVenue) and self._t_start is None:
            try:
                self.venue.wait_for_gateway()
            except TimeoutError:
                self.stop_unstarted()
                raise
        self._nat.start()
        self._t_start = time.perf_counter()
        if self._source[0] in FILE_INPUTS:
            self._reader = threading.Thread(
                target=read_file, args=(self, self._source[1]), name="velox-pipeline-reader",
                daemon=True)
            self._reader.start()
        elif self._source[0] == "shm":
            self._reader = threading.Thread(
                target=watch_input_ring, args=(self,), name="velox-pipeline-shm-watch", daemon=True)
            self._reader.start()
        if self.strategy_logs is not None:
            self._log_drainer = threading.Thread(
                target=drain_logs_loop, name="velox-pipeline-strategy-logs", daemon=True,
                args=(self._nat, self.strategy_logs, self._log_stop, self._drain_error))
            self._log_drainer.start()
        if self.journal is not None:
            self._drainer = threading.Thread(
                target=journal_loop, name="velox-pipeline-journal", daemon=True,
                args=(self._nat, self.journal, self.callback, self._drain_lock,
                      self._drain_stop, self._drain_error))
            self._drainer.start()
        elif self.callback is not None and self._callback_thread:
            self._drainer = threading.Thread(
                target=_drain_loop, name="velox-pipeline-drain", daemon=True,
                args=(self._nat, self.callback, self._drain_lock, self._drain_stop,
                      self._drain_error))
            self._drainer.start()
        return self

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._t_start is not None and self._final is None

    @property
    def finished(self) -> bool:
        """True once every stage has finished (after stop(), or max_txns reached)."""
        return self._nat.finished

    @property
    def book(self) -> BookView:
        """The live view of the pipeline's L2 book (best bid/ask, depth), readable while it
        runs: atomic level reads under the book's reader contract, no lock, nothing the book
        stage waits for. A multi-level answer is a recent view, not a snapshot."""
        return BookView(self._nat, self.strategy_logs)

    def feed(self, events: npt.NDArray[np.void], timeout: float | None = None) -> int:
        """Pushes a 1-D TXN_DTYPE array into the pipeline (input="feed"), waiting while the
        source ring is full (GIL released for large copies; sleeps 50 us between tries) up to
        timeout seconds (None: until all are in). Returns how many went in (all of them unless
        the timeout expired); counted in `fed`. Records are not trusted: the book rejects
        invalid ones (counters.rejected)."""
        if self._source[0] != "feed":
            raise RuntimeError(f"feed() needs Pipeline(input='feed'), this one has input={self.input!r}")
        if self._t_start is None or self._final is not None:
            raise RuntimeError("feed() needs a started, not yet stopped pipeline")
        if self._feed_closed:
            raise RuntimeError("feed() after close_feed(): the input is closed, nothing would "
                               "take these records")
        if self._stopping or self._nat.finished:
            raise RuntimeError("the pipeline finished: it takes no more input")
        return self._push(events, timeout)

    def _push(self, events: npt.NDArray[np.void], timeout: float | None) -> int:
        arr = np.ascontiguousarray(events)
        if arr.dtype != self._dtype or arr.ndim != 1:
            want = "MBO_DTYPE" if self.records == "mbo" else "TXN_DTYPE"
            raise TypeError(f"events must be a 1-D {want} array (records={self.records!r}), "
                            f"got {arr.dtype} with shape {arr.shape}")
        ring = self._feed_ring
        assert ring is not None
        deadline = None if timeout is None else time.perf_counter() + timeout
        done = 0
        with self._feed_lock:
            while done < len(arr) and not self._input_closed:  # closed: stop() counted the ring
                n = ring.push_many(arr[done:])
                done += n
                self.fed += n
                if done < len(arr):
                    if deadline is not None and time.perf_counter() >= deadline:
                        break
                    if self._nat.finished:
                        raise RuntimeError("the pipeline finished: it takes no more input")
                    time.sleep(0.00005)
        return done

    def close_feed(self) -> None:
        """input="feed": no more feed() calls (a later one raises RuntimeError); the run ends
        by itself once everything fed is through (finished, wait() returns)."""
        self._feed_closed = True
        self._nat.close_source()

    def _close_input_ring(self) -> None:
        """Closes the attached input SharedRing (its producer sees the consumer depart); the
        name stays: it is the creator's to remove. Call only once the threads are joined."""
        ring, self.input_ring = self.input_ring, None
        if ring is not None:
            ring.close()

    def _raise_drain_error(self) -> None:
        if self._drain_error:
            err = self._drain_error.pop()
            raise err

    def poll(self, max_bundles: int = 1024) -> int:
        """Hands waiting bundles to the callback (on this thread). Returns how many. With the
        drain thread running this only re-raises a callback exception it caught."""
        self._raise_drain_error()
        if self.callback is None or self.journal is not None:  # the journal thread drains
            return 0
        if self._drainer is not None and self._drainer.is_alive():
            return 0
        with self._drain_lock:
            return _drain_batches(self._nat, self.callback, max_bundles)

    def wait(self, timeout: float | None = None, poll_interval: float = 0.001) -> bool:
        """Waits (draining to the callback) until the pipeline finishes by itself (max_txns,
        the end of a file or a closed feed) or timeout seconds pass. Returns finished.
        Raises InputError once the file input failed (a bad record, a truncated file)."""
        done = self._wait_finished(timeout, poll_interval)
        self._raise_input_error(None)
        return done

    def _wait_finished(self, timeout: float | None, poll_interval: float = 0.001) -> bool:
        """wait() without raising (a failed reader closes the source: the run then ends)."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        while not self._nat.finished:
            if deadline is not None and time.perf_counter() >= deadline:
                return False
            if not self.poll():
                time.sleep(poll_interval)
        return True

    def _raise_input_error(self, report: dict[str, Any] | None) -> None:
        if self._reader_error:
            err = self._reader_error[0]
            raise InputError(f"input {self.input!r} failed: {type(err).__name__}: {err}",
                             report) from err

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """Stops ingress, drains every ring (handing bundles to the callback), joins the
        threads and returns the final report. Idempotent. If the drain takes longer than
        timeout seconds (e.g. a callback that never returns), the stages are abandoned and
        the report says so (conservation then fails)."""
        if self._final is not None:
            return self._final
        if self._t_start is None:
            raise RuntimeError("the pipeline was never started")
        self._t_stop = time.perf_counter()
        native = self._nat
        self._stopping = True
        if self._reader is not None:
            self._reader.join(READER_JOIN_S)
            # still alive: a parser blocked in open() or read() of a silent FIFO; it is left
            # behind (a daemon thread) and the input reported as abandoned
            self._input_abandoned = self._reader.is_alive() and self._source[0] in FILE_INPUTS
            self._reader = None
        if self._feed_lock.acquire(timeout=5.0):  # a push holds it for <= 50 ms
            self._input_closed = True  # from here on nothing enters the source ring
            self._feed_lock.release()
        native.stop()
        abandoned = True
        try:
            abandoned = not self._wait_finished(timeout)
            self.poll()  # with callback_thread=False: what the last wait() turn left
        finally:  # also when the callback raised: never leave threads writing
            if not native.finished:
                native.abandon()
            native.join()
            self._stop_drainer()  # its last drain runs after the join: sees every bundle
            self._stop_log_drainer()  # likewise: every strategy log record
            try:
                self.poll()  # re-raises what the callback raised on the drain thread
            finally:
                self._strategy_final = self._strategy_state()
                if isinstance(self.venue, LiveVenue):
                    self.venue.close(unlink=not self._keep_shm)
                self._close_fd()
                self._close_shm(unlink=not self._keep_shm)
                if self.journal is not None:
                    self.journal.close()
                self._final = self.report(final=True)
                self._close_input_ring()
                self._final["abandoned"] = abandoned
                c = self._final["counters"]
                if c["source_errors"]:  # the source ring broke: what was lost is unknown
                    self._final["input_error"] = (
                        f"the source ring{' ' + repr(self._source[1]) if self._source[0] == 'shm' else ''} "
                        f"broke its invariant ({c['source_status']}: its other side wrote "
                        "indices out of range); the source ended there")
                    self._final["conservation_ok"] = False
                    self._final["conservation_failures"].append(self._final["input_error"])
                missing = (self._final.get("itch") or {}).get("missing")
                if missing:  # the user asked for data that the file does not have
                    self._final.setdefault("warnings", []).append(
                        _missing_symbols_warning(missing, self._final["itch"],
                                                 self._itch_directory or {}))
                if self._reader_error:  # the file reader failed: the run did not see it all
                    err = self._reader_error[0]
                    self._final["input_error"] = f"{type(err).__name__}: {err}"
                    self._final["conservation_ok"] = False
                    self._final["conservation_failures"].append(
                        f"input reader failed: {self._final['input_error']}")
                self._final["input_abandoned"] = self._input_abandoned
                _judge(self._final)
        self._raise_input_error(self._final)
        return self._final

    def stop_unstarted(self) -> None:
        """Releases what a Pipeline that never started holds (its live venue's rings, an
        output ring, the output file); the Pipeline cannot start afterwards."""
        if self._t_start is not None:
            raise RuntimeError("stop_unstarted(): the pipeline started; use stop()")
        self._native = None  # the native part drops its rings' roles first
        if isinstance(self.venue, LiveVenue):
            self.venue.close(unlink=not self._keep_shm)
        self._close_fd()
        self._close_shm(unlink=not self._keep_shm)
        self._close_input_ring()

    def _stop_log_drainer(self) -> None:
        drainer, self._log_drainer = self._log_drainer, None
        if drainer is not None:
            self._log_stop.set()
            drainer.join()
        elif self.strategy_logs is not None and self._native is not None:
            self.strategy_logs.take(self._native)  # never started: nothing, or a last pass

    def _strategy_state(self) -> dict[str, Any] | None:
        """After the join: the host's own account (counters, positions, orders still working,
        its conservation check)."""
        if self.strategy is None or self._native is None or self._t_start is None:
            return None
        n = self._native
        out = {"counters": n.strategy_counters(), "positions": n.strategy_positions(),
               "working_at_end": n.strategy_working(), "check_failed": n.strategy_check()}
        sim = n.sim_counters()
        if sim is not None:  # the simulated venue: the backtest's own counters
            out["backtest"], out["sim_venue"] = sim["backtest"], sim["venue"]
        return out

    @property
    def orders(self) -> npt.NDArray[np.void]:
        """The strategy's orders as sent (ORDER_DTYPE), drained so far (all after stop())."""
        return self._logs().array("orders")

    @property
    def execs(self) -> npt.NDArray[np.void]:
        """The execution reports the strategy received (EXEC_DTYPE; ts_local = its clock)."""
        return self._logs().array("execs")

    @property
    def pnl(self) -> npt.NDArray[np.void]:
        """The P&L series (PNL_DTYPE points: one per fill, and per pnl interval)."""
        return self._logs().array("pnl")

    def _logs(self) -> StrategyLogs:
        if self.strategy_logs is None:
            raise RuntimeError("this pipeline hosts no strategy of ABI v2 (stage=<v2 strategy>, "
                               "venue=velox.LiveVenue(...))")
        return self.strategy_logs

    def _stop_drainer(self) -> None:
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            self._drain_stop.set()
            drainer.join()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _close_shm(self, unlink: bool) -> None:
        """Closes the output SharedRing (its consumer sees the producer depart) and, if
        unlink, removes its name. Call only once the output thread is joined."""
        ring, self.output_ring = self.output_ring, None
        if ring is None:
            return
        name = ring.name
        ring.close()
        if unlink:
            try:
                _unlink_shm(name)
            except FileNotFoundError:  # someone else removed it already
                pass

    def __del__(self) -> None:
        native = getattr(self, "_native", None)
        if (native is not None and getattr(self, "_t_start", None) is not None
                and getattr(self, "_final", None) is None):
            # started, never stopped: the native threads may still write to the output fd
            # (and a file opened meanwhile would get that fd number): quit, join, then close
            native.abandon()
            native.join()
            self._stop_drainer()
            self._stop_log_drainer()
        if getattr(self, "_fd", -1) >= 0:
            self._close_fd()
        if getattr(self, "input_ring", None) is not None:
            try:
                self._close_input_ring()
            except RuntimeError:  # still in use (the native pipeline is referenced elsewhere)
                pass
        if getattr(self, "output_ring", None) is not None:
            # never stopped: dropping the native pipeline abandons and joins its threads
            # (when nothing else references it), after which the ring can be closed
            self._native = None
            try:
                self._close_shm(unlink=not self._keep_shm)
            except RuntimeError:  # still in use (the native pipeline is referenced elsewhere)
                pass

    # -- measurement ----------------------------------------------------------------------

    def histogram(self, name: str) -> Histogram:
        """Snapshot of a latency histogram (velox.Histogram, ns): one of
        ingress_to_book, book_to_bundler, ingress_to_bundler, bundle_to_output,
        end_to_end, ingress_lateness."""
        return self._nat.histogram(name)

    def counters(self) -> dict[str, Any]:
        return self._nat.counters()

    def stats(self) -> dict[str, Any]:
        """Live report (counters are a recent snapshot while running)."""
        self.poll()
        return self.report(final=False)
    def report(self, final: bool = False) -> dict[str, Any]:
        """The machine-readable report (what --json writes)."""
        return build_report(self, final)


def seed_books(native: Any, snap: Any, instruments: int, owner: str) -> tuple[int, int]:
    """Puts a velox.feeds.Snapshot into books through ``native``'s ``apply_before_start``
    (MBO_DTYPE events, in order) and ``seed_level`` (LEVEL_DTYPE lots), before the replay
    starts (NativePipeline, velox._backtest.NativeBacktest). Returns (levels seeded, orders
    applied). ValueError naming the instrument or level the books refuse; ``owner`` names
    what has the books in the messages ("the pipeline", "the backtest")."""
    levels = orders = 0
    for inst, arr in sorted(snap.books.items()):
        if inst >= instruments:
            raise ValueError(f"snapshot names instrument {inst}, but {owner} has "
                             f"instruments={instruments} (ids 0 .. {instruments - 1})")
        if arr.dtype == MBO_DTYPE:
            native.apply_before_start(arr)
            orders += len(arr)
            continue
        for side, price, qty in zip(arr["side"].tolist(), arr["price"].tolist(),
                                    arr["qty"].tolist()):
            if qty:
                try:
                    native.seed_level(inst, side, price, qty)
                except ValueError:
                    raise ValueError(
                        f"snapshot level {'bid' if side == 0 else 'ask'} "
                        f"{price / PRICE_SCALE:.8g} x {qty} (instrument {inst}) was refused: "
                        "off the tick grid or outside the book's window (raise levels, or "
                        "check tick_size)") from None
                levels += 1
    return levels, orders


def _open_dbn(path: str, instruments: int) -> Any:
    """input="dbn:PATH": reads the DBN header now (velox.feeds.read_dbn; reuse=True: the reader
    thread copies each chunk into the source ring). Refuses, naming the id, a file whose
    metadata maps an instrument_id outside the pipeline's books (0 .. instruments - 1): the
    DBN instrument_id is the book index. ValueError naming the input."""
    from velox.feeds import read_dbn
    try:
        reader = read_dbn(path, reuse=True)
    except (OSError, ValueError) as e:
        raise ValueError(f"input 'dbn:{path}': {e}") from None
    try:
        ids = reader.instruments()
    except ValueError as e:
        reader.close()
        raise ValueError(f"input 'dbn:{path}': {e}") from None
    big = sorted(i for i in ids if i >= instruments)
    if big:
        reader.close()
        raise ValueError(
            f"input 'dbn:{path}': the metadata maps instrument_id {big[-1]} ({ids[big[-1]]}), "
            f"outside the pipeline's {instruments} book(s) (ids 0 .. {instruments - 1}): pass "
            f"instruments={big[-1] + 1} (--instruments {big[-1] + 1}); the DBN instrument_id "
            "is the book index")
    return reader
