"""The input schema a model was fitted on, and checking new inputs against it.

A fitted :class:`~recycle.adapt.Recycler` keeps ``schema_``, a JSON-able dict saved with the
model; every prediction input is checked against it (scikit-learn's ``feature_names_in_``
rule, extended to images and text):

- ``{"modality": "tabular", "n_features": D, "columns": [...] | None}``: a pandas DataFrame is
  matched by column name (reordered columns give the same predictions; missing columns are an
  error naming them; extra columns are dropped with a warning); a plain array must have ``D``
  columns;
- ``{"modality": "image", "shape": [H, W], "channels": 1 | 3}``: arrays must have that size and
  channel count (the file loader, :mod:`recycle.imagefiles`, converts files to it);
- ``{"modality": "text"}``: a list of strings.

Examples
--------
>>> import pandas as pd
>>> X, schema = learn_schema(pd.DataFrame({"b": [1.0, 2.0], "a": [3.0, 4.0]}))
>>> schema["columns"], X.tolist()
(['b', 'a'], [[1.0, 3.0], [2.0, 4.0]])
>>> conform(schema, pd.DataFrame({"a": [5.0], "b": [6.0]})).tolist()
[[6.0, 5.0]]
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from recycle.errors import DataError

Schema = dict[str, Any]


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "to_numpy")


def _numeric(frame: Any) -> np.ndarray:
    import pandas as pd

    bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(
            f"Columns {bad} are not numeric; encode or drop them (text goes in a 'text' column)."
        )
    return np.array(frame.to_numpy(dtype=np.float32))  # a writable copy (torch needs one)


def _is_text(X: Any) -> bool:
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and X.dtype.kind in "USO"
    return isinstance(X, list | tuple) and len(X) > 0 and all(isinstance(t, str) for t in X)


def learn_schema(X: Any) -> tuple[Any, Schema]:
    """``(X as the strategies take it, schema)`` of a fit input.

    A DataFrame becomes a float32 array and its column names are kept.
    """
    if _is_frame(X):
        columns = [str(c) for c in X.columns]
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise DataError(f"Column names {dup} occur more than once; give each column one name.")
        arr = _numeric(X)
        return arr, {"modality": "tabular", "n_features": len(columns), "columns": columns}
    if _is_text(X):
        return X, {"modality": "text"}
    arr = np.asarray(X)
    if arr.ndim in (3, 4):
        channels = 1 if arr.ndim == 3 else int(arr.shape[3])
        return X, {"modality": "image", "shape": list(arr.shape[1:3]), "channels": channels}
    width = int(arr.shape[1]) if arr.ndim == 2 else 1
    return X, {"modality": "tabular", "n_features": width, "columns": None}


#: Column names an error message lists before it says how many more there are.
LISTED_NAMES = 8


def name_list(names: list[str]) -> str:
    """Names for a one-line message, quoted, the first :data:`LISTED_NAMES` of a long list.

    Examples
    --------
    >>> name_list(["a", "b"]), name_list([f"c{i}" for i in range(10)])
    ("'a', 'b'", "'c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', ... (10 in all)")
    """
    shown = ", ".join(map(repr, names[:LISTED_NAMES]))
    return shown if len(names) <= LISTED_NAMES else f"{shown}, ... ({len(names)} in all)"


def align_columns(columns: list[str], wanted: list[str], what: str) -> list[str]:
    """The names of ``wanted`` found in ``columns``; missing ones raise, extra ones warn.

    Examples
    --------
    >>> align_columns(["b", "a"], ["a", "b"], "data")
    ['a', 'b']
    """
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataError(
            f"{what} lacks column(s) {name_list(missing)} that the model needs (it needs "
            f"{name_list(wanted)}); add them, matching names exactly."
        )
    extra = [c for c in columns if c not in wanted]
    if extra:
        warnings.warn(
            f"{what}: dropped column(s) {name_list(extra)} that the model does not use.",
            UserWarning,
            stacklevel=3,
        )
    return list(wanted)


def conform(schema: Schema | None, X: Any, what: str = "The input") -> Any:
    """``X`` checked against ``schema`` and put in the fitted layout (DataFrames by name)."""
    if not schema:
        return X.to_numpy() if _is_frame(X) else X
    modality = schema["modality"]
    if modality == "text":
        if _is_frame(X) or not _is_text(X):
            raise DataError(
                f"{what} is not text; this model was fitted on text (a list of strings, or a "
                "CSV with a 'text' column)."
            )
        return [str(t) for t in X]
    if _is_text(X):
        raise DataError(f"{what} is text, but this model was fitted on {modality} data.")
    if modality == "tabular":
        return _tabular(schema, X, what)
    return _image(schema, X, what)


def _tabular(schema: Schema, X: Any, what: str) -> np.ndarray:
    columns = schema.get("columns")
    if _is_frame(X):
        names = [str(c) for c in X.columns]
        if columns:
            frame = X.set_axis(names, axis=1)
            X = frame[align_columns(names, columns, what)]
        return _width(schema, _numeric(X), what)
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(
            f"{what} has shape {arr.shape}; this model takes a table of "
            f"{schema['n_features']} columns (rows x features)."
        )
    return _width(schema, arr, what)


def _width(schema: Schema, arr: np.ndarray, what: str) -> np.ndarray:
    if arr.shape[1] != schema["n_features"]:
        raise DataError(
            f"{what} has {arr.shape[1]} columns; this model was fitted on "
            f"{schema['n_features']}. Pass the same columns as at fit."
        )
    return arr


def _image(schema: Schema, X: Any, what: str) -> Any:
    arr = np.asarray(X)
    h, w = schema["shape"]
    channels = schema["channels"]
    want = f"{h}x{w}" + (" grey" if channels == 1 else f"x{channels}")
    if arr.ndim not in (3, 4):
        raise DataError(f"{what} has shape {arr.shape}; this model takes images N x {want}.")
    got_channels = 1 if arr.ndim == 3 else int(arr.shape[3])
    if list(arr.shape[1:3]) != [h, w] or got_channels != channels:
        got = f"{arr.shape[1]}x{arr.shape[2]}" + (
            " grey" if got_channels == 1 else f"x{got_channels}"
        )
        raise DataError(
            f"{what} holds {got} images; this model was fitted on {want} images. Convert "
            "them, or give image files (recycle resizes and converts files to the model's input)."
        )
    return X
