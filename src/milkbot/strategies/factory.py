"""Build the trader's ensemble from a parameter file."""

from __future__ import annotations

from milkbot.strategies.climatology import ClimatologyStrategy
from milkbot.strategies.ensemble import Ensemble
from milkbot.strategies.market import MarketStrategy
from milkbot.strategies.members import MembersStrategy
from milkbot.strategies.nowcast import NowcastStrategy
from milkbot.strategies.nws import NwsStrategy
from milkbot.strategies.params import Params, load_params
from milkbot.strategies.placement import PlacementStrategy


def build_ensemble(params: Params | None = None) -> Ensemble:
    """The production ensemble with packaged parameters (latest version when None)."""
    p = params if params is not None else load_params()
    return Ensemble(
        [
            NwsStrategy(table=dict(p.nws), climate=p.climatology),
            MembersStrategy(),
            NowcastStrategy(deltas={k: list(v) for k, v in p.nowcast_deltas.items()}),
            MarketStrategy(
                gamma=p.market_gamma,
                smooth=p.market_smooth,
                stale=p.market_stale,
                lag=p.market_lag,
            ),
            ClimatologyStrategy(packaged=p.climatology),
            PlacementStrategy(
                counts={k: list(v) for k, v in p.placement_counts.items()},
                threshold=dict(p.placement_threshold),
            ),
        ],
        dict(p.ensemble_weights),
    )
