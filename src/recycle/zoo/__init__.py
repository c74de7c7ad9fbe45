"""The zoo: a library of pre-trained source models with cards, artifacts and a real catalog.

- :class:`ModelCard` (:mod:`recycle.zoo.card`): the semantic specification, JSON round-trip.
- :class:`Zoo` (:mod:`recycle.zoo.registry`): SQLAlchemy catalog (SQLite file by default,
  PostgreSQL by URL; Alembic migrations on open) + content-addressed artifact store
  (:mod:`recycle.zoo.store`, local folder or fsspec URL); atomic registration with crash
  recovery (:mod:`recycle.zoo.journal`); upload checking in a separate, limited process
  (:mod:`recycle.zoo.checker`).

Examples
--------
>>> import tempfile
>>> from recycle.zoo import Zoo
>>> zoo = Zoo.open(tempfile.mkdtemp() + "/zoo")
>>> zoo.stats()
{'entries': 0, 'blobs': 0, 'bytes': 0}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recycle.zoo.card import Datasheet, InputSchema, Lineage, ModelCard, OutputSchema
    from recycle.zoo.entry import FsckReport, SearchHit, ZooEntry
    from recycle.zoo.registry import Zoo

# Exports load on first use, so that the checker's child process (``python -m
# recycle.zoo.checker``) does not pay for SQLAlchemy and Alembic, which it never uses.
_EXPORTS = {
    "Datasheet": "card",
    "InputSchema": "card",
    "Lineage": "card",
    "ModelCard": "card",
    "OutputSchema": "card",
    "FsckReport": "entry",
    "SearchHit": "entry",
    "ZooEntry": "entry",
    "Zoo": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"recycle.zoo.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'recycle.zoo' has no attribute {name!r}")


__all__ = [
    "Datasheet",
    "FsckReport",
    "InputSchema",
    "Lineage",
    "ModelCard",
    "OutputSchema",
    "SearchHit",
    "Zoo",
    "ZooEntry",
]
