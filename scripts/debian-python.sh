#!/usr/bin/env bash
# Run a command with Debian's python3.X (from Debian unstable's binary packages) in a chroot,
# with DIR bind-mounted at /velox:
#
#   scripts/debian-python.sh 3.14 DIR CMD [ARG...]      e.g. ... 3.14 "$tree" bash -c 'python3.14 -V'
#
# Why: CPython 3.14's source is not reachable from these machines (only PyPI and Debian's
# archive are, and the mirror serves no python3.14 source package), and Debian's python3.14
# binaries need glibc >= 2.42, newer than bookworm's. So a minimal sid root (debootstrap,
# ~640 MB, ~2 minutes) with python3.14, its venv/dev packages and gcc is made once under
# ~/.cache/velox-debian-<suite>-<version> and reused. The command runs in a private mount
# namespace (unshare -m): /proc, /dev (for /dev/shm) and DIR are bind-mounted and vanish with it.
set -euo pipefail
version=${1:?usage: debian-python.sh VERSION DIR CMD...}
dir=${2:?usage: debian-python.sh VERSION DIR CMD...}
shift 2
[ $# -gt 0 ] || { echo "debian-python.sh: no command" >&2; exit 2; }
suite=${VELOX_DEBIAN_SUITE:-sid}
root=${VELOX_DEBIAN_ROOT:-$HOME/.cache/velox-debian-$suite-$version}

if [ ! -e "$root/.velox-ready" ]; then
    command -v debootstrap >/dev/null || {
        echo "+ apt-get install debootstrap" >&2
        apt-get install -y -qq debootstrap >&2 || { apt-get update -qq >&2 && apt-get install -y -qq debootstrap >&2; }
    }
    echo "+ debootstrap $suite into $root (python$version)" >&2
    rm -rf "$root"
    debootstrap --variant=minbase \
        --include="python$version,python$version-venv,python$version-dev,gcc,libc6-dev,ca-certificates" \
        "$suite" "$root" http://deb.debian.org/debian > "$root.log" 2>&1 \
        || { tail -20 "$root.log" >&2; exit 1; }
    touch "$root/.velox-ready"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The host's CA bundle, so pip inside trusts what pip outside trusts (the same network).
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/velox-host-ca.crt"
mkdir -p "$root/velox"
exec unshare --mount --propagation private -- bash -c '
    set -e
    root=$1 dir=$2; shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --bind "$dir" "$root/velox"
    exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin \
        LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/velox-host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PIP_DEFAULT_TIMEOUT=180 CI="${CI:-}" VELOX_TEST_SCALE="${VELOX_TEST_SCALE:-}" "$@"
' debian-python "$root" "$dir" "$@"
