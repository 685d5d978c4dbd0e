"""The Open-Meteo client and parsers.

No recorded Open-Meteo response exists in ``shared/reference``; these payloads follow the
response shape documented in ``shared/notes/weather.md`` section 3.2 (keys, units, model
suffixes) with small hand-written values, and test the parsing rules, not any forecast.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkbot.clock import FixedClock
from milkbot.domain.stations import by_city
from milkbot.domain.weather import WeatherSnapshot
from milkbot.errors import ParseError, TransientUpstreamError
from milkbot.settings import load_settings
from milkbot.weather.openmeteo.client import OpenMeteoClient
from milkbot.weather.openmeteo.parsing import (
    member_keys,
    parse_daily_members,
    parse_hourly_member_climate_max,
)
from tests.weather.conftest import Upstream, body

NYC = by_city("NYC")
NOW = datetime(2025, 7, 10, 12, tzinfo=UTC)


def _daily(models: list[str], members: int, tz: str = "America/New_York") -> dict[str, Any]:
    days = ["2025-07-10", "2025-07-11"]
    daily: dict[str, Any] = {"time": days}
    units: dict[str, str] = {"time": "iso8601"}
    for mi, model in enumerate(models):
        suffix = f"_{model}" if len(models) > 1 else ""
        for n in range(members + 1):
            key = "temperature_2m_max" + (f"_member{n:02d}" if n else "") + suffix
            daily[key] = [80.0 + mi * 10 + n, None if n == 1 else 70.0 + n]
            units[key] = "°F"
    return {
        "latitude": 40.78,
        "longitude": -73.97,
        "generationtime_ms": 1.2,
        "utc_offset_seconds": -14400,
        "timezone": tz,
        "timezone_abbreviation": "EDT",
        "elevation": 40.0,
        "daily_units": units,
        "daily": daily,
    }


def test_single_model_members_unsuffixed() -> None:
    out = parse_daily_members(
        _daily(["ncep_gefs025"], 3),
        variable="temperature_2m_max",
        models=["ncep_gefs025"],
        timezone="America/New_York",
    )
    assert out[("ncep_gefs025", date(2025, 7, 10))] == (80.0, 81.0, 82.0, 83.0)
    assert out[("ncep_gefs025", date(2025, 7, 11))] == (70.0, 72.0, 73.0)  # member01 null


def test_several_models_suffixed() -> None:
    models = ["ncep_gefs025", "ecmwf_ifs025_ensemble"]
    out = parse_daily_members(
        _daily(models, 2), variable="temperature_2m_max", models=models, timezone=NYC.tz
    )
    assert out[("ecmwf_ifs025_ensemble", date(2025, 7, 10))] == (90.0, 91.0, 92.0)
    assert out[("ncep_gefs025", date(2025, 7, 10))] == (80.0, 81.0, 82.0)


def test_member_keys_do_not_cross_models() -> None:
    keys = ["temperature_2m_max_member01_gfs", "temperature_2m_max_member01_gfs_seamless"]
    assert member_keys(keys, "temperature_2m_max", ["gfs", "gfs_seamless"]) == {
        "gfs": {1: "temperature_2m_max_member01_gfs"},
        "gfs_seamless": {1: "temperature_2m_max_member01_gfs_seamless"},
    }


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: p.update(timezone="GMT"), "timezone"),
        (lambda p: p["daily_units"].update(temperature_2m_max="°C"), "expected °F"),
        (lambda p: p["daily"].update(temperature_2m_max=[1.0]), "list of 2"),
        (lambda p: p["daily"].update(temperature_2m_max=["hot", 1.0]), "invalid value"),
        (lambda p: p["daily"].update(time=[1752105600, 1752192000]), "ISO dates"),
        (lambda p: p.update(error=True, reason="Cannot initialize"), "Cannot initialize"),
        (lambda p: p.pop("daily"), "daily"),
    ],
)
def test_bad_responses_raise(mutate: Any, match: str) -> None:
    payload = _daily(["ncep_gefs025"], 1)
    mutate(payload)
    with pytest.raises(ParseError, match=match):
        parse_daily_members(
            payload, variable="temperature_2m_max", models=["ncep_gefs025"], timezone=NYC.tz
        )


def _hourly(start: datetime, hours: int, peak_at: datetime) -> dict[str, Any]:
    times = [int((start + timedelta(hours=h)).timestamp()) for h in range(hours)]
    control = [60.0 + (h % 24) / 2 for h in range(hours)]
    member = [v + 1.0 for v in control]
    idx = times.index(int(peak_at.timestamp()))
    control[idx] = 99.0
    return {
        "timezone": "America/New_York",
        "utc_offset_seconds": -14400,
        "hourly_units": {
            "time": "unixtime",
            "temperature_2m": "°F",
            "temperature_2m_member01": "°F",
        },
        "hourly": {"time": times, "temperature_2m": control, "temperature_2m_member01": member},
    }


def test_hourly_climate_day_uses_local_standard_time() -> None:
    # 2025-07-10 04:00Z is 00:00 EDT on the 10th but 23:00 EST on the 9th: it belongs to
    # the 9th's climate day, which is incomplete here, so it must not reach the 10th.
    start = datetime(2025, 7, 9, 20, tzinfo=UTC)
    payload = _hourly(start, 50, peak_at=datetime(2025, 7, 10, 4, tzinfo=UTC))
    out = parse_hourly_member_climate_max(
        payload, variable="temperature_2m", models=["gfs025"], timezone=NYC.tz, station=NYC
    )
    assert list(out) == [("gfs025", date(2025, 7, 10))]  # only the full day
    control_max, member_max = out[("gfs025", date(2025, 7, 10))]
    assert control_max < 99.0
    assert member_max == control_max + 1.0
    # Moved to 05:00Z (00:00 EST) the peak is inside the 10th.
    payload = _hourly(start, 50, peak_at=datetime(2025, 7, 10, 5, tzinfo=UTC))
    out = parse_hourly_member_climate_max(
        payload, variable="temperature_2m", models=["gfs025"], timezone=NYC.tz, station=NYC
    )
    assert out[("gfs025", date(2025, 7, 10))][0] == 99.0


def test_hourly_needs_unixtime() -> None:
    payload = _hourly(
        datetime(2025, 7, 9, 20, tzinfo=UTC), 30, datetime(2025, 7, 10, 4, tzinfo=UTC)
    )
    payload["hourly"]["time"] = ["2025-07-09T16:00"] * 30
    with pytest.raises(ParseError, match="unixtime"):
        parse_hourly_member_climate_max(
            payload, variable="temperature_2m", models=["gfs025"], timezone=NYC.tz, station=NYC
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=24), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(json_values)
def test_fuzzed_payloads_never_crash_and_never_give_a_value(payload: Any) -> None:
    with pytest.raises(ParseError):
        parse_daily_members(payload, variable="temperature_2m_max", models=["m"], timezone=NYC.tz)
    with pytest.raises(ParseError):
        parse_hourly_member_climate_max(
            payload, variable="temperature_2m", models=["m"], timezone=NYC.tz, station=NYC
        )


class _Sleeper:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_client_free_host_always_sends_timezone(upstream: Upstream) -> None:
    models = ["ncep_gefs025", "ecmwf_ifs025_ensemble"]
    upstream.add("/v1/ensemble", body(_daily(models, 2)))
    snaps: list[WeatherSnapshot] = []
    client = OpenMeteoClient(
        clock=FixedClock(NOW),
        transport=upstream.transport(),
        rng=random.Random(1),
        sleep=_Sleeper(),
        snapshot_sink=snaps.append,
    )
    forecasts = await client.ensemble_daily_max(NYC, models)
    request = upstream.requests[0]
    assert request.url.host == "ensemble-api.open-meteo.com"
    params = request.url.params
    assert params["timezone"] == "America/New_York"
    assert params["temperature_unit"] == "fahrenheit"
    assert params["daily"] == "temperature_2m_max"
    assert params["models"] == "ncep_gefs025,ecmwf_ifs025_ensemble"
    assert (params["latitude"], params["longitude"]) == ("40.7789", "-73.9692")
    assert "apikey" not in params
    first = forecasts[0]
    assert first.model == "ecmwf_ifs025_ensemble" and first.members == (90.0, 91.0, 92.0)
    assert first.tmax_f == 91.0 and first.sigma_f == 1.0
    assert first.issued_at == NOW and first.station == "KNYC"
    assert len(snaps) == 1 and snaps[0].source == "open-meteo"


async def test_client_commercial_host_and_key(upstream: Upstream) -> None:
    upstream.add("/v1/forecast", body(_daily(["gfs_seamless", "ecmwf_ifs025"], 0)))
    snaps: list[WeatherSnapshot] = []
    settings_ = load_settings(openmeteo_api_key="k-123")
    client = OpenMeteoClient.from_settings(
        settings_, clock=FixedClock(NOW), transport=upstream.transport(), snapshot_sink=snaps.append
    )
    forecasts = await client.forecast_daily_max(NYC)
    request = upstream.requests[0]
    assert request.url.host == "customer-api.open-meteo.com"
    assert request.url.params["apikey"] == "k-123"
    assert {f.model for f in forecasts} == {"gfs_seamless", "ecmwf_ifs025"}
    assert all(len(f.members) == 1 and f.sigma_f is None for f in forecasts)
    assert "k-123" not in snaps[0].url  # the key never lands in stored snapshots


async def test_client_hourly_ensemble_and_outage(upstream: Upstream) -> None:
    start = datetime(2025, 7, 9, 20, tzinfo=UTC)
    upstream.add(
        "/v1/ensemble",
        body(_hourly(start, 50, datetime(2025, 7, 10, 5, tzinfo=UTC))),
        body({"error": True, "reason": "busy"}, status=503),
    )
    clock = FixedClock(NOW)
    sleeper = _Sleeper()
    client = OpenMeteoClient(
        clock=clock,
        transport=upstream.transport(),
        rng=random.Random(3),
        sleep=sleeper,
        max_attempts=2,
        outage_threshold=1,
    )
    got = await client.ensemble_climate_day_max(NYC, ["gfs025"])
    assert [(f.target_date, f.members[0]) for f in got] == [(date(2025, 7, 10), 99.0)]
    assert upstream.requests[0].url.params["timeformat"] == "unixtime"
    clock.advance(timedelta(hours=1))
    with pytest.raises(TransientUpstreamError):
        await client.ensemble_climate_day_max(NYC, ["gfs025"])
    assert client.health.outage
    assert len(sleeper.delays) == 1


def test_client_refuses_bad_arguments() -> None:
    client = OpenMeteoClient(
        clock=FixedClock(NOW), transport=httpx.MockTransport(lambda r: httpx.Response(500))
    )
    with pytest.raises(ValueError):
        client._params(NYC, [], 3)
    with pytest.raises(ValueError):
        client._params(NYC, ["gfs025"], 0)
