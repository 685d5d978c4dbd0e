"""Build Kalshi REST and WebSocket clients from :class:`~milkbot.settings.Settings`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from milkbot.clock import Clock
from milkbot.errors import ConfigError
from milkbot.settings import Settings
from milkbot.venues.kalshi.auth import KalshiAuth, load_private_key
from milkbot.venues.kalshi.client import KalshiClient
from milkbot.venues.kalshi.websocket import KalshiWebSocket, WsEvent


def auth_from_settings(settings: Settings, clock: Clock | None = None) -> KalshiAuth | None:
    """Signing from ``kalshi_key_id`` and ``kalshi_private_key_path``, or None when unset.

    Raises
    ------
    ConfigError
        If only one of the two is set, or the key file is unsafe or unreadable.
    """
    key_id, path = settings.kalshi_key_id, settings.kalshi_private_key_path
    if key_id is None and path is None:
        return None
    if key_id is None or path is None:
        raise ConfigError("set both MILKBOT_KALSHI_KEY_ID and MILKBOT_KALSHI_PRIVATE_KEY_PATH")
    return KalshiAuth(key_id, load_private_key(path), clock)


def client_from_settings(
    settings: Settings, *, clock: Clock | None = None, **kwargs: Any
) -> KalshiClient:
    """A REST client for the configured venue (local exchange, demo or prod)."""
    return KalshiClient(
        settings.exchange_url, auth=auth_from_settings(settings, clock), clock=clock, **kwargs
    )


def websocket_from_settings(
    settings: Settings,
    on_event: Callable[[WsEvent], None] | None = None,
    *,
    clock: Clock | None = None,
    **kwargs: Any,
) -> KalshiWebSocket:
    """A WebSocket client for the configured venue; ``on_event`` receives every event."""
    return KalshiWebSocket(
        settings.exchange_ws_url,
        auth=auth_from_settings(settings, clock),
        on_event=on_event,
        clock=clock,
        **kwargs,
    )
