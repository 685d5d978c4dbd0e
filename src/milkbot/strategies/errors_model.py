"""A heavy-tailed forecast-error model with a night-time-maximum component, and its ML fit.

T = forecast + bias + e, with e ~ (1 - w) * t_df(0, scale) + w * N(shift, scale^2): the
second component is the risk that the calendar-day maximum (CLI) falls outside the daytime
window the forecast describes (a warm night before a front), which only ever adds warmth.
Fitted by maximum likelihood on whole-degree outcomes (interval likelihood with the +-0.5
rounding) with weak priors, so small samples stay sensible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr, stdtr

from milkbot.domain.distributions import Gaussian, Mixture, PredictiveDistribution, StudentT

DF = 5.0
MIN_PAIRS = 30
CLIM_RIDGE = 25.0  # ridge per pair on the climatology slope, in degF^2
NIGHT_PRIOR = (2.0, 20.0)  # Beta prior on the night-time-maximum weight
DEFAULT_NIGHT_WEIGHT = 0.08


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

    def distribution(
        self, forecast: float, climate_mean: float | None = None
    ) -> PredictiveDistribution:
        """Predictive distribution of the maximum given a point forecast (and climate mean)."""
        loc = forecast + self.bias
        if climate_mean is not None and math.isfinite(climate_mean):
            loc += self.clim_weight * (climate_mean - forecast)
        core = StudentT(loc, self.scale, self.df)
        if self.night_weight <= 1e-6:
            return core
        night = Gaussian(loc + self.night_shift, max(self.scale, 1.0))
        return Mixture((core, night), (1.0 - self.night_weight, self.night_weight))

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
        )


def default_model(lead_hours: float) -> ErrorModel:
    """Prior model when there are too few pairs: no bias, spread growing with lead."""
    return ErrorModel(0.0, 1.7 + 0.02 * max(0.0, lead_hours), DEFAULT_NIGHT_WEIGHT, 4.0, 0)


def _cdf(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    bias, log_scale, logit_w, log_shift = p
    scale = math.exp(log_scale)
    w = 1.0 / (1.0 + math.exp(-logit_w))
    shift = math.exp(log_shift)
    core = stdtr(DF, (x - bias) / scale)
    night = ndtr((x - bias - shift) / max(scale, 1.0))
    out: np.ndarray = (1.0 - w) * core + w * night
    return out


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
    residuals: np.ndarray, lead_hours: float, anomaly: np.ndarray | None = None
) -> ErrorModel:
    """Fit by penalised ML on residuals = truth - forecast (whole degrees).

    With ``anomaly`` (climate mean - forecast per pair) a shrinkage towards climatology is
    fitted first and removed from the residuals.
    """
    r = np.asarray(residuals, dtype=float)
    lam = 0.0
    if anomaly is not None:
        a = np.asarray(anomaly, dtype=float)
        lam = fit_clim_weight(r, a)
        r = r - lam * np.where(np.isfinite(a), a, 0.0)
    r = r[np.isfinite(r)]
    prior = default_model(lead_hours)
    if len(r) < MIN_PAIRS:
        return prior

    def nll(p: np.ndarray) -> float:
        mass = _cdf(r + 0.5, p) - _cdf(r - 0.5, p)
        ll = float(np.sum(np.log(np.maximum(mass, 1e-9))))
        w = 1.0 / (1.0 + math.exp(-p[2]))
        # Weak priors: bias ~ N(0, 3), night weight ~ Beta(NIGHT_PRIOR), shift ~ logN(log 4, 0.5).
        lp = -0.5 * (p[0] / 3.0) ** 2
        lp += (NIGHT_PRIOR[0] - 1.0) * math.log(max(w, 1e-9))
        lp += (NIGHT_PRIOR[1] - 1.0) * math.log(max(1.0 - w, 1e-9))
        lp += -0.5 * ((p[3] - math.log(4.0)) / 0.5) ** 2
        return float(-(ll + lp))

    x0 = np.array(
        [float(np.median(r)), math.log(max(1.0, float(np.std(r)) * 0.8)), -2.5, math.log(4.0)]
    )
    res = minimize(
        nll, x0, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000}
    )
    b, ls, lw, lsh = (float(v) for v in res.x)
    return ErrorModel(
        bias=b,
        scale=min(15.0, max(0.5, math.exp(ls))),
        night_weight=1.0 / (1.0 + math.exp(-lw)),
        night_shift=min(15.0, math.exp(lsh)),
        n=len(r),
        clim_weight=lam,
    )
