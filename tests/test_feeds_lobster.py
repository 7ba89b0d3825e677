"""LOBSTER message and orderbook files: parsing, round trips, strict errors with line/column,
seeding an MboBook from an orderbook row."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from velox import MBO_DTYPE, Action
from velox import feeds
from velox.feedgen import lobster_events

SAMPLE = (b"34200.004241176,1,16113575,18,5853300,1\n"
          b"34200.025552681,1,16120456,18,5859400,-1\n"
          b"34200.201743669,3,16120456,18,5859400,-1\n"
          b"34200.201765296,1,16129241,18,5859200,-1\n"
          b"34201.5,4,16113575,8,5853300,1\n"
          b"34202,2,16113575,5,5853300,1\n"
          b"34203.1,5,0,100,5856000,-1\n"
          b"34203.2,6,0,300,5856000,1\n"
          b"34204,7,-1,0,-1,-1\n")


def test_sample_fields(tmp_path):
    p = tmp_path / "m.csv"
    p.write_bytes(SAMPLE.replace(b"7,-1,0,-1", b"7,0,0,-1"))
    ev = feeds.read_lobster(p, instrument=4)
    assert len(ev) == 9
    assert ev["ts"][0] == 34200004241176 and ev["ts"][5] == 34202 * 10**9
    assert list(ev["action"]) == [Action.ADD, Action.ADD, Action.DELETE, Action.ADD,
                                  Action.EXECUTE, Action.CANCEL, Action.TRADE, Action.CROSS,
                                  Action.STATUS]
    assert ev["price"][0] == 5853300 * 10**4 == velox.to_fixed("585.33")
    assert list(ev["side"][:2]) == [velox.BUY, velox.SELL]
    assert ev["status"][8] == ord("H") and ev["price"][8] == 0
    assert (ev["instrument"] == 4).all()


def test_errors_name_line_and_column(tmp_path):
    p = tmp_path / "m.csv"
    p.write_bytes(SAMPLE)  # line 9 has order id -1
    with pytest.raises(ValueError, match="line 9, column 9: expected a digit"):
        feeds.read_lobster(p)
    p.write_bytes(b"1,1,1,1,1,1\n1,1,1,1,1,2\n")
    with pytest.raises(ValueError, match="line 2, column 11: direction"):
        feeds.read_lobster(p)
    p.write_bytes(b"1,1,1,1,1\n")
    with pytest.raises(ValueError, match="line 1, column 10: expected ','"):
        feeds.read_lobster(p)
    with pytest.raises(ValueError, match="instrument"):
        feeds.read_lobster(p, instrument=-1)


def test_empty_and_crlf(tmp_path):
    p = tmp_path / "m.csv"
    p.write_bytes(b"")
    assert len(feeds.read_lobster(p)) == 0
    p.write_bytes(b"1.5,1,1,1,1,1\r\n2,3,1,0,1,1\r\n")
    ev = feeds.read_lobster(p)
    assert list(ev["action"]) == [Action.ADD, Action.DELETE]


def test_round_trip_generated(tmp_path):
    ev = lobster_events(20_000, seed=4)
    p = tmp_path / "m.csv"
    feeds.write_lobster(p, ev)
    back = feeds.read_lobster(p)
    assert back.tobytes() == ev.tobytes()


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 86400 * 10**9), st.sampled_from([1, 2, 3, 4, 5, 6]),
                          st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
                          st.integers(0, 10**12), st.sampled_from([0, 1])), max_size=50))
def test_round_trip_property(rows):
    ev = np.zeros(len(rows), MBO_DTYPE)
    acts = [0, Action.ADD, Action.CANCEL, Action.DELETE, Action.EXECUTE, Action.TRADE,
            Action.CROSS]
    for i, (ts, t, oid, q, px, side) in enumerate(rows):
        ev[i] = (ts, oid, px * 10**4, 0, q, 0, side, acts[t], 0, 0)
    text = velox._feeds.lobster_write_messages(ev)
    assert velox._feeds.lobster_parse_messages(text).tobytes() == ev.tobytes()


def test_writer_rejects_replace():
    ev = np.zeros(1, MBO_DTYPE)
    ev["action"] = Action.REPLACE
    with pytest.raises(ValueError, match="event 0 cannot be written as LOBSTER"):
        velox._feeds.lobster_write_messages(ev)


BOOK = (b"5859400,200,5853300,18,5859500,10,5853100,150\n"
        b"5859400,100,-9999999999,0,9999999999,0,-9999999999,0\n")


def test_orderbook_file(tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(BOOK)
    b = feeds.read_lobster_book(p)
    assert b.levels == 2 and len(b) == 2
    assert b.ask_px[0].tolist() == [5859400 * 10**4, 5859500 * 10**4]
    assert b.bid_qty[0].tolist() == [18, 150]
    assert b.bid_px[1].tolist() == [0, 0] and b.ask_qty[1].tolist() == [100, 0]
    p.write_bytes(BOOK + b"1,2,3\n")
    with pytest.raises(ValueError, match="line 3, column 6"):
        feeds.read_lobster_book(p)
    p.write_bytes(b"1,2,3\n")
    with pytest.raises(ValueError, match="multiple of 4"):
        feeds.read_lobster_book(p)


def test_seed_book(tmp_path):
    mbo = pytest.importorskip("velox._mbo")
    p = tmp_path / "b.csv"
    p.write_bytes(BOOK)
    b = feeds.read_lobster_book(p)
    book = mbo.MboBook(levels=1024, tick_size=100 * 10**4, base_price=5800000 * 10**4)
    assert feeds.seed(book, b, 0) == 4
    assert book.best_bid() == (5853300 * 10**4, 18)
    assert book.best_ask() == (5859400 * 10**4, 200)
    assert book.qty(velox.BUY, 5853100 * 10**4) == 150
    with pytest.raises(ValueError, match="row"):
        feeds.seed(book, b, 2)
