"""Settings: safe defaults, environment overrides, refusal of unsafe combinations."""

from __future__ import annotations

from pathlib import Path

import pytest

from milkbot.errors import ConfigError
from milkbot.settings import Settings, load_settings


def test_defaults_are_local_sqlite_and_no_live_trading(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MILKBOT_DATABASE_URL", "MILKBOT_VENUE", "MILKBOT_LIVE_TRADING"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.venue == "local" and s.live_trading is False
    assert s.is_sqlite and s.trading_url.endswith("var/milkbot.db")
    assert s.analytics_sqlite_path.name == "milkbot-analytics.db"
    assert s.exchange_url == "http://127.0.0.1:8100/trade-api/v2"


def test_environment_overrides_and_postgres_url_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILKBOT_DATABASE_URL", "postgres://u@db/milkbot")
    monkeypatch.setenv("MILKBOT_API_PORT", "9000")
    s = load_settings()
    assert s.trading_url == "postgresql+psycopg://u@db/milkbot"
    assert not s.is_sqlite and s.api_port == 9000


def test_live_trading_without_a_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="MILKBOT_KALSHI_KEY_ID"):
        load_settings(venue="prod", live_trading=True, _env_file=None)


def test_bad_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILKBOT_VENUE", "moon")
    with pytest.raises(ConfigError, match="venue"):
        load_settings()


def test_settings_are_not_created_at_import() -> None:
    import milkbot.settings as module

    assert not [v for v in vars(module).values() if isinstance(v, Settings)]


def test_secret_is_not_in_repr(tmp_path: Path) -> None:
    s = Settings(openmeteo_api_key="sekrit", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert "sekrit" not in repr(s)
