"""Free-threading: velox keeps the GIL disabled on a free-threaded CPython (3.13t/3.14t), and
every class that threads can share stays safe when several Python threads call it at once,
including misuse of the SPSC contract (which must raise or be refused, never corrupt the ring
or crash the interpreter).

The hammering tests run on every interpreter: with the GIL they check the same conservation
rules (and that nothing deadlocks); on a free-threaded build they really run in parallel. The
GIL check runs only on free-threaded builds; CI's interpreter matrix (.ci/steps/
60-interpreters.sh) runs this file there and fails unless test_gil_stays_disabled PASSED.
"""

import os
import subprocess
import sys
import sysconfig
import threading

import numpy as np
import pytest

import velox
from shm_names import fresh_name
from velox import _shm
from velox._pipeline import NativePipeline
from velox import BUY, SELL, Histogram, OrderBook, SharedRing, SpscRing, Transaction, TXN_DTYPE

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
MODULES = ["velox", "velox._records", "velox._ring", "velox._shm", "velox._orderbook",
           "velox._histogram", "velox._pipeline", "velox.tsc", "velox.pipeline"]


def run_threads(targets, timeout=120.0):
    """Start one thread per callable behind a barrier (so they really overlap), join them all,
    re-raise the first exception any raised."""
    barrier = threading.Barrier(len(targets))
    errors = []

    def wrap(fn):
        def body():
            try:
                barrier.wait()
                fn()
            except BaseException as exc:  # reported below
                errors.append(exc)
        return body

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    if errors:
        raise errors[0]


@pytest.mark.skipif(not FREE_THREADED, reason="needs a free-threaded CPython (3.13t/3.14t)")
def test_gil_stays_disabled():
    # A fresh interpreter: importing any extension not marked freethreading_compatible would
    # re-enable the GIL (with a RuntimeWarning), which this must catch.
    code = ("import sys, warnings, importlib\n"
            "warnings.simplefilter('error')\n"
            f"for m in {MODULES!r}:\n"
            "    importlib.import_module(m)\n"
            "    assert not sys._is_gil_enabled(), m\n"
            "import velox\n"
            "r = velox.SpscRing(8); r.try_push(velox.Transaction(qty=1)); r.try_pop()\n"
            "velox.Histogram().record(1)\n"
            "assert not sys._is_gil_enabled()\n"
            "print('gil disabled after importing', len(sys.modules), 'modules')\n")
    # No -X gil=0 / PYTHON_GIL=0: those would force the GIL off whatever the modules declare.
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    root = os.path.dirname(os.path.dirname(os.path.realpath(velox.__file__)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=root, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gil disabled" in proc.stdout
    assert not sys._is_gil_enabled()


def test_two_producers_one_ring_never_corrupts():
    """SPSC misuse: two threads push into one ring while one consumer pops. Every push either
    succeeds or (free-threaded build: the always-on misuse guard) raises RuntimeError; every
    record popped is one that was pushed, exactly once; counts add up. Without the guard, two
    producers racing on the head index lose records (seen: 27,257 of 800,000 on 3.13t)."""
    per_producer = 100_000
    ring = SpscRing(1 << 18, TXN_DTYPE)  # never full: every overlap is a real race on head
    accepted = [[], []]
    misuse = [0, 0]
    done = threading.Event()
    popped = []

    def producer(k):
        def body():
            for i in range(per_producer):
                seq = k * per_producer + i
                try:
                    assert ring.try_push(Transaction(seq=seq, qty=1, price=seq))
                    accepted[k].append(seq)
                except RuntimeError as exc:
                    assert "another thread" in str(exc) and "free-threaded builds" in str(exc)
                    misuse[k] += 1
        return body

    def consumer():
        out = np.empty(4096, TXN_DTYPE)
        while True:
            n = ring.pop_many(out)
            if n == 0:
                if done.is_set() and len(ring) == 0:
                    return
                continue
            got = out[:n]
            assert (got["price"] == got["seq"].astype(np.int64)).all() and (got["qty"] == 1).all()
            popped.extend(got["seq"].tolist())

    cons = threading.Thread(target=consumer)
    cons.start()
    try:
        run_threads([producer(0), producer(1)])
    finally:
        done.set()
        cons.join(120)
    assert not cons.is_alive()
    pushed = sorted(accepted[0] + accepted[1])
    assert ring.pushed == len(pushed), (ring.pushed, len(pushed), misuse)
    assert sorted(popped) == pushed
    assert ring.popped == len(pushed) and len(ring) == 0
    assert len(pushed) + sum(misuse) == 2 * per_producer
    if not FREE_THREADED:
        assert misuse == [0, 0]


def test_histogram_shared_by_threads_loses_no_count():
    h = Histogram()
    values = np.arange(1, 5001, dtype=np.uint64)

    def writer():
        for _ in range(40):
            h.record_many(values)
            h.record(7)
            assert h.count >= 1 and h.percentile(50) >= 1

    def merger():
        other = Histogram()
        other.record_many(values)
        for _ in range(40):
            h.merge(other)
            h.copy()
            h.to_numpy()

    run_threads([writer, writer, writer, merger])
    expected = 4 * 40 * len(values) + 3 * 40
    assert h.count == expected
    assert int(h.to_numpy()["count"].sum()) == expected
    assert h.min == 1 and h.max == 5000
    h.merge(h)  # merging into itself must not deadlock
    assert h.count == 2 * expected


def test_orderbook_shared_by_threads_stays_consistent():
    book = OrderBook.from_prices(256, tick=0.01, base=100.0)
    prices = [velox.to_fixed(f"{100 + i / 100:.2f}") for i in range(256)]

    def setter(side, lo, hi):
        def body():
            for r in range(300):
                for p in prices[lo:hi]:
                    book.set(side, p, (r % 7) + 1)
        return body

    def reader():
        for _ in range(3000):
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and ask is not None:
                assert bid[1] > 0 and ask[1] > 0
            book.depth(5)

    run_threads([setter(BUY, 0, 100), setter(SELL, 150, 256), reader, reader])
    assert book.best_bid()[0] == prices[99]
    assert book.best_ask()[0] == prices[150]


def test_shared_ring_closed_while_other_threads_use_it():
    """close() racing pushes, pops and reads from other threads: every call either works or
    raises ValueError (closed) / RuntimeError (in use); the interpreter never crashes."""
    for _ in range(20):
        shm_name = fresh_name()
        ring = SharedRing.create(shm_name, 64, TXN_DTYPE)
        stop = threading.Event()
        seen = {"closed": 0}

        def user(fn):
            def body():
                while not stop.is_set():
                    try:
                        fn()
                    except ValueError as exc:
                        assert "closed" in str(exc)
                        seen["closed"] += 1
                        return
                    except RuntimeError:
                        pass
            return body

        def closer():
            stop.wait(0.002)  # let the users get going
            try:
                ring.close()
            except RuntimeError:  # a blocking/batch call in progress: retry once it ends
                stop.wait(0.01)
                ring.close()
            stop.set()

        try:
            run_threads([user(lambda: ring.try_push(Transaction(qty=1))),
                         user(lambda: ring.try_pop()),
                         user(lambda: (len(ring), ring.pushed, ring.free)),
                         closer])
        finally:
            stop.set()
            ring.close()
            _shm.unlink(shm_name)
        assert ring.closed
        with pytest.raises(ValueError, match="closed"):
            ring.try_push(Transaction(qty=1))


def test_pipeline_started_and_joined_from_two_threads():
    p = NativePipeline(ticks_per_ns=velox.tsc.ticks_per_ns(), rate_per_s=0, max_txns=20_000)
    outcomes = []

    def starter():
        try:
            p.start()
            outcomes.append("started")
        except RuntimeError as exc:
            assert "already started" in str(exc)
            outcomes.append("refused")

    run_threads([starter, starter])
    assert sorted(outcomes) == ["refused", "started"]
    run_threads([p.join, p.join])
    c = p.counters()
    assert c["finished"] and c["generated"] == 20_000
    assert p.conservation_failures() == []


def test_guard_flags_say_what_is_compiled_in():
    """GUARDED: the misuse guard is in (free-threaded or VELOX_DEBUG build); DEBUG_CHECKS: a
    VELOX_DEBUG build. On a free-threaded build the guard is in whatever DEBUG_CHECKS says."""
    from velox import _ring
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    assert _ring.GUARDED == (free_threaded or _ring.DEBUG_CHECKS)
    # (that it really guards, on every build where it is in: test_ring_threads.test_second_producer)
