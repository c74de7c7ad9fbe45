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

from recycle.zoo.card import Datasheet, InputSchema, Lineage, ModelCard, OutputSchema
from recycle.zoo.entry import FsckReport, SearchHit, ZooEntry
from recycle.zoo.registry import Zoo

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
