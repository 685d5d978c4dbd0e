"""Factories for the weather tests: recorded NWS payloads served by a mock transport."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NWS_API = FIXTURES / "nws" / "api"
NWS_CLI = FIXTURES / "nws" / "cli"

_RELATIVE_HOURS = re.compile(r'"date:now:hour \+(\d+) hours"')


def resolve_relative_times(raw: str, now_hour: datetime) -> str:
    """Replace the weather.gov proxy's ``date:now:hour +N hours`` placeholders.

    The team that published these payloads rewrote their time fields this way; we put back
    absolute timestamps relative to ``now_hour`` (an aware datetime on the hour), exactly as
    their proxy does when it serves them.
    """

    def repl(m: re.Match[str]) -> str:
        return '"' + (now_hour + timedelta(hours=int(m[1]))).isoformat() + '"'

    return _RELATIVE_HOURS.sub(repl, raw)


def nws_json(name: str) -> Any:
    """A recorded api.weather.gov payload from tests/fixtures/nws/api."""
    return json.loads((NWS_API / name).read_text())


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Upstream:
    """A mock transport that answers by URL path and records every request."""

    routes: dict[str, list[Handler]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def add(self, path: str, *handlers: Handler) -> None:
        """Answer ``path`` with the handlers in turn (the last one repeats)."""
        self.routes.setdefault(path, []).extend(handlers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get(request.url.path)
        if not queue:
            return httpx.Response(404, json={"title": "Not Found", "status": 404})
        handler = queue.pop(0) if len(queue) > 1 else queue[0]
        return handler(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def body(payload: Any, status: int = 200, **headers: str) -> Handler:
    """A handler returning a JSON or raw-bytes body with headers (``cache_control=`` etc.)."""
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=hdrs)

    return handler


@pytest.fixture
def upstream() -> Upstream:
    """A fresh recording upstream."""
    return Upstream()


@pytest.fixture
def start_time() -> datetime:
    """A fixed test instant (on the hour)."""
    return datetime(2024, 2, 23, 19, 0, tzinfo=UTC)
