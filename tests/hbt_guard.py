"""The import guard of the hftbacktest cross-checks (test_backtest_hftbacktest*.py).

The `oracle` extra (hftbacktest, numba) exists for Python < 3.13 only: numba and
hftbacktest's numpy < 2.3 pin have no free-threaded or 3.14 wheels (see pyproject.toml). It
is required there, skipped on the newer legs, and skipped where VELOX_NO_ORACLE=1 says it is
left out on purpose (CI's ASan step: numba's LLVM does not run under the ASan preload)."""

import os
import sys

import pytest


def require_hftbacktest() -> None:
    """Imports hftbacktest and numba (ImportError where they are required), or skips the
    calling test module."""
    if sys.version_info < (3, 13) and os.environ.get("VELOX_NO_ORACLE") != "1":
        import hftbacktest  # noqa: F401
        import numba  # noqa: F401
    else:
        pytest.importorskip("hftbacktest")
        pytest.importorskip("numba")
