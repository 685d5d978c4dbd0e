"""Local order book and sequence tracking."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milkbot.domain.market import OutcomeSide
from milkbot.venues.kalshi import parsing
from milkbot.venues.kalshi.orderbook import (
    BookCorruptError,
    LocalOrderBook,
    SequenceGapError,
    SequenceTracker,
)

from .conftest import load_raw

D = Decimal


def test_book_from_the_recorded_rest_orderbook_matches_the_parsed_snapshot() -> None:
    raw = load_raw("real-2026-08_market_nested_single_and_orderbook.json")
    ob = raw["orderbook"]["orderbook_fp"]
    book = LocalOrderBook(raw["ticker"])
    book.apply_snapshot(
        [(D(p), D(q)) for p, q in ob["yes_dollars"]], [(D(p), D(q)) for p, q in ob["no_dollars"]]
    )
    assert book.snapshot() == parsing.orderbook(raw["ticker"], raw["orderbook"])
    assert book.best_yes_bid is not None and book.best_yes_bid.price == D("0.89")
    assert book.best_yes_ask is not None and book.best_yes_ask.price == D("0.94")


def test_deltas_move_the_best_levels() -> None:
    book = LocalOrderBook("T")
    book.apply_snapshot([(D("0.40"), D(5)), (D("0.41"), D(3))], [(D("0.55"), D(2))])
    book.apply_delta(OutcomeSide.YES, D("0.43"), D(1))
    assert book.best_yes_bid is not None and book.best_yes_bid.price == D("0.43")
    book.apply_delta(OutcomeSide.YES, D("0.43"), D(-1))
    assert book.best_yes_bid is not None and book.best_yes_bid.price == D("0.41")
    book.apply_delta(OutcomeSide.NO, D("0.55"), D(-2))
    assert book.best_yes_ask is None and book.no == {}
    book.apply_delta(OutcomeSide.NO, D("0.50"), D("0.25"))
    ask = book.best_yes_ask
    assert ask is not None and (ask.price, ask.size) == (D("0.50"), D("0.25"))


def test_impossible_delta_flags_resync() -> None:
    book = LocalOrderBook("T")
    with pytest.raises(BookCorruptError):
        book.apply_delta(OutcomeSide.YES, D("0.40"), D(1))  # before any snapshot
    book.apply_snapshot([(D("0.40"), D(5))], [])
    with pytest.raises(BookCorruptError):
        book.apply_delta(OutcomeSide.YES, D("0.40"), D(-6))
    assert not book.synced


_levels = st.dictionaries(
    st.integers(1, 99).map(lambda c: D(c) / 100), st.integers(1, 50).map(D), max_size=10
)


@settings(max_examples=50, deadline=None)
@given(
    yes=_levels,
    no=_levels,
    ops=st.lists(st.tuples(st.booleans(), st.integers(1, 99), st.integers(-60, 60)), max_size=40),
)
def test_best_levels_track_the_maximum(yes, no, ops) -> None:
    book = LocalOrderBook("T")
    book.apply_snapshot(list(yes.items()), list(no.items()))
    for is_yes, cents, delta in ops:
        side = OutcomeSide.YES if is_yes else OutcomeSide.NO
        levels = book.yes if is_yes else book.no
        price = D(cents) / 100
        if levels.get(price, D(0)) + delta < 0:
            continue
        book.apply_delta(side, price, D(delta))
    for levels, best in ((book.yes, book.best_yes_bid), (book.no, book.best_no_bid)):
        assert all(q > 0 for q in levels.values())
        assert (best.price if best else None) == (max(levels) if levels else None)


def test_sequence_tracker() -> None:
    seq = SequenceTracker()
    assert seq.observe(1, 1) and seq.observe(1, 2)
    assert not seq.observe(1, 2)  # duplicate
    assert seq.observe(2, 7)  # first frame of another sid
    with pytest.raises(SequenceGapError) as info:
        seq.observe(1, 4)
    assert (info.value.sid, info.value.expected, info.value.got) == (1, 3, 4)
    seq.forget(1)
    assert seq.observe(1, 1)
