"""Risk operator commands: ``milkbot risk-size`` and ``milkbot risk-clusters``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from milkbot.datasets import load_dataset
from milkbot.domain.fees import FeeModel
from milkbot.domain.intents import BracketOpportunity, EventOpportunity
from milkbot.domain.stations import STATIONS
from milkbot.errors import ConfigError, DatasetError
from milkbot.risk.clusters import ClusterConfig, compute_clusters
from milkbot.risk.forecast_errors import forecast_errors
from milkbot.risk.limits import SizingConfig
from milkbot.risk.sizing import size_event


def risk_size(
    prob: Annotated[float, typer.Option(help="Model probability that YES wins.")],
    ask: Annotated[str, typer.Option(help="Best YES ask in dollars, e.g. 0.50.")],
    bid: Annotated[str | None, typer.Option(help="Best YES bid in dollars.")] = None,
    sd: Annotated[float, typer.Option(help="Uncertainty (sd) of the probability.")] = 0.0,
    bankroll: Annotated[str, typer.Option(help="Equity in dollars.")] = "1000",
    fraction: Annotated[float, typer.Option(help="Kelly fraction.")] = 0.25,
    min_edge: Annotated[str, typer.Option(help="Minimum edge after fees, dollars.")] = "0.03",
    fee_multiplier: Annotated[str, typer.Option(help="Series fee_multiplier.")] = "1",
    depth: Annotated[str, typer.Option(help="Contracts available at the ask/bid.")] = "1000",
) -> None:
    """Size one binary bracket with fee-aware fractional Kelly and print the arithmetic."""
    far = datetime(2100, 1, 1, tzinfo=UTC)
    opp = BracketOpportunity(
        "MARKET",
        "EVENT",
        "CITY",
        0,
        prob,
        sd,
        None if bid is None else Decimal(bid),
        Decimal(ask),
        Decimal(depth),
        Decimal(depth),
        FeeModel(multiplier=Decimal(fee_multiplier)),
        far,
    )
    cfg = SizingConfig(kelly_fraction=fraction, min_edge=Decimal(min_edge))
    result = size_event(EventOpportunity("EVENT", "CITY", (opp,), False), Decimal(bankroll), cfg)
    typer.echo(f"probability after shrinkage: {result.shrunk['MARKET']:.4f}")
    if not result.legs:
        typer.echo("no trade: no edge after fees above the minimum")
        return
    for leg in result.legs:
        fee = leg.cost_per_contract * leg.count - leg.limit_price * leg.count
        typer.echo(
            f"buy {leg.count} {leg.side.value.upper()} at {leg.limit_price}: "
            f"fee {fee:.2f}, cost/contract {leg.cost_per_contract:.6f}, "
            f"edge {leg.edge:.4f}, full Kelly {leg.kelly_full:.4f}, "
            f"stake {leg.stake_fraction:.4%} of bankroll"
        )


def risk_clusters(
    dataset_dirs: Annotated[
        list[Path], typer.Argument(help="Dataset directories with forecasts and observations.")
    ],
    as_of: Annotated[str, typer.Option(help="Decision date (YYYY-MM-DD); uses days before it.")],
    station: Annotated[
        list[str] | None,
        typer.Option(help="CITY=STATION_KEY (repeat); default: the registry's ICAO codes."),
    ] = None,
    window: Annotated[int, typer.Option(help="Rolling window in days.")] = 90,
    cut: Annotated[float, typer.Option(help="Cluster while correlation >= this.")] = 0.3,
    min_lead: Annotated[float, typer.Option(help="Shortest forecast lead, hours.")] = 12.0,
    max_lead: Annotated[float, typer.Option(help="Longest forecast lead, hours.")] = 36.0,
) -> None:
    """Cluster cities by the correlation of their forecast errors and print the versioned map."""
    if station:
        stations: dict[str, str] = {}
        for item in station:
            city, sep, key = item.partition("=")
            if not sep or not city or not key:
                raise ConfigError(f"--station wants CITY=KEY, got {item!r}")
            stations[city] = key
    else:
        stations = {s.city: s.icao for s in STATIONS}
    ds = load_dataset(dataset_dirs)
    if ds.forecasts is None or ds.observations is None:
        raise DatasetError("the datasets need forecasts and observations")
    errors = forecast_errors(
        ds.forecasts, ds.observations, stations, min_lead_hours=min_lead, max_lead_hours=max_lead
    )
    if not errors:
        raise DatasetError("no forecast errors for the stations given")
    when = datetime.combine(date.fromisoformat(as_of), time(), tzinfo=UTC)
    cmap = compute_clusters(errors, when, ClusterConfig(window_days=window, cut_correlation=cut))
    typer.echo(f"version {cmap.version} window {cmap.window_start}..{cmap.window_end}")
    for cluster in sorted(set(cmap.assignment.values())):
        members = cmap.members(cluster)
        typer.echo(
            f"{cluster}: {', '.join(members)} (mean rho {cmap.average_correlation(members):.2f})"
        )


def register(app: typer.Typer) -> None:
    """Add the risk commands to the ``milkbot`` app."""
    app.command("risk-size")(risk_size)
    app.command("risk-clusters")(risk_clusters)
