"""A real Analytics API on a free loopback port, over a seeded SQLite read model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from milkbot.analytics.app import create_app
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_sync_engine
from milkbot.store.migrate import upgrade
from tests.analytics.conftest import T0, heartbeat, seed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiServer:
    """uvicorn serving the real API in a thread; ``calls`` counts requests per path."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.calls: dict[str, int] = {}
        app = create_app(settings)

        @app.middleware("http")
        async def _count(request, call_next):  # type: ignore[no-untyped-def]
            self.calls[request.url.path] = self.calls.get(request.url.path, 0) + 1
            return await call_next(request)

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health").status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("API did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


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
