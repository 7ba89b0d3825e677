"""Hostile feed files: random mutations and truncations of valid ITCH and LOBSTER files must
give events or a clear ValueError, never a crash. The hypothesis tests run in-process (the
ASan CI step runs them against an ASan build, so an out-of-bounds read fails there); the
subprocess test runs thousands of seeded mutations in a child so a crash fails the test even
in a plain build."""

import os
import subprocess
import sys
import textwrap

import numpy as np

from child_env import child_env
import velox
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from velox import MBO_DTYPE
from velox import feeds
from velox.feedgen import concat, generate, lobster_events, symbol_names

_EV = concat(list(generate(400, 5, seed=1)))
VALID_ITCH = (b"".join(feeds.itch_directory(i + 1, 0, s) for i, s in enumerate(symbol_names(5)))
              + __import__("velox._feeds", fromlist=["x"]).itch_write(_EV, [None] + symbol_names(5)))
VALID_LOBSTER = __import__("velox._feeds", fromlist=["x"]).lobster_write_messages(
    lobster_events(300, seed=2))

mutation = st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), max_size=12)


def mutate(data, muts, cut):
    b = bytearray(data)
    for pos, val in muts:
        b[pos % len(b)] = val
    return bytes(b[: cut % (len(b) + 1)])


def parse_all(data, chunk):
    p = feeds.ItchParser()
    out = np.empty(chunk, MBO_DTYPE)
    pos = total = 0
    for _ in range(len(data) + 1):  # bounded
        consumed, produced = p.parse(data[pos:], out)
        assert 0 <= consumed <= len(data) - pos and 0 <= produced <= chunk
        pos += consumed
        total += produced
        if produced < chunk:
            break
    assert p.offset == pos
    c = p.counts
    assert c["messages"] == sum(c["by_type"].values())
    assert c["events"] + c["filtered"] == total + c["filtered"]
    return pos, total


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(mutation, st.integers(0, 10**9), st.sampled_from([1, 3, 64, 4096]))
def test_itch_mutations(muts, cut, chunk):
    data = mutate(VALID_ITCH, muts, cut)
    try:
        parse_all(data, chunk)
    except ValueError as exc:
        assert "byte offset" in str(exc)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(mutation, st.integers(0, 10**9))
def test_lobster_mutations(muts, cut):
    data = mutate(VALID_LOBSTER, [(p, b"0123456789,.-\n\r x\x00"[v % 18]) for p, v in muts], cut)
    from velox._feeds import lobster_parse_book, lobster_parse_messages
    for f in (lobster_parse_messages, lobster_parse_book):
        try:
            f(data)
        except ValueError as exc:
            assert "line" in str(exc) or "levels" in str(exc)


def test_mutations_in_a_subprocess(tmp_path):
    """4000 seeded mutations in a child process; a segfault would be a non-zero exit."""
    src = tmp_path / "valid.itch"
    src.write_bytes(VALID_ITCH)
    code = textwrap.dedent(f"""
        import numpy as np, random
        from velox import feeds, MBO_DTYPE
        data = open({str(src)!r}, 'rb').read()
        rng = random.Random(5)
        out = np.empty(256, MBO_DTYPE)
        errors = ok = 0
        for i in range(4000):
            b = bytearray(data)
            for _ in range(rng.randrange(1, 16)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            b = bytes(b[:rng.randrange(len(b) + 1)])
            p = feeds.ItchParser()
            pos = 0
            try:
                while True:
                    c, n = p.parse(b[pos:], out)
                    pos += c
                    if n < len(out):
                        break
                ok += 1
            except ValueError:
                errors += 1
        print(ok, errors)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=600, cwd=str(tmp_path), env=child_env())
    assert r.returncode == 0, r.stderr
    ok, errors = map(int, r.stdout.split())
    assert ok + errors == 4000 and errors > 0 and ok > 0


# ---- hostile gzip and FIFO inputs -------------------------------------------------------------
# A reader of a file made of gzip members (random split points, empty members, NUL padding,
# trailing garbage, a corrupt CRC, a cut) must return exactly the events of the bytes Python's
# gzip module decompresses from it, or raise ValueError when gzip refuses it: never zlib.error,
# never fewer events without an error. The same bytes through a FIFO, written in random-sized
# pieces with pauses, must give the same answer.

import gzip as _gzip
import tempfile
import threading
import time
import zlib

from velox._feeds import lobster_parse_messages


def _itch_events(data):
    p = feeds.ItchParser()
    out = np.zeros(len(data) // 12 + 1, MBO_DTYPE)
    consumed, produced = p.parse(data, out)
    if consumed != len(data):
        raise ValueError("truncated")
    return out[:produced]


PLAIN_ITCH_EVENTS = _itch_events(VALID_ITCH)
PLAIN_LOBSTER_EVENTS = lobster_parse_messages(VALID_LOBSTER)

gz_file = st.fixed_dictionaries({
    "cuts": st.lists(st.integers(0, 10**9), max_size=6),
    "empty": st.lists(st.integers(0, 7), max_size=2),        # empty members inserted here
    "pad": st.lists(st.integers(0, 7), max_size=2),          # NUL padding after member i
    "garbage": st.one_of(st.none(), st.binary(min_size=1, max_size=12)),
    "crc": st.one_of(st.none(), st.integers(0, 7)),          # flip member i's CRC
    "cut": st.one_of(st.none(), st.integers(1, 10**9)),      # truncate the file
    "level": st.sampled_from([0, 1, 9]),
})


def build_gz(data, spec):
    cuts = sorted(c % (len(data) + 1) for c in spec["cuts"])
    bounds = [0, *cuts, len(data)]
    parts = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    for i in spec["empty"]:
        parts.insert(i % (len(parts) + 1), b"")
    out = []
    for i, part in enumerate(parts):
        m = bytearray(_gzip.compress(part, compresslevel=spec["level"], mtime=0))
        if spec["crc"] is not None and spec["crc"] % len(parts) == i:
            m[-8] ^= 0x5A
        out.append(bytes(m))
        out.append(b"\0" * (3 * spec["pad"].count(i)))
    blob = b"".join(out) + (spec["garbage"] or b"")
    if spec["cut"] is not None:
        blob = blob[: spec["cut"] % (len(blob) + 1)]
    return blob


def expected(blob, parse):
    """What gzip makes of blob, parsed; None if gzip (or the parse) refuses it."""
    try:
        plain = _gzip.decompress(blob)
    except (OSError, EOFError, zlib.error):
        return None
    try:
        return parse(plain)
    except ValueError:
        return None


def check_reader(read, path, want):
    event("gzip refuses it" if want is None else "gzip reads it")
    try:
        got = read(path)
    except ValueError:
        assert want is None, "a ValueError for a file gzip reads"
        return
    assert want is not None, "events from a file gzip refuses (or an unparseable one)"
    assert got.tobytes() == want.tobytes(), f"{len(got)} events, expected {len(want)}"


READERS = {
    "itch": (VALID_ITCH, _itch_events, lambda p: feeds.read_itch(p, chunk=97).read()),
    "lobster": (VALID_LOBSTER, lobster_parse_messages, feeds.read_lobster),
}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(gz_file, st.sampled_from(sorted(READERS)))
def test_multi_member_gzip_files(spec, kind):
    data, parse, read = READERS[kind]
    blob = build_gz(data, spec)
    want = expected(blob, parse)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.gz")
        with open(path, "wb") as f:
            f.write(blob)
        check_reader(read, path, want)


def write_fifo(path, blob, pieces, pauses_ms):
    """Open the FIFO for writing (bounded wait for the reader) and write blob in pieces."""
    deadline = time.monotonic() + 30
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:  # ENXIO: no reader yet
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)
    os.set_blocking(fd, True)
    try:
        pos = i = 0
        least = len(blob) // 48 + 1  # at most ~48 writes (and pauses)
        while pos < len(blob):
            n = max(pieces[i % len(pieces)], least)
            os.write(fd, blob[pos:pos + n])
            pos += n
            if pauses_ms[i % len(pauses_ms)]:
                time.sleep(pauses_ms[i % len(pauses_ms)] / 1000)
            i += 1
    except BrokenPipeError:  # the reader refused the input and closed
        pass
    finally:
        os.close(fd)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.one_of(st.none(), gz_file), st.sampled_from(sorted(READERS)),
       st.lists(st.integers(1, 70_000), min_size=1, max_size=8),
       st.lists(st.integers(0, 3), min_size=1, max_size=4))
def test_fifo_inputs(spec, kind, pieces, pauses_ms):
    data, parse, read = READERS[kind]
    if spec is None:
        blob, want = data, parse(data)
    else:
        blob = build_gz(data, spec)
        want = expected(blob, parse)
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        t = threading.Thread(target=write_fifo, args=(fifo, blob, pieces, pauses_ms),
                             daemon=True)
        t.start()
        try:
            check_reader(read, fifo, want)
        finally:
            t.join(30)
        assert not t.is_alive()
