"""Translate Kalshi wire payloads into domain values, at the edge.

Every function takes decoded JSON (``dict``) and returns domain types, raising
:class:`~milkbot.errors.ParseError` when the payload does not have the current (fixed-point)
shape. Values are never guessed: a pre-migration payload with only integer cents is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from milkbot.domain.brackets import Bracket
from milkbot.domain.fees import FeeModel
from milkbot.domain.market import (
    Candlestick,
    Event,
    ExchangeSchedule,
    ExchangeStatus,
    HistoricalCutoff,
    Market,
    OrderBookSnapshot,
    OutcomeSide,
    PriceLevel,
    PriceRange,
    Series,
    Trade,
    TradingWindow,
    complement,
    sorted_levels,
)
from milkbot.domain.portfolio import (
    Action,
    Balance,
    FillReport,
    OrderAck,
    OrderGroupReport,
    OrderReport,
    PositionReport,
    SettlementReport,
    VenueOrderStatus,
)
from milkbot.errors import DataError, ParseError
from milkbot.venues.kalshi import schemas as w

M = TypeVar("M", bound=BaseModel)
CENTS = Decimal(100)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def validate(model: type[M], payload: Any) -> M:
    """Validate a decoded payload against a wire model, mapping errors to ParseError."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ParseError(f"{model.__name__}: {exc.error_count()} error(s): {exc}") from None


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime from Unix milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def from_s(s: int) -> datetime:
    """Aware UTC datetime from Unix seconds."""
    return datetime.fromtimestamp(s, UTC)


def _levels(raw: Iterable[tuple[Decimal, Decimal]] | None) -> tuple[PriceLevel, ...]:
    return sorted_levels([PriceLevel(p, q) for p, q in (raw or ())])


def side_action(
    side: str | None, action: str | None, outcome_side: str | None, book_side: str | None
) -> tuple[OutcomeSide, Action]:
    """Contract and action of an order or fill.

    The legacy ``side``/``action`` pair is exact when present. Otherwise the V2 fields only
    carry direction: ``bid``/``yes`` is a YES purchase, ``ask``/``no`` a NO purchase (selling
    YES and buying NO are the same trade on Kalshi's single book).
    """
    try:
        if side and action:
            return OutcomeSide(side), Action(action)
        if outcome_side:
            return OutcomeSide(outcome_side), Action.BUY
        if side:  # the deprecated ``side`` alone is the outcome side
            return OutcomeSide(side), Action.BUY
        if book_side:
            return (OutcomeSide.YES if book_side == "bid" else OutcomeSide.NO), Action.BUY
    except ValueError as exc:
        raise ParseError(f"bad side/action: {exc}") from None
    raise ParseError("order direction missing (no side/action, outcome_side or book_side)")


def _leg_price(side: OutcomeSide, yes_price: Decimal, no_price: Decimal | None) -> Decimal:
    if side is OutcomeSide.YES:
        return yes_price
    return no_price if no_price is not None else complement(yes_price)


# --- exchange ----------------------------------------------------------------------------------


def exchange_status(payload: Any) -> ExchangeStatus:
    """Parse ``GET /exchange/status``."""
    s = validate(w.ExchangeStatusW, payload)
    return ExchangeStatus(s.exchange_active, s.trading_active, s.exchange_estimated_resume_time)


def exchange_schedule(payload: Any, at: datetime | None = None) -> ExchangeSchedule:
    """Parse ``GET /exchange/schedule``; pick the standard hours valid at ``at`` (or the last)."""
    sched = validate(w.ExchangeScheduleW, payload).schedule
    if not sched.standard_hours:
        raise ParseError("exchange schedule has no standard_hours")
    chosen = sched.standard_hours[-1]
    if at is not None:
        for hours in sched.standard_hours:
            if hours.start_time <= at < hours.end_time:
                chosen = hours
    windows = tuple(
        TradingWindow(day, win.open_time, win.close_time)
        for day in _WEEKDAYS
        for win in getattr(chosen, day)
    )
    maint = tuple((m.start_datetime, m.end_datetime) for m in sched.maintenance_windows or ())
    return ExchangeSchedule(windows, maint)


def historical_cutoff(payload: Any) -> HistoricalCutoff:
    """Parse ``GET /historical/cutoff``."""
    c = validate(w.HistoricalCutoffW, payload)
    return HistoricalCutoff(c.market_settled_ts, c.trades_created_ts, c.orders_updated_ts)


# --- market data -------------------------------------------------------------------------------


def series(payload: Any) -> Series:
    """Parse a series object (the inner ``series``)."""
    s = validate(w.SeriesW, payload)
    if s.fee_multiplier is None:
        raise ParseError(f"series {s.ticker} lacks fee_multiplier")
    try:
        fee = FeeModel.from_series(s.fee_type, str(s.fee_multiplier))
    except DataError as exc:
        raise ParseError(f"series {s.ticker}: {exc}") from None
    return Series(
        ticker=s.ticker,
        title=s.title,
        category=s.category,
        frequency=s.frequency,
        tags=tuple(s.tags or ()),
        fee_model=fee,
        settlement_sources=tuple((x.name or "", x.url or "") for x in s.settlement_sources or ()),
        contract_terms_url=s.contract_terms_url,
    )


def _bracket(m: w.MarketW) -> Bracket | None:
    if m.strike_type not in {"between", "greater", "less"}:
        return None
    floor, cap = m.floor_strike, m.cap_strike
    for strike in (floor, cap):
        if strike is not None and strike != strike.to_integral_value():
            return None  # not a whole-degree temperature bracket
    try:
        return Bracket.from_strikes(
            m.strike_type,
            None if floor is None else int(floor),
            None if cap is None else int(cap),
        )
    except DataError:
        return None


def market_from_wire(m: w.MarketW) -> Market:
    """Convert a validated wire market."""
    return Market(
        ticker=m.ticker,
        event_ticker=m.event_ticker,
        status=m.status,
        strike_type=m.strike_type,
        floor_strike=m.floor_strike,
        cap_strike=m.cap_strike,
        bracket=_bracket(m),
        title=m.title,
        yes_sub_title=m.yes_sub_title,
        open_time=m.open_time,
        close_time=m.close_time,
        expected_expiration_time=m.expected_expiration_time,
        rules_primary=m.rules_primary,
        rules_secondary=m.rules_secondary,
        yes_bid=m.yes_bid_dollars,
        yes_ask=m.yes_ask_dollars,
        no_bid=m.no_bid_dollars,
        no_ask=m.no_ask_dollars,
        yes_bid_size=m.yes_bid_size_fp,
        yes_ask_size=m.yes_ask_size_fp,
        last_price=m.last_price_dollars,
        volume=m.volume_fp,
        volume_24h=m.volume_24h_fp,
        open_interest=m.open_interest_fp,
        result=m.result,
        expiration_value=m.expiration_value,
        settlement_value=m.settlement_value_dollars,
        settlement_ts=m.settlement_ts,
        price_ranges=tuple(PriceRange(r.start, r.end, r.step) for r in m.price_ranges or ()),
        exchange_index=m.exchange_index,
    )


def market(payload: Any) -> Market:
    """Parse a market object."""
    return market_from_wire(validate(w.MarketW, payload))


def markets_page(payload: Any) -> tuple[list[Market], str | None]:
    """Parse a ``/markets`` page into markets and the next cursor."""
    page = validate(w.MarketsPage, payload)
    return [market_from_wire(m) for m in page.markets], page.cursor or None


def event_from_wire(e: w.EventW, extra_markets: Iterable[w.MarketW] = ()) -> Event:
    """Convert a validated wire event, with nested or separately returned markets."""
    wire_markets = [*(e.markets or ()), *extra_markets]
    return Event(
        event_ticker=e.event_ticker,
        series_ticker=e.series_ticker,
        title=e.title,
        sub_title=e.sub_title,
        mutually_exclusive=e.mutually_exclusive,
        strike_date=e.strike_date,
        markets=tuple(market_from_wire(m) for m in wire_markets),
    )


def event(payload: Any) -> Event:
    """Parse ``GET /events/{ticker}``."""
    env = validate(w.EventEnvelope, payload)
    return event_from_wire(env.event, env.markets or ())


def events_page(payload: Any) -> tuple[list[Event], str | None]:
    """Parse a ``/events`` page."""
    page = validate(w.EventsPage, payload)
    return [event_from_wire(e) for e in page.events], page.cursor or None


def orderbook(ticker: str, payload: Any) -> OrderBookSnapshot:
    """Parse ``GET /markets/{t}/orderbook``; the envelope must be ``orderbook_fp``."""
    if not isinstance(payload, dict) or "orderbook_fp" not in payload:
        keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise ParseError(f"orderbook response lacks 'orderbook_fp' (got {keys})")
    ob = validate(w.OrderbookEnvelope, payload).orderbook_fp
    return OrderBookSnapshot(ticker, _levels(ob.yes_dollars), _levels(ob.no_dollars))


def trade_from_wire(t: w.TradeW) -> Trade:
    """Convert a validated wire trade."""
    taker = t.taker_outcome_side or t.taker_side
    if taker not in {"yes", "no"}:
        raise ParseError(f"trade {t.trade_id} has no taker side")
    return Trade(
        trade_id=t.trade_id,
        ticker=t.ticker,
        yes_price=t.yes_price_dollars,
        count=t.count_fp,
        taker_side=OutcomeSide(taker),
        created_time=t.created_time,
        is_block_trade=t.is_block_trade,
    )


def trades_page(payload: Any) -> tuple[list[Trade], str | None]:
    """Parse a ``/markets/trades`` page."""
    page = validate(w.TradesPage, payload)
    return [trade_from_wire(t) for t in page.trades], page.cursor or None


def candlesticks(payload: Any) -> list[Candlestick]:
    """Parse a candlesticks response."""
    cs = validate(w.CandlesticksW, payload)
    return [
        Candlestick(
            end_period_ts=from_s(c.end_period_ts),
            yes_bid_close=c.yes_bid.close_dollars,
            yes_ask_close=c.yes_ask.close_dollars,
            price_close=c.price.close_dollars,
            volume=c.volume_fp,
            open_interest=c.open_interest_fp,
        )
        for c in cs.candlesticks
    ]


# --- portfolio ---------------------------------------------------------------------------------


def _status(raw: str) -> VenueOrderStatus:
    try:
        return VenueOrderStatus(raw)
    except ValueError:
        raise ParseError(f"unknown order status {raw!r}") from None


def order_from_wire(o: w.OrderW | w.WsUserOrder) -> OrderReport:
    """Convert a validated wire order (REST or WebSocket ``user_order``)."""
    side, action = side_action(o.side, o.action, o.outcome_side, o.book_side)
    no_price = o.no_price_dollars if isinstance(o, w.OrderW) else None
    return OrderReport(
        order_id=o.order_id,
        client_order_id=o.client_order_id or "",
        ticker=o.ticker,
        side=side,
        action=action,
        price=_leg_price(side, o.yes_price_dollars, no_price),
        count=o.initial_count_fp,
        filled=o.fill_count_fp,
        remaining=o.remaining_count_fp,
        status=_status(o.status),
        created_time=o.created_time,
        last_update_time=o.last_update_time,
        taker_fees=o.taker_fees_dollars or Decimal(0),
        maker_fees=o.maker_fees_dollars or Decimal(0),
        order_group_id=o.order_group_id,
    )


def order(payload: Any) -> OrderReport:
    """Parse an order object."""
    return order_from_wire(validate(w.OrderW, payload))


def orders_page(payload: Any) -> tuple[list[OrderReport], str | None]:
    """Parse a ``/portfolio/orders`` page."""
    page = validate(w.OrdersPage, payload)
    return [order_from_wire(o) for o in page.orders], page.cursor or None


def fill_from_wire(f: w.FillW) -> FillReport:
    """Convert a validated REST fill."""
    side, action = side_action(f.side, f.action, f.outcome_side, f.book_side)
    if f.created_time is not None:
        ts = f.created_time
    elif f.ts is not None:
        ts = from_s(f.ts)
    else:
        raise ParseError(f"fill {f.fill_id} has no time")
    return FillReport(
        fill_id=f.fill_id,
        trade_id=f.trade_id,
        order_id=f.order_id,
        ticker=f.ticker,
        side=side,
        action=action,
        price=_leg_price(side, f.yes_price_dollars, f.no_price_dollars),
        count=f.count_fp,
        is_taker=f.is_taker,
        fee=f.fee_cost,
        ts=ts,
    )


def fills_page(payload: Any) -> tuple[list[FillReport], str | None]:
    """Parse a ``/portfolio/fills`` page."""
    page = validate(w.FillsPage, payload)
    return [fill_from_wire(f) for f in page.fills], page.cursor or None


def ws_fill(payload: Any) -> FillReport:
    """Parse a WebSocket ``fill`` msg (``trade_id`` doubles as the fill id)."""
    f = validate(w.WsFill, payload)
    side, action = side_action(f.side, f.action, f.outcome_side, f.book_side)
    if f.ts_ms is not None:
        ts = from_ms(f.ts_ms)
    elif f.ts is not None:
        ts = from_s(f.ts)
    else:
        raise ParseError(f"fill {f.trade_id} has no time")
    return FillReport(
        fill_id=f.trade_id,
        trade_id=f.trade_id,
        order_id=f.order_id,
        ticker=f.market_ticker,
        side=side,
        action=action,
        price=_leg_price(side, f.yes_price_dollars, None),
        count=f.count_fp,
        is_taker=f.is_taker,
        fee=f.fee_cost,
        ts=ts,
        client_order_id=f.client_order_id,
        post_position=f.post_position_fp,
    )


def ws_user_order(payload: Any) -> OrderReport:
    """Parse a WebSocket ``user_order`` msg."""
    return order_from_wire(validate(w.WsUserOrder, payload))


def ws_market_position(payload: Any) -> PositionReport:
    """Parse a WebSocket ``market_position`` msg."""
    p = validate(w.WsMarketPosition, payload)
    return PositionReport(
        ticker=p.market_ticker,
        position=p.position_fp,
        market_exposure=p.position_cost_dollars,
        realized_pnl=p.realized_pnl_dollars,
        fees_paid=p.fees_paid_dollars,
        total_traded=Decimal(0),
    )


def positions_page(payload: Any) -> tuple[list[PositionReport], str | None]:
    """Parse a ``/portfolio/positions`` page (market positions only)."""
    page = validate(w.PositionsPage, payload)
    out = [
        PositionReport(
            ticker=p.ticker,
            position=p.position_fp,
            market_exposure=p.market_exposure_dollars,
            realized_pnl=p.realized_pnl_dollars,
            fees_paid=p.fees_paid_dollars,
            total_traded=p.total_traded_dollars,
            last_updated=p.last_updated_ts,
        )
        for p in page.market_positions or ()
    ]
    return out, page.cursor or None


def settlements_page(payload: Any) -> tuple[list[SettlementReport], str | None]:
    """Parse a ``/portfolio/settlements`` page (``revenue`` is integer cents)."""
    page = validate(w.SettlementsPage, payload)
    out = [
        SettlementReport(
            ticker=s.ticker,
            event_ticker=s.event_ticker,
            market_result=s.market_result,
            yes_count=s.yes_count_fp,
            no_count=s.no_count_fp,
            yes_total_cost=s.yes_total_cost_dollars,
            no_total_cost=s.no_total_cost_dollars,
            revenue=Decimal(s.revenue) / CENTS,
            fee=s.fee_cost,
            settled_time=s.settled_time,
        )
        for s in page.settlements
    ]
    return out, page.cursor or None


def balance(payload: Any) -> Balance:
    """Parse ``GET /portfolio/balance``; ``balance_dollars`` wins over integer cents."""
    b = validate(w.BalanceW, payload)
    dollars = b.balance_dollars if b.balance_dollars is not None else Decimal(b.balance) / CENTS
    if b.balance_dollars is not None and b.balance_dollars != Decimal(b.balance) / CENTS:
        raise ParseError(f"balance {b.balance} cents disagrees with {b.balance_dollars} dollars")
    pv = None if b.portfolio_value is None else Decimal(b.portfolio_value) / CENTS
    return Balance(dollars, pv, None if b.updated_ts is None else from_s(b.updated_ts))


# --- order mutations ---------------------------------------------------------------------------


def _execution_ack(r: w.CreateOrderV2ResponseW | w.AmendOrderV2ResponseW) -> OrderAck:
    return OrderAck(
        order_id=r.order_id,
        client_order_id=r.client_order_id,
        filled=r.fill_count,
        remaining=r.remaining_count,
        ts=from_ms(r.ts_ms),
        average_fill_price=r.average_fill_price,
        average_fee_paid=r.average_fee_paid,
    )


def create_ack(payload: Any) -> OrderAck:
    """Parse the create-order (V2) response."""
    return _execution_ack(validate(w.CreateOrderV2ResponseW, payload))


def cancel_ack(payload: Any) -> OrderAck:
    """Parse the cancel-order (V2) response."""
    r = validate(w.CancelOrderV2ResponseW, payload)
    return OrderAck(
        order_id=r.order_id,
        client_order_id=r.client_order_id,
        filled=None,
        remaining=Decimal(0),
        ts=from_ms(r.ts_ms),
        reduced_by=r.reduced_by,
    )


def amend_ack(payload: Any) -> OrderAck:
    """Parse the amend-order (V2) response."""
    return _execution_ack(validate(w.AmendOrderV2ResponseW, payload))


def decrease_ack(payload: Any) -> OrderAck:
    """Parse the decrease-order (V2) response."""
    r = validate(w.DecreaseOrderV2ResponseW, payload)
    return OrderAck(
        order_id=r.order_id,
        client_order_id=r.client_order_id,
        filled=None,
        remaining=r.remaining_count,
        ts=from_ms(r.ts_ms),
    )


def batch_create_acks(payload: Any, now: datetime) -> list[OrderAck]:
    """Parse the batch create (V2) response; failed items carry ``error_code``."""
    out: list[OrderAck] = []
    for item in validate(w.BatchCreateResponseW, payload).orders:
        ts = from_ms(item.ts_ms) if item.ts_ms is not None else now
        out.append(
            OrderAck(
                order_id=item.order_id or "",
                client_order_id=item.client_order_id,
                filled=item.fill_count,
                remaining=item.remaining_count,
                ts=ts,
                average_fill_price=item.average_fill_price,
                average_fee_paid=item.average_fee_paid,
                error_code=None if item.error is None else (item.error.code or "error"),
                error_message=None if item.error is None else item.error.message,
            )
        )
    return out


def batch_cancel_acks(payload: Any, now: datetime) -> list[OrderAck]:
    """Parse the batch cancel (V2) response; failed items carry ``error_code``."""
    return [
        OrderAck(
            order_id=item.order_id,
            client_order_id=item.client_order_id,
            filled=None,
            remaining=None,
            ts=from_ms(item.ts_ms) if item.ts_ms is not None else now,
            reduced_by=item.reduced_by,
            error_code=None if item.error is None else (item.error.code or "error"),
            error_message=None if item.error is None else item.error.message,
        )
        for item in validate(w.BatchCancelResponseW, payload).orders
    ]


def order_groups(payload: Any) -> list[OrderGroupReport]:
    """Parse ``GET /portfolio/order_groups``."""
    return [
        OrderGroupReport(g.id, g.contracts_limit_fp, g.is_auto_cancel_enabled)
        for g in validate(w.OrderGroupsW, payload).order_groups or ()
    ]


def order_group(order_group_id: str, payload: Any) -> OrderGroupReport:
    """Parse ``GET /portfolio/order_groups/{id}`` (the response does not repeat the id)."""
    if not isinstance(payload, dict):
        raise ParseError("order group response is not an object")
    g = validate(w.OrderGroupW, {**payload, "id": order_group_id})
    return OrderGroupReport(g.id, g.contracts_limit_fp, g.is_auto_cancel_enabled)
