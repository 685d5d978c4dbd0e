"""The fill model of resting orders: queue ahead, prints through the price, crossing quotes."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from milkbot.backtest.fills import (
    Resting,
    allocate_print,
    allocate_quote,
    print_candidates,
    quote_candidates,
)
from milkbot.backtest.marketdata import PrintSeries, QuoteSeries

S = 1_000_000_000  # one second in ns


def prints(rows: list[tuple[int, int, int, bool]]) -> PrintSeries:
    """Prints (second, YES cents, count, YES taker)."""
    return PrintSeries(
        np.array([r[0] * S for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=bool),
        np.ones(len(rows), dtype=bool),
    )


def bid(price: int, count: int = 10, queue: int = 10, placed: int = 0, seq: int = 1) -> Resting:
    """A resting YES bid placed at ``placed`` seconds."""
    return Resting("b", True, price, Decimal(count), placed * S, seq, Decimal(queue))


def ask(price: int, count: int = 10, queue: int = 10, placed: int = 0, seq: int = 1) -> Resting:
    """A resting YES ask (a NO buy) placed at ``placed`` seconds."""
    return Resting("a", False, price, Decimal(count), placed * S, seq, Decimal(queue))


def run(series: PrintSeries, orders: list[Resting]) -> list[tuple[str, int, Decimal]]:
    """Every fill (order id, second, count) the series gives the orders."""
    out = []
    for i in print_candidates(series, orders, 0, 10**6 * S):
        for o, q in allocate_print(
            orders,
            int(series.price[i]),
            Decimal(int(series.count[i])),
            bool(series.taker_yes[i]),
            int(series.ts[i]),
        ):
            out.append((o.order_id, int(series.ts[i]) // S, q))
    return out


def test_a_print_at_the_bids_price_does_not_fill_it_while_queue_is_ahead() -> None:
    order = bid(45, queue=10)
    assert run(prints([(5, 45, 6, False)]), [order]) == []
    assert order.queue == 4
    assert order.remaining == 10


def test_at_price_volume_beyond_the_queue_fills_the_bid() -> None:
    order = bid(45, queue=10)
    fills = run(prints([(5, 45, 6, False), (6, 45, 7, False)]), [order])
    assert fills == [("b", 6, Decimal(3))]
    assert order.remaining == 7


def test_a_print_through_the_bid_fills_it_whatever_the_queue() -> None:
    order = bid(45, queue=1000)
    assert run(prints([(5, 44, 4, False)]), [order]) == [("b", 5, Decimal(4))]
    assert order.queue == 0


def test_a_through_print_fills_at_most_the_rest_of_the_order() -> None:
    order = bid(45, count=3)
    assert run(prints([(5, 40, 50, True), (6, 40, 50, True)]), [order]) == [("b", 5, Decimal(3))]
    assert order.remaining == 0


def test_buyers_at_the_bids_price_and_prints_above_it_do_not_fill_it() -> None:
    order = bid(45, queue=0)
    assert run(prints([(5, 45, 20, True), (6, 46, 20, False), (7, 60, 5, True)]), [order]) == []


def test_prints_before_the_order_was_placed_do_not_count() -> None:
    order = bid(45, placed=10)
    assert run(prints([(5, 40, 20, False), (10, 40, 20, False)]), [order]) == []
    assert run(prints([(5, 40, 20, False), (11, 40, 20, False)]), [order]) == [
        ("b", 11, Decimal(10))
    ]


def test_an_ask_fills_on_prints_above_it_and_on_buyers_at_its_price() -> None:
    order = ask(60, count=10, queue=2)
    fills = run(
        prints([(5, 59, 9, True), (6, 60, 5, False), (7, 60, 5, True), (8, 62, 4, False)]), [order]
    )
    assert fills == [("a", 7, Decimal(3)), ("a", 8, Decimal(4))]


def test_one_print_is_shared_by_price_then_time_priority() -> None:
    early = Resting("early", True, 45, Decimal(5), 0, 1, Decimal(0))
    late = Resting("late", True, 45, Decimal(5), 0, 2, Decimal(0))
    better = Resting("better", True, 47, Decimal(5), 0, 3, Decimal(0))
    fills = run(prints([(5, 44, 12, False)]), [early, late, better])
    assert fills == [("better", 5, Decimal(5)), ("early", 5, Decimal(5)), ("late", 5, Decimal(2))]


def quotes(rows: list[tuple[int, float, float]]) -> QuoteSeries:
    """Quote rows (second, YES bid, YES ask); NaN = empty side."""
    return QuoteSeries(
        np.array([r[0] * S for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float64),
        np.array([r[2] for r in rows], dtype=np.float64),
    )


def run_quotes(
    series: QuoteSeries, orders: list[Resting], depth: int = 10
) -> list[tuple[str, int, Decimal]]:
    """Every fill (order id, second, count) the quote rows give the orders."""
    out = []
    for i in quote_candidates(series, orders, 0, 10**6 * S):
        for o, q in allocate_quote(orders, series, int(i), Decimal(depth)):
            out.append((o.order_id, int(series.ts[i]) // S, q))
    return out


def test_a_single_quote_snapshot_never_fills_a_resting_order() -> None:
    order = bid(45, count=5)
    assert run_quotes(quotes([(0, 44.0, 47.0)]), [order]) == []


def test_a_later_quote_crossing_the_bid_fills_it_when_the_crossing_starts_or_improves() -> None:
    order = bid(45, count=50)
    series = quotes(
        [
            (0, 44.0, 47.0),
            (5, 43.0, 45.0),  # starts crossing
            (6, 43.0, 45.0),  # persists: nothing new
            (7, 42.0, 44.0),  # a lower ask: new liquidity
            (8, 44.0, 46.0),  # uncrossed
            (9, 40.0, 45.0),  # crosses again
        ]
    )
    assert run_quotes(series, [order]) == [
        ("b", 5, Decimal(10)),
        ("b", 7, Decimal(10)),
        ("b", 9, Decimal(10)),
    ]
    assert order.remaining == 20


def test_quotes_that_do_not_reach_the_order_fill_nothing() -> None:
    order = ask(60, count=5)
    series = quotes([(0, 50.0, 58.0), (5, 59.0, float("nan")), (6, float("nan"), 61.0)])
    assert run_quotes(series, [order]) == []
    assert run_quotes(quotes([(0, 50.0, 58.0), (5, 60.0, 62.0)]), [ask(60, count=5)]) == [
        ("a", 5, Decimal(5))
    ]
