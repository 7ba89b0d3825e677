"""The pyperf Runner every benchmark script uses: its worker processes measure the workload
the parent process describes.

pyperf starts each worker with an argument list of its own (`--worker --values N ...`, not the
parent's `--fast`) and a minimal environment (PATH, HOME, PYTHONPATH and a few more). A script
that sizes its workload from `--fast` or from an environment variable would then time the full
size in the workers while the parent, which prints the table, describes the small one (and
divides by its count). This Runner passes `--fast` on to the workers, and every VELOX_*
variable of the parent's environment (VELOX_BENCH_DBN_EVENTS, VELOX_BENCH_DIR, ...) through
pyperf's --inherit-environ.
"""

import os

import pyperf


def _forwarded_environ():
    return sorted(name for name in os.environ if name.startswith("VELOX_"))


class Runner(pyperf.Runner):
    """pyperf.Runner (same arguments) whose workers get the parent's `--fast` and VELOX_*
    environment variables."""

    def __init__(self, *args, add_cmdline_args=None, **kwargs):
        def add(cmd, parsed):
            if parsed.fast and "--fast" not in cmd:
                cmd.append("--fast")
            if add_cmdline_args is not None:
                add_cmdline_args(cmd, parsed)

        super().__init__(*args, add_cmdline_args=add, **kwargs)

    def parse_args(self, args=None):
        parsed = super().parse_args(args)
        inherit = list(parsed.inherit_environ or [])
        parsed.inherit_environ = inherit + [n for n in _forwarded_environ() if n not in inherit]
        return parsed
