"""The callback drain: bundles from the native python ring to the user's callback
(on the drain thread, or from poll())."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import numpy.typing as npt

from velox._pipeline import NativePipeline


#: what ``callback`` receives: a BUNDLE_DTYPE array of bundles
Callback = Callable[[npt.NDArray[np.void]], object]


def _drain_batches(native: NativePipeline, callback: Callback, max_bundles: int) -> int:
    total = 0
    for _ in range(64):  # bounded: at most 64 batches per call
        batch = native.drain(max_bundles)
        if not len(batch):
            break
        total += len(batch)
        callback(batch)
    return total


def _drain_loop(native: NativePipeline, callback: Callback, lock: threading.Lock,
                stop: threading.Event, errors: list[BaseException]) -> None:
    """The drain thread: pops the python ring into the callback until stop is set (after
    the native threads are joined, so the final drain sees every bundle). Holds no reference
    to the Pipeline (so dropping it still runs __del__)."""
    while True:
        stopping = stop.is_set()  # read before the drain: a set flag means joined threads
        try:
            with lock:
                n = _drain_batches(native, callback, 1024)
        except BaseException as e:  # re-raised on the driver by poll()/stop()
            errors.append(e)
            return
        if stopping and not n:
            return
        if not n:
            stop.wait(0.0002)
