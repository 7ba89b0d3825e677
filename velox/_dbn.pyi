from typing import Any

import numpy as np
import numpy.typing as npt

MBO_RTYPE: int
MBO_RECORD_LEN: int

class DbnParser:
    ts_event: bool
    def __init__(self, ts_event: bool = ...) -> None: ...
    def parse(self, buf: Any, out: npt.NDArray[np.void]) -> tuple[int, int]: ...
    @property
    def offset(self) -> int: ...
    @offset.setter
    def offset(self, value: int) -> None: ...
    @property
    def counts(self) -> dict[str, Any]: ...
