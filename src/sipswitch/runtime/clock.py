"""Clocks: the real one for the server, a fake one for tests. The pure core never reads time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds, for timers and deadlines."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch, for records shown to people (CDRs, logs)."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` for timers, ``time.time`` for records."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A clock that moves only when told to (tests)."""

    __slots__ = ("_now", "_wall_offset")

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_offset + self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
