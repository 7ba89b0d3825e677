"""Backtest benchmark: velox.backtest next to hftbacktest 2.4.4 on one market-by-order stream,
in one run, replay only and with the same quoting strategy.

    python benchmarks/bench_backtest.py --fast          # quick look (100,000-message stream)
    python benchmarks/bench_backtest.py -o bt.json      # full pyperf run (2,000,000 messages)

The stream: one instrument's LOBSTER-representable day from velox.feedgen (seed 1), generated
once and cached under ~/.cache/velox-bench/ (generation runs at about 0.03-0.25 M messages/s,
minutes for the full size), with its hftbacktest conversion beside it (tests/hbt_quote.py:
add -> ADD_ORDER, partial cancel -> MODIFY_ORDER with the remaining size, delete ->
CANCEL_ORDER, execute -> FILL then CANCEL/MODIFY, hidden trades dropped).
Cases (each loop = the whole stream into a fresh backtest, set-up included):
  (a) velox replay only: velox.backtest with the builtin script strategy given no orders;
  (b) velox quoting: velox.backtest, builtin:quote (size 1, max_position 10), SimVenue with
      constant latency (entry and response 10 us), no fees;
  (a) and (b) get the stream with F_LAST on the last event of each timestamp and
      edges='flag': the strategy runs once per timestamp, as hftbacktest's does;
  (c) hftbacktest replay only: HashMapMarketDepthBacktest (L3 FIFO queue model,
      no-partial-fill exchange, constant order latency), a numba loop of wait_next_feed that
      reads the top of the book;
  (d) hftbacktest quoting: the same quoting logic as velox's builtin:quote in numba
      (tests/hbt_quote.py `quote`), same latencies.
events/s = MBO events of the stream / seconds, for all four (hftbacktest reads a few more
rows: an execute is two of its events). hftbacktest's numba functions are compiled (on a
1,000-row prefix) in each worker before timing; 3 worker processes x (1 warm-up + 3 values) of
one whole-day loop each (--fast: pyperf's fewer). Targets (issue 20): (b) >= 15 M events/s on one
thread; (b) >= 10x (d); the venue and positions add <= 10 ns/event over (a).
"""

import os
import sys
import time

import numpy as np
import pyperf
from _pyperf import Runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ is None:  # run from a source checkout: import the in-place build
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # hbt_quote: shared with the cross-check test

import velox  # noqa: E402
from velox import MBO_DTYPE  # noqa: E402
from velox.feedgen import lobster_events  # noqa: E402

import hbt_quote  # noqa: E402

SEED = 1
FULL_MESSAGES = 2_000_000
FAST_MESSAGES = 100_000
ENTRY_LATENCY_NS = 10_000
RESPONSE_LATENCY_NS = 10_000
SIZE, MAX_POSITION = 1, 10
LEVELS = 4096
CACHE = os.path.expanduser("~/.cache/velox-bench")


def n_messages():
    return FAST_MESSAGES if "--fast" in sys.argv else FULL_MESSAGES


def load_stream(n):
    """(MBO_DTYPE events, hftbacktest events) of the n-message stream, from the cache (made
    once, by the first process that needs it: pyperf's workers find it there)."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"lobster-{n}-seed{SEED}.mbo")
    if not os.path.exists(path):
        t0 = time.perf_counter()
        events = lobster_events(n, seed=SEED)
        tmp = f"{path}.{os.getpid()}.tmp"
        events.tofile(tmp)
        os.replace(tmp, path)
        print(f"generated {len(events):,} events in {time.perf_counter() - t0:.0f} s -> {path}",
              file=sys.stderr)
    # F_LAST on the last event of each timestamp: velox's strategy runs once per timestamp
    # (edges='flag'), where hftbacktest's wait_next_feed returns
    events = hbt_quote.with_timestamp_edges(np.fromfile(path, dtype=MBO_DTYPE))
    hpath = path[:-4] + ".hbt.npy"
    if not os.path.exists(hpath):
        tmp = f"{hpath}.{os.getpid()}.tmp.npy"
        np.save(tmp, hbt_quote.to_hftbacktest(events))
        os.replace(tmp, hpath)
    return events, np.load(hpath)


EVENTS, HBT_EVENTS = load_stream(n_messages())
N_EVENTS = len(EVENTS)
HAVE_VELOX_BACKTEST = hasattr(velox, "backtest")


def velox_kwargs():
    return dict(tick=0.01, levels=LEVELS, max_orders=1 << 20, edges="flag")


def velox_run(stage, stage_args):
    """One velox.backtest over the stream; returns its result."""
    venue = velox.SimVenue(entry_latency_ns=ENTRY_LATENCY_NS,
                           response_latency_ns=RESPONSE_LATENCY_NS, maker_fee=0, taker_fee=0)
    return velox.backtest(EVENTS, stage, stage_args=stage_args, venue=venue, seed=0,
                          **velox_kwargs())


def bench_velox_replay(loops):
    no_orders = np.zeros(0, velox.ORDER_DTYPE)
    t = 0.0
    for _ in range(loops):
        t0 = pyperf.perf_counter()
        velox_run("builtin:script", {"orders": no_orders})
        t += pyperf.perf_counter() - t0
    return t


def bench_velox_quote(loops):
    t = 0.0
    for _ in range(loops):
        t0 = pyperf.perf_counter()
        velox_run("builtin:quote", {"size": SIZE, "max_position": MAX_POSITION})
        t += pyperf.perf_counter() - t0
    return t


_WARM = {}


def _warm(kind):
    """Compile the numba function on a small prefix (not timed), once per worker."""
    if kind not in _WARM:
        head = HBT_EVENTS[:1000]
        if kind == "replay":
            hbt_quote.run_replay(head)
        else:
            hbt_quote.run_quote(head, size=SIZE, max_position=MAX_POSITION,
                                entry_latency_ns=ENTRY_LATENCY_NS,
                                response_latency_ns=RESPONSE_LATENCY_NS)
        _WARM[kind] = True


def bench_hbt_replay(loops):
    _warm("replay")
    t = 0.0
    for _ in range(loops):
        t0 = pyperf.perf_counter()
        hbt_quote.run_replay(HBT_EVENTS)
        t += pyperf.perf_counter() - t0
    return t


def bench_hbt_quote(loops):
    _warm("quote")
    t = 0.0
    for _ in range(loops):
        t0 = pyperf.perf_counter()
        hbt_quote.run_quote(HBT_EVENTS, size=SIZE, max_position=MAX_POSITION,
                            entry_latency_ns=ENTRY_LATENCY_NS,
                            response_latency_ns=RESPONSE_LATENCY_NS)
        t += pyperf.perf_counter() - t0
    return t


CASES = [
    ("(a) velox replay only", bench_velox_replay, True),
    ("(b) velox quote + SimVenue", bench_velox_quote, True),
    ("(c) hftbacktest replay only", bench_hbt_replay, False),
    ("(d) hftbacktest quote (numba)", bench_hbt_quote, False),
]


def cpu_seconds(func):
    """CPU seconds of this process for one loop of a case (after a warm-up loop): on a
    loaded machine the wall-clock figures include time spent waiting for a CPU; this does
    not (all four cases run on this one thread)."""
    func(1)
    t0 = time.process_time()
    func(1)
    return time.process_time() - t0


def describe_runs():
    """What each strategy did (one more run of each), so the figures can be read."""
    lines = []
    h = hbt_quote.run_quote(HBT_EVENTS, size=SIZE, max_position=MAX_POSITION,
                            entry_latency_ns=ENTRY_LATENCY_NS,
                            response_latency_ns=RESPONSE_LATENCY_NS)
    lines.append(f"hftbacktest quote: {h['feeds']:,} feed timestamps, {h['sent']:,} orders, "
                 f"{h['cancels']:,} cancels ({h['cancel_refused']:,} refused while a NEW was "
                 f"in flight), {h['num_trades']:,} fills, position {h['position']:+.0f}, "
                 f"P&L {h['pnl']:.2f}")
    if HAVE_VELOX_BACKTEST:
        r = velox_run("builtin:quote", {"size": SIZE, "max_position": MAX_POSITION})
        lines.append(f"velox quote: {r.summary()}")
    return lines


def main():
    # each loop is a whole day (seconds), and every worker process compiles hftbacktest's
    # numba functions (tens of seconds; numba cannot cache functions of its jitclasses):
    # few processes, one loop per value
    runner = Runner(processes=3, values=3, warmups=1, loops=1)
    runner.metadata["stream"] = (f"LOBSTER-representable day, {N_EVENTS} MBO events "
                                 f"({len(HBT_EVENTS)} hftbacktest rows), seed {SEED}")
    results = {}
    for name, func, needs_velox in CASES:
        if needs_velox and not HAVE_VELOX_BACKTEST:
            continue
        bench = runner.bench_time_func(name, func, inner_loops=N_EVENTS)
        if bench is not None and not runner.args.worker:
            results[name] = bench.median()
    if runner.args.worker or not results:
        return
    print()
    counts = {a.name: int((EVENTS["action"] == a).sum()) for a in velox.Action
              if (EVENTS["action"] == a).any()}
    print(f"stream: {N_EVENTS:,} MBO events {counts}; hftbacktest reads {len(HBT_EVENTS):,} "
          f"rows; latency entry {ENTRY_LATENCY_NS} ns, response {RESPONSE_LATENCY_NS} ns")
    for line in describe_runs():
        print(line)
    cpu = {}
    for name, func, needs_velox in CASES:
        if name in results:
            cpu[name] = cpu_seconds(func) / N_EVENTS
    print(f"{'case':34} {'ns/event':>10} {'M events/s':>12} {'CPU ns/event':>13} "
          f"{'M events/CPU-s':>15}")
    for name, t in results.items():
        print(f"{name:34} {t * 1e9:10.1f} {1 / t / 1e6:12.2f} {cpu[name] * 1e9:13.1f} "
              f"{1 / cpu[name] / 1e6:15.2f}")
    hr, hq = results[CASES[2][0]], results[CASES[3][0]]
    print(f"hftbacktest: quoting adds {(hq - hr) * 1e9:+.1f} ns/event over its replay")
    if not HAVE_VELOX_BACKTEST:
        print("velox.backtest is not in this build: cases (a), (b) and the targets not run")
        return
    vr, vq = results[CASES[0][0]], results[CASES[1][0]]
    cr, cq = cpu[CASES[2][0]] / cpu[CASES[0][0]], cpu[CASES[3][0]] / cpu[CASES[1][0]]
    print(f"velox replay / hftbacktest replay:   {hr / vr:.1f}x (CPU time: {cr:.1f}x)")
    print(f"velox quote / hftbacktest quote:     {hq / vq:.1f}x (CPU time: {cq:.1f}x)")
    print(f"target (b) >= 15 M events/s:          {1 / vq / 1e6:.2f} M/s "
          f"({'met' if 1 / vq >= 15e6 else 'NOT met'})")
    print(f"target (b) >= 10x hftbacktest (d):    {hq / vq:.1f}x "
          f"({'met' if hq / vq >= 10 else 'NOT met'})")
    extra = (vq - vr) * 1e9
    extra_cpu = (cpu[CASES[1][0]] - cpu[CASES[0][0]]) * 1e9
    print(f"target venue + positions <= 10 ns/event over replay: {extra:+.1f} ns/event "
          f"({'met' if extra <= 10 else 'NOT met'}; medians of two pyperf runs; CPU time: "
          f"{extra_cpu:+.1f} ns/event, one loop each)")


if __name__ == "__main__":
    main()
