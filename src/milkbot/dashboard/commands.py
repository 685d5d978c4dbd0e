"""``milkbot dashboard``: run the public Streamlit app."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from milkbot.settings import load_settings

APP = Path(__file__).with_name("app.py")
# The dashboard process must not see credentials of any kind.
_FORBIDDEN_PREFIXES = ("MILKBOT_KALSHI", "MILKBOT_DATABASE", "MILKBOT_API_DATABASE", "KALSHI")


def dashboard_command(host: str, port: int) -> list[str]:
    """The command line that runs the Streamlit app."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def dashboard_env(api_url: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the dashboard process: no Kalshi or database variables."""
    env = {
        k: v
        for k, v in (base if base is not None else dict(os.environ)).items()
        if not k.upper().startswith(_FORBIDDEN_PREFIXES)
    }
    env["MILKBOT_API_URL"] = api_url
    return env


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command."""

    @app.command("dashboard")
    def dashboard(
        host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
        port: Annotated[int | None, typer.Option(help="Port.")] = None,
        api_url: Annotated[str | None, typer.Option(help="Analytics API base URL.")] = None,
    ) -> None:
        """Run the public dashboard (reads only the Analytics API)."""
        settings = load_settings()
        url = api_url or settings.api_url
        cmd = dashboard_command(host or settings.dashboard_host, port or settings.dashboard_port)
        os.execve(sys.executable, cmd, dashboard_env(url))
