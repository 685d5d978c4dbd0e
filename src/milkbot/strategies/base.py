"""The strategy interface: features in, a predictive distribution and bracket probabilities out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from milkbot.domain.distributions import PredictiveDistribution, bracket_probabilities, quantile
from milkbot.features.event import Event, EventFeatures

PROB_FLOOR = 1e-4


@dataclass(frozen=True)
class StrategyOutput:
    """One strategy's view of one event.

    ``probabilities`` follow ``features.brackets``; for a partition they sum to 1.
    ``uncertainty`` is the predictive standard deviation proxy (half the 16-84 % range, degF)
    or NaN when the strategy has no continuous distribution.
    """

    strategy: str
    probabilities: tuple[float, ...]
    distribution: PredictiveDistribution | None
    uncertainty: float
    features_used: Mapping[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class History:
    """What is known at a decision time: past labelled events and forecast/truth pairs.

    ``events`` hold (features, event) of events whose labels were known before ``as_of``;
    ``pairs`` are forecast/truth pairs (see ``DatasetIndex.forecast_pairs``) whose truth was
    known before ``as_of``.
    """

    as_of: datetime | None
    events: tuple[tuple[EventFeatures, Event], ...] = ()
    pairs: pd.DataFrame | None = None


class Strategy(Protocol):
    """A deterministic forecaster of one event's maximum."""

    name: str

    def fit(self, history: History) -> Strategy:
        """Return a copy fitted on ``history`` (everything known before a decision time)."""
        ...

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Return this strategy's output, or None when its inputs are absent."""
        ...


def output_from_distribution(
    name: str,
    features: EventFeatures,
    dist: PredictiveDistribution,
    used: Mapping[str, float | str],
) -> StrategyOutput:
    """Wrap a distribution: bracket probabilities with the +-0.5 rounding and its spread."""
    probs = bracket_probabilities(dist, features.brackets, floor=PROB_FLOOR)
    spread = 0.5 * (quantile(dist, 0.8413) - quantile(dist, 0.1587))
    return StrategyOutput(name, tuple(probs), dist, spread, dict(used))


def season_of(month: int) -> str:
    """Meteorological season of a month: DJF, MAM, JJA or SON."""
    return ("DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON", "SON", "DJF")[
        month - 1
    ]


def finite(x: float) -> bool:
    """Whether x is a finite float."""
    return not (math.isnan(x) or math.isinf(x))
