"""Fixtures for the Kalshi client tests: recorded payloads, spec schemas, keys, fake time."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from milkbot.clock import FixedClock

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi"
SPEC = FIXTURES / "spec"


def load_raw(name: str) -> Any:
    """A recorded file as stored (with its recorder's wrapper keys)."""
    return json.loads((FIXTURES / name).read_text())


def load_payload(name: str) -> Any:
    """The API response inside a recorded file (``response``/``payload`` unwrapped)."""
    raw = load_raw(name)
    if isinstance(raw, dict):
        for key in ("response", "payload"):
            if key in raw:
                return raw[key]
    return raw


def spec_schemas(page: str) -> dict[str, Any]:
    """The ``components.schemas`` of one vendored 3.28.0 OpenAPI docs page."""
    text = (SPEC / page).read_text()
    block = re.search(r"````yaml[^\n]*\n(.*?)````", text, re.S)
    assert block is not None, page
    doc = yaml.safe_load(block.group(1))
    schemas: dict[str, Any] = doc["components"]["schemas"]
    return schemas


def spec_schema(page: str, name: str) -> dict[str, Any]:
    """A JSON schema from a docs page, with local ``$ref``s resolvable."""
    schemas = spec_schemas(page)
    return {**schemas[name], "components": {"schemas": schemas}}


def asyncapi() -> dict[str, Any]:
    """The vendored AsyncAPI document."""
    doc: dict[str, Any] = yaml.safe_load((SPEC / "asyncapi-2026-08-22.yaml").read_text())
    return doc


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for this test session (never a real credential)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeTime:
    """A fixed clock whose async sleep advances it, recording every sleep."""

    clock: FixedClock = field(
        default_factory=lambda: FixedClock(datetime(2026, 7, 11, 15, 0, tzinfo=UTC))
    )
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


@pytest.fixture
def fake_time() -> FakeTime:
    """Deterministic time for rate limiting and backoff."""
    return FakeTime()
