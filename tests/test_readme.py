"""The README's API-at-a-glance example runs as written, and its quick-start commands are the
ones .ci/run executes."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", read("README.md"), re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    quick = read("README.md").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quick, re.S)
    assert len(commands) == 2
    run_cmd, test_cmd = commands
    assert "python -m velox.pipeline" in run_cmd
    assert test_cmd.startswith("python3 -m venv") and "pytest" in test_cmd
    assert "grep -m1 -E '^python3 -m venv .*pytest' README.md" in read(".ci/run")
    assert re.search(r"^python3 -m venv .*pytest", read("README.md"), re.M).group(0) == test_cmd
