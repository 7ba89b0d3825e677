#!/usr/bin/env bash
# CI step: installs and runs examples/strategy (a downstream Cython user stage, velox/stage.h
# ABI, and two ABI v2 strategies, velox/strategy.h, backtested and run live against
# examples/gateway) with exactly the commands of its README's ```sh block, in a fresh virtual environment
# that sees the velox README's test command installed (.venv), its Cython, setuptools and
# numpy (~15 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
py="$PWD/.venv/bin/python"
[ -x "$py" ] || py=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/strategy "$work/strategy"
cp -r examples/gateway "$work/gateway"  # run_example.py trades live against ../gateway
rm -rf "$work/strategy/build" "$work"/strategy/src/velox_strategy/*.so
# a venv without pip whose .pth adds the installed environment's site-packages behind its own
"$py" -m venv --without-pip "$work/venv"
site=$("$work/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
"$py" -c "import sysconfig; print('import site; ' + '; '.join(f'site.addsitedir({p!r})' for p in dict.fromkeys([sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']])))" \
    > "$site/zz_ci_environment.pth"
commands=$(awk '/^```sh$/ {on = 1; next} /^```/ {on = 0} on' examples/strategy/README.md)
[ -n "$commands" ] || { echo "examples/strategy/README.md has no \`\`\`sh block" >&2; exit 1; }
echo "+ (in a fresh venv, from examples/strategy)"
echo "$commands" | sed 's/^/+   /'
(cd "$work/strategy" && PATH="$work/venv/bin:$PATH" VIRTUAL_ENV="$work/venv" PYTHONPATH= \
    bash -euo pipefail -c "$commands") > "$work/run.log" 2>&1 \
    || { tail -40 "$work/run.log"; exit 1; }
grep -q "example OK" "$work/run.log" || { tail -40 "$work/run.log"; exit 1; }
tail -2 "$work/run.log"
