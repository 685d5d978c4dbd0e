"""The NWS client against recorded api.weather.gov payloads served at the transport."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from milkbot.clock import FixedClock
from milkbot.domain.stations import by_city
from milkbot.domain.weather import CliKind, WeatherSnapshot
from milkbot.errors import ParseError, TransientUpstreamError
from milkbot.weather.http_cache import HttpStatusError, ProviderOutageError, http_date
from milkbot.weather.nws.client import NwsClient
from tests.weather.conftest import (
    NWS_API,
    NWS_CLI,
    Upstream,
    body,
    nws_json,
    resolve_relative_times,
)

DEN = by_city("DEN")
DEN_POINT = "/points/39.8466,-104.6562"
UA = "milkbot-test/1.0 (ops@milkbot.ai)"


class Sleeper:
    """Records requested backoff delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _client(
    upstream: Upstream, clock: FixedClock, sleeper: Sleeper | None = None, **kw: object
) -> NwsClient:
    return NwsClient(
        user_agent=UA,
        clock=clock,
        transport=upstream.transport(),
        rng=random.Random(7),
        sleep=sleeper or Sleeper(),
        **kw,  # type: ignore[arg-type]
    )


def _forecast_payload(start: datetime, hourly: bool = False) -> bytes:
    name = (
        "gridpoints_BMX_32,69_forecast_hourly_weathergov_RELATIVE_TIMES.json"
        if hourly
        else "gridpoints_BMX_32,69_forecast_weathergov_RELATIVE_TIMES.json"
    )
    return resolve_relative_times((NWS_API / name).read_text(), start).encode()


@pytest.fixture
def clock(start_time: datetime) -> FixedClock:
    return FixedClock(start_time)


async def test_point_forecast_and_headers(
    upstream: Upstream, clock: FixedClock, start_time: datetime
) -> None:
    upstream.add(DEN_POINT, body(nws_json("points_39.738,-104.985_Denver_weathergov.json")))
    upstream.add("/gridpoints/BOU/63,61/forecast", body(_forecast_payload(start_time)))
    client = _client(upstream, clock)
    point = await client.grid_point(DEN)
    assert (point.wfo, point.grid_x, point.grid_y, point.time_zone) == (
        "BOU",
        63,
        61,
        "America/Denver",
    )
    forecast = await client.forecast(DEN)
    first = forecast.periods[0]
    assert (first.name, first.is_daytime, first.temp_f) == ("This Afternoon", True, 69.0)
    assert first.start == start_time
    assert forecast.update_time == datetime(2024, 2, 23, 18, 40, 54, tzinfo=UTC)
    for request in upstream.requests:
        assert request.headers["User-Agent"] == UA
        assert request.headers["Accept"] == "application/geo+json"
    await client.aclose()


async def test_points_cached_for_a_day(upstream: Upstream, clock: FixedClock) -> None:
    point = nws_json("points_39.738,-104.985_Denver_weathergov.json")
    upstream.add(DEN_POINT, body(point, cache_control="max-age=60"))
    client = _client(upstream, clock)
    await client.grid_point(DEN)
    clock.advance(timedelta(hours=23))
    await client.grid_point(DEN)
    assert upstream.paths() == [DEN_POINT]
    clock.advance(timedelta(hours=2))
    await client.grid_point(DEN)
    assert upstream.paths() == [DEN_POINT, DEN_POINT]


async def test_moved_grid_refreshes_the_point_once(
    upstream: Upstream, clock: FixedClock, start_time: datetime
) -> None:
    point = nws_json("points_39.738,-104.985_Denver_weathergov.json")
    upstream.add(DEN_POINT, body(point))
    upstream.add(
        "/gridpoints/BOU/63,61/forecast",
        body({"title": "Not Found", "status": 404}, status=404),
        body(_forecast_payload(start_time)),
    )
    client = _client(upstream, clock)
    forecast = await client.forecast(DEN)
    assert forecast.periods
    assert upstream.paths().count(DEN_POINT) == 2


async def test_cache_control_and_conditional_revalidation(
    upstream: Upstream, clock: FixedClock
) -> None:
    path = "/stations/KDEN/observations/latest"
    modified = http_date(datetime(2022, 3, 2, 23, 55, tzinfo=UTC))
    payload = nws_json("stations_KFLL_observations_latest_pynws.json")
    seen: list[httpx.Request] = []

    def not_modified(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304, headers={"Cache-Control": "max-age=120"})

    upstream.add(
        path,
        body(payload, cache_control="public, max-age=282, s-maxage=3600", last_modified=modified),
        not_modified,
    )
    client = _client(upstream, clock)
    first = await client.latest_observation(DEN)
    clock.advance(timedelta(seconds=281))
    again = await client.latest_observation(DEN)
    assert again == first
    assert len(upstream.requests) == 1  # fresh for max-age=282
    clock.advance(timedelta(seconds=2))
    third = await client.latest_observation(DEN)
    assert third == first
    assert seen[0].headers["If-Modified-Since"] == modified
    clock.advance(timedelta(seconds=100))
    await client.latest_observation(DEN)
    assert len(upstream.requests) == 2  # the 304 renewed freshness for 120 s


async def test_expires_and_etag(upstream: Upstream, clock: FixedClock) -> None:
    path = "/stations/KDEN/observations/latest"
    now = clock.now()
    payload = nws_json("stations_KFLL_observations_latest_pynws.json")
    got: list[httpx.Request] = []

    def check(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(304)

    upstream.add(
        path,
        body(
            payload,
            expires=http_date(now + timedelta(minutes=10)),
            date=http_date(now),
            etag='"abc"',
        ),
        check,
    )
    client = _client(upstream, clock)
    await client.latest_observation(DEN)
    clock.advance(timedelta(minutes=9))
    await client.latest_observation(DEN)
    assert not got
    clock.advance(timedelta(minutes=2))
    await client.latest_observation(DEN)
    assert got[0].headers["If-None-Match"] == '"abc"'


async def test_retries_5xx_with_jittered_backoff(upstream: Upstream, clock: FixedClock) -> None:
    path = "/stations/KDEN/observations/latest"
    problem = {
        "type": "urn:noaa:nws:api:UnexpectedProblem",
        "title": "Unexpected Problem",
        "status": 500,
        "detail": "An unexpected problem has occurred.",
    }
    upstream.add(
        path,
        body(problem, status=500),
        body(problem, status=502),
        body(nws_json("stations_KFLL_observations_latest_pynws.json")),
    )
    sleeper = Sleeper()
    client = _client(upstream, clock, sleeper)
    obs = await client.latest_observation(DEN)
    assert obs.temp_f is not None
    assert len(upstream.requests) == 3
    assert len(sleeper.delays) == 2
    assert 0.25 <= sleeper.delays[0] <= 0.5
    assert 0.5 <= sleeper.delays[1] <= 1.0
    assert not client.observations_health.outage
    # Same seed, same delays: the jitter is deterministic under test.
    again = Sleeper()
    client2 = _client(Upstream(), clock, again)
    assert [client2.fetcher.backoff(i) for i in range(2)] == sleeper.delays


async def test_4xx_is_not_retried(upstream: Upstream, clock: FixedClock) -> None:
    upstream.add(
        "/stations/KDEN/observations/latest",
        body({"title": "Bad Request", "status": 400}, status=400),
    )
    client = _client(upstream, clock)
    with pytest.raises(HttpStatusError, match="HTTP 400") as info:
        await client.latest_observation(DEN)
    assert info.value.status == 400
    assert len(upstream.requests) == 1
    assert client.observations_health.consecutive_failures == 0


async def test_outage_opens_fails_fast_and_recovers(upstream: Upstream, clock: FixedClock) -> None:
    path = "/stations/KDEN/observations/latest"
    upstream.add(path, body({"title": "Unexpected Problem"}, status=500))
    client = _client(upstream, clock, max_attempts=2, outage_threshold=2)
    for _ in range(2):
        with pytest.raises(TransientUpstreamError):
            await client.latest_observation(DEN)
    assert client.observations_health.outage
    assert not client.health.outage  # forecasts have their own circuit
    before = len(upstream.requests)
    with pytest.raises(ProviderOutageError):
        await client.latest_observation(DEN)
    assert len(upstream.requests) == before  # failed fast, nothing sent
    upstream.routes[path] = [body(nws_json("stations_KFLL_observations_latest_pynws.json"))]
    clock.advance(timedelta(minutes=3))  # past the cool-down: one probe goes out
    await client.latest_observation(DEN)
    assert not client.observations_health.outage


async def test_transport_errors_are_retried(upstream: Upstream, clock: FixedClock) -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return body(nws_json("stations_KFLL_observations_latest_pynws.json"))(request)

    upstream.add("/stations/KDEN/observations/latest", flaky)
    client = _client(upstream, clock)
    assert (await client.latest_observation(DEN)).station == "KFLL"
    assert calls == 2


async def test_expired_grid_is_an_immediate_outage(upstream: Upstream, clock: FixedClock) -> None:
    upstream.add(DEN_POINT, body(nws_json("points_39.738,-104.985_Denver_weathergov.json")))
    upstream.add(
        "/gridpoints/BOU/63,61",
        body(
            {
                "correlationId": "1c3c4e8",
                "title": "Forecast Grid Expired",
                "type": "https://api.weather.gov/problems/ForecastGridExpired",
                "status": 503,
                "detail": "The requested forecast grid was issued 2024-01-01T00:00:00+00:00 "
                "and has expired.",
            },
            status=503,
        ),
    )
    client = _client(upstream, clock)
    with pytest.raises(ProviderOutageError, match="Forecast Grid Expired"):
        await client.grid_data(DEN)
    assert client.health.outage
    assert upstream.paths().count("/gridpoints/BOU/63,61") == 1


async def test_grid_data_and_snapshots(upstream: Upstream, clock: FixedClock) -> None:
    raw = (NWS_API / "gridpoints_TAE_58,65_raw_grid_2022-02-04_pynws.json").read_bytes()
    upstream.add(DEN_POINT, body(nws_json("points_39.738,-104.985_Denver_weathergov.json")))
    upstream.add("/gridpoints/BOU/63,61", body(raw))
    snaps: list[WeatherSnapshot] = []
    client = _client(upstream, clock, snapshot_sink=snaps.append)
    grid = await client.grid_data(DEN)
    assert round(grid.max_temperature[1].value_f, 6) == 72.0
    assert [s.kind for s in snaps] == ["points", "grid"]
    grid_snap = snaps[1]
    assert grid_snap.payload == raw
    assert grid_snap.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert grid_snap.issued_at == datetime(2022, 2, 4, 3, 15, 41, tzinfo=UTC)
    assert grid_snap.retrieved_at == clock.now()
    assert grid_snap.station == "KDEN" and grid_snap.source == "nws"
    await client.grid_data(DEN)  # served from cache: no new snapshot
    assert len(snaps) == 2


def _cli_product_payload(product_id: str, text_file: str, issued: str) -> dict[str, object]:
    """The real /products/{id} envelope (an AFD capture) carrying a real CLI text."""
    envelope: dict[str, object] = nws_json("products_b60036c1_AFD_OKX_weathergov.json")
    envelope.update(
        {
            "@id": f"https://api.weather.gov/products/{product_id}",
            "id": product_id,
            "wmoCollectiveId": "CDUS44",
            "issuingOffice": "KHGX",
            "issuanceTime": issued,
            "productCode": "CLI",
            "productName": "Climatological Report (Daily)",
            "productText": (NWS_CLI / text_file).read_text(),
        }
    )
    return envelope


async def test_cli_listing_and_reports(upstream: Upstream, clock: FixedClock) -> None:
    hou = by_city("HOU")
    listing = nws_json("products_types_AFD_locations_OKX_weathergov.json")
    graph = listing["@graph"][:2]
    for item, pid in zip(graph, ("p-old", "p-new"), strict=True):
        item.update({"id": pid, "productCode": "CLI", "issuingOffice": "KHGX"})
    graph[0]["issuanceTime"] = "2014-12-01T14:45:00+00:00"
    graph[1]["issuanceTime"] = "2014-12-01T15:00:00+00:00"  # listed second, yet newer
    listing["@graph"] = graph
    upstream.add("/products/types/CLI/locations/HOU", body(listing))
    text = "CLIHOU_2014-11-30_IAH_and_Hobby.txt"
    upstream.add(
        "/products/p-new", body(_cli_product_payload("p-new", text, graph[1]["issuanceTime"]))
    )
    upstream.add(
        "/products/p-old", body(_cli_product_payload("p-old", text, graph[0]["issuanceTime"]))
    )
    client = _client(upstream, clock)
    refs = await client.cli_products(hou)
    assert [r.id for r in refs] == ["p-new", "p-old"]
    issuances = await client.cli_reports(hou)
    assert [i.ref.id for i in issuances] == ["p-new", "p-old"]
    assert [i.issued_at for i in issuances] == [r.issuance_time for r in refs]
    report = issuances[0].report
    assert (report.site, report.climate_date, report.max_f, report.kind) == (
        "HOUSTON/HOBBY AIRPORT",
        date(2014, 11, 30),
        79,
        CliKind.FINAL,
    )
    assert upstream.requests[0].headers["Accept"] == "application/ld+json"


async def test_unparseable_cli_raises(upstream: Upstream, clock: FixedClock) -> None:
    nyc = by_city("NYC")
    listing = nws_json("products_types_AFD_locations_OKX_weathergov.json")
    listing["@graph"] = listing["@graph"][:1]
    upstream.add("/products/types/CLI/locations/NYC", body(listing))
    pid = listing["@graph"][0]["id"]
    upstream.add(f"/products/{pid}", body(nws_json("products_b60036c1_AFD_OKX_weathergov.json")))
    client = _client(upstream, clock)
    with pytest.raises(ParseError, match="CLI product"):
        await client.cli_reports(nyc)


async def test_climate_day_observations_window(upstream: Upstream) -> None:
    nyc = by_city("NYC")
    clock = FixedClock(datetime(2024, 7, 10, 18, 0, tzinfo=UTC))
    upstream.add(
        "/stations/KNYC/observations",
        body(nws_json("stations_KBHM_observations_limit1_weathergov.json")),
    )
    client = _client(upstream, clock)
    found = await client.climate_day_observations(nyc, date(2024, 7, 10))
    request = upstream.requests[0]
    assert request.url.params["start"] == "2024-07-10T05:00:00+00:00"
    assert request.url.params["end"] == "2024-07-10T18:00:00+00:00"
    assert request.url.params["limit"] == "500"  # the spec's maximum page
    assert found == ()  # the recorded observation (February) is outside the day
    assert await client.climate_day_observations(nyc, date(2024, 7, 11)) == ()


def test_user_agent_needs_a_contact() -> None:
    with pytest.raises(ValueError, match="contact"):
        NwsClient(user_agent="python-httpx", clock=FixedClock(datetime(2024, 1, 1, tzinfo=UTC)))


def test_recorded_payloads_are_verbatim(shared_reference: object) -> None:
    from pathlib import Path

    assert isinstance(shared_reference, Path)
    for path in NWS_API.glob("*.json"):
        ref = shared_reference / "nws" / "api" / path.name
        assert json.loads(path.read_text()) == json.loads(ref.read_text())
