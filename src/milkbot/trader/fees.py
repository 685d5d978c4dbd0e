"""Each series' fee schedule as the exchange publishes it (``GET /series/{ticker}``).

Kalshi can change a series' ``fee_type`` (maker fees) and ``fee_multiplier`` at any time
(``shared/notes/kalshi-api.md`` section 9), so the desk reads them instead of assuming the
weather series' January 2026 values, and re-reads them every ``ttl``. Until a series'
schedule has been read once, :meth:`SeriesFees.refresh` answers None and the desk does not
trade that series; a failed re-read keeps the last schedule read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from milkbot.clock import Clock
from milkbot.domain.fees import FeeModel
from milkbot.domain.market import Series
from milkbot.domain.stations import by_ticker
from milkbot.errors import MilkbotError
from milkbot.logging import get_logger

log = get_logger(__name__)


class SeriesSource(Protocol):
    """Where series come from: :class:`~milkbot.venues.kalshi.client.KalshiClient` fits."""

    async def get_series(self, series_ticker: str) -> Series:
        """``GET /series/{series_ticker}``."""
        ...


class SeriesFees:
    """Fee schedules per series, read from ``source`` at most once per ``ttl``."""

    def __init__(
        self, source: SeriesSource, clock: Clock, *, ttl: timedelta = timedelta(hours=1)
    ) -> None:
        self._source = source
        self._clock = clock
        self._ttl = ttl
        self._known: dict[str, tuple[datetime, FeeModel]] = {}
        self._tried: dict[str, datetime] = {}

    async def refresh(self, series_ticker: str) -> FeeModel | None:
        """The series' schedule, re-read when older than the TTL; None if never read."""
        now = self._clock.now()
        known = self._known.get(series_ticker)
        last_try = self._tried.get(series_ticker)
        if (known is None or now - known[0] >= self._ttl) and (
            last_try is None or now - last_try >= min(self._ttl, timedelta(minutes=1))
        ):
            self._tried[series_ticker] = now
            try:
                series = await self._source.get_series(series_ticker)
            except MilkbotError as e:
                log.warning("alert_fee_schedule_unread", series=series_ticker, error=str(e))
            else:
                if known is not None and known[1] != series.fee_model:
                    log.warning(
                        "alert_fee_schedule_changed",
                        series=series_ticker,
                        was=f"{known[1].fee_type.value} x{known[1].multiplier}",
                        now=f"{series.fee_model.fee_type.value} x{series.fee_model.multiplier}",
                    )
                self._known[series_ticker] = (now, series.fee_model)
                known = self._known[series_ticker]
        return None if known is None else known[1]

    def for_ticker(self, market_ticker: str, default: FeeModel) -> FeeModel:
        """The last schedule read for the market's series, else ``default``."""
        station = by_ticker(market_ticker)
        known = None
        if station is not None:
            known = self._known.get(station.series)
        return default if known is None else known[1]
