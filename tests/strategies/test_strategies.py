"""Strategy fitting and outputs on small, deterministic inputs."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from milkbot.features.event import Event, EventFeatures, ForecastInput, MarketPrice
from milkbot.strategies.base import History
from milkbot.strategies.climatology import ClimatologyStrategy, MonthlyClimate
from milkbot.strategies.ensemble import Ensemble, fit_weights
from milkbot.strategies.errors_model import ErrorModel, fit_error_model
from milkbot.strategies.market import MarketStrategy, fit_gamma
from milkbot.strategies.nowcast import NowcastStrategy
from milkbot.strategies.nws import NwsStrategy, prepare_pairs
from tests.conftest import six_brackets

SIX = six_brackets()
CLOSE = datetime(2025, 2, 11, 4, 59, tzinfo=UTC)
T = datetime(2025, 2, 10, 16, 59, tzinfo=UTC)


def _features(**kw: object) -> EventFeatures:
    base: dict[str, object] = {
        "event_ticker": "E",
        "city": "NYC",
        "station": "KNYC",
        "event_date": date(2025, 2, 10),
        "decision_time": T,
        "close_time": CLOSE,
        "std_offset_hours": -5,
        "tickers": tuple(f"E-{i}" for i in range(6)),
        "brackets": SIX,
    }
    base.update(kw)
    return EventFeatures(**base)  # type: ignore[arg-type]


def test_error_model_recovers_bias_and_spread() -> None:
    rng = np.random.default_rng(1)
    residuals = np.round(1.5 + 2.0 * rng.standard_t(5, 2000))
    m = fit_error_model(residuals, 24.0)
    assert m.bias == pytest.approx(1.5, abs=0.3)
    assert m.scale == pytest.approx(2.0, abs=0.4)


def test_error_model_falls_back_to_prior_on_few_pairs() -> None:
    m = fit_error_model(np.array([1.0, 2.0]), 24.0)
    assert m.n == 0 and m.bias == 0.0


def test_nws_strategy_uses_latest_usable_forecast() -> None:
    f = _features(
        forecasts=(
            ForecastInput("nws-scs", datetime(2025, 2, 9, 12, 50, tzinfo=UTC), 44, None, 40.0),
            ForecastInput("nws-scs", datetime(2025, 2, 10, 12, 50, tzinfo=UTC), 50, None, 16.0),
            ForecastInput(
                "open-meteo-historical-forecast",
                datetime(2025, 2, 10, 13, tzinfo=UTC),
                60,
                2.0,
                1.0,
            ),
        )
    )
    out = NwsStrategy().predict(f)
    assert out is not None and out.features_used["forecast_f"] == 50
    assert sum(out.probabilities) == pytest.approx(1.0)
    assert max(out.probabilities) == out.probabilities[2]  # 49-50
    assert NwsStrategy().predict(_features()) is None


def test_market_gamma_learns_longshot_bias() -> None:
    rng = random.Random(3)
    samples = []
    for _ in range(400):
        true = [0.02, 0.08, 0.4, 0.4, 0.08, 0.02]
        k = rng.choices(range(6), weights=true)[0]
        # The market over-prices longshots: flatter than the truth.
        flat = [x**0.7 for x in true]
        s = sum(flat)
        samples.append(([x / s for x in flat], k))
    g = fit_gamma(samples)
    assert g > 1.15


def test_market_strategy_normalises_prices() -> None:
    prices = (0.05, 0.2, 0.5, 0.2, 0.1, 0.05)
    f = _features(market=tuple(MarketPrice(p, True, "quote", 0.0) for p in prices))
    out = MarketStrategy().predict(f)
    assert out is not None
    assert sum(out.probabilities) == pytest.approx(1.0)
    assert out.probabilities[2] == pytest.approx(0.5 / 1.1)


def test_climatology_uses_packaged_normals_only_from_earlier_months() -> None:
    packaged = {"KNYC": {2: MonthlyClimate(42.0, 9.0, 250, date(2024, 2, 29))}}
    s = ClimatologyStrategy(packaged=packaged)
    assert s.predict(_features()) is not None
    early = _features(event_date=date(2024, 2, 10))
    assert s.predict(early) is None


def _fitted_nowcast(
    running_max: float, outcomes: tuple[int, ...], settled: Callable[[int], float]
) -> NowcastStrategy:
    """A nowcast fitted on 40 earlier NYC events with the same running max at hour 11."""
    past = []
    for i in range(40):
        f = _features(event_ticker=f"P{i}", running_max_f=running_max, hours_observed=11.0)
        e = Event(
            f"P{i}",
            "NYC",
            "KNYC",
            date(2025, 2, 10),
            CLOSE,
            -5,
            f.tickers,
            SIX,
            outcomes,
            settled(i),
        )
        past.append((f, e))
    return NowcastStrategy().fit(History(None, tuple(past)))


def test_nowcast_learns_remaining_warming() -> None:
    s = _fitted_nowcast(45.0, (0, 0, 1, 0, 0, 0), lambda i: 49.0 + (i % 3) - 1)
    out = s.predict(_features(running_max_f=45.0, hours_observed=11.0))
    assert out is not None
    assert max(out.probabilities) == out.probabilities[2]
    assert NowcastStrategy().predict(_features(running_max_f=45.0, hours_observed=11.0)) is None


def test_fit_weights_prefers_the_better_strategy() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    good = np.clip(y * 0.8 + 0.1 + rng.normal(0, 0.05, 500), 0.01, 0.99)
    bad = np.full(500, 0.5)
    w = fit_weights(["good", "bad"], np.column_stack([good, bad]), y)
    assert w["good"] > 0.8
    assert math.isclose(sum(w.values()), 1.0, abs_tol=1e-5)


def test_ensemble_records_contributions() -> None:
    prices = (0.05, 0.2, 0.5, 0.2, 0.1, 0.05)
    f = _features(
        market=tuple(MarketPrice(p, True, "quote", 0.0) for p in prices),
        climatology=tuple(float(x) for x in range(35, 65)),
    )
    ens = Ensemble([MarketStrategy(), ClimatologyStrategy()], {"market": 3.0, "climatology": 1.0})
    out = ens.predict(f)
    assert out is not None
    assert out.weights == {"climatology": 0.25, "market": 0.75}
    assert sum(out.probabilities) == pytest.approx(1.0)
    total = [sum(c[i] for c in out.contributions.values()) for i in range(6)]
    assert total == pytest.approx(list(out.probabilities), abs=1e-3)


def test_climatology_slope_is_fitted_and_bounded() -> None:
    from milkbot.strategies.errors_model import fit_clim_weight

    rng = np.random.default_rng(2)
    anomaly = rng.normal(0, 8, 800)
    residuals = 0.3 * anomaly + rng.normal(0, 2, 800)
    lam = fit_clim_weight(residuals, anomaly)
    assert 0.1 < lam < 0.3  # shrunk towards 0 by the ridge
    assert fit_clim_weight(-residuals, anomaly) == 0.0
    assert fit_clim_weight(residuals[:5], anomaly[:5]) == 0.0


def test_placement_learns_that_middle_bins_win_more_often() -> None:
    from milkbot.strategies.placement import PlacementStrategy

    past = []
    for i in range(60):
        f = _features(event_ticker=f"P{i}")
        win = 2 + (i % 2)  # one of the two middle bins
        outcomes = tuple(1 if j == win else 0 for j in range(6))
        past.append(
            (
                f,
                Event(
                    f"P{i}",
                    "NYC",
                    "KNYC",
                    date(2025, 2, 1),
                    CLOSE,
                    -5,
                    f.tickers,
                    SIX,
                    outcomes,
                    None,
                ),
            )
        )
    s = PlacementStrategy().fit(History(None, tuple(past)))
    out = s.predict(_features())
    assert out is not None
    assert sum(out.probabilities) == pytest.approx(1.0)
    assert out.probabilities[2] > 0.4 and out.probabilities[0] < 0.05
    assert PlacementStrategy().predict(_features()) is None


def test_members_strategy_needs_two_members_and_fits_emos() -> None:
    from milkbot.strategies.members import MembersStrategy

    issued = datetime(2025, 2, 10, 6, tzinfo=UTC)

    def with_members(values: list[float]) -> EventFeatures:
        return _features(
            forecasts=tuple(
                ForecastInput(f"open-meteo-ensemble:gfs:{i:02d}", issued, v, None, 23.0)
                for i, v in enumerate(values)
            )
        )

    assert MembersStrategy().predict(with_members([50.0])) is None
    rng = random.Random(4)
    past = []
    for i in range(80):
        centre = 40.0 + (i % 20)
        values = [centre + rng.gauss(0, 1.5) for _ in range(10)]
        f = with_members(values)
        settled = round(centre + 2.0 + rng.gauss(0, 1.0))  # members run 2 degF cold
        past.append(
            (
                f,
                Event(
                    f"P{i}",
                    "NYC",
                    "KNYC",
                    date(2025, 2, 10),
                    CLOSE,
                    -5,
                    f.tickers,
                    SIX,
                    (0,) * 6,
                    settled,
                ),
            )
        )
    fitted = MembersStrategy().fit(History(None, tuple(past)))
    assert fitted.bias == pytest.approx(2.0, abs=0.5)
    out = fitted.predict(with_members([47.0, 48.0, 49.0]))
    assert out is not None and sum(out.probabilities) == pytest.approx(1.0)
    assert max(out.probabilities) == out.probabilities[2]  # 48 + 2 -> 49-50


def test_nowcast_truncates_below_an_observed_running_max() -> None:
    s = _fitted_nowcast(50.0, (0,) * 6, lambda i: 47.0 + (i % 8))
    proxy = s.predict(_features(running_max_f=50.0, hours_observed=11.0))
    observed = s.predict(
        _features(running_max_f=50.0, hours_observed=11.0, running_max_observed=True)
    )
    assert proxy is not None and observed is not None
    assert proxy.probabilities[1] > 0.05  # 47-48 possible with a proxy series
    assert observed.probabilities[0] == pytest.approx(1e-4 / 1.0, abs=2e-4)
    assert observed.probabilities[1] < 1e-3


def test_error_model_learns_the_night_maximum_after_a_cold_front() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    gap = rng.normal(0.0, 8.0, n)  # previous day's maximum - today's forecast
    day = 2.0 * rng.standard_t(5, n)
    night = gap - 10.0 + 2.0 * rng.standard_normal(n)
    residuals = np.round(np.maximum(day, night))
    m = fit_error_model(residuals, 16.0, prev_gap=gap)
    assert m.drop == pytest.approx(10.0, abs=1.5)
    assert m.night_sd == pytest.approx(2.0, abs=1.0)
    # A previous maximum 20 degF above the forecast moves the prediction up; none does not.
    warm = m.distribution(50.0, previous_max=70.0)
    plain = m.distribution(50.0)
    assert warm.cdf(55.5) < 0.3 < plain.cdf(55.5)
    assert fit_error_model(residuals, 16.0).night_sd == 0.0


def test_error_model_scale_grows_with_disagreement_between_issues() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    spread_var = rng.choice([0.0, 1.0, 4.0, 9.0], n)
    sd = np.sqrt(1.5**2 + 1.0 * spread_var)
    residuals = np.round(sd * rng.standard_t(5, n))
    m = fit_error_model(residuals, 16.0, spread_var=spread_var)
    assert m.spread_coef == pytest.approx(1.0, abs=0.35)
    assert m.scale == pytest.approx(1.5, abs=0.3)
    flat = fit_error_model(np.round(1.5 * rng.standard_t(5, n)), 16.0, spread_var=spread_var)
    assert flat.spread_coef < 0.2


def test_error_model_weights_favour_recent_pairs() -> None:
    rng = np.random.default_rng(6)
    old = np.round(3.0 + 1.5 * rng.standard_t(5, 500))
    new = np.round(-1.0 + 1.5 * rng.standard_t(5, 500))
    weights = np.r_[np.full(500, 0.01), np.ones(500)]
    m = fit_error_model(np.r_[old, new], 16.0, weights=weights)
    assert m.bias == pytest.approx(-1.0, abs=0.4)


def test_nws_strategy_widens_when_issues_disagree() -> None:
    def forecasts(first: float) -> tuple[ForecastInput, ...]:
        return (
            ForecastInput("nws-scs", datetime(2025, 2, 9, 12, 50, tzinfo=UTC), first, None, 40.0),
            ForecastInput("nws-scs", datetime(2025, 2, 10, 12, 50, tzinfo=UTC), 50, None, 16.0),
        )

    model = ErrorModel(0.0, 2.0, 0.0, 4.0, 100, spread_coef=1.0)
    strategy = NwsStrategy(table={"KNYC|DJF|1": model})
    agree = strategy.predict(_features(forecasts=forecasts(50)))
    differ = strategy.predict(_features(forecasts=forecasts(40)))
    assert agree is not None and differ is not None
    assert differ.features_used["issue_variance"] == pytest.approx(50.0)
    assert differ.uncertainty > agree.uncertainty


def test_climatology_is_not_pooled_when_the_nws_forecast_is_present() -> None:
    clim = tuple(float(x) for x in range(35, 65))
    nws = (ForecastInput("nws-scs", datetime(2025, 2, 10, 12, 50, tzinfo=UTC), 50, None, 16.0),)
    ens = Ensemble([NwsStrategy(), ClimatologyStrategy()], {"nws": 1.0, "climatology": 1.0})
    with_nws = ens.predict(_features(climatology=clim, forecasts=nws))
    assert with_nws is not None
    assert with_nws.weights == {"nws": 1.0}
    assert set(with_nws.outputs) == {"nws", "climatology"}
    assert with_nws.probabilities == pytest.approx(with_nws.outputs["nws"].probabilities)
    alone = ens.predict(_features(climatology=clim))
    assert alone is not None and alone.weights == {"climatology": 1.0}


def _pairs(days: int, bias_old: float, bias_new: float) -> pd.DataFrame:
    """One same-morning NWS issue per day at KNYC; the error's bias changes halfway."""
    rng = np.random.default_rng(7)
    start = date(2025, 1, 1)
    rows = []
    for k in range(days):
        d = start + timedelta(days=k)
        fc = 50.0
        bias = bias_old if k < days // 2 else bias_new
        rows.append(
            {
                "station": "KNYC",
                "target_date": d,
                "issued_at": pd.Timestamp(datetime(d.year, d.month, d.day, 12, 50, tzinfo=UTC)),
                "source": "nws-scs",
                "tmax_f": fc,
                "truth": float(round(fc + bias + 1.5 * rng.standard_t(5))),
                "truth_source": "ghcnd",
                "clim_mean": math.nan,
                "prev_max": math.nan,
            }
        )
    return prepare_pairs(pd.DataFrame(rows))


def test_rolling_nws_fit_follows_recent_errors() -> None:
    pairs = _pairs(240, 3.0, -1.0)
    as_of = datetime(2025, 9, 1, tzinfo=UTC)
    rolling = NwsStrategy().fit(History(as_of=as_of, pairs=pairs))
    flat = NwsStrategy(recency_half_life=None).fit(History(as_of=as_of, pairs=pairs))
    recent = rolling.model_for("KNYC", "SON", 1)
    # The rolling fit needs no separate recent-bias shift (adapt_bias leaves it alone).
    assert rolling.adapt_bias(recent, "KNYC", 1) == recent
    assert recent.bias == pytest.approx(-1.0, abs=0.5)
    # Unweighted, the old +3 errors still pull the prediction up.
    old = flat.model_for("KNYC", "SON", 1)
    assert old.distribution(50.0).cdf(50.5) < recent.distribution(50.0).cdf(50.5) - 0.1


def test_error_model_learns_day_to_day_error_persistence() -> None:
    rng = np.random.default_rng(8)
    n = 3000
    e = np.zeros(n)
    for k in range(1, n):
        e[k] = 0.5 * e[k - 1] + 2.0 * rng.standard_t(5)
    previous = np.r_[np.nan, np.round(e[:-1])]
    m = fit_error_model(np.round(e), 16.0, prev_error=previous)
    assert m.persistence == pytest.approx(0.5, abs=0.1)
    assert m.distribution(50.0, previous_error=4.0).cdf(50.5) < m.distribution(50.0).cdf(50.5)
    assert fit_error_model(np.round(e), 16.0).persistence == 0.0


def test_nws_strategy_uses_the_previous_days_error_of_the_same_issue() -> None:
    issued = datetime(2025, 2, 10, 12, 50, tzinfo=UTC)
    f = _features(
        forecasts=(ForecastInput("nws-scs", issued, 50, None, 16.0),),
        previous_max_f=47.0,
        previous_forecasts=(
            ForecastInput("nws-scs", datetime(2025, 2, 8, 12, 50, tzinfo=UTC), 40, None, 40.0),
            ForecastInput("nws-scs", datetime(2025, 2, 9, 12, 50, tzinfo=UTC), 44, None, 16.0),
            ForecastInput("nws-scs", datetime(2025, 2, 10, 0, 50, tzinfo=UTC), 60, None, 4.0),
        ),
    )
    model = ErrorModel(0.0, 2.0, 0.0, 4.0, 100, persistence=0.5)
    out = NwsStrategy(table={"KNYC|DJF|1": model}).predict(f)
    assert out is not None
    # 24 h before the 12:50Z issue: the 2025-02-09 12:50Z one (44), not the later one (60).
    assert out.features_used["previous_error_f"] == 3.0
    assert out.distribution is not None
    assert out.distribution.cdf(51.5) == pytest.approx(model.distribution(51.5).cdf(51.5))
