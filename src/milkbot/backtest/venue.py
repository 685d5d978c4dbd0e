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

The account side (reports, cancel, settlement) is :class:`~milkbot.venues.simulated.EngineVenue`,
shared with paper trading; orders and fills are numbered from a seeded generator, so a replay
is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
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
from milkbot.backtest.marketdata import MarketData
from milkbot.clock import FixedClock
from milkbot.domain.fees import FeeModel
from milkbot.domain.market import BookSide
from milkbot.domain.portfolio import OrderAck, OrderReport, OrderRequest
from milkbot.venues.exchange import matching
from milkbot.venues.exchange.matching import OrderStatus
from milkbot.venues.kalshi.client import KalshiRejection
from milkbot.venues.simulated import EngineVenue, VenueStats, from_ns, order_report, to_ns

__all__ = ["MarketSpec", "SimVenue", "VenueStats"]

CENTS = Decimal(100)
_FILL, _CLOSE, _SETTLE = range(3)


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


class SimVenue(EngineVenue):
    """An in-process venue that fills orders from recorded prints and quotes."""

    def __init__(
        self,
        data: MarketData,
        markets: Mapping[str, MarketSpec],
        clock: FixedClock,
        starting_cash: Decimal,
        fee_model: FeeModel | None = None,
        settle_delay: timedelta = timedelta(hours=1),
        seed: int = 0,
    ) -> None:
        super().__init__(clock, starting_cash, fee_model=fee_model, seed=seed)
        self.clock: FixedClock = clock
        self.data = data
        self.markets = markets
        self.settle_delay = settle_delay
        self._heap: list[tuple[int, int, int, str, int]] = []
        self._seq = 0
        self._resting: dict[str, dict[str, Resting]] = {}
        self._candidates: dict[str, _Candidates] = {}

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
                self._settle(ticker, self.markets[ticker].result)
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

    # ---- fills -------------------------------------------------------------------------
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
            self._trade_at(self.engine.orders[o.order_id], qty)
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
        self._list(req.ticker)
        now = self.clock.now()
        placement = self._place(req, self.data.book(req.ticker, now))
        order = placement.order
        if order.status is OrderStatus.RESTING and order.remaining_count > 0:
            book_side, yes_price = req.book
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
        return self._ack(placement, now)

    def _on_cancelled(self, order: matching.Order) -> None:
        self._resting.get(order.ticker, {}).pop(order.order_id, None)
        self._rescan(order.ticker)
