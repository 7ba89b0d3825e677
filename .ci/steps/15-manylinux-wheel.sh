#!/usr/bin/env bash
# CI step: the manylinux wheel users install (scripts/build-wheel.sh): compiled with zig cc
# against glibc 2.28's symbols, checked and retagged by auditwheel (manylinux_2_28 or older,
# nothing grafted), no generated C inside, installed into a fresh venv, and the whole test
# suite run against the installed wheel. First run on a machine: ~1 min more to fetch ziglang /
# auditwheel into ~/.cache/velox-wheel and let zig build its glibc 2.28 stubs.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash scripts/build-wheel.sh --out "$out"
echo "15-manylinux-wheel: passed in $(( $(date +%s) - start )) s"
