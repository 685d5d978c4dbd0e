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
    version: Annotated[
        str | None,
        typer.Option("--version", help="Parameter version (vN); default: the latest packaged."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write here instead of the package's parameter directory."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Refit into a scratch directory and compare with the existing file "
            "byte for byte; exit 1 when they differ (nothing is written).",
        ),
    ] = False,
) -> None:
    """Fit every parameter from the real datasets and write a versioned parameter file."""
    import tempfile

    from milkbot.evaluation.calibrate import calibrate as run_calibrate
    from milkbot.evaluation.calibrate import differing_keys
    from milkbot.strategies.params import PARAMS_DIR, available_versions, params_path

    directory = out if out is not None else PARAMS_DIR
    if version is None:
        versions = available_versions(PARAMS_DIR)
        version = versions[-1] if versions else "v1"
    existing = params_path(version, directory)
    if check and not existing.is_file():
        typer.echo(f"{existing} does not exist: nothing to check", err=True)
        raise typer.Exit(1)
    steps = 8
    with tempfile.TemporaryDirectory() as scratch, _progress() as bar:
        task = bar.add_task("calibrate", total=steps)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"calibrate: {name}")

        target = Path(scratch) if check else directory
        path = run_calibrate(data_root, version, out_dir=target, step=step)
        if check:
            if existing.read_bytes() != path.read_bytes():
                keys = ", ".join(differing_keys(existing, path))
                typer.echo(f"{existing} differs from a refit (keys: {keys})", err=True)
                raise typer.Exit(1)
            typer.echo(f"{existing} is reproduced exactly")
            return
    typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``calibrate`` to the CLI."""
    app.command("evaluate")(evaluate)
    app.command("calibrate")(calibrate)
