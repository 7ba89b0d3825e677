from types import TracebackType

import numpy.typing as npt

from velox._ring import SpscRing

DTYPE_MAX: int
NAME_MAX: int
LAYOUT_VERSION: int
PEER_CHECK_NS: int
SIGNAL_CHECK_NS: int
ATTACH_WAIT_S: float

class SharedRing(SpscRing):
    """Lock-free SPSC ring of fixed-size NumPy records in POSIX shared memory."""

    @staticmethod
    def create(
        name: str | None = None,
        capacity: int = 4096,
        dtype: npt.DTypeLike | None = None,
        *,
        replace_stale: bool = False,
    ) -> SharedRing: ...
    @staticmethod
    def attach(
        name: str, dtype: npt.DTypeLike | None = None, timeout: float = 1.0
    ) -> SharedRing: ...
    @property
    def name(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def is_creator(self) -> bool: ...
    @property
    def creator_pid(self) -> int: ...
    @property
    def producer_pid(self) -> int: ...
    @property
    def consumer_pid(self) -> int: ...
    @property
    def producer_alive(self) -> bool: ...
    @property
    def consumer_alive(self) -> bool: ...
    def close(self) -> None: ...
    def unlink(self) -> None: ...
    def __enter__(self) -> SharedRing: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

def unlink(name: str) -> None: ...
def is_valid_name(name: object) -> bool: ...
