"""Starting a replay from a snapshot, and level-limited LOBSTER files (seed_from_book).

- Pipeline(snapshot="lobster-book:PATH#i") + messages i+1.. gives, after every later message
  j, a book whose top levels equal orderbook row j (checked event by event through feed()
  and the live view, and at the end of a lobster: replay); without the snapshot it does not.
- "lobster-book:PATH" (no row) starts from the book before the first message, derived from
  row 0 and message 0; a LEVEL_DTYPE or MBO_DTYPE array, or {instrument: snapshot}, works too.
- An N-level message file omits what happens beyond level N: a deeper level comes into view
  with no ADD. With seed_from_book the book matches the orderbook file at every row and the
  seeded levels are counted; without it, it does not.
- Bad snapshots fail before the run: ValueError from Python, exit 2 with one line from the CLI.
"""

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from child_env import IMPORT_ROOT
from scale import scaled
import velox
from velox import BUY, MBO_DTYPE, SELL, Action, MboBook, Pipeline
from velox.feedgen import lobster_events
from velox.feeds import (LEVEL_DTYPE, LobsterBook, lobster_book_before, load_snapshot,
                         read_lobster, read_lobster_book, write_lobster, write_lobster_book)

TICK = velox.to_fixed("0.01")
LEVELS = 4096


# ---- data ------------------------------------------------------------------------------------

def lobster_faithful(events):
    """feedgen's stream as LOBSTER writes it: CANCEL / DELETE / EXECUTE carry the order's
    price, and DELETE the size it still had (an unknown order's event can then reduce the
    seeded lots at its level)."""
    ev = events.copy()
    live = {}
    for i in range(len(ev)):
        a, oid = int(ev["action"][i]), int(ev["order_id"][i])
        if a == Action.ADD:
            live[oid] = [int(ev["price"][i]), int(ev["qty"][i])]
        elif a in (Action.CANCEL, Action.DELETE, Action.EXECUTE):
            price, qty = live[oid]
            ev["price"][i] = price
            if a == Action.DELETE:
                ev["qty"][i] = qty
            live[oid][1] -= int(ev["qty"][i])
            if live[oid][1] == 0:
                del live[oid]
    out = np.zeros(len(ev), MBO_DTYPE)
    out[:] = ev
    return out


def book_rows(events, levels):
    """The LobsterBook of `events`: the top `levels` levels of each side after every event
    (a replay into a standalone MboBook)."""
    prices = events["price"][events["price"] > 0]
    lo = int(prices.min()) - 4 * TICK
    span = (int(prices.max()) - lo) // TICK + 8
    book = MboBook(levels=1 << max(1, int(span - 1).bit_length()), tick_size=TICK, base_price=lo)
    rows = len(events)
    arrays = [np.zeros((rows, levels), t) for t in (np.int64, np.uint64, np.int64, np.uint64)]
    for i in range(rows):
        book.apply(events[i])
        (bp, bq), (ap, aq) = book.depth(levels)
        arrays[0][i, :len(ap)], arrays[1][i, :len(aq)] = ap, aq
        arrays[2][i, :len(bp)], arrays[3][i, :len(bq)] = bp, bq
    return LobsterBook(*arrays)


def level_limited(n_messages, n_levels, seed, depth=14):
    """A market whose every message acts within the top n_levels of its side (what an
    n_levels LOBSTER message file shows), over a book that starts `depth` levels deep on each
    side with orders the file never names: as best levels empty, deeper ones come into view
    with no ADD. Returns (message events, LobsterBook rows of n_levels, start levels)."""
    rng = np.random.default_rng(seed)
    side_levels = {BUY: {}, SELL: {}}   # price -> [order ids] (FIFO)
    orders = {}                         # id -> [side, price, qty]
    next_id = 1
    mid = 100 * 10**8
    for side, sign in ((BUY, -1), (SELL, 1)):
        k = 0
        for _ in range(depth):
            k += int(rng.integers(1, 3))  # gaps of a tick now and then
            price = mid + sign * k * TICK
            for _ in range(int(rng.integers(1, 4))):
                orders[next_id] = [side, price, 100 * int(rng.integers(1, 6))]
                side_levels[side].setdefault(price, []).append(next_id)
                next_id += 1
    start = [(s, p, sum(orders[o][2] for o in ids))
             for s in (SELL, BUY) for p, ids in sorted(side_levels[s].items(), reverse=s == BUY)]

    def best_first(side):
        return sorted(side_levels[side], reverse=side == BUY)

    events = np.zeros(n_messages, MBO_DTYPE)
    rows = [np.zeros((n_messages, n_levels), t) for t in (np.int64, np.uint64, np.int64, np.uint64)]
    ts = 34_200 * 10**9
    for m in range(n_messages):
        side = BUY if rng.random() < 0.5 else SELL
        view = best_first(side)[:n_levels]
        r = rng.random()
        e = events[m]
        if r < 0.45 or not view:
            # an ADD that rests within the top n_levels: at a level in view, in a gap between
            # them, or one tick better than the best (never crossing the other side)
            sign = -1 if side == BUY else 1
            other = best_first(SELL if side == BUY else BUY)
            cands = set(view)
            if view:
                worst = view[-1]
                lo, hi = sorted((view[0], worst))
                cands |= {p for p in range(lo, hi, TICK) if p not in side_levels[side]}
                cands.add(view[0] - sign * TICK)
            else:
                cands.add(mid + sign * TICK)
            if other:
                cands = {p for p in cands if (p < other[0] if side == BUY else p > other[0])}
            if not cands:
                cands = set(view) or {mid + sign * TICK}
            price = sorted(cands)[int(rng.integers(len(cands)))]
            qty = 100 * int(rng.integers(1, 6))
            orders[next_id] = [side, price, qty]
            side_levels[side].setdefault(price, []).append(next_id)
            e["action"], e["order_id"], e["price"], e["qty"] = Action.ADD, next_id, price, qty
            next_id += 1
        else:
            if r < 0.6:  # execute the first order at the best price
                oid = side_levels[side][view[0]][0]
                qty = min(orders[oid][2], 100 * int(rng.integers(1, 4)))
                action = Action.EXECUTE
            else:        # cancel part of, or delete, any order in view
                price = view[int(rng.integers(len(view)))]
                ids = side_levels[side][price]
                oid = ids[int(rng.integers(len(ids)))]
                if r < 0.75 and orders[oid][2] > 100:
                    action, qty = Action.CANCEL, 100
                else:
                    action, qty = Action.DELETE, orders[oid][2]
            price = orders[oid][1]
            e["action"], e["order_id"], e["price"], e["qty"] = action, oid, price, qty
            orders[oid][2] -= qty
            if orders[oid][2] == 0:
                side_levels[side][price].remove(oid)
                if not side_levels[side][price]:
                    del side_levels[side][price]
                del orders[oid]
        e["side"] = side
        ts += int(rng.integers(1, 10**6))
        e["ts"] = ts
        for s, px_i, q_i in ((BUY, 2, 3), (SELL, 0, 1)):
            for k, p in enumerate(best_first(s)[:n_levels]):
                rows[px_i][m, k] = p
                rows[q_i][m, k] = sum(orders[o][2] for o in side_levels[s][p])
    return events, LobsterBook(*rows), np.array(start, LEVEL_DTYPE)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A generated LOBSTER day with an orderbook file deep enough to hold the whole book."""
    d = tmp_path_factory.mktemp("snapshot")
    events = lobster_faithful(lobster_events(scaled(3000, 1500), seed=11))
    full = book_rows(events, 128)
    used = int((full.ask_qty > 0).sum(axis=1).max()), int((full.bid_qty > 0).sum(axis=1).max())
    depth = max(used) + 1
    assert depth < 128
    book = LobsterBook(*(a[:, :depth].copy() for a in full))
    write_lobster(d / "msg.csv", events)
    write_lobster_book(d / "book.csv", book)
    return d, events, book


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A generated 2-level LOBSTER file pair whose book starts deeper than 2 levels."""
    d = tmp_path_factory.mktemp("limited")
    events, book, start = level_limited(scaled(1200, 600), 2, seed=7)
    write_lobster(d / "msg.csv", events)
    write_lobster_book(d / "book.csv", book)
    return d, events, book, start


# ---- helpers ---------------------------------------------------------------------------------

def row_levels(book, j, n):
    """((bid px, bid qty), (ask px, ask qty)) of row j's non-empty levels among the top n."""
    out = []
    for px, qty in ((book.bid_px, book.bid_qty), (book.ask_px, book.ask_qty)):
        keep = qty[j, :n] > 0
        out.append((px[j, :n][keep].tolist(), qty[j, :n][keep].tolist()))
    return out


def view_levels(pipe, n):
    (bp, bq), (ap, aq) = pipe.book.depth(n)
    return [(bp.tolist(), bq.tolist()), (ap.tolist(), aq.tolist())]


def replay_rows(events, book, first, n, **kw):
    """Feeds events[first:] one by one into a feed pipeline and returns the rows j >= first
    after which the live book's top n levels differ from orderbook row j (and the report)."""
    differing = []
    with Pipeline(input="feed", records="mbo", on_full="block", levels=LEVELS, **kw) as p:
        for j in range(first, len(events)):
            assert p.feed(events[j:j + 1], timeout=10) == 1
            deadline = time.monotonic() + 30  # hang guard only: the book takes one event
            while True:
                c = p.counters()
                if c["applied"] + c["rejected"] == j - first + 1:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"the book never took message {j}")
                time.sleep(0)
            if view_levels(p, n) != row_levels(book, j, n):
                differing.append(j)
        p.close_feed()
        assert p.wait(timeout=30)
    return differing, p.stop()


# ---- starting from a snapshot ----------------------------------------------------------------

def test_snapshot_row_then_every_later_row_matches(day):
    d, events, book = day
    i = len(events) // 3
    differing, r = replay_rows(events, book, i + 1, 10, snapshot=f"lobster-book:{d / 'book.csv'}#{i}")
    assert differing == []
    assert r["conservation_ok"]
    assert r["snapshot"]["levels"] == int((book.ask_qty[i] > 0).sum() + (book.bid_qty[i] > 0).sum())
    # without the snapshot the same replay builds another book
    differing, _ = replay_rows(events[:i + 200], book, i + 1, 10)
    assert len(differing) > 0


def test_snapshot_row_skips_the_messages_it_holds(day):
    """lobster: input + "#ROW": the replay starts at message ROW + 1 and ends at the last row."""
    d, events, book = day
    i = len(events) // 2
    with Pipeline(input=f"lobster:{d / 'msg.csv'}", on_full="block", levels=LEVELS,
                  snapshot=f"lobster-book:{d / 'book.csv'}#{i}") as p:
        assert p.wait(timeout=60)
        view = view_levels(p, 10)
    r = p.stop()
    assert r["conservation_ok"] and r["counters"]["generated"] == len(events) - i - 1
    assert r["snapshot"]["first_message"] == i + 1
    assert view == row_levels(book, len(events) - 1, 10)


def test_snapshot_default_is_the_book_before_the_first_message(day, tmp_path):
    """A file pair cut from the middle of the day: "lobster-book:PATH" derives the start from
    row 0 and message 0, which is the day's row k - 1."""
    d, events, book = day
    for k in range(len(events) // 4, len(events) // 4 + 40):  # every kind of first message
        before = lobster_book_before(LobsterBook(*(a[k:k + 1] for a in book)), events[k:k + 1])
        truth = load_snapshot(f"lobster-book:{d / 'book.csv'}#{k - 1}").books[0]
        assert before.tolist() == truth.tolist(), k
    k = len(events) // 4
    write_lobster(tmp_path / "msg.csv", events[k:])
    write_lobster_book(tmp_path / "book.csv", LobsterBook(*(a[k:] for a in book)))
    with Pipeline(input=f"lobster:{tmp_path / 'msg.csv'}", on_full="block", levels=LEVELS,
                  snapshot=f"lobster-book:{tmp_path / 'book.csv'}") as p:
        assert p.wait(timeout=60)
        view = view_levels(p, 10)
    r = p.stop()
    assert r["conservation_ok"] and r["counters"]["generated"] == len(events) - k
    assert view == row_levels(book, len(events) - 1, 10)


def test_snapshot_of_levels_or_events_or_per_instrument(day):
    d, events, book = day
    i = len(events) // 3
    levels = load_snapshot(f"lobster-book:{d / 'book.csv'}#{i}").books[0]
    differing, r = replay_rows(events[:i + 150], book, i + 1, 10, snapshot=levels)
    assert differing == [] and r["snapshot"]["levels"] == len(levels)
    # the same state as orders: one ADD per level (ids the file never uses)
    adds = np.zeros(len(levels), MBO_DTYPE)
    adds["action"] = Action.ADD
    adds["order_id"] = np.arange(len(levels)) + 10**15
    adds["side"], adds["price"], adds["qty"] = levels["side"], levels["price"], levels["qty"]
    adds["instrument"] = 1
    with Pipeline(input="feed", records="mbo", levels=LEVELS, instruments=2,
                  snapshot={0: levels, 1: adds}) as p:
        assert view_levels(p, 10) == row_levels(book, i, 10)
        (bp, bq), (ap, aq) = p.book.depth(10, instrument=1)
        assert [(bp.tolist(), bq.tolist()), (ap.tolist(), aq.tolist())] == row_levels(book, i, 10)
        assert p.book.order(10**15, instrument=1) is not None
        p.close_feed()
    assert p.stop()["snapshot"]["orders"] == len(adds)


def test_bad_snapshots_fail_before_the_run(day, tmp_path):
    d, events, book = day
    msg = f"lobster:{d / 'msg.csv'}"
    events.tofile(tmp_path / "ev.mbo")
    bad = [
        (dict(input=msg, snapshot=f"lobster-book:{tmp_path / 'nope.csv'}"), "no such file"),
        (dict(input=msg, snapshot=f"lobster-book:{d / 'book.csv'}#{len(book)}"), "out of range"),
        (dict(input=msg, snapshot=f"lobster-book:{d / 'book.csv'}#x"), "not an integer"),
        (dict(input="feed", records="mbo", snapshot=f"lobster-book:{d / 'book.csv'}"), "#ROW"),
        (dict(input=msg, snapshot=np.zeros(3, np.int64)), "neither"),
        (dict(input=msg, snapshot=np.zeros(3, [("side", "u1"), ("price", "f8"), ("qty", "u8")])),
         "integer fields"),
        (dict(input=msg, snapshot=events[:5]), "not an ADD"),
        (dict(input=msg, snapshot={3: f"lobster-book:{d / 'book.csv'}#0"}), "instruments=1"),
        (dict(input=msg, snapshot=np.array([(BUY, 10**10, 5), (BUY, 10**10 - 1, 5)],
                                           LEVEL_DTYPE)), "refused: off the tick grid"),
        (dict(input=msg, snapshot=np.array([(BUY, 10**10, 5), (SELL, 10**10 + LEVELS * TICK, 5)],
                                           LEVEL_DTYPE)), "outside the book's window"),
        (dict(input="synthetic", snapshot=f"lobster-book:{d / 'book.csv'}#0"), "records='mbo'"),
        (dict(input=msg, seed_from_book=str(tmp_path / "nope.csv")), "no such file"),
        (dict(input=f"mbo:{tmp_path / 'ev.mbo'}", seed_from_book=str(d / "book.csv")), "lobster:PATH"),
    ]
    for kw, words in bad:
        with pytest.raises(ValueError, match=re.escape(words)):
            Pipeline(levels=LEVELS, **kw)
    with pytest.raises(TypeError, match="lobster-book"):
        Pipeline(input=msg, snapshot=3.5)


@pytest.mark.parametrize("runner", ["Pipeline", "backtest"])
def test_a_snapshot_event_the_book_refuses_is_named_with_its_reason(runner):
    """Both native paths that apply MBO snapshot events (NativePipeline and NativeBacktest:
    velox/_backtest.pxd): the first event a book refuses is named, with its reject reason,
    before the run."""
    adds = np.zeros(3, MBO_DTYPE)
    adds["action"], adds["side"], adds["qty"] = Action.ADD, BUY, 5
    adds["order_id"] = [7, 8, 7]  # the third ADD reuses a live order's id
    adds["price"] = [10**10, 10**10 - TICK, 10**10 - 2 * TICK]
    off_grid = adds.copy()
    off_grid["order_id"] = [7, 8, 9]
    off_grid["price"][1] = 10**10 + 1

    def start(snapshot):
        if runner == "Pipeline":
            Pipeline(input="feed", records="mbo", levels=LEVELS, snapshot=snapshot)
        else:
            events = adds[:1].copy()
            events["order_id"], events["ts"] = 100, 1
            velox.backtest(events, "builtin:quote", snapshot=snapshot, tick=0.01, levels=LEVELS)

    for snapshot, k, reason in ((adds, 2, "duplicate"), (off_grid, 1, "off_grid")):
        with pytest.raises(ValueError, match=rf"^snapshot event {k} \(np.void\(\(0, "
                                             rf"{snapshot['order_id'][k]}, .*\)\) was refused "
                                             rf"by the book \(reject reason {reason}\)$"):
            start(snapshot)
    start(adds[:2])  # the events before the refused one are good


def test_cli_snapshot_errors_are_one_line_exit_2(day, tmp_path):
    d, events, book = day
    for snap in (f"lobster-book:{tmp_path / 'nope.csv'}", f"lobster-book:{d / 'book.csv'}#-1"):
        cp = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input",
                             f"lobster:{d / 'msg.csv'}", "--snapshot", snap, "--quiet"],
                            capture_output=True, text=True, cwd=IMPORT_ROOT, timeout=60)
        assert cp.returncode == 2, cp.stderr
        assert cp.stderr.count("\n") == 1 and "snapshot" in cp.stderr, cp.stderr
        assert cp.stdout == ""


# ---- level-limited files ---------------------------------------------------------------------

def test_level_limited_file_needs_seed_from_book(limited):
    d, events, book, start = limited
    # the file's own view of the start: row 0 with message 0 undone (2 levels a side; the
    # market starts 14 deep)
    snap = lobster_book_before(book, events[:1])
    with_seed, r = replay_rows(events, book, 0, 2, snapshot=snap,
                               seed_from_book=str(d / "book.csv"))
    assert with_seed == []
    ref = r["seed_from_book"]
    assert ref["levels_seeded"] > 0 and ref["rows_differing"] == 0
    assert ref["rows_checked"] == len(events)
    without, _ = replay_rows(events, book, 0, 2, snapshot=snap)
    assert len(without) > 0


def test_book_before_a_level_limited_file(limited):
    """The derived start of a file cut at message k is row k - 1, but for a level that was
    pushed out of view by message k (an ADD of a new level): the file cannot show it."""
    d, events, book, start = limited
    exact = 0
    for k in range(1, len(events)):
        cut = LobsterBook(*(a[k:k + 1] for a in book))
        derived = lobster_book_before(cut, events[k:k + 1]).tolist()
        truth = load_snapshot(f"lobster-book:{d / 'book.csv'}#{k - 1}").books[0].tolist()
        if derived != truth:
            assert events["action"][k] == Action.ADD, k
            assert set(derived) < set(truth) and len(truth) - len(derived) == 1, k
        else:
            exact += 1
    assert exact > len(events) // 2


def test_level_limited_lobster_replay_and_cli_json(limited, tmp_path):
    d, events, book, start = limited
    args = dict(input=f"lobster:{d / 'msg.csv'}", snapshot=f"lobster-book:{d / 'book.csv'}",
                seed_from_book=str(d / "book.csv"))
    with Pipeline(on_full="block", levels=LEVELS, **args) as p:
        assert p.wait(timeout=60)
        view = view_levels(p, 2)
    r = p.stop()
    assert r["conservation_ok"]
    assert r["seed_from_book"]["rows_differing"] == 0 and r["seed_from_book"]["levels_seeded"] > 0
    assert view == row_levels(book, len(events) - 1, 2)
    out = tmp_path / "r.json"
    cp = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", args["input"],
                         "--snapshot", args["snapshot"], "--seed-from-book", args["seed_from_book"],
                         "--on-full", "block", "--levels", str(LEVELS), "--quiet", "--json", str(out)],
                        capture_output=True, text=True, cwd=IMPORT_ROOT, timeout=120)
    assert cp.returncode == 0, cp.stderr
    rep = json.loads(out.read_text())
    assert rep["seed_from_book"] == r["seed_from_book"] | {"path": str(d / "book.csv")}
    assert "levels came into view with no ADD and were seeded" in cp.stdout
    # TOML keys, and a pair that does not match
    toml = tmp_path / "run.toml"
    toml.write_text(f'input = "{args["input"]}"\nsnapshot = "{args["snapshot"]}"\n'
                    f'seed-from-book = "{d / "book.csv"}"\non-full = "block"\nlevels = {LEVELS}\n'
                    'quiet = true\n')
    cp = subprocess.run([sys.executable, "-m", "velox.pipeline", "--config", str(toml)],
                        capture_output=True, text=True, cwd=IMPORT_ROOT, timeout=120)
    assert cp.returncode == 0, cp.stderr
    write_lobster_book(tmp_path / "short.csv", LobsterBook(*(a[:-1] for a in book)))
    cp = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", args["input"],
                         "--seed-from-book", str(tmp_path / "short.csv"), "--quiet"],
                        capture_output=True, text=True, cwd=IMPORT_ROOT, timeout=60)
    assert cp.returncode == 2 and "must be a pair" in cp.stderr and cp.stderr.count("\n") == 1


def test_write_lobster_book_round_trips(limited, tmp_path):
    d, events, book, start = limited
    back = read_lobster_book(d / "book.csv")
    for a, b in zip(back, book):
        assert np.array_equal(a, b)
    assert read_lobster(d / "msg.csv").tobytes() == events.tobytes()


def test_seed_from_book_counts_the_rows_it_cannot_correct(day, tmp_path):
    """A replay cut from the middle of a day without its snapshot: levels already holding
    orders the replay never saw are not corrected, and every such row is counted; with the
    snapshot every row matches."""
    d, events, book = day
    k = len(events) // 3
    write_lobster(tmp_path / "msg.csv", events[k:])
    write_lobster_book(tmp_path / "book.csv", LobsterBook(*(a[k:] for a in book)))
    runs = {}
    for name, snap in (("without", None), ("with", f"lobster-book:{tmp_path / 'book.csv'}")):
        with Pipeline(input=f"lobster:{tmp_path / 'msg.csv'}", on_full="block", levels=LEVELS,
                      snapshot=snap, seed_from_book=str(tmp_path / "book.csv")) as p:
            assert p.wait(timeout=60)
        runs[name] = p.stop()["seed_from_book"]
    assert runs["with"]["rows_differing"] == 0
    assert runs["with"]["rows_checked"] == runs["without"]["rows_checked"] == len(events) - k
    assert runs["without"]["rows_differing"] > 0 and runs["without"]["levels_seeded"] > 0
