"""The README's quick-start commands: exactly two, and the test one is what .ci/run executes.

They create a virtual environment and install velox, so tests/test_docs.py does not run them
(they are tagged ``sh fragment``); .ci/run runs the second one from a clean clone. Every other
README block runs in tests/test_docs.py."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    quick = read("README.md").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh fragment\n(.*?)\n```", quick, re.S)
    assert len(re.findall(r"^```", quick, re.M)) == 4, "the quick start holds only its two commands"
    assert len(commands) == 2
    run_cmd, test_cmd = commands
    assert "python -m velox.pipeline" in run_cmd
    assert test_cmd.startswith("python3 -m venv") and "pytest" in test_cmd
    assert "grep -m1 -E '^python3 -m venv .*pytest' README.md" in read(".ci/run")
    assert re.search(r"^python3 -m venv .*pytest", read("README.md"), re.M).group(0) == test_cmd
