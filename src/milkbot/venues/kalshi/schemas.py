"""Pydantic models of Kalshi Trade API v2 wire payloads (REST and WebSocket).

Shapes follow the 3.28.0 per-endpoint excerpts and the 2026-08-22 AsyncAPI spec in
``shared/reference/kalshi``. Models are frozen and ignore unknown fields (Kalshi adds fields
often). Money and counts are fixed-point *strings* on the wire: :data:`Dollars` and
:data:`Count` refuse numbers so a float can never sneak in.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _fixed_point(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a fixed-point string, got {type(value).__name__} {value!r}")
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a fixed-point number: {value!r}") from None
    if not parsed.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return parsed


def _strike(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("a strike is not a boolean")
    if isinstance(value, int | str):
        return Decimal(value)
    if isinstance(value, float):
        # JSON numbers: repr() gives the shortest decimal that round-trips, e.g. 88.5.
        return Decimal(repr(value))
    raise ValueError(f"bad strike {value!r}")


Dollars = Annotated[Decimal, BeforeValidator(_fixed_point)]
Count = Annotated[Decimal, BeforeValidator(_fixed_point)]
Strike = Annotated[Decimal | None, BeforeValidator(_strike)]


class Wire(BaseModel):
    """Base of all wire models: frozen, tolerant to extra fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class ErrorBody(Wire):
    """Kalshi's error envelope ``{code, message, details}``."""

    code: str | None = None
    message: str | None = None
    details: str | None = None
    error: str | None = None  # the 429 body is {"error": "too many requests"}


# --- exchange -------------------------------------------------------------------------------


class ExchangeStatusW(Wire):
    """``GET /exchange/status``."""

    exchange_active: bool
    trading_active: bool
    exchange_estimated_resume_time: datetime | None = None


class DailyScheduleW(Wire):
    """One open window of a weekday."""

    open_time: str
    close_time: str


class WeeklyScheduleW(Wire):
    """Standard hours valid between ``start_time`` and ``end_time``."""

    start_time: datetime
    end_time: datetime
    monday: list[DailyScheduleW] = Field(default_factory=list)
    tuesday: list[DailyScheduleW] = Field(default_factory=list)
    wednesday: list[DailyScheduleW] = Field(default_factory=list)
    thursday: list[DailyScheduleW] = Field(default_factory=list)
    friday: list[DailyScheduleW] = Field(default_factory=list)
    saturday: list[DailyScheduleW] = Field(default_factory=list)
    sunday: list[DailyScheduleW] = Field(default_factory=list)


class MaintenanceWindowW(Wire):
    """An announced maintenance window."""

    start_datetime: datetime
    end_datetime: datetime


class ScheduleW(Wire):
    """The ``schedule`` object."""

    standard_hours: list[WeeklyScheduleW]
    maintenance_windows: list[MaintenanceWindowW] | None = None


class ExchangeScheduleW(Wire):
    """``GET /exchange/schedule``."""

    schedule: ScheduleW


class HistoricalCutoffW(Wire):
    """``GET /historical/cutoff``."""

    market_settled_ts: datetime
    trades_created_ts: datetime
    orders_updated_ts: datetime


# --- series, events, markets ------------------------------------------------------------------


class SettlementSourceW(Wire):
    """A named settlement source."""

    name: str | None = None
    url: str | None = None


class SeriesW(Wire):
    """A series, with its fee fields."""

    ticker: str
    title: str = ""
    category: str = ""
    frequency: str = ""
    tags: list[str] | None = None
    settlement_sources: list[SettlementSourceW] | None = None
    contract_terms_url: str = ""
    fee_type: str
    fee_multiplier: Strike


class SeriesEnvelope(Wire):
    """``GET /series/{ticker}``."""

    series: SeriesW


class SeriesList(Wire):
    """``GET /series``."""

    series: list[SeriesW] | None = None


class PriceRangeW(Wire):
    """A price-grid segment."""

    start: Dollars
    end: Dollars
    step: Dollars


class MarketW(Wire):
    """A market as returned by ``/markets``, ``/events`` and ``/historical/markets``."""

    ticker: str
    event_ticker: str
    status: str
    market_type: str = "binary"
    title: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    open_time: datetime | None = None
    close_time: datetime | None = None
    expected_expiration_time: datetime | None = None
    latest_expiration_time: datetime | None = None
    strike_type: str | None = None
    floor_strike: Strike = None
    cap_strike: Strike = None
    rules_primary: str = ""
    rules_secondary: str = ""
    yes_bid_dollars: Dollars | None = None
    yes_ask_dollars: Dollars | None = None
    no_bid_dollars: Dollars | None = None
    no_ask_dollars: Dollars | None = None
    yes_bid_size_fp: Count | None = None
    yes_ask_size_fp: Count | None = None
    last_price_dollars: Dollars | None = None
    volume_fp: Count | None = None
    volume_24h_fp: Count | None = None
    open_interest_fp: Count | None = None
    result: str = ""
    expiration_value: str = ""
    settlement_value_dollars: Dollars | None = None
    settlement_ts: datetime | None = None
    price_ranges: list[PriceRangeW] | None = None
    exchange_index: int | None = None


class MarketsPage(Wire):
    """``GET /markets`` and ``GET /historical/markets``."""

    markets: list[MarketW]
    cursor: str | None = None


class MarketEnvelope(Wire):
    """``GET /markets/{ticker}``."""

    market: MarketW


class EventW(Wire):
    """An event (``with_nested_markets`` fills ``markets``)."""

    event_ticker: str
    series_ticker: str
    title: str = ""
    sub_title: str = ""
    mutually_exclusive: bool = False
    strike_date: datetime | None = None
    markets: list[MarketW] | None = None


class EventsPage(Wire):
    """``GET /events``."""

    events: list[EventW]
    cursor: str | None = None


class EventEnvelope(Wire):
    """``GET /events/{event_ticker}`` (markets top level unless nested)."""

    event: EventW
    markets: list[MarketW] | None = None


Level = tuple[Dollars, Count]


class OrderbookFpW(Wire):
    """The ``orderbook_fp`` object: bids of each leg, ascending."""

    yes_dollars: list[Level] | None = None
    no_dollars: list[Level] | None = None


class OrderbookEnvelope(Wire):
    """``GET /markets/{ticker}/orderbook``; the envelope key must be ``orderbook_fp``."""

    orderbook_fp: OrderbookFpW


class TradeW(Wire):
    """A public trade."""

    trade_id: str
    ticker: str
    count_fp: Count
    yes_price_dollars: Dollars
    taker_outcome_side: str | None = None
    taker_side: str | None = None
    created_time: datetime
    is_block_trade: bool = False


class TradesPage(Wire):
    """``GET /markets/trades``."""

    trades: list[TradeW]
    cursor: str | None = None


class BidAskW(Wire):
    """OHLC of a quote over a candle."""

    close_dollars: Dollars | None = None


class PriceDistW(Wire):
    """OHLC of traded prices over a candle (absent values when no trade)."""

    close_dollars: Dollars | None = None


class CandlestickW(Wire):
    """A market candlestick."""

    end_period_ts: int
    yes_bid: BidAskW
    yes_ask: BidAskW
    price: PriceDistW
    volume_fp: Count
    open_interest_fp: Count


class CandlesticksW(Wire):
    """``GET /series/{s}/markets/{t}/candlesticks``."""

    ticker: str | None = None
    candlesticks: list[CandlestickW]


# --- portfolio ----------------------------------------------------------------------------


class OrderW(Wire):
    """An order (``GET /portfolio/orders``)."""

    order_id: str
    client_order_id: str | None = ""
    ticker: str
    side: str | None = None
    action: str | None = None
    outcome_side: str | None = None
    book_side: str | None = None
    status: str
    yes_price_dollars: Dollars
    no_price_dollars: Dollars | None = None
    fill_count_fp: Count
    remaining_count_fp: Count
    initial_count_fp: Count
    taker_fees_dollars: Dollars | None = None
    maker_fees_dollars: Dollars | None = None
    created_time: datetime | None = None
    last_update_time: datetime | None = None
    order_group_id: str | None = None


class OrdersPage(Wire):
    """``GET /portfolio/orders``."""

    orders: list[OrderW]
    cursor: str | None = None


class OrderEnvelope(Wire):
    """``GET /portfolio/orders/{id}``."""

    order: OrderW


class FillW(Wire):
    """A fill (``GET /portfolio/fills``)."""

    fill_id: str
    trade_id: str
    order_id: str
    ticker: str
    side: str | None = None
    action: str | None = None
    outcome_side: str | None = None
    book_side: str | None = None
    count_fp: Count
    yes_price_dollars: Dollars
    no_price_dollars: Dollars | None = None
    is_taker: bool
    fee_cost: Dollars
    created_time: datetime | None = None
    ts: int | None = None


class FillsPage(Wire):
    """``GET /portfolio/fills``."""

    fills: list[FillW]
    cursor: str | None = None


class MarketPositionW(Wire):
    """An entry of ``market_positions``."""

    ticker: str
    position_fp: Count
    market_exposure_dollars: Dollars
    realized_pnl_dollars: Dollars
    fees_paid_dollars: Dollars
    total_traded_dollars: Dollars
    last_updated_ts: datetime | None = None


class PositionsPage(Wire):
    """``GET /portfolio/positions``."""

    market_positions: list[MarketPositionW] | None = None
    cursor: str | None = None


class SettlementW(Wire):
    """A settlement (``revenue`` is integer cents)."""

    ticker: str
    event_ticker: str
    market_result: str
    yes_count_fp: Count
    no_count_fp: Count
    yes_total_cost_dollars: Dollars
    no_total_cost_dollars: Dollars
    revenue: int
    fee_cost: Dollars
    settled_time: datetime


class SettlementsPage(Wire):
    """``GET /portfolio/settlements``."""

    settlements: list[SettlementW]
    cursor: str | None = None


class BalanceW(Wire):
    """``GET /portfolio/balance``: ``balance`` and ``portfolio_value`` are integer cents."""

    balance: int
    balance_dollars: Dollars | None = None
    portfolio_value: int | None = None
    updated_ts: int | None = None


# --- V2 order mutations ----------------------------------------------------------------------


class CreateOrderV2ResponseW(Wire):
    """``POST /portfolio/events/orders`` (201)."""

    order_id: str
    client_order_id: str | None = None
    fill_count: Count
    remaining_count: Count
    average_fill_price: Dollars | None = None
    average_fee_paid: Dollars | None = None
    ts_ms: int


class CancelOrderV2ResponseW(Wire):
    """``DELETE /portfolio/events/orders/{id}``."""

    order_id: str
    client_order_id: str | None = None
    reduced_by: Count
    ts_ms: int


class AmendOrderV2ResponseW(Wire):
    """``POST /portfolio/events/orders/{id}/amend``."""

    order_id: str
    client_order_id: str | None = None
    remaining_count: Count | None = None
    fill_count: Count | None = None
    average_fill_price: Dollars | None = None
    average_fee_paid: Dollars | None = None
    ts_ms: int


class DecreaseOrderV2ResponseW(Wire):
    """``POST /portfolio/events/orders/{id}/decrease``."""

    order_id: str
    client_order_id: str | None = None
    remaining_count: Count
    ts_ms: int


class BatchCreateItemW(Wire):
    """One entry of a batch create response (an order or an error)."""

    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: Count | None = None
    remaining_count: Count | None = None
    average_fill_price: Dollars | None = None
    average_fee_paid: Dollars | None = None
    ts_ms: int | None = None
    error: ErrorBody | None = None

    @model_validator(mode="after")
    def _order_or_error(self) -> BatchCreateItemW:
        if self.error is None and (
            not self.order_id or self.fill_count is None or self.remaining_count is None
        ):
            raise ValueError("a batch item needs order_id and counts, or an error")
        return self


class BatchCreateResponseW(Wire):
    """``POST /portfolio/events/orders/batched``."""

    orders: list[BatchCreateItemW]


class BatchCancelItemW(Wire):
    """One entry of a batch cancel response."""

    order_id: str
    client_order_id: str | None = None
    reduced_by: Count
    ts_ms: int | None = None
    error: ErrorBody | None = None


class BatchCancelResponseW(Wire):
    """``DELETE /portfolio/events/orders/batched``."""

    orders: list[BatchCancelItemW]


class OrderGroupW(Wire):
    """An order group."""

    id: str
    contracts_limit_fp: Count | None = None
    is_auto_cancel_enabled: bool = False


class OrderGroupsW(Wire):
    """``GET /portfolio/order_groups``."""

    order_groups: list[OrderGroupW] | None = None


class CreateOrderGroupResponseW(Wire):
    """``POST /portfolio/order_groups/create``."""

    order_group_id: str


# --- WebSocket ---------------------------------------------------------------------------------


class WsOrderbookSnapshot(Wire):
    """``orderbook_snapshot`` msg (NO side on the NO leg unless ``use_yes_price``)."""

    market_ticker: str
    market_id: str | None = None
    yes_dollars_fp: list[Level] | None = None
    no_dollars_fp: list[Level] | None = None


class WsOrderbookDelta(Wire):
    """``orderbook_delta`` msg."""

    market_ticker: str
    market_id: str | None = None
    price_dollars: Dollars
    delta_fp: Count
    side: str
    client_order_id: str | None = None
    ts_ms: int | None = None


class WsTicker(Wire):
    """``ticker`` msg."""

    market_ticker: str
    price_dollars: Dollars | None = None
    yes_bid_dollars: Dollars | None = None
    yes_ask_dollars: Dollars | None = None
    yes_bid_size_fp: Count | None = None
    yes_ask_size_fp: Count | None = None
    volume_fp: Count | None = None
    open_interest_fp: Count | None = None
    ts_ms: int | None = None


class WsTrade(Wire):
    """``trade`` msg."""

    trade_id: str
    market_ticker: str
    yes_price_dollars: Dollars
    count_fp: Count
    taker_outcome_side: str | None = None
    taker_side: str | None = None
    is_block_trade: bool = False
    ts_ms: int | None = None
    ts: int | None = None


class WsFill(Wire):
    """``fill`` msg (private)."""

    trade_id: str
    order_id: str
    market_ticker: str
    is_taker: bool
    side: str | None = None
    action: str | None = None
    outcome_side: str | None = None
    book_side: str | None = None
    yes_price_dollars: Dollars
    count_fp: Count
    fee_cost: Dollars
    client_order_id: str | None = None
    post_position_fp: Count | None = None
    ts_ms: int | None = None
    ts: int | None = None


class WsUserOrder(Wire):
    """``user_order`` msg (private)."""

    order_id: str
    client_order_id: str | None = ""
    ticker: str
    status: str
    side: str | None = None
    action: str | None = None
    outcome_side: str | None = None
    book_side: str | None = None
    yes_price_dollars: Dollars
    fill_count_fp: Count
    remaining_count_fp: Count
    initial_count_fp: Count
    taker_fees_dollars: Dollars | None = None
    maker_fees_dollars: Dollars | None = None
    created_time: datetime | None = None
    last_update_time: datetime | None = None
    order_group_id: str | None = None


class WsMarketPosition(Wire):
    """``market_position`` msg (private)."""

    market_ticker: str
    position_fp: Count
    position_cost_dollars: Dollars
    realized_pnl_dollars: Dollars
    fees_paid_dollars: Dollars
    volume_fp: Count | None = None
