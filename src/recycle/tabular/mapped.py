"""A tabular source fed through a column map: the user's table in, the source's input out.

:class:`MappedSource` wraps a loaded zoo source with a :class:`~recycle.tabular.columns.ColumnMap`
and the user's column names, so every strategy sees an ordinary black-box source over the
user's columns. Its ``source_id`` adds a digest of the map (features of two different maps are
never cached under one key); ``entry_id`` names the zoo entry behind it, which is what a saved
model records, with the map (see :mod:`recycle.adapt.persist`).

Examples
--------
>>> import numpy as np
>>> from recycle.tabular.columns import ColumnMap
>>> class Sum:
...     source_id, modality, access, feature_dim = "sum.doc@1.0.0", "tabular", "black-box", 1
...     def embed(self, X):
...         return np.asarray(X).sum(axis=1, keepdims=True)
>>> cmap = ColumnMap(["a", "b"], ["x", None], ["distribution", "imputed"], [0.0, 10.0])
>>> src = MappedSource(Sum(), cmap, ["x", "y"], entry_id="e1")
>>> src.embed(np.array([[1.0, 5.0]])).tolist(), src.source_id.startswith("sum.doc@1.0.0~cols-")
([[11.0]], True)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from recycle.errors import IncompatibleError
from recycle.tabular.columns import ColumnMap


class MappedSource:
    """A source whose input is built from the user's columns by a :class:`ColumnMap`.

    Parameters
    ----------
    inner : SourceModel
        The zoo's source (it takes the columns ``column_map.source_columns``, in order).
    column_map : ColumnMap
    user_columns : list of str
        The columns of the tables this source will be given (the fit input's).
    entry_id : str, optional
        The zoo entry of ``inner``.
    entry_name : str, optional
        That entry's name (what reports show).
    """

    access = "black-box"  # the inner source is only called, whatever its kind
    modality = "tabular"

    def __init__(
        self,
        inner: Any,
        column_map: ColumnMap,
        user_columns: list[str],
        entry_id: str | None = None,
        entry_name: str | None = None,
    ) -> None:
        self.inner = inner
        self.column_map = column_map
        self.user_columns = list(user_columns)
        self.entry_id = entry_id
        self.entry_name = entry_name
        self.feature_dim = int(inner.feature_dim)
        self.source_classes = list(getattr(inner, "source_classes", []) or [])
        key = json.dumps([column_map.to_dict(), self.user_columns], sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        self.source_id = f"{inner.source_id}~cols-{digest}"

    def __repr__(self) -> str:
        return (
            f"MappedSource({self.inner.source_id!r}, {self.column_map.n_matched} of "
            f"{len(self.column_map.source_columns)} columns matched)"
        )

    def embed(self, X: Any, progress: Any = None) -> np.ndarray:
        """The inner source's features of the mapped rows."""
        return np.asarray(self.inner.embed(self.column_map.apply(self.user_columns, X)))

    def predict_proba(self, X: Any, progress: Any = None) -> np.ndarray:
        """The inner source's own-class probabilities of the mapped rows."""
        if not callable(getattr(self.inner, "predict_proba", None)):
            raise IncompatibleError(f"Source {self.inner.source_id!r} has no predict_proba.")
        return np.asarray(self.inner.predict_proba(self.column_map.apply(self.user_columns, X)))

    def record(self) -> dict[str, Any]:
        """What a saved model keeps to rebuild this wrapper around the zoo entry."""
        return {"column_map": self.column_map.to_dict(), "user_columns": self.user_columns}

    @classmethod
    def from_record(cls, inner: Any, record: dict[str, Any]) -> MappedSource:
        """Inverse of :meth:`record` (``record`` also holds ``entry_id``)."""
        cmap = ColumnMap.from_dict(record["column_map"])
        return cls(inner, cmap, list(record["user_columns"]), record.get("entry_id"),
                   record.get("name"))  # fmt: skip
