"""A real Analytics API on a free loopback port, over a seeded SQLite read model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from milkbot.analytics.app import create_app
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from tests.analytics.conftest import T0, heartbeat, seed
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


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[ApiServer]:
    settings = Settings(data_dir=tmp_path / "var", api_clock="trader", _env_file=None)  # type: ignore[call-arg]
    upgrade(settings)
    engine = create_trading_sync_engine(settings)
    seed(engine, range(0, 120, 10))
    heartbeat(engine, T0 + timedelta(minutes=150))
    engine.dispose()
    with ApiServer(settings) as server:
        yield server
