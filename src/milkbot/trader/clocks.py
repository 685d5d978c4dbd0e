"""The trader's clock: the wall clock live, the local exchange's simulated clock in the demo."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import httpx

from milkbot.errors import TransientUpstreamError


class ExchangeClock:
    """Follows the local exchange's replay clock, read from its ``/health`` endpoint.

    Between reads the time is extrapolated at the speed measured over the last two reads, so
    that ``now()`` is cheap and never goes backwards.
    """

    def __init__(self, health_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = health_url
        self._transport = transport
        self._anchor: datetime | None = None
        self._anchor_mono = 0.0
        self._speed = 1.0
        self._last: datetime | None = None

    async def sync(self) -> datetime:
        """Read the exchange's clock now."""
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=3.0) as client:
                body = (await client.get(self._url)).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as e:
            raise TransientUpstreamError(f"exchange clock unavailable at {self._url}: {e}") from e
        try:
            clock = datetime.fromisoformat(str(body["sim_time"]).replace("Z", "+00:00"))
        except (KeyError, ValueError) as e:
            raise TransientUpstreamError(f"no simulated time in {self._url}: {body!r}") from e
        mono = time.monotonic()
        if self._anchor is not None and mono > self._anchor_mono:
            measured = (clock - self._anchor).total_seconds() / (mono - self._anchor_mono)
            if measured > 0:
                self._speed = measured
        self._anchor, self._anchor_mono = clock, mono
        return clock

    def now(self) -> datetime:
        """The exchange's simulated time (extrapolated since the last sync)."""
        if self._anchor is None:
            raise TransientUpstreamError("exchange clock not synchronised yet")
        elapsed = (time.monotonic() - self._anchor_mono) * self._speed
        now = self._anchor + timedelta(seconds=elapsed)
        if self._last is not None and now < self._last:
            return self._last
        self._last = now
        return now
