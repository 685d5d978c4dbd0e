"""The backtest loop on tiny real datasets: tape only, quotes only, both; determinism, no
look-ahead, the weather gate, the OMS route and clear errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milkbot.backtest.marketdata import BookModel, MarketData
from milkbot.backtest.metrics import compute_metrics
from milkbot.backtest.runner import (
    BacktestConfig,
    BacktestResult,
    decision_prices,
    run_backtest,
    select_events,
)
from milkbot.backtest.walkforward import WalkForward
from milkbot.datasets import Dataset, load_dataset
from milkbot.domain.fees import FeeModel
from milkbot.errors import ConfigError, DatasetError
from milkbot.features.event import build_index, market_prices

NO_WEATHER = BacktestConfig(weather_required=False)


def intents(result: BacktestResult) -> list[tuple[object, ...]]:
    """Every order sent, as comparable tuples."""
    return [
        (o.t, o.intent_id, o.ticker, o.side, o.count, o.limit_price, o.strategy)
        for o in result.orders
    ]


def check_books(result: BacktestResult) -> None:
    """Money adds up: fills, fees, settlement and the equity curve agree."""
    start = result.config.starting_cash
    assert result.final_equity - start == sum((f.pnl for f in result.fills), Decimal(0))
    assert result.fees == sum((f.fee for f in result.fills), Decimal(0))
    assert result.equity[-1][1] == result.final_equity
    for f in result.fills:
        assert f.result in ("yes", "no")
        if f.is_taker:
            assert f.fee == FeeModel().taker_fee(f.count, f.price)
        else:
            assert f.fee == 0
    metrics = compute_metrics(result)
    assert metrics["n_trades"] == len(result.fills)
    assert Decimal(str(metrics["pnl_net_dollars"])) == (result.final_equity - start)


async def test_tape_only_trades_through_decide_and_settles(tape_dir: Path) -> None:
    result = await run_backtest(load_dataset([tape_dir]), BacktestConfig())
    assert len(result.events) == 8
    assert result.decisions and result.orders and result.fills
    assert all(o.rejected == "" for o in result.orders)
    check_books(result)
    # every taker fill crossed the book modelled on a real print no older than max_age
    data = MarketData(load_dataset([tape_dir]), {f.ticker for f in result.fills}, BookModel())
    for f in result.fills:
        book = data.book(f.ticker, f.ts)
        assert book is not None
        expected = book.yes_ask if f.side == "yes" else 1 - (book.yes_bid or Decimal(0))
        assert f.price == expected


async def test_quotes_only_single_snapshot_trades_at_the_snapshot_and_never_rests_into_fills(
    quotes_dir: Path,
) -> None:
    ds = load_dataset([quotes_dir])
    result = await run_backtest(ds, NO_WEATHER)
    assert result.fills
    check_books(result)
    assert ds.quotes is not None
    snapshots = set(ds.quotes["ts"].dt.to_pydatetime())
    assert all(f.ts in snapshots for f in result.fills)
    assert all(f.is_taker for f in result.fills)
    assert result.venue_stats.resting_fills == 0


async def test_without_fresh_weather_the_backtest_does_not_trade_like_the_trader(
    quotes_dir: Path,
) -> None:
    result = await run_backtest(load_dataset([quotes_dir]), BacktestConfig())
    assert result.orders == []
    assert result.not_decided["no fresh weather"] > 0


async def test_tape_and_quotes_merged(tape_dir: Path, quotes_dir: Path) -> None:
    result = await run_backtest(load_dataset([tape_dir, quotes_dir]), NO_WEATHER)
    assert {e.event_date.year for e in result.events} == {2025, 2026}
    assert {f.ts.year for f in result.fills} == {2025, 2026}
    check_books(result)


async def test_same_inputs_give_identical_intents_and_metrics(tape_dir: Path) -> None:
    ds = load_dataset([tape_dir])
    config = BacktestConfig(first_hours=24, step_hours=2)
    a = await run_backtest(ds, config)
    b = await run_backtest(ds, config)
    assert intents(a) and intents(a) == intents(b)
    assert [(f.fill_id, f.ts, f.count, f.price, f.fee) for f in a.fills] == [
        (f.fill_id, f.ts, f.count, f.price, f.fee) for f in b.fills
    ]
    assert compute_metrics(a) == compute_metrics(b)


def _perturb_after(ds: Dataset, t: pd.Timestamp) -> Dataset:
    """Change every print, hourly reading and result published after ``t``."""
    rng = np.random.default_rng(3)
    assert ds.trades is not None and ds.hourly is not None and ds.markets is not None
    trades = ds.trades.copy()
    late = trades["created_time"] > t
    trades.loc[late, "yes_price"] = rng.integers(1, 99, int(late.sum()))
    trades.loc[late, "count"] = rng.integers(1, 500, int(late.sum()))
    trades.loc[late, "taker_side"] = np.where(rng.random(int(late.sum())) < 0.5, "yes", "no")
    hourly = ds.hourly.copy()
    hourly.loc[hourly["ts"] > t, "temp_f"] = hourly.loc[hourly["ts"] > t, "temp_f"] + 11
    markets = ds.markets.copy()
    unsettled = markets["close_time"] + timedelta(hours=1) > t
    markets.loc[unsettled, "result"] = markets.loc[unsettled, "result"].map(
        {"yes": "no", "no": "yes"}
    )
    return replace(ds, trades=trades, hourly=hourly, markets=markets)


async def test_data_after_a_decision_time_does_not_change_that_decision(tape_dir: Path) -> None:
    ds = load_dataset([tape_dir])
    config = BacktestConfig(first_hours=24, step_hours=2)
    base = await run_backtest(ds, config)
    times = sorted({o.t for o in base.orders})
    assert len(times) >= 4
    cut = times[len(times) // 2]
    perturbed = await run_backtest(_perturb_after(ds, pd.Timestamp(cut)), config)

    def upto(r: BacktestResult) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        return (
            [i for i in intents(r) if isinstance(i[0], datetime) and i[0] <= cut],
            [(d.t, d.event_ticker, d.model) for d in r.decisions if d.t <= cut],
        )

    assert upto(base) == upto(perturbed)
    assert intents(base) != intents(perturbed)  # the perturbation does reach later decisions


async def test_decision_prices_equal_market_prices_one_by_one(tape_dir: Path) -> None:
    ds = load_dataset([tape_dir])
    index = build_index(ds)
    events, _ = select_events(index, BacktestConfig())
    data = MarketData(ds, [t for e in events for t in e.tickers], BookModel())
    pairs = [
        (tk, e.close_time - timedelta(hours=h)) for e in events for tk in e.tickers for h in (20, 7)
    ]
    batch = decision_prices(index, data, pairs)
    for (tk, t), got in zip(pairs, batch, strict=True):
        assert got == market_prices(index, [tk], [t])[tk]


async def test_orders_through_the_oms_order_manager_match_the_direct_route(
    quotes_dir: Path, tmp_path: Path
) -> None:
    ds = load_dataset([quotes_dir])
    direct = await run_backtest(ds, NO_WEATHER)
    oms = await run_backtest(ds, NO_WEATHER, oms_dir=tmp_path / "oms")
    assert oms.router == "oms" and direct.router == "direct"
    assert intents(oms) == intents(direct)
    assert compute_metrics(oms) == compute_metrics(direct)
    assert (tmp_path / "oms" / "milkbot.db").is_file()


async def test_walk_forward_scores_only_after_its_first_fit(tape_dir: Path) -> None:
    ds = load_dataset([tape_dir])
    config = replace(
        NO_WEATHER,
        date_from=date(2025, 2, 5),
        walk_forward=WalkForward(refit_days=1),
    )
    result = await run_backtest(ds, config)
    assert {e.event_date for e in result.events} == {date(2025, 2, 5), date(2025, 2, 6)}
    assert result.ensemble_source.startswith("walk-forward")
    check_books(result)


@pytest.mark.parametrize(
    ("config", "error", "text"),
    [
        (BacktestConfig(cities=("XYZ",)), ConfigError, "unknown city"),
        (BacktestConfig(cities=("LAX",)), DatasetError, "no events for LAX"),
        (BacktestConfig(date_from=date(2030, 1, 1)), DatasetError, "no events between"),
    ],
)
async def test_bad_selections_fail_clearly(
    tape_dir: Path, config: BacktestConfig, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        await run_backtest(load_dataset([tape_dir]), config)


async def test_a_dataset_without_markets_or_prices_is_refused(
    tape_dir: Path, tmp_path: Path
) -> None:
    only_hourly = tmp_path / "hourly-only"
    only_hourly.mkdir()
    (only_hourly / "hourly.csv").write_text((tape_dir / "hourly.csv").read_text())
    with pytest.raises(DatasetError, match="markets file"):
        await run_backtest(load_dataset([only_hourly]), BacktestConfig())
    no_prices = tmp_path / "markets-only"
    no_prices.mkdir()
    (no_prices / "markets.csv").write_text((tape_dir / "markets.csv").read_text())
    with pytest.raises(DatasetError, match="neither trades nor quotes"):
        await run_backtest(load_dataset([no_prices]), BacktestConfig())
