"""The ``milkbot`` command line: one subcommand per service plus operator commands.

Each area registers its own commands from a ``<area>/commands.py`` module exposing
``register(app)``; this module only assembles them and maps Milkbot errors to exit codes.
"""

from __future__ import annotations

import sys

import typer

from milkbot.errors import ConfigError, MilkbotError

app = typer.Typer(
    name="milkbot",
    help="Milkbot: calibrated trading of Kalshi's daily weather markets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    import importlib

    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(app)


# Modules whose ``register(app)`` adds commands; each area appends its own line.
_COMMAND_MODULES: list[str] = [
    "milkbot.store.commands",
    "milkbot.analytics.commands",
    "milkbot.dashboard.commands",
    "milkbot.launcher",
    "milkbot.trader.commands",
    "milkbot.weather.commands",
    "milkbot.evaluation.commands",
    "milkbot.venues.exchange.commands",
    "milkbot.venues.kalshi.commands",
    "milkbot.risk.commands",
    "milkbot.backtest.commands",
    "milkbot.ops.commands",
]


def main() -> None:
    """Entry point of the ``milkbot`` console script."""
    _register_commands()
    try:
        app()
    except ConfigError as e:
        typer.secho(f"configuration error: {e}", fg="red", err=True)
        sys.exit(2)
    except MilkbotError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        sys.exit(1)
