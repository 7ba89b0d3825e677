"""The SPSC misuse guard: a VELOX_DEBUG build detects two producers (or two consumers) using
one ring at the same time and fails loudly (RuntimeError), leaving the ring intact.

The normal suite runs against a release build, where the guard is compiled out, so this file
builds its own debug copy of velox._ring (VELOX_DEBUG=1 VELOX_ONLY=velox._ring, a few
seconds) in a temporary directory next to copies of the other, already built modules, and
runs the scenarios in a child Python there. Where the velox under test is itself a VELOX_DEBUG
build (the sanitizer CI steps: every sanitizer build is one), the scenarios run against it
instead: rebuilding the same debug ring there would only cost minutes under the sanitizer. The C side of the guard is tested in
csrc/tests/test_ring.c (test_misuse_*), in every C variant and under qemu-aarch64.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sanitizer_of_current_build():
    """'thread' / 'address' if the velox._ring in use was built with that sanitizer, else ''."""
    from velox import _ring

    with open(_ring.__file__, "rb") as f:
        image = f.read()
    if b"__tsan_init" in image:
        return "thread"
    if b"__asan_init" in image:
        return "address"
    return ""


@pytest.fixture(scope="module")
def debug_tree(tmp_path_factory):
    import importlib.util

    missing = [m for m in ("Cython", "setuptools") if importlib.util.find_spec(m) is None]
    assert not missing, (f"tests/test_debug_guard.py builds a debug ring module and needs "
                         f"{' and '.join(missing)} in the test environment "
                         f"(pip install 'Cython>=3.0.8,<4' setuptools)")
    import velox
    from velox import _ring

    if _ring.DEBUG_CHECKS:  # already a debug build: the folder velox imports from
        return os.path.dirname(os.path.dirname(os.path.realpath(velox.__file__)))
    tree = tmp_path_factory.mktemp("velox_debug_ring")
    shutil.copy(os.path.join(ROOT, "setup.py"), tree)
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tree)
    shutil.copytree(os.path.join(ROOT, "csrc", "velox"), tree / "csrc" / "velox")
    pkg = tree / "velox"
    shutil.copytree(os.path.join(ROOT, "velox"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.c", "*.html"))
    for so in glob.glob(str(pkg / "_ring.*.so")):
        os.remove(so)
    # Only _ring is rebuilt: the other modules come from the velox under test (an installed
    # wheel has them in site-packages, not in the checkout's velox/).
    for so in glob.glob(os.path.join(os.path.dirname(os.path.realpath(velox.__file__)), "*.so")):
        if not os.path.basename(so).startswith("_ring.") and not (pkg / os.path.basename(so)).exists():
            shutil.copy(so, pkg)
    # Build the debug ring like the modules it will sit next to: under the sanitizer CI steps
    # those are instrumented, and an uninstrumented ring there would give TSan false reports.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "VELOX_SANITIZE")}
    env.update(VELOX_DEBUG="1", VELOX_ONLY="velox._ring")
    sanitizer = _sanitizer_of_current_build()
    if sanitizer:
        env["VELOX_SANITIZE"] = sanitizer
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace",
                           "--build-temp", str(tree / "build")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tree


def run_debug(tree, body, timeout=120):
    code = "import json, threading, time\nimport numpy as np\n" + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_debug_copy_has_the_guard(debug_tree):
    r = run_debug(debug_tree, """
        import velox, velox._ring as ring_mod
        print(json.dumps({"file": velox.__file__, "debug": ring_mod.DEBUG_CHECKS}))
    """)
    assert r["debug"] is True and r["file"].startswith(str(debug_tree))


BLOCKED_PRODUCER = """
    from velox import SpscRing
    ring = SpscRing(4, "<u8")
    ring.push_many(np.arange(4, dtype=np.uint64))
    outcome = {}
    def blocked():
        try:
            ring.push(np.uint64(99), timeout=30.0)
            outcome["a"] = "pushed"
        except TimeoutError:
            outcome["a"] = "timeout"
    t = threading.Thread(target=blocked); t.start()
    msg, deadline = None, time.monotonic() + 25
    while msg is None and time.monotonic() < deadline:
        try:
            ring.try_push(np.uint64(7))   # False (full) until A is inside its wait
        except RuntimeError as exc:
            msg = str(exc)
        time.sleep(0.0002)                # lets A take the GIL to (re-)enter its wait
    first = int(ring.pop(timeout=5))      # frees a slot: A's wait ends with its push
    t.join(40)
    print(json.dumps({"msg": msg, "a": outcome.get("a"), "first": first,
                      "left": [int(x) for x in ring.pop_many(8)], "len": len(ring)}))
"""


def test_second_producer_during_blocking_push_raises(debug_tree):
    """Thread A blocks in push() on a full ring (it holds the producer side while it waits);
    the main thread pushing meanwhile gets RuntimeError and its record does not enter the
    ring. Then the main thread pops one record (the consumer side is free), A's push
    completes, and the ring holds four records, the first three untouched (the fourth, A's
    own record, is checked by the next test)."""
    r = run_debug(debug_tree, BLOCKED_PRODUCER)
    assert r["msg"] is not None and "one producer thread" in r["msg"], r
    assert r["a"] == "pushed" and r["first"] == 0
    assert r["left"][:3] == [1, 2, 3] and len(r["left"]) == 4 and r["len"] == 0


def test_refused_producer_does_not_alter_the_blocked_producers_record(debug_tree):
    """Regression (found by this file on 2026-11-22, fixed in velox/_ring.pyx the same day):
    the refused try_push converted its item into the ring object's producer scratch buffer,
    which the blocked push() of thread A was retrying from, so A pushed 7 instead of 99. A
    blocked push now waits on its own copy (_wait_scratch)."""
    r = run_debug(debug_tree, BLOCKED_PRODUCER)
    assert r["msg"] is not None, r
    assert r["left"] == [1, 2, 3, 99]


def test_second_consumer_during_blocking_pop_raises(debug_tree):
    r = run_debug(debug_tree, """
        from velox import SpscRing
        ring = SpscRing(4, "<u8")
        outcome = {}
        def blocked():
            try:
                outcome["a"] = int(ring.pop(timeout=30.0))
            except TimeoutError:
                outcome["a"] = "timeout"
        t = threading.Thread(target=blocked); t.start()
        msg, deadline = None, time.monotonic() + 25
        while msg is None and time.monotonic() < deadline:
            try:
                ring.try_pop()                # None (empty) until A is inside its wait
            except RuntimeError as exc:
                msg = str(exc)
            time.sleep(0.0002)                # lets A take the GIL to (re-)enter its wait
        ring.push(np.uint64(5))               # A's wait ends with this record
        t.join(40)
        ring.push(np.uint64(6))
        print(json.dumps({"msg": msg, "a": outcome.get("a"), "next": int(ring.pop(timeout=5)),
                          "len": len(ring)}))
    """)
    assert r["msg"] is not None and "one" in r["msg"] and "consumer" in r["msg"], r
    assert r["a"] == 5 and r["next"] == 6 and r["len"] == 0


def test_racing_batch_producers_are_detected_and_nothing_is_corrupted(debug_tree):
    """Two producer threads race push_many with 128 KiB batches (the copy runs without the
    GIL, so the C calls overlap); a consumer checks that every record it gets is one that was
    pushed, whole. The guard must fire, and a refused batch must push nothing."""
    r = run_debug(debug_tree, """
        from velox import SpscRing, TXN_DTYPE
        ring = SpscRing(16384, TXN_DTYPE)
        n = 4096                                # 4096 * 32 B = 128 KiB per batch: nogil copy
        stop = threading.Event()
        producers_done = threading.Event()
        stats = {"misuse": 0, "pushed_1": 0, "pushed_2": 0, "bad": 0, "popped": 0}
        def producer(tag):
            batch = np.zeros(n, TXN_DTYPE)
            batch["seq"] = tag
            batch["price"] = np.arange(n) * 3 + tag
            batch["qty"] = np.arange(n) + 1
            while not stop.is_set():
                try:
                    stats[f"pushed_{tag}"] += ring.push_many(batch)  # one key per thread
                except RuntimeError as exc:
                    assert "one producer thread" in str(exc), exc
                    stats["misuse"] += 1
                    stop.set()
        def consumer():
            out = np.empty(n, TXN_DTYPE)
            while not producers_done.is_set() or len(ring):
                k = ring.pop_many(out)
                rows = out[:k]
                ok = (rows["price"] == (rows["qty"].astype(np.int64) - 1) * 3 + rows["seq"].astype(np.int64)) \\
                     & ((rows["seq"] == 1) | (rows["seq"] == 2))
                stats["bad"] += int((~ok).sum())
                stats["popped"] += k
        producers = [threading.Thread(target=producer, args=(tag,)) for tag in (1, 2)]
        drainer = threading.Thread(target=consumer)
        for t in producers + [drainer]: t.start()
        stop.wait(20)
        stop.set()
        for t in producers: t.join(30)
        producers_done.set()                    # then the consumer drains what is left
        drainer.join(30)
        stats["len"] = len(ring)
        print(json.dumps(stats))
    """)
    assert r["misuse"] >= 1, r
    assert r["bad"] == 0, r
    assert r["pushed_1"] + r["pushed_2"] == r["popped"] and r["len"] == 0, r
