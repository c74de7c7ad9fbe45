"""The zoo's persistent spec indexes (:mod:`recycle.spec.index`), kept in step with the catalog.

Invariant: the catalog is the truth; an index is a derived copy that is never trusted blindly.
Each index records the catalog state it reflects as a fingerprint of its space (number of
entries with a spec there and the latest registration time). Every search compares it with the
catalog's (one aggregate query); when they differ (a registration or removal whose index update
did not run, e.g. killed right after the catalog commit, or made by another process) the index
is synchronised first: the ids of the space are read from the catalog, missing specs are added
from their JSON blobs and extra ones dropped. Right after its catalog transaction a registration
adds its entry alone when the index reflects the catalog as it was without that entry (two
aggregate queries, no catalog row read: :func:`after_register`), else synchronises in full;
a removal synchronises the spaces it touches in full. ``fsck`` compares the full id sets and
``fsck --repair`` / ``recycle zoo reindex`` rebuild an index from the specs' blobs (its big
segments' IVF lists too, :mod:`recycle.spec.ivf`: fsck names missing or stale ones); an index in
an older format is rebuilt the same way by the first search that finds it.

Where: ``<artifact root>/index/<space>-<hash>/`` for a local artifact store (the content-addressed
blobs live in two-letter folders beside it), else a local cache folder per store URL (memory maps
need local files). Writers of one folder take an exclusive ``flock`` on its ``lock`` file.

Examples
--------
>>> import tempfile
>>> from recycle.zoo import Zoo
>>> zoo = Zoo.open(tempfile.mkdtemp())
>>> folder_for(zoo, "input:784").name[:10]
'input_784-'
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select

from recycle.errors import SpecError, StorageError
from recycle.zoo.entry import FsckReport, parse_created, version_key
from recycle.zoo.models import EntryRow
from recycle.zoo.store import crash_point

if TYPE_CHECKING:
    from recycle.spec import Spec
    from recycle.spec.index import EntryInfo, PersistentIndex
    from recycle.zoo.registry import Zoo

INDEX_DIR = "index"
#: Specs read from the catalog and added to an index at once when (re)building it.
BATCH = 1000


def index_root(zoo: Zoo) -> Path:
    """Folder holding the zoo's indexes (one sub-folder per space)."""
    if zoo.store.local:
        return Path(zoo.store.root) / INDEX_DIR
    digest = hashlib.sha256(zoo.store.url.encode()).hexdigest()[:16]
    return zoo.store.cache_dir / INDEX_DIR / digest


def folder_for(zoo: Zoo, space: str) -> Path:
    """The index folder of ``space``: a readable slug plus a hash (spaces may hold any text)."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", space)[:64]
    return index_root(zoo) / f"{slug}-{hashlib.sha256(space.encode()).hexdigest()[:8]}"


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / "lock", "a+")  # noqa: SIM115 (held for the block)
    except OSError as e:
        raise StorageError(
            f"Cannot write the spec index in {str(folder)!r} ({e}); run `recycle zoo reindex` "
            "as a user who can write the zoo."
        ) from e
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()


def _stamp(value: Any) -> str | None:
    return None if value is None else parse_created(value).isoformat()


def fingerprint(zoo: Zoo, space: str, without: str | None = None) -> list[Any]:
    """[entries with a spec in ``space``, latest registration time]: one aggregate query
    (leaving out the entry ``without``: the catalog as it was before that entry was added)."""
    where = [EntryRow.spec_space == space]
    if without is not None:
        where.append(EntryRow.id != without)
    with zoo.sessions() as s:
        count, latest = s.execute(
            select(func.count(EntryRow.id), func.max(EntryRow.created)).where(*where)
        ).one()
    return [int(count), _stamp(latest)]


def _catalog(zoo: Zoo, space: str) -> tuple[dict[str, Any], list[Any]]:
    """Rows (id -> row) of the entries with a spec in ``space``, and their fingerprint."""
    cols = (EntryRow.id, EntryRow.name, EntryRow.version, EntryRow.created, EntryRow.spec_sha256)
    with zoo.sessions() as s:
        rows = {r.id: r for r in s.execute(select(*cols).where(EntryRow.spec_space == space))}
    latest = max((parse_created(r.created) for r in rows.values()), default=None)
    return rows, [len(rows), _stamp(latest)]


def _load(folder: Path) -> PersistentIndex | None:
    from recycle.spec.index import PersistentIndex

    try:
        return PersistentIndex.load(folder)
    except (SpecError, OSError):
        return None  # damaged: rebuilt by the caller


def sync(zoo: Zoo, space: str, rebuild: bool = False) -> PersistentIndex | None:
    """Bring the index of ``space`` in line with the catalog (from scratch with ``rebuild``)."""
    from recycle.spec import Spec
    from recycle.spec.index import EntryInfo, update

    folder = folder_for(zoo, space)
    with _locked(folder):
        rows, fp = _catalog(zoo, space)
        current = None if rebuild else _load(folder)
        if current is None or not rows:  # rebuilt from scratch, or no spec left in the space
            for path in folder.iterdir():
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.name != "lock":
                    path.unlink()
        if not rows:
            shutil.rmtree(folder, ignore_errors=True)  # the lock file goes with it
            return None
        have = set(current.ids[current.searchable].tolist()) if current is not None else set()
        drop = have - set(rows)
        missing = sorted(set(rows) - have)
        if current is not None and not drop and not missing and current.fingerprint == fp:
            return current
        for start in range(0, max(len(missing), 1), BATCH):
            add = [
                (
                    EntryInfo(r.id, r.name, r.version, parse_created(r.created).timestamp()),
                    Spec.from_json(zoo.store.read(r.spec_sha256)),
                )
                for r in (rows[i] for i in missing[start : start + BATCH])
            ]
            done = start + BATCH >= len(missing)  # only the last batch may claim the catalog
            update(folder, space, add, drop if start == 0 else set(), fp if done else None,
                   crash_point)  # fmt: skip
    return _load(folder)


def latest_mask(index: PersistentIndex) -> np.ndarray:
    """Entries of ``index`` that are the latest version of their name."""
    best: dict[str, int] = {}
    for i in np.flatnonzero(index.searchable):
        name = str(index.names[i])
        key = (version_key(str(index.versions[i])), float(index.created[i]))
        j = best.get(name)
        if j is None or key > (version_key(str(index.versions[j])), float(index.created[j])):
            best[name] = int(i)
    mask = np.zeros(len(index.ids), dtype=bool)
    mask[list(best.values())] = True
    return mask


def current(zoo: Zoo, space: str) -> tuple[PersistentIndex, np.ndarray] | None:
    """The up-to-date index of ``space`` and its latest-version mask, cached on the zoo.

    A cached index costs one aggregate query to confirm; ``None`` when no entry has a spec there.
    """
    fp = fingerprint(zoo, space)
    if fp[0] == 0:
        return None
    cached = zoo.spec_indexes.get(space)
    if cached is not None and cached[0].fingerprint == fp:
        return cached
    index = _load(folder_for(zoo, space))
    if index is None or index.fingerprint != fp:
        index = sync(zoo, space)
    if index is None:
        return None
    zoo.spec_indexes[space] = (index, latest_mask(index))
    return zoo.spec_indexes[space]


def after_register(zoo: Zoo, row: EntryRow, spec: Spec) -> None:
    """Add the entry just committed (``row``) to its space's index, reading no catalog row.

    Two aggregate queries decide: when the index reflects the catalog as it was without
    ``entry`` (its fingerprint equals :func:`fingerprint` leaving ``entry`` out), the entry is
    added alone and the index claims the catalog's fingerprint with it; when the index already
    reflects the catalog (another process synchronised it), nothing is done. Otherwise (a
    crashed or concurrent change the index has not seen, a damaged or old-format index) the
    index is synchronised in full (:func:`sync`, which reads every catalog row of the space).
    """
    from recycle.spec.index import EntryInfo

    entry = EntryInfo(row.id, row.name, row.version, parse_created(row.created).timestamp())
    if not _added_alone(zoo, entry, spec):
        sync(zoo, spec.space)
    zoo.spec_indexes.pop(spec.space, None)


def _added_alone(zoo: Zoo, entry: EntryInfo, spec: Spec) -> bool:
    """The incremental step of :func:`after_register`; False when a full sync is needed."""
    from recycle.spec.index import update
    from recycle.spec.index_files import read_manifest

    folder = folder_for(zoo, spec.space)
    with _locked(folder):
        try:
            manifest = read_manifest(folder)
        except SpecError:
            return False
        seen = [0, None] if manifest is None else manifest.get("fingerprint")
        now = fingerprint(zoo, spec.space)
        if seen == now:
            return True
        if seen != fingerprint(zoo, spec.space, without=entry.id):
            return False
        update(folder, spec.space, [(entry, spec)], set(), now, crash_point)
        return True


def after_change(zoo: Zoo, spaces: set[str | None]) -> None:
    """Synchronise the indexes of ``spaces`` after a registration or removal committed."""
    for space in sorted(s for s in spaces if s):
        sync(zoo, space)
        zoo.spec_indexes.pop(space, None)


def spaces(zoo: Zoo) -> set[str]:
    """Spaces in which some entry has a spec."""
    with zoo.sessions() as s:
        return {x for x in s.scalars(select(EntryRow.spec_space).distinct()) if x}


def check(zoo: Zoo, report: FsckReport, repair: bool = False) -> FsckReport:
    """Add index problems (one line per space) to ``report``; rebuild them with ``repair``."""
    from recycle.spec import index_files, ivf

    root = index_root(zoo)
    folders = {p.name: p for p in root.iterdir() if p.is_dir()} if root.is_dir() else {}
    for space in sorted(spaces(zoo)):
        folder = folder_for(zoo, space)
        folders.pop(folder.name, None)
        rows, _ = _catalog(zoo, space)
        index = _load(folder)
        old = index_files.older_format(folder)
        if old is not None:
            problem = f"in the older format {old!r} (the next search or --repair rebuilds it)"
        elif index is None:
            problem = "missing or unreadable"
        else:
            have = set(index.ids[index.searchable].tolist())
            lost, extra = len(set(rows) - have), len(have - set(rows))
            stored = dict(zip(index.ids.tolist(), index.sizes.tolist(), strict=True))
            bad, stray = index_files.check_sets(folder, stored, index.dim)
            junk = len(index_files.garbage(folder, index.manifest)) + len(stray)
            lists = sum(ivf.needs(folder / seg["name"], int(seg["entries"]))
                        for seg in index.manifest["segments"])  # fmt: skip
            problem = ", ".join(
                f"{n} {what}" for n, what in ((lost, "specs missing"), (extra, "specs extra"),
                                              (bad, "reduced sets missing or short"),
                                              (lists, "IVF lists missing or stale"),
                                              (junk, "leftover files")) if n
            )  # fmt: skip
        if problem:
            report.stale_indexes.append(f"{space}: {problem}")
            if repair:
                sync(zoo, space, rebuild=True)
                zoo.spec_indexes.pop(space, None)
    for name, folder in sorted(folders.items()):  # spaces no entry uses any more
        report.stale_indexes.append(f"{name}: no entry has a spec in this space")
        if repair:
            shutil.rmtree(folder, ignore_errors=True)
    return report


def reindex(zoo: Zoo) -> dict[str, int]:
    """Rebuild every space's index from the specs' blobs; return entries indexed per space."""
    out = {}
    for space in sorted(spaces(zoo)):
        index = sync(zoo, space, rebuild=True)
        zoo.spec_indexes.pop(space, None)
        out[space] = len(index) if index is not None else 0
    report = FsckReport()
    check(zoo, report, repair=True)  # drops folders of spaces no entry uses
    return out
