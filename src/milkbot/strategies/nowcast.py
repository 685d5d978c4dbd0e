"""Strategy 3: intraday nowcast from the running maximum observed so far.

The outcome is the running maximum M plus the remaining warming (or, with a city-centre
proxy series, a station offset). The distribution of (settled maximum - M) is learnt from
earlier events of the same station at a similar time of day; with real station observations
the result is also truncated below at M.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from milkbot.domain.distributions import Empirical, PredictiveDistribution, TruncatedBelow
from milkbot.features.event import EventFeatures
from milkbot.strategies.base import History, StrategyOutput, output_from_distribution

MIN_SAMPLES = 20
HOUR_WINDOW = 1.5
MIN_HOURS_OBSERVED = 3.0
BANDWIDTH = 1.0


@dataclass
class NowcastStrategy:
    """Running maximum plus an empirical remaining-warming distribution."""

    name: str = "nowcast"
    truncate: bool = False  # True when the hourly series is the station's own observations
    deltas: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def fit(self, history: History) -> NowcastStrategy:
        """Collect (local hour, settled - running max) of earlier events per station."""
        deltas: dict[str, list[tuple[float, float]]] = {}
        for feats, event in history.events:
            if (
                feats.running_max_f is None
                or event.settled_value is None
                or feats.hours_observed < MIN_HOURS_OBSERVED
            ):
                continue
            deltas.setdefault(feats.station, []).append(
                (feats.local_standard_hour, event.settled_value - feats.running_max_f)
            )
        return NowcastStrategy(self.name, self.truncate, deltas)

    def distribution(self, features: EventFeatures) -> PredictiveDistribution | None:
        """Running max + empirical deltas at a similar hour, or None."""
        m = features.running_max_f
        if m is None or features.hours_observed < MIN_HOURS_OBSERVED:
            return None
        hour = features.local_standard_hour
        sample = [
            d for h, d in self.deltas.get(features.station, []) if abs(h - hour) <= HOUR_WINDOW
        ]
        if len(sample) < MIN_SAMPLES:
            return None
        dist: PredictiveDistribution = Empirical(tuple(m + d for d in sample), BANDWIDTH)
        if self.truncate or features.running_max_observed:
            dist = TruncatedBelow(dist, m - 0.5)
        return dist

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Nowcast bracket probabilities, or None without a running max or history."""
        dist = self.distribution(features)
        if dist is None:
            return None
        used: dict[str, float | str] = {
            "running_max_f": float(features.running_max_f or 0.0),
            "local_hour": round(features.local_standard_hour, 2),
            "samples": float(len(self.deltas.get(features.station, []))),
        }
        return output_from_distribution(self.name, features, dist, used)
