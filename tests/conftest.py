"""Shared fixtures: every test must leave no shared-memory segment behind."""

import os

import pytest

from shm_names import leftover_segments


@pytest.fixture(autouse=True)
def no_leaked_shm_segments():
    before = set(leftover_segments())
    yield
    leaked = sorted(set(leftover_segments()) - before)
    for name in leaked:  # clean up so one failure does not cascade
        os.unlink(os.path.join("/dev/shm", name))
    assert not leaked, f"test leaked shared-memory segments: {leaked}"
