"""The strategy contract every adaptation strategy implements, and the helpers they share.

A strategy is a scikit-learn style classifier built on a fixed list of sources::

    Strategy(sources: list[SourceModel], seed=0, **params)
    .fit(X, y, features=None) -> self        # features: {source_id: train features}
    .predict_proba(X, features=None), .predict(X, features=None)
    .trainable_params_                       # int, set by fit
    .to_state() -> (config, tensors); Strategy.from_state(config, tensors, sources)

``features`` lets a caller that already embedded ``X`` (selection, the Recycler's
cross-validation) pass the rows instead of re-embedding; otherwise sources embed through
:func:`recycle.sources.cache.cached_embed`.

:func:`infer_modality` is :func:`recycle.data.infer_modality`, the one modality rule.

This module imports no strategy: each strategy module imports it, and registers itself with
:func:`recycle.adapt.registry.register_strategy`.

Examples
--------
>>> infer_modality(["a short text"])
'text'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from recycle.data import infer_modality
from recycle.errors import ConfigError, DataError, NotFittedError
from recycle.sources.base import SourceModel
from recycle.sources.cache import cached_embed

Features = dict[str, np.ndarray]

#: BLAS threads inside fit/predict. Our problems are small (hundreds of rows): multi-threaded
#: BLAS only adds contention (measured: a 67 x 100 logistic regression takes 0.6 s with the
#: default threads on a busy 2-core machine, 0.04 s with one).
BLAS_THREADS = 1

#: Constructor arguments that are not saved with a strategy's state (objects, callbacks).
NON_STATE_PARAMS = ("sources", "progress")


class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
    """recycle's :class:`~recycle.errors.NotFittedError` that scikit-learn also recognises."""


def take(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of ``X`` (an array or a list of texts)."""
    if isinstance(X, np.ndarray):
        return X[idx]
    return [X[int(i)] for i in idx]


def embed(source: SourceModel, X: Any) -> np.ndarray:
    """Embed ``X`` with ``source`` through the feature cache; float32 ``(n, d)``."""
    arr = np.asarray(cached_embed(source, X), dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return arr


def source_features(
    sources: Sequence[SourceModel], X: Any, features: Features | None = None
) -> list[np.ndarray]:
    """Features of ``X`` for every source, taken from ``features`` when given, else embedded."""
    n = len(X)
    out = []
    for src in sources:
        F = None if features is None else features.get(src.source_id)
        if F is None:
            F = embed(src, X)
        F = np.asarray(F, dtype=np.float32)
        if F.ndim != 2 or F.shape[0] != n:
            raise DataError(
                f"Features of source {src.source_id!r} have shape {F.shape}; expected ({n}, d) "
                "for the rows of X. Pass features computed on the same X."
            )
        out.append(F)
    return out


class Strategy(ClassifierMixin, BaseEstimator):
    """Base class of every adaptation strategy (see the module docstring for the contract).

    Subclasses define ``__init__`` (storing arguments only, with type hints: the registry checks
    user parameters against them), ``_fit(X, y, feats)`` with ``y`` in ``0..C-1`` and ``feats``
    one array per source, and ``_proba(X, feats)``. The fitted state is, by default, the flat
    dict of numpy arrays ``arrays_`` that ``_fit`` sets; strategies with other state override
    ``_state()`` and ``_load_state(config, tensors)``.
    """

    #: Registry name.
    name: ClassVar[str] = ""
    #: Whether the strategy reads the sources (False for the no-source baseline).
    uses_sources: ClassVar[bool] = True
    #: "black-box" (features only) or "white-box" (needs the sources' modules).
    access: ClassVar[str] = "black-box"
    #: Rough cost (1 = a logistic regression; torch training is ~50), used by auto's budget.
    relative_cost: ClassVar[float] = 1.0
    #: Parameters of earlier versions as saved in model folders: old name -> new name, or None
    #: for a parameter that was removed because it had no effect.
    legacy_params: ClassVar[dict[str, str | None]] = {}

    sources: list[SourceModel] | None
    seed: int

    # -- scikit-learn plumbing ---------------------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    def _sources(self) -> list[SourceModel]:
        return list(self.sources or []) if self.uses_sources else []

    def _check_X(self, X: Any, reset: bool) -> Any:
        # array-likes without len() (scikit-learn's checks pass some) are read as arrays
        modality = infer_modality(X if hasattr(X, "__len__") else np.asarray(X))
        if modality == "text":
            return [str(t) for t in X]
        if modality == "image":
            arr = np.asarray(X)
            if not np.all(np.isfinite(arr)):
                raise DataError("Images contain NaN or infinite values; fix or drop those rows.")
            return arr
        return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])

    def fit(self, X: Any, y: Any, features: Features | None = None) -> Strategy:
        """Fit on target ``(X, y)``; ``features`` maps source ids to precomputed train features."""
        if self.uses_sources and not self._sources():
            raise ConfigError(
                f"Strategy {self.name!r} needs at least one source; got none. Pass sources or "
                "use strategy='independent'."
            )
        X = self._check_X(X, reset=True)
        if infer_modality(X) == "tabular":
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        check_classification_targets(y)
        self.classes_, y_int = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"Target has 1 class ({self.classes_[0]!r}); need at least 2 classes.")
        feats = source_features(self._sources(), X, features)
        with threadpool_limits(BLAS_THREADS, user_api="blas"):
            self._fit(X, y_int.astype(np.int64), feats)
        return self

    def predict_proba(self, X: Any, features: Features | None = None) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` in the order of ``classes_``."""
        try:
            check_is_fitted(self, "classes_")
        except Exception as exc:
            raise EstimatorNotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) first."
            ) from exc
        X = self._check_X(X, reset=False)
        feats = source_features(self._sources(), X, features)
        with threadpool_limits(BLAS_THREADS, user_api="blas"):
            proba = np.asarray(self._proba(X, feats), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: Any, features: Features | None = None) -> np.ndarray:
        """Predicted labels (values of ``classes_``)."""
        proba = self.predict_proba(X, features)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- persistence ---------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return ``(config, tensors)``: JSON-able config and named numpy arrays (no pickle)."""
        check_is_fitted(self, "classes_")
        config, tensors = self._state()
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in NON_STATE_PARAMS}
        config = {
            "strategy": self.name,
            "params": params,
            "classes": np.asarray(self.classes_).tolist(),
            "trainable_params": int(self.trainable_params_),
            "n_features_in": int(getattr(self, "n_features_in_", -1)),
            **config,
        }
        return config, {k: np.ascontiguousarray(v) for k, v in tensors.items()}

    @classmethod
    def from_state(
        cls,
        config: dict[str, Any],
        tensors: dict[str, np.ndarray],
        sources: Sequence[SourceModel] | None,
    ) -> Strategy:
        """Rebuild a fitted strategy from :meth:`to_state` output and the same sources."""
        params = {}
        for key, value in config.get("params", {}).items():
            new = cls.legacy_params.get(key, key)
            if new is not None:
                params[new] = value
        est = cls(sources=list(sources or []), **params)
        est.classes_ = np.asarray(config["classes"])
        est.trainable_params_ = int(config["trainable_params"])
        if config.get("n_features_in", -1) >= 0:
            est.n_features_in_ = int(config["n_features_in"])
        est._load_state(config, tensors)
        return est

    # -- to implement --------------------------------------------------------------------------
    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        raise NotImplementedError

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, dict(self.arrays_)

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.arrays_ = {k: np.asarray(v) for k, v in tensors.items()}
