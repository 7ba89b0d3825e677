#!/usr/bin/env bash
# CI step: proves the ring's tests can fail. For every release store and acquire load of the
# ring's head/tail in csrc/velox/ring.c, builds a mutant with that one order weakened to
# memory_order_relaxed and requires ThreadSanitizer to report a data race in test_ring or
# test_litmus_ring (the barrier a mutant drops is exactly the bug weak-memory hardware would
# turn into corrupted records, and that x86 and qemu never show). The unmutated ring must pass.
#
#   bash .ci/steps/50-ring-mutants.sh            (about 1-2 minutes on 2 cores)
#
# Works in a temporary copy of csrc/, so the tree is never modified.
set -euo pipefail
cd "$(dirname "$0")/../.."

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/velox-mutants.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r csrc "$work/csrc"
rm -rf "$work/csrc/build"
cd "$work/csrc"
cp velox/ring.c ring.c.orig

run_tests() {  # prints TSan's SUMMARY line, if any; 0: both tests passed, 1: TSan reported a
               # race (the kill), 2: the build failed, 3: a test failed WITHOUT a TSan report
               # (a crash, a CHECK, a hang: an error of this step, never counted as a kill)
    local out rc
    rm -f build/mut/tsan/test_ring build/mut/tsan/test_litmus_ring
    make -s BUILD=build/mut build/mut/tsan/test_ring build/mut/tsan/test_litmus_ring >/dev/null 2>&1 \
        || { echo "build failed"; return 2; }
    for t in test_ring test_litmus_ring; do
        rc=0
        out=$(VELOX_TEST_SCALE=0.01 TSAN_OPTIONS="halt_on_error=1" timeout 600 ./build/mut/tsan/$t 2>&1) || rc=$?
        if echo "$out" | grep -q 'WARNING: ThreadSanitizer'; then
            echo "$out" | grep -m1 'SUMMARY: ThreadSanitizer' || echo "$out" | grep -m1 'WARNING: ThreadSanitizer'
            return 1
        fi
        if [ $rc -ne 0 ]; then
            echo "$t exited $rc without a ThreadSanitizer report:"; echo "$out" | tail -5
            return 3
        fi
    done
    return 0
}

echo "== baseline (unmutated ring.c)"
base=$(run_tests) || { echo "baseline failed: $base" >&2; exit 1; }

# The ring's operations reach the shared block as b->... or r->block->... (attach/init_in use
# blk->, which the stress tests do not exercise concurrently, so they are not mutated).
mapfile -t lines < <(grep -n -E 'atomic_(load|store)_explicit\(&(b|r->block)->(producer\.head|consumer\.tail).*memory_order_(acquire|release)' ring.c.orig | cut -d: -f1)
[ ${#lines[@]} -ge 8 ] || { echo "expected >= 8 head/tail orders in ring.c, found ${#lines[@]}" >&2; exit 1; }
survivors=0
for line in "${lines[@]}"; do
    cp ring.c.orig velox/ring.c
    sed -i "${line}s/memory_order_acquire/memory_order_relaxed/; ${line}s/memory_order_release/memory_order_relaxed/" velox/ring.c
    what=$(sed -n "${line}p" ring.c.orig | sed 's/^ *//')
    rc=0
    summary=$(run_tests) || rc=$?
    if [ $rc -eq 0 ]; then
        echo "SURVIVED  ring.c:$line  $what" >&2
        survivors=$((survivors + 1))
    elif [ $rc -eq 2 ]; then
        echo "mutant ring.c:$line does not build: $what" >&2
        exit 1
    elif [ $rc -eq 3 ]; then
        echo "mutant ring.c:$line failed without a TSan report (not a kill): $what -> $summary" >&2
        exit 1
    else
        echo "killed    ring.c:$line  $what  -> $summary"
    fi
done
cp ring.c.orig velox/ring.c
[ $survivors -eq 0 ] || { echo "$survivors mutant(s) survived: a dropped barrier went undetected" >&2; exit 1; }
echo "50-ring-mutants: all ${#lines[@]} mutants killed in $(( $(date +%s) - start )) s"
