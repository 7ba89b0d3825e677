"""Hostile-peer fuzzer for velox.MpscRing (run by tests/test_mpsc_processes.py).

This process is the victim: for every case it creates a fresh shared MPSC ring, lets a
second process (the writer, started below) overwrite one word of the live segment with a
hostile value, then calls every method, as consumer and as a freshly attached producer. A
case holds if every call returns, raises one of the documented exceptions, or (for the head
and sequence words the consumer validates) raises RingCorrupted. A crash, hang or other
exception fails the run (the parent test sees the exit status).

usage: mpsc_hostile_worker.py [--quick]"""

import mmap
import os
import random
import subprocess
import sys
import textwrap

import numpy as np

from velox import MpscRing
from velox._mpsc import RingCorrupted

REC = np.dtype([("a", "<u8"), ("b", "<u8")])
CAP = 8
SLOT = 24 + 16
HEAD, TAIL = 640, 768
SLOTS = 896
# line 0: capacity at 32, record_size at 40, slot_size at 44, dtype_len at 48; the dtype text
LINE0 = {"segment_size": 16, "slots_offset": 24, "capacity": 32, "record_size": 40}
ALLOWED = (RingCorrupted, ValueError, TimeoutError, RuntimeError, BrokenPipeError)

WRITER = textwrap.dedent("""
    import mmap, os, struct, sys
    for line in sys.stdin:
        name, off, width, value = line.split()
        fd = os.open("/dev/shm/" + name, os.O_RDWR)
        m = mmap.mmap(fd, 0)
        os.close(fd)
        fmt = {"8": "<Q", "4": "<I"}[width]
        m[int(off):int(off) + int(width)] = struct.pack(fmt, int(value) % (1 << (8 * int(width))))
        m.close()
        print("ok", flush=True)
""")


def hostile_values(rng, quick):
    vals = [0, 1, CAP - 1, CAP, CAP + 1, 2 * CAP + 3, 1 << 31, (1 << 63) | 3, (1 << 64) - 1]
    vals += [rng.getrandbits(64) for _ in range(2 if quick else 20)]
    return vals


def exercise(ring, name, expect_corrupt):
    out = np.zeros(CAP * 2, REC)
    raised = None
    for call in (lambda: ring.pop_many(out, timeout=0.05),
                 lambda: ring.pop_many(out),
                 lambda: ring.try_pop(),
                 lambda: len(ring),
                 lambda: (ring.skipped, ring.late, ring.claimed, ring.consumed)):
        try:
            call()
        except ALLOWED as exc:
            raised = raised or exc
    if expect_corrupt and not isinstance(raised, RingCorrupted):
        raise AssertionError(f"expected RingCorrupted, got {raised!r}")
    try:
        producer = MpscRing.attach(name, timeout=0)
    except ALLOWED:
        return
    for call in (lambda: producer.try_push((1, 2)),
                 lambda: producer.push_many(np.zeros(CAP + 3, REC), timeout=0),
                 lambda: producer.push((3, 4), timeout=0.02)):
        try:
            call()
        except ALLOWED:
            pass
    producer.close()


def main():
    quick = "--quick" in sys.argv
    rng = random.Random(23)
    writer = subprocess.Popen([sys.executable, "-c", WRITER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    cases = 0

    def write(name, off, width, value):
        writer.stdin.write(f"{name} {off} {width} {value}\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "ok"

    targets = [(off, 8, None) for off in LINE0.values()]
    targets += [(HEAD, 8, "head"), (TAIL, 8, None)]
    for slot in range(CAP):
        targets += [(SLOTS + slot * SLOT, 8, "seq"), (SLOTS + slot * SLOT + 8, 8, None),
                    (SLOTS + slot * SLOT + 16, 8, None)]
    try:
        for off, width, kind in targets:
            for value in hostile_values(rng, quick):
                name = f"velox-mpsc-fuzz-{os.getpid()}-{cases}"
                with MpscRing.create(name, CAP, REC, stall_timeout=0.01) as ring:
                    ring.push_many(np.zeros(3, REC))  # positions 0..2 published
                    out = np.zeros(1, REC)
                    ring.pop_many(out)               # consumer at position 1
                    write(name, off, width, value)
                    # head outside [tail, tail + capacity] must be reported, never skipped over
                    corrupt = kind == "head" and not (0 <= (value % (1 << 64)) - 1 <= CAP)
                    # a slot sequence the protocol never writes for that slot, at the
                    # consumer's position (slot 1: position 1 holds seq 2 = published)
                    if kind == "seq" and off == SLOTS + 1 * SLOT:
                        v = value % (1 << 64)
                        corrupt = v not in (1, 2) and v != ((1 << 63) | (1 - CAP))
                    exercise(ring, name, corrupt)
                cases += 1
    finally:
        writer.stdin.close()
        writer.wait()
    print(f"{cases} cases held")


if __name__ == "__main__":
    main()
