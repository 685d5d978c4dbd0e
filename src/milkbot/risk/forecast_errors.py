"""Forecast errors per city and day from dataset frames, the input of the clustering.

The error of a day is the observed maximum minus the latest forecast issued at least
``min_lead_hours`` before the end of the forecast period, so every city is compared at
the same lead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from milkbot.errors import DatasetError


def forecast_errors(
    forecasts: pd.DataFrame,
    observations: pd.DataFrame,
    stations: Mapping[str, str],
    *,
    min_lead_hours: float = 12.0,
    max_lead_hours: float = 36.0,
) -> dict[str, dict[date, float]]:
    """Return ``city -> date -> observed - forecast`` (degF) for the stations named.

    Parameters
    ----------
    forecasts, observations : DataFrame
        Frames in the dataset layout (``forecasts.csv``, ``observations.csv``).
    stations : Mapping[str, str]
        City code -> station key in the frames.
    min_lead_hours, max_lead_hours : float
        Lead window of the forecast used per day; the shortest lead in the window wins.
    """
    for name, frame, cols in (
        ("forecasts", forecasts, ("station", "target_date", "lead_hours", "tmax_f")),
        ("observations", observations, ("station", "date", "tmax_f")),
    ):
        missing = set(cols) - set(frame.columns)
        if missing:
            raise DatasetError(f"{name} lacks columns {sorted(missing)}")
    keys = set(stations.values())
    fc = forecasts[
        forecasts["station"].isin(keys)
        & (forecasts["lead_hours"] >= min_lead_hours)
        & (forecasts["lead_hours"] <= max_lead_hours)
        & forecasts["tmax_f"].notna()
    ]
    fc = fc.sort_values("lead_hours").drop_duplicates(["station", "target_date"], keep="first")
    obs = observations[observations["station"].isin(keys) & observations["tmax_f"].notna()]
    obs = obs.drop_duplicates(["station", "date"], keep="first")
    joined = fc.merge(
        obs, left_on=["station", "target_date"], right_on=["station", "date"], suffixes=("_fc", "")
    )
    out: dict[str, dict[date, float]] = {}
    by_key = {v: k for k, v in stations.items()}
    for station, day, observed, forecast in zip(
        joined["station"].astype(str).tolist(),
        joined["target_date"].tolist(),
        joined["tmax_f"].astype(float).tolist(),
        joined["tmax_f_fc"].astype(float).tolist(),
        strict=True,
    ):
        if not isinstance(day, date):
            raise DatasetError(f"target_date {day!r} is not a date")
        out.setdefault(by_key[station], {})[day] = observed - forecast
    return out
