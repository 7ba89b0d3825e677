"""ITCH 5.0 day-sized benchmark: parse-only and parse + a book for every symbol.

A plain timed script (not pyperf: one run reads a multi-GB file; pyperf's many worker
processes would take an hour). Usage:

    python benchmarks/bench_feeds.py PATH --generate [--messages 101000000 --symbols 1200
                                                     --peak-live-orders N]
    python benchmarks/bench_feeds.py PATH [--repeat 3]       # parse-only, then parse+books
    python benchmarks/bench_feeds.py PATH --phase parse|books  # one phase (own peak RSS)

Phases, each in its own subprocess, all in the same run:
  parse   ItchParser into a reused 65,536-event buffer
  books   ItchBooks.feed(parser, file, out=None): parse + market-by-order books with queues
          (vx_mbo_set) in one GIL-free loop, 256-event L1 batches
  levels  ItchLevels.feed(file): aggregate levels straight from the bytes (velox.feeds.
          build_itch_books(path, levels_only=True)), no event array, no queues; one object,
          ItchLevels.reset() between passes (as the floor reuses its arrays)
  floor   benchmarks/native/itch_floor.c (built here with gcc -O3): the plain aggregate-only C
          loop (direct order array, level arrays, prefetch), the target's reference
The summary prints books/floor and levels/floor ratios and checks that levels, books and the
floor agree on live orders and on the shares resting on the levels.

Parse-only: the file is memory-mapped and parsed in place by velox.feeds.ItchParser into one
reused 65,536-event buffer (after a warm-up pass, i.e. from the page cache). Parse+books:
velox._feeds.ItchBooks parses each batch and applies it to a vx_mbo_set (one book per
stock locate, one shared order table) in the same GIL-free loop. Each phase runs in its own
subprocess so its peak RSS (ru_maxrss, which includes touched page-cache pages of the map) is
its own. Prints rates in messages/s (every ITCH message, R/S/H included).
"""

import argparse
import json
import mmap
import os
import resource
import subprocess
import sys
import time

import numpy as np


def generate(path, messages, symbols, seed, peak_live_orders):
    from velox.feedgen import write_itch_file
    t = time.perf_counter()
    info = write_itch_file(path, messages, symbols, seed=seed, peak_live_orders=peak_live_orders)
    info["seconds"] = time.perf_counter() - t
    info["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(info))


def _map(path):
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    mm.madvise(mmap.MADV_SEQUENTIAL)
    return f, mm


def phase_parse(path, repeat, batch):
    from velox import MBO_DTYPE
    from velox.feeds import ItchParser
    f, mm = _map(path)
    view = memoryview(mm)
    out = np.empty(batch, MBO_DTYPE)
    rates = []
    cpu_rates = []
    for r in range(repeat + 1):  # pass 0 warms the page cache
        p = ItchParser()
        pos = 0
        t = time.perf_counter()
        tc = time.thread_time()
        while True:
            c, n = p.parse(view[pos:], out)
            pos += c
            if n < batch:
                break
        dt = time.perf_counter() - t
        dc = time.thread_time() - tc
        assert pos == len(mm), (pos, len(mm))
        msgs = p.counts["messages"]
        if r:
            rates.append(msgs / dt)
            cpu_rates.append(msgs / dc)
    counts = p.counts
    view.release()
    mm.close()
    f.close()
    return {"phase": "parse", "messages": msgs, "events": counts["events"],
            "by_type": counts["by_type"], "rates": rates, "best": max(rates),
            "best_cpu": max(cpu_rates),
            "median": float(np.median(rates)),
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def phase_books(path, repeat, batch, symbols, max_orders, levels):
    from velox import MBO_DTYPE
    from velox.feedgen import TICK
    from velox.feeds import ItchParser
    from velox._feeds import ItchBooks
    f, mm = _map(path)
    view = memoryview(mm)
    out = np.empty(batch, MBO_DTYPE)
    rates = []
    cpu_rates = []
    res = None
    for r in range(repeat + 1):  # pass 0 warms the page cache (and is timed too)
        books = ItchBooks(symbols + 1, levels, TICK, max_orders)
        p = ItchParser()
        t = time.perf_counter()
        tc = time.thread_time()
        consumed, events, applied, rejected = books.feed(p, view, None if batch == 256 else out)
        dt = time.perf_counter() - t
        dc = time.thread_time() - tc
        assert consumed == len(mm)
        msgs = p.counts["messages"]
        rates.append(msgs / dt)
        cpu_rates.append(msgs / dc)
        c = books.counters()
        res = {"live_orders": books.live_orders, "book_memory_mb": books.memory_bytes / 2**20,
               "level_shares": _level_shares(books, symbols + 1, levels),
               "applied": applied, "rejected": rejected,
               "rejected_by_reason": c["rejected_by_reason"],
               "unknown_orders": c["unknown_orders"],
               "out_of_window_orders": c["out_of_window_orders"]}
        del books
    view.release()
    mm.close()
    f.close()
    warm = rates[1:] or rates
    res.update({"phase": "books", "messages": msgs, "rates": rates, "best": max(warm),
                "best_cpu": max(cpu_rates[1:] or cpu_rates),
                "median": float(np.median(warm)),
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return res


def _level_shares(books, instruments, levels):
    total = 0
    for i in range(instruments):
        for px, q in books.depth(i, levels):
            total += int(q.sum())
    return total


def phase_levels(path, repeat, symbols, levels, window_bits):
    from velox.feedgen import TICK
    from velox.feeds import ItchLevels
    f, mm = _map(path)
    view = memoryview(mm)
    rates, cpu_rates = [], []
    res = None
    # one object, reset between passes (untimed), as itch_floor.c reuses its arrays: both time
    # the loop over memory an earlier pass touched (pass 0, on the new object, also pays the
    # first touch of its pages and of the page cache: printed as fresh_rate)
    books = ItchLevels(symbols + 1, levels, TICK, window_bits, 1 << 20)
    fresh_rate = None
    for r in range(repeat + 1):  # pass 0 warms the page cache
        books.reset()
        t = time.perf_counter()
        tc = time.thread_time()
        consumed = books.feed(view)
        dt = time.perf_counter() - t
        dc = time.thread_time() - tc
        assert consumed == len(mm)
        c = books.counters()
        if r:
            rates.append(c["messages"] / dt)
            cpu_rates.append(c["messages"] / dc)
        else:
            fresh_rate = c["messages"] / dt
        res = {"live_orders": c["live"], "book_memory_mb": books.memory_bytes / 2**20,
               "level_shares": _level_shares(books, symbols + 1, levels),
               "rejected": c["rejected"], "outside": c["outside"], "spilled": c["spilled"],
               "slides": c["slides"], "slides_refused": c["slides_refused"], "messages": c["messages"], "fresh_rate": fresh_rate}
    del books
    view.release()
    mm.close()
    f.close()
    res.update({"phase": "levels", "rates": rates, "best": max(rates),
                "best_cpu": max(cpu_rates), "median": float(np.median(rates)),
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return res


def phase_floor(path, repeat, instruments):
    here = os.path.dirname(os.path.abspath(__file__))
    exe = os.path.join(os.path.expanduser("~/.cache/velox-bench"), "itch_floor")
    src = os.path.join(here, "native", "itch_floor.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        subprocess.run(["gcc", "-std=c11", "-O3", "-DNDEBUG", "-D_GNU_SOURCE", src, "-o", exe],
                       check=True)
    rates = []
    out = None
    for _ in range(repeat):  # the program warms the page cache itself
        out = json.loads(subprocess.run([exe, path, "1", str(instruments)], check=True, capture_output=True,
                                        text=True).stdout)
        rates.append(out["rate"])
    return {"phase": "floor", "messages": out["messages"], "rates": rates, "best": max(rates),
            "best_cpu": max(rates), "median": float(np.median(rates)), "maxrss_mb": 0,
            "live_orders": out["live"], "level_shares": out["level_shares"],
            "out_of_range_refs": out["out_of_range_refs"], "order_bytes": out["order_bytes"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--generate", action="store_true")
    ap.add_argument("--messages", type=int, default=101_000_000)
    ap.add_argument("--symbols", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--peak-live-orders", type=int, default=None,
                    help="live orders the generated day holds (default messages / 20)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--max-orders", type=int, default=1 << 24)
    ap.add_argument("--levels", type=int, default=1024)
    ap.add_argument("--window-bits", type=int, default=22,
                    help="levels phase: ItchLevels' direct window of 2**N order references "
                         "(a day with more live orders than 2**N + 2**19 refuses ADDs: FULL)")
    ap.add_argument("--phase", choices=["parse", "books", "levels", "floor"])
    ap.add_argument("--phases", default="parse,books,levels,floor")
    ap.add_argument("--books-batch", type=int, default=256,
                    help="ItchBooks batch (256 = its internal L1 batch, out=None)")
    a = ap.parse_args()
    if a.generate:
        return generate(a.path, a.messages, a.symbols, a.seed, a.peak_live_orders)
    if a.phase == "parse":
        print(json.dumps(phase_parse(a.path, a.repeat, a.batch)))
        return
    if a.phase == "books":
        print(json.dumps(phase_books(a.path, a.repeat, a.books_batch, a.symbols, a.max_orders,
                                     a.levels)))
        return
    if a.phase == "levels":
        print(json.dumps(phase_levels(a.path, a.repeat, a.symbols, a.levels, a.window_bits)))
        return
    if a.phase == "floor":
        print(json.dumps(phase_floor(a.path, a.repeat, a.symbols + 1)))
        return
    size = os.path.getsize(a.path)
    print(f"file {a.path}: {size / 1e9:.2f} GB; load: {os.getloadavg()}")
    best = {}
    agree = {}
    for ph in a.phases.split(","):
        cmd = [sys.executable, __file__, a.path, "--phase", ph, "--repeat", str(a.repeat),
               "--batch", str(a.batch), "--symbols", str(a.symbols),
               "--max-orders", str(a.max_orders), "--levels", str(a.levels),
               "--books-batch", str(a.books_batch), "--window-bits", str(a.window_bits)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        rates = ", ".join(f"{x / 1e6:.1f}" for x in r["rates"])
        print(f"{ph:6s} {r['messages']:,} messages: best {r['best'] / 1e6:.1f} M msg/s, "
              f"median {r['median'] / 1e6:.1f} (runs: {rates}); per CPU-second "
              f"{r['best_cpu'] / 1e6:.1f} M/s; peak RSS {r['maxrss_mb']:.0f} MB")
        extra = {k: v for k, v in r.items() if k not in ("rates", "best", "best_cpu", "median", "phase",
                                                         "messages", "maxrss_mb")}
        print("       ", json.dumps(extra))
        best[ph] = r["best"]
        if "level_shares" in r:
            agree[ph] = (r["live_orders"], r["level_shares"])
    if "floor" in best:
        for ph in ("books", "levels"):
            if ph in best:
                print(f"{ph} / floor: {best[ph] / best['floor']:.2f}x")
    if len(set(agree.values())) > 1:
        print("DISAGREE (live orders, level shares):", agree)
    elif agree:
        print("agree (live orders, level shares):", agree)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
