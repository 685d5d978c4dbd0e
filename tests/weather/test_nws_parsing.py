"""Parsing of every recorded api.weather.gov payload, and fuzzing of the parsers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkbot.domain.stations import by_city
from milkbot.domain.weather import c_to_f
from milkbot.errors import ParseError
from milkbot.weather.nws import parsing
from tests.weather.conftest import NWS_API, nws_json, resolve_relative_times

TAE = "gridpoints_TAE_58,65_raw_grid_2022-02-04_pynws.json"
FORECAST = "gridpoints_BMX_32,69_forecast_weathergov_RELATIVE_TIMES.json"
HOURLY = "gridpoints_BMX_32,69_forecast_hourly_weathergov_RELATIVE_TIMES.json"
NOW = datetime(2024, 2, 23, 19, tzinfo=UTC)


def test_points() -> None:
    tae = parsing.parse_point(nws_json("points_30,-85_pynws.json"))
    assert (tae.wfo, tae.grid_x, tae.grid_y) == ("TAE", 58, 65)
    assert tae.grid_data_url.endswith("/gridpoints/TAE/58,65")


def test_raw_grid_layers_in_fahrenheit() -> None:
    grid = parsing.parse_grid(nws_json(TAE))
    assert grid.update_time == datetime(2022, 2, 4, 3, 15, 41, tzinfo=UTC)
    maxt = grid.max_temperature
    assert len(maxt) == 8
    assert maxt[1].start == datetime(2022, 2, 4, 12, tzinfo=UTC)
    assert maxt[1].end - maxt[1].start == timedelta(hours=13)
    # degC values are conversions of whole degF: they round-trip exactly.
    assert [round(v.value_f, 6) for v in maxt[1:]] == [72.0, 55.0, 58.0, 60.0, 59.0, 62.0, 65.0]
    # Merged hourly runs: "2022-02-04T01:00:00+00:00/PT10H" is one value for ten hours.
    run = next(v for v in grid.temperature if v.start == datetime(2022, 2, 4, 1, tzinfo=UTC))
    assert run.end == datetime(2022, 2, 4, 11, tzinfo=UTC)
    assert round(run.value_f, 6) == 66.0


def test_grid_maxt_and_hourly_climate_day_max() -> None:
    station = by_city("AUS")  # a Central-time station, like TAE's grid (EST there, CST here)
    grid = parsing.parse_grid(nws_json(TAE))
    maxt = parsing.grid_max_temperature(grid, station, grid.update_time)
    assert maxt[1].target_date == date(2022, 2, 4)
    assert maxt[1].kind == "daytime-high"
    hourly = parsing.hourly_climate_day_max(
        [(v.start, v.end, v.value_f) for v in grid.temperature],
        station,
        grid.update_time,
        "nws-grid-hourly",
    )
    days = [f.target_date for f in hourly]
    # validTimes 2022-02-03T21Z / P7DT14H: the first and last climate days are partial.
    assert days[0] == date(2022, 2, 4)
    assert date(2022, 2, 3) not in days
    assert days == sorted(days)
    by_day = {f.target_date: f.tmax_f for f in hourly}
    expected = max(
        v.value_f
        for v in grid.temperature
        if v.start < datetime(2022, 2, 5, 6, tzinfo=UTC)
        and v.end > datetime(2022, 2, 4, 6, tzinfo=UTC)
    )
    assert by_day[date(2022, 2, 4)] == expected
    assert all(f.kind == "calendar-max" for f in hourly)


def test_forecast_periods_and_daytime_highs() -> None:
    raw = resolve_relative_times((NWS_API / FORECAST).read_text(), NOW)
    forecast = parsing.parse_forecast(json.loads(raw))
    assert len(forecast.periods) == 14
    assert forecast.generated_at == datetime(2024, 2, 23, 19, 28, 40, tzinfo=UTC)
    highs = parsing.daytime_highs(forecast, by_city("AUS"), forecast.update_time)
    assert highs[0].tmax_f == 69.0
    assert all(h.kind == "daytime-high" for h in highs)
    assert len({h.target_date for h in highs}) == len(highs)


def test_hourly_forecast() -> None:
    raw = resolve_relative_times((NWS_API / HOURLY).read_text(), NOW)
    forecast = parsing.parse_forecast(json.loads(raw))
    assert forecast.periods[0].temp_f == 67.0
    assert all(p.end - p.start == timedelta(hours=1) for p in forecast.periods)
    hourly = parsing.hourly_climate_day_max(
        [(p.start, p.end, p.temp_f) for p in forecast.periods], by_city("AUS"), NOW, "nws-hourly"
    )
    assert hourly and all(f.target_date > date(2024, 2, 23) for f in hourly)


def test_placeholder_times_are_a_parse_error() -> None:
    with pytest.raises(ParseError, match="invalid timestamp"):
        parsing.parse_forecast(nws_json(FORECAST))


def test_forecast_temperature_as_quantitative_value() -> None:
    raw = json.loads(resolve_relative_times((NWS_API / FORECAST).read_text(), NOW))
    raw["properties"]["periods"][0]["temperature"] = {"unitCode": "wmoUnit:degC", "value": 20.0}
    assert parsing.parse_forecast(raw).periods[0].temp_f == 68.0
    raw["properties"]["periods"][0]["temperature"] = {"unitCode": "wmoUnit:K", "value": 293.15}
    with pytest.raises(ParseError, match="unknown temperature unit"):
        parsing.parse_forecast(raw)


def test_observations() -> None:
    latest = parsing.parse_observation(nws_json("stations_KFLL_observations_latest_pynws.json"))
    assert latest.station == "KFLL"
    assert latest.observed_at == datetime(2022, 3, 2, 23, 53, tzinfo=UTC)
    assert latest.temp_f == pytest.approx(c_to_f(22.8))
    assert latest.raw_message is not None and latest.raw_message.startswith("KFLL 022353Z")
    collection = parsing.parse_observations(
        nws_json("stations_KBHM_observations_limit1_weathergov.json")
    )
    assert len(collection) == 1
    obs = collection[0]
    assert (obs.station, obs.observed_at) == ("KBHM", datetime(2024, 2, 20, 15, 53, tzinfo=UTC))
    assert obs.temp_f == pytest.approx(c_to_f(13.9))


def test_rejected_qc_is_missing_not_a_value() -> None:
    raw = nws_json("stations_KFLL_observations_latest_pynws.json")
    raw["properties"]["temperature"]["qualityControl"] = "X"
    assert parsing.parse_observation(raw).temp_f is None


def test_products() -> None:
    refs = parsing.parse_product_list(nws_json("products_types_AFD_locations_OKX_weathergov.json"))
    times = [r.issuance_time for r in refs]
    assert times == sorted(times, reverse=True)
    assert refs[0].id == "b60036c1-2f33-429f-b44e-12771d698985"
    product = parsing.parse_product(nws_json("products_b60036c1_AFD_OKX_weathergov.json"))
    assert product.product_code == "AFD"
    assert product.text.startswith("\n000\nFXUS61 KOKX 061808")


@pytest.mark.parametrize(
    ("value", "hours"),
    [("PT1H", 1), ("PT13H", 13), ("P7DT14H", 7 * 24 + 14), ("P1D", 24), ("PT90M", 1.5)],
)
def test_durations(value: str, hours: float) -> None:
    assert parsing.parse_duration(value, "t") == timedelta(hours=hours)


@pytest.mark.parametrize("value", ["P", "PT", "P1Y", "1H", "PT-1H", "P1DT", ""])
def test_bad_durations(value: str) -> None:
    with pytest.raises(ParseError):
        parsing.parse_duration(value, "t")


PARSERS: list[Callable[[Any], object]] = [
    parsing.parse_point,
    parsing.parse_forecast,
    parsing.parse_grid,
    parsing.parse_observation,
    parsing.parse_observations,
    parsing.parse_product_list,
    parsing.parse_product,
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(PARSERS), json_values)
def test_fuzzed_payloads_never_crash_and_never_give_a_value(
    parser: Callable[[Any], object], payload: Any
) -> None:
    with pytest.raises(ParseError):
        parser(payload)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            out += _paths(v, (*prefix, i))
    return out


REAL = {
    parsing.parse_point: nws_json("points_30,-85_pynws.json"),
    parsing.parse_grid: nws_json(TAE),
    parsing.parse_observation: nws_json("stations_KFLL_observations_latest_pynws.json"),
    parsing.parse_observations: nws_json("stations_KBHM_observations_limit1_weathergov.json"),
    parsing.parse_product_list: nws_json("products_types_AFD_locations_OKX_weathergov.json"),
    parsing.parse_product: nws_json("products_b60036c1_AFD_OKX_weathergov.json"),
    parsing.parse_forecast: json.loads(
        resolve_relative_times((NWS_API / FORECAST).read_text(), NOW)
    ),
}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_corrupted_real_payloads_raise_parse_error_only(data: st.DataObject) -> None:
    parser = data.draw(st.sampled_from(sorted(REAL, key=lambda f: f.__name__)))
    payload = json.loads(json.dumps(REAL[parser]))
    path = data.draw(st.sampled_from(_paths(payload)[1:]))
    replacement = data.draw(json_values)
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = replacement
    with contextlib.suppress(ParseError):
        parser(payload)


def test_not_json_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parsing.load_json(b"<html>Access Denied</html>")
