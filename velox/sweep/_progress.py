"""The sweep's progress on stderr: tqdm's bar when tqdm is installed, else one line
rewritten in place (`\\r 3/8 tasks, 1 failed, eta 12 s`)."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional


class Progress:
    """Counts finished tasks (`done` of `total`, some resumed from out=) and failures."""

    def __init__(self, total: int, done: int = 0, *, enabled: bool = True) -> None:
        self.total, self.done, self.failed = total, done, 0
        self._start_done = done
        self._t0 = time.monotonic()
        self._bar: Optional[Any] = None
        self.enabled = enabled
        if not enabled:
            return
        try:
            from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            self._line()
        else:
            self._bar = tqdm(total=total, initial=done, unit="task", file=sys.stderr,
                             desc="sweep", dynamic_ncols=True)

    def _eta_s(self) -> Optional[float]:
        ran = self.done - self._start_done
        if ran <= 0:
            return None
        return (time.monotonic() - self._t0) / ran * (self.total - self.done)

    def _line(self) -> None:
        eta = self._eta_s()
        text = f"\r {self.done}/{self.total} tasks, {self.failed} failed"
        if eta is not None:
            text += f", eta {eta:.0f} s"
        sys.stderr.write(text + "   ")
        sys.stderr.flush()

    def update(self, *, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            if self.failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
        else:
            self._line()

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()
        self.enabled = False
