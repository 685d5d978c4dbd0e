"""``milkbot paper``: the trader on live public data, with simulated fills and its own database.

Market data comes from Kalshi's public endpoints through a :class:`KalshiClient` built
*without* a key, weather from NWS (Open-Meteo as the fallback), and every order goes to a
:class:`~milkbot.venues.paper.PaperVenue`, which has no network client: a paper order
cannot reach an exchange, whatever the configuration says.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from milkbot.clock import Clock
from milkbot.domain.market import Market
from milkbot.errors import ConfigError
from milkbot.settings import KALSHI_URLS, Settings
from milkbot.trader.desk import TradingDesk
from milkbot.trader.export import Exporter
from milkbot.trader.fees import SeriesFees
from milkbot.trader.market_feed import MarketSource
from milkbot.trader.service import Trader
from milkbot.trader.weather_feed import LiveWeather
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.paper import PaperVenue

JOURNAL = "paper-venue.jsonl"


def paper_settings(settings: Settings, database_url: str | None = None) -> Settings:
    """The paper trader's settings: its own data directory and database.

    By default an SQLite file under ``<data_dir>/paper``; ``database_url`` chooses another
    database, which must not be the one live trading uses. Its ``/health`` listens one port
    above the trader's, so both can run side by side.
    """
    if database_url is not None and database_url == settings.database_url:
        raise ConfigError(
            "paper trading needs its own database: --database-url is the live trading database"
        )
    return settings.model_copy(
        update={
            "data_dir": settings.data_dir / "paper",
            "database_url": database_url,
            "trader_health_port": settings.trader_health_port + 1,
        }
    )


class PaperMarkets:
    """Public market data that also moves the paper venue (fills, closes, settlements)."""

    def __init__(self, public: KalshiClient, venue: PaperVenue, fees: SeriesFees) -> None:
        self._public = public
        self._venue = venue
        self._fees = fees

    async def get_markets(self, *, series_ticker: str) -> list[Market]:
        """The series' markets from Kalshi; the paper venue observes them first (new ones
        charge the series' fee schedule as last read, the desk's)."""
        markets = await self._public.get_markets(series_ticker=series_ticker)
        fee_model = await self._fees.refresh(series_ticker)
        self._venue.observe(markets, series_ticker=series_ticker, fee_model=fee_model)
        return markets


@dataclass
class PaperTrader:
    """The wired parts of a paper trader and what must be closed after it."""

    trader: Trader
    desk: TradingDesk
    venue: PaperVenue
    exporter: Exporter
    weather: LiveWeather
    public: KalshiClient

    async def aclose(self) -> None:
        """Close the network clients and the venue's journal."""
        await self.public.aclose()
        await self.weather.aclose()
        self.venue.close()


def build_paper(
    settings: Settings,
    engine: AsyncEngine,
    *,
    clock: Clock,
    kalshi_transport: httpx.AsyncBaseTransport | None = None,
    weather_transport: httpx.AsyncBaseTransport | None = None,
    starting_cash: Decimal = Decimal(1000),
) -> PaperTrader:
    """Wire a paper trader on ``engine`` (the paper database) with injectable transports."""
    from milkbot.store.engine import session_factory

    sessions = session_factory(engine)
    exporter = Exporter(sessions)
    journal = Path(settings.data_dir) / JOURNAL
    venue = PaperVenue(clock, journal, starting_cash=starting_cash)
    public = KalshiClient(KALSHI_URLS["prod"], auth=None, transport=kalshi_transport, clock=clock)
    weather = LiveWeather.from_settings(settings, clock=clock, transport=weather_transport)
    fees = SeriesFees(public, clock)
    desk = TradingDesk.on_venue(venue, sessions=sessions, clock=clock, exporter=exporter, fees=fees)
    markets: MarketSource = PaperMarkets(public, venue, fees)
    trader = Trader(
        mode="paper",
        client=markets,
        clock=clock,
        sessions=sessions,
        exporter=exporter,
        weather=weather,
        desk=desk,
    )
    return PaperTrader(trader, desk, venue, exporter, weather, public)
