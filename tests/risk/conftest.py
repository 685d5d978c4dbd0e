"""Factories for risk tests: intents, events, ledgers and engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from milkbot.clock import FixedClock
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import Action, OrderIntent, Side
from milkbot.domain.ledger import EventSpec, Fill, Ledger
from milkbot.risk.engine import RiskDecision
from milkbot.risk.exposure import PortfolioState

NOW = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)  # 10:00 New York
CLOSE = datetime(2025, 3, 2, 4, 59, tzinfo=UTC)
FEES = FeeModel()


def event_ticker(city: str, day: int = 1) -> str:
    return f"KXHIGH{city}-25MAR{day:02d}"


def market_ticker(city: str, bracket: int, day: int = 1) -> str:
    return f"{event_ticker(city, day)}-B{bracket}"


def event_spec(city: str, day: int = 1, n: int = 6) -> EventSpec:
    return EventSpec(
        event_ticker(city, day),
        city,
        tuple(market_ticker(city, i, day) for i in range(n)),
        exhaustive=True,
    )


def intent(
    city: str = "NYC",
    bracket: int = 0,
    *,
    day: int = 1,
    side: Side = Side.YES,
    action: Action = Action.BUY,
    count: str | int = 10,
    price: str = "0.40",
    prob: float | None = None,
    quote_time: datetime | None = NOW,
    forecast_time: datetime | None = NOW,
    intent_id: str = "i",
    fee_model: FeeModel = FEES,
) -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id,
        market_ticker=market_ticker(city, bracket, day),
        event_ticker=event_ticker(city, day),
        city=city,
        side=side,
        action=action,
        count=D(count),
        limit_price=D(price),
        fee_model=fee_model,
        close_time=CLOSE,
        model_probability=prob,
        quote_time=quote_time,
        forecast_time=forecast_time,
    )


def ledger_with_events(cities: list[str], cash: str = "1000", days: int = 1) -> Ledger:
    led = Ledger(D(cash))
    for c in cities:
        for d in range(1, days + 1):
            led.register_event(event_spec(c, d))
    return led


def fill_decision(led: Ledger, it: OrderIntent, decision: RiskDecision, fill_id: str) -> None:
    """Fill an approved intent completely at its limit price, paying the taker fee."""
    n = decision.approved
    led.apply_fill(
        Fill(
            fill_id,
            it.market_ticker,
            it.event_ticker,
            it.side,
            it.action,
            n,
            it.limit_price,
            it.fee_model.taker_fee(n, it.limit_price),
            NOW,
            it.city,
        )
    )


def state_of(led: Ledger, clock: FixedClock, pending=()) -> PortfolioState:
    point = led.mark({}, clock.now())
    return PortfolioState.from_ledger(led, point, pending)


def clock() -> FixedClock:
    return FixedClock(NOW)


__all__ = [
    "CLOSE",
    "FEES",
    "NOW",
    "clock",
    "event_spec",
    "event_ticker",
    "fill_decision",
    "intent",
    "ledger_with_events",
    "market_ticker",
    "state_of",
]


def later(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)
