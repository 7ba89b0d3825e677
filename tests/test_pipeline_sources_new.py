"""The pipeline's dbn:PATH (Databento DBN, MBO schema) and journal:DIR (velox.Journal) sources.

- Each replays exactly what its direct reader returns: the same book digest as an mbo:/events:
  replay of the events read_dbn / JournalReader give, the same best levels and depth as a
  direct MboBook.apply_many of them.
- Bad inputs are refused before the run (ValueError naming the input; CLI exit 2, one line):
  a bad DBN header, a DBN instrument_id outside the books, a journal of another dtype, a
  start before the journal, a records= that disagrees.
- A DBN record that lies mid-file fails the run (InputError, verdict INPUT FAILED) after the
  events before it; a journal's corrupt records are skipped, counted and fail the verdict.
- A followed journal (?follow=1) takes records appended during the run and stops on stop().
"""

import datetime
import subprocess
import sys
import time
from types import SimpleNamespace as NS

import numpy as np
import pytest

from child_env import IMPORT_ROOT
import velox
from velox import MBO_DTYPE, TXN_DTYPE, Journal, JournalReader, MboBook, Pipeline
from velox.feedgen import lobster_events, txn_flow
from velox.feeds import read_dbn
from velox.pipeline import InputError, format_summary

# databento-dbn (the DBN files' encoder) is in the `test` extra for Python < 3.13 only (no
# free-threaded wheels; see pyproject.toml): required there; the dbn: tests skip on the newer
# legs of the interpreter matrix, the journal: tests run everywhere.
if sys.version_info < (3, 13):
    import databento_dbn as dbn
else:
    try:
        import databento_dbn as dbn
    except ImportError:
        dbn = None
needs_dbn = pytest.mark.skipif(dbn is None, reason="databento-dbn is not installed (Python >= 3.13)")

LEVELS = 4096
TICK = velox.to_fixed("0.01")


def direct_book(events):
    """The events into a standalone MboBook placed where the pipeline places its book."""
    first = events[events["action"] == 1]["price"][0]
    book = MboBook(levels=LEVELS, tick_size=TICK, base_price=int(first) - LEVELS // 2 * TICK,
                   max_orders=1 << 20)
    for i in range(0, len(events), 4096):
        book.apply_many(events[i:i + 4096])
    return book


def replay(input, **kw):
    with Pipeline(on_full="block", levels=LEVELS, timestamps="logical", input=input,
                  **kw) as p:
        assert p.wait(timeout=120)
        view = p.book
    return p.stop(), view


def same_book(view, ref, instrument=0):
    assert view.best_bid(instrument=instrument) == ref.best_bid()
    assert view.best_ask(instrument=instrument) == ref.best_ask()
    got, want = view.depth(20, instrument=instrument), ref.depth(20)
    assert all(np.array_equal(got[s][k], want[s][k]) for s in (0, 1) for k in (0, 1))


# ----------------------------------------------------------------------------- DBN

def dbn_file(tmp_path, events, ids=(0,), name="day.dbn", extra=b""):
    """velox MBO events written as a DBN v3 file by the databento-dbn encoder."""
    maps = [NS(raw_symbol=f"S{i}", intervals=[NS(start_date=datetime.date(2026, 1, 2),
                                                 end_date=datetime.date(2026, 1, 3),
                                                 symbol=str(i))]) for i in ids]
    meta = dbn.Metadata("GLBX.MDP3", 1_700_000_000_000_000_000, dbn.SType.RAW_SYMBOL,
                        dbn.SType.INSTRUMENT_ID, dbn.Schema.MBO,
                        symbols=[f"S{i}" for i in ids], mappings=maps,
                        end=1_700_000_100_000_000_000, version=3).encode()
    # ADD, CANCEL, DELETE (a cancel of the rest), EXECUTE (a fill), TRADE; the rest left out
    act = {1: "A", 2: "C", 3: "C", 4: "F", 6: "T"}
    recs = []
    for e in events:
        a = act.get(int(e["action"]))
        if a is None:
            continue
        side = {0: "B", 1: "A"}.get(int(e["side"]), "N")
        recs.append(bytes(dbn.MBOMsg(1, int(e["instrument"]), int(e["ts"]), int(e["order_id"]),
                                     int(e["price"]) * 10, int(e["qty"]), dbn.Action(a),
                                     dbn.Side(side), int(e["ts"]), flags=0)))
    path = tmp_path / name
    path.write_bytes(meta + b"".join(recs) + extra)
    return path


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dbn")
    ev = lobster_events(20_000, seed=5)[:12_000]
    return dbn_file(tmp, ev), tmp


@needs_dbn
def test_dbn_replays_what_read_dbn_returns(day):
    path, tmp = day
    events = read_dbn(path).read()
    assert len(events) > 10_000
    r, view = replay(f"dbn:{path}")
    c = r["counters"]
    assert r["ok"] and r["conservation_ok"], r["verdict"]
    assert r["records"] == "mbo" and r["fed"] == c["generated"] == len(events)
    ref = direct_book(events)
    assert c["applied"] == ref.counters.applied and c["rejected"] == ref.counters.rejected
    same_book(view, ref)
    raw = tmp / "same.mbo"
    events.tofile(raw)
    r2, _ = replay(f"mbo:{raw}")
    assert r2["book_digest"] == r["book_digest"]
    d = r["dbn"]
    assert d["dataset"] == "GLBX.MDP3" and d["version"] == 3
    assert d["records"] == d["events"] == len(events) and d["skipped"] == 0
    assert "dbn: " in format_summary(r) and f"{len(events):,} events" in format_summary(r)


@needs_dbn
def test_dbn_bad_inputs_are_refused_before_the_run(tmp_path, day):
    path, _ = day
    bad = tmp_path / "bad.dbn"
    bad.write_bytes(b"DBX\x03" + bytes(60))
    with pytest.raises(ValueError, match=r"input 'dbn:.*bad\.dbn'"):
        Pipeline(input=f"dbn:{bad}")
    with pytest.raises(ValueError, match="cannot read"):
        Pipeline(input=f"dbn:{tmp_path / 'none.dbn'}")
    with pytest.raises(ValueError, match="records must be 'mbo'"):
        Pipeline(input=f"dbn:{path}", records="txn")
    # the metadata maps instrument_id 7: seven books are not enough, eight are
    ev = lobster_events(200, seed=1)
    ev["instrument"] = 7
    seven = dbn_file(tmp_path, ev, ids=(7,), name="seven.dbn")
    with pytest.raises(ValueError, match=r"instrument_id 7 \(S7\).*instruments=8"):
        Pipeline(input=f"dbn:{seven}", instruments=7)
    r, _ = replay(f"dbn:{seven}", instruments=8)
    assert r["ok"] and r["counters"]["generated"] == len(read_dbn(seven).read())
    # an instrument_id the metadata does not map, outside the books: counted as rejected
    ev["instrument"] = 9
    stray = dbn_file(tmp_path, ev, ids=(7,), name="stray.dbn")
    r, _ = replay(f"dbn:{stray}", instruments=8)
    assert r["ok"] and r["counters"]["rejected"] == r["counters"]["generated"] > 0
    assert r["mbo"]["totals"]["rejected_by_reason"]["instrument"] > 0
    cli = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"dbn:{seven}",
                          "--instruments", "3"], cwd=IMPORT_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 2, cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1 and "instrument_id 7" in cli.stderr


@needs_dbn
def test_dbn_error_mid_file_fails_the_run(tmp_path):
    ev = lobster_events(3_000, seed=2)
    good = dbn_file(tmp_path, ev, name="good.dbn")
    n = len(read_dbn(good).read())
    lying = bytes([0x02]) + bytes(15)  # a record of length 8 bytes: shorter than its header
    path = dbn_file(tmp_path, ev, name="lying.dbn", extra=lying)
    p = Pipeline(input=f"dbn:{path}", on_full="block", levels=LEVELS).start()
    with pytest.raises(InputError):
        p.wait(timeout=60)
    with pytest.raises(InputError) as info:
        p.stop()
    r = info.value.report
    assert not r["ok"] and r["verdict"].startswith("INPUT FAILED") and "lying.dbn" in r["verdict"]
    assert r["counters"]["generated"] == r["fed"] == n  # the events before the bad record
    cli = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"dbn:{path}",
                          "--quiet"], cwd=IMPORT_ROOT, capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 1 and "INPUT FAILED" in cli.stdout + cli.stderr


# ------------------------------------------------------------------------- journal

def write_journal(path, records, dtype=MBO_DTYPE):
    with Journal.create(path, dtype, segment_bytes=1 << 16) as j:
        j.append_many(records)
    return path


@pytest.mark.parametrize("records", ["mbo", "txn"])
def test_journal_replays_what_the_reader_returns(tmp_path, records):
    if records == "mbo":
        ev = lobster_events(15_000, seed=6)[:9_000]
    else:
        ev = txn_flow(9_000, 4)
    path = write_journal(tmp_path / "j", ev, ev.dtype)
    rd = JournalReader(path)
    direct = rd.read(len(ev) + 1)
    rd.close()
    assert direct.tobytes() == ev.tobytes()
    r, view = replay(f"journal:{path}")
    c = r["counters"]
    assert r["ok"] and r["conservation_ok"], r["verdict"]
    assert r["records"] == records and r["fed"] == c["generated"] == len(ev)
    assert r["journal"]["records_read"] == len(ev) and r["journal"]["skipped"] == 0
    raw = tmp_path / "same.bin"
    ev.tofile(raw)
    r2, _ = replay(f"{'mbo' if records == 'mbo' else 'events'}:{raw}")
    assert r2["book_digest"] == r["book_digest"]
    if records == "mbo":
        same_book(view, direct_book(ev))
    # ?start=SEQ replays from that sequence on
    r3, _ = replay(f"journal:{path}?start=5000")
    assert r3["fed"] == r3["counters"]["generated"] == len(ev) - 5000 and r3["ok"]
    assert "journal: 4,000 records read" in format_summary(r3)


def test_journal_bad_inputs_are_refused_before_the_run(tmp_path):
    other = write_journal(tmp_path / "other", np.zeros(4, "<u8"), np.dtype("<u8"))
    with pytest.raises(ValueError, match="neither velox.MBO_DTYPE nor velox.TXN_DTYPE"):
        Pipeline(input=f"journal:{other}")
    mbo = write_journal(tmp_path / "mbo", lobster_events(100, seed=1))
    with pytest.raises(ValueError, match="records must be 'mbo'"):
        Pipeline(input=f"journal:{mbo}", records="txn")
    with pytest.raises(ValueError, match="unknown option"):
        Pipeline(input=f"journal:{mbo}?begin=3")
    with pytest.raises(ValueError, match="start="):
        Pipeline(input=f"journal:{mbo}?start=-1")
    f = tmp_path / "file"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a directory"):
        Pipeline(input=f"journal:{f}")
    with pytest.raises(ValueError, match="cannot read"):
        Pipeline(input=f"journal:{tmp_path / 'none'}")
    cli = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input",
                          f"journal:{other}"], cwd=IMPORT_ROOT, capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 2 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr


def test_journal_corrupt_records_are_skipped_and_fail_the_verdict(tmp_path):
    ev = txn_flow(2_000, 5)
    path = write_journal(tmp_path / "j", ev, TXN_DTYPE)
    seg = path / f"{0:020d}.vxj"
    slot = 8 + TXN_DTYPE.itemsize  # the slot: a commit word, then the record (journal.h)
    with open(seg, "r+b") as f:  # flip a byte of record 100: its hash no longer matches
        f.seek(1024 + 100 * slot + 8 + 3)
        b = f.read(1)
        f.seek(1024 + 100 * slot + 8 + 3)
        f.write(bytes([b[0] ^ 0xFF]))
    rd = JournalReader(path)
    direct = rd.read(len(ev) + 1)
    skipped = rd.skipped
    rd.close()
    assert skipped >= 1
    r, _ = replay(f"journal:{path}")
    assert r["journal"]["skipped"] == skipped and r["fed"] == len(direct)
    assert not r["ok"] and r["verdict"].startswith("INPUT DAMAGED"), r["verdict"]


def test_journal_follow_takes_appended_records_and_stops(tmp_path):
    ev = txn_flow(3_000, 6)
    j = Journal.create(tmp_path / "live", TXN_DTYPE)
    j.append_many(ev[:1_000])
    p = Pipeline(input=f"journal:{tmp_path / 'live'}?follow=1", on_full="block").start()
    deadline = time.monotonic() + 60
    while p.stats()["counters"]["generated"] < 1_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not p.wait(timeout=0.2)  # caught up: a followed journal does not end the run
    j.append_many(ev[1_000:])
    while p.stats()["counters"]["generated"] < len(ev) and time.monotonic() < deadline:
        time.sleep(0.01)
    r = p.stop()
    j.close()
    assert r["counters"]["generated"] == r["fed"] == len(ev) and r["ok"], r["verdict"]
    assert r["journal"]["follow"] and not r["input_abandoned"]
