"""A real Analytics API on a free loopback port, over a seeded SQLite read model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from milkbot.analytics.app import create_app
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from tests.analytics.conftest import T0, forecasts, heartbeat, moving_forecasts, seed, settle
from tests.servers import ThreadedServer

CITIES = (
    "New York",
    "Chicago",
    "Miami",
    "Austin",
    "Denver",
    "Los Angeles",
    "Philadelphia",
    "Houston",
    "Dallas",
    "Washington",
)


class ApiServer(ThreadedServer):
    """The real API; ``calls`` counts requests per path."""

    def __init__(self, settings: Settings) -> None:
        self.calls: dict[str, int] = {}
        app = create_app(settings)

        @app.middleware("http")
        async def _count(request, call_next):  # type: ignore[no-untyped-def]
            self.calls[request.url.path] = self.calls.get(request.url.path, 0) + 1
            return await call_next(request)

        super().__init__(app)


PREVIOUS_DAY = date(2025, 1, 9)


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[ApiServer]:
    """NYC's event of T0's day, open; the previous day's event settled, with forecasts of
    two strategies and trades; the API's clock 150 minutes after T0."""
    settings = Settings(data_dir=tmp_path / "var", api_clock="trader", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    seed(engine, range(-600, -480, 30), event_date=PREVIOUS_DAY)
    forecasts(engine, range(-600, -480, 30), moving_forecasts, event_date=PREVIOUS_DAY)
    settle(engine, T0 - timedelta(minutes=400), event_date=PREVIOUS_DAY, value=49)
    seed(engine, range(0, 120, 10))
    forecasts(engine, range(0, 120, 10), moving_forecasts)
    heartbeat(engine, T0 + timedelta(minutes=150))
    engine.dispose()
    with ApiServer(settings) as server:
        yield server


@pytest.fixture
def empty_api_server(tmp_path: Path) -> Iterator[ApiServer]:
    """The API over a migrated read model with no rows at all."""
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    with ApiServer(settings) as server:
        yield server
