"""velox.MpscRing across processes: producer processes with every record checked, a producer
SIGKILLed between claim and publish, a stalled producer publishing late, a dead consumer, and
the hostile-peer fuzzer (tests/mpsc_hostile_worker.py)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from child_env import IMPORT_ROOT, child_env
from scale import scaled
from shm_names import fresh_name
from velox import MpscRing

HERE = os.path.dirname(os.path.abspath(__file__))
REC = np.dtype([("producer", "<u8"), ("seq", "<u8")])
CHILD_ENV = child_env()


def start_python(code, **kw):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=IMPORT_ROOT,
                            env=CHILD_ENV, text=True, **kw)


def check_exit(proc, want=0):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == want, f"exit {proc.returncode}\nstdout:{out}\nstderr:{err}"


@pytest.mark.parametrize("producers", [2, 3])
def test_producer_processes_every_record_checked(producers):
    per = scaled(200_000, 5_000)
    name = fresh_name()
    with MpscRing.create(name, 1024, REC, stall_timeout=60) as ring:
        kids = [start_python(f"""
            import numpy as np
            from velox import MpscRing
            ring = MpscRing.attach({name!r})
            dt = ring.dtype
            seq, i = 0, 0
            while seq < {per}:
                n = min((1, 7, 64, 300)[i % 4], {per} - seq)
                a = np.zeros(n, dt)
                a["producer"] = {p}
                a["seq"] = np.arange(seq, seq + n)
                assert ring.push_many(a, timeout=60) == n
                seq += n
                i += 1
            ring.close()
            """, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in range(producers)]
        expect = [0] * producers
        out = np.zeros(4096, REC)
        total = 0
        while total < producers * per:
            got = ring.pop_many(out, timeout=60)
            p_col = out["producer"][:got]
            s_col = out["seq"][:got]
            for p in range(producers):
                mine = s_col[p_col == p]
                # per-producer order, none lost, none duplicated
                assert np.array_equal(mine, np.arange(expect[p], expect[p] + len(mine))), p
                expect[p] += len(mine)
            assert np.all(p_col < producers)
            total += got
        for kid in kids:
            check_exit(kid)
        assert expect == [per] * producers
        assert ring.try_pop() is None and ring.skipped == 0 and ring.late == 0


def test_producer_killed_between_claim_and_publish_is_skipped():
    name = fresh_name()
    # a long stall_timeout: only the proof of death may skip the claim in time
    with MpscRing.create(name, 64, REC, stall_timeout=600) as ring:
        kid = start_python(f"""
            import numpy as np, sys, time
            from velox import MpscRing
            ring = MpscRing.attach({name!r})
            for i in range(3):
                ring.push((1, i))
            ring._claim_unpublished(2)   # stops between claim and publish ...
            ring.push((1, 3))            # ... while its later record is published
            print("claimed", flush=True)
            time.sleep(600)
            """, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert kid.stdout.readline().strip() == "claimed"
        os.kill(kid.pid, signal.SIGKILL)
        check_exit(kid, -signal.SIGKILL)  # reaped: no zombie left
        got = [int(ring.pop(timeout=30)["seq"]) for _ in range(4)]
        assert got == [0, 1, 2, 3]
        assert ring.skipped == 2 and ring.last_skipped_pid == kid.pid
        # the dead claim's slots are back in use: the whole ring fills
        producer = MpscRing.attach(name)
        assert producer.push_many(np.zeros(64, REC), timeout=0) == 64
        producer.close()


def test_stalled_producer_publishes_late():
    name = fresh_name()
    with MpscRing.create(name, 8, REC, stall_timeout=0.05) as ring:
        kid = start_python(f"""
            import numpy as np, sys
            from velox import MpscRing
            ring = MpscRing.attach({name!r})
            claim = ring._claim_unpublished(3)
            ring.push((2, 9))
            print("claimed", flush=True)
            sys.stdin.readline()                     # stalled until the consumer skipped
            print(ring._publish_claim(claim, np.zeros(3, ring.dtype)), ring.late, flush=True)
            ring.push((2, 10))
            """, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert kid.stdout.readline().strip() == "claimed"
        assert int(ring.pop(timeout=30)["seq"]) == 9
        assert ring.skipped == 3 and ring.last_skipped_pid == kid.pid
        kid.stdin.write("go\n")
        kid.stdin.flush()
        assert kid.stdout.readline().split() == ["0", "3"]  # nothing delivered, 3 late
        assert int(ring.pop(timeout=30)["seq"]) == 10
        check_exit(kid)
        assert ring.late == 3 and ring.try_pop() is None


def test_producer_blocked_on_dead_consumer_gets_broken_pipe():
    name = fresh_name()
    kid = start_python(f"""
        import time
        from velox import MpscRing
        ring = MpscRing.create({name!r}, 2, [("producer", "<u8"), ("seq", "<u8")])
        print("ready", flush=True)
        time.sleep(600)
        """, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert kid.stdout.readline().strip() == "ready"
        producer = MpscRing.attach(name)
        assert producer.push_many(np.zeros(2, REC), timeout=0) == 2
        os.kill(kid.pid, signal.SIGKILL)
        check_exit(kid, -signal.SIGKILL)
        with pytest.raises(BrokenPipeError, match="consumer"):
            producer.push((1, 1), timeout=30)
        producer.close()
    finally:
        if kid.poll() is None:
            kid.kill()
        os.unlink(f"/dev/shm/{name}")


def test_hostile_peer_fuzzer():
    args = [] if os.environ.get("VELOX_FUZZ_EXAMPLES") else ["--quick"]
    proc = subprocess.run([sys.executable, os.path.join(HERE, "mpsc_hostile_worker.py"), *args],
                          cwd=IMPORT_ROOT, env=CHILD_ENV, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "cases held" in proc.stdout
