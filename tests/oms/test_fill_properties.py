"""Property: however fills arrive (duplicated, REST and WebSocket forms, out of order), each
execution moves the order and the position exactly once."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from milkbot.clock import FixedClock
from milkbot.domain.intents import Side
from milkbot.domain.portfolio import Action, FillReport, OrderAck, OrderRequest
from milkbot.oms.manager import OrderManager
from milkbot.oms.states import OrderState
from milkbot.settings import Settings
from milkbot.store.engine import create_trading_engine, session_factory
from milkbot.store.migrate import upgrade
from milkbot.store.models import Fill, Order, Position
from tests.oms.conftest import AUDIT, SIM_NOW, approved_order

TICKER = "KXHIGHNY-25APR06-B60.5"


class AckingVenue:
    """An exchange double that accepts every order resting (fills are fed by the test)."""

    async def create_order(self, req: OrderRequest, *, resend_unknown: bool = False) -> OrderAck:
        return OrderAck(
            f"v-{req.client_order_id}", req.client_order_id, Decimal(0), req.count, SIM_NOW
        )


def _fill(i: int, count: int, order_id: str, *, ws: bool) -> FillReport:
    return FillReport(
        fill_id=f"t{i}" if ws else f"f{i}",  # WebSocket fills carry the trade id only
        trade_id=f"t{i}",
        order_id=order_id,
        ticker=TICKER,
        side=Side.YES,
        action=Action.BUY,
        price=Decimal("0.40"),
        count=Decimal(count),
        is_taker=False,
        fee=Decimal("0.01"),
        ts=SIM_NOW + timedelta(seconds=i),
    )


async def _run(chunks: list[int], deliveries: list[tuple[int, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Settings(data_dir=Path(tmp), _env_file=None)  # type: ignore[call-arg]
        upgrade(cfg)
        engine = create_trading_engine(cfg)
        clock = FixedClock(SIM_NOW)
        manager = OrderManager(AckingVenue(), session_factory(engine), clock)  # type: ignore[arg-type]
        total = Decimal(10)
        out = await manager.submit(
            approved_order(clock, TICKER, price=Decimal("0.40"), count=total),
            strategy_run="r",
            slot="s",
            reason="p",
            audit=AUDIT,
        )
        order_id = f"v-{out.client_order_id}"
        for i, ws in deliveries:
            await manager.apply_fill(_fill(i, chunks[i], order_id, ws=ws))
        delivered = {i for i, _ in deliveries}
        filled = Decimal(sum(chunks[i] for i in delivered))
        async with session_factory(engine)() as s:
            order = await s.scalar(select(Order))
            pos = await s.get(Position, TICKER)
            n_fills = await s.scalar(select(func.count()).select_from(Fill))
        await engine.dispose()
        assert order is not None and order.filled_count == filled
        assert n_fills == len(delivered)
        assert (pos.position if pos else Decimal(0)) == filled
        expected = (
            OrderState.FILLED
            if filled == total
            else (OrderState.PARTIALLY_FILLED if filled else OrderState.ACCEPTED)
        )
        assert order.status == expected.value
        assert manager.illegal_transitions == 0


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, bool]]]:
    chunks: list[int] = []
    left = 10
    while left > 0 and draw(st.booleans()):
        c = draw(st.integers(1, left))
        chunks.append(c)
        left -= c
    if not chunks:
        return [], []
    deliveries = draw(
        st.lists(st.tuples(st.integers(0, len(chunks) - 1), st.booleans()), max_size=12)
    )
    return chunks, deliveries


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_each_execution_counts_once(scenario: tuple[list[int], list[tuple[int, bool]]]) -> None:
    chunks, deliveries = scenario
    asyncio.run(_run(chunks, deliveries))
