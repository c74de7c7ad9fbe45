"""Plain result types of the zoo (entries, search hits, fsck reports) and version ordering.

``latest`` is the highest version by :func:`version_key`: numeric ``MAJOR.MINOR.PATCH``
(missing parts count as 0), a release above its pre-releases (``1.0.0`` > ``1.0.0-rc1``),
pre-release tags compared as text; equal keys (``1.0`` and ``1.0.0``) are ordered by creation
time, the newer one winning.

Examples
--------
>>> sorted(["1.10", "1.2", "1.2.0-rc1", "2"], key=version_key)
['1.2.0-rc1', '1.2', '1.10', '2']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recycle.zoo.card import ModelCard

_VERSION_PARTS = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$")


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key of a semver-ish version string (see the module docstring).

    Examples
    --------
    >>> version_key("1.2.3-rc1") < version_key("1.2.3")
    True
    """
    m = _VERSION_PARTS.match(version)
    if m is None:  # not semver-ish (cards validate this, so only for foreign rows)
        return (-1, -1, -1, 0, version)
    major, minor, patch, pre = m.groups()
    release = 1 if pre is None else 0
    return (int(major), int(minor or 0), int(patch or 0), release, pre or "")


@dataclass
class ZooEntry:
    """One registered model version, as stored in the catalog.

    Attributes
    ----------
    id : str
        uuid4 hex; never reused, also not after a removal.
    name, version : str
        ``card.name`` and ``card.version``; unique together.
    card : ModelCard
    artifact_sha256 : str
        sha256 of the entry's manifest blob (its config and the hashes of its files).
    spec_space : str or None
        Space of the entry's statistical specification, if it has one.
    created : datetime
        When the entry was registered (UTC).
    spec_sha256 : str or None
        sha256 of the specification blob.
    size_bytes : int
        Bytes of the entry's own files (not counting parents).
    parents : list of str
        Entry ids loaded before this one (e.g. a shared backbone).
    """

    id: str
    name: str
    version: str
    card: ModelCard
    artifact_sha256: str
    spec_space: str | None
    created: datetime
    spec_sha256: str | None = None
    size_bytes: int = 0
    parents: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view (the card as a dict, ``created`` as ISO text)."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "card": self.card.to_dict(),
            "artifact_sha256": self.artifact_sha256,
            "spec_space": self.spec_space,
            "spec_sha256": self.spec_sha256,
            "created": self.created.isoformat(),
            "size_bytes": self.size_bytes,
            "parents": list(self.parents),
        }


@dataclass
class SearchHit:
    """One result of :meth:`recycle.zoo.Zoo.search`.

    Attributes
    ----------
    entry : ZooEntry
    score : float
        Squared MMD between the query's and the entry's specification (lower = closer).
    rank : int
        1 for the closest entry.
    ratio : float or None
        Observed MMD^2 over its expectation if both specs summarised one distribution:
        about 1 for the same distribution, large for unrelated data.
    related : bool or None
        ``ratio <= recycle.spec.search.RELATED_RATIO`` (a threshold learned from
        same-vs-different pairs; see ``benchmarks/results/spec_calibration.json``).
    """

    entry: ZooEntry
    score: float
    rank: int
    ratio: float | None = None
    related: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view."""
        return {
            "rank": self.rank,
            "id": self.entry.id,
            "name": self.entry.name,
            "version": self.entry.version,
            "score": self.score,
            "ratio": self.ratio,
            "related": self.related,
        }


@dataclass
class FsckReport:
    """What :meth:`recycle.zoo.Zoo.fsck` found (and, with ``repair=True``, fixed).

    Attributes
    ----------
    orphan_blobs : list of str
        Blob files that no entry and no live registration references.
    missing_blobs : list of str
        Blobs an entry needs that are not in the store (the entry cannot load).
    corrupt_blobs : list of str
        Blobs whose content no longer matches their hash (only with ``verify=True``).
    temp_files : list of str
        Leftover temp files of dead writers.
    dead_registrations : list of str
        Journal rows of registrations whose process died.
    unreferenced_rows : list of str
        Blob rows in the catalog that no entry uses.
    stale_indexes : list of str
        Spec indexes (one line per space) that disagree with the catalog or are damaged;
        ``repair`` rebuilds them from the specs (as ``recycle zoo reindex`` does).
    repaired : bool
        Whether orphans, temp files, dead registrations and unreferenced rows were removed.
    """

    orphan_blobs: list[str] = field(default_factory=list)
    missing_blobs: list[str] = field(default_factory=list)
    corrupt_blobs: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    dead_registrations: list[str] = field(default_factory=list)
    unreferenced_rows: list[str] = field(default_factory=list)
    stale_indexes: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def clean(self) -> bool:
        """True when nothing at all was found."""
        return not (
            self.orphan_blobs
            or self.missing_blobs
            or self.corrupt_blobs
            or self.temp_files
            or self.dead_registrations
            or self.unreferenced_rows
            or self.stale_indexes
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view."""
        return {
            "clean": self.clean,
            "orphan_blobs": self.orphan_blobs,
            "missing_blobs": self.missing_blobs,
            "corrupt_blobs": self.corrupt_blobs,
            "temp_files": self.temp_files,
            "dead_registrations": self.dead_registrations,
            "unreferenced_rows": self.unreferenced_rows,
            "stale_indexes": self.stale_indexes,
            "repaired": self.repaired,
        }


def parse_created(value: datetime) -> datetime:
    """Catalog times as aware UTC datetimes (SQLite returns naive ones)."""
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
