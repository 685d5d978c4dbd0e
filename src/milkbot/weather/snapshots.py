"""Persist weather snapshots in the trading schema and read them back as of a time.

The stored payload is the raw response decoded as UTF-8 (every provider answers JSON or
text); reading a row back re-checks its SHA-256, so a replay can prove it saw exactly what
the trader saw.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from milkbot.domain.weather import WeatherSnapshot
from milkbot.errors import DataError
from milkbot.store import models


async def record_snapshot(session: AsyncSession, snap: WeatherSnapshot) -> None:
    """Add one snapshot to the session (flushed; the caller commits)."""
    try:
        text = snap.payload.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"snapshot {snap.url} is not UTF-8; refusing a lossy copy") from None
    session.add(
        models.WeatherSnapshot(
            source=snap.source,
            kind=snap.kind,
            station=snap.station,
            issued_at=snap.issued_at,
            retrieved_at=snap.retrieved_at,
            url=snap.url,
            payload_sha256=snap.payload_sha256,
            payload=text,
        )
    )
    await session.flush()


def _to_domain(row: models.WeatherSnapshot) -> WeatherSnapshot:
    return WeatherSnapshot(
        source=row.source,
        station=row.station,
        kind=row.kind,
        url=row.url or "",
        issued_at=row.issued_at,
        retrieved_at=row.retrieved_at,
        payload_sha256=row.payload_sha256,
        payload=row.payload.encode("utf-8"),
    )


async def snapshots_as_of(
    session: AsyncSession,
    station: str,
    as_of: datetime,
    *,
    kind: str | None = None,
    source: str | None = None,
) -> list[WeatherSnapshot]:
    """Snapshots of a station retrieved at or before ``as_of``, oldest first.

    Raises :class:`DataError` when a stored payload no longer matches its hash.
    """
    query = select(models.WeatherSnapshot).where(
        models.WeatherSnapshot.station == station,
        models.WeatherSnapshot.retrieved_at <= as_of,
    )
    if kind is not None:
        query = query.where(models.WeatherSnapshot.kind == kind)
    if source is not None:
        query = query.where(models.WeatherSnapshot.source == source)
    query = query.order_by(models.WeatherSnapshot.retrieved_at, models.WeatherSnapshot.id)
    rows = (await session.execute(query)).scalars().all()
    return [_to_domain(r) for r in rows]
