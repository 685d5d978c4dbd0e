"""PaperVenue: fills against live public books, closes, settles, and survives a restart."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkbot.clock import FixedClock
from milkbot.domain.market import Market, OutcomeSide
from milkbot.domain.portfolio import Action, OrderRequest
from milkbot.venues.kalshi import parsing
from milkbot.venues.kalshi.client import KalshiRejection
from milkbot.venues.paper import PaperVenue

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi"
T0 = datetime(2026, 7, 12, 15, 0, tzinfo=UTC)  # event day of the recorded open markets
D = Decimal


def recorded_markets() -> list[Market]:
    """The real ``GET /markets?series_ticker=KXHIGHNY`` page recorded on 2026-07-12."""
    payload = json.loads(
        (FIXTURES / "real-2026-07_GET-markets_KXHIGHNY_open_trimmed.json").read_text()
    )
    markets, _ = parsing.markets_page(payload)
    return markets


@pytest.fixture
def market() -> Market:
    m = next(m for m in recorded_markets() if m.ticker == "KXHIGHNY-26JUL12-B88.5")
    return dataclasses.replace(m, status="active")


@pytest.fixture
def paper(tmp_path: Path) -> Iterator[Callable[..., PaperVenue]]:
    """Open paper venues on a journal in ``tmp_path``; closed after the test."""
    opened: list[PaperVenue] = []

    def make(clock: FixedClock | None = None, name: str = "j.jsonl") -> PaperVenue:
        venue = PaperVenue(clock or FixedClock(T0), tmp_path / name)
        opened.append(venue)
        return venue

    yield make
    for venue in opened:
        venue.close()


def book(m: Market, bid: str | None, ask: str | None, size: str = "50") -> Market:
    return dataclasses.replace(
        m,
        yes_bid=None if bid is None else D(bid),
        yes_ask=None if ask is None else D(ask),
        yes_bid_size=D(size) if bid is not None else None,
        yes_ask_size=D(size) if ask is not None else None,
    )


def buy(ticker: str, price: str, count: int, cid: str, side: OutcomeSide = OutcomeSide.YES):
    return OrderRequest(ticker, side, Action.BUY, D(price), D(count), cid)


async def test_taker_fill_at_the_live_ask_up_to_its_size(
    paper: Callable[..., PaperVenue], market: Market
) -> None:
    venue = paper()
    venue.observe([book(market, "0.30", "0.34", size="4")])
    ack = await venue.create_order(buy(market.ticker, "0.35", 10, "a"))
    assert ack.filled == D(4) and ack.remaining == D(6)
    (fill,) = await venue.get_fills()
    assert fill.price == D("0.34") and fill.is_taker and fill.count == D(4)
    (resting,) = await venue.get_orders(status="resting")
    assert resting.remaining == D(6)


async def test_resting_order_fills_only_when_a_new_book_crosses_it(
    paper: Callable[..., PaperVenue], market: Market
) -> None:
    venue = paper()
    venue.observe([book(market, "0.30", "0.34")])
    await venue.create_order(buy(market.ticker, "0.31", 10, "a"))
    venue.observe([book(market, "0.30", "0.34")])  # unchanged: nothing happens
    assert await venue.get_fills() == []
    venue.observe([book(market, "0.29", "0.31", size="3")])  # a seller came down to our bid
    (fill,) = await venue.get_fills()
    assert fill.price == D("0.31") and not fill.is_taker and fill.count == D(3)
    venue.observe([book(market, "0.29", "0.31", size="3")])  # the same book does not fill twice
    assert len(await venue.get_fills()) == 1
    (pos,) = await venue.get_positions()
    assert pos.position == D(3)


async def test_no_orders_fill_when_the_bid_rises_through_them(
    paper: Callable[..., PaperVenue], market: Market
) -> None:
    venue = paper()
    venue.observe([book(market, "0.30", "0.34")])
    await venue.create_order(buy(market.ticker, "0.60", 5, "n", OutcomeSide.NO))  # YES ask 0.40
    venue.observe([book(market, "0.41", "0.45", size="2")])
    (fill,) = await venue.get_fills()
    assert fill.side is OutcomeSide.NO and fill.price == D("0.60") and fill.count == D(2)


async def test_close_cancels_and_settlement_pays(
    paper: Callable[..., PaperVenue], market: Market
) -> None:
    venue = paper()
    venue.observe([book(market, "0.30", "0.34")])
    await venue.create_order(buy(market.ticker, "0.34", 5, "a"))
    await venue.create_order(buy(market.ticker, "0.20", 5, "b"))
    cash_after_buy = (await venue.get_balance()).balance
    venue.observe([dataclasses.replace(market, status="closed")])
    assert await venue.get_orders(status="resting") == []
    venue.observe([dataclasses.replace(market, status="finalized", result="yes")])
    (s,) = await venue.get_settlements()
    assert s.market_result == "yes" and s.yes_count == D(5) and s.revenue == D(5)
    assert (await venue.get_balance()).balance == cash_after_buy + D(5)
    assert await venue.get_positions() == []
    with pytest.raises(KalshiRejection):
        await venue.create_order(buy(market.ticker, "0.50", 1, "late"))


async def test_unknown_market_and_duplicate_client_order_id_are_refused(
    paper: Callable[..., PaperVenue], market: Market
) -> None:
    venue = paper()
    with pytest.raises(KalshiRejection) as e:
        await venue.create_order(buy(market.ticker, "0.30", 1, "a"))
    assert e.value.status == 404
    venue.observe([book(market, "0.30", "0.34")])
    await venue.create_order(buy(market.ticker, "0.30", 1, "a"))
    with pytest.raises(KalshiRejection) as e:
        await venue.create_order(buy(market.ticker, "0.30", 1, "a"))
    assert e.value.code == "order_already_exists"


async def state(venue: PaperVenue) -> tuple[object, ...]:
    return (
        await venue.get_orders(),
        await venue.get_fills(),
        await venue.get_positions(),
        (await venue.get_balance()).balance,
        await venue.get_settlements(),
    )


STEP = st.one_of(
    st.tuples(st.just("book"), st.integers(20, 40), st.integers(1, 6), st.integers(1, 9)),
    st.tuples(st.just("buy"), st.integers(15, 45), st.integers(1, 8), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 20), st.just(0), st.just(0)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(STEP, min_size=1, max_size=25), settle=st.booleans())
async def test_a_restart_replays_the_journal_to_the_same_account(
    tmp_path_factory: pytest.TempPathFactory, market: Market, steps: list[tuple], settle: bool
) -> None:
    path = tmp_path_factory.mktemp("paper") / "journal.jsonl"
    clock = FixedClock(T0)
    venue = PaperVenue(clock, path, seed=7)
    orders: list[str] = []
    for n, (kind, a, b, c) in enumerate(steps):
        clock.advance(timedelta(seconds=1, microseconds=n))
        if kind == "book":
            venue.observe([book(market, f"0.{a:02d}", f"0.{a + b:02d}", size=str(c))])
        elif kind == "buy":
            side = OutcomeSide.YES if c else OutcomeSide.NO
            try:
                ack = await venue.create_order(buy(market.ticker, f"0.{a:02d}", b, f"o{n}", side))
                orders.append(ack.order_id)
            except KalshiRejection:
                pass
        elif orders:
            with contextlib.suppress(KalshiRejection):
                await venue.cancel_order(orders[a % len(orders)])
    if settle:
        venue.observe([dataclasses.replace(market, status="finalized", result="no")])
    before = await state(venue)
    venue.close()
    again = PaperVenue(FixedClock(T0 + timedelta(days=1)), path, seed=7)
    assert await state(again) == before
    again.close()


def test_a_torn_last_journal_line_is_ignored_but_a_bad_middle_line_is_an_error(
    tmp_path: Path, market: Market
) -> None:
    path = tmp_path / "j.jsonl"
    venue = PaperVenue(FixedClock(T0), path)
    venue.observe([book(market, "0.30", "0.34")])
    venue.close()
    with path.open("a") as f:
        f.write('{"ts": "2026-07-12T15:00:00+00:00", "op": "ord')  # crash mid-write
    PaperVenue(FixedClock(T0), path).close()
    text = path.read_text()
    path.write_text("not json\n" + text)
    from milkbot.errors import DataError

    with pytest.raises(DataError, match="bad journal line"):
        PaperVenue(FixedClock(T0), path)
