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
    and a committed record whose bytes do not match its hash (torn under a machine crash)."""
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
