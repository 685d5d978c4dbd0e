"""Render engine state as Kalshi wire JSON (spec 3.28 shapes, fixed-point strings).

Prices are ``*_dollars`` strings with 4 decimals, counts ``*_fp`` strings with 2, fee and
cost amounts of fills and settlements 6 decimals, as in the real captures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from milkbot.domain.market import BookSide
from milkbot.domain.stations import by_city
from milkbot.errors import ConfigError
from milkbot.venues.exchange.matching import (
    ONE,
    ZERO,
    BookChange,
    Fill,
    Market,
    MarketStatus,
    Order,
    Position,
    Settlement,
    Trade,
)
from milkbot.venues.exchange.replay import MarketInfo

Json = dict[str, Any]


def dollars(value: Decimal, places: int = 4) -> str:
    """Format a dollar amount as a fixed-point string (``"0.4200"``)."""
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def fp(value: Decimal) -> str:
    """Format a contract count as a fixed-point string (``"13.00"``)."""
    return f"{value.quantize(Decimal('0.01')):f}"


def cents(value: Decimal) -> int:
    """Whole cents of a dollar amount, rounded down."""
    return int((value * 100).to_integral_value(rounding=ROUND_FLOOR))


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` suffix."""
    text = ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def ms(ts: datetime) -> int:
    """Unix epoch milliseconds."""
    return int(ts.timestamp() * 1000)


def outcome(side: BookSide) -> str:
    """The outcome side bought by a book side: bid buys YES, ask buys NO."""
    return "yes" if side is BookSide.BID else "no"


def _strike_phrase(info: MarketInfo) -> tuple[str, str]:
    """Return (subtitle, rules condition) for the market's bracket."""
    floor = None if info.floor_strike is None else int(info.floor_strike)
    cap = None if info.cap_strike is None else int(info.cap_strike)
    if info.strike_type == "greater" and floor is not None:
        return f"{floor + 1}° or above", f"greater than {floor}°"
    if info.strike_type == "less" and cap is not None:
        return f"{cap - 1}° or below", f"less than {cap}°"
    if floor is not None and cap is not None:
        return f"{floor}° to {cap}°", f"between {floor}-{cap}°"
    return "", ""


def _site(info: MarketInfo) -> tuple[str, str]:
    try:
        station = by_city(info.city)
    except ConfigError:
        return info.city, info.city
    return station.site, station.name


def market_status(market: Market) -> str:
    """Kalshi's market status for the engine status."""
    return market.status.value


def market_json(
    info: MarketInfo, market: Market, now: datetime, open_interest: Decimal = ZERO
) -> Json:
    """The ``Market`` object of ``GET /markets``."""
    subtitle, condition = _strike_phrase(info)
    site, city_name = _site(info)
    day = info.event_date
    day_long = f"{day:%B} {day.day}, {day.year}" if day else ""
    day_short = f"{day:%b} {day.day}, {day.year}" if day else ""
    bid = market.best(BookSide.BID)
    ask = market.best(BookSide.ASK)
    yes_bid = bid[0] if bid else ZERO
    yes_ask = ask[0] if ask else ONE
    close = info.close_time
    opened = info.open_time or now
    out: Json = {
        "ticker": info.ticker,
        "event_ticker": info.event_ticker,
        "market_type": "binary",
        "title": f"Will the **high temp in {city_name}** be {condition} on {day_short}?",
        "subtitle": subtitle,
        "yes_sub_title": subtitle,
        "no_sub_title": subtitle,
        "created_time": iso(opened),
        "updated_time": iso(now),
        "open_time": iso(opened),
        "close_time": iso(close) if close else None,
        "expected_expiration_time": iso(close) if close else None,
        "expiration_time": iso(close) if close else None,
        "latest_expiration_time": iso(close) if close else None,
        "occurrence_datetime": iso(close) if close else None,
        "settlement_timer_seconds": 3600,
        "status": market_status(market),
        "result": market.result if market.status is MarketStatus.FINALIZED else "",
        "expiration_value": (
            f"{info.expiration_value:.2f}"
            if market.status is MarketStatus.FINALIZED and info.expiration_value is not None
            else ""
        ),
        "can_close_early": True,
        "strike_type": info.strike_type,
        "yes_bid_dollars": dollars(yes_bid),
        "yes_ask_dollars": dollars(yes_ask),
        "no_bid_dollars": dollars(ONE - yes_ask),
        "no_ask_dollars": dollars(ONE - yes_bid),
        "yes_bid_size_fp": fp(bid[1] if bid else ZERO),
        "yes_ask_size_fp": fp(ask[1] if ask else ZERO),
        "last_price_dollars": dollars(market.last_price or ZERO),
        "previous_yes_bid_dollars": "0.0000",
        "previous_yes_ask_dollars": "0.0000",
        "previous_price_dollars": "0.0000",
        "volume_fp": fp(market.volume),
        "volume_24h_fp": fp(market.volume),
        "open_interest_fp": fp(open_interest),
        "notional_value_dollars": "1.0000",
        "liquidity_dollars": "0.0000",
        "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
        "rules_primary": (
            f"If the highest temperature recorded in {site} for {day_long} as reported by the "
            f"National Weather Service's Climatological Report (Daily), is {condition}, then "
            "the market resolves to Yes."
        ),
        "rules_secondary": "",
        "exchange_index": 0,
    }
    if info.floor_strike is not None:
        out["floor_strike"] = int(info.floor_strike)
    if info.cap_strike is not None:
        out["cap_strike"] = int(info.cap_strike)
    return out


def event_json(infos: list[MarketInfo], markets: list[Json] | None) -> Json:
    """The ``Event`` object of ``GET /events``; ``markets`` nested when given."""
    first = infos[0]
    _, city_name = _site(first)
    day = first.event_date
    out: Json = {
        "event_ticker": first.event_ticker,
        "series_ticker": first.series_ticker,
        "title": f"Highest temperature in {city_name} on {day:%b} {day.day}, {day.year}?"
        if day
        else first.event_ticker,
        "sub_title": f"On {day:%b} {day.day}, {day.year}" if day else "",
        "category": "Climate and Weather",
        "mutually_exclusive": True,
        "collateral_return_type": "",
        "strike_date": iso(first.close_time) if first.close_time else None,
        "strike_period": "",
        "available_on_brokers": False,
        "settlement_sources": [settlement_source(first.city)],
        "exchange_index": 0,
    }
    if markets is not None:
        out["markets"] = markets
    return out


def settlement_source(city: str) -> Json:
    """The NWS Daily Climate Report of the city's settlement station."""
    try:
        station = by_city(city)
    except ConfigError:
        return {"name": "National Weather Service", "url": ""}
    return {
        "name": "National Weather Service",
        "url": f"https://forecast.weather.gov/product.php?site={station.wfo}"
        f"&product=CLI&issuedby={station.cli_product[3:]}",
    }


def series_json(ticker: str, city: str) -> Json:
    """The ``Series`` object; weather series are quadratic fees, multiplier 1."""
    try:
        title = f"Highest temperature in {by_city(city).name}"
    except ConfigError:
        title = f"Highest temperature ({city})"
    return {
        "ticker": ticker,
        "title": title,
        "frequency": "daily",
        "category": "Climate and Weather",
        "tags": ["Daily temperature"],
        "settlement_sources": [settlement_source(city)],
        "contract_url": "",
        "contract_terms_url": "",
        "fee_type": "quadratic",
        "fee_multiplier": 1,
        "additional_prohibitions": [],
        "product_metadata": None,
    }


def orderbook_json(market: Market, depth: int = 0) -> Json:
    """``GET /markets/{t}/orderbook``: YES and NO bids ascending, best last."""
    yes = [[dollars(p), fp(q)] for p, q in market.depth(BookSide.BID)]
    no = [[dollars(ONE - p), fp(q)] for p, q in reversed(market.depth(BookSide.ASK))]
    if depth > 0:
        yes, no = yes[-depth:], no[-depth:]
    return {"orderbook_fp": {"yes_dollars": yes, "no_dollars": no}}


def trade_json(trade: Trade) -> Json:
    """A public trade of ``GET /markets/trades``."""
    return {
        "trade_id": trade.trade_id,
        "ticker": trade.ticker,
        "count_fp": fp(trade.count),
        "yes_price_dollars": dollars(trade.yes_price),
        "no_price_dollars": dollars(ONE - trade.yes_price),
        "taker_side": outcome(trade.taker_side),
        "taker_outcome_side": outcome(trade.taker_side),
        "taker_book_side": trade.taker_side.value,
        "created_time": iso(trade.ts),
        "is_block_trade": False,
    }


def order_json(order: Order) -> Json:
    """The ``Order`` object of ``GET /portfolio/orders``."""
    return {
        "order_id": order.order_id,
        "user_id": order.user_id,
        "client_order_id": order.client_order_id,
        "ticker": order.ticker,
        "side": outcome(order.side),
        "action": "buy",
        "outcome_side": outcome(order.side),
        "book_side": order.side.value,
        "type": "limit",
        "status": order.status.value,
        "yes_price_dollars": dollars(order.price),
        "no_price_dollars": dollars(ONE - order.price),
        "fill_count_fp": fp(order.fill_count),
        "remaining_count_fp": fp(order.remaining_count),
        "initial_count_fp": fp(order.initial_count),
        "taker_fill_cost_dollars": dollars(order.taker_fill_cost, 6),
        "maker_fill_cost_dollars": dollars(order.maker_fill_cost, 6),
        "taker_fees_dollars": dollars(order.taker_fees, 6),
        "maker_fees_dollars": dollars(order.maker_fees, 6),
        "expiration_time": iso(order.expiration_time) if order.expiration_time else None,
        "created_time": iso(order.created_time),
        "last_update_time": iso(order.last_update_time),
        "self_trade_prevention_type": order.self_trade_prevention.value,
        "order_group_id": order.order_group_id,
        "cancel_order_on_pause": False,
        "subaccount_number": 0,
        "exchange_index": 0,
    }


def user_order_msg(order: Order) -> Json:
    """The ``user_order`` WebSocket message body."""
    body = order_json(order)
    body["is_yes"] = order.side is BookSide.BID
    body["created_ts_ms"] = ms(order.created_time)
    body["last_updated_ts_ms"] = ms(order.last_update_time)
    if order.expiration_time:
        body["expiration_ts_ms"] = ms(order.expiration_time)
    for key in ("type", "action", "cancel_order_on_pause", "exchange_index"):
        body.pop(key)
    return {k: v for k, v in body.items() if v is not None}


def fill_json(fill: Fill) -> Json:
    """A fill of ``GET /portfolio/fills``."""
    return {
        "fill_id": fill.fill_id,
        "exchange_index": 0,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "ticker": fill.ticker,
        "market_ticker": fill.ticker,
        "side": outcome(fill.side),
        "action": "buy",
        "outcome_side": outcome(fill.side),
        "book_side": fill.side.value,
        "count_fp": fp(fill.count),
        "yes_price_dollars": dollars(fill.yes_price),
        "no_price_dollars": dollars(ONE - fill.yes_price),
        "is_taker": fill.is_taker,
        "fee_cost": dollars(fill.fee, 6),
        "created_time": iso(fill.ts),
        "ts": int(fill.ts.timestamp()),
        "subaccount_number": 0,
    }


def fill_msg(fill: Fill) -> Json:
    """The ``fill`` WebSocket message body."""
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "market_ticker": fill.ticker,
        "exchange_index": 0,
        "is_taker": fill.is_taker,
        "side": outcome(fill.side),
        "action": "buy",
        "purchased_side": outcome(fill.side),
        "outcome_side": outcome(fill.side),
        "book_side": fill.side.value,
        "yes_price_dollars": dollars(fill.yes_price),
        "count_fp": fp(fill.count),
        "fee_cost": dollars(fill.fee, 6),
        "post_position_fp": fp(fill.post_position),
        "ts": int(fill.ts.timestamp()),
        "ts_ms": ms(fill.ts),
        "subaccount": 0,
    }


def position_json(ticker: str, pos: Position) -> Json:
    """A ``market_positions[]`` entry."""
    return {
        "ticker": ticker,
        "exchange_index": 0,
        "position_fp": fp(pos.net),
        "total_traded_dollars": dollars(pos.total_traded),
        "market_exposure_dollars": dollars(pos.exposure),
        "realized_pnl_dollars": dollars(pos.realized_pnl),
        "fees_paid_dollars": dollars(pos.fees_paid),
        "last_updated_ts": iso(pos.last_updated) if pos.last_updated else None,
    }


def position_msg(user_id: str, ticker: str, pos: Position) -> Json:
    """The ``market_position`` WebSocket message body."""
    return {
        "user_id": user_id,
        "market_ticker": ticker,
        "position_fp": fp(pos.net),
        "position_cost_dollars": dollars(pos.exposure),
        "realized_pnl_dollars": dollars(pos.realized_pnl),
        "fees_paid_dollars": dollars(pos.fees_paid),
        "position_fee_cost_dollars": dollars(pos.fees_paid),
        "volume_fp": fp(pos.volume),
        "subaccount": 0,
    }


def settlement_json(s: Settlement) -> Json:
    """A ``settlements[]`` entry (``revenue`` and ``value`` in integer cents, as captured)."""
    return {
        "ticker": s.ticker,
        "event_ticker": s.event_ticker,
        "exchange_index": 0,
        "market_result": s.market_result,
        "yes_count_fp": fp(s.yes_count),
        "no_count_fp": fp(s.no_count),
        "yes_total_cost_dollars": dollars(s.yes_total_cost, 6),
        "no_total_cost_dollars": dollars(s.no_total_cost, 6),
        "revenue": cents(s.revenue),
        "value": 100 if s.market_result == "yes" else 0,
        "fee_cost": dollars(s.fee_cost, 6),
        "settled_time": iso(s.settled_time),
    }


def book_delta_msg(change: BookChange, market_id: str, use_yes_price: bool) -> Json:
    """The ``orderbook_delta`` message body (NO levels on the NO leg unless asked)."""
    price = change.yes_price if use_yes_price else change.leg_price
    return {
        "market_ticker": change.ticker,
        "market_id": market_id,
        "price_dollars": dollars(price),
        "delta_fp": fp(change.delta),
        "side": change.side,
        "ts": iso(change.ts),
        "ts_ms": ms(change.ts),
    }


def snapshot_msg(market: Market, market_id: str, use_yes_price: bool) -> Json:
    """The ``orderbook_snapshot`` message body; empty sides are omitted, as specified."""
    body: Json = {"market_ticker": market.ticker, "market_id": market_id}
    yes = [[dollars(p), fp(q)] for p, q in market.depth(BookSide.BID)]
    asks = market.depth(BookSide.ASK)
    if use_yes_price:
        no = [[dollars(p), fp(q)] for p, q in asks]
    else:
        no = [[dollars(ONE - p), fp(q)] for p, q in reversed(asks)]
    if yes:
        body["yes_dollars_fp"] = yes
    if no:
        body["no_dollars_fp"] = no
    return body


def ticker_msg(market: Market, market_id: str, now: datetime) -> Json:
    """The ``ticker`` message body."""
    bid = market.best(BookSide.BID)
    ask = market.best(BookSide.ASK)
    last = market.trades[-1] if market.trades else None
    return {
        "market_ticker": market.ticker,
        "market_id": market_id,
        "price_dollars": dollars(market.last_price or ZERO),
        "yes_bid_dollars": dollars(bid[0] if bid else ZERO),
        "yes_ask_dollars": dollars(ask[0] if ask else ONE),
        "yes_bid_size_fp": fp(bid[1] if bid else ZERO),
        "yes_ask_size_fp": fp(ask[1] if ask else ZERO),
        "last_trade_size_fp": fp(last.count if last else ZERO),
        "volume_fp": fp(market.volume),
        "open_interest_fp": fp(ZERO),
        "dollar_volume": 0,
        "dollar_open_interest": 0,
        "ts": int(now.timestamp()),
        "ts_ms": ms(now),
        "time": iso(now),
    }


def trade_msg(trade: Trade) -> Json:
    """The ``trade`` message body."""
    body = trade_json(trade)
    body["market_ticker"] = body.pop("ticker")
    body["ts"] = int(trade.ts.timestamp())
    body["ts_ms"] = ms(trade.ts)
    body.pop("created_time")
    return body
