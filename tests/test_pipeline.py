"""velox.Pipeline: conservation in drop and block modes, no drops at a moderate paced
rate, same seed -> same output and book, both the grouped and the 1-CPU mapping, the Python
callback sees every bundle, bad arguments raise naming the value."""

import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import velox
from velox import BUNDLE_DTYPE, Pipeline
from velox._pipeline import NativePipeline
from velox.pipeline import available_cpus, default_cores, parse_cores, parse_topology, stage_mapping

CPUS = available_cpus()


def check_bundles(bundles, report):
    """Every bundle valid: ids consecutive from 0, counts 1..16, unused slots zero, sequence
    ids strictly increasing through the whole run (FIFO through every stage)."""
    c = report["counters"]
    assert len(bundles) == c["output_bundles"]
    assert np.array_equal(bundles["bundle_id"], np.arange(len(bundles)))
    counts = bundles["count"].astype(np.int64)
    assert counts.min() >= 1 and counts.max() <= 16
    assert counts.sum() == c["bundled"]
    txns = bundles["txns"]
    used = np.arange(16)[None, :] < counts[:, None]
    for field in txns.dtype.names:
        assert not txns[field][~used].any()
    seqs = txns["seq"][used]
    assert np.all(np.diff(seqs.astype(np.int64)) > 0)
    return txns[used]


def run_block(tmp_path, name, cores=None, seed=7, count=30_000, topology=None):
    path = tmp_path / name
    p = Pipeline("max", cores=cores, topology=topology, seed=seed, on_full="block", bundle_timeout_us=0,
                 output=path, max_txns=count, levels=256, timestamps="logical")
    p.start()
    assert p.wait(timeout=30)
    report = p.stop()
    return path, report


def test_block_mode_conserves_and_same_seed_gives_same_output_and_book(tmp_path):
    path1, r1 = run_block(tmp_path, "a.bin", cores=[CPUS[0]])           # 1 thread
    path2, r2 = run_block(tmp_path, "b.bin", cores=CPUS[:2])             # grouped (2 CPUs here)
    for r in (r1, r2):
        c = r["counters"]
        assert r["conservation_ok"] and not r["abandoned"]
        assert c["generated"] == 30_000
        assert sum(v for v in c["drops"].values()) == 0
        assert c["applied"] + c["rejected"] == c["generated"]
        assert c["bundles"] == -(-c["bundled"] // 16)  # no timeout: all full but the last
    b1 = np.fromfile(path1, BUNDLE_DTYPE)
    b2 = np.fromfile(path2, BUNDLE_DTYPE)
    check_bundles(b1, r1)
    check_bundles(b2, r2)
    assert os.path.getsize(path1) == r1["counters"]["bytes_written"] == len(b1) * 528
    # logical timestamps: each transaction carries its seq, so the runs are byte-identical
    used = np.arange(16)[None, :] < b1["count"][:, None]
    assert np.array_equal(b1["txns"]["tsc"][used], b1["txns"]["seq"][used])
    assert path1.read_bytes() == path2.read_bytes()
    assert r1["latency_ns"]["end_to_end"]["count"] == 0
    assert r1["book_digest"] == r2["book_digest"]
    assert r1["counters"]["traded"] == r2["counters"]["traded"]
    # a different seed gives a different flow
    path3, r3 = run_block(tmp_path, "c.bin", cores=[CPUS[0]], seed=8)
    assert path3.read_bytes() != path1.read_bytes()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_drop_mode_conserves_with_tiny_rings(threads):
    maps = {1: (0, 0, 0, 0), 2: (0, 0, 1, 1), 4: (0, 1, 2, 3)}
    n = NativePipeline(ticks_per_ns=velox.tsc.ticks_per_ns(), rate_per_s=0, max_txns=50_000,
                       on_full="drop", levels=64, txn_ring_capacity=16, bundle_ring_capacity=2,
                       python_ring_capacity=2, bundle_timeout_ns=500, wait="yield",
                       stage_thread=maps[threads], thread_cpu=(-1,) * threads)
    n.start()  # max_txns ends the run by itself
    deadline = time.monotonic() + 30
    while not n.finished and time.monotonic() < deadline:
        time.sleep(0.002)
    n.join()
    c = n.counters()
    assert c["finished"] and c["generated"] == 50_000
    assert n.conservation_failures() == []
    assert c["python_bundles"] == min(2, c["output_bundles"])  # nobody drained the python ring
    assert c["drops"]["output_to_python"] == c["output_bundles"] - c["python_bundles"]
    assert len(n.drain(10)) == c["python_bundles"]


def test_no_drops_at_a_moderate_paced_rate_and_histograms_count_everything():
    p = Pipeline(20_000, bundle_timeout_us=50, levels=256)
    with p:
        time.sleep(0.4)
        live = p.stats()
        assert live["counters"]["generated"] > 0
    r = p.stop()  # idempotent: the report from __exit__
    c = r["counters"]
    assert r["conservation_ok"]
    assert sum(c["drops"].values()) == 0
    assert 2_000 < c["generated"] < 20_000
    lat = r["latency_ns"]
    assert lat["ingress_to_book"]["count"] == c["applied"] + c["rejected"]
    assert lat["end_to_end"]["count"] == c["bundled"] == lat["ingress_to_bundler"]["count"]
    assert lat["bundle_to_output"]["count"] == c["output_bundles"]
    for name in ("ingress_to_book", "book_to_bundler", "bundle_to_output", "end_to_end"):
        h = lat[name]
        assert h["p50"] <= h["p90"] <= h["p99"] <= h["p999"] <= h["max"]
    assert r["rate"]["target"] == 20_000 and r["rate"]["achieved"] > 0
    assert set(r["mapping"]) == {"ingress", "book", "bundler", "output"}
    assert r["memory_bytes"] > 0


def test_callback_gets_every_bundle_on_the_driver_thread():
    import threading
    seen, threads = [], set()

    def cb(batch):
        assert batch.dtype == BUNDLE_DTYPE
        threads.add(threading.get_ident())
        seen.append(batch.copy())

    p = Pipeline("max", on_full="block", callback=cb, max_txns=40_000, bundle_timeout_us=0,
                 levels=256, callback_thread=False)
    p.start()
    assert p.wait(timeout=30)
    r = p.stop()
    got = np.concatenate(seen)
    assert r["conservation_ok"]
    assert threads == {threading.get_ident()}
    assert r["counters"]["python_bundles"] == len(got) == r["counters"]["output_bundles"]
    check_bundles(got, r)


def test_stage_mapping_groups_stages_onto_the_cpus_given():
    st, tc, m = stage_mapping([CPUS[0]])
    assert st == [0, 0, 0, 0] and tc == [CPUS[0]] and set(m.values()) == {CPUS[0]}
    if len(CPUS) >= 2:
        st, tc, m = stage_mapping(CPUS[:2])
        assert st == [0, 0, 1, 1]
        assert m == {"ingress": CPUS[0], "book": CPUS[0], "bundler": CPUS[1], "output": CPUS[1]}
    assert parse_cores("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(ValueError, match="not available"):
        stage_mapping([max(CPUS) + 1000])
    for bad in ("", "a", "3-1", "1,1", "-1"):
        with pytest.raises(ValueError):
            parse_cores(bad)


def test_default_cores_leave_the_first_cpu_to_python_and_spin():
    assert default_cores([0]) == [0]
    assert default_cores([0, 1]) == [1]
    assert default_cores([2, 3, 5, 6, 7, 9]) == [3, 5, 6, 7, 9]
    st, tc, m = stage_mapping()
    assert tc == default_cores()[:4]
    p = Pipeline(1000)
    assert p.thread_cpu == tc
    if len(CPUS) >= 2:
        assert CPUS[0] not in tc
        assert p.wait_strategy == "spin"  # a CPU is left over: idle threads spin
    else:
        assert p.wait_strategy == "backoff"
    if len(CPUS) == 2:
        assert st == [0, 0, 0, 0] and tc == [CPUS[1]]  # one thread runs all four stages


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"rate": -5}, ValueError, "-5"),
    ({"rate": "fast"}, TypeError, "'fast'"),
    ({"levels": 1000}, ValueError, "1000"),
    ({"on_full": "wait"}, ValueError, "'wait'"),
    ({"wait": "sleep"}, ValueError, "'sleep'"),
    ({"bundle_timeout_us": -1}, ValueError, "-1"),
    ({"tick_size": 0}, ValueError, "0"),
    ({"seed": -1}, ValueError, "-1"),
    ({"cancel_share": 1.0}, ValueError, "1.0"),
    ({"callback": 3}, TypeError, "3"),
])
def test_bad_arguments_raise_naming_the_value(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        Pipeline(**kwargs)


def test_lifecycle_errors():
    p = Pipeline(1000)
    with pytest.raises(RuntimeError, match="never started"):
        p.stop()
    p.start()
    with pytest.raises(RuntimeError, match="already started"):
        p.start()
    r = p.stop()
    assert r["conservation_ok"]
    with pytest.raises(RuntimeError, match="no python ring"):
        p._native.drain()


def test_callback_drain_thread_loses_nothing_without_poll_in_block_mode():
    """with Pipeline(callback=f): sleep() -- nobody calls poll(); the drain thread started by
    start() must hand every bundle over (issue 10: 17,057 of 18,081 were dropped)."""
    import threading
    seen, threads = [], set()

    def cb(batch):
        threads.add(threading.get_ident())
        seen.append(batch.copy())

    with Pipeline("max", on_full="block", callback=cb, max_txns=200_000, bundle_timeout_us=0,
                  levels=256, python_ring_capacity=16) as p:
        deadline = time.monotonic() + 30
        while not p.finished and time.monotonic() < deadline:
            time.sleep(0.05)
        assert p.finished  # without a drainer block mode stalls on the full python ring
    r = p.stop()
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["counters"]["generated"] == 200_000
    assert r["counters"]["drops"]["output_to_python"] == 0
    got = np.concatenate(seen)
    assert r["counters"]["python_bundles"] == len(got) == r["counters"]["output_bundles"]
    assert threading.get_ident() not in threads and len(threads) == 1
    check_bundles(got, r)


def test_callback_exception_on_the_drain_thread_is_raised_by_stop():
    calls = []

    def cb(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise ZeroDivisionError("from the callback")

    p = Pipeline("max", on_full="block", callback=cb, max_txns=5_000, levels=256)
    p.start()
    with pytest.raises(ZeroDivisionError, match="from the callback"):
        p.wait(timeout=30)
        p.stop(timeout=5)
    r = p.stop()  # the report exists; the native threads are joined
    assert r["counters"]["finished"] and not p.running


def test_dropping_a_running_pipeline_joins_its_threads_before_closing_the_fd(tmp_path):
    """__del__ of a started, never stopped pipeline used to close the output fd while the
    native threads still wrote: a file opened meanwhile (same fd number) got bundles. Hold
    the native object elsewhere so its threads outlive the Pipeline object."""
    p = Pipeline("max", output=tmp_path / "out.bin", levels=256)
    p.start()
    native = p._native
    time.sleep(0.05)
    del p  # __del__ must stop the native threads first
    victim = tmp_path / "victim.bin"
    fd = os.open(victim, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        time.sleep(0.3)
    finally:
        os.close(fd)
    assert victim.stat().st_size == 0
    assert native.finished
    del native


def test_failed_output_writes_break_conservation():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    p = Pipeline("max", output="/dev/full", max_txns=20_000, on_full="block", levels=256)
    p.start()
    assert p.wait(timeout=30)
    r = p.stop()
    c = r["counters"]
    assert c["write_errors"] > 0 and c["bytes_written"] < c["output_bundles"] * 528
    assert r["conservation_ok"] is False
    assert any("bytes_written" in f for f in r["conservation_failures"])


# ---- explicit topologies ----------------------------------------------------------------------

STAGE_NAMES = ("ingress", "book", "bundler", "output")
_TOPOLOGY_REF: dict = {}


@st.composite
def topologies(draw):
    """Any partition of the four stages onto 1-4 threads, each pinned to an available CPU or
    unpinned: more threads than CPUs included (4 threads on a 2-CPU machine)."""
    n = draw(st.integers(1, 4))
    owner = draw(st.lists(st.integers(0, n - 1), min_size=4, max_size=4))
    used = sorted(set(owner))  # renumber so that every thread has a stage
    groups = [[s for s, o in zip(STAGE_NAMES, owner) if o == t] for t in used]
    cpus = draw(st.lists(st.one_of(st.none(), st.sampled_from(CPUS)), min_size=len(groups),
                         max_size=len(groups)))
    return list(zip(groups, cpus))


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(topologies())
def test_any_topology_conserves_and_writes_the_same_bytes(tmp_path_factory, topo):
    """Grouped onto fewer threads than stages, or spread over more threads than CPUs, the
    pipeline never deadlocks and a block-mode run writes what the one-thread run writes."""
    tmp = tmp_path_factory.mktemp("topo")
    if "ref" not in _TOPOLOGY_REF:  # the one-thread run, once for all examples
        _TOPOLOGY_REF["ref"] = run_block(tmp, "ref.bin", count=3_000, cores=[CPUS[0]])[0].read_bytes()
    ref = _TOPOLOGY_REF["ref"]
    spec = ",".join("+".join(g) + ("@*" if c is None else f"@{c}") for g, c in topo)
    for form in (spec, topo):
        path, r = run_block(tmp, "t.bin", count=3_000, topology=form)
        assert r["conservation_ok"] and not r["abandoned"], (spec, r["conservation_failures"])
        assert path.read_bytes() == ref, spec
        assert r["threads"] == len(topo)
        assert r["mapping"] == {s: (-1 if c is None else c) for g, c in topo for s in g}
    # what the C pipeline was given: each stage on its group's thread, each thread's CPU
    p = Pipeline("max", topology=spec, max_txns=1)
    assert p._nat.stage_thread == tuple(t for s in STAGE_NAMES for t, (g, _) in enumerate(topo) if s in g)
    assert p._nat.thread_cpu == tuple(-1 if c is None else c for _, c in topo)


@pytest.mark.parametrize("spec, exc, text", [
    ("ingress+book@0,bundler", ValueError, "no thread runs output"),
    ("ingress+book+bundler+output+ingress", ValueError, "on two threads"),
    ("ingress+book,bundler,output,,", ValueError, "1 to 4 threads"),
    ("ingress+book,,bundler+output", ValueError, "thread 1 has no stage"),
    ("ingress+boook,bundler+output", ValueError, "unknown stage 'boook'"),
    ("ingress+book@x,bundler+output", ValueError, "not a CPU number"),
    ("ingress+book@100000,bundler+output", ValueError, "not available"),
    ([("ingress", 0)], TypeError, "pairs"),
    ([(("ingress", "book", "bundler", "output"), True)], TypeError, "pairs"),
    (3, TypeError, "topology must be"),
])
def test_bad_topologies_raise_naming_the_part(spec, exc, text):
    with pytest.raises(exc, match=text):
        parse_topology(spec)
    with pytest.raises(exc, match=text):
        Pipeline(topology=spec)


def test_topology_and_cores_are_exclusive_and_unpinned_threads_back_off():
    with pytest.raises(ValueError, match="not both"):
        Pipeline(topology="ingress+book+bundler+output", cores=[CPUS[0]])
    p = Pipeline(topology="ingress+book@*,bundler+output@*")
    assert p.wait_strategy == "backoff" and p.mapping["book"] == -1
