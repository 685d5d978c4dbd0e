"""A heavy-tailed forecast-error model with a night-time-maximum component, and its ML fit.

T = forecast + bias + e, with e ~ (1 - w) * t_df(0, scale) + w * N(shift, scale^2): the
second component is the risk that the calendar-day maximum (CLI) falls outside the daytime
window the forecast describes (a warm night before a front), which only ever adds warmth.
Fitted by maximum likelihood on whole-degree outcomes (interval likelihood with the +-0.5
rounding) with weak priors, so small samples stay sensible.

When the previous day's observed maximum P is known, the calendar-day maximum is modelled as
max(T_day, T_night) with T_night ~ N(P - drop, night_sd^2) independent of T_day: the first
hours of the climate day (00-07 LST) inherit the previous evening's warmth, so after a cold
front the maximum is set just after midnight, well above the daytime forecast. F(x) is the
product of the two CDFs; ``drop`` (how far the temperature has fallen from the previous
afternoon's maximum by the early night) and ``night_sd`` are fitted with the other
parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, ndtr, stdtr

from milkbot.domain.distributions import (
    Gaussian,
    MaxOf,
    Mixture,
    PredictiveDistribution,
    StudentT,
)

DF = 5.0
MIN_PAIRS = 30
CLIM_RIDGE = 25.0  # ridge per pair on the climatology slope, in degF^2
NIGHT_PRIOR = (2.0, 20.0)  # Beta prior on the night-time-maximum weight
DEFAULT_NIGHT_WEIGHT = 0.08
# Weak priors of the max-of-two night term: drop ~ N(8, 4^2) degF (a typical fall from the
# afternoon maximum to around midnight is half to two thirds of a 12-20 degF diurnal range),
# night_sd ~ logN(log 3, 0.5).
DROP_PRIOR = (8.0, 4.0)
NIGHT_SD_PRIOR = 3.0
# Spread-skill coefficient prior: log coef ~ N(log 0.5, 1), i.e. weak around a half.
SPREAD_PRIOR = 0.5
# Day-to-day error persistence prior: N(0, 0.5^2) on the coefficient.
PERSISTENCE_PRIOR_SD = 0.5
# Partial pooling: a station's parameters get Gaussian priors centred on the all-station fit
# for the same lead bucket, with these standard deviations (on the fitted scale: degF for
# bias and drop, log for scale, night shift, night sd and spread coefficient, logit for the
# night weight) times POOL_PRIOR_SCALE.
POOL_PRIOR_SD = {
    "bias": 1.0,
    "log_scale": 0.2,
    "logit_night_weight": 1.0,
    "log_night_shift": 0.5,
    "drop": 3.0,
    "log_night_sd": 0.3,
    "persistence": 0.2,
    "log_spread_coef": 0.5,
}
POOL_PRIOR_SCALE = 1.0


@dataclass(frozen=True, slots=True)
class ErrorModel:
    """Fitted error parameters for one key (station, season, lead bucket)."""

    bias: float
    scale: float
    night_weight: float
    night_shift: float
    n: int
    df: float = DF
    clim_weight: float = 0.0  # lambda: mean = forecast + lambda * (climate mean - forecast)
    drop: float = 0.0  # night maximum ~ N(previous max - drop, night_sd^2); unused if sd 0
    night_sd: float = 0.0
    spread_coef: float = 0.0  # scale^2 = scale0^2 + coef * variance of the day's issues
    persistence: float = 0.0  # mean += persistence * the same forecast's error the day before

    def distribution(
        self,
        forecast: float,
        climate_mean: float | None = None,
        previous_max: float | None = None,
        spread_var: float = 0.0,
        previous_error: float | None = None,
    ) -> PredictiveDistribution:
        """Predictive distribution of the maximum given a point forecast.

        ``climate_mean`` feeds the climatology shrinkage, ``previous_max`` (the previous
        day's observed maximum) the max-of-two night term when it was fitted, ``spread_var``
        (variance of the day's issues of this forecast so far) the spread-skill term,
        ``previous_error`` (observed - forecast of the day before, same issue) the error
        persistence.
        """
        loc = forecast + self.bias
        if previous_error is not None and math.isfinite(previous_error):
            loc += self.persistence * previous_error
        if climate_mean is not None and math.isfinite(climate_mean):
            loc += self.clim_weight * (climate_mean - forecast)
        scale = math.sqrt(self.scale**2 + self.spread_coef * max(0.0, spread_var))
        day: PredictiveDistribution = StudentT(loc, scale, self.df)
        if self.night_weight > 1e-6:
            night = Gaussian(loc + self.night_shift, max(scale, 1.0))
            day = Mixture((day, night), (1.0 - self.night_weight, self.night_weight))
        if self.night_sd > 0 and previous_max is not None and math.isfinite(previous_max):
            return MaxOf(day, Gaussian(previous_max - self.drop, self.night_sd))
        return day

    def to_dict(self) -> dict[str, float]:
        """Serializable, rounded values."""
        return {
            "bias": round(self.bias, 4),
            "scale": round(self.scale, 4),
            "night_weight": round(self.night_weight, 4),
            "night_shift": round(self.night_shift, 4),
            "n": self.n,
            "df": self.df,
            "clim_weight": round(self.clim_weight, 4),
            "drop": round(self.drop, 4),
            "night_sd": round(self.night_sd, 4),
            "spread_coef": round(self.spread_coef, 4),
            "persistence": round(self.persistence, 4),
        }

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> ErrorModel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            bias=float(d["bias"]),
            scale=float(d["scale"]),
            night_weight=float(d["night_weight"]),
            night_shift=float(d["night_shift"]),
            n=int(d["n"]),
            df=float(d.get("df", DF)),
            clim_weight=float(d.get("clim_weight", 0.0)),
            drop=float(d.get("drop", 0.0)),
            night_sd=float(d.get("night_sd", 0.0)),
            spread_coef=float(d.get("spread_coef", 0.0)),
            persistence=float(d.get("persistence", 0.0)),
        )


def default_model(lead_hours: float) -> ErrorModel:
    """Prior model when there are too few pairs: no bias, spread growing with lead."""
    return ErrorModel(0.0, 1.7 + 0.02 * max(0.0, lead_hours), DEFAULT_NIGHT_WEIGHT, 4.0, 0)


def _cdf(
    x: np.ndarray,
    p: np.ndarray,
    gap: np.ndarray | None = None,
    spread_var: np.ndarray | None = None,
    prev_error: np.ndarray | None = None,
) -> np.ndarray:
    """CDF of the residual.

    ``p`` = (bias, log scale, logit night weight, log night shift[, drop, log night sd]
    [, persistence][, log spread coefficient]); ``gap`` = previous max - forecast (NaN: no
    night term); ``spread_var`` = variance of the issues so far (scale^2 + coef *
    spread_var); ``prev_error`` = the day before's error (0 where unknown).
    """
    bias, log_scale, logit_w, log_shift = p[:4]
    if prev_error is not None:
        bias = bias + p[6 if gap is not None else 4] * prev_error
    scale: float | np.ndarray = math.exp(log_scale)
    if spread_var is not None:
        scale = np.sqrt(math.exp(2.0 * log_scale) + math.exp(p[-1]) * spread_var)
    w = float(expit(logit_w))
    shift = math.exp(log_shift)
    core = stdtr(DF, (x - bias) / scale)
    night = ndtr((x - bias - shift) / np.maximum(scale, 1.0))
    out: np.ndarray = (1.0 - w) * core + w * night
    if gap is not None:
        drop, night_sd = p[4], math.exp(p[5])
        prev = ndtr((x - (gap - drop)) / night_sd)
        out = out * np.where(np.isfinite(gap), prev, 1.0)
    return out


def _centre_vector(m: ErrorModel) -> dict[str, tuple[float, float]]:
    """Prior (mean, sd) of each fitted parameter, on the optimiser's scale, from a pooled fit.

    Terms the pooled fit lacks keep their weak stand-alone priors.
    """
    w = min(1.0 - 1e-6, max(1e-6, m.night_weight))
    k = POOL_PRIOR_SCALE
    sd = {name: v * k for name, v in POOL_PRIOR_SD.items()}
    return {
        "bias": (m.bias, sd["bias"]),
        "log_scale": (math.log(m.scale), sd["log_scale"]),
        "logit_night_weight": (math.log(w / (1.0 - w)), sd["logit_night_weight"]),
        "log_night_shift": (math.log(max(m.night_shift, 1e-3)), sd["log_night_shift"]),
        "drop": (m.drop, sd["drop"]) if m.night_sd > 0 else DROP_PRIOR,
        "log_night_sd": (math.log(m.night_sd), sd["log_night_sd"])
        if m.night_sd > 0
        else (math.log(NIGHT_SD_PRIOR), 0.5),
        "persistence": (m.persistence, sd["persistence"]),
        "log_spread_coef": (math.log(m.spread_coef), sd["log_spread_coef"])
        if m.spread_coef > 0
        else (math.log(SPREAD_PRIOR), 1.0),
    }


def _param_names(has_gap: bool, has_persistence: bool, has_spread: bool) -> list[str]:
    names = ["bias", "log_scale", "logit_night_weight", "log_night_shift"]
    if has_gap:
        names += ["drop", "log_night_sd"]
    if has_persistence:
        names += ["persistence"]
    if has_spread:
        names += ["log_spread_coef"]
    return names


def _pooled_log_prior(
    p: np.ndarray, centre: dict[str, tuple[float, float]], names: list[str]
) -> float:
    """Gaussian log prior of the parameter vector ``p`` centred on a pooled fit."""
    lp = 0.0
    for name, v in zip(names, p, strict=True):
        mean, sd = centre[name]
        lp += -0.5 * ((float(v) - mean) / sd) ** 2
    return lp


def fit_clim_weight(residuals: np.ndarray, anomaly: np.ndarray) -> float:
    """Ridge slope of residuals on (climate mean - forecast), clipped to [0, 0.5]."""
    ok = np.isfinite(residuals) & np.isfinite(anomaly)
    if ok.sum() < MIN_PAIRS:
        return 0.0
    r, a = residuals[ok], anomaly[ok]
    r = r - r.mean()
    a = a - a.mean()
    lam = float(np.sum(r * a) / (np.sum(a * a) + CLIM_RIDGE * len(a)))
    return min(0.5, max(0.0, lam))


def fit_error_model(
    residuals: np.ndarray,
    lead_hours: float,
    anomaly: np.ndarray | None = None,
    prev_gap: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    spread_var: np.ndarray | None = None,
    prev_error: np.ndarray | None = None,
    centre: ErrorModel | None = None,
) -> ErrorModel:
    """Fit by penalised ML on residuals = truth - forecast (whole degrees).

    With ``anomaly`` (climate mean - forecast per pair) a shrinkage towards climatology is
    fitted first and removed from the residuals. With ``prev_gap`` (previous day's observed
    maximum - forecast, NaN where unknown) on at least ``MIN_PAIRS`` pairs the max-of-two
    night term is fitted too. ``weights`` (per pair, e.g. recency) weight the likelihood;
    the priors keep their full strength. With ``spread_var`` (variance of the forecast's
    own earlier issues for the day, a lagged ensemble) the scale grows with it as in EMOS:
    scale^2 = scale0^2 + coef * spread_var. With ``prev_error`` (the same forecast's error
    the day before, NaN where unknown) the mean carries a persistence term: forecast errors
    are autocorrelated from one day to the next (weather regimes). With ``centre`` (the
    all-station fit for the lead bucket) each parameter's prior is a Gaussian centred on the
    centre's value (``POOL_PRIOR_SD``), i.e. partial pooling: few pairs land near the
    centre, many near the station's own estimate.
    """
    r = np.asarray(residuals, dtype=float)
    lam = 0.0
    if anomaly is not None:
        a = np.asarray(anomaly, dtype=float)
        lam = fit_clim_weight(r, a)
        r = r - lam * np.where(np.isfinite(a), a, 0.0)
    ok = np.isfinite(r)
    wt = np.ones(len(r)) if weights is None else np.asarray(weights, dtype=float)
    wt = wt[ok]
    gap: np.ndarray | None = None
    if prev_gap is not None:
        g = np.asarray(prev_gap, dtype=float)[ok]
        gap = g if int(np.isfinite(g).sum()) >= MIN_PAIRS else None
    s2: np.ndarray | None = None
    if spread_var is not None:
        v = np.nan_to_num(np.asarray(spread_var, dtype=float)[ok], nan=0.0)
        s2 = v if int((v > 0).sum()) >= MIN_PAIRS else None
    pe: np.ndarray | None = None
    if prev_error is not None:
        e1 = np.asarray(prev_error, dtype=float)[ok]
        pe = np.nan_to_num(e1, nan=0.0) if int(np.isfinite(e1).sum()) >= MIN_PAIRS else None
    r = r[ok]
    prior = default_model(lead_hours)
    if len(r) < MIN_PAIRS:
        return prior
    pooled = None if centre is None else _centre_vector(centre)
    names = _param_names(gap is not None, pe is not None, s2 is not None)

    def nll(p: np.ndarray) -> float:
        mass = _cdf(r + 0.5, p, gap, s2, pe) - _cdf(r - 0.5, p, gap, s2, pe)
        ll = float(np.sum(wt * np.log(np.maximum(mass, 1e-9))))
        if pooled is not None:
            return float(-(ll + _pooled_log_prior(p, pooled, names)))
        w = float(expit(p[2]))
        # Weak priors: bias ~ N(0, 3), night weight ~ Beta(NIGHT_PRIOR), shift ~ logN(log 4, 0.5).
        lp = -0.5 * (p[0] / 3.0) ** 2
        lp += (NIGHT_PRIOR[0] - 1.0) * math.log(max(w, 1e-9))
        lp += (NIGHT_PRIOR[1] - 1.0) * math.log(max(1.0 - w, 1e-9))
        lp += -0.5 * ((p[3] - math.log(4.0)) / 0.5) ** 2
        if gap is not None:
            lp += -0.5 * ((p[4] - DROP_PRIOR[0]) / DROP_PRIOR[1]) ** 2
            lp += -0.5 * ((p[5] - math.log(NIGHT_SD_PRIOR)) / 0.5) ** 2
        if pe is not None:
            lp += -0.5 * (p[6 if gap is not None else 4] / PERSISTENCE_PRIOR_SD) ** 2
        if s2 is not None:
            lp += -0.5 * ((p[-1] - math.log(SPREAD_PRIOR)) / 1.0) ** 2
        return float(-(ll + lp))

    x0 = [float(np.median(r)), math.log(max(1.0, float(np.std(r)) * 0.8)), -2.5, math.log(4.0)]
    if gap is not None:
        x0 += [DROP_PRIOR[0], math.log(NIGHT_SD_PRIOR)]
    if pe is not None:
        x0 += [0.0]
    if s2 is not None:
        x0 += [math.log(SPREAD_PRIOR)]
    if pooled is not None:
        x0 = [pooled[name][0] for name in names]
    res = minimize(
        nll,
        np.array(x0),
        method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 3000},
    )
    b, ls, lw, lsh = (float(v) for v in res.x[:4])
    drop, night_sd = 0.0, 0.0
    if gap is not None:
        drop, night_sd = float(res.x[4]), min(15.0, max(0.5, math.exp(float(res.x[5]))))
    coef = 0.0 if s2 is None else min(10.0, math.exp(float(res.x[-1])))
    persistence = 0.0 if pe is None else float(res.x[6 if gap is not None else 4])
    return ErrorModel(
        bias=b,
        scale=min(15.0, max(0.5, math.exp(ls))),
        night_weight=float(expit(lw)),
        night_shift=min(15.0, math.exp(lsh)),
        n=len(r),
        clim_weight=lam,
        drop=drop,
        night_sd=night_sd,
        spread_coef=coef,
        persistence=persistence,
    )
