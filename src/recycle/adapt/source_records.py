"""The ``report_["sources"]`` records of a fitted Recycler: which zoo entries it used.

Each record names a source by its zoo entry id, version and content hash, which is what a saved
model folder refers to (never a path), see :mod:`recycle.adapt.persist`.
"""

from __future__ import annotations

from typing import Any


def source_records(sel: Any, sources: list[Any], zoo: Any) -> list[dict[str, Any]]:
    """One record per used source, in mixing order, with its selection score and rank.

    ``sel`` is the selection (None when sources were given directly); ``zoo`` may be None.

    >>> class Src:
    ...     source_id = "pca@1.0.0"
    >>> source_records(None, [Src()], None)[0]["version"]
    '1.0.0'
    """
    rows = {} if sel is None else {r.source_id: r for r in sel.ranking}
    used = []
    for rank, src in enumerate(sources, start=1):
        row = rows.get(src.source_id)
        entry_id = getattr(row, "entry_id", None) or getattr(src, "entry_id", None)
        mapped = src.record() if callable(getattr(src, "record", None)) else {}  # column map
        used.append({
            "source_id": src.source_id,
            "entry_id": entry_id,
            "name": getattr(src, "entry_name", None) or getattr(row, "name", src.source_id),
            "version": entry_version(zoo, entry_id, src.source_id),
            "sha256": entry_sha256(zoo, entry_id),
            "score": None if row is None else row.score,
            "rank": rank,
            **mapped,
        })  # fmt: skip
    return used


def entry_sha256(zoo: Any, entry_id: str | None) -> str | None:
    """The content hash of zoo entry ``entry_id`` (recorded so a saved model can check it)."""
    if not entry_id or zoo is None or not hasattr(zoo, "get"):
        return None
    return str(zoo.get(entry_id).artifact_sha256)


def entry_version(zoo: Any, entry_id: str | None, source_id: str) -> str | None:
    """The entry's version from the zoo, else the ``name@version`` in ``source_id``."""
    if entry_id and zoo is not None and hasattr(zoo, "get"):
        try:
            return str(zoo.get(entry_id).version)
        except Exception:  # entry removed meanwhile: fall back to the id's version
            pass
    if "@" in source_id:
        return source_id.split("@", 1)[1].split("#", 1)[0]
    return None
