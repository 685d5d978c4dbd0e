"""Venue reports of our own orders, fills, positions, balance and settlements.

Reconciliation compares these against the local order state. ``side`` is the contract
(yes/no) and ``price`` is that contract's price; ``yes_price`` gives the YES-leg view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from milkbot.domain.market import BookSide, OutcomeSide, complement


class Action(StrEnum):
    """Whether contracts of ``side`` are bought or sold."""

    BUY = "buy"
    SELL = "sell"


class VenueOrderStatus(StrEnum):
    """Kalshi order status."""

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"


class TimeInForce(StrEnum):
    """Kalshi V2 ``time_in_force``."""

    FILL_OR_KILL = "fill_or_kill"
    GOOD_TILL_CANCELED = "good_till_canceled"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"


def to_book(side: OutcomeSide, action: Action, price: Decimal) -> tuple[BookSide, Decimal]:
    """Map (contract, action, contract price) to the V2 YES book side and YES price.

    Buy YES / sell NO are bids; buy NO / sell YES are asks. A NO price q is YES price 1 - q.
    """
    yes_price = price if side is OutcomeSide.YES else complement(price)
    buys_yes = (side is OutcomeSide.YES) == (action is Action.BUY)
    return (BookSide.BID if buys_yes else BookSide.ASK), yes_price


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The venue's view of one order."""

    order_id: str
    client_order_id: str
    ticker: str
    side: OutcomeSide
    action: Action
    price: Decimal
    count: Decimal
    filled: Decimal
    remaining: Decimal
    status: VenueOrderStatus
    created_time: datetime | None = None
    last_update_time: datetime | None = None
    taker_fees: Decimal = Decimal(0)
    maker_fees: Decimal = Decimal(0)
    order_group_id: str | None = None

    @property
    def yes_price(self) -> Decimal:
        """The order's limit price on the YES leg."""
        return self.price if self.side is OutcomeSide.YES else complement(self.price)

    @property
    def book_side(self) -> BookSide:
        """The order's side of the YES book."""
        return to_book(self.side, self.action, self.price)[0]


@dataclass(frozen=True, slots=True)
class FillReport:
    """One execution of one of our orders."""

    fill_id: str
    trade_id: str
    order_id: str
    ticker: str
    side: OutcomeSide
    action: Action
    price: Decimal
    count: Decimal
    is_taker: bool
    fee: Decimal
    ts: datetime
    client_order_id: str | None = None
    post_position: Decimal | None = None

    @property
    def yes_price(self) -> Decimal:
        """The fill price on the YES leg."""
        return self.price if self.side is OutcomeSide.YES else complement(self.price)


@dataclass(frozen=True, slots=True)
class PositionReport:
    """Net position in one market: positive = YES contracts, negative = NO contracts."""

    ticker: str
    position: Decimal
    market_exposure: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    total_traded: Decimal
    last_updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    """Cash balance and portfolio value, in dollars."""

    balance: Decimal
    portfolio_value: Decimal | None
    updated_ts: datetime | None


@dataclass(frozen=True, slots=True)
class SettlementReport:
    """How one market position settled."""

    ticker: str
    event_ticker: str
    market_result: str
    yes_count: Decimal
    no_count: Decimal
    yes_total_cost: Decimal
    no_total_cost: Decimal
    revenue: Decimal
    fee: Decimal
    settled_time: datetime


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The venue's immediate answer to a create, amend, decrease or cancel."""

    order_id: str
    client_order_id: str | None
    filled: Decimal | None
    remaining: Decimal | None
    ts: datetime
    average_fill_price: Decimal | None = None
    average_fee_paid: Decimal | None = None
    reduced_by: Decimal | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """False when this is a per-item error of a batch."""
        return self.error_code is None


@dataclass(frozen=True, slots=True)
class OrderGroupReport:
    """An order group and its rolling contract limit."""

    order_group_id: str
    contracts_limit: Decimal | None
    is_auto_cancel_enabled: bool


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A limit order to place: ``price`` is the price of the ``side`` contract.

    ``client_order_id`` is mandatory: it is the idempotency key reconciliation looks orders
    up by after an unknown outcome.
    """

    ticker: str
    side: OutcomeSide
    action: Action
    price: Decimal
    count: Decimal
    client_order_id: str
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED
    post_only: bool = False
    reduce_only: bool = False
    cancel_order_on_pause: bool = True
    expiration_ts: int | None = None
    order_group_id: str | None = None
    self_trade_prevention: str = "taker_at_cross"

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise ValueError("an order needs a client_order_id")
        if not Decimal(0) < self.price < Decimal(1):
            raise ValueError(f"price {self.price} outside (0, 1) dollars")
        if self.count <= 0:
            raise ValueError(f"count {self.count} must be positive")

    @property
    def book(self) -> tuple[BookSide, Decimal]:
        """The V2 wire side and YES price of this order."""
        return to_book(self.side, self.action, self.price)
