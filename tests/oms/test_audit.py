"""A decision rebuilt from its audit records alone gives the same order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot.clock import FixedClock
from milkbot.decision import BookTop, decide
from milkbot.domain.fees import FeeModel, FeeType
from milkbot.domain.intents import BracketOpportunity, EventOpportunity
from milkbot.domain.stations import by_city
from milkbot.features.event import EventFeatures, ForecastInput, MarketPrice, synthetic_brackets
from milkbot.oms.manager import OrderManager
from milkbot.risk.engine import RiskEngine
from milkbot.risk.exposure import PortfolioState
from milkbot.risk.sizing import size_event
from milkbot.store.models import AuditRecord, Intent
from milkbot.strategies.factory import build_ensemble
from tests.oms.test_fill_properties import AckingVenue

NOW = datetime(2025, 4, 6, 16, 0, tzinfo=UTC)


def _dec(x: object) -> Decimal | None:
    return None if x is None else Decimal(str(x))


async def test_rebuild_decision_from_audit(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FixedClock(NOW)
    station = by_city("NYC")
    brackets = synthetic_brackets(60)
    event = f"{station.series}-25APR06"
    tickers = tuple(f"{event}-B{i}" for i in range(len(brackets)))
    features = EventFeatures(
        event_ticker=event,
        city="NYC",
        station=station.icao,
        event_date=NOW.date(),
        decision_time=NOW,
        close_time=NOW + timedelta(hours=12),
        std_offset_hours=station.std_offset_hours,
        tickers=tickers,
        brackets=brackets,
        market=tuple(MarketPrice(0.1, True, "quote", 0.0) for _ in tickers),
        forecasts=(ForecastInput("nws", NOW - timedelta(hours=2), 60.0, None, 12.0),),
    )
    books = {
        t: BookTop(Decimal("0.09"), Decimal("0.11"), Decimal(300), Decimal(300), NOW)
        for t in tickers
    }
    risk = RiskEngine.create()
    portfolio = PortfolioState.build(
        {}, {}, {}, equity=Decimal(1000), high_water_mark=Decimal(1000)
    )
    decision = decide(
        features,
        build_ensemble(),
        books,
        FeeModel(),
        risk,
        portfolio,
        clock,
        strategy_run="audit",
        holdings={},
    )
    assert decision is not None and decision.approved
    manager = OrderManager(AckingVenue(), sessions, clock)  # type: ignore[arg-type]
    approved = decision.approved[0]
    await manager.submit(
        approved,
        strategy_run="audit",
        slot=decision.slot,
        reason="test",
        audit={"strategy": decision.strategy_audit()},
    )

    # --- from here on, only the database ---
    async with sessions() as s:
        intent = await s.scalar(select(Intent))
        assert intent is not None
        audit = {
            r.kind: r.payload
            for r in await s.scalars(
                select(AuditRecord).where(AuditRecord.intent_id == intent.intent_id)
            )
        }
    strategy, decided = audit["strategy"], audit["risk"]
    opp = EventOpportunity(
        event,
        "NYC",
        tuple(
            BracketOpportunity(
                market_ticker=b["market"],
                event_ticker=event,
                city="NYC",
                bracket_index=b["index"],
                probability=b["probability"],
                probability_sd=b["probability_sd"],
                yes_bid=_dec(b["yes_bid"]),
                yes_ask=_dec(b["yes_ask"]),
                yes_bid_size=Decimal(b["yes_bid_size"]),
                yes_ask_size=Decimal(b["yes_ask_size"]),
                fee_model=FeeModel(FeeType(b["fee_type"]), Decimal(b["fee_multiplier"])),
                close_time=datetime.fromisoformat(b["close_time"]),
            )
            for b in strategy["opportunity"]
        ),
        strategy["exhaustive"],
    )
    sizing = size_event(
        opp,
        Decimal(strategy["sizing"]["bankroll"]),
        risk.limits.sizing,
        correlation_scale=strategy["sizing"]["correlation_scale"],
        count_step=risk.limits.caps.count_step,
    )
    leg = next(g for g in sizing.legs if g.market_ticker == intent.market_ticker)
    assert leg.side.value == intent.side
    assert leg.limit_price == intent.limit_price
    assert [(g.market_ticker, str(g.count), str(g.limit_price)) for g in sizing.legs] == [
        (g["market"], g["count"], g["limit_price"]) for g in strategy["sizing"]["legs"]
    ]
    assert Decimal(decided["approved"]) == intent.count
    assert decided["reason"] == "OK"
    assert audit["oms"]["request"]["client_order_id"] == intent.client_order_id
