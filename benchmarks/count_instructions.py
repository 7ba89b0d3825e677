"""Instructions per Python-level call, counted with callgrind (stable on a loaded machine).

    python benchmarks/count_instructions.py                  # every case
    python benchmarks/count_instructions.py txnring.item set  # some cases
    python benchmarks/count_instructions.py --functions set   # + per-function breakdown

Each case runs its statement in a loop ``for _ in itertools.repeat(None, n)`` (no int
allocation per iteration) inside a function, under ``valgrind --tool=callgrind``, for two
values of n; (Ir(n2) - Ir(n1)) / (n2 - n1) is the cost of one iteration, start-up cancelled
out. ``loop`` (an empty body) is the loop's own cost; the table subtracts it. Needs valgrind
(``apt-get install valgrind``); wall-clock figures are in bench_ring.py / bench_orderbook.py.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

# name -> (setup, statement). Setup runs once in the function; the statement runs n times.
CASES = {
    "loop": ("", "pass"),
    "deque.item": ("import collections; d = collections.deque(); push, pop = d.append, d.popleft",
                   "push(t); pop()"),
    "simplequeue.item": ("import queue; q = queue.SimpleQueue(); push, pop = q.put, q.get",
                         "push(t); pop()"),
    "spscring.item": ("r = velox.SpscRing(4096); push, pop = r.try_push, r.try_pop",
                      "push(t); pop()"),
    "txnring.item": ("r = velox.TxnRing(4096); push, pop = r.try_push, r.try_pop",
                     "push(t); pop()"),
    "txnring.item.method": ("r = velox.TxnRing(4096)", "r.try_push(t); r.try_pop()"),
    "txnring.item.blocking": ("r = velox.TxnRing(4096); push, pop = r.push, r.pop",
                              "push(t); pop()"),
    "txnring.push": ("r = velox.TxnRing(1 << 22); push = r.try_push", "push(t)"),
    "txnring.pop_empty": ("r = velox.TxnRing(4096); pop = r.try_pop", "pop()"),
    "set": ("b = velox.OrderBook(1024, 1_000_000, 10_000_000_000); s = b.set",
            "s(0, 10_005_000_000, 7)"),
    "set.method": ("b = velox.OrderBook(1024, 1_000_000, 10_000_000_000)",
                   "b.set(0, 10_005_000_000, 7)"),
    "best_bid": ("b = velox.OrderBook(1024, 1_000_000, 10_000_000_000); "
                 "b.set(0, 10_005_000_000, 7); bb = b.best_bid", "bb()"),
    "order_book.set": ("from order_book import OrderBook; ob = OrderBook(); bids = ob.bids",
                       "bids[100.05] = 7"),
    "dict.set": ("d = {}", "d[10_005_000_000] = 7"),
}

# The benchmarks' own loops: name -> (script in benchmarks/, function, operations per loop
# (an attribute of that module or a number), loops for run 1, loops for run 2).
BENCH_LOOPS = {
    "bench.ring.txnring": ("bench_ring", "bench_txnring_item", "PAIRS", 500, 5500),
    "bench.ring.spscring": ("bench_ring", "bench_ring_item", "PAIRS", 500, 5500),
    "bench.ring.simplequeue": ("bench_ring", "bench_simplequeue_item", "PAIRS", 500, 5500),
    "bench.ring.deque": ("bench_ring", "bench_deque_item", "PAIRS", 500, 5500),
    "bench.ob.velox_set": ("bench_orderbook", "bench_velox_set", "N_UPDATES", 1, 3),
    "bench.ob.order_book": ("bench_orderbook", "bench_order_book", "N_UPDATES", 1, 3),
    "bench.ob.dict": ("bench_orderbook", "bench_dict", "N_UPDATES", 1, 3),
}
BENCH_SCRIPT = """
import os, sys
sys.path.insert(0, {bench_dir!r})
import {module} as m
m.{function}(int(sys.argv[1]))
"""

SCRIPT = """
import sys
from itertools import repeat
import velox

def run(n):
    t = velox.Transaction(seq=1, price=100, qty=5)  # a local: free-threaded 3.13 does not
    {setup}  # specialise global loads, which would dwarf the calls measured
    for _ in repeat(None, n):
        {stmt}

run(int(sys.argv[1]))
"""

BENCH_N_UPDATES = 100_000  # bench_orderbook's stream length under valgrind
LINE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\S.*?)\s*$")


def callgrind(case, n, functions):
    if case in BENCH_LOOPS:
        module, function = BENCH_LOOPS[case][:2]
        script = BENCH_SCRIPT.format(bench_dir=os.path.dirname(os.path.abspath(__file__)),
                                     module=module, function=function)
    else:
        setup, stmt = CASES[case]
        script = SCRIPT.format(setup=setup or "pass", stmt=stmt)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1",
                   VELOX_BENCH_N_UPDATES=str(BENCH_N_UPDATES))
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        sys.executable, "-c", script, str(n)],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        total = None
        with open(out) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
        per_function = {}
        if functions:
            text = subprocess.run(["callgrind_annotate", "--threshold=100", out],
                                  check=True, capture_output=True, text=True).stdout
            for line in text.splitlines():
                m = LINE.match(line)
                if m and "PROGRAM TOTALS" not in line:
                    name = m.group(2).split(":", 1)[-1]
                    per_function[name] = per_function.get(name, 0) + int(m.group(1).replace(",", ""))
        return total, per_function


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("cases", nargs="*",
                    help=f"default: all of {', '.join(CASES)}; also {', '.join(BENCH_LOOPS)}")
    ap.add_argument("--n1", type=int, default=20_000)
    ap.add_argument("--n2", type=int, default=220_000)
    ap.add_argument("--functions", action="store_true", help="per-function instructions per iteration")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("count_instructions.py needs valgrind (apt-get install valgrind)")
    cases = args.cases or list(CASES)
    unknown = [c for c in cases if c not in CASES and c not in BENCH_LOOPS]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; known: {list(CASES) + list(BENCH_LOOPS)}")
    if "loop" not in cases:
        cases.insert(0, "loop")
    per_iter = {}
    for case in cases:
        if case in BENCH_LOOPS:
            module, _, per_loop, n1, n2 = BENCH_LOOPS[case]
            ops = {"PAIRS": 10, "N_UPDATES": BENCH_N_UPDATES}.get(per_loop, per_loop)
            dn = (n2 - n1) * ops
        else:
            n1, n2 = args.n1, args.n2
            dn = n2 - n1
        try:
            (a, fa), (b, fb) = (callgrind(case, n, args.functions) for n in (n1, n2))
        except subprocess.CalledProcessError:
            print(f"{case:<24} failed (missing package?)")
            continue
        per_iter[case] = (b - a) / dn
        if args.functions and case != "loop":
            rows = sorted(((fb.get(k, 0) - fa.get(k, 0)) / dn, k) for k in set(fa) | set(fb))
            print(f"{case}:")
            for v, k in reversed(rows):
                if v >= 2:
                    print(f"    {v:8.1f}  {k}")
    loop = per_iter.get("loop", 0.0)
    print(f"{sys.version.split()[0]} {sys.implementation.name}"
          f"{' free-threading' if not getattr(sys, '_is_gil_enabled', lambda: True)() else ''}")
    print(f"{'case':<24}{'instructions/iteration':>24}{'minus loop':>12}")
    for case, v in per_iter.items():
        minus = "" if case in BENCH_LOOPS else f"{v - loop if case != 'loop' else v:12.1f}"
        print(f"{case:<24}{v:>24.1f}{minus}")
    if any(c in BENCH_LOOPS for c in per_iter):
        print("bench.* rows: the benchmark's whole loop per operation (bench_ring: one "
              "push+pop pair; bench_orderbook: one update), loop overhead included")


if __name__ == "__main__":
    main()
