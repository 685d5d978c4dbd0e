"""The operator's command queue to the trader

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from milkbot.store.base import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", UtcDateTime(timezone=True), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("applied_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_commands")),
        schema="trading",
    )
    op.create_index(
        op.f("ix_trading_operator_commands_applied_at"),
        "operator_commands",
        ["applied_at"],
        unique=False,
        schema="trading",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_trading_operator_commands_applied_at"),
        table_name="operator_commands",
        schema="trading",
    )
    op.drop_table("operator_commands", schema="trading")
