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

# ring (SPSC ring)
from velox._ring import SpscRing  # noqa: E402

__all__ += ["SpscRing"]

# histogram + pipeline (native pipeline)
from velox._histogram import Histogram  # noqa: E402

__all__ += ["Histogram", "Pipeline"]


def __getattr__(name):
    # velox.Pipeline is imported lazily: importing velox.pipeline here would make
    # `python -m velox.pipeline` warn (runpy finds the module already imported).
    if name == "Pipeline":
        from velox.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'velox' has no attribute {name!r}")

# orderbook (price-ladder order book)
from velox._orderbook import OrderBook  # noqa: E402

__all__ += ["OrderBook"]

# shm (cross-process shared-memory rings)
from velox._shm import SharedRing  # noqa: E402

__all__ += ["SharedRing"]
