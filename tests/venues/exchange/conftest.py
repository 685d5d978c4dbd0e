"""Factories for the local-exchange tests: RSA keys, signed clients, a live server on 127.0.0.1."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tests.servers import serve_in_loop

from milkbot import bundled
from milkbot.clock import FixedClock
from milkbot.datasets import Dataset, load_dataset
from milkbot.domain.fees import FeeModel
from milkbot.venues.exchange.faults import FaultConfig
from milkbot.venues.exchange.matching import Engine
from milkbot.venues.exchange.server import ExchangeState, KeyRegistry, build_state, create_app

KEY_ID = "test-key-0001"
# Mid-afternoon of the first bundled climate day: the 2025-04-06 markets are trading.
SIM_NOW = datetime(2025, 4, 6, 18, 0, tzinfo=UTC)


def sign(key: rsa.RSAPrivateKey, timestamp: str, method: str, path: str) -> str:
    """Kalshi's request signature, written here from the docs independently of the server."""
    raw = key.sign(
        f"{timestamp}{method}{path}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return base64.b64encode(raw).decode()


def signed_headers(key: rsa.RSAPrivateKey, key_id: str, method: str, path: str) -> dict[str, str]:
    """The three KALSHI-ACCESS-* headers for one request."""
    ts = str(int(time.time() * 1000))
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": ts,
        "KALSHI-ACCESS-SIGNATURE": sign(key, ts, method, path),
    }


class KalshiAuth(httpx.Auth):
    """Signs every request like Kalshi's docs do (path without the query string)."""

    def __init__(self, key: rsa.RSAPrivateKey, key_id: str = KEY_ID) -> None:
        self.key = key
        self.key_id = key_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            signed_headers(self.key, self.key_id, request.method, request.url.path)
        )
        yield request


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    """An RSA key generated for the test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    """A second key, not registered with the exchange."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def demo_dataset() -> Dataset:
    """The bundled real tape."""
    return load_dataset([bundled.path("kalshi-tape-demo")])


@pytest.fixture
def engine() -> Engine:
    """An empty engine with one market and two funded accounts."""
    eng = Engine(FixedClock(SIM_NOW))
    eng.add_market("KXHIGHNY-25APR06-B60.5", "KXHIGHNY-25APR06", "KXHIGHNY", FeeModel())
    eng.open_account("alice", Decimal(1000))
    eng.open_account("bob", Decimal(1000))
    return eng


@dataclass
class LiveExchange:
    """A running exchange server and its state."""

    url: str
    state: ExchangeState
    clock: FixedClock

    @property
    def api(self) -> str:
        """Base URL of the REST API."""
        return f"{self.url}/trade-api/v2"

    @property
    def ws(self) -> str:
        """WebSocket URL."""
        return self.url.replace("http://", "ws://") + "/trade-api/ws/v2"


async def serve(state: ExchangeState) -> AsyncIterator[str]:
    """Run the exchange with uvicorn on 127.0.0.1 (free port) inside the test's event loop."""
    async for url in serve_in_loop(create_app(state, tick_seconds=0.01)):
        yield url


def make_state(
    dataset: Dataset,
    key: rsa.RSAPrivateKey,
    *,
    faults: FaultConfig | None = None,
    replay: bool = True,
    now: datetime = SIM_NOW,
) -> tuple[ExchangeState, FixedClock]:
    """An exchange over ``dataset`` at ``now`` with ``key`` registered as ``KEY_ID``."""
    clock = FixedClock(now)
    keys = KeyRegistry({KEY_ID: key.public_key()})
    state = build_state(dataset, clock, keys=keys, faults=faults, replay=replay)
    state.tick()
    return state, clock


@pytest.fixture
async def live(
    demo_dataset: Dataset, private_key: rsa.RSAPrivateKey
) -> AsyncIterator[LiveExchange]:
    """A live exchange over the bundled tape, replayed up to :data:`SIM_NOW`, no faults."""
    state, clock = make_state(demo_dataset, private_key)
    async for url in serve(state):
        yield LiveExchange(url, state, clock)
