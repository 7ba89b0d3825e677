"""velox.Journal beside pyarrow's IPC stream writer/reader on the same 32-byte records, and the
journal's write-to-tail latency between two processes.

Targets (issue 23), printed at the end of one run:
  - append >= 1 GB/s to the page cache (append_many of 65,536-record batches)
  - replay >= 3 GB/s (read_many into a preallocated array)
  - write-to-tail latency p99 < 2 us (writer and tailer processes pinned on two cores)

    python benchmarks/bench_journal.py --fast      # quick, noisy
    python benchmarks/bench_journal.py             # full pyperf run

Both sides get their best input: the journal takes the structured array as it is; pyarrow
gets its five columns as contiguous NumPy arrays prepared before timing (a RecordBatch built
without copies) and writes an IPC stream (no compression) to a file in the same directory.
Replay: the journal copies records into the caller's array (and checks each record's hash);
pyarrow's reader maps the stream file and hands out zero-copy columns (read_next_batch, then
to_numpy per column). Files live in a temporary directory (VELOX_BENCH_DIR to choose it:
a tmpfs or a disk, both are the page cache until written back).

Latency: a forked tailer process pinned on CPU 1 busy-polls read_many; the writer (CPU 0)
appends one record carrying time.perf_counter_ns() every ~20 us; the tailer subtracts it
from its own clock when it sees the record. Both are Python loops, so the figure includes
two interpreter round trips.
"""

import atexit
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import pyperf

try:
    import velox
except ImportError:  # run from a source checkout with an in-place build
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import velox

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import describe  # noqa: E402

DT = np.dtype([("ts", "<i8"), ("seq", "<u8"), ("px", "<i8"), ("qty", "<u4"), ("flags", "<u4")])
assert DT.itemsize == 32
BATCH = 65_536
REPLAY_BATCHES = 32  # 64 MiB journal read over and over
SEGMENT = 256 << 20
ROOT = os.environ.get("VELOX_BENCH_DIR") or None


def make(first, n):
    a = np.zeros(n, DT)
    s = np.arange(first, first + n, dtype=np.uint64)
    a["ts"] = s.astype(np.int64)
    a["seq"] = s
    a["px"] = (s * 25).astype(np.int64)
    a["qty"] = (s % 1000).astype(np.uint32)
    return a


BATCH_ARRAY = make(0, BATCH)


def _arrow():
    import pyarrow as pa

    cols = [np.ascontiguousarray(BATCH_ARRAY[name]) for name in DT.names]
    return pa, pa.record_batch(cols, names=list(DT.names))


def bench_journal_append(loops):
    d = tempfile.mkdtemp(dir=ROOT)
    try:
        # no time field: the same batch is appended again and again (times would go back)
        j = velox.Journal.create(os.path.join(d, "j"), DT, segment_bytes=SEGMENT)
        batch = BATCH_ARRAY
        t0 = time.perf_counter()
        for _ in range(loops):
            j.append_many(batch)
        elapsed = time.perf_counter() - t0
        j.close()
        return elapsed
    finally:
        shutil.rmtree(d)


def bench_arrow_write(loops):
    pa, rb = _arrow()
    d = tempfile.mkdtemp(dir=ROOT)
    try:
        t0 = time.perf_counter()
        with pa.OSFile(os.path.join(d, "s.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, rb.schema) as w:
                for _ in range(loops):
                    w.write_batch(rb)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(d)


_replay_dir = None


def _replay_journal():
    global _replay_dir
    if _replay_dir is None:
        _replay_dir = tempfile.mkdtemp(dir=ROOT)
        atexit.register(shutil.rmtree, _replay_dir, True)  # every pyperf worker makes one
        with velox.Journal.create(os.path.join(_replay_dir, "j"), DT, segment_bytes=SEGMENT) as j:
            for _ in range(REPLAY_BATCHES):
                j.append_many(BATCH_ARRAY)
        pa, rb = _arrow()
        with pa.OSFile(os.path.join(_replay_dir, "s.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, rb.schema) as w:
                for _ in range(REPLAY_BATCHES):
                    w.write_batch(rb)
    return _replay_dir


_replay_reader = None


def bench_journal_replay(loops):
    """One reader per process: its mapping is warm after the first pass over the journal (a
    replay of a file the process has not mapped yet also pays the page faults)."""
    global _replay_reader
    if _replay_reader is None:
        _replay_reader = velox.Journal.reader(os.path.join(_replay_journal(), "j"))
    r = _replay_reader
    out = np.zeros(BATCH, DT)
    read_many = r.read_many
    t0 = time.perf_counter()
    for _ in range(loops):
        if read_many(out) != BATCH:
            r.to_start()
            read_many(out)
    return time.perf_counter() - t0


def bench_arrow_read(loops):
    import pyarrow as pa

    path = os.path.join(_replay_journal(), "s.arrow")
    src = pa.memory_map(path)
    reader = pa.ipc.open_stream(src)
    t0 = time.perf_counter()
    for _ in range(loops):
        try:
            rb = reader.read_next_batch()
        except StopIteration:
            reader = pa.ipc.open_stream(pa.memory_map(path))
            rb = reader.read_next_batch()
        for col in rb.columns:
            col.to_numpy()
    return time.perf_counter() - t0


def _pin(cpu):
    try:
        os.sched_setaffinity(0, {cpu % os.cpu_count()})
    except (AttributeError, OSError):
        pass


def latency(samples):
    """Write-to-tail latencies (ns) of `samples` records between two processes."""
    d = tempfile.mkdtemp(dir=ROOT)
    path = os.path.join(d, "j")
    try:
        j = velox.Journal.create(path, DT, segment_bytes=SEGMENT)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # tailer
            os.close(rfd)
            _pin(1)
            r = velox.Journal.reader(path)
            out = np.zeros(16, DT)
            lat = np.zeros(samples, np.int64)
            got = 0
            clock = time.perf_counter_ns
            os.write(wfd, b"r")
            deadline = time.monotonic() + 120
            while got < samples and time.monotonic() < deadline:
                n = r.read_many(out)
                if n:
                    now = clock()
                    lat[got:got + n] = now - out["ts"][:n]
                    got += n
            os.write(wfd, lat[:got].tobytes())
            os._exit(0)
        os.close(wfd)
        _pin(0)
        assert os.read(rfd, 1) == b"r"
        rec = np.zeros(1, DT)
        clock = time.perf_counter_ns
        for i in range(samples):
            rec["seq"] = i
            spin_until = clock() + 20_000
            while clock() < spin_until:
                pass
            rec["ts"] = clock()
            j.append_many(rec)
        chunks = []
        while True:
            b = os.read(rfd, 1 << 20)
            if not b:
                break
            chunks.append(b)
        os.waitpid(pid, 0)
        j.close()
        return np.frombuffer(b"".join(chunks), np.int64)
    finally:
        shutil.rmtree(d)


def main():
    runner = pyperf.Runner()
    runner.metadata["description"] = "journal append/replay of 32-byte records vs pyarrow IPC"
    cases = [
        ("velox Journal append_many (65536)", bench_journal_append),
        ("pyarrow IPC stream write_batch (65536)", bench_arrow_write),
        ("velox Journal read_many (65536)", bench_journal_replay),
        ("pyarrow IPC stream read_next_batch (65536)", bench_arrow_read),
    ]
    results = {name: runner.bench_time_func(name, fn) for name, fn in cases}
    if any(r is None for r in results.values()):
        return  # a pyperf worker: only the parent prints the comparison
    if _replay_reader is not None:
        _replay_reader.close()
    gbs = {name: BATCH * DT.itemsize / r.median() / 1e9 for name, r in results.items()}
    print()
    print(describe())
    print("GB/s of 32-byte records (median):")
    for name, _ in cases:
        print(f"  {name:45s} {gbs[name]:8.2f} GB/s  {gbs[name] * 1e9 / 32:>14,.0f} records/s")
    a, b, c, e = (gbs[name] for name, _ in cases)
    print(f"append: Journal / pyarrow write: {a / b:6.2f}x   (target: Journal >= 1 GB/s)")
    print(f"replay: Journal / pyarrow read:  {c / e:6.2f}x   (target: Journal >= 3 GB/s)")
    samples = 2_000 if "--fast" in sys.argv else 20_000
    lat = latency(samples)
    if len(lat):
        p50, p99, p999 = np.percentile(lat, [50, 99, 99.9])
        print(f"write-to-tail latency, {len(lat)} records between two processes: "
              f"p50 {p50 / 1e3:.2f} us, p99 {p99 / 1e3:.2f} us, p99.9 {p999 / 1e3:.2f} us "
              "(target p99 < 2 us)")


if __name__ == "__main__":
    main()
