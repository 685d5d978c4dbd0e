"""``milkbot db``: database operator commands."""

from __future__ import annotations

import typer

from milkbot.settings import load_settings

db_app = typer.Typer(help="Database: migrate and inspect.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the migrations (both schemas; on PostgreSQL also the API's read-only role)."""
    from milkbot.store.engine import create_trading_sync_engine
    from milkbot.store.migrate import upgrade as run_upgrade

    settings = load_settings()
    where = create_trading_sync_engine(settings).url.render_as_string(hide_password=True)
    at = run_upgrade(settings, revision)
    typer.echo(f"database {where} is at revision {at}")


@db_app.command("current")
def current() -> None:
    """Print the database's schema revision and the newest one this version ships."""
    from milkbot.store.migrate import current_revision, head_revision

    settings = load_settings()
    rev = current_revision(settings)
    head = head_revision()
    typer.echo(f"current: {rev or 'not migrated'}; newest: {head}")
    if rev != head:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group."""
    app.add_typer(db_app, name="db")
