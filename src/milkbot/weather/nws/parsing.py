"""Turn NWS API JSON payloads into values; strict, every failure is a :class:`ParseError`.

Shapes follow ``shared/reference/nws/api/openapi_api.weather.gov_v1.9.0.yaml`` and the real
responses beside it. Temperatures are converted to degF from the unit the payload names
(``wmoUnit:degC``/``wmoUnit:degF``); an unknown unit is an error, never a guess.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from milkbot.domain.climate_day import climate_day_of, interval_max_by_climate_day
from milkbot.domain.stations import Station
from milkbot.domain.weather import Forecast, Observation, c_to_f
from milkbot.errors import ParseError
from milkbot.weather.nws.schemas import (
    ForecastPeriod,
    GridData,
    GridForecast,
    GridPoint,
    GridValue,
    ProductRef,
    TextProduct,
)

_DURATION_RE = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
# Observation QC codes that mean the value was rejected or is questionable.
_REJECTED_QC = {"X", "Q"}


def load_json(payload: bytes | str) -> Any:
    """Decode a JSON payload; raise :class:`ParseError` when it is not JSON."""
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError, TypeError) as e:
        raise ParseError(f"payload is not JSON: {e}") from None


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ParseError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ParseError(f"{where}: {key!r} must be a non-empty string")
    return value


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"{where}: {key!r} must be an integer")
    return value


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(f"{where}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ParseError(f"{where}: number is not finite")
    return number


def parse_datetime(value: Any, where: str) -> datetime:
    """Parse an ISO-8601 timestamp with an offset into aware UTC."""
    if not isinstance(value, str):
        raise ParseError(f"{where}: expected an ISO-8601 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ParseError(f"{where}: invalid timestamp {value!r}") from None
    if parsed.tzinfo is None:
        raise ParseError(f"{where}: timestamp {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def _opt_datetime(obj: dict[str, Any], key: str, where: str) -> datetime | None:
    if obj.get(key) is None:
        return None
    return parse_datetime(obj[key], f"{where}.{key}")


def parse_duration(value: str, where: str) -> timedelta:
    """Parse an ISO-8601 duration of weeks/days/hours/minutes/seconds (``P7DT14H``)."""
    m = _DURATION_RE.fullmatch(value)
    if m is None or value in ("P", "PT") or value.endswith("T"):
        raise ParseError(f"{where}: unsupported ISO-8601 duration {value!r}")
    parts = {k: int(v) for k, v in m.groupdict().items() if v is not None}
    if not parts:
        raise ParseError(f"{where}: empty ISO-8601 duration {value!r}")
    return timedelta(**parts)


def parse_interval(value: Any, where: str) -> tuple[datetime, datetime]:
    """Parse an ISO-8601 ``start/duration`` interval (``2022-02-04T12:00:00+00:00/PT13H``)."""
    if not isinstance(value, str) or value.count("/") != 1:
        raise ParseError(f"{where}: expected a start/duration interval, got {value!r}")
    start_s, duration_s = value.split("/")
    start = parse_datetime(start_s, where)
    duration = parse_duration(duration_s, where)
    if duration <= timedelta(0):
        raise ParseError(f"{where}: empty interval {value!r}")
    return start, start + duration


def to_fahrenheit(value: float, unit: str, where: str) -> float:
    """Convert a temperature in a WMO unit code to degF."""
    code = unit.split(":", 1)[-1]
    if code == "degC":
        return c_to_f(value)
    if code == "degF":
        return value
    raise ParseError(f"{where}: unknown temperature unit {unit!r}")


def parse_point(payload: Any) -> GridPoint:
    """Parse a ``/points/{lat},{lon}`` response."""
    props = _obj(_obj(payload, "point").get("properties"), "point.properties")
    where = "point.properties"
    return GridPoint(
        wfo=_str(props, "gridId", where),
        grid_x=_int(props, "gridX", where),
        grid_y=_int(props, "gridY", where),
        forecast_url=_str(props, "forecast", where),
        forecast_hourly_url=_str(props, "forecastHourly", where),
        grid_data_url=_str(props, "forecastGridData", where),
        time_zone=_opt_str(props, "timeZone"),
    )


def _period_temperature(period: dict[str, Any], where: str) -> float:
    temp = period.get("temperature")
    if isinstance(temp, dict):  # Feature-Flags: forecast_temperature_qv
        unit = temp.get("unitCode")
        if not isinstance(unit, str):
            raise ParseError(f"{where}: temperature without unitCode")
        return to_fahrenheit(_finite(temp.get("value"), where), unit, where)
    value = _finite(temp, f"{where}.temperature")
    unit = period.get("temperatureUnit")
    if unit == "F":
        return value
    if unit == "C":
        return c_to_f(value)
    raise ParseError(f"{where}: unknown temperatureUnit {unit!r}")


def parse_forecast(payload: Any) -> GridForecast:
    """Parse a ``/forecast`` or ``/forecast/hourly`` response."""
    props = _obj(_obj(payload, "forecast").get("properties"), "forecast.properties")
    periods = []
    for i, raw in enumerate(_list(props.get("periods"), "forecast.periods")):
        where = f"forecast.periods[{i}]"
        period = _obj(raw, where)
        is_day = period.get("isDaytime")
        if not isinstance(is_day, bool):
            raise ParseError(f"{where}: isDaytime must be a boolean")
        name = period.get("name", "")
        start = parse_datetime(period.get("startTime"), f"{where}.startTime")
        end = parse_datetime(period.get("endTime"), f"{where}.endTime")
        if end <= start:
            raise ParseError(f"{where}: endTime not after startTime")
        periods.append(
            ForecastPeriod(
                number=_int(period, "number", where),
                name=name if isinstance(name, str) else "",
                start=start,
                end=end,
                is_daytime=is_day,
                temp_f=_period_temperature(period, where),
            )
        )
    if not periods:
        raise ParseError("forecast has no periods")
    return GridForecast(
        generated_at=_opt_datetime(props, "generatedAt", "forecast"),
        update_time=_opt_datetime(props, "updateTime", "forecast"),
        periods=tuple(periods),
    )


def parse_grid_layer(props: dict[str, Any], layer: str) -> tuple[GridValue, ...]:
    """Parse one temperature layer of a raw grid; null values are skipped."""
    where = f"grid.{layer}"
    data = _obj(props.get(layer), where)
    uom = data.get("uom")
    if not isinstance(uom, str):
        raise ParseError(f"{where}: missing uom")
    out = []
    for i, raw in enumerate(_list(data.get("values"), f"{where}.values")):
        item = _obj(raw, f"{where}.values[{i}]")
        start, end = parse_interval(item.get("validTime"), f"{where}.values[{i}].validTime")
        if item.get("value") is None:
            continue
        value = _finite(item.get("value"), f"{where}.values[{i}].value")
        out.append(GridValue(start, end, to_fahrenheit(value, uom, where)))
    return tuple(out)


def parse_grid(payload: Any) -> GridData:
    """Parse the temperature layers of a raw ``/gridpoints/{wfo}/{x},{y}`` response."""
    props = _obj(_obj(payload, "grid").get("properties"), "grid.properties")
    return GridData(
        update_time=_opt_datetime(props, "updateTime", "grid"),
        max_temperature=parse_grid_layer(props, "maxTemperature"),
        temperature=parse_grid_layer(props, "temperature"),
    )


def _qv_f(props: dict[str, Any], key: str, where: str) -> float | None:
    qv = props.get(key)
    if qv is None:
        return None
    qv = _obj(qv, f"{where}.{key}")
    qc = qv.get("qualityControl")
    if qv.get("value") is None or (isinstance(qc, str) and qc in _REJECTED_QC):
        return None
    unit = qv.get("unitCode")
    if not isinstance(unit, str):
        raise ParseError(f"{where}.{key}: missing unitCode")
    return to_fahrenheit(_finite(qv.get("value"), f"{where}.{key}"), unit, f"{where}.{key}")


def _station_id(props: dict[str, Any], where: str) -> str:
    url = _str(props, "station", where)
    station = url.rstrip("/").rsplit("/", 1)[-1]
    if not station:
        raise ParseError(f"{where}: empty station id")
    return station


def parse_observation(payload: Any) -> Observation:
    """Parse one observation feature (``/stations/{id}/observations/latest``)."""
    props = _obj(_obj(payload, "observation").get("properties"), "observation.properties")
    where = "observation"
    raw = props.get("rawMessage")
    return Observation(
        station=_station_id(props, where),
        observed_at=parse_datetime(props.get("timestamp"), f"{where}.timestamp"),
        temp_f=_qv_f(props, "temperature", where),
        max_last_24h_f=_qv_f(props, "maxTemperatureLast24Hours", where),
        raw_message=raw if isinstance(raw, str) and raw else None,
    )


def parse_observations(payload: Any) -> tuple[Observation, ...]:
    """Parse an observation collection, oldest first."""
    features = _list(_obj(payload, "observations").get("features"), "observations.features")
    return tuple(sorted((parse_observation(f) for f in features), key=lambda o: o.observed_at))


def parse_product_list(payload: Any) -> tuple[ProductRef, ...]:
    """Parse a product listing, newest first (sorted by ``issuanceTime``, not trusted order)."""
    graph = _list(_obj(payload, "products").get("@graph"), "products.@graph")
    refs = []
    for i, raw in enumerate(graph):
        where = f"products.@graph[{i}]"
        item = _obj(raw, where)
        refs.append(
            ProductRef(
                id=_str(item, "id", where),
                issuance_time=parse_datetime(item.get("issuanceTime"), f"{where}.issuanceTime"),
                product_code=_str(item, "productCode", where),
                issuing_office=_opt_str(item, "issuingOffice"),
                wmo_collective_id=_opt_str(item, "wmoCollectiveId"),
            )
        )
    return tuple(sorted(refs, key=lambda r: r.issuance_time, reverse=True))


def parse_product(payload: Any) -> TextProduct:
    """Parse a ``/products/{id}`` response."""
    item = _obj(payload, "product")
    return TextProduct(
        id=_str(item, "id", "product"),
        issuance_time=parse_datetime(item.get("issuanceTime"), "product.issuanceTime"),
        product_code=_str(item, "productCode", "product"),
        issuing_office=_opt_str(item, "issuingOffice"),
        text=_str(item, "productText", "product"),
    )


def daytime_highs(
    forecast: GridForecast, station: Station, issued_at: datetime | None
) -> tuple[Forecast, ...]:
    """The daytime-high forecasts (``isDaytime`` 12-hour periods) by local calendar date.

    These describe about 6 am to 6 pm local time, not the climate-day maximum.
    """
    out = []
    for p in forecast.periods:
        if not p.is_daytime:
            continue
        out.append(
            Forecast(
                source="nws-forecast",
                station=station.icao,
                target_date=p.start.astimezone(station.zone).date(),
                issued_at=issued_at,
                tmax_f=p.temp_f,
                kind="daytime-high",
            )
        )
    return tuple(out)


def grid_max_temperature(
    grid: GridData, station: Station, issued_at: datetime | None
) -> tuple[Forecast, ...]:
    """NDFD ``maxTemperature`` values (a daytime maximum) by the climate day they fall in."""
    return tuple(
        Forecast(
            source="nws-grid-maxt",
            station=station.icao,
            target_date=climate_day_of(v.start + (v.end - v.start) / 2, station),
            issued_at=issued_at,
            tmax_f=v.value_f,
            kind="daytime-high",
        )
        for v in grid.max_temperature
    )


def hourly_climate_day_max(
    values: Iterable[tuple[datetime, datetime, float]],
    station: Station,
    issued_at: datetime | None,
    source: str,
) -> tuple[Forecast, ...]:
    """Maximum of hourly temperatures over each fully covered climate day (LST)."""
    by_day: dict[date, float] = interval_max_by_climate_day(values, station)
    return tuple(
        Forecast(
            source=source,
            station=station.icao,
            target_date=day,
            issued_at=issued_at,
            tmax_f=value,
            kind="calendar-max",
        )
        for day, value in sorted(by_day.items())
    )
