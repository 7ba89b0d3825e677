"""User native stages (csrc/velox/stage.h) hosted by the pipeline's book stage: orders a
stage emits reach the output, conservation holds with them, hostile stages (count past the
buffer, invalid records, init refusal) are counted and never crash, a no-op stage changes
nothing, replays are byte-identical, bad stage objects raise naming the value."""

import numpy as np
import pytest

from velox import BUNDLE_DTYPE, Pipeline
from velox._pipeline import BUILTIN_STAGES, BuiltinStage

STAGE_SEQ = 1 << 62  # builtin stages number their orders from here


def run(tmp_path, name, stage=None, count=30_000, on_full="block", **kw):
    path = tmp_path / name
    p = Pipeline("max", on_full=on_full, bundle_timeout_us=0, output=path, max_txns=count,
                 levels=256, timestamps="logical", stage=stage, **kw)
    p.start()
    assert p.wait(timeout=60)
    r = p.stop()
    return r, np.fromfile(path, BUNDLE_DTYPE)


def txns_of(bundles):
    used = np.arange(16)[None, :] < bundles["count"].astype(np.int64)[:, None]
    return bundles["txns"][used]


def test_imbalance_stage_orders_reach_the_output(tmp_path):
    st = BuiltinStage("imbalance")
    r, b = run(tmp_path, "out.bin", st)
    assert r["conservation_ok"], r["conservation_failures"]
    u = r["counters"]["user_stage"]
    assert u["emitted"] > 0 and u["rejected"] == 0 and u["bad_returns"] == 0
    assert st.counts["inits"] == 1 and st.counts["finishes"] == 1
    assert st.counts["events"] == r["counters"]["applied"]
    assert st.counts["orders"] == u["emitted"] == u["emitted"]
    t = txns_of(b)
    orders = t[t["seq"] >= STAGE_SEQ]
    assert len(orders) == u["emitted"]
    assert np.array_equal(orders["seq"], STAGE_SEQ + np.arange(len(orders), dtype=np.uint64))
    assert set(orders["qty"]) == {1} and set(orders["kind"]) == {0}
    assert len(t) == r["counters"]["applied"] + u["emitted"] == r["counters"]["bundled"]
    assert "user stage" in __import__("velox.pipeline").pipeline.format_summary(r)


def test_noop_stage_changes_nothing_and_replays_are_identical(tmp_path):
    r0, b0 = run(tmp_path, "plain.bin")
    r1, b1 = run(tmp_path, "noop.bin", BuiltinStage("noop"))
    assert r1["conservation_ok"] and r1["counters"]["user_stage"]["batches"] > 0
    assert b0.tobytes() == b1.tobytes() and r0["book_digest"] == r1["book_digest"]
    r2, b2 = run(tmp_path, "i1.bin", BuiltinStage("imbalance"))
    r3, b3 = run(tmp_path, "i2.bin", BuiltinStage("imbalance"))
    assert b2.tobytes() == b3.tobytes() and r2["book_digest"] == r3["book_digest"]


@pytest.mark.parametrize("on_full", ["block", "drop"])
@pytest.mark.parametrize("cores", [1, 2])
def test_echo_stage_conserves_in_both_modes(tmp_path, on_full, cores):
    import velox.pipeline as vp
    cpus = vp.available_cpus()[:cores]
    r, b = run(tmp_path, "e.bin", BuiltinStage("echo"), on_full=on_full, cores=cpus,
               emit_capacity=8, count=20_000)
    assert r["conservation_ok"], r["conservation_failures"]
    u = r["counters"]["user_stage"]
    assert u["emitted"] > 0
    if on_full == "block":
        assert r["counters"]["bundled"] == r["counters"]["applied"] + u["emitted"]


@pytest.mark.parametrize("kind", ["bad_count", "bad_records", "fail_init"])
def test_hostile_stages_are_counted_never_trusted(tmp_path, kind):
    st = BuiltinStage(kind)
    r, b = run(tmp_path, "h.bin", st, count=10_000)
    assert r["conservation_ok"], r["conservation_failures"]
    u = r["counters"]["user_stage"]
    if kind == "bad_count":
        assert u["bad_returns"] == u["batches"] > 0 and u["emitted"] == 0
    elif kind == "bad_records":
        assert u["rejected"] == 2 * u["batches"] and u["emitted"] == u["batches"]
        t = txns_of(b)
        assert set(t["side"]) <= {0, 1}  # nothing invalid reached the output
    else:
        assert u["init_failed"] and u["batches"] == 0 and st.counts["finishes"] == 0
    assert len(txns_of(b)) == r["counters"]["bundled"]


def test_bad_stage_objects_raise_naming_the_value():
    with pytest.raises(TypeError, match="user_stage"):
        Pipeline(stage=3)
    import ctypes
    cap = ctypes.pythonapi.PyCapsule_New
    cap.restype = ctypes.py_object
    cap.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    buf = ctypes.create_string_buffer(64)
    other = ctypes.create_string_buffer(b"other.name")
    with pytest.raises(ValueError, match="velox.stage.v1"):
        Pipeline(stage=cap(ctypes.addressof(buf), ctypes.addressof(other), None))
    name = ctypes.create_string_buffer(b"velox.stage.v1")
    with pytest.raises(ValueError, match="abi_version"):  # a zeroed table: version 0
        Pipeline(stage=cap(ctypes.addressof(buf), ctypes.addressof(name), None))
    with pytest.raises(ValueError, match="kind"):
        BuiltinStage("nope")
    with pytest.raises(ValueError, match="user_emit_capacity"):
        Pipeline(stage=BuiltinStage("noop"), emit_capacity=0)
    assert set(BUILTIN_STAGES) >= {"noop", "imbalance", "echo"}


def test_several_stages_run_in_order_over_the_same_events(tmp_path):
    """stage=[...]: every live stage sees every accepted transaction, once per book batch, in
    list order; a batch's orders follow its transactions, stage 0's first; a refusing init or
    a no-op stage in the list changes nothing for the others; counters per stage and summed."""
    stages = [BuiltinStage("echo"), BuiltinStage("fail_init"), BuiltinStage("noop"),
              BuiltinStage("imbalance")]
    r, b = run(tmp_path, "chain.bin", stages, count=20_000, emit_capacity=64)
    assert r["conservation_ok"], r["conservation_failures"]
    c = r["counters"]
    per = c["user_stages"]
    assert [u["init_failed"] for u in per] == [False, True, False, False]
    assert per[0]["batches"] == per[2]["batches"] == per[3]["batches"] > 0 and per[1]["batches"] == 0
    assert per[0]["emitted"] == c["applied"]  # echo: one order per txn
    assert per[3]["emitted"] > 0
    assert c["user_stage"]["emitted"] == sum(u["emitted"] for u in per)
    assert c["user_stage"]["init_failures"] == 1
    assert [s.counts["events"] for s in stages] == [c["applied"], 0, c["applied"], c["applied"]]
    assert c["bundled"] == c["applied"] + c["user_stage"]["emitted"]  # block: nothing dropped
    t = txns_of(b)
    is_order = t["seq"] >= STAGE_SEQ
    i = echoed = imbalanced = batches = 0
    while i < len(t):  # [batch's txns][echo's n orders][imbalance's 0..1], batch after batch
        j = i
        while j < len(t) and not is_order[j]:
            j += 1
        n = j - i
        assert 0 < n <= 64, (i, n)
        events, echo = t[i:j], t[j:j + n]
        assert len(echo) == n and is_order[j:j + n].all(), (i, n)
        assert np.array_equal(echo["seq"], STAGE_SEQ + echoed + np.arange(n, dtype=np.uint64))
        for f in ("price", "qty", "side"):
            assert np.array_equal(echo[f], events[f]), (i, f)
        echoed += n
        i = j + n
        while i < len(t) and is_order[i]:  # then the imbalance stage's orders
            assert t[i]["seq"] == STAGE_SEQ + imbalanced and t[i]["qty"] == 1, i
            imbalanced += 1
            i += 1
        batches += 1
    assert echoed == c["applied"] and imbalanced == per[3]["emitted"]
    assert batches == per[0]["batches"]
    summary = __import__("velox.pipeline").pipeline.format_summary(r)
    assert summary.count("user stage builtin:") == 4 and "init refused" in summary


def test_stage_lists_are_checked():
    with pytest.raises(ValueError, match="1 to 8 stages, got 9"):
        Pipeline(stage=[BuiltinStage("noop") for _ in range(9)])
    with pytest.raises(ValueError, match="1 to 8 stages, got 0"):
        Pipeline(stage=[])
    with pytest.raises(TypeError, match="got 3"):
        Pipeline(stage=[BuiltinStage("noop"), 3])
    with pytest.raises(ValueError, match="x 8 stage"):  # 8 x 512 emit buffers = the ring
        Pipeline(stage=[BuiltinStage("noop") for _ in range(8)], emit_capacity=512)


# -- capsules that own their table, and the callback an input needs ------------------------

import ctypes  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from child_env import IMPORT_ROOT, child_env  # noqa: E402

_api = ctypes.pythonapi
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_STAGE = b"velox.stage.v1"
_TABLE_SIZE = 56          # sizeof(vx_user_stage)
_ON_BATCH, _ON_MBO_BATCH = 32, 48   # offsetof(vx_user_stage, on_batch / on_mbo_batch)


def _table_copy(kind="echo"):
    """A writable copy of a builtin stage's vx_user_stage (the BuiltinStage must stay alive:
    the copy shares its state and callbacks)."""
    owner = BuiltinStage(kind)
    buf = ctypes.create_string_buffer(_TABLE_SIZE)
    ctypes.memmove(buf, _api.PyCapsule_GetPointer(owner.__velox_stage__(), _STAGE), _TABLE_SIZE)
    return owner, buf


def test_a_capsule_that_owns_its_table_lives_as_long_as_the_pipeline():
    """A stage whose __velox_stage__() returns a capsule that owns the table (its destructor
    wipes it, as a C stage that frees its malloc'd struct would) runs through a whole replay:
    the pipeline holds that capsule from construction until it is destroyed."""
    owner, buf = _table_copy("echo")
    wiped = []

    @ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    def destroy(capsule):  # the table dies with its capsule
        ctypes.memset(buf, 0, _TABLE_SIZE)
        wiped.append(1)

    class OwnedStage:
        calls = 0

        def __velox_stage__(self):
            OwnedStage.calls += 1
            return _api.PyCapsule_New(ctypes.addressof(buf), _STAGE,
                                      ctypes.cast(destroy, ctypes.c_void_p))

    stage = OwnedStage()
    p = Pipeline(rate="max", input="feed", cores=[1], on_full="block", stage=stage)
    gc.collect()
    assert wiped == [] and OwnedStage.calls == 1
    assert len(p._nat.stage_capsules) == 1 and p._nat.user_stages == (stage,)
    ev = np.zeros(1000, __import__("velox").TXN_DTYPE)
    ev["qty"] = 1
    ev["price"] = 100 * 10**8
    ev["seq"] = np.arange(1000)
    p.start()
    p.feed(ev)
    p.close_feed()
    assert p.wait(timeout=60)
    r = p.stop()
    assert wiped == []
    assert r["conservation_ok"], r["conservation_failures"]
    assert r["counters"]["user_stage"]["emitted"] == r["counters"]["applied"] > 0
    del p
    gc.collect()
    assert wiped == [1]  # released once the pipeline is gone, not leaked
    del owner


def test_a_stage_without_the_inputs_callback_is_refused_before_the_run():
    owner, l2_only = _table_copy("echo")
    ctypes.memset(ctypes.addressof(l2_only) + _ON_MBO_BATCH, 0, 8)
    cap = _api.PyCapsule_New(ctypes.addressof(l2_only), _STAGE, None)
    with pytest.raises(ValueError, match=r"has no on_mbo_batch \(market-by-order input needs one\)"):
        Pipeline(input="feed", records="mbo", stage=cap)
    Pipeline(input="feed", records="txn", stage=cap)  # the input it can run
    owner2, mbo_only = _table_copy("echo")
    ctypes.memset(ctypes.addressof(mbo_only) + _ON_BATCH, 0, 8)
    cap2 = _api.PyCapsule_New(ctypes.addressof(mbo_only), _STAGE, None)
    with pytest.raises(ValueError, match=r"has no on_batch \(transaction input needs one"):
        Pipeline(input="feed", records="txn", stage=cap2)
    Pipeline(input="feed", records="mbo", stage=cap2)
    owner3, neither = _table_copy("echo")
    ctypes.memset(ctypes.addressof(neither) + _ON_BATCH, 0, 8)
    ctypes.memset(ctypes.addressof(neither) + _ON_MBO_BATCH, 0, 8)
    cap3 = _api.PyCapsule_New(ctypes.addressof(neither), _STAGE, None)
    with pytest.raises(ValueError, match=r"has no on_batch \(transaction input needs one\)$"):
        Pipeline(input="feed", records="txn", stage=cap3)
    with pytest.raises(ValueError, match=r"has no on_mbo_batch \(market-by-order input needs one\)$"):
        Pipeline(input="feed", records="mbo", stage=cap3)
    # the place of the stage in a list, and its own name, are in the message
    with pytest.raises(ValueError, match=r"user_stage\[1\] .*name 'echo'.*has no on_mbo_batch"):
        Pipeline(input="feed", records="mbo", stage=[BuiltinStage("echo"), cap])

    class Broken:
        def __velox_stage__(self):
            raise RuntimeError("no table today")

    with pytest.raises(ValueError, match="__velox_stage__\\(\\) failed: RuntimeError: no table today"):
        Pipeline(stage=Broken())

    class NotACapsule:
        def __velox_stage__(self):
            return 42

    with pytest.raises(TypeError, match="__velox_stage__\\(\\) must return a PyCapsule"):
        Pipeline(stage=NotACapsule())
    del owner, owner2, owner3


L2_ONLY_MODULE = '''
import ctypes
from velox._pipeline import BuiltinStage
api = ctypes.pythonapi
api.PyCapsule_GetPointer.restype = ctypes.c_void_p
api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
api.PyCapsule_New.restype = ctypes.py_object
api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_owner = BuiltinStage("echo")
_table = ctypes.create_string_buffer(56)
ctypes.memmove(_table, api.PyCapsule_GetPointer(_owner.__velox_stage__(), b"velox.stage.v1"), 56)
ctypes.memset(ctypes.addressof(_table) + 48, 0, 8)       # no on_mbo_batch: an L2 stage
_name = ctypes.create_string_buffer(b"velox.stage.v1")  # a capsule keeps the name's pointer
stage = api.PyCapsule_New(ctypes.addressof(_table), _name, None)
'''


def test_cli_refuses_an_l2_stage_on_market_by_order_input_with_one_line(tmp_path):
    (tmp_path / "l2only.py").write_text(L2_ONLY_MODULE)
    events = tmp_path / "day.mbo"
    np.zeros(10, __import__("velox").MBO_DTYPE).tofile(events)
    js = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "velox.pipeline", "--input", f"mbo:{events}",
                        "--stage", "l2only:stage", "--json", str(js), "--quiet"],
                       cwd=IMPORT_ROOT, env=child_env(tmp_path), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "has no on_mbo_batch (market-by-order input needs one)" in lines[0]
    assert r.stdout == "" and js.read_text() == ""  # nothing ran
