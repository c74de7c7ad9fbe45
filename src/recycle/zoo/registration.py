"""Registering a model: parent resolution, duplicate check, checker run, atomic commit.

The steps of :meth:`recycle.zoo.Zoo.register_files` (see :mod:`recycle.zoo.journal` for why
the order makes a crash at any point leave either the whole entry or nothing).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy import exc as sa_exc

from recycle.errors import DuplicateError, ForbiddenError, ModelNotFoundError, SpecError
from recycle.zoo import journal, spec_index
from recycle.zoo.card import ModelCard
from recycle.zoo.entry import ZooEntry
from recycle.zoo.models import EntryBlobRow, EntryParentRow, EntryRow, NameRow, PendingRow
from recycle.zoo.query import row_to_entry
from recycle.zoo.store import crash_point, sha256_bytes

if TYPE_CHECKING:
    from recycle.zoo.registry import Zoo

MANIFEST_VERSION = 1  # layout of the manifest blob: {"manifest", "config", "files"}


def resolve_parents(zoo: Zoo, config: dict[str, Any], card: ModelCard) -> list[str]:
    """Check the config's parent ids exist; record them as the card's lineage parents."""
    parents = [str(p) for p in config.get("parents", [])]
    for pid in parents:
        zoo.get(pid)  # raises ModelNotFoundError
    if parents:
        card.lineage.parents = list(parents)
    else:
        card.lineage.parents = [zoo.get(p).id for p in card.lineage.parents]
    return parents


def taken_by(zoo: Zoo, name: str, version: str) -> str | None:
    """Id of the entry registered as ``name@version``, if any."""
    with zoo.sessions() as s:
        return s.scalar(
            select(EntryRow.id).where(EntryRow.name == name, EntryRow.version == version)
        )


def _duplicate(name: str, version: str, taken: str) -> DuplicateError:
    return DuplicateError(
        f"The zoo already has {name}@{version} (id {taken}); bump the card's version "
        "or remove the old entry first."
    )


def check_free(zoo: Zoo, name: str, version: str) -> None:
    """Raise :class:`DuplicateError` if ``name@version`` is registered already."""
    taken = taken_by(zoo, name, version)
    if taken is not None:
        raise _duplicate(name, version, taken)


def owner_of(zoo: Zoo, name: str) -> tuple[bool, str | None]:
    """(whether ``name`` is owned, the provider who owns it: its ``names`` row)."""
    with zoo.sessions() as s:
        owner = s.scalar(select(NameRow.provider).where(NameRow.name == name))
    return (owner is not None, owner)


def check_owner(zoo: Zoo, name: str, provider: str | None) -> None:
    """Raise :class:`ForbiddenError` if ``name`` belongs to another provider.

    A name belongs to the provider who registered it first; only that provider adds versions.
    This is the early check; :func:`claim_name` decides inside the registration's transaction.
    """
    taken, owner = owner_of(zoo, name)
    if taken and owner != provider:
        raise ForbiddenError(
            f"Model name {name!r} belongs to provider {owner!r}, not {provider!r}; register "
            "under a name of your own (e.g. '<your provider>.<model>')."
        )


def check_name(zoo: Zoo, card: ModelCard) -> None:
    """:func:`check_free` and :func:`check_owner` for the card's name, version and provider."""
    check_free(zoo, card.name, card.version)
    check_owner(zoo, card.name, card.provider)


def spec_json(spec: Any) -> bytes | None:
    """The spec's JSON bytes (``None`` without a spec); :class:`SpecError` if not a Spec."""
    if spec is None:
        return None
    if not callable(getattr(spec, "to_json", None)) or not isinstance(
        getattr(spec, "space", None), str
    ):
        raise SpecError(f"spec must be a recycle.spec.Spec; got {type(spec).__name__}.")
    return spec.to_json().encode()


def validate(
    zoo: Zoo, config: dict[str, Any], files: dict[str, bytes], card: ModelCard, parents: list[str]
) -> None:
    """Run the checker on the model (in a separate process); ValidationError if rejected."""
    from recycle.errors import ValidationError
    from recycle.zoo.checker import check_model

    with zoo.store.upload_dir() as tmp:  # fsck sees it if this process is killed
        paths = {}
        for name, data in files.items():
            paths[name] = tmp / name
            paths[name].write_bytes(data)
        report = check_model(
            config,
            paths,
            card,
            {pid: tree(zoo, pid) for pid in parents},
            timeout_s=zoo.check_timeout_s,
            memory_mb=zoo.check_memory_mb,
            batch_rows=zoo.check_batch,
        )
    if not report.ok:
        raise ValidationError(f"Model {card.name}@{card.version} was rejected: {report.reason}.")


def manifest_of(zoo: Zoo, entry: ZooEntry) -> dict[str, Any]:
    """The entry's manifest (config + file hashes), hash-checked."""
    return json.loads(zoo.store.read(entry.artifact_sha256))


def tree(zoo: Zoo, entry_id: str) -> dict[str, Any]:
    """(config, local hash-checked files, parents) of a stored entry, for the checker."""
    entry = zoo.get(entry_id)
    manifest = manifest_of(zoo, entry)
    return {
        "config": manifest["config"],
        "files": {k: zoo.store.local_path(v["sha256"]) for k, v in manifest["files"].items()},
        "parents": {pid: tree(zoo, pid) for pid in entry.parents},
    }


def commit(
    zoo: Zoo,
    config: dict[str, Any],
    files: dict[str, bytes],
    card: ModelCard,
    spec: Any,
    spec_json: bytes | None,
    parents: list[str],
) -> ZooEntry:
    """Write the blobs and the catalog row atomically (see recycle.zoo.journal)."""
    manifest = {
        "manifest": MANIFEST_VERSION,
        "config": config,
        "files": {n: {"sha256": sha256_bytes(d), "size": len(d)} for n, d in files.items()},
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    blobs = {sha256_bytes(d): bytes(d) for d in files.values()}
    roles = {f"file:{n}": sha256_bytes(d) for n, d in files.items()}
    for role, data in (("manifest", manifest_bytes), ("spec", spec_json)):
        if data is not None:
            blobs[sha256_bytes(data)] = data
            roles[role] = sha256_bytes(data)
    pending = journal.begin_pending(zoo.sessions, blobs)
    try:
        for data in blobs.values():
            zoo.store.put(data)
        now = datetime.now(UTC)
        row = EntryRow(
            id=uuid.uuid4().hex,
            name=card.name,
            version=card.version,
            modality=card.modality,
            task=card.task,
            access=card.access,
            license=card.license,
            provider=card.provider,
            description=card.description,
            card_json=card.to_json(indent=None),
            artifact_sha256=roles["manifest"],
            spec_sha256=roles.get("spec"),
            spec_space=spec.space if spec is not None else None,
            size_bytes=sum(len(d) for d in files.values()),
            created=now,
        )
        with zoo.sessions.begin() as s:
            claim_name(s, card.name, card.provider, now)  # first: the name's row is the lock
            journal.ensure_blob_rows(s, zoo.store, blobs)
            s.add(row)
            s.flush()
            s.add_all(EntryBlobRow(entry_id=row.id, role=r, sha256=h) for r, h in roles.items())
            s.add_all(EntryParentRow(entry_id=row.id, parent_id=p) for p in parents)
            s.flush()
            s.execute(delete(PendingRow).where(PendingRow.id == pending))
            s.flush()
            crash_point("before_commit")
    except sa_exc.IntegrityError:
        journal.abandon(zoo.sessions, zoo.store, pending)
        taken = taken_by(zoo, card.name, card.version)
        if taken is not None:  # another registration got there first
            raise _duplicate(card.name, card.version, taken) from None
        raise ModelNotFoundError(
            f"A parent of {card.name}@{card.version} ({parents}) was removed while it was "
            "being registered; register the parent again first."
        ) from None
    except BaseException:
        journal.abandon(zoo.sessions, zoo.store, pending)
        raise
    crash_point("after_commit")
    if spec is not None:
        spec_index.after_register(zoo, row, spec)
    return row_to_entry(row, card, parents)


def claim_name(s: Any, name: str, provider: str, now: datetime) -> None:
    """Own ``name`` for ``provider`` in the open transaction ``s`` unless another provider does.

    The ``names`` row (primary key ``name``) decides: a new name's row is inserted in a
    savepoint; a concurrent registration of the same new name waits on that key (PostgreSQL) or
    the write lock (SQLite), and the loser raises :class:`DuplicateError` (409: it lost a race).
    """
    owner = s.scalar(select(NameRow.provider).where(NameRow.name == name))
    if owner is None:
        try:
            with s.begin_nested():
                s.add(NameRow(name=name, provider=provider, created=now))
            return
        except sa_exc.IntegrityError:  # inserted by a registration that committed meanwhile
            owner = s.scalar(select(NameRow.provider).where(NameRow.name == name))
    if owner != provider:
        raise DuplicateError(
            f"Model name {name!r} was just registered by provider {owner!r}; register under "
            "a name of your own."
        )
