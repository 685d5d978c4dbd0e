"""The day before an event, live: its forecasts and its CLI maximum, as the evaluator sees them.

Recorded api.weather.gov payloads are served at the httpx transport: the raw grid of
2022-02-04 (pynws) and the real CLIHOU text for 2014-11-30 (issued 845 AM CST on Dec 1) in
the real ``/products`` envelopes. To put both on one event the grid's timestamps are moved
back by whole days (:func:`shifted_grid`); its values and layout are untouched.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from milkbot.clock import FixedClock
from milkbot.datasets import load_dataset
from milkbot.domain.market import Market
from milkbot.domain.stations import by_city
from milkbot.features.event import EventFeatures, build_index, event_features
from milkbot.trader.features import live_features
from milkbot.trader.weather_feed import HourlyTemperatures, WeatherNow
from milkbot.weather.cli_report import parse_cli
from tests.conftest import read_canonical, write_canonical
from tests.trader.test_live_weather import live, markets_for
from tests.weather.conftest import NWS_API, NWS_CLI, Upstream, body, nws_json

HOU = by_city("HOU")
AUS = by_city("AUS")
CLI_TEXT = "CLIHOU_2014-11-30_IAH_and_Hobby.txt"
CLI_LISTED = "2014-12-01T14:45:00+00:00"  # the text's own "845 AM CST MON DEC 1 2014"
EVENT_DAY = date(2014, 12, 1)
GRID_SHIFT = date(2022, 2, 4) - date(2014, 11, 30)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00")


def shifted_grid(delta: timedelta) -> bytes:
    """The recorded raw grid with every timestamp moved back by ``delta``."""
    raw = (NWS_API / "gridpoints_TAE_58,65_raw_grid_2022-02-04_pynws.json").read_text()
    return _ISO.sub(lambda m: (datetime.fromisoformat(m[0]) - delta).isoformat(), raw).encode()


def hou_upstream() -> Upstream:
    """The shifted grid, no observations, and the CLI listing with its one real product."""
    upstream = Upstream()
    upstream.add("/points/29.6375,-95.2825", body(nws_json("points_30,-85_pynws.json")))
    upstream.add("/gridpoints/TAE/58,65", body(shifted_grid(timedelta(days=GRID_SHIFT.days))))
    listing = nws_json("products_types_AFD_locations_OKX_weathergov.json")
    item = listing["@graph"][0]
    item.update(
        {"id": "cli-hou", "productCode": "CLI", "issuingOffice": "KHGX", "issuanceTime": CLI_LISTED}
    )
    listing["@graph"] = [item]
    upstream.add("/products/types/CLI/locations/HOU", body(listing))
    envelope = nws_json("products_b60036c1_AFD_OKX_weathergov.json")
    envelope.update(
        {
            "id": "cli-hou",
            "issuanceTime": CLI_LISTED,
            "productCode": "CLI",
            "productText": (NWS_CLI / CLI_TEXT).read_text(),
        }
    )
    upstream.add("/products/cli-hou", body(envelope))
    return upstream


async def hou_features(at: datetime) -> tuple[EventFeatures, WeatherNow, list[Market]]:
    """Features of the HOU event of 2014-12-01 built live at ``at`` (weather fetched then)."""
    clock = FixedClock(at)
    weather = live(hou_upstream(), clock, timedelta(minutes=10))
    now = await weather.current(HOU, EVENT_DAY, clock.now())
    markets = markets_for(HOU, "KXHIGHTHOU", EVENT_DAY)
    built = live_features(HOU, markets[0].event_ticker, EVENT_DAY, markets, at, weather=now)
    assert built is not None
    return built[0], now, markets


async def test_live_features_fill_the_previous_day() -> None:
    at = datetime(2014, 12, 1, 15, tzinfo=UTC)  # after the CLI (14:45Z)
    features, _, _ = await hou_features(at)
    assert features.previous_max_f == 79.0  # Houston/Hobby, not Intercontinental
    issued = datetime(2014, 11, 30, 3, 15, 41, tzinfo=UTC)
    assert {(f.source, f.issued_at, f.tmax_f) for f in features.previous_forecasts} == {
        ("nws-grid-hourly", issued, 72.0),
        ("nws-grid-maxt", issued, 72.0),
    }
    for f in features.previous_forecasts:
        assert f.hours_to_close == (features.close_time - issued).total_seconds() / 3600 - 24
    assert {f.tmax_f for f in features.forecasts} == {55.0}  # the event's own day


async def test_a_cli_published_after_now_is_not_used() -> None:
    # 13:00Z: the day ended 7 h ago (past the evaluator's 6 h), but the CLI comes at 14:45Z.
    features, now, _ = await hou_features(datetime(2014, 12, 1, 13, tzinfo=UTC))
    assert features.previous_max_f is None and now.previous_max_f is None
    assert features.previous_forecasts  # the forecasts were issued long before
    # A source that knows the value (published 14:45Z) does not leak it into 13:00Z.
    later = dataclasses.replace(
        now, previous_max_f=79.0, previous_max_at=datetime(2014, 12, 1, 14, 45, tzinfo=UTC)
    )
    markets = markets_for(HOU, "KXHIGHTHOU", EVENT_DAY)
    at = datetime(2014, 12, 1, 13, tzinfo=UTC)
    built = live_features(HOU, markets[0].event_ticker, EVENT_DAY, markets, at, weather=later)
    assert built is not None and built[0].previous_max_f is None
    # Nor one published in time but read before the evaluator's delay (06:00Z + 6 h).
    early = dataclasses.replace(later, previous_max_at=datetime(2014, 12, 1, 7, tzinfo=UTC))
    at = datetime(2014, 12, 1, 11, 59, tzinfo=UTC)
    built = live_features(HOU, markets[0].event_ticker, EVENT_DAY, markets, at, weather=early)
    assert built is not None and built[0].previous_max_f is None


def write_dataset(
    directory: Path, now: WeatherNow, markets: list[Market], day: date = EVENT_DAY
) -> None:
    """The same inputs (forecasts, the CLI of 2014-11-30, ``day``'s markets) as a dataset."""
    rows = [
        {
            "station": f.station,
            "target_date": f.target_date.isoformat(),
            "issued_at": f.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ") if f.issued_at else "",
            "source": f.source,
            "lead_hours": "",
            "tmax_f": repr(f.tmax_f),
            "sigma_f": "" if f.sigma_f is None else repr(f.sigma_f),
        }
        for f in (*now.forecasts, *now.previous_forecasts)
    ]
    write_canonical(pd.DataFrame(rows), directory, "forecasts")
    report = parse_cli((NWS_CLI / CLI_TEXT).read_text(), HOU)
    observations = {
        "station": "KHOU",
        "date": report.climate_date.isoformat(),
        "tmax_f": report.max_f,
        "tmin_f": report.min_f,
        "source": "cli",
    }
    write_canonical(pd.DataFrame([observations]), directory, "observations")
    market_rows = [
        {
            "ticker": m.ticker,
            "event_ticker": m.event_ticker,
            "series_ticker": "KXHIGHTHOU",
            "city": "HOU",
            "station": "KHOU",
            "event_date": day.isoformat(),
            "strike_type": m.strike_type,
            "floor_strike": "" if m.floor_strike is None else str(m.floor_strike),
            "cap_strike": "" if m.cap_strike is None else str(m.cap_strike),
            "open_time": "",
            "close_time": m.close_time.strftime("%Y-%m-%dT%H:%M:%SZ") if m.close_time else "",
            "result": "",
            "expiration_value": "",
        }
        for m in markets
    ]
    write_canonical(pd.DataFrame(market_rows), directory, "markets")


async def test_live_and_evaluator_agree_on_the_previous_day(tmp_path: Path) -> None:
    for hour in (11, 15):  # before both rules allow the maximum, and after both
        at = datetime(2014, 12, 1, hour, tzinfo=UTC)
        live_built, now, markets = await hou_features(at)
        directory = tmp_path / str(hour)
        write_dataset(directory, now, markets)
        assert len(read_canonical(directory, "forecasts")) == 4
        index = build_index(load_dataset([directory]))
        (event,) = index.events
        evaluated = event_features(index, event, at)
        assert evaluated.previous_max_f == live_built.previous_max_f
        assert evaluated.previous_forecasts == live_built.previous_forecasts
        assert evaluated.forecasts == live_built.forecasts  # the same issues, in one order
    assert live_built.previous_max_f == 79.0


async def test_the_previous_forecasts_outlive_the_day_they_were_fetched_for() -> None:
    upstream = hou_upstream()
    clock = FixedClock(datetime(2014, 11, 30, 4, tzinfo=UTC))
    weather = live(upstream, clock, timedelta(minutes=10))
    first = await weather.current(HOU, date(2014, 11, 30), clock.now())
    assert first.previous_max_f is None  # the 29th's CLI is not listed
    clock.advance(timedelta(hours=33))  # 2014-12-01 13:00Z
    # The grid now answers with a failure: what was seen the day before is still there.
    upstream.routes["/gridpoints/TAE/58,65"] = [body({"status": 500}, status=500)]
    now = await weather.current(HOU, EVENT_DAY, clock.now())
    assert {(f.source, f.target_date) for f in now.previous_forecasts} == {
        ("nws-grid-hourly", date(2014, 11, 30)),
        ("nws-grid-maxt", date(2014, 11, 30)),
    }
    assert now.previous_forecasts == tuple(
        sorted(
            (f for f in first.forecasts if f.target_date == date(2014, 11, 30)),
            key=lambda f: (f.issued_at or clock.now(), f.source),
        )
    )


async def test_the_cli_is_not_asked_again_once_found() -> None:
    upstream = hou_upstream()
    clock = FixedClock(datetime(2014, 12, 1, 15, tzinfo=UTC))
    weather = live(upstream, clock, timedelta(minutes=10))
    assert (await weather.current(HOU, EVENT_DAY, clock.now())).previous_max_f == 79.0
    asked = upstream.paths().count("/products/types/CLI/locations/HOU")
    clock.advance(timedelta(minutes=30))
    again = await weather.current(HOU, EVENT_DAY, clock.now())
    assert again.previous_max_f == 79.0
    assert upstream.paths().count("/products/types/CLI/locations/HOU") == asked == 1


async def test_before_the_delay_the_cli_is_not_fetched() -> None:
    upstream = hou_upstream()
    clock = FixedClock(datetime(2014, 12, 1, 11, 59, tzinfo=UTC))
    await live(upstream, clock, timedelta(minutes=10)).current(HOU, EVENT_DAY, clock.now())
    assert not any(p.startswith("/products") for p in upstream.paths())


async def test_demo_weather_takes_the_previous_maximum_from_settlement_observations(
    tmp_path: Path, shared_data: Path
) -> None:
    ghcnd = read_canonical(shared_data / "ghcnd-2016-2024", "observations")
    rows = ghcnd[(ghcnd["station"] == "KAUS") & ghcnd["date"].isin(["2024-03-01", "2024-03-02"])]
    assert len(rows) == 2
    write_canonical(rows, tmp_path, "observations")
    demo = HourlyTemperatures(tmp_path)
    day = date(2024, 3, 2)
    known = datetime(2024, 3, 2, 12, tzinfo=UTC)  # 00:00 CST + 6 h
    before = await demo.current(AUS, day, known - timedelta(seconds=1))
    assert before.previous_max_f is None
    after = await demo.current(AUS, day, known)
    expected = float(rows[rows["date"] == "2024-03-01"]["tmax_f"].iloc[0])
    assert after.previous_max_f == expected and after.previous_max_at == known
    markets = markets_for(AUS, "KXHIGHAUS", day)
    built = live_features(AUS, markets[0].event_ticker, day, markets, known, weather=after)
    assert built is not None and built[0].previous_max_f == expected


async def test_the_bundled_demo_has_no_previous_maximum() -> None:
    from milkbot import bundled

    demo = HourlyTemperatures(bundled.path("openmeteo-hourly-demo"))
    now = await demo.current(AUS, date(2025, 4, 8), datetime(2025, 4, 8, 20, tzinfo=UTC))
    assert now.running_max_f is not None
    assert now.previous_max_f is None and now.previous_forecasts == ()
