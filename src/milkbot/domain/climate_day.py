"""Climate-day arithmetic: the NWS day runs midnight to midnight local *standard* time.

While daylight time is in force the climate day therefore runs from 01:00 to 01:00 on the
local clock. Every function here uses the station's fixed ``std_offset_hours`` and never the
zone's current offset, so a climate day is always exactly 24 hours long, DST or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone

from milkbot.domain.stations import Station
from milkbot.errors import DataError

DAY = timedelta(days=1)


def standard_zone(station: Station) -> timezone:
    """The fixed-offset zone of the station's local standard time."""
    return timezone(station.standard_offset)


def _require_aware(ts: datetime) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise DataError(f"naive datetime {ts.isoformat()} has no defined climate day")


def climate_day_of(ts_utc: datetime, station: Station) -> date:
    """Return the climate day (a date in local standard time) that contains ``ts_utc``.

    ``ts_utc`` may carry any UTC offset; only the instant matters. Naive datetimes are
    refused with :class:`DataError`.
    """
    _require_aware(ts_utc)
    return ts_utc.astimezone(standard_zone(station)).date()


def climate_day_bounds(day: date, station: Station) -> tuple[datetime, datetime]:
    """Return ``[start, end)`` of a climate day as aware UTC datetimes (24 hours apart)."""
    start = datetime.combine(day, time(0), tzinfo=standard_zone(station)).astimezone(UTC)
    return start, start + DAY


def lst_to_utc(day: date, clock_time: time, station: Station) -> datetime:
    """Turn a local-standard-time clock reading on ``day`` (as printed in a CLI) into UTC."""
    return datetime.combine(day, clock_time, tzinfo=standard_zone(station)).astimezone(UTC)


def running_max(
    observations: Iterable[tuple[datetime, float | None]],
    day: date,
    station: Station,
    *,
    as_of: datetime | None = None,
) -> float | None:
    """Highest observed temperature inside the climate day, up to ``as_of`` inclusive.

    ``observations`` are ``(timestamp, temperature)`` pairs in any order; missing values
    (None) are skipped. Returns None when no observation falls inside the window.
    """
    start, end = climate_day_bounds(day, station)
    if as_of is not None:
        _require_aware(as_of)
    best: float | None = None
    for ts, value in observations:
        _require_aware(ts)
        if value is None or not start <= ts < end:
            continue
        if as_of is not None and ts > as_of:
            continue
        if best is None or value > best:
            best = value
    return best


def interval_max_by_climate_day(
    values: Iterable[tuple[datetime, datetime, float]], station: Station
) -> dict[date, float]:
    """Maximum of interval values (``[start, end)``, value) per climate day.

    Only days whose 24 hours are fully covered by the intervals are returned, so a partial
    first or last day never passes for a full-day maximum. Overlapping intervals are
    refused with :class:`DataError`.
    """
    spans: dict[date, list[tuple[datetime, datetime]]] = {}
    best: dict[date, float] = {}
    for start, end, value in values:
        _require_aware(start)
        _require_aware(end)
        if end <= start:
            raise DataError(f"empty interval {start.isoformat()}/{end.isoformat()}")
        day = climate_day_of(start, station)
        while True:
            day_start, day_end = climate_day_bounds(day, station)
            if day_start >= end:
                break
            lo, hi = max(start, day_start), min(end, day_end)
            if lo < hi:
                spans.setdefault(day, []).append((lo, hi))
                best[day] = max(best.get(day, value), value)
            day += DAY
    out: dict[date, float] = {}
    for day, parts in spans.items():
        parts.sort()
        covered = timedelta(0)
        previous_end: datetime | None = None
        for lo, hi in parts:
            if previous_end is not None and lo < previous_end:
                raise DataError(f"overlapping intervals on climate day {day}")
            covered += hi - lo
            previous_end = hi
        if covered == DAY:
            out[day] = best[day]
    return out
