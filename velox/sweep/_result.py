"""What a sweep returns (velox.sweep.SweepResult): one row per (input, parameter set) as a
NumPy structured array, the verdict, a summary, Parquet output and the plots."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from velox.backtest._result import PLOT_INSTALL
from velox.sweep._task import RESULT_KEYS

PARQUET_INSTALL = "pip install 'velox[parquet]'  (or: pip install pyarrow)"
_INT_KEYS = ("orders", "fills", "volume", "events", "peak_rss_kb")


def _param_dtype(values: Sequence[object]) -> Any:
    """int64 / float64 / bool for a parameter whose values all are so, else text."""
    if all(isinstance(v, bool) for v in values):
        return np.bool_
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.int64
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.float64
    return f"U{max([1] + [len(str(v)) for v in values])}"


class SweepResult:
    """The result of ``velox.sweep``.

    rows: a NumPy structured array, one row per task in input order then grid order: task
    (the task id), input (the spec), one column per grid name (int64, float64, bool or
    text), orders, fills, volume (lots), fees, pnl (after fees), max_drawdown (currency),
    events, wall_s, events_per_s, peak_rss_kb (the task's peak resident set), ok, error
    (why not ok; empty when ok). params: the grid's names. resumed: how many rows came from
    out=DIR's earlier run. verdict: one line, saying how many tasks failed."""

    rows: npt.NDArray[np.void]
    params: list[str]
    resumed: int

    def __init__(self, rows: Sequence[dict[str, Any]], params: Sequence[str],
                 resumed: int = 0) -> None:
        self.params = list(params)
        self.resumed = resumed
        fields: list[tuple[str, Any]] = [
            ("task", "U16"), ("input", f"U{max([1] + [len(r['input']) for r in rows])}")]
        for name in self.params:
            fields.append((name, _param_dtype([r["params"][name] for r in rows])))
        for key in RESULT_KEYS:
            fields.append((key, np.int64 if key in _INT_KEYS else np.float64))
        fields += [("ok", np.bool_), ("error", f"U{max([1] + [len(r['error']) for r in rows])}")]
        arr = np.zeros(len(rows), dtype=fields)
        for i, r in enumerate(rows):
            arr[i] = tuple([r["task"], r["input"]] + [r["params"][n] for n in self.params]
                           + [r[k] for k in RESULT_KEYS] + [bool(r["ok"]), r["error"]])
        self.rows = arr

    @property
    def failed(self) -> int:
        """How many tasks are not ok."""
        return int(np.count_nonzero(~self.rows["ok"]))

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def inputs(self) -> list[str]:
        """The inputs, in order (each once)."""
        return list(dict.fromkeys(self.rows["input"].tolist()))

    @property
    def verdict(self) -> str:
        s = self.summary()
        n_in, n_sets = len(self.inputs), len(self.rows) // max(1, len(self.inputs))
        line = (f"{s['tasks']:,} tasks ({n_in:,} inputs x {n_sets:,} parameter sets)"
                f"{f', {self.resumed:,} resumed' if self.resumed else ''}; {s['failed']:,} "
                f"failed; {s['events']:,} events, P&L {s['pnl']:,.2f} in all")
        if self.failed:
            bad = self.rows[~self.rows["ok"]][0]
            return (f"sweep FAILED: {self.failed:,} of {len(self.rows):,} tasks failed (first: "
                    f"{bad['input']} {self._params_text(bad)}: {bad['error']}); {line}")
        return f"sweep ok: {line}"

    def _params_text(self, row: Any) -> str:
        return "{" + ", ".join(f"{n}={row[n]!s}" for n in self.params) + "}"

    def summary(self) -> dict[str, Any]:
        """{tasks, failed, resumed, events, wall_s (summed over tasks), events_per_s (per
        task-second), peak_rss_kb (the largest task's), pnl (summed), best (the parameter set
        with the highest P&L summed over inputs, ok rows only; None without one), ok}."""
        r = self.rows
        good = r[r["ok"]]
        best: Optional[dict[str, Any]] = None
        if len(good) and self.params:
            keys = [tuple(row[n].item() for n in self.params) for row in good]
            totals: dict[tuple[Any, ...], float] = {}
            for key, pnl in zip(keys, good["pnl"].tolist()):
                totals[key] = totals.get(key, 0.0) + pnl
            top = max(totals, key=lambda k: totals[k])
            best = dict(zip(self.params, top))
            best["pnl"] = totals[top]
        wall = float(r["wall_s"].sum())
        events = int(r["events"].sum())
        return {"tasks": len(r), "failed": self.failed, "resumed": self.resumed,
                "events": events, "wall_s": wall,
                "events_per_s": events / wall if wall > 0 else 0.0,
                "peak_rss_kb": int(r["peak_rss_kb"].max()) if len(r) else 0,
                "pnl": float(r["pnl"].sum()), "best": best, "ok": self.ok}

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as a list of plain dicts (JSON-ready)."""
        names = self.rows.dtype.names or ()
        return [{n: row[n].item() for n in names} for row in self.rows]

    def to_parquet(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the rows to a Parquet file (pyarrow, the optional extra ``parquet``; one
        column per field). ImportError with the install line when pyarrow is absent."""
        try:
            import pyarrow as pa  # type: ignore[import-not-found, import-untyped, unused-ignore]
            import pyarrow.parquet as pq  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError:
            raise ImportError(f"SweepResult.to_parquet() needs pyarrow: {PARQUET_INSTALL}") from None
        names = self.rows.dtype.names or ()
        table = pa.table({n: self.rows[n] for n in names})
        pq.write_table(table, os.fspath(path))

    def plot(self, path: Union[str, "os.PathLike[str]", None] = None) -> Any:
        """P&L over two parameters (a heatmap of the mean over inputs of the first two grid
        names; one parameter: a bar per value) beside P&L by input (a line per parameter set,
        the ten best by total when there are more). matplotlib (the optional extra ``plot``);
        saves to ``path`` when given; returns the figure. ImportError with the install line
        when matplotlib is absent."""
        try:
            import matplotlib  # type: ignore[import-not-found, unused-ignore]
            if path is not None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise ImportError(f"SweepResult.plot() needs matplotlib: {PLOT_INSTALL}") from None
        r = self.rows
        fig, (grid_ax, by_input) = plt.subplots(1, 2, figsize=(12, 5))
        if len(self.params) >= 2:
            a, b = self.params[0], self.params[1]
            xs, ys = list(dict.fromkeys(r[a].tolist())), list(dict.fromkeys(r[b].tolist()))
            heat = np.full((len(ys), len(xs)), np.nan)
            for j, y in enumerate(ys):
                for i, x in enumerate(xs):
                    sel = (r[a] == x) & (r[b] == y) & r["ok"]
                    if sel.any():
                        heat[j, i] = r["pnl"][sel].mean()
            image = grid_ax.imshow(heat, origin="lower", aspect="auto", cmap="RdYlGn")
            grid_ax.set_xticks(range(len(xs)), [str(x) for x in xs])
            grid_ax.set_yticks(range(len(ys)), [str(y) for y in ys])
            grid_ax.set_xlabel(a)
            grid_ax.set_ylabel(b)
            fig.colorbar(image, ax=grid_ax, label="mean P&L over inputs")
        elif len(self.params) == 1:
            a = self.params[0]
            xs = list(dict.fromkeys(r[a].tolist()))
            means = [float(r["pnl"][(r[a] == x) & r["ok"]].mean()) if ((r[a] == x) & r["ok"]).any()
                     else np.nan for x in xs]
            grid_ax.bar(range(len(xs)), means, tick_label=[str(x) for x in xs])
            grid_ax.set_xlabel(a)
            grid_ax.set_ylabel("mean P&L over inputs")
        grid_ax.set_title("P&L by parameters")
        inputs = self.inputs
        sets = list(dict.fromkeys(self._params_text(row) for row in r))
        labels = np.array([self._params_text(row) for row in r])
        totals = {s: float(r["pnl"][labels == s].sum()) for s in sets}
        for s in sorted(sets, key=lambda s: -totals[s])[:10]:
            sel = labels == s
            pnl = [float(r["pnl"][sel & (r["input"] == inp)].sum()) for inp in inputs]
            by_input.plot(range(len(inputs)), pnl, marker="o", label=s if self.params else "P&L")
        by_input.set_xticks(range(len(inputs)), [os.path.basename(i) for i in inputs],
                            rotation=45, ha="right")
        by_input.set_ylabel("P&L after fees")
        by_input.set_title("P&L by input")
        if len(r):
            by_input.legend(loc="best", fontsize="small")
        fig.tight_layout()
        if path is not None:
            fig.savefig(os.fspath(path))
        return fig

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"<SweepResult {self.verdict}>"
