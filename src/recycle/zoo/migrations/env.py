"""Alembic environment: runs on the connection :mod:`recycle.zoo.catalog` passes in.

The catalog opens a transaction (holding the SQLite write lock, or a PostgreSQL advisory lock)
and hands its connection over in ``config.attributes["connection"]``, so concurrent opens of a
fresh zoo run the migrations once, one after the other.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from recycle.zoo.models import Base


def run_migrations(config: Any) -> None:
    """Run the pending migrations on the caller's connection."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the zoo migrations through recycle.zoo.catalog.upgrade(engine)")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_config: Any
try:
    _config = context.config
except AttributeError:  # imported outside Alembic (e.g. by doctest collection): do nothing
    _config = None
if _config is not None:
    run_migrations(_config)
