"""Strategies for the sweep tests, importable by pool and Dask worker processes (tests/ is on
their path): Quote = builtin:quote made by a class; its crash=1 kills the process making it,
as a crash in native code would."""

import os

from velox._backtest import builtin_strategy


class Quote:
    def __init__(self, size=1, max_position=5, crash=0):
        if crash:
            os._exit(7)

    def __velox_stage__(self):
        return builtin_strategy("quote")
