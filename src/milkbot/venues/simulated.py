"""EngineVenue: an in-process execution venue on the local exchange's matching engine.

The backtest's :class:`~milkbot.backtest.venue.SimVenue` (recorded books) and paper trading's
:class:`~milkbot.venues.paper.PaperVenue` (live public books) share this account side: our
orders live in an :class:`~milkbot.venues.exchange.matching.Engine` beside two helper
accounts,

* ``sim-book``: the outside book posted as post-only maker liquidity just for the moment our
  order is matched (a taker fill at the outside price, taker fee), then withdrawn, so only our
  own orders stay in the engine's books;
* ``sim-tape``: outside flow that reaches our resting orders later, sent as an
  immediate-or-cancel order at our price (a maker fill at our price, maker fee).

Every method of :class:`~milkbot.oms.venue.ExecutionVenue` answers from the engine. Order and
fill ids come from a seeded generator, so the same calls give the same ids.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from milkbot.clock import Clock
from milkbot.decision import BookTop
from milkbot.domain.fees import FeeModel
from milkbot.domain.market import BookSide, OutcomeSide
from milkbot.domain.portfolio import (
    Action,
    Balance,
    FillReport,
    OrderAck,
    OrderReport,
    OrderRequest,
    PositionReport,
    SettlementReport,
    TimeInForce,
    VenueOrderStatus,
)
from milkbot.venues.exchange import matching
from milkbot.venues.exchange.matching import Engine, OrderRejected, OrderStatus
from milkbot.venues.kalshi.client import KalshiRejection

USER = "sim-user"
BOOK = "sim-book"
TAPE = "sim-tape"
ONE = Decimal(1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_ns(t: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (microsecond precision)."""
    return (t - EPOCH) // _US * 1000


def from_ns(ns: int) -> datetime:
    """The aware UTC datetime of nanoseconds since the epoch (microsecond precision)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


@dataclass
class VenueStats:
    """Counters of what a simulated venue did."""

    orders: int = 0
    rejected: int = 0
    taker_fills: int = 0
    resting_fills: int = 0
    rows_checked: int = 0
    cancels: int = 0


def _rejection(e: OrderRejected) -> KalshiRejection:
    return KalshiRejection(e.status, e.code, e.message)


def _outcome(side: BookSide) -> OutcomeSide:
    return OutcomeSide.YES if side is BookSide.BID else OutcomeSide.NO


def _leg_price(side: BookSide, yes_price: Decimal) -> Decimal:
    return yes_price if side is BookSide.BID else ONE - yes_price


def order_report(o: matching.Order) -> OrderReport:
    """The domain report of an engine order (every engine order buys YES or NO)."""
    return OrderReport(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        ticker=o.ticker,
        side=_outcome(o.side),
        action=Action.BUY,
        price=_leg_price(o.side, o.price),
        count=o.initial_count,
        filled=o.fill_count,
        remaining=o.remaining_count,
        status=VenueOrderStatus(o.status.value),
        created_time=o.created_time,
        last_update_time=o.last_update_time,
        taker_fees=o.taker_fees,
        maker_fees=o.maker_fees,
        order_group_id=o.order_group_id,
    )


def fill_report(f: matching.Fill) -> FillReport:
    """The domain report of an engine fill."""
    return FillReport(
        fill_id=f.fill_id,
        trade_id=f.trade_id,
        order_id=f.order_id,
        ticker=f.ticker,
        side=_outcome(f.side),
        action=Action.BUY,
        price=_leg_price(f.side, f.yes_price),
        count=f.count,
        is_taker=f.is_taker,
        fee=f.fee,
        ts=f.ts,
        client_order_id=f.client_order_id,
        post_position=f.post_position,
    )


class EngineVenue:
    """Our account on an in-process matching engine (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        starting_cash: Decimal,
        *,
        fee_model: FeeModel | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.fee_model = fee_model or FeeModel()
        self.stats = VenueStats()
        self.engine = Engine(clock, random.Random(seed))
        self.engine.open_account(USER, starting_cash)
        self.engine.open_account(BOOK, Decimal(0), unlimited=True)
        self.engine.open_account(TAPE, Decimal(0), unlimited=True)
        self._fills: list[FillReport] = []
        self._fill_ns: list[int] = []
        self._settlements: list[SettlementReport] = []
        self._settle_ns: list[int] = []

    # ---- engine operations shared by the subclasses ------------------------------------
    def _collect(self, events: tuple[matching.Event, ...] | list[matching.Event]) -> None:
        for e in events:
            if isinstance(e, matching.Fill) and e.user_id == USER:
                report = fill_report(e)
                if e.is_taker:
                    self.stats.taker_fills += 1
                else:
                    self.stats.resting_fills += 1
                self._fills.append(report)
                self._fill_ns.append(to_ns(report.ts))

    def _place(self, req: OrderRequest, book: BookTop | None) -> matching.Placement:
        """Match ``req`` against ``book`` posted for the moment; rest what does not fill."""
        self.stats.orders += 1
        market = self.engine.market(req.ticker)
        book_side, yes_price = req.book
        makers: list[str] = []
        if book is not None and market.status is matching.MarketStatus.ACTIVE:
            for side, price, size in (
                (BookSide.BID, book.yes_bid, book.yes_bid_size),
                (BookSide.ASK, book.yes_ask, book.yes_ask_size),
            ):
                if price is None or size <= 0:
                    continue
                try:
                    posted = self.engine.create_order(
                        BOOK, matching.OrderRequest(req.ticker, side, size, price, post_only=True)
                    )
                except OrderRejected:
                    continue  # it would cross one of our resting orders: that one fills first
                makers.append(posted.order.order_id)
        try:
            placement = self.engine.create_order(
                USER,
                matching.OrderRequest(
                    ticker=req.ticker,
                    side=book_side,
                    count=req.count,
                    price=yes_price,
                    time_in_force=req.time_in_force,
                    client_order_id=req.client_order_id,
                    post_only=req.post_only,
                    reduce_only=req.reduce_only,
                ),
            )
        except OrderRejected as e:
            self.stats.rejected += 1
            raise _rejection(e) from None
        finally:
            for oid in makers:
                if self.engine.orders[oid].status is OrderStatus.RESTING:
                    self.engine.cancel_order(BOOK, oid)
        self._collect(placement.events)
        return placement

    @staticmethod
    def _ack(placement: matching.Placement, now: datetime) -> OrderAck:
        order = placement.order
        return OrderAck(
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            filled=placement.fill_count,
            remaining=order.remaining_count,
            ts=now,
            average_fill_price=placement.average_fill_price,
            average_fee_paid=placement.average_fee_paid,
        )

    def _trade_at(self, order: matching.Order, count: Decimal) -> None:
        """Outside flow fills ``count`` of our resting ``order`` at its own price."""
        side = BookSide.ASK if order.side is BookSide.BID else BookSide.BID
        request = matching.OrderRequest(
            order.ticker, side, count, order.price, TimeInForce.IMMEDIATE_OR_CANCEL
        )
        self._collect(self.engine.create_order(TAPE, request).events)

    def _settle(self, ticker: str, result: str) -> None:
        market = self.engine.markets[ticker]
        before = len(self.engine.settlements)
        self.engine.settle_market(ticker, result, market.event_ticker)
        for s in self.engine.settlements[before:]:
            if s.user_id != USER:
                continue
            self._settlements.append(
                SettlementReport(
                    ticker=s.ticker,
                    event_ticker=s.event_ticker,
                    market_result=s.market_result,
                    yes_count=s.yes_count,
                    no_count=s.no_count,
                    yes_total_cost=s.yes_total_cost,
                    no_total_cost=s.no_total_cost,
                    revenue=s.revenue,
                    fee=s.fee_cost,
                    settled_time=s.settled_time,
                )
            )
            self._settle_ns.append(to_ns(s.settled_time))

    def _resting_orders(self, ticker: str | None = None) -> list[matching.Order]:
        """Our resting orders, in time priority."""
        pool = self.engine.resting.get(USER, {}).values()
        return sorted(
            (
                o
                for o in pool
                if o.status is OrderStatus.RESTING and (ticker is None or o.ticker == ticker)
            ),
            key=lambda o: o.priority,
        )

    def _cancel(self, order_id: str) -> Decimal:
        """Cancel one of our orders in the engine; return the contracts cancelled."""
        return self.engine.cancel_order(USER, order_id)[0]

    def _on_cancelled(self, order: matching.Order) -> None:
        """Hook: a resting order of ours was cancelled."""

    # ---- ExecutionVenue ----------------------------------------------------------------
    async def cancel_order(self, order_id: str, *, ticker: str | None = None) -> OrderAck:
        """Cancel the rest of a resting order."""
        try:
            order = self.engine.order(USER, order_id)
            if ticker is not None and order.ticker != ticker:
                raise OrderRejected("not_found", f"order {order_id} is not in {ticker}", 404)
            reduced = self._cancel(order_id)
        except OrderRejected as e:
            raise _rejection(e) from None
        self.stats.cancels += 1
        self._on_cancelled(order)
        return OrderAck(
            order_id=order_id,
            client_order_id=order.client_order_id,
            filled=None,
            remaining=Decimal(0),
            ts=self.clock.now(),
            reduced_by=reduced,
        )

    async def get_orders(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        status: str | None = None,
        min_ts: datetime | None = None,
    ) -> list[OrderReport]:
        """Our orders, oldest first, optionally filtered."""
        if status == OrderStatus.RESTING.value:
            pool = self._resting_orders(ticker)
        else:
            pool = sorted(self.engine.by_user.get(USER, {}).values(), key=lambda o: o.priority)
        out = []
        for o in pool:
            if ticker is not None and o.ticker != ticker:
                continue
            if event_ticker is not None and self.engine.markets[o.ticker].event_ticker != (
                event_ticker
            ):
                continue
            if status is not None and o.status.value != status:
                continue
            if min_ts is not None and o.last_update_time < min_ts:
                continue
            out.append(order_report(o))
        return out

    async def get_fills(
        self,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
        min_ts: datetime | None = None,
        max_ts: datetime | None = None,
    ) -> list[FillReport]:
        """Our fills in time order, optionally filtered (``min_ts`` and ``max_ts`` inclusive)."""
        lo = 0 if min_ts is None else bisect.bisect_left(self._fill_ns, to_ns(min_ts))
        hi = (
            len(self._fills)
            if max_ts is None
            else bisect.bisect_right(self._fill_ns, to_ns(max_ts))
        )
        return [
            f
            for f in self._fills[lo:hi]
            if (ticker is None or f.ticker == ticker)
            and (order_id is None or f.order_id == order_id)
        ]

    async def get_positions(
        self, *, ticker: str | None = None, event_ticker: str | None = None
    ) -> list[PositionReport]:
        """Our unsettled positions."""
        out = []
        account = self.engine.accounts[USER]
        for t, p in sorted(account.positions.items()):
            if ticker is not None and t != ticker:
                continue
            if event_ticker is not None and self.engine.markets[t].event_ticker != event_ticker:
                continue
            out.append(
                PositionReport(
                    ticker=t,
                    position=p.net,
                    market_exposure=p.exposure,
                    realized_pnl=p.realized_pnl,
                    fees_paid=p.fees_paid,
                    total_traded=p.total_traded,
                    last_updated=p.last_updated,
                )
            )
        return out

    async def get_balance(self) -> Balance:
        """Cash balance."""
        return Balance(self.engine.accounts[USER].cash, None, self.clock.now())

    async def get_settlements(
        self,
        *,
        ticker: str | None = None,
        event_ticker: str | None = None,
        min_ts: datetime | None = None,
    ) -> list[SettlementReport]:
        """How our positions settled, in time order (``min_ts`` inclusive)."""
        lo = 0 if min_ts is None else bisect.bisect_left(self._settle_ns, to_ns(min_ts))
        return [
            s
            for s in self._settlements[lo:]
            if (ticker is None or s.ticker == ticker)
            and (event_ticker is None or s.event_ticker == event_ticker)
        ]
