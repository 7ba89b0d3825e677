"""Pipeline output into a shared ring (output="shm:NAME[:CAPACITY]" / --output shm:NAME): a
consumer process attaches and receives every bundle with conservation exact; the segment's
lifetime; bad specs; the external ring of NativePipeline in-process."""

import json
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

from shm_names import fresh_name
from velox import BUNDLE_DTYPE, TXN_DTYPE, SharedRing, SpscRing
from velox._pipeline import NativePipeline
from velox.pipeline import Pipeline, main, parse_output

FORK = multiprocessing.get_context("fork")


def consume(name, conn):
    """Child process: attach (waiting for the segment to appear), pop until the producer
    departs (BrokenPipeError), report what arrived."""
    deadline = time.monotonic() + 10
    while True:
        try:
            ring = SharedRing.attach(name, BUNDLE_DTYPE)
            break
        except FileNotFoundError:
            if time.monotonic() > deadline:
                conn.send({"error": "the segment never appeared"})
                return
            time.sleep(0.001)
    ids, txns, last_seq, fifo = [], 0, -1, True
    while True:
        try:
            b = ring.pop(timeout=20)
        except BrokenPipeError:  # the pipeline closed the ring and it is empty: end of stream
            break
        ids.append(int(b["bundle_id"]))
        n = int(b["count"])
        txns += n
        for seq in b["txns"]["seq"][:n]:
            fifo &= int(seq) > last_seq
            last_seq = int(seq)
    ring.close()
    conn.send({"ids": ids, "txns": txns, "fifo": fifo})


def start_consumer(name):
    parent, child = FORK.Pipe(duplex=False)
    proc = FORK.Process(target=consume, args=(name, child))
    proc.start()
    return proc, parent


def finish_consumer(proc, conn):
    assert conn.poll(30), "the consumer process sent nothing"
    got = conn.recv()
    proc.join(10)
    assert proc.exitcode == 0
    assert "error" not in got, got["error"]
    return got


def check_every_bundle(got, c):
    n = c["output_bundles"]
    assert got["ids"] == list(range(n))  # every bundle, once, in order (block mode: no gaps)
    assert got["txns"] == c["bundled"] == c["output_txns"]
    assert got["fifo"]
    assert c["external_bundles"] == n and c["drops"]["output_to_external"] == 0


# ---- spec parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, want", [
    (None, None),
    ("out.bin", ("file", "out.bin")),
    ("./shm:x", ("file", "./shm:x")),
    ("shm:feed", ("shm", "feed", 1024)),
    ("shm:feed-1.a_b:64", ("shm", "feed-1.a_b", 64)),
])
def test_parse_output(spec, want):
    assert parse_output(spec) == want


@pytest.mark.parametrize("spec, match", [
    ("shm:", "needs a segment name"),
    ("shm::64", "needs a segment name"),
    ("shm:a/b", r"name 'a/b' must be .*no '/'"),
    ("shm:.hidden", "name '.hidden' must be"),
    ("shm:x:3", "power of two .* got '3'"),
    ("shm:x:2097152", "power of two .* got '2097152'"),
    ("shm:x:abc", "capacity 'abc' is not an integer"),
])
def test_bad_shm_specs_raise_value_error(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_output(spec)
    with pytest.raises(ValueError, match=match):
        Pipeline(output=spec)


@pytest.mark.parametrize("spec", ["shm:", "shm:a/b", "shm:x:3"])
def test_cli_bad_specs_exit_2(spec, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--output", spec, "--count", "10"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --output" in err and repr(spec) in err
    assert len(err.strip().splitlines()) == 1


# ---- a consumer process gets every bundle -----------------------------------------------------


def test_consumer_process_receives_every_bundle():
    name = fresh_name()
    proc, conn = start_consumer(name)
    try:
        # 20000 txns make ~1250 bundles: far more than 64 slots, so in block mode the pipeline
        # cannot finish (and remove the name) before the consumer has attached
        pipe = Pipeline(rate="max", on_full="block", max_txns=20000, bundle_timeout_us=0,
                        output=f"shm:{name}:64", cores=[0], wait="backoff")
        assert pipe.output_ring.capacity == 64 and pipe.output_ring.dtype == BUNDLE_DTYPE
        assert os.path.exists(f"/dev/shm/{name}")
        pipe.start()
        assert pipe.wait(timeout=30)
        report = pipe.stop()
    finally:
        got = finish_consumer(proc, conn)
    c = report["counters"]
    assert report["conservation_ok"], report["conservation_failures"]
    assert c["generated"] == 20000 and c["output_bundles"] > 64
    check_every_bundle(got, c)
    assert pipe.output_ring is None and not os.path.exists(f"/dev/shm/{name}")  # unlinked


def test_cli_output_shm(tmp_path, capsys):
    name = fresh_name()
    js = tmp_path / "r.json"
    proc, conn = start_consumer(name)
    try:
        rc = main(["--output", f"shm:{name}:32", "--count", "8000", "--rate", "max",
                   "--on-full", "block", "--bundle-timeout-us", "0", "--cores", "0", "--wait", "backoff",
                   "--duration", "30", "--quiet", "--json", str(js)])
    finally:
        got = finish_consumer(proc, conn)
    assert rc == 0
    assert "output->shm 0" in capsys.readouterr().out
    rep = json.loads(js.read_text())
    assert rep["conservation_ok"] and rep["counters"]["generated"] == 8000
    check_every_bundle(got, rep["counters"])
    assert not os.path.exists(f"/dev/shm/{name}")


# ---- lifetime ------------------------------------------------------------------------------------


def test_keep_shm_leaves_the_segment_and_drop_mode_counts_drops():
    name = fresh_name()
    pipe = Pipeline(rate="max", on_full="drop", max_txns=3000, output=f"shm:{name}:4",
                    keep_shm=True, cores=[0], wait="backoff")
    pipe.start()
    assert pipe.wait(timeout=30)
    report = pipe.stop()
    c = report["counters"]
    assert report["conservation_ok"], report["conservation_failures"]
    assert c["output_bundles"] > 4  # nobody read: 4 slots filled, the rest dropped there
    assert c["external_bundles"] == 4
    assert c["drops"]["output_to_external"] == c["output_bundles"] - 4
    assert os.path.exists(f"/dev/shm/{name}")
    with SharedRing.attach(name) as ring:  # a late reader still gets what is there
        got = ring.pop_many(10)
        assert list(got["bundle_id"]) == sorted(got["bundle_id"]) and len(got) == 4
        with pytest.raises(BrokenPipeError, match="producer .* closed the ring"):
            ring.pop(timeout=5)
        ring.unlink()


def test_name_taken_is_refused(capsys):
    name = fresh_name()
    with SharedRing.create(name, 8, BUNDLE_DTYPE):
        with pytest.raises(FileExistsError):
            Pipeline(output=f"shm:{name}")
        assert main(["--output", f"shm:{name}", "--count", "10"]) == 2
        err = capsys.readouterr().err
        assert f"cannot create the shared ring for 'shm:{name}'" in err
        assert os.path.exists(f"/dev/shm/{name}")  # the pipeline did not remove someone else's


def test_the_ring_cannot_be_closed_under_a_running_pipeline():
    name = fresh_name()
    pipe = Pipeline(rate=2000, on_full="drop", output=f"shm:{name}:8", cores=[0], wait="backoff")
    pipe.start()
    try:
        with pytest.raises(RuntimeError, match="in use by"):
            pipe.output_ring.close()
    finally:
        report = pipe.stop()
    assert report["conservation_ok"], report["conservation_failures"]
    assert not os.path.exists(f"/dev/shm/{name}")


def test_pipeline_dropped_without_stop_cleans_up():
    name = fresh_name()
    pipe = Pipeline(rate=2000, output=f"shm:{name}:8", cores=[0], wait="backoff")
    pipe.start()
    del pipe  # __del__: abandons and joins the threads, closes and unlinks the segment
    assert not os.path.exists(f"/dev/shm/{name}")


# ---- NativePipeline(external_ring=...) ----------------------------------------------------------


def native(**kw):
    return NativePipeline(ticks_per_ns=1.0, rate_per_s=0, stage_thread=(0, 0, 0, 0),
                          thread_cpu=(-1,), levels=64, wait="yield", **kw)


def test_external_spsc_ring_drained_by_a_thread():
    ring = SpscRing(16, BUNDLE_DTYPE)
    p = native(external_ring=ring, on_full="block", max_txns=5000, bundle_timeout_ns=0)
    assert p.external_ring is ring
    got = []
    done = threading.Event()

    def drain():
        while not (done.is_set() and len(ring) == 0):
            got.extend(ring.pop_many(64)["bundle_id"].tolist())
            time.sleep(0.0001)

    t = threading.Thread(target=drain)
    t.start()
    p.start()
    for _ in range(30000):  # bounded: <= ~30 s
        if p.finished:
            break
        time.sleep(0.001)
    p.join()
    done.set()
    t.join(30)
    c = p.counters()
    assert p.conservation_failures() == []
    assert got == list(range(c["output_bundles"])) and c["external_bundles"] == len(got)


def test_external_ring_arguments_are_checked():
    with pytest.raises(TypeError, match="external_ring must be a velox.SpscRing"):
        native(external_ring=np.zeros(4, BUNDLE_DTYPE))
    with pytest.raises(ValueError, match="external_ring must hold BUNDLE_DTYPE records"):
        native(external_ring=SpscRing(8, TXN_DTYPE))
    name = fresh_name()
    ring = SharedRing.create(name, 8, BUNDLE_DTYPE)
    ring.close()
    try:
        with pytest.raises(ValueError, match="is closed"):
            native(external_ring=ring)
    finally:
        os.unlink(f"/dev/shm/{name}")


def hold_producer(name, conn):
    """Child process: attach `name` and take its producer role (one push), then hold it until
    the parent says go."""
    ring = SharedRing.attach(name, BUNDLE_DTYPE)
    ring.try_push(np.zeros(1, BUNDLE_DTYPE)[0])
    conn.send("holding")
    conn.recv()
    ring.close()


def test_an_external_ring_whose_producer_is_another_live_process_is_refused():
    name = fresh_name()
    ring = SharedRing.create(name, 8, BUNDLE_DTYPE)
    parent, child = FORK.Pipe()
    proc = FORK.Process(target=hold_producer, args=(name, child))
    proc.start()
    try:
        assert parent.poll(30) and parent.recv() == "holding"
        with pytest.raises(RuntimeError, match="already has a live producer"):
            native(external_ring=ring)
    finally:
        parent.send("go")
        proc.join(30)
        ring.close()
        os.unlink(f"/dev/shm/{name}")
    assert proc.exitcode == 0
