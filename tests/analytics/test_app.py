"""The Analytics API over a real SQLite read model (and PostgreSQL as the read-only role)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from milkbot.analytics.app import DELAY, create_app
from milkbot.analytics.queries import position_band
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from tests.analytics.conftest import T0, heartbeat, seed, settle

ENDPOINTS = [
    "/v1/cities",
    "/v1/cities/NYC",
    "/v1/equity",
    "/v1/trades?limit=500",
    "/v1/settlements",
]
PRIVATE = ("order_id", "client_order_id", "balance", "venue", "intent", "key", 'position":')


def _timestamps(doc: Any) -> Iterator[datetime]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in {"ts", "as_of"} and isinstance(v, str):
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
    settle(engine, T0 + timedelta(minutes=590))
    engine.dispose()
    return settings


async def _get_all(settings: Settings, now: datetime) -> dict[str, Any]:
    app = create_app(settings, now=_Clock(now))
    out: dict[str, Any] = {}
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            for path in ENDPOINTS:
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
    later = await _get_all(seeded, T0 + timedelta(minutes=60 + 14))
    assert later["/v1/trades?limit=500"]["total"] == 3
    assert later["/v1/cities/NYC"]["position_band"] == "1-10 contracts"
    settled = await _get_all(seeded, T0 + timedelta(minutes=590) + DELAY)
    card = settled["/v1/cities/NYC"]
    assert card["status"] == "settled" and card["settled_value_f"] == 50
    assert card["position_band"] == "flat"
    assert float(card["realized_pnl"]) == 1.5


async def test_grid_lists_all_ten_cities_even_without_data(seeded: Settings) -> None:
    docs = await _get_all(seeded, T0 + timedelta(hours=3))
    cities = docs["/v1/cities"]["cities"]
    assert len(cities) == 10
    assert sum(c["status"] == "no data" for c in cities) == 9


async def test_trader_clock_mode_uses_the_exported_clock(tmp_path) -> None:
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
    from decimal import Decimal

    assert position_band(Decimal(contracts)) == band


@pytest.mark.postgres
async def test_api_serves_postgres_as_the_read_only_role(pg_url: str) -> None:
    settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    seed(engine, [0, 10])
    engine.dispose()
    docs = await _get_all(settings, T0 + timedelta(hours=2))
    assert docs["/v1/trades?limit=500"]["total"] == 2
    assert len(docs["/v1/cities/NYC"]["brackets"]) == 6
