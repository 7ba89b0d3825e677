"""Pipeline(journal="DIR") / --journal DIR: the pipeline journals its input and its output.

- DIR/input holds every record the book stage took, in its order (TXN_DTYPE or MBO_DTYPE),
  DIR/output every bundle emitted (BUNDLE_DTYPE) -- byte for byte what output=FILE wrote.
- Replaying DIR/input (input="journal:DIR/input") with timestamps="logical" and no bundle
  timeout gives byte-identical output, for a synthetic live-paced source and for a LOBSTER
  file through a user stage.
- Conservation: the report counts the journaled records; a journal that lost records (a full
  tap or python ring in drop mode) or failed to append says so in the verdict's first line
  and fails the run (CLI exit 1).
- The native input tap: block mode holds the book back while the tap is full, drop mode
  counts what did not fit; applied + rejected = tapped + drops.
- A bad DIR (a file, a non-empty directory, a missing parent, not writable) is refused
  before the run: ValueError naming it, CLI exit 2 with one line.
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from child_env import IMPORT_ROOT, child_env
import velox
from velox import BUNDLE_DTYPE, MBO_DTYPE, TXN_DTYPE, Journal, Pipeline, SpscRing
from velox._pipeline import BuiltinStage, NativePipeline
from velox.feedgen import lobster_events
from velox.feeds import write_lobster
from velox.pipeline import format_summary
from velox.pipeline import _journal as pj
from velox.pipeline._cli import main as cli_main


def read_journal(path):
    """Every record of a journal as its bytes (and the reader's dtype)."""
    with Journal.reader(path) as r:
        parts = []
        for _ in range(10_000):  # bounded
            chunk = r.read(1 << 16)
            if not len(chunk):
                break
            parts.append(chunk.tobytes())
        assert r.skipped == 0
        return r.dtype, b"".join(parts)


DETERMINISTIC = dict(timestamps="logical", bundle_timeout_us=0, on_full="block", seed=5)


def run_to_end(pipe, timeout=60):
    with pipe:
        assert pipe.wait(timeout), "the run did not finish"
    return pipe.stop()


def test_synthetic_run_journals_and_replays_byte_identical(tmp_path):
    jdir, out1, out2 = tmp_path / "j1", tmp_path / "out1.bin", tmp_path / "out2.bin"
    # live-ish: a paced synthetic source (timestamps logical: the records carry their seq)
    r1 = run_to_end(Pipeline(rate=200_000, max_txns=20_000, output=str(out1), journal=jdir,
                             **DETERMINISTIC))
    assert r1["ok"], r1["verdict"]
    c = r1["counters"]
    j = r1["journaled"]
    assert c["generated"] == 20_000
    assert j["input_records"] == c["applied"] + c["rejected"] == c["tapped"] == 20_000
    assert j["output_records"] == c["output_bundles"] > 0
    assert j["input_lost"] == j["output_lost"] == 0 and not j["errors"]
    dtype, inp = read_journal(jdir / "input")
    assert dtype == TXN_DTYPE and len(inp) == 20_000 * TXN_DTYPE.itemsize
    seqs = np.frombuffer(inp, TXN_DTYPE)["tsc"]
    assert (seqs == np.arange(20_000)).all()  # every record, in the order the book took them
    dtype, outp = read_journal(jdir / "output")
    assert dtype == BUNDLE_DTYPE and outp == out1.read_bytes()
    assert f"journaled to {jdir}: 20,000 input records" in format_summary(r1)
    # the replay of the journaled input
    r2 = run_to_end(Pipeline(input=f"journal:{jdir}/input", output=str(out2),
                             journal=tmp_path / "j2", **DETERMINISTIC))
    assert r2["ok"], r2["verdict"]
    assert out2.read_bytes() == out1.read_bytes()
    assert r2["book_digest"] == r1["book_digest"]
    assert read_journal(tmp_path / "j2" / "input")[1] == inp


def test_mbo_run_with_a_stage_journals_and_replays_byte_identical(tmp_path):
    events = lobster_events(20_000, seed=3)
    msg = tmp_path / "day_message.csv"
    write_lobster(str(msg), events)
    jdir = tmp_path / "j"
    r1 = run_to_end(Pipeline(input=f"lobster:{msg}", output=str(tmp_path / "a.bin"),
                             journal=jdir, stage=BuiltinStage("echo"), **DETERMINISTIC))
    assert r1["ok"], r1["verdict"]
    dtype, inp = read_journal(jdir / "input")
    assert dtype == MBO_DTYPE and inp == events.tobytes()  # the file's events, in its order
    assert r1["journaled"]["output_records"] == r1["counters"]["output_bundles"] > 0
    assert read_journal(jdir / "output")[1] == (tmp_path / "a.bin").read_bytes()
    # a new stage object: a stage's state (echo's order ids) lives in it
    r2 = run_to_end(Pipeline(input=f"journal:{jdir}/input", output=str(tmp_path / "b.bin"),
                             stage=BuiltinStage("echo"), **DETERMINISTIC))
    assert r2["ok"], r2["verdict"]
    assert (tmp_path / "b.bin").read_bytes() == (tmp_path / "a.bin").read_bytes()
    assert r2["book_digest"] == r1["book_digest"]


def test_journal_with_a_callback_gives_it_every_bundle(tmp_path):
    got = []
    r = run_to_end(Pipeline(rate="max", max_txns=5000, journal=tmp_path / "j",
                            callback=lambda b: got.append(b.tobytes()), **DETERMINISTIC))
    assert r["ok"], r["verdict"]
    assert b"".join(got) == read_journal(tmp_path / "j" / "output")[1]
    assert len(got) and r["journaled"]["output_records"] == r["counters"]["python_bundles"]


class _FailingJournal:
    """Stands in for velox.Journal: appends fail after `good` records (a full disk)."""

    def __init__(self, good):
        self.next_seq, self.good, self.closed = 0, good, False

    def append_many(self, arr):
        take = min(len(arr), max(self.good - self.next_seq, 0))
        self.next_seq += take
        if take < len(arr):
            raise OSError(28, "No space left on device")
        return take

    def close(self):
        self.closed = True


def test_a_failed_journal_append_fails_the_run_in_its_first_line(tmp_path):
    pipe = Pipeline(rate="max", max_txns=3000, journal=tmp_path / "j", **DETERMINISTIC)
    pipe.journal.input = _FailingJournal(good=1000)
    r = run_to_end(pipe)
    assert not r["ok"]
    assert r["verdict"].startswith("JOURNAL INCOMPLETE:"), r["verdict"]
    assert "No space left on device" in r["verdict"]
    j = r["journaled"]
    assert j["input_records"] == 1000 and j["input_lost"] == 2000
    assert r["conservation_ok"]  # every record is counted: journaled or lost
    assert format_summary(r).splitlines()[0] == r["verdict"]


def test_cli_exit_status_1_when_the_journal_failed(tmp_path, monkeypatch, capsys):
    real = pj.PipelineJournal.create

    def create(self):
        real(self)
        self.output = _FailingJournal(good=0)
    monkeypatch.setattr(pj.PipelineJournal, "create", create)
    rc = cli_main(["--rate", "max", "--count", "2000", "--on-full", "block", "--quiet",
                   "--journal", str(tmp_path / "j")])
    first = capsys.readouterr().out.splitlines()[0]
    assert rc == 1 and first.startswith("JOURNAL INCOMPLETE:"), first


def test_drop_mode_journal_losses_are_counted_and_fail_the_run(tmp_path, monkeypatch):
    # a 2-record tap that the journal thread cannot keep up with: the book drops tap copies
    monkeypatch.setattr(pj, "INPUT_TAP_CAPACITY", 2)
    slow = pj.PipelineJournal.drain

    def drain(self, native, callback):
        time.sleep(0.002)
        return slow(self, native, callback)
    monkeypatch.setattr(pj.PipelineJournal, "drain", drain)
    r = run_to_end(Pipeline(rate="max", max_txns=50_000, on_full="drop", journal=tmp_path / "j",
                            timestamps="logical", bundle_timeout_us=0))
    c, j = r["counters"], r["journaled"]
    assert c["drops"]["book_to_tap"] > 0
    assert j["input_lost"] == c["drops"]["book_to_tap"] + 0
    assert j["input_records"] + c["drops"]["book_to_tap"] == c["applied"] + c["rejected"]
    assert r["conservation_ok"] and not r["ok"]
    assert r["verdict"].startswith("JOURNAL INCOMPLETE:"), r["verdict"]


def test_cli_journal_and_replay(tmp_path):
    """--journal DIR from the command line and TOML, then --input journal:DIR/input."""
    env, py = child_env(), sys.executable
    args = ["--rate", "max", "--count", "4000", "--on-full", "block", "--timestamps", "logical",
            "--bundle-timeout-us", "0", "--quiet"]
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'journal = "{tmp_path / "j"}"\noutput = "{tmp_path / "a.bin"}"\n')
    p = subprocess.run([py, "-m", "velox.pipeline", "--config", str(cfg), *args], cwd=IMPORT_ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("OK:") and "journaled to" in p.stdout
    p = subprocess.run([py, "-m", "velox.pipeline", "--input", f"journal:{tmp_path / 'j'}/input",
                        "--output", str(tmp_path / "b.bin"), "--journal", str(tmp_path / "j2"),
                        *args], cwd=IMPORT_ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    assert read_journal(tmp_path / "j2" / "output")[1] == (tmp_path / "a.bin").read_bytes()


def _bad_dirs(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    full = tmp_path / "full"
    full.mkdir()
    (full / "something").write_text("x")
    return [(str(a_file), "is not a directory"), (str(full), "is not empty"),
            (str(tmp_path / "no" / "such" / "dir"), "does not exist"),
            (str(a_file / "sub"), "does not exist")]


def test_bad_journal_dir_is_refused_before_the_run(tmp_path):
    for path, why in _bad_dirs(tmp_path):
        with pytest.raises(ValueError, match=why) as e:
            Pipeline(rate="max", max_txns=10, journal=path)
        assert repr(path) in str(e.value) or path in str(e.value)
    with pytest.raises(TypeError, match="journal must be a directory path"):
        Pipeline(journal=7)
    with pytest.raises(ValueError, match="callback_thread=True"):
        Pipeline(journal=tmp_path / "new", callback=print, callback_thread=False)
    assert not (tmp_path / "new").exists()


def test_unwritable_journal_dir_is_refused(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.geteuid() == 0:  # root may write anywhere: access() answers as for another user
        import velox.pipeline._journal as jmod
        real = os.access
        monkeypatch.setattr(jmod.os, "access", lambda path, mode, **kw:
                            False if os.fspath(path) == os.fspath(ro) else real(path, mode, **kw))
    try:
        with pytest.raises(ValueError, match="not writable"):
            Pipeline(journal=ro)
        with pytest.raises(ValueError, match="not writable"):
            Pipeline(journal=ro / "sub")
    finally:
        ro.chmod(0o700)


def test_cli_bad_journal_dir_exits_2_with_one_line(tmp_path):
    for path, why in _bad_dirs(tmp_path):
        p = subprocess.run([sys.executable, "-m", "velox.pipeline", "--journal", path,
                            "--count", "10"], cwd=IMPORT_ROOT, env=child_env(),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (path, p.stdout, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and why in p.stderr, p.stderr
    cfg = tmp_path / "bad.toml"
    cfg.write_text("journal = 7\n")
    p = subprocess.run([sys.executable, "-m", "velox.pipeline", "--config", str(cfg)],
                       cwd=IMPORT_ROOT, env=child_env(), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "journal must be a string" in p.stderr, p.stderr


# -- the native input tap (NativePipeline(input_tap=...)) ---------------------------------------

def _native(tap, on_full, n):
    return NativePipeline(ticks_per_ns=1.0, rate_per_s=0, max_txns=n, on_full=on_full,
                          logical_timestamps=True, bundle_timeout_ns=0, input_tap=tap,
                          python_ring_capacity=0, stage_thread=(0, 0, 0, 0), thread_cpu=(-1,))


def _wait(cond, timeout=30.0):
    deadline = time.monotonic() + timeout  # hang guard only
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_block_mode_tap_holds_the_book_back_until_drained():
    tap = SpscRing(8, TXN_DTYPE)
    nat = _native(tap, "block", 1000)
    nat.start()
    _wait(lambda: len(tap) == 8)
    time.sleep(0.05)  # the book had time to take more if it ignored the full tap
    c = nat.counters()
    assert c["applied"] + c["rejected"] == c["tapped"] == 8
    got = []
    _wait(lambda: got.append(tap.pop_many(64)) or nat.finished)
    got.append(tap.pop_many(64))
    nat.join()
    c = nat.counters()
    seqs = np.concatenate([g["tsc"] for g in got])
    assert (seqs == np.arange(1000)).all()
    assert c["tapped"] == 1000 and c["drops"]["book_to_tap"] == 0
    assert nat.conservation_failures() == []


def test_drop_mode_tap_counts_what_did_not_fit():
    tap = SpscRing(8, TXN_DTYPE)
    nat = _native(tap, "drop", 1000)
    nat.start()
    _wait(lambda: nat.finished)
    nat.join()
    c = nat.counters()
    assert c["tapped"] == 8 and c["drops"]["book_to_tap"] == 1000 - 8
    assert c["applied"] + c["rejected"] == 1000
    assert nat.conservation_failures() == []
    assert (tap.pop_many(64)["tsc"] == np.arange(8)).all()


def test_input_tap_must_hold_the_source_records():
    with pytest.raises(ValueError, match="input_tap must hold TXN_DTYPE"):
        _native(SpscRing(8, MBO_DTYPE), "block", 10)
    with pytest.raises(TypeError, match="input_tap must be a velox.SpscRing"):
        _native(object(), "block", 10)


# -- the journal thread's appends straight from the rings (journal_tap / journal_output) -------

def _drain_into(nat, step):
    """Calls step() (one journal_tap / journal_output) until the pipeline has finished and a
    last call finds nothing; returns how many records the calls reported."""
    total = 0
    deadline = time.monotonic() + 60  # hang guard only
    while True:
        finished = nat.finished  # read before the call: a finished pipeline pushes no more
        n = step()
        total += n
        if finished and not n:
            return total
        assert time.monotonic() < deadline, "timed out"


def test_journal_tap_appends_the_tap_in_order_across_its_wrap(tmp_path):
    # an 8-slot tap read 5 at a time: most peeks hand out two runs (the wrap)
    tap = SpscRing(8, TXN_DTYPE)
    nat = _native(tap, "block", 1000)
    j = Journal.create(tmp_path / "in", TXN_DTYPE)
    nat.start()
    got = _drain_into(nat, lambda: nat.journal_tap(j, 5))
    nat.join()
    c = nat.counters()
    assert got == j.next_seq == c["tapped"] == 1000 and len(tap) == 0
    assert nat.conservation_failures() == []
    j.close()
    dtype, data = read_journal(tmp_path / "in")
    assert (np.frombuffer(data, TXN_DTYPE)["tsc"] == np.arange(1000)).all()


def test_journal_output_appends_every_bundle_the_output_stage_wrote(tmp_path):
    out = tmp_path / "out.bin"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        nat = NativePipeline(ticks_per_ns=1.0, rate_per_s=0, max_txns=3000, on_full="block",
                             logical_timestamps=True, bundle_timeout_ns=0, output_fd=fd,
                             python_ring_capacity=8, stage_thread=(0, 0, 0, 0),
                             thread_cpu=(-1,))
        j = Journal.create(tmp_path / "out", BUNDLE_DTYPE)
        nat.start()
        got = _drain_into(nat, lambda: nat.journal_output(j, 5))
        nat.join()
    finally:
        os.close(fd)
    c = nat.counters()
    assert got == j.next_seq == c["python_bundles"] == c["output_bundles"] > 8
    assert nat.conservation_failures() == []
    j.close()
    assert read_journal(tmp_path / "out")[1] == out.read_bytes()


def test_journal_tap_and_output_refuse_a_wrong_or_closed_journal(tmp_path):
    tap = SpscRing(8, TXN_DTYPE)
    nat = _native(tap, "block", 10)
    bundles = Journal.create(tmp_path / "b", BUNDLE_DTYPE)
    with pytest.raises(TypeError, match="journal's dtype .* is not the tap's"):
        nat.journal_tap(bundles)
    with pytest.raises(RuntimeError, match="no python ring"):
        nat.journal_output(bundles)
    txns = Journal.create(tmp_path / "t", TXN_DTYPE)
    txns.close()
    with pytest.raises(ValueError, match="journal_tap: the journal is closed"):
        nat.journal_tap(txns)
    with pytest.raises(ValueError, match="max_records"):
        nat.journal_tap(Journal.create(tmp_path / "t2", TXN_DTYPE), 0)
    nat2 = NativePipeline(ticks_per_ns=1.0, rate_per_s=0, max_txns=10, python_ring_capacity=8,
                          stage_thread=(0, 0, 0, 0), thread_cpu=(-1,))
    with pytest.raises(RuntimeError, match="no input tap"):
        nat2.journal_tap(txns)
    with pytest.raises(TypeError, match="is not BUNDLE_DTYPE"):
        nat2.journal_output(Journal.create(tmp_path / "t3", TXN_DTYPE))
    bundles.close()
    with pytest.raises(ValueError, match="journal_output: the journal is closed"):
        nat2.journal_output(bundles)
