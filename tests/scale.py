"""VELOX_TEST_SCALE: one knob for the heavy tests' sizes (the C tests read the same variable).

The README run uses the full sizes (scale 1). CI's second looks at the same code — the
manylinux wheel, the ASan and TSan builds, the interpreter matrix — run at a smaller scale:
their job is another compiler, sanitizer or interpreter, not a deeper search, and every
scaled test still checks every item it moves. Only counts and example budgets scale, never
what is checked."""

import os

_text = os.environ.get("VELOX_TEST_SCALE") or "1"  # unset or empty: full scale
try:
    SCALE = float(_text)
except ValueError:
    raise ValueError(f"VELOX_TEST_SCALE must be a positive number, got {_text!r}") from None
if not 0 < SCALE < float("inf"):
    raise ValueError(f"VELOX_TEST_SCALE must be a positive number, got {_text!r}")


def scaled(n: int, minimum: int) -> int:
    """n x SCALE, never below minimum (as csrc/tests/check.h's vx_test_count)."""
    return max(minimum, int(n * SCALE))
