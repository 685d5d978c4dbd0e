"""The dashboard's only input: the Analytics API, over HTTP."""

from __future__ import annotations

import os
from typing import Any

import httpx

API_URL_ENV = "MILKBOT_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000"


def api_url() -> str:
    """The Analytics API base URL (``MILKBOT_API_URL``), the dashboard's only setting."""
    return os.environ.get(API_URL_ENV, DEFAULT_API_URL).rstrip("/")


class ApiUnavailable(Exception):
    """The Analytics API could not be reached or answered with an error."""


def fetch(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> Any:
    """GET a JSON document from the API; raise :class:`ApiUnavailable` on any failure."""
    try:
        response = client.get(path, params=params)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as e:
        raise ApiUnavailable(f"{path}: {e}") from e
