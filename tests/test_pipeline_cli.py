"""python -m velox.pipeline: a short run with --json, SIGINT mid-run exits 0 with a complete
summary, bad options exit 2 with one line naming the option, --config TOML, --output."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from child_env import IMPORT_ROOT
from velox import BUNDLE_DTYPE
from velox.pipeline import available_cpus, parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "velox.pipeline", *args], cwd=IMPORT_ROOT,
                          capture_output=True, text=True, timeout=60, **kw)


def test_short_run_writes_json_and_output(tmp_path):
    out, js = tmp_path / "b.bin", tmp_path / "r.json"
    r = run("--rate", "20000", "--duration", "0.3", "--cores", str(available_cpus()[0]),
            "--output", str(out), "--json", str(js), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "conservation: OK" in r.stdout
    rep = json.loads(js.read_text())
    for key in ("generated", "applied", "rejected", "bundled", "bundles", "output_bundles", "drops"):
        assert key in rep["counters"]
    for name in ("ingress_to_book", "book_to_bundler", "bundle_to_output", "end_to_end"):
        assert {"p50", "p99", "p999", "max"} <= set(rep["latency_ns"][name])
    assert rep["rate"]["target"] == 20000 and rep["rate"]["achieved"] > 0
    assert rep["duration_s"] > 0 and rep["conservation_ok"] is True
    assert set(rep["mapping"].values()) == {available_cpus()[0]}
    bundles = np.fromfile(out, BUNDLE_DTYPE)
    assert len(bundles) == rep["counters"]["output_bundles"] > 0
    assert int(bundles["count"].sum()) == rep["counters"]["bundled"]


def test_sigint_mid_run_exits_0_with_a_complete_summary(tmp_path):
    js = tmp_path / "r.json"
    p = subprocess.Popen([sys.executable, "-m", "velox.pipeline", "--rate", "50000",
                          "--duration", "30", "--json", str(js)], cwd=IMPORT_ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()  # the banner: the pipeline is about to start
        assert "velox pipeline" in first
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert "velox pipeline summary" in out and "conservation: OK" in out
    assert "end_to_end" in out and "mapping" in out
    rep = json.loads(js.read_text())
    assert rep["interrupted_by"] == "SIGINT" and rep["duration_s"] < 30
    assert rep["counters"]["generated"] > 0


def test_sigterm_also_stops_cleanly():
    p = subprocess.Popen([sys.executable, "-m", "velox.pipeline", "--rate", "max", "--on-full",
                          "block", "--duration", "30"], cwd=IMPORT_ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "velox pipeline" in p.stdout.readline()  # handlers are installed by now
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert "conservation: OK" in out


@pytest.mark.parametrize("args, option", [
    (["--rate", "-3"], "--rate"),
    (["--rate", "fast"], "--rate"),
    (["--duration", "0"], "--duration"),
    (["--levels", "1000"], "--levels"),
    (["--cores", "9999"], "--cores"),
    (["--cores", "x"], "--cores"),
    (["--on-full", "wait"], "--on-full"),
    (["--wait", "nap"], "--wait"),
    (["--bundle-timeout-us", "-1"], "--bundle-timeout-us"),
    (["--seed", "-1"], "--seed"),
    (["--bogus"], "--bogus"),
    (["--topology", "ingress+book,bundler"], "--topology"),
    (["--topology", "ingress+book@x,bundler+output"], "--topology"),
    (["--speed", "0"], "--speed"),
    (["--records", "l3"], "--records"),
    (["--instruments", "0"], "--instruments"),
    (["--max-orders", "0"], "--max-orders"),
])
def test_bad_options_exit_2_with_one_line_naming_the_option(args, option):
    r = run(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], r.stderr
    assert r.stdout == ""


def test_config_file_sets_options_and_command_line_wins(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('rate = "max"\nduration = 2.5\nlevels = 256\non-full = "block"\n'
                   'bundle_timeout_us = 0\nseed = 5\n')
    a = parse_args(["--config", str(cfg), "--seed", "9"])
    assert (a.rate, a.duration, a.levels, a.on_full, a.bundle_timeout_us, a.seed) == \
        ("max", 2.5, 256, "block", 0.0, 9)
    d = parse_args([])
    assert d.rate == 100000.0 and d.duration == 10.0
    bad = tmp_path / "bad.toml"
    bad.write_text("levels = 1000\n")
    r = run("--config", str(bad))
    assert r.returncode == 2 and "--levels" in r.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("speed = 3\n")
    r = run("--config", str(unknown))
    assert r.returncode == 2 and "speed" in r.stderr


def test_help_explains_options_with_defaults():
    r = run("--help")
    assert r.returncode == 0
    for opt in ("--rate", "--duration", "--cores", "--seed", "--levels", "--tick-size",
                "--bundle-timeout-us", "--on-full", "--wait", "--output", "--json", "--quiet",
                "--config"):
        assert opt in r.stdout
    assert "transactions/s" in r.stdout and "microseconds" in r.stdout
    assert "(default: None)" not in r.stdout  # each default stated once, by the help text
    assert r.stdout.count("[default: 100000]") == 1


def test_json_dash_puts_only_the_json_on_stdout():
    for quiet in ((), ("--quiet",)):
        r = run("--rate", "20000", "--duration", "0.3", "--json", "-", *quiet)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)  # the whole of stdout is the JSON
        assert report["conservation_ok"] is True
        assert "velox pipeline summary" in r.stderr


def test_bad_json_path_exits_2_before_the_run(tmp_path):
    t0 = time.monotonic()
    r = run("--duration", "30", "--json", str(tmp_path / "no" / "such" / "dir.json"))
    assert time.monotonic() - t0 < 20  # not after the 30 s run
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--json" in lines[0] and "Traceback" not in r.stderr
    assert "velox pipeline summary" not in r.stdout


def test_output_to_dev_full_fails_the_run(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    js = tmp_path / "r.json"
    r = run("--rate", "max", "--count", "20000", "--output", "/dev/full", "--json", str(js),
            "--quiet")
    assert r.returncode == 1
    report = json.loads(js.read_text())
    assert report["conservation_ok"] is False and report["counters"]["write_errors"] > 0
    assert "conservation: FAILED" in r.stdout and "write" in r.stdout


def test_summary_explains_its_figures():
    r = run("--rate", "20000", "--duration", "0.5", "--quiet")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "cancels whose order was no longer in the book" in out
    assert "scheduled Poisson time" in out  # what late means
    assert "closed by the 100 us timeout" in out
    assert "dominated by" in out  # at 20k/s nearly every bundle closes by timeout
    assert "txn/s (mean over the run)" in out
    lat = [line for line in out.splitlines() if line.strip().startswith("ingress_lateness")]
    assert lat and ("us" in lat[0] or "ns" in lat[0] or "ms" in lat[0])


def test_seeded_unpaced_block_runs_write_byte_identical_files(tmp_path):
    outputs = []
    for name in ("one", "two"):
        out, js = tmp_path / f"{name}.bin", tmp_path / f"{name}.json"
        r = run("--rate", "max", "--on-full", "block", "--bundle-timeout-us", "0", "--seed", "42",
                "--count", "20000", "--timestamps", "logical", "--output", str(out),
                "--json", str(js), "--quiet")
        assert r.returncode == 0, r.stderr
        report = json.loads(js.read_text())
        assert report["conservation_ok"] is True
        data = out.read_bytes()
        assert report["counters"]["generated"] == 20000
        assert len(data) == 528 * report["counters"]["output_bundles"] > 0
        outputs.append((data, report["book_digest"]))
    assert outputs[0] == outputs[1]


def test_topology_from_the_command_line_and_toml(tmp_path):
    cpu = available_cpus()[-1]
    js = tmp_path / "r.json"
    r = run("--rate", "max", "--count", "20000", "--on-full", "block", "--topology",
            f"ingress+bundler@{cpu},book+output@*", "--json", str(js), "--quiet")
    assert r.returncode == 0, r.stderr
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and rep["threads"] == 2
    assert rep["mapping"] == {"ingress": cpu, "bundler": cpu, "book": -1, "output": -1}
    assert rep["wait"] == "backoff"  # an unpinned thread: never spin by default
    toml = tmp_path / "t.toml"
    toml.write_text(f'topology = "ingress+book+bundler+output@{cpu}"\ncount = 5000\nrate = "max"\n')
    r = run("--config", str(toml), "--json", str(js), "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads(js.read_text())["mapping"] == dict.fromkeys(("ingress", "book", "bundler", "output"), cpu)
    r = run("--topology", f"ingress+book+bundler+output@{cpu}", "--cores", str(cpu))
    assert r.returncode == 2 and "not both" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("key,value", [
    ("json", "1.5"), ("json", "[1]"), ("json", "true"), ("json", "7"), ("json", "{ a = 1 }"),
    ("output", "7"), ("input", "1"), ("topology", "[1]"),
])
def test_toml_string_options_refuse_other_types_with_one_line(tmp_path, key, value):
    """json = 7 must not become file descriptor 7 (written, then closed), nor json = true
    fd 1: every TOML value is type-checked, and a wrong type is exit 2 with one line naming
    the key, before the run."""
    assert f"{key} must be a string" in _refused_toml_line(tmp_path, key, value)


def _refused_toml_line(tmp_path, key, value):
    """Runs the CLI with `key = value` in a --config file; asserts exit 2 before the run with
    exactly one line on stderr, and returns that line."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'rate = "max"\ncount = 1000\nquiet = true\n{key} = {value}\n')
    r = run("--config", str(cfg))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and r.stdout == "", r.stdout + r.stderr
    return lines[0]


@pytest.mark.parametrize("key,value", [("on-full", '"sometimes"'), ("wait", '"sleep"'),
                                       ("timestamps", '"wall"'), ("records", '"txns"')])
def test_toml_choices_are_checked_as_on_the_command_line(tmp_path, key, value):
    """A TOML value outside an option's choices is argparse's own one-line error, exit 2,
    before the run (the check velox.backtest's --config shares: _config.check_choice)."""
    line = _refused_toml_line(tmp_path, key, value)
    assert f"argument --{key}: invalid choice {value.strip(chr(34))!r}" in line, line


def test_a_json_path_that_is_not_a_file_name_exits_2(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('rate = "max"\ncount = 1000\nquiet = true\njson = "a\\u0000b"\n')
    r = run("--config", str(cfg))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--json" in lines[0] and "Traceback" not in r.stderr
    assert "velox pipeline summary" not in r.stdout
