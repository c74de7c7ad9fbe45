"""Registering a recycled model back into the zoo, with its lineage.

The recycled model is stored as a zoo entry of format ``"recycled"``: its two files are the
saved model (``recycler.json`` + ``model.safetensors``, see :mod:`recycle.adapt.persist`), its
``config["parents"]`` are the zoo entries of the sources it was built from (so the zoo checks
they exist and loads them first), and ``card.lineage.built_from`` lists their source ids.

:class:`RecycledSource` is the recycled model seen as a :class:`~recycle.sources.SourceModel`:
black-box, ``embed(X)`` returns its class probabilities over the target classes (its last
layer), ``source_classes`` are the target classes.
:func:`recycle.adapt.recycled_entry.load_recycled_source` rebuilds it from an entry's files and
loaded parents; the zoo's deserializer dispatches ``"recycled"`` to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recycle.adapt import persist
from recycle.errors import ConfigError

FORMAT = "recycled"


class RecycledSource:
    """A fitted Recycler as a black-box source (``embed`` = class probabilities)."""

    access = "black-box"

    def __init__(self, recycler: Any, source_id: str) -> None:
        self.recycler = recycler
        self.source_id = source_id
        self.source_classes = [str(c) for c in recycler.classes_.tolist()]
        self.feature_dim = len(self.source_classes)
        first = recycler.strategy_
        own = getattr(getattr(first, "network_", None), "own_input", None)
        self.modality = getattr(own, "modality", None) or _modality(recycler)

    def embed(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` as float32."""
        return np.asarray(self.recycler.predict_proba(X), dtype=np.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Same as :meth:`embed` (the recycled model's head is over its own classes)."""
        return self.embed(X)


def _modality(rec: Any) -> str:
    srcs = getattr(rec.strategy_, "sources", None) or []
    return str(getattr(srcs[0], "modality", "tabular")) if srcs else "tabular"


def register(rec: Any, zoo: Any, name: str, version: str = "1.0.0", **card_fields: Any) -> Any:
    """Register fitted ``rec`` in ``zoo`` as ``name``; return the new ZooEntry.

    Every source of ``rec`` must be a zoo entry of ``zoo`` (they become the entry's parents).
    Extra keyword arguments become card fields (``license``, ``description``, ...).
    """
    from recycle.zoo import ModelCard

    if isinstance(zoo, str | Path):
        from recycle.zoo import Zoo

        zoo = Zoo.open(zoo, create=False)
    records = rec.report_["sources"]
    missing = [r["source_id"] for r in records if not r.get("entry_id")]
    if missing:
        raise ConfigError(
            f"Cannot register: source {missing[0]!r} is not a zoo entry; fit the Recycler on a "
            "zoo (not a list of sources) so the recycled model's lineage can be recorded."
        )
    files = persist.to_payload(rec)
    src = RecycledSource(rec, f"{name}@{version}")
    shape = list(rec.report_.get("input_shape") or [])
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "modality": src.modality,
        "task": "classification",
        "input": {
            "shape": shape,
            "dtype": "str" if src.modality == "text" else "float32",
            "preprocess": f"recycled:{rec.report_['strategy']}",
        },
        "output": {"feature_dim": src.feature_dim, "source_classes": src.source_classes},
        "access": "black-box",
        "description": (
            f"Recycled by recycle ({rec.report_['strategy']}, m={rec.report_['m']}) from "
            + ", ".join(r["name"] for r in records)
        ),
        "lineage": {"built_from": [r["source_id"] for r in records]},
        **card_fields,
    }
    card = ModelCard(**fields)
    config = {
        "format": FORMAT,
        "source_id": src.source_id,
        "parents": [r["entry_id"] for r in records],
        "strategy": rec.report_["strategy"],
        "report": json.loads(json.dumps(rec.report_, default=str)),
    }
    # validate=False: the model was built in this process from entries the zoo already
    # validated, and the checker's child process does not resolve parent entries.
    return zoo.register_files(config, files, card, validate=False)
