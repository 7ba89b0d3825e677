"""Reports: the machine-readable report dict, the verdict (ok or what was lost),
the per-second progress line and the human summaries the command lines print."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from velox._pipeline import HISTOGRAMS, LATE_NS, NativePipeline
from velox._records import BUNDLE_DTYPE, PRICE_SCALE
from velox.pipeline._specs import FINITE_INPUTS
from velox.pipeline._sources import READER_JOIN_S

if TYPE_CHECKING:
    from velox.pipeline._driver import Pipeline


REPORT_HISTOGRAMS = ("ingress_to_book", "book_to_bundler", "ingress_to_bundler",
                     "bundle_to_output", "end_to_end")


def build_report(pipe: Pipeline, final: bool = False) -> dict[str, Any]:
    """The machine-readable report (what --json writes)."""
    native = pipe._nat
    c = native.counters()
    now = time.perf_counter()
    if pipe._t_start is None:
        elapsed = 0.0
    else:
        elapsed = (pipe._t_stop if final and pipe._t_stop else now) - pipe._t_start
    # a run that ended by itself (max_txns) ends when ingress stopped making; use the
    # elapsed time up to stop() either way
    achieved = c["generated"] / elapsed if elapsed > 0 else 0.0
    d = c["drops"]
    if pipe.records == "mbo":  # events stop at the book; the rest carry stage orders
        market_dropped = d["ingress_to_book"]
        other_dropped = d["book_to_bundler"] + d["bundler_to_output_txns"]
    else:
        market_dropped = d["ingress_to_book"] + d["book_to_bundler"] + d["bundler_to_output_txns"]
        other_dropped = 0
    drops_total = market_dropped + other_dropped
    latency: dict[str, dict[str, float]] = {}
    for name in HISTOGRAMS:
        latency[name] = native.histogram(name).summary()  # zeros when count is 0
    out = {
        "rate": {"target": pipe.rate_per_s or None, "achieved": achieved},
        "duration_s": elapsed,
        "counters": c,
        "drop_rate": drops_total / c["generated"] if c["generated"] else 0.0,
        "latency_ns": latency,
        "mapping": dict(pipe.mapping),
        "threads": len(pipe.thread_cpu),
        "wait": pipe.wait_strategy,
        "on_full": pipe.on_full,
        "memory_bytes": native.memory_bytes,
        "bundle_timeout_us": pipe._bundle_timeout_us,
        "stage": None if pipe.stage is None else ", ".join(
            _stage_name(x) for x in (pipe.stage if isinstance(pipe.stage, (list, tuple))
                                     else [pipe.stage])),
        "stages": [_stage_name(x) for x in native.user_stages],
        "dropped_market_events": market_dropped,
        "dropped_orders": other_dropped,
        "dropped_output_bundles": d["output_to_python"] + d["output_to_external"],
        "drops_allowed": pipe.drops_allowed,
        "input": pipe.input,
        "fed": pipe.fed if pipe._source[0] not in ("synthetic", "shm") else None,
        "replay_speed": pipe.replay_speed,
        "records": pipe.records,
        "symbols": pipe.symbols,
        "follow_market": pipe.follow_market if pipe.records == "mbo" else None,
        "snapshot": pipe.snapshot,
    }
    if pipe.seed_from_book is not None:
        out["seed_from_book"] = {
            "path": pipe.seed_from_book, "levels_seeded": c["reference_seeded"],
            "rows_checked": c["reference_rows_checked"],
            "rows_differing": c["reference_rows_differing"]}
    if pipe.input_ring is not None and not pipe.input_ring.closed:
        # records the producer pushed that the run has not taken (yet, or at stop)
        out["input_left"] = len(pipe.input_ring)
    if pipe.records == "mbo":
        out["mbo"] = mbo_report(pipe, native)
    if pipe._source[0] == "itch":
        out["itch"] = itch_report(pipe)
    if pipe._source[0] == "dbn":
        out["dbn"] = dbn_report(pipe)
    if pipe._source[0] == "journal":
        out["journal"] = {"path": pipe._source[1], "start": pipe._journal_start,
                          "follow": pipe._journal_follow, "records_read": pipe._journal_read,
                          "skipped": pipe._journal_skipped}
    if pipe.strategy is not None:
        out["strategy"] = strategy_report(pipe, c, final)
    if pipe.journal is not None:
        out["journaled"] = pipe.journal.report(c, final)
    if final:
        failures = native.conservation_failures()
        if pipe.journal is not None:
            failures += pipe.journal.conservation_failures(c)
        # records fed that a stopped paced replay left in the source ring (never pushed
        # through the book): counted, not lost
        left = (len(pipe._feed_ring) if pipe._feed_ring is not None
                and pipe._source[0] in FINITE_INPUTS and c["finished"] else 0)
        out["left_unreplayed"] = left
        if pipe._source[0] in FINITE_INPUTS and c["generated"] + left != pipe.fed:
            failures.append(f"fed ({pipe.fed}) == generated ({c['generated']}) + left "
                            f"unreplayed ({left})")
        failures.extend((out.get("strategy") or {}).get("failures", []))
        out["conservation_ok"] = not failures and c["finished"]
        out["conservation_failures"] = failures
        out["book_digest"] = f"{native.book_digest():016x}"
    return out


def strategy_report(pipe: Pipeline, c: dict[str, Any], final: bool) -> dict[str, Any]:
    """The v2 strategy's part of the report: its orders, reports and P&L points as drained,
    the live venue's counters and, once stopped, the host's own account (counters, positions,
    orders working at the end, conservation). ``failures``: what makes the run not ok (a log
    record lost, a drained count that differs from what the book thread moved, a bad report,
    a broken venue ring, orders left working, the host's check)."""
    logs = pipe.strategy_logs
    assert logs is not None
    s = c["strategy"]
    out: dict[str, Any] = {
        "name": pipe._nat.strategy_name, "venue": repr(pipe.venue), "edges": pipe.strategy_edges,
        "orders": logs.counts["orders"], "execs": logs.counts["execs"],
        "pnl_points": logs.counts["pnl"], "groups": s["groups"],
        "idle_delivers": s["idle_delivers"], "log_waits": s["log_waits"],
        "venue_counters": c["venue"],
    }
    if not final:
        return out
    host = pipe._strategy_final or {}
    out.update(host)
    failures = []
    for which, key in (("orders", "orders"), ("execs", "execs"), ("pnl", "pnl_points")):
        if s["logged"][which] != out[key]:
            failures.append(f"strategy {which}: the book thread logged {s['logged'][which]:,}, "
                            f"the driver drained {out[key]:,}")
    hc = host.get("counters") or {}
    if hc.get("log_lost"):
        failures.append(f"strategy logs lost {hc['log_lost']:,} record(s) (full logs)")
    if hc.get("bad_reports"):
        failures.append(f"the gateway sent {hc['bad_reports']:,} report(s) that failed "
                        "validation or matched no order (logged, not applied)")
    sim = host.get("sim_venue")
    if sim and sim["reports_dropped"]:
        failures.append(f"the simulated venue dropped {sim['reports_dropped']:,} report(s) "
                        "(max_in_flight)")
    if c["venue"]["ring_errors"]:
        failures.append(f"a live venue ring broke its invariant ({c['venue']['ring_errors']:,} "
                        "call(s) refused)")
    if host.get("working_at_end"):
        failures.append(f"{len(host['working_at_end']):,} order(s) still working at the gateway "
                        "after the end-of-run cancels (close_timeout)")
    if host.get("check_failed"):
        failures.append(f"strategy conservation: {host['check_failed']}")
    out["failures"] = failures
    return out


def _short_input(spec: str) -> str:
    """An input spec for the summary: a long `?symbols=` list shows its first names and its
    count (the report's "input" keeps the whole spec)."""
    head, sep, names = spec.partition("?symbols=")
    names, amp, rest = names.partition("&")
    listed = names.split(",")
    if not sep or len(listed) <= 8:
        return spec
    return f"{head}?symbols={','.join(listed[:4])},... ({len(listed):,} symbols){amp}{rest}"


def mbo_report(pipe: Pipeline, native: NativePipeline) -> dict[str, Any]:
    """The market-by-order part of the report: the books' counters (one order table and one
    set of counters for all of them: counted once) and, per book whose window a first ADD
    or LEVEL placed, its top of book."""
    m = native.mbo_counters(0)
    totals = {k: m[k] for k in ("applied", "rejected", "by_action", "rejected_by_reason",
                                "unknown_orders", "out_of_window_orders")}
    books = []
    for i in range(pipe._instruments):  # bounded: <= 65536 books
        if not native.mbo_placed(i):
            continue
        try:
            bid, ask = native.best(0, i), native.best(1, i)
        except TimeoutError:  # the book stage kept recentering (a live report only)
            bid = ask = None
        books.append({"instrument": i, "best_bid": bid, "best_ask": ask,
                      "symbol": pipe.symbols[i] if pipe.symbols and i < len(pipe.symbols) else None})
    return {"totals": totals, "books": books}


def itch_report(pipe: Pipeline) -> dict[str, Any]:
    """input="itch:...": the reader's counts and, once it ended, the symbols found (the
    locates naming each requested symbol at the end, directory size) and the requested
    symbols no stock directory message of the file named."""
    counts = dict(pipe._itch_counts or {})
    by_type = counts.pop("by_type", {})
    out: dict[str, Any] = {k: counts.get(k, 0) for k in
                           ("messages", "events", "filtered", "skipped", "unknown")}
    out["by_type"] = by_type
    directory = pipe._itch_directory
    if directory is None:  # the reader has not ended: the directory may still grow
        out.update(directory_entries=None, found=None, missing=None)
        return out
    assert pipe.symbols is not None
    found: dict[str, list[int]] = {}
    for locate, name in sorted(directory.items()):
        if name in pipe.symbols:
            found.setdefault(name, []).append(locate)
    out["directory_entries"] = len(directory)
    out["found"] = found
    out["missing"] = list(pipe._itch_missing)
    return out


def dbn_report(pipe: Pipeline) -> dict[str, Any]:
    """input="dbn:PATH": the DbnReader's counts (records, events, skipped, none, snapshot,
    bad_ts_recv, maybe_bad_book, by_action, by_rtype) so far, and the metadata's dataset,
    schema and version."""
    meta = pipe._dbn.metadata if pipe._dbn is not None else {}
    out: dict[str, Any] = {k: meta.get(k) for k in ("dataset", "schema", "version")}
    out.update(pipe._dbn_counts or {})
    return out


def _stage_name(stage: object) -> str:
    """What a user stage is called in reports: its `name` attribute (a str), builtin:KIND for
    velox's own, else its type's name (never a repr with an address)."""
    name = getattr(stage, "name", None)
    if isinstance(name, str) and name:
        return name
    kind = getattr(stage, "kind", None)
    if type(stage).__name__ == "BuiltinStage" and isinstance(kind, str):
        return f"builtin:{kind}"
    return type(stage).__name__


def _judge(r: dict[str, Any]) -> None:
    """Sets r["ok"] and r["verdict"], the summary's first line: what was lost or refused, or
    OK. Not ok: a failed input, dropped market events (or stage orders, output bundles) that
    the user did not allow with an explicit on_full="drop" on a live source, or failed
    conservation. A stop before the end of the input (signal, --duration) is ok when nothing
    was lost: the records not replayed are counted."""
    c = r["counters"]
    unit = "market events" if r.get("records") == "mbo" else "transactions"
    market, orders, out_b = (r["dropped_market_events"], r["dropped_orders"],
                             r["dropped_output_bundles"])
    gen = c["generated"]
    lost = []
    if market:
        d = c["drops"]
        where = ", ".join(f"{k.replace('_to_', '->')} {d[k]:,}" for k in
                          ("ingress_to_book", "book_to_bundler", "bundler_to_output_txns")
                          if d[k] and (k == "ingress_to_book" or r.get("records") != "mbo"))
        lost.append(f"DROPPED {market:,} {unit} ({100 * market / gen if gen else 0:.1f} %): "
                    + where.replace("bundler->output_txns", "bundler->output"))
    if orders:
        lost.append(f"dropped {orders:,} user-stage orders")
    if out_b:
        lost.append(f"dropped {out_b:,} bundles at the output")
    stopped = ""
    if r.get("interrupted_by") or r.get("left_unreplayed") or r.get("input_abandoned"):
        parts = [f"stopped{' by ' + r['interrupted_by'] if r.get('interrupted_by') else ''}"
                 f" after {r['duration_s']:.2f} s"]
        if r.get("left_unreplayed"):
            parts.append(f"{r['left_unreplayed']:,} fed records left unreplayed (counted, never"
                         " applied)")
        if r.get("input_abandoned"):
            parts.append(f"the input reader did not stop within {READER_JOIN_S:g} s (blocked in"
                         " open() or read() of a silent FIFO, or still parsing) and was abandoned")
        stopped = "; ".join(parts)
    skipped = (r.get("journal") or {}).get("skipped")
    if r.get("input_error"):
        ok, line = False, f"INPUT FAILED: {r['input_error']}"
    elif skipped:
        ok, line = False, (f"INPUT DAMAGED: the journal {r['journal']['path']!r} had {skipped:,}"
                           " corrupt record(s), skipped (never applied); "
                           f"{gen:,} {unit} through the book")
    elif lost and not r.get("drops_allowed"):
        ok, line = False, "; ".join(lost) + (
            " (on_full=drop by default on a live source: pass --on-full drop to accept drops,"
            " --on-full block to prevent them)")
    elif not r.get("conservation_ok"):
        ok, line = False, "CONSERVATION FAILED: " + "; ".join(
            r.get("conservation_failures") or ["not finished"])
    else:
        ok = True
        line = f"OK: {gen:,} {unit} through the book, none lost"
        if lost:
            line = f"OK with drops (on_full=drop was asked for): " + "; ".join(lost)
        if stopped:
            line += f" ({stopped})"
        if r.get("warnings"):  # the run worked, but not on what was asked for (exit 3)
            line = "; ".join(f"WARNING: {w}" for w in r["warnings"]) + "; " + line
    jr = r.get("journaled")
    if jr is not None and (jr["input_lost"] or jr["output_lost"] or jr["errors"]):
        # the journal is part of conservation: a run it did not fully record says so first
        ok = False
        line = (f"JOURNAL INCOMPLETE: {jr['path']!r} lost {jr['input_lost']:,} input record(s)"
                f" and {jr['output_lost']:,} output bundle(s)"
                + (f" ({'; '.join(jr['errors'])})" if jr["errors"] else
                   " (full journal rings in drop mode: --on-full block journals everything)")
                + "; " + line)
    r["ok"], r["verdict"] = ok, line


def _fmt_rate(v: float) -> str:
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"


def _fmt_ns(v: float) -> str:
    """A duration in ns with a readable unit: 850ns, 12.3us, 4.56ms, 1.23s."""
    if v < 1e3:
        return f"{v:.0f}ns"
    if v < 1e6:
        return f"{v / 1e3:.1f}us"
    if v < 1e9:
        return f"{v / 1e6:.2f}ms"
    return f"{v / 1e9:.2f}s"


def _progress_line(r: dict[str, Any], prev: dict[str, Any] | None, dt: float) -> str:
    c, pc = r["counters"], prev["counters"] if prev else None

    def rate(key: str) -> float:
        return (c[key] - (pc[key] if pc else 0)) / dt if dt > 0 else 0.0

    d = c["drops"]
    e2e = r["latency_ns"]["end_to_end"]
    unit = "events/s" if r.get("records") == "mbo" else "txn/s"
    return (f"{r['duration_s']:6.1f}s  {'read' if r.get('records') == 'mbo' else 'generated'}"
            f" {c['generated']:>11,} total"
            f" ({_fmt_rate(rate('generated'))} {unit} this second)"
            f"  book {c['applied'] + c['rejected']:>11,}"
            f" ({_fmt_rate(rate('applied') + rate('rejected'))} {unit})"
            f"  bundled {c['bundled']:>11,}  out {c['output_bundles']:>9,} bundles"
            f"  drops {d['ingress_to_book']}/{d['book_to_bundler']}/{d['bundler_to_output']}"
            f"  e2e p50 {_fmt_ns(e2e['p50'])} p99 {_fmt_ns(e2e['p99'])}")


def _cpu_name(cpu: int) -> str:
    return f"cpu{cpu}" if cpu >= 0 else "unpinned"


def _fmt_price(px: int) -> str:
    """A fixed-point price as a decimal (585.12, not 58512000000)."""
    whole, frac = divmod(abs(px), PRICE_SCALE)
    text = f"{whole}.{frac:08d}".rstrip("0").rstrip(".")
    return ("-" if px < 0 else "") + text


def _fmt_level(level: Any) -> str:
    return "none" if not level else f"{_fmt_price(level[0])} x {level[1]:,}"


def _missing_symbols_warning(missing: list[str], itch: dict[str, Any],
                             directory: dict[int, str]) -> str:
    """One line: the requested symbols an itch: file never named, with close names it has."""
    import difflib

    names = sorted(set(directory.values()))
    parts = []
    for s in missing:
        near = [n for n in names if n.upper() == s.upper()] or difflib.get_close_matches(s, names, 2)
        parts.append(f"{s} (did you mean {' or '.join(near)}?)" if near else s)
    n = itch["directory_entries"]
    return (f"symbol{'s' if len(missing) > 1 else ''} not in the file's stock directory "
            f"({n:,} entr{'y' if n == 1 else 'ies'}): {', '.join(parts)}; no events for "
            f"{'them' if len(missing) > 1 else 'it'}")


def format_summary(r: dict[str, Any]) -> str:
    """The human summary of a final report (what the CLI prints at the end): the first line
    is the verdict (OK, or what was lost or refused); then a market-by-order replay's own
    summary, or the transaction pipeline's."""
    if "verdict" not in r:
        _judge(r)
    if r.get("records") == "mbo":
        return _format_mbo_summary(r)
    c, d = r["counters"], r["counters"]["drops"]
    target = r["rate"]["target"]
    lines = [r["verdict"], "== velox pipeline summary =="]
    tgt = f"{target:,.0f} txn/s" if target else "max (unpaced)"
    pct = f" ({100 * r['rate']['achieved'] / target:.2f}% of target)" if target else ""
    if r.get("interrupted_by"):
        lines.append(f"interrupted by {r['interrupted_by']} after {r['duration_s']:.2f} s:"
                     " ingress stopped early, every ring drained (the counts below are complete)")
    lines.append(f"rate: target {tgt}, achieved {r['rate']['achieved']:,.0f} txn/s (mean over the run)"
                 f"{pct} over {r['duration_s']:.2f} s")
    lines.append(f"generated {c['generated']:,}  applied {c['applied']:,}"
                 f"  rejected {c['rejected']:,} (cancels whose order was no longer in the book)"
                 f"  traded {c['traded']:,}  cas timeouts {c['cas_timeouts']:,}")
    if r["rate"]["target"]:
        lines.append(f"late {c['late']:,}: transactions made >= {LATE_NS // 1000} us after their"
                     " scheduled Poisson time (ingress could not keep up, or was preempted)")
    timeout_us = r.get("bundle_timeout_us")
    lines.append(f"bundled {c['bundled']:,} txns into {c['bundles']:,} bundles"
                 f" ({c['bundles_timed_out']:,} closed by the {timeout_us:g} us timeout, the rest"
                 f" full at 16 or at shutdown); output {c['output_bundles']:,} bundles"
                 if timeout_us is not None else
                 f"bundled {c['bundled']:,} txns into {c['bundles']:,} bundles"
                 f" ({c['bundles_timed_out']:,} closed by timeout); output {c['output_bundles']:,} bundles")
    if c["bundles"] and c["bundles_timed_out"] * 2 >= c["bundles"] and timeout_us:
        lines.append(f"note: most bundles closed by the timeout, so end-to-end p50 is dominated by"
                     f" the wait in an open bundle (up to {timeout_us:g} us), not by the stages;"
                     " see bundle_to_output and book_to_bundler for the stages themselves")
    lines.append(_drops_line(r))
    lines.extend(_stage_lines(r))
    lines.append("latency                count        p50        p90        p99      p99.9        max")
    for name in REPORT_HISTOGRAMS + ("ingress_lateness",):
        lines.append(_latency_row(name, r["latency_ns"][name]))
    lines.extend(_run_lines(r))
    ok = r.get("conservation_ok")
    lines.append("conservation: " + ("OK (generated = applied + rejected + drops; applied = bundled + drops;"
                                     " bundle counts = bundled; bundles out = bundles - drops;"
                                     " bytes written = bundles out x 528)"
                                     if ok else "FAILED: " + "; ".join(r.get("conservation_failures") or ["not finished"])))
    return "\n".join(lines)


def _drops_line(r: dict[str, Any]) -> str:
    d = r["counters"]["drops"]
    what = "orders" if r.get("records") == "mbo" else "txns"
    return (f"drops: ingress->book {d['ingress_to_book']:,}, book->bundler {d['book_to_bundler']:,},"
            f" bundler->output {d['bundler_to_output']:,} bundles ({d['bundler_to_output_txns']:,} {what}),"
            f" output->python {d['output_to_python']:,}, output->shm {d['output_to_external']:,};"
            f" drop rate {100 * r['drop_rate']:.4f}%")


def _stage_lines(r: dict[str, Any]) -> list[str]:
    return [f"user stage {name}: {u['batches']:,} batches, {u['emitted']:,} orders"
            f" emitted into the bundler, {u['rejected']:,} invalid orders refused,"
            f" {u['bad_returns']:,} returns over capacity refused"
            + ("; init refused: the stage never ran" if u["init_failed"] else "")
            for name, u in zip(r.get("stages") or (), r["counters"]["user_stages"])]


def _latency_row(name: str, h: dict[str, float]) -> str:
    cells = " ".join(f"{_fmt_ns(h[k]):>10}" for k in ("p50", "p90", "p99", "p999", "max"))
    return f"  {name:<18} {h['count']:>9,} {cells}"


def _run_lines(r: dict[str, Any]) -> list[str]:
    c = r["counters"]
    lines = [f"working set: {r['memory_bytes'] / 1024:,.0f} KiB allocated at start"]
    itch = r.get("itch")
    if itch is not None:
        found = itch.get("found")
        where = ("" if found is None else "; " + ", ".join(
            [f"{s} at locate {'/'.join(map(str, locs))}" for s, locs in found.items()]
            + [f"{s} not found" for s in itch["missing"]])
            + f" ({itch['directory_entries']:,} stock{'' if itch['directory_entries'] == 1 else 's'}"
            " in the directory)")
        lines.append(f"itch: {itch['messages']:,} messages, {itch['events']:,} events for the"
                     f" symbols, {itch['filtered']:,} of other stocks filtered out,"
                     f" {itch['skipped']:,} of types without a book event skipped,"
                     f" {itch['unknown']:,} of unknown types{where}")
    dbn = r.get("dbn")
    if dbn is not None:
        lines.append(f"dbn: {dbn.get('records', 0):,} records ({dbn.get('dataset')}, "
                     f"DBN v{dbn.get('version')}), {dbn.get('events', 0):,} events, "
                     f"{dbn.get('none', 0):,} N (no event), {dbn.get('skipped', 0):,} records "
                     "of other rtypes skipped")
    jr = r.get("journaled")
    if jr is not None:
        lines.append(f"journaled to {jr['path']}: {jr['input_records']:,} input records"
                     f" (input/), {jr['output_records']:,} output bundles (output/);"
                     f" lost {jr['input_lost']:,} / {jr['output_lost']:,}")
    journal = r.get("journal")
    if journal is not None:
        lines.append(f"journal: {journal['records_read']:,} records read from "
                     f"{journal['path']} from sequence {journal['start']:,}"
                     f"{' (following)' if journal['follow'] else ''}, "
                     f"{journal['skipped']:,} corrupt records skipped")
    mapping = ", ".join(f"{s}->{_cpu_name(cpu)}" for s, cpu in r["mapping"].items())
    lines.append(f"mapping ({r['threads']} thread(s), wait={r['wait']}, on_full={r['on_full']}): {mapping}")
    if c["pin_failures"]:
        lines.append(f"warning: {c['pin_failures']} thread(s) could not be pinned")
    if c["write_errors"]:
        err = c["last_write_errno"]
        lines.append(f"error: {c['write_errors']} output write(s) failed"
                     f" (errno {err}: {os.strerror(err) if err else '?'}); {c['bytes_written']:,} of"
                     f" {c['output_bundles'] * BUNDLE_DTYPE.itemsize:,} bytes written")
    return lines


def _strategy_lines(r: dict[str, Any]) -> list[str]:
    s = r.get("strategy")
    if not s:
        return []
    v = s["venue_counters"]
    lines = [f"strategy {s['name'] or '(unnamed)'} via {s['venue']} (groups at each "
             f"{'F_LAST event' if s['edges'] == 'flag' else 'event'}): {s['groups']:,} groups,"
             f" {s['orders']:,} orders sent, {s['execs']:,} reports, {s['pnl_points']:,} P&L points",
             f"  venue: {v['submitted']:,} orders to the gateway ({v['refused_full']:,} refused:"
             f" ring full), {v['polled']:,} reports from it"]
    sim, bt = s.get("sim_venue"), s.get("backtest")
    if sim and bt:  # the simulated venue: the backtest's own account replaces the gateway's
        lines[1] = (f"  simulated venue: {sim['orders']:,} orders, {sim['fills']:,} fills "
                    f"({sim['maker_fills']:,} maker, {sim['taker_fills']:,} taker), "
                    f"{sim['traded_lots']:,} lots, {sim['canceled']:,} canceled, "
                    f"{sim['expired']:,} expired; backtest: {bt['events']:,} events "
                    f"({bt['book_rejects']:,} refused by the books), {bt['groups']:,} groups")
    hc = s.get("counters")
    if hc:
        refused = ", ".join(f"{k} {n:,}" for k, n in hc["refused_by_reason"].items())
        lines.append(f"  host: {hc['sent']:,} sent, {hc['refused']:,} refused"
                     + (f" ({refused})" if refused else "") + f", {hc['reports']:,} reports"
                     f" applied, {hc['bad_reports']:,} bad, {hc['log_lost']:,} log records lost")
        for inst, p in sorted((s.get("positions") or {}).items()):
            lines.append(f"  instrument {inst}: position {p['position']:,}, realized "
                         f"{_fmt_price(p['realized'])}, fees {_fmt_price(p['fees'])}, volume "
                         f"{p['volume']:,} in {p['fills']:,} fills")
    return lines


def _snapshot_lines(r: dict[str, Any]) -> list[str]:
    """What a snapshot and seed-from-book put into the books (market-by-order runs)."""
    lines: list[str] = []
    snap = r.get("snapshot")
    if snap:
        lines.append(f"snapshot ({snap['source']}): {snap.get('levels', 0):,} levels seeded,"
                     f" {snap.get('orders', 0):,} orders added before the replay"
                     + (f"; the replay starts at message {snap['first_message']:,}"
                        if snap["first_message"] else ""))
    ref = r.get("seed_from_book")
    if ref:
        lines.append(f"seed from book {ref['path']}: {ref['levels_seeded']:,} levels came into"
                     f" view with no ADD and were seeded; {ref['rows_differing']:,} of"
                     f" {ref['rows_checked']:,} rows differ from the book's top levels")
    return lines


def _format_mbo_summary(r: dict[str, Any]) -> str:
    """The summary of a market-by-order replay: events per action, unknown and out-of-window
    orders, rejects by reason, the book stage's time per batch, the final top of book."""
    c = r["counters"]
    m = r.get("mbo") or {"totals": {}, "books": []}
    t = m["totals"]
    lines = [r["verdict"], "== velox pipeline summary: market-by-order replay =="]
    if r.get("interrupted_by"):
        lines.append(f"interrupted by {r['interrupted_by']} after {r['duration_s']:.2f} s")
    speed = f", paced at {r['replay_speed']:g}x recorded time" if r.get("replay_speed") else ""
    lines.append(f"input {_short_input(r['input'])}: {c['generated']:,} events read in {r['duration_s']:.2f} s"
                 f" ({_fmt_rate(r['rate']['achieved'])} events/s mean{speed})"
                 + (f"; {r['left_unreplayed']:,} fed events left unreplayed by the stop"
                    if r.get("left_unreplayed") else ""))
    actions = ", ".join(f"{k} {v:,}" for k, v in (t.get("by_action") or {}).items() if v)
    lines.append(f"events applied {c['applied']:,}" + (f" ({actions})" if actions else ""))
    reasons = ", ".join(f"{k} {v:,}" for k, v in (t.get("rejected_by_reason") or {}).items() if v)
    lines.append(f"events rejected {c['rejected']:,}" + (f" ({reasons})" if reasons else "")
                 + " (refused by the book: the book is unchanged by them)")
    lines.append(f"unknown orders: {t.get('unknown_orders', 0):,} events named an order the book"
                 " did not hold (applied, no book effect)")
    lines.append(f"out-of-window orders at the end: {t.get('out_of_window_orders', 0):,} (kept in"
                 " the order table, priced outside the books' price windows)")
    lines.append(f"price windows: {c['recenters']:,} recenters on the market"
                 f" ({c['recenters_deferred']:,} put off while the live view read)"
                 if r.get("follow_market") else
                 "price windows: fixed where each book's first ADD or LEVEL placed them (--no-follow-market)")
    late = ""
    if r.get("replay_speed"):
        late = (f"; {c['late']:,} events released >= {LATE_NS // 1000} us after their recorded"
                " time")
    lines.append(f"executions: {c['traded']:,} EXECUTE events" + late)
    lines.extend(_snapshot_lines(r))
    books = m["books"]
    lines.append(f"top of book at the end ({len(books):,} book(s) took orders"
                 + (", first 16 shown" if len(books) > 16 else "") + "):")
    for b in books[:16]:
        name = f" {b['symbol']}" if b.get("symbol") else ""
        lines.append(f"  instrument {b['instrument']}{name}: bid {_fmt_level(b['best_bid'])}"
                     f" | ask {_fmt_level(b['best_ask'])}")
    lines.extend(_stage_lines(r))
    lines.extend(_strategy_lines(r))
    if c["bundled"] or c["user_stage"]["emitted"]:
        lines.append(f"bundled {c['bundled']:,} stage orders into {c['bundles']:,} bundles;"
                     f" output {c['output_bundles']:,} bundles")
    lines.append(_drops_line(r))
    lines.append("latency                count        p50        p90        p99      p99.9        max")
    lines.append(_latency_row("book_batch", r["latency_ns"]["book_batch"])
                 + "  (the book stage's time per batch of events)")
    if r.get("replay_speed"):
        lines.append(_latency_row("ingress_lateness", r["latency_ns"]["ingress_lateness"]))
    lines.extend(_run_lines(r))
    ok = r.get("conservation_ok")
    lines.append("conservation: " + ("OK (events read = applied + rejected + drops; fed ="
                                     " read + left unreplayed; stage orders = bundled + drops)"
                                     if ok else "FAILED: " + "; ".join(r.get("conservation_failures") or ["not finished"])))
    return "\n".join(lines)
