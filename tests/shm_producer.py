"""A feed-handler process for the pipeline's shm: source tests: a child Python that creates a
velox.SharedRing, pushes an array of records into it (blocking: the pipeline drains it), and
then leaves in one of three ways."""

import contextlib
import subprocess
import sys
import textwrap

import numpy as np

import velox
from child_env import IMPORT_ROOT, child_env
from shm_names import fresh_name

HEAD = 896 + 128  # the ring block starts at 896; the producer line holds head (test_shm_hostile)

EXIT_STATUS = {"close": 0, "kill": -9, "corrupt": 0}


@contextlib.contextmanager
def producer_process(tmp_path, records, after="close", capacity=4096):
    """Yields the name of the ring a child process creates and feeds with `records` (a
    TXN_DTYPE or MBO_DTYPE array). after: "close" (closes the ring), "kill" (SIGKILLs itself,
    releasing nothing) or "corrupt" (once the pipeline has attached, writes a hostile head
    index and stays alive). On exit: checks the child's exit status and removes the name."""
    dtype = "MBO_DTYPE" if records.dtype == velox.MBO_DTYPE else "TXN_DTYPE"
    name = fresh_name()
    src = tmp_path / f"{name}.npy"
    np.save(src, records)
    code = f"""
        import mmap, os, signal, time, numpy as np
        from velox import SharedRing, {dtype}
        recs = np.load({str(src)!r})
        ring = SharedRing.create({name!r}, {capacity}, {dtype})
        pushed = ring.push_many(recs, timeout=120)
        assert pushed == len(recs), pushed
        if {after!r} == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if {after!r} == "corrupt":
            deadline = time.monotonic() + 60
            while ring.consumer_pid == 0 and time.monotonic() < deadline:
                time.sleep(0.005)  # attached first: attach itself refuses a broken ring
            with open("/dev/shm/" + ring.name, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
                m[{HEAD}:{HEAD} + 8] = (1 << 40).to_bytes(8, "little")
            time.sleep(1.0)  # stays alive: only the corruption can end the run
        ring.close()
    """
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=IMPORT_ROOT,
                             env=child_env(), stderr=subprocess.PIPE, text=True)
    try:
        yield name
        assert child.wait(timeout=120) == EXIT_STATUS[after], child.stderr.read()
    finally:
        if child.poll() is None:  # the body failed: do not leave the child blocked
            child.kill()
            child.wait(timeout=30)
        child.stderr.close()
        try:
            velox._shm.unlink(name)
        except FileNotFoundError:
            pass
