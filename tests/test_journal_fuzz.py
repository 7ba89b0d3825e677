"""Hostile journal files: random byte flips in segment headers and records, headers crafted with
a valid header_check but out-of-range fields (capacity, sizes, sequence, time field, dtype
length), truncated and missing segments. Readers and writers must give a clear error
(JournalCorrupted / ValueError / OSError) or skip and count corrupt records, never return a
record that was not appended, and never touch memory outside the mapping.

The fuzz loop runs in a child Python, so a SIGBUS or SIGSEGV (a read past the mapping) fails
the test with the signal instead of killing pytest."""

import os
import shutil
import struct
import subprocess
import sys

import numpy as np

from velox import Journal, JournalCorrupted
from velox._journal import checksum

from child_env import IMPORT_ROOT, child_env
from scale import scaled

DT = np.dtype([("ts", "<i8"), ("seq", "<u8"), ("check", "<u8")])
SLOT = 8 + DT.itemsize
CAP = 400  # segments of several pages: a wrong mapping size can reach past the mapping
SEG = 1024 + CAP * SLOT
N = 1000  # records: segments 0, 400 (full) and 800 (half)

# header fields: (offset, struct format)
FIELDS = {
    "magic": (0, "<Q"), "version": (8, "<I"), "header_size": (12, "<I"),
    "file_size": (16, "<Q"), "first_seq": (24, "<Q"), "capacity": (32, "<Q"),
    "record_size": (40, "<I"), "slot_size": (44, "<I"), "ts_offset": (48, "<I"),
    "ts_kind": (52, "<I"), "dtype_len": (56, "<I"),
}
HOSTILE = [0, 1, 7, 8, 23, 24, 25, 31, 32, 40, 41, 80, 1023, 1024, 1025, 4096, 2**31 - 1, 2**31,
           2**32 - 1, 2**40, 2**63, 2**64 - 1]


def make_records(first, n):
    a = np.zeros(n, DT)
    s = np.arange(first, first + n, dtype=np.uint64)
    a["seq"] = s
    a["ts"] = (s // 2).astype(np.int64)
    a["check"] = s * np.uint64(0x9E3779B97F4A7C15)
    return a


def build(path):
    with Journal.create(path, DT, segment_bytes=SEG, ts_field="ts") as j:
        j.append_many(make_records(0, N))


def reseal(header):
    """Recomputes header_check over a header whose fields were changed."""
    h = bytearray(header)
    h[64:72] = bytes(8)
    h[64:72] = struct.pack("<Q", checksum(bytes(h)))
    return bytes(h)


def mutate(path, rng):
    """Damages the journal at path one way; returns the kind of damage."""
    segs = sorted(n for n in os.listdir(path) if n.endswith(".vxj"))
    target = os.path.join(path, segs[int(rng.integers(len(segs)))])
    kind = int(rng.integers(7))
    if kind == 6:  # a segment other than the first
        target = os.path.join(path, segs[1 + int(rng.integers(len(segs) - 1))])
    if kind == 2:  # the first segment alone, so the writer's recovery scans all its slots
        target = os.path.join(path, segs[0])
        for name in segs[1:]:
            os.unlink(os.path.join(path, name))
    with open(target, "r+b") as f:
        data = bytearray(f.read())
        if kind == 0:  # random header bytes
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(1024))] ^= int(rng.integers(1, 256))
        elif kind == 1:  # one field crafted, header_check recomputed
            name = list(FIELDS)[int(rng.integers(len(FIELDS)))]
            off, fmt = FIELDS[name]
            value = HOSTILE[int(rng.integers(len(HOSTILE)))] % (256 ** struct.calcsize(fmt))
            data[off:off + struct.calcsize(fmt)] = struct.pack(fmt, value)
            data[:1024] = reseal(data[:1024])
        elif kind == 2:  # capacity and file_size grown together past the real file
            cap = int(rng.choice([CAP + 1, CAP * 2, CAP * 1000]))
            data[32:40] = struct.pack("<Q", cap)
            data[16:24] = struct.pack("<Q", 1024 + cap * SLOT)
            data[:1024] = reseal(data[:1024])
        elif kind == 3:  # record bytes and commit words
            for _ in range(int(rng.integers(1, 6))):
                data[1024 + int(rng.integers(CAP * SLOT))] ^= int(rng.integers(1, 256))
        elif kind == 4:  # truncated file
            del data[int(rng.integers(len(data))):]
            f.truncate(len(data))
        elif kind == 6:  # a later segment's capacity and file_size shrunk together (sealed)
            cap = int(rng.choice([1, CAP // 4, CAP - 1]))
            data[32:40] = struct.pack("<Q", cap)
            data[16:24] = struct.pack("<Q", 1024 + cap * SLOT)
            data[:1024] = reseal(data[:1024])
            del data[1024 + cap * SLOT:]
            f.truncate(len(data))
        else:  # dtype text crafted (sealed)
            text = rng.choice([b"[('ts', '<i8')]", b"'<f8'", b"not a dtype", b"[('ts', '<i8'), ('x', 'S16')]"])
            data[128:640] = bytes(512)
            data[128:128 + len(text)] = text
            data[56:60] = struct.pack("<I", len(text))
            data[:1024] = reseal(data[:1024])
        f.seek(0)
        f.write(data)
    segs = sorted(n for n in os.listdir(path) if n.endswith(".vxj"))
    if rng.integers(8) == 0:  # sometimes a segment is missing
        os.unlink(os.path.join(path, segs[int(rng.integers(len(segs)))]))
        kind = 6
    return kind


def check_reader(path, outcomes):
    want = make_records(0, N + 3)  # the writer appends 3 records after a reopen
    try:
        with Journal.reader(path) as r:
            out = np.zeros(N + 10, r.dtype)
            got = r.read_many(out)
            if r.dtype == DT:
                for rec in out[:got]:
                    s = int(rec["seq"])
                    assert s < N + 3 and rec.tobytes() == want[s].tobytes(), rec
            if r.skipped:
                outcomes["skipped"] += 1
            if r.ts_field:
                r.seek_time(17)
                r.read_many(out)
            r.to_end()
            r.read_many(out)
            r.wait(0.0)
        outcomes["read"] += 1
    except (JournalCorrupted, ValueError, OSError):
        outcomes["reader error"] += 1


def check_writer(path, outcomes):
    try:
        with Journal.open(path) as j:
            if j.dtype == DT:
                n = j.next_seq
                j.append_many(make_records(n, 3) if n < 2**62 else make_records(0, 0))
        outcomes["reopened"] += 1
    except (JournalCorrupted, ValueError, OSError):
        outcomes["writer error"] += 1


def fuzz(workdir, trials, seed):
    rng = np.random.default_rng(seed)
    clean = os.path.join(workdir, "clean")
    build(clean)
    outcomes = {k: 0 for k in ("read", "skipped", "reader error", "reopened", "writer error")}
    for t in range(trials):
        path = os.path.join(workdir, f"t{t}")
        shutil.copytree(clean, path)
        mutate(path, rng)
        check_reader(path, outcomes)
        check_writer(path, outcomes)
        check_reader(path, outcomes)
        shutil.rmtree(path)
    return outcomes


def test_fuzz_journal_files(tmp_path):
    trials = scaled(600, 100)
    code = ("import sys, test_journal_fuzz as t; "
            "print(t.fuzz(sys.argv[1], int(sys.argv[2]), 1234))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(trials)],
                       cwd=IMPORT_ROOT, env=child_env(os.path.dirname(__file__)),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    outcomes = eval(r.stdout.strip().splitlines()[-1])
    # the fuzzer reaches every kind of outcome: clean reads, counted skips, refusals
    assert all(v > 0 for v in outcomes.values()), outcomes


def test_clean_journal_reads_back(tmp_path):
    build(tmp_path / "j")
    with Journal.reader(tmp_path / "j") as r:
        out = np.zeros(N, DT)
        assert r.read_many(out) == N and r.skipped == 0
        assert out.tobytes() == make_records(0, N).tobytes()
