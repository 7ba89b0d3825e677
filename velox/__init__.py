"""velox: lock-free native queues, order book, TSC clock and a pinned-thread pipeline for
low-latency Python. See README.md and docs/ for the whole API."""

try:
    from velox._records import (
        BUNDLE_CAPACITY,
        BUNDLE_DTYPE,
        BUY,
        CANCEL,
        NEW,
        PRICE_SCALE,
        SELL,
        TXN_DTYPE,
        Bundle,
        Kind,
        Side,
        Transaction,
        from_fixed,
        to_fixed,
    )
except ImportError as _exc:  # pragma: no cover - only when the extensions were never built
    import os as _os

    if _os.path.exists(_os.path.join(_os.path.dirname(__file__), "_records.pyx")):
        raise ImportError(
            "velox's native extensions are not built in this source tree "
            f"({_os.path.dirname(__file__)}). Install with `pip install -e .` from the clone, "
            "or run Python from another directory so the installed velox is imported."
        ) from _exc
    raise

from velox import tsc

__version__ = "0.1.0"

__all__ = [
    "BUNDLE_CAPACITY",
    "BUNDLE_DTYPE",
    "BUY",
    "CANCEL",
    "NEW",
    "PRICE_SCALE",
    "SELL",
    "TXN_DTYPE",
    "Bundle",
    "Kind",
    "Side",
    "Transaction",
    "from_fixed",
    "to_fixed",
    "tsc",
]

# --- modules added by each component (one block each) ---
