"""The forecast issues the trader had, for exporting its recording as a dataset

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from milkbot.store.base import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecast_issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station", sa.String(length=8), nullable=False),
        sa.Column("target_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("issued_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("tmax_f", sa.Float(), nullable=False),
        sa.Column("sigma_f", sa.Float(), nullable=True),
        sa.Column("first_seen", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_issues")),
        schema="trading",
    )
    op.create_index(
        "ix_forecast_issues_station_target",
        "forecast_issues",
        ["station", "target_date"],
        unique=False,
        schema="trading",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_forecast_issues_station_target", table_name="forecast_issues", schema="trading"
    )
    op.drop_table("forecast_issues", schema="trading")
