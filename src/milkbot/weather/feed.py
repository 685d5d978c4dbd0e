"""One call for the trader: a station's forecasts and observed maximum for a climate day.

NWS comes first (the raw grid: hourly temperatures over the LST climate day and the NDFD
daytime maximum). When NWS is in outage, fails, or has nothing for the day, Open-Meteo's
ensemble (hourly members aggregated over the LST day) is used instead. Every failure is
reported in ``errors``; nothing is invented to fill a gap.

:meth:`WeatherFeed.settled_max` reads a finished climate day's settlement maximum from the
NWS Daily Climate Report (CLI), the product Kalshi settles on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from milkbot.clock import Clock
from milkbot.domain.climate_day import climate_day_bounds, running_max
from milkbot.domain.stations import Station
from milkbot.domain.weather import CliKind, Forecast
from milkbot.errors import DataError, UpstreamError
from milkbot.weather.nws import parsing
from milkbot.weather.nws.client import NwsClient
from milkbot.weather.openmeteo.client import DEFAULT_ENSEMBLE_MODELS, OpenMeteoClient


@dataclass(frozen=True, slots=True)
class StationWeather:
    """What Milkbot knows about one station's climate day at ``as_of``."""

    station: str
    climate_date: date
    as_of: datetime
    forecasts: tuple[Forecast, ...]
    observed_max_f: float | None
    nws_outage: bool
    used_fallback: bool
    errors: tuple[str, ...]
    observed_hours: float = 0.0
    observed_at: datetime | None = None
    # Forecasts of the same answers for other climate days (the grid covers about a week).
    other_forecasts: tuple[Forecast, ...] = ()


@dataclass(frozen=True, slots=True)
class SettledMax:
    """A climate day's maximum from its latest final (or corrected) CLI report."""

    station: str
    climate_date: date
    max_f: float
    published_at: datetime  # the latest of the listing's, the product's and the text's times
    product_id: str
    kind: CliKind


class WeatherFeed:
    """NWS first, Open-Meteo as the fallback."""

    def __init__(
        self,
        *,
        nws: NwsClient,
        clock: Clock,
        openmeteo: OpenMeteoClient | None = None,
        ensemble_models: Sequence[str] = DEFAULT_ENSEMBLE_MODELS,
    ) -> None:
        self._nws = nws
        self._om = openmeteo
        self._clock = clock
        self._models = tuple(ensemble_models)

    async def _nws_forecasts(self, station: Station, errors: list[str]) -> list[Forecast]:
        """Every climate day the grid covers (the caller picks its day)."""
        try:
            grid = await self._nws.grid_data(station)
        except (UpstreamError, DataError) as e:
            errors.append(f"nws grid: {e}")
            return []
        try:
            hourly = parsing.hourly_climate_day_max(
                [(v.start, v.end, v.value_f) for v in grid.temperature],
                station,
                grid.update_time,
                "nws-grid-hourly",
            )
        except DataError as e:
            errors.append(f"nws grid hourly: {e}")
            hourly = ()
        return [*hourly, *parsing.grid_max_temperature(grid, station, grid.update_time)]

    async def _observed(
        self, station: Station, day: date, errors: list[str]
    ) -> tuple[float | None, float, datetime | None]:
        """Running maximum, distinct hours with a reading, and the latest reading's time."""
        try:
            obs = await self._nws.climate_day_observations(station, day)
        except (UpstreamError, DataError) as e:
            errors.append(f"nws observations: {e}")
            return None, 0.0, None
        now = self._clock.now()
        seen = [o for o in obs if o.temp_f is not None and o.observed_at <= now]
        running = running_max([(o.observed_at, o.temp_f) for o in seen], day, station, as_of=now)
        hours = {o.observed_at.replace(minute=0, second=0, microsecond=0) for o in seen}
        latest = max((o.observed_at for o in seen), default=None)
        return running, float(len(hours)), latest

    async def gather(self, station: Station, day: date) -> StationWeather:
        """Forecasts for ``day`` and the observed maximum so far (None before any report)."""
        errors: list[str] = []
        found = await self._nws_forecasts(station, errors)
        forecasts = [f for f in found if f.target_date == day]
        others = [f for f in found if f.target_date != day]
        observed, hours, observed_at = await self._observed(station, day, errors)
        fallback = False
        if self._om is not None and (self._nws.health.outage or not forecasts):
            fallback = True
            try:
                ensemble = await self._om.ensemble_climate_day_max(station, self._models)
                forecasts += [f for f in ensemble if f.target_date == day]
                others += [f for f in ensemble if f.target_date != day]
            except (UpstreamError, DataError) as e:
                errors.append(f"open-meteo: {e}")
        return StationWeather(
            station=station.icao,
            climate_date=day,
            as_of=self._clock.now(),
            forecasts=tuple(forecasts),
            observed_max_f=observed,
            nws_outage=self._nws.health.outage,
            used_fallback=fallback,
            errors=tuple(errors),
            observed_hours=hours,
            observed_at=observed_at,
            other_forecasts=tuple(others),
        )

    async def settled_max(
        self, station: Station, day: date, as_of: datetime, *, max_products: int = 6
    ) -> tuple[SettledMax | None, tuple[str, ...]]:
        """The maximum of the finished climate ``day`` from CLI reports published by ``as_of``.

        Only products issued after ``day`` ended can be its final report; of those (at most
        ``max_products``, newest first) the latest final or correction for ``day`` wins.
        Preliminary reports and a missing (``MM``) maximum give nothing. Products that fail
        to download or parse are skipped and reported in the errors, never guessed.
        """
        errors: list[str] = []
        try:
            refs = await self._nws.cli_products(station)
        except (UpstreamError, DataError) as e:
            return None, (f"nws cli list: {e}",)
        day_end = climate_day_bounds(day, station)[1]
        candidates = [r for r in refs if day_end <= r.issuance_time <= as_of][:max_products]
        best: SettledMax | None = None
        for ref in candidates:
            try:
                issuance = await self._nws.cli_issuance(station, ref)
            except (UpstreamError, DataError) as e:
                errors.append(f"nws cli {ref.id}: {e}")
                continue
            report = issuance.report
            if report.climate_date != day or not report.kind.settles or report.max_f is None:
                continue
            times = (ref.issuance_time, issuance.issued_at, report.issued_at)
            published = max(t for t in times if t is not None)
            if published > as_of:
                continue
            if best is None or published > best.published_at:
                best = SettledMax(
                    station.icao, day, float(report.max_f), published, ref.id, report.kind
                )
        return best, tuple(errors)
