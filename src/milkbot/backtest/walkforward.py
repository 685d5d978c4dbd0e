"""Walk-forward parameters: strategies and ensemble weights fitted on what was known earlier.

The rolling evaluation (:func:`milkbot.evaluation.runner.evaluate_dataset`) predicts every
labelled event of the dataset out of time. At each refit time ``T`` the strategies are fitted
(:meth:`Ensemble.fit`) on the events whose labels were published by ``T`` and the ensemble
weights (:func:`fit_weights`) on those events' recorded strategy outputs; the ensemble is then
used for every decision until the next refit. Nothing labelled after ``T`` reaches it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from milkbot.datasets import Dataset
from milkbot.evaluation.runner import STRATEGY_NAMES, default_strategies, evaluate_dataset
from milkbot.features.event import DatasetIndex
from milkbot.strategies.base import History
from milkbot.strategies.ensemble import Ensemble, fit_weights
from milkbot.strategies.nws import prepare_pairs
from milkbot.strategies.params import Params


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Refit schedule.

    Parameters
    ----------
    refit_days : int
        Days between refits (an expanding window: each refit uses everything known).
    min_fit_days : int
        Days of history before the first scored event when no start date is given.
    hours_before_close : float
        Decision time of the rolling evaluation whose outputs the fits use.
    """

    refit_days: int = 30
    min_fit_days: int = 60
    hours_before_close: float = 12.0

    def __post_init__(self) -> None:
        if self.refit_days < 1 or self.min_fit_days < 0 or self.hours_before_close <= 0:
            raise ValueError("refit_days >= 1, min_fit_days >= 0 and hours > 0 are required")


def fit_ensembles(
    dataset: Dataset,
    index: DatasetIndex,
    refit_times: list[datetime],
    wf: WalkForward,
    params: Params | None,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[datetime, Ensemble]]:
    """One ensemble per refit time, fitted only on labels published by then."""
    run = evaluate_dataset(
        dataset, wf.hours_before_close, params=params, index=index, progress=progress
    )
    rows = run.rows()
    pairs = prepare_pairs(index.forecast_pairs())
    columns = [f"p_{n}" for n in STRATEGY_NAMES]
    out: list[tuple[datetime, Ensemble]] = []
    for t in refit_times:
        done = [r for r in run.results if r.event.label_time <= t]
        history = History(as_of=t, events=tuple((r.features, r.event) for r in done), pairs=pairs)
        known = {r.event.event_ticker for r in done}
        if len(rows):
            sel = rows[rows["event_ticker"].isin(known)]
            probs = sel[columns].to_numpy(dtype=float)
            ys = sel["outcome"].to_numpy(dtype=float)
        else:
            probs, ys = np.empty((0, len(columns))), np.empty(0)
        weights = fit_weights(list(STRATEGY_NAMES), probs, ys)
        out.append((t, Ensemble(default_strategies(params)).fit(history).with_weights(weights)))
    return out


def refit_times(start: datetime, end: datetime, refit_days: int) -> list[datetime]:
    """Refit times from ``start`` every ``refit_days`` until ``end`` (at least one)."""
    out = [start]
    while out[-1] + timedelta(days=refit_days) <= end:
        out.append(out[-1] + timedelta(days=refit_days))
    return out
