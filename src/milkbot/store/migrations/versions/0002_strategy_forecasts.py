"""Per-strategy bracket probabilities in the analytics schema

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from milkbot.store.base import UtcDateTime
from milkbot.store.engine import API_ROLE

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "strategy_forecasts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("city", sa.String(length=8), nullable=False),
        sa.Column("event_ticker", sa.String(length=64), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("market_ticker", sa.String(length=64), nullable=False),
        sa.Column("bracket", sa.String(length=32), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("prob", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_forecasts")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_strategy_forecasts_ts"),
        "strategy_forecasts",
        ["ts"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        op.f("ix_analytics_strategy_forecasts_event_ticker"),
        "strategy_forecasts",
        ["event_ticker"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        "ix_strategy_forecasts_strategy_ts",
        "strategy_forecasts",
        ["strategy", "ts"],
        unique=False,
        schema="analytics",
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT ON analytics.strategy_forecasts TO {API_ROLE}")


def downgrade() -> None:
    op.drop_index(
        "ix_strategy_forecasts_strategy_ts", table_name="strategy_forecasts", schema="analytics"
    )
    op.drop_index(
        op.f("ix_analytics_strategy_forecasts_event_ticker"),
        table_name="strategy_forecasts",
        schema="analytics",
    )
    op.drop_index(
        op.f("ix_analytics_strategy_forecasts_ts"),
        table_name="strategy_forecasts",
        schema="analytics",
    )
    op.drop_table("strategy_forecasts", schema="analytics")
