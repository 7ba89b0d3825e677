"""The attach every shared segment shares (csrc/velox/shm_segment.h), through each of the three
kinds (SharedRing, MpscRing, BroadcastRing): a changed magic, layout version or header size,
and a file grown or cut under a valid header, are refused with the kind's message naming
the segment; a file of size 0 (a creator that never sized it) times out."""

import os
import struct

import numpy as np
import pytest

from shm_names import fresh_name
from velox import BroadcastRing, MpscRing, SharedRing

REC = np.dtype([("seq", "<u8"), ("b", "<u8")])

# kind: (create, attach, the kind's words for "too small" and "never initialised")
KINDS = {
    "spsc": (lambda n: SharedRing.create(n, 8, REC), SharedRing.attach,
             "smaller than the velox header", "not initialised"),
    "mpsc": (lambda n: MpscRing.create(n, 8, REC), MpscRing.attach,
             "smaller than the velox header", "not initialised"),
    "broadcast": (lambda n: BroadcastRing.create(n, 8, REC), BroadcastRing.attach,
                  "smaller than the header", "did not finish"),
}


def poke(name, offset, fmt, value):
    with open(f"/dev/shm/{name}", "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("offset, fmt, value, match", [
    (0, "<Q", 0x4F4C4C4548, "bad magic"),
    (8, "<I", 99, "layout version"),
    (12, "<I", 64, "inconsistent header"),
    (16, "<Q", 1 << 20, "inconsistent header"),
])
def test_changed_common_word_is_refused(kind, offset, fmt, value, match):
    create, attach, _, _ = KINDS[kind]
    name = fresh_name()
    with create(name):
        poke(name, offset, fmt, value)
        with pytest.raises(ValueError, match=match) as err:
            attach(name, timeout=0)
        assert name in str(err.value)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_file_grown_cut_or_never_sized_is_refused(kind):
    create, attach, too_small, not_ready = KINDS[kind]
    name = fresh_name()
    with create(name):
        path = f"/dev/shm/{name}"
        size = os.path.getsize(path)
        os.truncate(path, size + 4096)
        with pytest.raises(ValueError, match="inconsistent header"):
            attach(name, timeout=0)
        os.truncate(path, 100)
        with pytest.raises(ValueError, match=too_small):
            attach(name, timeout=0)
        os.truncate(path, 0)
        with pytest.raises(TimeoutError, match=not_ready):
            attach(name, timeout=0.01)
