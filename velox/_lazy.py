"""Names a package imports when first asked for (its module ``__getattr__``), so that
``import velox`` loads the native core only: velox, velox.backtest and velox.sweep each keep a
table of name -> module and answer through ``lazy_attr``."""

from __future__ import annotations

import importlib
from typing import Any, Mapping


def lazy_attr(package: str, table: Mapping[str, str], name: str) -> Any:
    """``name`` from its module in ``table`` (imported now, once); AttributeError, as for any
    missing attribute of ``package``, when the table does not have it."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
