"""Stage parameters: Pipeline(stage=Cls, stage_args={...}) instantiates a class stage with its
keyword arguments (one dict per stage for a list), the CLI's --stage-arg [INDEX.]KEY=VALUE and
TOML stage_args reach the class with the documented value types, a wrong argument is one line
and exit 2 (TypeError/ValueError naming the stage from Python), and --batch / TOML batch set
the native batch size."""

import json
import subprocess
import sys
import textwrap

import pytest

from child_env import IMPORT_ROOT, child_env
from velox import Pipeline
from velox._pipeline import BuiltinStage
from velox.pipeline import load_stage, parse_args
from velox.pipeline._config import stage_value

RUN = dict(rate="max", on_full="block", bundle_timeout_us=0, max_txns=20_000, levels=256,
           timestamps="logical")


def emitted(stage, stage_args=None, **kw):
    with Pipeline(stage=stage, stage_args=stage_args, **RUN, **kw) as p:
        assert p.wait(timeout=60)
    r = p.stop()
    assert r["conservation_ok"], r["conservation_failures"]
    return p, r


def test_a_class_stage_is_made_with_its_arguments():
    p1, r1 = emitted(BuiltinStage, {"kind": "imbalance", "ratio": 1})
    p2, r2 = emitted(BuiltinStage, {"kind": "imbalance", "ratio": 1_000_000})
    assert isinstance(p1.stage, BuiltinStage) and p1.stage.kind == "imbalance"
    assert r1["stage"] == "builtin:imbalance"
    # ratio 1: every lopsided-or-equal top trades; a million: none does
    assert r1["counters"]["user_stage"]["emitted"] > 0
    assert r2["counters"]["user_stage"]["emitted"] == 0
    _, r3 = emitted(BuiltinStage)  # a class with no stage_args: made with none (noop)
    assert r3["stage"] == "builtin:noop"


class Recorder:
    """A Python stage object around a builtin stage that keeps the arguments it was made with."""

    def __init__(self, ratio=2, label="x", flag=False, scale=1.0):
        self.args = dict(ratio=ratio, label=label, flag=flag, scale=scale)
        self._stage = BuiltinStage("imbalance", ratio=ratio)

    def __velox_stage__(self):
        return self._stage.__velox_stage__()


def test_several_class_stages_each_get_their_own_arguments():
    p, r = emitted([Recorder, BuiltinStage("echo"), Recorder],
                   [{"ratio": 1, "label": "a"}, None, {"scale": 0.5, "flag": True}])
    first, echo, last = p.stage
    assert first.args == dict(ratio=1, label="a", flag=False, scale=1.0)
    assert last.args == dict(ratio=2, label="x", flag=True, scale=0.5)
    assert echo.kind == "echo"
    stages = r["counters"]["user_stages"]
    assert stages[0]["emitted"] > stages[2]["emitted"]  # ratio 1 trades more than ratio 2


@pytest.mark.parametrize("stage, stage_args, error, words", [
    (Recorder, {"colour": 1}, TypeError, ["stage", "Recorder(colour=1)", "colour"]),
    (BuiltinStage, {"kind": "imbalance", "size": 3}, TypeError, ["BuiltinStage", "size"]),
    ([Recorder, Recorder], [None, {"nope": 1}], TypeError, ["stage 1", "nope"]),
    (BuiltinStage("noop"), {"ratio": 2}, TypeError, ["already an object", "noop"]),
    ([Recorder], {"ratio": 2}, TypeError, ["one dict", "per stage"]),
    (Recorder, [{"ratio": 2}], TypeError, ["one stage", "dict"]),
    ([Recorder, Recorder], [{}], ValueError, ["1 entries for 2 stages"]),
    (None, {"ratio": 2}, ValueError, ["without a stage"]),
    (Recorder, {"bad key": 2}, TypeError, ["identifiers", "bad key"]),
    (Recorder, {1: 2}, TypeError, ["identifiers"]),
    (Recorder, "ratio=2", TypeError, ["dict"]),
    ([Recorder], ["ratio=2"], TypeError, ["dict"]),
])
def test_arguments_that_do_not_fit_raise_naming_the_stage(stage, stage_args, error, words):
    with pytest.raises(error) as info:
        Pipeline(stage=stage, stage_args=stage_args, **RUN)
    for w in words:
        assert w in str(info.value)


def test_a_class_raising_on_its_values_raises_unchanged():
    class Strict(Recorder):
        def __init__(self, ratio=2):
            if ratio < 1:
                raise ValueError(f"ratio must be >= 1, got {ratio}")
            super().__init__(ratio=ratio)

    with pytest.raises(ValueError, match="ratio must be >= 1, got 0"):
        Pipeline(stage=Strict, stage_args={"ratio": 0}, **RUN)


@pytest.mark.parametrize("text, value", [
    ("3", 3), ("-2", -2), ("+7", 7), ("0.25", 0.25), ("1e-3", 0.001), ("-.5", -0.5), ("2.", 2.0),
    ("true", True), ("False", False), ("TRUE", True), ("'7'", "7"), ('"true"', "true"),
    ("abc", "abc"), ("nan", "nan"), ("inf", "inf"), ("1_000", "1_000"), ("", ""),
    ("a=b", "a=b"), ("'", "'"),
])
def test_stage_values_are_read_as_documented(text, value):
    got = stage_value(text)
    assert got == value and type(got) is type(value)


def test_cli_stage_args_go_to_their_stages(tmp_path):
    a = parse_args(["--stage", "builtin:imbalance", "--stage", "builtin:echo",
                    "--stage-arg", "0.ratio=3", "--stage-arg", "1.label='x y'",
                    "--stage-arg", "0.ratio=4"])  # the last value of a key wins
    assert a.stage_args == [{"ratio": 4}, {"label": "x y"}]
    a = parse_args(["--stage", "m:C", "--stage-arg", "k=1.5", "--stage-arg", "on=true"])
    assert a.stage_args == [{"k": 1.5, "on": True}]
    assert parse_args(["--stage", "m:C"]).stage_args is None
    assert parse_args([]).batch == 64 and parse_args(["--batch", "8"]).batch == 8


def test_toml_stage_args_and_the_command_line_merge(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(textwrap.dedent("""
        stage = ["builtin:imbalance", "mod:Cls"]
        stage_args = [{ratio = 3}, {label = "12", scale = 0.5, on = true}]
        batch = 16
    """))
    a = parse_args(["--config", str(toml), "--stage-arg", "1.scale=2"])
    assert a.stage_args == [{"ratio": 3}, {"label": "12", "scale": 2, "on": True}]
    assert a.batch == 16
    one = tmp_path / "one.toml"
    one.write_text('[pipeline]\nstage = "builtin:imbalance"\nstage-args = {ratio = 5}\n')
    assert parse_args(["--config", str(one)]).stage_args == [{"ratio": 5}]


@pytest.mark.parametrize("argv, words", [
    (["--stage-arg", "ratio=2"], ["no --stage"]),
    (["--stage", "a:b", "--stage", "c:d", "--stage-arg", "ratio=2"], ["2 stages", "INDEX.ratio"]),
    (["--stage", "a:b", "--stage-arg", "1.ratio=2"], ["no stage 1"]),
    (["--stage", "a:b", "--stage-arg", "ratio"], ["KEY=VALUE"]),
    (["--stage", "a:b", "--stage-arg", "x.ratio=2"], ["INDEX", "'x'"]),
    (["--stage", "a:b", "--stage-arg", "0.2x=2"], ["'2x'", "identifier"]),
    (["--stage", "a:b", "--stage-arg", "=2"], ["identifier"]),
    (["--batch", "0"], ["--batch", "[1, 4096]"]),
    (["--batch", "5000"], ["--batch"]),
])
def test_cli_argument_errors_are_one_line_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("body, words", [
    ("stage = 'a:b'\nstage_args = 3\n", ["stage_args must be a table"]),
    ("stage = 'a:b'\nstage_args = [1, 2]\n", ["stage_args must be a table"]),
    ("stage = 'a:b'\nstage_args = {'bad key' = 1}\n", ["'bad key'", "identifier"]),
    ("stage = ['a:b', 'c:d']\nstage_args = {ratio = 1}\n", ["2 stages", "one table per stage"]),
    ("batch = 2.5\n", ["--batch"]),
])
def test_toml_argument_errors_are_one_line_exit_2(tmp_path, body, words, capsys):
    toml = tmp_path / "bad.toml"
    toml.write_text(body)
    with pytest.raises(SystemExit) as info:
        parse_args(["--config", str(toml)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err


def test_load_stage_passes_arguments_and_refuses_them_for_objects():
    st = load_stage("builtin:imbalance", {"ratio": 7})
    assert isinstance(st, BuiltinStage) and st.kind == "imbalance"
    with pytest.raises(ValueError, match=r"BuiltinStage\('echo', size=1\) failed: TypeError"):
        load_stage("builtin:echo", {"size": 1})
    with pytest.raises(ValueError, match="stage object, not a class"):
        load_stage("test_pipeline_stage_args:RECORDER_OBJECT", {"ratio": 1})
    with pytest.raises(TypeError, match="dict of keyword arguments"):
        load_stage("builtin:echo", [("ratio", 1)])


RECORDER_OBJECT = Recorder()

STAGE_MODULE = '''
import json
from velox._pipeline import BuiltinStage


class Recorder:
    def __init__(self, path, ratio=2, label="x", flag=False, scale=1.0):
        with open(path, "w") as f:
            json.dump({"ratio": ratio, "label": label, "flag": flag, "scale": scale}, f)
        self._stage = BuiltinStage("imbalance", ratio=ratio)

    def __velox_stage__(self):
        return self._stage.__velox_stage__()
'''


def cli(tmp_path, *args):
    (tmp_path / "argstage.py").write_text(STAGE_MODULE)
    return subprocess.run([sys.executable, "-m", "velox.pipeline", "--rate", "max", "--count",
                           "20000", "--on-full", "block", "--quiet", "--json", "-", *args],
                          cwd=IMPORT_ROOT, env=child_env(tmp_path), capture_output=True,
                          text=True, timeout=120)


def test_cli_and_toml_arguments_reach_a_compiled_style_stage(tmp_path):
    seen = tmp_path / "seen.json"
    r = cli(tmp_path, "--stage", "argstage:Recorder", "--stage-arg", f"path={seen}",
            "--stage-arg", "ratio=1", "--stage-arg", "label='12'", "--stage-arg", "flag=true",
            "--stage-arg", "scale=0.5", "--batch", "1")
    assert r.returncode == 0, r.stderr
    assert json.loads(seen.read_text()) == {"ratio": 1, "label": "12", "flag": True, "scale": 0.5}
    report = json.loads(r.stdout)
    u, c = report["counters"]["user_stage"], report["counters"]
    assert u["emitted"] > 0
    assert u["batches"] == c["applied"]  # --batch 1: the stage sees one event per batch
    toml = tmp_path / "run.toml"
    toml.write_text(f'stage = "argstage:Recorder"\nstage_args = {{path = "{seen}", ratio = 3, '
                    f'label = "toml"}}\nbatch = 4096\n')
    r = cli(tmp_path, "--config", str(toml))
    assert r.returncode == 0, r.stderr
    assert json.loads(seen.read_text()) == {"ratio": 3, "label": "toml", "flag": False, "scale": 1.0}
    report = json.loads(r.stdout)
    assert report["counters"]["user_stage"]["batches"] < report["counters"]["applied"]


def test_cli_unknown_parameter_is_one_line_exit_2(tmp_path):
    r = cli(tmp_path, "--stage", "argstage:Recorder", "--stage-arg", "colour=red")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Recorder(colour='red') failed: TypeError" in lines[0], r.stderr
    assert "colour" in lines[0] and r.stdout == ""
