"""The direct order-id window of MboBook (docs/mbo.md "Order table"): books are identical with
the window on (any size) and off, on dense, sparse and crafted id streams; its counters move
where they must; its argument is checked."""

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scale import scaled
from velox import BUY, MBO_DTYPE, SELL, Action, MboBook
from velox._mbo import MAX_ID_WINDOW, MIN_ID_WINDOW

LEVELS = 64
TICK = 5
BASE = 1000
U64 = (1 << 64) - 1
WINDOWS = (None, 0, 16, 64)  # default (2 x capacity), none, and two that slide all the time


def make_stream(mode, seed, n, small_window=16):
    """n events over ids drawn by `mode`: "dense" (increasing by 1-3 from a start that may sit
    near 2^64), "sparse" (random 64-bit ids), "adversarial" (ids placed against a window of
    `small_window` ids: just above its top, just past a slide's reach, far above, below it,
    re-used after deletion, 0 and 2^64 - 1). Every action; some prices off the ladder."""
    rng = random.Random(seed)
    start = rng.choice([1, 1 << 32, (1 << 63) - 500, U64 - 5_000])
    frontier = start
    live = []
    dead = []
    rows = []
    w = small_window

    def new_id():
        nonlocal frontier
        if mode == "dense":
            frontier = min(U64, frontier + rng.randint(1, 3))
            return frontier
        if mode == "sparse":
            return rng.randint(1, U64)
        pick = rng.randint(0, 9)
        if pick <= 2:  # dense ahead
            frontier = min(U64, frontier + rng.randint(1, 2))
            return frontier
        candidates = [
            frontier + w, frontier + w - 1, frontier + 2 * w - 1, frontier + 2 * w,
            frontier + 2 * w + 1, frontier + rng.randint(3 * w, 50 * w), frontier + (1 << 40),
            frontier - w - 1, frontier - rng.randint(1, 4 * w), 0, U64, U64 - w,
            rng.choice(dead) if dead else frontier + 1]
        return min(U64, max(0, rng.choice(candidates)))

    def price():
        lvl = rng.randint(-4, LEVELS + 3)  # a few outside the window
        return BASE + lvl * TICK

    for _ in range(n):
        r = rng.random()
        if r < 0.45 or not live:
            oid = new_id()
            rows.append((Action.ADD, rng.randint(0, 1), oid, price(), rng.randint(1, 9), 0))
            live.append(oid)
            continue
        k = rng.randrange(len(live))
        oid = live[k]
        if r < 0.6:
            rows.append((Action.DELETE, 2, oid, 0, 0, 0))
            dead.append(live.pop(k))
        elif r < 0.72:
            rows.append((Action.CANCEL, 2, oid, 0, rng.randint(1, 3), 0))
        elif r < 0.8:
            rows.append((Action.EXECUTE, 2, oid, 0, rng.randint(1, 9), 0))
        elif r < 0.88:
            ref = new_id()
            rows.append((Action.REPLACE, 2, oid, price(), rng.randint(1, 9), ref))
            live[k] = ref
            dead.append(oid)
        elif r < 0.95:
            rows.append((Action.MODIFY, rng.randint(0, 1), oid, price(), rng.randint(1, 9), 0))
        elif r < 0.97:
            rows.append((Action.ADD, rng.randint(0, 1), oid, price(), 1, 0))  # duplicate
        elif r < 0.985:
            rows.append((Action.DELETE, 2, new_id(), 0, 0, 0))  # maybe unknown
        else:
            rows.append((Action.CLEAR, 2, 0, 0, 0, 0))
            dead.extend(live)
            live.clear()
    ev = np.zeros(len(rows), MBO_DTYPE)
    for name, col in zip(("action", "side", "order_id", "price", "qty", "ref"), zip(*rows)):
        ev[name] = col
    ev["ts"] = np.arange(1, len(rows) + 1, dtype=np.uint64)
    return ev


def answers(book, ids):
    """Everything a reader can ask about the ids, and the book's visible state."""
    c = book.counters
    return (book.digest(), book.live_orders, book.best_bid(), book.best_ask(),
            repr(book.depth(8, orders=True)),
            tuple(book.order(i) for i in ids),
            tuple(_queue_position(book, i) for i in ids),
            (c.applied, c.rejected, c.by_action, c.rejected_by_reason, c.unknown_orders,
             c.out_of_window_orders, c.traded_qty))


def _queue_position(book, oid):
    try:
        return book.queue_position(oid)
    except ValueError:
        return "outside"


def run(ev, window, capacity, chunks, reserve_at=None):
    book = MboBook(LEVELS, TICK, BASE, max_orders=capacity, id_window=window)
    for i, part in enumerate(np.array_split(ev, chunks)):
        if reserve_at == i:
            book.reserve(capacity * 2)
        book.apply_many(part)
        book.verify_invariants()
    return book


@settings(max_examples=scaled(120, 20), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(["dense", "sparse", "adversarial"]), seed=st.integers(0, 2**32),
       n=st.integers(1, 600), chunks=st.integers(1, 5), capacity=st.sampled_from([8, 64, 1024]),
       reserve_at=st.none() | st.integers(0, 4))
def test_books_are_identical_with_and_without_the_window(mode, seed, n, chunks, capacity,
                                                         reserve_at):
    ev = make_stream(mode, seed, n)
    ids = sorted(set(int(i) for i in ev["order_id"]) | set(int(i) for i in ev["ref"]))
    got = {}
    for window in WINDOWS:
        book = run(ev, window, capacity, chunks, reserve_at)
        got[window] = answers(book, ids)
    assert got[16] == got[0]
    assert got[64] == got[0]
    assert got[None] == got[0]


def test_per_call_apply_matches_apply_many_through_slides():
    ev = make_stream("adversarial", 7, 3_000)
    a = MboBook(LEVELS, TICK, BASE, max_orders=4096, id_window=16)
    b = MboBook(LEVELS, TICK, BASE, max_orders=4096, id_window=0)
    for rec in ev:
        for book in (a, b):
            try:
                book.apply(rec)
            except ValueError:
                pass  # rejects: the same on both (compared below)
    a.verify_invariants()
    assert a.digest() == b.digest()
    assert a.counters[:11] == b.counters[:11]
    assert a.counters.id_window_slides > 0


def test_counters_show_window_hits_hash_lookups_and_slides():
    ev = make_stream("dense", 3, 5_000)
    book = MboBook(LEVELS, TICK, BASE, max_orders=4096, id_window=16)
    book.apply_many(ev)
    c = book.counters
    # every event about an order is looked up once (ADD, CANCEL, DELETE, EXECUTE, MODIFY,
    # REPLACE): in the window or in the index
    about_orders = [Action.ADD, Action.CANCEL, Action.DELETE, Action.EXECUTE, Action.REPLACE,
                    Action.MODIFY]
    lookups = int(np.isin(ev["action"], [int(a) for a in about_orders]).sum())
    assert c.id_window_hits + c.id_hash_lookups == lookups
    assert c.id_window_hits > 0 and c.id_hash_lookups > 0 and c.id_window_slides > 0
    off = MboBook(LEVELS, TICK, BASE, max_orders=4096, id_window=0)
    off.apply_many(ev)
    assert off.counters.id_window_hits == 0 and off.counters.id_window_slides == 0
    assert off.counters.id_hash_lookups == lookups
    assert off.digest() == book.digest()


def test_increasing_ids_stay_in_the_default_window():
    """A feed's dense ids: every event finds its order through the window, but the ADDs that
    slide it (their id was above it, so the duplicate check probed the index)."""
    n = 20_000
    ids = np.arange(1, n + 1, dtype=np.uint64)
    ev = np.zeros(2 * n, MBO_DTYPE)
    ev["order_id"][0::2] = ids
    ev["action"][0::2] = int(Action.ADD)
    ev["qty"][0::2] = 1
    ev["side"][0::2] = ids % 2
    ev["price"][0::2] = BASE + (ids % 8).astype(np.int64) * TICK + np.where(ids % 2, 40, 0) * TICK
    ev["order_id"][1::2] = ids
    ev["action"][1::2] = int(Action.DELETE)
    book = MboBook(LEVELS, TICK, BASE, max_orders=1024)
    assert book.id_window == 2048
    book.apply_many(ev)
    c = book.counters
    assert c.id_window_slides > 0 and c.id_hash_lookups == c.id_window_slides
    assert c.id_window_hits == 2 * n - c.id_window_slides
    assert book.live_orders == 0
    book.verify_invariants()


def test_the_id_window_argument_is_checked():
    assert MboBook(max_orders=100).id_window == 256
    assert MboBook(max_orders=100, id_window=0).id_window == 0
    assert MboBook(max_orders=100, id_window=MIN_ID_WINDOW).id_window == MIN_ID_WINDOW
    for bad in (8, 17, 3000, MAX_ID_WINDOW * 2, -1):
        with pytest.raises(ValueError, match="id_window"):
            MboBook(max_orders=100, id_window=bad)
    for bad in (16.0, "16", True):
        with pytest.raises(TypeError, match="id_window"):
            MboBook(max_orders=100, id_window=bad)


def test_memory_counts_the_window():
    on = MboBook(LEVELS, TICK, BASE, max_orders=1 << 12)
    off = MboBook(LEVELS, TICK, BASE, max_orders=1 << 12, id_window=0)
    assert on.memory_bytes - off.memory_bytes == 4 * on.id_window
    on.reserve(1 << 14)
    assert on.id_window == 1 << 15  # the default window grows with the table
    fixed = MboBook(LEVELS, TICK, BASE, max_orders=1 << 12, id_window=64)
    fixed.reserve(1 << 14)
    assert fixed.id_window == 64  # a chosen one stays
