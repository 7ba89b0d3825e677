"""velox.Journal: append, roll, reopen, seek by sequence and time, crash recovery (a torn last
record written by the test, a child killed mid-append), a live tailer in another process that
sees every record exactly once, a reader thread driven with the GIL released, and the CLI."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import velox
from velox import Journal, JournalCorrupted, JournalReader
from velox import journal as cli
from velox._journal import LAYOUT_VERSION, checksum, checksum_implementation

from child_env import IMPORT_ROOT, child_env
from scale import scaled

DT = np.dtype([("ts", "<i8"), ("seq", "<u8"), ("px", "<f8"), ("qty", "<u4")], align=True)
SLOT = 8 + DT.itemsize  # 40
SEG = 1024 + 50 * SLOT  # 50 records per segment


def records(first, n):
    a = np.zeros(n, DT)
    s = np.arange(first, first + n, dtype=np.uint64)
    a["seq"] = s
    a["ts"] = (s // 3).astype(np.int64)
    a["px"] = s * 0.25
    a["qty"] = (s * 7 % 1000).astype(np.uint32)
    return a


def read_all(path, start="start"):
    with Journal.reader(path, start=start) as r:
        out = np.zeros(100_000, DT)
        n = r.read_many(out)
        return out[:n], r.skipped  # a view: .copy() of a padded dtype loses the padding


def test_roundtrip_roll_reopen(tmp_path):
    d = tmp_path / "j"
    with Journal.create(d, DT, segment_bytes=SEG, ts_field="ts") as j:
        assert j.segment_capacity == 50 and j.ts_field == "ts" and j.next_seq == 0
        assert j.append_many(records(0, 120)) == 0
        assert j.append(records(120, 1)[0]) == 120
        assert j.next_seq == 121
    assert sorted(os.listdir(d)) == [".lock"] + [f"{s:020d}.vxj" for s in (0, 50, 100)]
    with Journal.open(d) as j:
        assert j.next_seq == 121 and j.cut == 0 and j.dtype == DT and j.ts_field == "ts"
        j.append_many(records(121, 79))  # fills the third segment exactly
        assert j.next_seq == 200
    with Journal.open(d) as j:  # reopen on a full last segment: the next append rolls
        j.append_many(records(200, 1))
    got, skipped = read_all(d)
    assert skipped == 0
    assert got.tobytes() == records(0, 201).tobytes()


def test_append_forms_and_refusals(tmp_path):
    with Journal.create(tmp_path / "j", DT, ts_field="ts") as j:
        r0 = records(0, 4)
        j.append(r0[0])  # NumPy scalar
        j.append(r0[1:2])  # one-element array
        j.append(tuple(r0[2].item()))  # tuple
        j.append(r0[3].tobytes())  # exact bytes
        with pytest.raises(TypeError, match="dtype"):
            j.append(np.zeros(1, np.int64))
        with pytest.raises(ValueError, match="bytes"):
            j.append(b"x" * 5)
        with pytest.raises(TypeError, match="dtype"):
            j.append_many(np.zeros(3, np.float64))
        with pytest.raises(ValueError, match="1-D"):
            j.append_many(records(4, 4)[::2])
        bad = records(4, 3)
        bad["ts"][2] = -1
        with pytest.raises(ValueError, match=r"record 2 .*ts=.*-1"):
            j.append_many(bad)
        assert j.next_seq == 4  # the whole batch was refused
    got, _ = read_all(tmp_path / "j")
    assert got.tobytes() == records(0, 4).tobytes()


def test_bad_arguments(tmp_path):
    d = tmp_path / "j"
    with pytest.raises(ValueError, match="segment_bytes"):
        Journal.create(d, DT, segment_bytes=100)
    with pytest.raises(TypeError, match="segment_bytes"):
        Journal.create(d, DT, segment_bytes=1.5)
    with pytest.raises(ValueError, match="objects"):
        Journal.create(d, np.dtype(object))
    with pytest.raises(ValueError, match="ts_field 'px'"):
        Journal.create(d, DT, ts_field="px")
    with pytest.raises(ValueError, match="'nope'"):
        Journal.create(d, DT, ts_field="nope")
    with pytest.raises(TypeError, match="path"):
        Journal.create(b"bytes", DT)
    with pytest.raises(FileNotFoundError):
        Journal.open(tmp_path / "missing-or-empty")
    j = Journal.create(d, DT, segment_bytes=SEG)
    with pytest.raises(FileExistsError, match="another writer"):
        Journal.open(d)
    j.close()
    with pytest.raises(FileExistsError, match="already holds"):
        Journal.create(d, DT)
    with pytest.raises(ValueError, match="closed"):
        j.append(records(0, 1)[0])
    with Journal.reader(d) as r:
        with pytest.raises(ValueError, match="no time field"):
            r.seek_time(5)
        with pytest.raises(TypeError, match="dtype"):
            r.read_many(np.zeros(4, np.int64))
        with pytest.raises(ValueError, match="writable"):
            r.read_many(np.zeros(4, DT)[::2])
        with pytest.raises(ValueError, match="timeout"):
            r.read_many(np.zeros(4, DT), timeout=-1)
        with pytest.raises(TypeError, match="seq"):
            r.seek(1.0)
    with pytest.raises(ValueError, match="start"):
        Journal.reader(d, start="middle")
    r.close()
    with pytest.raises(ValueError, match="closed"):
        r.read(1)


def test_seek_time_matches_searchsorted(tmp_path):
    d = tmp_path / "j"
    with Journal.create(d, DT, segment_bytes=SEG, ts_field="ts") as j:
        j.append_many(records(0, 333))
    ts = records(0, 333)["ts"]
    with Journal.reader(d) as r:
        for t in [-5, 0, 1, 16, 17, 50, 110, 111, 500]:
            r.seek_time(t)
            assert r.position == int(np.searchsorted(ts, t, side="left")), t
        r.seek(137)
        assert r.read(1)["seq"][0] == 137
        r.to_end()
        assert r.position == 333 and len(r.read(5)) == 0
        r.to_start()
        assert r.position == 0


def _segment_path(d, first):
    return os.path.join(d, f"{first:020d}.vxj")


def test_torn_last_record_is_cut(tmp_path):
    """A file as a crash leaves it: the last record's bytes half written, its commit word 0;
    and a committed record whose bytes do not match its CRC (torn under a machine crash)."""
    d = str(tmp_path / "j")
    with Journal.create(d, DT, segment_bytes=SEG) as j:
        j.append_many(records(0, 70))
    seg = _segment_path(d, 50)
    with open(seg, "r+b") as f:
        # slot 20 (seq 70): half a record, no commit word
        f.seek(1024 + 20 * SLOT + 8)
        f.write(records(70, 1).tobytes()[:12])
        # slot 19 (seq 69): committed, but one byte of the record flipped
        f.seek(1024 + 19 * SLOT + 8 + 9)
        f.write(b"\xff")
    got, skipped = read_all(d)
    assert skipped == 1  # seq 69 is never returned as data
    assert got.tobytes() == records(0, 69).tobytes()
    with Journal.open(d) as j:
        assert j.cut == 1 and j.next_seq == 69
        with open(seg, "rb") as f:
            f.seek(1024 + 19 * SLOT)
            assert f.read(2 * SLOT) == bytes(2 * SLOT)  # cut: zeroed, torn bytes included
        j.append_many(records(69, 5))
    got, skipped = read_all(d)
    assert skipped == 0 and got.tobytes() == records(0, 74).tobytes()


CHILD_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    sys.path.insert(0, sys.argv[2])
    from test_journal import records, DT, SEG
    from velox import Journal
    j = Journal.create(sys.argv[1], DT, segment_bytes=SEG, ts_field="ts")
    n = 0
    while True:
        j.append_many(records(n, 7))
        n += 7
        if n == 700:
            print("ready", flush=True)
    """
)


def test_child_killed_mid_append(tmp_path):
    d = str(tmp_path / "j")
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.Popen([sys.executable, "-c", CHILD_WRITER, d, tests_dir], cwd=IMPORT_ROOT,
                         env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    with Journal.open(d) as j:
        n = j.next_seq
        assert n >= 700 and j.cut == 0
        j.append_many(records(n, 3))  # appending continues where the killed writer stopped
    got, skipped = read_all(d)
    assert skipped == 0 and got.tobytes() == records(0, n + 3).tobytes()


CHILD_TAILER = textwrap.dedent(
    """
    import sys, numpy as np
    from velox import Journal
    path, total = sys.argv[1], int(sys.argv[2])
    r = Journal.reader(path)
    out = np.zeros(97, r.dtype)
    seen = 0
    bad = 0
    print("started", flush=True)
    while seen < total:
        n = r.read_many(out, timeout=20.0)
        if n == 0:
            break
        seqs = out["seq"][:n]
        bad += int(np.count_nonzero(seqs != np.arange(seen, seen + n, dtype=np.uint64)))
        bad += int(np.count_nonzero(out["qty"][:n] != (seqs * 7 % 1000).astype(np.uint32)))
        seen += n
    extra = r.read_many(out, timeout=0.05)
    print(seen, bad, extra, r.skipped, flush=True)
    """
)


def test_live_tailer_in_another_process(tmp_path):
    d = str(tmp_path / "j")
    total = scaled(200_000, 5_000)
    j = Journal.create(d, DT, segment_bytes=1024 + 1000 * SLOT, ts_field="ts")
    p = subprocess.Popen([sys.executable, "-c", CHILD_TAILER, d, str(total)], cwd=IMPORT_ROOT,
                         env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        rng = np.random.default_rng(7)
        n = 0
        while n < total:
            k = min(int(rng.integers(1, 300)), total - n)
            j.append_many(records(n, k))
            n += k
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
        j.close()
    seen, bad, extra, skipped = map(int, out.split())
    assert (seen, bad, extra, skipped) == (total, 0, 0, 0)


def test_reader_thread_gil_released(tmp_path):
    """A source thread blocks in read_many(timeout) while the main thread appends."""
    d = tmp_path / "j"
    total = scaled(50_000, 2_000)
    j = Journal.create(d, DT, segment_bytes=1024 + 500 * SLOT)
    r = Journal.reader(d, start="end")
    got = []

    def source():
        out = np.zeros(256, DT)
        while sum(map(len, got)) < total * DT.itemsize:
            n = r.read_many(out, timeout=20.0)
            if n == 0:
                return
            got.append(out[:n].tobytes())

    t = threading.Thread(target=source)
    t.start()
    for first in range(0, total, 100):
        j.append_many(records(first, min(100, total - first)))
    t.join(60)
    assert not t.is_alive()
    assert b"".join(got) == records(0, total).tobytes()
    r.close()
    j.close()


def test_second_thread_on_one_reader_is_refused(tmp_path):
    """Two threads on one reader: whichever enters second gets RuntimeError (either may lose)."""
    d = tmp_path / "j"
    Journal.create(d, DT).close()
    r = Journal.reader(d)
    errors = []
    stop = threading.Event()

    def blocked():
        while not stop.is_set():  # bounded by the main thread's loop below
            try:
                r.wait(0.05)
            except RuntimeError as exc:
                errors.append(exc)

    t = threading.Thread(target=blocked)
    t.start()
    try:
        for _ in range(2000):  # the waiting thread holds the guard for its whole slice
            try:
                r.read(1)
            except RuntimeError as exc:
                errors.append(exc)
            if errors:
                break
            threading.Event().wait(0.001)
    finally:
        stop.set()
        t.join()
    assert errors and "another thread" in str(errors[0])
    r.close()


def test_cli(tmp_path, capsys):
    d = str(tmp_path / "j")
    with Journal.create(d, DT, segment_bytes=SEG, ts_field="ts") as j:
        j.append_many(records(0, 60))
    assert cli.main(["ls", d]) == 0
    text = capsys.readouterr().out
    assert "00000000000000000050.vxj first 50 records 10" in text and "total 60 records" in text
    assert cli.main(["cat", d, "--time", "19", "--count", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{s} {records(0, 60)[s]}" for s in (57, 58)]
    assert cli.main(["cat", d, "--start", "3", "--count", "1", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj == {"_seq": 3, "ts": 1, "seq": 3, "px": 0.75, "qty": 21}
    assert cli.main(["tail", d, "--start", "58", "--duration", "0.1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert cli.main(["cat", str(tmp_path / "none")]) == 2
    assert "velox.journal:" in capsys.readouterr().err
    assert cli.main(["cat", d, "--count", "-1"]) == 2
    r = subprocess.run([sys.executable, "-m", "velox.journal", "cat", d, "--count", "1"],
                       cwd=IMPORT_ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("0 (0, 0, 0.")


def test_cli_reports_skipped(tmp_path, capsys):
    d = str(tmp_path / "j")
    with Journal.create(d, DT, segment_bytes=SEG) as j:
        j.append_many(records(0, 10))
    with open(_segment_path(d, 0), "r+b") as f:
        f.seek(1024 + 4 * SLOT + 8)
        f.write(b"\x01\x02")
    assert cli.main(["cat", d]) == 0
    cap = capsys.readouterr()
    assert [int(line.split()[0]) for line in cap.out.splitlines()] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert "1 corrupt record(s) skipped" in cap.err


def test_exported():
    assert velox.Journal is Journal and velox.JournalReader is JournalReader
    assert issubclass(JournalCorrupted, ValueError)


def test_plain_dtype_iteration_and_json(tmp_path, capsys):
    """A journal of a non-structured dtype: iteration yields the committed records, the CLI
    prints JSON with the value under "value"."""
    d = str(tmp_path / "f")
    values = np.array([1.5, -2.25, 1e300], np.float64)
    with Journal.create(d, np.float64, segment_bytes=1024 + 2 * 16) as j:
        j.append_many(values)
        assert j.ts_field is None
    with Journal.reader(d) as r:
        assert [float(v) for v in r] == values.tolist()
        assert list(r) == []  # the position moved to the end
    assert cli.main(["cat", d, "--json"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"_seq": i, "value": v} for i, v in enumerate(values.tolist())]


@pytest.mark.parametrize("size", [8, 10, 16, 24, 32, 40, 48, 56, 64, 72, 528])
def test_record_sizes_copy_hash_and_skip_in_one_read(tmp_path, size):
    """Every record size the reader and writer specialise (16..64 in steps of 8) and some they
    do not: records written across segment rolls read back byte for byte in one read_many; a
    record with a flipped byte and one whose commit word names another sequence, in the middle
    of a segment, are skipped and counted while the records after them are still returned by
    the same call."""
    dt = np.dtype([("v", "u1", (size,))])
    slot = 8 + (size + 7) // 8 * 8
    n, cap = 23, 10
    data = np.zeros(n, dt)
    data["v"] = (np.arange(n * size, dtype=np.uint64).reshape(n, size) * 37 % 251).astype(np.uint8)
    d = str(tmp_path / "j")
    with Journal.create(d, dt, segment_bytes=1024 + cap * slot) as j:
        j.append_many(data[:4])
        j.append_many(data[4:])  # one batch across two rolls
    got, skipped = read_all_dtype(d, dt)
    assert skipped == 0 and got.tobytes() == data.tobytes()
    seg = _segment_path(d, 10)
    with open(seg, "r+b") as f:
        f.seek(1024 + 3 * slot + 8 + size - 1)  # seq 13: last byte of the record flipped
        f.write(bytes([data[13]["v"][-1] ^ 0x40]))
        f.seek(1024 + 6 * slot)  # seq 16: a commit word naming sequence 17
        word = int.from_bytes(f.read(8), "little")
        f.seek(1024 + 6 * slot)
        f.write(((word & ~0x7FFFFFFF) | 17).to_bytes(8, "little"))
    got, skipped = read_all_dtype(d, dt)
    assert skipped == 2
    keep = [i for i in range(n) if i not in (13, 16)]
    assert got.tobytes() == data[keep].tobytes()


def read_all_dtype(path, dt):
    with Journal.reader(path) as r:
        out = np.zeros(100, dt)
        k = r.read_many(out)
        return out[:k], r.skipped


def test_checksum_is_crc32c_and_the_format_uses_it(tmp_path):
    """checksum() is the standard CRC-32C (check value and RFC 3720 vectors, a byte at a time
    through a bitwise reference); a segment's header_check is it of the header with the field
    zero (zero-extended), and each commit word is crc32c(record) << 32 | 1 << 31 | seq
    (docs/journal.md, "Checksums")."""
    def reference(data):
        c = 0xFFFFFFFF
        for byte in data:
            c ^= byte
            for _ in range(8):
                c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        return c ^ 0xFFFFFFFF

    assert checksum(b"123456789") == 0xE3069283 and checksum(b"") == 0
    assert checksum(bytes(32)) == 0x8A9136AA and checksum(b"\xff" * 32) == 0x62A8AB43
    assert checksum(bytes(range(32))) == 0x46DD794E
    rng = np.random.default_rng(7)
    for n in (1, 7, 8, 9, 31, 33, 100):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert checksum(data) == reference(data)
    assert checksum_implementation() in ("sse4.2", "armv8-crc", "portable")
    d = str(tmp_path / "j")
    with Journal.create(d, DT, segment_bytes=SEG) as j:
        j.append_many(records(0, 60))
    with open(_segment_path(d, 50), "rb") as f:
        seg = f.read()
    header = bytearray(seg[:1024])
    assert int.from_bytes(header[8:12], "little") == LAYOUT_VERSION == 2
    check = int.from_bytes(header[64:72], "little")
    header[64:72] = bytes(8)
    assert check == checksum(bytes(header)) == reference(bytes(header))
    data = records(50, 10)
    for i in range(10):
        slot = seg[1024 + i * SLOT:1024 + (i + 1) * SLOT]
        rec = data[i:i + 1].tobytes()
        assert slot[8:] == rec
        assert int.from_bytes(slot[:8], "little") == checksum(rec) << 32 | 1 << 31 | (50 + i)


def _v1_hash(data):
    """The version-1 journal's header hash (two multiply-xor lanes; journal.c before CRC32C)."""
    mask = (1 << 64) - 1

    def mix(h):
        h ^= h >> 33
        h = h * 0xFF51AFD7ED558CCD & mask
        return h ^ h >> 33

    n = len(data)
    a, b = 0x9E3779B97F4A7C15 ^ n, 0xC2B2AE3D27D4EB4F
    padded = bytes(data) + bytes(-n % 16)
    for i in range(0, len(padded), 16):
        x = int.from_bytes(padded[i:i + 8], "little")
        y = int.from_bytes(padded[i + 8:i + 16], "little")
        a = (a ^ x) * 0x9E3779B97F4A7C15 & mask
        b = (b ^ y) * 0xC2B2AE3D27D4EB4F & mask
        if i + 16 <= n:
            a ^= a >> 29
            b ^= b >> 31
    return mix(a ^ mix(b + n & mask))


def test_version_1_journal_is_refused_naming_both_versions(tmp_path, capsys):
    """A journal of layout version 1 (hand-made: version 1 and its own header hash, records
    with its commit words) is refused on open by the writer, the reader and the CLI, with a
    message naming version 1 and version 2; nothing is cut or rewritten."""
    d = str(tmp_path / "j")
    with Journal.create(d, DT, segment_bytes=SEG) as j:
        j.append_many(records(0, 3))
    path = _segment_path(d, 0)
    with open(path, "r+b") as f:
        seg = bytearray(f.read())
        seg[8:12] = (1).to_bytes(4, "little")
        seg[64:72] = bytes(8)
        seg[64:72] = _v1_hash(bytes(seg[:1024])).to_bytes(8, "little")
        for i, rec in enumerate(records(0, 3)):
            word = _v1_hash(rec.tobytes()) & ~0xFFFFFFFF | 1 << 31 | i
            seg[1024 + i * SLOT:1024 + i * SLOT + 8] = word.to_bytes(8, "little")
        f.seek(0)
        f.write(seg)
    want = r"layout version 1; this velox reads and writes version 2 only"
    with pytest.raises(JournalCorrupted, match=want):
        Journal.open(d)
    with pytest.raises(JournalCorrupted, match=want):
        Journal.reader(d)
    assert cli.main(["cat", d]) == 2
    assert "layout version 1" in capsys.readouterr().err
    with open(path, "rb") as f:
        assert f.read() == seg


CHILD_CRC = r"""
import sys
import numpy as np
from velox import Journal
from velox._journal import checksum_implementation
sys.path.insert(0, sys.argv[3])
from test_journal import DT, SEG, records
mode, d = sys.argv[1], sys.argv[2]
if mode == "write":
    with Journal.create(d, DT, segment_bytes=SEG, ts_field="ts") as j:
        j.append_many(records(0, 120))
else:
    with Journal.reader(d) as r:
        out = np.zeros(1000, DT)
        n = r.read_many(out)
        np.save(d + ".npy", out[:n])
        print("skipped", r.skipped)
print(checksum_implementation())
"""


def test_portable_and_hardware_checksums_interchange(tmp_path):
    """A journal written with the portable CRC32C (a child Python with VELOX_NO_HW_CRC=1)
    reads back and reopens for appending in this process (the CPU's CRC32C instructions where
    it has them), and the records this process appends read back in a portable child."""
    d = str(tmp_path / "j")
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    env = dict(child_env(), VELOX_NO_HW_CRC="1")

    def child(mode):
        r = subprocess.run([sys.executable, "-c", CHILD_CRC, mode, d, tests_dir], cwd=IMPORT_ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert child("write") == ["portable"]
    got, skipped = read_all(d)
    assert skipped == 0 and got.tobytes() == records(0, 120).tobytes()
    with Journal.open(d) as j:
        assert j.cut == 0 and j.next_seq == 120
        j.append_many(records(120, 80))
    assert child("read") == ["skipped", "0", "portable"]
    assert np.load(d + ".npy").tobytes() == records(0, 200).tobytes()
