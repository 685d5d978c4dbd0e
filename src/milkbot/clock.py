"""Injectable clocks: every component takes a :class:`Clock` instead of reading the time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current UTC time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that only moves when told to (tests, backtests)."""

    current: datetime

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")

    def now(self) -> datetime:
        """Return the frozen time."""
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        if delta < timedelta(0):
            raise ValueError("a clock never moves backwards")
        self.current += delta


@dataclass
class AcceleratedClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from ``start``.

    The demo uses it to replay a real day of market history in minutes.
    """

    start: datetime
    speed: float
    _origin: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("AcceleratedClock needs an aware start")
        if self.speed <= 0:
            raise ValueError("speed must be positive")

    def now(self) -> datetime:
        """Return the simulated time."""
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)
