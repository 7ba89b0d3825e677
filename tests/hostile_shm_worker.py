"""Worker for tests/test_shm_hostile.py (run in a subprocess, so a crash is a test failure and
not a dead pytest): plays a hostile peer against a live SharedRing by overwriting, one at a
time, every 4- and 8-byte word of the segment's line 0, role words and the ring's config,
producer and consumer lines with hostile values, through its own mmap of /dev/shm/NAME (in
place, while the ring is mapped and holds records), then calls every method of the ring and
of a second handle attached afterwards. Each call must work within bounds (counts in
[0, capacity], nothing written past the caller's array) or raise one of ALLOWED; the process
must not crash. Prints a summary line; exit status 0 = every case held.

    python tests/hostile_shm_worker.py [--quick]
"""

import mmap
import os
import sys

import numpy as np

import velox
from velox import TXN_DTYPE, RingCorrupted, SharedRing

CAP = 8
HEADER = 896                      # shm.h: sizeof(vx_shm_header)
RING = HEADER                     # the ring block (config, producer, consumer lines)
T = 0.0002                        # timeout of the blocking calls, seconds
ALLOWED = (RingCorrupted, TimeoutError, BrokenPipeError, ValueError, RuntimeError)
GUARD = 16                        # records after the caller's array that must stay untouched


def regions():
    """(start, end) byte ranges whose words are corrupted."""
    return [(0, 64), (640, 648), (768, 776), (RING, RING + 3 * 128)]


def values(width, head):
    if width == 4:
        return [0, 1, CAP - 1, CAP, CAP + 1, 1 << 20, 1 << 31, (1 << 32) - 1]
    m = (1 << 64) - 1
    return [0, 1, CAP - 1, CAP, CAP + 1, 1 << 22, (1 << 32) - 1, 1 << 32, 1 << 63, m,
            (head + 1000) & m, (head - 1000) & m]


def records(n, start=0):
    a = np.zeros(n, TXN_DTYPE)
    a["seq"] = np.arange(start, start + n)
    a["qty"] = 1
    return a


def check_len(ring):
    n = len(ring)
    assert 0 <= n <= CAP, n
    assert 0 <= ring.free <= CAP, ring.free
    ring.pushed, ring.popped, ring.rejected_full  # noqa: B018 (observers must not crash)


def exercise(ring):
    """Every method; returns how many calls raised RingCorrupted."""
    corrupt = 0
    buf = np.zeros(4 * CAP + GUARD, TXN_DTYPE)
    buf["seq"] = 0xDEAD
    view = buf[:4 * CAP]
    guard = buf[4 * CAP:].copy()
    big = records(1 << 12)

    def pop_into(timeout=None):
        n = ring.pop_many(view) if timeout is None else ring.pop_many(view, timeout=timeout)
        assert 0 <= n <= CAP, n
        return n

    def pop_int():
        got = ring.pop_many(1 << 22)
        assert got.dtype == TXN_DTYPE and 0 <= len(got) <= CAP, len(got)

    def pop_int_wait():
        got = ring.pop_many(1 << 22, timeout=T)
        assert got.dtype == TXN_DTYPE and 1 <= len(got) <= CAP, len(got)

    def push_many_small():
        assert 0 <= ring.push_many(records(3)) <= 3

    def push_many_big():
        assert 0 <= ring.push_many(big) <= CAP

    calls = [
        lambda: check_len(ring),
        lambda: ring.try_push(records(1)[0]),
        push_many_small,
        push_many_big,
        lambda: ring.push(records(1)[0], timeout=T),
        lambda: ring.push_many(records(2), timeout=T),
        lambda: ring.try_pop(),
        lambda: ring.pop(timeout=T),
        pop_into,
        pop_int,
        lambda: pop_into(timeout=T),
        pop_int_wait,
        lambda: ring.pop_many(view, timeout=T, min_n=CAP),
        lambda: check_len(ring),
        lambda: repr(ring),
    ]
    for call in calls:
        try:
            call()
        except RingCorrupted:
            corrupt += 1
        except ALLOWED:
            pass
        assert (buf[4 * CAP:] == guard).all(), "pop_many wrote past the caller's array"
    return corrupt


def one_case(offset, width, value, seq):
    """A fresh ring with records in it, one word overwritten, every call on it and on a handle
    attached afterwards. Returns (corrupt_calls, attached)."""
    name = f"velox-hostile-{os.getpid()}-{seq}"
    ring = SharedRing.create(name, capacity=CAP, dtype=TXN_DTYPE)
    corrupt = 0
    attached = 0
    try:
        ring.push_many(records(5))
        ring.pop_many(2)          # head 5, tail 2: caches non-trivial
        with open(f"/dev/shm/{name}", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
            m[offset:offset + width] = value.to_bytes(width, "little")
            corrupt += exercise(ring)
            try:
                other = SharedRing.attach(name, timeout=0)
            except ALLOWED + (OSError,):
                other = None
            if other is not None:
                attached = 1
                corrupt += exercise(other)
                other.close()
            check_after = m[offset:offset + width]  # the mapping is still readable
            del check_after
        ring.close()
    finally:
        try:
            velox._shm.unlink(name)
        except OSError:
            pass
    return corrupt, attached


def main():
    quick = "--quick" in sys.argv
    cases = corrupt_cases = attached = 0
    seq = 0
    head = 5
    for start, end in regions():
        for width in (4, 8):
            for offset in range(start, end, width):
                vals = values(width, head)
                if quick:
                    vals = vals[::3]
                for value in vals:
                    c, a = one_case(offset, width, value, seq)
                    seq += 1
                    cases += 1
                    corrupt_cases += 1 if c else 0
                    attached += a
    print(f"hostile_shm_worker: {cases} cases held; {corrupt_cases} reported RingCorrupted; "
          f"{attached} re-attached")
    assert corrupt_cases > 0, "no case detected corruption: the fuzzer cannot see the bug class"


if __name__ == "__main__":
    main()
