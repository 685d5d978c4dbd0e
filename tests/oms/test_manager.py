"""The order manager against the local exchange and a real SQLite database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot.domain.intents import Side
from milkbot.domain.market import BookSide
from milkbot.domain.portfolio import FillReport, OrderAck, OrderRequest, TimeInForce
from milkbot.oms.manager import OrderManager, fill_key
from milkbot.oms.reconcile import Reconciler
from milkbot.oms.states import OrderState
from milkbot.store.models import AuditRecord, Fill, Intent, Order, OrderEvent, Position
from milkbot.venues.exchange.faults import FaultConfig
from milkbot.venues.exchange.matching import OrderRequest as EngineOrderRequest
from milkbot.venues.exchange.replay import TAKER as TAPE_TAKER
from milkbot.venues.kalshi.client import KalshiClient
from tests.oms.conftest import AUDIT, Exchange, approved_order


async def _count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _venue_orders(client: KalshiClient, coid: str) -> int:
    return sum(1 for o in await client.get_orders() if o.client_order_id == coid)


async def test_submit_persists_then_sends_and_a_repeat_is_refused(
    exchange: Exchange, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticker, _, _ = exchange.two_sided()
    manager = OrderManager(exchange.client, sessions, exchange.clock)
    order = approved_order(exchange.clock, ticker, price=Decimal("0.01"))
    out = await manager.submit(order, strategy_run="r", slot="s", reason="edge", audit=AUDIT)
    assert out.state is OrderState.ACCEPTED and out.skipped is None
    again = await manager.submit(order, strategy_run="r", slot="s", reason="edge", audit=AUDIT)
    assert again.skipped == "duplicate_intent"
    assert await _venue_orders(exchange.client, out.client_order_id) == 1
    assert await _count(sessions, Intent) == 1
    async with sessions() as s:
        kinds = set(await s.scalars(select(AuditRecord.kind)))
        events = list(await s.scalars(select(OrderEvent.event).order_by(OrderEvent.id)))
    assert kinds == {"market", "weather", "strategy", "risk", "oms"}
    assert events == ["submit", "accepted"]


async def test_a_lost_response_leaves_the_order_in_flight_until_a_lookup(
    exchange: Exchange, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticker, _, _ = exchange.two_sided()
    manager = OrderManager(exchange.client, sessions, exchange.clock)
    exchange.set_faults(FaultConfig(lost_response_rate=1.0))
    out = await manager.submit(
        approved_order(exchange.clock, ticker, price=Decimal("0.01")),
        strategy_run="r",
        slot="s",
        reason="edge",
        audit=AUDIT,
    )
    assert out.state is OrderState.UNKNOWN
    assert manager.blocked_markets() == {ticker}
    blocked = await manager.submit(
        approved_order(exchange.clock, ticker, price=Decimal("0.02"), slot="s2"),
        strategy_run="r",
        slot="s2",
        reason="edge",
        audit=AUDIT,
    )
    assert blocked.skipped == "market_in_flight"
    exchange.set_faults(None)
    assert await manager.resolve(out.client_order_id) is OrderState.ACCEPTED
    assert manager.blocked_markets() == frozenset()
    assert await _venue_orders(exchange.client, out.client_order_id) == 1


class _CrashBeforeSend:
    """The venue as seen by a trader killed between its commit and its request."""

    def __init__(self, client: KalshiClient) -> None:
        self._client = client

    async def create_order(self, req: OrderRequest, *, resend_unknown: bool = False) -> OrderAck:
        raise KeyboardInterrupt  # the process dies here; nothing reaches the venue

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)


async def test_restart_after_a_crash_before_send_places_the_order_once(
    exchange: Exchange, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticker, _, _ = exchange.two_sided()
    crashed = OrderManager(_CrashBeforeSend(exchange.client), sessions, exchange.clock)  # type: ignore[arg-type]
    order = approved_order(exchange.clock, ticker, price=Decimal("0.01"))
    with pytest.raises(KeyboardInterrupt):
        await crashed.submit(order, strategy_run="r", slot="s", reason="edge", audit=AUDIT)
    restarted = OrderManager(exchange.client, sessions, exchange.clock)
    report = await Reconciler(restarted, exchange.client, sessions, exchange.clock).run()
    assert report.ok, report.mismatches
    assert report.resolved_in_flight == 1
    coid = restarted.open_orders[0].client_order_id
    assert await _venue_orders(exchange.client, coid) == 1
    again = await restarted.submit(order, strategy_run="r", slot="s", reason="edge", audit=AUDIT)
    assert again.skipped == "duplicate_intent"
    assert await _venue_orders(exchange.client, coid) == 1


async def test_fills_count_once_from_rest_and_websocket(
    exchange: Exchange, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticker, _, ask = exchange.two_sided()
    manager = OrderManager(exchange.client, sessions, exchange.clock)
    out = await manager.submit(
        approved_order(exchange.clock, ticker, price=ask, count=Decimal(3)),
        strategy_run="r",
        slot="s",
        reason="edge",
        audit=AUDIT,
    )
    assert out.state in (OrderState.FILLED, OrderState.PARTIALLY_FILLED)
    rest = await exchange.client.get_fills(ticker=ticker)
    assert rest
    ws_view = [
        FillReport(
            fill_id=f.trade_id,  # the WebSocket message carries only the trade id
            trade_id=f.trade_id,
            order_id=f.order_id,
            ticker=f.ticker,
            side=f.side,
            action=f.action,
            price=f.price,
            count=f.count,
            is_taker=f.is_taker,
            fee=f.fee,
            ts=f.ts,
        )
        for f in rest
    ]
    assert await manager.apply_fills(rest) == 0
    assert await manager.apply_fills(ws_view) == 0
    assert await _count(sessions, Fill) == len({fill_key(f) for f in rest})
    venue = {p.ticker: p.position for p in await exchange.client.get_positions()}
    assert await manager.positions() == {ticker: venue[ticker]}
    async with sessions() as s:
        pos = await s.get(Position, ticker)
        row = await s.scalar(select(Order))
    assert pos is not None and pos.fees_paid == sum((f.fee for f in rest), Decimal(0))
    assert row is not None and row.filled_count == sum((f.count for f in rest), Decimal(0))


async def test_cancel_reaches_the_venue_and_ends_the_order(
    exchange: Exchange, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticker, _, _ = exchange.two_sided()
    manager = OrderManager(exchange.client, sessions, exchange.clock)
    out = await manager.submit(
        approved_order(exchange.clock, ticker, side=Side.NO, price=Decimal("0.02")),
        strategy_run="r",
        slot="s",
        reason="edge",
        audit=AUDIT,
    )
    assert await manager.cancel(out.client_order_id, "test") is OrderState.CANCELLED
    assert not manager.open_orders
    assert not await exchange.client.get_orders(status="resting")


async def test_reconciliation_reports_a_venue_order_it_does_not_know(
    exchange: Exchange, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticker, _, _ = exchange.two_sided()
    await exchange.client.create_order(
        OrderRequest(
            ticker,
            Side.YES,
            approved_order(exchange.clock, ticker).intent.action,
            Decimal("0.01"),
            Decimal(1),
            "placed-by-hand",
        )
    )
    manager = OrderManager(exchange.client, sessions, exchange.clock)
    report = await Reconciler(manager, exchange.client, sessions, exchange.clock).run()
    assert not report.ok
    assert any("placed-by-hand" in m for m in report.mismatches)


class _FillBeforePositions:
    """The venue, with a counterparty crossing a resting order just before the first
    position read (after the pass has read the fills): the race a live pass can meet."""

    def __init__(self, exchange: Exchange, ticker: str, price: Decimal) -> None:
        self._exchange = exchange
        self._ticker, self._price = ticker, price
        self.crossed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exchange.client, name)

    async def get_positions(self) -> Any:
        if not self.crossed:
            self.crossed = True
            book = self._exchange.state.engine.market(self._ticker).best(BookSide.BID)
            assert book is not None and book[0] == self._price
            # Sell into the whole bid level: the queue ahead of our order, then our order.
            self._exchange.state.engine.create_order(
                TAPE_TAKER,
                EngineOrderRequest(
                    self._ticker,
                    BookSide.ASK,
                    book[1],
                    self._price,
                    time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
                ),
            )
        return await self._exchange.client.get_positions()


async def test_a_fill_between_the_fill_read_and_the_position_read_is_no_mismatch(
    exchange: Exchange, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticker, price, _ = exchange.two_sided()
    manager = OrderManager(exchange.client, sessions, exchange.clock)
    out = await manager.submit(
        approved_order(exchange.clock, ticker, price=price, count=Decimal(2)),
        strategy_run="r",
        slot="s",
        reason="edge",
        audit=AUDIT,
    )
    assert out.state is OrderState.ACCEPTED
    venue = _FillBeforePositions(exchange, ticker, price)
    report = await Reconciler(manager, venue, sessions, exchange.clock).run()
    assert venue.crossed
    assert report.ok, report.mismatches
    assert report.fills_applied >= 1
    assert (await manager.positions())[ticker] == Decimal(2)
