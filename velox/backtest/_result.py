"""What a backtest returns (velox.BacktestResult): the orders sent, the reports delivered, the
P&L series, the positions, every counter, the verdict and the summary."""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from velox._records import PRICE_SCALE, ExecKind

#: the summary's keys, in order
SUMMARY_KEYS = ("events", "events_per_s", "wall_s", "orders", "refused", "fills", "volume",
                "fees", "pnl", "realized", "max_drawdown", "ok")
PLOT_INSTALL = "pip install 'velox[plot]'  (or: pip install matplotlib)"


def max_drawdown(totals: npt.NDArray[np.int64]) -> int:
    """The largest fall of a P&L series from its running peak (fixed point; the series starts
    from 0, flat, before its first point)."""
    if len(totals) == 0:
        return 0
    series = np.concatenate([np.zeros(1, np.int64), totals.astype(np.int64)])
    return int(np.max(np.maximum.accumulate(series) - series))


class BacktestResult:
    """The result of ``velox.backtest``.

    orders: every order that left for the venue (ORDER_DTYPE, in send order, ts = when sent;
    the kill switch's cancels included). execs: every execution report delivered to the
    strategy, in delivery order (EXEC_DTYPE); an order refused before it left (validation,
    risk, limits) is there as a REJECT report with ts_exchange 0. pnl: the P&L series (PNL_DTYPE: a
    point per fill and one per instrument that traded every pnl_interval_ns). positions: one
    POSITION_DTYPE row per instrument at the end; instruments: the symbols of those rows when
    the input names them (itch: symbols, DBN metadata), else None. counters: every counter of
    the loop (backtest, "host", "venue"). Money fields are fixed point (PRICE_SCALE); the
    summary gives currency.

    ok: conservation passed and nothing was lost: every order ended as the contract says
    (host.h), no log record was lost (log_lost 0), no report failed validation (bad_reports
    0), and the strategy ran (its init did not refuse). Events the books refused (book
    rejects: a feed's own inconsistencies) are reported, not failures. verdict: one line, the
    first of the summary, saying ok or what failed, and what was refused."""

    orders: npt.NDArray[np.void]
    execs: npt.NDArray[np.void]
    pnl: npt.NDArray[np.void]
    positions: npt.NDArray[np.void]
    instruments: Optional[list[str]]
    counters: dict[str, Any]
    wall_s: float
    check_failure: Optional[str]

    def __init__(self, *, orders: npt.NDArray[np.void], execs: npt.NDArray[np.void],
                 pnl: npt.NDArray[np.void], positions: npt.NDArray[np.void],
                 instruments: Optional[list[str]], counters: dict[str, Any], wall_s: float,
                 check_failure: Optional[str]) -> None:
        self.orders = orders
        self.execs = execs
        self.pnl = pnl
        self.positions = positions
        self.instruments = instruments
        self.counters = counters
        self.wall_s = wall_s
        self.check_failure = check_failure

    @property
    def failures(self) -> list[str]:
        """What makes the run not ok (empty when ok)."""
        host = self.counters["host"]
        out = []
        if self.check_failure:
            out.append(f"conservation failed: {self.check_failure}")
        if host["log_lost"]:
            out.append(f"{host['log_lost']} log records lost (log_lost)")
        if self.counters["venue"]["reports_dropped"]:
            out.append(f"{self.counters['venue']['reports_dropped']} venue reports lost "
                       "(reports_dropped: raise SimVenue max_in_flight)")
        if host["bad_reports"]:
            out.append(f"{host['bad_reports']} reports failed validation (bad_reports)")
        if host["init_failed"]:
            out.append("the strategy's init refused to run (init_failed)")
        return out

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def verdict(self) -> str:
        s = self.summary()
        refused = f" ({s['refused']:,} refused)" if s["refused"] else ""
        line = (f"{s['events']:,} events, {s['orders']:,} orders{refused}, {s['fills']:,} fills, "
                f"volume {s['volume']:,}, P&L {s['pnl']:,.2f} (fees {s['fees']:,.2f})")
        rejects = self.counters["book_rejects"]
        if rejects:
            line += f"; {rejects:,} events refused by the books (reported, not failures)"
        if self.counters["host"]["killed"]:
            line += "; kill switch engaged"
        failures = self.failures
        if failures:
            return f"backtest FAILED: {'; '.join(failures)}; {line}"
        return f"backtest ok: {line}"

    def summary(self) -> dict[str, Any]:
        """{events, events_per_s, wall_s, orders, refused (REJECT reports), fills (FILL and
        PARTIAL_FILL reports), volume (lots), fees, pnl (total after fees), realized (before
        fees), max_drawdown (from the .pnl totals), ok}; money in currency (floats)."""
        kinds = self.execs["kind"]
        fills = np.isin(kinds, (int(ExecKind.FILL), int(ExecKind.PARTIAL_FILL)))
        pos = self.positions
        fees = int(pos["fees"].sum())
        realized = int(pos["realized"].sum())
        total = realized + int(pos["unrealized"].sum()) - fees
        events = int(self.counters["events"])
        return {
            "events": events,
            "events_per_s": events / self.wall_s if self.wall_s > 0 else 0.0,
            "wall_s": self.wall_s,
            "orders": len(self.orders),
            "refused": int(np.count_nonzero(kinds == int(ExecKind.REJECT))),
            "fills": int(np.count_nonzero(fills)),
            "volume": int(self.execs["fill_qty"][fills].sum()),
            "fees": fees / PRICE_SCALE,
            "pnl": total / PRICE_SCALE,
            "realized": realized / PRICE_SCALE,
            "max_drawdown": max_drawdown(self.pnl["total"]) / PRICE_SCALE,
            "ok": self.ok,
        }

    def format_summary(self) -> str:
        """The verdict, then one "key: value" line per summary entry."""
        lines = [self.verdict]
        for key, value in self.summary().items():
            if isinstance(value, float):
                lines.append(f"  {key}: {value:,.6g}" if key in ("events_per_s", "wall_s")
                             else f"  {key}: {value:,.2f}")
            else:
                lines.append(f"  {key}: {value}")
        return "\n".join(lines)

    def plot(self, path: Union[str, "os.PathLike[str]", None] = None) -> Any:
        """Equity (total P&L after fees) and position per instrument over event time
        (matplotlib, the optional extra ``plot``). Saves to ``path`` when given; returns the
        figure. ImportError with the install line when matplotlib is absent."""
        try:
            import matplotlib  # type: ignore[import-not-found, unused-ignore]
            if path is not None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise ImportError(f"BacktestResult.plot() needs matplotlib: {PLOT_INSTALL}") from None
        fig, (equity, position) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
        ts = self.pnl["ts"].astype(np.float64) / 1e9
        equity.step(ts, self.pnl["total"] / PRICE_SCALE, where="post")
        equity.set_ylabel("P&L after fees")
        for inst in np.unique(self.pnl["instrument"]).tolist():
            sel = self.pnl["instrument"] == inst
            label = self.instruments[inst] if self.instruments else f"instrument {inst}"
            position.step(ts[sel], self.pnl["position"][sel], where="post", label=label)
        position.set_ylabel("position (lots)")
        position.set_xlabel("event time (s)")
        if len(self.pnl):
            position.legend(loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(os.fspath(path))
        return fig

    def __repr__(self) -> str:
        return f"<BacktestResult {self.verdict}>"
