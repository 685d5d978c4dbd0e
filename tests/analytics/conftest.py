"""Factories for the analytics read model: seed real-shaped rows at chosen times."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from milkbot.store.models import (
    BracketQuote,
    EquityPoint,
    PublicSettlement,
    PublicTrade,
    ServiceHeartbeat,
    StrategyForecast,
    WeatherReading,
)

T0 = datetime(2025, 1, 10, 12, tzinfo=UTC)
NYC_BRACKETS = [
    ("46° or below", None, 46),
    ("47° to 48°", 47, 48),
    ("49° to 50°", 49, 50),
    ("51° to 52°", 51, 52),
    ("53° to 54°", 53, 54),
    ("55° or above", 55, None),
]


def event_ticker(city: str, event_date: date) -> str:
    """The event ticker the factories use for a city-day."""
    return f"KXHIGH{'NY' if city == 'NYC' else city}-{event_date:%y%b%d}".upper()


def seed(
    engine: Engine,
    minutes: Iterable[int],
    *,
    city: str = "NYC",
    event_date: date = date(2025, 1, 10),
) -> None:
    """Write one row of every analytics table at each ``T0 + minute``."""
    event = event_ticker(city, event_date)
    with Session(engine) as s:
        for m in minutes:
            ts = T0 + timedelta(minutes=m)
            for i, (label, lo, hi) in enumerate(NYC_BRACKETS):
                s.add(
                    BracketQuote(
                        ts=ts,
                        city=city,
                        event_ticker=event,
                        event_date=event_date,
                        market_ticker=f"{event}-{i}",
                        bracket=label,
                        bracket_low=lo,
                        bracket_high=hi,
                        market_prob=(i + 1 + m % 3) / 30,
                        model_prob=(6 - i) / 21,
                    )
                )
            s.add(
                WeatherReading(
                    ts=ts,
                    city=city,
                    event_date=event_date,
                    forecast_high_f=50.0 + m % 5,
                    observed_max_f=40.0 + m % 7,
                    source="test",
                )
            )
            s.add(
                PublicTrade(
                    ts=ts,
                    city=city,
                    event_date=event_date,
                    market_ticker=f"{event}-2",
                    bracket="49° to 50°",
                    side="yes",
                    action="buy",
                    price=Decimal("0.40"),
                    count=Decimal(3),
                    fee=Decimal("0.06"),
                    strategy="ensemble",
                    model_prob=0.5,
                )
            )
            s.add(
                EquityPoint(
                    ts=ts,
                    realized_pnl=Decimal(m) / 10,
                    unrealized_pnl=Decimal(-m % 4),
                    fees=Decimal("0.06") * m,
                )
            )
        s.commit()


def settle(
    engine: Engine,
    ts: datetime,
    *,
    city: str = "NYC",
    event_date: date = date(2025, 1, 10),
    value: int = 50,
    pnl: str = "1.50",
) -> None:
    """Record a settled event (the winner is "49° to 50°", bracket 2)."""
    event = event_ticker(city, event_date)
    with Session(engine) as s:
        s.add(
            PublicSettlement(
                ts=ts,
                city=city,
                event_ticker=event,
                event_date=event_date,
                settled_value_f=value,
                winning_bracket="49° to 50°",
                pnl=Decimal(pnl),
            )
        )
        s.commit()


def heartbeat(engine: Engine, ts: datetime) -> None:
    """Set the trader's exported clock."""
    with Session(engine) as s:
        s.merge(
            ServiceHeartbeat(service="trader", ts=ts, mode="demo", exported_rows=0, dropped_rows=0)
        )
        s.commit()


Probs = Mapping[str, Sequence[float]] | Callable[[int], Mapping[str, Sequence[float]]]


def forecasts(
    engine: Engine,
    minutes: Iterable[int],
    probs: Probs,
    *,
    city: str = "NYC",
    event_date: date = date(2025, 1, 10),
) -> None:
    """Write each strategy's six bracket probabilities at each ``T0 + minute``.

    ``probs`` maps a strategy to its probabilities in bracket order, or is a function of the
    minute that returns such a mapping.
    """
    event = event_ticker(city, event_date)
    with Session(engine) as s:
        for m in minutes:
            by_strategy = probs(m) if callable(probs) else probs
            for strategy, ps in by_strategy.items():
                for i, ((label, _lo, _hi), p) in enumerate(zip(NYC_BRACKETS, ps, strict=True)):
                    s.add(
                        StrategyForecast(
                            ts=T0 + timedelta(minutes=m),
                            city=city,
                            event_ticker=event,
                            event_date=event_date,
                            market_ticker=f"{event}-{i}",
                            bracket=label,
                            strategy=strategy,
                            prob=p,
                        )
                    )
        s.commit()


def moving_forecasts(m: int) -> dict[str, list[float]]:
    """Forecasts that change with the minute: an "ensemble" leaning towards bracket 2 more
    and more over each 600 minutes, and a flat "climatology"."""
    lean = 0.2 + 0.7 * (m % 600) / 600
    rest = (1 - lean) / 5
    return {
        "ensemble": [rest, rest, lean, rest, rest, rest],
        "climatology": [1 / 6] * 6,
    }


def trade(
    engine: Engine,
    minute: int,
    *,
    bracket: int,
    side: str,
    action: str,
    price: str,
    count: int,
    fee: str,
    strategy: str,
    city: str = "NYC",
    event_date: date = date(2025, 1, 10),
) -> None:
    """Record one sanitized trade on bracket number ``bracket`` of the city-day's event."""
    event = event_ticker(city, event_date)
    with Session(engine) as s:
        s.add(
            PublicTrade(
                ts=T0 + timedelta(minutes=minute),
                city=city,
                event_date=event_date,
                market_ticker=f"{event}-{bracket}",
                bracket=NYC_BRACKETS[bracket][0],
                side=side,
                action=action,
                price=Decimal(price),
                count=Decimal(count),
                fee=Decimal(fee),
                strategy=strategy,
                model_prob=None,
            )
        )
        s.commit()
