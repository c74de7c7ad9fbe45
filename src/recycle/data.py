"""Load and check a user's labelled target dataset.

Formats (see DESIGN.md) that :func:`load_target` reads:

- ``.npz`` with arrays ``X`` and ``y`` (``X`` may be images ``N x H x W[x3]``, a feature matrix
  ``N x D``, or a 1-d array of strings for text);
- ``.csv`` / ``.parquet`` with a ``label`` column and either a ``text`` column (text) or only
  numeric feature columns (tabular);
- a folder ``root/<class>/*.png`` (also ``.jpg``, ``.jpeg``, ``.bmp``): images of one size.

:func:`check_target` validates in-memory ``X, y`` for everything that fits on a target
(``Recycler.fit``, ``select_sources``): labels may be strings or ints; classes are sorted and
``y`` is mapped to ``0..C-1``. Every problem raises a one-line :class:`~recycle.errors.DataError`.

Examples
--------
>>> import numpy as np
>>> X, y, classes = check_target(np.zeros((4, 2)), ["b", "a", "b", "a"])
>>> y.tolist(), classes
([1, 0, 1, 0], ['a', 'b'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recycle.errors import DataError

Modality = Literal["image", "text", "tabular"]

#: File suffixes (and "folder") that :func:`load_target` understands.
FORMATS = (".npz", ".csv", ".parquet", "folder of <class>/*.png")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class TargetData:
    """A labelled target dataset, checked and with labels mapped to ``0..C-1``."""

    X: Any  # np.ndarray (image N x H x W[x3] uint8, tabular N x D float) or list[str] (text)
    y: np.ndarray  # int64 class indices into ``classes``
    classes: list[Any]  # original label values, sorted; ``np.asarray(classes)[y]`` gives labels
    modality: Modality  # "image", "text" or "tabular"


def infer_modality(X: Any) -> Modality:
    """Guess the modality: a list/array of strings is text, 3-d/4-d arrays images, else tabular.

    Examples
    --------
    >>> infer_modality(["a movie"]), infer_modality(np.zeros((2, 8, 8))), infer_modality([[1.0]])
    ('text', 'image', 'tabular')
    """
    if isinstance(X, np.ndarray):
        if X.dtype.kind in "USO" and X.ndim == 1:
            return "text"
        return "image" if X.ndim in (3, 4) else "tabular"
    if len(X) > 0 and all(isinstance(x, str) for x in X):
        return "text"
    return infer_modality(np.asarray(X))


def _labels(y: Any) -> tuple[np.ndarray, list[Any]]:
    """Map labels (ints, integral floats or strings, not mixed) to ``0..C-1`` and sorted classes."""
    values = list(y.tolist() if isinstance(y, np.ndarray) else y)
    if any(isinstance(v, list | tuple | dict) for v in values):
        raise DataError("Labels must be one value per example; got nested labels. Flatten y.")
    kinds = {"str" if isinstance(v, str) else "num" for v in values}
    if len(kinds) > 1:
        raise DataError(
            "Labels mix strings and numbers; use one type for all labels "
            "(e.g. convert them all to strings)."
        )
    if kinds == {"num"}:
        arr = np.asarray(values, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise DataError("Labels contain NaN or inf; remove those rows or fill the labels.")
        if not np.all(arr == np.round(arr)):
            raise DataError(
                "Labels are non-integer numbers (a regression target?); classification needs "
                "class labels: ints or strings."
            )
        values = [int(v) for v in arr]
    classes = sorted(set(values))
    index = {c: i for i, c in enumerate(classes)}
    return np.asarray([index[v] for v in values], dtype=np.int64), classes


def check_target(
    X: Any, y: Any, min_per_class: int = 2
) -> tuple[np.ndarray | list[str], np.ndarray, list[Any]]:
    """Validate a target dataset and map its labels to ``0..C-1``.

    Parameters
    ----------
    X : array-like or list of str
        Features (``N x D``), images (``N x H x W[x3]``) or texts.
    y : array-like
        ``N`` labels: ints or strings (not mixed).
    min_per_class : int, default 2
        Fewest examples any class may have.

    Returns
    -------
    X : numpy.ndarray or list of str
        The features as an array (texts as a list of str).
    y : numpy.ndarray
        int64 class indices.
    classes : list
        The sorted original labels, so ``np.asarray(classes)[y]`` recovers them.

    Raises
    ------
    DataError
        Empty data, length mismatch, NaN/inf features, bad labels, a single class, or a class
        with fewer than ``min_per_class`` examples.

    Examples
    --------
    >>> X, y, classes = check_target([[0.0], [1.0], [2.0], [3.0]], [7, 3, 7, 3])
    >>> y.tolist(), classes
    ([1, 0, 1, 0], [3, 7])
    """
    if X is None or y is None:
        raise DataError("Target needs both X and y; got None. Pass features and labels.")
    n_x, n_y = len(X), len(y)
    if n_x == 0:
        raise DataError("Target has no examples; pass at least two examples per class.")
    if n_x != n_y:
        raise DataError(f"X has {n_x} rows but y has {n_y} labels; they must have the same length.")
    if infer_modality(X) == "text":
        texts = [str(t) for t in X]
        features: np.ndarray | list[str] = texts
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise DataError(
                f"Features must be numeric; got dtype {arr.dtype}. Encode or drop "
                "non-numeric columns (text goes in a 'text' column)."
            )
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            row = int(np.argwhere(~np.isfinite(arr))[0][0])
            raise DataError(
                f"Features contain {bad} NaN/inf values (first in row {row}); "
                "impute or drop those rows."
            )
        features = arr
    y_int, classes = _labels(y)
    if len(classes) < 2:
        raise DataError(f"Target has a single class {classes[0]!r}; need at least 2 classes.")
    counts = np.bincount(y_int, minlength=len(classes))
    small = [c for c, k in zip(classes, counts, strict=True) if k < min_per_class]
    if small:
        k = int(counts[classes.index(small[0])])
        raise DataError(
            f"Class {small[0]!r} has {k} example(s); each class needs at least "
            f"{min_per_class}. Add examples or drop that class."
        )
    return features, y_int, classes


def _from_npz(path: Path) -> tuple[Any, Any]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if not {"X", "y"} <= keys:
                raise DataError(
                    f"{path.name} has arrays {sorted(keys)}; an .npz target needs arrays 'X' "
                    "and 'y' (np.savez(path, X=X, y=y))."
                )
            X, y = npz["X"], npz["y"]
    except ValueError as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(
            f"{path.name} holds object arrays, which need pickle; save plain arrays "
            "(strings as dtype 'U')."
        ) from exc
    return (X.tolist() if X.dtype.kind in "US" else X), y


def _from_table(path: Path, label: str, text: str) -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    if label not in frame.columns:
        raise DataError(
            f"{path.name} has no {label!r} column (columns: {', '.join(map(str, frame.columns))}); "
            f"add a {label!r} column with the class of each row."
        )
    y = frame[label]
    if y.isna().any():
        raise DataError(
            f"{path.name}: {int(y.isna().sum())} rows have an empty {label!r}; fill or drop them."
        )
    if text in frame.columns:
        return frame[text].fillna("").astype(str).tolist(), y.tolist()
    features = frame.drop(columns=[label])
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise DataError(
            f"{path.name}: columns {bad} are not numeric; a tabular target needs numeric "
            f"features (encode or drop them), or put text in a {text!r} column."
        )
    if features.shape[1] == 0:
        raise DataError(f"{path.name} has only the {label!r} column; add feature columns.")
    return features.to_numpy(dtype=np.float32), y.tolist()


def _from_folder(root: Path) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    files = [
        (f, d.name)
        for d in class_dirs
        for f in sorted(d.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DataError(f"Folder {str(root)!r} has no images; lay it out as root/<class>/*.png.")
    images = [Image.open(f) for f, _ in files]
    rgb = any(im.mode not in ("L", "1", "I;16", "I") for im in images)
    size = images[0].size
    arrays = []
    for (f, _), im in zip(files, images, strict=True):
        if im.size != size:
            raise DataError(
                f"Image {f.name!r} is {im.size[0]}x{im.size[1]} but {files[0][0].name!r} is "
                f"{size[0]}x{size[1]}; resize all images to one size."
            )
        arrays.append(np.asarray(im.convert("RGB" if rgb else "L"), dtype=np.uint8))
    return np.stack(arrays), [c for _, c in files]


def load_target(path: str | Path, *, label: str = "label", text: str = "text") -> TargetData:
    """Read a labelled target dataset from ``.npz``, ``.csv``, ``.parquet`` or an image folder.

    Parameters
    ----------
    path : str or Path
        The file or folder (see the module docstring for the layouts).
    label : str, default "label"
        The label column of a table.
    text : str, default "text"
        The text column of a table; without it a table is tabular.

    Returns
    -------
    TargetData
        ``X``, ``y`` (ints ``0..C-1``), ``classes`` and ``modality``.

    Raises
    ------
    DataError
        Missing file, unknown format, missing columns, or any :func:`check_target` problem.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "t.npz")
    >>> np.savez(path, X=np.eye(4), y=np.array(["a", "b", "a", "b"]))
    >>> target = load_target(path)
    >>> target.modality, target.classes, target.y.tolist()
    ('tabular', ['a', 'b'], [0, 1, 0, 1])
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"Target {str(p)!r} does not exist; check the path.")
    X: Any
    y: Sequence[Any] | np.ndarray
    if p.is_dir():
        X, y = _from_folder(p)
    elif p.suffix.lower() == ".npz":
        X, y = _from_npz(p)
    elif p.suffix.lower() in (".csv", ".parquet"):
        X, y = _from_table(p, label, text)
    else:
        raise DataError(
            f"Unknown target format {p.suffix or p.name!r}; valid formats: {', '.join(FORMATS)}."
        )
    features, y_int, classes = check_target(X, y)
    return TargetData(features, y_int, classes, infer_modality(features))
