"""Databento DBN MBO decode benchmark: velox.feeds.read_dbn next to databento-dbn's own Python
decoder (DBNDecoder, the package's only path from DBN bytes to Python records), and DBN ->
books, on one seeded MBO day converted to DBN the way Databento normalises MBO (an execution
is a T/F pair followed by the C that reduces the resting order; a delete is a C of the
remaining size; a replace with a new id is C + A). One run prints every comparison.

    python benchmarks/bench_dbn.py --fast          # quick look
    python benchmarks/bench_dbn.py -o dbn.json     # full pyperf run
    VELOX_BENCH_DBN_EVENTS=4000000 python benchmarks/bench_dbn.py --fast

Cases (records/s over the whole file; the file is generated once into the temp directory):
  * velox read_dbn, plain file (mmap, decoded into one reused 8,192-event chunk);
  * velox read_dbn, .dbn.zst (zstandard, level 3);
  * velox DBN -> books: read_dbn chunks applied to an ItchBooks set (a book per instrument,
    one order table; apply_many, GIL released);
  * databento-dbn DBNDecoder.write + decode (Python MBOMsg objects; the same plain bytes).
Targets (issue 22): decode >= 20x databento-dbn's Python decoder; DBN -> books >= 20 M/s.
"""

import os
import sys
import tempfile

import numpy as np
import pyperf
from _pyperf import Runner

if __package__ is None:  # run from a source checkout: import the in-place build
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _machine import describe  # noqa: E402
from velox import feeds  # noqa: E402
from velox.feedgen import concat, generate  # noqa: E402

N_EVENTS = int(os.environ.get("VELOX_BENCH_DBN_EVENTS", "1000000"))
SYMBOLS = 100
SEED = 11
CHUNK = 1 << 13  # 8,192 events (384 KiB): the reused chunk stays in L2
REC = np.dtype([("length", "u1"), ("rtype", "u1"), ("publisher_id", "<u2"),
                ("instrument_id", "<u4"), ("ts_event", "<u8"), ("order_id", "<u8"),
                ("price", "<i8"), ("size", "<u4"), ("flags", "u1"), ("channel_id", "u1"),
                ("action", "S1"), ("side", "S1"), ("ts_recv", "<u8"), ("ts_in_delta", "<i4"),
                ("sequence", "<u4")])
assert REC.itemsize == 56


def _records(events):
    """velox MBO events -> DBN MBO records (Databento's normalisation, see the docstring)."""
    live = {}
    rows = []
    side_c = {0: b"B", 1: b"A", 2: b"N"}
    for e in events.tolist():
        ts, oid, px, ref, qty, inst, side, action, flags, status = e
        if action == 1:
            live[oid] = (side, px, qty)
            rows.append((inst, ts, oid, px, qty, b"A", side_c[side]))
        elif action in (2, 4):
            s, p, q = live[oid]
            if action == 4:
                rows.append((inst, ts, 0, p, qty, b"T", side_c[1 - s]))
                rows.append((inst, ts, oid, p, qty, b"F", side_c[s]))
            rows.append((inst, ts, oid, p, qty, b"C", side_c[s]))
            if qty == q:
                del live[oid]
            else:
                live[oid] = (s, p, q - qty)
        elif action == 3:
            s, p, q = live.pop(oid)
            rows.append((inst, ts, oid, p, q, b"C", side_c[s]))
        elif action == 5:
            s, p, q = live.pop(oid)
            rows.append((inst, ts, oid, p, q, b"C", side_c[s]))
            live[ref] = (s, px, qty)
            rows.append((inst, ts, ref, px, qty, b"A", side_c[s]))
        elif action == 6:
            rows.append((inst, ts, 0, px, qty, b"T", side_c[side]))
    out = np.zeros(len(rows), REC)
    cols = list(zip(*rows))
    out["length"], out["rtype"], out["publisher_id"] = 14, 0xA0, 1
    out["instrument_id"], out["ts_event"], out["order_id"] = cols[0], cols[1], cols[2]
    out["price"] = np.asarray(cols[3], np.int64) * 10
    out["size"], out["action"], out["side"] = cols[4], cols[5], cols[6]
    out["ts_recv"] = out["ts_event"] + 1000
    out["flags"] = 128
    out["sequence"] = np.arange(len(rows), dtype=np.uint32)
    return out


def _files():
    import databento_dbn as dbn
    import zstandard

    base = os.path.join(tempfile.gettempdir(), f"velox-bench-dbn-{N_EVENTS}-{SEED}")
    plain, zst = base + ".dbn", base + ".dbn.zst"
    if not (os.path.exists(plain) and os.path.exists(zst)):
        recs = _records(concat(list(generate(N_EVENTS, SYMBOLS, seed=SEED))))
        head = dbn.Metadata("XNAS.ITCH", 0, dbn.SType.RAW_SYMBOL, dbn.SType.INSTRUMENT_ID,
                            dbn.Schema.MBO, version=3).encode()
        data = head + recs.tobytes()
        tmp = plain + f".{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, plain)
        with open(tmp, "wb") as f:
            f.write(zstandard.ZstdCompressor(level=3).compress(data))
        os.replace(tmp, zst)
    return plain, zst


PLAIN, ZST = _files()
N_RECORDS = (os.path.getsize(PLAIN) - 8 - int.from_bytes(open(PLAIN, "rb").read(8)[4:], "little")) // 56
with open(PLAIN, "rb") as _f:
    DATA = _f.read()


def _decode(path, loops):
    t = pyperf.perf_counter()
    for _ in range(loops):
        n = 0
        for c in feeds.read_dbn(path, chunk=CHUNK, reuse=True):
            n += len(c)
        assert n
    return pyperf.perf_counter() - t


def bench_velox_plain(loops):
    return _decode(PLAIN, loops)


def bench_velox_zstd(loops):
    return _decode(ZST, loops)


def bench_velox_books(loops):
    total = 0.0
    for _ in range(loops):
        books = feeds.ItchBooks(instruments=SYMBOLS + 1, levels=4096, tick=10**6,
                                max_orders=1 << 20)
        t = pyperf.perf_counter()
        rejected = 0
        for c in feeds.read_dbn(PLAIN, chunk=CHUNK, reuse=True):
            rejected += books.apply_many(c)[1]
        total += pyperf.perf_counter() - t
        assert rejected == 0, rejected
    return total


def bench_databento(loops):
    import databento_dbn as dbn

    t = pyperf.perf_counter()
    for _ in range(loops):
        d = dbn.DBNDecoder()
        d.write(DATA)
        n = len(d.decode())
        assert n == N_RECORDS + 1
    return pyperf.perf_counter() - t


CASES = [
    ("velox read_dbn (plain, mmap)", bench_velox_plain),
    ("velox read_dbn (zstd)", bench_velox_zstd),
    ("velox DBN -> books (ItchBooks)", bench_velox_books),
    ("databento-dbn DBNDecoder.decode", bench_databento),
]


def main():
    runner = Runner()
    runner.metadata["stream"] = f"{N_RECORDS} DBN MBO records, {SYMBOLS} instruments, seed {SEED}"
    results = {}
    for name, func in CASES:
        bench = runner.bench_time_func(name, func, inner_loops=N_RECORDS)
        if bench is not None and not runner.args.worker:
            results[name] = bench.median()
    if runner.args.worker or not results:
        return
    from importlib.metadata import version as _version

    ref = results["databento-dbn DBNDecoder.decode"]
    print()
    print(f"bench_dbn: {describe()}")
    print(f"file: {N_RECORDS:,} DBN v3 MBO records ({os.path.getsize(PLAIN) / 1e6:.0f} MB plain, "
          f"{os.path.getsize(ZST) / 1e6:.0f} MB zstd), {SYMBOLS} instruments; databento-dbn "
          f"{_version('databento-dbn')}")
    print(f"{'case':34} {'ns/record':>10} {'records/s':>14}  vs databento-dbn")
    for name, _ in CASES:
        t = results[name]
        print(f"{name:34} {t * 1e9:10.2f} {1 / t:14,.0f}  {ref / t:10.1f}x")
    print(f"target decode >= 20x databento-dbn:  {ref / results['velox read_dbn (plain, mmap)']:.1f}x")
    print(f"target DBN -> books >= 20 M/s:       "
          f"{1 / results['velox DBN -> books (ItchBooks)'] / 1e6:.1f} M/s")


if __name__ == "__main__":
    main()
