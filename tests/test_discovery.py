"""Market discovery on real captured market lists, served at the transport."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from milkbot.discovery import (
    day_from_close,
    day_from_ticker,
    discover_events,
    rules_name_station,
)
from milkbot.domain.brackets import StrikeType
from milkbot.domain.stations import STATIONS, by_city
from milkbot.venues.kalshi.client import KalshiClient

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kalshi"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


NY_OPEN = _load("real-2026-07_GET-markets_KXHIGHNY_open_trimmed.json")["markets"]
# The real 2024 Austin event's six market objects, served as a /markets page.
AUS_EVENT = _load("legacy-2024-08_GET-event_HIGHAUS-24AUG16.json")["markets"]


def client_serving(by_series: dict[str, list[dict[str, Any]]]) -> tuple[KalshiClient, list]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.url.path == "/trade-api/v2/markets"
        markets = by_series.get(request.url.params["series_ticker"], [])
        return httpx.Response(200, json={"markets": markets, "cursor": ""})

    client = KalshiClient(
        "https://kalshi.test/trade-api/v2", transport=httpx.MockTransport(handler)
    )
    return client, seen


async def test_discovery_over_all_ten_stations() -> None:
    client, seen = client_serving({"KXHIGHNY": NY_OPEN, "KXHIGHAUS": AUS_EVENT})
    async with client:
        events = await discover_events(client, STATIONS)
    assert len(STATIONS) >= 10
    assert [r.url.params["series_ticker"] for r in seen] == [s.series for s in STATIONS]
    assert all(r.url.params["status"] == "open" for r in seen)
    by_ticker = {e.event_ticker: e for e in events}
    assert set(by_ticker) == {"KXHIGHNY-26JUL12", "HIGHAUS-24AUG16"}

    aus = by_ticker["HIGHAUS-24AUG16"]
    assert aus.ok, aus.problems
    assert aus.station.city == "AUS" and aus.climate_day == date(2024, 8, 16)
    assert [b.label() for b in aus.brackets] == [
        "95° or below",
        "96° to 97°",
        "98° to 99°",
        "100° to 101°",
        "102° to 103°",
        "104° or above",
    ]
    assert next(m.ticker for m in aus.markets) == "HIGHAUS-24AUG16-T96"
    assert aus.close_time == datetime(2024, 8, 17, 4, 59, tzinfo=UTC)

    ny = by_ticker["KXHIGHNY-26JUL12"]
    assert ny.climate_day == date(2026, 7, 12)
    assert not ny.ok  # the capture was trimmed to three of the six markets
    assert "3 brackets, expected 6" in ny.problems
    assert any("partition" in p for p in ny.problems)
    assert not any("rules_primary" in p for p in ny.problems)
    assert [b.strike_type for b in ny.brackets] == [
        StrikeType.LESS,
        StrikeType.BETWEEN,
        StrikeType.GREATER,
    ]


async def test_rules_naming_another_station_are_flagged() -> None:
    client, _ = client_serving({"KXHIGHCHI": NY_OPEN})
    async with client:
        (event,) = await discover_events(client, [by_city("CHI")])
    rule_problems = [p for p in event.problems if "rules_primary" in p]
    assert len(rule_problems) == 3 and "Midway" in rule_problems[0]


async def test_day_filter() -> None:
    client, _ = client_serving({"KXHIGHNY": NY_OPEN, "KXHIGHAUS": AUS_EVENT})
    async with client:
        events = await discover_events(client, STATIONS, date(2024, 8, 16))
        none = await discover_events(client, STATIONS, date(2026, 7, 13))
    assert [e.event_ticker for e in events] == ["HIGHAUS-24AUG16"] and none == []


async def test_a_market_without_a_temperature_bracket_is_flagged() -> None:
    odd = [{**NY_OPEN[0], "strike_type": "custom", "ticker": "KXHIGHNY-26JUL12-X"}, *NY_OPEN[1:]]
    client, _ = client_serving({"KXHIGHNY": odd})
    async with client:
        (event,) = await discover_events(client, [by_city("NYC")])
    assert any("no temperature bracket" in p for p in event.problems)
    assert len(event.brackets) == 2


def test_rules_text_after_the_weather_company_switch_names_the_cli_code() -> None:
    # Quoted from live rules_primary text of Aug 2026 (shared/notes/kalshi-api.md 11.3).
    twc = (
        "If the maximum temperature recorded at New York City (CLINYC) for Aug 25, 2026, is "
        "greater than 86° fahrenheit according to The Weather Company, then the market "
        "resolves to Yes."
    )
    assert rules_name_station(twc, by_city("NYC"))
    assert not rules_name_station(twc, by_city("CHI"))
    assert rules_name_station(NY_OPEN[0]["rules_primary"], by_city("NYC"))


def test_climate_day_from_ticker_and_close() -> None:
    assert day_from_ticker("KXHIGHNY-26JUL12") == date(2026, 7, 12)
    assert day_from_ticker("HIGHCHI-2-24FEB28") == date(2024, 2, 28)
    assert day_from_ticker("KXHIGHNY-26JUL12-B88.5") == date(2026, 7, 12)
    assert day_from_ticker("KXHIGHNY") is None
    nyc, lax = by_city("NYC"), by_city("LAX")
    assert day_from_close(datetime(2026, 7, 13, 4, 59, tzinfo=UTC), nyc) == date(2026, 7, 12)
    assert day_from_close(datetime(2026, 10, 11, 5, 0, tzinfo=UTC), nyc) == date(2026, 10, 10)
    assert day_from_close(datetime(2026, 10, 11, 8, 0, tzinfo=UTC), lax) == date(2026, 10, 10)
