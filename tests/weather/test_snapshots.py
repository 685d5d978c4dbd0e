"""Weather snapshots in a real temporary SQLite database, migrated by the store."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from milkbot.clock import FixedClock
from milkbot.domain.stations import by_city
from milkbot.domain.weather import WeatherSnapshot
from milkbot.errors import DataError
from milkbot.settings import load_settings
from milkbot.store import models
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.weather.nws.client import NwsClient
from milkbot.weather.snapshots import record_snapshot, snapshots_as_of
from tests.weather.conftest import NWS_API, Upstream, body

T0 = datetime(2024, 2, 20, 16, tzinfo=UTC)


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    settings = load_settings(data_dir=tmp_path)
    upgrade(settings)
    engine = create_trading_engine(settings)
    async with session_factory(engine)() as s:
        yield s
    await engine.dispose()


async def test_recorded_fetches_replay_as_of(session: AsyncSession, upstream: Upstream) -> None:
    raw = (NWS_API / "stations_KFLL_observations_latest_pynws.json").read_bytes()
    upstream.add("/stations/KNYC/observations/latest", body(raw, cache_control="max-age=60"))
    snaps: list[WeatherSnapshot] = []
    clock = FixedClock(T0)
    client = NwsClient(
        user_agent="milkbot-test (ops@milkbot.ai)",
        clock=clock,
        transport=upstream.transport(),
        rng=random.Random(0),
        snapshot_sink=snaps.append,
    )
    nyc = by_city("NYC")
    await client.latest_observation(nyc)
    clock.advance(timedelta(minutes=5))
    await client.latest_observation(nyc)
    assert len(snaps) == 2
    for snap in snaps:
        await record_snapshot(session, snap)
    await session.commit()

    assert await snapshots_as_of(session, "KNYC", T0 - timedelta(seconds=1)) == []
    first = await snapshots_as_of(session, "KNYC", T0)
    assert first == [snaps[0]]
    assert first[0].payload == raw
    both = await snapshots_as_of(
        session, "KNYC", T0 + timedelta(hours=1), kind="observation-latest"
    )
    assert [s.retrieved_at for s in both] == [T0, T0 + timedelta(minutes=5)]
    assert (
        await snapshots_as_of(session, "KNYC", T0 + timedelta(hours=1), source="open-meteo") == []
    )


async def test_tampered_payload_is_detected(session: AsyncSession) -> None:
    snap = WeatherSnapshot.from_payload(
        source="nws",
        station="KNYC",
        kind="cli",
        url="https://api.weather.gov/products/x",
        payload=b'{"productText": "MAXIMUM 33"}',
        retrieved_at=T0,
    )
    await record_snapshot(session, snap)
    await session.commit()
    await session.execute(
        update(models.WeatherSnapshot).values(payload='{"productText": "MAXIMUM 34"}')
    )
    await session.commit()
    session.expire_all()
    with pytest.raises(DataError, match="SHA-256"):
        await snapshots_as_of(session, "KNYC", T0)


async def test_non_utf8_payload_refused(session: AsyncSession) -> None:
    snap = WeatherSnapshot.from_payload(
        source="nws", station="KNYC", kind="cli", url="u", payload=b"\xff\xfe", retrieved_at=T0
    )
    with pytest.raises(DataError, match="UTF-8"):
        await record_snapshot(session, snap)
