"""Partial pooling of a station's error model towards the all-station fit."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from milkbot.strategies import nws
from milkbot.strategies.base import History
from milkbot.strategies.errors_model import ErrorModel, fit_error_model
from milkbot.strategies.nws import NwsStrategy, prepare_pairs

CENTRE = ErrorModel(bias=0.0, scale=2.0, night_weight=0.05, night_shift=4.0, n=1000)


def test_station_with_few_effective_pairs_lands_near_the_pooled_fit() -> None:
    rng = np.random.default_rng(11)
    residuals = np.round(4.0 + 2.0 * rng.standard_t(5, 40))
    weights = np.full(40, 0.05)  # old pairs: two effective pairs
    alone = fit_error_model(residuals, 16.0, weights=weights)
    pooled = fit_error_model(residuals, 16.0, weights=weights, centre=CENTRE)
    assert alone.bias > 2.5
    assert abs(pooled.bias - CENTRE.bias) < 1.5
    assert pooled.scale == pytest.approx(CENTRE.scale, rel=0.25)


def test_station_with_many_pairs_keeps_its_own_estimate() -> None:
    rng = np.random.default_rng(12)
    residuals = np.round(4.0 + 3.0 * rng.standard_t(5, 3000))
    m = fit_error_model(residuals, 16.0, centre=CENTRE)
    assert m.bias == pytest.approx(4.0, abs=0.4)
    assert m.scale == pytest.approx(3.0, abs=0.5)


def _rows(station: str, days: int, bias: float, scale: float, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    start = date(2025, 12, 31) - timedelta(days=days - 1)
    rows: list[dict[str, object]] = []
    for k in range(days):
        d = start + timedelta(days=k)
        rows.append(
            {
                "station": station,
                "target_date": d,
                "issued_at": pd.Timestamp(datetime(d.year, d.month, d.day, 12, 50, tzinfo=UTC)),
                "source": "nws-scs",
                "tmax_f": 50.0,
                "truth": float(round(50.0 + bias + scale * rng.standard_t(5))),
                "truth_source": "ghcnd",
                "clim_mean": math.nan,
                "prev_max": math.nan,
            }
        )
    return rows


def test_rolling_station_fit_is_shrunk_towards_the_other_stations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two stations with a year of unbiased, tight errors; KNYC with only 60 days of biased,
    # wide ones (about 37 effective pairs under the 40-day recency weights).
    rows = _rows("KAUS", 365, 0.0, 1.5, 1) + _rows("KMDW", 365, 0.0, 1.5, 2)
    rows += _rows("KNYC", 60, 3.0, 3.0, 3)
    pairs = prepare_pairs(pd.DataFrame(rows))
    history = History(as_of=datetime(2026, 1, 3, tzinfo=UTC), pairs=pairs)
    pooled = NwsStrategy().fit(history)
    pool = pooled.model_for("*", "DJF", 1)
    knyc = pooled.model_for("KNYC", "DJF", 1)
    monkeypatch.setattr(nws, "POOL_STATIONS", False)
    alone = NwsStrategy().fit(history).model_for("KNYC", "DJF", 1)
    assert pool.n > knyc.n > 30
    assert pool.bias < knyc.bias < alone.bias - 0.1
    assert pool.scale < knyc.scale < alone.scale - 0.3
