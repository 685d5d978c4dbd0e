"""Tiny datasets in the documented layout, cut from real rows of ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import read_canonical, write_canonical

TAPE_DATES = ("2025-02-03", "2025-02-04", "2025-02-05", "2025-02-06")
TAPE_CITIES = ("NYC", "CHI")


@pytest.fixture(scope="session")
def tape_rows(shared_data: Path) -> dict[str, pd.DataFrame]:
    """NYC and CHI markets of four February 2025 days, their real prints and hourly readings."""
    src = shared_data / "kalshi-tape-2023-2025"
    markets = read_canonical(src, "markets")
    markets = markets[markets["city"].isin(TAPE_CITIES) & markets["event_date"].isin(TAPE_DATES)]
    trades = read_canonical(src, "trades")
    trades = trades[trades["ticker"].isin(set(markets["ticker"]))]
    hourly = read_canonical(shared_data / "openmeteo-hourly-2025", "hourly")
    hourly = hourly[
        hourly["station"].isin(["KNYC", "KMDW"])
        & (hourly["ts"] >= "2025-02-02")
        & (hourly["ts"] <= "2025-02-08")
    ]
    return {"markets": markets, "trades": trades, "hourly": hourly}


@pytest.fixture(scope="session")
def quote_rows(shared_data: Path) -> dict[str, pd.DataFrame]:
    """The first three event dates of ``kalshi-quotes-2026-dev`` (one snapshot per market)."""
    src = shared_data / "kalshi-quotes-2026-dev"
    markets = read_canonical(src, "markets")
    dates = sorted(markets["event_date"].unique())[:3]
    markets = markets[markets["event_date"].isin(dates)]
    quotes = read_canonical(src, "quotes")
    forecasts = read_canonical(src, "forecasts")
    return {
        "markets": markets,
        "quotes": quotes[quotes["ticker"].isin(set(markets["ticker"]))],
        "forecasts": forecasts[forecasts["target_date"].isin(dates)],
    }


@pytest.fixture
def tape_dir(tape_rows: dict[str, pd.DataFrame], tmp_path: Path) -> Path:
    """Tape only: markets, trades and hourly readings."""
    out = tmp_path / "tape"
    for name, frame in tape_rows.items():
        write_canonical(frame, out, name)
    return out


@pytest.fixture
def quotes_dir(quote_rows: dict[str, pd.DataFrame], tmp_path: Path) -> Path:
    """Quotes only: markets, a single quote snapshot per market, forecasts."""
    out = tmp_path / "quotes"
    for name, frame in quote_rows.items():
        write_canonical(frame, out, name)
    return out
