"""MboBook's threading contract, order index and window (issue 21 items 4, 7 and the window
traps): a second writer, or reserve/recenter/follow while a writer or a GIL-free reader is
inside, raises RuntimeError (never a crash); ids crafted against a fixed hash stay spread out;
from_prices needs a base; prices in messages are decimals; follow() finds orders beyond the
window after the one it tracked left. Threads are bounded by deadlines (hang guards only)."""

import threading
import time

import numpy as np
import pytest

import velox
from velox import BUY, MBO_DTYPE, SELL, Action, MboBook

from scale import scaled

TICK = velox.to_fixed("0.01")
BASE = velox.to_fixed(100)
DEADLINE_S = 30.0  # hang guard for the thread tests, never a timing assertion


def adds(ids, price=BASE + 10 * TICK, side=BUY):
    ev = np.zeros(len(ids), MBO_DTYPE)
    ev["action"] = int(Action.ADD)
    ev["side"] = side
    ev["qty"] = 1
    ev["order_id"] = ids
    ev["price"] = price
    return ev


def churn(n, first=1):
    """n ADDs then n DELETEs of the same ids: the book ends empty, every event applies."""
    ids = np.arange(first, first + n, dtype=np.uint64)
    ev = np.zeros(2 * n, MBO_DTYPE)
    ev["order_id"][:n] = ids
    ev["action"][:n] = int(Action.ADD)
    ev["qty"][:n] = 10
    ev["side"][:n] = ids % 2
    ev["price"][:n] = BASE + (ids % 50).astype(np.int64) * TICK + np.where(ids % 2, 60, 0) * TICK
    ev["order_id"][n:] = ids
    ev["action"][n:] = int(Action.DELETE)
    return ev


# ---- the threading contract ------------------------------------------------------------------

class Writer(threading.Thread):
    """apply_many of a long batch (GIL released), again and again until stopped."""

    def __init__(self, book, events):
        super().__init__(daemon=True)
        self.book, self.events = book, events
        self.stop = threading.Event()
        self.batches = 0
        self.errors = []
        self.refused = 0

    def run(self):
        end = time.monotonic() + DEADLINE_S
        try:
            while not self.stop.is_set() and time.monotonic() < end:
                try:
                    r = self.book.apply_many(self.events)
                except RuntimeError as e:
                    # the other caller won this race (either one may lose, docs/mbo.md): retry
                    if "MboBook.apply_many" in str(e) and "docs/mbo.md" in str(e):
                        self.refused += 1
                        continue
                    raise
                if r.applied != len(self.events) or r.rejected:
                    raise AssertionError(f"writer batch: {r!r}")
                self.batches += 1
        except BaseException as e:  # a writer that dies is reported, never silent
            self.errors.append(e)


def inside_writer(book, before):
    """Wait (bounded) until a writer thread's batch is under way (its counters moved)."""
    end = time.monotonic() + DEADLINE_S
    while book.counters.applied == before:
        assert time.monotonic() < end, "the writer thread never started"
        time.sleep(0)


def refused_while_writing(book, call):
    """Calls `call` while a writer thread applies, until it has been refused 3 times (or the
    hang guard's deadline); returns (refusals, successes). A call that lands between two
    batches may succeed; one that lands inside a batch must be refused. Bounded by time, not
    by a count of calls: on a loaded machine the writer thread can sit descheduled between two
    batches for as long as a few hundred calls take."""
    refused = succeeded = 0
    w = Writer(book, churn(scaled(200_000, 50_000)))
    w.start()
    try:
        inside_writer(book, book.counters.applied)
        end = time.monotonic() + DEADLINE_S
        while refused < 3 and time.monotonic() < end and w.is_alive():
            try:
                call()
                succeeded += 1
            except RuntimeError as e:
                assert "MboBook." in str(e) and "docs/mbo.md" in str(e)
                refused += 1
    finally:
        w.stop.set()
        w.join(DEADLINE_S)
    assert not w.is_alive()
    assert w.errors == [] and w.batches >= 1
    return refused, succeeded


def test_a_second_writer_is_refused_not_a_crash():
    book = MboBook(1024, TICK, BASE, max_orders=1 << 18)
    small = churn(100, first=10**9)  # >= NOGIL_BATCH: GIL released too
    one = small[0]
    for call in (lambda: book.apply_many(small),
                 lambda: book.apply(one),
                 lambda: book.apply_fields(Action.TRADE, velox.SIDE_NONE, 0),
                 lambda: book.seed_level(BUY, BASE, 5),
                 lambda: book.clear(),
                 lambda: book.digest()):
        refused, _ = refused_while_writing(book, call)
        assert refused >= 1
    book.verify_invariants()
    c = book.counters
    assert c.applied + c.rejected == sum(c.by_action.values()) + sum(c.rejected_by_reason.values())


@pytest.mark.parametrize("what", ["reserve", "recenter", "follow"])
def test_exclusive_calls_are_refused_while_a_writer_is_inside(what):
    book = MboBook(1024, TICK, BASE, max_orders=1 << 18)
    grow = iter(range((1 << 18) + 1, 1 << 30, 4096))
    call = {"reserve": lambda: book.reserve(next(grow)),
            "recenter": lambda: book.recenter(BASE),
            "follow": lambda: book.follow()}[what]
    refused, _ = refused_while_writing(book, call)
    assert refused >= 1
    book.verify_invariants()


def test_reserve_is_refused_while_a_reader_is_inside():
    """queue_position of the last of a long queue walks it without the GIL: a reserve that
    lands meanwhile must be refused (it would free the table under the reader). A reader that
    arrives while a reserve runs is refused in turn (free-threaded builds, where the two
    really overlap): it says so and tries again."""
    n = scaled(100_000, 20_000)
    book = MboBook(64, TICK, BASE, max_orders=n)
    book.apply_many(adds(np.arange(1, n + 1, dtype=np.uint64)))
    last = n
    stop = threading.Event()
    answers = []
    reader_refusals = []

    def reader():
        end = time.monotonic() + DEADLINE_S
        while not stop.is_set() and time.monotonic() < end:
            try:
                answers.append(book.queue_position(last))
            except RuntimeError as e:
                reader_refusals.append(str(e))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    refused = grown = 0
    end = time.monotonic() + DEADLINE_S
    cap = n
    try:
        while refused < 3 and time.monotonic() < end:
            try:
                book.reserve(cap + 1)
                cap += 1
                grown += 1
            except RuntimeError as e:
                assert "reader" in str(e)
                refused += 1
    finally:
        stop.set()
        t.join(DEADLINE_S)
    assert not t.is_alive()
    assert refused >= 1
    assert book.capacity == cap and set(answers) == {n - 1}
    assert all("reserve" in why for why in reader_refusals), reader_refusals[:1]
    book.verify_invariants()


def test_the_crashing_misuses_raise_instead(tmp_path):
    """Three misuses that segfaulted (reserve vs reader, reserve vs writer, two writers) in a
    child process with freed tables unmapped at once: exit 0, invariants hold."""
    import os
    import subprocess
    import sys

    child = r'''
import sys, threading, time, numpy as np, velox
mode, N = sys.argv[1], 20000
def events(first):
    ev = np.zeros(2 * N, velox.MBO_DTYPE); ids = np.arange(first, first + N, dtype=np.uint64)
    ev["order_id"][:N] = ids; ev["action"][:N] = int(velox.Action.ADD); ev["qty"][:N] = 10
    ev["side"][:N] = ids % 2; ev["price"][:N] = (100 + ids % 50) * 10**6
    ev["order_id"][N:] = ids; ev["action"][N:] = int(velox.Action.DELETE)
    return ev
book = velox.MboBook(levels=1024, tick_size=10**6, base_price=0, max_orders=1 << 16)
end = time.time() + 1.5
refused = []
def guarded(f):
    def run():
        while time.time() < end:
            try:
                f()
            except RuntimeError:
                refused.append(1)
    return run
ev1, ev2 = events(1), events(1 + N // 2)
caps = iter(range((1 << 16) + 4096, 1 << 22, 4096))
readers = lambda: [(book.order(i), book.queue_position(i)) for i in range(1, 2000, 7)]
if mode == "reserve_vs_reader":
    book.apply_many(ev1[:N]); fs = [readers, lambda: book.reserve(next(caps))]
elif mode == "reserve_vs_writer":
    fs = [lambda: book.apply_many(ev1), lambda: book.reserve(next(caps))]
else:
    fs = [lambda: book.apply_many(ev1), lambda: book.apply_many(ev2)]
ts = [threading.Thread(target=guarded(f)) for f in fs]
for t in ts: t.start()
for t in ts: t.join()
book.verify_invariants()
print("refused", len(refused))
'''
    from child_env import child_env
    env = dict(child_env(), MALLOC_MMAP_THRESHOLD_="65536")
    for mode in ("reserve_vs_reader", "reserve_vs_writer", "two_writers"):
        r = subprocess.run([sys.executable, "-c", child, mode], capture_output=True, text=True,
                           timeout=120, env=env, cwd=tmp_path)
        assert r.returncode == 0, (mode, r.returncode, r.stderr[-2000:])
        assert r.stdout.startswith("refused"), (mode, r.stdout)


# ---- order index: crafted ids ----------------------------------------------------------------

def crafted_ids(n):
    """Ids that all home in block 0 of a fixed-multiplier index: (id >> 4) * C has bits
    32..48 zero for C = 0x9E3779B97F4A7C15 (the multiply is invertible)."""
    c = 0x9E3779B97F4A7C15
    cinv = pow(c, -1, 1 << 49)
    ids, t = [], 0
    while len(ids) < n:
        run = (t * cinv) & ((1 << 49) - 1)
        ids.extend((run << 4) | k for k in range(16))
        t += 1
    return np.array(ids[:n], np.uint64)


@pytest.mark.parametrize("pattern", ["inverted", "shifted"])
def test_crafted_ids_stay_spread_out(pattern):
    if pattern == "inverted":
        n, ids = 20_000, crafted_ids(20_000)
    else:  # j << 53: multiplying by 2^49 clears the old key's bits whatever the constant
        n = 2047
        ids = np.arange(1, n + 1, dtype=np.uint64) << np.uint64(53)
    book = MboBook(1024, TICK, BASE, max_orders=1 << 20)
    r = book.apply_many(adds(ids))
    assert r.applied == n
    # a probe walks at most this far; the old index put these ids in one cluster (~n)
    assert book._index_max_distance() < min(600, n // 4)
    assert book.order(int(ids[-1])).qty == 1 and book.queue_position(int(ids[-1])) == n - 1
    book.verify_invariants()


def test_books_are_identical_whatever_the_index_layout():
    """Each table draws its own hash multiplier: layouts differ, books and answers do not."""
    ev = churn(6_000)
    ev = ev[: 6_000 + 3_000]  # 6,000 ADDs, the first 3,000 deleted
    ids = [int(i) for i in ev["order_id"][::97]]
    seen = set()
    for _ in range(4):
        book = MboBook(1024, TICK, BASE, max_orders=1 << 14)
        book.apply_many(ev)
        book.reserve(1 << 15)  # redraws the multiplier
        answers = (book.digest(), tuple(book.order(i) for i in ids),
                   tuple(book.queue_position(i) for i in ids if book.order(i) is not None))
        seen.add(answers)
        book.verify_invariants()
    assert len(seen) == 1


# ---- the window ------------------------------------------------------------------------------

def test_from_prices_needs_a_base():
    with pytest.raises(TypeError, match="base="):
        MboBook.from_prices(1024, tick=0.01)
    book = MboBook.from_prices(1024, tick=0.01, base=580.0)
    assert book.base_price == velox.to_fixed(580)


def test_errors_print_prices_as_decimals():
    book = MboBook.from_prices(1024, tick=0.01, base=0.0)
    with pytest.raises(ValueError, match=r"price 585\.12 .*window \[0\.00, 10\.23\]"):
        book.qty(BUY, velox.to_fixed("585.12"))
    with pytest.raises(ValueError, match=r"price 5\.005 .*grid 0\.00 \+ k \* 0\.01"):
        book.qty(BUY, velox.to_fixed("5.005"))
    with pytest.raises(ValueError, match=r"price=5\.005.*grid is 0\.00 \+ k \* 0\.01"):
        book.apply_fields(Action.ADD, BUY, 1, velox.to_fixed("5.005"), 1)
    with pytest.raises(ValueError, match=r"new_base -0\.005"):
        book.recenter(-velox.to_fixed("0.005"))


def test_follow_recovers_when_the_tracked_order_beyond_the_window_left():
    book = MboBook(64, TICK, BASE)  # [100.00, 100.63]
    book.apply_fields(Action.ADD, BUY, 1, BASE + 30 * TICK, 5)
    for i in range(20):  # bids 102.00 .. 102.19, above the window
        book.apply_fields(Action.ADD, BUY, 200 + i, BASE + (200 + i) * TICK, 1)
    book.apply_fields(Action.ADD, SELL, 300, BASE + 230 * TICK, 1)
    book.apply_fields(Action.DELETE, BUY, 219, 0, 0)  # the most extreme: the one it tracked
    assert book.counters.out_of_window_orders == 20
    assert book.follow()
    assert book.counters.out_of_window_orders == 1  # the stale bid at 100.30
    assert book.best_bid() == (BASE + 218 * TICK, 1) and book.best_ask() == (BASE + 230 * TICK, 1)
    assert all(book.order(200 + i).in_window for i in range(19))
    book.verify_invariants()
