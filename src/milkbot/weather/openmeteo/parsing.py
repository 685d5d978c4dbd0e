"""Turn Open-Meteo forecast/ensemble JSON into per-model, per-member daily maxima.

Response shape (``shared/notes/weather.md`` section 3.2): ``daily.time`` dates,
``daily.<var>`` the control or deterministic run and ``daily.<var>_memberNN`` the members;
when several models are requested every key also ends in ``_<model>``. The response must
echo the requested ``timezone`` and degF units, or it is refused: a daily maximum over the
wrong day or in the wrong unit is worse than none.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from milkbot.domain.climate_day import climate_day_bounds, climate_day_of
from milkbot.domain.stations import Station
from milkbot.errors import ParseError

FAHRENHEIT = "°F"


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _series(block: dict[str, Any], key: str, n: int, where: str) -> list[float | None]:
    values = block[key]
    if not isinstance(values, list) or len(values) != n:
        raise ParseError(f"{where}.{key}: expected a list of {n} values")
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ParseError(f"{where}.{key}: invalid value {v!r}")
        else:
            out.append(float(v))
    return out


def _check_envelope(payload: Any, timezone: str) -> dict[str, Any]:
    body = _obj(payload, "open-meteo")
    if body.get("error") is True:
        raise ParseError(f"open-meteo error: {body.get('reason')!r}")
    if body.get("timezone") != timezone:
        raise ParseError(
            f"open-meteo answered for timezone {body.get('timezone')!r}, asked {timezone!r}"
        )
    return body


def member_keys(
    keys: Sequence[str], variable: str, models: Sequence[str]
) -> dict[str, dict[int, str]]:
    """Map model -> member number (0 = control/deterministic) -> response key."""
    out: dict[str, dict[int, str]] = {m: {} for m in models}
    several = len(models) > 1
    for key in keys:
        for model in models:
            suffix = f"_{model}" if several else ""
            m = re.fullmatch(rf"{re.escape(variable)}(?:_member(\d+))?{re.escape(suffix)}", key)
            if m:
                out[model][int(m[1]) if m[1] else 0] = key
    return out


def parse_daily_members(
    payload: Any, *, variable: str, models: Sequence[str], timezone: str
) -> dict[tuple[str, date], tuple[float, ...]]:
    """Per model and local date, the non-missing member values (control first)."""
    body = _check_envelope(payload, timezone)
    daily = _obj(body.get("daily"), "daily")
    units = _obj(body.get("daily_units"), "daily_units")
    times = daily.get("time")
    if not isinstance(times, list) or not times:
        raise ParseError("daily.time: expected a non-empty list of dates")
    try:
        days = [date.fromisoformat(t) for t in times]
    except (TypeError, ValueError):
        raise ParseError("daily.time: expected ISO dates (timeformat=iso8601)") from None
    keys = member_keys([k for k in daily if isinstance(k, str)], variable, models)
    out: dict[tuple[str, date], tuple[float, ...]] = {}
    for model, by_member in keys.items():
        if not by_member:
            raise ParseError(f"daily: no {variable} values for model {model}")
        columns = []
        for number in sorted(by_member):
            key = by_member[number]
            if units.get(key) != FAHRENHEIT:
                raise ParseError(f"daily_units.{key} is {units.get(key)!r}, expected °F")
            columns.append(_series(daily, key, len(days), "daily"))
        for i, day in enumerate(days):
            values = tuple(v for col in columns if (v := col[i]) is not None)
            if values:
                out[(model, day)] = values
    return out


def parse_hourly_member_climate_max(
    payload: Any, *, variable: str, models: Sequence[str], timezone: str, station: Station
) -> dict[tuple[str, date], tuple[float, ...]]:
    """Per model and climate day (LST), the maximum of each member's 24 hourly values.

    Needs ``timeformat=unixtime`` so hours are unambiguous instants. A member contributes
    to a day only when all 24 of its hours in that day are present.
    """
    body = _check_envelope(payload, timezone)
    hourly = _obj(body.get("hourly"), "hourly")
    units = _obj(body.get("hourly_units"), "hourly_units")
    raw_times = hourly.get("time")
    if not isinstance(raw_times, list) or not raw_times:
        raise ParseError("hourly.time: expected a non-empty list")
    if any(isinstance(t, bool) or not isinstance(t, int) for t in raw_times):
        raise ParseError("hourly.time: expected unix times (timeformat=unixtime)")
    try:
        times = [datetime.fromtimestamp(t, UTC) for t in raw_times]
    except (OverflowError, OSError, ValueError):
        raise ParseError("hourly.time: unix time out of range") from None
    keys = member_keys([k for k in hourly if isinstance(k, str)], variable, models)
    out: dict[tuple[str, date], tuple[float, ...]] = {}
    for model, by_member in keys.items():
        if not by_member:
            raise ParseError(f"hourly: no {variable} values for model {model}")
        per_day: dict[date, list[float]] = defaultdict(list)
        for number in sorted(by_member):
            key = by_member[number]
            if units.get(key) != FAHRENHEIT:
                raise ParseError(f"hourly_units.{key} is {units.get(key)!r}, expected °F")
            samples: dict[date, dict[datetime, float]] = defaultdict(dict)
            for ts, value in zip(times, _series(hourly, key, len(times), "hourly"), strict=True):
                if value is not None:
                    samples[climate_day_of(ts, station)][ts] = value
            for day, by_hour in samples.items():
                start, _ = climate_day_bounds(day, station)
                hours = {start + timedelta(hours=h) for h in range(24)}
                if hours <= by_hour.keys():
                    per_day[day].append(max(by_hour[h] for h in hours))
        for day, maxima in per_day.items():
            out[(model, day)] = tuple(maxima)
    return out
