"""benchmarks/_pyperf.py's Runner, used by every pyperf benchmark script: pyperf's worker
processes (the ones whose timings make the table) measure the workload the parent describes.
pyperf alone passes neither the parent's `--fast` nor its environment to a worker, so a
script sized by either timed the full size in its workers while the parent printed the small
one's count."""

import os
import subprocess
import sys
import textwrap

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")


def run_probe(tmp_path, *args):
    out = tmp_path / "seen.txt"
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {BENCHMARKS!r})
        from _pyperf import Runner

        FAST = "--fast" in sys.argv

        def bench(loops):
            if "--worker" in sys.argv:
                with open({str(out)!r}, "a") as f:
                    f.write(f"fast={{FAST}} size={{os.environ.get('VELOX_BENCH_PROBE_SIZE')}}\\n")
            return 1e-3 * loops

        runner = Runner(processes=2, values=1, warmups=0, loops=1)
        runner.bench_time_func("probe", bench)
    """))
    env = dict(os.environ, VELOX_BENCH_PROBE_SIZE="1234")
    subprocess.run([sys.executable, str(script), "-q", *args], env=env, check=True,
                   timeout=120, stdout=subprocess.DEVNULL)
    return out.read_text().splitlines()


def test_workers_get_the_parents_fast_flag_and_velox_variables(tmp_path):
    seen = run_probe(tmp_path, "--fast")
    assert seen and set(seen) == {"fast=True size=1234"}, seen


def test_workers_of_a_full_run_are_not_fast(tmp_path):
    seen = run_probe(tmp_path)
    assert seen and set(seen) == {"fast=False size=1234"}, seen
