"""Parameter files: deterministic bytes, round trip, the packaged version loads."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from milkbot.errors import ConfigError
from milkbot.strategies.climatology import MonthlyClimate
from milkbot.strategies.errors_model import ErrorModel
from milkbot.strategies.factory import build_ensemble
from milkbot.strategies.market import MarketStrategy
from milkbot.strategies.params import Params, available_versions, load_params, write_params


def _params(version: str = "v1") -> Params:
    return Params(
        version=version,
        datasets=("a", "b"),
        inputs_sha256="0" * 64,
        climatology={"KNYC": {7: MonthlyClimate(84.123456, 5.5, 250, date(2023, 7, 31))}},
        nws={"KNYC|*|1": ErrorModel(0.1234567, 2.0, 0.05, 4.0, 300)},
        market_gamma=1.0456789,
        market_smooth=0.51234,
        market_stale=-0.2,
        market_lag=0.33333,
        nowcast_deltas={"KNYC": [(11.0, 2.5)]},
        ensemble_weights={"market": 0.7, "nws": 0.3},
    )


def test_round_trip_and_deterministic_bytes(tmp_path: Path) -> None:
    p = write_params(_params(), tmp_path)
    first = p.read_bytes()
    loaded = load_params("v1", tmp_path)
    assert loaded.market_gamma == pytest.approx(1.0457)
    assert (loaded.market_smooth, loaded.market_stale) == (pytest.approx(0.5123), -0.2)
    assert loaded.market_lag == pytest.approx(0.3333)
    assert loaded.nws["KNYC|*|1"].bias == pytest.approx(0.1235)
    write_params(loaded, tmp_path)
    assert p.read_bytes() == first


def test_latest_version_is_loaded(tmp_path: Path) -> None:
    write_params(_params("v1"), tmp_path)
    write_params(_params("v10"), tmp_path)
    write_params(_params("v2"), tmp_path)
    assert available_versions(tmp_path) == ["v1", "v2", "v10"]
    assert load_params(None, tmp_path).version == "v10"
    with pytest.raises(ConfigError):
        load_params("v3", tmp_path)
    with pytest.raises(ConfigError):
        load_params(None, tmp_path / "empty")


def test_packaged_parameters_build_the_ensemble() -> None:
    params = load_params()
    assert params.nws and params.climatology
    ens = build_ensemble(params)
    assert set(ens.names) == {
        "nws",
        "ensemble_members",
        "nowcast",
        "market",
        "climatology",
        "placement",
    }
    market = next(s for s in ens.strategies if isinstance(s, MarketStrategy))
    assert (market.gamma, market.smooth, market.stale, market.lag) == (
        params.market_gamma,
        params.market_smooth,
        params.market_stale,
        params.market_lag,
    )
    assert params.market_lag != 0.0
