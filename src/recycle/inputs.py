"""Reading new, unlabelled data for prediction, in every format a target can have.

:func:`load_inputs` takes what :func:`recycle.data.load_target` takes, without labels:

- ``.npz`` with an ``X`` array (a ``y`` array, if present, is ignored);
- ``.csv`` / ``.parquet``: a table of features (matched to the model's columns by name) or a
  ``text`` column; a ``label`` column, if present, is ignored;
- a flat folder of images, a folder of ``<class>/`` folders, or a single image file.

Each row gets a key: the row number for arrays and tables, the file's path (relative to the
folder) for images, so predictions can be joined back to the user's data.

Examples
--------
>>> import tempfile, pandas as pd
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "new.csv"
>>> pd.DataFrame({"b": [1.0, 2.0], "a": [3.0, 4.0]}).to_csv(path, index=False)
>>> schema = {"modality": "tabular", "n_features": 2, "columns": ["a", "b"]}
>>> new = load_inputs(path, schema=schema)
>>> new.X.to_numpy().tolist(), list(new.X.columns), new.keys, new.key_name
([[3.0, 1.0], [4.0, 2.0]], ['a', 'b'], [0, 1], 'index')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recycle.data import FORMATS, image_settings, read_npz, read_table, table_features
from recycle.errors import DataError
from recycle.imagefiles import class_folders, image_files, is_image_file, read_images
from recycle.schema import Schema


@dataclass
class Inputs:
    """Unlabelled rows and the key of each row."""

    X: Any  # array, list of texts, or a DataFrame of named features
    keys: list[Any]  # row numbers, or image file paths relative to the folder
    key_name: str  # "index" or "file"


def _images(path: Path, schema: Schema | None, skip_bad: bool) -> Inputs:
    if path.is_file():
        files, root = [path], path.parent
    else:
        files = image_files(path) + [f for d in class_folders(path) for f in image_files(d)]
        root = path
    if not files:
        raise DataError(
            f"Folder {str(path)!r} has no image files (or only hidden ones); put the images "
            "in it, or in one sub-folder per class."
        )
    X, kept, _ = read_images(files, skip_bad=skip_bad, **image_settings(schema))
    return Inputs(X, [f.relative_to(root).as_posix() for f in kept], "file")


def load_inputs(
    path: str | Path,
    *,
    schema: Schema | None = None,
    label: str = "label",
    text: str = "text",
    skip_bad: bool = False,
) -> Inputs:
    """Read unlabelled data from ``path`` for a model with input ``schema``.

    Parameters
    ----------
    path : str or Path
        A file or folder (see the module docstring).
    schema : dict, optional
        The model's input schema (:mod:`recycle.schema`): columns are matched by name, images
        converted to its size and channels, text required where it takes text.
    label, text : str
        Names of the label column (ignored here) and the text column.
    skip_bad : bool, default False
        Skip unreadable image files with a warning instead of raising.

    Returns
    -------
    Inputs
        ``X``, one key per row, and the key's column name.

    Raises
    ------
    DataError
        A missing or unreadable file, an unknown format, or data that does not fit ``schema``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"Data {str(p)!r} does not exist; check the path.")
    if p.is_dir() or is_image_file(p):
        return _images(p, schema, skip_bad)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        X, _ = read_npz(p, need_y=False)
        return Inputs(X, list(range(len(X))), "index")
    if suffix in (".csv", ".parquet"):
        frame = read_table(p)
        frame = frame.drop(columns=[label]) if label in frame.columns else frame
        X, columns = table_features(frame, p.name, text, schema)
        if columns is not None:
            import pandas as pd

            X = pd.DataFrame(X, columns=columns)
        return Inputs(X, list(range(len(X))), "index")
    raise DataError(
        f"Unknown data format {p.suffix or p.name!r}; valid: {', '.join(FORMATS)}, "
        "a folder of images or one image file."
    )
