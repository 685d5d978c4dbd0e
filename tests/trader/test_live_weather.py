"""LiveWeather: NWS through the weather feed, per station on a TTL, into the trader's features."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, date, datetime, timedelta

from milkbot.clock import FixedClock
from milkbot.domain.market import Market
from milkbot.domain.stations import Station, by_city
from milkbot.trader.features import live_features
from milkbot.trader.weather_feed import LIVE_SOURCE, LiveWeather, WeatherNow
from milkbot.venues.kalshi import parsing
from milkbot.weather.feed import WeatherFeed
from milkbot.weather.nws.client import NwsClient
from tests.weather.conftest import NWS_API, Upstream, body, nws_json

AUS = by_city("AUS")
KALSHI = NWS_API.parents[1] / "kalshi"


def markets_for(station: Station, series: str, day: date) -> list[Market]:
    """Real recorded KXHIGHNY markets moved to ``station``'s event on ``day`` (close 23:59 LST)."""
    payload = json.loads(
        (KALSHI / "real-2026-07_GET-markets_KXHIGHNY_open_trimmed.json").read_text()
    )
    markets, _ = parsing.markets_page(payload)
    event = f"{series}-{day:%y%b%d}".upper()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    close = start - timedelta(hours=station.std_offset_hours) + timedelta(hours=23, minutes=59)
    return [
        dataclasses.replace(
            m,
            ticker=m.ticker.replace(m.event_ticker, event),
            event_ticker=event,
            close_time=close,
            status="active",
        )
        for m in markets
    ]


async def _no_sleep(_: float) -> None:
    return None


def live(upstream: Upstream, clock: FixedClock, ttl: timedelta) -> LiveWeather:
    nws = NwsClient(
        user_agent="milkbot-test (ops@milkbot.ai)",
        clock=clock,
        transport=upstream.transport(),
        rng=random.Random(0),
        sleep=_no_sleep,
        max_attempts=1,
    )
    return LiveWeather(WeatherFeed(nws=nws, clock=clock), ttl=ttl)


def recorded_nws(upstream: Upstream) -> None:
    """Real api.weather.gov answers: a points lookup, a raw grid and one observation."""
    upstream.add("/points/30.1831,-97.6799", body(nws_json("points_30,-85_pynws.json")))
    grid = NWS_API / "gridpoints_TAE_58,65_raw_grid_2022-02-04_pynws.json"
    upstream.add("/gridpoints/TAE/58,65", body(grid.read_bytes()))
    upstream.add(
        "/stations/KAUS/observations",
        body(nws_json("stations_KBHM_observations_limit1_weathergov.json")),
    )


async def test_forecasts_are_fetched_once_per_ttl_and_feed_the_features() -> None:
    upstream = Upstream()
    recorded_nws(upstream)
    clock = FixedClock(datetime(2022, 2, 4, 4, tzinfo=UTC))
    weather = live(upstream, clock, timedelta(minutes=10))
    day = date(2022, 2, 4)
    first = await weather.current(AUS, day, clock.now())
    assert first.source == LIVE_SOURCE
    assert {f.source for f in first.forecasts} == {"nws-grid-hourly", "nws-grid-maxt"}
    calls = len(upstream.requests)
    clock.advance(timedelta(minutes=9))
    assert await weather.current(AUS, day, clock.now()) is first
    assert len(upstream.requests) == calls  # inside the TTL: no request
    clock.advance(timedelta(minutes=2))
    await weather.current(AUS, day, clock.now())
    assert len(upstream.requests) > calls and weather.fetches == 2

    markets = markets_for(AUS, "KXHIGHAUS", day)
    built = live_features(AUS, markets[0].event_ticker, day, markets, clock.now(), weather=first)
    assert built is not None
    features, weather_time = built
    assert {f.source for f in features.forecasts} == {"nws-grid-hourly", "nws-grid-maxt"}
    assert weather_time == max(f.issued_at for f in first.forecasts if f.issued_at)
    close = features.close_time
    for f in features.forecasts:
        assert f.hours_to_close == (close - f.issued_at).total_seconds() / 3600.0


async def test_station_observations_give_the_running_maximum() -> None:
    upstream = Upstream()
    recorded_nws(upstream)
    clock = FixedClock(datetime(2024, 2, 20, 18, tzinfo=UTC))  # the recorded reading's day
    now = await live(upstream, clock, timedelta(minutes=10)).current(
        AUS, date(2024, 2, 20), clock.now()
    )
    assert now.observed_at == datetime(2024, 2, 20, 15, 53, tzinfo=UTC)
    assert now.running_max_f is not None and round(now.running_max_f, 2) == 57.02  # 13.9 degC
    assert now.hours_observed == 1.0 and now.station_observed
    assert now.forecasts == ()  # the recorded grid is of 2022


async def test_a_failed_refresh_keeps_the_last_answer_and_it_ages() -> None:
    upstream = Upstream()
    recorded_nws(upstream)
    clock = FixedClock(datetime(2022, 2, 4, 4, tzinfo=UTC))
    weather = live(upstream, clock, timedelta(minutes=10))
    day = date(2022, 2, 4)
    good = await weather.current(AUS, day, clock.now())
    broken = body({"title": "Service Unavailable", "status": 503}, status=503)
    for path in list(upstream.routes):
        upstream.routes[path] = [broken]
    clock.advance(timedelta(hours=1))
    again = await weather.current(AUS, day, clock.now())
    assert again.forecasts == good.forecasts  # nothing invented, nothing lost
    assert again.latest == good.latest  # its age shows: the desk stops trading on it


def test_weather_now_latest_is_the_newest_input() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    assert WeatherNow("x").latest is None
    assert WeatherNow("x", observed_at=t).latest == t
