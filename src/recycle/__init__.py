"""recycle: turn a zoo of pre-trained models into new, efficient models for unseen tasks.

The public API (imported lazily so ``import recycle`` stays fast)::

    from recycle import Zoo, ModelCard, Recycler, select_sources, build_spec
    zoo = Zoo.open("zoo/")
    rec = Recycler(zoo, m="auto", strategy="auto").fit(X, y)

Data flows one way: zoo -> selection -> adaptation -> recycled model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Zoo": "recycle.zoo",
    "ZooEntry": "recycle.zoo",
    "ModelCard": "recycle.zoo.card",
    "Spec": "recycle.spec",
    "build_spec": "recycle.spec",
    "select_sources": "recycle.select",
    "Selection": "recycle.select",
    "Recycler": "recycle.adapt",
    "RecycleError": "recycle.errors",
}

__all__ = [
    "ModelCard",
    "RecycleError",
    "Recycler",
    "Selection",
    "Spec",
    "Zoo",
    "ZooEntry",
    "__version__",
    "build_spec",
    "select_sources",
]

if TYPE_CHECKING:  # pragma: no cover
    from recycle.adapt import Recycler
    from recycle.errors import RecycleError
    from recycle.select import Selection, select_sources
    from recycle.spec import Spec, build_spec
    from recycle.zoo import Zoo, ZooEntry
    from recycle.zoo.card import ModelCard


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'recycle' has no attribute {name!r}")
