"""Strategy 4: the market's implied distribution, recalibrated for favourite/longshot bias.

Prices (two-sided mid, else the one-sided midpoint or a fresh last trade) are normalised over
the brackets of a partition; then q_i ~ p_i^gamma (gamma > 1 sharpens favourites and cheapens
longshots; gamma < 1 the reverse), with gamma fitted by maximum likelihood on earlier events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from milkbot.domain.distributions import Histogram
from milkbot.features.event import Event, EventFeatures
from milkbot.strategies.base import PROB_FLOOR, History, StrategyOutput

MIN_EVENTS = 30
MISSING_PRICE = 0.01


def implied(features: EventFeatures) -> list[float] | None:
    """Normalised market probabilities of a partition event, or None without any price.

    Unpriced brackets get ``MISSING_PRICE`` when most brackets are priced, else an equal
    share of the probability the priced ones leave.
    """
    if features.market is None:
        return None
    raw = [m.prob for m in features.market]
    if not features.is_partition:
        if any(p is None for p in raw):
            return None
        return [min(0.99, max(0.005, p)) for p in raw if p is not None]
    priced = [min(0.99, max(0.005, p)) for p in raw if p is not None]
    if not priced:
        return None
    missing = MISSING_PRICE
    if len(priced) < max(2, len(raw) // 2):
        # Few brackets priced: the unpriced ones share what the priced ones leave.
        unpriced = len(raw) - len(priced)
        missing = max(0.005, (1.0 - sum(priced)) / unpriced) if unpriced else missing
    vals = [missing if p is None else min(0.99, max(0.005, p)) for p in raw]
    total = sum(vals)
    return [v / total for v in vals]


def recalibrate(p: list[float], gamma: float) -> list[float]:
    """Power recalibration q_i ~ p_i^gamma, normalised."""
    w = [max(PROB_FLOOR, x) ** gamma for x in p]
    s = sum(w)
    return [x / s for x in w]


def fit_gamma(samples: list[tuple[list[float], int]]) -> float:
    """ML estimate of gamma from (implied probabilities, winning index) pairs."""
    if len(samples) < MIN_EVENTS:
        return 1.0
    width = max(len(p) for p, _ in samples)
    logp = np.full((len(samples), width), -np.inf)
    win = np.zeros(len(samples), dtype=int)
    for i, (p, k) in enumerate(samples):
        logp[i, : len(p)] = np.log(np.maximum(p, PROB_FLOOR))
        win[i] = k

    def nll(g: float) -> float:
        z = g * logp
        m = np.max(z, axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.sum(np.exp(z - m), axis=1))
        return float(np.mean(lse - z[np.arange(len(win)), win])) + 0.5 * (
            (g - 1.0) / 1.0
        ) ** 2 / len(win)

    res = minimize_scalar(nll, bounds=(0.3, 3.0), method="bounded", options={"xatol": 1e-5})
    return float(res.x)


def _edges(features: EventFeatures) -> tuple[list[int], tuple[float, ...]]:
    order = sorted(
        range(len(features.brackets)),
        key=lambda i: features.brackets[i].continuous_bounds()[0],
    )
    edges: list[float] = []
    for i in order:
        lo, hi = features.brackets[i].continuous_bounds()
        if not edges:
            edges.append(lo)
        edges.append(hi)
    return order, tuple(edges)


@dataclass
class MarketStrategy:
    """Recalibrated market-implied distribution (also the prior of the ensemble)."""

    name: str = "market"
    gamma: float = 1.0
    n_fit: int = 0

    def fit(self, history: History) -> MarketStrategy:
        """Fit gamma on earlier labelled events that had prices."""
        samples: list[tuple[list[float], int]] = []
        for feats, event in history.events:
            p = implied(feats)
            win = _winner(event)
            if p is not None and win is not None:
                samples.append((p, win))
        return MarketStrategy(self.name, fit_gamma(samples), len(samples))

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Recalibrated implied probabilities and a histogram distribution over the brackets."""
        p = implied(features)
        if p is None:
            return None
        used: dict[str, float | str] = {"gamma": round(self.gamma, 4), "fit_events": self.n_fit}
        if not features.is_partition:
            g = self.gamma
            binary = tuple(x**g / (x**g + (1.0 - x) ** g) for x in p)
            return StrategyOutput(self.name, binary, None, math.nan, used)
        q = recalibrate(p, self.gamma)
        order, edges = _edges(features)
        dist = Histogram(edges, tuple(q[i] for i in order))
        mean = sum(
            qi
            * (
                0.5 * (lo + hi)
                if math.isfinite(lo) and math.isfinite(hi)
                else (hi - 1 if math.isfinite(hi) else lo + 1)
            )
            for qi, (lo, hi) in (
                (q[i], features.brackets[i].continuous_bounds()) for i in range(len(q))
            )
        )
        var = sum(
            qi
            * (
                (
                    0.5 * (lo + hi)
                    if math.isfinite(lo) and math.isfinite(hi)
                    else (hi - 1 if math.isfinite(hi) else lo + 1)
                )
                - mean
            )
            ** 2
            for qi, (lo, hi) in (
                (q[i], features.brackets[i].continuous_bounds()) for i in range(len(q))
            )
        )
        return StrategyOutput(self.name, tuple(q), dist, math.sqrt(var + 1.0 / 3.0), used)


def _winner(event: Event) -> int | None:
    yes = [i for i, o in enumerate(event.outcomes) if o == 1]
    return yes[0] if len(yes) == 1 and all(o is not None for o in event.outcomes) else None
