"""Black-box baselines: linear probe, stacking, averaging, feature augment, independent.

All read sources only through ``embed`` and train logistic regressions (plain numpy arrays at
prediction time, so save/load is exact) except ``independent``, which trains the small target
network of :mod:`recycle.adapt.nets` alone, with no source.

- ``linear_probe``: logistic regression on the concatenated, L2-normalised, standardised
  features of the ``m`` sources (the paper's multi-source SVM, as a probabilistic model).
- ``stacking``: one logistic regression per source; a second-level logistic regression on the
  concatenated out-of-fold per-source probabilities.
- ``averaging``: mean of the per-source logistic-regression probabilities (learnware's
  AveragingReuser idea).
- ``feature_augment``: the target's own raw features (pixels at 28x28, hashed words, or the
  columns) with each source's out-of-fold target-class probabilities appended, then a logistic
  regression (learnware's FeatureAugmentReuser idea; sources' own label spaces differ from the
  target's, so their "outputs" are read out through a per-source linear head).

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> class Pixels:
...     source_id, modality, access, feature_dim = "pixels", "tabular", "black-box", 64
...     def embed(self, X):
...         return np.asarray(X, dtype=np.float32)
>>> lp = LinearProbe([Pixels()]).fit(X[:300], y[:300])
>>> lp.score(X[300:600], y[300:600]) > 0.8
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recycle.adapt._linear import (
    LOGREG_C,
    apply_scaler,
    fit_logreg,
    fit_scaler,
    l2_normalize,
    logreg_proba,
    oof_proba,
    pack,
    unpack,
)
from recycle.adapt.feature_mixing import FeatureMixing
from recycle.adapt.nets import OwnInput
from recycle.adapt.strategies import Strategy
from recycle.progress import ProgressCallback
from recycle.sources.base import SourceModel


class _LinearBase(Strategy):
    """Shared ``__init__`` and state handling of the logistic-regression baselines."""

    relative_cost: ClassVar[float] = 1.0

    def __init__(
        self, sources: list[SourceModel] | None = None, seed: int = 0, C: float = LOGREG_C
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.C = C

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, dict(self.arrays_)

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.arrays_ = {k: np.asarray(v) for k, v in tensors.items()}

    def _n_params(self) -> int:
        return int(sum(v.size for k, v in self.arrays_.items() if k.endswith((".W", ".b"))))


class LinearProbe(_LinearBase):
    """Logistic regression on the concatenated L2-normalised features of the sources."""

    name: ClassVar[str] = "linear_probe"

    def _design(self, feats: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([l2_normalize(F.astype(np.float64)) for F in feats], axis=1)

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        D = self._design(feats)
        scaler = fit_scaler(D)
        head = fit_logreg(apply_scaler(scaler, D), y, len(self.classes_), self.C, self.seed)
        self.arrays_ = {**pack("scaler", scaler), **pack("head", head)}
        self.trainable_params_ = self._n_params()

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        D = apply_scaler(unpack("scaler", self.arrays_), self._design(feats))
        return logreg_proba(unpack("head", self.arrays_), D)


class _PerSource(_LinearBase):
    """One standardised logistic regression per source (shared by stacking and averaging)."""

    def _fit_per_source(self, y: np.ndarray, feats: list[np.ndarray]) -> list[np.ndarray]:
        """Fit per-source heads into ``arrays_``; return each source's out-of-fold proba."""
        n_classes = len(self.classes_)
        self.arrays_ = {}
        oof = []
        for i, F in enumerate(feats):
            scaler = fit_scaler(l2_normalize(F.astype(np.float64)))
            Z = apply_scaler(scaler, l2_normalize(F.astype(np.float64)))
            head = fit_logreg(Z, y, n_classes, self.C, self.seed)
            self.arrays_.update({**pack(f"src{i}.scaler", scaler), **pack(f"src{i}.head", head)})
            oof.append(oof_proba(Z, y, n_classes, self.seed))
        return oof

    def _per_source_proba(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for i, F in enumerate(feats):
            Z = apply_scaler(
                unpack(f"src{i}.scaler", self.arrays_), l2_normalize(F.astype(np.float64))
            )
            out.append(logreg_proba(unpack(f"src{i}.head", self.arrays_), Z))
        return out


class Averaging(_PerSource):
    """Mean of the per-source logistic-regression probabilities."""

    name: ClassVar[str] = "averaging"

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        n_classes = len(self.classes_)
        self.arrays_ = {}
        for i, F in enumerate(feats):
            Z = l2_normalize(F.astype(np.float64))
            scaler = fit_scaler(Z)
            head = fit_logreg(apply_scaler(scaler, Z), y, n_classes, self.C, self.seed)
            self.arrays_.update({**pack(f"src{i}.scaler", scaler), **pack(f"src{i}.head", head)})
        self.trainable_params_ = self._n_params()

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        return np.mean(self._per_source_proba(feats), axis=0)


class Stacking(_PerSource):
    """Logistic regression on concatenated out-of-fold per-source probabilities."""

    name: ClassVar[str] = "stacking"
    relative_cost: ClassVar[float] = 5.0

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        oof = self._fit_per_source(y, feats)
        meta = np.log(np.clip(np.concatenate(oof, axis=1), 1e-6, 1.0))
        head = fit_logreg(meta, y, len(self.classes_), self.C, self.seed)
        self.arrays_.update(pack("meta", head))
        self.trainable_params_ = self._n_params()

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        meta = np.log(np.clip(np.concatenate(self._per_source_proba(feats), axis=1), 1e-6, 1.0))
        return logreg_proba(unpack("meta", self.arrays_), meta)


class FeatureAugment(_PerSource):
    """Target's raw features plus the sources' out-of-fold outputs, then a linear model."""

    name: ClassVar[str] = "feature_augment"
    relative_cost: ClassVar[float] = 5.0

    def _raw(self, X: Any) -> np.ndarray:
        return self.own_input_.transform(X).reshape(len(X), -1).astype(np.float64)

    def _fit(self, X: Any, y: np.ndarray, feats: list[np.ndarray]) -> None:
        self.own_input_ = OwnInput.fit(X)
        oof = self._fit_per_source(y, feats)
        D = np.concatenate([self._raw(X), *oof], axis=1)
        scaler = fit_scaler(D)
        head = fit_logreg(apply_scaler(scaler, D), y, len(self.classes_), self.C, self.seed)
        self.arrays_.update({**pack("aug.scaler", scaler), **pack("aug.head", head)})
        self.trainable_params_ = self._n_params()

    def _proba(self, X: Any, feats: list[np.ndarray]) -> np.ndarray:
        D = np.concatenate([self._raw(X), *self._per_source_proba(feats)], axis=1)
        D = apply_scaler(unpack("aug.scaler", self.arrays_), D)
        return logreg_proba(unpack("aug.head", self.arrays_), D)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        cfg, t = self.own_input_.to_state()
        return {"own": cfg}, {**self.arrays_, **pack("own", t)}

    def _load_state(self, config: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.arrays_ = {k: np.asarray(v) for k, v in tensors.items() if not k.startswith("own.")}
        self.own_input_ = OwnInput.from_state(config["own"], unpack("own", tensors))


class Independent(FeatureMixing):
    """The small target network alone (LeNet-5-like CNN / MLP), trained from scratch; no source.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> Independent(max_epochs=20).fit(X[:300], y[:300]).score(X[300:600], y[300:600]) > 0.8
    True
    """

    name: ClassVar[str] = "independent"
    uses_sources: ClassVar[bool] = False
    relative_cost: ClassVar[float] = 40.0

    def __init__(
        self,
        sources: list[SourceModel] | None = None,
        seed: int = 0,
        max_epochs: int = 100,
        patience: int = 10,
        lr: float = 1e-3,
        batch_size: int = 32,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.sources = sources
        self.seed = seed
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.batch_size = batch_size
        self.progress = progress

    reducer = "ica"  # unused (no sources); keeps FeatureMixing's code paths valid
    lambda_new = None
