"""``milkbot exchange`` as a real process: starts on the bundle, runs the clock, verifies keys."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot.errors import ConfigError
from milkbot.venues.exchange.commands import parse_public_keys

from .conftest import KEY_ID, signed_headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_public(key: rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_parse_public_keys(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> None:
    pem = _write_public(private_key, tmp_path / "k.pem")
    keys = parse_public_keys([f"abc={pem}", str(pem)])
    assert set(keys) == {"abc", "*"}
    with pytest.raises(ConfigError):
        parse_public_keys([str(tmp_path / "missing.pem")])
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError):
        parse_public_keys([str(tmp_path / "bad.pem")])


@pytest.mark.slow
def test_exchange_command_serves_the_bundle(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> None:
    pem = _write_public(private_key, tmp_path / "k.pem")
    port = _free_port()
    cmd = [sys.executable, "-m", "milkbot", "exchange", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--speed", "3600", "--start", "2025-04-06T12:00:00Z", "--public-key", f"{KEY_ID}={pem}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as http:
            for _ in range(150):
                try:
                    first = http.get("/health").json()
                    break
                except httpx.HTTPError:
                    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                    time.sleep(0.1)
            else:
                raise AssertionError("exchange did not start")
            time.sleep(0.5)
            second = http.get("/health").json()
            t0 = datetime.fromisoformat(first["sim_time"].replace("Z", "+00:00"))
            t1 = datetime.fromisoformat(second["sim_time"].replace("Z", "+00:00"))
            assert t0.isoformat() >= "2025-04-06T12:00:00+00:00"
            assert (t1 - t0).total_seconds() > 60  # accelerated: 3600 x wall time
            assert second["prints_replayed"] > 0
            path = "/trade-api/v2/portfolio/balance"
            assert http.get(path).status_code == 401
            ok = http.get(path, headers=signed_headers(private_key, KEY_ID, "GET", path))
            assert ok.status_code == 200 and ok.json()["balance_dollars"] == "1000.0000"
    finally:
        proc.terminate()
        proc.wait(10)
