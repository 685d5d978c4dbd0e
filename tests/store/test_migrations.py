"""The same migrations on SQLite and PostgreSQL, and the API role's isolation."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from milkbot.settings import Settings
from milkbot.store.engine import API_ROLE, create_trading_sync_engine, sync_url
from milkbot.store.migrate import current_revision, head_revision, upgrade
from milkbot.store.models import Fill, PublicTrade

TRADING_TABLES = {
    "forecast_issues",
    "intents",
    "operator_commands",
    "orders",
    "order_events",
    "fills",
    "positions",
    "audit_records",
    "market_snapshots",
    "weather_snapshots",
    "trader_state",
}
ANALYTICS_TABLES = {
    "bracket_quotes",
    "weather_readings",
    "trades",
    "strategy_forecasts",
    "equity_points",
    "settlements",
    "heartbeats",
}


def _fill(fill_id: str) -> Fill:
    return Fill(
        venue_fill_id=fill_id,
        venue_order_id="o1",
        client_order_id="c1",
        market_ticker="KXHIGHNY-25JAN10-B49.5",
        side="yes",
        action="buy",
        price=Decimal("0.42"),
        count=Decimal("13.00"),
        fee=Decimal("0.160000"),
        is_taker=True,
        ts=datetime(2025, 1, 10, 15, tzinfo=UTC),
    )


def test_sqlite_upgrade_creates_both_schemas_in_two_files(sqlite_settings: Settings) -> None:
    assert current_revision(sqlite_settings) is None
    assert upgrade(sqlite_settings) == head_revision()
    assert upgrade(sqlite_settings) == head_revision()  # idempotent

    main = sqlite3.connect(sqlite_settings.data_dir / "milkbot.db")
    tables = {r[0] for r in main.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables >= TRADING_TABLES
    assert not tables & ANALYTICS_TABLES
    assert main.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    analytics = sqlite3.connect(sqlite_settings.analytics_sqlite_path)
    a_tables = {
        r[0] for r in analytics.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert a_tables == ANALYTICS_TABLES


def test_sqlite_money_round_trips_exactly_and_fills_are_unique(sqlite_settings: Settings) -> None:
    upgrade(sqlite_settings)
    engine = create_trading_sync_engine(sqlite_settings)
    with Session(engine) as s:
        s.add(_fill("f1"))
        s.commit()
        got = s.scalars(select(Fill)).one()
        assert got.price == Decimal("0.420000") and got.count == Decimal("13")
        assert got.ts.tzinfo is not None
        s.add(_fill("f1"))
        with pytest.raises(IntegrityError):
            s.commit()
    engine.dispose()


def test_sqlite_money_rejects_floats(sqlite_settings: Settings) -> None:
    upgrade(sqlite_settings)
    engine = create_trading_sync_engine(sqlite_settings)
    fill = _fill("f2")
    fill.price = 0.42  # type: ignore[assignment]
    with Session(engine) as s, pytest.raises(Exception, match="never a float"):
        s.add(fill)
        s.commit()
    engine.dispose()


def test_sqlite_api_file_is_read_only(sqlite_settings: Settings) -> None:
    upgrade(sqlite_settings)
    path = sqlite_settings.analytics_sqlite_path.resolve()
    ro = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with ro.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trades")).scalar() == 0
        with pytest.raises(OperationalError, match="readonly"):
            conn.execute(text("DELETE FROM trades"))
        # The trading tables are not in the API's file at all.
        with pytest.raises(OperationalError, match="no such table"):
            conn.execute(text("SELECT * FROM orders"))
    ro.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_and_api_role_isolation(pg_url: str) -> None:
    settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    assert upgrade(settings) == head_revision()
    assert upgrade(settings) == head_revision()

    owner = create_engine(sync_url(pg_url))
    insp = inspect(owner)
    assert set(insp.get_table_names(schema="trading")) >= TRADING_TABLES
    assert set(insp.get_table_names(schema="analytics")) == ANALYTICS_TABLES
    with Session(owner) as s:
        s.add(_fill("pg1"))
        s.add(
            PublicTrade(
                ts=datetime(2025, 1, 10, 15, tzinfo=UTC),
                city="NYC",
                event_date=date(2025, 1, 10),
                market_ticker="KXHIGHNY-25JAN10-B49.5",
                bracket="49° to 50°",
                side="yes",
                action="buy",
                price=Decimal("0.42"),
                count=Decimal(13),
                fee=Decimal("0.16"),
                strategy="ensemble",
                model_prob=0.5,
            )
        )
        s.commit()
        assert s.scalars(select(Fill.price)).one() == Decimal("0.420000")
    owner.dispose()

    api = create_engine(sync_url(pg_url).replace("postgres@", f"{API_ROLE}@"))
    with api.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == API_ROLE
        assert conn.execute(text("SELECT count(*) FROM analytics.trades")).scalar() == 1
    for statement in (
        "SELECT * FROM trading.fills",
        "SELECT * FROM trading.orders",
        "INSERT INTO analytics.heartbeats VALUES ('x', now(), 'demo', 0, 0)",
        "DELETE FROM analytics.trades",
        "CREATE TABLE analytics.sneaky (id int)",
    ):
        with api.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(statement))
    api.dispose()
