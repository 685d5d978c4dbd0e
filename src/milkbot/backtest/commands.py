"""CLI command ``milkbot backtest``."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from milkbot.errors import ConfigError


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{flag} {value!r} is not a date (YYYY-MM-DD)") from None


def _decimal(value: str, flag: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"{flag} {value!r} is not a number") from None


def backtest(
    dataset_dirs: Annotated[list[Path], typer.Argument(help="Dataset directories (merged).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    date_from: Annotated[
        str | None, typer.Option("--from", help="First event date (YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last event date (YYYY-MM-DD).")
    ] = None,
    cities: Annotated[
        str | None, typer.Option("--cities", help="Comma-separated city codes, e.g. NYC,CHI.")
    ] = None,
    walk_forward: Annotated[
        bool,
        typer.Option("--walk-forward", help="Refit the parameters on earlier labels only."),
    ] = False,
    refit_days: Annotated[
        int, typer.Option("--refit-days", help="Walk-forward: days between refits.")
    ] = 30,
    min_fit_days: Annotated[
        int,
        typer.Option("--min-fit-days", help="Walk-forward without --from: days of history first."),
    ] = 60,
    first_hours: Annotated[
        float, typer.Option("--first-hours", help="First decision, hours before the close.")
    ] = 12.0,
    step_hours: Annotated[
        float, typer.Option("--step-hours", help="Hours between an event's decisions.")
    ] = 6.0,
    allow_no_weather: Annotated[
        bool,
        typer.Option(
            "--allow-no-weather",
            help="Trade without fresh weather data (the trader would not): for datasets "
            "without forecasts or hourly readings.",
        ),
    ] = False,
    max_book_age: Annotated[
        float, typer.Option("--max-book-age", help="Minutes a quote or print stays tradable.")
    ] = 60.0,
    depth: Annotated[
        str, typer.Option("--depth", help="Contracts assumed at the best bid and ask.")
    ] = "10",
    spread_cents: Annotated[
        int, typer.Option("--spread-cents", help="Spread of the book modelled on a print.")
    ] = 2,
    queue_ahead: Annotated[
        str, typer.Option("--queue-ahead", help="Contracts assumed ahead of a resting order.")
    ] = "10",
    starting_cash: Annotated[
        str, typer.Option("--starting-cash", help="Dollars at the start.")
    ] = "1000",
    seed: Annotated[int, typer.Option("--seed", help="Seed of ids and the bootstrap.")] = 0,
    params_version: Annotated[
        str | None, typer.Option("--params", help="Parameter version (default: latest).")
    ] = None,
    oms: Annotated[
        bool,
        typer.Option("--oms", help="Route orders through the OMS order manager (SQLite in OUT)."),
    ] = False,
) -> None:
    """Replay recorded markets through features, ensemble, risk and a simulated venue."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from milkbot.backtest.marketdata import BookModel
    from milkbot.backtest.report import write_outputs
    from milkbot.backtest.runner import BacktestConfig, run_backtest
    from milkbot.backtest.walkforward import WalkForward
    from milkbot.datasets import load_dataset
    from milkbot.domain.stations import by_city

    city_list = tuple(c.strip().upper() for c in (cities or "").split(",") if c.strip())
    for c in city_list:
        by_city(c)  # ConfigError for an unknown code
    try:
        config = BacktestConfig(
            starting_cash=_decimal(starting_cash, "--starting-cash"),
            first_hours=first_hours,
            step_hours=step_hours,
            book=BookModel(
                max_age=timedelta(minutes=max_book_age),
                depth=_decimal(depth, "--depth"),
                spread_cents=spread_cents,
                queue_ahead=_decimal(queue_ahead, "--queue-ahead"),
            ),
            cities=city_list,
            date_from=_date(date_from, "--from"),
            date_to=_date(date_to, "--to"),
            walk_forward=WalkForward(refit_days=refit_days, min_fit_days=min_fit_days)
            if walk_forward
            else None,
            params_version=params_version,
            seed=seed,
            weather_required=not allow_no_weather,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("load", total=None)
        dataset = load_dataset(dataset_dirs)
        tasks: dict[str, TaskID] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                bar.update(task, visible=False)
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = asyncio.run(
            run_backtest(dataset, config, progress=tick, oms_dir=(out / "oms") if oms else None)
        )
        report = bar.add_task("report", total=None)
        metrics = write_outputs(result, out, [str(d) for d in dataset_dirs])
        bar.update(report, total=1, completed=1)
    summary = {
        k: metrics[k]
        for k in ("n_events", "n_trades", "contracts", "pnl_net_dollars", "fees_dollars")
    }
    summary["pnl_per_contract_cents"] = metrics["pnl_per_contract_cents"]["value"]
    summary["ci95"] = metrics["pnl_per_contract_cents"]["ci95"]
    typer.echo(json.dumps(summary, indent=1))
    typer.echo(
        f"wrote {out / 'metrics.json'}, {out / 'report.html'}, {out / 'trades.csv'}, "
        f"{out / 'run.json'} and the plots (PNG)"
    )


def register(app: typer.Typer) -> None:
    """Add ``backtest`` to the CLI."""
    app.command("backtest")(backtest)
