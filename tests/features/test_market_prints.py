"""Recent trade prints as market inputs: as of the decision time, windowed, and no look-ahead."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milkbot.datasets import Dataset, load_dataset
from milkbot.features.event import (
    MAX_PRINTS,
    MarketPrice,
    build_index,
    event_features,
    market_prices,
)
from tests.conftest import FEB10_BRACKETS, FEB10_CLOSE, FEB10_EVENT, feb10_market_rows

EVENT, CLOSE, BRACKETS = FEB10_EVENT, FEB10_CLOSE, FEB10_BRACKETS
T = datetime(2025, 2, 10, 17, 0, tzinfo=UTC)


def _trade(bracket: str, ts: str, price: int, count: int, side: str) -> dict[str, object]:
    return {
        "ticker": f"{EVENT}-{bracket}",
        "created_time": ts,
        "yes_price": price,
        "count": count,
        "taker_side": side,
    }


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    """One NYC event (tickers and bounds of KXHIGHNY-25FEB10) with a small trade tape."""
    d = tmp_path / "tape"
    d.mkdir()
    pd.DataFrame(feb10_market_rows(CLOSE)).to_csv(d / "markets.csv", index=False)
    pd.DataFrame(
        [
            _trade("B34.5", "2025-02-10T12:00:00Z", 30, 5, "yes"),  # > 3 h before the last
            _trade("B34.5", "2025-02-10T15:30:00Z", 41, 10, "no"),
            _trade("B34.5", "2025-02-10T16:30:00Z", 44, 2, "yes"),
            _trade("B34.5", "2025-02-10T17:00:00Z", 45, 1, "yes"),  # exactly at T: known
            _trade("B34.5", "2025-02-10T17:00:01Z", 90, 50, "yes"),  # after T
            _trade("T37", "2025-02-10T08:00:00Z", 6, 3, "no"),  # stale at T
            _trade("T37", "2025-02-10T09:00:00Z", 5, 4, "no"),
            _trade("T37", "2025-02-10T18:00:00Z", 2, 4, "no"),
        ]
    ).to_csv(d / "trades.csv", index=False)
    return d


def _market(ds: Dataset, t: datetime = T) -> dict[str, MarketPrice]:
    index = build_index(ds)
    (event,) = index.events
    f = event_features(index, event, t)
    assert f.market is not None
    return dict(zip(event.tickers, f.market, strict=True))


def test_prints_are_the_window_before_the_last_print_known_at_t(tape: Path) -> None:
    index = build_index(load_dataset([tape]))
    (event,) = index.events
    f = event_features(index, event, T)
    assert f.market is not None
    mid = f.market[event.tickers.index(f"{EVENT}-B34.5")]
    assert mid.prob == pytest.approx(0.45) and mid.scorable
    # 12:00 is more than PRINT_WINDOW (3 h) before the 17:00 print; 17:00:01 is after T.
    assert [p.prob for p in mid.prints] == pytest.approx([0.41, 0.44, 0.45])
    assert [p.age_hours for p in mid.prints] == pytest.approx([1.5, 0.5, 0.0])
    assert [p.count for p in mid.prints] == [10.0, 2.0, 1.0]
    assert [p.taker_yes for p in mid.prints] == [False, True, True]
    # A stale market keeps its last burst, dated relative to its own last print.
    tail = f.market[event.tickers.index(f"{EVENT}-T37")]
    assert tail.kind == "stale" and not tail.scorable
    assert [p.age_hours for p in tail.prints] == pytest.approx([9.0, 8.0])
    # Untraded markets have no prints.
    assert f.market[event.tickers.index(f"{EVENT}-T30")].prints == ()


def test_prints_are_capped_to_the_most_recent(tape: Path, tmp_path: Path) -> None:
    ds = load_dataset([tape])
    assert ds.trades is not None
    many = pd.DataFrame(
        {
            "ticker": f"{EVENT}-B32.5",
            "created_time": pd.date_range(
                "2025-02-10T15:00:00Z", periods=MAX_PRINTS + 20, freq="10s"
            ),
            "yes_price": np.arange(MAX_PRINTS + 20) % 90 + 5,
            "count": 1,
            "taker_side": "yes",
        }
    )
    trades = pd.concat([ds.trades, many], ignore_index=True)
    market = _market(replace(ds, trades=trades))
    prints = market[f"{EVENT}-B32.5"].prints
    assert len(prints) == MAX_PRINTS
    assert prints[-1].prob == pytest.approx(((MAX_PRINTS + 19) % 90 + 5) / 100)


def test_changing_anything_after_t_leaves_market_inputs_unchanged(tape: Path) -> None:
    ds = load_dataset([tape])
    assert ds.trades is not None
    base = _market(ds)
    tr = ds.trades.copy()
    late = tr["created_time"] > pd.Timestamp(T)
    rng = np.random.default_rng(11)
    tr.loc[late, "yes_price"] = rng.integers(1, 99, int(late.sum())).astype(float)
    tr.loc[late, "count"] = rng.integers(1, 500, int(late.sum())).astype(float)
    tr.loc[late, "taker_side"] = np.where(tr.loc[late, "taker_side"] == "yes", "no", "yes")
    extra = pd.DataFrame(
        [_trade(s, "2025-02-10T17:00:00.5Z", 77, 9, "yes") for s, *_ in BRACKETS]
    ).assign(created_time=lambda x: pd.to_datetime(x["created_time"], utc=True))
    perturbed = replace(ds, trades=pd.concat([tr, extra], ignore_index=True))
    assert _market(perturbed) == base
    # The comparison can fail: a change at or before T is seen.
    early = ds.trades.copy()
    early.loc[early["created_time"] == pd.Timestamp("2025-02-10T16:30:00Z"), "count"] = 7.0
    assert _market(replace(ds, trades=early)) != base


def test_backtest_style_reduced_tape_without_size_or_side(tape: Path) -> None:
    ds = load_dataset([tape])
    assert ds.trades is not None
    slim = replace(ds, trades=ds.trades[["ticker", "created_time", "yes_price"]])
    ticker = f"{EVENT}-B34.5"
    (price,) = market_prices(build_index(slim), [ticker], [T]).values()
    assert price.prob == pytest.approx(0.45)
    assert [(p.count, p.taker_yes) for p in price.prints] == [(1.0, None)] * 3
