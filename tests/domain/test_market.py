"""Market-data domain values: YES/NO conversions, books, price grids."""

from __future__ import annotations

from decimal import Decimal

import pytest

from milkbot.domain.market import (
    BookSide,
    OrderBookSnapshot,
    OutcomeSide,
    PriceLevel,
    PriceRange,
    complement,
    sorted_levels,
)
from milkbot.domain.portfolio import Action, to_book

D = Decimal


def book() -> OrderBookSnapshot:
    return OrderBookSnapshot(
        "T",
        (PriceLevel(D("0.40"), D(5)), PriceLevel(D("0.42"), D(13))),
        (PriceLevel(D("0.45"), D(20)), PriceLevel(D("0.56"), D(17))),
    )


def test_best_levels_are_last_and_asks_come_from_the_other_leg() -> None:
    b = book()
    assert b.best_yes_bid == PriceLevel(D("0.42"), D(13))
    assert b.best_no_bid == PriceLevel(D("0.56"), D(17))
    assert b.best_yes_ask == PriceLevel(D("0.44"), D(17))
    assert b.best_no_ask == PriceLevel(D("0.58"), D(13))
    assert b.mid == D("0.43")
    assert b.yes_asks() == (PriceLevel(D("0.44"), D(17)), PriceLevel(D("0.55"), D(20)))


def test_empty_book() -> None:
    b = OrderBookSnapshot("T", (), ())
    assert b.best_yes_bid is None and b.best_yes_ask is None and b.mid is None


@pytest.mark.parametrize(
    ("side", "action", "price", "book_side", "yes_price"),
    [
        (OutcomeSide.YES, Action.BUY, "0.30", BookSide.BID, "0.30"),
        (OutcomeSide.YES, Action.SELL, "0.30", BookSide.ASK, "0.30"),
        (OutcomeSide.NO, Action.BUY, "0.30", BookSide.ASK, "0.70"),
        (OutcomeSide.NO, Action.SELL, "0.30", BookSide.BID, "0.70"),
    ],
)
def test_contract_orders_map_to_the_single_yes_book(side, action, price, book_side, yes_price):
    assert to_book(side, action, D(price)) == (book_side, D(yes_price))


def test_complement_and_sides() -> None:
    assert complement(D("0.0100")) == D("0.9900")
    assert OutcomeSide.YES.other is OutcomeSide.NO


def test_price_range_grid() -> None:
    cents = PriceRange(D("0.0000"), D("1.0000"), D("0.0100"))
    assert cents.contains(D("0.55")) and not cents.contains(D("0.555"))
    sub = PriceRange(D("0.0000"), D("0.1000"), D("0.0010"))
    assert sub.contains(D("0.055")) and not sub.contains(D("0.2"))


def test_sorted_levels_drop_empty_and_sort() -> None:
    levels = [PriceLevel(D("0.5"), D(1)), PriceLevel(D("0.2"), D(0)), PriceLevel(D("0.1"), D(2))]
    assert [lv.price for lv in sorted_levels(levels)] == [D("0.1"), D("0.5")]
