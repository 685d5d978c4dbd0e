"""The ensemble: a linear pool of the strategies, weights fitted out-of-time.

Weights are fitted on *recorded* outputs of earlier events (each made at its own decision
time by strategies fitted before it), minimising the mean binary log loss of the pooled
per-market probability, with a small ridge towards equal weights. A strategy absent for an
event drops out and the remaining weights are renormalised. Contributions (weight times
probabilities) are recorded per strategy.

A strategy nested in another (``NESTED``) is not pooled when the other is present: the NWS
error model already shrinks towards the climate mean and has heavy tails, so pooling the
climatology on top only double-counts it and widens a calibrated forecast. Its output is
still recorded (with no weight).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from milkbot.domain.distributions import Mixture, PredictiveDistribution, bracket_probabilities
from milkbot.features.event import EventFeatures
from milkbot.strategies.base import PROB_FLOOR, History, Strategy, StrategyOutput

RIDGE = 1e-4
MIN_ROWS = 60
# Prior weights, used before enough out-of-time rows exist and as the ridge's centre: the
# market is sharp (per-bracket Brier of the mid ~0.05-0.10), climatology is broad.
PRIOR_WEIGHTS = {
    "market": 4.0,
    "nws": 1.0,
    "ensemble_members": 1.0,
    "nowcast": 1.0,
    "climatology": 0.25,
    "placement": 0.25,
}
# strategy -> strategies whose presence makes it redundant in the pool
NESTED = {"climatology": ("nws",)}


@dataclass(frozen=True)
class EnsembleOutput:
    """The merged view of one event."""

    probabilities: tuple[float, ...]
    distribution: PredictiveDistribution | None
    weights: Mapping[str, float]
    outputs: Mapping[str, StrategyOutput]
    contributions: Mapping[str, tuple[float, ...]]


@dataclass
class Ensemble:
    """Strategies plus pooling weights (unnormalised, positive)."""

    strategies: list[Strategy]
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Strategy names in order."""
        return [s.name for s in self.strategies]

    def fit(self, history: History) -> Ensemble:
        """Refit every strategy on ``history``; keep the current weights."""
        return Ensemble([s.fit(history) for s in self.strategies], dict(self.weights))

    def with_weights(self, weights: Mapping[str, float]) -> Ensemble:
        """Copy with new weights."""
        return Ensemble(list(self.strategies), dict(weights))

    def predict(self, features: EventFeatures) -> EnsembleOutput | None:
        """Pool the available strategies; None when no strategy has inputs."""
        outputs: dict[str, StrategyOutput] = {}
        for s in self.strategies:
            out = s.predict(features)
            if out is not None:
                outputs[s.name] = out
        return pool(features, outputs, self.weights)


def pool(
    features: EventFeatures, outputs: Mapping[str, StrategyOutput], weights: Mapping[str, float]
) -> EnsembleOutput | None:
    """Linear pool of strategy outputs with renormalised weights.

    ``weights`` of the result hold only the pooled strategies; ``outputs`` hold every one.
    """
    if not outputs:
        return None
    all_outputs = outputs
    outputs = {n: o for n, o in outputs.items() if not any(x in outputs for x in NESTED.get(n, ()))}
    raw = {n: max(0.0, weights.get(n, PRIOR_WEIGHTS.get(n, 1.0))) for n in outputs}
    total = sum(raw.values())
    if total <= 0:
        raw = dict.fromkeys(outputs, 1.0)
        total = float(len(raw))
    w = {n: v / total for n, v in sorted(raw.items())}
    k = len(features.brackets)
    probs = [0.0] * k
    contributions: dict[str, tuple[float, ...]] = {}
    for n in sorted(outputs):
        c = tuple(w[n] * p for p in outputs[n].probabilities)
        contributions[n] = c
        probs = [a + b for a, b in zip(probs, c, strict=True)]
    dists = [(outputs[n].distribution, w[n]) for n in sorted(outputs)]
    dist: PredictiveDistribution | None = None
    if all(d is not None for d, _ in dists) and any(x > 0 for _, x in dists):
        comps = tuple(d for d, x in dists if x > 0 and d is not None)
        dist = Mixture(comps, tuple(x for _, x in dists if x > 0))
        if features.is_partition:
            probs = bracket_probabilities(dist, features.brackets, floor=PROB_FLOOR)
    if features.is_partition:
        s = sum(probs)
        probs = [p / s for p in probs]
    return EnsembleOutput(tuple(probs), dist, w, dict(all_outputs), contributions)


def fit_weights(names: Sequence[str], probs: np.ndarray, outcomes: np.ndarray) -> dict[str, float]:
    """Log-loss-optimal pooling weights.

    ``probs`` is (rows x strategies) with NaN where a strategy was absent; ``outcomes`` 0/1.
    Returns the prior weights when there are fewer than ``MIN_ROWS`` rows; a strategy never
    present keeps its normalised prior weight.
    """
    n = len(names)
    prior = {name: PRIOR_WEIGHTS.get(name, 1.0) for name in names}
    if probs.shape[0] < MIN_ROWS or n == 0:
        return prior
    avail = np.isfinite(probs)
    present = avail.any(axis=0)
    if not present.any():
        return prior
    if not present.all():
        # Fit over the strategies seen; an unseen one gets the mean weight.
        seen = [n for n, ok in zip(names, present, strict=True) if ok]
        sub = fit_weights(seen, probs[:, present], outcomes)
        total = sum(prior.values())
        return {n: sub.get(n, round(prior[n] / total, 6)) for n in names}
    p = np.where(avail, probs, 0.0)
    y = outcomes.astype(float)
    keep = avail.any(axis=1)
    p, a, y = p[keep], avail[keep].astype(float), y[keep]

    theta0 = np.log(np.array([prior[name] for name in names]))
    theta0 -= theta0.mean()

    def loss(theta: np.ndarray) -> float:
        w = np.exp(theta - theta.max())
        num = (p * a) @ w
        den = a @ w
        q = np.clip(num / den, PROB_FLOOR, 1 - PROB_FLOOR)
        ll = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
        return float(ll + RIDGE * np.sum((theta - theta0) ** 2))

    res = minimize(loss, theta0, method="L-BFGS-B")
    w = np.exp(res.x - res.x.max())
    w = w / w.sum()
    return {name: round(float(v), 6) for name, v in zip(names, w, strict=True)}


def finite_or_nan(x: float | None) -> float:
    """A float or NaN."""
    return math.nan if x is None else float(x)
