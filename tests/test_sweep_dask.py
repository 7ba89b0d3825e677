"""velox.sweep on a real Dask cluster: a scheduler and two workers started as separate
processes on loopback, reached by distributed.Client(address); the rows and every task's
execs, pnl and orders arrays are byte-identical to the local pool's."""

import os
import sys

import numpy as np
import pytest

import velox
from velox.feedgen import lobster_events
from velox.feeds import write_lobster

from child_env import IMPORT_ROOT, child_env
from dask_cluster import LoopbackCluster

if sys.version_info < (3, 13):  # the test extra installs distributed there: it must run
    import distributed
else:  # msgpack/psutil have no free-threaded wheels: the extra's marker leaves it out
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is in the test extra below Python 3.13 only")

GRID = {"size": [1, 3], "max_position": [2, 5]}
#: latency with seeded jitter: a task run with another seed gives other execs
JITTER = velox.SimVenue(entry_latency_ns=50_000, entry_jitter_ns=400_000,
                        response_latency_ns=50_000, response_jitter_ns=400_000)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, the scheduler and worker processes): a scheduler and two `--nthreads 1`
    workers on 127.0.0.1 (tests/dask_cluster.py), torn down after the module."""
    d = tmp_path_factory.mktemp("dask")
    with open(d / "log", "w") as log:
        c = LoopbackCluster(2, env=child_env(), cwd=IMPORT_ROOT, log=log, directory=str(d))
        try:
            yield c.address, c.procs
        finally:
            c.close()


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    d = tmp_path_factory.mktemp("days")
    for i in range(2):
        write_lobster(d / f"day{i}.csv", lobster_events(6000, seed=40 + i)[:4000])
    return d


def _compare(a, a_dir, b, b_dir):
    assert a.rows.dtype == b.rows.dtype and len(a.rows) == len(b.rows) == 8
    for name in a.rows.dtype.names:
        if name not in ("wall_s", "events_per_s", "peak_rss_kb"):
            assert a.rows[name].tolist() == b.rows[name].tolist(), name
    for task in a.rows["task"]:
        for name in ("execs", "pnl", "orders"):
            assert (a_dir / task / f"{name}.npy").read_bytes() == \
                (b_dir / task / f"{name}.npy").read_bytes(), (task, name)


def test_a_dask_cluster_gives_the_local_pools_rows_and_execs(cluster, days, tmp_path):
    address, procs = cluster
    spec = f"lobster:{days}/day*.csv"
    local = velox.sweep(spec, "builtin:quote", GRID, out=tmp_path / "local", details=True,
                        workers=2, seed=9, progress=False, venue=JITTER)
    with distributed.Client(address, timeout=60) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        ran = velox.sweep(spec, "builtin:quote", GRID, out=tmp_path / "dask", details=True,
                          executor=client.get_executor(), seed=9, progress=False, venue=JITTER)
        # the Client itself is taken too (its .get_executor())
        again = velox.sweep(spec, "builtin:quote", GRID, out=tmp_path / "again", details=True,
                            executor=client, seed=9, progress=False, venue=JITTER)
        # the tasks ran in the worker processes, not here
        pids = client.run(os.getpid)
    assert sorted(pids.values()) == sorted(p.pid for p in procs[1:])
    assert local.ok and ran.ok and again.ok and np.all(ran.rows["events"] == 4000)
    assert len(set(ran.rows["fills"].tolist())) > 1
    _compare(local, tmp_path / "local", ran, tmp_path / "dask")
    _compare(local, tmp_path / "local", again, tmp_path / "again")
    assert all(p.poll() is None for p in procs)  # the cluster is still up: sweep left it running


def test_the_cli_runs_on_the_cluster(cluster, days, capsys):
    from velox.sweep._cli import main
    address, _ = cluster
    assert main(["--input", f"{days}/day*.csv", "--stage", "builtin:quote", "--stage-arg",
                 "size=2", "--dask", address, "--json"]) == 0
    assert '"verdict": "sweep ok: 2 tasks' in capsys.readouterr().out
