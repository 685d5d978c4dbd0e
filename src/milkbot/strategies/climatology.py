"""Climatology baseline: observed maxima of earlier years around the same day of year."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date

from milkbot.domain.distributions import Empirical, Gaussian, PredictiveDistribution
from milkbot.features.event import EventFeatures
from milkbot.strategies.base import History, StrategyOutput, output_from_distribution

MIN_SAMPLES = 30


@dataclass(frozen=True)
class MonthlyClimate:
    """Packaged climatology of one station and month, fitted on years up to ``last_date``."""

    mean: float
    sd: float
    n: int
    last_date: date


@dataclass
class ClimatologyStrategy:
    """Kernel-dressed earlier-year observations; falls back to packaged monthly normals.

    Packaged normals of a month are used only when every day they were fitted on precedes
    the event's month, so an evaluation never scores climatology on its own data.
    """

    name: str = "climatology"
    packaged: dict[str, dict[int, MonthlyClimate]] = field(default_factory=dict)

    def fit(self, history: History) -> ClimatologyStrategy:
        """Climatology needs no fitting beyond the features' own sample."""
        del history
        return self

    def distribution(self, features: EventFeatures) -> tuple[PredictiveDistribution, str] | None:
        """The climatological distribution for the event, and which input it used."""
        sample = features.climatology
        if len(sample) >= MIN_SAMPLES:
            sd = statistics.pstdev(sample)
            bandwidth = max(1.0, 1.06 * sd * len(sample) ** -0.2)
            return Empirical(tuple(sample), bandwidth), "observations"
        month = self.packaged.get(features.station, {}).get(features.event_date.month)
        first_of_month = features.event_date.replace(day=1)
        if month is not None and month.last_date < first_of_month:
            return Gaussian(month.mean, max(1.0, month.sd)), "packaged"
        return None

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Climatological bracket probabilities, or None without earlier-year data."""
        got = self.distribution(features)
        if got is None:
            return None
        dist, kind = got
        used: dict[str, float | str] = {"input": kind, "samples": float(len(features.climatology))}
        return output_from_distribution(self.name, features, dist, used)


def monthly_normals(
    rows: list[tuple[str, date, float]],
) -> dict[str, dict[int, MonthlyClimate]]:
    """Monthly mean/sd of observed maxima per station (for the parameter file)."""
    by: dict[tuple[str, int], list[float]] = {}
    last: dict[tuple[str, int], date] = {}
    for st, d, v in rows:
        if math.isnan(v):
            continue
        by.setdefault((st, d.month), []).append(v)
        last[(st, d.month)] = max(last.get((st, d.month), d), d)
    out: dict[str, dict[int, MonthlyClimate]] = {}
    for (st, month), vals in sorted(by.items()):
        if len(vals) < MIN_SAMPLES:
            continue
        out.setdefault(st, {})[month] = MonthlyClimate(
            statistics.fmean(vals), statistics.pstdev(vals), len(vals), last[(st, month)]
        )
    return out
