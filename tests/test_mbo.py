"""velox.MboBook: API behaviour, hostile input (clear errors, never a crash), random-byte
events, a reader thread while apply_many runs without the GIL, and determinism."""

import threading

import numpy as np
import pytest

import velox
from velox import BUY, MBO_DTYPE, SELL, SIDE_NONE, Action, MboBook
from velox._mbo import MAX_ORDERS, MAX_SEED, SLOT_BYTES

TICK = velox.to_fixed("0.01")
BASE = velox.to_fixed(100)


def P(i):
    return BASE + i * TICK


def events(*rows):
    """rows of (action, side, order_id, price, qty[, ref])."""
    ev = np.zeros(len(rows), dtype=MBO_DTYPE)
    for i, row in enumerate(rows):
        action, side, oid, price, qty, *rest = row
        ev[i]["action"], ev[i]["side"], ev[i]["order_id"] = action, side, oid
        ev[i]["price"], ev[i]["qty"] = price, qty
        ev[i]["ref"] = rest[0] if rest else 0
        ev[i]["ts"] = i + 1
    return ev


def test_exported_and_repr():
    assert velox.MboBook is MboBook
    book = MboBook.from_prices(256, tick=0.01, base=100.0, max_orders=100)
    assert book.levels == 256 and book.tick_size == TICK and book.base_price == BASE
    assert book.capacity == 100 and book.instrument is None and book.live_orders == 0
    assert "MboBook(levels=256" in repr(book)
    assert book.memory_bytes >= 100 * SLOT_BYTES + 256 * 2 * 32


def test_basic_flow_and_counts():
    book = MboBook(64, TICK, BASE)
    r = book.apply_many(events(
        (Action.ADD, BUY, 1, P(10), 10),
        (Action.ADD, BUY, 2, P(10), 20),
        (Action.ADD, SELL, 3, P(12), 5),
        (Action.CANCEL, BUY, 1, 0, 4),
        (Action.EXECUTE, SELL, 3, P(12), 5),
        (Action.REPLACE, BUY, 2, P(11), 7, 22),
        (Action.DELETE, BUY, 999, P(10), 1),      # unknown: not an error
        (Action.TRADE, SIDE_NONE, 0, P(11), 3),
        (Action.STATUS, SIDE_NONE, 0, 0, 0),
        (Action.ADD, BUY, 1, P(1), 1),            # duplicate: rejected
        (Action.ADD, BUY, 50, P(1) + 1, 1),       # off the grid: rejected
    ))
    assert (r.applied, r.rejected, r.unknown_orders) == (9, 2, 1)
    assert r.by_action == {Action.ADD: 3, Action.CANCEL: 1, Action.EXECUTE: 1,
                           Action.REPLACE: 1, Action.DELETE: 1, Action.TRADE: 1,
                           Action.STATUS: 1}
    assert r.rejected_by_reason == {"duplicate": 1, "off_grid": 1}
    assert book.best_bid() == (P(11), 7) and book.best_ask() is None
    assert book.order(22) == (22, BUY, P(11), 7, 6, True)
    assert book.order(2) is None and book.order(3) is None
    assert book.queue_position(1) == 0 and book.queue_position(22) == 0
    (bp, bq, bc), (ap, aq, ac) = book.depth(5, orders=True)
    assert list(bp) == [P(11), P(10)] and list(bq) == [7, 6] and list(bc) == [1, 1]
    assert len(ap) == 0
    (bp2, bq2), _ = book.depth(1)
    assert list(bp2) == [P(11)] and bq2.dtype == np.uint64
    c = book.counters
    assert c.applied == 9 and c.rejected == 2 and c.traded_qty == 5
    assert c.by_action[Action.ADD] == 3
    book.verify_invariants()


def test_per_call_apply_and_errors():
    book = MboBook(64, TICK, BASE, max_orders=2, instrument=7)
    ev = events((Action.ADD, BUY, 1, P(3), 5), (Action.ADD, BUY, 2, P(3), 5),
                (Action.ADD, BUY, 3, P(3), 5))
    ev["instrument"] = 7
    book.apply(ev[0])
    book.apply(ev[1:2])                      # a 1-element array works too
    with pytest.raises(ValueError, match="full.*reserve"):
        book.apply(ev[2])
    book.reserve(10)
    book.apply(ev[2])
    with pytest.raises(ValueError, match="already rests"):
        book.apply(ev[2])
    with pytest.raises(ValueError, match="another instrument"):
        book.apply_fields(Action.ADD, BUY, 9, P(3), 1, instrument=8)
    with pytest.raises(ValueError, match="more lots than the order has"):
        book.apply_fields(Action.CANCEL, BUY, 1, 0, 6, instrument=7)
    with pytest.raises(ValueError, match="tick grid"):
        book.apply_fields(Action.ADD, BUY, 9, P(3) + 1, 1, instrument=7)
    with pytest.raises(ValueError, match="invalid action"):
        book.apply_fields(0, BUY, 9, P(3), 1, instrument=7)
    with pytest.raises(ValueError, match="invalid action"):
        book.apply_fields(Action.ADD, SIDE_NONE, 9, P(3), 1, instrument=7)
    with pytest.raises(ValueError, match="apply takes one event"):
        book.apply(ev)
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        book.apply(np.zeros(1, velox.TXN_DTYPE)[0])
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        book.apply(b"\0" * 48)
    with pytest.raises(TypeError, match="order_id must be an int"):
        book.apply_fields(Action.ADD, BUY, 1.5, P(3), 1)
    with pytest.raises(ValueError, match="qty must be in"):
        book.apply_fields(Action.ADD, BUY, 4, P(3), 1 << 32)
    with pytest.raises(ValueError, match="order_id must be in"):
        book.apply_fields(Action.ADD, BUY, -1, P(3), 1)
    with pytest.raises(TypeError, match="price must be an int"):
        book.apply_fields(Action.ADD, BUY, 4, 100.5, 1)
    assert book.counters.rejected == 7  # full, duplicate, instrument, exceeds, grid, 2 invalid
    book.verify_invariants()


def test_apply_many_input_checks():
    book = MboBook(64, TICK, BASE)
    with pytest.raises(TypeError, match="numpy array of MBO_DTYPE"):
        book.apply_many([1, 2])
    with pytest.raises(TypeError, match="dtype MBO_DTYPE"):
        book.apply_many(np.zeros(3, velox.TXN_DTYPE))
    with pytest.raises(ValueError, match="1-D"):
        book.apply_many(np.zeros((2, 2), MBO_DTYPE))
    ev = events(*[(Action.ADD, BUY, i, P(i % 10), 1) for i in range(1, 21)])
    r = book.apply_many(ev[::2])             # strided: copied, applied in order
    assert r.applied == 10 and book.live_orders == 10
    assert book.apply_many(np.zeros(0, MBO_DTYPE)).applied == 0


def test_constructor_and_method_arguments():
    with pytest.raises(ValueError, match="power of two"):
        MboBook(1000)
    with pytest.raises(TypeError, match="levels must be an int"):
        MboBook(2.0)
    with pytest.raises(ValueError, match="tick_size must be a positive"):
        MboBook(64, 0)
    with pytest.raises(ValueError, match="overflows int64"):
        MboBook(64, TICK, (1 << 63) - 10)
    with pytest.raises(ValueError, match="max_orders must be in"):
        MboBook(64, TICK, BASE, max_orders=0)
    with pytest.raises(ValueError, match="max_orders must be in"):
        MboBook(64, TICK, BASE, max_orders=MAX_ORDERS + 1)
    with pytest.raises(ValueError, match="instrument must be in"):
        MboBook(64, TICK, BASE, instrument=-1)
    book = MboBook(64, TICK, BASE)
    with pytest.raises(ValueError, match="side must be"):
        book.seed_level(2, P(1), 1)
    with pytest.raises(TypeError, match="side must be"):
        book.seed_level(None, P(1), 1)
    with pytest.raises(ValueError, match="outside the book's window"):
        book.seed_level(BUY, P(64), 1)
    with pytest.raises(ValueError, match="tick grid"):
        book.seed_level(BUY, P(1) + 1, 1)
    with pytest.raises(ValueError, match="qty must be in"):
        book.seed_level(BUY, P(1), MAX_SEED + 1)
    with pytest.raises(ValueError, match="outside the book's window"):
        book.qty(BUY, P(-1))
    with pytest.raises(ValueError, match="tick grid"):
        book.recenter(P(1) + 1)
    with pytest.raises(ValueError, match="beyond int64"):
        book.recenter(BASE + ((2**63 - 1 - BASE) // TICK - 5) * TICK)
    with pytest.raises(ValueError, match="n must be in"):
        book.depth(65)
    with pytest.raises(TypeError, match="n must be an int"):
        book.depth("3")
    with pytest.raises(ValueError, match="max_orders must be in"):
        book.reserve(MAX_ORDERS + 1)
    assert book.order(2**64 - 1) is None and book.queue_position(0) is None
    with pytest.raises(ValueError, match="order_id must be in"):
        book.order(2**64)


def test_seeded_levels_and_partial_data():
    book = MboBook(64, TICK, BASE)
    book.seed_level(SELL, P(20), 100)
    book.apply_fields(Action.ADD, SELL, 1, P(20), 10)
    assert book.qty(SELL, P(20)) == 110 and book.queue_position(1) == 100
    book.apply_fields(Action.EXECUTE, SELL, 555, P(20), 30)      # rested before the data
    book.apply_fields(Action.CANCEL, SELL, 556, P(20), 500)      # clamps at zero
    assert book.qty(SELL, P(20)) == 10 and book.queue_position(1) == 0
    assert book.counters.unknown_orders == 2 and book.counters.rejected == 0
    book.seed_level(SELL, P(20), 0)
    book.clear()
    assert book.live_orders == 0 and book.best_ask() is None
    book.verify_invariants()


def test_out_of_window_orders_survive_recenter():
    book = MboBook(16, TICK, BASE)
    book.apply_fields(Action.ADD, SELL, 1, P(30), 5)
    book.apply_fields(Action.ADD, SELL, 2, P(30), 6)
    assert book.order(1).in_window is False and book.counters.out_of_window_orders == 2
    with pytest.raises(ValueError, match="outside the window"):
        book.queue_position(2)
    book.recenter(P(20))
    assert book.order(1).in_window and book.queue_position(2) == 5
    assert book.best_ask() == (P(30), 11) and book.counters.out_of_window_orders == 0
    book.apply_fields(Action.DELETE, SELL, 1, 0, 0)
    book.verify_invariants()


def test_random_bytes_never_crash():
    rng = np.random.default_rng(3)
    book = MboBook(32, 5, 1000, max_orders=64)
    total = 0
    for _ in range(20):
        raw = rng.integers(0, 256, 48 * 2000, dtype=np.uint8)
        ev = raw.view(MBO_DTYPE).copy()
        ev["action"] %= 12
        ev["side"] %= 4
        ev["order_id"] %= 100
        ev["ref"] %= 100
        ev["qty"] %= 10
        ev["price"] = 1000 + rng.integers(-30, 200, len(ev)) * rng.choice([1, 5], len(ev))
        r = book.apply_many(ev)
        assert r.applied + r.rejected == len(ev)
        total += len(ev)
        book.recenter(1000 + int(rng.integers(-10, 10)) * 5)
        book.verify_invariants()
    c = book.counters
    assert c.applied + c.rejected == total
    assert sum(c.by_action.values()) == c.applied
    assert sum(c.rejected_by_reason.values()) == c.rejected


def _stream(n, seed=1):
    """A non-crossing ADD/DELETE/CANCEL stream, bids below level 32, asks at or above."""
    rng = np.random.default_rng(seed)
    live, rows, next_id = [], [], 1
    for _ in range(n):
        if not live or rng.random() < 0.55:
            side = int(rng.integers(0, 2))
            lvl = int(rng.integers(1, 31))
            price = P(32 - lvl if side == 0 else 32 + lvl)
            rows.append((Action.ADD, side, next_id, price, int(rng.integers(2, 50))))
            live.append((next_id, side))
            next_id += 1
        else:
            oid, side = live.pop(int(rng.integers(0, len(live))))
            rows.append((Action.DELETE, side, oid, 0, 0))
    return events(*rows)


def test_reader_thread_during_apply_many():
    ev = _stream(200_000)
    book = MboBook(64, TICK, BASE, max_orders=1 << 16)
    stop = threading.Event()
    problems = []

    def reader():
        polls = 0
        while not stop.is_set() or polls == 0:
            polls += 1
            bid, ask = book.best_bid(), book.best_ask()
            if bid and ask and not bid[0] < ask[0]:
                problems.append(("crossed", bid, ask))
            (bp, bq), (ap, aq) = book.depth(8)
            if len(bp) and (np.any(np.diff(bp) >= 0) or np.any(bq == 0)):
                problems.append(("bid depth", bp, bq))
            oid = int(ev[-1 - polls % 1000]["order_id"]) or 1
            try:
                o = book.order(oid)
                q = book.queue_position(oid)
            except TimeoutError:
                continue
            if o is not None and not (o.qty >= 1 and o.order_id == oid):
                problems.append(("order", o))
            if q is not None and q < 0:
                problems.append(("queue", q))

    t = threading.Thread(target=reader)
    t.start()
    for chunk in np.array_split(ev, 20):
        assert book.apply_many(chunk).rejected == 0
    stop.set()
    t.join()
    assert not problems, problems[:3]
    book.verify_invariants()


def test_digest_is_deterministic():
    ev = _stream(5000, seed=9)
    a, b = MboBook(64, TICK, BASE), MboBook(64, TICK, BASE)
    a.apply_many(ev)
    for e in ev:
        b.apply(e)
    assert a.digest() == b.digest()
    b.apply_fields(Action.CANCEL, int(ev[0]["side"]), int(ev[0]["order_id"]), 0, 1)
    assert a.digest() != b.digest() or b.order(int(ev[0]["order_id"])) is None


def _big_stream(live, rest, seed):
    """`live` ADDs (dense ids, bids below level 32, asks at or above), then `rest` events that
    DELETE, CANCEL part of or EXECUTE part of random live orders, or ADD new ones: a table of
    about `live` orders, more than apply_many's prefetch threshold (mbo.c, PF_MIN_BYTES: 4 MiB
    of live slots, 87,382 orders)."""
    rng = np.random.default_rng(seed)
    n = live + rest
    ev = np.zeros(n, dtype=MBO_DTYPE)
    ev["ts"] = np.arange(1, n + 1)
    side = rng.integers(0, 2, n)
    lvl = rng.integers(1, 31, n)
    ev["side"] = side
    ev["price"] = np.where(side == 0, P(32) - lvl * TICK, P(32) + lvl * TICK)
    ev["qty"] = rng.integers(20, 50, n)
    ev["action"] = Action.ADD
    ev["order_id"] = np.arange(1, n + 1)
    ids = list(range(1, live + 1))
    left = dict.fromkeys(ids, 0)
    for i in range(live):
        left[i + 1] = int(ev[i]["qty"])
    for i in range(live, n):
        roll = rng.random()
        if roll < 0.3:
            continue  # an ADD of id i + 1, already filled in
        k = int(rng.integers(0, len(ids)))
        oid = ids[k]
        ev[i]["order_id"], ev[i]["price"] = oid, 0
        if roll < 0.6 or left[oid] <= 1:
            ev[i]["action"], ev[i]["qty"] = Action.DELETE, 0
            ids[k] = ids[-1]
            ids.pop()
            del left[oid]
        else:
            q = int(rng.integers(1, left[oid]))
            ev[i]["action"], ev[i]["qty"] = (Action.CANCEL if roll < 0.8 else Action.EXECUTE), q
            left[oid] -= q
        ev[i]["side"] = SIDE_NONE if roll > 0.9 else ev[oid - 1]["side"]
    for i in range(live, n):
        if ev[i]["action"] == Action.ADD:
            ids.append(i + 1)
            left[i + 1] = int(ev[i]["qty"])
    return ev


def test_apply_many_over_a_large_table_equals_per_call_apply():
    # Batches of 1,000 over about 100,000 live orders run apply_many's prefetching loop; per-call
    # apply never does. Same digest, counters and invariants, and a reader meanwhile.
    ev = _big_stream(100_000, 60_000, seed=5)
    a = MboBook(64, TICK, BASE, max_orders=1 << 18)
    b = MboBook(64, TICK, BASE, max_orders=1 << 18)
    results = [a.apply_many(chunk) for chunk in np.array_split(ev, len(ev) // 1000)]
    assert sum(r.applied for r in results) == len(ev) and a.live_orders > 87_382
    for e in ev:
        b.apply(e)
    assert a.digest() == b.digest()
    assert a.counters == b.counters
    a.verify_invariants()


def test_apply_accepts_an_equal_but_distinct_dtype():
    import pickle
    other = pickle.loads(pickle.dumps(MBO_DTYPE))  # what np.load gives: equal, another object
    assert other == MBO_DTYPE and other is not MBO_DTYPE
    ev = events((Action.ADD, BUY, 1, P(3), 5), (Action.ADD, BUY, 2, P(3), 6)).astype(other)
    book = MboBook(64, TICK, BASE)
    for e in ev:
        book.apply(e)
    assert book.qty(BUY, P(3)) == 11 and book.queue_position(2) == 5
    assert book.apply_many(ev).rejected == 2   # duplicates now
