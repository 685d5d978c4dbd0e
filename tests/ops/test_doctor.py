"""``milkbot doctor`` against real SQLite/PostgreSQL, a real local exchange, a real trader
health endpoint; only NWS (an unreachable network peer here) is replaced at the transport."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from milkbot.clock import FixedClock
from milkbot.errors import ConfigError
from milkbot.ops.doctor import (
    Check,
    DoctorOptions,
    Level,
    check_key_file,
    exit_code,
    render,
    run_doctor,
)
from milkbot.settings import Settings
from milkbot.store.engine import API_ROLE
from milkbot.store.migrate import head_revision, upgrade
from milkbot.trader.health import health_app
from tests.servers import free_port, serve_in_loop

from .conftest import KEY_ID, Exchange, cli_env, ops_app, sqlite_settings_at, write_pem


def _nws_ok() -> httpx.MockTransport:
    return httpx.MockTransport(lambda _r: httpx.Response(200, json={"status": "OK"}))


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def _opts(**kw: Any) -> DoctorOptions:
    return DoctorOptions(nws_transport=_nws_ok(), timeout=2.0, **kw)


async def _doctor(settings: Settings, opts: DoctorOptions) -> list[Check]:
    return await run_doctor(lambda: settings, opts)


def _local(tmp_path: Path, exchange_port: int, **kw: Any) -> Settings:
    return sqlite_settings_at(
        tmp_path / "var",
        exchange_port=exchange_port,
        trader_health_port=free_port(),
        **kw,
    )


async def test_good_sqlite_config_passes(
    tmp_path: Path, exchange: Exchange, key_file: Path
) -> None:
    settings = _local(
        tmp_path, exchange.port, kalshi_key_id=KEY_ID, kalshi_private_key_path=key_file
    )
    upgrade(settings)
    checks = await _doctor(settings, _opts())
    got = _by_name(checks)
    assert exit_code(checks) == 0, render(checks)
    for name in (
        "config",
        "trading mode",
        "kalshi key",
        "data dir",
        "database",
        "api read-only",
        "exchange",
        "exchange auth",
        "clock skew",
        "nws",
    ):
        assert got[name].level is Level.OK, got[name]
    assert f"at revision {head_revision()}" in got["database"].message
    assert "mode 600" in got["kalshi key"].message
    # Nothing listens on the trader's health port: a warning with the way to start it.
    assert got["trader"].level is Level.WARN
    assert "systemctl start milkbot-trader" in got["trader"].hint


async def test_key_file_readable_by_others_fails_with_the_chmod_hint(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, exchange: Exchange
) -> None:
    pem = write_pem(rsa_key, tmp_path / "loose.pem", mode=0o644)
    settings = _local(tmp_path, exchange.port, kalshi_key_id=KEY_ID, kalshi_private_key_path=pem)
    upgrade(settings)
    checks = await _doctor(settings, _opts())
    got = _by_name(checks)
    check = got["kalshi key"]
    assert check.level is Level.FAIL
    assert "accessible by group/others (mode 644)" in check.message
    assert check.hint == f"chmod 600 {pem}"
    assert exit_code(checks) == 1
    assert "FAIL  kalshi key" in render(checks) and f"fix: chmod 600 {pem}" in render(checks)
    # The exchange answers, but nothing was signed with a key that does not load.
    assert got["exchange"].level is Level.OK
    assert got["exchange auth"].level is Level.SKIP
    assert "the key does not load" in got["exchange auth"].message
    pem.chmod(0o400)
    assert check_key_file(settings).level is Level.OK


def test_key_file_problems_are_named(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    missing = tmp_path / "nope.pem"
    check = check_key_file(
        _local(tmp_path, 1, kalshi_key_id=KEY_ID, kalshi_private_key_path=missing)
    )
    assert check.level is Level.FAIL and "cannot read" in check.message
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    garbage.chmod(0o600)
    check = check_key_file(
        _local(tmp_path, 1, kalshi_key_id=KEY_ID, kalshi_private_key_path=garbage)
    )
    assert check.level is Level.FAIL and "not an unencrypted PEM" in check.message
    assert "chmod" not in check.hint
    no_id = check_key_file(
        _local(tmp_path, 1, kalshi_private_key_path=write_pem(rsa_key, tmp_path / "k.pem"))
    )
    assert no_id.level is Level.FAIL and "MILKBOT_KALSHI_KEY_ID is not set" in no_id.message
    assert check_key_file(_local(tmp_path, 1)).level is Level.SKIP


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_key_file_owned_by_another_user_fails(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = write_pem(rsa_key, tmp_path / "theirs.pem")
    os.chown(pem, 65534, 65534)
    check = check_key_file(_local(tmp_path, 1, kalshi_key_id=KEY_ID, kalshi_private_key_path=pem))
    assert check.level is Level.FAIL and "not by the user running Milkbot" in check.message
    assert check.hint.startswith("chown ")


async def test_database_not_migrated_fails(tmp_path: Path) -> None:
    settings = _local(tmp_path, free_port())
    checks = await _doctor(settings, _opts())
    got = _by_name(checks)
    assert got["database"].level is Level.FAIL
    assert "not migrated" in got["database"].message
    assert got["database"].hint == "milkbot db upgrade"
    assert got["api read-only"].level is Level.SKIP
    assert exit_code(checks) == 1
    # The check created nothing: no empty database file appears.
    assert not (tmp_path / "var" / "milkbot.db").exists()


async def test_database_behind_head_fails(tmp_path: Path) -> None:
    settings = _local(tmp_path, free_port())
    upgrade(settings, "0001")
    got = _by_name(await _doctor(settings, _opts()))
    assert got["database"].level is Level.FAIL
    assert f"at revision 0001, Milkbot needs {head_revision()}" in got["database"].message


async def test_unreachable_exchange_fails_clearly(tmp_path: Path) -> None:
    port = free_port()
    settings = _local(tmp_path, port)
    upgrade(settings)
    checks = await _doctor(settings, _opts())
    got = _by_name(checks)
    ex = got["exchange"]
    assert ex.level is Level.FAIL
    assert ex.message.startswith(
        f"cannot reach the exchange at http://127.0.0.1:{port}/trade-api/v2"
    )
    assert f"milkbot exchange --port {port}" in ex.hint
    assert got["clock skew"].level is Level.SKIP
    assert exit_code(checks) == 1


async def test_a_key_the_exchange_does_not_know_fails_auth(
    tmp_path: Path, exchange: Exchange
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = write_pem(stranger, tmp_path / "stranger.pem")
    settings = _local(tmp_path, exchange.port, kalshi_key_id=KEY_ID, kalshi_private_key_path=pem)
    upgrade(settings)
    got = _by_name(await _doctor(settings, _opts()))
    assert got["exchange"].level is Level.OK
    assert got["exchange auth"].level is Level.FAIL
    assert "refused a signed request" in got["exchange auth"].message


async def test_clock_skew_from_the_date_header(tmp_path: Path) -> None:
    """The exchange's Date says 90 s later than our clock: FAIL; 5 s earlier: WARN; 0: OK."""
    now = datetime(2026, 3, 2, 15, 0, 0, tzinfo=UTC)
    clock = FixedClock(now)
    settings = _local(tmp_path, free_port())

    async def skew_of(offset: timedelta) -> Check:
        def handler(_r: httpx.Request) -> httpx.Response:
            body = {"exchange_active": True, "trading_active": True}
            headers = {"date": format_datetime(now + offset, usegmt=True)}
            return httpx.Response(200, json=body, headers=headers)

        opts = _opts(clock=clock, exchange_transport=httpx.MockTransport(handler))
        return _by_name(await _doctor(settings, opts))["clock skew"]

    far = await skew_of(timedelta(seconds=90))
    assert far.level is Level.FAIL and "+90.0 to +92.0 s" in far.message
    assert "timedatectl set-ntp true" in far.hint
    assert (await skew_of(timedelta(seconds=-5))).level is Level.WARN
    assert (await skew_of(timedelta(seconds=-3))).level is Level.OK  # within the slack
    assert (await skew_of(timedelta(0))).level is Level.OK


async def test_nws_failure_is_a_warning_that_says_no_network(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    settings = _local(tmp_path, free_port())
    opts = DoctorOptions(nws_transport=httpx.MockTransport(refuse), timeout=2.0)
    nws = _by_name(await _doctor(settings, opts))["nws"]
    assert nws.level is Level.WARN and nws.message.startswith("skipped/failed: no network")
    skipped = _by_name(await _doctor(settings, DoctorOptions(check_nws=False)))["nws"]
    assert skipped.level is Level.SKIP


async def test_trader_health_endpoint(tmp_path: Path) -> None:
    body: dict[str, Any] = {"healthy": True, "mode": "demo", "steps": 12, "last_error": ""}
    async for url in serve_in_loop(health_app(lambda: body, CollectorRegistry())):
        port = int(url.rsplit(":", 1)[1])
        settings = sqlite_settings_at(
            tmp_path / "var", exchange_port=free_port(), trader_health_port=port
        )
        trader = _by_name(await _doctor(settings, _opts()))["trader"]
        assert trader.level is Level.OK and "mode demo, 12 steps" in trader.message
        body.update(healthy=False, last_error="UpstreamError: boom")
        trader = _by_name(await _doctor(settings, _opts()))["trader"]
        assert trader.level is Level.FAIL and "HTTP 503" in trader.message
        assert "UpstreamError: boom" in trader.message


async def test_configuration_error_is_one_clear_failure() -> None:
    def load() -> Settings:
        raise ConfigError("invalid configuration: venue: Input should be 'local', 'demo' or 'prod'")

    checks = await run_doctor(load, _opts())
    assert [(c.name, c.level) for c in checks] == [("config", Level.FAIL)]
    assert "venue" in checks[0].message and exit_code(checks) == 1


def test_trading_mode_matches_what_the_trader_accepts(tmp_path: Path, key_file: Path) -> None:
    from milkbot.ops.doctor import check_trading_mode

    check = check_trading_mode(_local(tmp_path, 1, live_trading=True))
    assert check.level is Level.WARN and "no effect" in check.message
    key = {"kalshi_key_id": KEY_ID, "kalshi_private_key_path": key_file}
    refused = check_trading_mode(_local(tmp_path, 1, venue="demo", **key))
    assert refused.level is Level.FAIL and "the trader refuses to start" in refused.message
    live = check_trading_mode(_local(tmp_path, 1, venue="prod", live_trading=True, **key))
    assert live.level is Level.OK and "LIVE trading on Kalshi prod with real money" in live.message
    watch = check_trading_mode(_local(tmp_path, 1, venue="prod"))
    assert watch.level is Level.OK and "no orders" in watch.message


def test_doctor_cli_json_and_exit_code(tmp_path: Path) -> None:
    env = cli_env(
        MILKBOT_DATA_DIR=str(tmp_path / "var"),
        MILKBOT_EXCHANGE_PORT=str(free_port()),
        MILKBOT_TRADER_HEALTH_PORT=str(free_port()),
    )
    result = CliRunner().invoke(ops_app(), ["doctor", "--json", "--no-nws"], env=env)
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False
    statuses = {c["check"]: c["status"] for c in body["checks"]}
    assert statuses["database"] == "FAIL" and statuses["nws"] == "SKIP"
    bad = CliRunner().invoke(
        ops_app(), ["doctor", "--no-nws"], env={**env, "MILKBOT_VENUE": "moon"}
    )
    assert bad.exit_code == 1
    assert bad.stdout.startswith("FAIL  config  invalid configuration")


@pytest.mark.postgres
async def test_postgres_database_and_api_role(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=pg_url,
        data_dir=tmp_path / "var",
        exchange_port=free_port(),
        trader_health_port=free_port(),
        _env_file=None,
    )
    upgrade(settings)
    got = _by_name(await _doctor(settings, _opts()))
    assert got["database"].level is Level.OK
    assert got["api read-only"].level is Level.OK
    assert got["api read-only"].message.startswith(f"role {API_ROLE} reads analytics only")
    # The API pointed at the owner's URL can read trading: a failure.
    owner = settings.model_copy(update={"api_database_url": settings.trading_url})
    api = _by_name(await _doctor(owner, _opts()))["api read-only"]
    assert api.level is Level.FAIL and "can use the trading schema" in api.message
