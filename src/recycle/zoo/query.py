"""Catalog queries of the zoo: filters, latest-version resolution, row conversion, spec search.

Examples
--------
>>> Filters(modality="image", query="digit").active()
{'modality': 'image', 'query': 'digit'}
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recycle.errors import ConfigError, SpecError
from recycle.zoo.card import ACCESS_MODES, MODALITIES, ModelCard
from recycle.zoo.entry import SearchHit, ZooEntry, parse_created, version_key
from recycle.zoo.models import EntryParentRow, EntryRow

if TYPE_CHECKING:
    from recycle.zoo.registry import Zoo

QUERY_M = 100  # reduced points of a spec built from query data (fewer for small data)


@dataclass
class Filters:
    """What :meth:`Zoo.list` filters on (``None`` = any)."""

    modality: str | None = None
    task: str | None = None
    access: str | None = None
    license: str | None = None
    provider: str | None = None
    query: str | None = None
    spec_space: str | None = None

    def active(self) -> dict[str, str]:
        """The filters that are set."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_rows(s: Session, f: Filters) -> list[ZooEntry]:
    """All entries (every version) matching ``f``, sorted by name then version."""
    if f.modality is not None and f.modality not in MODALITIES:
        raise ConfigError(f"modality must be one of {list(MODALITIES)}; got {f.modality!r}.")
    if f.access is not None and f.access not in ACCESS_MODES:
        raise ConfigError(f"access must be one of {list(ACCESS_MODES)}; got {f.access!r}.")
    stmt = select(EntryRow)
    for col in ("modality", "task", "access", "license", "provider", "spec_space"):
        value = getattr(f, col)
        if value is not None:
            stmt = stmt.where(getattr(EntryRow, col) == value)
    if f.query:
        pattern = f"%{_escape_like(f.query)}%"
        stmt = stmt.where(
            or_(
                EntryRow.name.ilike(pattern, escape="\\"),
                EntryRow.description.ilike(pattern, escape="\\"),
            )
        )
    rows = list(s.scalars(stmt))
    parents: dict[str, list[str]] = {}
    if rows:
        ids = [r.id for r in rows]
        for chunk in range(0, len(ids), 500):  # stay under bound-parameter limits
            part = ids[chunk : chunk + 500]
            for link in s.scalars(select(EntryParentRow).where(EntryParentRow.entry_id.in_(part))):
                parents.setdefault(link.entry_id, []).append(link.parent_id)
    rows.sort(key=lambda r: (r.name, version_key(r.version), parse_created(r.created)))
    return [row_to_entry(r, None, sorted(parents.get(r.id, []))) for r in rows]


def latest_only(entries: list[ZooEntry]) -> list[ZooEntry]:
    """Keep the latest version of each name (input sorted by name, then version, then time)."""
    latest: dict[str, ZooEntry] = {}
    for e in entries:
        latest[e.name] = e  # sorted ascending, so the last one wins
    return list(latest.values())


def row_to_entry(row: EntryRow, card: ModelCard | None, parents: list[str]) -> ZooEntry:
    """Convert a catalog row to a :class:`ZooEntry` (parsing the card unless given)."""
    return ZooEntry(
        id=row.id,
        name=row.name,
        version=row.version,
        card=card if card is not None else ModelCard.from_json(row.card_json),
        artifact_sha256=row.artifact_sha256,
        spec_space=row.spec_space,
        created=parse_created(row.created),
        spec_sha256=row.spec_sha256,
        size_bytes=int(row.size_bytes or 0),
        parents=list(parents),
    )


def search(zoo: Zoo, spec_or_data: Any, top: int = 5, space: str | None = None) -> list[SearchHit]:
    """Implementation of :meth:`Zoo.search` (see there)."""
    from recycle import spec as spec_mod

    if not isinstance(top, int) or top < 1:
        raise ConfigError(f"top must be an int >= 1; got {top!r}.")
    if isinstance(spec_or_data, spec_mod.Spec):
        query = spec_or_data
        if space is not None and space != query.space:
            raise SpecError(
                f"The query spec is in space {query.space!r}, not {space!r}; build it in the "
                "space you search or leave space=None."
            )
    else:
        if space is None:  # the zoo's space that fits the data
            from recycle.data import infer_modality
            from recycle.zoo.spec_index import spaces

            if not (known := spaces(zoo)):
                return []
            space = spec_mod.choose_space(known, infer_modality(spec_or_data), spec_or_data)
        query = _spec_of_data(spec_mod, spec_or_data, space)
        if query.space.startswith("input"):  # a table's rows: scaled specs re-rank the hits
            from recycle.spec.cascade import RERANK

            return rescaled(zoo, ranked(zoo, query, max(top, RERANK))[0], spec_or_data)[:top]
    return ranked(zoo, query, top)[0]


def rescaled(zoo: Zoo, hits: list[SearchHit], X: Any) -> list[SearchHit]:
    """``hits`` re-ranked by :func:`recycle.spec.scaled.scaled_mmd2` of the rows ``X`` when
    every hit's spec is scaled (``meta["scaled"]``: each column mapped through its provider's
    quantiles, so a heavy-tailed column no longer sets the kernel's bandwidth); their ``score``
    is then that squared MMD (``ratio`` and ``related`` stay the raw spec's). Otherwise
    unchanged: raw and scaled distances are not comparable. Each spec's parsed scaled part is
    kept by its blob's sha256 (:func:`scaled_part_of`), so repeated searches read no blob."""
    from recycle.spec.scaled import part_mmd2

    scores = []
    for hit in hits:
        sha = hit.entry.spec_sha256
        part = scaled_part_of(zoo, sha) if sha else None
        if part is None:
            return hits
        scores.append(part_mmd2(part, X))
    order = sorted(range(len(hits)), key=lambda i: (scores[i], i))
    return [replace(hits[i], score=scores[i], rank=pos + 1) for pos, i in enumerate(order)]


#: Parsed scaled parts by spec blob sha256, most recently used last. A blob's content is fixed
#: by its hash, so an entry never goes stale; the size bounds memory (a part holds its
#: quantile knots and reduced set: ~0.1 MB for 70 columns) at four re-rankings' worth.
_SCALED_PARTS: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
SCALED_PARTS_KEPT = 4 * 32  # spec.cascade.RERANK hits per re-ranking
_SCALED_LOCK = threading.Lock()


def scaled_part_of(zoo: Zoo, sha: str) -> dict[str, Any] | None:
    """:func:`recycle.spec.scaled.scaled_part` of the spec blob ``sha`` (None: not scaled),
    read from the store only when not kept already."""
    from recycle.spec import Spec
    from recycle.spec.scaled import scaled_part

    with _SCALED_LOCK:
        if sha in _SCALED_PARTS:
            _SCALED_PARTS.move_to_end(sha)
            return _SCALED_PARTS[sha]
    part = scaled_part(Spec.from_json(zoo.store.read(sha)))
    with _SCALED_LOCK:
        _SCALED_PARTS[sha] = part
        while len(_SCALED_PARTS) > SCALED_PARTS_KEPT:
            _SCALED_PARTS.popitem(last=False)
    return part


def ranked(zoo: Zoo, query: Any, top: int) -> tuple[list[SearchHit], Any]:
    """The ``top`` hits for a query spec and the index's :class:`~recycle.spec.SearchResult`
    (``None`` when no entry has a spec in the query's space), from the persistent index."""
    from recycle.spec.cascade import RERANK
    from recycle.zoo import spec_index

    found = spec_index.current(zoo, query.space)
    if found is None:
        return [], None
    index, latest = found
    result = index.rank(query, among=latest, candidates=max(top, RERANK))
    ids = [str(index.ids[i]) for i in result.order[:top]]
    entries = {e.id: e for e in entries_by_id(zoo, ids)}
    ratio = np.asarray(result.ratio, dtype=float)
    related = np.asarray(result.related, dtype=bool)
    hits = [
        SearchHit(
            entries[i], float(result.mmd2[pos]), pos + 1, float(ratio[pos]), bool(related[pos])
        )
        for pos, i in enumerate(ids)
        if i in entries  # removed since the index was confirmed: skipped
    ]
    return hits, result


def entries_by_id(zoo: Zoo, ids: list[str]) -> list[ZooEntry]:
    """The entries with these ids (any order; missing ids are left out)."""
    if not ids:
        return []
    with zoo.sessions() as s:
        rows = list(s.scalars(select(EntryRow).where(EntryRow.id.in_(ids))))
        links = list(s.scalars(select(EntryParentRow).where(EntryParentRow.entry_id.in_(ids))))
    parents: dict[str, list[str]] = {}
    for link in links:
        parents.setdefault(link.entry_id, []).append(link.parent_id)
    return [row_to_entry(r, None, sorted(parents.get(r.id, []))) for r in rows]


def _spec_of_data(spec_mod: Any, X: Any, space: str | None) -> Any:
    rows = X if space is None or space.startswith("input") else spec_mod.embed_for_space(space, X)
    m = max(1, min(QUERY_M, len(rows) // 2))  # build_spec needs >= 2 rows per reduced point
    return spec_mod.build_spec(rows, m=m, space=space or "input")
