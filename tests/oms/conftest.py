"""Factories for the OMS tests: a migrated SQLite trading database, the local exchange, intents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot import bundled
from milkbot.clock import FixedClock
from milkbot.datasets import Dataset, load_dataset
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import OrderIntent, Side
from milkbot.domain.market import BookSide
from milkbot.domain.portfolio import Action
from milkbot.oms.ids import intent_id
from milkbot.risk.engine import ApprovedOrder, RiskEngine
from milkbot.risk.exposure import PortfolioState
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.venues.exchange.faults import FaultConfig, FaultInjector
from milkbot.venues.exchange.matching import MarketStatus
from milkbot.venues.exchange.server import ExchangeState, KeyRegistry, build_state, create_app
from milkbot.venues.kalshi.auth import KalshiAuth
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.kalshi.ratelimit import RateLimits
from tests.servers import serve_in_loop

KEY_ID = "oms-test-key"
SIM_NOW = datetime(2025, 4, 6, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def oms_key() -> rsa.RSAPrivateKey:
    """An RSA key generated for this test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def demo_tape() -> Dataset:
    """The bundled real tape."""
    return load_dataset([bundled.path("kalshi-tape-demo")])


@pytest.fixture
async def sessions(sqlite_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a freshly migrated SQLite trading database."""
    upgrade(sqlite_settings)
    engine = create_trading_engine(sqlite_settings)
    yield session_factory(engine)
    await engine.dispose()


@dataclass
class Exchange:
    """A running local exchange, its state and a signed client."""

    url: str
    state: ExchangeState
    clock: FixedClock
    client: KalshiClient

    def two_sided(self) -> tuple[str, Decimal, Decimal]:
        """A trading market with a bid and an ask: (ticker, best bid, best ask)."""
        for ticker, market in sorted(self.state.engine.markets.items()):
            bid, ask = market.best(BookSide.BID), market.best(BookSide.ASK)
            if market.status is MarketStatus.ACTIVE and bid and ask:
                return ticker, bid[0], ask[0]
        raise AssertionError("no two-sided market")

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Switch fault injection on or off while running."""
        self.state.faults = FaultInjector(faults or FaultConfig())


def client_for(url: str, key: rsa.RSAPrivateKey, **kwargs: Any) -> KalshiClient:
    """A signed client with wide rate buckets (the local exchange does not rate-limit)."""
    return KalshiClient(
        f"{url}/trade-api/v2",
        auth=KalshiAuth(KEY_ID, key),
        backoff_base=0.001,
        rate_limits=RateLimits(read_per_second=1e5, write_per_second=1e5),
        **kwargs,
    )


@pytest.fixture
async def exchange(demo_tape: Dataset, oms_key: rsa.RSAPrivateKey) -> AsyncIterator[Exchange]:
    """The local exchange over the bundled tape at :data:`SIM_NOW` (no replay after it)."""
    clock = FixedClock(SIM_NOW)
    state = build_state(demo_tape, clock, keys=KeyRegistry({KEY_ID: oms_key.public_key()}))
    state.tick()
    async for url in serve_in_loop(create_app(state, tick_seconds=0.01)):
        async with client_for(url, oms_key) as client:
            yield Exchange(url, state, clock, client)


def approved_order(
    clock: FixedClock,
    ticker: str,
    *,
    side: Side = Side.YES,
    price: Decimal = Decimal("0.05"),
    count: Decimal = Decimal(2),
    slot: str = "slot-1",
    run: str = "test-run",
) -> ApprovedOrder:
    """An order intent passed through the real risk engine with an empty book."""
    intent = OrderIntent(
        intent_id=intent_id(run, ticker, side, Action.BUY, slot),
        market_ticker=ticker,
        event_ticker=ticker.rsplit("-", 1)[0],
        city="NYC",
        side=side,
        action=Action.BUY,
        count=count,
        limit_price=price,
        fee_model=FeeModel(),
        close_time=clock.now() + timedelta(hours=6),
        model_probability=0.5,
        quote_time=clock.now(),
        forecast_time=clock.now(),
    )
    portfolio = PortfolioState.build(
        {}, {}, {}, equity=Decimal(1000), high_water_mark=Decimal(1000)
    )
    return RiskEngine.create().approve(intent, portfolio, clock)


AUDIT = {"market": {"book": "test"}, "weather": {}, "strategy": {"p": 0.5}}
