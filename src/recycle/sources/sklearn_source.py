"""Black-box sources backed by a fitted scikit-learn estimator or pipeline.

Features are ``transform(X)`` (PCA, scalers, pipelines ending in a transformer) or, for
classifiers without ``transform``, ``predict_proba(X)``. Stored with skops; loading accepts only
types from :data:`TRUSTED_MODULES` (an explicit list, never ``trusted=True``).

Examples
--------
>>> import numpy as np
>>> from sklearn.decomposition import PCA
>>> X = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
>>> src = SklearnSource(PCA(3).fit(X), source_id="pca.doc")
>>> src.embed(X).shape
(20, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from recycle.errors import ConfigError, IncompatibleError, SourceFailedError, UnsafeContentError
from recycle.progress import ProgressCallback, track
from recycle.sources import preprocess as pp
from recycle.sources.base import Access, Modality
from recycle.sources.torch_source import batches, n_batches

Method = Literal["auto", "transform", "predict_proba"]

#: Module prefixes whose *classes* a skops file may contain beyond skops' own defaults
#: (e.g. ``sklearn.tree._tree.Tree``). Functions and anything else are refused.
TRUSTED_MODULES = ("sklearn.", "scipy.sparse.")


def _is_trusted_class(name: str) -> bool:
    """Whether ``name`` (``module.Class``) is a class defined in a trusted module."""
    import importlib

    if not name.startswith(TRUSTED_MODULES):
        return False
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type)


class SklearnSource:
    """A source whose features come from a fitted scikit-learn estimator (black-box).

    Parameters
    ----------
    estimator : sklearn estimator
        Fitted; must have ``transform`` or ``predict_proba``.
    source_id : str, default "sklearn.model"
    preprocess_id : str, default "tabular:identity"
        The estimator sees the preprocessed batch as a numpy array (images are flattened).
    method : {"auto", "transform", "predict_proba"}, default "auto"
        ``auto`` uses ``transform`` when present, else ``predict_proba``.
    feature_dim : int, optional
        Inferred from a one-row probe when not given.
    source_classes : list of str, optional
        Default: ``estimator.classes_`` when it has ``predict_proba``.
    batch_size : int, default 4096
    """

    access: Access = "black-box"

    def __init__(
        self,
        estimator: Any,
        *,
        source_id: str = "sklearn.model",
        preprocess_id: str = "tabular:identity",
        method: Method = "auto",
        feature_dim: int | None = None,
        source_classes: Sequence[str] | None = None,
        batch_size: int = 4096,
    ) -> None:
        if method == "auto":
            method = "transform" if hasattr(estimator, "transform") else "predict_proba"
        if method not in ("transform", "predict_proba") or not hasattr(estimator, method):
            raise ConfigError(
                f"SklearnSource needs an estimator with transform or predict_proba; "
                f"{type(estimator).__name__} has neither (method={method!r})."
            )
        self.estimator = estimator
        self.method: Method = method
        self.source_id = source_id
        self.preprocess = pp.get(preprocess_id)
        self.preprocess_id = self.preprocess.id
        self.modality: Modality = self.preprocess.modality
        self.batch_size = int(batch_size)
        classes = source_classes
        if classes is None and hasattr(estimator, "predict_proba"):
            classes = [str(c) for c in getattr(estimator, "classes_", [])]
        self.source_classes: list[str] = [str(c) for c in (classes or [])]
        if feature_dim is None:
            n_in = getattr(estimator, "n_features_in_", None)
            if n_in is None:
                raise ConfigError("Pass feature_dim: the estimator has no n_features_in_.")
            feature_dim = self._apply(np.zeros((1, int(n_in)), np.float32), method).shape[1]
        self.feature_dim = int(feature_dim)

    def __repr__(self) -> str:
        kind = type(self.estimator).__name__
        return f"SklearnSource({self.source_id!r}, {kind}, d={self.feature_dim})"

    def _apply(self, A: np.ndarray, method: str) -> np.ndarray:
        try:
            out = getattr(self.estimator, method)(A)
        except Exception as exc:  # any estimator error becomes a source failure
            raise SourceFailedError(
                f"Source {getattr(self, 'source_id', '?')!r}: {method} failed: {exc}"
            ) from exc
        return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=np.float32)

    def _run(self, X: Any, method: str, progress: ProgressCallback | None) -> np.ndarray:
        X = self.preprocess.check(X)
        total = n_batches(len(X), self.batch_size)
        parts = []
        for b in track(batches(X, self.batch_size), f"embed {self.source_id}", progress, total):
            t = self.preprocess(b)
            if isinstance(t, dict):
                raise ConfigError(f"SklearnSource cannot take {self.preprocess_id!r} inputs.")
            parts.append(self._apply(t.numpy().reshape(len(t), -1), method))
        width = self.feature_dim if method == self.method else len(self.source_classes)
        if not parts:
            return np.zeros((0, width), dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def embed(self, X: Any, progress: ProgressCallback | None = None) -> np.ndarray:
        """Return ``(n, feature_dim)`` float32 features of ``X``."""
        return self._run(X, self.method, progress)

    def predict_proba(self, X: Any, progress: ProgressCallback | None = None) -> np.ndarray:
        """Return ``(n, len(source_classes))`` probabilities (estimators with predict_proba)."""
        if not self.source_classes or not hasattr(self.estimator, "predict_proba"):
            raise IncompatibleError(f"Source {self.source_id!r} has no predict_proba.")
        return self._run(X, "predict_proba", progress)


def trusted_types(data: bytes) -> list[str]:
    """Return the skops types in ``data`` that need trusting, all from the allow-list.

    Raises
    ------
    UnsafeContentError
        A type outside :data:`TRUSTED_MODULES` (or a forbidden one) is present, or the bytes
        are not a skops file.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> import numpy as np, skops.io
    >>> data = skops.io.dumps(PCA(1).fit(np.eye(3)))
    >>> all(t.startswith(TRUSTED_MODULES) for t in trusted_types(data))
    True
    """
    import skops.io

    try:
        found = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises various errors for non-skops bytes
        raise UnsafeContentError(
            f"Not a valid skops file ({exc}); save with skops.io.dumps."
        ) from exc
    bad = [t for t in found if not _is_trusted_class(t)]
    if bad:
        raise UnsafeContentError(
            f"The skops file contains types outside the allow-list: {bad[:5]}; only "
            f"classes from {', '.join(TRUSTED_MODULES)} are accepted."
        )
    return list(found)


def load_skops(data: bytes) -> Any:
    """Load a skops file after checking its types against the allow-list (never pickle).

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> import numpy as np, skops.io
    >>> type(load_skops(skops.io.dumps(StandardScaler().fit(np.eye(2))))).__name__
    'StandardScaler'
    """
    import skops.io

    trusted = trusted_types(data)
    try:
        return skops.io.loads(data, trusted=trusted)
    except Exception as exc:  # skops raises various errors for malformed files
        raise UnsafeContentError(f"Could not load the skops file: {exc}") from exc
