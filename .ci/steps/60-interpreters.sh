#!/usr/bin/env bash
# CI step: the interpreter matrix and the manylinux wheel. For each maintained CPython besides
# the main run's (3.11), one leg: a fresh venv, velox installed, and pytest on the installed
# velox. 3.13, 3.14 and the free-threaded build install from source (a clean copy of the tree,
# `pip install '.[test,oracle]'`, built with that interpreter); 3.12 installs the manylinux
# wheel users get (leg `wheel`: scripts/build-wheel.sh --python 3.12: an sdist, and from it a
# wheel compiled with zig cc against glibc 2.28's symbols, checked and retagged by auditwheel,
# no generated C inside, installed with its [test,oracle] extras; then scripts/check-wheel.sh:
# typing and Cython files, a downstream Cython extension built against velox.get_include()).
# The free-threaded interpreter must also PASS tests/test_free_threading.py::test_gil_stays_disabled
# (a skip there fails this step).
#
#   bash .ci/steps/60-interpreters.sh            (VELOX_INTERPRETERS="ft wheel 3.13 3.14" default)
#
# Where each interpreter comes from (see CLAUDE.md, "Build and distribution"):
#   3.12, 3.13  pyenv's ~/.pyenv/versions/3.1N.* (or python3.1N on PATH)
#   3.14        Debian unstable's python3.14 in a debootstrap chroot (scripts/debian-python.sh,
#               cached under ~/.cache): no 3.14 source is reachable here to build one
#   ft          a free-threaded build from Debian's CPython source package (scripts/build-cpython.sh,
#               cached under ~/.cache/velox-cpython): 3.14t when Debian's archive serves the
#               python3.14 source, else 3.13t (the newest free-threaded CPython whose source it
#               serves; today's case). The step says which one ran.
# First run on a machine: ~10 min to build the free-threaded CPython, ~2 min for the chroot,
# ~1 min to fetch ziglang / auditwheel into ~/.cache/velox-wheel and let zig build its glibc
# 2.28 stubs.
# Which tests: the suite at the secondary scale (common.inc), less what another interpreter
# does not change (matrix_skip below; each runs in the README run and the wheel leg, which
# runs the whole suite):
#   - tests/test_typing_examples.py, all but one mypy run: the docs' examples, the strict
#     check of velox/pipeline/ and the editable install (a fresh venv, `pip install -e .`,
#     then mypy) check the stubs and setuptools, which are the same files on every
#     interpreter. Each GIL leg keeps test_velox_stubs_and_feeds_are_clean_under_mypy_strict:
#     mypy checks the stubs against the running interpreter's version. The free-threaded leg
#     leaves that out too: mypy has no notion of the GIL, the GIL leg of the same version
#     runs it, and the free-threaded leg's mypy is an uncompiled one (binary-only, below),
#     about 45 s a run there against 5 s.
# Everything in which velox code runs stays, in every leg: the free-threaded leg is the only
# run of test_free_threading.py, the ring guards and the threaded stress tests without a GIL.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/steps/common.inc
secondary_scale
here=$(pwd)
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Wheels only, for every dependency (velox itself, a local directory, is still built): a new
# release without a wheel for an interpreter yet (pyarrow 25+ has no cp313t wheel; numpy,
# hypothesis and mypy's native parts have had the same gaps) would otherwise be built from its
# sdist, which needs crates.io or takes longer than this whole step; pip picks the newest
# release that has one (the build-isolation env inherits this too). ast-serialize and librt
# (mypy >= 1.19's native parts) ship abi3 wheels only, which a free-threaded CPython cannot
# load: pip takes mypy 1.18 there.
export PIP_ONLY_BINARY=:all:
# matrix_skip: see the header (what each leg leaves out, and why).
matrix_skip=(
    tests/test_typing_examples.py::test_example_type_checks
    tests/test_typing_examples.py::test_pipeline_module_is_strictly_typed
    tests/test_typing_examples.py::test_mypy_finds_velox_after_an_editable_install
)
typing_stubs=tests/test_typing_examples.py::test_velox_stubs_and_feeds_are_clean_under_mypy_strict
pytest_args=(-p no:cacheprovider -rA -o "addopts=--strict-markers" --durations=8)
for t in "${matrix_skip[@]}"; do pytest_args+=(--deselect "$t"); done

pyenv_python() {  # pyenv_python 3.12 -> path of an installed 3.12, or nothing
    local v=$1 p
    for p in $(ls -d "$HOME"/.pyenv/versions/"$v".* 2>/dev/null | sort -V -r); do
        [ -x "$p/bin/python$v" ] && { echo "$p/bin/python$v"; return 0; }
    done
    command -v "python$v" || true
}

check_log() {  # check_log NAME LOG: a pytest summary with passes and no failure
    local name=$1 log=$2
    # the leg's slowest tests (--durations), for the CI budget
    sed -n '/slowest 8 durations/,/^=/p' "$log" | grep -E '^[0-9.]+s ' | sed "s/^/$name: /" || true
    grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$log" | tail -1 | sed "s/^/$name: /"
    grep -qE '^=+ .*[0-9]+ passed' "$log" || { echo "$name: pytest ran no test" >&2; return 1; }
    if grep -qE '^=+ .*[0-9]+ (failed|error)' "$log"; then
        echo "$name: pytest failures" >&2; return 1
    fi
}

show_failure() {  # the assertion lines and the summary of a failed pytest log
    grep -E '^(E |FAILED |ERROR |Fatal Python error|  File .*velox)' "$1" | head -80
    tail -15 "$1"
}

run_host() {  # run_host NAME PYTHON [more pytest arguments]
    local name=$1 py=$2 t0 dir
    shift 2
    t0=$(date +%s)
    dir="$work/$name"
    copy_tree "$dir/src"
    "$py" -m venv "$dir/venv"
    echo "+ [$name] $("$dir/venv/bin/python" -VV | head -1): pip install '.[test,oracle]'"
    "$dir/venv/bin/pip" install -q "$dir/src[test,oracle]" > "$dir/pip.log" 2>&1 || { tail -30 "$dir/pip.log"; return 1; }
    # `pytest`, not `python -m pytest`: the working directory (the source copy, no built
    # extension) must not shadow the installed velox.
    (cd "$dir/src" && "$dir/venv/bin/pytest" "${pytest_args[@]}" "$@" tests) > "$dir/pytest.log" 2>&1 || true
    check_log "$name" "$dir/pytest.log" || { show_failure "$dir/pytest.log"; return 1; }
    echo "[$name] passed in $(( $(date +%s) - t0 )) s"
}

run_debian() {  # run_debian NAME VERSION: Debian's pythonVERSION in the chroot
    local name=$1 v=$2 t0 dir
    t0=$(date +%s)
    dir="$work/$name"
    copy_tree "$dir/src"
    echo "+ [$name] Debian python$v (chroot): pip install '.[test,oracle]'"
    scripts/debian-python.sh "$v" "$dir" bash -c "
        set -e
        python$v -VV
        python$v -m venv /velox/venv
        PIP_ONLY_BINARY=$PIP_ONLY_BINARY /velox/venv/bin/pip install -q '/velox/src[test,oracle]' > /velox/pip.log 2>&1 || { tail -30 /velox/pip.log; exit 1; }
        cd /velox/src && /velox/venv/bin/pytest ${pytest_args[*]@Q} tests > /velox/pytest.log 2>&1 || true
    "
    check_log "$name" "$dir/pytest.log" || { show_failure "$dir/pytest.log"; return 1; }
    echo "[$name] passed in $(( $(date +%s) - t0 )) s"
}

run_wheel() {  # run_wheel NAME PYTHON: the manylinux wheel for PYTHON, built, installed, tested
    local name=$1 py=$2 t0 dir
    t0=$(date +%s)
    dir="$work/$name"
    mkdir -p "$dir"
    echo "+ [$name] $("$py" -VV | head -1): scripts/build-wheel.sh --python $py"
    # build-wheel.sh prints the tail of its pytest run (the suite against the installed wheel)
    # and fails when that run fails or ran nothing.
    bash scripts/build-wheel.sh --python "$py" --out "$dir/dist" > "$dir/build.log" 2>&1 \
        || { grep -E '^(E |FAILED |ERROR |Fatal Python error)' "$dir/build.log" | head -80; tail -40 "$dir/build.log"; return 1; }
    grep -E '^build-wheel.sh: |^[0-9]+ passed|^=+ .* in [0-9.]+s' "$dir/build.log" | sed "s/^/$name: /"
    PYTHON="$py" bash scripts/check-wheel.sh "$(ls "$dir"/dist/velox-*manylinux*.whl)" \
        > "$dir/check.log" 2>&1 || { tail -40 "$dir/check.log"; return 1; }
    tail -2 "$dir/check.log" | sed "s/^/$name: /"
    echo "[$name] passed in $(( $(date +%s) - t0 )) s"
}

free_threaded_python() {  # prints the free-threaded interpreter to use (3.14t, else 3.13t)
    local v py
    for v in 3.14 3.13; do
        if py=$(bash scripts/build-cpython.sh "$v" --disable-gil 2>"$work/build-cpython-$v.log" | tail -1) \
           && [ -x "$py" ]; then
            echo "$py"
            return 0
        fi
        echo "interpreters: no free-threaded $v: $(grep -E 'build-cpython.sh: no source|error' "$work/build-cpython-$v.log" | tail -1)" >&2
    done
    return 1
}

leg() {  # leg WHICH: one interpreter's build + suite (exit status = pass/fail)
    local which=$1 py name
    case "$which" in
        wheel)
            py=$(pyenv_python 3.12)
            if [ -z "$py" ]; then echo "interpreters: CPython 3.12 not found" >&2; return 1; fi
            run_wheel "cp312-manylinux-wheel" "$py" ;;
        3.1[0-3])
            py=$(pyenv_python "$which")
            if [ -z "$py" ]; then echo "interpreters: CPython $which not found" >&2; return 1; fi
            run_host "cp${which/./}" "$py" ;;
        3.14)
            run_debian cp314 3.14 ;;
        ft)
            if ! py=$(free_threaded_python); then
                echo "interpreters: no free-threaded CPython could be built" >&2; return 1
            fi
            name="cp$("$py" -c 'import sys; print("%d%d" % sys.version_info[:2])')t"
            run_host "$name" "$py" --deselect "$typing_stubs" || return 1
            # The GIL check ran and passed (on a GIL build it would be a skip).
            if ! grep -q '^PASSED tests/test_free_threading.py::test_gil_stays_disabled' "$work/$name/pytest.log"; then
                echo "$name: test_gil_stays_disabled did not PASS" >&2; return 1
            fi
            echo "[$name] test_gil_stays_disabled PASSED; GIL disabled: $("$py" -c 'import sys; print(not sys._is_gil_enabled())')" ;;
        *) echo "interpreters: unknown interpreter '$which'" >&2; return 1 ;;
    esac
}

# Two legs at a time: each leg's pip build of velox is serial (one core), so two legs use both
# CPUs (VELOX_INTERPRETER_JOBS=1 runs them one by one). A slot is refilled as soon as any leg
# ends (wait -n), and the slowest leg (free-threaded: its suite takes about twice as long)
# starts first, so the others run beside it instead of after it.
jobs_max=${VELOX_INTERPRETER_JOBS:-2}
status=0
declare -A leg_of=()
finish_any() {  # waits for whichever running leg ends first and prints its output
    local pid rc=0
    wait -n -p pid || rc=$?
    cat "$work/leg-${leg_of[$pid]}.out"
    [ "$rc" = 0 ] || status=1
    unset "leg_of[$pid]"
}
for which in ${VELOX_INTERPRETERS:-ft wheel 3.13 3.14}; do
    [ "${#leg_of[@]}" -ge "$jobs_max" ] && finish_any
    leg "$which" > "$work/leg-$which.out" 2>&1 &
    leg_of[$!]=$which
done
while [ "${#leg_of[@]}" -gt 0 ]; do finish_any; done
[ "$status" = 0 ] || { echo "60-interpreters: FAILED" >&2; exit 1; }
echo "60-interpreters: passed in $(( $(date +%s) - start )) s"
