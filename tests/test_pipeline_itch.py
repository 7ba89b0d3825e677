"""The pipeline's itch:PATH?symbols=A,B source.

- Book i is symbols[i] by the stock directory (R) message in force at each order: a locate
  renamed later does not move the orders sent under its earlier name.
- An R message at locate 0 fails the run, naming the offset (never another symbol's book).
- The report carries the reader's counts and the symbols found; a requested symbol the file
  never names makes the summary's first line a warning and the CLI exit 3.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from child_env import IMPORT_ROOT, child_env
import velox
import velox.feeds
from velox import MBO_DTYPE, Action, Pipeline
from velox._feeds import itch_directory, itch_write
from velox.pipeline import EXIT_MISSING_SYMBOLS, FIRST_CHUNK_BYTES, InputError, format_summary


def adds(rows, names):
    """ITCH A messages: rows of (order_id, locate, price); names[locate] = its symbol."""
    ev = np.zeros(len(rows), MBO_DTYPE)
    for i, (oid, locate, px) in enumerate(rows):
        ev[i]["action"], ev[i]["order_id"], ev[i]["side"] = Action.ADD, oid, velox.BUY
        ev[i]["instrument"], ev[i]["price"], ev[i]["qty"] = locate, velox.to_fixed(px), 100
    return itch_write(ev, names)


def replay(path, symbols):
    p = Pipeline(rate="max", input=f"itch:{path}?symbols={symbols}", cores=[1])
    p.start()
    assert p.wait(60)
    return p, p.stop()


def test_orders_go_to_the_book_their_directory_entry_named_then(tmp_path):
    """Locate 1 is AAPL, then renamed MSFT: order 1 (sent as AAPL) stays in AAPL's book."""
    path = tmp_path / "renamed.itch"
    path.write_bytes(itch_directory(1, 0, "AAPL") + adds([(1, 1, "150.00")], [None, "AAPL"])
                     + itch_directory(1, 0, "MSFT") + adds([(2, 1, "300.00")], [None, "MSFT"]))
    p, r = replay(path, "AAPL,MSFT")
    assert r["conservation_ok"], r["conservation_failures"]
    assert p.book.order(1, instrument=0).price == velox.to_fixed("150.00")
    assert p.book.order(1, instrument=1) is None
    assert p.book.order(2, instrument=1).price == velox.to_fixed("300.00")
    assert p.book.order(2, instrument=0) is None
    assert r["counters"]["rejected"] == 0 and r["counters"]["generated"] == 2
    itch = r["itch"]
    assert (itch["messages"], itch["events"], itch["filtered"]) == (4, 2, 0)
    assert itch["found"] == {"MSFT": [1]} and itch["missing"] == []  # AAPL was named, then renamed
    assert "warnings" not in r


def test_a_directory_entry_at_locate_zero_fails_the_run(tmp_path):
    """In the first chunk it is refused before the run; later in the file it fails the run
    (InputError from stop(), the report's input_error naming the offset)."""
    path = tmp_path / "zero.itch"
    path.write_bytes(itch_directory(0, 0, "AAPL") + itch_directory(1, 0, "MSFT")
                     + adds([(1, 0, "150.00"), (2, 1, "300.00")], ["AAPL", "MSFT"]))
    with pytest.raises(ValueError, match=r"locate 0 .*byte offset 0"):
        Pipeline(rate="max", input=f"itch:{path}?symbols=MSFT,AAPL", cores=[1])
    late = tmp_path / "late.itch"
    head = itch_directory(1, 0, "MSFT") + adds([(i, 1, "300.00") for i in range(1, 3001)],
                                               [None, "MSFT"])
    assert len(head) > FIRST_CHUNK_BYTES
    late.write_bytes(head + itch_directory(0, 0, "AAPL") + adds([(9001, 0, "150.00")], ["AAPL"]))
    p = Pipeline(rate="max", input=f"itch:{late}?symbols=MSFT,AAPL", cores=[1])
    p.start()
    with pytest.raises(InputError):
        p.wait(60)
    with pytest.raises(InputError) as e:
        p.stop()
    r = e.value.report
    assert not r["conservation_ok"]
    assert "locate 0" in r["input_error"] and f"byte offset {len(head)}" in r["input_error"]
    assert p.book.order(9001, instrument=0) is None and p.book.order(9001, instrument=1) is None


def test_cli_reports_the_reader_and_a_symbol_the_file_never_names(tmp_path):
    ev = np.zeros(20, MBO_DTYPE)
    ev["action"], ev["order_id"], ev["qty"] = Action.ADD, np.arange(1, 21), 100
    ev["price"], ev["instrument"] = velox.to_fixed("100"), 1
    path = tmp_path / "day.itch"
    velox.feeds.write_itch(path, ev, [None, "AAPL"])

    def cli(symbols):
        r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input",
                            f"itch:{path}?symbols={symbols}", "--cores", "1", "--quiet",
                            "--json", "-"], capture_output=True, text=True, timeout=120,
                           cwd=IMPORT_ROOT, env=child_env())
        return r.returncode, json.loads(r.stdout), r.stderr.splitlines()

    code, rep, err = cli("AAPL")
    assert code == 0 and rep["conservation_ok"] and "warnings" not in rep
    assert rep["itch"]["found"] == {"AAPL": [1]} and rep["itch"]["events"] == 20
    assert not any(line.startswith(("warning", "WARNING")) for line in err)
    assert any(line.startswith("itch: 21 messages, 20 events") for line in err)

    code, rep, err = cli("aapl,MSFT")
    assert code == EXIT_MISSING_SYMBOLS == 3
    assert rep["conservation_ok"] and rep["counters"]["generated"] == 0
    itch = rep["itch"]
    assert itch["missing"] == ["aapl", "MSFT"] and itch["found"] == {}
    assert (itch["messages"], itch["events"], itch["filtered"]) == (21, 0, 20)
    assert itch["directory_entries"] == 1
    head = err.index("== velox pipeline summary: market-by-order replay ==")
    verdict = err[head - 1]  # the summary's first line
    assert verdict.startswith("WARNING: symbols not in the file's stock directory")
    assert "aapl (did you mean AAPL?), MSFT" in verdict and verdict == rep["verdict"]

    code, rep, err = cli("AAPL,MSFTT")  # one found, one not: the found one still replays
    assert code == 3 and rep["counters"]["applied"] == 20 and rep["itch"]["missing"] == ["MSFTT"]


def test_summary_shows_the_reader_while_it_runs():
    """A live report (the reader has not ended) has counts but no verdict on symbols yet."""
    r = {"counters": {}, "itch": {"messages": 5, "events": 3, "filtered": 1, "skipped": 1,
                                  "unknown": 0, "found": None, "missing": None}}
    itch_line = [x for x in _summary_lines(r) if x.startswith("itch:")]
    assert itch_line == ["itch: 5 messages, 3 events for the symbols, 1 of other stocks filtered"
                         " out, 1 of types without a book event skipped, 0 of unknown types"]


def _summary_lines(partial):
    """format_summary of a minimal report with `partial` merged in."""
    p = Pipeline(rate=1000, max_txns=1)
    p.start()
    p.wait(30)
    r = p.stop()
    r.update({k: v for k, v in partial.items() if k != "counters"})
    return format_summary(r).splitlines()
