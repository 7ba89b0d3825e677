#!/usr/bin/env bash
# CI step: `python -m build` makes an sdist and, from it, a wheel that installs and imports in a
# fresh venv (proves the sdist carries every source and header, and the wheel every .so/.pyi).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$work" 2>/dev/null || { echo "copy failed" >&2; exit 1; }
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q build
(cd "$work" && "$work/venv/bin/python" -m build -o "$work/dist" . > "$work/build.log" 2>&1) \
    || { tail -40 "$work/build.log"; exit 1; }
ls "$work/dist"
python3 -m venv "$work/fresh"
"$work/fresh/bin/pip" install -q "$work"/dist/velox-*.whl
cd "$work/fresh"
"$work/fresh/bin/python" - <<'PY'
import importlib.resources, velox
assert "site-packages" in velox.__file__, velox.__file__
assert velox.TXN_DTYPE.itemsize == 32 and velox.BUNDLE_DTYPE.itemsize == 528
files = {p.name for p in importlib.resources.files("velox").iterdir()}
for needed in ("py.typed", "__init__.pyi", "_ring.pxd", "_ring.pyi", "tsc.pyi"):
    assert needed in files, needed
r = velox.SpscRing(8); assert r.try_push(velox.Transaction(qty=1)) and r.try_pop() is not None
print("wheel OK:", velox.__file__)
PY
