"""Strategy 2: multi-model ensemble members (Open-Meteo), calibrated with EMOS.

Members are forecast rows whose source starts with ``open-meteo-ensemble`` or
``open-meteo-model`` (one source per member or model, e.g. ``open-meteo-ensemble:gfs:07``),
never the historical-forecast archive. The latest issue of each source is used:
T ~ t_5(mean + bias, sqrt(c + d * var)), with bias, c, d fitted by ML on earlier events.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import stdtr

from milkbot.domain.distributions import StudentT
from milkbot.features.event import ARCHIVE_SOURCES, EventFeatures
from milkbot.strategies.base import History, StrategyOutput, output_from_distribution

PREFIXES = ("open-meteo-ensemble", "open-meteo-model")
MIN_MEMBERS = 2
MIN_EVENTS = 30


def members(features: EventFeatures) -> list[float]:
    """Latest usable value of each member source."""
    latest: dict[str, tuple[object, float]] = {}
    for f in features.forecasts:
        if f.source in ARCHIVE_SOURCES or not f.source.startswith(PREFIXES):
            continue
        cur = latest.get(f.source)
        if cur is None or f.issued_at >= cur[0]:  # type: ignore[operator]
            latest[f.source] = (f.issued_at, f.tmax_f)
    return [v for _, (_, v) in sorted(latest.items())]


@dataclass
class MembersStrategy:
    """EMOS on ensemble mean and variance."""

    name: str = "ensemble_members"
    bias: float = 0.0
    c: float = 4.0
    d: float = 1.0
    n_fit: int = 0

    def fit(self, history: History) -> MembersStrategy:
        """ML fit of (bias, c, d) on earlier events with members and a settled value."""
        xs: list[tuple[float, float, float]] = []
        for feats, event in history.events:
            m = members(feats)
            if len(m) >= MIN_MEMBERS and event.settled_value is not None:
                xs.append((statistics.fmean(m), statistics.pvariance(m), event.settled_value))
        if len(xs) < MIN_EVENTS:
            return MembersStrategy(self.name, n_fit=len(xs))
        arr = np.array(xs)
        mu, var, y = arr[:, 0], arr[:, 1], arr[:, 2]

        def nll(p: np.ndarray) -> float:
            sd = np.sqrt(math.exp(p[1]) + math.exp(p[2]) * var)
            z_hi = (y + 0.5 - mu - p[0]) / sd
            z_lo = (y - 0.5 - mu - p[0]) / sd
            mass = stdtr(5.0, z_hi) - stdtr(5.0, z_lo)
            return -float(np.sum(np.log(np.maximum(mass, 1e-9))))

        res = minimize(nll, np.array([0.0, math.log(4.0), 0.0]), method="Nelder-Mead")
        b, lc, ld = (float(v) for v in res.x)
        return MembersStrategy(self.name, b, math.exp(lc), math.exp(ld), len(xs))

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """EMOS distribution, or None with fewer than two members."""
        m = members(features)
        if len(m) < MIN_MEMBERS:
            return None
        mean, var = statistics.fmean(m), statistics.pvariance(m)
        scale = math.sqrt(self.c + self.d * var)
        used: dict[str, float | str] = {
            "members": float(len(m)),
            "mean_f": mean,
            "spread_f": math.sqrt(var),
        }
        return output_from_distribution(
            self.name, features, StudentT(mean + self.bias, scale, 5.0), used
        )
