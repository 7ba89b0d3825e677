"""Where the velox under test imports from, for the tests that start child Pythons.

The velox under test is an editable checkout (the README command), an installed wheel
(scripts/build-wheel.sh, CI's interpreter matrix) or an in-place tree that is not installed
at all (the sanitizer steps). A child Python finds it only if its folder is on the child's
path: ``IMPORT_ROOT`` is that folder (a good ``cwd`` too: never a checkout whose velox/ has no
built extension), ``child_env()`` an environment with it first on ``PYTHONPATH``.
"""

import os

import velox

IMPORT_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(velox.__file__)))


def child_env(*extra_paths):
    """``os.environ`` with ``extra_paths``, then IMPORT_ROOT, then any existing PYTHONPATH."""
    path = [str(p) for p in extra_paths] + [IMPORT_ROOT]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))
