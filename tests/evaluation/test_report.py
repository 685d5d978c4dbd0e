"""The evaluation report: per-year scores on identical rows."""

from __future__ import annotations

import pandas as pd
import pytest

from milkbot.evaluation.report import _ratio, by_year


def _rows() -> pd.DataFrame:
    # 2024: the model is right where the market hedges; 2025: the model hedges more.
    return pd.DataFrame(
        {
            "event_ticker": ["A", "A", "B", "B", "C", "C"],
            "event_date": ["2024-05-01"] * 4 + ["2025-02-01"] * 2,
            "outcome": [1, 0, 0, 1, 1, 0],
            "model": [0.9, 0.1, 0.2, 0.8, 0.6, 0.4],
            "market": [0.7, 0.3, 0.4, 0.6, 0.9, 0.1],
            "p_climatology": [float("nan")] * 6,
            "gaussian": [float("nan")] * 6,
        }
    )


def test_by_year_scores_model_and_market_on_each_years_rows() -> None:
    years = by_year(_rows())
    assert list(years) == ["2024", "2025"]
    y24, y25 = years["2024"], years["2025"]
    assert (y24["n_events"], y24["n_rows"], y25["n_rows"]) == (2, 4, 2)
    assert y24["model"]["brier"] == pytest.approx((0.01 + 0.01 + 0.04 + 0.04) / 4)
    assert y24["market"]["brier"] == pytest.approx((0.09 + 0.09 + 0.16 + 0.16) / 4)
    assert y25["market"]["brier"] == pytest.approx(0.01)
    assert _ratio(y24["market"]) == "0.200"
    assert _ratio(y25["market"]) == "16.000"
    assert y24["climatology"] is None and _ratio(y24["climatology"]) == "—"
