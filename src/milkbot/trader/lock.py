"""One trader per account: an exclusive file lock plus, on PostgreSQL, an advisory lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from milkbot.errors import StorageError

ADVISORY_KEY = 0x4D494C4B  # "MILK"


class TraderLock:
    """Held for the trader's lifetime; a second trader on the same data fails to start."""

    def __init__(self, lock_path: Path, engine: AsyncEngine) -> None:
        self._path = lock_path
        self._engine = engine
        self._file: IO[str] | None = None
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> None:
        """Take both locks or raise :class:`StorageError` naming the holder."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StorageError(f"another trader holds {self._path} (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        if self._engine.dialect.name == "postgresql":
            conn = await self._engine.connect()
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})
            if not got:
                await conn.close()
                self._release_file()
                raise StorageError("another trader holds the database advisory lock")
            self._conn = conn

    def _release_file(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    async def release(self) -> None:
        """Release both locks (idempotent)."""
        if self._conn is not None:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            await self._conn.close()
            self._conn = None
        self._release_file()
