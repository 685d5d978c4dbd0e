"""The `milkbot` command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from milkbot.store.migrate import head_revision


def _milkbot(
    *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **(env_extra or {})}
    env.pop("MILKBOT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "milkbot", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_help_lists_every_service_command() -> None:
    out = _milkbot("--help")
    assert out.returncode == 0, out.stderr
    listed = {
        line.split()[1]
        for line in out.stdout.splitlines()
        if line.startswith("│ ") and not line.startswith("│  ")
    }
    assert {"trader", "api", "dashboard", "demo", "db", "exchange"} <= listed


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    env = {"MILKBOT_DATA_DIR": str(tmp_path / "var")}
    before = _milkbot("db", "current", env_extra=env)
    assert before.returncode == 1 and "not migrated" in before.stdout
    up = _milkbot("db", "upgrade", env_extra=env)
    assert up.returncode == 0, up.stderr
    assert f"is at revision {head_revision()}" in up.stdout
    after = _milkbot("db", "current", env_extra=env)
    assert after.returncode == 0 and f"current: {head_revision()}" in after.stdout


def test_bad_configuration_is_a_clear_error_with_exit_code_2(tmp_path: Path) -> None:
    out = _milkbot(
        "db", "upgrade", env_extra={"MILKBOT_VENUE": "moon", "MILKBOT_DATA_DIR": str(tmp_path)}
    )
    assert out.returncode == 2
    assert "configuration error" in out.stderr and "Traceback" not in out.stderr


def test_trader_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    out = _milkbot("trader", env_extra={"MILKBOT_DATA_DIR": str(tmp_path / "var")})
    assert out.returncode == 1
    assert "milkbot db upgrade" in out.stderr


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    import logging

    import structlog

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("_restore_logging")
@pytest.mark.parametrize("key", ["api_key", "signature", "password", "authorization"])
def test_secrets_are_redacted_from_logs(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    from milkbot.logging import configure_logging, get_logger

    configure_logging(fmt="json")
    get_logger("t").info("connected", **{key: "hunter2", "key_id": "abc"})
    err = capsys.readouterr().err
    assert "hunter2" not in err and '"***"' in err and '"abc"' in err
