"""Runtime configuration from ``MILKBOT_*`` environment variables and an optional ``.env``.

Settings are built in the entry points and passed down explicitly; nothing in the library
creates them at import time. The defaults are safe: SQLite under ``./var``, the local
exchange, and live trading off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from milkbot.errors import ConfigError

KALSHI_URLS: dict[str, str] = {
    "prod": "https://external-api.kalshi.com/trade-api/v2",
    "demo": "https://external-api.demo.kalshi.co/trade-api/v2",
}
KALSHI_WS_URLS: dict[str, str] = {
    "prod": "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
    "demo": "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
}


class Settings(BaseSettings):
    """Every setting Milkbot reads; the README's configuration table lists them."""

    model_config = SettingsConfigDict(
        env_prefix="MILKBOT_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(Path("var"), description="Directory for SQLite files, locks, logs.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the trading database; default SQLite in data_dir."
    )
    api_database_url: str | None = Field(
        None,
        description="URL the Analytics API connects with (PostgreSQL: the read-only role). "
        "Default: derived from database_url.",
    )
    venue: Literal["local", "demo", "prod"] = Field(
        "local", description="Exchange: the local Kalshi-compatible exchange, or Kalshi's."
    )
    exchange_host: str = Field("127.0.0.1", description="Local exchange bind address.")
    exchange_port: int = Field(8100, description="Local exchange port.")
    kalshi_key_id: str | None = Field(None, description="Kalshi API key id (live only).")
    kalshi_private_key_path: Path | None = Field(
        None, description="PEM file of the Kalshi private key (mode 600)."
    )
    live_trading: bool = Field(
        False, description="Allow orders on Kalshi's demo or production exchange."
    )
    api_host: str = Field("127.0.0.1", description="Analytics API bind address.")
    api_port: int = Field(8000, description="Analytics API port.")
    dashboard_host: str = Field("127.0.0.1", description="Dashboard bind address.")
    dashboard_port: int = Field(8501, description="Dashboard port.")
    api_url: str = Field(
        "http://127.0.0.1:8000", description="Analytics API base URL (the dashboard's only input)."
    )
    api_clock: Literal["wall", "trader"] = Field(
        "wall",
        description="What 'now' is for the API's delay: the wall clock, or the trader's exported "
        "clock (the demo replays history on an accelerated clock).",
    )
    trader_health_port: int = Field(9101, description="Trader /health and /metrics port.")
    nws_user_agent: str = Field(
        "milkbot/0.1 (ops@milkbot.ai)", description="User-Agent with contact, required by NWS."
    )
    openmeteo_api_key: SecretStr | None = Field(
        None, description="Open-Meteo key for commercial use (optional)."
    )
    log_format: Literal["console", "json"] = Field("console", description="Log renderer.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Level.")

    @field_validator("database_url", "api_database_url")
    @classmethod
    def _use_psycopg(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Self:
        if (
            self.venue != "local"
            and self.live_trading
            and (self.kalshi_key_id is None or self.kalshi_private_key_path is None)
        ):
            raise ConfigError(
                "live trading on Kalshi needs MILKBOT_KALSHI_KEY_ID and "
                "MILKBOT_KALSHI_PRIVATE_KEY_PATH"
            )
        return self

    @property
    def trading_url(self) -> str:
        """SQLAlchemy URL of the trading database."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'milkbot.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite default (or another SQLite file)."""
        return self.trading_url.startswith("sqlite")

    @property
    def analytics_sqlite_path(self) -> Path:
        """On SQLite, the file that holds the analytics schema (attached as ``analytics``)."""
        main = Path(self.trading_url.split("///", 1)[1])
        return main.with_name(main.stem + "-analytics.db")

    @property
    def exchange_url(self) -> str:
        """REST base URL of the configured exchange."""
        if self.venue == "local":
            return f"http://{self.exchange_host}:{self.exchange_port}/trade-api/v2"
        return KALSHI_URLS[self.venue]

    @property
    def exchange_ws_url(self) -> str:
        """WebSocket URL of the configured exchange."""
        if self.venue == "local":
            return f"ws://{self.exchange_host}:{self.exchange_port}/trade-api/ws/v2"
        return KALSHI_WS_URLS[self.venue]


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides; wrap errors as ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"invalid configuration: {e}") from e
