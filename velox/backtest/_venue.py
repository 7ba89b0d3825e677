"""The simulated venue's and the risk limits' settings (velox.SimVenue, velox.RiskLimits):
checked at construction, turned into the native backtest's fixed-point fields."""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional

import numpy as np

from velox._records import Action, to_fixed

_U32 = 2**32 - 1
_I64 = 2**63 - 1
#: a fee per lot or in bps larger than this is a typo, not a fee (fixed point stays in int64)
_MAX_FEE = 1e9
_MAX_BPS = 1e4
#: SimVenue.queue_model names, by their native number (csrc/velox/venue.h, vx_queue_model)
QUEUE_MODELS = ("fifo", "risk_averse", "prob")
#: the largest SimVenue.queue_power (VX_QUEUE_MAX_POWER)
MAX_QUEUE_POWER = 8


def _count(name: str, value: object, lo: int, hi: int) -> int:
    """An integer field (int or NumPy integer; never a bool) in [lo, hi]."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    v = operator.index(value)  # type: ignore[arg-type, unused-ignore]
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


def _money(name: str, value: object, lo: float, hi: float) -> float:
    """A real number field (never a bool or text), finite, in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{name} must be a finite number in [{lo:g}, {hi:g}], got {value!r}")
    return v


def _fixed(value: float) -> int:
    return int(to_fixed(Decimal(repr(value))))


@dataclass(frozen=True)
class SimVenue:
    """The simulated venue of a backtest (csrc/velox/venue.h; docs/backtest.md).

    Latencies in ns of event time: an order reaches the matching engine entry_latency_ns
    (+ a uniform draw in [0, entry_jitter_ns], seeded by the backtest's seed) after it is
    sent; a report reaches the strategy response_latency_ns (+ jitter) after the venue made
    it. Fees per fill, by liquidity: maker_fee / taker_fee in currency per lot, plus
    maker_fee_bps / taker_fee_bps of the notional (negative: a rebate). max_orders: the
    strategy's orders working at the venue at once; max_in_flight: orders and reports on
    their way at once (more are refused, REJECT reason LIMIT). queue_model: how a resting
    order advances in its queue (docs/backtest.md, "Queue models"): "fifo" (every lot that
    leaves the level ahead of it; exact with market-by-order data; trade prints never fill),
    "risk_averse" (only trades; L2 data), "prob" (trades, and the part of each level decrease
    that a power-law estimate with exponent queue_power, an integer in [0, 8], puts ahead of
    it; L2 data); None: fifo, but velox.backtest refuses to guess on an input that starts with
    L2 data (LEVEL events, no ADD).
    Every field is checked here: TypeError / ValueError naming it."""

    entry_latency_ns: int = 0
    response_latency_ns: int = 0
    entry_jitter_ns: int = 0
    response_jitter_ns: int = 0
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    maker_fee_bps: float = 0.0
    taker_fee_bps: float = 0.0
    max_orders: int = 4096
    max_in_flight: int = 65536
    queue_model: Optional[str] = None
    queue_power: int = 2

    def __post_init__(self) -> None:
        for name in ("entry_latency_ns", "response_latency_ns", "entry_jitter_ns",
                     "response_jitter_ns"):
            object.__setattr__(self, name, _count(f"SimVenue {name}", getattr(self, name), 0, _I64))
        for name in ("maker_fee", "taker_fee"):
            object.__setattr__(self, name, _money(f"SimVenue {name}", getattr(self, name),
                                                  -_MAX_FEE, _MAX_FEE))
        for name in ("maker_fee_bps", "taker_fee_bps"):
            object.__setattr__(self, name, _money(f"SimVenue {name}", getattr(self, name),
                                                  -_MAX_BPS, _MAX_BPS))
        object.__setattr__(self, "max_orders", _count("SimVenue max_orders", self.max_orders, 1, 1 << 24))
        object.__setattr__(self, "max_in_flight",
                           _count("SimVenue max_in_flight", self.max_in_flight, 16, 1 << 24))
        if self.queue_model is not None and self.queue_model not in QUEUE_MODELS:
            raise ValueError(f"SimVenue queue_model must be one of {', '.join(QUEUE_MODELS)}, "
                             f"got {self.queue_model!r}")
        object.__setattr__(self, "queue_power",
                           _count("SimVenue queue_power", self.queue_power, 0, MAX_QUEUE_POWER))

    def native(self) -> dict[str, Any]:
        """NativeBacktest's venue keyword arguments (fees in fixed point; a bps figure as the
        fixed-point fraction bps / 10^4)."""
        return {
            "entry_latency_ns": self.entry_latency_ns,
            "response_latency_ns": self.response_latency_ns,
            "entry_jitter_ns": self.entry_jitter_ns,
            "response_jitter_ns": self.response_jitter_ns,
            "maker_per_lot": _fixed(self.maker_fee),
            "taker_per_lot": _fixed(self.taker_fee),
            "maker_rate": int(to_fixed(Decimal(repr(self.maker_fee_bps)) / 10000)),
            "taker_rate": int(to_fixed(Decimal(repr(self.taker_fee_bps)) / 10000)),
            "venue_max_orders": self.max_orders,
            "max_in_flight": self.max_in_flight,
            "queue_model": QUEUE_MODELS.index(self.queue_model or "fifo"),
            "queue_power": self.queue_power,
        }


def check_queue_model(venue: SimVenue, first: object, what: str) -> None:
    """ValueError, before a run, when ``venue`` leaves queue_model at None and ``first`` (the
    input's first records, an MBO_DTYPE array) is market-by-price data: LEVEL events and no
    ADD. Under the fifo that None stands for, trade prints never fill a resting order, so the
    model must be chosen. ``what`` names the input and how much of it was read."""
    if venue.queue_model is not None or not isinstance(first, np.ndarray) or not len(first):
        return
    actions = first["action"]
    if (actions == Action.LEVEL).any() and not (actions == Action.ADD).any():
        raise ValueError(
            f"{what} is market-by-price data (LEVEL events, no ADD): choose how resting orders "
            "advance in their queues, SimVenue(queue_model='risk_averse' or 'prob') (CLI "
            "--queue-model), or 'fifo' (there, trade prints never fill a resting order)")


@dataclass(frozen=True)
class RiskLimits:
    """The strategy's risk limits, checked before an order leaves (csrc/velox/positions.h;
    0 = no limit): max_position lots (|position + working lots on the order's side + this
    order|), max_order_qty lots per NEW or MODIFY, max_loss in currency (total P&L after fees
    at or below -max_loss engages the kill switch: every working order canceled, every new
    one refused), max_working orders at once (>= 1). Refusals are REJECT reports (reason
    RISK, or LIMIT for max_working). Every field is checked here: TypeError / ValueError
    naming it."""

    max_position: int = 0
    max_order_qty: int = 0
    max_loss: float = 0.0
    max_working: int = 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_position",
                           _count("RiskLimits max_position", self.max_position, 0, _I64))
        object.__setattr__(self, "max_order_qty",
                           _count("RiskLimits max_order_qty", self.max_order_qty, 0, _U32))
        object.__setattr__(self, "max_loss",
                           _money("RiskLimits max_loss", self.max_loss, 0.0, 9e10))
        object.__setattr__(self, "max_working",
                           _count("RiskLimits max_working", self.max_working, 1, 1 << 24))

    def native(self) -> dict[str, Any]:
        """NativeBacktest's risk keyword arguments (max_loss in fixed point)."""
        return {"max_position": self.max_position, "max_order_qty": self.max_order_qty,
                "max_loss": _fixed(self.max_loss), "max_working": self.max_working}
