"""The Kalshi client, WebSocket client and discovery against the local exchange on 127.0.0.1.

Complements ``tests/venues/exchange/test_kalshi_client.py`` (order lifecycle and faults):
here discovery runs end to end over HTTP, and the private WebSocket channels (``fill``,
``user_orders``, ``market_positions``) are checked against what the REST reads report.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.servers import serve_in_loop

from milkbot import bundled
from milkbot.clock import FixedClock
from milkbot.datasets import load_dataset
from milkbot.discovery import discover_events
from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import Action, FillReport, OrderReport, OrderRequest, PositionReport
from milkbot.domain.stations import STATIONS, by_ticker
from milkbot.venues.exchange.server import KeyRegistry, build_state, create_app
from milkbot.venues.kalshi.auth import KalshiAuth
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.kalshi.websocket import BookUpdate, KalshiWebSocket, WsEvent

pytestmark = pytest.mark.slow

KEY_ID = "kalshi-client-test"
# An afternoon of the bundled tape's first climate day: its markets are trading.
SIM_NOW = datetime(2025, 4, 6, 18, 0, tzinfo=UTC)


@dataclass
class Live:
    url: str

    @property
    def api(self) -> str:
        return f"{self.url}/trade-api/v2"

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://") + "/trade-api/ws/v2"


@pytest.fixture
async def live(rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[Live]:
    dataset = load_dataset([bundled.path("kalshi-tape-demo")])
    state = build_state(
        dataset, FixedClock(SIM_NOW), keys=KeyRegistry({KEY_ID: rsa_key.public_key()})
    )
    state.tick()
    async for url in serve_in_loop(create_app(state, tick_seconds=0.01)):
        yield Live(url)


async def test_discovery_over_http(live: Live, rsa_key: rsa.RSAPrivateKey) -> None:
    async with KalshiClient(live.api, auth=KalshiAuth(KEY_ID, rsa_key)) as client:
        events = await discover_events(client, STATIONS)
        today = await discover_events(client, STATIONS, date(2025, 4, 6))
    assert events, "the local exchange lists open daily-high events"
    assert today and all(e.climate_day == date(2025, 4, 6) for e in today)
    for ev in events:
        assert by_ticker(ev.event_ticker) == ev.station
        assert len(ev.markets) == len(ev.brackets)
    good = [e for e in events if e.ok]
    assert good == events, [e.problems for e in events if not e.ok]
    for ev in good:
        assert len(ev.brackets) == 6
        assert all(m.is_tradable for m in ev.markets)


async def test_private_channels_agree_with_rest(live: Live, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = KalshiAuth(KEY_ID, rsa_key)
    events: list[WsEvent] = []
    async with KalshiClient(live.api, auth=auth) as client:
        markets = await client.get_markets(status="open")
        books = {m.ticker: await client.get_orderbook(m.ticker) for m in markets[:40]}
        ticker, book = next((t, b) for t, b in books.items() if b.best_yes_ask is not None)
        ask = book.best_yes_ask
        assert ask is not None
        ws = KalshiWebSocket(live.ws, auth=auth, on_event=events.append)
        for channel in ("fill", "user_orders", "market_positions"):
            await ws.subscribe(channel)
        await ws.subscribe("orderbook_delta", [ticker])
        runner = asyncio.create_task(ws.run())
        try:
            for _ in range(300):
                if any(isinstance(e, BookUpdate) and e.is_snapshot for e in events):
                    break
                await asyncio.sleep(0.01)
            req = OrderRequest(ticker, OutcomeSide.YES, Action.BUY, ask.price, Decimal(1), "ws-1")
            ack = await client.create_order(req)
            assert ack.filled == 1
            for _ in range(300):
                if any(isinstance(e, PositionReport) for e in events) and any(
                    isinstance(e, FillReport) for e in events
                ):
                    break
                await asyncio.sleep(0.01)
            rest_fills = await client.get_fills(ticker=ticker)
            rest_orders = await client.get_orders(ticker=ticker)
        finally:
            await ws.close()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    ws_fills = [e for e in events if isinstance(e, FillReport)]
    ws_orders = [e for e in events if isinstance(e, OrderReport)]
    positions = [e for e in events if isinstance(e, PositionReport)]
    assert [f.order_id for f in ws_fills] == [ack.order_id]
    assert ws_fills[0].client_order_id == "ws-1"
    assert (ws_fills[0].count, ws_fills[0].yes_price) == (Decimal(1), rest_fills[0].yes_price)
    assert ws_fills[0].fee == rest_fills[0].fee
    assert any(o.order_id == ack.order_id for o in ws_orders)
    assert rest_orders[0].client_order_id == "ws-1" and rest_orders[0].filled == Decimal(1)
    assert positions[-1].ticker == ticker and positions[-1].position == Decimal(1)
