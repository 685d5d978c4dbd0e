"""Replay a recorded dataset as the other participants of the local exchange.

The model (a model, not data: the tape holds trade prints and no order book):

* Markets are listed from ``markets.csv``: they open at ``open_time``, close at
  ``close_time`` (resting orders are cancelled) and settle on ``result`` a fixed delay
  later (``settle_delay``, default 1 h of simulated time).
* Every trade print ``(ticker, t, yes_price p, count c, taker_side)`` is replayed at ``t``:
  first the synthetic market maker (account ``tape-maker``) replaces its quotes so that the
  print's counterparty rests at ``p`` with ``c + depth`` contracts and the other side rests one
  cent away with ``depth`` contracts; then the historical aggressor (account ``tape-taker``)
  sends an immediate-or-cancel order for ``c`` contracts at ``p``. The aggressor meets the
  book by price-time priority, so a user order resting at a better price, or at ``p`` and
  placed before the print, fills first and the public print is reproduced otherwise.
  Users' own orders that cross the maker's quotes trade against them.
* When the dataset has ``quotes`` (best YES bid/ask change log or snapshots), each quote
  row replaces the maker's quotes with ``depth`` contracts at the quoted prices.

The two tape accounts have unlimited cash but are booked like every other account, so the
engine's conservation of cash and contracts holds across a replay.
"""

from __future__ import annotations

import contextlib
import heapq
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd

from milkbot.datasets import Dataset
from milkbot.domain.fees import FeeModel
from milkbot.domain.market import BookSide
from milkbot.domain.portfolio import TimeInForce
from milkbot.errors import DatasetError
from milkbot.venues.exchange.matching import (
    ONE,
    TICK,
    ZERO,
    Engine,
    Event,
    MarketStatus,
    OrderRejected,
    OrderRequest,
    OrderStatus,
)

MAKER = "tape-maker"
TAKER = "tape-taker"
# Order of simultaneous schedule items: open, quotes, prints, close, settle.
_OPEN, _QUOTE, _PRINT, _CLOSE, _SETTLE = range(5)


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """The static description of one replayed market (a ``markets.csv`` row)."""

    ticker: str
    event_ticker: str
    series_ticker: str
    city: str
    station: str
    event_date: date | None
    strike_type: str
    floor_strike: float | None
    cap_strike: float | None
    open_time: datetime | None
    close_time: datetime | None
    result: str
    expiration_value: float | None


def _opt_float(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(str(value))


def _opt_time(value: object) -> datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, datetime):
        return value
    return None


def _opt_str(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def market_infos(dataset: Dataset) -> dict[str, MarketInfo]:
    """Read the dataset's markets table into :class:`MarketInfo` values keyed by ticker."""
    if dataset.markets is None:
        raise DatasetError("the replay needs a markets table")
    out: dict[str, MarketInfo] = {}
    for row in dataset.markets.to_dict("records"):
        ticker = _opt_str(row["ticker"])
        if not ticker:
            continue
        event_date = row["event_date"]
        out[ticker] = MarketInfo(
            ticker=ticker,
            event_ticker=_opt_str(row["event_ticker"]),
            series_ticker=_opt_str(row["series_ticker"]),
            city=_opt_str(row["city"]),
            station=_opt_str(row["station"]),
            event_date=event_date if isinstance(event_date, date) else None,
            strike_type=_opt_str(row["strike_type"]),
            floor_strike=_opt_float(row["floor_strike"]),
            cap_strike=_opt_float(row["cap_strike"]),
            open_time=_opt_time(row["open_time"]),
            close_time=_opt_time(row["close_time"]),
            result=_opt_str(row["result"]),
            expiration_value=_opt_float(row["expiration_value"]),
        )
    return out


class TapeReplay:
    """Feeds a dataset's history into an :class:`Engine` as simulated time passes.

    Call :meth:`advance` with the engine clock's current time; it applies every scheduled
    item due by then and returns the engine events they caused.
    """

    def __init__(
        self,
        engine: Engine,
        dataset: Dataset,
        *,
        depth: Decimal = Decimal(10),
        settle_delay: timedelta = timedelta(hours=1),
        fee_model: FeeModel | None = None,
    ) -> None:
        self.engine = engine
        self.depth = depth
        self.infos = market_infos(dataset)
        self.fee_model = fee_model or FeeModel()
        self._heap: list[tuple[datetime, int, int, tuple[object, ...]]] = []
        self._n = 0
        self.prints_replayed = 0
        engine.open_account(MAKER, ZERO, unlimited=True)
        engine.open_account(TAKER, ZERO, unlimited=True)
        start = self._earliest(dataset)
        for info in self.infos.values():
            opens_later = info.open_time is not None and info.open_time > start
            status = MarketStatus.INITIALIZED if opens_later else MarketStatus.ACTIVE
            engine.add_market(
                info.ticker, info.event_ticker, info.series_ticker, self.fee_model, status
            )
            if opens_later and info.open_time is not None:
                self._push(info.open_time, _OPEN, (info.ticker,))
            if info.close_time is not None:
                self._push(info.close_time, _CLOSE, (info.ticker,))
                if info.result in ("yes", "no"):
                    self._push(info.close_time + settle_delay, _SETTLE, (info.ticker, info.result))
        if dataset.trades is not None:
            frame = dataset.trades[dataset.trades["ticker"].isin(self.infos.keys())]
            for t, ticker, price, count, side in zip(
                frame["created_time"],
                frame["ticker"],
                frame["yes_price"],
                frame["count"],
                frame["taker_side"],
                strict=True,
            ):
                self._push(
                    t.to_pydatetime(), _PRINT, (ticker, int(price), Decimal(str(count)), side)
                )
        if dataset.quotes is not None:
            frame = dataset.quotes[dataset.quotes["ticker"].isin(self.infos.keys())]
            for t, ticker, bid, ask in zip(
                frame["ts"], frame["ticker"], frame["yes_bid"], frame["yes_ask"], strict=True
            ):
                self._push(t.to_pydatetime(), _QUOTE, (ticker, _opt_float(bid), _opt_float(ask)))

    def _earliest(self, dataset: Dataset) -> datetime:
        times = [i.open_time for i in self.infos.values() if i.open_time is not None]
        if dataset.trades is not None and len(dataset.trades):
            times.append(dataset.trades["created_time"].min().to_pydatetime())
        if dataset.quotes is not None and len(dataset.quotes):
            times.append(dataset.quotes["ts"].min().to_pydatetime())
        if not times:
            raise DatasetError("the dataset has no open times, trades or quotes")
        return min(times)

    def _push(self, when: datetime, kind: int, payload: tuple[object, ...]) -> None:
        self._n += 1
        heapq.heappush(self._heap, (when, kind, self._n, payload))

    @property
    def start_time(self) -> datetime:
        """Time of the first scheduled item (a sensible replay start)."""
        return min(self._heap)[0] if self._heap else self.engine.clock.now()

    @property
    def next_time(self) -> datetime | None:
        """Time of the next pending item, None when the replay is over."""
        return self._heap[0][0] if self._heap else None

    def advance(self, now: datetime) -> list[Event]:
        """Apply every scheduled item with time <= ``now``; return the resulting events."""
        events: list[Event] = list(self.engine.expire_orders())
        while self._heap and self._heap[0][0] <= now:
            _, kind, _, payload = heapq.heappop(self._heap)
            if kind == _OPEN:
                events += self.engine.open_market(str(payload[0]))
            elif kind == _CLOSE:
                events += self.engine.close_market(str(payload[0]))
            elif kind == _SETTLE:
                events += self.engine.settle_market(str(payload[0]), str(payload[1]))
            elif kind == _QUOTE:
                ticker, bid, ask = payload
                events += self._quote(str(ticker), _cents(bid), _cents(ask))
            else:
                ticker, cents, count, side = payload
                assert isinstance(cents, int) and isinstance(count, Decimal)
                events += self._print(str(ticker), cents, count, str(side))
        return events

    def _cancel_maker(self, ticker: str) -> list[Event]:
        events: list[Event] = []
        market = self.engine.markets[ticker]
        for side in BookSide:
            for queue in list(market.levels(side).values()):
                for order in list(queue):
                    if order.user_id == MAKER and order.status is OrderStatus.RESTING:
                        events += self.engine.cancel_order(MAKER, order.order_id, "Cancel")[1]
        return events

    def _post(self, ticker: str, side: BookSide, price: Decimal, count: Decimal) -> list[Event]:
        if count <= 0 or not TICK <= price <= ONE - TICK:
            return []
        request = OrderRequest(ticker, side, count, price)
        try:
            return list(self.engine.create_order(MAKER, request).events)
        except OrderRejected:
            return []

    def _quote(self, ticker: str, bid: Decimal | None, ask: Decimal | None) -> list[Event]:
        if self.engine.markets[ticker].status is not MarketStatus.ACTIVE:
            return []
        events = self._cancel_maker(ticker)
        if bid is not None:
            events += self._post(ticker, BookSide.BID, bid, self.depth)
        if ask is not None:
            events += self._post(ticker, BookSide.ASK, ask, self.depth)
        return events

    def _print(self, ticker: str, cents: int, count: Decimal, taker_side: str) -> list[Event]:
        if self.engine.markets[ticker].status is not MarketStatus.ACTIVE or not 1 <= cents <= 99:
            return []
        price = Decimal(cents) / 100
        events = self._cancel_maker(ticker)
        if taker_side == "yes":
            events += self._post(ticker, BookSide.ASK, price, count + self.depth)
            events += self._post(ticker, BookSide.BID, price - TICK, self.depth)
            aggressor = BookSide.BID
        else:
            events += self._post(ticker, BookSide.BID, price, count + self.depth)
            events += self._post(ticker, BookSide.ASK, price + TICK, self.depth)
            aggressor = BookSide.ASK
        request = OrderRequest(ticker, aggressor, count, price, TimeInForce.IMMEDIATE_OR_CANCEL)
        with contextlib.suppress(OrderRejected):
            events += self.engine.create_order(TAKER, request).events
        self.prints_replayed += 1
        return events


def _cents(value: object) -> Decimal | None:
    f = _opt_float(value)
    if f is None or not 1 <= f <= 99:
        return None
    return Decimal(round(f)) / 100
