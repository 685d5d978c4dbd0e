"""Climate-day arithmetic across both DST transitions of every registered zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbot.domain.climate_day import (
    climate_day_bounds,
    climate_day_of,
    lst_to_utc,
    running_max,
)
from milkbot.domain.stations import STATIONS, Station, by_city
from milkbot.errors import DataError

ZONES = sorted({s.tz for s in STATIONS})
YEARS = (2023, 2024, 2025, 2026)


def _station_of_zone(tz: str) -> Station:
    return next(s for s in STATIONS if s.tz == tz)


def _transitions(tz: str, year: int) -> list[datetime]:
    """The UTC instants where the zone's offset changes in ``year`` (found by scanning)."""
    zone = ZoneInfo(tz)
    found = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    prev = t.astimezone(zone).utcoffset()
    while t.year == year:
        t += timedelta(hours=1)
        off = t.astimezone(zone).utcoffset()
        if off != prev:
            found.append(t)
            prev = off
    return found


@pytest.mark.parametrize("station", STATIONS, ids=lambda s: s.city)
def test_registry_offset_is_the_zone_standard_offset(station: Station) -> None:
    january = datetime(2025, 1, 15, 12, tzinfo=UTC).astimezone(station.zone)
    assert january.utcoffset() == timedelta(hours=station.std_offset_hours)


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("tz", ZONES)
def test_both_dst_transitions(tz: str, year: int) -> None:
    station = _station_of_zone(tz)
    zone = station.zone
    transitions = _transitions(tz, year)
    assert len(transitions) == 2, "every registered zone observes DST"
    spring, autumn = transitions
    for change in (spring, autumn):
        local_day = change.astimezone(zone).date()
        # The climate day containing the change is 24 hours long and starts at 00:00 LST.
        start, end = climate_day_bounds(local_day, station)
        assert end - start == timedelta(hours=24)
        assert start.astimezone(zone).replace(tzinfo=None).time().hour in (0, 1)
        assert climate_day_of(start, station) == local_day
        assert climate_day_of(end - timedelta(microseconds=1), station) == local_day
        assert climate_day_of(end, station) == local_day + timedelta(days=1)
        assert climate_day_of(change, station) == local_day

    # Summer: 00:30 local daylight time still belongs to the previous climate day ...
    summer_day = (spring + timedelta(days=30)).astimezone(zone).date()
    half_past_midnight = datetime(
        summer_day.year, summer_day.month, summer_day.day, 0, 30, tzinfo=zone
    )
    assert climate_day_of(half_past_midnight, station) == summer_day - timedelta(days=1)
    # ... and the day starts at 01:00 local daylight time.
    one_am = half_past_midnight + timedelta(minutes=30)
    assert climate_day_of(one_am, station) == summer_day
    start, _ = climate_day_bounds(summer_day, station)
    assert start == one_am.astimezone(UTC)

    # Winter: the day starts at local midnight.
    winter_day = date(year, 1, 20)
    start, _ = climate_day_bounds(winter_day, station)
    assert start.astimezone(zone).hour == 0

    # Autumn: the repeated 01:00-02:00 hour. First pass (daylight) is 00:xx LST of the day;
    # second pass (standard) is 01:xx LST of the same day.
    autumn_day = autumn.astimezone(zone).date()
    first = datetime(autumn_day.year, autumn_day.month, autumn_day.day, 1, 30, tzinfo=zone, fold=0)
    second = first.replace(fold=1)
    assert climate_day_of(first, station) == autumn_day
    assert climate_day_of(second, station) == autumn_day
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    # And 00:30 daylight time on the autumn day belongs to the previous climate day.
    before = datetime(autumn_day.year, autumn_day.month, autumn_day.day, 0, 30, tzinfo=zone)
    assert climate_day_of(before, station) == autumn_day - timedelta(days=1)


def test_nyc_known_bounds() -> None:
    nyc = by_city("NYC")
    assert climate_day_bounds(date(2025, 7, 4), nyc) == (
        datetime(2025, 7, 4, 5, tzinfo=UTC),
        datetime(2025, 7, 5, 5, tzinfo=UTC),
    )
    # 03:59Z on 5 July is 23:59 EDT on 4 July but 22:59 EST; 04:30Z is 00:30 EDT on 5 July,
    # which is still 4 July in standard time.
    assert climate_day_of(datetime(2025, 7, 5, 4, 30, tzinfo=UTC), nyc) == date(2025, 7, 4)
    assert lst_to_utc(date(2013, 1, 2), time(15, 1), nyc) == datetime(2013, 1, 2, 20, 1, tzinfo=UTC)


def test_naive_datetime_refused() -> None:
    with pytest.raises(DataError):
        climate_day_of(datetime(2025, 1, 1, 12), by_city("NYC"))  # noqa: DTZ001


@settings(deadline=None)
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),  # noqa: DTZ001
    st.sampled_from(STATIONS),
)
def test_instant_lies_inside_its_day(naive: datetime, station: Station) -> None:
    ts = naive.replace(tzinfo=UTC)
    start, end = climate_day_bounds(climate_day_of(ts, station), station)
    assert start <= ts < end


def test_running_max_respects_bounds_and_as_of() -> None:
    chi = by_city("CHI")  # UTC-6 standard; 2025-07-10 runs 06:00Z .. 06:00Z next day
    day = date(2025, 7, 10)
    obs = [
        (datetime(2025, 7, 10, 5, 59, tzinfo=UTC), 99.0),  # 00:59 CDT: previous climate day
        (datetime(2025, 7, 10, 6, 0, tzinfo=UTC), 70.0),
        (datetime(2025, 7, 10, 20, 0, tzinfo=UTC), 88.5),
        (datetime(2025, 7, 10, 21, 0, tzinfo=UTC), None),
        (datetime(2025, 7, 11, 5, 30, tzinfo=UTC), 91.0),  # 00:30 CDT next day: still 10th
        (datetime(2025, 7, 11, 6, 0, tzinfo=UTC), 95.0),  # next climate day
    ]
    assert running_max(obs, day, chi) == 91.0
    assert running_max(obs, day, chi, as_of=datetime(2025, 7, 10, 20, tzinfo=UTC)) == 88.5
    assert running_max(obs, day, chi, as_of=datetime(2025, 7, 10, 5, tzinfo=UTC)) is None
    assert running_max([], day, chi) is None
