"""The trader's private ``/health`` and Prometheus ``/metrics`` endpoints (loopback only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def health_app(status: Callable[[], dict[str, Any]], registry: CollectorRegistry) -> Starlette:
    """An ASGI app reporting ``status()`` at ``/health`` (503 unless healthy)."""

    async def health(_request: Request) -> Response:
        body = status()
        return JSONResponse(body, status_code=200 if body.get("healthy") else 503)

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/health", health), Route("/metrics", metrics)])
