"""Initial catalog: entries, blobs, entry_blobs, entry_parents, pending.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SHA = sa.String(64)
ID = sa.String(32)


def upgrade() -> None:
    """Create the catalog tables."""
    op.create_table(
        "entries",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("task", sa.String(128), nullable=False),
        sa.Column("access", sa.String(16), nullable=False),
        sa.Column("license", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("card_json", sa.Text, nullable=False),
        sa.Column("artifact_sha256", SHA, nullable=False),
        sa.Column("spec_sha256", SHA, nullable=True),
        sa.Column("spec_space", sa.String(128), nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_entries_name_version"),
    )
    for col in ("name", "modality", "task", "access", "license", "provider", "spec_space"):
        op.create_index(f"ix_entries_{col}", "entries", [col])
    op.create_table(
        "blobs",
        sa.Column("sha256", SHA, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entry_blobs",
        sa.Column(
            "entry_id", ID, sa.ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("role", sa.String(256), primary_key=True),
        sa.Column("sha256", SHA, sa.ForeignKey("blobs.sha256"), nullable=False),
    )
    op.create_index("ix_entry_blobs_sha256", "entry_blobs", ["sha256"])
    op.create_table(
        "entry_parents",
        sa.Column(
            "entry_id", ID, sa.ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("parent_id", ID, sa.ForeignKey("entries.id"), primary_key=True),
    )
    op.create_index("ix_entry_parents_parent_id", "entry_parents", ["parent_id"])
    op.create_table(
        "pending",
        sa.Column("id", ID, primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shas_json", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop the catalog tables."""
    for table in ("pending", "entry_parents", "entry_blobs", "blobs", "entries"):
        op.drop_table(table)
