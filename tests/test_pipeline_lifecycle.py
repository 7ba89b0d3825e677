"""The pipeline's run lifecycle: stopping a run whose input is a silent FIFO, feed() after
close_feed(), finite sources that never drop, the verdict line and exit status, a stopped
paced replay, bad input refused before the run (and late input errors raised), and the
market-by-order summary.

Hang guards only (bounded joins and subprocess timeouts); nothing here asserts a duration."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from child_env import IMPORT_ROOT, child_env
import velox
from velox import MBO_DTYPE, TXN_DTYPE, Pipeline
from velox._pipeline import BuiltinStage
from velox.feedgen import lobster_events
from velox.feeds import write_lobster
from velox.pipeline import InputError, _judge, format_summary

PX = 100 * 10**8


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "velox.pipeline", *args], cwd=IMPORT_ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=timeout)


def verdict_of(out):
    """The summary's first line in a CLI run's stdout (after any per-second lines)."""
    lines = out.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("== velox pipeline summary")]
    assert heads, out
    return lines[heads[0] - 1]


def adds(n, first_id=1):
    """n ADDs on both sides of a 1.00-wide spread (never crossing)."""
    ev = np.zeros(n, MBO_DTYPE)
    ev["action"] = int(velox.Action.ADD)
    ev["qty"] = 1
    ev["order_id"] = np.arange(first_id, first_id + n)
    ev["side"] = np.arange(n) % 2
    ev["price"] = PX + (np.arange(n) % 2) * 10**8
    return ev


def stop_bounded(p, bound=60.0):
    """p.stop() on a helper thread, joined with a bound: returns (returned, report)."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", p.stop()), daemon=True)
    t.start()
    t.join(bound)
    return not t.is_alive(), out.get("r")


def release_fifo(path):
    """Unblocks a reader stuck in open() of the FIFO (a mutant's), so the test can end."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


# -- 1. a FIFO input is stoppable, and what its writer sent reaches the book at once -------

def test_fifo_input_events_reach_the_book_and_stop_returns(tmp_path):
    fifo = str(tmp_path / "live.mbo")
    os.mkfifo(fifo)
    p = Pipeline(input=f"mbo:{fifo}", cores=[velox.pipeline.available_cpus()[0]]).start()
    wfd = os.open(fifo, os.O_WRONLY)  # the reader opened it: a writer can connect
    try:
        os.write(wfd, adds(100).tobytes())  # then the "live capture" goes quiet
        for _ in range(2000):  # hang guard: <= 20 s
            if p.counters()["applied"] == 100:
                break
            time.sleep(0.01)
        assert p.counters()["applied"] == 100  # without waiting for a 1 MiB chunk or EOF
        returned, r = stop_bounded(p)
        assert returned, "stop() did not return while the FIFO's writer was silent"
    finally:
        os.close(wfd)
    assert r["conservation_ok"] and r["ok"] and r["counters"]["generated"] == 100


def test_fifo_with_no_writer_does_not_block_the_stop(tmp_path):
    fifo = str(tmp_path / "never.mbo")
    os.mkfifo(fifo)
    p = Pipeline(input=f"mbo:{fifo}").start()
    time.sleep(0.2)  # the reader is in its open()/poll loop by now
    try:
        returned, r = stop_bounded(p)
        assert returned, "stop() did not return while the FIFO had no writer"
    finally:
        release_fifo(fifo)
    assert r["conservation_ok"] and r["counters"]["generated"] == 0
    assert not r["input_abandoned"]  # the reader saw the stop flag: it was not left behind


def test_cli_duration_stops_a_run_on_a_silent_fifo(tmp_path):
    fifo = str(tmp_path / "never.mbo")
    os.mkfifo(fifo)
    try:
        r = cli("--input", f"mbo:{fifo}", "--duration", "1", "--quiet", timeout=60)
    finally:
        release_fifo(fifo)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0].startswith("OK")


def test_cli_lobster_fifo_reader_is_abandoned_and_a_second_signal_exits(tmp_path):
    """lobster: parses in the reader thread, which sits in open() of a FIFO with no writer:
    the first SIGINT stops the run and reports the input abandoned (exit 0); a second
    signal during the stop exits at once (128 + SIGINT)."""
    fifo = str(tmp_path / "never.csv")
    os.mkfifo(fifo)
    seen = set()
    try:
        for attempt in range(3):  # a signal can land late on a loaded machine: repeat
            for twice in (False, True):
                proc = subprocess.Popen(
                    [sys.executable, "-m", "velox.pipeline", "--input", f"lobster:{fifo}",
                     "--duration", "60"], cwd=IMPORT_ROOT, env=child_env(),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    assert "velox pipeline" in proc.stdout.readline()  # handlers installed
                    time.sleep(0.3)
                    proc.send_signal(signal.SIGINT)
                    if twice:
                        time.sleep(0.3)  # stop() is waiting (bounded) for the blocked reader
                        proc.send_signal(signal.SIGINT)
                    out, err = proc.communicate(timeout=60)
                finally:
                    proc.kill()
                    proc.wait()
                if not twice:
                    assert proc.returncode == 0, out + err
                    assert "abandoned" in verdict_of(out), out
                    seen.add("once")
                elif proc.returncode == 128 + signal.SIGINT:
                    assert "INTERRUPTED TWICE" in out, out
                    seen.add("twice")
            if seen == {"once", "twice"}:
                break
    finally:
        release_fifo(fifo)
    assert seen == {"once", "twice"}


# -- 2. feed() after close_feed() or after the run finished -------------------------------

def test_feed_after_close_feed_raises():
    held = np.zeros(2, TXN_DTYPE)
    held["qty"], held["price"], held["kind"] = 1, PX, 0
    held["tsc"] = [0, 3600 * 10**9]  # the second is due an hour later: the run cannot finish
    p = Pipeline(rate="max", input="feed", cores=[velox.pipeline.available_cpus()[0]],
                 replay_speed=1.0).start()
    try:
        assert p.feed(held) == 2
        p.close_feed()
        assert not p.finished
        with pytest.raises(RuntimeError, match="close_feed"):
            p.feed(held)
    finally:
        r = p.stop()
    assert r["conservation_ok"] and r["fed"] == 2 == r["counters"]["generated"] + r["left_unreplayed"]
    assert r["left_unreplayed"] >= 1  # the held record was not pushed through unpaced
    with pytest.raises(RuntimeError):
        p.feed(held)  # and after the stop


def test_feed_after_the_run_finished_raises():
    ev = np.zeros(10, TXN_DTYPE)
    ev["qty"], ev["price"] = 1, PX
    p = Pipeline(rate="max", input="feed").start()
    p.feed(ev)
    p.close_feed()
    assert p.wait(timeout=60)
    with pytest.raises(RuntimeError):
        p.feed(ev)
    assert p.stop()["conservation_ok"]


# -- 3. finite sources never drop; the verdict line and the exit status ---------------------

def test_a_file_input_never_drops_whatever_the_topology_or_on_full(tmp_path):
    path = tmp_path / "day.mbo"
    adds(300_000).tofile(path)
    with Pipeline(input=f"mbo:{path}", on_full="drop", max_orders=1 << 19,
                  topology="ingress@*,book@*,bundler@*,output@*") as p:
        assert p.wait(timeout=120)
    r = p.stop()
    assert r["on_full"] == "block" and not r["drops_allowed"]
    assert r["counters"]["drops"]["ingress_to_book"] == 0 and r["dropped_market_events"] == 0
    assert r["counters"]["applied"] == 300_000 and r["ok"], r["verdict"]


def test_drops_fail_the_run_unless_asked_for_explicitly():
    def run(**kw):
        p = Pipeline(rate="max", max_txns=50_000, callback=lambda b: None,
                     callback_thread=False, python_ring_capacity=2, **kw).start()
        p._wait_finished(60, 0.05)  # never polls: the python ring of 2 bundles overflows
        return p.stop()
    r = run()  # on_full left at its default ("drop" on a live source)
    assert r["counters"]["drops"]["output_to_python"] > 0
    assert not r["ok"] and "dropped" in r["verdict"] and "bundles" in r["verdict"]
    assert format_summary(r).splitlines()[0] == r["verdict"]
    r = run(on_full="drop")  # asked for: the drops are reported, the run is ok
    assert r["counters"]["drops"]["output_to_python"] > 0 and r["drops_allowed"]
    assert r["ok"] and r["verdict"].startswith("OK with drops")


def test_verdict_names_dropped_market_events_first():
    r = {"counters": {"generated": 100_000, "drops": {
            "ingress_to_book": 1_234, "book_to_bundler": 0, "bundler_to_output": 0,
            "bundler_to_output_txns": 0, "output_to_python": 0, "output_to_external": 0}},
         "records": "mbo", "dropped_market_events": 1_234, "dropped_orders": 0,
         "dropped_output_bundles": 0, "drops_allowed": False, "conservation_ok": True,
         "duration_s": 1.0}
    _judge(r)
    assert not r["ok"]
    assert r["verdict"].startswith("DROPPED 1,234 market events (1.2 %): ingress->book 1,234")
    r["drops_allowed"] = True
    _judge(r)
    assert r["ok"] and "1,234 market events" in r["verdict"]


def test_cli_exit_status_follows_drops_at_a_shared_ring_nobody_reads(tmp_path):
    name = f"vx-lc-{os.getpid()}"
    base = ["--rate", "max", "--count", "20000", "--output", f"shm:{name}:2", "--quiet",
            "--json", str(tmp_path / "r.json")]
    r = cli(*base)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert r.returncode == 1 and rep["counters"]["drops"]["output_to_external"] > 0
    assert r.stdout.splitlines()[0] == rep["verdict"] and not rep["ok"]
    r = cli(*base, "--on-full", "drop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK with drops")


# -- 5. bad input before the run; errors later in the file during it ----------------------

def test_lobster_header_line_is_refused_before_the_run(tmp_path):
    path = tmp_path / "msg.csv"
    write_lobster(path, lobster_events(100, seed=1))
    path.write_text("Time,Type,OrderID,Size,Price,Direction\n" + path.read_text())
    r = cli("--input", f"lobster:{path}")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "line 1" in lines[0]
    assert "expected a digit" in lines[0] and "header" in lines[0]
    with pytest.raises(ValueError, match="line 1"):
        Pipeline(input=f"lobster:{path}")


def test_itch_input_that_is_not_itch_is_refused_before_the_run(tmp_path):
    path = tmp_path / "day.itch"
    path.write_text("34200.1,1,1,100,5851200,1\n" * 10)
    r = cli("--input", f"itch:{path}?symbols=AAPL")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "ITCH 5.0" in r.stderr and str(path) in r.stderr


def test_a_bad_line_deep_in_the_file_fails_the_run(tmp_path):
    path = tmp_path / "msg.csv"
    write_lobster(path, lobster_events(20_000, seed=2))
    lines = path.read_text().splitlines()
    lines[10_000] = lines[10_000].replace(",", ";", 1)
    path.write_text("\n".join(lines) + "\n")
    p = Pipeline(input=f"lobster:{path}").start()  # the first chunk is fine
    with pytest.raises(InputError, match="line 10001"):
        p.wait(timeout=120)
    with pytest.raises(InputError) as e:
        p.stop()
    assert e.value.report is not None and not e.value.report["ok"]
    assert e.value.report["verdict"].startswith("INPUT FAILED")
    r = cli("--input", f"lobster:{path}", "--quiet")
    assert r.returncode == 1
    assert r.stdout.splitlines()[0].startswith("INPUT FAILED") and "line 10001" in r.stdout


# -- 6. the market-by-order summary ------------------------------------------------------

class NamedStage:
    """A user stage that says what it is called (its repr has an address)."""
    name = "my-imbalance"

    def __init__(self):
        self.inner = BuiltinStage("imbalance")

    def __velox_stage__(self):
        return self.inner.__velox_stage__()


def test_mbo_run_reports_its_own_summary(tmp_path):
    ev = adds(1000)
    more = np.zeros(3, MBO_DTYPE)
    more["action"] = [int(velox.Action.DELETE), int(velox.Action.ADD), int(velox.Action.CANCEL)]
    more["order_id"] = [10**9, 1, 2]  # an unknown order, a duplicate ADD, a partial cancel
    more["qty"], more["side"], more["price"] = 1, [0, 0, 1], [PX, PX, PX + 10**8]
    ev = np.concatenate([ev, more])
    path = tmp_path / "ev.mbo"
    out = np.zeros(len(ev), MBO_DTYPE)
    out[:] = ev
    out.tofile(path)
    with Pipeline(input=f"mbo:{path}", stage=NamedStage()) as p:
        assert p.wait(timeout=120)
    r = p.stop()
    assert r["ok"] and r["stages"] == ["my-imbalance"]
    t = r["mbo"]["totals"]
    assert t["by_action"]["add"] == 1000 and t["by_action"]["delete"] == 1
    assert t["rejected_by_reason"]["duplicate"] == 1 and t["unknown_orders"] == 1
    book = r["mbo"]["books"][0]
    assert book["best_bid"] == (PX, 500) and book["best_ask"] == (PX + 10**8, 499)
    assert r["latency_ns"]["book_batch"]["count"] > 0
    text = format_summary(r)
    assert text.splitlines()[0] == r["verdict"]
    for word in ("txn/s", "Poisson", "cancels whose order"):
        assert word not in text
    assert "add 1,000" in text and "duplicate 1" in text and "bid 100 x 500 | ask 101 x 499" in text
    assert "user stage my-imbalance" in text and "book_batch" in text


def test_cli_sigint_during_a_paced_replay_counts_what_was_left(tmp_path):
    """--speed 1 with a record stamped an hour later: SIGINT stops feeding at once; the held
    records are counted as left unreplayed (not pushed through the book), exit 0."""
    flow = np.zeros(50, TXN_DTYPE)
    flow["qty"], flow["price"], flow["seq"] = 1, PX, np.arange(50)
    flow["tsc"][-5:] = 3600 * 10**9
    src, js = tmp_path / "flow.bin", tmp_path / "r.json"
    flow.tofile(src)
    for attempt in range(3):  # a signal can land late on a loaded machine: repeat
        proc = subprocess.Popen([sys.executable, "-m", "velox.pipeline", "--input",
                                 f"events:{src}", "--speed", "1", "--json", str(js)],
                                cwd=IMPORT_ROOT, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert "velox pipeline" in proc.stdout.readline()
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, out + err
    rep = json.loads(js.read_text())
    assert rep["interrupted_by"] == "SIGINT" and rep["conservation_ok"]
    assert rep["counters"]["generated"] == 45 and rep["left_unreplayed"] == 5
    assert "5 fed records left unreplayed" in verdict_of(out)


def test_first_records_check_reads_gzip_across_members(tmp_path):
    """bgzip/pigz members may end inside a line: the check before the run must not take the
    end of the first member for the end of the file."""
    import gzip

    from velox.pipeline import _check_first_records
    path = tmp_path / "msg.csv"
    write_lobster(path, lobster_events(200, seed=3))
    text = path.read_bytes()
    cut = text.index(b"\n", len(text) // 2) - 3  # inside a line
    gz = tmp_path / "msg.csv.gz"
    gz.write_bytes(gzip.compress(text[:cut]) + gzip.compress(text[cut:]))
    _check_first_records("lobster", str(gz))  # no ValueError
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"Time,Type\n" + text))
    with pytest.raises(ValueError, match="line 1"):
        _check_first_records("lobster", str(bad))
