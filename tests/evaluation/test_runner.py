"""Rolling evaluation: no look-ahead, determinism, probabilities that sum to 1."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milkbot.datasets import Dataset, load_dataset
from milkbot.evaluation.runner import RunResult, evaluate_dataset


def _perturb_after(ds: Dataset, t: pd.Timestamp, label_cut: pd.Timestamp) -> Dataset:
    """Change every input dated after ``t`` (labels: published after ``t``)."""
    rng = np.random.default_rng(7)

    def shuffle(
        frame: pd.DataFrame | None, when: str, col: str, lo: int, hi: int
    ) -> pd.DataFrame | None:
        if frame is None:
            return None
        frame = frame.copy()
        sel = frame[when] > t
        frame.loc[sel, col] = rng.integers(lo, hi, int(sel.sum())).astype(float)
        return frame

    markets = None
    if ds.markets is not None:
        markets = ds.markets.copy()
        late = markets["close_time"] + timedelta(hours=12) > label_cut
        flip = {"yes": "no", "no": "yes"}
        markets.loc[late, "result"] = markets.loc[late, "result"].map(lambda r: flip.get(r, r))
        markets.loc[late, "expiration_value"] = markets.loc[late, "expiration_value"] + 7
    obs = ds.observations
    if obs is not None:
        obs = obs.copy()
        sel = obs["date"] >= t.date()
        obs.loc[sel, "tmax_f"] = obs.loc[sel, "tmax_f"] - 9
    return Dataset(
        sources=ds.sources,
        markets=markets,
        trades=shuffle(ds.trades, "created_time", "yes_price", 1, 99),
        quotes=shuffle(ds.quotes, "ts", "yes_bid", 1, 99),
        forecasts=shuffle(ds.forecasts, "issued_at", "tmax_f", 0, 110),
        observations=obs,
        hourly=shuffle(ds.hourly, "ts", "temp_f", 0, 110),
    )


def _probabilities(run: RunResult) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for r in run.results:
        strategies = tuple(sorted((n, o.probabilities) for n, o in r.outputs.items()))
        out[r.event.event_ticker] = (
            r.model,
            strategies,
            r.gaussian.probabilities if r.gaussian else None,
        )
    return out


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tape", "nws"])
def test_inputs_after_the_decision_time_change_nothing(
    which: str, tape_slice: Path, nws_slice: Path
) -> None:
    ds = load_dataset([tape_slice if which == "tape" else nws_slice])
    base = evaluate_dataset(ds, 12.0)
    assert len(base.results) > 20
    target = base.results[len(base.results) * 2 // 3]
    t = pd.Timestamp(target.features.decision_time)
    perturbed = evaluate_dataset(_perturb_after(ds, t, t), 12.0)
    before = _probabilities(base)
    after = _probabilities(perturbed)
    checked = 0
    for r in base.results:
        if r.features.decision_time <= target.features.decision_time:
            assert after[r.event.event_ticker] == before[r.event.event_ticker], r.event.event_ticker
            checked += 1
    assert checked > 10
    # The perturbation is real: something later did change.
    later = [
        k
        for k, r in zip(before, base.results, strict=True)
        if r.features.decision_time > target.features.decision_time
    ]
    assert any(after.get(k) != before[k] for k in later)


def test_same_inputs_give_bit_identical_outputs(quotes_slice: Callable[[int], Path]) -> None:
    ds = load_dataset([quotes_slice(15)])
    a = evaluate_dataset(ds, 12.0).rows()
    b = evaluate_dataset(load_dataset([quotes_slice(15)]), 12.0).rows()
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_partition_probabilities_sum_to_one(tape_slice: Path) -> None:
    run = evaluate_dataset(load_dataset([tape_slice]), 12.0)
    assert run.results
    for r in run.results:
        if r.features.is_partition:
            assert sum(r.model) == pytest.approx(1.0, abs=1e-9)
            for out in r.outputs.values():
                assert sum(out.probabilities) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= p <= 1.0 for p in r.model)


def test_threshold_events_are_scored_with_nws(nws_slice: Path) -> None:
    run = evaluate_dataset(load_dataset([nws_slice]), 12.0)
    rows = run.rows()
    assert not rows.empty
    assert not rows["partition"].any()
    assert rows["p_nws"].notna().all()
    assert rows["gaussian"].notna().all()
