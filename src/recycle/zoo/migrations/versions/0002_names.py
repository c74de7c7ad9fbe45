"""Name ownership: one ``names`` row per model name, owned by the provider who registered it first.

Before this, ownership was read from the oldest entry of a name and checked inside the
registration's transaction, which PostgreSQL (READ COMMITTED) let two providers pass at once
for the same new name. The row's primary key makes the second insert fail instead. Existing
names are backfilled with the provider of their oldest entry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``names`` and fill it from the entries (first registration wins)."""
    names = op.create_table(
        "names",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("provider", sa.String(256), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    entries = sa.table(
        "entries",
        sa.column("name", sa.String),
        sa.column("provider", sa.String),
        sa.column("created", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    first: dict[str, dict[str, object]] = {}
    query = sa.select(entries.c.name, entries.c.provider, entries.c.created).order_by(
        entries.c.created
    )
    for name, provider, created in conn.execute(query):
        first.setdefault(name, {"name": name, "provider": provider, "created": created})
    if first:
        op.bulk_insert(names, list(first.values()))


def downgrade() -> None:
    """Drop ``names`` (ownership is then read from the oldest entry again)."""
    op.drop_table("names")
