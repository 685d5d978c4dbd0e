"""Async client of Open-Meteo's forecast and ensemble APIs, the secondary provider.

Every request sets ``timezone`` to the station's zone (without it daily aggregates run over
UTC days) and ``temperature_unit=fahrenheit``. Trading is commercial use: with an API key the
client calls the ``customer-`` hosts and passes ``apikey`` (``shared/notes/weather.md``
section 3.1). Open-Meteo gives no issue time, so a forecast's ``issued_at`` is the time it
was retrieved: the earliest moment Milkbot could have used it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import httpx

from milkbot.clock import Clock
from milkbot.domain.stations import Station
from milkbot.domain.weather import Forecast, WeatherSnapshot
from milkbot.settings import Settings
from milkbot.weather.http_cache import (
    CachingFetcher,
    FetchResult,
    Sleep,
    SnapshotSink,
    UpstreamHealth,
)
from milkbot.weather.openmeteo.parsing import (
    parse_daily_members,
    parse_hourly_member_climate_max,
)

FORECAST_HOST = "api.open-meteo.com"
ENSEMBLE_HOST = "ensemble-api.open-meteo.com"
DEFAULT_ENSEMBLE_MODELS = ("ncep_gefs025", "ecmwf_ifs025_ensemble")
DEFAULT_FORECAST_MODELS = ("gfs_seamless", "ecmwf_ifs025")


def endpoint(host: str, path: str, api_key: str | None) -> str:
    """The URL of an API, on the commercial ``customer-`` host when a key is set."""
    return f"https://{'customer-' if api_key else ''}{host}{path}"


class OpenMeteoClient:
    """Open-Meteo daily maxima per model and member for the registry's stations."""

    def __init__(
        self,
        *,
        clock: Clock,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        snapshot_sink: SnapshotSink | None = None,
        default_ttl: timedelta = timedelta(minutes=15),
        max_attempts: int = 4,
        outage_threshold: int = 3,
    ) -> None:
        self._api_key = api_key or None
        self._sink = snapshot_sink
        self.fetcher = CachingFetcher(
            provider="open-meteo",
            clock=clock,
            headers={"Accept": "application/json"},
            transport=transport,
            rng=rng or random.Random(),
            sleep=sleep,
            max_attempts=max_attempts,
            default_ttl=default_ttl,
            health=UpstreamHealth("open-meteo", threshold=outage_threshold),
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock, **kwargs: Any) -> OpenMeteoClient:
        """Build the client with the key of ``MILKBOT_OPENMETEO_API_KEY`` when set."""
        key = settings.openmeteo_api_key
        return cls(clock=clock, api_key=key.get_secret_value() if key else None, **kwargs)

    @property
    def health(self) -> UpstreamHealth:
        """The outage circuit of Open-Meteo."""
        return self.fetcher.circuit

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.fetcher.aclose()

    def _params(self, station: Station, models: Sequence[str], days: int) -> dict[str, str]:
        if not models:
            raise ValueError("name at least one model")
        if not 1 <= days <= 16:
            raise ValueError("forecast_days must be within 1..16")
        params = {
            "latitude": f"{station.latitude:.4f}",
            "longitude": f"{station.longitude:.4f}",
            "models": ",".join(models),
            "temperature_unit": "fahrenheit",
            "timezone": station.tz,
            "forecast_days": str(days),
        }
        if self._api_key:
            params["apikey"] = self._api_key
        return params

    async def _get(
        self, url: str, params: dict[str, str], station: Station, kind: str
    ) -> tuple[FetchResult, Any]:
        result = await self.fetcher.get(url, params)
        if self._sink is not None and not result.from_cache:
            public = str(httpx.URL(url, params={k: v for k, v in params.items() if k != "apikey"}))
            self._sink(
                WeatherSnapshot.from_payload(
                    source="open-meteo",
                    station=station.icao,
                    kind=kind,
                    url=public,
                    payload=result.body,
                    retrieved_at=result.retrieved_at,
                )
            )
        return result, result.json()

    def _forecasts(
        self,
        values: dict[tuple[str, date], tuple[float, ...]],
        station: Station,
        result: FetchResult,
        source: str,
        kind: str,
    ) -> tuple[Forecast, ...]:
        return tuple(
            Forecast.from_members(
                source=source,
                station=station.icao,
                target_date=day,
                issued_at=result.retrieved_at,
                members=members,
                model=model,
                kind=kind,
            )
            for (model, day), members in sorted(values.items())
        )

    async def ensemble_daily_max(
        self,
        station: Station,
        models: Sequence[str] = DEFAULT_ENSEMBLE_MODELS,
        forecast_days: int = 3,
    ) -> tuple[Forecast, ...]:
        """Per model and local date, every member's ``temperature_2m_max``.

        The daily maximum runs over the local *clock* day; see
        :meth:`ensemble_climate_day_max` for the exact LST climate day.
        """
        params = self._params(station, models, forecast_days) | {"daily": "temperature_2m_max"}
        url = endpoint(ENSEMBLE_HOST, "/v1/ensemble", self._api_key)
        result, payload = await self._get(url, params, station, "ensemble-daily")
        values = parse_daily_members(
            payload, variable="temperature_2m_max", models=models, timezone=station.tz
        )
        return self._forecasts(values, station, result, "open-meteo-ensemble", "local-day-max")

    async def ensemble_climate_day_max(
        self,
        station: Station,
        models: Sequence[str] = DEFAULT_ENSEMBLE_MODELS,
        forecast_days: int = 3,
    ) -> tuple[Forecast, ...]:
        """Per model and climate day (LST), every member's maximum of hourly temperature."""
        params = self._params(station, models, forecast_days) | {
            "hourly": "temperature_2m",
            "timeformat": "unixtime",
        }
        url = endpoint(ENSEMBLE_HOST, "/v1/ensemble", self._api_key)
        result, payload = await self._get(url, params, station, "ensemble-hourly")
        values = parse_hourly_member_climate_max(
            payload, variable="temperature_2m", models=models, timezone=station.tz, station=station
        )
        return self._forecasts(values, station, result, "open-meteo-ensemble", "calendar-max")

    async def forecast_daily_max(
        self,
        station: Station,
        models: Sequence[str] = DEFAULT_FORECAST_MODELS,
        forecast_days: int = 3,
    ) -> tuple[Forecast, ...]:
        """Per deterministic model and local date, ``temperature_2m_max``."""
        params = self._params(station, models, forecast_days) | {"daily": "temperature_2m_max"}
        url = endpoint(FORECAST_HOST, "/v1/forecast", self._api_key)
        result, payload = await self._get(url, params, station, "forecast-daily")
        values = parse_daily_members(
            payload, variable="temperature_2m_max", models=models, timezone=station.tz
        )
        return self._forecasts(values, station, result, "open-meteo-forecast", "local-day-max")
