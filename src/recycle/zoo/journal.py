"""Keeping catalog and artifact store consistent: the registration journal, blob reference
counting, crash recovery and ``fsck``.

A registration (1) commits a ``pending`` row listing the blobs it is about to write, (2) writes
them, (3) in one transaction inserts the entry with its blob references and deletes its
``pending`` row. A crash before (3) leaves a ``pending`` row whose process is dead: recovery
(run on every :meth:`Zoo.open`) deletes the blobs it lists that no entry references, then the
row. A blob is deleted only inside a transaction that holds its ``blobs`` row lock and has seen
no reference to it, so a concurrent registration that shares the blob (same bytes) either
commits its reference first or re-writes the file after the deletion.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from recycle.errors import IntegrityError
from recycle.zoo.entry import FsckReport, parse_created
from recycle.zoo.models import BlobRow, EntryBlobRow, PendingRow
from recycle.zoo.store import HOST, STALE_TEMP_S, ArtifactStore, pid_alive

STALE_PENDING = timedelta(seconds=STALE_TEMP_S)  # a journal row of another host is dead after


def begin_pending(sessions: sessionmaker[Session], shas: Iterable[str]) -> str:
    """Commit a journal row for a registration about to write ``shas``; return its id."""
    pending_id = uuid.uuid4().hex
    with sessions.begin() as s:
        s.add(
            PendingRow(
                id=pending_id,
                host=HOST,
                pid=os.getpid(),
                started=datetime.now(UTC),
                shas_json=json.dumps(sorted(set(shas))),
            )
        )
    return pending_id


def ensure_blob_rows(s: Session, store: ArtifactStore, blobs: dict[str, bytes]) -> None:
    """Insert (or lock) the ``blobs`` rows of ``blobs``; re-write any file that has vanished."""
    now = datetime.now(UTC)
    dialect = s.get_bind().dialect.name
    for sha, data in sorted(blobs.items()):
        values = {"sha256": sha, "size": len(data), "created": now}
        if dialect == "postgresql":
            s.execute(postgresql.insert(BlobRow).values(values).on_conflict_do_nothing())
            s.execute(select(BlobRow.sha256).where(BlobRow.sha256 == sha).with_for_update())
        elif dialect == "sqlite":
            s.execute(sqlite.insert(BlobRow).values(values).on_conflict_do_nothing())
        elif s.get(BlobRow, sha, with_for_update=True) is None:
            s.add(BlobRow(**values))
            s.flush()
        if not store.exists(sha):  # deleted by a concurrent removal before we held the lock
            store.put(data)


def _live_pending_shas(s: Session, exclude: set[str]) -> set[str]:
    shas: set[str] = set()
    for row in s.scalars(select(PendingRow)):
        if row.id not in exclude and not _is_dead(row):
            shas.update(json.loads(row.shas_json))
    return shas


def _is_dead(row: PendingRow) -> bool:
    if row.host == HOST:
        return not pid_alive(row.pid)
    return datetime.now(UTC) - parse_created(row.started) > STALE_PENDING


def gc_blobs(
    s: Session, store: ArtifactStore, shas: Iterable[str], exclude_pending: set[str] | None = None
) -> list[str]:
    """Delete, within transaction ``s``, the blobs among ``shas`` that nothing references."""
    wanted = sorted(set(shas))
    if not wanted:
        return []
    # Lock the rows first (PostgreSQL; SQLite already holds the database write lock).
    locked = set(
        s.scalars(select(BlobRow.sha256).where(BlobRow.sha256.in_(wanted)).with_for_update())
    )
    used = set(s.scalars(select(EntryBlobRow.sha256).where(EntryBlobRow.sha256.in_(wanted))))
    busy = _live_pending_shas(s, exclude_pending or set())
    removed = []
    for sha in wanted:
        if sha in used or sha in busy:
            continue
        if sha in locked:
            s.execute(delete(BlobRow).where(BlobRow.sha256 == sha))
        if store.exists(sha):
            store.delete(sha)
            removed.append(sha)
    return removed


def abandon(sessions: sessionmaker[Session], store: ArtifactStore, pending_id: str) -> None:
    """Undo a failed registration: delete its unreferenced blobs and its journal row."""
    with sessions.begin() as s:
        row = s.get(PendingRow, pending_id)
        if row is None:
            return
        gc_blobs(s, store, json.loads(row.shas_json), exclude_pending={pending_id})
        s.delete(row)


def recover(sessions: sessionmaker[Session], store: ArtifactStore) -> list[str]:
    """Clean up after crashed registrations (dead journal rows, their blobs, temp files)."""
    store.clean_temps()
    with sessions() as s:
        dead = [row.id for row in s.scalars(select(PendingRow)) if _is_dead(row)]
    for pending_id in dead:
        abandon(sessions, store, pending_id)
    return dead


def fsck(
    sessions: sessionmaker[Session],
    store: ArtifactStore,
    repair: bool = False,
    verify: bool = False,
) -> FsckReport:
    """Compare the catalog with the store; with ``repair`` remove what is safe to remove."""
    report = FsckReport()
    with sessions() as s:
        referenced = set(s.scalars(select(EntryBlobRow.sha256).distinct()))
        rows = set(s.scalars(select(BlobRow.sha256)))
        dead = [row.id for row in s.scalars(select(PendingRow)) if _is_dead(row)]
        busy = _live_pending_shas(s, exclude=set(dead))
    present = set(store.iter_blobs())
    report.missing_blobs = sorted(referenced - present)
    report.orphan_blobs = sorted(present - referenced - busy)
    report.unreferenced_rows = sorted(rows - referenced - busy)
    report.dead_registrations = sorted(dead)
    for path in store.temp_files():
        pid_text = path.rsplit("/", 1)[-1].split("-", 1)[0]
        if not (store.local and pid_text.isdigit() and pid_alive(int(pid_text))):
            report.temp_files.append(path)
    if verify:
        for sha in sorted(referenced & present):
            try:
                store.verify(sha)
            except IntegrityError:
                report.corrupt_blobs.append(sha)
    if repair:
        recover(sessions, store)
        with sessions.begin() as s:
            gc_blobs(s, store, report.orphan_blobs + report.unreferenced_rows)
        for path in report.temp_files:
            store._discard(path)
        report.repaired = True
    return report


def blob_count(sessions: sessionmaker[Session]) -> tuple[int, int]:
    """(number of blobs, total bytes) referenced by the catalog."""
    with sessions() as s:
        n, size = s.execute(select(func.count(BlobRow.sha256), func.sum(BlobRow.size))).one()
    return int(n or 0), int(size or 0)
