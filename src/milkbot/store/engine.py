"""Engines for the trader (both schemas) and the Analytics API (the analytics schema, read-only).

On SQLite the trading schema is the main file and the analytics schema its own file, attached
as ``analytics``; WAL mode lets the API read while the trader writes. On PostgreSQL both are
schemas of one database and the API connects as a role that can only SELECT ``analytics``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from milkbot.settings import Settings
from milkbot.store.base import ANALYTICS, TRADING

API_ROLE = "milkbot_api"

# On SQLite the trading schema lives in the main database file.
SQLITE_TRANSLATE = {TRADING: None}


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise ValueError("Milkbot needs a file-backed SQLite database")
    return Path(url.database)


def _install_sqlite_pragmas(sync_engine: Engine, analytics_file: Path | None) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        if analytics_file is not None:
            cur.execute("ATTACH DATABASE ? AS analytics", (str(analytics_file),))
            cur.execute("PRAGMA analytics.journal_mode=WAL")
        cur.close()


def sync_url(url: str) -> str:
    """The synchronous-driver form of an async URL (for migrations and tools)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite")
    elif parsed.drivername == "postgresql+psycopg_async":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _prepare_sqlite(settings: Settings) -> Path:
    main = _sqlite_file(make_url(settings.trading_url))
    main.parent.mkdir(parents=True, exist_ok=True)
    return settings.analytics_sqlite_path


def create_trading_sync_engine(settings: Settings) -> Engine:
    """A synchronous engine over both schemas (migrations, operator commands, tests)."""
    url = sync_url(settings.trading_url)
    if settings.is_sqlite:
        analytics = _prepare_sqlite(settings)
        engine = create_engine(url).execution_options(schema_translate_map=SQLITE_TRANSLATE)
        _install_sqlite_pragmas(engine, analytics)
        return engine
    return create_engine(url, pool_pre_ping=True)


def create_trading_engine(settings: Settings) -> AsyncEngine:
    """The trader's async engine over both schemas."""
    if settings.is_sqlite:
        analytics = _prepare_sqlite(settings)
        engine = create_async_engine(settings.trading_url).execution_options(
            schema_translate_map=SQLITE_TRANSLATE
        )
        _install_sqlite_pragmas(engine.sync_engine, analytics)
        return engine
    return create_async_engine(settings.trading_url, pool_pre_ping=True)


def api_database_url(settings: Settings) -> str:
    """The URL the Analytics API connects with.

    SQLite: the analytics file opened read-only. PostgreSQL: ``MILKBOT_API_DATABASE_URL``, or
    the trading URL with the user replaced by the read-only role.
    """
    if settings.api_database_url is not None:
        return settings.api_database_url
    if settings.is_sqlite:
        path = settings.analytics_sqlite_path.resolve()
        return f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    url = make_url(settings.trading_url).set(username=API_ROLE, password=None)
    return url.render_as_string(hide_password=False)


def create_api_engine(settings: Settings) -> AsyncEngine:
    """The Analytics API's engine: it can only read the analytics schema."""
    url = api_database_url(settings)
    if url.startswith("sqlite"):
        engine = create_async_engine(url).execution_options(schema_translate_map={ANALYTICS: None})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA query_only=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """One sessionmaker per process; one session per unit of work."""
    return async_sessionmaker(engine, expire_on_commit=False)
