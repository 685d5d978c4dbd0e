"""``milkbot demo``: migrate, start every service as a child process, supervise, stop cleanly.

Each child runs in its own process group and logs to ``<data_dir>/logs/<name>.log``. The
supervisor prints the URLs, polls each child's health, and stops everything (SIGTERM to the
group, then SIGKILL after a grace period) on Ctrl-C, SIGTERM, ``--exit-after`` or as soon as
one child dies, so that no process outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Annotated

import httpx
import typer

from milkbot.logging import configure_logging, get_logger
from milkbot.settings import Settings, load_settings

log = get_logger(__name__)

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.5
STATUS_EVERY_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 90.0


@dataclass
class Child:
    """One supervised service."""

    name: str
    argv: list[str]
    health_url: str
    env: dict[str, str]
    public_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    healthy: bool = False
    detail: str = "starting"
    log_path: Path | None = field(default=None)


def _module(*args: str) -> list[str]:
    return [sys.executable, "-m", "milkbot", *args]


DEMO_KEY_ID = "milkbot-demo"


def demo_key(data_dir: Path) -> tuple[Path, Path]:
    """Generate the demo's RSA key pair (private key 0600) for the local exchange.

    A fresh pair on every run: it signs the demo trader's requests to the local exchange
    only, and is never a Kalshi credential.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    folder = data_dir / "demo-key"
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = folder / "private.pem", folder / "public.pem"
    private.unlink(missing_ok=True)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def demo_children(settings: Settings, *, speed: float) -> list[Child]:
    """The services of the demo, in start order."""
    from milkbot.dashboard.commands import dashboard_command, dashboard_env

    private, public = demo_key(settings.data_dir)
    base = dict(os.environ)
    base["MILKBOT_DATA_DIR"] = str(settings.data_dir.resolve())
    base["MILKBOT_API_CLOCK"] = "trader"
    base["PYTHONUNBUFFERED"] = "1"
    exchange = f"http://{settings.exchange_host}:{settings.exchange_port}"
    api = f"http://{settings.api_host}:{settings.api_port}"
    dashboard = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
    return [
        Child(
            "exchange",
            _module(
                "exchange",
                "--host",
                settings.exchange_host,
                "--port",
                str(settings.exchange_port),
                "--speed",
                str(speed),
                "--public-key",
                f"{DEMO_KEY_ID}={public}",
            ),
            f"{exchange}/health",
            base,
            exchange,
        ),
        Child(
            "trader",
            _module("trader", "--demo"),
            f"http://127.0.0.1:{settings.trader_health_port}/health",
            base
            | {
                "MILKBOT_KALSHI_KEY_ID": DEMO_KEY_ID,
                "MILKBOT_KALSHI_PRIVATE_KEY_PATH": str(private),
            },
        ),
        Child("api", _module("api"), f"{api}/health", base, api),
        Child(
            "dashboard",
            dashboard_command(settings.dashboard_host, settings.dashboard_port),
            f"{dashboard}/_stcore/health",
            dashboard_env(api, base),
            dashboard,
        ),
    ]


def _summary(body: object) -> str:
    """A few telling fields of a child's JSON health answer."""
    if not isinstance(body, dict):
        return ""
    keys = (
        "sim_time",
        "clock",
        "steps",
        "settlements",
        "exported_rows",
        "dropped_rows",
        "database",
        "last_error",
    )
    parts = [f"{k}={body[k]}" for k in keys if body.get(k) not in (None, "")]
    return f" ({', '.join(parts)})" if parts else ""


class Supervisor:
    """Starts children, watches them, and guarantees none survives :meth:`stop`."""

    def __init__(
        self, children: Sequence[Child], log_dir: Path, echo: Callable[[str], None] = typer.echo
    ) -> None:
        self.children = list(children)
        self.log_dir = log_dir
        self.echo = echo
        self._stopping = False

    def start(self) -> None:
        """Start every child in its own process group."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            child.log_path = self.log_dir / f"{child.name}.log"
            child.log_file = child.log_path.open("ab")
            child.process = subprocess.Popen(
                child.argv,
                env=child.env,
                stdout=child.log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.info(
                "child_started", child=child.name, pid=child.process.pid, log=str(child.log_path)
            )

    def dead_child(self) -> Child | None:
        """The first child that has exited, if any."""
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                return child
        return None

    def check_health(self, client: httpx.Client) -> None:
        """Probe every child's health endpoint."""
        for child in self.children:
            try:
                r = client.get(child.health_url)
                child.healthy = r.status_code == 200
                child.detail = "healthy" if child.healthy else f"HTTP {r.status_code}"
                if r.headers.get("content-type", "").startswith("application/json"):
                    child.detail += _summary(r.json())
            except httpx.HTTPError as e:
                child.healthy = False
                child.detail = f"not answering ({type(e).__name__})"

    def status_lines(self) -> list[str]:
        """One line per child: name, pid, health."""
        lines = []
        for c in self.children:
            pid = c.process.pid if c.process else "-"
            lines.append(f"  {c.name:<10} pid {pid!s:<8} {c.detail}")
        return lines

    def stop(self) -> None:
        """SIGTERM every process group, wait, then SIGKILL what is left."""
        if self._stopping:
            return
        self._stopping = True
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("child_killed", child=child.name, pid=child.process.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
            # Any grandchild left in the group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            if child.log_file is not None:
                child.log_file.close()

    def tail(self, child: Child, lines: int = 15) -> str:
        """The last lines of a child's log."""
        if child.log_path is None or not child.log_path.exists():
            return ""
        return "\n".join(child.log_path.read_text(errors="replace").splitlines()[-lines:])


def run_demo(settings: Settings, *, exit_after: float | None, speed: float) -> int:
    """Run the demo until interrupted, ``exit_after`` seconds, or a child's death."""
    from milkbot.store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        # The local exchange starts from scratch on every run, so does the demo's book.
        for db in (Path(settings.trading_url.split("///", 1)[1]), settings.analytics_sqlite_path):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
    revision = upgrade(settings)
    typer.echo(f"database migrated to revision {revision} in {settings.data_dir.resolve()}")
    supervisor = Supervisor(demo_children(settings, speed=speed), settings.data_dir / "logs")

    stop_reason: list[str] = []

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_reason.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    started = time.monotonic()
    try:
        supervisor.start()
        ready = False
        last_status = 0.0
        with httpx.Client(timeout=2.0) as client:
            while not stop_reason:
                dead = supervisor.dead_child()
                if dead is not None:
                    assert dead.process is not None
                    typer.secho(
                        f"{dead.name} exited with code {dead.process.returncode}; stopping all.\n"
                        f"last lines of {dead.log_path}:\n{supervisor.tail(dead)}",
                        fg="red",
                        err=True,
                    )
                    code = 1
                    break
                now = time.monotonic()
                if exit_after is not None and now - started >= exit_after:
                    stop_reason.append(f"--exit-after {exit_after:g}")
                    break
                if not ready or now - last_status >= STATUS_EVERY_SECONDS:
                    supervisor.check_health(client)
                    if not ready and all(c.healthy for c in supervisor.children):
                        ready = True
                        _print_ready(supervisor, time.monotonic() - started)
                    elif ready:
                        typer.echo("status:\n" + "\n".join(supervisor.status_lines()))
                    elif now - started > READY_TIMEOUT_SECONDS:
                        typer.secho("services did not become healthy in time:", fg="red", err=True)
                        typer.echo("\n".join(supervisor.status_lines()), err=True)
                        code = 1
                        break
                    last_status = now
                time.sleep(POLL_SECONDS)
    finally:
        typer.echo(f"stopping ({', '.join(stop_reason) or 'error'})...")
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        typer.echo("all services stopped.")
    return code


def _print_ready(supervisor: Supervisor, seconds: float) -> None:
    typer.secho(f"Milkbot demo is up ({seconds:.0f} s):", fg="green")
    for c in supervisor.children:
        if c.public_url:
            typer.echo(f"  {c.name:<10} {c.public_url}")
    typer.echo("status:\n" + "\n".join(supervisor.status_lines()))
    typer.echo(f"logs in {supervisor.log_dir}; press Ctrl-C to stop.")


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command("demo")
    def demo(
        exit_after: Annotated[
            float | None, typer.Option("--exit-after", help="Stop after this many seconds.")
        ] = None,
        speed: Annotated[
            float, typer.Option(help="Replay speed of the local exchange (x real time).")
        ] = 600.0,
    ) -> None:
        """Run everything locally: exchange, trader, API and dashboard, no keys, no network."""
        settings = load_settings(venue="local", live_trading=False, api_clock="trader")
        configure_logging(level=settings.log_level, fmt=settings.log_format, service="demo")
        raise typer.Exit(run_demo(settings, exit_after=exit_after, speed=speed))
