"""Databento DBN MBO reader: files encoded by databento-dbn (the oracle; DBN 1-3, plain and
zstd, multi-instrument, every action and side) read back field for field against an
independent Python model of the mapping; hostile files (truncated header, lying lengths,
unknown rtypes, short records) give clear errors; a byte-corrupting fuzzer compares the native
decoder with a Python reference decoder; readers on threads check every event."""

import datetime
import os
import pickle
import struct
import sys
import threading
from types import SimpleNamespace as NS

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scale import scaled
from velox import MBO_DTYPE
from velox import feeds

# In the `test` extra for Python < 3.13 only (no free-threaded wheels; see pyproject.toml):
# required there, skipped on the newer legs of the interpreter matrix.
if sys.version_info < (3, 13):
    import databento_dbn as dbn
    import zstandard
else:
    dbn = pytest.importorskip("databento_dbn")
    zstandard = pytest.importorskip("zstandard")

UNDEF = (1 << 63) - 1
ACTIONS = {"A": 1, "C": 2, "M": 11, "R": 9, "T": 6, "F": 6}
SIDES = {"B": 0, "A": 1, "N": 2}
F_LAST = 128


def metadata(version=3, symbols=("ESZ6", "NQZ6"), ids=(42, 7), schema=None, ts_out=False):
    maps = [NS(raw_symbol=s, intervals=[NS(start_date=datetime.date(2026, 1, 2),
                                           end_date=datetime.date(2026, 1, 3), symbol=str(i))])
            for s, i in zip(symbols, ids)]
    return dbn.Metadata("GLBX.MDP3", 1_700_000_000_000_000_000, dbn.SType.RAW_SYMBOL,
                        dbn.SType.INSTRUMENT_ID, schema or dbn.Schema.MBO, symbols=list(symbols),
                        mappings=maps, end=1_700_000_100_000_000_000, version=version,
                        ts_out=ts_out).encode()


def mbo(action, side, *, inst=42, order=1, price=10**9, size=5, flags=0, ts_event=100,
        ts_recv=200, seq=0):
    return dbn.MBOMsg(1, inst, ts_event, order, price, size, dbn.Action(action), dbn.Side(side),
                      ts_recv, flags=flags, ts_in_delta=3, sequence=seq)


def encode(records, version=3, **kw):
    return metadata(version, **kw) + b"".join(bytes(r) for r in records)


def model(records, ts="recv"):
    """The documented mapping, written from the records' attributes (not from bytes)."""
    out = []
    for r in records:
        a = str(r.action)
        if a == "N":
            continue
        e = np.zeros(1, MBO_DTYPE)[0]
        e["ts"] = r.ts_recv if ts == "recv" else r.ts_event
        e["instrument"] = r.instrument_id
        e["action"] = ACTIONS[a]
        e["flags"] = 4 if int(r.flags) & F_LAST else 0
        if a == "R":
            e["side"] = 2
        else:
            e["order_id"] = r.order_id
            e["price"] = 0 if r.price == UNDEF else r.price // 10
            e["qty"] = r.size
            e["side"] = SIDES[str(r.side)]
        out.append(e)
    arr = np.zeros(len(out), MBO_DTYPE)
    for i, e in enumerate(out):
        arr[i] = e
    return arr


def write(tmp_path, data, name="f.dbn", zstd=False, frames=1):
    p = tmp_path / (name + (".zst" if zstd else ""))
    if zstd:
        cut = [len(data) * k // frames for k in range(frames + 1)]
        data = b"".join(zstandard.ZstdCompressor().compress(data[a:b])
                        for a, b in zip(cut, cut[1:]))
    p.write_bytes(data)
    return p


record = st.builds(
    lambda a, side, inst, order, px, size, last, snap, recv, ev: mbo(
        a, "B" if a in "AM" and side == "N" else side, inst=inst, order=order,
        price=UNDEF if (px is None and a not in "AM") else (px or 0) * 10, size=size,
        flags=(F_LAST if last else 0) | (32 if snap else 0), ts_recv=recv, ts_event=ev),
    st.sampled_from("ACMRTFN"), st.sampled_from("BAN"), st.sampled_from([0, 42, 7, 2**32 - 1]),
    st.integers(0, 2**64 - 1), st.one_of(st.none(), st.integers(-(2**59), 2**59)),
    st.integers(0, 2**32 - 1), st.booleans(), st.booleans(), st.integers(0, 2**64 - 2),
    st.integers(0, 2**64 - 2))


@settings(max_examples=scaled(150, 30), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(record, max_size=40), version=st.sampled_from([1, 2, 3]),
       zstd=st.booleans(), chunk=st.integers(1, 50), mmap=st.booleans(),
       ts=st.sampled_from(["recv", "event"]))
def test_oracle_round_trip(tmp_path, records, version, zstd, chunk, mmap, ts):
    p = write(tmp_path, encode(records, version), zstd=zstd, frames=2 if zstd else 1)
    r = feeds.read_dbn(p, chunk=chunk, mmap=mmap, ts=ts)
    assert r.metadata["version"] == version and r.metadata["schema"] == "mbo"
    got = r.read()
    want = model(records, ts)
    assert got.tobytes() == want.tobytes()
    c = r.counts
    assert c["records"] == len(records) and c["events"] == len(want)
    assert c["none"] == sum(str(x.action) == "N" for x in records)
    assert c["snapshot"] == sum(int(x.flags) & 32 != 0 for x in records)
    assert sum(c["by_action"].values()) == len(records)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_metadata_and_mappings(tmp_path, version):
    p = write(tmp_path, encode([mbo("A", "B")], version))
    with feeds.read_dbn(p) as r:
        pass  # the metadata stays after close
    ref = dbn.DBNDecoder()
    ref.write(p.read_bytes())
    m = ref.decode()[0]
    md = r.metadata
    assert md["dataset"] == m.dataset == "GLBX.MDP3"
    assert md["start"] == m.start and md["end"] == m.end
    assert md["stype_in"] == "raw_symbol" and md["stype_out"] == "instrument_id"
    assert md["symbols"] == list(m.symbols) == ["ESZ6", "NQZ6"]
    assert md["mappings"] == {k: [{"start_date": iv["start_date"].isoformat(),
                                   "end_date": iv["end_date"].isoformat(),
                                   "symbol": iv["symbol"]} for iv in v]
                              for k, v in m.mappings.items()}
    assert r.instruments() == {42: "ESZ6", 7: "NQZ6"}
    assert r.instruments("2026-01-02") == {42: "ESZ6", 7: "NQZ6"}
    assert r.instruments("2026-01-03") == {}


def test_every_action_multi_instrument_books(tmp_path):
    """The mapped events drive a book set as Databento's own book rules say: C reduces by the
    lots cancelled, F and T leave the book alone, M moves the order, R clears one instrument."""
    recs = [mbo("R", "N", inst=42), mbo("A", "B", inst=42, order=1, price=100 * 10**9, size=10),
            mbo("A", "B", inst=42, order=2, price=100 * 10**9, size=4, flags=F_LAST),
            mbo("A", "A", inst=7, order=3, price=50 * 10**9, size=8),
            mbo("T", "A", inst=42, order=0, price=100 * 10**9, size=3),
            mbo("F", "B", inst=42, order=1, price=100 * 10**9, size=3),
            mbo("C", "B", inst=42, order=1, price=100 * 10**9, size=3, flags=F_LAST),
            mbo("M", "A", inst=7, order=3, price=51 * 10**9, size=6),
            mbo("N", "N", inst=7, flags=F_LAST), mbo("R", "N", inst=7)]
    ev = feeds.read_dbn(write(tmp_path, encode(recs))).read()
    books = feeds.ItchBooks(instruments=64, levels=1024, tick=10**6, max_orders=64)
    assert books.apply_many(ev) == (len(ev), 0)
    assert books.best(42) == ((100 * 10**8, 11), None)
    assert books.best(7) == (None, None)
    assert books.live_orders == 2
    ev = feeds.read_dbn(write(tmp_path, encode(recs[:-1]), "g.dbn")).read()
    books = feeds.ItchBooks(instruments=64, levels=1024, tick=10**6, max_orders=64)
    books.apply_many(ev)
    assert books.best(7) == (None, (51 * 10**8, 6))


def test_ts_out_records_and_unknown_rtypes_are_skipped(tmp_path):
    """Records longer than an MboMsg (ts_out) decode; other rtypes are skipped and counted."""
    recs = [mbo("A", "B", order=i + 1, size=i + 1) for i in range(3)]
    body = b"".join(bytes(r) + struct.pack("<Q", 999) for r in recs)
    body = bytes(body[:64]) + bytes([64 // 4 + 0, 0x99]) + bytes(62) + body[64:]
    raw = bytearray(body)
    for k in range(3):  # length byte 16 words = 64 bytes (ts_out) on the MBO records
        off = [0, 128, 192][k]
        raw[off] = 16
    p = write(tmp_path, metadata(ts_out=True) + bytes(raw))
    r = feeds.read_dbn(p)
    ev = r.read()
    assert ev["qty"].tolist() == [1, 2, 3]
    assert r.counts["skipped"] == 1 and r.counts["by_rtype"] == {0xA0: 3, 0x99: 1}


def ref_decode(stream, start):
    """Reference decoder over a record stream (Python, from the spec): events as tuples, then
    ('error', offset) or ('truncated', offset)."""
    out = []
    pos = 0
    while pos < len(stream):
        n = stream[pos] * 4
        if n < 16:
            return out, ("error", start + pos)
        if pos + n > len(stream):
            return out, ("truncated", start + pos)
        rt = stream[pos + 1]
        if rt == 0xA0:
            if n < 56:
                return out, ("error", start + pos)
            (inst, ts_ev, oid, px, size, fl, act, side, ts_recv) = struct.unpack_from(
                "<4xIQQqIBxccQ", stream, pos)
            act, side = act.decode("latin1"), side.decode("latin1")
            if act not in "ACMRTFN" or side not in "BAN" or (act in "AM" and side == "N") \
                    or (px == UNDEF and act in "AM") or (px != UNDEF and px % 10):
                return out, ("error", start + pos)
            if act != "N":
                px = 0 if px == UNDEF else px // 10
                if act == "R":
                    out.append((ts_recv, 0, 0, 0, 0, inst, 2, 9, 4 if fl & 128 else 0))
                else:
                    out.append((ts_recv, oid, px, 0, size, inst,
                                SIDES[side], ACTIONS[act], 4 if fl & 128 else 0))
        pos += n
    return out, None


@settings(max_examples=scaled(300, 60), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(record, min_size=1, max_size=12), data=st.data())
def test_fuzz_corrupt_records_match_reference(tmp_path, records, data):
    """Corrupt record bytes (lengths, rtypes, actions, sides, prices): the reader decodes
    exactly what the reference decoder decodes, and fails where it fails, with the offset."""
    head = metadata()
    body = bytearray(b"".join(bytes(r) for r in records))
    hot = [0, 1, 36, 38, 39, 24, 31]  # length, rtype, flags, action, side, price bytes
    for _ in range(data.draw(st.integers(1, 6))):
        if data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(records) - 1)) * 56 + data.draw(st.sampled_from(hot))
        else:
            i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.sampled_from([0, 1, 3, 4, 13, 14, 15, 64, 255, ord("A"),
                                             ord("Z"), 0xA0, 0x99]))
    if data.draw(st.booleans()):
        del body[data.draw(st.integers(0, len(body) - 1)):]
    want, end = ref_decode(bytes(body), len(head))
    p = write(tmp_path, head + bytes(body))
    r = feeds.read_dbn(p, chunk=data.draw(st.integers(1, 16)))
    got = []
    err = None
    try:
        for c in r:
            got.extend(c[["ts", "order_id", "price", "ref", "qty", "instrument", "side",
                          "action", "flags"]].tolist())
    except ValueError as exc:
        err = str(exc)
    assert got == want
    if end is None:
        assert err is None
    else:
        assert err is not None and f"byte offset {end[1]}" in err, (err, end)
        assert ("truncated" in err) == (end[0] == "truncated")


def test_hostile_headers(tmp_path):
    good = encode([mbo("A", "B")])
    cases = {
        b"": "truncated DBN prelude",
        good[:5]: "truncated DBN prelude",
        good[:50]: "truncated DBN metadata",
        b"DBX" + good[3:]: "not a DBN file",
        b"DBN\x04" + good[4:]: "DBN version 4",
        good[:4] + struct.pack("<I", 10) + good[8:]: "metadata length 10",
        good[:4] + struct.pack("<I", 2**31) + good[8:]: "metadata length",
        good[:24] + struct.pack("<H", 77) + good[26:]: "schema 77",
        good[:24] + struct.pack("<H", 4) + good[26:]: "'trades'",
    }
    for i, (data, msg) in enumerate(cases.items()):
        p = tmp_path / f"h{i}.dbn"
        p.write_bytes(data)
        for mmap in (True, False):
            with pytest.raises(ValueError, match=msg):
                feeds.read_dbn(p, mmap=mmap)
    # a symbol count that lies about the metadata's room
    md = bytearray(metadata(3, symbols=("ESZ6",), ids=(42,)))
    fixed = 8 + 16 + 2 + 24 + 3 + 2 + 53 + 4
    md[fixed:fixed + 4] = struct.pack("<I", 10**6)
    p = tmp_path / "sym.dbn"
    p.write_bytes(bytes(md))
    with pytest.raises(ValueError, match="symbols count 1000000"):
        feeds.read_dbn(p)


def test_hostile_records(tmp_path):
    head = metadata()
    rec = bytearray(bytes(mbo("A", "B")))
    cases = []
    short = bytearray(rec)
    short[0] = 13  # 52 bytes: shorter than an MboMsg
    cases.append((short + rec, "shorter than 56 bytes"))
    zero = bytearray(rec)
    zero[0] = 0
    cases.append((rec + zero, "below the 16-byte record header"))
    lie = bytearray(rec)
    lie[0] = 200  # says 800 bytes, the file has 56
    cases.append((lie, "truncated final record"))
    cases.append((rec + rec[:30], "truncated final record"))
    odd = bytearray(rec)
    odd[24:32] = struct.pack("<q", 10**9 + 5)
    cases.append((odd, "not a whole 1e-8"))
    und = bytearray(rec)
    und[24:32] = struct.pack("<q", UNDEF)
    cases.append((und, "undefined price"))
    for i, (body, msg) in enumerate(cases):
        p = tmp_path / f"r{i}.dbn"
        p.write_bytes(head + bytes(body))
        with pytest.raises(ValueError, match=msg) as exc:
            feeds.read_dbn(p).read()
        assert str(p) in str(exc.value)


def test_zstd_hostile_and_missing_package(tmp_path, monkeypatch):
    data = encode([mbo("A", "B", order=i + 1) for i in range(200)])
    z = zstandard.ZstdCompressor(write_checksum=True).compress(data)
    p = tmp_path / "t.dbn.zst"
    p.write_bytes(z[:-9])
    with pytest.raises(ValueError, match="truncated file"):
        feeds.read_dbn(p).read()
    p.write_bytes(z + b"junkjunk")
    with pytest.raises(ValueError, match="not a zstd frame"):
        feeds.read_dbn(p).read()
    bad = bytearray(z)
    bad[len(bad) // 2] ^= 0xFF
    p.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="corrupt zstd frame at byte offset 0"):
        feeds.read_dbn(p).read()
    p.write_bytes(z)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setitem(sys.modules, "compression", None)
    with pytest.raises(ImportError, match=r"velox\[dbn\]"):
        feeds.read_dbn(p)


def test_fifo_stream_and_chunking(tmp_path):
    recs = [mbo("A", "B", order=i + 1, size=i % 100 + 1, inst=i % 3) for i in range(5000)]
    data = encode(recs)
    fifo = tmp_path / "f.fifo"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "wb") as f:
            for k in range(0, len(data), 777):
                f.write(data[k:k + 777])

    t = threading.Thread(target=writer)
    t.start()
    r = feeds.read_dbn(fifo, chunk=333)
    chunks = list(r)
    t.join(10)
    assert max(len(c) for c in chunks) <= 333
    assert feeds._join(chunks).tobytes() == model(recs).tobytes()


def test_readers_on_threads_check_every_event(tmp_path):
    """Several readers at once (GIL released in the decode) on plain and zstd copies; a source
    thread per reader hands chunks over a queue, the consumer checks every event's fields."""
    import queue

    n = scaled(200_000, 20_000)
    recs_bytes = bytearray(b"".join(bytes(mbo("A", "B", order=1, price=10**9, size=1))
                                    for _ in range(1)) * n)
    # order id and size per record, so every event is distinguishable
    arr = np.frombuffer(recs_bytes, np.uint8).reshape(n, 56)
    arr[:, 16:24] = np.arange(1, n + 1, dtype="<u8").view(np.uint8).reshape(n, 8)
    arr[:, 32:36] = (np.arange(n, dtype="<u4") % 1000 + 1).view(np.uint8).reshape(n, 4)
    data = metadata() + bytes(recs_bytes)
    paths = [write(tmp_path, data, f"p{i}.dbn", zstd=bool(i % 2)) for i in range(4)]
    q: "queue.Queue" = queue.Queue(maxsize=8)

    def source(p):
        for c in feeds.read_dbn(p, chunk=4096):
            q.put((str(p), c))
        q.put((str(p), None))

    threads = [threading.Thread(target=source, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    seen = {str(p): 0 for p in paths}
    done = 0
    while done < len(paths):
        p, c = q.get(timeout=60)
        if c is None:
            done += 1
            continue
        k = seen[p]
        ids = np.arange(k + 1, k + len(c) + 1, dtype=np.uint64)
        assert np.array_equal(c["order_id"], ids)
        assert np.array_equal(c["qty"], (ids - 1) % 1000 + 1)
        assert np.all(c["action"] == 1) and np.all(c["price"] == 10**8)
        seen[p] = k + len(c)
    for t in threads:
        t.join(10)
    assert all(v == n for v in seen.values())


def test_arguments():
    with pytest.raises(FileNotFoundError):
        feeds.read_dbn("/nonexistent/x.dbn")
    with pytest.raises(ValueError, match="chunk"):
        feeds.read_dbn("/dev/null", chunk=0)
    with pytest.raises(ValueError, match="ts must be"):
        feeds.read_dbn("/dev/null", ts="exchange")
    with pytest.raises(TypeError, match="MBO_DTYPE"):
        feeds.DbnParser().parse(b"", np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="numpy array"):
        feeds.DbnParser().parse(b"", [0, 0])
    frozen = np.zeros(3, feeds.MBO_DTYPE)
    frozen.flags.writeable = False
    for bad in (frozen, np.zeros(6, feeds.MBO_DTYPE)[::2], np.zeros((2, 2), feeds.MBO_DTYPE)):
        with pytest.raises(ValueError, match="writeable 1-d C-contiguous"):
            feeds.DbnParser().parse(b"", bad)
    # an equal dtype built anew (not numpy's cached object) is accepted
    same = pickle.loads(pickle.dumps(feeds.MBO_DTYPE))
    assert same == feeds.MBO_DTYPE and same is not feeds.MBO_DTYPE
    assert feeds.DbnParser().parse(b"", np.zeros(2, same)) == (0, 0)


def test_modify_keeps_or_loses_queue_priority_as_databento(tmp_path):
    """M at the same price with a lower size keeps the order's place; a larger size or a new
    price sends it to the back; M of an unknown order adds it."""
    from velox import MboBook

    px = 100 * 10**9
    recs = [mbo("A", "B", order=1, price=px, size=10), mbo("A", "B", order=2, price=px, size=5),
            mbo("M", "B", order=1, price=px, size=4)]            # lower: keeps its place
    book = MboBook(1024, 10**6, 99 * 10**8, max_orders=16)
    book.apply_many(feeds.read_dbn(write(tmp_path, encode(recs), "a.dbn")).read())
    assert book.queue_position(1) == 0 and book.queue_position(2) == 4
    recs.append(mbo("M", "B", order=1, price=px, size=6))        # larger: to the back
    book = MboBook(1024, 10**6, 99 * 10**8, max_orders=16)
    book.apply_many(feeds.read_dbn(write(tmp_path, encode(recs), "b.dbn")).read())
    assert book.queue_position(2) == 0 and book.queue_position(1) == 5
    recs += [mbo("M", "B", order=2, price=px + 10**7, size=5),   # new price: its own level
             mbo("M", "A", order=9, price=px + 10**9, size=3)]   # unknown: added
    book = MboBook(1024, 10**6, 99 * 10**8, max_orders=16)
    assert book.apply_many(feeds.read_dbn(write(tmp_path, encode(recs), "c.dbn")).read())[1] == 0
    assert book.queue_position(1) == 0 and book.order(2).price == 100 * 10**8 + 10**6
    assert book.order(9).side == 1 and book.counters.unknown_orders == 1
