"""velox.sweep: grid expansion, rows equal to velox.backtest run directly (byte-identical
execs), failures as rows (a bad file, a dead worker), resumable out=DIR, the CLI, Parquet,
the plots, progress, pinning, per-task peak RSS and argument checks before the run."""

import itertools
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import velox
from velox.feedgen import lobster_events
from velox.feeds import write_lobster
from velox.sweep import SweepResult, expand_grid
from velox.sweep._cli import main
from velox.sweep._progress import Progress
from velox.sweep._rows import ROWS_FILE
from velox.sweep._run import local_pool, resolve_inputs
from velox.sweep._task import Task, peak_rss_kb, run_task

from child_env import IMPORT_ROOT, child_env

GRID = {"size": [1, 2], "max_position": [3, 6]}
N_DAYS = 2
#: latency with seeded jitter: a task run with another seed gives other execs
JITTER = velox.SimVenue(entry_latency_ns=50_000, entry_jitter_ns=400_000,
                        response_latency_ns=50_000, response_jitter_ns=400_000)


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    d = tmp_path_factory.mktemp("days")
    for i in range(N_DAYS):
        write_lobster(d / f"day{i}.csv", lobster_events(6000, seed=20 + i)[:4000])
    return d


@pytest.fixture(scope="module")
def local(days, tmp_path_factory):
    """One local-pool sweep with details, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("local")
    result = velox.sweep(f"lobster:{days}/day*.csv", "builtin:quote", GRID, out=out,
                         details=True, workers=2, seed=5, progress=False, venue=JITTER)
    return result, out


def _same_rows(a, b):
    """The rows are equal but for the measurements of the run (time, memory)."""
    assert a.rows.dtype == b.rows.dtype and len(a.rows) == len(b.rows)
    for name in a.rows.dtype.names:
        if name not in ("wall_s", "events_per_s", "peak_rss_kb"):
            assert a.rows[name].tolist() == b.rows[name].tolist(), name


# -- grid ----------------------------------------------------------------------------------

_names = st.lists(st.sampled_from(["a", "b", "size", "max_position", "x_1", "k"]), min_size=0,
                  max_size=4, unique=True)
_values = st.one_of(st.lists(st.integers(-5, 5), min_size=1, max_size=3, unique=True),
                    st.lists(st.text("abc", min_size=1, max_size=3), min_size=1, max_size=3,
                             unique=True))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_grid_expands_every_combination_once_in_product_order(data):
    names = data.draw(_names)
    grid = {n: data.draw(_values) for n in names}
    sets = expand_grid(grid or None)
    expected = [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]
    assert sets == expected  # the last name varies fastest; [{}] for no names
    assert len(sets) == int(np.prod([len(v) for v in grid.values()]))
    assert expand_grid(sets) == sets  # a list of sets runs as given


def test_grid_toml_and_scalars_and_refusals(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[grid]\nsize = [1, 2]\n"venue.entry_latency_ns" = [0, 1000]\nname = "x"\n')
    assert expand_grid(path) == [
        {"size": s, "venue.entry_latency_ns": v, "name": "x"} for s in (1, 2) for v in (0, 1000)]
    for grid, error, match in [
            ({"venue.nope": [1]}, ValueError, "nope"),
            ({"risk.max_loss": [1.0], "bad name": [1]}, ValueError, "bad name"),
            ({"size": []}, ValueError, "'size' has no values"),
            ({"size": [1, 1]}, ValueError, "repeats"),
            ({"size": [[1]]}, TypeError, "size"),
            ([{"a": 1}, {"b": 1}], ValueError, "same parameters"),
            (7, TypeError, "grid must be")]:
        with pytest.raises(error, match=match):
            expand_grid(grid)
    (tmp_path / "bad.toml").write_text("[grid\n")
    with pytest.raises(ValueError, match="bad.toml"):
        expand_grid(tmp_path / "bad.toml")


# -- rows ----------------------------------------------------------------------------------

def test_rows_equal_backtests_run_directly_byte_for_byte(local, days):
    result, out = local
    rows = result.rows
    inputs = [f"lobster:{days}/day{i}.csv" for i in range(N_DAYS)]
    sets = expand_grid(GRID)
    assert len(rows) == N_DAYS * len(sets) and result.ok and result.failed == 0
    assert rows["input"].tolist() == [i for i in inputs for _ in sets]  # input, then grid order
    assert [{"size": int(r["size"]), "max_position": int(r["max_position"])} for r in rows] == sets * N_DAYS
    assert rows.dtype["size"] == np.int64 and rows.dtype["pnl"] == np.float64
    for row in rows:
        params = {"size": int(row["size"]), "max_position": int(row["max_position"])}
        direct = velox.backtest(row["input"], "builtin:quote", stage_args=params, seed=5,
                                venue=JITTER)
        s = direct.summary()
        for key in ("orders", "fills", "volume", "events"):
            assert row[key] == s[key], key
        for key in ("fees", "pnl", "max_drawdown"):
            assert row[key] == pytest.approx(s[key], abs=1e-9), key
        assert row["ok"] and row["error"] == "" and row["peak_rss_kb"] > 0
        for name in ("execs", "pnl", "orders"):
            saved = np.load(out / row["task"] / f"{name}.npy")
            want = getattr(direct, name)
            assert saved.dtype == want.dtype and saved.tobytes() == want.tobytes(), name
    assert len({r["fills"] for r in rows}) > 1  # the parameters change the runs
    assert result.verdict.startswith("sweep ok: 8 tasks (2 inputs x 4 parameter sets); 0 failed")


def test_another_executor_gives_the_same_rows_and_execs(local, days, tmp_path):
    result, out = local
    with ThreadPoolExecutor(3) as pool:
        other = velox.sweep(f"lobster:{days}/day*.csv", "builtin:quote", GRID, out=tmp_path,
                            details=True, executor=pool, seed=5, progress=False, venue=JITTER)
    _same_rows(other, result)
    for task in result.rows["task"]:
        for name in ("execs", "pnl", "orders"):
            assert (tmp_path / task / f"{name}.npy").read_bytes() == (out / task / f"{name}.npy").read_bytes()


def test_a_bad_file_among_good_ones_is_a_failed_row(days, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("this,is,not\nlobster,at,all\n")
    inputs = [f"lobster:{days}/day0.csv", f"lobster:{bad}", f"lobster:{days}/day1.csv"]
    with ThreadPoolExecutor(2) as pool:
        r = velox.sweep(inputs, "builtin:quote", {"size": [1, 2]}, executor=pool, progress=False)
    assert r.rows["ok"].tolist() == [True, True, False, False, True, True]
    assert all("bad.csv" in e for e in r.rows["error"][2:4]) and r.failed == 2 and not r.ok
    assert r.verdict.startswith("sweep FAILED: 2 of 6 tasks failed (first: lobster:")
    assert r.rows["events"][[0, 1, 4, 5]].min() == 4000


def test_a_dead_worker_fails_only_its_own_task(days):
    # crash=1 kills the process making the strategy: the pool breaks, the tasks it held run
    # again one by one, and only the task that kills its process is a failed row
    r = velox.sweep([f"lobster:{days}/day0.csv"], "sweep_stages:Quote",
                    [{"crash": 0}, {"crash": 1}, {"crash": 0}], workers=2, progress=False)
    assert r.rows["ok"].tolist() == [True, False, True]
    assert "worker process died" in r.rows["error"][1]
    assert r.rows["fills"][0] == r.rows["fills"][2] > 0


class _LosingExecutor(ThreadPoolExecutor):
    """Loses the tasks of crash=1, as a cluster that loses a worker does (the future raises)."""

    def submit(self, fn, task):
        if task.params.get("crash"):
            from concurrent.futures import Future
            future = Future()
            future.set_exception(RuntimeError("worker tcp://10.0.0.7:4000 lost"))
            return future
        return super().submit(fn, task)


def test_an_executor_that_loses_a_task_gives_its_failed_row(days):
    with _LosingExecutor(2) as pool:
        r = velox.sweep([f"lobster:{days}/day0.csv"], "sweep_stages:Quote",
                        [{"crash": 0}, {"crash": 1}, {"crash": 0}], executor=pool)
    assert r.rows["ok"].tolist() == [True, False, True]
    assert r.rows["error"][1] == "RuntimeError: worker tcp://10.0.0.7:4000 lost"


def test_a_rerun_skips_the_ok_rows_of_out_and_cuts_a_torn_line(days, tmp_path):
    spec = f"lobster:{days}/day*.csv"
    with ThreadPoolExecutor(2) as pool:
        first = velox.sweep(spec, "builtin:quote", GRID, out=tmp_path, executor=pool, progress=False)
        rows_file = tmp_path / ROWS_FILE
        lines = rows_file.read_text().splitlines(keepends=True)
        assert len(lines) == 8
        kept = lines[:3] + lines[5:6]
        failed = json.loads(lines[6])
        failed.update(ok=False, error="RuntimeError: the machine went away")
        # as a kill part way would leave it: some rows, a failed one, a torn last line
        rows_file.write_text("".join(kept) + json.dumps(failed) + "\n" + lines[7][:20])
        again = velox.sweep(spec, "builtin:quote", GRID, out=tmp_path, executor=pool, progress=False)
    assert again.resumed == 4 and again.ok
    assert "4 resumed" in again.verdict
    after = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert len(after) == 4 + 1 + 4  # kept, the failed one, the four run again
    assert sorted(r["task"] for r in after[5:]) == sorted(
        json.loads(line)["task"] for line in lines[3:5] + lines[6:8])
    _same_rows(again, first)
    # a third run finds every task done: nothing runs, nothing is appended
    third = velox.sweep(spec, "builtin:quote", GRID, out=tmp_path, executor=ThreadPoolExecutor(1))
    assert third.resumed == 8 and len(rows_file.read_text().splitlines()) == 9


def test_a_changed_input_file_is_a_new_task(days, tmp_path):
    day = tmp_path / "d.csv"
    day.write_bytes((days / "day0.csv").read_bytes())
    with ThreadPoolExecutor(1) as pool:
        a = velox.sweep([str(day)], "builtin:quote", {"size": [1]}, out=tmp_path / "o", executor=pool)
        os.utime(day, ns=(1, 1))
        b = velox.sweep([str(day)], "builtin:quote", {"size": [1]}, out=tmp_path / "o", executor=pool)
        c = velox.sweep([str(day)], "builtin:quote", {"size": [1]}, out=tmp_path / "o",
                        executor=pool, seed=1)
    assert a.resumed == b.resumed == c.resumed == 0
    assert len({a.rows["task"][0], b.rows["task"][0], c.rows["task"][0]}) == 3


def test_venue_and_risk_grid_names_reach_the_backtest(days):
    spec = f"lobster:{days}/day0.csv"
    with ThreadPoolExecutor(2) as pool:
        r = velox.sweep(spec, "builtin:quote", {"venue.taker_fee": [0.0, 0.5],
                                                "risk.max_order_qty": [0, 1]},
                        venue=velox.SimVenue(maker_fee=0.01), executor=pool,
                        stage_args={"size": 2, "max_position": 4})
    for row in r.rows:
        direct = velox.backtest(spec, "builtin:quote", stage_args={"size": 2, "max_position": 4},
                                venue=velox.SimVenue(maker_fee=0.01, taker_fee=row["venue.taker_fee"]),
                                risk=velox.RiskLimits(max_order_qty=int(row["risk.max_order_qty"])))
        assert (row["orders"], row["fills"]) == (len(direct.orders), direct.summary()["fills"])
        assert row["fees"] == pytest.approx(direct.summary()["fees"])
    assert r.rows["venue.taker_fee"].dtype == np.float64 and len(set(r.rows["orders"])) > 1


# -- CLI -------------------------------------------------------------------------------------

def test_cli_json_and_exit_status(days, tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\nsize = [1, 2]\n[stage_args]\nmax_position = 4\n[venue]\nmaker_fee = -0.001\n')
    argv = ["--input", f"lobster:{days}/day*.csv", "--stage", "builtin:quote", "--grid", str(grid),
            "--workers", "2", "--json", "--no-progress"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"].startswith("sweep ok: 4 tasks") and doc["summary"]["failed"] == 0
    assert [(r["input"].rsplit("/", 1)[1], r["size"]) for r in doc["rows"]] == [
        ("day0.csv", 1), ("day0.csv", 2), ("day1.csv", 1), ("day1.csv", 2)]
    direct = velox.backtest(f"lobster:{days}/day1.csv", "builtin:quote",
                            stage_args={"size": 2, "max_position": 4},
                            venue=velox.SimVenue(maker_fee=-0.001))
    assert doc["rows"][3]["pnl"] == pytest.approx(direct.summary()["pnl"])
    bad = tmp_path / "bad.csv"
    bad.write_text("x\n")
    assert main(["--input", str(bad), "--input", f"lobster:{days}/day0.csv", "--stage",
                 "builtin:quote", "--workers", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sweep FAILED: 1 of 2 tasks failed") and out[-1].startswith("failed: ")


@pytest.mark.parametrize("argv, match", [
    (["--input", "nowhere/*.csv", "--stage", "builtin:quote"], "matches no file"),
    (["--input", "DAY", "--stage", "no_such_module:X"], "no_such_module"),
    (["--input", "DAY", "--stage", "builtin:quote", "--grid", "missing.toml"], "missing.toml"),
    (["--input", "DAY", "--stage", "builtin:quote", "--details"], "--out"),
])
def test_cli_bad_arguments_exit_2_with_one_line(days, argv, match, capsys):
    argv = [str(days / "day0.csv") if a == "DAY" else a for a in argv]
    with pytest.raises(SystemExit) if "--details" in argv else _no_raise():
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_python_m_velox_sweep_runs(days, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "velox.sweep", "--input", str(days / "day0.csv"),
                           "--stage", "builtin:quote", "--stage-arg", "size=2", "--workers", "1",
                           "--out", str(tmp_path), "--details"],
                          cwd=IMPORT_ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("sweep ok: 1 tasks (1 inputs x 1 parameter sets)")
    (row,) = [json.loads(line) for line in (tmp_path / ROWS_FILE).read_text().splitlines()]
    assert sorted(os.listdir(tmp_path / row["task"])) == ["execs.npy", "orders.npy", "pnl.npy"]


# -- outputs -----------------------------------------------------------------------------------

def test_parquet_round_trip(local, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")  # the test extra carries pyarrow
    result, _ = local
    result.to_parquet(tmp_path / "rows.parquet")
    table = pq.read_table(tmp_path / "rows.parquet")
    assert table.column_names == list(result.rows.dtype.names)
    for name in result.rows.dtype.names:
        assert table.column(name).to_pylist() == result.rows[name].tolist(), name


def test_parquet_without_pyarrow_names_the_install_line(local, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"velox\[parquet\]"):
        local[0].to_parquet(tmp_path / "x.parquet")


def test_plot_draws_the_heatmap_and_pnl_by_input(local, tmp_path):
    """With matplotlib (the `plot` extra; the oracle extra brings it too) the heatmap and the
    P&L-by-input chart; without it (CI's ASan step, the 3.13+ legs) ImportError naming the
    extra."""
    result, _ = local
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"needs matplotlib: pip install 'velox\[plot\]'"):
            result.plot()
        return
    fig = result.plot(tmp_path / "sweep.png")
    heat, by_input = fig.axes[:2]
    image = heat.get_images()[0].get_array()
    assert image.shape == (2, 2)  # max_position x size
    r = result.rows
    want = r["pnl"][(r["size"] == 2) & (r["max_position"] == 3)].mean()
    assert image[0, 1] == pytest.approx(want)
    assert len(by_input.get_lines()) == 4 and (tmp_path / "sweep.png").stat().st_size > 0


def test_builtin_progress_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = Progress(3, 1)
    bar.update(ok=True)
    bar.update(ok=False)
    bar.close()
    err = capsys.readouterr().err
    assert "\r 1/3 tasks, 0 failed" in err and "\r 2/3 tasks, 0 failed, eta" in err
    assert "\r 3/3 tasks, 1 failed, eta 0 s" in err


# -- workers -----------------------------------------------------------------------------------

def test_pool_processes_are_pinned_one_cpu_each():
    cpus = sorted(os.sched_getaffinity(0))
    with local_pool(len(cpus)) as pool:
        seen = [pool.submit(os.sched_getaffinity, 0).result() for _ in range(4 * len(cpus))]
    assert all(len(s) == 1 and s <= set(cpus) for s in seen)


def test_peak_rss_is_the_tasks_own(days):
    """The row's peak is the task's own, not the process's peak so far: a 1 GiB block touched
    and freed before the task is not in it. (1 GiB, because the task's own peak may be large
    where the allocator keeps freed memory, as under ASan: ~0.7 GB there.)"""
    big = np.ones(1 << 30, np.uint8)  # touched: this process's peak rises by 1 GiB
    before = peak_rss_kb()
    del big
    row = run_task(Task("t", f"lobster:{days}/day0.csv", "builtin:quote", {}))
    assert row["ok"] and 0 < row["peak_rss_kb"] < before - (512 << 10)


# -- refusals before the run -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"inputs": [np.zeros(3)]}, TypeError, "specs or paths"),
    ({"inputs": "nowhere.csv"}, ValueError, "nowhere.csv"),
    ({"stage": "builtin:nope"}, ValueError, "builtin:nope"),
    ({"stage": "builtin:script"}, ValueError, "fixed order array"),
    ({"stage": lambda: None}, TypeError, "MODULE:ATTR"),
    ({"grid": {"venue.latency": [1]}}, ValueError, "venue.latency"),
    ({"grid": {"venue.entry_latency_ns": [-1]}}, ValueError, "entry_latency_ns"),
    ({"details": True, "out": None}, ValueError, "out"),
    ({"workers": 0}, ValueError, "workers"),
    ({"workers": 2, "executor": ThreadPoolExecutor(1)}, ValueError, "workers"),
    ({"executor": object()}, TypeError, "Executor"),
    ({"frobnicate": 1}, TypeError, "frobnicate"),
    ({"stage_args": {"size": 1}, "grid": {"size": [2]}}, ValueError, "size"),
    ({"venue": {"maker_fee": 1}}, TypeError, "SimVenue"),
])
def test_bad_arguments_are_refused_before_any_task(days, kwargs, error, match, tmp_path):
    args = {"inputs": str(days / "day0.csv"), "stage": "builtin:quote", "grid": None,
            "out": tmp_path / "out"}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        velox.sweep(args.pop("inputs"), args.pop("stage"), args.pop("grid"), **args)
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_glob_inputs_keep_kind_and_query(tmp_path):
    for name in ("b.itch", "a.itch", "c.csv"):
        (tmp_path / name).write_bytes(b"")
    assert resolve_inputs(f"itch:{tmp_path}/*.itch?symbols=AA,BB") == [
        f"itch:{tmp_path}/a.itch?symbols=AA,BB", f"itch:{tmp_path}/b.itch?symbols=AA,BB"]
    assert resolve_inputs([tmp_path / "c.csv"]) == [str(tmp_path / "c.csv")]
    with pytest.raises(ValueError, match="twice"):
        resolve_inputs([str(tmp_path / "c.csv")] * 2)


def test_velox_sweep_stays_the_function_after_its_modules_are_imported():
    import importlib
    importlib.import_module("velox.sweep._cli")
    importlib.import_module("velox.sweep.__main__".rsplit(".", 1)[0])
    assert callable(velox.sweep) and velox.sweep.__module__ == "velox.sweep._run"
    assert velox.SweepResult is SweepResult
