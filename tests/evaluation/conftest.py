"""Factories: small datasets in the documented layout, cut from slices of the real files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import read_canonical, write_canonical


@pytest.fixture
def quotes_slice(shared_data: Path, tmp_path: Path) -> Callable[[int], Path]:
    """The first ``n_dates`` event dates of ``kalshi-quotes-2026-dev``."""

    def make(n_dates: int = 12) -> Path:
        src = shared_data / "kalshi-quotes-2026-dev"
        markets = read_canonical(src, "markets")
        dates = sorted(markets["event_date"].unique())[:n_dates]
        markets = markets[markets["event_date"].isin(dates)]
        quotes = read_canonical(src, "quotes")
        forecasts = read_canonical(src, "forecasts")
        out = tmp_path / "quotes-slice"
        write_canonical(markets, out, "markets")
        write_canonical(quotes[quotes["ticker"].isin(set(markets["ticker"]))], out, "quotes")
        write_canonical(forecasts[forecasts["target_date"].isin(dates)], out, "forecasts")
        return out

    return make


@pytest.fixture
def tape_slice(shared_data: Path, tmp_path: Path) -> Path:
    """NYC and CHI events of 2025-02-01 .. 2025-03-10 from the tape, with hourly and GHCN data."""
    src = shared_data / "kalshi-tape-2023-2025"
    markets = read_canonical(src, "markets")
    keep = (
        markets["city"].isin(["NYC", "CHI"])
        & (markets["event_date"] >= "2025-02-01")
        & (markets["event_date"] <= "2025-03-10")
    )
    markets = markets[keep]
    trades = read_canonical(src, "trades")
    trades = trades[trades["ticker"].isin(set(markets["ticker"]))]
    hourly = read_canonical(shared_data / "openmeteo-hourly-2025", "hourly")
    hourly = hourly[
        hourly["station"].isin(["KNYC", "KMDW"])
        & (hourly["ts"] >= "2025-01-31")
        & (hourly["ts"] <= "2025-03-12")
    ]
    obs = read_canonical(shared_data / "ghcnd-2016-2024", "observations")
    obs = obs[obs["station"].isin(["KNYC", "KMDW"]) & (obs["date"] >= "2019-01-01")]
    out = tmp_path / "tape-slice"
    write_canonical(markets, out, "markets")
    write_canonical(trades, out, "trades")
    write_canonical(hourly, out, "hourly")
    write_canonical(obs, out, "observations")
    return out


@pytest.fixture
def nws_slice(shared_data: Path, tmp_path: Path) -> Path:
    """KNYC NWS forecasts May-Sep 2021, GHCN truth, and the Kalshi NYC threshold markets."""
    fc = read_canonical(shared_data / "nws-scs-2021", "forecasts")
    fc = fc[(fc["station"] == "KNYC") & (fc["target_date"] >= "2021-05-01")]
    obs = read_canonical(shared_data / "ghcnd-2016-2024", "observations")
    obs = obs[
        (obs["station"] == "KNYC") & (obs["date"] >= "2019-01-01") & (obs["date"] <= "2021-09-30")
    ]
    markets = read_canonical(shared_data / "kalshi-results-2021-2025", "markets")
    markets = markets[(markets["city"] == "NYC") & (markets["event_date"] <= "2021-09-30")]
    out = tmp_path / "nws-slice"
    write_canonical(fc, out, "forecasts")
    write_canonical(obs, out, "observations")
    write_canonical(markets, out, "markets")
    return out
