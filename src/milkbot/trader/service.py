"""The trader daemon's loop.

This stage of the trader watches markets and weather and exports what it sees: market
snapshots into the private trading schema, and delayed-safe rows (bracket prices, weather
readings, settlements, a heartbeat) into the analytics schema. Decisions and orders plug
into :meth:`Trader.step` through the strategy, risk and OMS layers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot.clock import Clock
from milkbot.domain.market import Market
from milkbot.domain.stations import STATIONS, Station
from milkbot.domain.weather import Forecast
from milkbot.errors import ConfigError, MilkbotError, UpstreamError
from milkbot.logging import get_logger
from milkbot.store.models import (
    BracketQuote,
    ForecastIssue,
    MarketSnapshot,
    Position,
    PublicSettlement,
    ServiceHeartbeat,
    WeatherReading,
)
from milkbot.trader.desk import TradingDesk, event_date_of
from milkbot.trader.export import Exporter
from milkbot.trader.features import market_price
from milkbot.trader.market_feed import MarketFeed, MarketSource
from milkbot.trader.weather_feed import IssueMemory, WeatherNow, WeatherSource

log = get_logger(__name__)

MIN_STEP_SECONDS = 0.2  # a burst of book changes still leaves room between steps
SETTLED_STATUSES = frozenset({"settled", "finalized", "determined"})
# An open market's unchanged book is stored again after this long, so that a recording tells a
# quiet market (rows at least this often) from a gap in it (the evaluator's MAX_PRICE_AGE).
SNAPSHOT_REFRESH = timedelta(hours=1)
# Recorded forecast issues remembered (against duplicates) for target dates this recent.
ISSUE_MEMORY = timedelta(days=3)


def _mid(market: Market) -> float | None:
    """The mid of a two-sided book, else None."""
    price = market_price(market)
    return price.prob if price.scorable else None


@dataclass
class TraderStats:
    """What the trader has done since it started (shown by ``/health``)."""

    started_at: datetime | None = None
    last_step_at: datetime | None = None
    steps: int = 0
    step_errors: int = 0
    markets_seen: int = 0
    snapshots: int = 0
    settlements: int = 0
    last_error: str = ""
    cities_with_events: list[str] = field(default_factory=list)


class Trader:
    """The trader's main loop over every registered city."""

    def __init__(
        self,
        *,
        mode: str,
        client: MarketSource,
        clock: Clock,
        sessions: async_sessionmaker[AsyncSession],
        exporter: Exporter,
        weather: WeatherSource | None = None,
        stations: Iterable[Station] = STATIONS,
        registry: CollectorRegistry | None = None,
        desk: TradingDesk | None = None,
        require_reconciled: bool = False,
        feed: MarketFeed | None = None,
    ) -> None:
        self.mode = mode
        self.feed = feed
        self.desk = desk
        self.require_reconciled = require_reconciled
        self._client = client
        self._clock = clock
        self._sessions = sessions
        self._exporter = exporter
        self._weather = weather
        self._stations = tuple(stations)
        self._last_seen: dict[str, tuple[tuple[Any, ...], datetime]] = {}
        self._settled: set[str] = set()
        self._issues_seen: set[tuple[str, date, str, datetime]] = set()
        self.stats = TraderStats()
        self.registry = registry or CollectorRegistry()
        self._m_steps = Counter(
            "milkbot_trader_steps_total", "Decision steps", ["outcome"], registry=self.registry
        )
        self._m_dropped = Gauge(
            "milkbot_trader_export_dropped", "Export rows dropped", registry=self.registry
        )
        self._m_snapshots = Counter(
            "milkbot_trader_market_snapshots_total",
            "Market snapshots stored",
            registry=self.registry,
        )

    async def load_state(self) -> None:
        """Read what earlier runs already exported (so that nothing is exported twice) and the
        forecast issues they recorded (given back to a weather source that keeps a history)."""
        async with self._sessions() as session:
            rows = await session.scalars(select(PublicSettlement.event_ticker))
            self._settled = set(rows.all())
            now = self._clock.now()
            issues = (
                await session.scalars(
                    select(ForecastIssue)
                    .where(ForecastIssue.target_date >= now.date() - ISSUE_MEMORY)
                    .order_by(ForecastIssue.id)
                )
            ).all()
        self._issues_seen = {(r.station, r.target_date, r.source, r.issued_at) for r in issues}
        if isinstance(self._weather, IssueMemory):
            # A restarted trader takes back the issue history it had (else it would know only
            # what it fetches from now on, and the NWS spread term would shrink for the day).
            self._weather.restore(
                [
                    Forecast(
                        source=r.source,
                        station=r.station,
                        target_date=r.target_date,
                        issued_at=r.issued_at,
                        tmax_f=r.tmax_f,
                        sigma_f=r.sigma_f,
                        kind=r.kind,
                    )
                    for r in issues
                ],
                now,
            )
        if self.desk is not None:
            report = await self.desk.start()
            log.info("startup_reconciliation", ok=report.ok, mismatches=report.mismatches)
            if self.require_reconciled and not report.ok:
                raise ConfigError(
                    "refusing to trade live: the start-up reconciliation did not pass "
                    f"({report.error or '; '.join(report.mismatches)})"
                )

    async def step(self) -> None:
        """Poll every city's markets, store what changed, export the public view."""
        now = self._clock.now()
        snapshots: list[MarketSnapshot] = []
        issues: list[ForecastIssue] = []
        public: list[Any] = []
        active: list[str] = []
        if self.desk is not None:
            await self.desk.apply_operator_commands()
        for station in self._stations:
            if self.feed is not None:
                markets = await self.feed.markets(station.series)
            else:
                markets = await self._client.get_markets(series_ticker=station.series)
            self.stats.markets_seen += len(markets)
            snapshots.extend(self._changed_snapshots(markets, now))
            current = self._current_event(markets, now)
            if current is not None:
                active.append(station.city)
                weather = None
                if self._weather is not None:
                    weather = await self._weather.current(station, event_date_of(current), now)
                    issues.extend(self._new_issues(weather, now))
                probs: dict[str, float] = {}
                if self.desk is not None:
                    probs = await self.desk.on_event(station, current, markets, now, weather)
                public.extend(self._bracket_rows(station, current, markets, now, probs))
                public.extend(self._weather_rows(station, current, now, weather))
            public.extend(await self._settlement_rows(station, markets, now))
        if self.desk is not None:
            await self.desk.after_step(now)
        if snapshots or issues:
            async with self._sessions() as session:
                session.add_all([*snapshots, *issues])
                await session.commit()
            self.stats.snapshots += len(snapshots)
            self._m_snapshots.inc(len(snapshots))
        self._exporter.offer(public)
        self._exporter.offer(
            [
                ServiceHeartbeat(
                    service="trader",
                    ts=now,
                    mode=self.mode,
                    exported_rows=self._exporter.exported,
                    dropped_rows=self._exporter.dropped,
                )
            ]
        )
        self._m_dropped.set(self._exporter.dropped)
        self.stats.cities_with_events = active
        self.stats.last_step_at = now
        self.stats.steps += 1

    def _changed_snapshots(self, markets: list[Market], now: datetime) -> list[MarketSnapshot]:
        out = []
        for m in markets:
            key = (m.status, m.yes_bid, m.yes_ask, m.last_price, m.volume, m.result)
            last = self._last_seen.get(m.ticker)
            # Only an open market's unchanged book is stored again (after SNAPSHOT_REFRESH).
            if (
                last is not None
                and last[0] == key
                and (not m.is_tradable or now - last[1] < SNAPSHOT_REFRESH)
            ):
                continue
            self._last_seen[m.ticker] = (key, now)
            out.append(
                MarketSnapshot(
                    market_ticker=m.ticker,
                    event_ticker=m.event_ticker,
                    ts=now,
                    yes_bid=m.yes_bid,
                    yes_ask=m.yes_ask,
                    last_price=m.last_price,
                    volume=m.volume,
                    status=m.status,
                    close_time=m.close_time,
                    rules_url=None,
                    payload={
                        "rules_primary": m.rules_primary,
                        "result": m.result,
                        "expiration_value": m.expiration_value,
                        "strike_type": m.strike_type,
                        "floor_strike": None if m.floor_strike is None else str(m.floor_strike),
                        "cap_strike": None if m.cap_strike is None else str(m.cap_strike),
                        "open_time": None if m.open_time is None else m.open_time.isoformat(),
                    },
                )
            )
        return out

    def _new_issues(self, weather: WeatherNow, now: datetime) -> list[ForecastIssue]:
        """The forecast issues of ``weather`` not recorded yet (the day's and the day before's)."""
        out = []
        for f in weather.forecasts + weather.previous_forecasts:
            if f.issued_at is None:
                continue
            key = (f.station, f.target_date, f.source, f.issued_at)
            if key in self._issues_seen:
                continue
            self._issues_seen.add(key)
            out.append(
                ForecastIssue(
                    station=f.station,
                    target_date=f.target_date,
                    source=f.source,
                    kind=f.kind,
                    issued_at=f.issued_at,
                    tmax_f=f.tmax_f,
                    sigma_f=f.sigma_f,
                    first_seen=now,
                )
            )
        horizon = now.date() - ISSUE_MEMORY
        self._issues_seen = {k for k in self._issues_seen if k[1] >= horizon}
        return out

    @staticmethod
    def _current_event(markets: list[Market], now: datetime) -> str | None:
        """The earliest event still trading at ``now``, else the latest one that closed."""
        trading = sorted(
            {
                m.event_ticker
                for m in markets
                if m.is_tradable and (m.close_time is None or m.close_time > now)
            },
            key=event_date_of,
        )
        if trading:
            return trading[0]
        closed = sorted(
            {m.event_ticker for m in markets if m.close_time is not None and m.close_time <= now},
            key=event_date_of,
        )
        return closed[-1] if closed else None

    def _bracket_rows(
        self,
        station: Station,
        event: str,
        markets: list[Market],
        now: datetime,
        model: dict[str, float],
    ) -> list[BracketQuote]:
        rows = []
        for m in markets:
            if m.event_ticker != event or m.bracket is None:
                continue
            rows.append(
                BracketQuote(
                    ts=now,
                    city=station.city,
                    event_ticker=event,
                    event_date=event_date_of(event),
                    market_ticker=m.ticker,
                    bracket=m.bracket.label(),
                    bracket_low=m.bracket.lowest,
                    bracket_high=m.bracket.highest,
                    market_prob=_mid(m),
                    model_prob=model.get(m.ticker),
                )
            )
        return rows

    def _weather_rows(
        self, station: Station, event: str, now: datetime, weather: WeatherNow | None
    ) -> list[WeatherReading]:
        if weather is None:
            return []
        day = event_date_of(event)
        forecast = max(
            (f for f in weather.forecasts if f.issued_at is not None and f.target_date == day),
            key=lambda f: f.issued_at or now,
            default=None,
        )
        if weather.running_max_f is None and forecast is None:
            return []
        return [
            WeatherReading(
                ts=now,
                city=station.city,
                event_date=day,
                forecast_high_f=None if forecast is None else forecast.tmax_f,
                observed_max_f=weather.running_max_f,
                source=weather.source,
            )
        ]

    async def _settlement_rows(
        self, station: Station, markets: list[Market], now: datetime
    ) -> list[PublicSettlement]:
        by_event: dict[str, list[Market]] = {}
        for m in markets:
            by_event.setdefault(m.event_ticker, []).append(m)
        out = []
        for event, ms in sorted(by_event.items()):
            if event in self._settled or not all(m.status in SETTLED_STATUSES for m in ms):
                continue
            if self.desk is not None:
                await self.desk.settle_event(event)
            winners = [m for m in ms if m.result == "yes"]
            value = next((m.expiration_value for m in ms if m.expiration_value), "")
            pnl = await self._event_pnl(event)
            out.append(
                PublicSettlement(
                    ts=now,
                    city=station.city,
                    event_ticker=event,
                    event_date=event_date_of(event),
                    settled_value_f=int(float(value)) if value else None,
                    winning_bracket=winners[0].bracket.label()
                    if winners and winners[0].bracket
                    else None,
                    pnl=pnl,
                )
            )
            self._settled.add(event)
            self.stats.settlements += 1
            log.info("event_settled", event_ticker=event, value=value, pnl=str(pnl))
        return out

    async def _event_pnl(self, event: str) -> Decimal:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Position.realized_pnl).where(Position.event_ticker == event)
            )
            return sum(rows.all(), Decimal(0))

    async def run(self, stop: asyncio.Event, *, poll_seconds: float) -> None:
        """Step and export until ``stop`` is set; transient upstream errors are retried."""
        self.stats.started_at = self._clock.now()
        await self.load_state()
        while not stop.is_set():
            try:
                await self.step()
                self._m_steps.labels("ok").inc()
            except UpstreamError as e:
                self.stats.step_errors += 1
                self.stats.last_error = str(e)
                self._m_steps.labels("upstream_error").inc()
                log.warning("step_failed", error=str(e))
            except MilkbotError as e:
                self.stats.step_errors += 1
                self.stats.last_error = str(e)
                self._m_steps.labels("error").inc()
                log.error("step_failed", error=str(e))
            await self._exporter.drain()
            await self._wait(stop, poll_seconds)
        await self._exporter.drain()

    async def _wait(self, stop: asyncio.Event, poll_seconds: float) -> None:
        """Until the next step: ``poll_seconds``, or a book change when a feed streams them."""
        if self.feed is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=MIN_STEP_SECONDS)
        if not stop.is_set():
            await self.feed.wait_for_change(max(poll_seconds - MIN_STEP_SECONDS, 0.0))
            self.feed.changed_events()
