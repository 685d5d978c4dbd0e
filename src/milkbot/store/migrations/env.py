"""Alembic environment: runs on the connection that :mod:`milkbot.store.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from milkbot.store import models  # noqa: F401  (registers the tables)
from milkbot.store.base import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `milkbot db upgrade`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    include_schemas=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
