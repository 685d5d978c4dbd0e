"""ORM models of the two schemas.

``trading`` is private to the trader: intents, orders and their transitions, fills,
positions, the audit, and the market and weather snapshots behind every decision.
``analytics`` is the sanitized read model the public side sees: no order ids, no client ids,
no balances, no keys. Rows are append-friendly; a fill is unique by its venue fill id.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from milkbot.store.base import ANALYTICS, TRADING, Base, Money, UtcDateTime

# ---------------------------------------------------------------- trading (private)


class Intent(Base):
    """A decision to trade: deterministic id, persisted before any request is sent."""

    __tablename__ = "intents"
    __table_args__ = {"schema": TRADING}

    intent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    strategy_run: Mapped[str] = mapped_column(String(64))
    decision_slot: Mapped[str] = mapped_column(String(32))
    market_ticker: Mapped[str] = mapped_column(String(64), index=True)
    event_ticker: Mapped[str] = mapped_column(String(64), index=True)
    city: Mapped[str] = mapped_column(String(8))
    side: Mapped[str] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(4))
    limit_price: Mapped[Decimal] = mapped_column(Money)
    count: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Order(Base):
    """An order's current state; its history is in :class:`OrderEvent`."""

    __tablename__ = "orders"
    __table_args__ = {"schema": TRADING}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey(f"{TRADING}.intents.intent_id"), index=True)
    venue_order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    market_ticker: Mapped[str] = mapped_column(String(64), index=True)
    side: Mapped[str] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(4))
    limit_price: Mapped[Decimal] = mapped_column(Money)
    count: Mapped[Decimal] = mapped_column(Money)
    filled_count: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    remaining_count: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(24), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OrderEvent(Base):
    """One state transition of an order, with the venue response that caused it."""

    __tablename__ = "order_events"
    __table_args__ = {"schema": TRADING}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(64), index=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Fill(Base):
    """An execution, unique by the venue's fill id: applying it twice changes nothing."""

    __tablename__ = "fills"
    __table_args__ = {"schema": TRADING}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    venue_fill_id: Mapped[str] = mapped_column(String(64), unique=True)
    venue_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    client_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    market_ticker: Mapped[str] = mapped_column(String(64), index=True)
    side: Mapped[str] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(Money)
    count: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    is_taker: Mapped[bool] = mapped_column(Boolean)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Position(Base):
    """Net position per market, derived from fills and settlements (+ YES, - NO)."""

    __tablename__ = "positions"
    __table_args__ = {"schema": TRADING}

    market_ticker: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_ticker: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[Decimal] = mapped_column(Money)
    cost: Mapped[Decimal] = mapped_column(Money)
    realized_pnl: Mapped[Decimal] = mapped_column(Money)
    fees_paid: Mapped[Decimal] = mapped_column(Money)
    settled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditRecord(Base):
    """One part of a trade's audit trail (market, weather, strategy, risk, oms), by intent."""

    __tablename__ = "audit_records"
    __table_args__ = {"schema": TRADING}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class MarketSnapshot(Base):
    """The state of one market's book as the trader saw it."""

    __tablename__ = "market_snapshots"
    __table_args__ = (
        Index("ix_market_snapshots_ticker_ts", "market_ticker", "ts"),
        {"schema": TRADING},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    market_ticker: Mapped[str] = mapped_column(String(64))
    event_ticker: Mapped[str] = mapped_column(String(64), index=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    yes_bid: Mapped[Decimal | None] = mapped_column(Money)
    yes_ask: Mapped[Decimal | None] = mapped_column(Money)
    last_price: Mapped[Decimal | None] = mapped_column(Money)
    volume: Mapped[Decimal | None] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16))
    close_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rules_url: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class WeatherSnapshot(Base):
    """A weather payload as received: source, issue and retrieval times, content hash."""

    __tablename__ = "weather_snapshots"
    __table_args__ = (
        Index("ix_weather_snapshots_station_issued", "station", "issued_at"),
        {"schema": TRADING},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    station: Mapped[str] = mapped_column(String(8))
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retrieved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    url: Mapped[str | None] = mapped_column(Text)
    payload_sha256: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)


class ForecastIssue(Base):
    """A forecast issue of a station's daily maximum the trader had at ``first_seen``.

    One row per issue (source and issue time) the trader's weather source kept; with the
    market snapshots it lets ``milkbot db export-dataset`` rebuild what was known when.
    """

    __tablename__ = "forecast_issues"
    __table_args__ = (
        Index("ix_forecast_issues_station_target", "station", "target_date"),
        {"schema": TRADING},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station: Mapped[str] = mapped_column(String(8))
    target_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    tmax_f: Mapped[float] = mapped_column(Float)
    sigma_f: Mapped[float | None] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)


class TraderState(Base):
    """Small durable key-value state of the trader (checkpoints, breaker latches)."""

    __tablename__ = "trader_state"
    __table_args__ = {"schema": TRADING}

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OperatorCommand(Base):
    """An operator's command to the running trader (halt, resume, reset-breaker, ...).

    Written by the private operator CLI, applied by the trader at its next step, which
    stamps ``applied_at`` and the outcome. The queue survives a trader restart.
    """

    __tablename__ = "operator_commands"
    __table_args__ = {"schema": TRADING}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    command: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(80), default="global")
    operator: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------- analytics (public-safe)


class BracketQuote(Base):
    """A bracket's market price and our probability at a time (public, delayed by the API)."""

    __tablename__ = "bracket_quotes"
    __table_args__ = (
        Index("ix_bracket_quotes_city_ts", "city", "ts"),
        {"schema": ANALYTICS},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    city: Mapped[str] = mapped_column(String(8))
    event_ticker: Mapped[str] = mapped_column(String(64))
    event_date: Mapped[date] = mapped_column(Date)
    market_ticker: Mapped[str] = mapped_column(String(64))
    bracket: Mapped[str] = mapped_column(String(32))
    bracket_low: Mapped[int | None] = mapped_column(Integer)
    bracket_high: Mapped[int | None] = mapped_column(Integer)
    market_prob: Mapped[float | None] = mapped_column(Float)
    model_prob: Mapped[float | None] = mapped_column(Float)


class WeatherReading(Base):
    """A city's forecast high and observed maximum so far, at a time."""

    __tablename__ = "weather_readings"
    __table_args__ = (
        Index("ix_weather_readings_city_ts", "city", "ts"),
        {"schema": ANALYTICS},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    city: Mapped[str] = mapped_column(String(8))
    event_date: Mapped[date] = mapped_column(Date)
    forecast_high_f: Mapped[float | None] = mapped_column(Float)
    observed_max_f: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))


class PublicTrade(Base):
    """A sanitized fill: what was traded and when, never order or client ids."""

    __tablename__ = "trades"
    __table_args__ = {"schema": ANALYTICS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    city: Mapped[str] = mapped_column(String(8), index=True)
    event_date: Mapped[date] = mapped_column(Date)
    market_ticker: Mapped[str] = mapped_column(String(64))
    bracket: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(Money)
    count: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    strategy: Mapped[str] = mapped_column(String(32))
    model_prob: Mapped[float | None] = mapped_column(Float)


class EquityPoint(Base):
    """Account equity P&L (not the balance) at a time: realized and marked."""

    __tablename__ = "equity_points"
    __table_args__ = {"schema": ANALYTICS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    realized_pnl: Mapped[Decimal] = mapped_column(Money)
    unrealized_pnl: Mapped[Decimal] = mapped_column(Money)
    fees: Mapped[Decimal] = mapped_column(Money)


class PublicSettlement(Base):
    """A settled event: the CLI value, the winning bracket and our P&L on it."""

    __tablename__ = "settlements"
    __table_args__ = {"schema": ANALYTICS}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    city: Mapped[str] = mapped_column(String(8), index=True)
    event_ticker: Mapped[str] = mapped_column(String(64), unique=True)
    event_date: Mapped[date] = mapped_column(Date)
    settled_value_f: Mapped[int | None] = mapped_column(Integer)
    winning_bracket: Mapped[str | None] = mapped_column(String(32))
    pnl: Mapped[Decimal] = mapped_column(Money)


class StrategyForecast(Base):
    """One strategy's probability for one bracket at a decision time (``ensemble`` included).

    Scored against the settled outcome by the Analytics API (Brier, log loss, reliability).
    """

    __tablename__ = "strategy_forecasts"
    __table_args__ = (
        Index("ix_strategy_forecasts_strategy_ts", "strategy", "ts"),
        {"schema": ANALYTICS},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    city: Mapped[str] = mapped_column(String(8))
    event_ticker: Mapped[str] = mapped_column(String(64), index=True)
    event_date: Mapped[date] = mapped_column(Date)
    market_ticker: Mapped[str] = mapped_column(String(64))
    bracket: Mapped[str] = mapped_column(String(32))
    strategy: Mapped[str] = mapped_column(String(32))
    prob: Mapped[float] = mapped_column(Float)


class ServiceHeartbeat(Base):
    """The trader's last export: its clock (simulated in demo) and export counters."""

    __tablename__ = "heartbeats"
    __table_args__ = {"schema": ANALYTICS}

    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    mode: Mapped[str] = mapped_column(String(16))
    exported_rows: Mapped[int] = mapped_column(Integer, default=0)
    dropped_rows: Mapped[int] = mapped_column(Integer, default=0)
