"""Load and check a user's labelled target dataset.

Formats (see DESIGN.md) that :func:`load_target` reads:

- ``.npz`` with arrays ``X`` and ``y`` (``X`` may be images ``N x H x W[x3]``, a feature matrix
  ``N x D``, or a 1-d array of strings for text);
- ``.csv`` / ``.parquet`` with a ``label`` column and either a ``text`` column (text) or only
  numeric feature columns (tabular);
- a folder ``root/<class>/*.png`` (also ``.jpg``, ``.bmp``, ``.webp``, ...): images of any size
  and mode, brought to one size by the policy of :mod:`recycle.imagefiles`; hidden files and
  folders are ignored.

Tables keep their column names (``TargetData.columns``) so that a model matches columns by name.
Unlabelled inputs (for prediction) are read by :mod:`recycle.inputs`.

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
from recycle.imagefiles import class_folders, image_files, read_images
from recycle.schema import Schema, align_columns, name_list

Modality = Literal["image", "text", "tabular"]

#: File suffixes (and "folder") that :func:`load_target` understands.
FORMATS = (".npz", ".csv", ".parquet", "folder of <class>/*.png")


@dataclass
class TargetData:
    """A labelled target dataset, checked and with labels mapped to ``0..C-1``."""

    X: Any  # np.ndarray (image N x H x W[x3] uint8, tabular N x D float) or list[str] (text)
    y: np.ndarray  # int64 class indices into ``classes``
    classes: list[Any]  # original label values, sorted; ``np.asarray(classes)[y]`` gives labels
    modality: Modality  # "image", "text" or "tabular"
    columns: list[str] | None = None  # a table's feature column names, in the order of X

    def features(self) -> Any:
        """``X`` as a model takes it: a DataFrame with its column names when it has them."""
        if self.columns is None:
            return self.X
        import pandas as pd

        return pd.DataFrame(self.X, columns=self.columns)

    def labels(self) -> np.ndarray:
        """The original label of every row (``classes[y]``).

        >>> TargetData([[0.0], [1.0]], np.array([1, 0]), ["cat", "dog"], "tabular").labels()
        array(['dog', 'cat'], dtype='<U3')
        """
        return np.asarray(self.classes)[self.y]


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


def read_npz(path: Path, need_y: bool) -> tuple[Any, Any]:
    """``(X, y)`` of a plain ``.npz`` (``y`` None when absent and not needed)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "X" not in keys or (need_y and "y" not in keys):
                need = "arrays 'X' and 'y' (np.savez(path, X=X, y=y))" if need_y else "an array 'X'"
                raise DataError(f"{path.name} has arrays {sorted(keys)}; an .npz needs {need}.")
            X, y = npz["X"], (npz["y"] if "y" in keys else None)
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(
            f"{path.name} holds object arrays, which need pickle; save plain arrays "
            "(strings as dtype 'U')."
        ) from exc
    except (OSError, EOFError) as exc:
        raise DataError(
            f"{path.name} is not a readable .npz ({type(exc).__name__}: {exc}); save the "
            "arrays with np.savez."
        ) from None
    return (X.tolist() if X.dtype.kind in "US" else X), y


def read_table(path: Path) -> Any:
    """A ``.csv`` / ``.parquet`` file as a DataFrame; unreadable or empty files raise DataError."""
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty; write a header row and data rows.") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(
            f"{path.name} cannot be read as {path.suffix.lstrip('.')} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); check the file."
        ) from None
    if len(frame) == 0:
        raise DataError(f"{path.name} has a header but no rows; add data rows.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _from_table(
    path: Path, label: str, text: str, schema: Schema | None
) -> tuple[Any, Any, list[str] | None]:
    frame = read_table(path)
    if label not in frame.columns:
        raise DataError(
            f"{path.name} has no {label!r} column (columns: {name_list(list(frame.columns))}); "
            f"add a {label!r} column with the class of each row."
        )
    y = frame[label]
    if y.isna().any():
        raise DataError(
            f"{path.name}: {int(y.isna().sum())} rows have an empty {label!r}; fill or drop them."
        )
    X, columns = table_features(frame.drop(columns=[label]), path.name, text, schema)
    return X, y.tolist(), columns


def table_features(
    frame: Any, name: str, text: str = "text", schema: Schema | None = None
) -> tuple[Any, list[str] | None]:
    """``(X, columns)`` of a table without its label: texts, or float32 features by name.

    With a tabular ``schema`` naming columns, the features are those columns in that order
    (missing ones raise, extra ones are dropped with a warning); without one, every column.
    """
    modality = schema["modality"] if schema else ("text" if text in frame.columns else "tabular")
    if modality == "text":
        if text not in frame.columns:
            raise DataError(
                f"{name} has no {text!r} column (columns: {name_list(list(frame.columns))}); the "
                f"model takes text: put it in a {text!r} column."
            )
        return frame[text].fillna("").astype(str).tolist(), None
    if modality != "tabular":
        raise DataError(f"{name} is a table, but the model takes {modality}s; give {modality}s.")
    wanted = (schema or {}).get("columns")
    if wanted:
        frame = frame[align_columns(list(frame.columns), wanted, name)]
    if frame.shape[1] == 0:
        raise DataError(f"{name} has no feature columns; add feature columns.")
    import pandas as pd

    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(
            f"{name}: columns {bad} are not numeric; a tabular target needs numeric "
            f"features (encode or drop them), or put text in a {text!r} column."
        )
    return np.array(frame.to_numpy(dtype=np.float32)), list(frame.columns)  # writable copy


def table_columns(path: str | Path, label: str = "label", text: str = "text") -> list[str] | None:
    """The feature column names of a tabular ``.csv`` / ``.parquet`` (None for other data).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> pd.DataFrame({"b": [1], "a": [2], "label": ["x"]}).to_csv(path, index=False)
    >>> table_columns(path)
    ['b', 'a']
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"Data {str(p)!r} does not exist; check the path.")
    if not p.is_file() or p.suffix.lower() not in (".csv", ".parquet"):
        return None
    columns = [c for c in read_table(p).columns if c != label]
    return None if text in columns else columns


def image_settings(schema: Schema | None) -> dict[str, Any]:
    """``size`` and ``channels`` for :func:`recycle.imagefiles.read_images` from a schema."""
    if not schema:
        return {}
    if schema["modality"] != "image":
        raise DataError(
            f"Got images, but the model takes {schema['modality']} data; give that (see --help)."
        )
    return {"size": tuple(schema["shape"]), "channels": schema["channels"]}


def _from_folder(root: Path, schema: Schema | None, skip_bad: bool) -> tuple[np.ndarray, list[str]]:
    files = [(f, d.name) for d in class_folders(root) for f in image_files(d)]
    if not files:
        raise DataError(
            f"Folder {str(root)!r} has no images in class folders; lay it out as "
            "root/<class>/*.png (hidden folders are ignored)."
        )
    X, kept, _ = read_images([f for f, _ in files], skip_bad=skip_bad, **image_settings(schema))
    labels = dict(files)
    return X, [labels[f] for f in kept]


def load_target(
    path: str | Path,
    *,
    label: str = "label",
    text: str = "text",
    schema: Schema | None = None,
    skip_bad: bool = False,
) -> TargetData:
    """Read a labelled target dataset from ``.npz``, ``.csv``, ``.parquet`` or an image folder.

    Parameters
    ----------
    path : str or Path
        The file or folder (see the module docstring for the layouts).
    label : str, default "label"
        The label column of a table.
    text : str, default "text"
        The text column of a table; without it a table is tabular.
    schema : dict, optional
        A fitted model's input schema (:mod:`recycle.schema`): table columns are matched to it
        by name, images are brought to its size and channels.
    skip_bad : bool, default False
        Skip unreadable image files with a warning instead of raising.

    Returns
    -------
    TargetData
        ``X``, ``y`` (ints ``0..C-1``), ``classes``, ``modality`` and the table's ``columns``.

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
    columns = None
    if p.is_dir():
        X, y = _from_folder(p, schema, skip_bad)
    elif p.suffix.lower() == ".npz":
        X, y = read_npz(p, need_y=True)
    elif p.suffix.lower() in (".csv", ".parquet"):
        X, y, columns = _from_table(p, label, text, schema)
    else:
        raise DataError(
            f"Unknown target format {p.suffix or p.name!r}; valid formats: {', '.join(FORMATS)}."
        )
    features, y_int, classes = check_target(X, y)
    return TargetData(features, y_int, classes, infer_modality(features), columns)
