"""BroadcastRing across processes: one writer, two reader processes checking every record
(content, sequence continuity, and read + lost == written per reader), a lap litmus with a
tiny ring, gated readers across processes with one killed (-9), pickling by name."""

import multiprocessing
import os
import pickle
import signal

import numpy as np
import pytest

from scale import scaled
from shm_names import fresh_name
from velox import BroadcastRing

REC = np.dtype([("seq", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u8")])  # 32 bytes
TIMEOUT_S = 60
CTX = multiprocessing.get_context("spawn")


def fill(buf, start):
    s = np.arange(start, start + len(buf), dtype=np.uint64)
    buf["seq"] = s
    buf["b"] = s * 3
    buf["c"] = ~s
    buf["d"] = s ^ 0x5A5A5A5A5A5A5A5A


def reader_main(name, n, ready, result):
    """Read until read + lost covers n records; check every record and every gap."""
    ring = BroadcastRing.attach(name, REC)
    rd = ring.reader(start="oldest")
    ready.set()
    out = np.zeros(512, REC)
    expect = 0  # next sequence if nothing were lost
    bad = []
    gaps = 0  # records skipped between the records returned so far
    while rd.read + rd.lost < n:
        k = rd.read_many(out, timeout=TIMEOUT_S)
        if k == 0:
            result.put(("timeout", rd.read, rd.lost, rd.lapped, bad[:5]))
            return
        rows = out[:k]
        s = rows["seq"]
        torn = (np.count_nonzero(rows["b"] != s * 3) + np.count_nonzero(rows["c"] != ~s)
                + np.count_nonzero(rows["d"] != (s ^ 0x5A5A5A5A5A5A5A5A)))
        if torn:
            bad.append(("torn", int(torn), int(s[0]), k))
        steps = np.diff(s.astype(np.int64)) - 1
        if np.any(steps < 0) or int(s[0]) < expect:
            bad.append(("order", expect, int(s[0]), k))
        gaps += int(s[0]) - expect + int(steps.sum())
        expect = int(s[-1]) + 1
        # every record skipped is counted: the gaps seen so far, plus a lap the reader took
        # after its last record (position beyond expect)
        if rd.lost != gaps + (rd.position - expect):
            bad.append(("uncounted", gaps, rd.lost, rd.position, expect))
    result.put(("ok", rd.read, rd.lost, rd.lapped, bad[:5]))
    rd.close()
    ring.close()


def run_fanout(capacity, n, batch):
    name = fresh_name()
    with BroadcastRing.create(name, capacity, REC) as ring:
        ready = [CTX.Event() for _ in range(2)]
        result = CTX.Queue()
        procs = [CTX.Process(target=reader_main, args=(name, n, ready[i], result))
                 for i in range(2)]
        for p in procs:
            p.start()
        try:
            for e in ready:
                assert e.wait(TIMEOUT_S)
            buf = np.zeros(batch, REC)
            for start in range(0, n, batch):
                k = min(batch, n - start)
                fill(buf[:k], start)
                ring.write_many(buf[:k])
            outcomes = [result.get(timeout=TIMEOUT_S) for _ in procs]
        finally:
            for p in procs:
                p.join(TIMEOUT_S)
                if p.is_alive():
                    p.kill()
        assert ring.written == n
    for status, read, lost, lapped, bad in outcomes:
        assert status == "ok"
        assert bad == []
        assert read + lost == n
        assert read > 0
    return outcomes


def test_two_reader_processes_every_record():
    """1 writer, 2 reader processes: every record's content and sequence checked; losses (if
    the readers fall behind on this loaded machine) are counted exactly."""
    run_fanout(4096, scaled(2_000_000, 200_000), 256)


def test_lap_litmus_processes():
    """Capacity 4, the writer flat out, 32-byte records: constant laps; no torn record (every
    field derived from seq is checked) and read + lost == written in each reader."""
    outcomes = run_fanout(4, scaled(1_000_000, 100_000), 3)
    assert sum(o[2] for o in outcomes) > 0  # the laps happened


def gated_reader_main(name, n, ready, result, stall):
    ring = BroadcastRing.attach(name, REC)
    rd = ring.reader()  # a gated ring: registers
    ready.set()
    if stall:
        signal.pause()  # until killed
    out = np.zeros(64, REC)
    expect = 0
    ok = True
    while rd.read + rd.lost < n:
        k = rd.read_many(out, timeout=TIMEOUT_S)
        if k == 0:
            break
        ok &= bool(np.array_equal(out["seq"][:k], np.arange(expect, expect + k)))
        expect += k
    result.put((rd.read, rd.lost, ok))


def test_gated_reader_killed_is_evicted():
    """Gated ring: a live reader process loses nothing; a reader process killed with -9 stops
    holding the writer once its death is seen (no progress timeout configured)."""
    n = scaled(200_000, 20_000)
    name = fresh_name()
    with BroadcastRing.create(name, 64, REC, gated=True, max_readers=4,
                              dead_reader_timeout=None) as ring:
        ready = [CTX.Event() for _ in range(2)]
        result = CTX.Queue()
        live = CTX.Process(target=gated_reader_main, args=(name, n, ready[0], result, False))
        stuck = CTX.Process(target=gated_reader_main, args=(name, n, ready[1], result, True))
        live.start()
        stuck.start()
        try:
            assert ready[0].wait(TIMEOUT_S) and ready[1].wait(TIMEOUT_S)
            assert ring.registered == 2
            buf = np.zeros(50, REC)
            fill(buf, 0)
            assert ring.write_many(buf[:50], timeout=TIMEOUT_S) == 50  # room for 64
            os.kill(stuck.pid, signal.SIGKILL)  # a zombie until joined: dead all the same
            for start in range(50, n, 50):
                k = min(50, n - start)
                fill(buf[:k], start)
                ring.write_many(buf[:k], timeout=TIMEOUT_S)
            read, lost, ok = result.get(timeout=TIMEOUT_S)
        finally:
            for p in (live, stuck):
                p.join(TIMEOUT_S)
                if p.is_alive():
                    p.kill()
        assert ring.evicted == 1
        assert (read, lost, ok) == (n, 0, True)


def test_pickles_by_name_and_attach_errors():
    name = fresh_name()
    with BroadcastRing.create(name, 8, REC) as ring:
        clone = pickle.loads(pickle.dumps(ring))
        assert clone.name == name and clone.dtype == REC and not clone.is_writer
        with pytest.raises(RuntimeError, match="attached for reading"):
            clone.write_many(np.zeros(1, REC))
        with pytest.raises(ValueError, match="holds"):
            BroadcastRing.attach(name, np.dtype([("x", "<u8"), ("y", "<u8"), ("z", "<u8"), ("w", "<u8")]))
        with pytest.raises(FileExistsError):
            BroadcastRing.create(name, 8, REC)
        clone.close()
    with pytest.raises(FileNotFoundError):
        BroadcastRing.attach(name, timeout=0)
    with pytest.raises(ValueError, match="name"):
        BroadcastRing.create("bad/name", 8, REC)
