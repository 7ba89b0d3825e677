"""Sweep benchmark: velox.sweep's local pool and a Dask cluster next to one process and a
hand-rolled multiprocessing.Pool loop (what users of other engines write), in one run.

    python benchmarks/bench_sweep.py --fast         # quick look (smaller days, fewer values)
    python benchmarks/bench_sweep.py -o sweep.json  # full pyperf run

The work: DAYS generated ITCH days (velox.feedgen.write_itch_file, 4 symbols, MESSAGES (5 M; --fast 150,000)
messages each, seeds 1..DAYS, cached under ~/.cache/velox-bench/) x 4 parameter sets of
builtin:quote (size 1, 2 x max_position 5, 10) = 8 backtests of about 1 s each on a quiet CPU.
Cases (each loop = the whole case, pool start-up included):
  (a) one process: one backtest (day 1, size 1, max_position 5) in the pyperf worker;
  (b) velox.sweep, local pool (one pinned process per usable CPU), the 8 backtests;
  (c) hand-rolled: multiprocessing.Pool(n CPUs).map over the 8 (input, params) pairs calling
      velox.backtest and returning its summary (fork context, unpinned: the usual loop);
  (d) velox.sweep through a Dask cluster on loopback (a scheduler and one `--nthreads 1`
      worker per CPU, separate processes started once per pyperf worker, not timed).
Printed after the pyperf table: summed throughput = events of the 8 / the case's wall; its
ratio to (a)'s events/s (target >= 1.8x on 2 cores); scheduling overhead of (b), (c), (d) =
(wall - sum of the task walls / workers) / wall (target <= 5 % for tasks of >= 1 s). The task
walls come from the rows (velox) or from each call's own clock (hand-rolled), written by the
pyperf workers to a side file. Share of the machine: print /proc/loadavg beside the figures.

Every pool process imports this script (as __mp_main__: multiprocessing's forkserver and spawn
import the caller's main script in each process they start, at every sweep), so its top level
imports only what the tasks need; pyperf and the Dask helpers are imported where they are used
(docs/sweeps.md gives users the same advice).
"""

import json
import multiprocessing
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ is None:  # run from a source checkout: import the in-place build
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # dask_cluster: shared with the Dask test

import velox  # noqa: E402
from velox.feedgen import symbol_names, write_itch_file  # noqa: E402
from velox.sweep._run import usable_cpus  # noqa: E402

DAYS = 2
FULL_MESSAGES, FAST_MESSAGES = 5_000_000, 150_000  # full: tasks of >= 1 s on a quiet CPU
SYMBOLS = 4
GRID = {"size": [1, 2], "max_position": [5, 10]}
CACHE = os.path.expanduser("~/.cache/velox-bench")
SIDE = os.path.join(tempfile.gettempdir(), f"bench_sweep_{os.getpid()}.jsonl")  # --side


def day_specs(messages):
    os.makedirs(CACHE, exist_ok=True)
    syms = ",".join(symbol_names(SYMBOLS))
    specs = []
    for seed in range(1, DAYS + 1):
        path = os.path.join(CACHE, f"sweep-day-{messages}-{seed}.itch")
        if not os.path.exists(path):
            write_itch_file(path + ".tmp", messages, SYMBOLS, seed=seed)
            os.rename(path + ".tmp", path)
        specs.append(f"itch:{path}?symbols={syms}")
    return specs


def pairs(specs):
    return [(spec, {"size": s, "max_position": m}) for spec in specs
            for s in GRID["size"] for m in GRID["max_position"]]


def _side(case, wall, task_walls, events, workers):
    with open(SIDE, "a") as f:
        f.write(json.dumps({"case": case, "wall": wall, "task_walls": task_walls,
                            "events": events, "workers": workers}) + "\n")


def hand_task(pair):
    spec, params = pair
    t0 = time.perf_counter()
    s = velox.backtest(spec, "builtin:quote", stage_args=params).summary()
    return time.perf_counter() - t0, s["events"]


def bench_one(loops, specs):
    total = 0.0
    for _ in range(loops):
        t0 = time.perf_counter()
        s = velox.backtest(specs[0], "builtin:quote", stage_args={"size": 1, "max_position": 5}).summary()
        wall = time.perf_counter() - t0
        total += wall
        _side("one", wall, [wall], s["events"], 1)
    return total


def bench_pool(loops, specs):
    total = 0.0
    for _ in range(loops):
        t0 = time.perf_counter()
        r = velox.sweep(specs, "builtin:quote", GRID, progress=False)
        wall = time.perf_counter() - t0
        assert r.ok, r.verdict
        total += wall
        _side("velox pool", wall, r.rows["wall_s"].tolist(), int(r.rows["events"].sum()),
              len(usable_cpus()))
    return total


def bench_hand(loops, specs):
    total = 0.0
    n = len(usable_cpus())
    for _ in range(loops):
        t0 = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(n) as pool:
            out = pool.map(hand_task, pairs(specs), chunksize=1)
        wall = time.perf_counter() - t0
        total += wall
        _side("hand-rolled Pool", wall, [w for w, _ in out], sum(e for _, e in out), n)
    return total


def bench_dask(loops, specs):
    import distributed
    from dask_cluster import LoopbackCluster
    n = len(usable_cpus())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    cluster = LoopbackCluster(n, env=env, cwd=ROOT)
    client = distributed.Client(cluster.address, timeout=60)
    try:
        velox.sweep(specs[:1], "builtin:quote", {"size": [1]}, executor=client)  # warm
        total = 0.0
        for _ in range(loops):
            t0 = time.perf_counter()
            r = velox.sweep(specs, "builtin:quote", GRID, executor=client.get_executor(),
                            progress=False)
            wall = time.perf_counter() - t0
            assert r.ok, r.verdict
            total += wall
            _side("velox on Dask", wall, r.rows["wall_s"].tolist(), int(r.rows["events"].sum()), n)
    finally:
        client.close()
        cluster.close()
    return total


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


def report():
    with open(SIDE) as f:
        runs = [json.loads(line) for line in f]
    by = {}
    for run in runs:
        by.setdefault(run["case"], []).append(run)
    one = median([r["events"] / r["wall"] for r in by.get("one", [])])
    print(f"\nload: {open('/proc/loadavg').read().split()[:3]}; usable CPUs: {len(usable_cpus())}")
    print(f"(a) one process, one backtest: {one / 1e6:.3f} M events/s (median of {len(by.get('one', []))})")
    for case in ("velox pool", "hand-rolled Pool", "velox on Dask"):
        rs = by.get(case, [])
        if not rs:
            continue
        rate = median([r["events"] / r["wall"] for r in rs])
        over = median([(r["wall"] - sum(r["task_walls"]) / r["workers"]) / r["wall"] for r in rs])
        task = median([w for r in rs for w in r["task_walls"]])
        print(f"{case}: {len(rs[0]['task_walls'])} backtests, summed {rate / 1e6:.3f} M events/s "
              f"= {rate / one:.2f}x (a); scheduling overhead {100 * over:.1f} % of the wall "
              f"(median task {task:.2f} s; median of {len(rs)})")


def _worker_args(cmd, args):
    cmd.extend(["--side", args.side])


def main():
    from _pyperf import Runner
    global SIDE
    runner = Runner(processes=3, values=3, warmups=1, add_cmdline_args=_worker_args)
    runner.argparser.add_argument("--side", default=SIDE, help="the task walls' side file")
    args = runner.parse_args()
    SIDE = args.side
    messages = FAST_MESSAGES if args.fast else FULL_MESSAGES
    specs = day_specs(messages)
    if not args.worker and os.path.exists(SIDE):
        os.unlink(SIDE)
    runner.metadata["description"] = (f"{DAYS} ITCH days x {messages:,} messages x 4 parameter "
                                      "sets, builtin:quote")
    runner.bench_time_func("(a) one backtest, one process", bench_one, specs)
    runner.bench_time_func("(b) velox.sweep local pool, 8 backtests", bench_pool, specs)
    runner.bench_time_func("(c) hand-rolled multiprocessing.Pool, 8 backtests", bench_hand, specs)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("(d) skipped: pip install 'velox[dask]'")
    else:
        runner.bench_time_func("(d) velox.sweep on a Dask cluster, 8 backtests", bench_dask, specs)
    if not args.worker:
        report()


if __name__ == "__main__":
    main()
