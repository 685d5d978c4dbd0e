"""The deployment files in ``deploy/``: units, environment template, reverse proxies."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from milkbot.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("milkbot-trader.service", "milkbot-api.service", "milkbot-dashboard.service")
PRIVATE_PORTS = ("8000", "9101", "8100")
DATA_DIR = "/var/lib/milkbot"
ENV_FILE = "/etc/milkbot/milkbot.env"
SETTING = re.compile(r"^\s*#?\s*(MILKBOT_[A-Z0-9_]+)=", re.MULTILINE)


def _unit(name: str) -> configparser.ConfigParser:
    """Parse a unit; refuse repeated keys, which configparser would silently collapse."""
    text = (DEPLOY / name).read_text()
    section = ""
    seen: set[tuple[str, str]] = set()
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.lstrip().startswith(("#", ";")):
            key = (section, line.split("=", 1)[0].strip())
            assert key not in seen, f"{name}: {key} repeated"
            seen.add(key)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def _environment(service: configparser.SectionProxy) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(service.get("Environment", "")))


def _parse_command_line(args: list[str]) -> None:
    """Resolve ``milkbot ARGS`` against the real CLI and parse its options (no invocation).

    Raises if the subcommand does not exist or an option is unknown or malformed.
    """
    import importlib

    from milkbot.cli import _COMMAND_MODULES

    app = typer.Typer()
    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(app)
    command: Any = typer.main.get_command(app)
    name, rest = "milkbot", list(args)
    while hasattr(command, "list_commands"):  # a group: descend into the named subcommand
        ctx = command.context_class(command, info_name=name)
        name, rest = rest[0], rest[1:]
        assert name in command.list_commands(ctx), f"no milkbot subcommand {name!r}"
        command = command.get_command(ctx, name)
    command.make_context(name, rest)


@pytest.mark.parametrize("name", UNITS)
def test_unit_runs_a_real_milkbot_command_hardened(name: str) -> None:
    unit = _unit(name)
    service = unit["Service"]
    assert service["User"] == "milkbot"
    assert service["Restart"] == "on-failure"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
    }.items():
        assert service[key] == value, (name, key)
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/milkbot/.venv/bin/milkbot"
    _parse_command_line(argv[1:])
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_trader_and_api_read_the_environment_file_and_write_only_the_data_dir() -> None:
    for name in ("milkbot-trader.service", "milkbot-api.service"):
        service = _unit(name)["Service"]
        assert service["EnvironmentFile"] == ENV_FILE
        assert service["ReadWritePaths"].split() == [DATA_DIR]


def test_api_is_bound_to_loopback_without_trading_credentials() -> None:
    service = _unit("milkbot-api.service")["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    unset = set(service["UnsetEnvironment"].split())
    assert {"MILKBOT_KALSHI_KEY_ID", "MILKBOT_KALSHI_PRIVATE_KEY_PATH"} <= unset
    assert "/etc/milkbot" in service["InaccessiblePaths"].split()


def test_dashboard_environment_holds_no_credentials() -> None:
    service = _unit("milkbot-dashboard.service")["Service"]
    assert "EnvironmentFile" not in service and "PassEnvironment" not in service
    env = _environment(service)
    assert env == {"MILKBOT_API_URL": "http://127.0.0.1:8000"}
    assert not [k for k in env if k.startswith(("MILKBOT_KALSHI", "KALSHI")) or "DATABASE" in k]
    argv = shlex.split(service["ExecStart"])
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    hidden = service["InaccessiblePaths"].split()
    assert {"/etc/milkbot", DATA_DIR} <= set(hidden)
    assert service["IPAddressDeny"] == "any" and service["IPAddressAllow"] == "localhost"


def test_env_example_names_every_setting_and_nothing_else() -> None:
    text = (DEPLOY / "milkbot.env.example").read_text()
    named = SETTING.findall(text)
    assert len(named) == len(set(named)), "a setting is listed twice"
    fields = {f"MILKBOT_{name.upper()}" for name in Settings.model_fields}
    assert set(named) <= fields, f"not settings: {set(named) - fields}"
    assert fields <= set(named), f"missing: {fields - set(named)}"
    assert re.search(rf"^MILKBOT_DATA_DIR={DATA_DIR}$", text, re.MULTILINE)
    # Nothing that looks like a secret is filled in.
    for line in text.splitlines():
        if line.startswith(("MILKBOT_KALSHI_KEY_ID=", "MILKBOT_OPENMETEO_API_KEY=")):
            pytest.fail(f"a credential is set in the template: {line}")
    assert "BEGIN" not in text and "PRIVATE KEY" not in text


def test_env_example_loads_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every uncommented line is a valid value (pydantic reads the file like a .env)."""
    for var in [v for v in os.environ if v.startswith("MILKBOT_")]:
        monkeypatch.delenv(var)
    settings = Settings(_env_file=DEPLOY / "milkbot.env.example")
    assert str(settings.data_dir) == DATA_DIR and settings.venue == "demo"
    assert settings.nws_user_agent == "milkbot/0.1 (ops@example.com)"
    assert not settings.live_trading


def _proxied_ports(text: str) -> list[str]:
    targets = re.findall(r"(?:proxy_pass|reverse_proxy)\s+(\S+?);?\s*$", text, re.MULTILINE)
    assert targets, "no proxy target found"
    ports = []
    for target in targets:
        m = re.search(r":(\d+)", target.removeprefix("http://"))
        assert m is not None, target
        ports.append(m.group(1))
    return ports


@pytest.mark.parametrize("name", ["Caddyfile", "nginx.conf"])
def test_proxies_expose_only_the_dashboard(name: str) -> None:
    text = (DEPLOY / name).read_text()
    ports = _proxied_ports(text)
    assert set(ports) == {"8501"}
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    for port in PRIVATE_PORTS:
        assert f":{port}" not in code, f"{name} mentions private port {port}"


def test_nginx_upgrades_the_streamlit_websocket() -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    block = re.search(r"location /_stcore/stream \{(.*?)\}", text, re.DOTALL)
    assert block is not None
    body = block.group(1)
    assert "proxy_http_version 1.1;" in body
    assert "proxy_set_header Upgrade $http_upgrade;" in body
    assert "proxy_set_header Connection $connection_upgrade;" in body
    assert re.search(r"map \$http_upgrade \$connection_upgrade", text)


def test_unit_command_lines_are_really_checked() -> None:
    _parse_command_line(["db", "current"])
    with pytest.raises(AssertionError, match="no milkbot subcommand 'traders'"):
        _parse_command_line(["traders"])
    with pytest.raises(Exception, match="No such option"):
        _parse_command_line(["api", "--hots", "127.0.0.1"])


def test_ops_wrapper_is_valid_shell_running_the_units_binary() -> None:
    script = DEPLOY / "milkbot-ops"
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    assert ENV_FILE in text and "runuser -u milkbot" in text
    assert "/opt/milkbot/.venv/bin/milkbot" in text
