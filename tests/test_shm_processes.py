"""SharedRing between processes: 10^6 numbered records with both start methods (every record
checked), blocking per-item transfer, role conflicts, and peer death (kill -9)."""

import multiprocessing
import os
import signal

import numpy as np
import pytest

from shm_names import fresh_name
from velox import TXN_DTYPE, SharedRing
from velox._shm import unlink as shm_unlink

N = 1_000_000
BATCH = 4096
TIMEOUT_S = 60  # generous: a loaded 2-core machine; a hang fails instead of blocking forever


# ---- child entry points (module level: spawn pickles them by name) -----------------------


def produce_batches(ring, n, batch):
    """Push n numbered records in batches; waits (blocking push) when the ring is full."""
    buf = np.zeros(batch, TXN_DTYPE)
    seq = 0
    while seq < n:
        k = min(batch, n - seq)
        chunk = buf[:k]
        chunk["seq"] = np.arange(seq, seq + k)
        chunk["price"] = chunk["seq"] * 3
        taken = ring.push_many(chunk)
        if taken == 0:
            ring.push(chunk[0], timeout=TIMEOUT_S)  # wait for space; peer death raises
            taken = 1
        seq += taken
    ring.close()


def consume_batches(ring, n, batch, result):
    """Pop n records, checking each is the next in sequence; puts the count checked."""
    out = np.empty(batch, TXN_DTYPE)
    expect = 0
    while expect < n:
        got = ring.pop_many(out)
        if got == 0:
            first = ring.pop(timeout=TIMEOUT_S)
            assert first["seq"] == expect, (int(first["seq"]), expect)
            expect += 1
            continue
        seqs = out["seq"][:got]
        if not np.array_equal(seqs, np.arange(expect, expect + got)) or not np.array_equal(
            out["price"][:got], seqs * 3
        ):
            result.put(("bad", expect))
            return
        expect += got
    result.put(("ok", expect))
    ring.close()


def produce_items(ring, n):
    for seq in range(n):
        record = np.zeros(1, TXN_DTYPE)
        record["seq"] = seq
        ring.push(record, timeout=TIMEOUT_S)
    ring.close()


def claim_then_wait(ring, role, ready, n_records):
    if role == "consumer":
        ring.try_pop()
    else:
        ring.push_many(np.zeros(n_records, TXN_DTYPE))
    ready.set()
    signal.pause()  # until killed


def try_claim(ring, result):
    try:
        ring.try_push(np.zeros(1, TXN_DTYPE))
        result.put("claimed")
    except RuntimeError as exc:
        result.put(str(exc))


# ---- transfer ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_million_records_producer_child(method):
    ctx = multiprocessing.get_context(method)
    with SharedRing.create(fresh_name(), 1 << 14, TXN_DTYPE) as ring:
        child = ctx.Process(target=produce_batches, args=(ring, N, BATCH))
        child.start()
        out = np.empty(BATCH, TXN_DTYPE)
        expect = 0
        while expect < N:
            got = ring.pop_many(out)
            if got == 0:
                first = ring.pop(timeout=TIMEOUT_S)
                assert first["seq"] == expect
                expect += 1
                continue
            seqs = out["seq"][:got]
            assert np.array_equal(seqs, np.arange(expect, expect + got)), expect
            assert np.array_equal(out["price"][:got], seqs * 3)
            expect += got
        child.join(TIMEOUT_S)
        assert child.exitcode == 0
        assert ring.try_pop() is None and ring.pushed == N and ring.popped == N


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_million_records_consumer_child(method):
    ctx = multiprocessing.get_context(method)
    result = ctx.SimpleQueue()
    with SharedRing.create(fresh_name(), 1 << 14, TXN_DTYPE) as ring:
        child = ctx.Process(target=consume_batches, args=(ring, N, BATCH, result))
        child.start()
        produce_batches(SharedRing.attach(ring.name), N, BATCH)
        assert result.get() == ("ok", N)
        child.join(TIMEOUT_S)
        assert child.exitcode == 0


def test_blocking_per_item_transfer():
    n = 20_000
    ctx = multiprocessing.get_context("fork")
    with SharedRing.create(fresh_name(), 64, TXN_DTYPE) as ring:
        child = ctx.Process(target=produce_items, args=(ring, n))
        child.start()
        got = [int(ring.pop(timeout=TIMEOUT_S)["seq"]) for _ in range(n)]
        assert got == list(range(n))
        child.join(TIMEOUT_S)
        assert child.exitcode == 0
        # the producer closed the ring: an empty ring now reports the departure
        with pytest.raises(BrokenPipeError, match=f"pid {child.pid}"):
            ring.pop(timeout=TIMEOUT_S)


# ---- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_second_live_producer_refused(method):
    ctx = multiprocessing.get_context(method)
    result = ctx.SimpleQueue()
    with SharedRing.create(fresh_name(), 8, TXN_DTYPE) as ring:
        assert ring.try_push(np.zeros(1, TXN_DTYPE))  # this process is the producer
        child = ctx.Process(target=try_claim, args=(ring, result))
        child.start()
        message = result.get()
        child.join(TIMEOUT_S)
        assert f"already has a live producer, pid {os.getpid()}" in message


# ---- peer death ------------------------------------------------------------------------------


def test_consumer_killed_breaks_blocked_push():
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    with SharedRing.create(fresh_name(), 4, TXN_DTYPE) as ring:
        child = ctx.Process(target=claim_then_wait, args=(ring, "consumer", ready, 0))
        child.start()
        assert ready.wait(TIMEOUT_S)
        assert ring.consumer_pid == child.pid and ring.consumer_alive
        assert ring.push_many(np.zeros(4, TXN_DTYPE)) == 4
        os.kill(child.pid, signal.SIGKILL)  # not reaped yet: a zombie counts as dead
        with pytest.raises(BrokenPipeError, match=rf"consumer \(pid {child.pid}\) died"):
            ring.push(np.zeros(1, TXN_DTYPE), timeout=TIMEOUT_S)
        child.join(TIMEOUT_S)
        assert child.exitcode == -signal.SIGKILL
        assert not ring.consumer_alive


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_producer_killed_breaks_blocked_pop_after_draining(method):
    ctx = multiprocessing.get_context(method)
    ready = ctx.Event()
    with SharedRing.create(fresh_name(), 8, TXN_DTYPE) as ring:
        child = ctx.Process(target=claim_then_wait, args=(ring, "producer", ready, 5))
        child.start()
        assert ready.wait(TIMEOUT_S)
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(5):  # records pushed before death are still delivered
            ring.pop(timeout=TIMEOUT_S)
        with pytest.raises(BrokenPipeError, match=rf"producer \(pid {child.pid}\) died"):
            ring.pop(timeout=TIMEOUT_S)
        child.join(TIMEOUT_S)
        # a new producer may take over the dead one's role
        assert ring.try_push(np.zeros(1, TXN_DTYPE)) and ring.producer_pid == os.getpid()


# ---- a dead creator's segment ---------------------------------------------------------------

CREATE_AND_WAIT = """
import sys, time
from velox import SharedRing, TXN_DTYPE
ring = SharedRing.create(sys.argv[1], 8, TXN_DTYPE)
ring.try_push(b"\\x00" * 32)
print("created", flush=True)
time.sleep(120)
"""


def test_a_killed_creators_segment_is_reported_dead_and_replaced_on_request():
    """A producer killed with SIGKILL leaves its segment behind: create() of the name says
    the creator (pid) is dead and how to reclaim it; replace_stale=True replaces it (an empty
    ring of the new shape), but never a segment whose creator lives."""
    name = fresh_name()
    try:
        _killed_creator(name)
    finally:
        try:
            shm_unlink(name)
        except FileNotFoundError:
            pass


def _killed_creator(name):
    import subprocess
    import sys
    from child_env import IMPORT_ROOT, child_env
    child = subprocess.Popen([sys.executable, "-c", CREATE_AND_WAIT, name], cwd=IMPORT_ROOT,
                             env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "created"
        with pytest.raises(FileExistsError, match=rf"creator \(pid {child.pid}\) is alive"):
            SharedRing.create(name, 16, TXN_DTYPE)
        with pytest.raises(FileExistsError, match="is alive; replace_stale=True replaces only"):
            SharedRing.create(name, 16, TXN_DTYPE, replace_stale=True)
        old = SharedRing.attach(name)  # a reader of the old segment, still mapped
        assert len(old) == 1
    finally:
        child.kill()
        child.wait(timeout=TIMEOUT_S)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    with pytest.raises(FileExistsError) as e:
        SharedRing.create(name, 16, TXN_DTYPE)
    assert f"creator (pid {child.pid}) is dead" in str(e.value)
    assert "replace_stale=True" in str(e.value) and e.value.errno == 17
    with pytest.raises(TypeError, match="replace_stale"):
        SharedRing.create(name, 16, TXN_DTYPE, replace_stale=1)
    with SharedRing.create(name, 16, TXN_DTYPE, replace_stale=True) as ring:
        assert ring.capacity == 16 and len(ring) == 0 and ring.creator_pid == os.getpid()
        again = SharedRing.attach(name)  # attaching again reaches the new segment
        assert again.capacity == 16
        again.close()
        assert len(old) == 1 and old.capacity == 8  # the old mapping is untouched
        old.close()
        # ours is alive: never replaced
        with pytest.raises(FileExistsError, match="is alive"):
            SharedRing.create(name, 16, TXN_DTYPE, replace_stale=True)
