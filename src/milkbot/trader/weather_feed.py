"""The weather the trader knows at its clock's now, per station and climate day.

Two sources, one shape (:class:`WeatherNow`):

* :class:`HourlyTemperatures`, the demo's bundled hourly temperatures, revealed as the
  (accelerated) clock passes;
* :class:`LiveWeather`, NWS forecasts and observations (Open-Meteo as the fallback) through
  :class:`~milkbot.weather.feed.WeatherFeed`, fetched per station at most once per TTL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx

from milkbot.clock import Clock
from milkbot.datasets import load_dataset
from milkbot.domain.climate_day import climate_day_bounds
from milkbot.domain.stations import Station
from milkbot.domain.weather import Forecast
from milkbot.errors import MilkbotError
from milkbot.logging import get_logger
from milkbot.settings import Settings
from milkbot.weather.feed import StationWeather, WeatherFeed
from milkbot.weather.nws.client import NwsClient
from milkbot.weather.openmeteo.client import OpenMeteoClient

log = get_logger(__name__)

SOURCE = "open-meteo-hourly-archive"
LIVE_SOURCE = "nws"


@dataclass(frozen=True, slots=True)
class WeatherNow:
    """One station's climate day as known at a moment: observations so far and forecasts."""

    source: str
    running_max_f: float | None = None
    hours_observed: float = 0.0
    observed_at: datetime | None = None
    forecasts: tuple[Forecast, ...] = ()
    station_observed: bool = False  # readings from the settlement station itself

    @property
    def latest(self) -> datetime | None:
        """Time of the newest input (a reading or a forecast issue), None without any."""
        times = [t for t in (self.observed_at, *(f.issued_at for f in self.forecasts)) if t]
        return max(times, default=None)


class WeatherSource(Protocol):
    """Where the trader's weather comes from."""

    async def current(self, station: Station, day: date, as_of: datetime) -> WeatherNow:
        """What is known of ``station``'s climate ``day`` at ``as_of``."""
        ...


class HourlyTemperatures:
    """Hourly temperatures per station from a dataset's ``hourly`` table.

    The bundled table is Open-Meteo's archived model output, which its data card documents
    as a stand-in for hourly observations; readings are labelled with :data:`SOURCE`.
    """

    def __init__(self, dataset_dir: Path) -> None:
        frame = load_dataset([dataset_dir]).hourly
        self._rows: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
        if frame is None:
            return
        for station, ts, temp in zip(frame["station"], frame["ts"], frame["temp_f"], strict=True):
            value = None if temp != temp else float(temp)  # NaN is missing
            self._rows[str(station)].append((ts.to_pydatetime(), value))

    async def current(self, station: Station, day: date, as_of: datetime) -> WeatherNow:
        """Running maximum, hours of readings and the latest reading's time, up to ``as_of``."""
        start, end = climate_day_bounds(day, station)
        seen = [
            (ts, v)
            for ts, v in self._rows.get(station.icao, ())
            if v is not None and start <= ts < end and ts <= as_of
        ]
        if not seen:
            return WeatherNow(SOURCE)
        return WeatherNow(
            SOURCE,
            running_max_f=max(v for _, v in seen),
            hours_observed=float(len(seen)),
            observed_at=max(ts for ts, _ in seen),
        )


class LiveWeather:
    """NWS (Open-Meteo fallback) per station and day, refetched once ``ttl`` has passed.

    What a failed refresh could not get keeps its last good value (its age then shows in
    ``latest``, and the trading desk stops trading the event once it is too old).
    """

    def __init__(
        self,
        feed: WeatherFeed,
        *,
        ttl: timedelta = timedelta(minutes=10),
        clients: Sequence[NwsClient | OpenMeteoClient] = (),
    ) -> None:
        self._feed = feed
        self._ttl = ttl
        self._clients = tuple(clients)
        self._cache: dict[tuple[str, date], tuple[datetime, WeatherNow]] = {}
        self.fetches = 0
        self.failures = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> LiveWeather:
        """NWS and Open-Meteo clients from the settings (``transport`` replaces the network)."""
        nws = NwsClient.from_settings(settings, clock=clock, transport=transport)
        openmeteo = OpenMeteoClient.from_settings(settings, clock=clock, transport=transport)
        feed = WeatherFeed(nws=nws, openmeteo=openmeteo, clock=clock)
        return cls(feed, clients=(nws, openmeteo))

    async def aclose(self) -> None:
        """Close the HTTP clients this source opened."""
        for client in self._clients:
            await client.aclose()

    async def current(self, station: Station, day: date, as_of: datetime) -> WeatherNow:
        """The cached answer while younger than the TTL, else a fresh one."""
        key = (station.icao, day)
        cached = self._cache.get(key)
        if cached is not None and as_of - cached[0] < self._ttl:
            return cached[1]
        try:
            found = await self._feed.gather(station, day)
        except MilkbotError as e:
            self.failures += 1
            log.warning("alert_weather_failed", station=station.icao, error=str(e))
            return WeatherNow(LIVE_SOURCE) if cached is None else cached[1]
        self.fetches += 1
        now = _from_station_weather(found)
        if found.errors:
            log.warning("weather_partial", station=station.icao, errors=list(found.errors))
            if cached is not None:
                now = _keep_last_good(now, cached[1])
        self._cache[key] = (as_of, now)
        # Forget days that have ended so the cache stays bounded.
        for old in [k for k in self._cache if k[0] == station.icao and k[1] < day]:
            del self._cache[old]
        return now


def _keep_last_good(new: WeatherNow, last: WeatherNow) -> WeatherNow:
    """After a partly failed refresh, the parts that came back empty keep their last value."""
    if not new.forecasts and last.forecasts:
        new = replace(new, forecasts=last.forecasts)
    if new.observed_at is None and last.observed_at is not None:
        new = replace(
            new,
            running_max_f=last.running_max_f,
            hours_observed=last.hours_observed,
            observed_at=last.observed_at,
            station_observed=last.station_observed,
        )
    return new


def _from_station_weather(w: StationWeather) -> WeatherNow:
    return WeatherNow(
        f"{LIVE_SOURCE}+open-meteo" if w.used_fallback else LIVE_SOURCE,
        running_max_f=w.observed_max_f,
        hours_observed=w.observed_hours,
        observed_at=w.observed_at,
        forecasts=w.forecasts,
        station_observed=w.observed_at is not None,
    )
