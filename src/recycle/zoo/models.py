"""The catalog's tables (SQLAlchemy 2 ORM). The schema itself is created by Alembic migrations.

- ``entries``: one row per registered model version (id = uuid4 hex, never a count), with the
  card's filterable fields copied into columns and the whole card as JSON.
- ``blobs``: every content-addressed file in the artifact store that some entry references.
- ``entry_blobs``: which blobs an entry uses (its manifest, weight files, spec); a blob is
  deleted from the store only when no entry references it any more (reference counting).
- ``entry_parents``: white-box families (an adapter entry needs its backbone entry); a parent
  cannot be removed while a child references it (foreign key, no cascade).
- ``names``: who owns a model name, one row per name (primary key): the provider who
  registered it first. Registering inserts it in the entry's transaction, so of two providers
  registering the same new name at once only one can commit (the other's insert fails on the
  key); the name stays theirs after its entries are removed (no squatting on a freed name).
- ``pending``: the registration journal. A registration inserts its row before it writes any
  blob and deletes it in the same transaction that commits the entry, so after a crash the
  blobs of a dead registration can be told apart from those of a live one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SHA_LEN = 64  # hex sha256
ID_LEN = 32  # uuid4 hex


class Base(DeclarativeBase):
    """Declarative base of the catalog tables."""


class EntryRow(Base):
    """A registered model version."""

    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_entries_name_version"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(16), index=True)
    task: Mapped[str] = mapped_column(String(128), index=True)
    access: Mapped[str] = mapped_column(String(16), index=True)
    license: Mapped[str] = mapped_column(String(128), index=True)
    provider: Mapped[str] = mapped_column(String(256), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    card_json: Mapped[str] = mapped_column(Text)
    artifact_sha256: Mapped[str] = mapped_column(String(SHA_LEN))
    spec_sha256: Mapped[str | None] = mapped_column(String(SHA_LEN), nullable=True)
    spec_space: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BlobRow(Base):
    """A content-addressed file in the artifact store."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(SHA_LEN), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EntryBlobRow(Base):
    """One use of a blob by an entry, under a role ("manifest", "spec" or "file:<name>")."""

    __tablename__ = "entry_blobs"

    entry_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(256), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(SHA_LEN), ForeignKey("blobs.sha256"), index=True)


class EntryParentRow(Base):
    """``entry_id`` needs ``parent_id`` loaded first (e.g. an adapter and its backbone)."""

    __tablename__ = "entry_parents"

    entry_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    parent_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("entries.id"), primary_key=True, index=True
    )


class PendingRow(Base):
    """A registration in progress (the journal used to clean up after a crash)."""

    __tablename__ = "pending"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    shas_json: Mapped[str] = mapped_column(Text, default="[]")


class NameRow(Base):
    """A model name and the provider who owns it (registered it first)."""

    __tablename__ = "names"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider: Mapped[str] = mapped_column(String(256))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
