"""The matching engine of the local exchange: binary YES/NO books, accounts, settlement.

Pure and synchronous: no I/O, an injected clock and an injected ``random.Random`` for ids.
Every market has one YES book (Kalshi's V2 vocabulary): a ``bid`` buys YES at the YES price
``p``; an ``ask`` sells YES at ``p``, which is the same as buying NO at ``1 - p``. So a YES
bid crosses a resting NO bid at the complementary price. Matching is price-time priority and
trades happen at the resting (maker) order's price.

Accounts hold cash and, per market, YES and NO contract counts. Buying YES at ``p`` costs
``p`` per contract, buying NO costs ``1 - p``; a YES and a NO contract held together are netted
at once into $1 cash, so an account holds one side only and ``position = yes - no``. Fees
follow :class:`milkbot.domain.fees.FeeModel`, rounded up to the cent on each fill (Kalshi's
per-order rebate accumulator is not modelled). Settlement pays $1 per winning contract.

Conservation (checked by the property tests): the sum of all cash, plus $1 for every YES
contract outstanding, plus the fees collected, equals the sum of all deposits.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from milkbot.clock import Clock
from milkbot.domain.fees import FeeModel
from milkbot.domain.market import BookSide
from milkbot.domain.portfolio import TimeInForce
from milkbot.errors import MilkbotError

ZERO = Decimal(0)
ONE = Decimal(1)
TICK = Decimal("0.01")
COUNT_STEP = Decimal("0.01")


class OrderRejected(MilkbotError):
    """An order request the exchange refuses; ``code`` and ``status`` map to the HTTP error."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class SelfTradePrevention(StrEnum):
    """``taker_at_cross`` cancels the incoming order, ``maker`` the resting one."""

    TAKER_AT_CROSS = "taker_at_cross"
    MAKER = "maker"


class OrderStatus(StrEnum):
    """Order statuses as Kalshi reports them."""

    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"


class MarketStatus(StrEnum):
    """The subset of Kalshi market statuses the local exchange moves through."""

    INITIALIZED = "initialized"
    ACTIVE = "active"
    CLOSED = "closed"
    FINALIZED = "finalized"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A create-order request in the V2 shape (YES price, book side)."""

    ticker: str
    side: BookSide
    count: Decimal
    price: Decimal
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_CANCELED
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS
    client_order_id: str | None = None
    post_only: bool = False
    reduce_only: bool = False
    expiration_time: datetime | None = None
    order_group_id: str | None = None


@dataclass(slots=True)
class Order:
    """An order as the exchange keeps it (mutable; events carry frozen copies)."""

    order_id: str
    user_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    price: Decimal
    initial_count: Decimal
    fill_count: Decimal
    remaining_count: Decimal
    status: OrderStatus
    time_in_force: TimeInForce
    self_trade_prevention: SelfTradePrevention
    created_time: datetime
    last_update_time: datetime
    priority: int
    expiration_time: datetime | None = None
    order_group_id: str | None = None
    taker_fill_cost: Decimal = ZERO
    maker_fill_cost: Decimal = ZERO
    taker_fees: Decimal = ZERO
    maker_fees: Decimal = ZERO

    def snapshot(self) -> Order:
        """Return a copy safe to hand out."""
        return replace(self)


@dataclass(slots=True)
class Position:
    """One account's holding in one market."""

    yes: Decimal = ZERO
    no: Decimal = ZERO
    yes_cost: Decimal = ZERO
    no_cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    total_traded: Decimal = ZERO
    volume: Decimal = ZERO
    last_updated: datetime | None = None

    @property
    def net(self) -> Decimal:
        """Signed contracts: positive YES, negative NO."""
        return self.yes - self.no

    @property
    def exposure(self) -> Decimal:
        """Cost basis of the contracts held."""
        return self.yes_cost + self.no_cost


@dataclass(slots=True)
class Account:
    """Cash and positions of one user. ``unlimited`` accounts skip the balance check."""

    user_id: str
    cash: Decimal
    deposits: Decimal
    unlimited: bool = False
    positions: dict[str, Position] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fill:
    """One side of one trade, as the user who traded sees it."""

    fill_id: str
    trade_id: str
    order_id: str
    user_id: str
    client_order_id: str
    ticker: str
    side: BookSide
    yes_price: Decimal
    count: Decimal
    is_taker: bool
    fee: Decimal
    post_position: Decimal
    ts: datetime


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade print."""

    trade_id: str
    ticker: str
    yes_price: Decimal
    count: Decimal
    taker_side: BookSide
    ts: datetime


@dataclass(frozen=True, slots=True)
class BookChange:
    """A change of resting size at one level; ``side`` is the leg: yes (bids) or no (asks)."""

    ticker: str
    side: str
    yes_price: Decimal
    delta: Decimal
    user_id: str
    client_order_id: str
    ts: datetime

    @property
    def leg_price(self) -> Decimal:
        """Price on the level's own leg (NO levels are quoted at ``1 - yes_price``)."""
        return self.yes_price if self.side == "yes" else ONE - self.yes_price


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order changed state; ``order`` is a snapshot after the change."""

    order: Order
    reason: str


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """An account's position in a market changed."""

    user_id: str
    ticker: str
    position: Position
    ts: datetime


@dataclass(frozen=True, slots=True)
class Settlement:
    """One account's settlement of one market."""

    user_id: str
    ticker: str
    event_ticker: str
    market_result: str
    yes_count: Decimal
    no_count: Decimal
    yes_total_cost: Decimal
    no_total_cost: Decimal
    revenue: Decimal
    fee_cost: Decimal
    settled_time: datetime


@dataclass(frozen=True, slots=True)
class MarketUpdate:
    """A market changed status (opened, closed, settled)."""

    ticker: str
    status: MarketStatus
    result: str
    ts: datetime


Event = BookChange | Trade | Fill | OrderUpdate | PositionUpdate | MarketUpdate


@dataclass(frozen=True, slots=True)
class Placement:
    """The result of a create or amend: the order after matching and what happened."""

    order: Order
    fills: tuple[Fill, ...]
    events: tuple[Event, ...]

    @property
    def fill_count(self) -> Decimal:
        """Contracts filled by this request."""
        return sum((f.count for f in self.fills), ZERO)

    @property
    def average_fill_price(self) -> Decimal | None:
        """Volume-weighted YES price of this request's fills, None without fills."""
        n = self.fill_count
        if n == 0:
            return None
        return sum((f.count * f.yes_price for f in self.fills), ZERO) / n

    @property
    def average_fee_paid(self) -> Decimal | None:
        """Fee per contract of this request's fills, None without fills."""
        n = self.fill_count
        if n == 0:
            return None
        return sum((f.fee for f in self.fills), ZERO) / n


@dataclass(slots=True)
class Market:
    """One binary market and its book."""

    ticker: str
    event_ticker: str
    series_ticker: str
    fee_model: FeeModel
    status: MarketStatus = MarketStatus.ACTIVE
    result: str = ""
    bids: dict[Decimal, deque[Order]] = field(default_factory=dict)
    asks: dict[Decimal, deque[Order]] = field(default_factory=dict)
    last_price: Decimal | None = None
    volume: Decimal = ZERO
    trades: list[Trade] = field(default_factory=list)

    def levels(self, side: BookSide) -> dict[Decimal, deque[Order]]:
        """The price levels of one book side."""
        return self.bids if side is BookSide.BID else self.asks

    def depth(self, side: BookSide) -> list[tuple[Decimal, Decimal]]:
        """Aggregated (YES price, size) levels of one side, ascending by YES price."""
        out = []
        for price in sorted(self.levels(side)):
            size = sum((o.remaining_count for o in self.levels(side)[price]), ZERO)
            if size > 0:
                out.append((price, size))
        return out

    def best(self, side: BookSide) -> tuple[Decimal, Decimal] | None:
        """Best (price, size) of a side: highest bid or lowest ask."""
        d = self.depth(side)
        if not d:
            return None
        return d[-1] if side is BookSide.BID else d[0]

    def open_interest(self, accounts: Iterable[Account]) -> Decimal:
        """YES contracts outstanding (each backed by $1 of escrow)."""
        return sum(
            (a.positions[self.ticker].yes for a in accounts if self.ticker in a.positions), ZERO
        )


ORDER_GROUP_WINDOW = timedelta(seconds=15)


@dataclass(slots=True)
class OrderGroup:
    """Kalshi's order group: cancel its orders when fills exceed a limit within 15 s.

    The check runs after the matching step that crossed the limit: that step's fills stand,
    then every resting order of the group (the incoming one included) is cancelled.
    """

    group_id: str
    user_id: str
    limit: Decimal
    triggered: bool = False
    fills: deque[tuple[datetime, Decimal]] = field(default_factory=deque)

    def rolling(self, now: datetime) -> Decimal:
        """Contracts filled by the group's orders in the last 15 seconds."""
        while self.fills and self.fills[0][0] <= now - ORDER_GROUP_WINDOW:
            self.fills.popleft()
        return sum((q for _, q in self.fills), ZERO)


def _check_price(price: Decimal) -> None:
    if price % TICK != 0 or not TICK <= price <= ONE - TICK:
        raise OrderRejected("invalid_price", f"price {price} is not on the 0.01..0.99 grid")


def _check_count(count: Decimal) -> None:
    if count <= 0 or count % COUNT_STEP != 0:
        raise OrderRejected(
            "invalid_parameters", f"count {count} must be a positive multiple of 0.01"
        )


class Engine:
    """The exchange state: markets, books, accounts, orders, fills and settlements."""

    def __init__(self, clock: Clock, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random(0)
        self.markets: dict[str, Market] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.client_ids: dict[tuple[str, str], str] = {}
        self.by_user: dict[str, dict[str, Order]] = {}
        self.expiring: dict[str, Order] = {}
        self.resting: dict[str, dict[str, Order]] = {}
        self.order_groups: dict[str, OrderGroup] = {}
        self._tripped: list[OrderGroup] = []
        self.fills: list[Fill] = []
        self.settlements: list[Settlement] = []
        self.fees_collected = ZERO
        self._priority = 0

    # ---- setup -------------------------------------------------------------------------
    def new_id(self) -> str:
        """Return a random UUID4 string drawn from the injected generator."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add_market(
        self,
        ticker: str,
        event_ticker: str,
        series_ticker: str,
        fee_model: FeeModel,
        status: MarketStatus = MarketStatus.ACTIVE,
    ) -> Market:
        """Register a market (idempotent on ticker)."""
        if ticker not in self.markets:
            self.markets[ticker] = Market(ticker, event_ticker, series_ticker, fee_model, status)
        return self.markets[ticker]

    def open_account(self, user_id: str, deposit: Decimal, *, unlimited: bool = False) -> Account:
        """Create an account with a first deposit, or return the existing one."""
        if user_id not in self.accounts:
            self.accounts[user_id] = Account(user_id, deposit, deposit, unlimited)
        return self.accounts[user_id]

    def market(self, ticker: str) -> Market:
        """Return a market or raise a 404 rejection."""
        try:
            return self.markets[ticker]
        except KeyError:
            raise OrderRejected("market_not_found", f"no market {ticker}", 404) from None

    def order(self, user_id: str, order_id: str) -> Order:
        """Return one of the user's orders or raise a 404 rejection."""
        o = self.orders.get(order_id)
        if o is None or o.user_id != user_id:
            raise OrderRejected("not_found", f"no order {order_id}", 404)
        return o

    def order_by_client_id(self, user_id: str, client_order_id: str) -> Order | None:
        """Return the user's order with this client order id, if any."""
        oid = self.client_ids.get((user_id, client_order_id))
        return self.orders[oid] if oid else None

    # ---- order entry -------------------------------------------------------------------
    def _reserved(self, account: Account) -> Decimal:
        total = ZERO
        for o in self.resting.get(account.user_id, {}).values():
            if o.status is OrderStatus.RESTING:
                unit = o.price if o.side is BookSide.BID else ONE - o.price
                total += unit * o.remaining_count
        return total

    def _check_funds(
        self, account: Account, side: BookSide, price: Decimal, count: Decimal
    ) -> None:
        if account.unlimited:
            return
        unit = price if side is BookSide.BID else ONE - price
        worst_fee = FeeModel().taker_fee(count, Decimal("0.5"))
        if unit * count + worst_fee > account.cash - self._reserved(account):
            raise OrderRejected("insufficient_balance", "not enough cash for this order")

    def create_order(self, user_id: str, request: OrderRequest) -> Placement:
        """Validate, match and (for GTC) rest an order; return what happened."""
        account = self.accounts.get(user_id)
        if account is None:
            raise OrderRejected("unauthorized", f"no account {user_id}", 401)
        market = self.market(request.ticker)
        if market.status is not MarketStatus.ACTIVE:
            raise OrderRejected("market_closed", f"market {market.ticker} is {market.status}")
        _check_price(request.price)
        _check_count(request.count)
        if (
            request.expiration_time is not None
            and request.time_in_force is not TimeInForce.GOOD_TILL_CANCELED
        ):
            raise OrderRejected("invalid_parameters", "expiration_time needs good_till_canceled")
        if request.order_group_id is not None:
            group = self.order_group(user_id, request.order_group_id)
            if group.triggered:
                raise OrderRejected(
                    "order_group_triggered", "the order group is triggered; reset it"
                )
        cid = request.client_order_id or self.new_id()
        if (user_id, cid) in self.client_ids:
            raise OrderRejected(
                "order_already_exists", f"an order with client_order_id {cid} already exists", 409
            )
        count = request.count
        if request.reduce_only:
            pos = account.positions.get(market.ticker, Position()).net
            held = pos if request.side is BookSide.ASK else -pos
            count = min(count, max(held, ZERO))
            if count <= 0:
                raise OrderRejected(
                    "reduce_only_violation", "reduce_only order would increase the position"
                )
        self._check_funds(account, request.side, request.price, count)
        if request.post_only and self._crosses(market, request.side, request.price):
            raise OrderRejected("post_only_cross", "post_only order would cross the book")
        now = self.clock.now()
        self._priority += 1
        order = Order(
            order_id=self.new_id(),
            user_id=user_id,
            client_order_id=cid,
            ticker=market.ticker,
            side=request.side,
            price=request.price,
            initial_count=count,
            fill_count=ZERO,
            remaining_count=count,
            status=OrderStatus.RESTING,
            time_in_force=request.time_in_force,
            self_trade_prevention=request.self_trade_prevention,
            created_time=now,
            last_update_time=now,
            priority=self._priority,
            expiration_time=request.expiration_time,
            order_group_id=request.order_group_id,
        )
        self.orders[order.order_id] = order
        self.by_user.setdefault(user_id, {})[order.order_id] = order
        if order.expiration_time is not None:
            self.expiring[order.order_id] = order
        self.client_ids[(user_id, cid)] = order.order_id
        events: list[Event] = []
        fills: list[Fill] = []
        if (
            request.time_in_force is TimeInForce.FILL_OR_KILL
            and self._fillable(market, order) < count
        ):
            order.remaining_count = ZERO
            order.status = OrderStatus.CANCELED
            events.append(OrderUpdate(order.snapshot(), "Cancel"))
            return Placement(order.snapshot(), (), self._indexed(events))
        self._match(market, order, fills, events)
        self._finish_taker(market, order, events)
        self._indexed(events)
        events += self._trip_groups()
        return Placement(
            self.orders[order.order_id].snapshot(), tuple(fills), self._indexed(events)
        )

    def _crosses(self, market: Market, side: BookSide, price: Decimal) -> bool:
        if side is BookSide.BID:
            best = market.best(BookSide.ASK)
            return best is not None and best[0] <= price
        best = market.best(BookSide.BID)
        return best is not None and best[0] >= price

    def _fillable(self, market: Market, order: Order) -> Decimal:
        total = ZERO
        opposite = BookSide.ASK if order.side is BookSide.BID else BookSide.BID
        for price, queue in market.levels(opposite).items():
            crosses = price <= order.price if order.side is BookSide.BID else price >= order.price
            if crosses:
                total += sum((o.remaining_count for o in queue if o.user_id != order.user_id), ZERO)
        return total

    def _finish_taker(self, market: Market, order: Order, events: list[Event]) -> None:
        if order.status is not OrderStatus.RESTING:
            events.append(OrderUpdate(order.snapshot(), "Cancel"))
            return
        if order.remaining_count == 0:
            order.status = OrderStatus.EXECUTED
            events.append(OrderUpdate(order.snapshot(), "Trade"))
        elif order.time_in_force is not TimeInForce.GOOD_TILL_CANCELED:
            order.remaining_count = ZERO
            order.status = OrderStatus.EXECUTED if order.fill_count > 0 else OrderStatus.CANCELED
            events.append(OrderUpdate(order.snapshot(), "Cancel"))
        else:
            market.levels(order.side).setdefault(order.price, deque()).append(order)
            events.append(self._book_change(order, order.remaining_count))
            events.append(OrderUpdate(order.snapshot(), "Trade" if order.fill_count else "Create"))

    def _book_change(self, order: Order, delta: Decimal) -> BookChange:
        return BookChange(
            ticker=order.ticker,
            side="yes" if order.side is BookSide.BID else "no",
            yes_price=order.price,
            delta=delta,
            user_id=order.user_id,
            client_order_id=order.client_order_id,
            ts=self.clock.now(),
        )

    def _match(self, market: Market, taker: Order, fills: list[Fill], events: list[Event]) -> None:
        opposite = BookSide.ASK if taker.side is BookSide.BID else BookSide.BID
        levels = market.levels(opposite)
        prices = sorted(levels, reverse=opposite is BookSide.BID)
        for price in prices:
            crosses = price <= taker.price if taker.side is BookSide.BID else price >= taker.price
            if not crosses or taker.remaining_count == 0:
                break
            queue = levels[price]
            while queue and taker.remaining_count > 0:
                maker = queue[0]
                if maker.user_id == taker.user_id:
                    if taker.self_trade_prevention is SelfTradePrevention.TAKER_AT_CROSS:
                        taker.remaining_count = ZERO
                        taker.status = (
                            OrderStatus.EXECUTED if taker.fill_count > 0 else OrderStatus.CANCELED
                        )
                        self._drop_empty(levels, price)
                        return
                    queue.popleft()
                    events.append(self._book_change(maker, -maker.remaining_count))
                    maker.remaining_count = ZERO
                    maker.status = OrderStatus.CANCELED
                    maker.last_update_time = self.clock.now()
                    events.append(OrderUpdate(maker.snapshot(), "SelfTradeCancel"))
                    continue
                qty = min(maker.remaining_count, taker.remaining_count)
                self._trade(market, taker, maker, qty, price, fills, events)
                if maker.remaining_count == 0:
                    queue.popleft()
            self._drop_empty(levels, price)

    @staticmethod
    def _drop_empty(levels: dict[Decimal, deque[Order]], price: Decimal) -> None:
        if price in levels and not levels[price]:
            del levels[price]

    def _trade(
        self,
        market: Market,
        taker: Order,
        maker: Order,
        qty: Decimal,
        price: Decimal,
        fills: list[Fill],
        events: list[Event],
    ) -> None:
        now = self.clock.now()
        trade = Trade(self.new_id(), market.ticker, price, qty, taker.side, now)
        market.trades.append(trade)
        market.last_price = price
        market.volume += qty
        events.append(trade)
        events.append(self._book_change(maker, -qty))
        for order, is_taker in ((maker, False), (taker, True)):
            unit = price if order.side is BookSide.BID else ONE - price
            fee = market.fee_model.fee(qty, unit, is_taker=is_taker)
            order.fill_count += qty
            order.remaining_count -= qty
            order.last_update_time = now
            if is_taker:
                order.taker_fill_cost += unit * qty
                order.taker_fees += fee
            else:
                order.maker_fill_cost += unit * qty
                order.maker_fees += fee
                if order.remaining_count == 0:
                    order.status = OrderStatus.EXECUTED
            position = self._book_fill(
                order.user_id, market.ticker, order.side, qty, unit, fee, now
            )
            self._group_fill(order, qty, now)
            fill = Fill(
                fill_id=self.new_id(),
                trade_id=trade.trade_id,
                order_id=order.order_id,
                user_id=order.user_id,
                client_order_id=order.client_order_id,
                ticker=market.ticker,
                side=order.side,
                yes_price=price,
                count=qty,
                is_taker=is_taker,
                fee=fee,
                post_position=position.net,
                ts=now,
            )
            self.fills.append(fill)
            if is_taker:
                fills.append(fill)
            events.append(fill)
            events.append(PositionUpdate(order.user_id, market.ticker, replace(position), now))
            if not is_taker:
                events.append(OrderUpdate(order.snapshot(), "Trade"))

    def _book_fill(
        self,
        user_id: str,
        ticker: str,
        side: BookSide,
        qty: Decimal,
        unit: Decimal,
        fee: Decimal,
        now: datetime,
    ) -> Position:
        account = self.accounts[user_id]
        pos = account.positions.setdefault(ticker, Position())
        account.cash -= unit * qty + fee
        self.fees_collected += fee
        pos.fees_paid += fee
        pos.total_traded += unit * qty
        pos.volume += qty
        pos.last_updated = now
        if side is BookSide.BID:
            pos.yes += qty
            pos.yes_cost += unit * qty
        else:
            pos.no += qty
            pos.no_cost += unit * qty
        pairs = min(pos.yes, pos.no)
        if pairs > 0:
            yes_basis = pos.yes_cost * pairs / pos.yes
            no_basis = pos.no_cost * pairs / pos.no
            pos.yes -= pairs
            pos.no -= pairs
            pos.yes_cost -= yes_basis
            pos.no_cost -= no_basis
            account.cash += pairs
            pos.realized_pnl += pairs - yes_basis - no_basis
            if pos.yes == 0:
                pos.yes_cost = ZERO
            if pos.no == 0:
                pos.no_cost = ZERO
        return pos

    def _indexed(self, events: list[Event]) -> tuple[Event, ...]:
        """Keep the per-user index of resting orders in step with the order updates."""
        for event in events:
            if isinstance(event, OrderUpdate):
                order = self.orders[event.order.order_id]
                mine = self.resting.setdefault(order.user_id, {})
                if order.status is OrderStatus.RESTING and order.remaining_count > 0:
                    mine[order.order_id] = order
                else:
                    mine.pop(order.order_id, None)
        return tuple(events)

    # ---- cancel / amend / decrease -------------------------------------------------------
    def _unrest(self, order: Order) -> None:
        levels = self.markets[order.ticker].levels(order.side)
        queue = levels.get(order.price)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(order)
            self._drop_empty(levels, order.price)

    def cancel_order(
        self, user_id: str, order_id: str, reason: str = "Cancel"
    ) -> tuple[Decimal, list[Event]]:
        """Cancel a resting order; return (contracts cancelled, events)."""
        order = self.order(user_id, order_id)
        if order.status is not OrderStatus.RESTING:
            raise OrderRejected("order_not_resting", f"order {order_id} is {order.status}", 400)
        reduced = order.remaining_count
        self._unrest(order)
        events: list[Event] = [self._book_change(order, -reduced)]
        order.remaining_count = ZERO
        order.status = OrderStatus.CANCELED
        order.last_update_time = self.clock.now()
        events.append(OrderUpdate(order.snapshot(), reason))
        return reduced, list(self._indexed(events))

    def decrease_order(
        self, user_id: str, order_id: str, *, reduce_by: Decimal | None, reduce_to: Decimal | None
    ) -> tuple[Order, list[Event]]:
        """Reduce a resting order's remaining count, keeping its queue priority."""
        if (reduce_by is None) == (reduce_to is None):
            raise OrderRejected("invalid_parameters", "give exactly one of reduce_by, reduce_to")
        order = self.order(user_id, order_id)
        if order.status is not OrderStatus.RESTING:
            raise OrderRejected("order_not_resting", f"order {order_id} is {order.status}")
        target = order.remaining_count - reduce_by if reduce_by is not None else reduce_to
        assert target is not None
        if target < 0 or target > order.remaining_count or target % COUNT_STEP != 0:
            raise OrderRejected("invalid_parameters", f"cannot reduce to {target}")
        if target == 0:
            _, cancel_events = self.cancel_order(user_id, order_id, "Decrease")
            return order.snapshot(), list(self._indexed(cancel_events))
        delta = target - order.remaining_count
        order.remaining_count = target
        order.last_update_time = self.clock.now()
        events: list[Event] = [
            self._book_change(order, delta),
            OrderUpdate(order.snapshot(), "Decrease"),
        ]
        return order.snapshot(), list(self._indexed(events))

    def amend_order(
        self,
        user_id: str,
        order_id: str,
        *,
        ticker: str,
        side: BookSide,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
    ) -> Placement:
        """Change price and/or total count (filled + desired remaining) of a resting order.

        A size decrease at the same price keeps queue priority; anything else re-queues the
        order at the back of its new level and may cross the book.
        """
        order = self.order(user_id, order_id)
        if order.ticker != ticker or order.side is not side:
            raise OrderRejected("invalid_parameters", "ticker and side must match the order")
        if order.status is not OrderStatus.RESTING:
            raise OrderRejected("order_not_resting", f"order {order_id} is {order.status}")
        _check_price(price)
        _check_count(count)
        remaining = count - order.fill_count
        if remaining <= 0:
            raise OrderRejected("invalid_parameters", "count must exceed the filled count")
        new_cid = updated_client_order_id
        if new_cid and new_cid != order.client_order_id and (user_id, new_cid) in self.client_ids:
            raise OrderRejected("order_already_exists", "updated_client_order_id is in use", 409)
        market = self.markets[order.ticker]
        account = self.accounts[user_id]
        events: list[Event] = []
        fills: list[Fill] = []
        if updated_client_order_id:
            self.client_ids[(user_id, updated_client_order_id)] = order.order_id
            order.client_order_id = updated_client_order_id
        if price == order.price and remaining <= order.remaining_count:
            delta = remaining - order.remaining_count
            order.remaining_count = remaining
            order.initial_count = count
            order.last_update_time = self.clock.now()
            if delta:
                events.append(self._book_change(order, delta))
            events.append(OrderUpdate(order.snapshot(), "Amend"))
            return Placement(order.snapshot(), (), self._indexed(events))
        self._unrest(order)
        events.append(self._book_change(order, -order.remaining_count))
        old_remaining = order.remaining_count
        order.remaining_count = ZERO
        try:
            self._check_funds(account, side, price, remaining)
        except OrderRejected:
            order.remaining_count = old_remaining
            market.levels(order.side).setdefault(order.price, deque()).append(order)
            raise
        order.price = price
        order.remaining_count = remaining
        order.initial_count = count
        self._priority += 1
        order.priority = self._priority
        order.last_update_time = self.clock.now()
        self._match(market, order, fills, events)
        if order.status is OrderStatus.RESTING and order.remaining_count > 0:
            market.levels(order.side).setdefault(order.price, deque()).append(order)
            events.append(self._book_change(order, order.remaining_count))
            events.append(OrderUpdate(order.snapshot(), "Amend"))
        elif order.status is OrderStatus.RESTING:
            order.status = OrderStatus.EXECUTED
            events.append(OrderUpdate(order.snapshot(), "Trade"))
        else:
            events.append(OrderUpdate(order.snapshot(), "SelfTradeCancel"))
        self._indexed(events)
        events += self._trip_groups()
        return Placement(order.snapshot(), tuple(fills), self._indexed(events))

    # ---- order groups ------------------------------------------------------------------
    def create_order_group(self, user_id: str, limit: Decimal) -> OrderGroup:
        """Create an order group with a 15-second rolling contracts limit."""
        if limit < 1 or limit % 1 != 0:
            raise OrderRejected("invalid_parameters", "contracts_limit must be a whole number >= 1")
        group = OrderGroup(self.new_id(), user_id, limit)
        self.order_groups[group.group_id] = group
        return group

    def order_group(self, user_id: str, group_id: str) -> OrderGroup:
        """Return one of the user's order groups or raise a 404 rejection."""
        group = self.order_groups.get(group_id)
        if group is None or group.user_id != user_id:
            raise OrderRejected("not_found", f"no order group {group_id}", 404)
        return group

    def group_orders(self, group: OrderGroup) -> list[Order]:
        """Resting orders of a group."""
        mine = self.resting.get(group.user_id, {}).values()
        return [o for o in mine if o.order_group_id == group.group_id]

    def _cancel_group(self, group: OrderGroup, reason: str) -> list[Event]:
        events: list[Event] = []
        for order in self.group_orders(group):
            if order.status is OrderStatus.RESTING:
                events += self.cancel_order(order.user_id, order.order_id, reason)[1]
        return events

    def trigger_order_group(self, user_id: str, group_id: str) -> list[Event]:
        """Trigger a group: cancel its resting orders and refuse new ones until reset."""
        group = self.order_group(user_id, group_id)
        group.triggered = True
        return self._cancel_group(group, "OrderGroupCancel")

    def reset_order_group(self, user_id: str, group_id: str) -> None:
        """Clear a group's triggered state and rolling volume."""
        group = self.order_group(user_id, group_id)
        group.triggered = False
        group.fills.clear()

    def update_order_group_limit(self, user_id: str, group_id: str, limit: Decimal) -> list[Event]:
        """Change the limit; trigger at once when the rolling volume exceeds it."""
        if limit < 1 or limit % 1 != 0:
            raise OrderRejected("invalid_parameters", "contracts_limit must be a whole number >= 1")
        group = self.order_group(user_id, group_id)
        group.limit = limit
        if group.rolling(self.clock.now()) > limit:
            return self.trigger_order_group(user_id, group_id)
        return []

    def delete_order_group(self, user_id: str, group_id: str) -> list[Event]:
        """Cancel a group's resting orders and remove it."""
        group = self.order_group(user_id, group_id)
        events = self._cancel_group(group, "OrderGroupCancel")
        del self.order_groups[group_id]
        return events

    def _group_fill(self, order: Order, qty: Decimal, now: datetime) -> None:
        if order.order_group_id is None:
            return
        group = self.order_groups.get(order.order_group_id)
        if group is None:
            return
        group.fills.append((now, qty))
        if not group.triggered and group.rolling(now) > group.limit:
            group.triggered = True
            self._tripped.append(group)

    def _trip_groups(self) -> list[Event]:
        events: list[Event] = []
        while self._tripped:
            events += self._cancel_group(self._tripped.pop(), "OrderGroupCancel")
        return events

    # ---- lifecycle -----------------------------------------------------------------------
    def expire_orders(self) -> list[Event]:
        """Cancel resting orders whose ``expiration_time`` has passed."""
        now = self.clock.now()
        events: list[Event] = []
        for order in list(self.expiring.values()):
            if order.status is not OrderStatus.RESTING:
                del self.expiring[order.order_id]
            elif order.expiration_time is not None and order.expiration_time <= now:
                del self.expiring[order.order_id]
                events += self.cancel_order(order.user_id, order.order_id, "ExpiryCancel")[1]
        return events

    def open_market(self, ticker: str) -> list[Event]:
        """Move an initialized market to active."""
        market = self.market(ticker)
        if market.status is not MarketStatus.INITIALIZED:
            return []
        market.status = MarketStatus.ACTIVE
        return [MarketUpdate(ticker, market.status, "", self.clock.now())]

    def close_market(self, ticker: str) -> list[Event]:
        """Stop trading a market and cancel its resting orders."""
        market = self.market(ticker)
        if market.status not in (MarketStatus.ACTIVE, MarketStatus.INITIALIZED):
            return []
        events: list[Event] = []
        for side in BookSide:
            for queue in list(market.levels(side).values()):
                for order in list(queue):
                    events += self.cancel_order(order.user_id, order.order_id, "CloseCancel")[1]
        market.status = MarketStatus.CLOSED
        events.append(MarketUpdate(ticker, market.status, "", self.clock.now()))
        return events

    def settle_market(
        self, ticker: str, result: str, event_ticker: str | None = None
    ) -> list[Event]:
        """Settle a market on ``result`` (``yes`` or ``no``): pay $1 per winning contract."""
        if result not in ("yes", "no"):
            raise OrderRejected("invalid_parameters", f"result must be yes or no, not {result!r}")
        events = self.close_market(ticker)
        market = self.markets[ticker]
        if market.status is MarketStatus.FINALIZED:
            return events
        now = self.clock.now()
        for account in self.accounts.values():
            pos = account.positions.pop(ticker, None)
            if pos is None or (pos.yes == 0 and pos.no == 0 and pos.fees_paid == 0):
                continue
            revenue = pos.yes if result == "yes" else pos.no
            account.cash += revenue
            self.settlements.append(
                Settlement(
                    user_id=account.user_id,
                    ticker=ticker,
                    event_ticker=event_ticker or market.event_ticker,
                    market_result=result,
                    yes_count=pos.yes,
                    no_count=pos.no,
                    yes_total_cost=pos.yes_cost,
                    no_total_cost=pos.no_cost,
                    revenue=revenue,
                    fee_cost=pos.fees_paid,
                    settled_time=now,
                )
            )
            events.append(PositionUpdate(account.user_id, ticker, Position(last_updated=now), now))
        market.status = MarketStatus.FINALIZED
        market.result = result
        events.append(MarketUpdate(ticker, market.status, result, now))
        return events

    # ---- invariants ----------------------------------------------------------------------
    def total_value(self) -> Decimal:
        """Cash + $1 per outstanding YES contract + fees collected (equals total deposits)."""
        cash = sum((a.cash for a in self.accounts.values()), ZERO)
        escrow = sum((m.open_interest(self.accounts.values()) for m in self.markets.values()), ZERO)
        return cash + escrow + self.fees_collected

    def total_deposits(self) -> Decimal:
        """Sum of every account's deposits."""
        return sum((a.deposits for a in self.accounts.values()), ZERO)
