"""Every code block in README.md, docs/*.md and the example READMEs in EXAMPLE_READMES runs
as written (an example's blocks in the example's directory).

A fenced block tagged ``python`` runs on its own in a fresh Python (the interpreter running
the tests) with a fresh temporary working directory; a block tagged ``sh`` runs with bash in
a fresh temporary directory with a ``python`` on PATH that is this interpreter. Blocks tagged
``python fragment`` or ``sh fragment`` are partial on purpose and are not run, nor is any other
tagged block (``text``, ``toml``, ``c``, ``cython``, ...). A fence without a tag fails: every
block says what it is. Each runnable block is its own test case, named ``FILE:LINE``.
"""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from child_env import child_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Hang guard only: a block is meant to finish in well under 10 s.
BLOCK_TIMEOUT_S = 120

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


#: Example READMEs whose blocks run in the example's own directory (they call its scripts and
#: write only below a `mktemp -d`), relative to ROOT.
EXAMPLE_READMES = ("examples/fanout/README.md",)


def doc_files():
    files = [os.path.join(ROOT, "README.md")]
    files += sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    files += [os.path.join(ROOT, p) for p in EXAMPLE_READMES]
    return files


def block_dir(where, tmp_work):
    """Where a block runs: its example's directory for an example README, else tmp_work."""
    path = where.rsplit(":", 1)[0]
    return os.path.join(ROOT, os.path.dirname(path)) if path in EXAMPLE_READMES else tmp_work


def fenced_blocks(path):
    """Yield (line of the opening fence, info string, body) for each fenced block in ``path``.

    The body is dedented by the opening fence's indentation (blocks inside list items)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
        start = i + 1
        body = []
        i += 1
        while i < len(lines):
            close = FENCE.match(lines[i])
            if (close and close.group("fence")[0] == fence[0]
                    and len(close.group("fence")) >= len(fence) and not close.group("info").strip()):
                break
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        else:
            raise AssertionError(f"{os.path.relpath(path, ROOT)}:{start}: fence never closed")
        i += 1
        yield start, info, "\n".join(body) + "\n"


def all_blocks():
    for path in doc_files():
        for line, info, body in fenced_blocks(path):
            yield f"{os.path.relpath(path, ROOT)}:{line}", info, body


RUNNABLE = [(where, info, body) for where, info, body in all_blocks() if info in ("python", "sh")]


def test_the_docs_have_runnable_blocks():
    names = {where.split(":")[0] for where, _, _ in RUNNABLE}
    assert "README.md" in names and "docs/ring.md" in names, names
    assert set(EXAMPLE_READMES) <= names, names


def test_every_fence_has_a_tag():
    untagged = [where for where, info, _ in all_blocks() if not info]
    assert not untagged, (
        "fenced blocks without a tag (use python, sh, 'python fragment', 'sh fragment', "
        f"text, toml, c, ...): {untagged}")


@pytest.fixture
def python_on_path(tmp_path):
    """A directory holding a ``python`` (and ``python3``) that is this interpreter.

    A script, not a symlink: a symlink elsewhere would lose a virtual environment (Python finds
    pyvenv.cfg next to the path it was started by)."""
    shim = tmp_path / "shim"
    shim.mkdir()
    for name in ("python", "python3"):
        path = shim / name
        path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
        path.chmod(0o755)
    return shim


def run_block(info, body, work, shim):
    """Run one block in ``work``: velox importable, ``shim`` (this interpreter) first on PATH."""
    env = child_env()
    env["PATH"] = os.pathsep.join([str(shim), env.get("PATH", "")])
    if info == "python":
        cmd = [sys.executable, "-c", body]
    else:
        cmd = ["bash", "-euo", "pipefail", "-c", body]
    return subprocess.run(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)


def test_sh_blocks_run_the_test_interpreter(tmp_path, python_on_path):
    proc = run_block("sh", 'python -c "import sys; print(sys.executable); print(sys.prefix)"; pwd',
                     tmp_path, python_on_path)
    assert proc.returncode == 0, proc.stderr
    executable, prefix, cwd = proc.stdout.splitlines()
    assert (executable, prefix) == (sys.executable, sys.prefix)
    assert os.path.realpath(cwd) == os.path.realpath(tmp_path)


#: Oracles the `test` extra installs only on some interpreters (pyproject: databento-dbn has no
#: wheel for Python >= 3.13): a block importing one is run wherever the extra installs it, and
#: skipped, naming the reason, only where the extra does not.
CONDITIONAL_MODULES = {"databento_dbn": (3, 13)}


def _missing_conditional_module(body):
    for module, from_version in CONDITIONAL_MODULES.items():
        if f"import {module}" in body and sys.version_info >= from_version:
            try:
                __import__(module)
            except ImportError:
                return module
    return None


def test_conditional_modules_are_installed_where_the_test_extra_has_them():
    for module, from_version in CONDITIONAL_MODULES.items():
        if sys.version_info < from_version:
            __import__(module)  # the test extra installs it here: a missing one is a failure


@pytest.mark.parametrize("where,info,body", RUNNABLE, ids=[w for w, _, _ in RUNNABLE])
def test_block_runs(where, info, body, tmp_path, python_on_path):
    missing = _missing_conditional_module(body)
    if missing:
        pytest.skip(f"{missing} is not in the test extra on Python "
                    f"{sys.version_info.major}.{sys.version_info.minor}")
    work = tmp_path / "work"
    work.mkdir()
    proc = run_block(info, body, block_dir(where, work), python_on_path)
    assert proc.returncode == 0, (
        f"{where} ({info}) exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
        f"\n--- stderr\n{proc.stderr[-4000:]}")
