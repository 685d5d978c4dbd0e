"""Async client of the NWS API (api.weather.gov) for the settlement stations.

Every request carries the ``User-Agent`` with a contact (a 403 without it) and
``Accept: application/geo+json`` (some edges serve stale forecasts without it). Responses
go through :class:`CachingFetcher` (Cache-Control/Expires, conditional requests, retries on
5xx, an outage circuit). A 503 ``ForecastGridExpired`` opens the circuit at once: retrying
does not help, the trader must fall back to Open-Meteo. Each network response is handed to
an optional snapshot sink as a :class:`WeatherSnapshot` so decisions can be replayed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from milkbot.clock import Clock
from milkbot.domain.climate_day import climate_day_bounds
from milkbot.domain.stations import Station
from milkbot.domain.weather import CliReport, Observation, WeatherSnapshot
from milkbot.errors import ParseError
from milkbot.settings import Settings
from milkbot.weather.cli_report import parse_cli_product, report_for_station
from milkbot.weather.http_cache import (
    CachingFetcher,
    FetchResult,
    HttpStatusError,
    Sleep,
    SnapshotSink,
    UpstreamHealth,
)
from milkbot.weather.nws import parsing
from milkbot.weather.nws.schemas import GridData, GridForecast, GridPoint, ProductRef, TextProduct

NWS_BASE_URL = "https://api.weather.gov"
GEO_JSON = "application/geo+json"
LD_JSON = "application/ld+json"


def is_expired_grid(response: httpx.Response) -> bool:
    """Whether an error response is the ``ForecastGridExpired`` outage (retrying is useless)."""
    if response.status_code != 503:
        return False
    text = response.text.replace(" ", "").lower()
    return "forecastgridexpired" in text or "forecastgridinvalid" in text


@dataclass(frozen=True, slots=True)
class CliIssuance:
    """One CLI product as listed, with the station's summary parsed from its text."""

    ref: ProductRef
    report: CliReport
    issued_at: datetime | None = None  # the product's own issuanceTime


class NwsClient:
    """The NWS API for the registry's stations."""

    def __init__(
        self,
        *,
        user_agent: str,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        base_url: str = NWS_BASE_URL,
        snapshot_sink: SnapshotSink | None = None,
        points_ttl: timedelta = timedelta(days=1),
        max_attempts: int = 4,
        outage_threshold: int = 3,
        outage_cooldown: timedelta = timedelta(minutes=2),
    ) -> None:
        if "@" not in user_agent and "(" not in user_agent:
            raise ValueError("the NWS User-Agent must identify the app and give a contact")
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._sink = snapshot_sink
        self._points_ttl = points_ttl
        self._points: dict[str, tuple[GridPoint, datetime]] = {}
        # Two circuits: an expired forecast grid must not stop observations or the CLI.
        self.fetcher, self.obs_fetcher = (
            CachingFetcher(
                provider=name,
                clock=clock,
                headers={"User-Agent": user_agent, "Accept": GEO_JSON},
                transport=transport,
                rng=rng or random.Random(),
                sleep=sleep,
                max_attempts=max_attempts,
                health=UpstreamHealth(name, threshold=outage_threshold, cooldown=outage_cooldown),
                is_hard_failure=is_expired_grid,
            )
            for name in ("nws", "nws-obs")
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock, **kwargs: Any) -> NwsClient:
        """Build the client with ``MILKBOT_NWS_USER_AGENT``."""
        return cls(user_agent=settings.nws_user_agent, clock=clock, **kwargs)

    @property
    def health(self) -> UpstreamHealth:
        """The forecast circuit; ``health.outage`` tells the trader to fall back."""
        return self.fetcher.circuit

    @property
    def observations_health(self) -> UpstreamHealth:
        """The circuit of observations and text products (the CLI)."""
        return self.obs_fetcher.circuit

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        await self.fetcher.aclose()
        await self.obs_fetcher.aclose()

    async def _get(
        self,
        url: str,
        *,
        station: Station,
        kind: str,
        params: dict[str, str] | None = None,
        accept: str = GEO_JSON,
        issued_at: Callable[[Any], datetime | None] | None = None,
        forecast: bool = True,
    ) -> tuple[FetchResult, Any]:
        fetcher = self.fetcher if forecast else self.obs_fetcher
        result = await fetcher.get(url, params, headers={"Accept": accept})
        payload = result.json()
        if self._sink is not None and not result.from_cache:
            issued = issued_at(payload) if issued_at is not None else None
            self._sink(
                WeatherSnapshot.from_payload(
                    source="nws",
                    station=station.icao,
                    kind=kind,
                    url=result.url,
                    payload=result.body,
                    retrieved_at=result.retrieved_at,
                    issued_at=issued or result.last_modified,
                )
            )
        return result, payload

    # -- grid ---------------------------------------------------------------------------------

    def points_url(self, station: Station) -> str:
        """``/points/{lat},{lon}`` of the station itself (four decimals, the API's maximum)."""
        return f"{self._base}/points/{station.latitude:.4f},{station.longitude:.4f}"

    async def grid_point(self, station: Station, *, refresh: bool = False) -> GridPoint:
        """The station's grid cell, cached and refreshed daily (or on demand)."""
        now = self._clock.now()
        cached = self._points.get(station.icao)
        if cached is not None and not refresh and now - cached[1] < self._points_ttl:
            return cached[0]
        url = self.points_url(station)
        if refresh:
            self.fetcher.invalidate(url)
        _, payload = await self._get(url, station=station, kind="points")
        point = parsing.parse_point(payload)
        self._points[station.icao] = (point, now)
        return point

    async def _grid_get(
        self, station: Station, pick: Callable[[GridPoint], str], kind: str
    ) -> tuple[FetchResult, Any]:
        """GET a grid URL; on 404 the point mapping may have moved: refresh it once."""
        point = await self.grid_point(station)
        try:
            return await self._get(pick(point), station=station, kind=kind, issued_at=_update_time)
        except HttpStatusError as e:
            if e.status != 404:
                raise
        point = await self.grid_point(station, refresh=True)
        return await self._get(pick(point), station=station, kind=kind, issued_at=_update_time)

    async def forecast(self, station: Station) -> GridForecast:
        """The 12-hour forecast periods of the station's grid cell."""
        _, payload = await self._grid_get(station, lambda p: p.forecast_url, "forecast")
        return parsing.parse_forecast(payload)

    async def hourly_forecast(self, station: Station) -> GridForecast:
        """The hourly forecast periods of the station's grid cell."""
        _, payload = await self._grid_get(
            station, lambda p: p.forecast_hourly_url, "forecast-hourly"
        )
        return parsing.parse_forecast(payload)

    async def grid_data(self, station: Station) -> GridData:
        """The raw grid's temperature layers (degF)."""
        _, payload = await self._grid_get(station, lambda p: p.grid_data_url, "grid")
        return parsing.parse_grid(payload)

    # -- observations -------------------------------------------------------------------------

    async def latest_observation(self, station: Station) -> Observation:
        """The latest observation at the station."""
        url = f"{self._base}/stations/{station.icao}/observations/latest"
        _, payload = await self._get(
            url, station=station, kind="observation-latest", issued_at=_update_time, forecast=False
        )
        return parsing.parse_observation(payload)

    async def observations(
        self, station: Station, start: datetime, end: datetime
    ) -> tuple[Observation, ...]:
        """Observations with ``start <= timestamp <= end``, oldest first."""
        url = f"{self._base}/stations/{station.icao}/observations"
        params = {"start": start.isoformat(), "end": end.isoformat(), "limit": "500"}
        _, payload = await self._get(
            url, station=station, kind="observations", params=params, forecast=False
        )
        return parsing.parse_observations(payload)

    async def climate_day_observations(
        self, station: Station, day: date
    ) -> tuple[Observation, ...]:
        """The observations of one climate day so far (LST midnight to now or day end)."""
        start, end = climate_day_bounds(day, station)
        now = self._clock.now()
        if now < start:
            return ()
        last = min(end - timedelta(seconds=1), now)
        found = await self.observations(station, start, last)
        return tuple(o for o in found if start <= o.observed_at < end)

    # -- CLI ----------------------------------------------------------------------------------

    async def cli_products(self, station: Station) -> tuple[ProductRef, ...]:
        """The listed CLI issuances of the station's product, newest first."""
        url = f"{self._base}/products/types/CLI/locations/{station.cli_location}"
        _, payload = await self._get(
            url, station=station, kind="cli-list", accept=LD_JSON, forecast=False
        )
        return parsing.parse_product_list(payload)

    async def product(self, station: Station, product_id: str) -> TextProduct:
        """One text product by id."""
        url = f"{self._base}/products/{product_id}"
        _, payload = await self._get(
            url,
            station=station,
            kind="cli",
            accept=LD_JSON,
            issued_at=_issuance,
            forecast=False,
        )
        return parsing.parse_product(payload)

    async def cli_issuance(self, station: Station, ref: ProductRef) -> CliIssuance:
        """Download one listed CLI issuance and parse the station's summary from it.

        A product that cannot be parsed raises :class:`ParseError` naming it.
        """
        product = await self.product(station, ref.id)
        try:
            report = report_for_station(parse_cli_product(product.text), station)
        except ParseError as e:
            raise ParseError(f"CLI product {ref.id} ({ref.issuance_time}): {e}") from e
        return CliIssuance(ref, report, product.issuance_time)

    async def cli_reports(self, station: Station, *, limit: int = 4) -> tuple[CliIssuance, ...]:
        """Parse the newest ``limit`` CLI issuances for the station, newest first.

        A product that cannot be parsed raises :class:`ParseError`: settlement truth is
        never skipped silently.
        """
        refs = (await self.cli_products(station))[:limit]
        return tuple([await self.cli_issuance(station, ref) for ref in refs])


def _update_time(payload: Any) -> datetime | None:
    props = payload.get("properties") if isinstance(payload, dict) else None
    if not isinstance(props, dict):
        return None
    for key in ("updateTime", "generatedAt", "timestamp"):
        try:
            if props.get(key) is not None:
                return parsing.parse_datetime(props[key], key)
        except ParseError:
            return None
    return None


def _issuance(payload: Any) -> datetime | None:
    if not isinstance(payload, dict):
        return None
    try:
        return parsing.parse_datetime(payload.get("issuanceTime"), "issuanceTime")
    except ParseError:
        return None
