"""SimVenue: the execution port (:class:`~milkbot.oms.venue.ExecutionVenue`) on recorded data.

Orders go to the local exchange's matching engine
(:class:`~milkbot.venues.exchange.matching.Engine`) in process, on a simulated clock:

* **placing** an order first posts the recorded book at the current time
  (:meth:`MarketData.book`: the last fresh quote, or the book modelled on the last fresh print)
  as post-only maker liquidity of ``BookModel.depth`` contracts per side, then matches our
  order against it (a taker fill at the recorded price, taker fee), rests the rest of it, and
  withdraws the maker's liquidity: only our own orders stay in the engine's books;
* **resting** orders are filled later, as the clock advances, only by recorded prints or
  quotes that can touch them (:mod:`milkbot.backtest.fills`); each such fill is sent to the
  engine as an immediate-or-cancel order of the account ``sim-tape`` at our price, so it
  trades at our (maker) price with the maker fee. The candidate rows of a market are found
  with one vectorised scan when its orders change; prints that cannot touch an order never
  reach the engine;
* markets **close** at ``close_time`` (resting orders are cancelled) and **settle** on their
  recorded ``result`` ``settle_delay`` later.

Like the local exchange it mimics, the venue numbers orders and fills from a seeded random
generator, so a replay is deterministic.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from milkbot.backtest.fills import (
    Resting,
    allocate_print,
    allocate_quote,
    print_candidates,
    quote_candidates,
)
from milkbot.backtest.marketdata import MarketData, from_ns, to_ns
from milkbot.clock import FixedClock
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

USER = "backtest"
BOOK = "sim-book"
TAPE = "sim-tape"
ONE = Decimal(1)
CENTS = Decimal(100)
_FILL, _CLOSE, _SETTLE = range(3)
FAR_FUTURE = 2**62


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """What the venue needs to know about one market."""

    ticker: str
    event_ticker: str
    series_ticker: str
    close_time: datetime
    result: str


@dataclass(slots=True)
class _Candidates:
    """Rows of one market that can fill its resting orders, and how far they are consumed."""

    source: str
    rows: np.ndarray
    pos: int = 0
    version: int = 0


@dataclass
class VenueStats:
    """Counters of what the venue did."""

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


@dataclass
class SimVenue:
    """An in-process venue that fills orders from recorded prints and quotes."""

    data: MarketData
    markets: Mapping[str, MarketSpec]
    clock: FixedClock
    starting_cash: Decimal
    fee_model: FeeModel = field(default_factory=FeeModel)
    settle_delay: timedelta = timedelta(hours=1)
    seed: int = 0
    stats: VenueStats = field(default_factory=VenueStats)

    def __post_init__(self) -> None:
        self.engine = Engine(self.clock, random.Random(self.seed))
        self.engine.open_account(USER, self.starting_cash)
        self.engine.open_account(BOOK, Decimal(0), unlimited=True)
        self.engine.open_account(TAPE, Decimal(0), unlimited=True)
        self._heap: list[tuple[int, int, int, str, int]] = []
        self._seq = 0
        self._resting: dict[str, dict[str, Resting]] = {}
        self._candidates: dict[str, _Candidates] = {}
        self._fills: list[FillReport] = []
        self._fill_ns: list[int] = []
        self._settlements: list[SettlementReport] = []
        self._settle_ns: list[int] = []

    # ---- simulated time ----------------------------------------------------------------
    def _push(self, ts_ns: int, kind: int, ticker: str, version: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (ts_ns, kind, self._seq, ticker, version))

    def _move_clock(self, when: datetime) -> None:
        if when > self.clock.current:
            self.clock.advance(when - self.clock.current)

    def advance_to(self, t: datetime) -> None:
        """Apply every fill, close and settlement due by ``t``, then set the clock to ``t``."""
        t_ns = to_ns(t)
        while self._heap and self._heap[0][0] <= t_ns:
            ts_ns, kind, _, ticker, version = heapq.heappop(self._heap)
            self._move_clock(from_ns(ts_ns))
            if kind == _FILL:
                self._fill_step(ticker, version)
            elif kind == _CLOSE:
                self.engine.close_market(ticker)
                self._resting.pop(ticker, None)
                self._candidates.pop(ticker, None)
            else:
                self._settle(ticker)
        self._move_clock(t)

    def finish(self) -> None:
        """Run the schedule to its end: every listed market closes and settles."""
        if self._heap:
            last = max(item[0] for item in self._heap)
            self.advance_to(from_ns(last))

    @property
    def next_time(self) -> datetime | None:
        """When the next scheduled fill, close or settlement is due."""
        return from_ns(self._heap[0][0]) if self._heap else None

    # ---- markets -----------------------------------------------------------------------
    def _list(self, ticker: str) -> matching.Market:
        market = self.engine.markets.get(ticker)
        if market is not None:
            return market
        spec = self.markets.get(ticker)
        if spec is None:
            raise KalshiRejection(404, "market_not_found", f"no market {ticker}")
        market = self.engine.add_market(
            ticker, spec.event_ticker, spec.series_ticker, self.fee_model
        )
        if spec.close_time <= self.clock.now():
            self.engine.close_market(ticker)
            return market
        close_ns = to_ns(spec.close_time)
        self._push(close_ns, _CLOSE, ticker)
        if spec.result in ("yes", "no"):
            self._push(to_ns(spec.close_time + self.settle_delay), _SETTLE, ticker)
        return market

    def _settle(self, ticker: str) -> None:
        spec = self.markets[ticker]
        before = len(self.engine.settlements)
        self.engine.settle_market(ticker, spec.result, spec.event_ticker)
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

    # ---- fills -------------------------------------------------------------------------
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

    def _rescan(self, ticker: str) -> None:
        """Recompute the rows that can fill the market's resting orders from now on."""
        orders = list(self._resting.get(ticker, {}).values())
        old = self._candidates.get(ticker)
        version = (old.version + 1) if old is not None else 1
        if not orders:
            self._candidates.pop(ticker, None)
            return
        spec = self.markets[ticker]
        start, end = to_ns(self.clock.now()), to_ns(spec.close_time)
        prints = self.data.prints(ticker)
        quotes = self.data.quotes(ticker)
        if prints is not None:
            cand = _Candidates("print", print_candidates(prints, orders, start, end))
        elif quotes is not None:
            cand = _Candidates("quote", quote_candidates(quotes, orders, start, end))
        else:
            self._candidates.pop(ticker, None)
            return
        cand.version = version
        self._candidates[ticker] = cand
        self._schedule_next(ticker, cand)

    def _schedule_next(self, ticker: str, cand: _Candidates) -> None:
        if cand.pos >= len(cand.rows) or not self._resting.get(ticker):
            return
        i = int(cand.rows[cand.pos])
        series = self.data.prints(ticker) if cand.source == "print" else self.data.quotes(ticker)
        assert series is not None
        self._push(int(series.ts[i]), _FILL, ticker, cand.version)

    def _fill_step(self, ticker: str, version: int) -> None:
        cand = self._candidates.get(ticker)
        if cand is None or cand.version != version:
            return
        i = int(cand.rows[cand.pos])
        cand.pos += 1
        self.stats.rows_checked += 1
        orders = list(self._resting.get(ticker, {}).values())
        if cand.source == "print":
            p = self.data.prints(ticker)
            assert p is not None
            count = Decimal(str(round(float(p.count[i]), 2)))
            allocs = allocate_print(
                orders, int(p.price[i]), count, bool(p.taker_yes[i]), int(p.ts[i])
            )
        else:
            q = self.data.quotes(ticker)
            assert q is not None
            allocs = allocate_quote(orders, q, i, self.data.model.depth)
        for o, qty in allocs:
            side = BookSide.ASK if o.bid else BookSide.BID
            request = matching.OrderRequest(
                ticker, side, qty, Decimal(o.price) / CENTS, TimeInForce.IMMEDIATE_OR_CANCEL
            )
            placement = self.engine.create_order(TAPE, request)
            self._collect(placement.events)
        self._sync(ticker)
        self._schedule_next(ticker, cand)

    def _sync(self, ticker: str) -> None:
        """Take remaining sizes from the engine (the source of truth); drop finished orders."""
        mine = self._resting.get(ticker, {})
        for oid in list(mine):
            order = self.engine.orders[oid]
            if order.status is OrderStatus.RESTING and order.remaining_count > 0:
                mine[oid].remaining = order.remaining_count
            else:
                del mine[oid]

    def resting_reports(self) -> list[OrderReport]:
        """Our resting orders (a synchronous shortcut of ``get_orders(status="resting")``)."""
        return [order_report(self.engine.orders[oid]) for m in self._resting.values() for oid in m]

    # ---- ExecutionVenue ----------------------------------------------------------------
    async def create_order(self, req: OrderRequest, *, resend_unknown: bool = False) -> OrderAck:
        """Place a limit order against the recorded book; rest what does not fill.

        ``resend_unknown`` has no effect: an in-process venue never leaves an outcome unknown.
        """
        del resend_unknown
        self.stats.orders += 1
        market = self._list(req.ticker)
        book_side, yes_price = req.book
        now = self.clock.now()
        makers: list[str] = []
        book = self.data.book(req.ticker, now)
        if book is not None and market.status is matching.MarketStatus.ACTIVE:
            for side, price in ((BookSide.BID, book.yes_bid), (BookSide.ASK, book.yes_ask)):
                if price is None:
                    continue
                try:
                    posted = self.engine.create_order(
                        BOOK,
                        matching.OrderRequest(
                            req.ticker, side, self.data.model.depth, price, post_only=True
                        ),
                    )
                except OrderRejected:
                    continue  # it would cross our own resting order: the fill model had it
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
        order = placement.order
        if order.status is OrderStatus.RESTING and order.remaining_count > 0:
            self._resting.setdefault(req.ticker, {})[order.order_id] = Resting(
                order_id=order.order_id,
                bid=book_side is BookSide.BID,
                price=int(yes_price * CENTS),
                remaining=order.remaining_count,
                placed_ns=to_ns(now),
                seq=order.priority,
                queue=self.data.model.queue_ahead,
            )
            self._rescan(req.ticker)
        return OrderAck(
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            filled=placement.fill_count,
            remaining=order.remaining_count,
            ts=now,
            average_fill_price=placement.average_fill_price,
            average_fee_paid=placement.average_fee_paid,
        )

    async def cancel_order(self, order_id: str, *, ticker: str | None = None) -> OrderAck:
        """Cancel the rest of a resting order."""
        try:
            order = self.engine.order(USER, order_id)
            if ticker is not None and order.ticker != ticker:
                raise OrderRejected("not_found", f"order {order_id} is not in {ticker}", 404)
            reduced, _ = self.engine.cancel_order(USER, order_id)
        except OrderRejected as e:
            raise _rejection(e) from None
        self.stats.cancels += 1
        self._resting.get(order.ticker, {}).pop(order_id, None)
        self._rescan(order.ticker)
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
            if ticker is not None:
                ids = list(self._resting.get(ticker, {}))
            else:
                ids = [oid for m in self._resting.values() for oid in m]
            pool = [self.engine.orders[oid] for oid in ids]
        else:
            pool = list(self.engine.by_user.get(USER, {}).values())
        out = []
        for o in sorted(pool, key=lambda o: o.priority):
            if ticker is not None and o.ticker != ticker:
                continue
            if event_ticker is not None and self.markets[o.ticker].event_ticker != event_ticker:
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
            if event_ticker is not None and self.markets[t].event_ticker != event_ticker:
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
