"""The fill model of resting orders: which recorded prints or quotes fill them, and how much.

Prices are YES cents; a resting ``bid`` buys YES at its price, a resting ``ask`` sells YES
(buys NO) at its price. Only rows after the order was placed count.

Prints (when the market has any):

* **through**: a print strictly better than our price for the other side (below our bid,
  above our ask) fills us at our price, up to the print's count: whoever traded there would
  have met our order first;
* **at our price**: only prints where our side was the resting one (a NO-side aggressor for
  a bid, a YES-side aggressor for an ask) count, and their volume first consumes the queue
  assumed ahead of us (``BookModel.queue_ahead``) before it fills us;
* prints at worse prices, and at-price prints the other way round, fill nothing.

Quotes (markets without prints): a quote row whose ask is at or below our bid (or whose bid
is at or above our ask) crosses the order. A crossing row fills up to ``BookModel.depth``
contracts when it starts a crossing (the row before did not cross) or improves on the row
before (a lower ask for a bid, a higher bid for an ask): a crossing that merely persists
brings no new liquidity. A single snapshot per market therefore never fills a resting order.

A print's (or a crossing's) volume is shared by our orders in price-time priority.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from milkbot.backtest.marketdata import PrintSeries, QuoteSeries

ZERO = Decimal(0)


@dataclass(slots=True)
class Resting:
    """One of our resting orders as the fill model tracks it."""

    order_id: str
    bid: bool
    price: int
    remaining: Decimal
    placed_ns: int
    seq: int
    queue: Decimal


def _priority(orders: Sequence[Resting], bid: bool) -> list[Resting]:
    side = [o for o in orders if o.bid is bid and o.remaining > 0]
    if bid:
        return sorted(side, key=lambda o: (-o.price, o.seq))
    return sorted(side, key=lambda o: (o.price, o.seq))


def print_candidates(
    series: PrintSeries, orders: Sequence[Resting], start_ns: int, end_ns: int
) -> np.ndarray:
    """Indices of the prints in ``(start_ns, end_ns]`` that can fill one of ``orders``."""
    lo = int(np.searchsorted(series.ts, start_ns, side="right"))
    hi = int(np.searchsorted(series.ts, end_ns, side="right"))
    if hi <= lo:
        return np.empty(0, dtype=np.int64)
    ts = series.ts[lo:hi]
    price = series.price[lo:hi]
    taker_yes = series.taker_yes[lo:hi]
    mask = np.zeros(hi - lo, dtype=bool)
    for o in orders:
        if o.remaining <= 0:
            continue
        if o.bid:
            hit = (price < o.price) | ((price == o.price) & ~taker_yes)
        else:
            hit = (price > o.price) | ((price == o.price) & taker_yes)
        mask |= hit & (ts > o.placed_ns)
    return np.flatnonzero(mask) + lo


def allocate_print(
    orders: Sequence[Resting], price: int, count: Decimal, taker_yes: bool, ts_ns: int
) -> list[tuple[Resting, Decimal]]:
    """Fill ``orders`` from one print; update their remaining size and queue; return fills."""
    volume = count
    out: list[tuple[Resting, Decimal]] = []
    for bid in (True, False):
        for o in _priority(orders, bid):
            if volume <= 0:
                return out
            if o.placed_ns >= ts_ns:
                continue
            through = o.price > price if bid else o.price < price
            at_price = o.price == price and (taker_yes is not bid)
            if through:
                o.queue = ZERO
            elif at_price:
                ahead = min(volume, o.queue)
                o.queue -= ahead
                volume -= ahead
            else:
                continue
            q = min(volume, o.remaining)
            if q > 0:
                o.remaining -= q
                volume -= q
                out.append((o, q))
    return out


def _starts(series: QuoteSeries, o: Resting) -> np.ndarray:
    """Rows where a crossing of ``o`` starts or improves on the row before."""
    if o.bid:
        level = np.nan_to_num(series.ask, nan=1e9)
        better = np.concatenate(([True], level[1:] < level[:-1]))
        cross = level <= o.price
    else:
        level = np.nan_to_num(series.bid, nan=-1e9)
        better = np.concatenate(([True], level[1:] > level[:-1]))
        cross = level >= o.price
    before = np.concatenate(([False], cross[:-1]))
    out: np.ndarray = cross & (~before | better)
    return out


def _starts_at(series: QuoteSeries, o: Resting, i: int) -> bool:
    """:func:`_starts` at one row."""
    values = series.ask if o.bid else series.bid
    level = float(values[i])
    if np.isnan(level) or (level > o.price if o.bid else level < o.price):
        return False
    if i == 0:
        return True
    prev = float(values[i - 1])
    if np.isnan(prev):
        return True
    crossed_before = prev <= o.price if o.bid else prev >= o.price
    improves = level < prev if o.bid else level > prev
    return not crossed_before or improves


def quote_candidates(
    series: QuoteSeries, orders: Sequence[Resting], start_ns: int, end_ns: int
) -> np.ndarray:
    """Indices of quote rows in ``(start_ns, end_ns]`` that start or improve a crossing."""
    lo = int(np.searchsorted(series.ts, start_ns, side="right"))
    hi = int(np.searchsorted(series.ts, end_ns, side="right"))
    if hi <= lo:
        return np.empty(0, dtype=np.int64)
    mask = np.zeros(len(series.ts), dtype=bool)
    for o in orders:
        if o.remaining <= 0:
            continue
        mask |= _starts(series, o) & (series.ts > o.placed_ns)
    mask[:lo] = False
    mask[hi:] = False
    return np.flatnonzero(mask)


def allocate_quote(
    orders: Sequence[Resting], series: QuoteSeries, i: int, depth: Decimal
) -> list[tuple[Resting, Decimal]]:
    """Fill ``orders`` whose crossing starts or improves at row ``i``, sharing ``depth``."""
    ts_ns = int(series.ts[i])
    out: list[tuple[Resting, Decimal]] = []
    pools = {True: depth, False: depth}
    for side in (True, False):
        for o in _priority(orders, side):
            if o.placed_ns >= ts_ns:
                continue
            if not _starts_at(series, o, i):
                continue
            q = min(pools[side], o.remaining)
            if q > 0:
                o.remaining -= q
                pools[side] -= q
                out.append((o, q))
    return out
