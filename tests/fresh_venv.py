"""A fresh virtual environment for the tests that install something the way a user does
(``python -m pip install ...``) without downloading anything: it is made without pip and a
``.pth`` file adds the test interpreter's site-packages (pip, setuptools, Cython, numpy,
mypy) behind its own, so a package installed into it shadows the test environment's copy.
Installs into it use ``--no-build-isolation`` (the build requirements come from the test
environment instead of PyPI)."""

import os
import subprocess
import sys
import sysconfig


def fresh_venv(path, *extra_paths):
    """Creates the venv at ``path`` and returns its python. ``extra_paths`` are added after
    its own site-packages (before the test environment's)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=300)
    python = os.path.join(str(path), "bin", "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    parents = [str(p) for p in extra_paths]
    for key in ("purelib", "platlib"):
        p = sysconfig.get_paths()[key]
        if p not in parents:
            parents.append(p)
    with open(os.path.join(site, "zz_test_environment.pth"), "w") as f:
        # addsitedir, not a plain path line: it also runs the .pth files there (an editable
        # install of velox in the test environment is one)
        f.write("import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents) + "\n")
    return python


def venv_env(python):
    """os.environ with the venv active (its bin first on PATH), no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    bindir = os.path.dirname(python)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = os.path.dirname(bindir)
    return env
