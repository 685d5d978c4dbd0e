"""Values read from NWS API payloads (the wire shapes are in the OpenAPI spec v1.9.0)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class GridPoint:
    """The forecast grid cell of a point (``/points/{lat},{lon}``)."""

    wfo: str
    grid_x: int
    grid_y: int
    forecast_url: str
    forecast_hourly_url: str
    grid_data_url: str
    time_zone: str | None


@dataclass(frozen=True, slots=True)
class ForecastPeriod:
    """One period of ``/forecast`` (12-hour) or ``/forecast/hourly``; temperature in degF."""

    number: int
    name: str
    start: datetime
    end: datetime
    is_daytime: bool
    temp_f: float


@dataclass(frozen=True, slots=True)
class GridForecast:
    """A ``/forecast`` or ``/forecast/hourly`` response."""

    generated_at: datetime | None
    update_time: datetime | None
    periods: tuple[ForecastPeriod, ...]


@dataclass(frozen=True, slots=True)
class GridValue:
    """One value of a raw grid layer over ``[start, end)``, converted to degF."""

    start: datetime
    end: datetime
    value_f: float


@dataclass(frozen=True, slots=True)
class GridData:
    """The temperature layers of a raw ``/gridpoints/{wfo}/{x},{y}`` response."""

    update_time: datetime | None
    max_temperature: tuple[GridValue, ...]
    temperature: tuple[GridValue, ...]


@dataclass(frozen=True, slots=True)
class ProductRef:
    """One entry of a ``/products/types/{type}/locations/{loc}`` listing."""

    id: str
    issuance_time: datetime
    product_code: str
    issuing_office: str | None
    wmo_collective_id: str | None


@dataclass(frozen=True, slots=True)
class TextProduct:
    """A ``/products/{id}`` response."""

    id: str
    issuance_time: datetime
    product_code: str
    issuing_office: str | None
    text: str
