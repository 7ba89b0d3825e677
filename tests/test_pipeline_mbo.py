"""Market-by-order pipelines (records="mbo"): LOBSTER messages or raw MBO_DTYPE events through
the pipeline's MBO book.

- The book the pipeline ends with is the book a direct replay into velox.MboBook builds
  (same digest, same best levels, same order lookups and queue positions), whatever the
  source (lobster:PATH, mbo:PATH, feed()).
- A user stage sees every applied event: the builtin "echo" sends one order per ADD, and the
  output holds exactly those orders, in order, byte-identical across two runs.
- Hostile event bytes are refused by the book (counted), never crash; conservation is exact.
- itch:PATH?symbols=...: one book per symbol; shm:NAME: events from another process.
- Bad combinations raise naming the value; order lookups need an MBO pipeline.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from child_env import IMPORT_ROOT
from shm_producer import producer_process
import velox
from velox import BUNDLE_DTYPE, MBO_DTYPE, MboBook, Pipeline
from velox._pipeline import BuiltinStage
from velox.feedgen import lobster_events
from velox.feeds import read_lobster, write_lobster
from velox.pipeline import format_summary

LEVELS = 4096
TICK = velox.to_fixed("0.01")


@pytest.fixture(scope="module")
def lobster_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lobster") / "msg.csv"
    # the first two thirds of a generated day: orders rest in the book at the end (a whole
    # generated day drains to an empty book at the close)
    write_lobster(path, lobster_events(45_000, seed=4)[:30_000])
    return path


def direct_book(events):
    """The oracle: the same events into a standalone MboBook whose window sits where the
    pipeline's book places its own (first ADD's price at level LEVELS / 2)."""
    first = events[events["action"] == 1]["price"][0]
    book = MboBook(levels=LEVELS, tick_size=TICK, base_price=int(first) - LEVELS // 2 * TICK,
                   max_orders=1 << 20)
    for i in range(0, len(events), 4096):
        book.apply_many(events[i:i + 4096])
    return book


def run(tmp_path, name, stage=None, **kw):
    out = tmp_path / name
    with Pipeline(on_full="block", levels=LEVELS, stage=stage, timestamps="logical",
                  bundle_timeout_us=0, output=str(out), **kw) as p:
        assert p.wait(timeout=120)
        bundles = out  # read after stop
        view = p.book
    r = p.stop()
    return r, bundles.read_bytes(), view


def orders_of(data):
    b = np.frombuffer(data, BUNDLE_DTYPE)
    used = np.arange(16)[None, :] < b["count"].astype(np.int64)[:, None]
    return b["txns"][used]


def test_lobster_replay_builds_the_direct_replays_book_and_feeds_the_stage(tmp_path, lobster_file):
    events = read_lobster(lobster_file)
    ref = direct_book(events)
    st = BuiltinStage("echo")
    r, data, view = run(tmp_path, "a.bin", stage=st, input=f"lobster:{lobster_file}")
    c = r["counters"]
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["records"] == "mbo" and r["fed"] == c["generated"] == len(events)
    assert c["applied"] == ref.counters.applied and c["rejected"] == ref.counters.rejected
    # the stage saw every applied event: echo answers each ADD with one order, all bundled
    adds = events[events["action"] == 1]
    orders = orders_of(data)
    assert c["user_stage"]["emitted"] == len(adds) == len(orders) == c["bundled"]
    assert np.array_equal(orders["price"], adds["price"]) and np.array_equal(orders["qty"], adds["qty"])
    assert np.array_equal(orders["side"], adds["side"])
    # the live view after the run: the same book as the oracle's
    assert view.best_bid() == ref.best_bid() and view.best_ask() == ref.best_ask()
    got, want = view.depth(20), ref.depth(20)
    for side in (0, 1):
        assert np.array_equal(got[side][0], want[side][0]) and np.array_equal(got[side][1], want[side][1])
    live = [int(e["order_id"]) for e in adds[-200:] if ref.order(int(e["order_id"])) is not None][:50]
    assert live, "the flow leaves orders resting"
    for oid in live:
        o, want = view.order(oid), ref.order(oid)
        assert type(o) is type(want) is velox.MboOrder  # one order type for both books
        assert (o.order_id, o.price, o.qty, o.side, o.in_window) == (
            want.order_id, want.price, want.qty, want.side, want.in_window)
        assert view.queue_position(oid) == ref.queue_position(oid)
    assert view.order(2**63) is None
    # a raw MBO_DTYPE file of the same events, and feed(): the same output and book
    raw = tmp_path / "events.mbo"
    events.tofile(raw)
    r2, data2, _ = run(tmp_path, "b.bin", stage=BuiltinStage("echo"), input=f"mbo:{raw}")
    assert data2 == data and r2["book_digest"] == r["book_digest"]
    # two stages over the same events: every batch's echo orders twice, stage 0's first
    r3, data3, _ = run(tmp_path, "c.bin", stage=[BuiltinStage("echo"), BuiltinStage("echo")],
                       input=f"mbo:{raw}")
    per = r3["counters"]["user_stages"]
    assert r3["conservation_ok"] and r3["book_digest"] == r["book_digest"]
    assert per[0]["emitted"] == per[1]["emitted"] == r["counters"]["user_stage"]["emitted"]
    one, two = orders_of(data), orders_of(data3)
    assert len(two) == 2 * len(one) and sorted(two["seq"].tolist()) == sorted(one["seq"].tolist() * 2)


def test_feed_of_mbo_events_and_a_live_view_while_it_runs(tmp_path, lobster_file):
    events = read_lobster(lobster_file)
    with Pipeline(input="feed", records="mbo", on_full="block", levels=LEVELS) as p:
        for i in range(0, len(events), 5000):
            p.feed(events[i:i + 5000])
            p.book.best_bid(), p.book.depth(5)  # readers while the book thread writes
            try:
                p.book.order(int(events["order_id"][i]))
            except TimeoutError:  # documented: the writer rewrote it on all 64 tries (TSan)
                pass
        p.close_feed()
        assert p.wait(timeout=120)
    r = p.stop()
    assert r["conservation_ok"] and r["fed"] == r["counters"]["generated"] == len(events)
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        Pipeline(input="feed", records="mbo").start().feed(np.zeros(3, velox.TXN_DTYPE))


def test_hostile_event_bytes_are_refused_never_crash(tmp_path):
    rng = np.random.default_rng(5)
    junk = np.frombuffer(rng.bytes(48 * 20_000), MBO_DTYPE).copy()
    path = tmp_path / "junk.mbo"
    junk.tofile(path)
    r, _, _ = run(tmp_path, "j.bin", stage=BuiltinStage("echo"), input=f"mbo:{path}")
    c = r["counters"]
    assert r["conservation_ok"], r["conservation_failures"]
    assert c["generated"] == 20_000 and c["applied"] + c["rejected"] == 20_000 and c["rejected"] > 0


def test_bad_combinations_raise_naming_the_value(tmp_path, lobster_file):
    with pytest.raises(ValueError, match="records must be 'mbo'"):
        Pipeline(input=f"lobster:{lobster_file}", records="txn")
    with pytest.raises(ValueError, match="records must be 'txn'"):
        Pipeline(records="mbo")  # the synthetic source makes transactions
    with pytest.raises(ValueError, match="records must be"):
        Pipeline(input="feed", records="l3")
    bad = tmp_path / "trunc.mbo"
    bad.write_bytes(b"x" * 50)
    with pytest.raises(ValueError, match="50 bytes"):
        Pipeline(input=f"mbo:{bad}")
    with pytest.raises(ValueError, match="needs a file path"):
        Pipeline(input="lobster:")
    with pytest.raises(ValueError, match="instrument"):
        Pipeline(input="feed", records="mbo", instruments=2).book.best_bid(instrument=2)
    with pytest.raises(RuntimeError, match="market-by-order"):
        Pipeline().book.order(1)


def test_cli_replays_a_lobster_file(tmp_path, lobster_file):
    js = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"lobster:{lobster_file}",
                        "--on-full", "block", "--levels", str(LEVELS), "--stage", "builtin:echo",
                        "--json", str(js), "--quiet"], cwd=IMPORT_ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and rep["records"] == "mbo"
    assert rep["counters"]["generated"] == len(read_lobster(lobster_file))
    assert rep["counters"]["user_stage"]["emitted"] > 0
    # records must match what the input carries; the market-by-order sizes are checked
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"lobster:{lobster_file}",
                        "--records", "txn"], cwd=IMPORT_ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "records must be 'mbo'" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"lobster:{lobster_file}",
                        "--max-orders", "10", "--quiet", "--json", str(js)], cwd=IMPORT_ROOT,
                       capture_output=True, text=True, timeout=120)
    rep = json.loads(js.read_text())  # a 10-order table: ADDs beyond it are refused, counted
    assert r.returncode == 0 and rep["conservation_ok"] and rep["counters"]["rejected"] > 0


def test_itch_replay_gives_each_symbol_its_own_book(tmp_path):
    """itch:PATH?symbols=S1,S3: book i is symbols[i]'s, equal to a direct replay of that
    symbol's events (read_itch filtered to it) into an MboBook."""
    from velox.feedgen import write_itch_file
    from velox.feeds import read_itch
    path = tmp_path / "day.itch"
    write_itch_file(path, 30_000, 6, seed=3)
    symbols = ["S1", "S3"]
    r, data, view = run(tmp_path, "i.bin", stage=BuiltinStage("echo"),
                        input=f"itch:{path}?symbols={','.join(symbols)}")
    c = r["counters"]
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["symbols"] == symbols and c["generated"] == r["fed"] > 0
    emitted = 0
    for i, sym in enumerate(symbols):
        events = read_itch(path, symbols=[sym]).read()
        own = events[events["instrument"] != 0]  # system events (locate 0) have no book effect
        ref = direct_book(own)
        assert view.best_bid(instrument=i) == ref.best_bid() and view.best_ask(instrument=i) == ref.best_ask()
        got, want = view.depth(10, instrument=i), ref.depth(10)
        assert all(np.array_equal(got[s][k], want[s][k]) for s in (0, 1) for k in (0, 1)), sym
        emitted += int((own["action"] == 1).sum())
    assert c["user_stage"]["emitted"] == emitted == len(orders_of(data))
    # the books share one order table and its counters: the report counts them once, and
    # lists the books that took orders
    t = r["mbo"]["totals"]
    assert t["applied"] == c["applied"] == sum(t["by_action"].values())
    assert [b["symbol"] for b in r["mbo"]["books"]] == symbols
    text = format_summary(r)
    assert f"add {t['by_action']['add']:,}," in text and "book(s) took orders" in text
    with pytest.raises(ValueError, match=r"\?symbols="):
        Pipeline(input=f"itch:{path}")
    with pytest.raises(ValueError, match="each symbol once"):
        Pipeline(input=f"itch:{path}?symbols=S1,S1")
    with pytest.raises(ValueError, match="cannot read"):
        Pipeline(input=f"itch:{tmp_path / 'none.itch'}?symbols=S1")


def test_summary_shortens_a_long_symbol_list():
    from velox.pipeline._report import _short_input
    names = ",".join(f"S{i}" for i in range(1000))
    assert _short_input(f"itch:day.itch?symbols={names}") == (
        "itch:day.itch?symbols=S0,S1,S2,S3,... (1,000 symbols)")
    assert _short_input("itch:day.itch?symbols=A,B") == "itch:day.itch?symbols=A,B"
    assert _short_input("lobster:msg.csv") == "lobster:msg.csv"


def test_shm_source_of_mbo_events_from_another_process(tmp_path, lobster_file):
    """A feed-handler process pushes MBO events into a SharedRing of MBO_DTYPE; the pipeline
    (input="shm:NAME", records="mbo") builds the same book as a direct replay."""
    events = read_lobster(lobster_file)
    with producer_process(tmp_path, events) as name:
        with Pipeline(input=f"shm:{name}", records="mbo", on_full="block", levels=LEVELS,
                      attach_timeout=60) as p:
            assert p.wait(timeout=120)
            view = p.book
        r = p.stop()
    assert r["conservation_ok"] and r["counters"]["generated"] == len(events)
    ref = direct_book(events)
    assert view.best_bid() == ref.best_bid() and view.best_ask() == ref.best_ask()
