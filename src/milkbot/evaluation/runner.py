"""Rolling-origin evaluation: predict every labelled event at close - H, out-of-time.

Events are processed in order of decision time. Before the first event of each new decision
date the strategies are refitted on what was known then (labels of events whose
``label_time`` has passed, forecast/truth pairs whose truth was published), and the ensemble
weights on the recorded outputs of those earlier events. Nothing dated after an event's
decision time can reach its probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from milkbot.datasets import Dataset
from milkbot.domain.distributions import PredictiveDistribution, mid_pit
from milkbot.features.event import (
    DatasetIndex,
    Event,
    EventFeatures,
    build_index,
    event_features,
    market_prices,
)
from milkbot.strategies.base import History, Strategy, StrategyOutput
from milkbot.strategies.baselines import FixedGaussian
from milkbot.strategies.climatology import ClimatologyStrategy
from milkbot.strategies.ensemble import Ensemble, fit_weights
from milkbot.strategies.market import MarketStrategy
from milkbot.strategies.members import MembersStrategy
from milkbot.strategies.nowcast import NowcastStrategy
from milkbot.strategies.nws import NwsStrategy, prepare_pairs
from milkbot.strategies.params import Params
from milkbot.strategies.placement import PlacementStrategy

STRATEGY_NAMES = ("nws", "ensemble_members", "nowcast", "market", "climatology", "placement")


def default_strategies(params: Params | None = None) -> list[Strategy]:
    """The ensemble's strategies; packaged climatology normals come from ``params``."""
    packaged = params.climatology if params is not None else {}
    return [
        NwsStrategy(climate=packaged),
        MembersStrategy(),
        NowcastStrategy(),
        MarketStrategy(),
        ClimatologyStrategy(packaged=packaged),
        PlacementStrategy(),
    ]


@dataclass
class EventResult:
    """Predictions for one event at its decision time."""

    event: Event
    features: EventFeatures
    model: tuple[float, ...]
    model_dist: PredictiveDistribution | None
    outputs: dict[str, StrategyOutput]
    weights: dict[str, float]
    gaussian: StrategyOutput | None


@dataclass
class RunResult:
    """Everything an evaluation produced."""

    index: DatasetIndex
    hours_before_close: float
    results: list[EventResult] = field(default_factory=list)

    def rows(self) -> pd.DataFrame:
        """One row per labelled market with every probability (NaN where absent)."""
        recs: list[dict[str, object]] = []
        for r in self.results:
            f = r.features
            for i, ticker in enumerate(r.event.tickers):
                y = r.event.outcomes[i]
                if y is None:
                    continue
                m = f.market[i] if f.market is not None else None
                rec: dict[str, object] = {
                    "event_ticker": r.event.event_ticker,
                    "ticker": ticker,
                    "city": r.event.city,
                    "event_date": r.event.event_date.isoformat(),
                    "decision_time": f.decision_time.isoformat(),
                    "bracket": r.event.brackets[i].label(),
                    "outcome": y,
                    "model": r.model[i],
                    "market": m.prob if m is not None and m.prob is not None else np.nan,
                    "market_scorable": bool(m.scorable) if m is not None else False,
                    "market_kind": (m.kind or "") if m is not None else "",
                    "gaussian": r.gaussian.probabilities[i] if r.gaussian else np.nan,
                    "partition": f.is_partition,
                    "synthetic": r.event.synthetic,
                }
                for name in STRATEGY_NAMES:
                    out = r.outputs.get(name)
                    rec[f"p_{name}"] = out.probabilities[i] if out else np.nan
                    rec[f"w_{name}"] = r.weights.get(name, 0.0) if out else 0.0
                recs.append(rec)
        return pd.DataFrame(recs)

    def pits(self, which: str = "model") -> list[float]:
        """Mid-PIT of the settled value under the model (or a strategy's) distribution."""
        out: list[float] = []
        for r in self.results:
            v = r.event.settled_value
            if v is None:
                continue
            dist = r.model_dist if which == "model" else None
            if which == "gaussian" and r.gaussian is not None:
                dist = r.gaussian.distribution
            elif which in r.outputs:
                dist = r.outputs[which].distribution
            if dist is not None:
                out.append(mid_pit(dist, round(v)))
        return out


def evaluate_dataset(
    dataset: Dataset,
    hours_before_close: float = 12.0,
    *,
    params: Params | None = None,
    strategies: Sequence[Strategy] | None = None,
    progress: Callable[[int, int], None] | None = None,
    index: DatasetIndex | None = None,
) -> RunResult:
    """Predict every labelled event of ``dataset`` at ``close - hours_before_close``."""
    idx = index if index is not None else build_index(dataset)
    delta = timedelta(hours=hours_before_close)
    events = [e for e in idx.events if any(o is not None for o in e.outcomes)]
    events.sort(key=lambda e: (e.close_time - delta, e.event_ticker))
    tickers = [t for e in events for t in e.tickers]
    times = [e.close_time - delta for e in events for _ in e.tickers]
    prices = market_prices(idx, tickers, times)
    pairs = prepare_pairs(idx.forecast_pairs())
    ensemble = Ensemble(list(strategies) if strategies is not None else default_strategies(params))
    gaussian = FixedGaussian()
    run = RunResult(idx, hours_before_close)
    features = [event_features(idx, e, e.close_time - delta, prices) for e in events]
    by_label = sorted(range(len(events)), key=lambda i: events[i].label_time)
    known = 0
    fitted_day: object = None
    weight_data = _WeightData(ensemble.names)
    for n, (event, feats) in enumerate(zip(events, features, strict=True)):
        t = feats.decision_time
        if t.date() != fitted_day:
            while known < len(by_label) and events[by_label[known]].label_time <= t:
                known += 1
            past = [by_label[k] for k in range(known)]
            history = History(
                as_of=t,
                events=tuple((features[i], events[i]) for i in sorted(past)),
                pairs=pairs,
            )
            ensemble = ensemble.fit(history).with_weights(weight_data.weights(run, t))
            fitted_day = t.date()
        out = ensemble.predict(feats)
        if out is None:
            # No strategy has inputs: the model knows nothing and says so (uniform).
            k = len(event.brackets)
            flat = tuple([1.0 / k] * k) if feats.is_partition else tuple([0.5] * k)
            result = EventResult(event, feats, flat, None, {}, {}, gaussian.predict(feats))
        else:
            result = EventResult(
                event=event,
                features=feats,
                model=out.probabilities,
                model_dist=out.distribution,
                outputs=dict(out.outputs),
                weights=dict(out.weights),
                gaussian=gaussian.predict(feats),
            )
        run.results.append(result)
        if progress is not None:
            progress(n + 1, len(events))
    return run


class _WeightData:
    """Recorded strategy probabilities of events whose labels are known (grows over time)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.rows: list[list[float]] = []
        self.ys: list[int] = []
        self.used = 0

    def weights(self, run: RunResult, t: datetime) -> dict[str, float]:
        """Fit weights on every recorded event labelled by ``t``."""
        # Results are in decision-time order, which is label-time order (fixed H).
        for k in range(self.used, len(run.results)):
            r = run.results[k]
            if r.event.label_time > t:
                break
            for i, y in enumerate(r.event.outcomes):
                if y is None:
                    continue
                self.rows.append(
                    [
                        r.outputs[n].probabilities[i] if n in r.weights else np.nan
                        for n in self.names
                    ]
                )
                self.ys.append(y)
            self.used += 1
        if not self.rows:
            return fit_weights(self.names, np.empty((0, len(self.names))), np.empty(0))
        return fit_weights(self.names, np.array(self.rows), np.array(self.ys))
