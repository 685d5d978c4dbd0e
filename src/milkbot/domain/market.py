"""Venue-neutral market data: series, events, markets, order books and public trades.

Prices are Decimal dollars in [0, 1] quoted on the YES leg unless a name says otherwise;
contract counts are Decimal (Kalshi trades in 0.01-contract steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from milkbot.domain.brackets import Bracket
from milkbot.domain.fees import FeeModel

ONE = Decimal(1)
ZERO = Decimal(0)

#: Market ``status`` values under which orders are accepted.
TRADABLE_STATUSES = frozenset({"active", "open"})
#: Statuses after which the market can no longer trade.
FINISHED_STATUSES = frozenset(
    {"closed", "determined", "disputed", "amended", "finalized", "settled"}
)


class OutcomeSide(StrEnum):
    """The contract a position or order is about."""

    YES = "yes"
    NO = "no"

    @property
    def other(self) -> OutcomeSide:
        """The opposite contract."""
        return OutcomeSide.NO if self is OutcomeSide.YES else OutcomeSide.YES


class BookSide(StrEnum):
    """Side of the single YES book: ``bid`` buys YES, ``ask`` sells YES (= buys NO)."""

    BID = "bid"
    ASK = "ask"


def complement(price: Decimal) -> Decimal:
    """Price of the other leg: a NO price from a YES price and back (1 - p)."""
    return ONE - price


@dataclass(frozen=True, slots=True)
class PriceRange:
    """One segment of a market's valid limit-price grid."""

    start: Decimal
    end: Decimal
    step: Decimal

    def contains(self, price: Decimal) -> bool:
        """Return whether ``price`` lies on this segment's grid."""
        if not self.start <= price <= self.end:
            return False
        return (price - self.start) % self.step == 0


@dataclass(frozen=True, slots=True)
class Series:
    """A Kalshi series: the recurring contract (one per city for daily highs)."""

    ticker: str
    title: str
    category: str
    frequency: str
    tags: tuple[str, ...]
    fee_model: FeeModel
    settlement_sources: tuple[tuple[str, str], ...] = ()
    contract_terms_url: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """A Kalshi event: one climate day of one series, holding mutually exclusive markets."""

    event_ticker: str
    series_ticker: str
    title: str
    sub_title: str
    mutually_exclusive: bool
    strike_date: datetime | None = None
    markets: tuple[Market, ...] = ()


@dataclass(frozen=True, slots=True)
class Market:
    """One binary market with its strike, times, rules and quote summary."""

    ticker: str
    event_ticker: str
    status: str
    strike_type: str | None
    floor_strike: Decimal | None
    cap_strike: Decimal | None
    bracket: Bracket | None
    title: str
    yes_sub_title: str
    open_time: datetime | None
    close_time: datetime | None
    expected_expiration_time: datetime | None
    rules_primary: str
    rules_secondary: str
    yes_bid: Decimal | None
    yes_ask: Decimal | None
    no_bid: Decimal | None
    no_ask: Decimal | None
    yes_bid_size: Decimal | None
    yes_ask_size: Decimal | None
    last_price: Decimal | None
    volume: Decimal | None
    volume_24h: Decimal | None
    open_interest: Decimal | None
    result: str = ""
    expiration_value: str = ""
    settlement_value: Decimal | None = None
    settlement_ts: datetime | None = None
    price_ranges: tuple[PriceRange, ...] = ()
    exchange_index: int | None = None

    @property
    def is_tradable(self) -> bool:
        """Whether the market status accepts orders."""
        return self.status in TRADABLE_STATUSES

    def is_valid_price(self, price: Decimal) -> bool:
        """Whether a YES limit price lies on the market's grid (1-cent grid if unknown)."""
        if not self.price_ranges:
            return ZERO < price < ONE and price % Decimal("0.01") == 0
        return any(r.contains(price) for r in self.price_ranges)


@dataclass(frozen=True, slots=True)
class PriceLevel:
    """One price level of a book side."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class OrderBookSnapshot:
    """Resting bids of both legs, each in its own leg's price, ascending (best = last).

    Kalshi's book holds only bids: a YES ask at p is a NO bid at 1 - p.
    """

    ticker: str
    yes_bids: tuple[PriceLevel, ...]
    no_bids: tuple[PriceLevel, ...]
    ts: datetime | None = None

    @property
    def best_yes_bid(self) -> PriceLevel | None:
        """Highest YES bid."""
        return self.yes_bids[-1] if self.yes_bids else None

    @property
    def best_no_bid(self) -> PriceLevel | None:
        """Highest NO bid (NO-leg price)."""
        return self.no_bids[-1] if self.no_bids else None

    @property
    def best_yes_ask(self) -> PriceLevel | None:
        """Lowest YES ask, derived from the best NO bid: 1 - best NO bid."""
        nb = self.best_no_bid
        return None if nb is None else PriceLevel(complement(nb.price), nb.size)

    @property
    def best_no_ask(self) -> PriceLevel | None:
        """Lowest NO ask (NO-leg price): 1 - best YES bid."""
        yb = self.best_yes_bid
        return None if yb is None else PriceLevel(complement(yb.price), yb.size)

    def yes_asks(self) -> tuple[PriceLevel, ...]:
        """YES asks in YES price, ascending (best = first)."""
        return tuple(PriceLevel(complement(lv.price), lv.size) for lv in reversed(self.no_bids))

    @property
    def mid(self) -> Decimal | None:
        """YES mid price, when both sides are present."""
        bid, ask = self.best_yes_bid, self.best_yes_ask
        if bid is None or ask is None:
            return None
        return (bid.price + ask.price) / 2


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade: price on the YES leg, taker's outcome side."""

    trade_id: str
    ticker: str
    yes_price: Decimal
    count: Decimal
    taker_side: OutcomeSide
    created_time: datetime
    is_block_trade: bool = False

    @property
    def no_price(self) -> Decimal:
        """The same trade's NO-leg price."""
        return complement(self.yes_price)


@dataclass(frozen=True, slots=True)
class Candlestick:
    """One candlestick of a market (YES-leg prices; None where no trade happened)."""

    end_period_ts: datetime
    yes_bid_close: Decimal | None
    yes_ask_close: Decimal | None
    price_close: Decimal | None
    volume: Decimal
    open_interest: Decimal


@dataclass(frozen=True, slots=True)
class ExchangeStatus:
    """Whether the exchange and trading are up."""

    exchange_active: bool
    trading_active: bool
    estimated_resume_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class TradingWindow:
    """One daily open window of the exchange schedule (``HH:MM`` ET strings as published)."""

    weekday: str
    open_time: str
    close_time: str


@dataclass(frozen=True, slots=True)
class ExchangeSchedule:
    """Weekly trading hours and announced maintenance windows."""

    windows: tuple[TradingWindow, ...]
    maintenance_windows: tuple[tuple[datetime, datetime], ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class HistoricalCutoff:
    """Boundaries after which data lives under the live endpoints, not ``/historical``."""

    market_settled_ts: datetime
    trades_created_ts: datetime
    orders_updated_ts: datetime


def sorted_levels(levels: Sequence[PriceLevel]) -> tuple[PriceLevel, ...]:
    """Levels sorted ascending by price with empty levels dropped."""
    return tuple(sorted((lv for lv in levels if lv.size > 0), key=lambda lv: lv.price))
