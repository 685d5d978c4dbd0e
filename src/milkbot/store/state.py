"""The trader's small durable key-value state (``trading.trader_state``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from milkbot.store.models import TraderState


async def read_state(session: AsyncSession, key: str) -> dict[str, Any]:
    """The value stored under ``key``, or an empty dict."""
    row = await session.get(TraderState, key)
    return {} if row is None else dict(row.value)


async def write_state(session: AsyncSession, key: str, value: dict[str, Any], at: datetime) -> None:
    """Insert or replace the value under ``key`` (flushed, not committed)."""
    row = await session.get(TraderState, key)
    if row is None:
        session.add(TraderState(key=key, value=value, updated_at=at))
    else:
        row.value = value
        row.updated_at = at
    await session.flush()
