"""The trader against the real local exchange replaying the bundled tape, on a real SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from milkbot import bundled
from milkbot.clock import FixedClock
from milkbot.datasets import load_dataset
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.store.models import (
    BracketQuote,
    MarketSnapshot,
    PublicSettlement,
    ServiceHeartbeat,
    WeatherReading,
)
from milkbot.trader.clocks import ExchangeClock
from milkbot.trader.export import Exporter
from milkbot.trader.service import Trader, event_date_of
from milkbot.trader.weather_feed import HourlyTemperatures
from milkbot.venues.exchange.server import KeyRegistry, build_state, create_app
from milkbot.venues.kalshi.client import KalshiClient
from tests.servers import ThreadedServer

START = datetime(2025, 4, 6, 16, tzinfo=UTC)


def _exchange(clock: FixedClock) -> ThreadedServer:
    dataset = load_dataset([bundled.path("kalshi-tape-demo")])
    return ThreadedServer(create_app(build_state(dataset, clock, keys=KeyRegistry())))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def exchange(clock: FixedClock) -> Iterator[ThreadedServer]:
    with _exchange(clock) as ex:
        yield ex


def test_event_date_of_tickers() -> None:
    assert str(event_date_of("KXHIGHNY-25APR06")) == "2025-04-06"
    assert str(event_date_of("HIGHCHI-2-24FEB28")) == "2024-02-28"


async def test_trader_snapshots_exports_and_settles(
    exchange: ThreadedServer, clock: FixedClock, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_engine(settings)
    sessions = session_factory(engine)
    exporter = Exporter(sessions)
    client = KalshiClient(exchange.url + "/trade-api/v2")
    trader = Trader(
        mode="demo",
        client=client,
        clock=clock,
        sessions=sessions,
        exporter=exporter,
        weather=HourlyTemperatures(bundled.path("openmeteo-hourly-demo")),
    )
    try:
        await trader.load_state()
        await trader.step()
        await exporter.drain()
        assert sorted(trader.stats.cities_with_events) == ["AUS", "CHI", "DEN", "MIA", "NYC"]
        async with sessions() as s:
            snaps = await s.scalar(select(func.count(MarketSnapshot.id)))
            quotes = (await s.scalars(select(BracketQuote))).all()
            readings = (await s.scalars(select(WeatherReading))).all()
            beat = await s.get(ServiceHeartbeat, "trader")
        assert snaps == 90  # 5 cities x 3 days x 6 brackets, first sight of each
        assert {q.event_date.isoformat() for q in quotes} == {"2025-04-06"}
        assert len(quotes) == 30 and all(q.model_prob is None for q in quotes)
        assert {r.city for r in readings} == {"AUS", "CHI", "DEN", "MIA", "NYC"}
        assert all(r.observed_max_f is not None for r in readings)
        assert beat is not None and beat.ts == START

        # An unchanged market is not snapshotted again.
        await trader.step()
        async with sessions() as s:
            assert await s.scalar(select(func.count(MarketSnapshot.id))) == snaps

        # Two days later the first day's events have closed and settled on the exchange.
        clock.advance(timedelta(days=2))
        day_one: list[PublicSettlement] = []
        for _ in range(50):  # the exchange applies the replay on its own tick
            await trader.step()
            await exporter.drain()
            async with sessions() as s:
                settled = (await s.scalars(select(PublicSettlement))).all()
            day_one = [x for x in settled if x.event_date.isoformat() == "2025-04-06"]
            if len(day_one) == 5:
                break
            await asyncio.sleep(0.1)
        assert len(day_one) == 5
        assert all(x.settled_value_f is not None and x.winning_bracket for x in day_one)
        assert all(x.pnl == 0 for x in day_one)  # no positions were taken

        # Settlements are exported once, also across a restart.
        again = Trader(
            mode="demo", client=client, clock=clock, sessions=sessions, exporter=exporter
        )
        await again.load_state()
        await again.step()
        await exporter.drain()
        async with sessions() as s:
            assert await s.scalar(select(func.count(PublicSettlement.id))) == len(settled)
    finally:
        await client.aclose()
        await engine.dispose()


async def test_exchange_clock_follows_the_replay(
    exchange: ThreadedServer, clock: FixedClock
) -> None:
    ec = ExchangeClock(exchange.url + "/health")
    assert await ec.sync() == START
    assert ec.now() >= START
