"""Names for the shared-memory segments the tests create, and the list of those left behind
(tests/conftest.py fails any test that leaks one)."""

import os
import uuid

PREFIX = f"velox-test-{os.getpid()}-"


def fresh_name():
    return PREFIX + uuid.uuid4().hex[:10]


def leftover_segments():
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(PREFIX))
