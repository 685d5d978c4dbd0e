"""Recorded prints and quotes per market as numpy arrays: the book seen at a time, and marks.

A dataset's trades and quotes are sorted once by (ticker, time) into flat arrays; each
market is a slice of them. Every look-up is as of a time ``t``: only rows with a timestamp
``<= t`` are used (no look-ahead).

The book a decision sees at ``t`` (:meth:`MarketData.book`) is, in order of preference:

* the last quote row with ``ts <= t`` (best YES bid and ask as recorded) when it is at most
  ``BookModel.max_age`` old;
* else a book modelled around the last print at most ``max_age`` old: bid
  ``p - floor(spread / 2)`` and ask ``p + ceil(spread / 2)`` cents (the tape holds prints, not
  quotes; ``spread_cents`` defaults to 2, the median quoted spread of brackets priced 10-90 c
  in ``kalshi-quotes-2026-dev``);
* else no book (the market is not traded at ``t``).

Both sides carry ``BookModel.depth`` contracts: the recordings have no sizes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from milkbot.datasets import Dataset
from milkbot.decision import BookTop
from milkbot.domain.ledger import Mark
from milkbot.venues.simulated import from_ns, to_ns

CENTS = Decimal(100)


@dataclass(frozen=True, slots=True)
class BookModel:
    """Assumptions that turn recordings without sizes into a book and fills.

    Parameters
    ----------
    max_age : timedelta
        Oldest quote or print a decision may trade against.
    depth : Decimal
        Contracts assumed at the best bid and at the best ask (recordings have no sizes);
        also the contracts a quote that crosses a resting order can fill.
    spread_cents : int
        Spread of the book modelled around the last print when there are no quotes.
    queue_ahead : Decimal
        Contracts assumed to rest ahead of our order at its price when it is placed; prints
        at our price fill us only after that many have traded there.
    """

    max_age: timedelta = timedelta(hours=1)
    depth: Decimal = Decimal(10)
    spread_cents: int = 2
    queue_ahead: Decimal = Decimal(10)

    def __post_init__(self) -> None:
        if self.max_age < timedelta(0):
            raise ValueError("max_age must not be negative")
        if self.depth <= 0:
            raise ValueError("depth must be positive")
        if not 0 <= self.spread_cents <= 20:
            raise ValueError("spread_cents must be in 0..20")
        if self.queue_ahead < 0:
            raise ValueError("queue_ahead must not be negative")


@dataclass(frozen=True, slots=True)
class PrintSeries:
    """One market's prints in time order: ns timestamps, YES cents, counts, aggressor side
    (``taker_known`` False where the tape does not say it)."""

    ts: np.ndarray
    price: np.ndarray
    count: np.ndarray
    taker_yes: np.ndarray
    taker_known: np.ndarray


@dataclass(frozen=True, slots=True)
class QuoteSeries:
    """One market's quote rows in time order; NaN where a side is empty."""

    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


def _ns(column: pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(column).as_unit("ns").asi8, dtype=np.int64)


def _slices(
    keys: pd.Series, times: np.ndarray, wanted: set[str]
) -> tuple[np.ndarray, dict[str, slice]]:
    """Rows of the wanted keys sorted by (key, time), and each key's slice of them."""
    codes, uniques = pd.factorize(keys, sort=True)
    keep = np.isin(codes, [i for i, k in enumerate(uniques) if k in wanted])
    rows = np.flatnonzero(keep & (times != np.iinfo(np.int64).min))
    order = rows[np.lexsort((times[rows], codes[rows]))]
    sorted_codes = codes[order]
    bounds = np.searchsorted(sorted_codes, np.arange(len(uniques) + 1))
    return order, {str(k): slice(int(bounds[i]), int(bounds[i + 1])) for i, k in enumerate(uniques)}


def _cents(value: float) -> int | None:
    if np.isnan(value) or not 1 <= value <= 99:
        return None
    return round(value)


def _dollars(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / CENTS


class MarketData:
    """Prints and quotes of the markets a backtest replays, indexed for as-of look-ups."""

    def __init__(self, dataset: Dataset, tickers: Collection[str], model: BookModel) -> None:
        self.model = model
        wanted = set(tickers)
        self._prints: dict[str, PrintSeries] = {}
        self._quotes: dict[str, QuoteSeries] = {}
        trades = dataset.trades
        if trades is not None and len(trades):
            frame = trades[trades["yes_price"].notna() & trades["count"].notna()]
            ts = _ns(frame["created_time"])
            order, slices = _slices(frame["ticker"], ts, wanted)
            ts = ts[order]
            price = frame["yes_price"].to_numpy(dtype=np.int64)[order]
            count = frame["count"].to_numpy(dtype=np.float64)[order]
            taker_yes = (frame["taker_side"] == "yes").to_numpy(dtype=bool)[order]
            known = frame["taker_side"].isin(("yes", "no")).to_numpy(dtype=bool)[order]
            for ticker, s in slices.items():
                self._prints[ticker] = PrintSeries(
                    ts[s], price[s], count[s], taker_yes[s], known[s]
                )
        quotes = dataset.quotes
        if quotes is not None and len(quotes):
            ts = _ns(quotes["ts"])
            order, slices = _slices(quotes["ticker"], ts, wanted)
            ts = ts[order]
            bid = quotes["yes_bid"].to_numpy(dtype=np.float64, na_value=np.nan)[order]
            ask = quotes["yes_ask"].to_numpy(dtype=np.float64, na_value=np.nan)[order]
            for ticker, s in slices.items():
                self._quotes[ticker] = QuoteSeries(ts[s], bid[s], ask[s])

    @property
    def n_prints(self) -> int:
        """Prints indexed (of the replayed markets)."""
        return sum(len(p.ts) for p in self._prints.values())

    @property
    def n_quotes(self) -> int:
        """Quote rows indexed (of the replayed markets)."""
        return sum(len(q.ts) for q in self._quotes.values())

    def prints(self, ticker: str) -> PrintSeries | None:
        """The market's prints, None when it has none."""
        return self._prints.get(ticker)

    def quotes(self, ticker: str) -> QuoteSeries | None:
        """The market's quote rows, None when it has none."""
        return self._quotes.get(ticker)

    def _last_quote(self, ticker: str, t_ns: int) -> tuple[int | None, int | None, int] | None:
        q = self._quotes.get(ticker)
        if q is None:
            return None
        i = int(np.searchsorted(q.ts, t_ns, side="right")) - 1
        if i < 0:
            return None
        return _cents(float(q.bid[i])), _cents(float(q.ask[i])), int(q.ts[i])

    def _last_print(self, ticker: str, t_ns: int) -> tuple[int | None, int | None, int] | None:
        p = self._prints.get(ticker)
        if p is None:
            return None
        i = int(np.searchsorted(p.ts, t_ns, side="right")) - 1
        if i < 0:
            return None
        price = int(p.price[i])
        s = self.model.spread_cents
        bid = price - s // 2
        ask = price + (s - s // 2)
        return (bid if 1 <= bid <= 99 else None), (ask if 1 <= ask <= 99 else None), int(p.ts[i])

    def top(self, ticker: str, t: datetime) -> tuple[int | None, int | None, int] | None:
        """Best YES bid and ask in cents and the time (ns) of the row behind them, any age.

        A fresh quote wins; else the fresher of the last quote and the book modelled on the
        last print.
        """
        t_ns = to_ns(t)
        q = self._last_quote(ticker, t_ns)
        limit = int(self.model.max_age.total_seconds() * 1e9)
        if q is not None and t_ns - q[2] <= limit:
            return q
        p = self._last_print(ticker, t_ns)
        if q is None:
            return p
        if p is None:
            return q
        return p if p[2] > q[2] else q

    def book(self, ticker: str, t: datetime) -> BookTop | None:
        """The book a decision at ``t`` may trade against; None without fresh data."""
        top = self.top(ticker, t)
        if top is None:
            return None
        bid, ask, ts = top
        if to_ns(t) - ts > int(self.model.max_age.total_seconds() * 1e9):
            return None
        if bid is None and ask is None:
            return None
        depth = self.model.depth
        return BookTop(
            yes_bid=_dollars(bid),
            yes_ask=_dollars(ask),
            yes_bid_size=depth if bid is not None else Decimal(0),
            yes_ask_size=depth if ask is not None else Decimal(0),
            ts=from_ns(ts),
        )

    def mark(self, ticker: str, t: datetime) -> Mark | None:
        """The last known top of the book (any age) for marking a position; None if none."""
        top = self.top(ticker, t)
        if top is None:
            return None
        bid, ask, _ = top
        return Mark(_dollars(bid), _dollars(ask))
