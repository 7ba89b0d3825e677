#!/usr/bin/env bash
# CI step: the pytest suite against extensions built with AddressSanitizer +
# UndefinedBehaviorSanitizer (VELOX_SANITIZE=address, which also defines VELOX_DEBUG, so the
# SPSC misuse guard and the order book's invariant checks are on), at the secondary scale:
# every test that runs velox's native code, in this process or in a child (the preload is
# inherited), fuzzers and hostile inputs included: what ASan and UBSan exist to check.
#
#   bash .ci/steps/20-python-asan.sh            (build ~3 min + tests, on 2 cores)
#
# Builds in a copy of the tree (so the normal in-place .so files stay untouched) with the
# Python that runs CI (python3 on PATH, or $VELOX_CI_PYTHON; a venv with the test deps is made
# from it if it lacks them). The ASan runtime must be the first library loaded, so it is
# preloaded into the interpreter (LD_PRELOAD, inherited by the tests' subprocesses); UBSan's
# runtime comes in as a dependency of the extensions. detect_leaks=0: CPython keeps
# interned objects and arenas alive at exit by design, which LeakSanitizer would report;
# velox's own C leak checks run in `make -C csrc check-asan` (leak detection on).
# Left out: tests/test_alloc*.py (its malloc-counting LD_PRELOAD shim cannot see allocations
# that ASan's own malloc serves) and tests/test_typing_examples.py (mypy over the docs'
# examples and the stubs: no velox code runs, the sanitizer only slows mypy down); both run in
# the README run, the wheel step and the matrix. test_debug_guard.py runs its scenarios
# against this build itself (a VELOX_DEBUG build) instead of rebuilding a debug ring.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/steps/common.inc
secondary_scale

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/velox-asan.XXXXXX")
trap 'rm -rf "$work"' EXIT
copy_tree "$work/src"
py=$(python_with_deps "${VELOX_CI_PYTHON:-python3}" "$work/venv")
cd "$work/src"

echo "+ VELOX_SANITIZE=address $py setup.py build_ext --inplace (in $work/src)"
VELOX_SANITIZE=address "$py" setup.py -q build_ext --inplace --build-temp build/asan >build.log 2>&1 \
    || { tail -50 build.log; exit 1; }

for so in velox/*.so; do
    nm -D "$so" | grep ' U __asan_init' >/dev/null || { echo "$so is not built with ASan" >&2; exit 1; }
done
libasan=$(${CC:-gcc} -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "libasan.so not found ($libasan)" >&2; exit 1; }
LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0 "$py" -c "import velox, velox._ring as r
assert velox.__file__.startswith('$PWD'), velox.__file__
assert r.DEBUG_CHECKS, 'not a VELOX_DEBUG build'"
# The `oracle` and `plot` extras are not installed here (python_with_deps): matplotlib's
# ft2font (C++) aborts at import under the ASan preload, and the hftbacktest cross-check
# JIT-compiles with numba's LLVM under it. So the plot test takes its "matplotlib missing"
# path (ImportError naming the extra), and VELOX_NO_ORACLE=1 lets the cross-check skip (a
# missing oracle fails it everywhere else); the velox code it drives (velox.backtest) runs
# here through test_backtest*.py. SweepResult.plot takes the same path. Left out: the sweep's
# Dask cluster test (distributed is not installed here): its workers are separate processes
# running tasks whose native code (velox.backtest) test_sweep.py runs here in pool processes.
"$py" -c "import importlib.util as u; assert u.find_spec('matplotlib') is None and u.find_spec('hftbacktest') is None"
echo "+ LD_PRELOAD=$libasan $py -m pytest tests (ASan+UBSan build)"
LD_PRELOAD="$libasan" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
PYTHONPATH="$PWD/tests/native" VELOX_NO_ORACLE=1 \
    "$py" -m pytest -q -x -p sanitizer_plugin -p no:cacheprovider tests \
    --ignore-glob='tests/test_alloc*.py' --ignore=tests/test_typing_examples.py \
    --ignore=tests/test_sweep_dask.py
echo "20-python-asan: passed in $(( $(date +%s) - start )) s"
