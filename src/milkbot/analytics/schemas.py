"""Response models of the Analytics API. Nothing private is representable here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Health(_Model):
    """Liveness and database reachability."""

    status: str
    database: str
    delay_minutes: int
    as_of: datetime


class BracketView(_Model):
    """One bracket: the market's delayed probability next to ours."""

    market_ticker: str
    bracket: str
    low: int | None
    high: int | None
    market_prob: float | None
    model_prob: float | None
    ts: datetime


class CityView(_Model):
    """One card of the 10-city grid, as of ``as_of`` (now minus the delay)."""

    city: str
    name: str
    station: str
    event_ticker: str | None
    event_date: date | None
    status: str
    brackets: list[BracketView]
    forecast_high_f: float | None
    observed_max_f: float | None
    position_band: str
    realized_pnl: Decimal
    settled_value_f: int | None
    winning_bracket: str | None


class CitiesResponse(_Model):
    """The 10-city grid."""

    as_of: datetime
    delay_minutes: int
    cities: list[CityView]


class EquityPointView(_Model):
    """A point of the equity curve."""

    ts: datetime
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    equity_pnl: Decimal
    fees: Decimal
    drawdown: Decimal


class EquityResponse(_Model):
    """The delayed equity curve."""

    as_of: datetime
    points: list[EquityPointView]


class TradeView(_Model):
    """A delayed, sanitized trade."""

    ts: datetime
    city: str
    event_date: date
    market_ticker: str
    bracket: str
    side: str
    action: str
    price: Decimal
    count: Decimal
    fee: Decimal
    strategy: str
    model_prob: float | None


class TradesResponse(_Model):
    """A page of delayed trades, newest first."""

    as_of: datetime
    total: int
    offset: int
    limit: int
    trades: list[TradeView]


class SettlementView(_Model):
    """A settled event and our P&L on it."""

    ts: datetime
    city: str
    event_ticker: str
    event_date: date
    settled_value_f: int | None
    winning_bracket: str | None
    pnl: Decimal


class SettlementsResponse(_Model):
    """A page of settled events, newest first."""

    as_of: datetime
    total: int
    offset: int
    limit: int
    settlements: list[SettlementView]


class BracketPoint(_Model):
    """One bracket's delayed market and model probabilities at a time."""

    ts: datetime
    bracket: str
    market_prob: float | None
    model_prob: float | None


class WeatherPoint(_Model):
    """The forecast high and the observed maximum so far, at a time."""

    ts: datetime
    forecast_high_f: float | None
    observed_max_f: float | None


class CityDetail(CityView):
    """A city's card with the current event's history and the city's recent settlements."""

    history: list[BracketPoint]
    weather: list[WeatherPoint]
    recent_settlements: list[SettlementView]


class StrategyPnl(_Model):
    """The delayed trades attributed to a strategy and their realized P&L."""

    trades: int
    contracts: Decimal
    fees: Decimal
    settled_trades: int
    realized_pnl: Decimal


class StrategyView(_Model):
    """A strategy's scores on settled markets, and the P&L of the trades it drove."""

    strategy: str
    scored_forecasts: int
    brier: float | None
    log_loss: float | None
    mean_prob: float | None
    hit_rate: float | None
    calibration_error: float | None
    last_forecast_ts: datetime | None
    pnl: StrategyPnl


class StrategiesResponse(_Model):
    """Every strategy that forecast or traded before the cutoff."""

    as_of: datetime
    delay_minutes: int
    calibration_bins: int
    strategies: list[StrategyView]


class CalibrationBin(_Model):
    """One bin of predicted probability: mean predicted, observed frequency, count."""

    lower: float
    upper: float
    mean_predicted: float
    observed_frequency: float
    count: int


class StrategyCalibration(_Model):
    """A strategy's reliability data."""

    strategy: str
    scored_forecasts: int
    bins: list[CalibrationBin]


class CalibrationResponse(_Model):
    """Reliability data per strategy (non-empty bins only)."""

    as_of: datetime
    bins: int
    strategies: list[StrategyCalibration]
