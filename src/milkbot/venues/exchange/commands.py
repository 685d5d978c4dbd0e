"""``milkbot exchange``: serve the local Kalshi-compatible exchange on localhost."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from milkbot.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey


def parse_public_keys(specs: list[str]) -> dict[str, RSAPublicKey]:
    """Parse ``[KEY_ID=]PEM_PATH`` specs; a spec without a key id accepts any key id."""
    from milkbot.venues.exchange.server import load_public_key

    keys: dict[str, RSAPublicKey] = {}
    for spec in specs:
        key_id, sep, path = spec.rpartition("=")
        if not sep:
            key_id, path = "*", spec
        try:
            pem = Path(path).read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read public key {path}: {e}") from e
        keys[key_id] = load_public_key(pem)
    return keys


def _parse_start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        start = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise ConfigError(f"--start must be ISO-8601: {e}") from e
    if start.tzinfo is None:
        raise ConfigError("--start needs a time zone (e.g. 2025-04-06T12:00:00Z)")
    return start


def register(app: typer.Typer) -> None:
    """Add the ``exchange`` command."""

    @app.command("exchange")
    def exchange(
        host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default: settings).")] = None,
        dataset: Annotated[
            list[Path] | None,
            typer.Option(help="Dataset directory to replay (repeatable; default: bundled tape)."),
        ] = None,
        speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 60.0,
        start: Annotated[
            str | None, typer.Option(help="Simulated start time, ISO-8601 (default: tape start).")
        ] = None,
        public_key: Annotated[
            list[str] | None,
            typer.Option(help="[KEY_ID=]PEM of an accepted API key (repeatable; no id = any id)."),
        ] = None,
        initial_balance: Annotated[
            str, typer.Option(help="Cash of a new account, dollars.")
        ] = "1000",
        max_clock_skew: Annotated[
            float | None, typer.Option(help="Reject signatures older than this many seconds.")
        ] = None,
        allow_anonymous_ws: Annotated[
            bool, typer.Option(help="Accept unsigned WebSocket handshakes (public channels only).")
        ] = False,
        fault_5xx_rate: Annotated[
            float, typer.Option(help="Share of requests answered 503.")
        ] = 0.0,
        fault_429_rate: Annotated[
            float, typer.Option(help="Share of requests answered 429.")
        ] = 0.0,
        fault_latency_min_ms: Annotated[float, typer.Option(help="Min added latency, ms.")] = 0.0,
        fault_latency_max_ms: Annotated[float, typer.Option(help="Max added latency, ms.")] = 0.0,
        fault_lost_response_rate: Annotated[
            float, typer.Option(help="Share of accepted mutations answered 504 instead.")
        ] = 0.0,
        fault_ws_drop_rate: Annotated[
            float, typer.Option(help="Per WS message chance of dropping the connection.")
        ] = 0.0,
        fault_ws_duplicate_rate: Annotated[
            float, typer.Option(help="Per WS message chance of sending it twice.")
        ] = 0.0,
        fault_ws_reorder_rate: Annotated[
            float, typer.Option(help="Per WS message chance of swapping it with the next.")
        ] = 0.0,
        fault_ws_seq_gap_rate: Annotated[
            float, typer.Option(help="Per orderbook message chance of a seq gap.")
        ] = 0.0,
        fault_seed: Annotated[int, typer.Option(help="Seed of the fault generator.")] = 0,
    ) -> None:
        """Serve the local Kalshi-compatible exchange, replaying real market history."""
        import uvicorn

        from milkbot import bundled
        from milkbot.clock import AcceleratedClock, FixedClock
        from milkbot.datasets import load_dataset
        from milkbot.settings import load_settings
        from milkbot.venues.exchange.faults import FaultConfig
        from milkbot.venues.exchange.server import KeyRegistry, build_state, create_app

        settings = load_settings()
        if speed <= 0:
            raise ConfigError("--speed must be positive")
        try:
            faults = FaultConfig(
                http_5xx_rate=fault_5xx_rate,
                http_429_rate=fault_429_rate,
                latency_ms=(fault_latency_min_ms, max(fault_latency_min_ms, fault_latency_max_ms)),
                lost_response_rate=fault_lost_response_rate,
                ws_drop_rate=fault_ws_drop_rate,
                ws_duplicate_rate=fault_ws_duplicate_rate,
                ws_reorder_rate=fault_ws_reorder_rate,
                ws_seq_gap_rate=fault_ws_seq_gap_rate,
                seed=fault_seed,
            )
        except ValueError as e:
            raise ConfigError(str(e)) from e
        data = load_dataset(dataset or [bundled.path("kalshi-tape-demo")])
        keys = KeyRegistry(parse_public_keys(public_key or []), max_clock_skew, allow_anonymous_ws)
        # The replay is built on a placeholder clock, then runs on the accelerated one.
        placeholder = FixedClock(datetime(2000, 1, 1, tzinfo=UTC))
        state = build_state(
            data, placeholder, keys=keys, faults=faults, initial_balance=Decimal(initial_balance)
        )
        assert state.replay is not None
        first = _parse_start(start) or state.replay.start_time
        state.engine.clock = AcceleratedClock(first, speed)
        bind_host = settings.exchange_host if host is None else host
        bind_port = settings.exchange_port if port is None else port
        typer.echo(
            f"exchange: {len(state.infos)} markets, replay from {first.isoformat()} at x{speed}, "
            f"http://{bind_host}:{bind_port}/trade-api/v2"
        )
        uvicorn.run(
            create_app(state),
            host=bind_host,
            port=bind_port,
            log_level="warning",
        )
