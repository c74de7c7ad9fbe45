"""Loading a zoo entry of format ``"recycled"`` back into a black-box source.

Kept apart from :mod:`recycle.adapt.export` so that the import graph stays one-way:
``recycler -> export -> persist`` for registering, ``recycled_entry -> recycler`` for loading
(the zoo's deserializer names :func:`load_recycled_source` by its dotted path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recycle.adapt import persist
from recycle.adapt.export import RecycledSource
from recycle.adapt.recycler import Recycler


def load_recycled_source(
    config: dict[str, Any], files: dict[str, Path], parents: dict[str, Any] | None = None
) -> RecycledSource:
    """Rebuild a :class:`RecycledSource` from a zoo entry (``files`` name -> local path)."""
    payload = {name: Path(files[name]).read_bytes() for name in persist.FILES}
    source_id = config.get("source_id", "recycled")
    parent_sources = list((parents or {}).values())
    rec = persist.restore(Recycler, payload, sources=parent_sources, where=source_id)
    return RecycledSource(rec, source_id)
