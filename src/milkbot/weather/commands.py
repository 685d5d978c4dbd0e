"""Weather operator commands: ``milkbot verify-settlement``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from milkbot.datasets import load_dataset
from milkbot.weather.settlement import verify_dataset


def verify_settlement(
    dataset_dirs: Annotated[
        list[Path], typer.Argument(help="Dataset directories in the shared data layout.")
    ],
) -> None:
    """Reproduce every settled market's result from its event's settled value."""
    report = verify_dataset(load_dataset(dataset_dirs))
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the weather commands to the ``milkbot`` app."""
    app.command("verify-settlement")(verify_settlement)
