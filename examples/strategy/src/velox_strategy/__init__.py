"""A toy strategy for velox's pipeline: ``Pipeline(stage=Imbalance(ratio=2))``."""
from velox_strategy._imbalance import Imbalance

__all__ = ["Imbalance"]
