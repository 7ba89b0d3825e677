#!/usr/bin/env bash
# CI step: the C core and every C test (tsc's CNTVCT_EL0 clock path, ring/book/pipeline/shm
# stress tests, the ring litmus tests, CRC32C on the ARMv8 CRC32 instructions) cross-compiled
# for aarch64 with Debian's gcc-aarch64-linux-gnu and run under qemu-user.
#
#   bash .ci/steps/30-aarch64-qemu.sh           (1-2 minutes on 2 cores, mostly cross-compiling)
#
# Installs gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user when missing (apt-get).
# What this proves and what it cannot (qemu on an x86 host runs guest code with the host's
# stronger ordering): see docs/reliability.md, "aarch64 under emulation".
# VELOX_AARCH64_SCALE (default 0.05) scales the stress counts, like VELOX_TEST_SCALE: qemu is
# ~10x slower than native, and the pinned two-thread stress tests slow down sharply when
# another process loads one of the two cores (each hand-off then waits for a time slice).
# The emulated run is there to execute the aarch64 code paths; volume is the native runs' job.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/steps/common.inc

start=$(date +%s)
need_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
sysroot=/usr/aarch64-linux-gnu
echo "+ make -C csrc check-plain CC=aarch64-linux-gnu-gcc RUNNER='qemu-aarch64 -L $sysroot'"
rm -rf csrc/build/aarch64
log=csrc/build/aarch64/check.log
mkdir -p csrc/build/aarch64
make -C csrc BUILD=build/aarch64 CC=aarch64-linux-gnu-gcc \
    RUNNER="qemu-aarch64 -L $sysroot" SCALE_plain="${VELOX_AARCH64_SCALE:-0.05}" check-plain \
    | grep --line-buffered -v '^aarch64-linux-gnu-gcc ' | tee "$log"
# The journal's checksum ran on the ARMv8 CRC32 instructions (qemu's CPU has them), not only
# on the portable tables: test_crc32c prints the implementation its run-time choice picked.
grep -qx 'crc32c: armv8-crc' "$log" \
    || { echo "test_crc32c did not pick the ARMv8 CRC32 instructions under qemu" >&2; exit 1; }
# The binaries really are aarch64 (not a host build picked up by mistake).
file_out=$(od -An -tx1 -j18 -N2 csrc/build/aarch64/plain/test_tsc | tr -d ' ')
[ "$file_out" = "b700" ] || { echo "test_tsc is not an aarch64 ELF (e_machine $file_out)" >&2; exit 1; }
echo "30-aarch64-qemu: passed in $(( $(date +%s) - start )) s"
