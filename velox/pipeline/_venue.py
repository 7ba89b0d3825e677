"""velox.LiveVenue: where a pipeline's v2 strategy sends its orders and reads its execution
reports live: two SharedRings to a gateway process (csrc/velox/venue_live.h)."""

from __future__ import annotations

import re
import time

from velox._records import EXEC_DTYPE, ORDER_DTYPE
from velox._shm import SharedRing
from velox._shm import unlink as _unlink_shm

_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


class LiveVenue:
    """LiveVenue(orders, execs, *, capacity=4096, close_timeout=2.0, attach_timeout=30.0)

    The live venue of a ``velox.Pipeline(stage=<v2 strategy>, venue=LiveVenue(...))``: the
    pipeline creates two shared-memory rings when it is constructed, ``orders`` (ORDER_DTYPE:
    the strategy's orders, this process the producer) and ``execs`` (EXEC_DTYPE: the reports,
    this process the consumer), ``capacity`` slots each; the gateway process attaches both
    (``SharedRing.attach(orders, ORDER_DTYPE)`` as consumer, ``SharedRing.attach(execs,
    EXEC_DTYPE)`` as producer). An order that finds the orders ring full is refused before it
    leaves (REJECT, reason LIMIT). Every report is validated by the host before the strategy
    sees it; ts_local is set to the strategy's clock (the event time of the data). At the end
    of the input the pipeline cancels every working order (the kill switch) and waits up to
    ``close_timeout`` seconds for the reports, then calls the strategy's finish; stop() closes
    both rings (the gateway sees the pipeline depart) and removes their names unless the
    Pipeline has keep_shm=True. The Pipeline's start() waits up to ``attach_timeout`` seconds
    for the gateway to take the orders ring (its consumer role, claimed at its first pop;
    TimeoutError, nothing started and both rings closed and removed, when it does not): a
    strategy never trades before its gateway is there. Names: 1-200 characters of
    [A-Za-z0-9._-]."""

    def __init__(self, orders: str, execs: str, *, capacity: int = 4096,
                 close_timeout: float = 2.0, attach_timeout: float = 30.0) -> None:
        for what, name in (("orders", orders), ("execs", execs)):
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ValueError(f"LiveVenue {what}={name!r}: a shared-memory name of 1-200 "
                                 "characters [A-Za-z0-9._-]")
        if orders == execs:
            raise ValueError(f"LiveVenue: orders and execs must be two rings, both are {orders!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"LiveVenue capacity must be an int, got {capacity!r}")
        if not 2 <= capacity <= 1 << 24 or capacity & (capacity - 1):
            raise ValueError(f"LiveVenue capacity must be a power of two in [2, 2**24], "
                             f"got {capacity!r}")
        if isinstance(close_timeout, bool) or not isinstance(close_timeout, (int, float)):
            raise TypeError(f"LiveVenue close_timeout must be a number of seconds, "
                            f"got {close_timeout!r}")
        if not 0 <= close_timeout <= 3600:
            raise ValueError(f"LiveVenue close_timeout must be in [0, 3600] s, got {close_timeout!r}")
        if isinstance(attach_timeout, bool) or not isinstance(attach_timeout, (int, float)):
            raise TypeError(f"LiveVenue attach_timeout must be a number of seconds, "
                            f"got {attach_timeout!r}")
        if not 0 <= attach_timeout <= 3600:
            raise ValueError(f"LiveVenue attach_timeout must be in [0, 3600] s, "
                             f"got {attach_timeout!r}")
        self.attach_timeout = float(attach_timeout)
        self.orders = orders
        self.execs = execs
        self.capacity = capacity
        self.close_timeout = float(close_timeout)
        self.orders_ring: SharedRing | None = None
        self.execs_ring: SharedRing | None = None

    @classmethod
    def parse(cls, spec: str) -> LiveVenue:
        """``"live:ORDERS,EXECS[?capacity=N&close_timeout=S&attach_timeout=S]"`` (the CLI's
        --venue, TOML ``venue``)."""
        if not isinstance(spec, str):
            raise TypeError(f"venue must be a str like 'live:ORDERS,EXECS', got {spec!r}")
        kind, sep, rest = spec.partition(":")
        rest, _, query = rest.partition("?")
        names = rest.split(",")
        if kind != "live" or not sep or len(names) != 2:
            raise ValueError(f"venue {spec!r}: expected 'live:ORDERS,EXECS' (two shared-memory "
                             "ring names: the orders ring and the execution reports' ring)")
        opts: dict[str, float] = {}
        for part in filter(None, query.split("&")):
            key, eq, value = part.partition("=")
            if key not in ("capacity", "close_timeout", "attach_timeout") or not eq:
                raise ValueError(f"venue {spec!r}: options are capacity=N, close_timeout=S, "
                                 f"attach_timeout=S; got {part!r}")
            try:
                opts[key] = int(value) if key == "capacity" else float(value)
            except ValueError:
                raise ValueError(f"venue {spec!r}: {key} must be a number, got {value!r}") from None
        return cls(names[0].strip(), names[1].strip(), **opts)  # type: ignore[arg-type]

    def open(self) -> tuple[SharedRing, SharedRing]:
        """Creates both rings (FileExistsError naming one that exists); once per venue."""
        if self.orders_ring is not None:
            raise RuntimeError(f"{self!r} is already open (one pipeline per venue)")
        orders = SharedRing.create(self.orders, self.capacity, ORDER_DTYPE)
        try:
            execs = SharedRing.create(self.execs, self.capacity, EXEC_DTYPE)
        except BaseException:
            orders.close()
            _unlink_shm(self.orders)
            raise
        self.orders_ring, self.execs_ring = orders, execs
        return orders, execs

    def wait_for_gateway(self) -> None:
        """Waits (bounded by attach_timeout, 1 ms steps) until a process holds the consumer
        role of the orders ring (a SharedRing claims its role at its first pop: a gateway
        that waits for orders holds it). TimeoutError naming the rings when it does not
        happen in time."""
        orders, execs = self.orders_ring, self.execs_ring
        if orders is None or execs is None:
            raise RuntimeError(f"{self!r} is not open")
        deadline = time.monotonic() + self.attach_timeout
        while not orders.consumer_pid:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self!r}: no gateway attached within attach_timeout={self.attach_timeout:g}"
                    f" s (it attaches SharedRing.attach({self.orders!r}, ORDER_DTYPE) as consumer"
                    f" and SharedRing.attach({self.execs!r}, EXEC_DTYPE) as producer)")
            time.sleep(0.001)

    def close(self, unlink: bool = True) -> None:
        """Closes both rings (call once the pipeline is joined) and removes their names."""
        for ring in (self.orders_ring, self.execs_ring):
            if ring is None:
                continue
            name = ring.name
            ring.close()
            if unlink:
                try:
                    _unlink_shm(name)
                except FileNotFoundError:
                    pass
        self.orders_ring = self.execs_ring = None

    def __repr__(self) -> str:
        return f"LiveVenue(orders={self.orders!r}, execs={self.execs!r})"
