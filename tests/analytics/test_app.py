"""The Analytics API over a real SQLite read model (and PostgreSQL as the read-only role)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from milkbot.analytics.app import CACHE_SECONDS, DELAY, _Cache, create_app
from milkbot.analytics.queries import position_band
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from tests.analytics.conftest import (
    T0,
    forecasts,
    heartbeat,
    moving_forecasts,
    seed,
    settle,
)

ENDPOINTS = [
    "/v1/cities",
    "/v1/cities/NYC",
    "/v1/equity",
    "/v1/trades?limit=500",
    "/v1/settlements?limit=500",
    "/v1/strategies",
    "/v1/calibration",
    "/v1/calibration?strategy=ensemble&bins=5",
]
PRIVATE = ("order_id", "client_order_id", "balance", "venue", "intent", "key", 'position":')


def _timestamps(doc: Any) -> Iterator[datetime]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if (k in {"ts", "as_of"} or k.endswith("_ts")) and isinstance(v, str):
                yield datetime.fromisoformat(v)
            else:
                yield from _timestamps(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _timestamps(v)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(data_dir=tmp_path_factory.mktemp("api") / "var", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    seed(engine, range(0, 600, 7))
    forecasts(engine, range(0, 620, 7), moving_forecasts)
    settle(engine, T0 + timedelta(minutes=590))
    engine.dispose()
    return settings


async def _get_all(
    settings: Settings, now: datetime, paths: list[str] = ENDPOINTS
) -> dict[str, Any]:
    app = create_app(settings, now=_Clock(now))
    out: dict[str, Any] = {}
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            for path in paths:
                r = await c.get(path)
                assert r.status_code == 200, (path, r.text)
                out[path] = r.json()
                for word in PRIVATE:
                    assert word not in r.text, (path, word)
    return out


@given(offset=st.integers(min_value=-120, max_value=800))
@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_no_response_holds_anything_newer_than_now_minus_delay(
    seeded: Settings, offset: int
) -> None:
    now = T0 + timedelta(minutes=offset)
    docs = await _get_all(seeded, now)
    for path, doc in docs.items():
        for ts in _timestamps(doc):
            assert ts <= now - DELAY, (path, ts, now)


async def test_moving_clock_reveals_rows_only_after_the_delay(seeded: Settings) -> None:
    early = await _get_all(seeded, T0 + timedelta(minutes=60 + 6))
    assert early["/v1/trades?limit=500"]["total"] == 1  # only the row at minute 0
    nyc = early["/v1/cities/NYC"]
    assert nyc["status"] == "open" and len(nyc["brackets"]) == 6
    assert nyc["forecast_high_f"] == 50.0
    assert [len(nyc["history"]), len(nyc["weather"])] == [6, 1]
    later = await _get_all(seeded, T0 + timedelta(minutes=60 + 14))
    assert later["/v1/trades?limit=500"]["total"] == 3
    assert later["/v1/cities/NYC"]["position_band"] == "1-10 contracts"
    # Nothing is scored before the settlement is older than the delay.
    unsettled = await _get_all(seeded, T0 + timedelta(minutes=589) + DELAY)
    assert unsettled["/v1/calibration"]["strategies"] == []
    ensemble = unsettled["/v1/strategies"]["strategies"][0]
    assert ensemble["strategy"] == "ensemble" and ensemble["scored_forecasts"] == 0
    assert ensemble["pnl"]["settled_trades"] == 0 and ensemble["pnl"]["trades"] > 0
    settled = await _get_all(seeded, T0 + timedelta(minutes=590) + DELAY)
    card = settled["/v1/cities/NYC"]
    assert card["status"] == "settled" and card["settled_value_f"] == 50
    assert card["position_band"] == "flat"
    assert float(card["realized_pnl"]) == 1.5
    assert [s["event_ticker"] for s in card["recent_settlements"]] == [card["event_ticker"]]
    scored = {s["strategy"]: s for s in settled["/v1/strategies"]["strategies"]}
    assert {k: v["scored_forecasts"] for k, v in scored.items()} == {
        "climatology": 6,
        "ensemble": 6,
    }
    # The latest forecast at or before the settlement (minute 588) is the one scored.
    assert scored["ensemble"]["last_forecast_ts"].startswith("2025-01-10T21:48")
    assert scored["ensemble"]["pnl"]["settled_trades"] == scored["ensemble"]["pnl"]["trades"]


async def test_grid_lists_all_ten_cities_even_without_data(seeded: Settings) -> None:
    docs = await _get_all(seeded, T0 + timedelta(hours=3))
    cities = docs["/v1/cities"]["cities"]
    assert len(cities) == 10
    assert sum(c["status"] == "no data" for c in cities) == 9


async def test_trader_clock_mode_uses_the_exported_clock(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", api_clock="trader", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    seed(engine, [0, 30])
    heartbeat(engine, T0 + timedelta(minutes=75))
    engine.dispose()
    docs = await _get_all(settings, now=T0 + timedelta(days=700))
    assert docs["/v1/trades?limit=500"]["total"] == 1
    assert docs["/v1/cities"]["as_of"].startswith("2025-01-10T12:15")


async def test_unknown_city_404_and_etag_304(seeded: Settings) -> None:
    app = create_app(seeded, now=_Clock(T0 + timedelta(hours=5)))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            assert (await c.get("/v1/cities/XXX")).status_code == 404
            r = await c.get("/v1/equity")
            assert r.headers["cache-control"].startswith("public")
            again = await c.get("/v1/equity", headers={"If-None-Match": r.headers["etag"]})
            assert again.status_code == 304
            assert (await c.get("/v1/trades?limit=0")).status_code == 422
            health = await c.get("/health")
            assert health.json()["database"] == "ok"
            metrics = await c.get("/metrics")
            assert "milkbot_api_requests_total" in metrics.text


@pytest.mark.parametrize(
    ("contracts", "band"),
    [(0, "flat"), (7, "1-10 contracts"), (-30, "11-50 contracts"), (900, "over 250 contracts")],
)
def test_position_band(contracts: int, band: str) -> None:
    assert position_band(Decimal(contracts)) == band


@pytest.mark.postgres
async def test_api_serves_postgres_as_the_read_only_role(pg_url: str) -> None:
    settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    seed(engine, [0, 10])
    forecasts(engine, [0, 10], moving_forecasts)
    settle(engine, T0 + timedelta(minutes=20))
    engine.dispose()
    docs = await _get_all(settings, T0 + timedelta(hours=2))
    assert docs["/v1/trades?limit=500"]["total"] == 2
    assert len(docs["/v1/cities/NYC"]["brackets"]) == 6
    scored = {s["strategy"]: s for s in docs["/v1/strategies"]["strategies"]}
    assert scored["ensemble"]["scored_forecasts"] == 6
    assert scored["ensemble"]["last_forecast_ts"].startswith("2025-01-10T12:10")
    assert Decimal(scored["ensemble"]["pnl"]["realized_pnl"]) == 2 * (
        3 * Decimal("0.6") - Decimal("0.06")
    )


class _Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def test_cache_hits_send_no_query_and_metrics_count_queries(seeded: Settings) -> None:
    ticks = _Ticks()
    app = create_app(seeded, now=_Clock(T0 + timedelta(hours=5)), monotonic=ticks)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            await c.get("/v1/cities")
            first = _metric((await c.get("/metrics")).text, "milkbot_api_db_queries_total")
            assert first >= 5  # the grid is five statements, whatever the number of cities
            for _ in range(5):
                assert (await c.get("/v1/cities")).status_code == 200
            cached = _metric((await c.get("/metrics")).text, "milkbot_api_db_queries_total")
            assert cached == first
            ticks.t += CACHE_SECONDS + 0.1
            await c.get("/v1/cities")
            again = _metric((await c.get("/metrics")).text, "milkbot_api_db_queries_total")
            assert again == 2 * first


C1 = T0
C2 = T0 + timedelta(seconds=1)


async def test_slow_resources_move_by_the_minute_and_are_kept_a_minute(
    seeded: Settings,
) -> None:
    ticks = _Ticks()
    clock = _Clock(T0 + DELAY + timedelta(minutes=30, seconds=42))
    app = create_app(seeded, now=clock, monotonic=ticks)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            as_of = {p: (await c.get(p)).json()["as_of"] for p in ("/v1/cities", "/v1/equity")}
            assert as_of == {
                "/v1/cities": "2025-01-10T12:30:42Z",
                "/v1/equity": "2025-01-10T12:30:00Z",
            }
            renders = _metric((await c.get("/metrics")).text, "milkbot_api_db_renders_total")
            ticks.t += 10 * CACHE_SECONDS
            clock.now += timedelta(seconds=5)
            for p in ("/v1/cities", "/v1/equity", "/v1/strategies"):
                assert (await c.get(p)).status_code == 200
            after = _metric((await c.get("/metrics")).text, "milkbot_api_db_renders_total")
            assert after == renders + 2  # the grid and the first strategies; equity was kept


async def test_concurrent_misses_share_one_render() -> None:
    cache = _Cache(2.0, _Ticks())
    gate = asyncio.Event()
    calls = 0

    async def render() -> bytes:
        nonlocal calls
        calls += 1
        await gate.wait()
        return b"body"

    tasks = [asyncio.create_task(cache.get_or_render("/r", C1, render)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert sorted(rendered for _, rendered in results) == [False] * 4 + [True]
    assert {body for body, _ in results} == {b"body"}


async def test_while_a_new_cutoff_renders_others_get_the_previous_body() -> None:
    ticks = _Ticks()
    cache = _Cache(2.0, ticks, stale=5.0)
    cache.put("/r", C1, b"old")
    cache.put("/other", C2, b"other")
    gate = asyncio.Event()

    async def render() -> bytes:
        await gate.wait()
        return b"new"

    ticks.t = 1.0
    owner = asyncio.create_task(cache.get_or_render("/r", C2, render))
    await asyncio.sleep(0)
    assert await cache.get_or_render("/r", C2, render) == (b"old", False)
    # A body rendered for a later cutoff than the request's never stands in.
    earlier = C1 - timedelta(seconds=1)
    back = [asyncio.create_task(cache.get_or_render("/r", earlier, render)) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(t.done() for t in back)
    ticks.t = 5.5  # and the previous body is now too old to stand in at all
    late = asyncio.create_task(cache.get_or_render("/r", C2, render))
    await asyncio.sleep(0)
    assert not late.done() and not any(t.done() for t in back)
    gate.set()
    assert await owner == (b"new", True)
    assert await late == (b"new", False)
    assert sorted(await asyncio.gather(*back)) == [(b"new", False), (b"new", True)]


async def test_a_failed_render_lets_the_waiters_render_themselves() -> None:
    cache = _Cache(2.0, _Ticks())
    gate = asyncio.Event()
    calls = 0

    async def render() -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            await gate.wait()
            raise RuntimeError("database went away")
        return b"second"

    first = asyncio.create_task(cache.get_or_render("/r", C1, render))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get_or_render("/r", C1, render))
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(RuntimeError):
        await first
    assert await waiter == (b"second", True)


def test_cache_drops_expired_entries_and_stays_bounded() -> None:
    ticks = _Ticks()
    cache = _Cache(2.0, ticks, max_entries=3)
    cache.put("a", C1, b"1")
    ticks.t = 1.0
    cache.put("b", C1, b"2")
    assert cache.get("a", C1) == b"1" and cache.get("a", C2) is None
    ticks.t = 2.5
    cache.put("c", C1, b"3")
    assert len(cache) == 2 and cache.get("a", C1) is None
    cache.put("d", C1, b"4")
    cache.put("e", C1, b"5")
    assert len(cache) == 3 and cache.get("b", C1) is None and cache.get("e", C1) == b"5"
