"""Order intents and the market opportunities the risk engine sizes.

These are the risk engine's own inputs, independent of the venue client's report types.
Prices are Decimal dollars of the side named (a NO price is the price of the NO contract),
counts are Decimal contracts (whole numbers, or hundredths for Kalshi ``_fp`` counts).

Position semantics follow Kalshi's ``position_fp``: a position is a signed number of YES
contracts; holding NO contracts is a negative position. Buying YES or selling NO adds to it,
buying NO or selling YES takes from it (:func:`yes_delta`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from milkbot.domain.fees import FeeModel
from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import Action as Action
from milkbot.errors import DataError

Side = OutcomeSide  # the contract an intent trades (Kalshi ``outcome_side``)

ONE = Decimal(1)
ZERO = Decimal(0)


def yes_delta(side: Side, action: Action, count: Decimal) -> Decimal:
    """Change of the signed YES position that trading ``count`` contracts causes."""
    sign = 1 if (side is Side.YES) == (action is Action.BUY) else -1
    return count * sign


def yes_price_of(side: Side, price: Decimal) -> Decimal:
    """The YES-equivalent price of a price quoted for ``side``."""
    return price if side is Side.YES else ONE - price


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A limit order a strategy wants to place; the risk engine's input.

    Parameters
    ----------
    intent_id : str
        Deterministic id of the intent (links the audit records).
    market_ticker, event_ticker, city : str
        The market, its event (a city-day) and the city code of the station registry.
    side, action : Side, Action
        Buy or sell YES or NO contracts.
    count : Decimal
        Contracts requested (positive).
    limit_price : Decimal
        Limit price in dollars of ``side`` (0 < price < 1).
    fee_model : FeeModel
        The series' fee schedule; the risk engine charges the taker fee (worst case).
    close_time : datetime
        When the market closes; orders at or after it are denied.
    model_probability : float | None
        The strategy's probability that ``side`` wins, when the order is edge-driven.
    quote_time, forecast_time : datetime | None
        When the book and the forecast behind the intent were observed (staleness).
    """

    intent_id: str
    market_ticker: str
    event_ticker: str
    city: str
    side: Side
    action: Action
    count: Decimal
    limit_price: Decimal
    fee_model: FeeModel
    close_time: datetime
    model_probability: float | None = None
    quote_time: datetime | None = None
    forecast_time: datetime | None = None

    @property
    def yes_delta(self) -> Decimal:
        """Signed change of the YES position if the order fills completely."""
        return yes_delta(self.side, self.action, self.count)

    @property
    def yes_price(self) -> Decimal:
        """The limit price expressed as a YES price."""
        return yes_price_of(self.side, self.limit_price)


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """A request to cancel a resting order. Cancels always pass the risk engine."""

    order_id: str
    market_ticker: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BracketOpportunity:
    """One bracket market of an event, with the model's view and the top of the book.

    Parameters
    ----------
    market_ticker, event_ticker, city : str
        Identifiers; ``city`` is the station registry's city code.
    bracket_index : int
        Position of the bracket in its event (0 = lowest).
    probability : float
        Model probability that the bracket resolves YES.
    probability_sd : float
        Standard deviation of that probability estimate (its uncertainty), >= 0.
    yes_bid, yes_ask : Decimal | None
        Best YES bid and ask in dollars (None when that side of the book is empty).
        The best NO ask is ``1 - yes_bid``.
    yes_bid_size, yes_ask_size : Decimal
        Contracts available at the best bid and ask.
    fee_model : FeeModel
        The series fee schedule.
    close_time : datetime
        Market close.
    quote_time, forecast_time : datetime | None
        When the book and the forecast were observed.
    """

    market_ticker: str
    event_ticker: str
    city: str
    bracket_index: int
    probability: float
    probability_sd: float
    yes_bid: Decimal | None
    yes_ask: Decimal | None
    yes_bid_size: Decimal
    yes_ask_size: Decimal
    fee_model: FeeModel
    close_time: datetime
    quote_time: datetime | None = None
    forecast_time: datetime | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise DataError(f"probability {self.probability} outside [0, 1]")
        if self.probability_sd < 0:
            raise DataError("negative probability_sd")
        for price in (self.yes_bid, self.yes_ask):
            if price is not None and not ZERO < price < ONE:
                raise DataError(f"price {price} outside (0, 1) dollars")
        if self.yes_bid_size < 0 or self.yes_ask_size < 0:
            raise DataError("negative book size")

    @property
    def no_ask(self) -> Decimal | None:
        """Best NO ask in dollars (1 - best YES bid)."""
        return None if self.yes_bid is None else ONE - self.yes_bid

    @property
    def mid(self) -> float | None:
        """Mid price as a float probability, or the one side present, or None."""
        if self.yes_bid is not None and self.yes_ask is not None:
            return float((self.yes_bid + self.yes_ask) / 2)
        if self.yes_ask is not None:
            return float(self.yes_ask)
        if self.yes_bid is not None:
            return float(self.yes_bid)
        return None


@dataclass(frozen=True, slots=True)
class EventOpportunity:
    """All bracket markets of one event (city-day): mutually exclusive outcomes.

    ``exhaustive`` says the brackets cover every outcome (a partition); then exactly one
    resolves YES.
    """

    event_ticker: str
    city: str
    brackets: tuple[BracketOpportunity, ...]
    exhaustive: bool = True

    def __post_init__(self) -> None:
        tickers = [b.market_ticker for b in self.brackets]
        if len(set(tickers)) != len(tickers):
            raise DataError(f"duplicate market in event {self.event_ticker}")
        for b in self.brackets:
            if b.event_ticker != self.event_ticker or b.city != self.city:
                raise DataError(f"{b.market_ticker} does not belong to {self.event_ticker}")
