#!/usr/bin/env bash
# Build a CPython from Debian's source package into ~/.cache/velox-cpython/<version>[t], only
# when that build is missing. Usage: scripts/build-cpython.sh 3.14 [--disable-gil]
#
# Why Debian's source package: pyenv on CI machines stops at 3.13.0 and the only network these
# machines reach is PyPI and Debian's archive. `apt-get source --download-only` fetches the
# upstream tarball (python3.14_*.orig.tar.xz, = python.org's Python-3.14.x.tar.xz) from the
# first suite carrying python3.14 (sid). The tarball is cached under ~/.cache too, so a rebuild
# on this machine does not re-download. Plain build: no PGO, no LTO (a test interpreter, not a
# fast one), `make -j2`, `make install`. Prints the interpreter's path as the last line.
set -euo pipefail

version=${1:?usage: build-cpython.sh VERSION [--disable-gil]}
flavour=""
configure_extra=()
if [ "${2:-}" = "--disable-gil" ]; then
    flavour="t"
    configure_extra+=(--disable-gil)
elif [ -n "${2:-}" ]; then
    echo "build-cpython.sh: unknown option ${2}" >&2
    exit 2
fi
case "$version" in
    [0-9].[0-9]|[0-9].[0-9][0-9]) ;;
    *) echo "build-cpython.sh: VERSION must look like 3.14, got '$version'" >&2; exit 2 ;;
esac

cache=${VELOX_CPYTHON_CACHE:-$HOME/.cache/velox-cpython}
prefix="$cache/$version$flavour"
python="$prefix/bin/python$version$flavour"
if [ -x "$python" ] && "$python" -c 'import ssl, ctypes, sqlite3, lzma, bz2, zlib' 2>/dev/null; then
    echo "build-cpython.sh: $version$flavour already built" >&2
    echo "$python"
    exit 0
fi

# Build dependencies: install only those missing (apt-get needs root; skip if all present).
deps=(build-essential pkg-config dpkg-dev xz-utils libssl-dev zlib1g-dev libffi-dev libbz2-dev
      liblzma-dev libsqlite3-dev libreadline-dev uuid-dev libncurses-dev libexpat1-dev)
missing=()
for dep in "${deps[@]}"; do
    dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'ok installed' || missing+=("$dep")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-cpython.sh: installing ${missing[*]}" >&2
    apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

# Upstream tarball: cached under ~/.cache; otherwise fetched as Debian's source package.
tarballs="$cache/tarballs"
mkdir -p "$tarballs"
tarball=$(ls "$tarballs"/python"$version"_"$version".*.orig.tar.xz 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$tarball" ]; then
    src_list=/etc/apt/sources.list.d/velox-deb-src.sources
    if [ ! -e "$src_list" ]; then
        # Debian's own archive, source packages of the suites that carry python3.13/3.14.
        echo "build-cpython.sh: adding $src_list" >&2
        cat > "$src_list" <<'EOF2'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid forky trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF2
        apt-get update >&2
    fi
    # Every source version apt knows, newest first: a mirror may lack the newest one's files.
    for v in $(apt-cache showsrc "python$version" 2>/dev/null | sed -n 's/^Version: //p' | sort -Vr -u); do
        echo "build-cpython.sh: trying python$version=$v" >&2
        if (cd "$tarballs" && apt-get source --download-only "python$version=$v" >"$tarballs/apt.log" 2>&1); then
            break
        fi
        grep -E '^E:' "$tarballs/apt.log" | head -2 >&2 || true
    done
    tarball=$(ls "$tarballs"/python"$version"_"$version".*.orig.tar.xz 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$tarball" ]; then
        echo "build-cpython.sh: no source of python$version could be downloaded from Debian's archive" >&2
        exit 3
    fi
fi
echo "build-cpython.sh: source $tarball" >&2

work="$cache/build-$version$flavour"
rm -rf "$work" "$prefix"
mkdir -p "$work"
tar -xJf "$tarball" -C "$work" --strip-components=1
cd "$work"
./configure --prefix="$prefix" "${configure_extra[@]}" \
    >configure.log 2>&1 || { tail -40 configure.log >&2; exit 1; }
make -j2 >make.log 2>&1 || { tail -60 make.log >&2; exit 1; }
make install >install.log 2>&1 || { tail -40 install.log >&2; exit 1; }
cd /
rm -rf "$work"
"$python" -c 'import ssl, ctypes, sqlite3, lzma, bz2, zlib, sys; print(sys.version)' >&2
echo "$python"
