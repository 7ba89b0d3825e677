"""pytest plugin for the sanitizer CI steps (.ci/steps/*sanitize*.sh): loaded with
``-p sanitizer_plugin`` and ``PYTHONPATH=tests/native``. Sanitized code runs 2-20x slower, so
hypothesis' per-example deadline (200 ms by default) is switched off; nothing else changes
(same examples, same assertions)."""

from hypothesis import settings

settings.register_profile("velox-sanitizer", deadline=None)
settings.load_profile("velox-sanitizer")
