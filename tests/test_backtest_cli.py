"""python -m velox.backtest: the verdict line first, the summary or one JSON object, exit
0 ok / 1 lost or failed / 2 bad arguments or input before the run (one line), TOML config."""

import json
import subprocess
import sys

import numpy as np
import pytest

import velox
from velox import ORDER_DTYPE, OrderAction, OrderType, TimeInForce
from velox._backtest import builtin_strategy
from velox.backtest._cli import main
from velox.backtest._result import SUMMARY_KEYS
from velox.feedgen import lobster_events
from velox.feeds import write_lobster

from child_env import IMPORT_ROOT, child_env

_EVENTS = lobster_events(6000, seed=11)[:4000]


def script():
    """A strategy for --stage test_backtest_cli:script: one market buy at the 100th event."""
    orders = np.zeros(1, ORDER_DTYPE)
    orders[0]["ts"] = int(_EVENTS["ts"][100])
    orders[0]["order_id"] = 1
    orders[0]["side"] = velox.BUY
    orders[0]["type"] = int(OrderType.MARKET)
    orders[0]["tif"] = int(TimeInForce.IOC)
    orders[0]["action"] = int(OrderAction.NEW)
    orders[0]["qty"] = 2
    return builtin_strategy("script", orders=orders)


@pytest.fixture(scope="module")
def msg(tmp_path_factory):
    path = tmp_path_factory.mktemp("btcli") / "msg.csv"
    write_lobster(path, _EVENTS)
    return path


def test_json_output_and_exit_0(msg, capsys):
    rc = main(["--input", f"lobster:{msg}", "--stage", "test_backtest_cli:script", "--json",
               "--taker-fee", "0.01"])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    assert doc["verdict"].startswith("backtest ok")
    assert tuple(doc["summary"]) == SUMMARY_KEYS and doc["summary"]["ok"] is True
    assert doc["summary"]["events"] == len(_EVENTS) and doc["summary"]["volume"] == 2
    assert doc["summary"]["fees"] == pytest.approx(0.02)
    assert doc["counters"]["venue"]["taker_fills"] >= 1


def test_text_output_starts_with_the_verdict(msg, capsys):
    rc = main(["--input", str(msg), "--stage", "builtin:quote", "--stage-arg", "size=2",
               "--stage-arg", "max_position=4", "--max-order-qty", "1"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0 and out[0].startswith("backtest ok") and "refused" in out[0]
    assert [line.split(":")[0].strip() for line in out[1:]] == list(SUMMARY_KEYS)


def test_a_failed_run_exits_1(msg, capsys):
    # quote's init refuses size 0: the strategy never runs, the run failed
    rc = main(["--input", f"lobster:{msg}", "--stage", "builtin:quote", "--stage-arg", "size=0"])
    out = capsys.readouterr().out
    assert rc == 1 and out.startswith("backtest FAILED") and "init" in out.splitlines()[0]


@pytest.mark.parametrize("argv, match", [
    (["--stage", "builtin:quote"], "--input is required"),
    (["--input", "synthetic", "--stage", "builtin:quote"], "market-by-order"),
    (["--input", "nope.csv", "--stage", "builtin:quote"], "nope.csv"),
    (["--input", "MSG", "--stage", "builtin:noop"], "builtin strategies"),
    (["--input", "MSG", "--stage", "builtin:quote", "--maker-fee-bps", "1e6"], "--maker-fee-bps"),
    (["--input", "MSG", "--stage", "builtin:quote", "--entry-latency-ns", "-1"], "--entry-latency-ns"),
    (["--input", "MSG", "--stage", "builtin:quote", "--stage-arg", "0.size=1"], "one strategy"),
    (["--input", "MSG", "--stage", "velox._pipeline:BuiltinStage"], "ABI v2"),
])
def test_bad_arguments_exit_2_with_one_line(msg, capsys, argv, match):
    argv = [str(msg) if a == "MSG" else a for a in argv]
    with pytest.raises(SystemExit) as e:
        sys.exit(main(argv))
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert len(err.strip().splitlines()) == 1 and match in err, err


def test_toml_config_and_the_command_line_wins(msg, tmp_path, capsys):
    cfg = tmp_path / "bt.toml"
    cfg.write_text(f'[backtest]\ninput = "lobster:{msg}"\nstage = "builtin:quote"\n'
                   'max-order-qty = 1\nstage_args = {size = 2, max_position = 4}\n')
    assert main(["--config", str(cfg), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counters"]["host"]["refused_by_reason"]["risk"] > 0  # size 2 > max-order-qty 1
    rc = main(["--config", str(cfg), "--json", "--max-order-qty", "5"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["counters"]["host"]["refused_by_reason"]["risk"] == 0
    assert rc == 0 and doc["summary"]["ok"]
    bad = tmp_path / "bad.toml"
    bad.write_text('input = "x"\nstage = "builtin:quote"\nmax-loss = "lots"\n')
    with pytest.raises(SystemExit) as e:
        main(["--config", str(bad)])
    assert e.value.code == 2 and "max-loss" in capsys.readouterr().err


@pytest.mark.parametrize("text, match", [
    (None, "--config: cannot read"),
    ('input = "x\n', "is not valid TOML"),
    ('[backtest]\nstage = "builtin:quote"\nspeed = 3\n', "unknown option 'speed'"),
    ('[pipeline]\nstage = "builtin:quote"\n', "unknown option 'pipeline'"),
])
def test_a_bad_config_file_exits_2_with_one_line(tmp_path, capsys, text, match):
    cfg = tmp_path / "bt.toml"
    if text is not None:
        cfg.write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["--config", str(cfg)])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert len(err.strip().splitlines()) == 1 and match in err, err


def test_python_dash_m_runs_the_cli(msg):
    p = subprocess.run([sys.executable, "-m", "velox.backtest", "--input", f"lobster:{msg}",
                        "--stage", "builtin:quote", "--json"], capture_output=True, text=True,
                       timeout=120, env=child_env(), cwd=IMPORT_ROOT)
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and doc["verdict"].startswith("backtest ok"), p.stderr
    assert doc["summary"]["events"] == len(_EVENTS)
