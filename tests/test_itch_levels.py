"""velox._feeds.ItchLevels: ITCH bytes -> aggregate levels in one native loop.

The oracle is ItchBooks (parser + vx_mbo_set): for the same messages the levels, live orders
and reject reasons must agree, whatever the order table does inside (direct window, slides,
spill table, adoption of spilled ids back into the window).
"""
import random
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from velox.feedgen import TICK, write_itch_file
from velox.feeds import ItchParser, build_itch_books, itch_levels_at
from velox._feeds import ItchBooks, ItchLevels

from scale import scaled as _scaled


def scaled(n):
    return _scaled(n, max(1, n // 10))

INSTR = 5  # books 0..4; locates 5+ are rejected (INSTRUMENT)


def _a(loc, ref, side, qty, price):
    return struct.pack(">HcHH6sQcI8sI", 36, b"A", loc, 0, b"\0" * 6, ref, side, qty, b"SYM     ",
                       price)


def _e(loc, ref, qty):
    return struct.pack(">HcHH6sQIQ", 31, b"E", loc, 0, b"\0" * 6, ref, qty, 7)


def _c(loc, ref, qty, price):
    return struct.pack(">HcHH6sQIQcI", 36, b"C", loc, 0, b"\0" * 6, ref, qty, 7, b"Y", price)


def _x(loc, ref, qty):
    return struct.pack(">HcHH6sQI", 23, b"X", loc, 0, b"\0" * 6, ref, qty)


def _d(loc, ref):
    return struct.pack(">HcHH6sQ", 19, b"D", loc, 0, b"\0" * 6, ref)


def _u(loc, ref, new, qty, price):
    return struct.pack(">HcHH6sQQII", 35, b"U", loc, 0, b"\0" * 6, ref, new, qty, price)


def _same(levels, books, instruments, n=4096):
    for i in range(instruments):
        a = levels.depth(i, n)
        b = books.depth(i, n)
        for s in (0, 1):
            assert np.array_equal(a[s][0], b[s][0]), (i, s, a[s], b[s])
            assert np.array_equal(a[s][1], b[s][1]), (i, s, a[s], b[s])
        assert levels.best(i) == books.best(i)
    assert levels.live_orders == books.live_orders
    c, m = levels.counters(), books.counters()
    assert c["rejected_by_reason"] == m["rejected_by_reason"]
    assert c["unknown_orders"] == m["unknown_orders"]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    path = tmp_path_factory.mktemp("itch") / "day.itch"
    write_itch_file(path, scaled(150_000), 12, seed=5)
    return path.read_bytes()


def _feed_in_parts(day, parts, lv, check):
    """Feeds the day to lv and to new MBO books in `parts` pieces; check(piece, mb) after each.
    Returns the bytes consumed and the parser."""
    mb = ItchBooks(13, 1024, TICK, 1 << 18)
    p = ItchParser()
    done = 0
    for cut in np.linspace(0, len(day), parts + 1)[1:].astype(int):
        c = lv.feed(memoryview(day)[done:cut])
        mb.feed(p, memoryview(day)[done:done + c])
        check(memoryview(day)[done:done + c], mb)
        done += c
    return done, p


@pytest.mark.parametrize("window_bits", [4, 7, 22])
def test_generated_day_matches_the_mbo_books_at_every_cut(day, window_bits):
    # cuts through the day (the day drains at its end, so the end alone proves little)
    lv = ItchLevels(13, 1024, TICK, window_bits, 1 << 16)
    done, p = _feed_in_parts(day, 8, lv, lambda piece, mb: _same(lv, mb, 13))
    assert done == len(day)
    counts = lv.counters()
    assert counts["messages"] == p.counts["messages"]
    if window_bits < 8:  # small windows: slides and spills really happened
        assert counts["slides"] > 100
    else:
        assert counts["slides"] == 0


# mostly a few ids (so E/X/D/U meet live orders, partially and in excess), some far apart
ids_small = st.integers(1, 12)
ids_any = st.one_of(ids_small, ids_small, ids_small, st.integers(1, 2**63),
                    st.integers(1000, 1100))
loc = st.one_of(st.integers(0, INSTR - 1), st.just(INSTR))  # INSTR itself is out of range
price = st.one_of(st.integers(100, 200).map(lambda k: k * 100),  # on the one-cent grid
                  st.integers(9_000, 21_000))                   # far / off the grid
qty = st.one_of(st.integers(0, 12), st.integers(0, 300))
msg = st.one_of(
    st.tuples(st.just("A"), loc, ids_any, st.sampled_from([b"B", b"S"]), qty, price),
    st.tuples(st.just("E"), loc, ids_any, qty),
    st.tuples(st.just("C"), loc, ids_any, qty, price),
    st.tuples(st.just("X"), loc, ids_any, qty),
    st.tuples(st.just("D"), loc, ids_any),
    st.tuples(st.just("U"), loc, ids_any, ids_any, qty, price),
)
MAKE = {"A": _a, "E": _e, "C": _c, "X": _x, "D": _d, "U": _u}


@settings(max_examples=scaled(300), deadline=None)
@given(st.lists(msg, max_size=200), st.sampled_from([4, 5, 6, 20]), st.randoms())
def test_model_random_messages_agree_with_the_mbo_books(msgs, window_bits, rnd):
    data = b"".join(MAKE[m[0]](*m[1:]) for m in msgs)
    lv = ItchLevels(INSTR, 64, TICK, window_bits, 1 << 12)
    mb = ItchBooks(INSTR, 64, TICK, 1 << 12)
    p = ItchParser()
    # random chunking: every chunk boundary (even inside a message) resumes exactly
    pos = 0
    while pos < len(data):
        cut = pos + rnd.randint(1, 120)
        c = lv.feed(memoryview(data)[pos:cut])
        mb.feed(p, memoryview(data)[pos:pos + c])
        pos += c
        if rnd.random() < 0.2:
            _same(lv, mb, INSTR, 64)
    _same(lv, mb, INSTR, 64)
    assert lv.counters()["messages"] == len(msgs)


def _walk(rnd, n):
    """n messages that mostly touch live orders: partial, exact and excess executions and
    cancels, deletes, replaces to fresh, live and far ids; ids mostly rising (as ITCH's)."""
    live, next_id, out = [], 1, []
    for _ in range(n):
        r = rnd.random()
        loc = rnd.randrange(INSTR) if rnd.random() < 0.97 else INSTR
        px = rnd.randrange(95, 106) * 100 if rnd.random() < 0.9 else rnd.randrange(1, 40_000)
        if r < 0.4 or not live:
            i = next_id if rnd.random() < 0.9 else rnd.choice([rnd.randrange(1, 2**63),
                                                               max(1, next_id - rnd.randrange(64))])
            next_id += rnd.randrange(1, 4)
            q = rnd.randrange(0, 20)
            out.append(_a(loc, i, rnd.choice([b"B", b"S"]), q, px))
            live.append((i, q))
            continue
        k = rnd.randrange(len(live))
        i, q = live[k]
        if r < 0.55:
            out.append(_e(loc, i, rnd.randrange(0, q + 3)))
        elif r < 0.65:
            out.append(_c(loc, i, rnd.randrange(0, q + 3), px))
        elif r < 0.75:
            out.append(_x(loc, i, rnd.randrange(0, q + 3)))
        elif r < 0.85:
            out.append(_d(loc, i))
            live.pop(k)
        else:
            new = rnd.choice([next_id, i, rnd.choice(live)[0], rnd.randrange(1, 2**63)])
            next_id += 1
            nq = rnd.randrange(0, 20)
            out.append(_u(loc, i, new, nq, px))
            live[k] = (new, nq)
    return b"".join(out)


@settings(max_examples=scaled(60), deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([4, 5, 8, 20]))
def test_model_walk_over_live_orders_agrees_with_the_mbo_books(seed, window_bits):
    rnd = random.Random(seed)
    data = _walk(rnd, 600)
    lv = ItchLevels(INSTR, 64, TICK, window_bits, 1 << 12)
    mb = ItchBooks(INSTR, 64, TICK, 1 << 12)
    p = ItchParser()
    pos = 0
    while pos < len(data):
        c = lv.feed(memoryview(data)[pos:pos + rnd.randint(1, 4000)])
        mb.feed(p, memoryview(data)[pos:pos + c])
        pos += c
        _same(lv, mb, INSTR, 64)
    reasons = lv.counters()["rejected_by_reason"]
    assert reasons[7] > 0 and reasons[3] + reasons[1] > 0  # excess and duplicate/invalid met


def test_ids_out_of_order_and_jumps_keep_every_order():
    # ids below the window, far above it, and a window that later slides over spilled ids
    w = 4  # a 16-id window
    ids = [100, 5, 2**40, 101, 130, 2**40 + 3, 117, 60, 400, 2**40 + 1, 403]
    data = b"".join(_a(1, i, b"B", 10 + k, 10_000) for k, i in enumerate(ids))
    lv = ItchLevels(2, 64, TICK, w, 64)
    assert lv.feed(data) == len(data)
    assert lv.live_orders == len(ids)
    assert lv.best(1)[0] == (10_000 * 10_000, sum(10 + k for k in range(len(ids))))
    # each order is found again: delete them all, the level empties exactly
    data = b"".join(_x(1, i, 10 + k) for k, i in enumerate(ids))
    lv.feed(data)
    c = lv.counters()
    assert c["unknown_orders"] == 0 and c["live"] == 0 and c["spilled"] == 0
    assert lv.best(1) == (None, None)


def test_a_jump_of_an_empty_window_takes_in_the_spilled_ids_it_covers():
    lv = ItchLevels(2, 64, TICK, 4, 64)  # a 16-id window
    far = 2**40
    lv.feed(_a(1, 10, b"B", 1, 10_000) + _a(1, far, b"B", 2, 10_000))  # far: spilled above
    lv.feed(_d(1, 10))  # the window is empty now
    lv.feed(_a(1, far + 5, b"B", 4, 10_000))  # the window jumps over `far`
    lv.feed(_x(1, far, 2))
    c = lv.counters()
    assert c["unknown_orders"] == 0 and c["live"] == 1
    assert lv.best(1)[0] == (10_000 * 10_000, 4)


def test_the_window_slides_when_only_its_evicted_orders_need_the_spill_table():
    # more live orders in the window than the spill table holds, none of them old: every
    # slide moves nothing, so nothing is refused
    lv = ItchLevels(2, 64, TICK, 4, 16)  # a 16-id window, spill holds 8
    data = b"".join(_a(1, i, b"B", 1, 10_000) + (_d(1, i - 12) if i > 12 else b"")
                    for i in range(1, 400))
    lv.feed(data)
    c = lv.counters()
    assert c["rejected"] == 0 and c["live"] == 12 and c["slides"] > 50 and c["spilled"] == 0
    assert lv.best(1)[0] == (10_000 * 10_000, 12)


def test_a_refused_slide_is_counted_again_only_when_deletes_could_make_room():
    """A window full of live orders that the spill table cannot take when it would slide:
    the ADDs above it spill, then are FULL. Counting the orders a slide would move is a walk
    over the window, so it is done again only when deletes could have made room, never at
    every ADD (a 1.4 GB day with more live orders than window + spill once ran for more than
    11 minutes, unfinished). Every ADD still gets the answer it got before: spilled or FULL."""
    lv = ItchLevels(2, 64, TICK, 6, 16)  # a 64-id window, spill holds 8
    lv.feed(b"".join(_a(1, i, b"S", 1, 10_100) for i in range(1, 64)))  # ids 1..63: all live
    lv.feed(b"".join(_a(1, i, b"B", 1, 10_000) for i in range(64, 2064)))  # 2,000 above it
    c = lv.counters()
    assert c["slides_refused"] == 1, c  # one walk for 2,000 ADDs
    assert c["spilled"] == 8 and c["rejected_by_reason"][4] == 2000 - 8 and c["live"] == 71, c
    assert lv.best(1)[0] == (10_000 * 10_000, 8) and c["slides"] == 0
    # exactly enough deletes for the same slide to fit: 9 of the 16 window orders it moves
    # (7 left to move, + the ADD = 8) and the 8 spilled ADDs (room for 8); both kinds count
    lv.feed(b"".join(_d(1, i) for i in list(range(1, 10)) + list(range(64, 72))))
    lv.feed(_a(1, 64, b"B", 3, 10_000))
    c = lv.counters()
    assert c["slides"] == 1 and c["slides_refused"] == 1 and c["rejected"] == 2000 - 8, c
    assert c["live"] == 55 and c["spilled"] == 7 and lv.best(1)[0] == (10_000 * 10_000, 3)


def test_full_spill_table_rejects_the_add_and_counts_it():
    lv = ItchLevels(2, 64, TICK, 4, 16)  # spill holds 8 (load 1/2)
    # ids below the window after the first ADD sets it: all spill
    data = _a(1, 1000, b"S", 1, 10_000) + b"".join(_a(1, i, b"S", 1, 10_000) for i in range(1, 12))
    lv.feed(data)
    c = lv.counters()
    assert c["live"] == 1 + 8
    assert c["rejected_by_reason"][4] == 3  # FULL
    assert lv.best(1)[1][1] == 9


@pytest.mark.parametrize("window_bits", [4, 22])
def test_reset_object_builds_what_a_new_one_builds(day, window_bits):
    # half a day leaves orders live (in the window; spilled with a small one) and books
    # placed; after reset the whole day must give exactly a new object's books and counters
    lv = ItchLevels(13, 1024, TICK, window_bits, 1 << 16)
    lv.feed(memoryview(day)[: len(day) // 2])
    c = lv.counters()
    assert c["live"] > 0 and (window_bits > 8 or c["spilled"] > 0)
    with pytest.raises(ValueError, match="zero message length"):
        lv.feed(b"\0\0")
    lv.reset()
    assert all(v == 0 for v in lv.counters().values() if isinstance(v, int))
    assert all(lv.base(i) is None and lv.best(i) == (None, None) for i in range(13))
    fresh = ItchLevels(13, 1024, TICK, window_bits, 1 << 16)

    def check(piece, mb):
        assert fresh.feed(piece) == len(piece)
        _same(lv, fresh, 13)
        _same(lv, mb, 13)
        assert lv.counters() == fresh.counters()
        assert [lv.base(i) for i in range(13)] == [fresh.base(i) for i in range(13)]

    assert _feed_in_parts(day, 4, lv, check)[0] == len(day)


def test_errors_name_the_offset_and_keep_what_came_before():
    good = _a(1, 1, b"B", 5, 10_000)
    lv = ItchLevels(2, 64, TICK)
    with pytest.raises(ValueError, match=r"zero message length at byte offset 38"):
        lv.feed(good + b"\0\0" + good)
    assert lv.live_orders == 1
    with pytest.raises(ValueError, match=r"differs from its type's fixed length at byte offset 76"):
        lv.feed(good + struct.pack(">Hc", 1, b"A"))
    bad_side = bytearray(_a(1, 9, b"B", 5, 10_000))
    bad_side[2 + 19] = ord("Q")
    with pytest.raises(ValueError, match=r"side is not 'B' or 'S'"):
        lv.feed(bytes(bad_side))
    # an incomplete last message is left for the next call
    assert lv.feed(good[:-1]) == 0
    # unknown types are skipped by their length
    assert lv.feed(struct.pack(">Hc3s", 4, b"z", b"abc")) == 6
    assert lv.counters()["unknown_types"] == 1


def test_replace_with_no_room_for_the_new_ref_keeps_the_original():
    lv = ItchLevels(2, 64, TICK, 4, 16)  # spill holds 8
    lv.feed(_a(1, 1000, b"B", 7, 10_000) + b"".join(_a(1, i, b"S", 1, 10_100) for i in range(1, 9)))
    assert lv.counters()["spilled"] == 8
    lv.feed(_u(1, 1000, 2**40, 3, 10_000))  # the new ref would need the full spill table
    c = lv.counters()
    assert c["rejected_by_reason"][4] == 1 and c["live"] == 9
    assert lv.best(1)[0] == (10_000 * 10_000, 7)
    lv.feed(_u(1, 1000, 1001, 3, 10_000))  # in the window: fine
    assert lv.best(1)[0] == (10_000 * 10_000, 3) and lv.counters()["live"] == 9


@pytest.mark.parametrize("kw", [dict(instruments=0), dict(instruments=65537), dict(levels=3),
                                dict(levels=1 << 21), dict(tick=0), dict(tick=123),
                                dict(window_bits=3), dict(window_bits=29),
                                dict(spill_capacity=100), dict(spill_capacity=8)])
def test_bad_arguments_are_value_errors(kw):
    with pytest.raises(ValueError):
        ItchLevels(**kw)


def test_bad_reader_arguments():
    lv = ItchLevels(3, 64, TICK)
    with pytest.raises(ValueError, match="instrument must be in"):
        lv.best(3)
    with pytest.raises(ValueError, match="n must be in"):
        lv.depth(0, 0)
    assert lv.base(1) is None


def test_build_itch_books_from_a_file(tmp_path, day):
    path = tmp_path / "d.itch"
    path.write_bytes(day[: len(day) // 2])
    # half a file usually ends inside a message: the function says so
    parser = ItchParser()
    consumed, *_ = ItchBooks(13, 1024, TICK, 1 << 18).feed(parser, day[: len(day) // 2])
    cut = consumed
    path.write_bytes(day[:cut])
    lv = build_itch_books(path, levels_only=True, instruments=13, levels=1024)
    mb = build_itch_books(path, instruments=13, levels=1024, max_orders=1 << 18)
    _same(lv, mb, 13)
    if cut < len(day) // 2:
        path.write_bytes(day[: len(day) // 2])
        with pytest.raises(ValueError, match="ends inside a message"):
            build_itch_books(path, levels_only=True, instruments=13, levels=1024)


def _prefix_before(data, t):
    """Bytes of the whole messages stamped before t (a plain Python walk of the prefixes)."""
    pos = 0
    while pos + 2 <= len(data):
        n = struct.unpack_from(">H", data, pos)[0]
        stamp = int.from_bytes(data[pos + 2 + 5:pos + 2 + 11], "big")
        if stamp >= t:
            break
        pos += 2 + n
    return pos


def test_snapshots_at_times_hold_every_message_before_them(tmp_path, day):
    path = tmp_path / "d.itch"
    path.write_bytes(day)
    first = int.from_bytes(day[2 + 5:2 + 11], "big")
    times = [0, first, first + 1, 10 * 3600 * 10**9, 12 * 3600 * 10**9, 15 * 3600 * 10**9,
             15 * 3600 * 10**9, 24 * 3600 * 10**9]
    seen = []
    for t, lv in itch_levels_at(path, times, instruments=13, levels=1024, tick=TICK):
        cut = _prefix_before(day, t)
        ref = ItchLevels(13, 1024, TICK)
        assert ref.feed(day[:cut]) == cut
        mb = ItchBooks(13, 1024, TICK, 1 << 18)
        mb.feed(ItchParser(), day[:cut])
        _same(lv, mb, 13)
        assert lv.counters()["messages"] == ref.counters()["messages"]
        seen.append((t, lv.counters()["messages"], lv.live_orders))
    assert [t for t, _, _ in seen] == times
    assert seen[0][1] == 0 and seen[-1][1] > 0
    assert any(live > 0 for _, _, live in seen)  # some snapshot caught a live book


def test_snapshot_times_must_not_go_back(tmp_path):
    path = tmp_path / "e.itch"
    path.write_bytes(_a(1, 1, b"B", 5, 10_000))
    with pytest.raises(ValueError, match="non-decreasing"):
        list(itch_levels_at(path, [5, 4]))
    with pytest.raises(ValueError, match="until must be"):
        ItchLevels(2, 64, TICK).feed(b"", until=-1)
