"""Bracket-placement prior: how often the bracket at each rank of an event wins.

Kalshi lists its brackets around its own expectation, so the placement alone carries
information (the middle bins win more often than the tails). Frequencies are fitted on
earlier events with the same number of brackets (Laplace-smoothed); threshold markets use
the YES rate of earlier markets of the same strike type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from milkbot.domain.brackets import Bracket, is_partition
from milkbot.domain.distributions import Histogram
from milkbot.features.event import Event, EventFeatures
from milkbot.strategies.base import History, StrategyOutput

MIN_EVENTS = 20


def _ranks(brackets: Sequence[Bracket]) -> list[int]:
    order = sorted(range(len(brackets)), key=lambda i: brackets[i].continuous_bounds()[0])
    ranks = [0] * len(order)
    for r, i in enumerate(order):
        ranks[i] = r
    return ranks


@dataclass
class PlacementStrategy:
    """Out-of-time base rates by bracket rank."""

    name: str = "placement"
    counts: dict[int, list[float]] = field(default_factory=dict)
    threshold: dict[str, tuple[float, float]] = field(default_factory=dict)

    def fit(self, history: History) -> PlacementStrategy:
        """Fit on the labelled events of ``history``."""
        return self.fit_events(event for _, event in history.events)

    def fit_events(self, events: Iterable[Event]) -> PlacementStrategy:
        """Count winners by rank (partitions) and YES rates by strike type (others)."""
        counts: dict[int, list[float]] = {}
        threshold: dict[str, tuple[float, float]] = {}
        for event in events:
            if any(o is None for o in event.outcomes):
                continue
            if is_partition(event.brackets):
                k = len(event.brackets)
                row = counts.setdefault(k, [0.0] * k)
                for rank, o in zip(_ranks(event.brackets), event.outcomes, strict=True):
                    row[rank] += float(o or 0)
            else:
                for b, o in zip(event.brackets, event.outcomes, strict=True):
                    yes, n = threshold.get(b.strike_type.value, (0.0, 0.0))
                    threshold[b.strike_type.value] = (yes + float(o or 0), n + 1.0)
        return PlacementStrategy(self.name, counts, threshold)

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Base-rate probabilities, or None before enough comparable events."""
        k = len(features.brackets)
        if features.is_partition:
            row = self.counts.get(k)
            if row is None or sum(row) < MIN_EVENTS:
                return None
            total = sum(row) + k
            by_rank = [(c + 1.0) / total for c in row]
            ranks = _ranks(features.brackets)
            probs = tuple(by_rank[r] for r in ranks)
            edges: list[float] = []
            order = sorted(range(k), key=lambda i: ranks[i])
            for i in order:
                lo, hi = features.brackets[i].continuous_bounds()
                if not edges:
                    edges.append(lo)
                edges.append(hi)
            dist = Histogram(tuple(edges), tuple(probs[i] for i in order))
            used: dict[str, float | str] = {"events": float(sum(row))}
            return StrategyOutput(self.name, probs, dist, math.nan, used)
        out: list[float] = []
        for b in features.brackets:
            yes, n = self.threshold.get(b.strike_type.value, (0.0, 0.0))
            if n < MIN_EVENTS:
                return None
            out.append((yes + 1.0) / (n + 2.0))
        return StrategyOutput(self.name, tuple(out), None, math.nan, {"markets": "threshold"})
