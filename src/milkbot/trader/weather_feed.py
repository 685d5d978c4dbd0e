"""The weather the trader knows at its clock's now, per station and climate day.

Two sources, one shape (:class:`WeatherNow`):

* :class:`HourlyTemperatures`, the demo's bundled hourly temperatures, revealed as the
  (accelerated) clock passes;
* :class:`LiveWeather`, NWS forecasts and observations (Open-Meteo as the fallback) through
  :class:`~milkbot.weather.feed.WeatherFeed`, fetched per station at most once per TTL.

Both also say what is known of the day before (the strategies' ``previous_*`` features): the
forecasts seen for it and its settlement maximum with the time it was published. The
evaluator's rules (:mod:`milkbot.features.event`) are applied again when the features are
built, at the decision time.

Live forecasts are kept as an issue history shaped like the datasets' NWS issues, the Selected
Cities (SCS) product issued at 00:50Z and 12:50Z, four issues per day from 00:50Z the day
before: per source, one issue per 12-hour cycle ending at a nominal SCS time (the newest
update of the cycle), none from before the day's first cycle. The gridpoint forecast is
updated at no fixed schedule, at least every 6 h (weather-gov/api issue 113); counting every
update as an issue would shrink the issue variance the NWS strategy's spread term was fitted on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from milkbot.clock import Clock
from milkbot.datasets import load_dataset
from milkbot.domain.climate_day import climate_day_bounds
from milkbot.domain.stations import Station
from milkbot.domain.weather import Forecast
from milkbot.errors import MilkbotError
from milkbot.features.event import OBS_DELAY, DatasetIndex, build_index
from milkbot.logging import get_logger
from milkbot.settings import Settings
from milkbot.weather.feed import SettledMax, StationWeather, WeatherFeed
from milkbot.weather.nws.client import NwsClient
from milkbot.weather.openmeteo.client import OpenMeteoClient

log = get_logger(__name__)

SOURCE = "open-meteo-hourly-archive"
LIVE_SOURCE = "nws"
ISSUE_CYCLE = timedelta(hours=12)
SCS_FIRST_ISSUE = timedelta(minutes=50)  # 00:50Z, then every ISSUE_CYCLE


def issue_cycle(t: datetime) -> datetime:
    """The nominal SCS issuance time (00:50Z or 12:50Z) that closes the cycle holding ``t``."""
    t = t.astimezone(UTC)
    due = datetime(t.year, t.month, t.day, tzinfo=UTC) + SCS_FIRST_ISSUE
    while due < t:
        due += ISSUE_CYCLE
    return due


def first_cycle(day: date) -> datetime:
    """The first SCS issue of ``day``'s maximum: 00:50Z the day before."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + SCS_FIRST_ISSUE - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class WeatherNow:
    """One station's climate day as known at a moment: observations so far and forecasts."""

    source: str
    running_max_f: float | None = None
    hours_observed: float = 0.0
    observed_at: datetime | None = None
    # The day's forecast issues known so far, oldest first (one per source and issue time).
    forecasts: tuple[Forecast, ...] = ()
    station_observed: bool = False  # readings from the settlement station itself
    # The day before: its issues seen so far (as ``forecasts``), and its settlement maximum once
    # published (``previous_max_at`` is the publication time).
    previous_forecasts: tuple[Forecast, ...] = ()
    previous_max_f: float | None = None
    previous_max_at: datetime | None = None

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


@runtime_checkable
class IssueMemory(Protocol):
    """A weather source that keeps an issue history and can take back recorded issues."""

    def restore(self, forecasts: Sequence[Forecast], as_of: datetime) -> None:
        """Add ``forecasts`` (issued by ``as_of``) to the history."""
        ...


class HourlyTemperatures:
    """Hourly temperatures per station from a dataset's ``hourly`` table.

    The bundled table is Open-Meteo's archived model output, which its data card documents
    as a stand-in for hourly observations; readings are labelled with :data:`SOURCE`. When
    the dataset also has settlement observations (``cli``/``ghcnd``), the previous day's
    maximum comes from them exactly as the evaluator takes it (known ``OBS_DELAY`` after
    the day ends); the bundled demo has none, so it stays unknown there.
    """

    def __init__(self, dataset_dir: Path) -> None:
        dataset = load_dataset([dataset_dir])
        frame = dataset.hourly
        self._rows: dict[str, list[tuple[datetime, float | None]]] = defaultdict(list)
        self._index: DatasetIndex | None = None
        if dataset.observations is not None and not dataset.observations.empty:
            self._index = build_index(dataset, synthetic_events=False)
        if frame is None:
            return
        for station, ts, temp in zip(frame["station"], frame["ts"], frame["temp_f"], strict=True):
            value = None if temp != temp else float(temp)  # NaN is missing
            self._rows[str(station)].append((ts.to_pydatetime(), value))

    async def current(self, station: Station, day: date, as_of: datetime) -> WeatherNow:
        """Running maximum, hours of readings and the latest reading's time, up to ``as_of``."""
        start, end = climate_day_bounds(day, station)
        previous_max, previous_at = None, None
        if self._index is not None:
            value = self._index.previous_max(station.icao, day, as_of)
            if value == value:  # NaN: not known at as_of
                previous_max, previous_at = value, start + OBS_DELAY
        seen = [
            (ts, v)
            for ts, v in self._rows.get(station.icao, ())
            if v is not None and start <= ts < end and ts <= as_of
        ]
        if not seen:
            return WeatherNow(SOURCE, previous_max_f=previous_max, previous_max_at=previous_at)
        return WeatherNow(
            SOURCE,
            running_max_f=max(v for _, v in seen),
            hours_observed=float(len(seen)),
            observed_at=max(ts for ts, _ in seen),
            previous_max_f=previous_max,
            previous_max_at=previous_at,
        )


class LiveWeather:
    """NWS (Open-Meteo fallback) per station and day, refetched once ``ttl`` has passed.

    What a failed refresh could not get keeps its last good value (its age then shows in
    ``latest``, and the trading desk stops trading the event once it is too old).

    Forecasts fetched are kept by station and target day as an issue history (module
    docstring: one issue per source and 12-hour SCS cycle, the newest fetched; nothing dated
    after the fetch's ``as_of``), until two days after the target day. ``forecasts`` holds the
    event day's issues and ``previous_forecasts`` the day before's, oldest first, as
    :func:`~milkbot.features.event.event_features` orders them. A restarted trader gives back
    the issues it recorded (:meth:`restore`); one started for the first time has only what it
    fetched since (fewer issues, a smaller spread term until the history fills). The history
    assumes ``as_of`` does not go back: asked for an earlier time, it gives nothing dated after
    it, but a cycle's earlier update, once replaced, is gone.

    The day before's maximum is read from the CLI once ``OBS_DELAY`` has passed since the day
    ended (the evaluator's rule; sooner it could not be used), and no longer asked for once
    a final report has been found.
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
        self._seen: dict[tuple[str, date], dict[tuple[str, datetime], Forecast]] = {}
        self._settled: dict[tuple[str, date], SettledMax] = {}
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
            last = WeatherNow(LIVE_SOURCE) if cached is None else cached[1]
            return await self._with_history(last, station, day, as_of)
        self.fetches += 1
        self._remember(found.forecasts + found.other_forecasts, as_of)
        now = _from_station_weather(found)
        if found.errors:
            log.warning("weather_partial", station=station.icao, errors=list(found.errors))
            if cached is not None:
                now = _keep_last_good(now, cached[1])
        now = await self._with_history(now, station, day, as_of)
        self._cache[key] = (as_of, now)
        # Forget days that have ended so the cache stays bounded.
        for old in [k for k in self._cache if k[0] == station.icao and k[1] < day]:
            del self._cache[old]
        horizon = day - timedelta(days=2)
        for store in (self._seen, self._settled):
            for gone in [k for k in store if k[0] == station.icao and k[1] < horizon]:
                del store[gone]
        return now

    def restore(self, forecasts: Sequence[Forecast], as_of: datetime) -> None:
        """Take back issues recorded before a restart (the trader's ``forecast_issues``)."""
        self._remember(forecasts, as_of)

    def _remember(self, forecasts: Sequence[Forecast], as_of: datetime) -> None:
        """Keep each cycle's newest issue per source, issued by ``as_of`` in the day's window."""
        for f in forecasts:
            if f.issued_at is None or f.issued_at > as_of:
                continue
            cycle = issue_cycle(f.issued_at)
            if cycle < first_cycle(f.target_date):
                continue
            issues = self._seen.setdefault((f.station, f.target_date), {})
            kept = issues.get((f.source, cycle))
            if kept is None or kept.issued_at is None or kept.issued_at < f.issued_at:
                issues[(f.source, cycle)] = f

    def _issues(self, station: Station, day: date, as_of: datetime) -> tuple[Forecast, ...]:
        """The kept issues of ``day`` issued by ``as_of``, oldest first (ties by source)."""
        issued = [
            (f.issued_at, f.source, f)
            for f in self._seen.get((station.icao, day), {}).values()
            if f.issued_at is not None and f.issued_at <= as_of
        ]
        issued.sort(key=lambda x: (x[0], x[1]))
        return tuple(f for _, _, f in issued)

    async def _with_history(
        self, now: WeatherNow, station: Station, day: date, as_of: datetime
    ) -> WeatherNow:
        """``now`` with the issues of the day and the day before, and the latter's maximum."""
        before = day - timedelta(days=1)
        settled = self._settled.get((station.icao, before))
        if settled is None and as_of >= climate_day_bounds(day, station)[0] + OBS_DELAY:
            try:
                settled, errors = await self._feed.settled_max(station, before, as_of)
            except MilkbotError as e:
                settled, errors = None, (str(e),)
            if errors:
                log.warning("weather_cli_partial", station=station.icao, errors=list(errors))
            if settled is not None:
                self._settled[(station.icao, before)] = settled
        value, published = None, None
        if settled is not None and settled.published_at <= as_of:
            value, published = settled.max_f, settled.published_at
        return replace(
            now,
            forecasts=self._issues(station, day, as_of),
            previous_forecasts=self._issues(station, before, as_of),
            previous_max_f=value,
            previous_max_at=published,
        )


def _keep_last_good(new: WeatherNow, last: WeatherNow) -> WeatherNow:
    """After a partly failed refresh, observations that came back empty keep their last value.

    (Forecasts need nothing here: they come from the issue history.)
    """
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
        station_observed=w.observed_at is not None,
    )
