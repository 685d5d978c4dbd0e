"""The trader-facing weather feed: NWS first, Open-Meteo on outage."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from milkbot.clock import FixedClock
from milkbot.domain.stations import by_city
from milkbot.domain.weather import CliKind, c_to_f
from milkbot.weather.feed import WeatherFeed
from milkbot.weather.nws.client import NwsClient
from milkbot.weather.openmeteo.client import OpenMeteoClient
from tests.weather.conftest import NWS_API, NWS_CLI, Upstream, body, nws_json


async def _no_sleep(_: float) -> None:
    return None


def _clients(upstream: Upstream, clock: FixedClock) -> tuple[NwsClient, OpenMeteoClient]:
    nws = NwsClient(
        user_agent="milkbot-test (ops@milkbot.ai)",
        clock=clock,
        transport=upstream.transport(),
        rng=random.Random(0),
        sleep=_no_sleep,
    )
    om = OpenMeteoClient(
        clock=clock, transport=upstream.transport(), rng=random.Random(0), sleep=_no_sleep
    )
    return nws, om


async def test_nws_grid_gives_climate_day_and_daytime_maxima(upstream: Upstream) -> None:
    aus = by_city("AUS")
    clock = FixedClock(datetime(2022, 2, 4, 4, tzinfo=UTC))
    upstream.add("/points/30.1831,-97.6799", body(nws_json("points_30,-85_pynws.json")))
    upstream.add(
        "/gridpoints/TAE/58,65",
        body((NWS_API / "gridpoints_TAE_58,65_raw_grid_2022-02-04_pynws.json").read_bytes()),
    )
    upstream.add(
        "/stations/KAUS/observations",
        body(nws_json("stations_KBHM_observations_limit1_weathergov.json")),
    )
    nws, om = _clients(upstream, clock)
    weather = await WeatherFeed(nws=nws, openmeteo=om, clock=clock).gather(aus, date(2022, 2, 4))
    sources = {f.source: f for f in weather.forecasts}
    assert set(sources) == {"nws-grid-hourly", "nws-grid-maxt"}
    assert round(sources["nws-grid-maxt"].tmax_f, 6) == 72.0
    assert sources["nws-grid-hourly"].kind == "calendar-max"
    assert not weather.used_fallback and not weather.nws_outage
    assert weather.observed_max_f is None  # the recorded observation is from another day
    assert weather.errors == ()
    assert all("open-meteo" not in str(r.url) for r in upstream.requests)


def _om_hourly(start: datetime, hours: int) -> dict[str, Any]:
    times = [int((start + timedelta(hours=h)).timestamp()) for h in range(hours)]
    return {
        "timezone": "America/New_York",
        "hourly_units": {"time": "unixtime", "temperature_2m": "°F"},
        "hourly": {"time": times, "temperature_2m": [40.0 + (h % 24) for h in range(hours)]},
    }


async def test_outage_falls_back_to_open_meteo(upstream: Upstream) -> None:
    nyc = by_city("NYC")
    clock = FixedClock(datetime(2024, 2, 20, 18, tzinfo=UTC))
    upstream.add("/points/40.7789,-73.9692", body(nws_json("points_30,-85_pynws.json")))
    upstream.add(
        "/gridpoints/TAE/58,65",
        body({"title": "Forecast Grid Expired", "status": 503}, status=503),
    )
    upstream.add(
        "/stations/KNYC/observations",
        body(nws_json("stations_KBHM_observations_limit1_weathergov.json")),
    )
    upstream.add("/v1/ensemble", body(_om_hourly(datetime(2024, 2, 20, 0, tzinfo=UTC), 48)))
    nws, om = _clients(upstream, clock)
    feed = WeatherFeed(nws=nws, openmeteo=om, clock=clock, ensemble_models=["gfs025"])
    weather = await feed.gather(nyc, date(2024, 2, 20))
    assert weather.nws_outage and weather.used_fallback
    assert [f.source for f in weather.forecasts] == ["open-meteo-ensemble"]
    # NYC's 2024-02-20 climate day is 05Z..05Z; hours 05..23 -> 45..63, 00..04 -> 40..44.
    assert weather.forecasts[0].tmax_f == 63.0
    assert weather.observed_max_f == pytest.approx(c_to_f(13.9))
    assert [e.split(":")[0] for e in weather.errors] == ["nws grid"]
    assert "Forecast Grid Expired" in weather.errors[0]
    assert not nws.observations_health.outage


def _cli_products(upstream: Upstream, products: list[tuple[str, str, str]]) -> None:
    """A real CLI listing envelope naming ``(id, issuanceTime, text)`` products, each served."""
    listing = nws_json("products_types_AFD_locations_OKX_weathergov.json")
    graph = listing["@graph"][: len(products)]
    for item, (pid, issued, text) in zip(graph, products, strict=True):
        item.update({"id": pid, "productCode": "CLI", "issuanceTime": issued})
        envelope: dict[str, Any] = nws_json("products_b60036c1_AFD_OKX_weathergov.json")
        envelope.update({"id": pid, "issuanceTime": issued, "productCode": "CLI"})
        if text:  # empty: the recorded AFD text, which is no CLI
            envelope["productText"] = (NWS_CLI / text).read_text()
        upstream.add(f"/products/{pid}", body(envelope))
    listing["@graph"] = graph
    upstream.add("/products/types/CLI/locations/HOU", body(listing))


async def test_settled_max_from_the_latest_final_cli_published_by_then(
    upstream: Upstream,
) -> None:
    hou = by_city("HOU")
    clock = FixedClock(datetime(2014, 12, 1, 16, tzinfo=UTC))
    _cli_products(
        upstream,
        [
            ("bad", "2014-12-01T15:30:00+00:00", ""),  # not a CLI: skipped, reported
            ("final", "2014-12-01T14:45:00+00:00", "CLIHOU_2014-11-30_IAH_and_Hobby.txt"),
        ],
    )
    nws, _ = _clients(upstream, clock)
    feed = WeatherFeed(nws=nws, clock=clock)
    found, errors = await feed.settled_max(hou, date(2014, 11, 30), clock.now())
    assert found is not None
    assert (found.max_f, found.product_id, found.kind) == (79.0, "final", CliKind.FINAL)
    assert found.published_at == datetime(2014, 12, 1, 14, 45, tzinfo=UTC)
    assert len(errors) == 1 and errors[0].startswith("nws cli bad:")
    # Asked before the product was issued: nothing, and the product is not even fetched.
    upstream.requests.clear()
    early = datetime(2014, 12, 1, 14, 44, tzinfo=UTC)
    assert await feed.settled_max(hou, date(2014, 11, 30), early) == (None, ())
    assert "/products/final" not in upstream.paths()
    # The report of another day settles nothing for this one.
    found, _ = await feed.settled_max(hou, date(2014, 11, 29), clock.now())
    assert found is None
