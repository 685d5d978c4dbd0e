"""CLI commands ``milkbot evaluate`` and ``milkbot calibrate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from milkbot.datasets import load_dataset


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )


def evaluate(
    dataset_dirs: Annotated[list[Path], typer.Argument(help="Dataset directories (merged).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    hours_before_close: Annotated[
        float, typer.Option("--hours-before-close", help="Decision time = close - H hours.")
    ] = 12.0,
) -> None:
    """Score the model and the baselines on every labelled market at close - H."""
    from milkbot.errors import ConfigError
    from milkbot.evaluation.report import write_outputs
    from milkbot.evaluation.runner import evaluate_dataset
    from milkbot.strategies.params import Params, load_params

    dataset = load_dataset(dataset_dirs)
    params: Params | None
    try:
        params = load_params()
    except ConfigError:
        params = None
    with _progress() as bar:
        task = bar.add_task("evaluate", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        run = evaluate_dataset(dataset, hours_before_close, params=params, progress=tick)
    doc = write_outputs(run, out, [str(d) for d in dataset_dirs])
    summary = {
        k: doc[k] for k in ("n_events", "n_rows", "model", "market", "climatology", "gaussian")
    }
    typer.echo(json.dumps(summary, indent=1))
    typer.echo(f"wrote {out / 'metrics.json'}, {out / 'report.md'}, {out / 'reliability.png'}")


def calibrate(
    data_root: Annotated[
        Path, typer.Option("--data-root", help="Directory holding the datasets.")
    ] = Path("../shared/data"),
    version: Annotated[str, typer.Option("--version", help="Parameter version (vN).")] = "v1",
) -> None:
    """Fit every parameter from the real datasets and write a versioned parameter file."""
    from milkbot.evaluation.calibrate import calibrate as run_calibrate

    steps = 8
    with _progress() as bar:
        task = bar.add_task("calibrate", total=steps)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"calibrate: {name}")

        path = run_calibrate(data_root, version, step=step)
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``calibrate`` to the CLI."""
    app.command("evaluate")(evaluate)
    app.command("calibrate")(calibrate)
