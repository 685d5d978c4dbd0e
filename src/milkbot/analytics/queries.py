"""Read-model queries. Every query takes the cutoff (now minus the delay) and applies it in SQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from milkbot.analytics import schemas
from milkbot.domain.stations import STATIONS, Station
from milkbot.store.models import (
    BracketQuote,
    EquityPoint,
    PublicSettlement,
    PublicTrade,
    ServiceHeartbeat,
    WeatherReading,
)

POSITION_BANDS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(0), "flat"),
    (Decimal(10), "1-10 contracts"),
    (Decimal(50), "11-50 contracts"),
    (Decimal(250), "51-250 contracts"),
)


def position_band(contracts: Decimal) -> str:
    """Reduce an absolute open position to a coarse public band."""
    size = abs(contracts)
    for upper, label in POSITION_BANDS:
        if size <= upper:
            return label
    return "over 250 contracts"


async def trader_clock(session: AsyncSession) -> datetime | None:
    """The trader's latest exported clock (simulated time in the demo), or None."""
    ts: datetime | None = await session.scalar(
        select(func.max(ServiceHeartbeat.ts)).where(ServiceHeartbeat.service == "trader")
    )
    return ts


async def _latest_event(
    session: AsyncSession, city: str, cutoff: datetime
) -> tuple[str, date] | None:
    row = (
        await session.execute(
            select(BracketQuote.event_ticker, BracketQuote.event_date)
            .where(BracketQuote.city == city, BracketQuote.ts <= cutoff)
            .order_by(BracketQuote.event_date.desc(), BracketQuote.ts.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def _brackets(
    session: AsyncSession, event_ticker: str, cutoff: datetime
) -> list[schemas.BracketView]:
    latest = (
        select(BracketQuote.market_ticker, func.max(BracketQuote.ts).label("ts"))
        .where(BracketQuote.event_ticker == event_ticker, BracketQuote.ts <= cutoff)
        .group_by(BracketQuote.market_ticker)
        .subquery()
    )
    rows = (
        await session.scalars(
            select(BracketQuote)
            .join(
                latest,
                (BracketQuote.market_ticker == latest.c.market_ticker)
                & (BracketQuote.ts == latest.c.ts),
            )
            .where(BracketQuote.ts <= cutoff)
        )
    ).all()
    seen: dict[str, BracketQuote] = {}
    for row in rows:
        seen[row.market_ticker] = row
    ordered = sorted(
        seen.values(),
        key=lambda r: (
            r.bracket_low is not None,
            r.bracket_low if r.bracket_low is not None else 0,
        ),
    )
    return [
        schemas.BracketView(
            market_ticker=r.market_ticker,
            bracket=r.bracket,
            low=r.bracket_low,
            high=r.bracket_high,
            market_prob=r.market_prob,
            model_prob=r.model_prob,
            ts=r.ts,
        )
        for r in ordered
    ]


async def city_view(session: AsyncSession, station: Station, cutoff: datetime) -> schemas.CityView:
    """One city card as of the cutoff."""
    event = await _latest_event(session, station.city, cutoff)
    reading = (
        await session.scalars(
            select(WeatherReading)
            .where(WeatherReading.city == station.city, WeatherReading.ts <= cutoff)
            .order_by(WeatherReading.ts.desc())
            .limit(1)
        )
    ).first()
    pnl_rows = (
        await session.scalars(
            select(PublicSettlement.pnl).where(
                PublicSettlement.city == station.city, PublicSettlement.ts <= cutoff
            )
        )
    ).all()
    realized_pnl = sum(pnl_rows, Decimal(0))
    if event is None:
        return schemas.CityView(
            city=station.city,
            name=station.name,
            station=station.icao,
            event_ticker=None,
            event_date=None,
            status="no data",
            brackets=[],
            forecast_high_f=None,
            observed_max_f=None,
            position_band=position_band(Decimal(0)),
            realized_pnl=realized_pnl,
            settled_value_f=None,
            winning_bracket=None,
        )
    event_ticker, event_date = event
    settlement = (
        await session.scalars(
            select(PublicSettlement).where(
                PublicSettlement.event_ticker == event_ticker, PublicSettlement.ts <= cutoff
            )
        )
    ).first()
    trades = (
        await session.execute(
            select(PublicTrade.side, PublicTrade.action, PublicTrade.count).where(
                PublicTrade.city == station.city,
                PublicTrade.event_date == event_date,
                PublicTrade.ts <= cutoff,
            )
        )
    ).all()
    net = Decimal(0)
    for side, action, count in trades:
        sign = 1 if (side == "yes") == (action == "buy") else -1
        net += sign * count
    weather_today = reading is not None and reading.event_date == event_date
    return schemas.CityView(
        city=station.city,
        name=station.name,
        station=station.icao,
        event_ticker=event_ticker,
        event_date=event_date,
        status="settled" if settlement is not None else "open",
        brackets=await _brackets(session, event_ticker, cutoff),
        forecast_high_f=reading.forecast_high_f if weather_today and reading else None,
        observed_max_f=reading.observed_max_f if weather_today and reading else None,
        position_band=position_band(Decimal(0) if settlement is not None else net),
        realized_pnl=realized_pnl,
        settled_value_f=settlement.settled_value_f if settlement else None,
        winning_bracket=settlement.winning_bracket if settlement else None,
    )


async def cities(session: AsyncSession, cutoff: datetime) -> list[schemas.CityView]:
    """All registered cities, in registry order."""
    return [await city_view(session, s, cutoff) for s in STATIONS]


async def equity(session: AsyncSession, cutoff: datetime) -> list[schemas.EquityPointView]:
    """The equity curve up to the cutoff, with the drawdown from the running peak."""
    rows = (
        await session.scalars(
            select(EquityPoint).where(EquityPoint.ts <= cutoff).order_by(EquityPoint.ts)
        )
    ).all()
    peak = Decimal(0)
    points: list[schemas.EquityPointView] = []
    for r in rows:
        total = r.realized_pnl + r.unrealized_pnl
        peak = max(peak, total)
        points.append(
            schemas.EquityPointView(
                ts=r.ts,
                realized_pnl=r.realized_pnl,
                unrealized_pnl=r.unrealized_pnl,
                equity_pnl=total,
                fees=r.fees,
                drawdown=peak - total,
            )
        )
    return points


async def trades(
    session: AsyncSession, cutoff: datetime, *, offset: int, limit: int, city: str | None
) -> tuple[int, list[schemas.TradeView]]:
    """A page of trades up to the cutoff, newest first, and the total count."""
    where = [PublicTrade.ts <= cutoff]
    if city is not None:
        where.append(PublicTrade.city == city)
    total = await session.scalar(select(func.count(PublicTrade.id)).where(*where)) or 0
    rows = (
        await session.scalars(
            select(PublicTrade)
            .where(*where)
            .order_by(PublicTrade.ts.desc(), PublicTrade.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return total, [
        schemas.TradeView(
            ts=r.ts,
            city=r.city,
            event_date=r.event_date,
            market_ticker=r.market_ticker,
            bracket=r.bracket,
            side=r.side,
            action=r.action,
            price=r.price,
            count=r.count,
            fee=r.fee,
            strategy=r.strategy,
            model_prob=r.model_prob,
        )
        for r in rows
    ]


async def settlements(session: AsyncSession, cutoff: datetime) -> list[schemas.SettlementView]:
    """Settled events up to the cutoff, newest first."""
    rows = (
        await session.scalars(
            select(PublicSettlement)
            .where(PublicSettlement.ts <= cutoff)
            .order_by(PublicSettlement.ts.desc())
        )
    ).all()
    return [
        schemas.SettlementView(
            ts=r.ts,
            city=r.city,
            event_ticker=r.event_ticker,
            event_date=r.event_date,
            settled_value_f=r.settled_value_f,
            winning_bracket=r.winning_bracket,
            pnl=r.pnl,
        )
        for r in rows
    ]
