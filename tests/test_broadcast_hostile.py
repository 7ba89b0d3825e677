"""BroadcastRing against a hostile peer: a fuzzer process rewrites words of a live segment
(header, block configuration, writer head, reader table, slot sequences, payload) while the
writer writes and a reader process attaches, reads and detaches over and over. Attach must
refuse or give a ring whose reads stay inside the mapping (RingCorrupted is a fine answer);
the reader process never crashes. Plus deterministic corruptions of each validated field."""

import mmap
import multiprocessing
import os
import random
import struct
import threading
import time

import numpy as np
import pytest

from scale import scaled
from shm_names import fresh_name
from velox import BroadcastRing, RingCorrupted

REC = np.dtype([("seq", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u8")])
CTX = multiprocessing.get_context("spawn")
HEADER = 640                 # broadcast.h: VX_BCAST_SHM_BLOCK
LINE = 128
REFUSED = (ValueError, TimeoutError, OSError)
# header fields: (offset, format)
FIELDS = {"segment_size": (16, "<Q"), "block_size": (24, "<Q"), "capacity": (32, "<I"),
          "record_size": (36, "<I"), "max_readers": (40, "<I"), "dtype_len": (44, "<I")}
BLOCK_FIELDS = {"capacity": (12, "<I"), "record_size": (16, "<I"), "stride": (20, "<I"),
                "max_readers": (24, "<I"), "slots_offset": (32, "<Q"), "footprint": (40, "<Q")}


def poke(name, offset, fmt, value):
    with open(f"/dev/shm/{name}", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        struct.pack_into(fmt, m, offset, value)


def interesting(fmt):
    bits = 64 if fmt == "<Q" else 32
    return random.choice([0, 1, 2, 3, 7, 8, 64, 4096, 1 << 20, 1 << 30, 1 << 31,
                          (1 << bits) - 1, (1 << (bits - 1)), random.getrandbits(bits)])


def fuzzer_main(name, stop, seed, capacity, max_readers, fuzzing=None):
    """Until stop: rewrite one word (sometimes with the writer's head), leave it for up to a
    millisecond (a reader attaching or reading meanwhile sees it), put the old value back."""
    random.seed(seed)
    stride = 8 + REC.itemsize
    slots = HEADER + (2 + max_readers) * LINE
    with open(f"/dev/shm/{name}", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        size = len(m)
        for _ in range(10_000_000):  # bounded; ends when the reader is done
            if stop.is_set():
                return
            where = random.randrange(6)
            if where == 0:
                off, fmt = random.choice(list(FIELDS.values()))
            elif where == 1:
                off, fmt = random.choice(list(BLOCK_FIELDS.values()))
                off += HEADER
            elif where == 2:
                off, fmt = HEADER + LINE, "<Q"  # writer head
            elif where == 3 and max_readers:
                off, fmt = HEADER + 2 * LINE + LINE * random.randrange(max_readers) + \
                    8 * random.randrange(2), "<Q"
            elif where in (3, 4):
                off, fmt = slots + stride * random.randrange(capacity), "<Q"  # sequence
            else:
                off, fmt = random.randrange(size // 8) * 8, "<Q"
            strokes = [(off, fmt)]
            if random.randrange(4) == 0:  # one time in four, the writer's head as well
                strokes.append((HEADER + LINE, "<Q"))
            olds = [struct.unpack_from(f, m, o)[0] for o, f in strokes]
            for o, f in strokes:
                struct.pack_into(f, m, o, interesting(f))
            time.sleep(random.random() * 0.001)
            for (o, f), v in zip(strokes, olds):  # (a forged head or sequence the writer
                struct.pack_into(f, m, o, v)          # overwrites anyway when it passes)
            if fuzzing is not None and not fuzzing.is_set():
                fuzzing.set()  # the reader starts once strokes are landing


def reader_main(name, rounds, result, stop, fuzzing=None):
    """At least `rounds` attach-and-read rounds; past them, on (bounded: 20 x rounds, 60 s)
    until the fuzzer has been seen (a refusal or a corrupt ring) and records were read, so a
    fuzzer process scheduled late on a loaded machine still meets the reader."""
    counts = {"refused": 0, "corrupt": 0, "records": 0}
    out = np.zeros(64, REC)
    if fuzzing is not None:
        fuzzing.wait(60)
    deadline = time.monotonic() + 60
    for i in range(20 * rounds):
        if i >= rounds and ((counts["refused"] + counts["corrupt"] and counts["records"])
                            or time.monotonic() > deadline):
            break
        try:
            ring = BroadcastRing.attach(name, timeout=0.01)
        except REFUSED:
            counts["refused"] += 1
            continue
        try:
            rd = ring.reader(start="oldest")
            for _ in range(8):
                counts["records"] += rd.read_many(out)
        except RingCorrupted:
            counts["corrupt"] += 1
        except (RuntimeError, *REFUSED):  # e.g. "all reader slots are taken" (a forged table)
            counts["refused"] += 1
        ring.close()
    stop.set()
    result.put(counts)


@pytest.mark.parametrize("gated", [False, True])
def test_fuzzed_live_segment_never_crashes_a_reader(gated):
    name = fresh_name()
    capacity, max_readers = 64, 4
    with BroadcastRing.create(name, capacity, REC, gated=gated, max_readers=max_readers,
                              dead_reader_timeout=0.01) as ring:
        stop = threading.Event()

        def write():
            buf = np.zeros(16, REC)
            s = 0
            while not stop.is_set():
                buf["seq"] = np.arange(s, s + 16)
                try:
                    ring.try_write_many(buf)
                except RingCorrupted:
                    pass
                s += 16

        writer = threading.Thread(target=write)
        writer.start()
        result = CTX.Queue()
        done = CTX.Event()
        fuzzing = CTX.Event()
        reader = CTX.Process(target=reader_main,
                             args=(name, scaled(3000, 500), result, done, fuzzing))
        table = max_readers if gated else 0
        fuzzer = CTX.Process(target=fuzzer_main, args=(name, done, 1, capacity, table, fuzzing))
        try:
            fuzzer.start()
            reader.start()
            reader.join(120)
            done.set()
            fuzzer.join(120)
        finally:
            stop.set()
            writer.join(60)
            for p in (reader, fuzzer):
                if p.is_alive():
                    p.kill()
                    p.join()
        assert fuzzer.exitcode == 0
        assert reader.exitcode == 0, f"the reader process died (exit code {reader.exitcode})"
        counts = result.get(timeout=10)
        assert counts["refused"] + counts["corrupt"] > 0  # the fuzzer reached the checks
        assert counts["records"] > 0  # and readers read between its strokes


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_corrupt_header_field_refused(field):
    name = fresh_name()
    with BroadcastRing.create(name, 16, REC) as ring:
        off, fmt = FIELDS[field]
        (old,) = struct.unpack_from(fmt, open(f"/dev/shm/{name}", "rb").read(64), off)
        poke(name, off, fmt, old * 4096 + 64)
        with pytest.raises(ValueError, match=name):
            BroadcastRing.attach(name)
        poke(name, off, fmt, old)
        BroadcastRing.attach(name).close()
        assert ring.written == 0


@pytest.mark.parametrize("field", sorted(BLOCK_FIELDS))
def test_corrupt_block_field_refused(field):
    name = fresh_name()
    with BroadcastRing.create(name, 16, REC, gated=True, max_readers=2):
        off, fmt = BLOCK_FIELDS[field]
        poke(name, HEADER + off, fmt, 1 << 24)
        with pytest.raises(ValueError, match="disagrees"):
            BroadcastRing.attach(name)


def test_head_backwards_and_impossible_sequence_are_corruption():
    name = fresh_name()
    with BroadcastRing.create(name, 8, REC) as ring:
        peer = BroadcastRing.attach(name)
        a, b = peer.reader(), peer.reader()
        ring.write_many(np.zeros(5, REC))
        out = np.zeros(8, REC)
        assert a.read_many(out) == 5
        poke(name, HEADER + LINE, "<Q", 2)  # head back from 5 to 2
        with pytest.raises(RingCorrupted):
            a.read_many(out)
        poke(name, HEADER + LINE, "<Q", 5)
        with pytest.raises(RingCorrupted):  # sticky
            a.read_many(out)
        poke(name, HEADER + LINE, "<Q", 10**12)  # far ahead of anything the slots hold
        with pytest.raises(RingCorrupted):
            b.read_many(out)
        peer.close()
