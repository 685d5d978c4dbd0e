"""``milkbot calibrate``: fit every parameter on the real datasets and write a parameter file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from milkbot.datasets import load_dataset
from milkbot.errors import DatasetError
from milkbot.evaluation.runner import STRATEGY_NAMES, RunResult, evaluate_dataset
from milkbot.features.event import SETTLEMENT_OBS_SOURCES, build_index
from milkbot.strategies.base import History
from milkbot.strategies.climatology import monthly_normals
from milkbot.strategies.ensemble import fit_weights
from milkbot.strategies.market import MarketStrategy
from milkbot.strategies.nowcast import NowcastStrategy
from milkbot.strategies.nws import NwsStrategy, prepare_pairs
from milkbot.strategies.params import Params, write_params
from milkbot.strategies.placement import PlacementStrategy

CLIMATE = ("ghcnd-2016-2024",)
NWS = ("nws-scs-2021", "ghcnd-2016-2024")
MARKET = ("kalshi-tape-2023-2025", "openmeteo-hourly-2025")
QUOTES = ("kalshi-quotes-2026-dev",)
RESULTS = ("kalshi-results-2021-2025",)
ALL = tuple(sorted({*CLIMATE, *NWS, *MARKET, *QUOTES, *RESULTS}))
HOURS = 12.0


def inputs_hash(root: Path, names: tuple[str, ...]) -> str:
    """SHA-256 over the bytes of every data file of the named datasets (sorted paths)."""
    h = hashlib.sha256()
    for name in names:
        for path in sorted((root / name).glob("*.csv*")):
            h.update(f"{name}/{path.name}\n".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _weight_rows(run: RunResult) -> tuple[list[list[float]], list[int]]:
    rows: list[list[float]] = []
    ys: list[int] = []
    for r in run.results:
        for i, y in enumerate(r.event.outcomes):
            if y is None:
                continue
            rows.append(
                [
                    r.outputs[n].probabilities[i] if n in r.weights else np.nan
                    for n in STRATEGY_NAMES
                ]
            )
            ys.append(y)
    return rows, ys


def differing_keys(a: Path, b: Path) -> list[str]:
    """Top-level keys whose values differ between two parameter files."""
    x, y = json.loads(a.read_text()), json.loads(b.read_text())
    return sorted(k for k in {*x, *y} if x.get(k) != y.get(k))


def calibrate(
    data_root: Path,
    version: str = "v1",
    out_dir: Path | None = None,
    step: Callable[[str], None] | None = None,
) -> Path:
    """Fit all parameters from ``data_root`` and write ``params-<version>.json``."""
    missing = [n for n in ALL if not (data_root / n).is_dir()]
    if missing:
        raise DatasetError(f"{data_root}: missing datasets {', '.join(missing)}")

    def say(msg: str) -> None:
        if step is not None:
            step(msg)

    say("climatology")
    obs = load_dataset([data_root / n for n in CLIMATE]).observations
    assert obs is not None
    sub = obs[obs["source"].isin(SETTLEMENT_OBS_SOURCES)]
    normals = monthly_normals(
        [
            (str(s), d, float(v))
            for s, d, v in zip(sub["station"], sub["date"], sub["tmax_f"], strict=True)
        ]
    )

    say("nws error models")
    nws_ds = load_dataset([data_root / n for n in NWS])
    nws_index = build_index(nws_ds)
    pairs = prepare_pairs(nws_index.forecast_pairs())
    table = NwsStrategy(pairs=pairs).fitted_table()

    say("market and nowcast (tape, rolling)")
    tape = evaluate_dataset(load_dataset([data_root / n for n in MARKET]), HOURS)
    say("market (quotes, rolling)")
    quotes = evaluate_dataset(load_dataset([data_root / n for n in QUOTES]), HOURS)
    say("nws (synthetic events, rolling)")
    nws_run = evaluate_dataset(nws_ds, HOURS, index=nws_index)

    history = History(
        as_of=None,
        events=tuple((r.features, r.event) for run in (tape, quotes) for r in run.results),
    )
    market = MarketStrategy().fit(history)
    say("bracket placement")
    results = build_index(load_dataset([data_root / n for n in RESULTS]))
    unique = {e.event_ticker: e for e in results.events}
    unique.update({e.event_ticker: e for _, e in history.events})
    placement = PlacementStrategy().fit_events(unique[k] for k in sorted(unique))
    nowcast = NowcastStrategy().fit(
        History(None, tuple((r.features, r.event) for r in tape.results))
    )

    say("ensemble weights")
    rows: list[list[float]] = []
    ys: list[int] = []
    for run in (tape, quotes, nws_run):
        r_, y_ = _weight_rows(run)
        rows += r_
        ys += y_
    weights = fit_weights(list(STRATEGY_NAMES), np.array(rows), np.array(ys))

    params = Params(
        version=version,
        datasets=ALL,
        inputs_sha256=inputs_hash(data_root, ALL),
        climatology=normals,
        nws=table,
        market_gamma=market.gamma,
        market_smooth=market.smooth,
        market_stale=market.stale,
        market_lag=market.lag,
        nowcast_deltas={k: sorted(v) for k, v in sorted(nowcast.deltas.items())},
        ensemble_weights=weights,
        placement_counts=placement.counts,
        placement_threshold=placement.threshold,
        evaluation={
            "hours_before_close": HOURS,
            "fit_events": {
                "tape": len(tape.results),
                "quotes": len(quotes.results),
                "nws": len(nws_run.results),
            },
        },
    )
    say("write")
    return write_params(params, out_dir) if out_dir is not None else write_params(params)
