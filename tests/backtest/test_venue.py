"""SimVenue: orders on the matching engine against recorded books, fills, fees, settlement.

The rows here are synthetic on purpose: each test states the book it needs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from milkbot.backtest.marketdata import BookModel, MarketData
from milkbot.backtest.venue import MarketSpec, SimVenue
from milkbot.clock import FixedClock
from milkbot.datasets import load_dataset
from milkbot.domain.fees import FeeModel, FeeType
from milkbot.domain.market import OutcomeSide
from milkbot.domain.portfolio import Action, OrderRequest, VenueOrderStatus
from milkbot.venues.kalshi.client import KalshiRejection

T0 = datetime(2025, 2, 3, 15, 0, tzinfo=UTC)
CLOSE = datetime(2025, 2, 4, 4, 59, tzinfo=UTC)
TICKER = "KXHIGHNY-25FEB03-B40.5"
MARKET = {
    "ticker": TICKER,
    "event_ticker": "KXHIGHNY-25FEB03",
    "series_ticker": "KXHIGHNY",
    "city": "NYC",
    "station": "KNYC",
    "event_date": "2025-02-03",
    "strike_type": "between",
    "floor_strike": "40",
    "cap_strike": "41",
    "open_time": "",
    "close_time": "2025-02-04T04:59:00Z",
    "result": "yes",
    "expiration_value": "41",
}


def iso(t: datetime) -> str:
    """Dataset timestamp."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_venue(
    tmp_path: Path,
    *,
    quotes: list[tuple[datetime, int | None, int | None]] = (),  # type: ignore[assignment]
    trades: list[tuple[datetime, int, int, str]] = (),  # type: ignore[assignment]
    fee_model: FeeModel | None = None,
    queue_ahead: int = 10,
) -> SimVenue:
    """A venue on one market with the given recorded rows."""
    d = tmp_path / "ds"
    d.mkdir(exist_ok=True)
    pd.DataFrame([MARKET]).to_csv(d / "markets.csv", index=False)
    if quotes:
        pd.DataFrame(
            [
                {"ticker": TICKER, "ts": iso(t), "yes_bid": b or "", "yes_ask": a or ""}
                for t, b, a in quotes
            ]
        ).to_csv(d / "quotes.csv", index=False)
    if trades:
        pd.DataFrame(
            [
                {
                    "ticker": TICKER,
                    "created_time": iso(t),
                    "yes_price": p,
                    "count": c,
                    "taker_side": s,
                }
                for t, p, c, s in trades
            ]
        ).to_csv(d / "trades.csv", index=False)
    ds = load_dataset([d])
    data = MarketData(ds, [TICKER], BookModel(queue_ahead=Decimal(queue_ahead)))
    spec = MarketSpec(TICKER, "KXHIGHNY-25FEB03", "KXHIGHNY", CLOSE, "yes")
    return SimVenue(
        data,
        {TICKER: spec},
        FixedClock(T0),
        Decimal(100),
        fee_model or FeeModel(),
        timedelta(hours=1),
    )


def buy(side: OutcomeSide, price: str, count: int, coid: str = "c1") -> OrderRequest:
    """A GTC buy."""
    return OrderRequest(TICKER, side, Action.BUY, Decimal(price), Decimal(count), coid)


async def test_a_taker_buy_crosses_the_recorded_ask_and_pays_the_taker_fee(tmp_path: Path) -> None:
    venue = make_venue(tmp_path, quotes=[(T0 - timedelta(minutes=5), 40, 44)])
    ack = await venue.create_order(buy(OutcomeSide.YES, "0.46", 5))
    assert ack.filled == 5 and ack.remaining == 0
    (fill,) = await venue.get_fills()
    assert fill.is_taker and fill.price == Decimal("0.44") and fill.count == 5
    assert fill.fee == FeeModel().taker_fee(5, Decimal("0.44")) == Decimal("0.09")
    balance = await venue.get_balance()
    assert balance.balance == Decimal(100) - Decimal("2.20") - Decimal("0.09")


async def test_a_no_buy_crosses_the_recorded_bid(tmp_path: Path) -> None:
    venue = make_venue(tmp_path, quotes=[(T0, 40, 44)])
    ack = await venue.create_order(buy(OutcomeSide.NO, "0.60", 3))
    assert ack.filled == 3
    (fill,) = await venue.get_fills()
    assert fill.side is OutcomeSide.NO and fill.price == Decimal("0.60")
    assert fill.fee == FeeModel().taker_fee(3, Decimal("0.60"))


async def test_only_the_assumed_depth_fills_at_once_and_the_rest_rests(tmp_path: Path) -> None:
    venue = make_venue(tmp_path, quotes=[(T0, 40, 44), (T0 + timedelta(minutes=30), 42, 43)])
    ack = await venue.create_order(buy(OutcomeSide.YES, "0.44", 15))
    assert ack.filled == 10 and ack.remaining == 5
    (resting,) = await venue.get_orders(status="resting")
    assert resting.remaining == 5 and resting.status is VenueOrderStatus.RESTING
    venue.advance_to(T0 + timedelta(hours=1))
    fills = await venue.get_fills()
    assert [(f.count, f.is_taker, f.price, f.fee) for f in fills] == [
        (Decimal(10), True, Decimal("0.44"), FeeModel().taker_fee(10, Decimal("0.44"))),
        (Decimal(5), False, Decimal("0.44"), Decimal(0)),
    ]
    assert fills[1].ts == T0 + timedelta(minutes=30)
    assert await venue.get_orders(status="resting") == []


async def test_a_stale_book_does_not_fill(tmp_path: Path) -> None:
    venue = make_venue(tmp_path, quotes=[(T0 - timedelta(hours=2), 40, 44)])
    ack = await venue.create_order(buy(OutcomeSide.YES, "0.44", 5))
    assert ack.filled == 0 and ack.remaining == 5
    assert await venue.get_fills() == []


async def test_a_resting_bid_waits_for_its_queue_and_fills_on_a_print_through(
    tmp_path: Path,
) -> None:
    trades = [
        (T0 - timedelta(hours=3), 50, 1, "yes"),
        (T0 + timedelta(minutes=1), 41, 8, "no"),
        (T0 + timedelta(minutes=2), 41, 5, "no"),
        (T0 + timedelta(minutes=3), 39, 4, "no"),
    ]
    venue = make_venue(tmp_path, trades=trades, queue_ahead=10)
    ack = await venue.create_order(buy(OutcomeSide.YES, "0.41", 10))
    assert ack.filled == 0
    venue.advance_to(T0 + timedelta(minutes=1, seconds=30))
    assert await venue.get_fills() == []
    venue.advance_to(T0 + timedelta(minutes=10))
    fills = await venue.get_fills()
    assert [(f.ts - T0, f.count, f.price, f.is_taker) for f in fills] == [
        (timedelta(minutes=2), Decimal(3), Decimal("0.41"), False),
        (timedelta(minutes=3), Decimal(4), Decimal("0.41"), False),
    ]
    (order,) = await venue.get_orders(status="resting")
    assert order.filled == 7 and order.remaining == 3


async def test_maker_fees_follow_the_series_fee_type(tmp_path: Path) -> None:
    fees = FeeModel(FeeType.QUADRATIC_WITH_MAKER_FEES)
    trades = [(T0 + timedelta(minutes=1), 30, 50, "no")]
    venue = make_venue(tmp_path, trades=trades, fee_model=fees)
    await venue.create_order(buy(OutcomeSide.YES, "0.35", 20))
    venue.advance_to(T0 + timedelta(minutes=5))
    (fill,) = await venue.get_fills()
    assert not fill.is_taker
    assert fill.fee == fees.maker_fee(20, Decimal("0.35")) == Decimal("0.08")


async def test_a_reused_client_order_id_is_refused_like_kalshi(tmp_path: Path) -> None:
    venue = make_venue(tmp_path, quotes=[(T0, 40, 44)])
    await venue.create_order(buy(OutcomeSide.YES, "0.30", 1, "same"))
    with pytest.raises(KalshiRejection) as e:
        await venue.create_order(buy(OutcomeSide.YES, "0.30", 1, "same"))
    assert e.value.status == 409 and e.value.code == "order_already_exists"


async def test_close_cancels_resting_orders_and_settlement_pays_the_winners(
    tmp_path: Path,
) -> None:
    venue = make_venue(tmp_path, quotes=[(T0, 40, 44)])
    await venue.create_order(buy(OutcomeSide.YES, "0.44", 12))
    venue.advance_to(CLOSE)
    (order,) = await venue.get_orders()
    assert order.status is VenueOrderStatus.CANCELED and order.filled == 10
    assert await venue.get_settlements() == []
    venue.advance_to(CLOSE + timedelta(hours=1))
    (s,) = await venue.get_settlements()
    assert s.market_result == "yes" and s.yes_count == 10 and s.revenue == 10
    fee = FeeModel().taker_fee(10, Decimal("0.44"))
    assert (await venue.get_balance()).balance == Decimal(100) - Decimal("4.40") - fee + 10
    assert await venue.get_positions() == []
