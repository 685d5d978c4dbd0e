"""``milkbot api``: serve the Analytics API."""

from __future__ import annotations

from typing import Annotated

import typer

from milkbot.logging import configure_logging
from milkbot.settings import load_settings


def register(app: typer.Typer) -> None:
    """Add the ``api`` command."""

    @app.command("api")
    def api(
        host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
        port: Annotated[int | None, typer.Option(help="Port.")] = None,
    ) -> None:
        """Serve the Analytics API (read-only, 60-minute delay)."""
        import uvicorn

        from milkbot.analytics.app import check_api_settings, create_app

        settings = load_settings()
        configure_logging(level=settings.log_level, fmt=settings.log_format, service="api")
        check_api_settings(settings)
        uvicorn.run(
            create_app(settings),
            host=host or settings.api_host,
            port=port or settings.api_port,
            log_config=None,
            access_log=False,
        )
