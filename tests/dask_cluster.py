"""A Dask cluster on loopback as real separate processes (`python -m distributed.cli.
dask_scheduler` and N `dask_worker --nthreads 1 --no-nanny`), for tests/test_sweep_dask.py and
benchmarks/bench_sweep.py. Every wait is bounded; close() stops the workers first (a worker
whose scheduler is gone retries for a while), then the scheduler: TERM, then KILL."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


class LoopbackCluster:
    """address: the scheduler's; procs: [scheduler, worker, ...]. env: the processes'
    environment (velox importable); log: a file for their stderr (default: discarded)."""

    def __init__(self, n_workers, env=None, cwd=None, log=None, directory=None):
        self._own_dir = directory is None  # made here: removed by close()
        self.dir = directory or tempfile.mkdtemp(prefix="velox-dask-")
        sched_file = os.path.join(self.dir, "scheduler.json")
        common = dict(cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                      stderr=log if log is not None else subprocess.DEVNULL)
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", sched_file], **common)]
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not os.path.exists(sched_file):  # the scheduler publishes its address
                if self.procs[0].poll() is not None:
                    raise RuntimeError(f"the Dask scheduler exited ({self.procs[0].returncode})")
                if time.monotonic() > deadline:
                    raise RuntimeError("the Dask scheduler did not start")
                time.sleep(0.05)
            for i in range(n_workers):
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", "--nthreads", "1",
                     "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                     "--local-directory", os.path.join(self.dir, f"w{i}"),
                     "--scheduler-file", sched_file], **common))
            import distributed
            with distributed.Client(scheduler_file=sched_file, timeout=START_TIMEOUT_S) as client:
                client.wait_for_workers(n_workers, timeout=START_TIMEOUT_S)
                self.address = client.scheduler.address
        except BaseException:
            self.close()
            raise

    def close(self):
        for group in (self.procs[1:], self.procs[:1]):
            for p in group:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in group:
                try:
                    p.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=STOP_TIMEOUT_S)
        if self._own_dir:  # the scheduler file and the workers' local directories
            shutil.rmtree(self.dir, ignore_errors=True)
