"""ITCH 5.0 reader/writer: cross-checked against itchfeed (an independent pure-Python ITCH
5.0 implementation), round trips, streaming, gzip, symbol filter and routing by the stock
directory in force at each message, unknown orders without a side, hostile framing."""

import gzip
import io
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import velox
from velox import MBO_DTYPE, SIDE_NONE, Action, MboFlag
from velox import feeds
from velox.feedgen import concat, generate, symbol_names, write_itch_file

itch_messages = pytest.importorskip("itch.messages")
itch_parser = pytest.importorskip("itch.parser")

u16 = st.integers(0, 2**16 - 1)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
ts48 = st.integers(0, 2**48 - 1)
stock = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8).map(
    lambda s: s.encode().ljust(8))


def framed(msg):
    raw = msg.to_bytes()
    return struct.pack(">H", len(raw)) + raw


def parse(data, chunk=1 << 16):
    p = feeds.ItchParser()
    out = np.empty(chunk, MBO_DTYPE)
    consumed, produced = p.parse(data, out)
    assert consumed == len(data)
    # a byte copy: .copy() of a padded structured array leaves the gaps uninitialised
    return np.frombuffer(out[:produced].tobytes(), MBO_DTYPE), p


def mk(t, **kw):
    return itch_messages.create_message(t, tracking_number=kw.pop("tracking_number", 0), **kw)


common = dict(stock_locate=u16, tracking_number=u16, timestamp=ts48)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries(dict(common, order_reference_number=u64,
                                  buy_sell_indicator=st.sampled_from([b"B", b"S"]),
                                  shares=u32, stock=stock, price=u32)),
       st.booleans())
def test_add_orders_from_itchfeed(kw, attributed):
    if attributed:
        msg = mk(b"F", attribution=b"NSDQ", **kw)
    else:
        msg = mk(b"A", **kw)
    (e,), p = parse(framed(msg))
    assert e["action"] == Action.ADD
    assert e["instrument"] == kw["stock_locate"] and e["ts"] == kw["timestamp"]
    assert e["order_id"] == kw["order_reference_number"] and e["qty"] == kw["shares"]
    assert e["side"] == (velox.BUY if kw["buy_sell_indicator"] == b"B" else velox.SELL)
    assert e["price"] == kw["price"] * 10**4
    assert e["ref"] == 0 and e["flags"] == 0
    assert p.counts["by_type"] == {"F" if attributed else "A": 1}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from("ECXDUPQBSH"), st.data())
def test_other_types_from_itchfeed(t, data):
    kw = data.draw(st.fixed_dictionaries(common))
    if t == "E":
        f = data.draw(st.fixed_dictionaries(dict(order_reference_number=u64, executed_shares=u32,
                                                 match_number=u64)))
        want = dict(action=Action.EXECUTE, order_id=f["order_reference_number"],
                    qty=f["executed_shares"], ref=f["match_number"], side=SIDE_NONE)
    elif t == "C":
        f = data.draw(st.fixed_dictionaries(dict(
            order_reference_number=u64, executed_shares=u32, match_number=u64,
            printable=st.sampled_from([b"Y", b"N"]), execution_price=u32)))
        want = dict(action=Action.EXECUTE, order_id=f["order_reference_number"],
                    qty=f["executed_shares"], ref=f["match_number"],
                    price=f["execution_price"] * 10**4, side=SIDE_NONE,
                    flags=MboFlag.PRINTABLE if f["printable"] == b"Y" else 0)
    elif t == "X":
        f = data.draw(st.fixed_dictionaries(dict(order_reference_number=u64,
                                                 cancelled_shares=u32)))
        want = dict(action=Action.CANCEL, order_id=f["order_reference_number"],
                    qty=f["cancelled_shares"], side=SIDE_NONE)
    elif t == "D":
        f = data.draw(st.fixed_dictionaries(dict(order_reference_number=u64)))
        want = dict(action=Action.DELETE, order_id=f["order_reference_number"], side=SIDE_NONE)
    elif t == "U":
        f = data.draw(st.fixed_dictionaries(dict(
            original_order_reference_number=u64, new_order_reference_number=u64,
            shares=u32, price=u32)))
        f["order_reference_number"] = f["original_order_reference_number"]  # itchfeed packs this
        want = dict(action=Action.REPLACE, order_id=f["original_order_reference_number"],
                    ref=f["new_order_reference_number"], qty=f["shares"],
                    price=f["price"] * 10**4, side=SIDE_NONE)
    elif t == "P":
        f = data.draw(st.fixed_dictionaries(dict(
            order_reference_number=u64, buy_sell_indicator=st.sampled_from([b"B", b"S"]),
            shares=u32, stock=stock, price=u32, match_number=u64)))
        want = dict(action=Action.TRADE, order_id=f["order_reference_number"], qty=f["shares"],
                    price=f["price"] * 10**4, ref=f["match_number"],
                    side=velox.BUY if f["buy_sell_indicator"] == b"B" else velox.SELL)
    elif t == "Q":
        f = data.draw(st.fixed_dictionaries(dict(
            shares=u32, stock=stock, cross_price=u32, match_number=u64,
            cross_type=st.sampled_from([b"O", b"C", b"H", b"I"]))))
        want = dict(action=Action.CROSS, qty=f["shares"], price=f["cross_price"] * 10**4,
                    ref=f["match_number"], side=SIDE_NONE, status=ord(f["cross_type"]))
    elif t == "B":
        f = data.draw(st.fixed_dictionaries(dict(match_number=u64)))
        want = dict(action=Action.BROKEN, ref=f["match_number"], side=SIDE_NONE)
    elif t == "S":
        f = data.draw(st.fixed_dictionaries(dict(
            event_code=st.sampled_from([b"O", b"S", b"Q", b"M", b"E", b"C"]))))
        want = dict(action=Action.STATUS, flags=MboFlag.SYSTEM, status=ord(f["event_code"]),
                    side=SIDE_NONE)
    else:  # H
        f = data.draw(st.fixed_dictionaries(dict(
            stock=stock, trading_state=st.sampled_from([b"H", b"P", b"Q", b"T"]),
            reserved=st.just(b" "), reason=st.just(b"    "))))
        want = dict(action=Action.STATUS, status=ord(f["trading_state"]), side=SIDE_NONE)
    msg = mk(t.encode(), **kw, **f)
    (e,), _ = parse(framed(msg))
    expect = np.zeros((), MBO_DTYPE)
    expect["ts"] = kw["timestamp"]
    expect["instrument"] = kw["stock_locate"]
    for k, v in want.items():
        expect[k] = v
    assert e.tobytes()[:44] == expect.tobytes()[:44], (e, expect)


def test_skipped_types_counted():
    msgs = [mk(b"Y", stock_locate=1, timestamp=5, stock=b"AAPL    ", reg_sho_action=b"0"),
            mk(b"W", stock_locate=0, timestamp=6, breached_level=b"1"),
            mk(b"h", stock_locate=1, timestamp=7, stock=b"AAPL    ", market_code=b"Q",
               operational_halt_action=b"H")]
    data = b"".join(framed(m) for m in msgs) + b"\x00\x04zabc"
    ev, p = parse(data)
    assert len(ev) == 0
    c = p.counts
    assert c["messages"] == 4 and c["skipped"] == 3 and c["unknown"] == 1
    assert c["by_type"] == {"Y": 1, "W": 1, "h": 1, "z": 1}


def test_message_lengths_match_itchfeed():
    for t, cls in itch_messages.messages.items():
        assert feeds.itch_message_length(t) == cls.message_size, t
    assert feeds.itch_message_length("z") == 0


def small_day(n=20_000, n_symbols=7, seed=3):
    return concat(list(generate(n, n_symbols, seed=seed)))


def test_velox_written_file_parsed_by_itchfeed(tmp_path):
    ev = small_day(3000)
    path = tmp_path / "day.itch"
    syms = [None] + symbol_names(7)
    feeds.write_itch(path, ev, syms)
    with open(path, "rb") as f:
        got = list(itch_parser.MessageParser().parse_file(f))
    assert len(got) == len(ev) + 7
    directory = got[:7]
    assert [m.stock.rstrip() for m in directory] == [s.encode() for s in symbol_names(7)]
    for m, e in zip(got[7:], ev):
        assert m.timestamp == e["ts"] and m.stock_locate == e["instrument"]
        t = m.message_type
        if t in (b"A", b"E", b"C", b"X", b"D", b"P"):
            assert m.order_reference_number == e["order_id"]
        if t == b"A":
            assert m.price * 10**4 == e["price"] and m.shares == e["qty"]
            assert m.stock.rstrip() == syms[e["instrument"]].encode()
        if t == b"U":
            assert m.order_reference_number == e["order_id"]
            assert m.new_order_reference_number == e["ref"]
    assert feeds.read_itch(path).read().tobytes() == feeds.as_itch(ev).tobytes()


def test_round_trip_file_chunks_and_gzip(tmp_path):
    ev = small_day()
    syms = [None] + symbol_names(7)
    plain = tmp_path / "d.itch"
    gz = tmp_path / "d.itch.gz"
    n_bytes = feeds.write_itch(plain, ev, syms)
    feeds.write_itch(gz, ev, syms, compress=True)
    assert plain.stat().st_size == n_bytes
    for path in (plain, gz):
        for chunk in (1, 7, 1000, 1 << 20):
            r = feeds.read_itch(path, chunk=chunk)
            parts = list(r)
            assert all(1 <= len(c) <= chunk for c in parts)
            back = concat(parts)
            assert back.tobytes() == feeds.as_itch(ev).tobytes()
            assert r.counts["events"] == len(ev) and r.counts["messages"] == len(ev) + 7
            assert r.symbols == {i + 1: s for i, s in enumerate(symbol_names(7))}
            assert r.bytes_read == n_bytes
    # reuse: the same buffer every time
    r = feeds.read_itch(plain, chunk=100, reuse=True)
    ids = {id(c.base) for c in r}
    assert len(ids) == 1
    assert (feeds.read_itch(plain, chunk=100, reuse=True).read().tobytes()
            == feeds.as_itch(ev).tobytes())


def test_symbol_filter(tmp_path):
    ev = small_day()
    syms = [None] + symbol_names(7)
    path = tmp_path / "d.itch"
    feeds.write_itch(path, ev, syms)
    r = feeds.read_itch(path, symbols=["S2", "S5"])
    got = r.read()
    keep = (np.isin(ev["instrument"], [3, 6])) | (
        (ev["action"] == Action.STATUS) & (ev["flags"] & MboFlag.SYSTEM != 0))
    assert got.tobytes() == feeds.as_itch(ev[keep]).tobytes()
    assert r.counts["filtered"] == int((~keep).sum())
    with pytest.raises(ValueError, match="symbol"):
        feeds.read_itch(path, symbols=["TOOLONGSYM"])


def test_generated_file_is_consistent(tmp_path):
    """The generator's invariants, checked by a dict model: every EXECUTE/CANCEL/DELETE/
    REPLACE names a live order with enough shares; ids are never reused while live."""
    path = tmp_path / "g.itch"
    info = write_itch_file(path, 30_000, 20, seed=9)
    ev = feeds.read_itch(path).read()
    assert len(ev) == info["events"]
    live = {}
    for e in ev.tolist():
        ts, oid, price, ref, qty, inst, side, action, flags, status = e
        if action == Action.ADD:
            assert oid not in live
            live[oid] = [qty, inst, side, price]
        elif action in (Action.CANCEL, Action.EXECUTE):
            assert live[oid][0] >= qty and live[oid][1] == inst
            live[oid][0] -= qty
            if live[oid][0] == 0:
                del live[oid]
        elif action == Action.DELETE:
            del live[oid]
        elif action == Action.REPLACE:
            o = live.pop(oid)
            assert ref not in live
            live[ref] = [qty, inst, o[2], price]
    assert len(live) == info["live_at_end"]


# ---- hostile input --------------------------------------------------------------------------

def one_add(**kw):
    args = dict(stock_locate=1, timestamp=10, order_reference_number=5,
                buy_sell_indicator=b"B", shares=100, stock=b"AAPL    ", price=1000)
    args.update(kw)
    return framed(mk(b"A", **args))


def test_wrong_length_names_offset(tmp_path):
    good = one_add()
    bad = bytearray(good)
    bad[1] = 35  # A is 36 bytes
    path = tmp_path / "bad.itch"
    path.write_bytes(good + bytes(bad) + good)
    with pytest.raises(ValueError, match=r"fixed length at byte offset 38 \(type b'A'"):
        feeds.read_itch(path).read()


def test_truncated_final_message(tmp_path):
    good = one_add()
    path = tmp_path / "t.itch"
    for cut in range(1, len(good)):
        path.write_bytes(good + good[:cut])
        r = feeds.read_itch(path)
        with pytest.raises(ValueError, match="truncated final message at byte offset 38"):
            r.read()
    gz = tmp_path / "t.itch.gz"
    gz.write_bytes(gzip.compress(good + good[:10]))
    with pytest.raises(ValueError, match="truncated"):
        feeds.read_itch(gz).read()
    gz.write_bytes(gzip.compress(good * 3)[:-9])
    with pytest.raises(ValueError, match="gzip"):
        feeds.read_itch(gz).read()


def test_zero_length_bad_side_huge_cross():
    with pytest.raises(ValueError, match="zero message length at byte offset 0"):
        parse(b"\x00\x00A")
    with pytest.raises(ValueError, match="side"):
        parse(one_add(buy_sell_indicator=b"X"))
    q = framed(mk(b"Q", stock_locate=1, timestamp=1, shares=2**40, stock=b"A       ",
                  cross_price=1, match_number=1, cross_type=b"O"))
    with pytest.raises(ValueError, match="cross shares"):
        parse(q)


def test_empty_file_and_bad_arguments(tmp_path):
    p = tmp_path / "empty.itch"
    p.write_bytes(b"")
    assert len(feeds.read_itch(p).read()) == 0
    with pytest.raises(ValueError, match="chunk"):
        feeds.read_itch(p, chunk=0)
    parser = feeds.ItchParser()
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        parser.parse(b"", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="writeable"):
        out = np.zeros(3, MBO_DTYPE)
        out.flags.writeable = False
        parser.parse(b"", out)
    r = feeds.read_itch(p)
    list(r)
    with pytest.raises(RuntimeError, match="once"):
        list(r)


def test_writer_rejects_unrepresentable():
    e = np.zeros(1, MBO_DTYPE)
    e["action"] = Action.CLEAR
    e["side"] = SIDE_NONE
    with pytest.raises(ValueError, match="event 0 cannot be written as ITCH"):
        velox._feeds.itch_write(e, ["A"])
    e["action"] = Action.ADD
    e["side"] = velox.BUY
    e["price"] = 1  # below 10^-4
    with pytest.raises(ValueError, match="cannot be written"):
        velox._feeds.itch_write(e, ["A"])
    e["price"] = 10**4
    with pytest.raises(ValueError, match="cannot be written"):
        velox._feeds.itch_write(e, [])  # no symbol for instrument 0


def test_resumable_at_any_split():
    data = b"".join(one_add(order_reference_number=i, timestamp=i) for i in range(20))
    ref, _ = parse(data)
    for split in range(0, len(data), 5):
        p = feeds.ItchParser()
        out = np.empty(64, MBO_DTYPE)
        c1, n1 = p.parse(data[:split], out)
        c2, n2 = p.parse(data[c1:], out[n1:])
        assert c1 + c2 == len(data) and n1 + n2 == 20
        assert out[:20].tobytes() == ref.tobytes()
        assert p.offset == len(data)


# ---- messages without a side; the stock directory at each message's place ---------------

def directory(locate, symbol, timestamp=0):
    return framed(mk(b"R", stock_locate=locate, timestamp=timestamp,
                     stock=symbol.encode().ljust(8), market_category=b"Q",
                     financial_status_indicator=b"N", round_lot_size=100,
                     round_lots_only=b"N", issue_classification=b"C", issue_sub_type=b"Z ",
                     authenticity=b"P", short_sale_threshold_indicator=b"N", ipo_flag=b"N",
                     luld_ref=b"1", etp_flag=b"N", etp_leverage_factor=0,
                     inverse_indicator=b"N"))


def replace(old, new, shares, price, locate=1, timestamp=2):
    return framed(mk(b"U", stock_locate=locate, timestamp=timestamp,
                     original_order_reference_number=old, order_reference_number=old,
                     new_order_reference_number=new, shares=shares, price=price))


def test_replace_of_an_unknown_order_rests_on_no_side(tmp_path):
    """A U whose original order the book never saw (a replay that starts mid-day, or an ADD
    the book refused): U carries no side, so the new order is not added (counted as an
    unknown order), never rested as a bid. A known order's U keeps its side."""
    path = tmp_path / "midday.itch"
    path.write_bytes(directory(1, "AAPL")
                     + one_add(order_reference_number=1, buy_sell_indicator=b"S", price=100000)
                     + replace(7, 8, 300, 100200)      # sell 7 predates the file
                     + replace(1, 9, 50, 100300))      # the known sell 1 -> 9
    ev = feeds.read_itch(path).read()
    assert ev["side"].tolist() == [velox.SELL, SIDE_NONE, SIDE_NONE]
    book = velox.MboBook.from_prices(1024, tick=0.01, base=5.0)
    r = book.apply_many(ev)
    assert (r.applied, r.rejected, r.unknown_orders) == (3, 0, 1)
    assert book.order(8) is None and book.best_bid() is None
    assert book.order(9).side == velox.SELL and book.best_ask() == (velox.to_fixed("10.03"), 50)


def test_unknown_order_without_a_side_reduces_no_seeded_lots(tmp_path):
    """E/C/X/D of an order the book does not know: no side, so the seeded lots of neither side
    at that price are reduced (the event is counted as an unknown order)."""
    path = tmp_path / "seeded.itch"
    msgs = [framed(mk(b"C", stock_locate=1, timestamp=1, order_reference_number=5,
                      executed_shares=30, match_number=1, printable=b"Y", execution_price=100000)),
            framed(mk(b"X", stock_locate=1, timestamp=2, order_reference_number=6,
                      cancelled_shares=20)),
            framed(mk(b"D", stock_locate=1, timestamp=3, order_reference_number=7))]
    path.write_bytes(directory(1, "AAPL") + b"".join(msgs))
    ev = feeds.read_itch(path).read()
    ev["price"][1:] = velox.to_fixed("10.00")  # even at the seeded price
    book = velox.MboBook.from_prices(1024, tick=0.01, base=5.0)
    px = velox.to_fixed("10.00")
    book.seed_level(velox.BUY, px, 100)
    book.seed_level(velox.SELL, px + velox.to_fixed("0.01"), 100)
    r = book.apply_many(ev)
    assert (r.applied, r.unknown_orders) == (3, 3)
    assert book.qty(velox.BUY, px) == 100 and book.qty(velox.SELL, px + velox.to_fixed("0.01")) == 100


def test_routing_follows_the_directory_at_each_message(tmp_path):
    """by_symbol=True: each event's instrument is the index of the symbol that the locate's
    stock directory entry names at that point in the file. A locate renamed later keeps
    earlier orders with the earlier name; a renamed-away locate is filtered from there on;
    system events get instrument 0."""
    path = tmp_path / "renamed.itch"
    system = framed(mk(b"S", stock_locate=0, timestamp=9, event_code=b"C"))
    path.write_bytes(directory(1, "AAPL") + directory(2, "IBM")
                     + one_add(stock_locate=1, order_reference_number=1)
                     + one_add(stock_locate=2, order_reference_number=2)
                     + directory(1, "MSFT")
                     + one_add(stock_locate=1, order_reference_number=3)
                     + directory(2, "ZZZZ")
                     + one_add(stock_locate=2, order_reference_number=4) + system)
    r = feeds.read_itch(path, symbols=["MSFT", "AAPL", "IBM"], by_symbol=True)
    ev = r.read()
    assert ev["order_id"].tolist() == [1, 2, 3, 0]
    assert ev["instrument"].tolist() == [1, 2, 0, 0]
    assert r.counts["filtered"] == 1 and r.symbols == {1: "MSFT", 2: "ZZZZ"}
    assert r.missing_symbols == []  # each was named at some point
    # the filter alone keeps the locate, and follows the same directory
    plain = feeds.read_itch(path, symbols=["MSFT", "AAPL", "IBM"]).read()
    assert plain["instrument"].tolist() == [1, 2, 1, 0]
    # ItchBooks with a routing parser: book i = symbols[i] as each order arrived
    books = velox._feeds.ItchBooks(3, 64, velox.to_fixed("0.01"), 16)
    parser = feeds.ItchParser()
    parser.route_symbols(["MSFT", "AAPL", "IBM"])
    data = path.read_bytes()
    assert books.feed(parser, data, np.empty(2, MBO_DTYPE)) == (len(data), 4, 4, 0)
    px = velox.to_fixed("0.1")
    assert [books.best(i)[0] for i in range(3)] == [(px, 100)] * 3
    with pytest.raises(ValueError, match="'AAPL' given twice"):
        parser.route_symbols(["AAPL", "AAPL"])
    with pytest.raises(ValueError, match="needs symbols"):
        feeds.read_itch(path, by_symbol=True)


def test_directory_at_locate_zero_is_refused(tmp_path):
    """Stock locates start at 1 (0 carries the system events): an R at locate 0 is a
    ValueError naming its offset, whether or not a filter is on; write_itch refuses to name
    instrument 0."""
    path = tmp_path / "zero.itch"
    head = directory(1, "MSFT") + one_add(stock_locate=1)
    path.write_bytes(head + directory(0, "AAPL") + one_add(stock_locate=0))
    for kw in ({}, {"symbols": ["AAPL"]}, {"symbols": ["MSFT", "AAPL"], "by_symbol": True}):
        with pytest.raises(ValueError, match=rf"locate 0 .* at byte offset {len(head)} \(type b'R'"):
            feeds.read_itch(path, **kw).read()
    ev = np.zeros(1, MBO_DTYPE)
    ev["action"], ev["qty"], ev["price"] = Action.ADD, 1, 10**4
    with pytest.raises(ValueError, match="symbols.0. must be None"):
        feeds.write_itch(tmp_path / "w.itch", ev, ["AAPL"])


def test_missing_symbols_are_listed(tmp_path):
    path = tmp_path / "one.itch"
    path.write_bytes(directory(1, "AAPL") + one_add(stock_locate=1))
    r = feeds.read_itch(path, symbols=["aapl", "AAPL", "MSFTT"])
    assert len(r.read()) == 1
    assert r.missing_symbols == ["aapl", "MSFTT"]
    assert r.counts["filtered"] == 0 and r.counts["events"] == 1


def test_lobster_writer_says_why_an_itch_event_has_no_direction(tmp_path):
    """An ITCH D has no side; LOBSTER needs a direction: the writer refuses, saying so."""
    path = tmp_path / "d.itch"
    path.write_bytes(directory(1, "AAPL") + one_add(stock_locate=1)
                     + framed(mk(b"D", stock_locate=1, timestamp=3, order_reference_number=5)))
    ev = feeds.read_itch(path).read()
    with pytest.raises(ValueError, match="event 1 cannot be written as LOBSTER .*carry none"):
        feeds.write_lobster(tmp_path / "out.csv", ev)
