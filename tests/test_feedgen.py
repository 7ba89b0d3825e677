"""velox.feedgen makes data that looks like a market: every generated stream, applied to
velox.MboBook, keeps every book uncrossed and unlocked after every event (every k-th event for
the bigger streams), time never goes backwards and stays within the session, the day drains
to no live orders at the close, LOBSTER orderbook files agree with the book built from their
message files at every row, and the same seed gives the same bytes from every generator."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scale import scaled
from velox import Action, MboBook, MboFlag
from velox import feeds
from velox.feedgen import (DAY_END, DAY_START, TICK, concat, generate, lobster_book_rows,
                           lobster_events, symbol_names, txn_flow, write_itch_file,
                           write_lobster_files)

LEVELS = 1 << 16  # a $655 window of $0.01 ticks: wide enough for a generated day's prices


def book_for(prices):
    base = max(0, int(prices[0]) // TICK - LEVELS // 2) * TICK if len(prices) else 0
    return MboBook(levels=LEVELS, tick_size=TICK, base_price=base, max_orders=1 << 16)


def replay_checked(ev, every=1):
    """Apply ev to one MboBook per instrument, checking best bid < best ask after every
    `every` events of that instrument; returns {instrument: book}."""
    books = {}
    orders = ev["action"] != Action.STATUS
    for inst in np.unique(ev["instrument"][orders]).tolist():
        sub = concat([ev[ev["instrument"] == inst]])
        book = books[inst] = book_for(sub["price"][sub["action"] == Action.ADD])
        for i in range(0, len(sub), every):
            r = book.apply_many(sub[i:i + every])
            assert r.rejected == 0 and r.unknown_orders == 0, (inst, i, r)
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and ask is not None:
                assert bid[0] < ask[0], f"instrument {inst} crossed/locked after event {i}: " \
                                        f"bid {bid}, ask {ask}"
        assert book.counters.out_of_window_orders == 0
    return books


def check_times(ev):
    ts = ev["ts"].astype(np.int64)
    assert (np.diff(ts) >= 0).all(), "timestamps go backwards"
    assert ts.min() >= DAY_START and ts.max() <= DAY_END
    orders = ev["action"] != Action.STATUS
    assert (ts[orders] < DAY_END).all(), "an order event at or after 16:00"
    system = ev[(ev["action"] == Action.STATUS) & (ev["flags"] & MboFlag.SYSTEM != 0)]
    assert bytes(system["status"]) == b"OSQMEC"


@settings(max_examples=scaled(30, 8), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3000), n_symbols=st.integers(1, 6),
       p_aggressive=st.sampled_from([0.0, 0.15, 0.6]))
def test_generated_books_never_cross_and_the_day_drains(seed, n, n_symbols, p_aggressive):
    ev = concat(list(generate(n, n_symbols, seed=seed, p_aggressive=p_aggressive)))
    check_times(ev)
    books = replay_checked(ev)
    assert all(b.live_orders == 0 for b in books.values())


def test_a_big_stream_never_crosses_and_trades():
    n = scaled(200_000, 30_000)
    ev = concat(list(generate(n, 8, seed=11)))
    assert abs(len(ev) - n) < n // 50
    check_times(ev)
    books = replay_checked(ev, every=7)
    assert all(b.live_orders == 0 for b in books.values())
    acts = np.bincount(ev["action"], minlength=11)
    # both kinds of flow: aggressive orders execute against resting ones, passive ones rest
    assert acts[Action.EXECUTE] > n // 20 and acts[Action.ADD] > n // 4
    assert acts[Action.REPLACE] and acts[Action.CANCEL] and acts[Action.TRADE]
    traded = sum(b.counters.traded_qty for b in books.values())
    assert traded == int(ev["qty"][ev["action"] == Action.EXECUTE].sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prices_move_through_the_day_with_a_tight_spread(seed):
    """The book follows the latent fair price: the mid ranges over more than 0.2 % of the
    price in a day (a static book would not), while the spread stays at a tick or two."""
    ev = concat(list(generate(40_000, 1, seed=seed)))
    book = book_for(ev["price"][ev["action"] == Action.ADD])
    mids, spreads = [], []
    for i in range(0, len(ev), 100):
        book.apply_many(ev[i:i + 100])
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            mids.append((bid[0] + ask[0]) / 2)
            spreads.append((ask[0] - bid[0]) // TICK)
    assert (max(mids) - min(mids)) / mids[0] > 0.002, (min(mids), max(mids))
    assert np.median(spreads) <= 2


def test_executions_fill_the_best_price_first_in_time_priority():
    """An aggressive order's EXECUTEs (same timestamp) take the other side's best level first
    and, within a level, the oldest order first, as a matching engine does."""
    ev = concat(list(generate(20_000, 1, seed=5, p_aggressive=0.5)))
    book = book_for(ev["price"][ev["action"] == Action.ADD])
    sweeps = 0
    i = 0
    while i < len(ev):
        e = ev[i]
        if e["action"] != Action.EXECUTE:
            book.apply(e)
            i += 1
            continue
        j = i
        while j < len(ev) and ev[j]["action"] == Action.EXECUTE and ev[j]["ts"] == e["ts"]:
            j += 1
        for x in ev[i:j]:
            side_best = book.best_ask() if x["side"] == 1 else book.best_bid()
            o = book.order(int(x["order_id"]))
            assert o.price == side_best[0], "an execution away from the best price"
            assert book.queue_position(int(x["order_id"])) == 0, "an execution out of FIFO order"
            book.apply(x)
        sweeps += j - i > 1
        i = j
    assert sweeps > 10  # some aggressive orders fill several resting orders


def test_live_orders_ramp_hold_and_drain():
    peak = 3000
    n = 60_000
    ev = concat(list(generate(n, 4, seed=2, peak_live_orders=peak)))
    live = np.cumsum(np.where(ev["action"] == Action.ADD, 1, 0)
                     - np.where(ev["action"] == Action.DELETE, 1, 0)
                     - full_fills(ev))
    x = (ev["ts"].astype(np.float64) - DAY_START) / (DAY_END - DAY_START)
    at = {q: int(live[np.searchsorted(x, q)]) for q in (0.01, 0.05, 0.5, 0.8, 0.99)}
    assert at[0.01] < at[0.05] < at[0.5], at                  # ramps up after the open
    assert 0.6 * peak <= at[0.5] <= 1.05 * peak, at           # holds near the peak
    assert 0.6 * peak <= at[0.8] <= 1.05 * peak, at
    assert at[0.99] <= peak // 20, at                         # drains before the close
    assert live.max() <= 1.05 * peak and live[-1] == 0
    swept = (ev["ts"] >= DAY_END - 10**9) & (ev["action"] == Action.DELETE)
    assert swept.sum() <= peak // 20  # few orders are left for the last second


def full_fills(ev):
    """1 where an EXECUTE or CANCEL takes an order's last shares (a dict model)."""
    left = {}
    out = np.zeros(len(ev), np.int64)
    for i, (a, oid, ref, qty) in enumerate(zip(ev["action"].tolist(), ev["order_id"].tolist(),
                                               ev["ref"].tolist(), ev["qty"].tolist())):
        if a == Action.ADD:
            left[oid] = qty
        elif a == Action.REPLACE:
            left.pop(oid)
            left[ref] = qty
        elif a == Action.DELETE:
            left.pop(oid)
        elif a in (Action.EXECUTE, Action.CANCEL):
            left[oid] -= qty
            if left[oid] == 0:
                del left[oid]
                out[i] = 1
    return out


def test_itch_day_never_crosses_and_drains(tmp_path):
    path = tmp_path / "day.itch"
    n = scaled(60_000, 15_000)
    info = write_itch_file(path, n, 10, seed=8)
    r = feeds.read_itch(path)
    ev = r.read()
    assert r.symbols == {i + 1: s for i, s in enumerate(symbol_names(10))}
    assert len(ev) == info["events"] and info["live_at_end"] == 0
    assert 0.5 * (n // 20) <= info["max_live"] <= 1.1 * (n // 20)  # the default peak
    check_times(ev)
    books = replay_checked(ev, every=3)
    assert len(books) == 10 and all(b.live_orders == 0 for b in books.values())
    # the same file through ItchBooks: every book empty and uncrossed at the close
    itch_books = feeds.ItchBooks(11, 1024, TICK, 1 << 16)
    data = path.read_bytes()
    consumed, events, applied, rejected = itch_books.feed(feeds.ItchParser(), data,
                                                          np.empty(4096, ev.dtype))
    assert consumed == len(data) and rejected == 0 and itch_books.live_orders == 0


@settings(max_examples=scaled(12, 4), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 2500), levels=st.sampled_from([1, 3, 10]))
def test_lobster_orderbook_file_matches_the_book_of_the_message_file(tmp_path_factory, seed, n,
                                                                      levels):
    d = tmp_path_factory.mktemp("lobster")
    msg, ob = d / "m.csv", d / "b.csv"
    info = write_lobster_files(msg, ob, n, levels=levels, seed=seed)
    ev = feeds.read_lobster(msg)
    book_rows = feeds.read_lobster_book(ob)
    assert len(ev) == len(book_rows) == info["events"] and book_rows.levels == levels
    check_times_lobster(ev)
    book = book_for(ev["price"][ev["action"] == Action.ADD])
    for i in range(len(ev)):
        r = book.apply_many(ev[i:i + 1])
        assert r.rejected == 0 and r.unknown_orders == 0
        (bp, bq), (ap, aq) = book.depth(levels)
        assert bp.tolist() == book_rows.bid_px[i][:len(bp)].tolist(), i
        assert bq.tolist() == book_rows.bid_qty[i][:len(bq)].tolist(), i
        assert ap.tolist() == book_rows.ask_px[i][:len(ap)].tolist(), i
        assert aq.tolist() == book_rows.ask_qty[i][:len(aq)].tolist(), i
        assert not book_rows.bid_qty[i][len(bq):].any() and not book_rows.ask_qty[i][len(aq):].any()
        if len(bp) and len(ap):
            assert bp[0] < ap[0]
    assert book.live_orders == 0


def check_times_lobster(ev):
    ts = ev["ts"].astype(np.int64)
    assert (np.diff(ts) >= 0).all()
    if len(ts):
        assert ts.min() >= DAY_START and ts.max() < DAY_END


def test_lobster_book_rows_of_a_hand_made_stream():
    ev = np.zeros(5, ev_dtype := lobster_events(1).dtype)
    ev["action"] = [Action.ADD, Action.ADD, Action.EXECUTE, Action.ADD, Action.DELETE]
    ev["order_id"] = [1, 2, 1, 3, 2]
    ev["side"] = [0, 1, 0, 0, 1]
    ev["price"] = [100 * TICK, 102 * TICK, 100 * TICK, 101 * TICK, 102 * TICK]
    ev["qty"] = [300, 200, 100, 50, 200]
    rows = lobster_book_rows(ev, 2)
    assert ev_dtype == ev.dtype
    assert rows.bid_px[3].tolist() == [101 * TICK, 100 * TICK]
    assert rows.bid_qty[3].tolist() == [50, 200]
    assert rows.ask_px[1].tolist() == [102 * TICK, 0] and rows.ask_qty[4].tolist() == [0, 0]


def test_write_lobster_book_round_trips(tmp_path):
    ev = lobster_events(3000, seed=3)
    rows = lobster_book_rows(ev, 5)
    p = tmp_path / "b.csv"
    n_bytes = feeds.write_lobster_book(p, rows)
    assert p.stat().st_size == n_bytes
    back = feeds.read_lobster_book(p)
    for a, b in zip(rows, back):
        assert a.tolist() == b.tolist()
    first = p.read_bytes().splitlines()[0].split(b",")
    assert len(first) == 20
    with pytest.raises(ValueError, match="row 0 has a bid price"):
        feeds.write_lobster_book(p, feeds.LobsterBook(rows.ask_px, rows.ask_qty,
                                                      rows.bid_px + 1, rows.bid_qty))


def test_same_seed_same_bytes(tmp_path):
    def itch(seed, name):
        write_itch_file(tmp_path / name, 5000, 7, seed=seed)
        return (tmp_path / name).read_bytes()

    def lobster(seed, name):
        write_lobster_files(tmp_path / f"{name}.m", tmp_path / f"{name}.b", 3000, levels=5,
                            seed=seed)
        return (tmp_path / f"{name}.m").read_bytes() + (tmp_path / f"{name}.b").read_bytes()

    makers = {
        "generate": lambda seed, name: concat(list(generate(5000, 7, seed=seed))).tobytes(),
        "lobster_events": lambda seed, name: lobster_events(5000, seed=seed).tobytes(),
        "itch": itch,
        "lobster files": lobster,
        "txn_flow": lambda seed, name: txn_flow(5000, seed=seed, gap_ns=10).tobytes(),
    }
    for what, make in makers.items():
        a, b, c = make(1, "a"), make(1, "b"), make(2, "c")
        assert a == b, f"{what}: the same seed gave different bytes"
        assert a != c, f"{what}: different seeds gave the same bytes"


def test_bad_arguments_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="n_messages.*0"):  # at the call, not when iterated
        generate(0)
    with pytest.raises(ValueError, match="n_symbols.*70000"):
        generate(10, 70000)
    with pytest.raises(ValueError, match="p_aggressive.*1.5"):
        generate(10, p_aggressive=1.5)
    with pytest.raises(ValueError, match="peak_live_orders.*0"):
        generate(10, peak_live_orders=0)
    with pytest.raises(ValueError, match="seed.*-1"):
        generate(10, seed=-1)
    with pytest.raises(ValueError, match="chunk.*0"):
        generate(10, chunk=0)
    with pytest.raises(ValueError, match="p_replace"):
        lobster_events(10, p_replace=0.1)
    with pytest.raises(TypeError, match="p_rest"):
        write_itch_file(tmp_path / "x.itch", 10, p_rest=0.2)
    with pytest.raises(ValueError, match="levels.*0"):
        write_lobster_files(tmp_path / "m", tmp_path / "b", 10, levels=0)


def test_write_itch_file_writes_what_generate_yields(tmp_path):
    path = tmp_path / "day.itch"
    write_itch_file(path, 4000, 5, seed=3, p_aggressive=0.3)
    want = concat(list(generate(4000, 5, seed=3, p_aggressive=0.3)))
    assert feeds.read_itch(path).read().tobytes() == feeds.as_itch(want).tobytes()
