#!/usr/bin/env bash
# CI step: builds examples/strategy (a downstream Cython user stage, velox/stage.h ABI) against
# the velox installed by README's test command and runs it in the pipeline (~15 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
py="$PWD/.venv/bin/python"
[ -x "$py" ] || py=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/strategy "$work/strategy"
rm -rf "$work/strategy/build" "$work"/strategy/velox_strategy/*.so
(cd "$work/strategy" && "$py" setup.py build_ext --inplace --build-temp "$work/tmp" > "$work/build.log" 2>&1) \
    || { tail -40 "$work/build.log"; exit 1; }
(cd "$work/strategy" && PYTHONPATH=. "$py" run_example.py)
