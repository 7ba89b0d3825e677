"""Example strategies for velox: ``Imbalance`` (a v1 pipeline stage), ``L2Quote`` and
``QueueQuote`` (ABI v2: velox.backtest, and the pipeline with a live venue)."""
from velox_strategy._imbalance import Imbalance
from velox_strategy._quoting import L2Quote, QueueQuote

__all__ = ["Imbalance", "L2Quote", "QueueQuote"]
