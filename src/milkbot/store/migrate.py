"""Apply the Alembic migrations to the configured database (``milkbot db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from milkbot.errors import StorageError
from milkbot.settings import Settings
from milkbot.store.base import ANALYTICS, TRADING
from milkbot.store.engine import create_trading_sync_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of Milkbot."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(settings: Settings, revision: str = "head") -> str:
    """Migrate the database to ``revision``; return the revision it is at afterwards."""
    engine = create_trading_sync_engine(settings)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                for schema in (TRADING, ANALYTICS):
                    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return current_revision(settings) or ""
    except SQLAlchemyError as e:
        raise StorageError(f"migration failed on {engine.url.render_as_string()}: {e}") from e
    finally:
        engine.dispose()


def current_revision(settings: Settings) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    engine = create_trading_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as e:
        raise StorageError(f"cannot read the schema revision: {e}") from e
    finally:
        engine.dispose()
