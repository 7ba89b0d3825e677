"""out=DIR: the rows of finished tasks, one JSON line each in DIR/rows.jsonl, appended and
fsync'd as each task finishes, so a sweep killed part way keeps every row it finished and a
rerun skips them; details=True arrays in DIR/<task id>/, written before the row."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Optional, Union

import numpy as np

from velox.sweep._task import DETAIL_NAMES

ROWS_FILE = "rows.jsonl"


class RowLog:
    """DIR/rows.jsonl, opened for appending. done: {task id: its latest ok row} of the rows
    already there (a torn last line, from a kill mid-write, is ignored and cut off)."""

    def __init__(self, out: Union[str, "os.PathLike[str]"]) -> None:
        self.dir = os.fspath(out)
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise ValueError(f"out {self.dir!r} is a file, not a directory")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, ROWS_FILE)
        self.done: dict[str, dict[str, Any]] = {}
        good_end = 0
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                data = f.read()
            pos = 0
            while pos < len(data):  # bounded: each turn consumes one line
                end = data.find(b"\n", pos)
                if end < 0:
                    break  # a torn last line
                try:
                    row = json.loads(data[pos:end])
                except ValueError:
                    raise ValueError(f"{self.path!r}: line at byte {pos} is not a JSON row; "
                                     "remove it or use another out=") from None
                if not isinstance(row, dict) or not isinstance(row.get("task"), str):
                    raise ValueError(f"{self.path!r}: line at byte {pos} is not a sweep row")
                if row.get("ok"):
                    self.done[row["task"]] = row
                else:
                    self.done.pop(row["task"], None)
                pos = good_end = end + 1
        self._file: Optional[Any] = open(self.path, "ab")
        if self._file.tell() != good_end:
            self._file.truncate(good_end)  # cut the torn line before appending

    def append(self, row: dict[str, Any]) -> None:
        """Writes the row's details (if any) to DIR/<task id>/, then the row as one line,
        flushed and fsync'd."""
        assert self._file is not None
        details = row.get("details")
        if details is not None:
            final = os.path.join(self.dir, row["task"])
            tmp = final + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            for name in DETAIL_NAMES:
                np.save(os.path.join(tmp, name + ".npy"), details[name])
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        line = json.dumps({k: v for k, v in row.items() if k != "details"}) + "\n"
        self._file.write(line.encode())
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
