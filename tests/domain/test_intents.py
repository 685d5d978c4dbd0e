"""Order intents and opportunities: Kalshi position signs and validation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import (
    Action,
    BracketOpportunity,
    EventOpportunity,
    OrderIntent,
    Side,
    yes_delta,
    yes_price_of,
)
from milkbot.errors import DataError

CLOSE = datetime(2025, 3, 2, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("side", "action", "expected"),
    [
        (Side.YES, Action.BUY, D(5)),
        (Side.YES, Action.SELL, D(-5)),
        (Side.NO, Action.BUY, D(-5)),
        (Side.NO, Action.SELL, D(5)),
    ],
)
def test_yes_delta_follows_position_fp_signs(side, action, expected) -> None:
    assert yes_delta(side, action, D(5)) == expected


def test_no_price_is_one_minus_yes_price() -> None:
    assert yes_price_of(Side.NO, D("0.37")) == D("0.63")
    assert yes_price_of(Side.YES, D("0.37")) == D("0.37")
    intent = OrderIntent(
        "i1", "M", "E", "NYC", Side.NO, Action.BUY, D(3), D("0.37"), FeeModel(), CLOSE
    )
    assert intent.yes_delta == D(-3)
    assert intent.yes_price == D("0.63")


def bracket(ticker: str, **kw) -> BracketOpportunity:
    args = {
        "market_ticker": ticker,
        "event_ticker": "E",
        "city": "NYC",
        "bracket_index": 0,
        "probability": 0.3,
        "probability_sd": 0.05,
        "yes_bid": D("0.28"),
        "yes_ask": D("0.31"),
        "yes_bid_size": D(100),
        "yes_ask_size": D(50),
        "fee_model": FeeModel(),
        "close_time": CLOSE,
    }
    args.update(kw)
    return BracketOpportunity(**args)


def test_bracket_opportunity_book_helpers() -> None:
    b = bracket("M1")
    assert b.no_ask == D("0.72")
    assert b.mid == pytest.approx(0.295)
    assert bracket("M2", yes_bid=None).mid == pytest.approx(0.31)
    assert bracket("M3", yes_bid=None, yes_ask=None).mid is None


@pytest.mark.parametrize(
    "bad",
    [
        {"probability": 1.2},
        {"probability_sd": -0.1},
        {"yes_ask": D("1.00")},
        {"yes_bid": D("0")},
        {"yes_ask_size": D(-1)},
    ],
)
def test_bracket_opportunity_rejects_bad_inputs(bad) -> None:
    with pytest.raises(DataError):
        bracket("M", **bad)


def test_event_opportunity_checks_membership() -> None:
    EventOpportunity("E", "NYC", (bracket("M1"), bracket("M2")))
    with pytest.raises(DataError):
        EventOpportunity("E", "NYC", (bracket("M1"), bracket("M1")))
    with pytest.raises(DataError):
        EventOpportunity("E", "NYC", (bracket("M1", city="CHI"),))
