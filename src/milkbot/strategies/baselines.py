"""Reference baselines that are not part of the ensemble."""

from __future__ import annotations

from dataclasses import dataclass

from milkbot.domain.distributions import Gaussian
from milkbot.features.event import ARCHIVE_SOURCES, EventFeatures
from milkbot.strategies.base import History, StrategyOutput, output_from_distribution


@dataclass
class FixedGaussian:
    """N(latest usable forecast, sigma^2) with a fixed sigma (3 degF)."""

    name: str = "gaussian"
    sigma: float = 3.0

    def fit(self, history: History) -> FixedGaussian:
        """Nothing to fit."""
        del history
        return self

    def predict(self, features: EventFeatures) -> StrategyOutput | None:
        """Bracket probabilities around the latest usable forecast of any non-archive source."""
        sources = {f.source for f in features.forecasts} - ARCHIVE_SOURCES
        f = features.latest_forecast(sources)
        if f is None:
            return None
        used: dict[str, float | str] = {"forecast_f": f.tmax_f, "source": f.source}
        return output_from_distribution(self.name, features, Gaussian(f.tmax_f, self.sigma), used)
