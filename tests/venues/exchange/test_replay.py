"""Replaying the bundled real tape: prints reproduced, markets settled, users fill first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from milkbot.clock import FixedClock
from milkbot.datasets import Dataset, load_dataset
from milkbot.domain.market import BookSide
from milkbot.venues.exchange.matching import Engine, MarketStatus, OrderRequest
from milkbot.venues.exchange.replay import MAKER, TAKER, TapeReplay


def test_bundle_has_fifteen_city_days(demo_dataset: Dataset) -> None:
    markets = demo_dataset.markets
    assert markets is not None and demo_dataset.trades is not None
    days = {(c, d) for c, d in zip(markets["city"], markets["event_date"], strict=True)}
    assert len(days) == 15 and {c for c, _ in days} == {"NYC", "CHI", "MIA", "AUS", "DEN"}
    assert markets["result"].isin(["yes", "no"]).all()


def test_full_replay_reproduces_the_tape_and_settles(demo_dataset: Dataset) -> None:
    clock = FixedClock(datetime(2025, 1, 1, tzinfo=UTC))
    engine = Engine(clock)
    replay = TapeReplay(engine, demo_dataset)
    while replay.next_time is not None:
        clock.current = max(clock.current, replay.next_time)
        replay.advance(clock.current)
    trades = demo_dataset.trades
    markets = demo_dataset.markets
    assert trades is not None and markets is not None
    assert replay.prints_replayed == len(trades)
    tape_volume = trades.groupby("ticker")["count"].sum()
    for ticker, market in engine.markets.items():
        assert market.status is MarketStatus.FINALIZED
        # Every print traded its full size against the maker, and only that.
        assert market.volume == Decimal(int(tape_volume.get(ticker, 0)))
    last = trades.sort_values("created_time").groupby("ticker")["yes_price"].last()
    for ticker, cents in last.items():
        assert engine.markets[str(ticker)].last_price == Decimal(int(cents)) / 100
    results = dict(zip(markets["ticker"], markets["result"], strict=True))
    assert all(engine.markets[t].result == r for t, r in results.items())
    assert engine.total_value() == engine.total_deposits() == 0
    assert {s.user_id for s in engine.settlements} <= {MAKER, TAKER}


def test_a_better_priced_user_bid_is_hit_by_the_next_seller(demo_dataset: Dataset) -> None:
    trades = demo_dataset.trades
    assert trades is not None
    sells = trades[(trades["taker_side"] == "no") & (trades["yes_price"] <= 90)]
    sells = sells.sort_values("created_time").iloc[200:]
    clock = FixedClock(datetime(2025, 1, 1, tzinfo=UTC))
    engine = Engine(clock)
    replay = TapeReplay(engine, demo_dataset)
    engine.open_account("me", Decimal(10_000))
    step = Decimal("0.01")
    for row in sells.itertuples():
        ticker, when = str(row.ticker), row.created_time.to_pydatetime()
        price, count = Decimal(int(row.yes_price)) / 100, Decimal(int(row.count))
        clock.current = when - timedelta(microseconds=1)
        replay.advance(clock.current)
        market = engine.markets[ticker]
        best_ask = market.best(BookSide.ASK)
        if market.status is MarketStatus.ACTIVE and (
            best_ask is None or best_ask[0] > price + step
        ):
            break
    else:
        raise AssertionError("no print where a better bid could rest")
    mine = engine.create_order("me", OrderRequest(ticker, BookSide.BID, count, price + step))
    assert mine.fill_count == 0
    clock.current = when
    replay.advance(when)
    fills = [f for f in engine.fills if f.user_id == "me"]
    # The historical seller hits the better-priced user bid before the tape's own bid.
    assert sum(f.count for f in fills) == count
    assert all(f.yes_price == price + step and not f.is_taker for f in fills)


def test_quote_rows_become_the_makers_best_bid_and_ask(shared_data: Path) -> None:
    dataset = load_dataset([shared_data / "kalshi-quotes-2026-dev"])
    quotes = dataset.quotes
    assert quotes is not None
    clock = FixedClock(datetime(2020, 1, 1, tzinfo=UTC))
    engine = Engine(clock)
    replay = TapeReplay(engine, dataset)
    two_sided = quotes.dropna(subset=["yes_bid", "yes_ask"]).sort_values("ts")
    checked = 0
    for row in two_sided.itertuples():
        when = row.ts.to_pydatetime()
        clock.current = max(clock.current, when)
        replay.advance(clock.current)
        market = engine.markets[str(row.ticker)]
        if market.status is not MarketStatus.ACTIVE:
            continue
        assert market.best(BookSide.BID) == (Decimal(int(row.yes_bid)) / 100, replay.depth)
        assert market.best(BookSide.ASK) == (Decimal(int(row.yes_ask)) / 100, replay.depth)
        checked += 1
        if checked == 50:
            break
    assert checked == 50
