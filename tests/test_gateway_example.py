"""examples/gateway: the commands of its README run as written (a generated LOBSTER file, the
gateway in the background, the pipeline CLI with builtin:quote live against it), in a temp
copy of the example, and succeed."""

import os
import re
import shlex
import shutil
import subprocess
import sys

from child_env import IMPORT_ROOT, child_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "gateway")
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def test_readme_commands_run(tmp_path):
    with open(os.path.join(EXAMPLE, "README.md"), encoding="utf-8") as f:
        blocks = BLOCK.findall(f.read())
    assert len(blocks) == 1, "examples/gateway/README.md documents one ```sh block"
    work = tmp_path / "gateway"
    shutil.copytree(EXAMPLE, work)
    # `python` in the README is this interpreter (the matrix legs' PATH holds another one)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    (shim / "python").chmod(0o755)
    env = child_env(IMPORT_ROOT)
    env["PATH"] = os.pathsep.join([str(shim), env.get("PATH", "")])
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", blocks[0]], cwd=work,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "'working_at_end': 0" in r.stdout
