"""Deterministic identities: decision slots, intent ids and client order ids.

Deciding twice in one slot (a retry, a restart) yields the same intent id, hence the same
``client_order_id``; the database and the exchange both refuse the repeat.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from milkbot.domain.intents import Side
from milkbot.domain.portfolio import Action

DEFAULT_SLOT_MINUTES = 15


def decision_slot(t: datetime, minutes: int = DEFAULT_SLOT_MINUTES) -> str:
    """The decision slot containing ``t``: its UTC start, e.g. ``20250406T1415``."""
    if minutes <= 0:
        raise ValueError("slot minutes must be positive")
    u = t.astimezone(UTC)
    start = (u.hour * 60 + u.minute) // minutes * minutes
    return f"{u:%Y%m%d}T{start // 60:02d}{start % 60:02d}"


def intent_id(strategy_run: str, market_ticker: str, side: Side, action: Action, slot: str) -> str:
    """Deterministic intent id of (strategy run, market, side, action, decision slot)."""
    key = f"{strategy_run}|{market_ticker}|{side.value}|{action.value}|{slot}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def client_order_id(intent: str) -> str:
    """The ``client_order_id`` of an intent's order (one order per intent)."""
    return f"mb-{intent}"
