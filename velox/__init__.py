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
        MBO_DTYPE,
        SIDE_NONE,
        Action,
        MboFlag,
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
    "MBO_DTYPE",
    "SIDE_NONE",
    "Action",
    "MboFlag",
    "Bundle",
    "Kind",
    "Side",
    "Transaction",
    "from_fixed",
    "to_fixed",
    "tsc",
]

# --- modules added by each component (one block each) ---

# orders and execution reports (the trading loop's records)
from velox._records import (  # noqa: E402
    EXEC_DTYPE,
    ORDER_DTYPE,
    PNL_DTYPE,
    POSITION_DTYPE,
    ExecField,
    ExecKind,
    Liquidity,
    OrderAction,
    OrderType,
    RejectReason,
    TimeInForce,
    validate_execs,
    validate_orders,
)

__all__ += ["ORDER_DTYPE", "EXEC_DTYPE", "PNL_DTYPE", "POSITION_DTYPE", "OrderType", "TimeInForce", "OrderAction", "ExecKind",
            "Liquidity", "RejectReason", "ExecField", "validate_orders", "validate_execs"]

# ring (SPSC ring)
from velox._ring import RingCorrupted, SpscRing  # noqa: E402

__all__ += ["SpscRing", "RingCorrupted"]

# txnring (typed per-item ring: pops return Transaction)
from velox._txnring import InvalidRecordError, TxnRing  # noqa: E402

__all__ += ["InvalidRecordError", "TxnRing"]

# histogram + pipeline (native pipeline)
from velox._histogram import Histogram  # noqa: E402

__all__ += ["Histogram", "Pipeline", "LiveVenue"]


# Classes imported when first asked for (name -> its module): `import velox` does not load
# the velox.pipeline package (its driver, CLI, TOML and report modules), nor the backtest's
# and the sweep's modules behind their functions, until one of these is used.
_LAZY = {
    "Pipeline": "velox.pipeline",
    "LiveVenue": "velox.pipeline",
    "BacktestResult": "velox.backtest._result",
    "RiskLimits": "velox.backtest._venue",
    "SimVenue": "velox.backtest._venue",
    "SweepResult": "velox.sweep._result",
}


def __getattr__(name):
    from velox._lazy import lazy_attr

    return lazy_attr("velox", _LAZY, name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

# orderbook (price-ladder order book)
from velox._orderbook import OrderBook  # noqa: E402

__all__ += ["OrderBook"]

# shm (cross-process shared-memory rings)
from velox._shm import SharedRing  # noqa: E402

__all__ += ["SharedRing"]

# journal (append-only memory-mapped journal with replay)
from velox._journal import Journal, JournalCorrupted, JournalReader  # noqa: E402

__all__ += ["Journal", "JournalCorrupted", "JournalReader"]
# mpsc (many producers, one consumer; in process or in shared memory)
from velox._mpsc import MpscRing  # noqa: E402

__all__ += ["MpscRing"]

# mbo (market-by-order L3 book)
from velox._mbo import MboBook, MboOrder  # noqa: E402

__all__ += ["MboBook", "MboOrder"]

# backtest (a compiled strategy against market-by-order data through the simulated venue);
# velox.backtest is the function (the package's own names: from velox.backtest import ...);
# BacktestResult, RiskLimits and SimVenue through __getattr__ (_LAZY)
from velox.backtest import backtest  # noqa: E402

__all__ += ["BacktestResult", "RiskLimits", "SimVenue", "backtest"]

# sweep (backtests over many inputs x a parameter grid, on a local pool or a Dask cluster);
# velox.sweep is the function, as velox.backtest is (the package's names: from velox.sweep
# import SweepResult); bound here, before anything imports the package, so it stays the
# function (importing a submodule later sets velox.sweep only when the package is new);
# SweepResult through __getattr__ (_LAZY)
from velox.sweep import sweep  # noqa: E402

__all__ += ["SweepResult", "sweep"]

# C API for downstream Cython (get_include / get_sources)
import os as _os  # noqa: E402

__all__ += ["get_include", "get_sources"]


def get_include():
    """The directory to add to ``include_dirs`` when compiling against velox's ``.pxd`` files.

    It holds ``velox/ring.h`` and the other C headers, and the C sources
    ``get_sources()`` names (like ``numpy.get_include()``). An installed wheel carries them in
    ``velox/include/``; an editable install (``pip install -e .``) uses the checkout's ``csrc/``.
    """
    here = _os.path.dirname(_os.path.realpath(__file__))
    for candidate in (_os.path.join(here, "include"), _os.path.join(_os.path.dirname(here), "csrc")):
        if _os.path.isfile(_os.path.join(candidate, "velox", "types.h")):
            return candidate
    raise RuntimeError(
        f"velox's C headers are missing: neither {_os.path.join(here, 'include')!r} (wheel) "
        f"nor {_os.path.join(_os.path.dirname(here), 'csrc')!r} (source checkout) holds "
        "velox/types.h; reinstall velox"
    )


def _c_modules():
    """{C module name: its .c file followed by the .c files it needs}, read from the
    ``# distutils: sources =`` header of each ``velox/*.pyx`` (the lists setup.py builds with;
    the .pyx files ship in the wheel). A module is named by the first file of its list."""
    here = _os.path.dirname(_os.path.realpath(__file__))
    modules = {}
    for name in sorted(_os.listdir(here)):
        if not name.endswith(".pyx"):
            continue
        with open(_os.path.join(here, name), encoding="utf-8") as f:
            for line in (f.readline() for _ in range(5)):
                key, sep, value = line.partition("distutils: sources =")
                if sep and key.strip() == "#":
                    stems = [_os.path.splitext(_os.path.basename(p))[0] for p in value.split()]
                    if stems:
                        modules[stems[0]] = stems
                    break
    return modules


def get_sources(*modules):
    """The C files a downstream extension must compile to use the named C modules.

    Returns a list of absolute paths, each once, the named modules' own files first and then
    what they need, all in ``get_include()/velox/``: ``get_sources("ring")`` gives
    ``[.../velox/ring.c, .../velox/tsc.c, .../velox/types.c]``. Names: backtest, broadcast, dbn,
    histogram, itch, journal, mbo, mpsc, orderbook, pipeline, ring, shm, tsc, types (an unknown
    name raises ValueError listing them). setuptools takes only paths relative to setup.py when
    it builds a wheel (``pip install .``): copy the files below your project first, as
    examples/strategy/setup.py does. A strategy of ABI v2 (``velox/strategy.h``) needs none of
    them: it compiles against ``get_include()`` alone and reaches velox through the ``vx_api``
    table it is handed."""
    known = _c_modules()
    if not modules:
        raise ValueError(f"name at least one C module, one of {sorted(known)}")
    files = []
    for module in modules:
        if not isinstance(module, str):
            raise TypeError(f"module names are str, got {module!r}")
        if module not in known:
            raise ValueError(f"unknown velox C module {module!r}; known: {sorted(known)}")
        for stem in known[module]:
            if stem not in files:
                files.append(stem)
    root = _os.path.join(get_include(), "velox")
    return [_os.path.join(root, stem + ".c") for stem in files]

# broadcast (one writer, many readers; in process or in shared memory)
from velox._broadcast import BroadcastReader, BroadcastRing  # noqa: E402

__all__ += ["BroadcastReader", "BroadcastRing"]
