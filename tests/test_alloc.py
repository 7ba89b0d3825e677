"""Zero allocation on the hot path, proven with a malloc-counting LD_PRELOAD shim.

tests/native/malloc_count.c is compiled here with `cc` into a temporary directory and
preloaded into a child Python, which counts every malloc/calloc/realloc/free/memalign-family
call per thread (kernel tid). Then:

  - the pipeline's native stage threads (found as the threads that appear in /proc/self/task
    when start() runs) make no heap call at all while running (ingress, book, bundler, output
    with file output and the python ring, in 2- and 4-thread groupings, drop and block modes),
    nor while draining on stop;
  - SpscRing.push_many / pop_many(out=...) and OrderBook.apply_many make the same number of
    heap calls for 10 items as for 10,000 (nothing per item), and the native calls themselves
    none (checked on the calling thread with the GIL released around large copies).

This file is not run by the ASan CI step: ASan serves malloc itself, below any LD_PRELOAD
shim, so the counts would be meaningless there.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from child_env import IMPORT_ROOT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM_SRC = os.path.join(ROOT, "tests", "native", "malloc_count.c")


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    out = tmp_path_factory.mktemp("malloc_count") / "libvx_malloc_count.so"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    SHIM_SRC, "-o", str(out)], check=True)
    return str(out)


def run_child(shim, body, timeout=120):
    """Runs body (Python source) in a child with the shim preloaded; returns its last stdout
    line parsed as JSON."""
    prelude = textwrap.dedent("""
        import ctypes, json, os, sys, time
        _mc = ctypes.CDLL(None)
        _mc.vx_mc_thread_calls.restype = ctypes.c_uint64
        _mc.vx_mc_thread_calls.argtypes = [ctypes.c_int32]
        _mc.vx_mc_thread_null_frees.restype = ctypes.c_uint64
        _mc.vx_mc_thread_null_frees.argtypes = [ctypes.c_int32]
        _mc.vx_mc_overflow.restype = ctypes.c_uint64
        def thread_calls(tid):
            return int(_mc.vx_mc_thread_calls(tid))
        def thread_counts(tid):
            return [int(_mc.vx_mc_thread_calls(tid)), int(_mc.vx_mc_thread_null_frees(tid))]
        def my_calls():
            return thread_calls(threading.get_native_id())
        def tasks():
            return {int(t) for t in os.listdir("/proc/self/task")}
        import threading
    """)
    env = dict(os.environ)
    env["LD_PRELOAD"] = shim + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(body)], cwd=IMPORT_ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_shim_counts_heap_calls(shim):
    """The instrument works: a thread that allocates is counted, one that does not is not."""
    r = run_child(shim, """
        import ctypes
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        result = {}
        def allocating():
            tid = threading.get_native_id()
            before = thread_calls(tid)
            for _ in range(100):
                libc.free(libc.malloc(64))
            result["alloc"] = thread_calls(tid) - before
        t = threading.Thread(target=allocating); t.start(); t.join()
        print(json.dumps(result))
    """)
    assert r["alloc"] >= 200  # 100 mallocs + 100 frees (plus whatever ctypes adds)


PIPELINE_RUN = """
    import tempfile
    from velox import tsc
    from velox._pipeline import NativePipeline
    tpns = tsc.ticks_per_ns()
    out = tempfile.TemporaryFile()
    p = NativePipeline(ticks_per_ns=tpns, rate_per_s={rate}, max_txns=0, seed=7, levels=256,
                       on_full="{on_full}", wait="backoff", batch=32, txn_ring_capacity=1024,
                       bundle_ring_capacity=256, python_ring_capacity=256,
                       output_fd=out.fileno(), output_buffer_bundles=8,
                       stage_thread={stage_thread}, thread_cpu={thread_cpu},
                       bundle_timeout_ns=50_000)
    before = tasks()
    p.start()
    time.sleep(0.05)
    stage = sorted(tasks() - before)
    start_calls = {{t: thread_counts(t) for t in stage}}
    deadline = time.monotonic() + 1.0
    drained = 0
    while time.monotonic() < deadline:
        drained += len(p.drain(256))
        time.sleep(0.002)
    running_calls = {{t: thread_counts(t) for t in stage}}
    p.stop()
    for _ in range(20000):
        drained += len(p.drain(256))
        if p.finished:
            break
        time.sleep(0.001)
    drained += len(p.drain(256))
    p.join()
    final_calls = {{t: thread_counts(t) for t in stage}}
    c = p.counters()
    print(json.dumps({{"stage": stage, "start": start_calls, "running": running_calls,
                      "final": final_calls, "counters": c, "drained": drained,
                      "failures": p.conservation_failures(), "overflow": _mc.vx_mc_overflow()}}))
"""


@pytest.mark.parametrize("rate,on_full,stage_thread,thread_cpu", [
    (0, "drop", (0, 1, 2, 3), (-1, -1, -1, -1)),      # unpaced, one thread per stage
    (200_000, "block", (0, 0, 1, 1), (-1, -1)),        # paced, two threads, backpressure
    (50_000, "drop", (0, 0, 0, 0), (-1,)),             # everything on one thread
])
def test_pipeline_stage_threads_make_no_heap_calls(shim, rate, on_full, stage_thread, thread_cpu):
    r = run_child(shim, PIPELINE_RUN.format(rate=rate, on_full=on_full, stage_thread=stage_thread,
                                            thread_cpu=thread_cpu))
    c = r["counters"]
    assert len(r["stage"]) == len(thread_cpu), r["stage"]
    assert r["overflow"] == 0
    assert c["finished"] and r["failures"] == []
    assert c["generated"] > 1000 and c["output_bundles"] > 0 and c["bytes_written"] > 0
    assert r["drained"] == c["python_bundles"]
    # [heap calls, free(NULL) calls] per stage thread. From thread creation through the run:
    # nothing at all. Through stop, drain and thread exit: no heap call; the only free(NULL)s
    # are glibc's two in its thread-exit path, after the stage loop has returned.
    for counts in (r["start"], r["running"]):
        assert all(v == [0, 0] for v in counts.values()), counts
    assert all(v[0] == 0 and v[1] <= 2 for v in r["final"].values()), r["final"]


def test_batch_calls_allocate_nothing_per_item(shim):
    r = run_child(shim, """
        import numpy as np
        from velox import SpscRing, OrderBook, TXN_DTYPE, PRICE_SCALE, BUY, SELL
        tick = PRICE_SCALE // 100
        def txns(n):
            a = np.zeros(n, TXN_DTYPE)
            a["seq"] = np.arange(n)
            a["side"] = np.arange(n) % 2
            a["price"] = 100 * PRICE_SCALE + (np.arange(n) % 20 - 10) * tick
            a["qty"] = 1 + np.arange(n) % 5
            return a
        result = {}
        for n in (10, 10_000):
            ring = SpscRing(16384, TXN_DTYPE)
            book = OrderBook(1024, tick, 95 * PRICE_SCALE)
            data = txns(n)
            out = np.empty(n, TXN_DTYPE)
            for _ in range(3):  # warm up: first calls may import or cache
                ring.push_many(data); ring.pop_many(out); book.apply_many(data)
            row = {}
            for name, fn in (("push_many", lambda: ring.push_many(data)),
                             ("pop_many_out", lambda: ring.pop_many(out)),
                             ("apply_many", lambda: book.apply_many(data))):
                before = my_calls()
                fn()
                row[name] = my_calls() - before
            result[n] = row
        print(json.dumps(result))
    """)
    small, large = r["10"], r["10000"]
    for name in small:
        # whatever Python itself does per call, nothing may scale with the item count
        assert large[name] <= small[name], (name, small, large)
        assert large[name] <= 4, (name, large)
