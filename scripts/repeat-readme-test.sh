#!/usr/bin/env bash
# Runs README.md's quick-start test command N times in a row, each time in a fresh clone of
# this repository at one commit (a new scratch directory, a new venv), and stops at the first
# failure. The commit is HEAD when the script starts (or $VELOX_REPEAT_COMMIT), so commits made
# while it runs do not change what is being repeated.
# The flakiness check of issue 10: `scripts/repeat-readme-test.sh 20`. Logs go to
# ${VELOX_REPEAT_LOGS:-/tmp/velox-repeat}/run-K.log; one summary line per run on stdout.
set -euo pipefail
n=${1:-20}
repo=$(cd "$(dirname "$0")/.." && pwd)
logs=${VELOX_REPEAT_LOGS:-/tmp/velox-repeat}
mkdir -p "$logs"
commit=$(git -C "$repo" rev-parse "${VELOX_REPEAT_COMMIT:-HEAD}")
cmd=$(git -C "$repo" show "$commit:README.md" | grep -m1 -E '^python3 -m venv .*pytest')
echo "repeat-readme-test: $n runs of: $cmd (at ${commit:0:7})"
for k in $(seq 1 "$n"); do
    dir=$(mktemp -d)
    git clone -q "$repo" "$dir/velox"
    git -C "$dir/velox" checkout -q "$commit"
    t0=$(date +%s)
    if (cd "$dir/velox" && CI=true bash -euo pipefail -c "$cmd") > "$logs/run-$k.log" 2>&1; then
        echo "run $k: passed in $(( $(date +%s) - t0 )) s: $(grep -E '^=+ .* in [0-9.]+s' "$logs/run-$k.log" | tail -1)"
        rm -rf "$dir"
    else
        echo "run $k: FAILED after $(( $(date +%s) - t0 )) s (log $logs/run-$k.log, tree $dir)"
        grep -E '^(E |FAILED |ERROR )|failed' "$logs/run-$k.log" | head -20
        exit 1
    fi
done
echo "repeat-readme-test: $n of $n passed (at ${commit:0:7})"
