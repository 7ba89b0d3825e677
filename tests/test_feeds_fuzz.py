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
from hypothesis import HealthCheck, given, settings
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
