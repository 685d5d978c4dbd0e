"""``milkbot discover`` and the settings-based client factory."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import typer
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from milkbot.errors import ConfigError
from milkbot.settings import load_settings
from milkbot.venues.kalshi import commands, factory
from milkbot.venues.kalshi.client import KalshiClient

from .conftest import load_payload


def _app() -> typer.Typer:
    app = typer.Typer()
    commands.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer in multi-command mode
        """Nothing."""

    return app


def test_discover_command_prints_events_and_problems(monkeypatch, tmp_path: Path) -> None:
    markets = {
        "KXHIGHNY": load_payload("real-2026-07_GET-markets_KXHIGHNY_open_trimmed.json")["markets"],
        "KXHIGHAUS": load_payload("legacy-2024-08_GET-event_HIGHAUS-24AUG16.json")["markets"],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        items = markets.get(request.url.params["series_ticker"], [])
        return httpx.Response(200, json={"markets": items, "cursor": ""})

    def fake_client(settings, **kw) -> KalshiClient:
        assert settings.venue == "local"
        return KalshiClient(settings.exchange_url, transport=httpx.MockTransport(handler))

    monkeypatch.setattr(factory, "client_from_settings", fake_client)
    monkeypatch.setenv("MILKBOT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(_app(), ["discover", "--city", "NYC", "--city", "AUS"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "HIGHAUS-24AUG16" in out and "day 2024-08-16" in out and " ok" in out
    assert "KXHIGHNY-26JUL12" in out and "FLAGGED" in out
    assert "! 3 brackets, expected 6" in out
    assert "96° to 97°" in out
    assert out.strip().endswith("2 events, 1 flagged")


def test_discover_rejects_a_bad_day() -> None:
    result = CliRunner().invoke(_app(), ["discover", "--day", "July 12"])
    assert isinstance(result.exception, ConfigError)


def test_factory_signs_when_a_key_is_configured(tmp_path: Path, rsa_key) -> None:
    pem = tmp_path / "k.pem"
    pem.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem.chmod(0o600)
    settings = load_settings(kalshi_key_id="kid", kalshi_private_key_path=pem)
    auth = factory.auth_from_settings(settings)
    assert auth is not None and auth.key_id == "kid"
    client = factory.client_from_settings(settings)
    assert client.authenticated and client.base_url == settings.exchange_url
    ws = factory.websocket_from_settings(settings)
    assert ws.url == settings.exchange_ws_url
    assert factory.auth_from_settings(load_settings()) is None
    with pytest.raises(ConfigError):
        factory.auth_from_settings(load_settings(kalshi_key_id="kid"))
