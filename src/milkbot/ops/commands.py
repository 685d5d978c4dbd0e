"""Operator commands: ``doctor``, ``status``, ``halt``, ``resume``, ``reset-breaker``,
``flatten``, ``cancel-all``.

They are private: they read the trading database and talk to the exchange with the account's
key; none of them goes through the public Analytics API.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from typing import Annotated

import typer

from milkbot.errors import ConfigError, StorageError
from milkbot.settings import Settings, load_settings

ScopeOption = Annotated[
    str,
    typer.Option(help="global, city:NYC, cluster:ID or market:TICKER."),
]
ReasonOption = Annotated[str, typer.Option(help="Why (kept in the audit log).")]
OperatorOption = Annotated[
    str | None, typer.Option(help="Who (default: $SUDO_USER or the login name).")
]


def _operator(name: str | None) -> str:
    return name or os.environ.get("SUDO_USER") or getpass.getuser()


def _require_migrated(settings: Settings) -> None:
    from milkbot.store.migrate import current_revision, head_revision

    if current_revision(settings) != head_revision():
        raise StorageError("the database is not migrated: run `milkbot db upgrade` first")


def _queue(command: str, scope: str, reason: str, operator: str | None) -> None:
    from sqlalchemy.orm import Session

    from milkbot.clock import SystemClock
    from milkbot.ops.operator import enqueue, parse_scope
    from milkbot.store.engine import create_trading_sync_engine

    try:
        parse_scope(scope)
    except ConfigError as e:
        raise typer.BadParameter(str(e), param_hint="--scope") from None
    if not reason.strip():
        raise typer.BadParameter("give a reason", param_hint="--reason")
    settings = load_settings()
    _require_migrated(settings)
    engine = create_trading_sync_engine(settings)
    try:
        with Session(engine, expire_on_commit=False) as session:
            row = enqueue(session, command, scope, _operator(operator), reason, SystemClock().now())
    finally:
        engine.dispose()
    typer.echo(
        f"queued #{row.id}: {row.command} {row.scope} by {row.operator} ({row.reason}); "
        "the trader applies it at its next step (see `milkbot status`)"
    )


def register(app: typer.Typer) -> None:
    """Add the operator commands."""

    @app.command("doctor")
    def doctor(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        nws: Annotated[bool, typer.Option(help="Check that NWS is reachable.")] = True,
        timeout: Annotated[float, typer.Option(help="Seconds per network check.")] = 5.0,
    ) -> None:
        """Check configuration, key file, database, exchange, NWS and the trader."""
        from milkbot.logging import configure_logging
        from milkbot.ops.doctor import DoctorOptions, exit_code, render, run_doctor

        # The checks report every failure themselves; client retry warnings would be noise.
        configure_logging(level="error", service="doctor")
        checks = asyncio.run(
            run_doctor(load_settings, DoctorOptions(check_nws=nws, timeout=timeout))
        )
        if as_json:
            body = {"ok": exit_code(checks) == 0, "checks": [c.to_dict() for c in checks]}
            typer.echo(json.dumps(body, indent=2))
        else:
            typer.echo(render(checks))
        raise typer.Exit(exit_code(checks))

    @app.command("status")
    def status(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """The trader's health, breakers, operator commands, orders, positions, fills."""
        from sqlalchemy.orm import Session

        from milkbot.ops.status import collect_status, render_status
        from milkbot.store.engine import create_trading_sync_engine

        settings = load_settings()
        _require_migrated(settings)
        engine = create_trading_sync_engine(settings)
        try:
            with Session(engine) as session:
                report = collect_status(session, settings.trader_health_port)
        finally:
            engine.dispose()
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
        else:
            typer.echo(render_status(report))

    @app.command("halt")
    def halt(
        reason: ReasonOption,
        scope: ScopeOption = "global",
        operator: OperatorOption = None,
    ) -> None:
        """Halt trading on a scope (latched until `milkbot resume`); cancels still pass."""
        _queue("halt", scope, reason, operator)

    @app.command("resume")
    def resume(
        reason: ReasonOption,
        scope: ScopeOption = "global",
        operator: OperatorOption = None,
    ) -> None:
        """Clear an operator halt on a scope (automatic breaker trips stay latched)."""
        _queue("resume", scope, reason, operator)

    @app.command("reset-breaker")
    def reset_breaker(
        reason: ReasonOption,
        scope: ScopeOption = "global",
        operator: OperatorOption = None,
    ) -> None:
        """Clear every latched breaker trip on a scope (a breach still present trips again)."""
        _queue("reset-breaker", scope, reason, operator)

    @app.command("flatten")
    def flatten(
        reason: ReasonOption,
        scope: ScopeOption = "global",
        operator: OperatorOption = None,
    ) -> None:
        """Close a scope's positions: reduce-only until `resume`, resting orders cancelled,
        one immediate-or-cancel order per position at the best bid (run by the trader)."""
        _queue("flatten", scope, reason, operator)

    @app.command("cancel-all")
    def cancel_all_command(
        ticker: Annotated[str | None, typer.Option(help="Only this market.")] = None,
        event: Annotated[str | None, typer.Option(help="Only this event.")] = None,
        chunk: Annotated[int, typer.Option(help="Orders per batch cancel.")] = 20,
        dry_run: Annotated[bool, typer.Option(help="List resting orders only.")] = False,
    ) -> None:
        """Cancel every resting order, asking the exchange directly (not local state)."""
        from milkbot.logging import configure_logging
        from milkbot.ops.cancel import CancelReport, cancel_all, render_cancel
        from milkbot.venues.kalshi.factory import client_from_settings

        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format, service="ops")
        client = client_from_settings(settings)
        if not client.authenticated:
            asyncio.run(client.aclose())
            raise ConfigError(
                "cancel-all needs the account's key: set MILKBOT_KALSHI_KEY_ID and "
                "MILKBOT_KALSHI_PRIVATE_KEY_PATH"
            )

        async def run() -> CancelReport:
            async with client:
                return await cancel_all(
                    client, ticker=ticker, event_ticker=event, chunk=chunk, dry_run=dry_run
                )

        typer.echo(f"exchange {settings.exchange_url}")
        report = asyncio.run(run())
        typer.echo(render_cancel(report))
        if not report.ok:
            raise typer.Exit(1)
