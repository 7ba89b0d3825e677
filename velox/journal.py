"""``python -m velox.journal ls|cat|tail DIR``: look into a velox journal (docs/journal.md).

- ``ls DIR``: the journal's dtype, time field, segment files with their first sequence and
  committed records, and the total.
- ``cat DIR [--start SEQ | --time TS] [--count N] [--json]``: the committed records, one line
  each: ``SEQ (field, field, ...)`` as NumPy prints a record, or JSON lines
  ``{"_seq": SEQ, "field": value, ...}`` (``_seq`` is the journal sequence).
- ``tail DIR [--start SEQ | --time TS] [--count N] [--duration S] [--json]``: follows the
  journal from its end (or the given position) and prints records as they are appended, until
  ``--count`` records or ``--duration`` seconds (default: until interrupted).

Bad arguments or an unreadable journal: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Iterable, Sequence

import numpy as np

from velox._journal import HEADER_SIZE, JournalReader

__all__ = ["main", "format_record"]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def format_record(seq: int, record: Any, dtype: np.dtype[Any], as_json: bool) -> str:
    """One output line for record ``seq``: NumPy's text of the record, or a JSON object."""
    if not as_json:
        return f"{seq} {record}"
    obj: dict[str, Any] = {"_seq": seq}
    if dtype.names is None:
        obj["value"] = _plain(record)
    else:
        for name in dtype.names:
            obj[name] = _plain(record[name])
    return json.dumps(obj, allow_nan=False)


def _segments(path: str) -> list[tuple[str, int]]:
    out = []
    for name in os.listdir(path):
        if len(name) == 24 and name.endswith(".vxj") and name[:20].isdigit():
            out.append((name, int(name[:20])))
    return sorted(out, key=lambda x: x[1])


def _committed(path: str, capacity: int, record_size: int) -> int:
    """Committed slots at the start of one segment file (commit words nonzero)."""
    slot = 8 + ((record_size + 7) & ~7)
    words = np.memmap(path, dtype=np.uint8, mode="r", offset=HEADER_SIZE, shape=(capacity * slot,))
    commits = words.reshape(capacity, slot)[:, :8].copy().view(np.uint64).ravel()
    zero = np.flatnonzero(commits == 0)
    return int(zero[0]) if zero.size else capacity


def _ls(path: str, out: Any) -> None:
    with JournalReader(path) as r:
        cap = r.segment_capacity
        print(f"dtype {r.dtype.descr if r.dtype.names else r.dtype.str}", file=out)
        print(f"time field {r.ts_field}", file=out)
        print(f"records per segment {cap}", file=out)
        total = 0
        for name, first in _segments(path):
            r.seek(first)  # maps the segment: validates its header
            n = _committed(os.path.join(path, name), cap, r.dtype.itemsize)
            total += n
            print(f"{name} first {first} records {n}", file=out)
        print(f"total {total} records", file=out)


def _position(r: JournalReader, args: argparse.Namespace) -> None:
    if args.start is not None:
        r.seek(args.start)
    elif args.time is not None:
        r.seek_time(args.time)


def _read(r: JournalReader, batch: np.ndarray, want: int, timeout: float) -> list[int]:
    """Reads up to ``want`` records into batch; returns their sequence numbers. Records are
    consecutive unless corrupt ones were skipped: then the batch is re-read one by one."""
    pos, skipped = r.position, r.skipped
    n = r.read_many(batch[:want], timeout=timeout)
    if r.skipped == skipped:
        return list(range(r.position - n, r.position))
    print(f"velox.journal: {r.skipped - skipped} corrupt record(s) skipped after sequence "
          f"{pos}", file=sys.stderr)
    r.seek(pos)
    seqs: list[int] = []
    for _ in range(n + r.skipped - skipped):  # bounded: the records and skips just seen
        if r.read_many(batch[len(seqs):len(seqs) + 1]):
            seqs.append(r.position - 1)
    return seqs


def _emit(r: JournalReader, batch: np.ndarray, seqs: list[int], as_json: bool, out: Any) -> None:
    lines: Iterable[str] = (format_record(s, batch[i], r.dtype, as_json) for i, s in enumerate(seqs))
    out.write("\n".join(lines) + "\n")


def _cat(args: argparse.Namespace, out: Any) -> None:
    with JournalReader(args.dir) as r:
        _position(r, args)
        batch = np.zeros(1024, dtype=r.dtype)
        left = args.count if args.count is not None else -1
        while left != 0:
            want = len(batch) if left < 0 else min(left, len(batch))
            seqs = _read(r, batch, want, 0.0)
            if not seqs:
                if r.wait(0):
                    continue  # only skips so far: more records follow
                break
            _emit(r, batch, seqs, args.json, out)
            left = -1 if left < 0 else left - len(seqs)


def _tail(args: argparse.Namespace, out: Any) -> None:
    with JournalReader(args.dir, start="end") as r:
        _position(r, args)
        batch = np.zeros(1024, dtype=r.dtype)
        end = None if args.duration is None else time.monotonic() + args.duration
        left = args.count if args.count is not None else -1
        while left != 0:
            timeout = 0.1 if end is None else max(0.0, min(0.1, end - time.monotonic()))
            want = len(batch) if left < 0 else min(left, len(batch))
            seqs = _read(r, batch, want, timeout)
            if seqs:
                _emit(r, batch, seqs, args.json, out)
                out.flush()
                left = -1 if left < 0 else left - len(seqs)
            elif end is not None and time.monotonic() >= end:
                break


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m velox.journal", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("ls", help="segments and record counts")
    ls.add_argument("dir")
    for name in ("cat", "tail"):
        c = sub.add_parser(name, help="print records" if name == "cat" else "follow new records")
        c.add_argument("dir")
        where = c.add_mutually_exclusive_group()
        where.add_argument("--start", type=int, help="first sequence number")
        where.add_argument("--time", type=int, help="first record with time >= TIME")
        c.add_argument("--count", type=int, help="stop after this many records")
        c.add_argument("--json", action="store_true", help="JSON lines instead of NumPy text")
        if name == "tail":
            c.add_argument("--duration", type=float, help="stop after this many seconds")
    return p


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    out = sys.stdout if out is None else out
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "count", None) is not None and args.count < 0:
        print(f"velox.journal: --count must be >= 0, got {args.count}", file=sys.stderr)
        return 2
    if getattr(args, "duration", None) is not None and not args.duration >= 0:
        print(f"velox.journal: --duration must be >= 0, got {args.duration}", file=sys.stderr)
        return 2
    try:
        if args.command == "ls":
            _ls(args.dir, out)
        elif args.command == "cat":
            _cat(args, out)
        else:
            _tail(args, out)
    except (OSError, ValueError, TypeError) as exc:
        print(f"velox.journal: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
