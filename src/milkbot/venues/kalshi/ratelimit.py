"""Token buckets for Kalshi's separate Read and Write rate-limit budgets.

Kalshi meters requests in tokens (10 per request by default, 2 for a V2 cancel), refilled at
a per-second rate per tier (``shared/notes/kalshi-api.md`` section 8).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from milkbot.clock import Clock

DEFAULT_COST = 10
CANCEL_COST = 2


@dataclass
class TokenBucket:
    """A token bucket with an injected clock.

    Parameters
    ----------
    rate : float
        Tokens added per second.
    capacity : float
        Maximum tokens held (the burst).
    clock : Clock
        Time source.
    """

    rate: float
    capacity: float
    clock: Clock
    _tokens: float = -1.0
    _last: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self._tokens = self.capacity
        self._last = self.clock.now().timestamp()

    def _refill(self) -> None:
        now = self.clock.now().timestamp()
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        self._refill()
        return self._tokens

    def try_acquire(self, cost: float) -> float:
        """Take ``cost`` tokens if available and return 0, else return the seconds to wait."""
        if cost > self.capacity:
            raise ValueError(f"cost {cost} exceeds bucket capacity {self.capacity}")
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            return 0.0
        return (cost - self._tokens) / self.rate

    async def acquire(
        self, cost: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        """Wait until ``cost`` tokens are available, then take them."""
        while (wait := self.try_acquire(cost)) > 0:
            await sleep(wait)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Per-second token rates of the read and write buckets (Basic tier by default)."""

    read_per_second: float = 200.0
    write_per_second: float = 100.0
    read_burst_seconds: float = 1.0
    write_burst_seconds: float = 1.0
