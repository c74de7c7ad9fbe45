"""Black-box sources backed by a LightGBM classifier, stored as LightGBM's own text model.

The zoo stores ``model.lgbm.txt``, the text that ``Booster.model_to_string()`` writes (trees,
thresholds and leaf values as text; never a pickle), and loads it with
``Booster(model_str=...)`` after :func:`check_model_text` has checked it: UTF-8 text in
LightGBM's format, a model of a version this loader reads, and as many classes and input
columns as the entry's config says. Features are the model's class probabilities, like a
scikit-learn classifier source's.

Examples
--------
>>> import numpy as np
>>> from lightgbm import LGBMClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
>>> model = LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
>>> src = LightGBMSource(model.booster_, source_id="lgbm.doc", source_classes=["no", "yes"])
>>> config, files = src.to_artifact()
>>> back = from_artifact(config, files, {})
>>> bool(np.allclose(back.predict_proba(X[:5]), model.predict_proba(X[:5])))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recycle.errors import UnsafeContentError

#: The model file of a LightGBM entry.
MODEL_FILE = "model.lgbm.txt"
#: Model text versions this loader reads (LightGBM writes ``version=v4``).
VERSIONS = ("v3", "v4")


def _header(text: str) -> dict[str, str]:
    """``key=value`` lines of the model text before its first tree."""
    head = text.split("\nTree=", 1)[0]
    return dict(line.split("=", 1) for line in head.splitlines() if "=" in line)


def check_model_text(data: bytes, n_classes: int, n_features: int) -> str:
    """The model text in ``data`` once it is checked; UnsafeContentError naming what is wrong.

    >>> check_model_text(b"\\x80\\x04K\\x01.", 2, 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    recycle.errors.UnsafeContentError: The LightGBM model file is not UTF-8 text; ...
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeContentError(
            "The LightGBM model file is not UTF-8 text; store the text of "
            "Booster.model_to_string()."
        ) from exc
    head = _header(text)
    if not text.startswith("tree\n") or head.get("version") not in VERSIONS:
        raise UnsafeContentError(
            f"The LightGBM model file is not a LightGBM text model of version "
            f"{'/'.join(VERSIONS)} (it starts {text[:20]!r}); store Booster.model_to_string()."
        )
    classes = max(int(head.get("num_class", "1")), 2)
    features = int(head.get("max_feature_idx", "-2")) + 1
    if classes != n_classes or features != n_features:
        raise UnsafeContentError(
            f"The LightGBM model has {classes} classes and {features} input columns, but its "
            f"entry says {n_classes} and {n_features}; the files do not belong together."
        )
    return text


class LightGBMSource:
    """A source whose features are a LightGBM classifier's class probabilities (black-box).

    Parameters
    ----------
    booster : lightgbm.Booster
        A trained classifier (binary or multiclass).
    source_id : str
    source_classes : sequence of str
        The model's classes, in its output order.
    """

    modality = "tabular"
    access = "black-box"

    def __init__(self, booster: Any, source_id: str, source_classes: Sequence[str]) -> None:
        self.booster = booster
        self.source_id = source_id
        self.source_classes = [str(c) for c in source_classes]
        self.feature_dim = len(self.source_classes)
        self.n_features = int(booster.num_feature())

    def __repr__(self) -> str:
        return f"LightGBMSource({self.source_id!r}, classes={self.source_classes})"

    def predict_proba(self, X: Any, progress: Any = None) -> np.ndarray:
        """``(n, len(source_classes))`` class probabilities (float32)."""
        A = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        p = np.asarray(self.booster.predict(A))
        if p.ndim == 1:  # binary: the probability of the second class
            p = np.c_[1.0 - p, p]
        return p.astype(np.float32)

    embed = predict_proba

    def to_artifact(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """``(config, files)`` for the zoo: the model text and what checks it on load."""
        config = {
            "format": "lightgbm", "source_id": self.source_id, "parents": [],
            "feature_dim": self.feature_dim, "source_classes": self.source_classes,
            "n_features": self.n_features, "modality": self.modality,
        }  # fmt: skip
        return config, {MODEL_FILE: self.booster.model_to_string().encode("utf-8")}


def from_artifact(config: dict[str, Any], files: dict[str, Any], parents: Any) -> LightGBMSource:
    """The source :meth:`LightGBMSource.to_artifact` stored (files as bytes or paths)."""
    import lightgbm

    raw = files.get(MODEL_FILE)
    if raw is None:
        raise UnsafeContentError(f"A LightGBM entry needs its {MODEL_FILE!r}; it is missing.")
    data = raw if isinstance(raw, bytes) else raw.read_bytes()
    classes = list(config.get("source_classes") or [])
    text = check_model_text(data, len(classes), int(config.get("n_features", -1)))
    try:
        booster = lightgbm.Booster(model_str=text)
    except lightgbm.basic.LightGBMError as exc:
        raise UnsafeContentError(f"LightGBM cannot read the model file ({exc}).") from exc
    return LightGBMSource(booster, str(config["source_id"]), classes)
