"""Correlation clusters of forecast errors: synthetic factor data and real NWS errors."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from milkbot.datasets import load_dataset
from milkbot.errors import ConfigError, DatasetError
from milkbot.risk.clusters import (
    ClusterConfig,
    ClusterSchedule,
    compute_clusters,
    effective_bets,
    singleton_map,
)
from milkbot.risk.forecast_errors import forecast_errors

AS_OF = datetime(2025, 4, 1, 12, tzinfo=UTC)


def synthetic(seed: int = 7, days: int = 120) -> dict[str, dict[date, float]]:
    """Errors with a shared factor for {NYC, PHIL, BOS} and another for {AUS, DAL}; LAX alone."""
    rng = random.Random(seed)
    out: dict[str, dict[date, float]] = {c: {} for c in ("NYC", "PHIL", "BOS", "AUS", "DAL", "LAX")}
    start = AS_OF.date() - timedelta(days=days)
    for k in range(days + 5):
        d = start + timedelta(days=k)
        east, texas = rng.gauss(0, 2), rng.gauss(0, 2)
        for c in ("NYC", "PHIL", "BOS"):
            out[c][d] = east + rng.gauss(0, 1)
        for c in ("AUS", "DAL"):
            out[c][d] = texas + rng.gauss(0, 1)
        out["LAX"][d] = rng.gauss(0, 2)
    return out


def test_factor_structure_is_recovered() -> None:
    m = compute_clusters(synthetic(), AS_OF)
    assert m.cluster_of("NYC") == m.cluster_of("PHIL") == m.cluster_of("BOS") == "BOS+NYC+PHIL"
    assert m.cluster_of("AUS") == m.cluster_of("DAL") == "AUS+DAL"
    assert m.cluster_of("LAX") == "LAX"
    assert m.members("AUS+DAL") == ("AUS", "DAL")
    # factor variance 4, noise 1 -> true correlation 0.8, shrunk by n / (n + 10)
    assert 0.6 < m.rho("NYC", "PHIL") < 0.85
    assert abs(m.rho("NYC", "LAX")) < 0.3
    assert m.rho("NYC", "NYC") == 1.0
    assert m.cluster_of("MIA") == "solo:MIA"
    assert m.window_end == date(2025, 3, 31)
    assert m.window_start == date(2025, 1, 1)


def test_version_is_a_stable_hash_and_ignores_the_future() -> None:
    errors = synthetic()
    a = compute_clusters(errors, AS_OF)
    assert compute_clusters(synthetic(), AS_OF).version == a.version
    # Errors on or after the as-of date are not known yet: changing them changes nothing.
    for d in list(errors["NYC"]):
        if d >= AS_OF.date():
            errors["NYC"][d] = 40.0
    assert compute_clusters(errors, AS_OF).version == a.version
    assert compute_clusters(errors, AS_OF + timedelta(days=3)).version != a.version
    assert a.computed_at == AS_OF


def test_short_overlap_gives_no_correlation() -> None:
    errors = synthetic()
    errors["PHIL"] = dict(list(errors["PHIL"].items())[-12:])  # fewer than min_overlap dates
    m = compute_clusters(errors, AS_OF)
    assert m.rho("NYC", "PHIL") == 0.0
    assert m.cluster_of("PHIL") == "PHIL"


def test_effective_bets_and_correlation_scale() -> None:
    assert effective_bets(4, 0.0) == 4
    assert effective_bets(4, 1.0) == 1
    assert effective_bets(3, 0.5) == pytest.approx(3 / 2)
    assert effective_bets(0, 0.3) == 0
    m = compute_clusters(synthetic(), AS_OF)
    assert m.correlation_scale("LAX", ["NYC", "AUS"]) == 1.0
    both = m.correlation_scale("NYC", ["PHIL", "AUS"])
    rho = m.rho("NYC", "PHIL")
    assert both == pytest.approx(effective_bets(2, rho) / 2)
    assert m.correlation_scale("NYC", ["PHIL", "BOS"]) < both


def test_schedule_recomputes_and_keeps_versions() -> None:
    cfg = ClusterConfig(recompute_every=timedelta(days=7))
    sched = ClusterSchedule(cfg, singleton_map(["NYC", "PHIL"], AS_OF))
    assert sched.current.cluster_of("NYC") != sched.current.cluster_of("PHIL")
    assert not sched.due(AS_OF + timedelta(days=6))
    assert sched.refresh(synthetic(), AS_OF + timedelta(days=6)) is False
    assert sched.refresh(synthetic(), AS_OF + timedelta(days=7)) is True
    assert sched.current.cluster_of("NYC") == sched.current.cluster_of("PHIL")
    assert len(sched.history) == 1


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        ClusterConfig(min_overlap=2)
    with pytest.raises(ConfigError):
        ClusterConfig(cut_correlation=1.0)


def test_real_nws_forecast_errors_cluster_neighbours(shared_data) -> None:
    """NWS 'Selected Cities' forecast highs vs reported highs, Feb-Sep 2021.

    Errors of the two-day-ahead forecasts of New York and Philadelphia (130 km apart) are
    more correlated than New York and Los Angeles, and cluster together.
    """
    ds = load_dataset([shared_data / "nws-scs-2021"])
    assert ds.forecasts is not None and ds.observations is not None
    stations = {
        "NYC": "KNYC",
        "PHIL": "PHILADELPHIA_PA",
        "BOS": "BOSTON_MA",
        "CHI": "CHICAGO_IL",
        "LAX": "LOS_ANGELES_CA",
        "MIA": "MIAMI_BEACH_FL",
        "AUS": "KAUS",
    }
    errors = forecast_errors(
        ds.forecasts, ds.observations, stations, min_lead_hours=40, max_lead_hours=80
    )
    assert set(errors) == set(stations)
    assert all(len(v) > 200 for v in errors.values())
    m = compute_clusters(errors, datetime(2021, 9, 30, tzinfo=UTC), ClusterConfig(window_days=120))
    assert m.rho("NYC", "PHIL") > m.rho("NYC", "LAX")
    assert m.cluster_of("NYC") == m.cluster_of("PHIL")
    assert m.cluster_of("LAX") != m.cluster_of("NYC")


def test_forecast_errors_needs_the_columns() -> None:
    import pandas as pd

    with pytest.raises(DatasetError):
        forecast_errors(pd.DataFrame({"station": []}), pd.DataFrame(), {"NYC": "KNYC"})
