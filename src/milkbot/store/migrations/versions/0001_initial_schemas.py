"""Initial trading and analytics schemas, and the read-only role of the Analytics API

Revision ID: 0001
Revises:
Create Date: 2026-11-24 09:13:27.742570
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from milkbot.store.base import Money, UtcDateTime
from milkbot.store.engine import API_ROLE

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bracket_quotes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("city", sa.String(length=8), nullable=False),
        sa.Column("event_ticker", sa.String(length=64), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("bracket", sa.String(length=32), nullable=False),
        sa.Column("bracket_low", sa.Integer(), nullable=True),
        sa.Column("bracket_high", sa.Integer(), nullable=True),
        sa.Column("market_prob", sa.Float(), nullable=True),
        sa.Column("model_prob", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bracket_quotes")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_bracket_quotes_ts"),
        "bracket_quotes",
        ["ts"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        "ix_bracket_quotes_city_ts",
        "bracket_quotes",
        ["city", "ts"],
        unique=False,
        schema="analytics",
    )

    op.create_table(
        "equity_points",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("realized_pnl", Money(precision=18, scale=6), nullable=False),
        sa.Column("unrealized_pnl", Money(precision=18, scale=6), nullable=False),
        sa.Column("fees", Money(precision=18, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_points")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_equity_points_ts"),
        "equity_points",
        ["ts"],
        unique=False,
        schema="analytics",
    )

    op.create_table(
        "heartbeats",
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("exported_rows", sa.Integer(), nullable=False),
        sa.Column("dropped_rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service", name=op.f("pk_heartbeats")),
        schema="analytics",
    )
    op.create_table(
        "settlements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("city", sa.String(length=8), nullable=False),
        sa.Column("event_ticker", sa.String(length=64), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("settled_value_f", sa.Integer(), nullable=True),
        sa.Column("winning_bracket", sa.String(length=32), nullable=True),
        sa.Column("pnl", Money(precision=18, scale=6), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("event_ticker", name=op.f("uq_settlements_event_ticker")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_settlements_city"),
        "settlements",
        ["city"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_settlements_ts"), "settlements", ["ts"], unique=False, schema="analytics"
    )

    op.create_table(
        "trades",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("city", sa.String(length=8), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("bracket", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=3), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("price", Money(precision=18, scale=6), nullable=False),
        sa.Column("count", Money(precision=18, scale=6), nullable=False),
        sa.Column("fee", Money(precision=18, scale=6), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("model_prob", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_trades_city"), "trades", ["city"], unique=False, schema="analytics"
    )
    op.create_index(
        op.f("ix_analytics_trades_ts"), "trades", ["ts"], unique=False, schema="analytics"
    )

    op.create_table(
        "weather_readings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("city", sa.String(length=8), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("forecast_high_f", sa.Float(), nullable=True),
        sa.Column("observed_max_f", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weather_readings")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_weather_readings_ts"),
        "weather_readings",
        ["ts"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        "ix_weather_readings_city_ts",
        "weather_readings",
        ["city", "ts"],
        unique=False,
        schema="analytics",
    )

    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("intent_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_audit_records_intent_id"),
        "audit_records",
        ["intent_id"],
        unique=False,
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_audit_records_ts"), "audit_records", ["ts"], unique=False, schema="trading"
    )

    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("venue_fill_id", sa.String(length=64), nullable=False),
        sa.Column("venue_order_id", sa.String(length=64), nullable=True),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=3), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("price", Money(precision=18, scale=6), nullable=False),
        sa.Column("count", Money(precision=18, scale=6), nullable=False),
        sa.Column("fee", Money(precision=18, scale=6), nullable=False),
        sa.Column("is_taker", sa.Boolean(), nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("venue_fill_id", name=op.f("uq_fills_venue_fill_id")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_fills_client_order_id"),
        "fills",
        ["client_order_id"],
        unique=False,
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_fills_market_ticker"),
        "fills",
        ["market_ticker"],
        unique=False,
        schema="trading",
    )
    op.create_index(op.f("ix_trading_fills_ts"), "fills", ["ts"], unique=False, schema="trading")
    op.create_index(
        op.f("ix_trading_fills_venue_order_id"),
        "fills",
        ["venue_order_id"],
        unique=False,
        schema="trading",
    )

    op.create_table(
        "intents",
        sa.Column("intent_id", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("strategy_run", sa.String(length=64), nullable=False),
        sa.Column("decision_slot", sa.String(length=32), nullable=False),
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("event_ticker", sa.String(length=64), nullable=False),
        sa.Column("city", sa.String(length=8), nullable=False),
        sa.Column("side", sa.String(length=3), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("limit_price", Money(precision=18, scale=6), nullable=False),
        sa.Column("count", Money(precision=18, scale=6), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("intent_id", name=op.f("pk_intents")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_intents_client_order_id")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_intents_event_ticker"),
        "intents",
        ["event_ticker"],
        unique=False,
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_intents_market_ticker"),
        "intents",
        ["market_ticker"],
        unique=False,
        schema="trading",
    )

    op.create_table(
        "market_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("event_ticker", sa.String(length=64), nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("yes_bid", Money(precision=18, scale=6), nullable=True),
        sa.Column("yes_ask", Money(precision=18, scale=6), nullable=True),
        sa.Column("last_price", Money(precision=18, scale=6), nullable=True),
        sa.Column("volume", Money(precision=18, scale=6), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("close_time", UtcDateTime(timezone=True), nullable=True),
        sa.Column("rules_url", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_snapshots")),
        schema="trading",
    )
    op.create_index(
        "ix_market_snapshots_ticker_ts",
        "market_snapshots",
        ["market_ticker", "ts"],
        unique=False,
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_market_snapshots_event_ticker"),
        "market_snapshots",
        ["event_ticker"],
        unique=False,
        schema="trading",
    )

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_order_events_client_order_id"),
        "order_events",
        ["client_order_id"],
        unique=False,
        schema="trading",
    )

    op.create_table(
        "positions",
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("event_ticker", sa.String(length=64), nullable=False),
        sa.Column("position", Money(precision=18, scale=6), nullable=False),
        sa.Column("cost", Money(precision=18, scale=6), nullable=False),
        sa.Column("realized_pnl", Money(precision=18, scale=6), nullable=False),
        sa.Column("fees_paid", Money(precision=18, scale=6), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("market_ticker", name=op.f("pk_positions")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_positions_event_ticker"),
        "positions",
        ["event_ticker"],
        unique=False,
        schema="trading",
    )

    op.create_table(
        "trader_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_trader_state")),
        schema="trading",
    )
    op.create_table(
        "weather_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("station", sa.String(length=8), nullable=False),
        sa.Column("issued_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("retrieved_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weather_snapshots")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_weather_snapshots_payload_sha256"),
        "weather_snapshots",
        ["payload_sha256"],
        unique=False,
        schema="trading",
    )
    op.create_index(
        "ix_weather_snapshots_station_issued",
        "weather_snapshots",
        ["station", "issued_at"],
        unique=False,
        schema="trading",
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("intent_id", sa.String(length=64), nullable=False),
        sa.Column("venue_order_id", sa.String(length=64), nullable=True),
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=3), nullable=False),
        sa.Column("action", sa.String(length=4), nullable=False),
        sa.Column("limit_price", Money(precision=18, scale=6), nullable=False),
        sa.Column("count", Money(precision=18, scale=6), nullable=False),
        sa.Column("filled_count", Money(precision=18, scale=6), nullable=False),
        sa.Column("remaining_count", Money(precision=18, scale=6), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["intent_id"], ["trading.intents.intent_id"], name=op.f("fk_orders_intent_id_intents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
        sa.UniqueConstraint("venue_order_id", name=op.f("uq_orders_venue_order_id")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_orders_intent_id"), "orders", ["intent_id"], unique=False, schema="trading"
    )
    op.create_index(
        op.f("ix_trading_orders_market_ticker"),
        "orders",
        ["market_ticker"],
        unique=False,
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_orders_status"), "orders", ["status"], unique=False, schema="trading"
    )

    if op.get_bind().dialect.name == "postgresql":
        _grant_api_role()


def _grant_api_role() -> None:
    """Create the API's role: SELECT on the analytics schema and nothing else."""
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
                CREATE ROLE {API_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
            END IF;
        END $$;
        """
    )
    op.execute("REVOKE ALL ON SCHEMA trading FROM PUBLIC")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA trading FROM {API_ROLE}")
    op.execute(f"GRANT USAGE ON SCHEMA analytics TO {API_ROLE}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {API_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO {API_ROLE}")


def downgrade() -> None:
    op.drop_index(op.f("ix_trading_orders_status"), table_name="orders", schema="trading")
    op.drop_index(op.f("ix_trading_orders_market_ticker"), table_name="orders", schema="trading")
    op.drop_index(op.f("ix_trading_orders_intent_id"), table_name="orders", schema="trading")

    op.drop_table("orders", schema="trading")
    op.drop_index(
        "ix_weather_snapshots_station_issued", table_name="weather_snapshots", schema="trading"
    )
    op.drop_index(
        op.f("ix_trading_weather_snapshots_payload_sha256"),
        table_name="weather_snapshots",
        schema="trading",
    )

    op.drop_table("weather_snapshots", schema="trading")
    op.drop_table("trader_state", schema="trading")
    op.drop_index(
        op.f("ix_trading_positions_event_ticker"), table_name="positions", schema="trading"
    )

    op.drop_table("positions", schema="trading")
    op.drop_index(
        op.f("ix_trading_order_events_client_order_id"), table_name="order_events", schema="trading"
    )

    op.drop_table("order_events", schema="trading")
    op.drop_index(
        op.f("ix_trading_market_snapshots_event_ticker"),
        table_name="market_snapshots",
        schema="trading",
    )
    op.drop_index("ix_market_snapshots_ticker_ts", table_name="market_snapshots", schema="trading")

    op.drop_table("market_snapshots", schema="trading")
    op.drop_index(op.f("ix_trading_intents_market_ticker"), table_name="intents", schema="trading")
    op.drop_index(op.f("ix_trading_intents_event_ticker"), table_name="intents", schema="trading")

    op.drop_table("intents", schema="trading")
    op.drop_index(op.f("ix_trading_fills_venue_order_id"), table_name="fills", schema="trading")
    op.drop_index(op.f("ix_trading_fills_ts"), table_name="fills", schema="trading")
    op.drop_index(op.f("ix_trading_fills_market_ticker"), table_name="fills", schema="trading")
    op.drop_index(op.f("ix_trading_fills_client_order_id"), table_name="fills", schema="trading")

    op.drop_table("fills", schema="trading")
    op.drop_index(op.f("ix_trading_audit_records_ts"), table_name="audit_records", schema="trading")
    op.drop_index(
        op.f("ix_trading_audit_records_intent_id"), table_name="audit_records", schema="trading"
    )

    op.drop_table("audit_records", schema="trading")
    op.drop_index("ix_weather_readings_city_ts", table_name="weather_readings", schema="analytics")
    op.drop_index(
        op.f("ix_analytics_weather_readings_ts"), table_name="weather_readings", schema="analytics"
    )

    op.drop_table("weather_readings", schema="analytics")
    op.drop_index(op.f("ix_analytics_trades_ts"), table_name="trades", schema="analytics")
    op.drop_index(op.f("ix_analytics_trades_city"), table_name="trades", schema="analytics")

    op.drop_table("trades", schema="analytics")
    op.drop_index(op.f("ix_analytics_settlements_ts"), table_name="settlements", schema="analytics")
    op.drop_index(
        op.f("ix_analytics_settlements_city"), table_name="settlements", schema="analytics"
    )

    op.drop_table("settlements", schema="analytics")
    op.drop_table("heartbeats", schema="analytics")
    op.drop_index(
        op.f("ix_analytics_equity_points_ts"), table_name="equity_points", schema="analytics"
    )

    op.drop_table("equity_points", schema="analytics")
    op.drop_index("ix_bracket_quotes_city_ts", table_name="bracket_quotes", schema="analytics")
    op.drop_index(
        op.f("ix_analytics_bracket_quotes_ts"), table_name="bracket_quotes", schema="analytics"
    )

    op.drop_table("bracket_quotes", schema="analytics")
