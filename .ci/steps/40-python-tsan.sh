#!/usr/bin/env bash
# CI step: the multi-threaded Python tests against extensions built with ThreadSanitizer
# (VELOX_SANITIZE=thread, which also defines VELOX_DEBUG).
#
#   bash .ci/steps/40-python-tsan.sh            (about 2-4 minutes on 2 cores)
#
# Which Python, and why: TSan must be loaded first (LD_PRELOAD of libtsan) into an interpreter
# that tolerates it. pyenv's CPython 3.11.7 segfaults at start-up under libtsan even for
# `python -c "print(1)"`; Debian's /usr/bin/python3 (3.11.2) runs fine. So this step makes a
# venv from /usr/bin/python3 (installing python3-venv python3-dev via apt when missing), pip
# installs the build/test deps into it, builds in a copy of the tree and runs the tests that
# start threads (files that use `threading`, found by grep, plus the pipeline tests whose
# native stage threads run while Python drains them). Override the interpreter with
# $VELOX_TSAN_PYTHON.
#
# Suppressions: .ci/tsan.supp, narrow and only for CPython/NumPy internals (never a velox
# frame); TSan halts on the first report (halt_on_error=1) and the step fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/steps/common.inc
secondary_scale

start=$(date +%s)
base_py=${VELOX_TSAN_PYTHON:-/usr/bin/python3}
if [ "$base_py" = /usr/bin/python3 ]; then
    need_apt python3-venv python3-dev
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/velox-tsan.XXXXXX")
trap 'rm -rf "$work"' EXIT
copy_tree "$work/src"
# Always a fresh venv from base_py: python_with_deps would reuse a system python's packages.
"$base_py" -m venv "$work/venv"
py="$work/venv/bin/python"
# -U setuptools: the venv starts with the distro's bundled setuptools (66 on Debian 12),
# too old for the PEP 621 metadata in pyproject.toml.
# databento-dbn + zstandard: tests/test_feeds_dbn.py (threaded readers) needs its oracle below 3.13.
"$py" -m pip install -q -U "numpy>=2.0" "Cython>=3.0.8,<4" "setuptools>=77" pytest hypothesis \
    "databento-dbn>=0.40; python_version < '3.13'" "zstandard>=0.22; python_version < '3.13'" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
supp="$PWD/.ci/tsan.supp"
cd "$work/src"

echo "+ VELOX_SANITIZE=thread $py setup.py build_ext --inplace (in $work/src)"
VELOX_SANITIZE=thread "$py" setup.py -q build_ext --inplace --build-temp build/tsan >build.log 2>&1 \
    || { tail -50 build.log; exit 1; }

libtsan=$(${CC:-gcc} -print-file-name=libtsan.so)
[ -f "$libtsan" ] || { echo "libtsan.so not found ($libtsan)" >&2; exit 1; }
mapfile -t threaded < <(grep -l -E 'threading|Thread\(' tests/test_*.py | grep -v 'tests/test_alloc')
# the pipeline tests: the native stage threads (and the shm: watcher, the file reader) run
# whether or not the test file itself mentions threading (not test_pipeline_cli.py: it drives
# child processes, whose threads this process's TSan does not see)
threaded+=(tests/test_pipeline.py tests/test_pipeline_mbo.py tests/test_pipeline_shm_source.py tests/test_pipeline_sources.py
           tests/test_pipeline_stage.py tests/test_pipeline_journal.py tests/test_pipeline_strategy.py)
mapfile -t threaded < <(printf '%s\n' "${threaded[@]}" | sort -u)
export LD_PRELOAD="$libtsan"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$supp"
export PYTHONPATH="$PWD/tests/native"
# The modules under test are this copy's, instrumented, and in debug mode (guards on).
for so in velox/*.so; do
    nm -D "$so" | grep ' U __tsan_init' >/dev/null || { echo "$so is not built with TSan" >&2; exit 1; }
done
"$py" -c "import velox, velox._ring as r; assert velox.__file__.startswith('$PWD'), velox.__file__
assert r.DEBUG_CHECKS, 'not a VELOX_DEBUG build'"
echo "+ LD_PRELOAD=$libtsan $py -m pytest ${threaded[*]} (TSan build)"
# Deselected: a test whose work is in child pipeline processes (their threads are not this
# process's, as for test_pipeline_cli.py); under TSan its itch:FIFO child did not finish in 300 s
# (it passes in every other build and interpreter): a known item, not yet explained.
"$py" -m pytest -q -x -p sanitizer_plugin -p no:cacheprovider "${threaded[@]}" \
    --deselect tests/test_feeds_input.py::test_pipeline_itch_and_lobster_inputs_read_every_member_and_fifos
echo "40-python-tsan: passed in $(( $(date +%s) - start )) s"
