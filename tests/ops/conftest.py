"""Fixtures for the operations tests: a real local exchange with a registered key, key files,
migrated databases, and a clean ``MILKBOT_*`` environment for CLI runs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot import bundled
from milkbot.clock import FixedClock
from milkbot.datasets import Dataset, load_dataset
from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import Action, OrderRequest
from milkbot.settings import Settings
from milkbot.venues.exchange.matching import MarketStatus
from milkbot.venues.exchange.server import ExchangeState, KeyRegistry, build_state, create_app
from milkbot.venues.kalshi.auth import KalshiAuth
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.kalshi.ratelimit import RateLimits
from tests.servers import ThreadedServer, serve_in_loop

KEY_ID = "ops-test-key"
# Mid-afternoon of the first bundled climate day: the 2025-04-06 markets are open.
SIM_NOW = datetime(2025, 4, 6, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for this test session (never a real credential)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_pem(key: rsa.RSAPrivateKey, path: Path, mode: int = 0o600) -> Path:
    """Write ``key`` as an unencrypted PKCS#8 PEM with ``mode``."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(mode)
    return path


@pytest.fixture
def key_file(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> Path:
    """The session key as a 0600 PEM owned by the current user."""
    return write_pem(rsa_key, tmp_path / "kalshi.pem")


@pytest.fixture(scope="session")
def demo_dataset() -> Dataset:
    """The bundled real tape (markets only are used: no replay)."""
    return load_dataset([bundled.path("kalshi-tape-demo")])


def exchange_state(dataset: Dataset, key: rsa.RSAPrivateKey) -> ExchangeState:
    """An exchange over the bundled markets at :data:`SIM_NOW`, empty books, ``key`` known."""
    keys = KeyRegistry({KEY_ID: key.public_key()})
    state = build_state(dataset, FixedClock(SIM_NOW), keys=keys, replay=False)
    state.tick()
    return state


def open_tickers(state: ExchangeState) -> list[str]:
    """Tickers of the markets open at :data:`SIM_NOW`, sorted."""
    return sorted(t for t, m in state.engine.markets.items() if m.status is MarketStatus.ACTIVE)


@dataclass
class Exchange:
    """A running local exchange."""

    url: str
    state: ExchangeState

    @property
    def api(self) -> str:
        """REST root."""
        return f"{self.url}/trade-api/v2"

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1."""
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture
async def exchange(demo_dataset: Dataset, rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[Exchange]:
    """The exchange served by uvicorn inside the test's event loop."""
    state = exchange_state(demo_dataset, rsa_key)
    async for url in serve_in_loop(create_app(state, tick_seconds=0.01)):
        yield Exchange(url, state)


@pytest.fixture
def threaded_exchange(demo_dataset: Dataset, rsa_key: rsa.RSAPrivateKey) -> Iterator[Exchange]:
    """The exchange served by uvicorn in a thread (for synchronous CLI tests)."""
    state = exchange_state(demo_dataset, rsa_key)
    with ThreadedServer(create_app(state, tick_seconds=0.01)) as server:
        yield Exchange(server.url, state)


def signed_client(api: str, key: rsa.RSAPrivateKey) -> KalshiClient:
    """A signed client with wide-open rate buckets (the local exchange does not rate-limit)."""
    return KalshiClient(
        api,
        auth=KalshiAuth(KEY_ID, key),
        rate_limits=RateLimits(read_per_second=1e5, write_per_second=1e5),
    )


async def place_resting(client: KalshiClient, tickers: list[str], per_ticker: int) -> list[str]:
    """Place ``per_ticker`` 1-cent YES bids on each market; return their order ids."""
    ids: list[str] = []
    for ticker in tickers:
        for i in range(per_ticker):
            req = OrderRequest(
                ticker, OutcomeSide.YES, Action.BUY, Decimal("0.01"), Decimal(1), f"{ticker}-{i}"
            )
            ack = await client.create_order(req)
            assert ack.remaining == 1, "a 1-cent bid on an empty book must rest"
            ids.append(ack.order_id)
    return ids


def sqlite_settings_at(data_dir: Path, **overrides: Any) -> Settings:
    """Settings over a SQLite database in ``data_dir`` (no ``.env``), with ``overrides``."""
    return Settings(data_dir=data_dir, _env_file=None, **overrides)


def cli_env(**values: str) -> dict[str, str | None]:
    """A CliRunner environment: every inherited ``MILKBOT_*`` unset, then ``values``."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MILKBOT_")}
    env.update(values)
    return env


def ops_app() -> typer.Typer:
    """A Typer app with only the operations commands."""
    from milkbot.ops.commands import register

    app = typer.Typer()
    register(app)
    return app


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands configure logging for their process; put the test process's back."""
    import logging

    import structlog

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
