"""Feed input handling: multi-member gzip, corrupt and trailing gzip bytes, pipes and FIFOs,
files that shrink while read, bad paths raised at the call, LOBSTER header/orderbook hints and
bounded LOBSTER memory. The hostile-file fuzzer over the same inputs is in test_feeds_fuzz.py."""

import gzip
import json
import os
import subprocess
import sys
import threading
import tracemalloc
import zlib

import numpy as np
import pytest

from child_env import IMPORT_ROOT, child_env
import velox
from velox import MBO_DTYPE, feeds
from velox._feeds import itch_write, lobster_write_messages
from velox.feedgen import concat, generate, lobster_events, symbol_names

SYMS = symbol_names(4)
EVENTS = concat(list(generate(3000, 4, seed=11)))
ITCH = (b"".join(feeds.itch_directory(i + 1, 0, s) for i, s in enumerate(SYMS))
        + itch_write(EVENTS, [None] + SYMS))
LOB_EVENTS = lobster_events(2000, seed=4)
LOBSTER = lobster_write_messages(LOB_EVENTS)


def itch_events(data: bytes) -> np.ndarray:
    p = feeds.ItchParser()
    out = np.zeros(len(data) // 12 + 1, MBO_DTYPE)
    consumed, produced = p.parse(data, out)
    assert consumed == len(data)
    return out[:produced]


PLAIN_ITCH_EVENTS = itch_events(ITCH)


def members(data: bytes, cuts) -> bytes:
    """data as gzip members split at `cuts` (gzip -c part >> file, pigz, bgzip)."""
    bounds = [0, *sorted(cuts), len(data)]
    return b"".join(gzip.compress(data[a:b], compresslevel=1) for a, b in zip(bounds, bounds[1:]))


def feed_pipe(data: bytes, piece: int = 4096):
    """A pipe with a writer thread: the read end's /dev/fd path and the thread."""
    r, w = os.pipe()

    def write():
        try:
            for i in range(0, len(data), piece):
                os.write(w, data[i:i + piece])
        finally:
            os.close(w)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return r, t


# ---- multi-member gzip ----------------------------------------------------------------------

@pytest.mark.parametrize("cuts", [[41], [1, 2, 3], [0, 0, 5000], [len(ITCH) // 2, len(ITCH)]])
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_itch_reads_every_gzip_member(tmp_path, cuts, chunk):
    path = tmp_path / "day.itch.gz"
    path.write_bytes(members(ITCH, cuts))
    reader = feeds.read_itch(path, chunk=chunk)
    got = reader.read()
    assert got.tobytes() == PLAIN_ITCH_EVENTS.tobytes()
    assert reader.bytes_read == len(ITCH)


def test_lobster_reads_every_gzip_member(tmp_path):
    path = tmp_path / "m.csv.gz"
    for cuts in ([25], [1, 100, 101, 5000], [0]):
        path.write_bytes(members(LOBSTER, cuts))
        assert feeds.read_lobster(path).tobytes() == LOB_EVENTS.tobytes()
    book = b"5859400,200,5853300,18\n5859400,100,5853300,18\n"
    path.write_bytes(members(book, [23, 30]))
    got = feeds.read_lobster_book(path)
    assert len(got) == 2 and got.ask_qty[:, 0].tolist() == [200, 100]


def test_gzip_nul_padding_is_skipped_like_gzip(tmp_path):
    data = gzip.compress(LOBSTER) + b"\0" * 700 + gzip.compress(b"") + b"\0"
    assert gzip.decompress(data) == LOBSTER
    path = tmp_path / "m.csv.gz"
    path.write_bytes(data)
    assert feeds.read_lobster(path).tobytes() == LOB_EVENTS.tobytes()


@pytest.mark.parametrize("tail", [b"garbage", b"\0\0garbage after the member", b"\x1f", b"x",
                                  b"\x1f\x8b\x08\0\0\0"])
def test_bytes_after_a_member_that_are_no_member_raise(tmp_path, tail):
    for name, data, read in (("day.itch.gz", ITCH, lambda p: feeds.read_itch(p).read()),
                             ("m.csv.gz", LOBSTER, feeds.read_lobster)):
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) + tail)
        with pytest.raises(ValueError, match=r"byte offset \d+") as exc:
            read(path)
        assert str(path) in str(exc.value)


def corrupt_crc(data: bytes) -> bytes:
    gz = bytearray(gzip.compress(data))
    gz[-8] ^= 0xFF  # CRC32 of the member's trailer
    return bytes(gz)


def test_corrupt_gzip_raises_value_error_naming_file_and_offset(tmp_path):
    path = tmp_path / "m.csv.gz"
    path.write_bytes(b"\x1f\x8b" + b"\0" * 20)
    with pytest.raises(ValueError, match=r"m\.csv\.gz: corrupt gzip member at byte offset 0"):
        feeds.read_lobster(path)
    path.write_bytes(corrupt_crc(LOBSTER))
    with pytest.raises(ValueError, match="corrupt gzip member at byte offset 0"):
        feeds.read_lobster(path)
    # ITCH: a highly compressible stream whose CRC error shows while zlib drains its output
    # (more than one bounded output step per input step)
    big = b"".join(feeds.itch_directory(1, 0, "AAAA") for _ in range(1 << 19))  # 21 MB
    itch = tmp_path / "big.itch.gz"
    itch.write_bytes(gzip.compress(ITCH) + corrupt_crc(big))
    with pytest.raises(ValueError, match="big.itch.gz: corrupt gzip member at byte offset") as e:
        feeds.read_itch(itch).read()
    assert f"offset {len(gzip.compress(ITCH))} " in str(e.value)


def test_truncated_gzip_raises(tmp_path):
    data = gzip.compress(ITCH) + gzip.compress(ITCH)
    path = tmp_path / "d.itch.gz"
    for cut in (3, 30, len(data) // 2 + 5, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="gzip"):
            feeds.read_itch(path).read()


def test_lobster_gzip_bomb_is_not_decompressed_whole(tmp_path):
    """256 MB of zeros in a 250 KB gzip: refused at line 1 with bounded memory."""
    c = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(c.compress(zeros) for _ in range(256)) + c.flush()
    path = tmp_path / "m.csv.gz"
    path.write_bytes(bomb)
    for read in (feeds.read_lobster, feeds.read_lobster_book):
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="line 1"):
                read(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 64 << 20, peak


def test_lobster_blocks_keep_line_numbers(tmp_path, monkeypatch):
    """LOBSTER text is parsed in blocks of whole lines; errors name the file's own line."""
    monkeypatch.setattr(feeds, "_LOBSTER_BLOCK", 100)
    path = tmp_path / "m.csv"
    path.write_bytes(LOBSTER)
    assert feeds.read_lobster(path).tobytes() == LOB_EVENTS.tobytes()
    lines = LOBSTER.split(b"\n")
    for bad in (1, 2, 50, len(lines) - 1):
        broken = lines.copy()
        broken[bad - 1] = broken[bad - 1].replace(b",", b";", 1)
        path.write_bytes(b"\n".join(broken))
        with pytest.raises(ValueError, match=rf"m\.csv: LOBSTER message file: line {bad}, "):
            feeds.read_lobster(path)
    path.write_bytes(members(LOBSTER, [333]))
    assert feeds.read_lobster(path).tobytes() == LOB_EVENTS.tobytes()
    book = b"".join(b"%d,1,%d,2,%d,3,%d,4\n" % (100 + i, 50 + i, 101 + i, 49 + i)
                    for i in range(400))
    path.write_bytes(book)
    got = feeds.read_lobster_book(path)
    assert got.levels == 2 and len(got) == 400 and got.ask_px[399, 0] == 499 * 10**4
    path.write_bytes(book + b"1,1,1,1\n")
    with pytest.raises(ValueError, match="line 401, "):
        feeds.read_lobster_book(path)


# ---- pipes and FIFOs --------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
def test_itch_from_a_pipe(compress):
    data = members(ITCH, [100, 5000]) if compress else ITCH
    r, t = feed_pipe(data, piece=999)
    try:
        reader = feeds.read_itch(f"/dev/fd/{r}", chunk=100)
        got = reader.read()
    finally:
        t.join(10)
        os.close(r)
    assert got.tobytes() == PLAIN_ITCH_EVENTS.tobytes()
    assert reader.counts["messages"] == len(SYMS) + len(EVENTS)


@pytest.mark.parametrize("compress", [False, True])
def test_lobster_from_a_fifo(tmp_path, compress):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = members(LOBSTER, [77]) if compress else LOBSTER

    def write():
        with open(fifo, "wb") as f:
            f.write(data)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    got = feeds.read_lobster(fifo)
    t.join(10)
    assert got.tobytes() == LOB_EVENTS.tobytes()


def test_pipeline_itch_and_lobster_inputs_read_every_member_and_fifos(tmp_path):
    itch = tmp_path / "day.itch.gz"
    itch.write_bytes(members(ITCH, [41 * 4 + 38 * 3]))
    lob = tmp_path / "m.csv.gz"
    lob.write_bytes(members(LOBSTER, [25]))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    want_itch = len(PLAIN_ITCH_EVENTS[PLAIN_ITCH_EVENTS["instrument"] <= 2])

    def run(spec):
        r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", spec, "--cores",
                            "1", "--quiet", "--json", "-"], capture_output=True, text=True,
                           timeout=300, cwd=IMPORT_ROOT, env=child_env())
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["counters"]["generated"]

    assert run(f"itch:{itch}?symbols={SYMS[0]},{SYMS[1]}") == want_itch
    assert run(f"lobster:{lob}") == len(LOB_EVENTS)
    writer = subprocess.Popen(["sh", "-c", 'cat "$0" > "$1"', str(itch), str(fifo)])
    try:
        assert run(f"itch:{fifo}?symbols={SYMS[0]},{SYMS[1]}") == want_itch
    finally:
        writer.wait(60)


# ---- files that shrink, bad paths -------------------------------------------------------------

def test_mmap_false_turns_a_shrinking_file_into_value_error(tmp_path, monkeypatch):
    """The file shrinks at a message boundary of the read buffer: without the size check the
    reader would end early, silently."""
    monkeypatch.setattr(feeds, "_READ_BLOCK", 14 * 5000)  # 5000 S messages of 14 bytes
    ev = np.zeros(400_000, MBO_DTYPE)
    ev["action"] = int(velox.Action.STATUS)
    ev["side"] = 2
    ev["flags"] = 1
    ev["status"] = ord("O")
    path = tmp_path / "day.itch"
    path.write_bytes(itch_write(ev, []))
    assert len(feeds.read_itch(path, mmap=False).read()) == 400_000
    chunks = iter(feeds.read_itch(path, chunk=1000, mmap=False))
    assert len(next(chunks)) == 1000
    os.truncate(path, 4096)
    with pytest.raises(ValueError, match="shrank while it was read"):
        for _ in chunks:
            pass


def test_mmap_false_reads_a_file_whole_across_buffer_refills(tmp_path):
    path = tmp_path / "day.itch"
    path.write_bytes(ITCH * 60)  # ~6 MB: several 1 MiB refills, messages split across them
    got = feeds.read_itch(path, mmap=False, chunk=4096).read()
    assert got.tobytes() == feeds.read_itch(path).read().tobytes()
    path.write_bytes(ITCH + ITCH[:10])
    with pytest.raises(ValueError, match="truncated final message"):
        feeds.read_itch(path, mmap=False).read()
    with pytest.raises(TypeError, match="mmap"):
        feeds.read_itch(path, mmap=1)


def test_bad_paths_raise_at_the_call(tmp_path):
    with pytest.raises(FileNotFoundError):
        feeds.read_itch(tmp_path / "nope")
    with pytest.raises(IsADirectoryError):
        feeds.read_itch(tmp_path)
    for read in (feeds.read_lobster, feeds.read_lobster_book):
        with pytest.raises(FileNotFoundError):
            read(tmp_path / "nope")
        with pytest.raises(IsADirectoryError):
            read(tmp_path)
    if os.geteuid() != 0:
        p = tmp_path / "secret.itch"
        p.write_bytes(ITCH)
        p.chmod(0)
        with pytest.raises(PermissionError):
            feeds.read_itch(p)


# ---- LOBSTER: what a wrong file looks like ----------------------------------------------------

def test_lobster_header_line_is_named(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"Time,Type,OrderID,Size,Price,Direction\n" + LOBSTER)
    with pytest.raises(ValueError) as exc:
        feeds.read_lobster(path)
    msg = str(exc.value)
    assert str(path) in msg and "line 1" in msg and "time,type,order id,size,price,direction" \
        in msg and "no header line" in msg
    path.write_bytes(b"Ask Price 1,Ask Size 1,Bid Price 1,Bid Size 1\n5,1,4,1\n")
    with pytest.raises(ValueError, match="line 1 is not a LOBSTER orderbook line.*no header"):
        feeds.read_lobster_book(path)


def test_lobster_wrong_kind_of_file_is_named(tmp_path):
    book = tmp_path / "AAPL_orderbook_2.csv"
    book.write_bytes(b"5859400,200,5853300,18,5859500,1,5853200,3\n")
    with pytest.raises(ValueError, match=r"looks like a LOBSTER orderbook file \(use "
                                         r"read_lobster_book\)"):
        feeds.read_lobster(book)
    msg = tmp_path / "AAPL_message_2.csv"
    msg.write_bytes(LOBSTER)
    with pytest.raises(ValueError, match=r"looks like a LOBSTER message file \(use read_lobster\)"):
        feeds.read_lobster_book(msg)


def test_read_returns_arrays_that_own_their_memory(tmp_path):
    """.read() copies into an exact-size array (not a view of a 48 MiB parse chunk), the same
    bytes with or without reuse, one chunk or many."""
    path = tmp_path / "day.itch"
    path.write_bytes(ITCH)
    for kw in ({}, {"reuse": True}, {"chunk": 100}, {"chunk": 100, "reuse": True}):
        got = feeds.read_itch(path, **kw).read()
        assert got.flags.owndata and got.tobytes() == PLAIN_ITCH_EVENTS.tobytes(), kw
    path.write_bytes(b"")
    assert len(feeds.read_itch(path).read()) == 0
