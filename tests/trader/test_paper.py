"""``milkbot paper``: live public data (recorded payloads at the transport), simulated fills.

The Kalshi and NWS peers are replaced at the HTTP transport by real recorded answers; the
database is real SQLite, the OMS, risk engine, desk and paper venue are the product's own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from milkbot.clock import FixedClock
from milkbot.domain.fees import FeeModel, FeeType
from milkbot.domain.stations import by_city
from milkbot.domain.weather import Forecast
from milkbot.errors import ConfigError
from milkbot.ops.operator import new_command, parse_scope
from milkbot.risk.breakers import TradingState
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine
from milkbot.store.migrate import upgrade
from milkbot.store.models import BracketQuote, Fill, MarketSnapshot, Order, Position
from milkbot.trader.paper import PaperTrader, build_paper, paper_settings
from milkbot.trader.weather_feed import WeatherNow
from milkbot.venues.paper import PaperVenue
from tests.oms.conftest import AUDIT, approved_order
from tests.weather.conftest import NWS_API

KALSHI = NWS_API.parents[1] / "kalshi"
OPEN_MARKETS = KALSHI / "real-2026-07_GET-markets_KXHIGHNY_open_trimmed.json"
T0 = datetime(2026, 7, 12, 15, 0, tzinfo=UTC)  # the recorded markets' event day


def _series(ticker: str) -> dict[str, Any]:
    listed = json.loads((KALSHI / "legacy-2026-01_series_list_response.json").read_text())
    found: dict[str, Any] = next(s for s in listed["response"]["series"] if s["ticker"] == ticker)
    return found


@dataclass
class RecordedPeers:
    """Kalshi's public API and NWS, answered from recorded payloads; every request kept."""

    kalshi: list[httpx.Request] = field(default_factory=list)
    weather: list[httpx.Request] = field(default_factory=list)
    # GET /series/KXHIGHNY: the real object of Kalshi's January 2026 series list (None: 404).
    series: dict[str, Any] | None = field(default_factory=lambda: dict(_series("KXHIGHNY")))

    def kalshi_answer(self, request: httpx.Request) -> httpx.Response:
        self.kalshi.append(request)
        if request.method == "GET" and request.url.path.endswith("/markets"):
            if request.url.params.get("series_ticker") == "KXHIGHNY":
                return httpx.Response(200, content=OPEN_MARKETS.read_bytes())
            return httpx.Response(200, json={"markets": [], "cursor": ""})
        series = request.method == "GET" and request.url.path.endswith("/series/KXHIGHNY")
        if series and self.series is not None:
            return httpx.Response(200, json={"series": self.series})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no route"}})

    def weather_answer(self, request: httpx.Request) -> httpx.Response:
        self.weather.append(request)
        path = request.url.path
        if path.startswith("/points/"):
            return httpx.Response(200, content=(NWS_API / "points_30,-85_pynws.json").read_bytes())
        if path.startswith("/gridpoints/"):
            grid = NWS_API / "gridpoints_TAE_58,65_raw_grid_2022-02-04_pynws.json"
            return httpx.Response(200, content=grid.read_bytes())
        if path.endswith("/observations"):
            obs = NWS_API / "stations_KBHM_observations_limit1_weathergov.json"
            return httpx.Response(200, content=obs.read_bytes())
        return httpx.Response(404, json={"title": "Not Found", "status": 404})


@pytest.fixture
async def paper(tmp_path: Path) -> AsyncIterator[tuple[PaperTrader, RecordedPeers, FixedClock]]:
    settings = paper_settings(Settings(data_dir=tmp_path / "var", _env_file=None))  # type: ignore[call-arg]
    settings.data_dir.mkdir(parents=True)
    upgrade(settings)
    engine = create_trading_engine(settings)
    peers = RecordedPeers()
    clock = FixedClock(T0)
    built = build_paper(
        settings,
        engine,
        clock=clock,
        kalshi_transport=httpx.MockTransport(peers.kalshi_answer),
        weather_transport=httpx.MockTransport(peers.weather_answer),
    )
    yield built, peers, clock
    await built.aclose()
    await engine.dispose()


async def count(paper: PaperTrader, model: type) -> int:
    async with paper.trader._sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_paper_reads_public_data_and_fills_in_the_paper_venue(
    paper: tuple[PaperTrader, RecordedPeers, FixedClock],
) -> None:
    built, peers, clock = paper
    await built.trader.load_state()
    await built.trader.step()
    await built.exporter.drain()
    assert await count(built, MarketSnapshot) == 3  # the recorded NYC markets
    assert await count(built, BracketQuote) == 3
    assert set(built.venue.engine.markets) == {
        "KXHIGHNY-26JUL12-T89",
        "KXHIGHNY-26JUL12-T82",
        "KXHIGHNY-26JUL12-B88.5",
    }
    assert any(r.url.host == "api.weather.gov" for r in peers.weather)  # live NWS was asked

    # An order through the product's OMS lands in the paper venue: a taker fill at the
    # recorded ask (0.19, 11 shown), persisted as order, fill and position.
    order = approved_order(clock, "KXHIGHNY-26JUL12-T82", price=Decimal("0.19"))
    outcome = await built.desk.manager.submit(
        order, strategy_run="paper-test", slot="s1", reason="test", audit=AUDIT
    )
    assert outcome.skipped is None and outcome.state is not None
    clock.advance(timedelta(minutes=1))
    await built.trader.step()
    (fill,) = await built.venue.get_fills()
    assert fill.price == Decimal("0.19") and fill.count == Decimal(2) and fill.is_taker
    assert await count(built, Order) == 1 and await count(built, Fill) == 1
    assert await count(built, Position) == 1

    # Nothing but public reads ever went to Kalshi, and none was signed.
    assert peers.kalshi, "the paper trader read Kalshi's markets"
    for request in peers.kalshi:
        assert request.method == "GET"
        assert "/portfolio" not in request.url.path
        assert not any(h.lower().startswith("kalshi-access") for h in request.headers)


async def test_paper_cannot_send_an_order_to_kalshi(
    paper: tuple[PaperTrader, RecordedPeers, FixedClock],
) -> None:
    built, peers, _ = paper
    # The execution venue is the in-process paper venue, with no network client in it.
    assert isinstance(built.desk.manager._venue, PaperVenue)
    assert not any(
        isinstance(v, httpx.AsyncClient | httpx.Client) for v in vars(built.venue).values()
    )
    # The only Kalshi client is unauthenticated: account calls fail before any request.
    with pytest.raises(ConfigError, match="needs a Kalshi API key"):
        await built.public.get_balance()
    assert peers.kalshi == []


def test_paper_uses_its_own_database(tmp_path: Path) -> None:
    live = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u@h/live", _env_file=None)  # type: ignore[call-arg]
    paper = paper_settings(live)
    assert paper.data_dir == tmp_path / "paper" and paper.is_sqlite
    assert paper.trader_health_port != live.trader_health_port
    assert paper.trading_url != live.trading_url
    with pytest.raises(ConfigError, match="its own database"):
        paper_settings(live, live.database_url)


async def test_flatten_cancels_and_closes_positions_once(
    paper: tuple[PaperTrader, RecordedPeers, FixedClock],
) -> None:
    built, _, clock = paper
    await built.trader.load_state()
    await built.trader.step()
    manager = built.desk.manager
    held = approved_order(clock, "KXHIGHNY-26JUL12-T82", price=Decimal("0.19"))
    await manager.submit(held, strategy_run="t", slot="a", reason="test", audit=AUDIT)
    resting = approved_order(clock, "KXHIGHNY-26JUL12-B88.5", price=Decimal("0.01"), slot="b")
    await manager.submit(resting, strategy_run="t", slot="b", reason="test", audit=AUDIT)
    clock.advance(timedelta(minutes=1))
    await built.trader.step()
    assert await manager.positions() == {"KXHIGHNY-26JUL12-T82": Decimal(2)}
    assert len(await built.venue.get_orders(status="resting")) == 1

    async with built.trader._sessions() as s:
        s.add(new_command("flatten", "city:NYC", "ops", "test flatten", clock.now()))
        await s.commit()
    clock.advance(timedelta(minutes=1))
    await built.trader.step()  # applies the command: cancel, then sell 2 YES at the 0.16 bid
    clock.advance(timedelta(minutes=1))
    await built.trader.step()  # the closing fill reaches the OMS
    assert await built.venue.get_orders(status="resting") == []
    assert [p.position for p in await built.venue.get_positions()] == [0]
    assert await manager.positions() == {}
    closing = [f for f in await built.venue.get_fills() if f.price != Decimal("0.19")]
    assert [(f.side.value, f.price, f.count) for f in closing] == [("no", Decimal("0.84"), 2)]
    state = built.desk.risk.breakers.state(parse_scope("city:NYC"))
    assert state is TradingState.REDUCING  # reduce-only until an operator resumes
    orders_before = await count(built, Order)
    clock.advance(timedelta(minutes=1))
    await built.trader.step()
    assert await count(built, Order) == orders_before  # applied once, nothing sent again


def _fresh_weather(now: datetime) -> WeatherNow:
    """An NWS forecast issued two hours ago and a reading five minutes old, for the day."""
    issue = Forecast(
        source="nws-forecast",
        station="KNYC",
        target_date=T0.date(),
        issued_at=now - timedelta(hours=2),
        tmax_f=86.0,
        kind="daytime-high",
    )
    return WeatherNow(
        "nws",
        running_max_f=80.0,
        hours_observed=10.0,
        observed_at=now - timedelta(minutes=5),
        forecasts=(issue,),
        station_observed=True,
    )


async def _decide_once(built: PaperTrader, clock: FixedClock) -> dict[str, float]:
    markets = await built.trader._client.get_markets(series_ticker="KXHIGHNY")
    event = markets[0].event_ticker
    return await built.desk.on_event(
        by_city("NYC"), event, markets, clock.now(), _fresh_weather(clock.now())
    )


async def test_the_desk_sizes_with_the_series_published_fees(
    paper: tuple[PaperTrader, RecordedPeers, FixedClock],
) -> None:
    built, peers, clock = paper
    # Kalshi's fees changed: KXHIGHNY as Kalshi published it, with the fee fields Kalshi
    # published for MLB games in August 2026 (maker fees, multiplier 0.5).
    assert peers.series is not None
    peers.series |= {"fee_type": "quadratic_with_maker_fees", "fee_multiplier": 0.5}
    await built.trader.load_state()
    view = await _decide_once(built, clock)
    assert len(view) == 3 and built.desk.stats.decisions == 1
    read = built.desk._fee_model("KXHIGHNY-26JUL12-T82")
    assert read == FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal("0.5"))
    reads = sum(r.url.path.endswith("/series/KXHIGHNY") for r in peers.kalshi)
    await _decide_once(built, clock)  # within the hour the schedule is not read again
    assert sum(r.url.path.endswith("/series/KXHIGHNY") for r in peers.kalshi) == reads == 1

    # The paper venue charges the same schedule, and its journal keeps it across a restart.
    order = approved_order(clock, "KXHIGHNY-26JUL12-T82", price=Decimal("0.19"))
    await built.desk.manager.submit(
        order, strategy_run="paper-test", slot="s1", reason="test", audit=AUDIT
    )
    (fill,) = await built.venue.get_fills()
    assert fill.is_taker and fill.count == Decimal(2)
    assert fill.fee == read.taker_fee(2, Decimal("0.19")) == Decimal("0.02")  # x1 would be 0.03
    again = PaperVenue(clock, built.venue.journal_path)
    try:
        assert again.engine.markets["KXHIGHNY-26JUL12-T82"].fee_model == read
    finally:
        again.close()


async def test_the_desk_does_not_trade_a_series_whose_fees_are_unknown(
    paper: tuple[PaperTrader, RecordedPeers, FixedClock],
) -> None:
    built, peers, clock = paper
    peers.series = None  # GET /series/KXHIGHNY fails
    await built.trader.load_state()
    view = await _decide_once(built, clock)
    assert len(view) == 3  # the view is still published ...
    assert built.desk.stats.decisions == 0  # ... but nothing is decided or sent
    assert await count(built, Order) == 0
    peers.series = _series("KXHIGHNY")
    clock.advance(timedelta(minutes=2))  # read again at most once a minute
    await _decide_once(built, clock)
    assert built.desk.stats.decisions == 1
