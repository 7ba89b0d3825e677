#!/usr/bin/env bash
# CI step: the manylinux wheel users install (scripts/build-wheel.sh): an sdist, and from it a
# wheel compiled with zig cc against glibc 2.28's symbols, checked and retagged by auditwheel
# (manylinux_2_28 or older, nothing grafted), no generated C inside, installed into a fresh
# venv, and the test suite run against the installed wheel (at the secondary scale, see
# common.inc). Then scripts/check-wheel.sh: what a downstream user needs from the wheel
# (typing and Cython files, a Cython extension built against velox.get_include()). First run
# on a machine: ~1 min more to fetch ziglang / auditwheel into ~/.cache/velox-wheel and let
# zig build its glibc 2.28 stubs.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/steps/common.inc
secondary_scale
start=$(date +%s)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash scripts/build-wheel.sh --out "$out"
bash scripts/check-wheel.sh "$(ls "$out"/velox-*manylinux*.whl)"
echo "15-manylinux-wheel: passed in $(( $(date +%s) - start )) s"
