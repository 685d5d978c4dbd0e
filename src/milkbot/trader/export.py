"""Export of sanitized rows to the analytics schema through a bounded queue.

Trading never waits for the export: when the queue is full a row is dropped and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from milkbot.logging import get_logger
from milkbot.store.base import Base

log = get_logger(__name__)


class Exporter:
    """Buffers analytics rows and writes them in batches."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        maxsize: int = 10_000,
        batch: int = 500,
    ) -> None:
        self._sessions = sessions
        self._queue: asyncio.Queue[Base] = asyncio.Queue(maxsize=maxsize)
        self._batch = batch
        self.exported = 0
        self.dropped = 0

    def offer(self, rows: Sequence[Base]) -> None:
        """Queue rows for export; never blocks, drops (and counts) when full."""
        for row in rows:
            try:
                self._queue.put_nowait(row)
            except asyncio.QueueFull:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("alert_export_dropped", dropped=self.dropped)

    async def flush(self) -> int:
        """Write everything queued now; return the number of rows written."""
        rows: list[Base] = []
        while not self._queue.empty() and len(rows) < self._batch:
            rows.append(self._queue.get_nowait())
        if not rows:
            return 0
        async with self._sessions() as session:
            for row in rows:
                await session.merge(row)
            await session.commit()
        self.exported += len(rows)
        return len(rows)

    async def drain(self) -> None:
        """Flush until the queue is empty (shutdown)."""
        while await self.flush():
            pass

    @property
    def pending(self) -> int:
        """Rows waiting in the queue."""
        return self._queue.qsize()
