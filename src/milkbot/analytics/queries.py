"""Read-model queries. Every query takes the cutoff (now minus the delay) and applies it in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Executable, Select, and_, case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from milkbot.analytics import schemas
from milkbot.domain.stations import STATIONS, Station
from milkbot.evaluation.metrics import brier, log_loss
from milkbot.store.models import (
    BracketQuote,
    EquityPoint,
    PublicSettlement,
    PublicTrade,
    ServiceHeartbeat,
    StrategyForecast,
    WeatherReading,
)

HISTORY_POINTS = 240
"""At most this many timestamps of a city's history (evenly thinned, the latest kept)."""
RECENT_SETTLEMENTS = 10
QUOTE_WINDOW = timedelta(hours=1)
HISTORY_BEFORE_EVENT = timedelta(days=2)
"""A city's history starts this long before the event's date (events open the day before)."""

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


def _union(selects: Sequence[Select[*tuple[Any, ...]]]) -> Executable:
    """``UNION ALL`` of per-city selects, each wrapped so it keeps its ORDER BY and LIMIT."""
    wrapped = [select(q.subquery()) for q in selects]
    return wrapped[0] if len(wrapped) == 1 else union_all(*wrapped)


async def _latest_events(
    session: AsyncSession, cities: Sequence[str], cutoff: datetime
) -> dict[str, tuple[str, date, datetime]]:
    """Per city: the event of its latest quote before the cutoff, its date and that quote's time.

    One statement; each city's part is served by the (city, ts) index, one step back from
    the cutoff.
    """
    rows = await session.execute(
        _union(
            [
                select(
                    BracketQuote.city,
                    BracketQuote.event_ticker,
                    BracketQuote.event_date,
                    BracketQuote.ts,
                )
                .where(BracketQuote.city == city, BracketQuote.ts <= cutoff)
                .order_by(BracketQuote.ts.desc(), BracketQuote.event_date.desc())
                .limit(1)
                for city in cities
            ]
        )
    )
    return {city: (event, day, ts) for city, event, day, ts in rows}


async def _latest_readings(
    session: AsyncSession, cities: Sequence[str], cutoff: datetime
) -> dict[str, tuple[date, float | None, float | None]]:
    """Per city: its latest weather reading before the cutoff (event date, forecast, observed)."""
    rows = await session.execute(
        _union(
            [
                select(
                    WeatherReading.city,
                    WeatherReading.event_date,
                    WeatherReading.forecast_high_f,
                    WeatherReading.observed_max_f,
                )
                .where(WeatherReading.city == city, WeatherReading.ts <= cutoff)
                .order_by(WeatherReading.ts.desc())
                .limit(1)
                for city in cities
            ]
        )
    )
    return {city: (day, forecast, observed) for city, day, forecast, observed in rows}


async def _latest_brackets(
    session: AsyncSession, events: dict[str, tuple[str, date, datetime]]
) -> dict[str, list[schemas.BracketView]]:
    """Per city: each market's latest quote within :data:`QUOTE_WINDOW` before the latest
    quote of the city's event.

    The trader quotes every market of the event at each step, so the window holds them all;
    a market without a quote for that long is stale and left out. Bounding the scan keeps the
    cost independent of the length of the history.
    """
    if not events:
        return {}
    latest_first = (BracketQuote.ts.desc(), BracketQuote.id.desc())
    ranked = [
        select(
            BracketQuote.city,
            BracketQuote.market_ticker,
            BracketQuote.bracket,
            BracketQuote.bracket_low,
            BracketQuote.bracket_high,
            BracketQuote.market_prob,
            BracketQuote.model_prob,
            BracketQuote.ts,
            func.row_number()
            .over(partition_by=BracketQuote.market_ticker, order_by=latest_first)
            .label("rank"),
        )
        .where(
            BracketQuote.city == city,
            BracketQuote.ts <= latest,
            BracketQuote.ts >= latest - QUOTE_WINDOW,
            BracketQuote.event_ticker == event,
        )
        .subquery()
        for city, (event, _day, latest) in events.items()
    ]
    rows = (await session.execute(_union([select(q).where(q.c.rank == 1) for q in ranked]))).all()
    seen: dict[str, list[Any]] = {}
    for r in rows:
        seen.setdefault(r.city, []).append(r)
    out: dict[str, list[schemas.BracketView]] = {}
    for city, markets in seen.items():
        ordered = sorted(markets, key=lambda r: (r.bracket_low is not None, r.bracket_low or 0))
        out[city] = [
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
    return out


async def city_views(
    session: AsyncSession, stations: Sequence[Station], cutoff: datetime
) -> list[schemas.CityView]:
    """City cards as of the cutoff, in the order of ``stations``, in five statements."""
    cities = [s.city for s in stations]
    events = await _latest_events(session, cities, cutoff)
    readings = await _latest_readings(session, cities, cutoff)
    brackets = await _latest_brackets(session, events)
    settled = (
        await session.execute(
            select(
                PublicSettlement.city,
                PublicSettlement.event_ticker,
                PublicSettlement.settled_value_f,
                PublicSettlement.winning_bracket,
                PublicSettlement.pnl,
            ).where(PublicSettlement.city.in_(cities), PublicSettlement.ts <= cutoff)
        )
    ).all()
    realized: dict[str, Decimal] = {}
    settlement_of: dict[str, tuple[int | None, str | None]] = {}
    for city, settled_event, value, winner, pnl in settled:
        realized[city] = realized.get(city, Decimal(0)) + pnl
        settlement_of[settled_event] = (value, winner)
    current = {(city, day) for city, (_e, day, _ts) in events.items()}
    trades = (
        await session.execute(
            select(PublicTrade.city, PublicTrade.event_date, PublicTrade.side)
            .add_columns(PublicTrade.action, PublicTrade.count)
            .where(
                PublicTrade.city.in_(cities),
                PublicTrade.event_date.in_({day for _c, day in current}),
                PublicTrade.ts <= cutoff,
            )
        )
        if current
        else None
    )
    net: dict[str, Decimal] = {}
    for city, day, side, action, count in trades.all() if trades is not None else []:
        if (city, day) in current:
            sign = 1 if (side == "yes") == (action == "buy") else -1
            net[city] = net.get(city, Decimal(0)) + sign * count
    views = []
    for station in stations:
        city = station.city
        pnl = realized.get(city, Decimal(0))
        event = events.get(city)
        if event is None:
            views.append(
                schemas.CityView(
                    city=city,
                    name=station.name,
                    station=station.icao,
                    event_ticker=None,
                    event_date=None,
                    status="no data",
                    brackets=[],
                    forecast_high_f=None,
                    observed_max_f=None,
                    position_band=position_band(Decimal(0)),
                    realized_pnl=pnl,
                    settled_value_f=None,
                    winning_bracket=None,
                )
            )
            continue
        event_ticker, event_date, _latest = event
        settlement = settlement_of.get(event_ticker)
        reading = readings.get(city)
        today = reading if reading is not None and reading[0] == event_date else None
        views.append(
            schemas.CityView(
                city=city,
                name=station.name,
                station=station.icao,
                event_ticker=event_ticker,
                event_date=event_date,
                status="settled" if settlement is not None else "open",
                brackets=brackets.get(city, []),
                forecast_high_f=today[1] if today else None,
                observed_max_f=today[2] if today else None,
                position_band=position_band(
                    Decimal(0) if settlement is not None else net.get(city, Decimal(0))
                ),
                realized_pnl=pnl,
                settled_value_f=settlement[0] if settlement else None,
                winning_bracket=settlement[1] if settlement else None,
            )
        )
    return views


async def city_view(session: AsyncSession, station: Station, cutoff: datetime) -> schemas.CityView:
    """One city card as of the cutoff."""
    return (await city_views(session, [station], cutoff))[0]


async def cities(session: AsyncSession, cutoff: datetime) -> list[schemas.CityView]:
    """All registered cities, in registry order."""
    return await city_views(session, STATIONS, cutoff)


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


def _settlement_view(r: PublicSettlement) -> schemas.SettlementView:
    return schemas.SettlementView(
        ts=r.ts,
        city=r.city,
        event_ticker=r.event_ticker,
        event_date=r.event_date,
        settled_value_f=r.settled_value_f,
        winning_bracket=r.winning_bracket,
        pnl=r.pnl,
    )


async def settlements(
    session: AsyncSession, cutoff: datetime, *, offset: int, limit: int, city: str | None
) -> tuple[int, list[schemas.SettlementView]]:
    """A page of settled events up to the cutoff, newest first, and the total count."""
    where = [PublicSettlement.ts <= cutoff]
    if city is not None:
        where.append(PublicSettlement.city == city)
    total = await session.scalar(select(func.count(PublicSettlement.id)).where(*where)) or 0
    rows = (
        await session.scalars(
            select(PublicSettlement)
            .where(*where)
            .order_by(PublicSettlement.ts.desc(), PublicSettlement.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return total, [_settlement_view(r) for r in rows]


def _thin(stamps: Sequence[datetime], points: int) -> set[datetime]:
    """At most ``points`` of the sorted ``stamps``, evenly spaced, always keeping the last."""
    if len(stamps) <= points:
        return set(stamps)
    step = len(stamps) / points
    picked = {stamps[int(i * step)] for i in range(points)}
    picked.add(stamps[-1])
    return picked


async def city_detail(
    session: AsyncSession, station: Station, cutoff: datetime
) -> schemas.CityDetail:
    """A city's card, the current event's bracket and weather history, recent settlements.

    The history covers the card's event (that of the latest quote before the cutoff) from
    :data:`HISTORY_BEFORE_EVENT` before its date, thinned to at most :data:`HISTORY_POINTS`
    timestamps.
    """
    card = await city_view(session, station, cutoff)
    history: list[schemas.BracketPoint] = []
    weather: list[schemas.WeatherPoint] = []
    if card.event_ticker is not None and card.event_date is not None:
        day = card.event_date
        since = datetime(day.year, day.month, day.day, tzinfo=UTC) - HISTORY_BEFORE_EVENT
        quotes = (
            await session.execute(
                select(
                    BracketQuote.ts,
                    BracketQuote.bracket,
                    BracketQuote.market_prob,
                    BracketQuote.model_prob,
                )
                .where(
                    BracketQuote.city == station.city,
                    BracketQuote.ts <= cutoff,
                    BracketQuote.ts >= since,
                    BracketQuote.event_ticker == card.event_ticker,
                )
                .order_by(BracketQuote.ts, BracketQuote.id)
            )
        ).all()
        keep = _thin(sorted({q.ts for q in quotes}), HISTORY_POINTS)
        history = [
            schemas.BracketPoint(
                ts=q.ts, bracket=q.bracket, market_prob=q.market_prob, model_prob=q.model_prob
            )
            for q in quotes
            if q.ts in keep
        ]
        readings = (
            await session.execute(
                select(
                    WeatherReading.ts,
                    WeatherReading.forecast_high_f,
                    WeatherReading.observed_max_f,
                )
                .where(
                    WeatherReading.city == station.city,
                    WeatherReading.ts <= cutoff,
                    WeatherReading.ts >= since,
                    WeatherReading.event_date == card.event_date,
                )
                .order_by(WeatherReading.ts, WeatherReading.id)
            )
        ).all()
        keep = _thin([r.ts for r in readings], HISTORY_POINTS)
        weather = [
            schemas.WeatherPoint(
                ts=r.ts, forecast_high_f=r.forecast_high_f, observed_max_f=r.observed_max_f
            )
            for r in readings
            if r.ts in keep
        ]
    _, recent = await settlements(
        session, cutoff, offset=0, limit=RECENT_SETTLEMENTS, city=station.city
    )
    return schemas.CityDetail(
        **card.model_dump(), history=history, weather=weather, recent_settlements=recent
    )


@dataclass(frozen=True)
class _Scored:
    """A strategy's scoring rows: probabilities, 0/1 outcomes, the latest forecast time."""

    prob: np.ndarray
    outcome: np.ndarray
    last_ts: datetime


async def _scoring_rows(
    session: AsyncSession, cutoff: datetime, strategy: str | None = None
) -> dict[str, _Scored]:
    """One scoring row per (strategy, market) of every event settled before the cutoff.

    The row is the strategy's latest forecast for the market made at or before both the
    cutoff and the event's settlement; its outcome is 1 when the market's bracket is the
    event's winning bracket. Events settled without a winning bracket are not scored.
    """
    settled = and_(
        PublicSettlement.event_ticker == StrategyForecast.event_ticker,
        PublicSettlement.ts <= cutoff,
        PublicSettlement.winning_bracket.is_not(None),
    )
    where = [StrategyForecast.ts <= cutoff, StrategyForecast.ts <= PublicSettlement.ts]
    if strategy is not None:
        where.append(StrategyForecast.strategy == strategy)
    ranked = (
        select(
            StrategyForecast.strategy,
            StrategyForecast.ts,
            StrategyForecast.prob,
            case((StrategyForecast.bracket == PublicSettlement.winning_bracket, 1), else_=0).label(
                "outcome"
            ),
            func.row_number()
            .over(
                partition_by=(StrategyForecast.strategy, StrategyForecast.market_ticker),
                order_by=(StrategyForecast.ts.desc(), StrategyForecast.id.desc()),
            )
            .label("rank"),
        )
        .join(PublicSettlement, settled)
        .where(*where)
        .subquery()
    )
    rows = (
        await session.execute(
            select(ranked.c.strategy, ranked.c.ts, ranked.c.prob, ranked.c.outcome)
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.strategy)
        )
    ).all()
    grouped: dict[str, tuple[list[float], list[float], datetime]] = {}
    for name, ts, prob, outcome in rows:
        probs, outcomes, last = grouped.setdefault(name, ([], [], ts))
        probs.append(float(prob))
        outcomes.append(float(outcome))
        if ts > last:
            grouped[name] = (probs, outcomes, ts)
    return {
        name: _Scored(np.asarray(p, dtype=float), np.asarray(y, dtype=float), last)
        for name, (p, y, last) in grouped.items()
    }


def _bins(scored: _Scored, bins: int) -> list[schemas.CalibrationBin]:
    """Equal-width bins of predicted probability; empty bins are left out."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(scored.prob, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        if sel.any():
            out.append(
                schemas.CalibrationBin(
                    lower=float(edges[b]),
                    upper=float(edges[b + 1]),
                    mean_predicted=float(scored.prob[sel].mean()),
                    observed_frequency=float(scored.outcome[sel].mean()),
                    count=int(sel.sum()),
                )
            )
    return out


def _calibration_error(bins: list[schemas.CalibrationBin]) -> float:
    """Expected calibration error: the count-weighted mean |mean predicted - observed|."""
    total = sum(b.count for b in bins)
    return sum(b.count * abs(b.mean_predicted - b.observed_frequency) for b in bins) / total


@dataclass
class _PnlSum:
    trades: int = 0
    contracts: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    settled_trades: int = 0
    realized_pnl: Decimal = Decimal(0)


async def _strategy_pnl(session: AsyncSession, cutoff: datetime) -> dict[str, schemas.StrategyPnl]:
    """Delayed trades per strategy and their realized P&L on events settled before the cutoff.

    A trade of ``count`` contracts of ``side`` at ``price`` (dollars per contract of that side)
    and ``fee`` is worth, once its event settled: ``sign * (payout - price) * count - fee``,
    where ``sign`` is +1 for a buy and -1 for a sell and ``payout`` is 1 when ``side`` won.
    """
    settled = and_(
        PublicSettlement.city == PublicTrade.city,
        PublicSettlement.event_date == PublicTrade.event_date,
        PublicSettlement.ts <= cutoff,
    )
    rows = (
        await session.execute(
            select(
                PublicTrade.strategy,
                PublicTrade.bracket,
                PublicTrade.side,
                PublicTrade.action,
                PublicTrade.price,
                PublicTrade.count,
                PublicTrade.fee,
                PublicSettlement.id,
                PublicSettlement.winning_bracket,
            )
            .outerjoin(PublicSettlement, settled)
            .where(PublicTrade.ts <= cutoff)
        )
    ).all()
    acc: dict[str, _PnlSum] = {}
    for name, bracket, side, action, price, count, fee, settlement_id, winner in rows:
        total = acc.setdefault(name, _PnlSum())
        total.trades += 1
        total.contracts += count
        total.fees += fee
        if settlement_id is not None:
            payout = Decimal(1) if (bracket == winner) == (side == "yes") else Decimal(0)
            sign = 1 if action == "buy" else -1
            total.settled_trades += 1
            total.realized_pnl += sign * (payout - price) * count - fee
    return {
        name: schemas.StrategyPnl(
            trades=t.trades,
            contracts=t.contracts,
            fees=t.fees,
            settled_trades=t.settled_trades,
            realized_pnl=t.realized_pnl,
        )
        for name, t in acc.items()
    }


async def strategies(
    session: AsyncSession, cutoff: datetime, *, bins: int
) -> list[schemas.StrategyView]:
    """Every strategy with a scored forecast or a trade before the cutoff, by name."""
    scored = await _scoring_rows(session, cutoff)
    pnl = await _strategy_pnl(session, cutoff)
    no_trades = schemas.StrategyPnl(
        trades=0, contracts=Decimal(0), fees=Decimal(0), settled_trades=0, realized_pnl=Decimal(0)
    )
    out = []
    for name in sorted(scored.keys() | pnl.keys()):
        rows = scored.get(name)
        if rows is None:
            out.append(
                schemas.StrategyView(
                    strategy=name,
                    scored_forecasts=0,
                    brier=None,
                    log_loss=None,
                    mean_prob=None,
                    hit_rate=None,
                    calibration_error=None,
                    last_forecast_ts=None,
                    pnl=pnl[name],
                )
            )
            continue
        out.append(
            schemas.StrategyView(
                strategy=name,
                scored_forecasts=len(rows.prob),
                brier=brier(rows.prob, rows.outcome),
                log_loss=log_loss(rows.prob, rows.outcome),
                mean_prob=float(rows.prob.mean()),
                hit_rate=float(rows.outcome.mean()),
                calibration_error=_calibration_error(_bins(rows, bins)),
                last_forecast_ts=rows.last_ts,
                pnl=pnl.get(name, no_trades),
            )
        )
    return out


async def calibration(
    session: AsyncSession, cutoff: datetime, *, bins: int, strategy: str | None
) -> list[schemas.StrategyCalibration]:
    """Reliability data per strategy (or one strategy) from the same scoring rows."""
    scored = await _scoring_rows(session, cutoff, strategy)
    return [
        schemas.StrategyCalibration(
            strategy=name, scored_forecasts=len(rows.prob), bins=_bins(rows, bins)
        )
        for name, rows in sorted(scored.items())
    ]
